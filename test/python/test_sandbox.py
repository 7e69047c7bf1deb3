"""The sandbox: escape attempts by an ordinary role, and the API inside.

Every escape test runs a sandboxed script as ``oml_sandy``, an ordinary
LOGIN role that is a member of ``oml_sandbox_user`` only, asserts the
refusal (a Python error inside the script, or an SQL error when the kernel
kills the sandbox) and then that the server is unharmed: the same
postmaster, the same backend, and the session still runs sandboxed and
plain statements.
"""

import ctypes
import json
import os
import subprocess
import textwrap
import threading
import time

import psycopg2
import psycopg2.errors
import pytest

import oml_store as oml

from conftest import ALICE, DBNAME, PASSWORD

SANDY = "oml_sandy"


def kernel_has_sandbox_features():
    """What the server checks before it starts a sandbox: Landlock (ABI),
    user namespaces for the cluster's user, seccomp; None when all are
    there, else the missing one."""
    libc = ctypes.CDLL(None, use_errno=True)
    abi = libc.syscall(444, None, 0, 1)        # landlock_create_ruleset
    if abi < 1:
        return "Landlock"
    probe = subprocess.run(
        ["runuser", "-u", "postgres", "--", "unshare", "--user", "--net",
         "--ipc", "true"], capture_output=True)
    if probe.returncode != 0:
        return "user namespaces"
    with open("/proc/self/status") as f:
        if "Seccomp:" not in f.read():
            return "seccomp"
    return None


MISSING = kernel_has_sandbox_features()


@pytest.fixture(scope="module")
def sandy(admin):
    """The ordinary role, member of oml_sandbox_user only."""
    exists = admin.sql("SELECT 1 FROM pg_roles WHERE rolname = %s", (SANDY,))
    verb = "ALTER" if exists else "CREATE"
    admin.sql("%s ROLE %s LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE"
              " PASSWORD %%s" % (verb, SANDY), (PASSWORD,))
    for (group,) in admin.sql(
            "SELECT r.rolname FROM pg_auth_members a JOIN pg_roles r"
            " ON r.oid = a.roleid JOIN pg_roles m ON m.oid = a.member"
            " WHERE m.rolname = %s", (SANDY,)):
        admin.sql("REVOKE %s FROM %s" % (group, SANDY))
    admin.sql("GRANT oml_sandbox_user TO %s" % SANDY)
    admin.sql("ALTER ROLE %s RESET ALL" % SANDY)
    yield SANDY
    admin.sql("ALTER ROLE %s RESET ALL" % SANDY)


class Session:
    """A connection as a role, in autocommit mode."""

    def __init__(self, role, **settings):
        self.conn = psycopg2.connect(user=role, password=PASSWORD,
                                     dbname=DBNAME)
        self.conn.autocommit = True
        self.notices = self.conn.notices
        self.pid = self.one("SELECT pg_backend_pid()")

    def sql(self, query, params=()):
        with self.conn.cursor() as cur:
            cur.execute(query, params)
            return cur.fetchall() if cur.description else []

    def one(self, query, params=()):
        return self.sql(query, params)[0][0]

    def create(self, name, source, **kw):
        args = ", ".join("%s => %s" % (k, v) for k, v in kw.items())
        self.sql("SELECT oml.pyqScriptCreate(%%s, %%s, v_overwrite => true,"
                 " v_sandbox => true%s)" % (", " + args if args else ""),
                 (name, textwrap.dedent(source)))

    def eval(self, name, par=None, fmt="JSON"):
        """The script's JSON result, parsed."""
        return json.loads(self.one(
            "SELECT value FROM oml.pyqEval(%s, %s, %s)",
            (json.dumps(par or {}), fmt, name)))

    def close(self):
        self.conn.close()


@pytest.fixture(scope="module")
def session(sandy):
    """One session for the module: its zygote starts once."""
    if MISSING:
        pytest.skip("kernel lacks %s (see test_refused_without_feature)" % MISSING)
    s = Session(sandy)
    yield s
    s.close()


class Boss(Session):
    """A superuser session of its own (its own zygote): sets the limits
    with SET, as ALTER ROLE ... SET would for a role's sessions, and runs
    the ordinary role's scripts (granted to it)."""

    def __init__(self):
        from conftest import admin_connect
        self.conn = admin_connect(DBNAME)
        self.notices = self.conn.notices
        self.pid = self.one("SELECT pg_backend_pid()")

    def run(self, s, name, source, **settings):
        """Create name in s (the ordinary role's session), grant it, and
        run it here under settings; the JSON result."""
        s.create(name, source)
        s.sql("SELECT oml.pyqGrant(%s, 'pyqscript', NULL)", (name,))
        for k, v in settings.items():
            self.sql("SET oml_store.%s = %%s" % k, (v,))
        try:
            return json.loads(self.one(
                "SELECT value FROM oml.pyqEval('{}', 'JSON', %s, %s)",
                (name, SANDY)))
        finally:
            for k in settings:
                self.sql("RESET oml_store.%s" % k)


@pytest.fixture(scope="module")
def boss(session):
    b = Boss()
    yield b
    b.close()


@pytest.fixture(scope="module")
def postmaster_pid(admin):
    return int(admin.sql("SELECT pg_read_file('postmaster.pid')")[0][0]
               .splitlines()[0])


@pytest.fixture
def unharmed(admin, postmaster_pid):
    """After the test: same postmaster, the cluster answers."""
    yield
    now = int(admin.sql("SELECT pg_read_file('postmaster.pid')")[0][0]
              .splitlines()[0])
    assert now == postmaster_pid
    assert admin.sql("SELECT 1") == [(1,)]


def assert_usable(s):
    """The session (the same backend) still runs plain and sandboxed
    statements."""
    assert s.one("SELECT pg_backend_pid()") == s.pid
    s.create("still_ok", "def f():\n    return 'ok'\n")
    assert s.eval("still_ok") == "ok"


def probe(s, body, par=None):
    """Run body (the statements of a function f(**par) returning a value) in
    the sandbox; its result."""
    src = "def f(**par):\n" + textwrap.indent(textwrap.dedent(body), "    ")
    s.create("probe", src)
    return s.eval("probe", par)


REFUSED = """
try:
    {action}
except OSError as e:
    return ["refused", type(e).__name__, e.errno]
return ["done"]
"""


def refused(s, action, par=None):
    return probe(s, REFUSED.format(action=action), par)


# -- files --------------------------------------------------------------------

@pytest.mark.parametrize("path", ["/etc/shadow", "/etc/passwd", "/root",
                                  "/var/lib/postgresql", "/proc/1/environ"])
def test_cannot_read_system_files(session, unharmed, path):
    r = refused(session, "open(par['p'], 'rb').read() if not __import__('os')"
                ".path.isdir(par['p']) else __import__('os').listdir(par['p'])",
                {"p": path})
    assert r[0] == "refused" and r[2] in (1, 2, 13), r      # EPERM/ENOENT/EACCES
    assert_usable(session)


def test_cannot_read_data_directory_or_config(session, admin, unharmed):
    datadir = admin.sql("SHOW data_directory")[0][0]
    conf = admin.sql("SHOW config_file")[0][0]
    for action in ("open(par['conf']).read()",
                   "__import__('os').listdir(par['dir'])",
                   "open(par['dir'] + '/PG_VERSION').read()",
                   "open(par['dir'] + '/global/pg_control', 'rb').read()"):
        r = refused(session, action, {"conf": conf, "dir": datadir})
        assert r[:2] == ["refused", "PermissionError"], (action, r)
    assert_usable(session)


def test_cannot_write_outside_temp_dir(session, unharmed):
    target = "/tmp/oml_sandbox_escape_%d" % os.getpid()
    for action in ("open(par['t'], 'w').write('x')",
                   "__import__('os').mkdir(par['t'])",
                   "open('/dev/shm/oml_escape', 'w').write('x')"):
        r = refused(session, action, {"t": target})
        assert r[:2] == ["refused", "PermissionError"], (action, r)
    assert not os.path.exists(target)
    assert not os.path.exists("/dev/shm/oml_escape")
    assert_usable(session)


def test_private_temp_dir_is_removed(session, unharmed):
    where = probe(session, """
        import os, tempfile
        d = tempfile.gettempdir()
        with open(os.path.join(d, 'scratch'), 'w') as f:
            f.write('data')
        return [d, os.getcwd() == d, open(os.path.join(d, 'scratch')).read()]
    """)
    assert where[1] is True and where[2] == "data"
    deadline = time.time() + 5
    while os.path.exists(where[0]) and time.time() < deadline:
        time.sleep(0.05)
    assert not os.path.exists(where[0])


def test_huge_file_write(session, boss, unharmed):
    body = REFUSED.format(action="open('big', 'wb').write(b'x' * (8 << 20))")
    r = boss.run(session, "big", "def f():\n" + textwrap.indent(body, "    "),
                 sandbox_file_size="1MB")
    assert r[:3] == ["refused", "OSError", 27], r        # EFBIG
    assert_usable(session)


# -- network ------------------------------------------------------------------

def test_cannot_connect_tcp_to_server(session, admin, unharmed):
    port = int(admin.sql("SHOW port")[0][0])
    for host in ("127.0.0.1", "::1"):
        r = refused(session, "__import__('socket').create_connection("
                    "(par['h'], par['p']), timeout=2)", {"h": host, "p": port})
        assert r[:2] == ["refused", "PermissionError"], r
    assert_usable(session)


def test_cannot_connect_unix_socket(session, admin, unharmed):
    sockdir = admin.sql("SHOW unix_socket_directories")[0][0].split(",")[0]
    port = int(admin.sql("SHOW port")[0][0])
    path = "%s/.s.PGSQL.%d" % (sockdir.strip(), port)
    r = refused(session, """s = __import__('socket').socket(__import__('socket').AF_UNIX)
    s.connect(par['p'])""", {"p": path})
    assert r[:2] == ["refused", "PermissionError"], r
    r = refused(session, "__import__('socket').socketpair()")
    assert r[:2] == ["refused", "PermissionError"], r
    assert_usable(session)


# -- processes ------------------------------------------------------------------

@pytest.mark.parametrize("action", [
    "__import__('os').fork()",
    "__import__('os').execv('/bin/sh', ['sh', '-c', 'true'])",
    "__import__('subprocess').run(['/bin/true'])",
    "__import__('os').system('true') and (_ for _ in ()).throw(OSError(1, 'x'))",
    "__import__('os').posix_spawn('/bin/true', ['true'], {})",
])
def test_cannot_run_programs(session, unharmed, action):
    r = refused(session, action)
    assert r[0] == "refused", r
    assert_usable(session)


def test_fork_bomb(session, unharmed):
    r = probe(session, """
        import os
        n = 0
        try:
            while True:
                os.fork()
                n += 1
        except OSError as e:
            return [n, e.errno]
    """)
    assert r == [0, 1]
    assert_usable(session)


def test_thread_limit(session, unharmed):
    r = probe(session, """
        import threading
        stop = threading.Event()
        threads = []
        try:
            for _ in range(10000):
                t = threading.Thread(target=stop.wait)
                t.start()
                threads.append(t)
        except RuntimeError as e:
            pass
        stop.set()
        return len(threads)
    """)
    assert 0 < r < 100
    assert_usable(session)


def test_cannot_signal_postmaster_or_backend(session, postmaster_pid, unharmed):
    for sig in (0, 15, 9):
        r = probe(session, """
            import os
            out = []
            for pid in (par['pm'], par['be']):
                try:
                    os.kill(pid, par['sig'])
                    out.append('sent')
                except OSError as e:
                    out.append(e.errno)
            try:
                os.killpg(0, 0)
                out.append('group')
            except OSError as e:
                out.append(e.errno)
            return out
        """, {"pm": postmaster_pid, "be": session.pid, "sig": sig})
        assert r[0] in (1, 3) and r[1] in (1, 3), r          # EPERM / ESRCH
    assert session.one("SELECT pg_backend_pid()") == session.pid
    assert_usable(session)


def test_cannot_ptrace_or_read_backend_memory(session, unharmed):
    r = probe(session, """
        import ctypes, os
        libc = ctypes.CDLL(None, use_errno=True)
        out = [libc.ptrace(16, par['be'], 0, 0), ctypes.get_errno()]
        try:
            open('/proc/%d/mem' % par['be'], 'rb').read(1)
            out.append('read')
        except OSError as e:
            out.append(e.errno)
        buf = ctypes.create_string_buffer(16)
        iov = (ctypes.c_void_p * 2)(ctypes.addressof(buf), 16)
        out.append(libc.process_vm_readv(par['be'], iov, 1, iov, 1, 0))
        out.append(ctypes.get_errno())
        return out
    """, {"be": session.pid})
    assert r[0] == -1 and r[1] in (1, 3), r
    assert r[2] in (1, 2, 13), r
    assert r[3] == -1 and r[4] in (1, 3), r
    assert_usable(session)


@pytest.mark.parametrize("nr,args", [
    (41, (2, 1, 0)),                # socket(AF_INET, SOCK_STREAM)
    (53, (1, 1, 0, 0)),             # socketpair(AF_UNIX)
    (57, ()),                       # fork
    (58, ()),                       # vfork
    (56, (17, 0, 0, 0, 0)),         # clone(SIGCHLD): a process
    (59, (0, 0, 0)),                # execve
    (101, (16, 1, 0, 0)),           # ptrace(PTRACE_ATTACH, 1)
    (272, (0x10000000,)),           # unshare(CLONE_NEWNS)
    (165, (0, 0, 0, 0, 0)),         # mount
    (62, (-1, 9)),                  # kill(-1, SIGKILL): everyone
    (321, (0, 0, 0)),               # bpf
    (425, (1, 0)),                  # io_uring_setup
])
def test_raw_syscalls_refused(session, unharmed, nr, args):
    r = probe(session, """
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        rc = libc.syscall(par['nr'], *[ctypes.c_long(a) for a in par['args']])
        return [rc, ctypes.get_errno()]
    """, {"nr": nr, "args": list(args)})
    assert r[0] == -1 and r[1] in (1, 38), r         # EPERM (ENOSYS)
    assert_usable(session)


def test_x32_syscalls_kill_only_the_sandbox(session, unharmed):
    """The x32 ABI (syscall numbers | 0x40000000) would bypass a filter
    written for x86-64: libseccomp's filter kills the process (SIGSYS)."""
    with pytest.raises(psycopg2.errors.SystemError) as e:
        probe(session, """
            import ctypes
            libc = ctypes.CDLL(None, use_errno=True)
            return libc.syscall(41 | 0x40000000, 2, 1, 0)
        """)
    assert "signal 31" in str(e.value)
    assert_usable(session)


def test_environment_is_clean(session, unharmed):
    env = probe(session, "import os\nreturn sorted(os.environ)")
    assert not [k for k in env if k.startswith("PG")]
    assert set(env) <= {"HOME", "TMPDIR", "MPLCONFIGDIR", "MPLBACKEND",
                        "LANG", "PATH"}
    r = refused(session, "open('/proc/self/environ', 'rb').read()")
    assert r[0] == "refused"
    r = refused(session, "open('/proc/%d/environ' % par['be'], 'rb').read()",
                {"be": session.pid})
    assert r[0] == "refused"


# -- limits -------------------------------------------------------------------

def test_memory_bomb(session, unharmed):
    with pytest.raises(psycopg2.errors.OutOfMemory):
        probe(session, """
            keep = []
            while True:
                keep.append(bytearray(64 << 20))
        """)
    assert_usable(session)


def test_cpu_loop_past_limit(session, boss, unharmed):
    start = time.time()
    with pytest.raises(psycopg2.errors.ProgramLimitExceeded) as e:
        boss.run(session, "spin", "def f():\n    while True:\n        pass\n",
                 sandbox_cpu_time="1s")
    assert "CPU time" in str(e.value)
    assert time.time() - start < 30
    assert_usable(boss)
    assert_usable(session)


def test_wall_time_limit(session, boss, unharmed):
    start = time.time()
    with pytest.raises(psycopg2.errors.ProgramLimitExceeded) as e:
        boss.run(session, "nap", "def f():\n    import time\n    time.sleep(60)\n",
                 sandbox_wall_time="1s")
    assert "wall-clock" in str(e.value)
    assert time.time() - start < 30
    assert_usable(session)


def test_limits_only_superusers_set(session, admin, sandy):
    with pytest.raises(psycopg2.errors.InsufficientPrivilege):
        session.sql("SET oml_store.sandbox_memory = '100GB'")
    with pytest.raises(psycopg2.errors.InsufficientPrivilege):
        session.sql("SET oml_store.sandbox_all = off")
    admin.sql("ALTER ROLE %s SET oml_store.sandbox_memory = '2GB'" % sandy)
    try:
        rows = session.sql("SELECT sandbox_user, memory, cpu_time FROM"
                           " oml.sandbox_limits WHERE role = %s", (sandy,))
        assert rows == [(True, "2GB", None)]
        assert Session(sandy).one("SHOW oml_store.sandbox_memory") == "2GB"
    finally:
        admin.sql("ALTER ROLE %s RESET oml_store.sandbox_memory" % sandy)


def test_max_per_role(session, boss):
    """A second sandbox of the role beyond its limit is 53400; the limit
    is the acquiring session's (SET here, as ALTER ROLE ... SET would)."""
    session.create("nap", "def f():\n    import time\n    time.sleep(30)\n")
    session.create("quick", "def f():\n    return 1\n")
    session.sql("SELECT oml.pyqGrant('quick', 'pyqscript', NULL)")
    t = threading.Thread(target=lambda: pytest.raises(
        psycopg2.Error, session.eval, "nap"))
    t.start()
    try:
        deadline = time.time() + 20
        while time.time() < deadline and not boss.sql(
                "SELECT 1 FROM pg_locks WHERE locktype = 'advisory'"
                " AND pid = %s AND granted", (session.pid,)):
            time.sleep(0.05)
        boss.sql("SET oml_store.sandbox_max_per_role = 1")
        boss.sql("SET ROLE %s" % SANDY)
        with pytest.raises(psycopg2.errors.ConfigurationLimitExceeded):
            boss.one("SELECT value FROM oml.pyqEval('{}', 'JSON', 'quick', %s)",
                     (SANDY,))
    finally:
        boss.sql("RESET ROLE")
        boss.sql("SELECT pg_cancel_backend(%s)", (session.pid,))
        t.join(10)
    boss.sql("SET ROLE %s" % SANDY)
    try:
        assert json.loads(boss.one(
            "SELECT value FROM oml.pyqEval('{}', 'JSON', 'quick', %s)",
            (SANDY,))) == 1
    finally:
        boss.sql("RESET ROLE")
        boss.sql("RESET oml_store.sandbox_max_per_role")
    assert_usable(session)


# -- cancel and crash -----------------------------------------------------------

def test_statement_timeout_kills_sandbox(session, unharmed):
    session.create("nap", "def f():\n    import time\n    time.sleep(60)\n")
    session.sql("SET statement_timeout = '300ms'")
    start = time.time()
    with pytest.raises(psycopg2.errors.QueryCanceled):
        session.eval("nap")
    assert time.time() - start < 1.3          # well under the sleep
    session.sql("RESET statement_timeout")
    assert_usable(session)


def test_cancel_kills_sandbox(session, admin, unharmed):
    session.create("spin", "def f():\n    while True:\n        pass\n")
    # Warm: the zygote is up, so the cancel lands in the running script.
    session.create("warm", "def f():\n    return 1\n")
    session.eval("warm")
    done = {}

    def run():
        try:
            session.eval("spin")
        except psycopg2.Error as e:
            done["error"] = e
        done["at"] = time.time()

    t = threading.Thread(target=run)
    t.start()
    time.sleep(0.5)
    sent = time.time()
    admin.sql("SELECT pg_cancel_backend(%s)", (session.pid,))
    t.join(10)
    assert isinstance(done.get("error"), psycopg2.errors.QueryCanceled)
    assert done["at"] - sent < 1.0
    assert_usable(session)


def test_segfault_is_an_error(session, unharmed):
    with pytest.raises(psycopg2.errors.SystemError) as e:
        probe(session, "import ctypes\n"
              "return ctypes.cast(1, ctypes.POINTER(ctypes.c_int))[0]")
    assert "signal 11" in str(e.value)
    assert_usable(session)


def test_refused_without_feature():
    """The server refuses (0A000) and never runs unsandboxed when a kernel
    feature is missing; here every feature is present, so this checks the
    probe the tests use agrees with the server's."""
    if MISSING is None:
        return
    s = Session(SANDY)
    with pytest.raises(psycopg2.errors.FeatureNotSupported):
        s.create("x", "def f():\n    return 1\n")
        s.eval("x")


# -- who may create what ----------------------------------------------------------

def test_sandbox_user_creates_only_private_sandboxed(session):
    with pytest.raises(psycopg2.errors.InsufficientPrivilege):
        session.sql("SELECT oml.pyqScriptCreate('p', 'def f():\n    return 1')")
    with pytest.raises(psycopg2.errors.InsufficientPrivilege):
        session.sql("SELECT oml.pyqScriptCreate('p', 'def f():\n    return 1',"
                    " v_global => true, v_sandbox => true)")
    session.sql("SELECT oml.pyqScriptCreate('p', 'def f():\n    return 1',"
                " v_sandbox => true)")
    assert session.sql("SELECT sandbox FROM oml.script WHERE name = 'p'") == [(True,)]


def test_ordinary_role_cannot_create(admin):
    from conftest import CAROL, sql_as
    with pytest.raises(psycopg2.errors.InsufficientPrivilege):
        sql_as(CAROL, "SELECT oml.pyqScriptCreate('p', 'def f():\n    return 1',"
               " v_sandbox => true)")


def test_developer_creates_both_and_old_signature_works(session, boss):
    a = Session(ALICE)
    try:
        a.sql("SELECT oml.pyqScriptCreate('inproc', 'def f():\n"
              "    import os\n    return os.getpid()')")
        a.sql("SELECT oml.pyqScriptCreate('boxed', 'def f():\n"
              "    import os\n    return os.getpid()', false, false, NULL, true)")
        a.sql("SELECT oml.pyqGrant('boxed', 'pyqscript', %s)", (SANDY,))
        # A sandboxed script runs in the sandbox whoever calls it.
        assert a.eval("boxed") == 1
        assert a.eval("inproc") == a.pid
        assert json.loads(session.one(
            "SELECT value FROM oml.pyqEval('{}', 'JSON', 'boxed', %s)",
            (ALICE,))) == 1
        # The client's sandbox=True.
        oml.connect(user=ALICE, password=PASSWORD, dbname=DBNAME)
        oml.script.create("client_boxed", "def f():\n    import os\n"
                          "    return os.getpid()", sandbox=True)
        oml.disconnect()
        assert a.eval("client_boxed") == 1
    finally:
        a.close()


def test_sandbox_all_forces_every_script(session, boss):
    from conftest import sql_as
    sql_as(ALICE, "SELECT oml.pyqScriptCreate('inproc', 'def f():\n"
           "    import os\n    return os.getpid()')")
    q = "SELECT value FROM oml.pyqEval('{}', 'JSON', 'inproc', %s)"
    boss.sql("SET oml_store.sandbox_all = on")
    try:
        assert json.loads(boss.one(q, (ALICE,))) == 1
    finally:
        boss.sql("RESET oml_store.sandbox_all")
    assert json.loads(boss.one(q, (ALICE,))) == boss.pid


def _pg_config(what):
    return subprocess.run(["pg_config", what], capture_output=True,
                          text=True).stdout.strip()


def test_program_refuses_without_user_namespaces():
    """The sandbox program itself, where user namespaces are unavailable
    (max_user_namespaces 0 in a user namespace around it): it reports the
    missing feature, which the server turns into 0A000, and runs nothing."""
    import socket
    import struct
    prog = os.path.join(_pg_config("--pkglibdir"), "oml_sandbox")
    pkgdir = os.path.join(_pg_config("--sharedir"), "extension",
                          "oml_store_python")
    if not os.access(prog, os.X_OK) or subprocess.run(
            ["unshare", "--user", "--map-root-user", "true"]).returncode:
        pytest.skip("needs the installed program and unshare --user")
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    script = ("import os, sys\n"
              "open('/proc/sys/user/max_user_namespaces', 'w').write('0')\n"
              "os.dup2(%d, 3, inheritable=True)\n"
              "os.execve(sys.argv[1], sys.argv[1:], {})\n" % theirs.fileno())
    p = subprocess.Popen(["unshare", "--user", "--map-root-user",
                          "/usr/bin/python3", "-c", script, prog, pkgdir],
                         pass_fds=[theirs.fileno()],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    theirs.close()
    ours.settimeout(120)
    frame = ours.recv(4096)
    p.wait(60)
    assert frame[4:5] == b"F", frame
    (length,) = struct.unpack("<I", frame[:4])
    assert b"namespaces" in frame[5:5 + length]
    assert p.returncode == 1


def test_result_larger_than_file_size(session, boss, unharmed):
    """A result goes back in a memfd, which RLIMIT_FSIZE bounds too: a
    clear error naming the setting."""
    with pytest.raises(psycopg2.errors.ExternalRoutineException) as e:
        boss.run(session, "bigres", "def f():\n    return 'x' * (4 << 20)\n",
                 sandbox_file_size="1MB")
    assert "oml_store.sandbox_file_size" in str(e.value)
    assert_usable(session)

"""The sandbox against a hostile child: a script of an ordinary role
(``oml_sandy``, member of oml_sandbox_user only) that talks to its backend
over the channel the way the runtime never would -- a flood of requests it
never reads the replies of, descriptors on empty messages -- and the
backend stays cancellable, bounded and unharmed."""

import json
import os
import signal
import textwrap
import threading
import time

import psycopg2
import psycopg2.errors
import pytest

from test_sandbox import (MISSING, SANDY, Boss, Session,  # noqa: F401
                          assert_usable, postmaster_pid, probe, sandy,
                          unharmed)

pytestmark = pytest.mark.skipif(MISSING is not None,
                                reason="kernel lacks %s" % MISSING)


@pytest.fixture(scope="module")
def session(sandy):  # noqa: F811
    s = Session(sandy)
    yield s
    s.close()


# The child's own end of the channel, as a socket of its own (fd 3 dup'ed).
CHANNEL = """
import os, socket, struct
sock = socket.socket(fileno=os.dup(3))
"""

# One request frame in the plain format: ("execute", "SELECT 1", [], True).
REQUEST = """
from oml_store import _sandbox
payload = b"".join(bytes(memoryview(p).cast("B")) for p in
                   _sandbox.encode(("execute", "SELECT 1", [], True)))
frame = struct.pack("<I", len(payload)) + b"q" + payload
"""


def backend_fds(admin, pid):
    return len(admin.sql("SELECT pg_ls_dir(%s)", ("/proc/%d/fd" % pid,)))


def children_of(pid):
    """Pids whose parent is pid (from /proc)."""
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open("/proc/%s/stat" % entry) as f:
                    if int(f.read().rsplit(")", 1)[1].split()[1]) == pid:
                        out.append(int(entry))
            except (OSError, IndexError, ValueError):
                pass
    return out


def test_request_flood_stays_cancellable(sandy, unharmed):  # noqa: F811
    """A child that sends requests and never reads the replies fills its
    socket: the backend must not block in sendmsg (where no cancel, no
    statement_timeout and no wall time reaches it)."""
    s = Session(sandy)
    s.sql("SET statement_timeout = '2s'")
    done = {}

    def run():
        try:
            probe(s, CHANNEL + REQUEST + """
sock.setblocking(False)
while True:
    try:
        sock.send(frame)
    except BlockingIOError:
        import time
        time.sleep(0.01)
""")
        except psycopg2.Error as e:
            done["error"] = e
        done["at"] = time.time()

    start = time.time()
    t = threading.Thread(target=run, daemon=True)
    t.start()
    t.join(20)
    try:
        assert not t.is_alive(), "backend hung writing replies to the child"
    finally:
        # On the old code: free the backend by killing its sandbox children.
        if t.is_alive():
            for zygote in children_of(s.pid):
                for child in children_of(zygote):
                    try:
                        os.kill(child, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
            t.join(10)
    assert isinstance(done.get("error"), psycopg2.errors.QueryCanceled)
    assert done["at"] - start < 10            # well under the join
    s.sql("RESET statement_timeout")
    assert_usable(s)
    s.close()


def test_flood_ends_at_wall_time(session, unharmed):
    """Without statement_timeout, oml_store.sandbox_wall_time ends it."""
    boss = Boss()
    try:
        session.create("flood", "def f():\n" + textwrap.indent(
            CHANNEL + REQUEST + """
sock.setblocking(False)
while True:
    try:
        sock.send(frame)
    except BlockingIOError:
        import time
        time.sleep(0.01)
""", "    "))
        session.sql("SELECT oml.pyqGrant('flood', 'pyqscript', NULL)")
        boss.sql("SET oml_store.sandbox_wall_time = '1s'")
        start = time.time()
        with pytest.raises(psycopg2.errors.ProgramLimitExceeded) as e:
            boss.one("SELECT value FROM oml.pyqEval('{}', 'JSON', 'flood', %s)",
                     (SANDY,))
        assert "wall-clock" in str(e.value)
        assert time.time() - start < 10
        assert boss.one("SELECT 1") == 1
    finally:
        boss.close()
    assert_usable(session)


def test_fd_on_empty_message_is_not_kept(session, admin, unharmed):
    """A descriptor attached to an empty message (which reads as the end
    of the channel) is closed, not left open in the backend per call."""
    session.create("warm", "def f():\n    return 1\n")

    def attach_fd_and_exit():
        with pytest.raises(psycopg2.errors.SystemError):
            probe(session, CHANNEL + """
fd = os.memfd_create("x")
os.ftruncate(fd, 1 << 20)
sock.sendmsg([], [(socket.SOL_SOCKET, socket.SCM_RIGHTS,
                   struct.pack("i", fd))])
import time
time.sleep(0.2)
os._exit(3)
""")
    # Once first, so that files the error path opens (relation files that
    # PostgreSQL keeps open) are in the count before.
    attach_fd_and_exit()
    session.eval("warm")
    before = backend_fds(admin, session.pid)
    for _ in range(5):
        attach_fd_and_exit()
    session.eval("warm")
    # A leak grows with every call (5 here); PostgreSQL's own file cache
    # may hold one more file than before.
    assert backend_fds(admin, session.pid) <= before + 1
    assert_usable(session)


def test_zygote_that_cannot_spawn_is_a_prompt_error(sandy, unharmed):  # noqa: F811
    """When the zygote cannot start a child (here: its temporary root is
    gone) it says so at once; the backend must not wait 30 s for a child
    that will never come."""
    session = Session(sandy)
    session.create("nap", "def f():\n    import time\n    time.sleep(1.5)\n"
                   "    return 1\n")
    t = threading.Thread(target=session.eval, args=("nap",), daemon=True)
    t.start()
    root = None
    for _ in range(100):
        for zygote in children_of(session.pid):
            for child in children_of(zygote):
                try:
                    cwd = os.path.dirname(os.readlink("/proc/%d/cwd" % child))
                except OSError:
                    continue
                if os.path.basename(cwd).startswith("oml_sandbox."):
                    root = cwd      # the child has locked down
        if root:
            break
        time.sleep(0.05)
    t.join(10)
    assert root and os.path.basename(root).startswith("oml_sandbox."), root
    import shutil
    shutil.rmtree(root)
    start = time.time()
    with pytest.raises(psycopg2.errors.SystemError) as e:
        session.eval("nap")
    assert "could not start a child" in str(e.value)
    assert time.time() - start < 10           # well under the 30 s wait
    assert session.one("SELECT pg_backend_pid()") == session.pid
    session.close()


def test_temp_files_together_bounded(session, unharmed):
    """Each file is at most oml_store.sandbox_file_size, and so are all of
    them together: many files must not fill the disk (the server's)."""
    boss = Boss()
    try:
        session.create("many", """
            def f():
                import os
                chunk = b"x" * (400 << 10)
                try:
                    for i in range(8):
                        with open("f%d" % i, "wb") as out:
                            out.write(chunk)
                except OSError as e:
                    return ["refused", i, e.errno]
                return ["done"]
        """)
        session.sql("SELECT oml.pyqGrant('many', 'pyqscript', NULL)")
        boss.sql("SET oml_store.sandbox_file_size = '1MB'")
        r = boss.one("SELECT value FROM oml.pyqEval('{}', 'JSON', 'many', %s)",
                     (SANDY,))
        assert json.loads(r) == ["refused", 2, 28]       # ENOSPC
    finally:
        boss.close()
    assert_usable(session)


def test_limits_not_settable_by_the_role(session, sandy):  # noqa: F811
    """No way for the role to set its own limits: ALTER ROLE itself, SET
    LOCAL, a function's SET clause, set_config, PGOPTIONS."""
    from conftest import DBNAME, PASSWORD
    for stmt in ("ALTER ROLE CURRENT_USER SET oml_store.sandbox_memory = 0",
                 "SELECT set_config('oml_store.sandbox_cpu_time', '0', false)"):
        with pytest.raises(psycopg2.errors.InsufficientPrivilege):
            session.sql(stmt)
    with pytest.raises(psycopg2.errors.InsufficientPrivilege):
        session.sql("BEGIN; SET LOCAL oml_store.sandbox_wall_time = 0")
    session.sql("ROLLBACK")
    session.sql("DROP FUNCTION IF EXISTS pg_temp.lim()")
    with pytest.raises(psycopg2.errors.InsufficientPrivilege):
        session.sql("CREATE FUNCTION pg_temp.lim() RETURNS text LANGUAGE sql"
                    " SET oml_store.sandbox_memory = 0"
                    " AS $$ SELECT current_setting('oml_store.sandbox_memory') $$")
    with pytest.raises(psycopg2.OperationalError) as e:
        psycopg2.connect(user=sandy, password=PASSWORD, dbname=DBNAME,
                         options="-c oml_store.sandbox_memory=0")
    assert "permission denied" in str(e.value)
    assert session.one("SHOW oml_store.sandbox_memory") == "1GB"

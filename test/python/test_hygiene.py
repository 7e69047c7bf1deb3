"""Cancel everywhere, and each call leaving the backend as it found it.

Cancel (pg_cancel_backend, statement_timeout, pg_terminate_backend) must
stop Python wherever it runs on behalf of a pyq* call: in the script, in the
conversion of its results, in exception formatting, in destructors, and in
blocking system calls.  Process state that a script changes (working
directory, signal handlers and mask, recursion limit, sys.stdout, locale,
umask, environment, sys.path) is put back after the call; script output is
reported as a capped NOTICE; a forked child never runs the backend's code.

Every "endless" piece of Python here is bounded (BOUND_S), so a regression
makes a test fail instead of leaving a backend nothing can stop; the
assertions are "well under the bound".
"""

import os
import time

import psycopg2
import psycopg2.errors
import pytest

from conftest import DBNAME, admin_connect
from test_runtime import (RUN, Running, backend_pid, connect, create, one,
                          wait_spinning)

BOUND_S = 20        # how long the blocking pieces would run if not stopped
WELL_UNDER = 5.0    # "stopped within a second", with room for a slow CI

# Set once the script is about to block.  numpy and pandas (which the
# runtime imports to shape results) are imported first: a cancel that lands
# in the middle of a first import of numpy can break numpy for the session.
MARK = """
    import numpy, pandas
    from oml_store import _backend
    _backend.get_backend().query(
        "SELECT set_config('application_name', 'oml_spinning', false)")
"""

# name -> (source, query to run it with); {name} is filled in.
TEXT_ROWS = ("SELECT v FROM oml.pyqEval('{}', NULL::record, %s)"
             " AS t(v text)")
FLOAT_ROWS = ("SELECT v FROM oml.pyqEval('{}', NULL::record, %s)"
              " AS t(v float8)")
JSON = "SELECT value FROM oml.pyqEval('{}', 'JSON', %s)"

BLOCKERS = {
    # conversion of a result: __str__ runs in C's conversion loop
    "str_loop": ("""
def str_loop():
    import time
    class S:
        def __str__(self):
            end = time.monotonic() + %(b)d
            while time.monotonic() < end:
                pass
            return 'late'
%(mark)s
    return [(S(),)]
""", TEXT_ROWS),
    # ... and one that catches every exception it meets
    "str_catching": ("""
def str_catching():
    import time
    class S:
        def __str__(self):
            end = time.monotonic() + %(b)d
            while time.monotonic() < end:
                try:
                    while time.monotonic() < end:
                        pass
                except BaseException:
                    pass
            return 'late'
%(mark)s
    return [(S(),)]
""", TEXT_ROWS),
    "float_loop": ("""
def float_loop():
    import time
    class F:
        def _spin(self):
            end = time.monotonic() + %(b)d
            while time.monotonic() < end:
                pass
        def __float__(self):
            self._spin()
            return 1.0
        def __str__(self):
            self._spin()
            return '1.0'
%(mark)s
    return [(F(),)]
""", FLOAT_ROWS),
    # formatting of the script's exception
    "exc_str": ("""
def exc_str():
    import time
    class E(Exception):
        def __str__(self):
            end = time.monotonic() + %(b)d
            while time.monotonic() < end:
                pass
            return 'late'
%(mark)s
    raise E()
""", JSON),
    # a destructor, run when C releases the result
    "del_loop": ("""
def del_loop():
    import time
    class D:
        def __str__(self):
            return 'd'
        def __del__(self):
            end = time.monotonic() + %(b)d
            while time.monotonic() < end:
                pass
%(mark)s
    return [(D(),)]
""", TEXT_ROWS),
    "sleep": ("""
def sleep():
    import time
%(mark)s
    time.sleep(%(b)d)
    return 'woke up'
""", JSON),
    "subprocess": ("""
def subprocess():
    import subprocess
%(mark)s
    subprocess.run(['sleep', '%(b)d'])
    return 'waited'
""", JSON),
    # a child in its own session: the cancel's signal does not reach it,
    # so only an interrupted waitpid() stops the wait
    "subprocess_session": ("""
def subprocess_session():
    import subprocess
%(mark)s
    subprocess.run(['sleep', '%(b)d'], start_new_session=True)
    return 'waited'
""", JSON),
    # a blocking recv() with no timeout; a thread ends it after the bound
    "recv": ("""
def recv():
    import socket, threading
    a, b = socket.socketpair()
    threading.Timer(%(b)d, b.send, [b'x']).start()
%(mark)s
    return a.recv(1).decode()
""", JSON),
    "select": ("""
def select():
    import select, socket
    a, b = socket.socketpair()
%(mark)s
    select.select([a], [], [], %(b)d)
    return 'timed out'
""", JSON),
}


def source(name):
    return BLOCKERS[name][0] % {"b": BOUND_S, "mark": MARK.rstrip("\n")}


@pytest.fixture
def blocker(admin, name):
    """The blocker the test is parametrized with, created."""
    create(admin, name, source(name))


def reset_mark(conn):
    one(conn, "SELECT set_config('application_name', 'oml_idle', false)")


def interrupt_blocker(admin, conn, name, function):
    """Run blocker name on conn, call function(pid) once it blocks; return
    (the ended Running, seconds from the signal to the statement's end)."""
    reset_mark(conn)
    pid = backend_pid(conn)
    run = Running(conn, BLOCKERS[name][1], (name,))
    wait_spinning(admin, pid)
    sent = time.monotonic()
    assert admin.sql("SELECT %s(%%s)" % function, (pid,)) == [(True,)]
    run.join()
    return run, run.ended - sent


def session_works(conn):
    assert one(conn, "SELECT 1") == 1
    assert one(conn, RUN, ('{"x": 5}', "triv")) == "5"


@pytest.fixture
def triv(admin):
    create(admin, "triv", "def triv(x=None):\n    return x\n")


# -- cancel reaches all Python --------------------------------------------------

# Each twice in one session: the first Python call of a session used to be
# interruptible in more places than later ones.

@pytest.mark.parametrize("name", sorted(BLOCKERS))
def test_cancel_stops_python_anywhere(admin, blocker, triv, name):
    conn = connect()
    try:
        for attempt in (1, 2):
            run, latency = interrupt_blocker(admin, conn, name,
                                             "pg_cancel_backend")
            print("\npg_cancel_backend during %s (attempt %d): stopped"
                  " %.3f s after it" % (name, attempt, latency))
            assert isinstance(run.error, psycopg2.errors.QueryCanceled), \
                run.error or run.result
            assert "canceling statement due to user request" \
                in str(run.error)
            assert latency < WELL_UNDER
            session_works(conn)
    finally:
        conn.close()


@pytest.mark.parametrize("name", ["str_loop", "exc_str", "del_loop",
                                  "subprocess_session", "recv", "sleep"])
def test_statement_timeout_stops_python_anywhere(admin, blocker, triv, name):
    conn = connect()
    try:
        for attempt in (1, 2):
            one(conn, "SELECT set_config('statement_timeout', '300ms', false)")
            start = time.monotonic()
            with pytest.raises(psycopg2.errors.QueryCanceled) as err:
                one(conn, BLOCKERS[name][1], (name,))
            elapsed = time.monotonic() - start
            print("\nstatement_timeout 300ms during %s (attempt %d): ended"
                  " after %.3f s" % (name, attempt, elapsed))
            assert "canceling statement due to statement timeout" \
                in str(err.value)
            assert elapsed < WELL_UNDER
            one(conn, "SELECT set_config('statement_timeout', '0', false)")
            session_works(conn)
    finally:
        conn.close()


@pytest.mark.parametrize("name", ["str_catching", "del_loop", "recv",
                                  "subprocess_session"])
def test_terminate_stops_python_anywhere(admin, blocker, name):
    watcher = admin_connect(DBNAME)
    started = one(watcher, "SELECT pg_postmaster_start_time()")
    conn = connect()
    try:
        run, latency = interrupt_blocker(admin, conn, name,
                                         "pg_cancel_backend")
        assert isinstance(run.error, psycopg2.errors.QueryCanceled), \
            run.error or run.result
        run, latency = interrupt_blocker(admin, conn, name,
                                         "pg_terminate_backend")
        print("\npg_terminate_backend during %s: ended %.3f s after it"
              % (name, latency))
        assert isinstance(run.error, psycopg2.OperationalError), \
            run.error or run.result
        assert latency < WELL_UNDER
        time.sleep(0.3)
        assert one(watcher, "SELECT pg_postmaster_start_time()") == started
    finally:
        conn.close()
        watcher.close()


# -- signal handlers, masks and threads a script leaves behind ----------------------

SPIN = """
def spin(seconds=%d):
    import time
%s
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        pass
    return 'not interrupted'
""" % (BOUND_S, MARK.rstrip("\n"))

MEDDLERS = {
    "handlers": """
def meddle():
    import signal
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGALRM, signal.SIGUSR1):
        signal.signal(sig, lambda *args: None)
    return 'ok'
""",
    "ignore": """
def meddle():
    import _signal, signal
    _signal.signal(int(signal.SIGINT), int(signal.SIG_IGN))
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.siginterrupt(signal.SIGALRM, False)
    return 'ok'
""",
    "mask": """
def meddle():
    import signal
    signal.pthread_sigmask(signal.SIG_BLOCK,
                           {signal.SIGINT, signal.SIGTERM, signal.SIGALRM})
    return 'ok'
""",
    # a thread that keeps running Python (and may receive the signals)
    "thread": """
def meddle():
    import threading, time
    def busy():
        end = time.monotonic() + 60
        while time.monotonic() < end:
            time.sleep(0.001)
    threading.Thread(target=busy, daemon=True).start()
    return 'ok'
""",
}


@pytest.fixture
def meddlers(admin):
    create(admin, "spin", SPIN)
    for name, src in MEDDLERS.items():
        create(admin, "meddle_" + name, src)


@pytest.mark.parametrize("meddler", sorted(MEDDLERS))
def test_signal_state_a_script_leaves_does_not_break_cancel(admin, meddlers,
                                                            triv, meddler):
    conn = connect()
    watcher = admin_connect(DBNAME)
    try:
        assert one(conn, JSON, ("meddle_" + meddler,)) == '"ok"'
        # pg_cancel_backend
        reset_mark(conn)
        pid = backend_pid(conn)
        run = Running(conn, JSON, ("spin",))
        wait_spinning(admin, pid)
        sent = time.monotonic()
        admin.sql("SELECT pg_cancel_backend(%s)", (pid,))
        run.join()
        assert isinstance(run.error, psycopg2.errors.QueryCanceled), \
            run.error or run.result
        assert run.ended - sent < WELL_UNDER
        # statement_timeout
        assert one(conn, JSON, ("meddle_" + meddler,)) == '"ok"'
        one(conn, "SELECT set_config('statement_timeout', '300ms', false)")
        start = time.monotonic()
        with pytest.raises(psycopg2.errors.QueryCanceled):
            one(conn, JSON, ("spin",))
        assert time.monotonic() - start < WELL_UNDER
        one(conn, "SELECT set_config('statement_timeout', '0', false)")
        session_works(conn)
        # pg_terminate_backend
        assert one(conn, JSON, ("meddle_" + meddler,)) == '"ok"'
        reset_mark(conn)
        run = Running(conn, JSON, ("spin",))
        wait_spinning(admin, pid)
        sent = time.monotonic()
        admin.sql("SELECT pg_terminate_backend(%s)", (pid,))
        run.join()
        assert isinstance(run.error, psycopg2.OperationalError), \
            run.error or run.result
        assert run.ended - sent < WELL_UNDER
        assert one(watcher, "SELECT 1") == 1
    finally:
        conn.close()
        watcher.close()


def test_handlers_set_during_a_call_still_end_it(admin, triv):
    """A script's own SIGINT or SIGALRM handler runs, but PostgreSQL still
    sees the cancel or timeout, which ends the statement when the call
    returns (no later than that)."""
    create(admin, "own_handler", """
def own_handler(seconds=1):
    import signal, time
    seen = []
    signal.signal(signal.SIGINT, lambda *a: seen.append('int'))
    signal.signal(signal.SIGALRM, lambda *a: seen.append('alrm'))
%s
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        pass
    return seen
""" % MARK.rstrip("\n"))
    conn = connect()
    try:
        reset_mark(conn)
        pid = backend_pid(conn)
        run = Running(conn, JSON, ("own_handler",))
        wait_spinning(admin, pid)
        admin.sql("SELECT pg_cancel_backend(%s)", (pid,))
        run.join()
        assert isinstance(run.error, psycopg2.errors.QueryCanceled), \
            run.error or run.result
        one(conn, "SELECT set_config('statement_timeout', '300ms', false)")
        with pytest.raises(psycopg2.errors.QueryCanceled) as err:
            one(conn, JSON, ("own_handler",))
        assert "statement timeout" in str(err.value)
        one(conn, "SELECT set_config('statement_timeout', '0', false)")
        session_works(conn)
    finally:
        conn.close()


def test_python_sees_its_own_handlers_again(admin, triv):
    create(admin, "set_handler", """
def set_handler():
    import signal
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGUSR2, lambda *a: None)
    return 'set'
""")
    create(admin, "get_handler", """
def get_handler():
    import signal
    return [getattr(signal.getsignal(signal.SIGINT), '__name__', None),
            str(signal.getsignal(signal.SIGUSR2))]
""")
    conn = connect()
    try:
        before = one(conn, JSON, ("get_handler",))
        assert one(conn, JSON, ("set_handler",)) == '"set"'
        assert one(conn, JSON, ("get_handler",)) == before
        assert '"_interrupt"' in before
    finally:
        conn.close()


def test_sigalrm_timers_are_refused(admin):
    create(admin, "alarm", """
def alarm(which='alarm'):
    import signal
    if which == 'alarm':
        signal.alarm(1)
    elif which == 'real':
        signal.setitimer(signal.ITIMER_REAL, 1.0)
    else:
        signal.setitimer(signal.ITIMER_VIRTUAL, 0)
    return 'set'
""")
    conn = connect()
    try:
        for which in ("alarm", "real"):
            with pytest.raises(psycopg2.errors.ExternalRoutineException) as err:
                one(conn, RUN, ('{"which": "%s"}' % which, "alarm"))
            assert "cannot use SIGALRM timers" in str(err.value)
        assert one(conn, RUN, ('{"which": "virtual"}', "alarm")) == '"set"'
    finally:
        conn.close()


# -- working directory, recursion limit, other process state ------------------------------

def test_chdir_does_not_outlive_the_call(admin, triv):
    create(admin, "chdir", """
def chdir(then_sql=False):
    import os
    import oml
    os.chdir('/tmp')
    if then_sql:
        # SQL run from the script finds the data directory again ...
        n = int(oml.sql("SELECT count(*) AS n FROM hygiene_fresh")['n'][0])
        # ... and the script its own directory
        return [n, os.getcwd()]
    return os.getcwd()
""")
    create(admin, "getcwd", "def getcwd():\n    import os\n"
                            "    return os.getcwd()\n")
    datadir = admin.sql("SHOW data_directory")[0][0]
    conn = connect()
    try:
        assert one(conn, JSON, ("getcwd",)) == '"%s"' % datadir
        assert one(conn, JSON, ("chdir",)) == '"/tmp"'
        # A table this session has never opened: its file is opened by a
        # relative path.
        admin.sql("DROP TABLE IF EXISTS hygiene_fresh")
        admin.sql("CREATE TABLE hygiene_fresh AS SELECT g FROM"
                  " generate_series(1, 3) g")
        admin.sql("GRANT SELECT ON hygiene_fresh TO PUBLIC")
        assert one(conn, "SELECT count(*) FROM hygiene_fresh") == 3
        assert one(conn, JSON, ("getcwd",)) == '"%s"' % datadir
        admin.sql("CREATE TABLE hygiene_fresh2 AS SELECT 1 AS a")
        admin.sql("GRANT SELECT ON hygiene_fresh2 TO PUBLIC")
        assert one(conn, RUN, ('{"then_sql": true}', "chdir")) \
            == '[3, "/tmp"]'
        assert one(conn, "SELECT count(*) FROM hygiene_fresh2") == 1
        assert one(conn, JSON, ("getcwd",)) == '"%s"' % datadir
        session_works(conn)
    finally:
        conn.close()
        admin.sql("DROP TABLE IF EXISTS hygiene_fresh, hygiene_fresh2")


def test_recursion_limit_is_put_back(admin, triv):
    create(admin, "raise_limit", """
def raise_limit():
    import sys
    sys.setrecursionlimit(10**6)
    return sys.getrecursionlimit()
""")
    create(admin, "get_limit", "def get_limit(**kw):\n    import sys\n"
                               "    return sys.getrecursionlimit()\n")
    watcher = admin_connect(DBNAME)
    started = one(watcher, "SELECT pg_postmaster_start_time()")
    conn = connect()
    try:
        limit = one(conn, JSON, ("get_limit",))
        assert one(conn, JSON, ("raise_limit",)) == "1000000"
        assert one(conn, JSON, ("get_limit",)) == limit
        # Deeply nested par_lst after the limit was raised: an error, no
        # crash (any role, any script).
        assert one(conn, JSON, ("raise_limit",)) == "1000000"
        deep = '{"a": ' + "[" * 200000 + "]" * 200000 + "}"
        with pytest.raises(psycopg2.Error) as err:
            one(conn, RUN, (deep, "get_limit"))
        # Refused as too deep (a lost connection would have no SQLSTATE).
        assert err.value.pgcode == "54001", err.value
        session_works(conn)
        # ... nor from inside a script that raised it and runs SQL
        create(admin, "raise_then_sql", """
def raise_then_sql(deep=''):
    import sys
    import oml
    sys.setrecursionlimit(10**6)
    try:
        oml.sql("SELECT value FROM oml.pyqEval(%s, 'JSON', 'get_limit')",
                [deep])
    except oml.OMLError as exc:
        return ['refused', sys.getrecursionlimit()]
    return ['ran', sys.getrecursionlimit()]
""")
        assert one(conn, RUN, ('{"deep": "%s"}' % deep.replace('"', '\\"'),
                               "raise_then_sql")) == '["refused", 1000000]'
        session_works(conn)
        assert one(watcher, "SELECT pg_postmaster_start_time()") == started
    finally:
        conn.close()
        watcher.close()


def test_interpreter_and_process_state_is_put_back(admin, triv):
    create(admin, "change_state", """
def change_state():
    import locale, os, sys
    os.umask(0o000)
    os.environ['TZ'] = 'America/New_York'
    os.environ['OML_HYGIENE'] = 'set'
    sys.path.insert(0, '/tmp/oml_hygiene_path')
    sys.stdout = open(os.devnull, 'w')
    sys.settrace(lambda *a: None)
    locale.setlocale(locale.LC_ALL, 'C')
    import gc
    gc.disable()
    return 'changed'
""")
    create(admin, "read_state", """
def read_state():
    import gc, locale, os, sys
    mask = os.umask(0o077)
    os.umask(mask)
    return {'umask': mask, 'tz': os.environ.get('TZ'),
            'env': os.environ.get('OML_HYGIENE'),
            'path': '/tmp/oml_hygiene_path' in sys.path,
            'stdout': type(sys.stdout).__name__,
            'trace': sys.gettrace() is None,
            'ctype': locale.setlocale(locale.LC_CTYPE),
            'collate': locale.setlocale(locale.LC_COLLATE),
            'gc': gc.isenabled()}
""")
    conn = connect()
    try:
        before = one(conn, JSON, ("read_state",))
        assert one(conn, JSON, ("change_state",)) == '"changed"'
        assert one(conn, JSON, ("read_state",)) == before
        assert '"env": null' in before and '"gc": true' in before
        assert '"stdout": "_Output"' in before
        session_works(conn)
    finally:
        conn.close()


def test_locale_stays_as_postgresql_set_it(admin):
    create(admin, "ctype", "def ctype():\n    import locale\n"
                           "    return locale.setlocale(locale.LC_CTYPE)\n")
    conn = connect()
    try:
        datctype = one(conn, "SELECT datctype FROM pg_database"
                             " WHERE datname = current_database()")
        assert one(conn, JSON, ("ctype",)) == '"%s"' % datctype
    finally:
        conn.close()


# -- script output ------------------------------------------------------------------------

def server_log_path(admin):
    """The server log file, when this test can find and read it."""
    path = admin.sql("SELECT pg_current_logfile()")[0][0]
    if path:
        datadir = admin.sql("SHOW data_directory")[0][0]
        path = os.path.join(datadir, path)
    else:
        pm = admin.sql("SELECT pid FROM pg_stat_activity"
                       " WHERE backend_type = 'checkpointer'")
        try:
            path = os.readlink("/proc/%d/fd/2" % pm[0][0]) if pm else None
        except OSError:
            path = None
    if path and os.path.isfile(path) and os.access(path, os.R_OK):
        return path
    return None


def setting(conn, name, value):
    one(conn, "SELECT set_config(%s, %s, false)", (name, value))


FORGED = "LOG:  database system is shut down (forged by oml_hygiene)"


def test_output_is_a_capped_notice_not_server_log(admin):
    create(admin, "chatty", """
def chatty(mb=0):
    import os, sys
    print('hello from the script')
    print('\\n' + %r, file=sys.stderr)
    os.write(1, b'fd one\\n')           # the backend's fd 1: /dev/null
    for _ in range(mb):
        sys.stdout.write('x' * (1 << 20))
    return os.readlink('/proc/self/fd/1')
""" % FORGED)
    log = server_log_path(admin)
    size = os.path.getsize(log) if log else None
    conn = connect()
    try:
        assert one(conn, RUN, ('{}', "chatty")) == '"/dev/null"'
        notices = [n for n in conn.notices if "hello" in n]
        assert len(notices) == 1, conn.notices
        assert "hello from the script\n\n" + FORGED in notices[0]
        del conn.notices[:]
        # 20 MB of output: one NOTICE of at most the cap, the rest counted
        assert one(conn, RUN, ('{"mb": 20}', "chatty")) == '"/dev/null"'
        notice = "".join(conn.notices)
        assert len(notice) < 70000
        assert "was dropped: %d bytes" % (20 * 2**20 + 22 + len(FORGED) + 2
                                          - 65536) in notice
        del conn.notices[:]
        setting(conn, "oml_store.max_output_bytes", "10")
        one(conn, RUN, ('{}', "chatty"))
        assert "hello from" in conn.notices[-1]
        assert "hello from the" not in conn.notices[-1]
        del conn.notices[:]
        setting(conn, "oml_store.max_output_bytes", "0")
        one(conn, RUN, ('{}', "chatty"))
        assert not any("hello" in n for n in conn.notices)
    finally:
        conn.close()
    if log:
        with open(log, errors="replace") as f:
            f.seek(size)
            tail = f.read()
        assert len(tail) < 2**20, "the server log grew by %d bytes" % len(tail)
        assert not any(line.startswith(FORGED[:10]) and "forged" in line
                       for line in tail.splitlines())
        assert "fd one" not in tail


def test_output_of_a_failing_call_comes_before_the_error(admin):
    create(admin, "fails", "def fails():\n    print('about to fail')\n"
                           "    raise ValueError('boom')\n")
    conn = connect()
    try:
        with pytest.raises(psycopg2.errors.ExternalRoutineException):
            one(conn, JSON, ("fails",))
        assert any("about to fail" in n for n in conn.notices)
    finally:
        conn.close()


# -- fork ---------------------------------------------------------------------------------

def test_forked_child_never_runs_the_backend(admin, triv):
    create(admin, "forks", """
def forks(how='return'):
    import os, sys
    pid = os.fork()
    if pid == 0:
        if how == 'exit':
            sys.exit(7)
        if how == 'raise':
            raise ValueError('in the child')
        if how == 'sql':
            import oml
            try:
                oml.sql('SELECT 1')
            except RuntimeError:
                os._exit(9)
        if how == 'wait':
            import time
            time.sleep(30)
        return 'child'
    if how == 'wait':
        import signal
        os.kill(pid, signal.SIGTERM)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)
""")
    watcher = admin_connect(DBNAME)
    started = one(watcher, "SELECT pg_postmaster_start_time()")
    conn = connect()
    try:
        for how, code in (("return", 0), ("exit", 7), ("raise", 1),
                          ("sql", 9), ("wait", -15)):
            assert one(conn, RUN, ('{"how": "%s"}' % how, "forks")) \
                == str(code)
            session_works(conn)
        time.sleep(0.3)
        assert one(watcher, "SELECT pg_postmaster_start_time()") == started
        fresh = connect()
        try:
            session_works(fresh)
        finally:
            fresh.close()
    finally:
        conn.close()
        watcher.close()


# -- errors: no reference leaks in the SPI error path -------------------------------------

def test_sql_errors_in_a_script_leak_nothing(admin):
    create(admin, "many_errors", """
def many_errors(n=4000):
    import oml
    def rss():
        with open('/proc/self/statm') as f:
            return int(f.read().split()[1]) * 4096
    sql = ("DO $$BEGIN RAISE EXCEPTION 'e' USING DETAIL = repeat('d', 20000),"
           " HINT = repeat('h', 20000); END$$")
    for _ in range(200):
        try:
            oml.sql(sql)
        except oml.OMLError:
            pass
    before = rss()
    for _ in range(n):
        try:
            oml.sql(sql)
        except oml.OMLError as exc:
            assert len(exc.detail) == 20000
    return (rss() - before) // 2**20
""")
    conn = connect()
    try:
        grown = int(one(conn, JSON, ("many_errors",)))
        print("\nRSS growth over 4000 SQL errors with 40 kB of detail and"
              " hint: %d MB" % grown)
        assert grown < 40            # leaking would be about 160 MB
    finally:
        conn.close()


# -- nested graphics ----------------------------------------------------------------------

def test_nested_png_call_keeps_the_outer_figures(admin):
    create(admin, "inner_plot", """
def inner_plot():
    import matplotlib.pyplot as plt
    plt.figure()
    plt.title('inner')
    plt.plot([1, 2])
    return 'inner done'
""")
    create(admin, "outer_plot", """
def outer_plot():
    import matplotlib.pyplot as plt
    import oml
    plt.figure()
    plt.title('outer')
    plt.plot([3, 4])
    inner = oml.sql("SELECT title FROM oml.pyqEval(NULL, 'PNG', 'inner_plot')")
    plt.plot([5, 6])        # still on the outer figure
    return list(inner['title'])
""")
    conn = connect()
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT id, value, title, length(image) > 0"
                        " FROM oml.pyqEval(NULL, 'PNG', 'outer_plot')")
            rows = cur.fetchall()
        assert len(rows) == 1, rows
        assert rows[0][1] == '["inner"]'
        assert rows[0][2] == "outer"
        assert rows[0][3] is True
        # An outer script without graphics keeps its figures too (it may
        # save them itself).
        create(admin, "outer_own", """
def outer_own():
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    import oml
    fig = plt.figure()
    oml.sql("SELECT title FROM oml.pyqEval(NULL, 'PNG', 'inner_plot')")
    return plt.fignum_exists(fig.number)
""")
        assert one(conn, JSON, ("outer_own",)) == "true"
    finally:
        conn.close()


# -- a cancel during an import ------------------------------------------------------------

def test_cancel_during_a_first_import_leaves_imports_working(admin):
    """An import cut short by a cancel leaves no half-initialised modules:
    the same import works in the next call of the session."""
    import importlib.util
    if importlib.util.find_spec("sklearn") is None:
        pytest.skip("scikit-learn is not installed")
    create(admin, "imp", """
def imp(mod='sklearn.ensemble'):
    import importlib
    from oml_store import _backend
    _backend.get_backend().query(
        "SELECT set_config('application_name', 'oml_spinning', false)")
    importlib.import_module(mod)
    return 'imported'
""")
    for delay in (0.05, 0.15):
        conn = connect()       # a fresh backend: nothing imported yet
        try:
            reset_mark(conn)
            pid = backend_pid(conn)
            run = Running(conn, JSON, ("imp",))
            deadline = time.monotonic() + 60
            while admin.sql("SELECT application_name FROM pg_stat_activity"
                            " WHERE pid = %s", (pid,)) != [("oml_spinning",)]:
                assert time.monotonic() < deadline
                time.sleep(0.005)
            time.sleep(delay)
            admin.sql("SELECT pg_cancel_backend(%s)", (pid,))
            run.join()
            assert run.result == '"imported"' or \
                isinstance(run.error, psycopg2.errors.QueryCanceled), run.error
            assert one(conn, JSON, ("imp",)) == '"imported"'
        finally:
            conn.close()

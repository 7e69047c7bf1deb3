"""The embedded runtime across sessions: cancel, statement_timeout,
pg_terminate_backend, the compiled-script cache, and backend memory.

These need more than one session at once, which the SQL tests cannot show.
Run with ``pytest -s`` to see the measured latencies and memory figures.

The "endless" scripts are bounded (a few seconds up to about a minute,
depending on the test), so that a regression makes a test fail instead of
leaving a backend that nothing can stop.
"""

import os
import threading
import time

import psycopg2
import psycopg2.errors
import pytest

from conftest import ALICE, BOB, DBNAME, PASSWORD, admin_connect

# Pure bytecode, no calls in the loop: what `while True: pass` does, but it
# ends by itself (after roughly 20 to 100 s) should a cancel be lost.
SPIN = """
def spin(limit=2000000000):
    from oml_store import _backend
    _backend.get_backend().query(
        "SELECT set_config('application_name', 'oml_spinning', false)")
    n = 0
    while n < limit:
        n += 1
    return n
"""

NAP = """
def nap(seconds=60):
    import time
    from oml_store import _backend
    _backend.get_backend().query(
        "SELECT set_config('application_name', 'oml_spinning', false)")
    time.sleep(seconds)
    return 'woke up'
"""

# Catch the cancel's exception (once, or every time) and go on, for at most
# `seconds`.
CATCH_ONCE = """
def catch_once(seconds=6):
    import time
    from oml_store import _backend
    _backend.get_backend().query(
        "SELECT set_config('application_name', 'oml_spinning', false)")
    end = time.monotonic() + seconds
    try:
        while time.monotonic() < end:
            pass
    except BaseException:
        pass
    while time.monotonic() < end:
        pass
    return 'not interrupted'
"""

CATCH_ALWAYS = """
def catch_always(seconds=6):
    import time
    from oml_store import _backend
    _backend.get_backend().query(
        "SELECT set_config('application_name', 'oml_spinning', false)")
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        try:
            while time.monotonic() < end:
                pass
        except BaseException:
            pass
    return 'not interrupted'
"""

# Runs nested embedded Python (pyqScriptCreate checks the source in Python)
# before spinning for at most `seconds`.
SPIN_AFTER_NESTED = """
def spin_after_nested(seconds=8):
    import time
    import oml
    from oml_store import _backend
    oml.script.create("nested_tmp", "def g():\\n    return 1\\n",
                      overwrite=True)
    _backend.get_backend().query(
        "SELECT set_config('application_name', 'oml_spinning', false)")
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        pass
    return 'not interrupted'
"""

TRIV = "def triv(x=None):\n    return x\n"
BOOM = "def boom(x=None):\n    raise ValueError('boom %s' % x)\n"

RUN = "SELECT value FROM oml.pyqEval(%s, 'JSON', %s)"
LIMIT_S = 5.0       # generous bound for "stops within a second"


def connect(role=ALICE):
    conn = psycopg2.connect(user=role, password=PASSWORD, dbname=DBNAME)
    conn.autocommit = True
    return conn


def one(conn, sql, params=()):
    with conn.cursor() as cur:
        cur.execute(sql, params)
        return cur.fetchone()[0]


def backend_pid(conn):
    return one(conn, "SELECT pg_backend_pid()")


def create(admin, name, source, owner=ALICE):
    """A global script, created by owner (committed)."""
    conn = connect(owner)
    try:
        one(conn, "SELECT oml.pyqScriptCreate(%s, %s, true, true) IS NULL",
            (name, source))
    finally:
        conn.close()


@pytest.fixture
def scripts(admin):
    for name, source in (("spin", SPIN), ("nap", NAP), ("triv", TRIV),
                         ("catch_once", CATCH_ONCE),
                         ("catch_always", CATCH_ALWAYS),
                         ("boom", BOOM),
                         ("spin_after_nested", SPIN_AFTER_NESTED)):
        create(admin, name, source)


class Running:
    """A statement run in a thread on conn; records how it ended and when."""

    def __init__(self, conn, sql, params=()):
        self.conn = conn
        self.error = None
        self.result = None
        self.ended = None
        self.started = time.monotonic()
        self.thread = threading.Thread(target=self._run, args=(sql, params),
                                       daemon=True)
        self.thread.start()

    def _run(self, sql, params):
        try:
            self.result = one(self.conn, sql, params)
        except psycopg2.Error as exc:
            self.error = exc
        self.ended = time.monotonic()

    def join(self, timeout=150):
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "the statement did not end"


def wait_spinning(admin, pid, timeout=60):
    """Wait until the script in backend pid has reached its loop."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rows = admin.sql("SELECT application_name FROM pg_stat_activity"
                         " WHERE pid = %s", (pid,))
        if rows and rows[0][0] == "oml_spinning":
            time.sleep(0.2)             # well inside the loop
            return
        time.sleep(0.02)
    pytest.fail("the script did not start within %d s" % timeout)


def interrupt(admin, conn, script, function, params='{}'):
    """Run script on conn, call function(pid) once it runs; return
    (the ended Running, seconds from the call to the statement's end)."""
    pid = backend_pid(conn)
    run = Running(conn, RUN, (params, script))
    wait_spinning(admin, pid)
    sent = time.monotonic()
    assert admin.sql("SELECT %s(%%s)" % function, (pid,)) == [(True,)]
    run.join()
    return run, run.ended - sent


# -- cancel and statement_timeout ---------------------------------------------------

@pytest.mark.parametrize("script", ["spin", "nap"])
def test_cancel_stops_running_script(admin, scripts, script):
    conn = connect()
    try:
        for attempt in (1, 2):          # and again in the same session
            run, latency = interrupt(admin, conn, script, "pg_cancel_backend")
            print("\npg_cancel_backend of %s (attempt %d): stopped %.3f s"
                  " after the cancel" % (script, attempt, latency))
            assert isinstance(run.error, psycopg2.errors.QueryCanceled), \
                run.error or run.result
            assert run.error.pgcode == "57014"
            assert "canceling statement due to user request" \
                in str(run.error)
            assert latency < LIMIT_S
            # The session goes on working.
            assert one(conn, RUN, ('{"x": %d}' % attempt, "triv")) \
                == str(attempt)
            assert one(conn, "SELECT 1") == 1
    finally:
        conn.close()


def test_statement_timeout_stops_running_script(admin, scripts):
    conn = connect()
    try:
        one(conn, "SELECT set_config('statement_timeout', '1s', false)")
        for attempt in (1, 2):
            start = time.monotonic()
            with pytest.raises(psycopg2.errors.QueryCanceled) as err:
                one(conn, RUN, ("{}", "spin"))
            elapsed = time.monotonic() - start
            print("\nstatement_timeout 1s (attempt %d): statement ended after"
                  " %.3f s" % (attempt, elapsed))
            assert "canceling statement due to statement timeout" \
                in str(err.value)
            assert 0.9 < elapsed < 1.0 + LIMIT_S
            assert one(conn, RUN, ('{"x": "ok"}', "triv")) == '"ok"'
        one(conn, "SELECT set_config('statement_timeout', '0', false)")
        assert one(conn, RUN, ('{"x": [1]}', "triv")) == "[1]"
    finally:
        conn.close()


def test_cancel_of_other_session_leaves_this_one_alone(admin, scripts):
    busy, other = connect(), connect(BOB)
    try:
        run, _ = interrupt(admin, busy, "spin", "pg_cancel_backend")
        assert isinstance(run.error, psycopg2.errors.QueryCanceled)
        # A session that had run Python before is not disturbed.
        assert one(other, RUN, ('{"x": 1}', "triv")) == "1"
        assert one(other, RUN, ('{"x": 2}', "triv")) == "2"
    finally:
        busy.close()
        other.close()


@pytest.mark.parametrize("script, function", [
    ("catch_once", "pg_cancel_backend"),
    ("catch_always", "pg_terminate_backend"),
])
def test_interrupt_of_script_that_catches_it(admin, scripts, script,
                                             function):
    conn = connect()
    try:
        run, latency = interrupt(admin, conn, script, function)
        print("\n%s of %s: statement ended %.3f s after it"
              % (function, script, latency))
        assert run.error is not None, run.result
        assert latency < LIMIT_S
    finally:
        conn.close()


@pytest.mark.parametrize("function", ["pg_cancel_backend",
                                      "pg_terminate_backend"])
def test_interrupt_after_nested_python(admin, scripts, function):
    conn = connect()
    try:
        run, latency = interrupt(admin, conn, "spin_after_nested", function)
        print("\n%s after nested Python: statement ended %.3f s after it"
              % (function, latency))
        assert run.error is not None, run.result
        assert latency < LIMIT_S
    finally:
        conn.close()


# -- pg_terminate_backend -------------------------------------------------------------

def test_terminate_ends_backend_cleanly(admin, scripts):
    watcher = admin_connect(DBNAME)        # would be killed by a crash
    conn = connect()
    pid = backend_pid(conn)
    try:
        run, latency = interrupt(admin, conn, "spin", "pg_terminate_backend")
        print("\npg_terminate_backend: connection ended %.3f s after it"
              % latency)
        assert isinstance(run.error, psycopg2.OperationalError), \
            run.error or run.result
        assert "terminating connection due to administrator command" \
            in str(run.error) or "closed" in str(run.error)
        assert latency < LIMIT_S
        assert conn.closed
        deadline = time.monotonic() + LIMIT_S
        while admin.sql("SELECT 1 FROM pg_stat_activity WHERE pid = %s",
                        (pid,)):
            assert time.monotonic() < deadline, "the backend is still there"
            time.sleep(0.05)
        time.sleep(0.5)
        # No crash: a crashed backend makes the postmaster end every other
        # session, this one included.
        assert one(watcher, "SELECT 1") == 1
        fresh = connect()
        try:
            assert one(fresh, "SELECT 1") == 1
            assert one(fresh, RUN, ('{"x": "after"}', "triv")) == '"after"'
        finally:
            fresh.close()
    finally:
        conn.close()
        watcher.close()


# -- the compiled-script cache ----------------------------------------------------------

def version_source(v):
    return "def version():\n    return %r\n" % v


def test_cache_sees_overwrite_by_another_session(admin):
    a, b = connect(), connect()
    try:
        one(b, "SELECT oml.pyqScriptCreate('ver', %s) IS NULL",
            (version_source(1),))
        assert one(a, RUN, (None, "ver")) == "1"
        assert one(a, RUN, (None, "ver")) == "1"        # cached
        one(b, "SELECT oml.pyqScriptCreate('ver', %s, false, true) IS NULL",
            (version_source(2),))
        assert one(a, RUN, (None, "ver")) == "2"
        # Not committed yet: session A keeps seeing version 2.
        one(b, "BEGIN; SELECT 1")
        one(b, "SELECT oml.pyqScriptCreate('ver', %s, false, true) IS NULL",
            (version_source(3),))
        assert one(a, RUN, (None, "ver")) == "2"
        one(b, "COMMIT; SELECT 1")
        assert one(a, RUN, (None, "ver")) == "3"
        # Dropped, then created again under the same name.
        one(b, "SELECT oml.pyqScriptDrop('ver') IS NULL")
        with pytest.raises(psycopg2.errors.UndefinedFunction):
            one(a, RUN, (None, "ver"))
        one(b, "SELECT oml.pyqScriptCreate('ver', %s) IS NULL",
            (version_source(4),))
        assert one(a, RUN, (None, "ver")) == "4"
        # A rolled-back overwrite changes nothing.
        one(b, "BEGIN; SELECT 1")
        one(b, "SELECT oml.pyqScriptCreate('ver', %s, false, true) IS NULL",
            (version_source(5),))
        one(b, "ROLLBACK; SELECT 1")
        assert one(a, RUN, (None, "ver")) == "4"
    finally:
        a.close()
        b.close()


def test_cache_sees_global_overwrite_by_superuser(admin):
    create(admin, "gver", version_source("alice"))
    reader = connect(BOB)
    try:
        assert one(reader, RUN, (None, "gver")) == '"alice"'
        admin.sql("SELECT oml.pyqScriptCreate('gver', %s, true, true)",
                  (version_source("admin"),))
        assert one(reader, RUN, (None, "gver")) == '"admin"'
        admin.sql("SELECT oml.pyqScriptDrop('gver', true)")
        with pytest.raises(psycopg2.errors.UndefinedFunction):
            one(reader, RUN, (None, "gver"))
    finally:
        reader.close()


def test_cache_overwrite_in_the_same_transaction(admin):
    # Session A creates, runs, overwrites and runs in one transaction.
    a = connect()
    try:
        one(a, "BEGIN; SELECT 1")
        one(a, "SELECT oml.pyqScriptCreate('ver', %s) IS NULL",
            (version_source(1),))
        assert one(a, RUN, (None, "ver")) == "1"
        one(a, "SELECT oml.pyqScriptCreate('ver', %s, false, true) IS NULL",
            (version_source(2),))
        assert one(a, RUN, (None, "ver")) == "2"
        one(a, "ROLLBACK; SELECT 1")
        with pytest.raises(psycopg2.errors.UndefinedFunction):
            one(a, RUN, (None, "ver"))
    finally:
        a.close()


# -- memory --------------------------------------------------------------------------

def rss_kb(pid):
    path = "/proc/%d/status" % pid
    try:
        with open(path) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError as exc:
        pytest.skip("cannot read %s (the server runs elsewhere or as"
                    " another user): %s" % (path, exc))
    pytest.skip("no VmRSS in %s" % path)


def readable_backend(conn):
    pid = backend_pid(conn)
    if not os.path.exists("/proc/%d" % pid):
        pytest.skip("backend %d is not on this machine" % pid)
    rss_kb(pid)
    return pid


BATCH = ("SELECT count(*) FROM generate_series(1, 10000) g,"
         " LATERAL oml.pyqEval('{\"x\":' || g || '}', 'JSON', 'triv') e"
         " WHERE e.value = g::text")


def test_memory_of_many_calls(admin, scripts):
    conn = connect()
    try:
        pid = readable_backend(conn)
        start = time.monotonic()
        assert one(conn, BATCH) == 10000
        first = rss_kb(pid)
        for _ in range(9):
            assert one(conn, BATCH) == 10000
        last = rss_kb(pid)
        elapsed = time.monotonic() - start
        growth = (last - first) / 1024
        print("\n100,000 pyqEval calls in %.1f s: VmRSS %.1f MB after 10k,"
              " %.1f MB after 100k, growth %.2f MB"
              % (elapsed, first / 1024, last / 1024, growth))
        assert growth < 16
    finally:
        conn.close()


def test_memory_of_many_python_exceptions(admin, scripts):
    conn = connect()
    try:
        pid = readable_backend(conn)
        readings = {}
        start = time.monotonic()
        for i in range(1, 2001):
            with pytest.raises(psycopg2.errors.ExternalRoutineException) as e:
                one(conn, RUN, ('{"x": %d}' % i, "boom"))
            if i == 200:
                readings[i] = rss_kb(pid)
        readings[2000] = rss_kb(pid)
        assert "ValueError: boom 2000" in str(e.value)
        assert "raise ValueError('boom %s' % x)" in e.value.diag.message_detail
        growth = (readings[2000] - readings[200]) / 1024
        print("\n2,000 failing pyqEval calls in %.1f s: VmRSS %.1f MB after"
              " 200, %.1f MB after 2000, growth %.2f MB"
              % (time.monotonic() - start, readings[200] / 1024,
                 readings[2000] / 1024, growth))
        assert growth < 16
        assert one(conn, RUN, ('{"x": 1}', "triv")) == "1"
    finally:
        conn.close()

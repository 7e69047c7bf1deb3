"""The record of every run: per-script statistics and the run log.

Statistics (oml.pyq_stat_scripts) are kept in shared memory across
sessions; the run log (oml.pyq_runs, oml_store.log_runs) is written by a
background worker, so runs of rolled-back statements, cancelled and
terminated calls are logged too.  sql/pyq_runs.sql covers each pyq*
function and the privileges; here: what needs several sessions, the
client, datastores or a backend that goes away.
"""

import threading
import time

import psycopg2
import pytest

import oml_store as oml
from conftest import ALICE, BOB, CAROL, PASSWORD, DBNAME, sql_as
from test_runtime import connect, one

WAIT_S = 15         # the writer is a background worker: wait for its rows


def create(name, source, owner=ALICE, is_global=False):
    sql_as(owner, "SELECT oml.pyqScriptCreate(%s, %s, %s, true)",
           (name, source, is_global))


def stats(admin, name):
    rows = admin.sql("SELECT calls, errors, rows_in, rows_out"
                     " FROM oml.pyq_stat_scripts WHERE name = %s", (name,))
    return rows[0] if rows else None


def wait_runs(admin, where, n, params=()):
    """The rows of oml.pyq_runs matching where, once there are n."""
    deadline = time.monotonic() + WAIT_S
    while True:
        rows = admin.sql("SELECT function, role_name, script_name, status,"
                         " datastore_objects, error, sqlstate"
                         " FROM oml.pyq_runs WHERE " + where + " ORDER BY id",
                         params)
        if len(rows) >= n or time.monotonic() > deadline:
            return rows
        time.sleep(0.05)


@pytest.fixture
def runlog(admin):
    """The run log on for the test roles (set by a superuser, per role)."""
    admin.sql("TRUNCATE oml.pyq_runs")
    admin.sql("SELECT oml.pyq_stat_reset()")
    for role in (ALICE, BOB, CAROL):
        admin.sql("ALTER ROLE %s SET oml_store.log_runs = 'all'" % role)
    yield
    for role in (ALICE, BOB, CAROL):
        admin.sql("ALTER ROLE %s RESET oml_store.log_runs" % role)
    admin.sql("TRUNCATE oml.pyq_runs")


SLEEP = """
def f(s=20):
    import time
    from oml_store import _backend
    _backend.get_backend().query(
        "SELECT set_config('application_name', 'oml_runs_sleeping', false)")
    time.sleep(s)
"""


def run_until_sleeping(admin, conn, script):
    """Run script on conn in a thread; return (thread, errors) once the
    script sleeps."""
    errors = []

    def work():
        try:
            one(conn, "SELECT value FROM oml.pyqEval('{}', 'JSON', %s)", (script,))
        except psycopg2.Error as exc:
            errors.append(exc)
    pid = one(conn, "SELECT pg_backend_pid()")
    t = threading.Thread(target=work, daemon=True)
    t.start()
    deadline = time.monotonic() + 60
    while admin.sql("SELECT application_name FROM pg_stat_activity WHERE pid = %s",
                    (pid,)) != [("oml_runs_sleeping",)]:
        assert time.monotonic() < deadline, "the script did not start"
        time.sleep(0.02)
    return pid, t, errors


def test_statistics_kept_across_sessions_and_roles(admin):
    admin.sql("SELECT oml.pyq_stat_reset()")
    create("runs_shared", "def f(x=0):\n    return x\n")
    sql_as(ALICE, "SELECT oml.pyqGrant('runs_shared', 'pyqscript', %s)", (BOB,))
    for role in (ALICE, BOB, BOB):
        sql_as(role, "SELECT * FROM oml.pyqEval('{}', 'JSON', 'runs_shared', %s)",
               (ALICE,))
    # each statement's calls are in shared memory once it ended
    assert stats(admin, "runs_shared") == (3, 0, 0, 3)
    # the owner sees them in full from a new session; bob only the counters
    assert sql_as(ALICE, "SELECT owner, name, calls FROM oml.pyq_stat_scripts") \
        == [(ALICE, "runs_shared", 3)]
    assert sql_as(BOB, "SELECT owner, name, version, calls FROM oml.pyq_stat_scripts") \
        == [(None, None, None, 3)]


def test_statistics_through_the_client(admin, alice):
    admin.sql("SELECT oml.pyq_stat_reset()")
    oml.script.create("runs_client", "def f(df):\n    return df\n")
    df = oml.table_apply("SELECT g AS a FROM generate_series(1, 10) g", "runs_client")
    assert len(df) == 10
    oml.row_apply("SELECT g AS a FROM generate_series(1, 10) g", "runs_client", rows=3)
    # rows out are the rows of the SQL results: one per call or chunk here
    assert stats(admin, "runs_client") == (2, 0, 20, 1 + 4)


@pytest.mark.parametrize("function, status, sqlstate", [
    ("pg_cancel_backend", "cancelled", "57014"),
    ("pg_terminate_backend", "terminated", "57P01")])
def test_interrupted_call_counted_and_logged(admin, runlog, function, status,
                                            sqlstate):
    create("runs_sleep", SLEEP)
    conn = connect(ALICE)
    try:
        pid, t, errors = run_until_sleeping(admin, conn, "runs_sleep")
        assert admin.sql("SELECT %s(%%s)" % function, (pid,)) == [(True,)]
        t.join(30)
        assert not t.is_alive()
        assert errors
        if function == "pg_cancel_backend":
            assert isinstance(errors[0], psycopg2.errors.QueryCanceled)
    finally:
        conn.close()
    rows = wait_runs(admin, "script_name = 'runs_sleep'", 1)
    assert [(r[1], r[3], r[6]) for r in rows] == [(ALICE, status, sqlstate)]
    assert stats(admin, "runs_sleep")[:2] == (1, 1)


def test_datastore_objects_loaded_are_logged(admin, runlog, alice):
    oml.ds.save({"a": [1, 2], "b": {"k": 3}, "c": 4}, "runs_ds")
    oml.script.create("runs_load", """
def f():
    import oml
    got = oml.ds.load('runs_ds', objs=['b', 'a'], to_globals=False)
    oml.ds.load('runs_ds', objs=['a'], to_globals=False)
    return sorted(got)
""")
    assert oml.do_eval("runs_load") == ["a", "b"]
    rows = wait_runs(admin, "script_name = 'runs_load'", 1)
    assert len(rows) == 1
    # each object once, in the order read, with its version (none yet)
    assert sorted(rows[0][4], key=lambda o: o["object"]) == [
        {"owner": ALICE, "datastore": "runs_ds", "object": "a", "version": None},
        {"owner": ALICE, "datastore": "runs_ds", "object": "b", "version": None}]


def test_nested_calls_each_logged(admin, runlog):
    create("runs_inner", "def f(x=0):\n    return x * 2\n", is_global=True)
    create("runs_outer", """
def f():
    import oml
    return int(oml.sql("SELECT value FROM oml.pyqEval('{\\"x\\": 21}', 'JSON', 'runs_inner')").iloc[0, 0])
""")
    assert sql_as(ALICE, "SELECT value FROM oml.pyqEval('{}', 'JSON', 'runs_outer')") \
        == [("42",)]
    rows = wait_runs(admin, "script_name LIKE 'runs\\_%%'", 2)
    assert [(r[2], r[3]) for r in rows] == [("runs_inner", "ok"), ("runs_outer", "ok")]
    assert stats(admin, "runs_inner")[:2] == (1, 0)
    assert stats(admin, "runs_outer")[:2] == (1, 0)


def test_rolled_back_and_failed_runs_logged(admin, runlog):
    create("runs_ok", "def f():\n    return 1\n", is_global=True)
    create("runs_long_error", "def f():\n    raise ValueError('x' * 5000)\n",
           is_global=True)
    conn = psycopg2.connect(user=BOB, password=PASSWORD, dbname=DBNAME)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT * FROM oml.pyqEval(NULL, 'JSON', 'runs_ok')")
            conn.rollback()
            with pytest.raises(psycopg2.errors.ExternalRoutineException):
                cur.execute("SELECT * FROM oml.pyqEval(NULL, 'JSON', 'runs_long_error')")
            conn.rollback()
    finally:
        conn.close()
    rows = wait_runs(admin, "role_name = %s", 2, (BOB,))
    assert [(r[2], r[3]) for r in rows] == [("runs_ok", "ok"), ("runs_long_error", "error")]
    # long texts are cut (at a character boundary) to 1000 bytes
    assert rows[1][5].startswith("script \"runs_long_error\" failed: ValueError: xxx")
    assert len(rows[1][5].encode()) <= 1000


def test_a_role_cannot_escape_or_read_the_log(admin, runlog):
    create("runs_ok", "def f():\n    return 1\n", is_global=True)
    conn = connect(CAROL)
    try:
        with conn.cursor() as cur:
            for stmt in ("SET oml_store.log_runs = 'off'",
                         "SET oml_store.track = off",
                         "ALTER ROLE CURRENT_USER SET oml_store.log_runs = 'off'",
                         "CREATE FUNCTION pg_temp.quiet() RETURNS int LANGUAGE sql"
                         " SET oml_store.log_runs = 'off' AS 'SELECT 1'"):
                with pytest.raises(psycopg2.errors.InsufficientPrivilege):
                    cur.execute(stmt)
            for stmt in ("DELETE FROM oml.pyq_runs", "TRUNCATE oml.pyq_runs",
                         "UPDATE oml.pyq_runs SET status = 'ok'"):
                with pytest.raises(psycopg2.errors.InsufficientPrivilege):
                    cur.execute(stmt)
            cur.execute("SELECT value FROM oml.pyqEval(NULL, 'JSON', 'runs_ok')")
    finally:
        conn.close()
    assert [r[1] for r in wait_runs(admin, "role_name = %s", 1, (CAROL,))] == [CAROL]
    # bob sees none of carol's runs, carol her own
    sql_as(BOB, "SELECT * FROM oml.pyqEval(NULL, 'JSON', 'runs_ok')")
    wait_runs(admin, "role_name = %s", 1, (BOB,))
    assert sql_as(BOB, "SELECT role_name FROM oml.pyq_runs") == [(BOB,)]
    assert sql_as(CAROL, "SELECT role_name FROM oml.pyq_runs") == [(CAROL,)]
    # nor through the statistics view: the global script's row is public,
    # the counters are all anyone sees of others' scripts
    assert sql_as(CAROL, "SELECT name, calls FROM oml.pyq_stat_scripts") == [("runs_ok", 2)]


def test_full_queue_waits_for_the_writer(admin, runlog):
    """More calls in one statement than the queue holds: all are logged."""
    create("runs_many", "def f(x=0):\n    return x\n", is_global=True)
    queue = int(admin.sql("SHOW oml_store.log_queue_size")[0][0])
    n = queue * 2 + 10
    assert sql_as(BOB, "SELECT count(*) FROM generate_series(1, %s) g,"
                       " LATERAL oml.pyqEval('{\"x\": ' || g || '}', 'JSON', 'runs_many') e",
                  (n,)) == [(n,)]
    rows = wait_runs(admin, "script_name = 'runs_many'", n)
    assert len(rows) == n


def test_security_definer_call_logged_with_session_role(admin, runlog):
    """A call made with another role's rights is that role's run, and the
    row names the session's user too."""
    create("runs_ok", "def f():\n    return 1\n", is_global=True)
    admin.sql("DROP FUNCTION IF EXISTS public.runs_definer()")
    admin.sql("CREATE FUNCTION public.runs_definer() RETURNS text LANGUAGE sql"
              " SECURITY DEFINER SET search_path = pg_catalog AS"
              " $$SELECT value FROM oml.pyqEval(NULL, 'JSON', 'runs_ok')$$")
    admin.sql("ALTER FUNCTION public.runs_definer() OWNER TO %s" % ALICE)
    try:
        assert sql_as(BOB, "SELECT public.runs_definer()") == [("1",)]
        rows = wait_runs(admin, "session_role = %s", 1, (BOB,))
        assert [(r[1], r[2]) for r in rows] == [(ALICE, "runs_ok")]
        # it is alice's run: bob does not see it
        assert sql_as(BOB, "SELECT count(*) FROM oml.pyq_runs") == [(0,)]
        assert sql_as(ALICE, "SELECT session_role FROM oml.pyq_runs") == [(BOB,)]
    finally:
        admin.sql("DROP FUNCTION public.runs_definer()")

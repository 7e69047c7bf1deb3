"""Parallel pyqRowEval, pyqGroupEval and pyqIndexEval (oml_parallel_flag,
oml_parallel_degree; the client's ``parallel=``).

Most tests turn parallel_leader_participation off, so that the workers
(not the leader, which runs units while the workers start) run the units.

An error in one worker is reported as serially and stops the others; a
cancel or statement_timeout stops every worker; the workers run as the
calling role (privileges, row-level security) and nothing the caller's
search_path or operators define changes what they run; the client's
parallel= gives the serial results.  Parallel results equal to serial
ones for every function and out_fmt, the bad degrees and the serial
fallback are in the SQL test pyq_parallel.
"""

import threading
import time

import psycopg2
import psycopg2.errors
import pytest

import oml_store as oml
from conftest import ALICE, BOB, CAROL, DBNAME, PASSWORD

LIMIT_S = 1.0

STATS = """
def stats(df):
    import os
    return {"n": len(df), "first": int(df["id"].iloc[0]),
            "sum": float(df["val"].sum())}
"""

TIMES = """
def times(i, k=1):
    return {"i": i, "k": k, "v": i * k}
"""

FAIL = """
def fail(i):
    import time
    if i == 3:
        raise KeyError("index three")
    time.sleep(0.2)
    return i
"""

SPIN = """
def spin(i, limit=2000000000):
    n = 0
    while n < limit:
        n += 1
    return n
"""

WHO = """
def who(df):
    import oml
    seen = oml.sql("SELECT count(*) AS n FROM public.par_secret")
    me = oml.sql("SELECT current_user::text AS u")
    return {"rows": len(df), "visible": int(seen["n"][0]), "user": me["u"][0]}
"""

PID = """
def pid(i):
    import os
    return os.getpid()
"""

IN_DF = """
def in_df(df):
    return {"n": len(df), "keys": sorted(set(df["grp"]))}
"""

DF = '"oml_input_type": "pandas.DataFrame"'


def connect(role=ALICE, workers_only=True):
    """A session of role; workers_only: parallel_leader_participation off."""
    conn = psycopg2.connect(user=role, password=PASSWORD, dbname=DBNAME)
    conn.autocommit = True
    if workers_only:
        rows(conn, "SELECT set_config('parallel_leader_participation',"
             " 'off', false)")
    return conn


def rows(conn, sql, params=()):
    with conn.cursor() as cur:
        cur.execute(sql, params)
        return cur.fetchall() if cur.description else []


def workers_of(admin, pid):
    return admin.sql("SELECT pid FROM pg_catalog.pg_stat_activity"
                     " WHERE backend_type = 'parallel worker'"
                     " AND leader_pid = %s", (pid,))


@pytest.fixture
def data(admin):
    """Table public.par_t (1000 rows, 4 groups), readable by everyone, and
    the scripts, created by alice as global scripts."""
    admin.sql("DROP TABLE IF EXISTS public.par_t")
    admin.sql("CREATE TABLE public.par_t AS SELECT g AS id,"
              " 'g' || (g %% 4) AS grp, g * 0.25 AS val"
              " FROM generate_series(1, 1000) g")
    admin.sql("GRANT SELECT ON public.par_t TO PUBLIC")
    conn = connect(ALICE)
    for name, src in (("par_stats", STATS),
                      ("par_times", TIMES), ("par_fail", FAIL),
                      ("par_spin", SPIN), ("par_who", WHO),
                      ("par_in_df", IN_DF), ("par_pid", PID)):
        rows(conn, "SELECT oml.pyqScriptCreate(%s, %s, true, true)",
             (name, src))
    yield conn
    conn.close()
    admin.sql("DROP TABLE IF EXISTS public.par_t")


def par(degree, extra=""):
    """par_lst with a DataFrame input, serial (degree None) or parallel."""
    body = DF + extra
    if degree is not None:
        body += ', "oml_parallel_degree": %d' % degree
    return "{%s}" % body


def test_units_run_in_workers(data):
    """With parallel_leader_participation off every unit runs in a worker;
    with it on (the default) the leader takes part: same results."""
    pid = rows(data, "SELECT pg_backend_pid()")[0][0]
    out = rows(data, "SELECT value FROM oml.pyqIndexEval(%s, 'JSON', 8,"
               " 'par_pid')", ('{"oml_parallel_degree": 3}',))
    pids = {int(v) for (v,) in out}
    assert len(out) == 8 and pid not in pids and 1 <= len(pids) <= 2
    conn = connect(ALICE, workers_only=False)
    try:
        sql = ("SELECT name, value FROM oml.pyqRowEval('public.par_t', %s,"
               " 'JSON', 50, 'par_stats')")
        serial = rows(conn, sql, ("{%s}" % DF,))
        assert rows(conn, sql, ("{%s, \"oml_parallel_flag\": true}" % DF,)) \
            == serial
    finally:
        conn.close()


def test_parallel_unsafe_input_runs_serially(admin, data):
    """An input query calling a PARALLEL UNSAFE function (nextval) runs
    serially, with a NOTICE: parallel mode would refuse it."""
    admin.sql("CREATE SEQUENCE public.par_seq")
    admin.sql("GRANT USAGE ON SEQUENCE public.par_seq TO PUBLIC")
    try:
        data.notices.clear()
        out = rows(data, "SELECT name, value FROM oml.pyqGroupEval("
                   "'SELECT grp, id, val, nextval(''public.par_seq'') AS s"
                   " FROM public.par_t', %s, 'JSON', 'grp', NULL, 'par_in_df')",
                   (par(2),))
        assert [r[0] for r in out] == ["g0", "g1", "g2", "g3"]
        assert admin.sql("SELECT last_value FROM public.par_seq") == [(1000,)]
        assert any("not parallel safe: running serially" in n
                   for n in data.notices), data.notices
        assert rows(data, "SELECT name, value FROM oml.pyqGroupEval("
                    "'public.par_t', %s, 'JSON', 'grp', NULL, 'par_in_df')",
                    (par(None),)) == out
    finally:
        admin.sql("DROP SEQUENCE public.par_seq")


def test_error_in_one_worker(admin, data):
    serial_err = None
    with pytest.raises(psycopg2.Error) as serial_err:
        rows(data, "SELECT * FROM oml.pyqIndexEval(NULL, 'JSON', 6, 'par_fail')")
    pid = rows(data, "SELECT pg_backend_pid()")[0][0]
    with pytest.raises(psycopg2.Error) as err:
        rows(data, "SELECT * FROM oml.pyqIndexEval('{\"oml_parallel_degree\": 3}',"
             " 'JSON', 6, 'par_fail')")
    assert err.value.pgcode == serial_err.value.pgcode == "38000"
    assert err.value.diag.message_primary == serial_err.value.diag.message_primary
    assert "KeyError: 'index three'" in err.value.diag.message_primary
    assert err.value.diag.message_detail == serial_err.value.diag.message_detail
    assert 'File "<oml script par_fail>", line 5' in err.value.diag.message_detail
    # No worker is left, and the session goes on.
    assert workers_of(admin, pid) == []
    assert rows(data, "SELECT count(*) FROM oml.pyqIndexEval("
                "'{\"oml_parallel_degree\": 3}', 'JSON', 2, 'par_times')") == [(2,)]


class Running(threading.Thread):
    def __init__(self, conn, sql, params=()):
        super().__init__(daemon=True)
        self.conn, self.sql, self.params = conn, sql, params
        self.error = None
        self.ended = None
        self.start()

    def run(self):
        try:
            rows(self.conn, self.sql, self.params)
        except psycopg2.Error as exc:
            self.error = exc
        self.ended = time.monotonic()


def test_cancel_stops_all_workers(admin, data):
    conn = connect(ALICE)
    try:
        pid = rows(conn, "SELECT pg_backend_pid()")[0][0]
        run = Running(conn, "SELECT * FROM oml.pyqIndexEval("
                      "'{\"oml_parallel_degree\": 3}', 'JSON', 6, 'par_spin')")
        deadline = time.monotonic() + 30
        while len(workers_of(admin, pid)) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(workers_of(admin, pid)) == 2
        time.sleep(1.0)                # the workers are in the script now
        sent = time.monotonic()
        assert admin.sql("SELECT pg_cancel_backend(%s)", (pid,)) == [(True,)]
        run.join(30)
        latency = run.ended - sent
        print("\ncancel of a parallel pyqIndexEval: ended %.3f s after it"
              % latency)
        assert isinstance(run.error, psycopg2.errors.QueryCanceled), run.error
        assert latency < LIMIT_S
        assert workers_of(admin, pid) == []
        assert rows(conn, "SELECT count(*) FROM oml.pyqIndexEval("
                    "'{\"oml_parallel_degree\": 2}', 'JSON', 3, 'par_times')") \
            == [(3,)]
    finally:
        conn.close()


def test_statement_timeout_stops_all_workers(admin, data):
    conn = connect(ALICE)
    try:
        pid = rows(conn, "SELECT pg_backend_pid()")[0][0]
        rows(conn, "SELECT set_config('statement_timeout', '2s', false)")
        start = time.monotonic()
        with pytest.raises(psycopg2.errors.QueryCanceled):
            rows(conn, "SELECT * FROM oml.pyqIndexEval("
                 "'{\"oml_parallel_degree\": 2}', 'JSON', 4, 'par_spin')")
        assert time.monotonic() - start < 2.0 + LIMIT_S
        assert workers_of(admin, pid) == []
    finally:
        conn.close()


def test_no_free_worker_runs_serially_with_notice(data):
    conn = connect(BOB)
    try:
        rows(conn, "SET max_parallel_workers = 0")
        out = rows(conn, "SELECT name, value FROM oml.pyqIndexEval("
                   "'{\"oml_parallel_flag\": true}', 'JSON', 3, 'par_times')")
        assert [r[0] for r in out] == ["1", "2", "3"]
        assert any("no parallel worker is free: running serially" in n
                   for n in conn.notices), conn.notices
    finally:
        conn.close()


@pytest.fixture
def secret(admin):
    """public.par_secret: 10 rows, each visible only to its owner (RLS)."""
    admin.sql("DROP TABLE IF EXISTS public.par_secret")
    admin.sql("CREATE TABLE public.par_secret (id int, owner name)")
    admin.sql("INSERT INTO public.par_secret SELECT g, CASE WHEN g <= 3"
              " THEN %s ELSE %s END FROM generate_series(1, 10) g",
              (BOB, CAROL))
    admin.sql("ALTER TABLE public.par_secret ENABLE ROW LEVEL SECURITY")
    admin.sql("CREATE POLICY own ON public.par_secret USING (owner = current_user)")
    admin.sql("GRANT SELECT ON public.par_secret TO %s, %s" % (BOB, CAROL))
    yield
    admin.sql("DROP TABLE IF EXISTS public.par_secret")


def test_workers_run_as_the_calling_role(admin, data, secret):
    for role, visible in ((BOB, 3), (CAROL, 7)):
        conn = connect(role)
        try:
            parallel = rows(conn, "SELECT name, value FROM oml.pyqGroupEval("
                            "'public.par_secret', %s, 'JSON', 'id', NULL, 'par_who')",
                            (par(2),))
            # The input (read by the leader) and the script's own query (in
            # the workers) both see only the role's rows.
            assert len(parallel) == visible
            for _, value in parallel:
                assert value == ('{"rows": 1, "visible": %d, "user": "%s"}'
                                 % (visible, role))
        finally:
            conn.close()
    # Without the privilege, the script's query fails in the workers too.
    admin.sql("REVOKE SELECT ON public.par_secret FROM %s" % CAROL)
    conn = connect(CAROL)
    try:
        with pytest.raises(psycopg2.Error) as err:
            rows(conn, "SELECT * FROM oml.pyqIndexEval(%s, 'JSON', 2, 'par_who')",
                 ('{"oml_parallel_degree": 2}',))
        assert "permission denied for table par_secret" in str(err.value)
    finally:
        conn.close()


def test_hostile_search_path_does_not_change_workers(admin, data):
    """Carol's own schema first in search_path, with an = operator on text
    that is always true and a table named like the input: the workers run
    the script the leader found, on the rows the leader read."""
    admin.sql("DROP SCHEMA IF EXISTS par_hostile CASCADE")
    admin.sql("CREATE SCHEMA par_hostile AUTHORIZATION %s" % CAROL)
    conn = connect(CAROL)
    try:
        expected = rows(conn, "SELECT name, value FROM oml.pyqGroupEval("
                        "'public.par_t', %s, 'JSON', 'grp', 'id', 'par_stats')",
                        ("{%s}" % DF,))
        rows(conn, "CREATE FUNCTION par_hostile.eq(text, text) RETURNS bool"
             " LANGUAGE sql AS 'SELECT true'")
        rows(conn, "CREATE OPERATOR par_hostile.= (LEFTARG = text,"
             " RIGHTARG = text, FUNCTION = par_hostile.eq)")
        rows(conn, "CREATE TABLE par_hostile.par_t AS SELECT 1 AS id,"
             " 'x' AS grp, 0.0 AS val")
        rows(conn, "CREATE FUNCTION par_hostile.pyqscriptcreate(text, text,"
             " bool, bool) RETURNS void LANGUAGE sql AS 'SELECT'")
        rows(conn, "SET search_path = par_hostile, pg_catalog, public")
        got = rows(conn, "SELECT name, value FROM oml.pyqGroupEval("
                   "'public.par_t', %s, 'JSON', 'grp', 'id', 'par_stats')",
                   (par(2),))
        assert got == expected
        assert len(got) == 4
    finally:
        conn.close()
        admin.sql("DROP SCHEMA IF EXISTS par_hostile CASCADE")


def test_datastore_load_in_workers(admin, data, alice):
    """Scripts load datastore objects in the workers, with the trust rule
    decided as in the leader."""
    oml.ds.save({"factor": 5}, "par_ds", overwrite=True)
    oml.script.create("par_use_ds", """
def f(i):
    import oml
    objs = oml.ds.load("par_ds", to_globals=False)
    return i * objs["factor"]
""", overwrite=True)
    assert oml.index_apply(4, "par_use_ds", parallel=2) == [5, 10, 15, 20]
    assert oml.index_apply(4, "par_use_ds") == [5, 10, 15, 20]


def test_client_parallel_argument(data, alice):
    serial = oml.row_apply("public.par_t", "par_stats", rows=250,
                           oml_input_type="pandas.DataFrame")
    for parallel in (True,):
        assert oml.row_apply("public.par_t", "par_stats", rows=250,
                             parallel=parallel,
                             oml_input_type="pandas.DataFrame") == serial
    groups = oml.group_apply("public.par_t", "grp", "par_stats",
                             oml_input_type="pandas.DataFrame")
    assert list(groups) == ["g0", "g1", "g2", "g3"]
    assert oml.group_apply("public.par_t", "grp", "par_stats", parallel=2,
                           oml_input_type="pandas.DataFrame") == groups
    assert oml.index_apply(5, "par_times", parallel=True, k=2) == \
        [{"i": i, "k": 2, "v": 2 * i} for i in range(1, 6)]
    for serial_value in (None, False, 0):
        assert oml.index_apply(2, "par_times", parallel=serial_value) == \
            [{"i": 1, "k": 1, "v": 1}, {"i": 2, "k": 1, "v": 2}]
    with pytest.raises(TypeError):
        oml.index_apply(2, "par_times", parallel="yes")
    with pytest.raises(ValueError):
        oml.index_apply(2, "par_times", parallel=-1)
    with pytest.raises(oml.OMLError if hasattr(oml, "OMLError") else Exception) as err:
        oml.index_apply(2, "par_times", parallel=65)
    assert "oml_parallel_degree must be between 1 and 64" in str(err.value)

"""Async jobs (issue 10): what needs several sessions, the server's
settings or a crash, and the client's Job object.

pg_regress (sql/jobs.sql) covers the SQL surface and its errors; here:

- a submission whose session disconnects right after COMMIT still runs;
  one in a rolled-back transaction never does;
- more jobs than oml_store.job_workers: they queue, never more run at
  once than there are workers, and all finish;
- cancel of a queued job (never starts) and of a running one (stops well
  under its sleep);
- another role (with its own search_path, operators and functions) gets
  the answer of a missing job from every function;
- a crash (kill -9 of a job worker): the running jobs are failed with the
  reason, the queued ones run after the restart;
- oml_store.job_timeout and oml_store.job_retention;
- the client: async_mode=True of do_eval and the four *_apply functions
  returns a Job whose result() equals the synchronous call's.
"""

import time
from contextlib import closing

import psycopg2
import pytest

import oml_store as oml

from conftest import ALICE, BOB, DBNAME, PASSWORD, admin_connect

SLEEPY = '''
def f(s=30, tag=None):
    import time
    time.sleep(s)
    return {"slept": s, "tag": tag}
'''


def connect(role=ALICE):
    conn = psycopg2.connect(user=role, password=PASSWORD, dbname=DBNAME)
    conn.autocommit = True
    return conn


def submit(cur, par_lst='{"s": 30}', script="sleepy", owner=None):
    """Submit pyqEval(par_lst) of script as a job; its id."""
    cur.execute("SELECT id FROM oml.pyqEval((%s::jsonb || '{\"oml_async_flag\": true}')::text,"
                " 'JSON', %s, %s)", (par_lst, script, owner))
    return cur.fetchone()[0]


def state(cur, job):
    cur.execute("SELECT state FROM oml.pyqJobStatus(%s)", (job,))
    return cur.fetchone()[0]


def wait(cur, job, until=("succeeded", "failed", "cancelled"), timeout=60):
    deadline = time.monotonic() + timeout
    while True:
        st = state(cur, job)
        if st in until:
            return st
        assert time.monotonic() < deadline, "job %d still %s" % (job, st)
        time.sleep(0.05)


@pytest.fixture(autouse=True)
def scripts(admin, clean):
    admin.sql("DELETE FROM oml.job")
    with closing(connect()) as conn, conn.cursor() as cur:
        cur.execute("SELECT oml.pyqScriptCreate('sleepy', %s)", (SLEEPY,))
        cur.execute("SELECT oml.pyqScriptCreate('square', %s)",
                    ("def f(n=1):\n    return {'n': n, 'sq': n * n}\n",))
        cur.execute("SELECT oml.pyqScriptCreate('colsum', %s)",
                    ("def f(df):\n    import pandas as pd\n"
                     "    return pd.DataFrame({'rows': [len(df)],"
                     " 'total': [float(df['val'].sum())]})\n",))
        cur.execute("SELECT oml.pyqScriptCreate('plot', %s)",
                    ("def f(k=1):\n    import matplotlib.pyplot as plt\n"
                     "    plt.plot([1, 2, 3])\n    plt.title('fig %d' % k)\n"
                     "    return k\n",))
        cur.execute("SELECT oml.pyqScriptCreate('boom', %s)",
                    ("def f():\n    raise KeyError('nope')\n",))
        cur.execute("SELECT oml.pyqGrant('square', 'pyqscript', %s)", (BOB,))
    yield
    # Stop whatever still runs, then forget every job.
    for (job,) in admin.sql("SELECT id FROM oml.job WHERE state IN ('queued', 'running')"):
        admin.sql("SELECT oml.pyqJobCancel(%s)", (job,))
    admin.sql("DELETE FROM oml.job")


def test_disconnect_right_after_submit():
    conn = connect()
    job = submit(conn.cursor(), '{"s": 0.2, "tag": "gone"}')
    conn.close()                    # committed: it runs without the session
    with closing(connect()) as other, other.cursor() as cur:
        assert wait(cur, job) == "succeeded"
        cur.execute("SELECT value::jsonb FROM oml.pyqJobResult(%s, 'JSON')", (job,))
        assert cur.fetchone()[0] == {"slept": 0.2, "tag": "gone"}


def test_rolled_back_submit_never_runs(admin):
    conn = psycopg2.connect(user=ALICE, password=PASSWORD, dbname=DBNAME)
    cur = conn.cursor()
    job = submit(cur, '{"s": 0}')
    conn.rollback()
    conn.close()
    time.sleep(1.0)                  # the launcher had every chance
    assert admin.sql("SELECT count(*) FROM oml.job WHERE id = %s", (job,)) == [(0,)]
    # a later committed job runs normally (the id was not reused)
    with closing(connect()) as conn2, conn2.cursor() as cur2:
        job2 = submit(cur2, '{"s": 0}')
        assert job2 > job
        assert wait(cur2, job2) == "succeeded"


def test_more_jobs_than_workers(admin):
    workers = int(admin.sql("SHOW oml_store.job_workers")[0][0])
    n = workers + 3
    with closing(connect()) as conn, conn.cursor() as cur:
        cur.execute("BEGIN")
        jobs = [submit(cur, '{"s": 0.4, "tag": %d}' % i) for i in range(n)]
        cur.execute("COMMIT")
        for job in jobs:
            assert wait(cur, job) == "succeeded"
        cur.execute("SELECT started, ended FROM oml.job WHERE id = ANY (%s)", (jobs,))
        spans = cur.fetchall()
    # At no moment did more jobs run than there are workers.
    for start, _ in spans:
        running = sum(1 for s, e in spans if s <= start < e)
        assert running <= workers
    # and the first ones submitted started first (the queue is FIFO)
    starts = admin.sql("SELECT id FROM oml.job WHERE id = ANY (%s) ORDER BY started, id", (jobs,))
    assert set(r[0] for r in starts[:workers]) == set(sorted(jobs)[:workers])


def test_cancel_queued_and_running(admin):
    workers = int(admin.sql("SHOW oml_store.job_workers")[0][0])
    with closing(connect()) as conn, conn.cursor() as cur:
        busy = [submit(cur) for _ in range(workers)]
        for job in busy:
            wait(cur, job, until=("running",))
        queued = submit(cur, '{"s": 0}')
        time.sleep(0.2)
        assert state(cur, queued) == "queued"
        cur.execute("SELECT oml.pyqJobCancel(%s)", (queued,))
        assert cur.fetchone()[0] == "cancelled"

        t0 = time.monotonic()
        cur.execute("SELECT oml.pyqJobCancel(%s)", (busy[0],))
        assert cur.fetchone()[0] == "cancelled"
        assert wait(cur, busy[0], timeout=10) == "cancelled"
        assert time.monotonic() - t0 < 5, "cancel took most of the sleep"
        for job in busy[1:]:
            cur.execute("SELECT oml.pyqJobCancel(%s)", (job,))
            wait(cur, job, timeout=10)
        time.sleep(0.5)              # workers free now: the queued one stays cancelled
        cur.execute("SELECT state, started, error_sqlstate FROM oml.pyqJobStatus(%s)", (queued,))
        assert cur.fetchone() == ("cancelled", None, "57014")
        cur.execute("SELECT state, error_sqlstate, error_message,"
                    " ended - started < interval '5 s' FROM oml.pyqJobStatus(%s)",
                    (busy[0],))
        assert cur.fetchone() == ("cancelled", "57014", "cancelled by oml.pyqJobCancel", True)


def test_another_role_cannot_see_a_job(admin):
    with closing(connect()) as conn, conn.cursor() as cur:
        job = submit(cur, '{"n": 2}', script="square")
        wait(cur, job)
    missing = job + 1000
    admin.sql("DROP SCHEMA IF EXISTS oml_bob_hostile CASCADE")
    admin.sql("CREATE SCHEMA oml_bob_hostile AUTHORIZATION %s" % BOB)
    with closing(connect(BOB)) as conn, conn.cursor() as cur:
        # hostile: own schema first on the path, an always-true = on oid
        # and its own superuser()
        cur.execute("SET search_path = oml_bob_hostile, pg_catalog")
        cur.execute("CREATE OR REPLACE FUNCTION oml_bob_hostile.t(oid, oid) RETURNS bool"
                    " LANGUAGE sql AS 'SELECT true'")
        cur.execute("CREATE OPERATOR oml_bob_hostile.= (LEFTARG = oid, RIGHTARG = oid,"
                    " FUNCTION = oml_bob_hostile.t)")
        cur.execute("CREATE OR REPLACE FUNCTION oml_bob_hostile.superuser() RETURNS bool"
                    " LANGUAGE sql AS 'SELECT true'")
        for sql in ("SELECT * FROM oml.pyqJobStatus(%s)",
                    "SELECT * FROM oml.pyqJobResult(%s, 'JSON')",
                    "SELECT * FROM oml.pyqJobResult(%s, 'PICKLE')",
                    "SELECT oml.pyqJobCancel(%s)",
                    "SELECT oml.pyqJobDelete(%s)"):
            answers = []
            for target in (job, missing):
                with pytest.raises(psycopg2.Error) as exc:
                    cur.execute(sql, (target,))
                answers.append((exc.value.pgcode,
                                exc.value.diag.message_primary.replace(str(target), "N")))
            assert answers[0] == answers[1] == ("42704", "job N does not exist")
        cur.execute("SELECT count(*) FROM oml.all_pyq_jobs")
        assert cur.fetchone() == (0,)
    admin.sql("DROP SCHEMA oml_bob_hostile CASCADE")
    # untouched
    assert admin.sql("SELECT state FROM oml.job WHERE id = %s", (job,)) == [("succeeded",)]


def test_delete_of_another_roles_locked_job_does_not_wait(admin):
    """pyqJobDelete locks the job row: another role's call must not lock
    (and so wait on) a job it may not see -- a lock_timeout error instead
    of "does not exist" would tell it exists."""
    with closing(connect()) as conn, conn.cursor() as cur:
        job = submit(cur, '{"n": 2}', script="square")
        wait(cur, job)
        conn.autocommit = False
        cur.execute("SELECT oml.pyqJobDelete(%s)", (job,))   # holds the row lock
        with closing(connect(BOB)) as bconn, bconn.cursor() as bcur:
            bcur.execute("SET lock_timeout = '200ms'")
            with pytest.raises(psycopg2.Error) as exc:
                bcur.execute("SELECT oml.pyqJobDelete(%s)", (job,))
            assert exc.value.pgcode == "42704"
        conn.rollback()
        state(cur, job)             # still there for its owner


def test_job_worker_names_no_job_to_other_roles(admin):
    """pg_stat_activity is readable by every role: the job worker's
    application_name and backend_type must not name the job."""
    with closing(connect()) as conn, conn.cursor() as cur:
        job = submit(cur, '{"s": 30}')
        wait(cur, job, until=("running",))
        pid = admin.sql("SELECT worker_pid FROM oml.job WHERE id = %s", (job,))[0][0]
        with closing(connect(BOB)) as bconn, bconn.cursor() as bcur:
            bcur.execute("SELECT coalesce(application_name, ''), coalesce(backend_type, '')"
                         " FROM pg_stat_activity WHERE pid = %s", (pid,))
            rows = bcur.fetchall()
        assert len(rows) == 1 and "job %d" % job not in rows[0][0] + rows[0][1], rows
        cur.execute("SELECT oml.pyqJobCancel(%s)", (job,))


def test_cancel_of_a_running_job_without_worker(admin):
    """A job marked running that no worker holds (restored from a dump,
    or its worker gone before maintenance ran) can be cancelled, and then
    deleted; before, cancel answered 'running' and delete 55006."""
    with closing(connect()) as conn, conn.cursor() as cur:
        job = submit(cur, '{"n": 2}', script="square")
        wait(cur, job)
        admin.sql("UPDATE oml.job SET state = 'running', ended = NULL WHERE id = %s", (job,))
        cur.execute("SELECT oml.pyqJobCancel(%s)", (job,))
        assert cur.fetchone() == ("cancelled",)
        cur.execute("SELECT state, error_sqlstate FROM oml.pyqJobStatus(%s)", (job,))
        assert cur.fetchone() == ("cancelled", "57014")
        cur.execute("SELECT oml.pyqJobDelete(%s)", (job,))
        cur.execute("SELECT count(*) FROM oml.user_pyq_jobs WHERE job_id = %s", (job,))
        assert cur.fetchone() == (0,)


def test_maintenance_with_bootstrap_superuser_nologin(admin):
    """The maintenance worker must not need the bootstrap superuser to
    have LOGIN: a job whose worker was terminated is failed by it."""
    boot = admin.sql("SELECT rolname FROM pg_authid WHERE oid = 10")[0][0]
    with closing(connect()) as conn, conn.cursor() as cur:
        job = submit(cur, '{"s": 30}')
        wait(cur, job, until=("running",))
        pid = admin.sql("SELECT worker_pid FROM oml.job WHERE id = %s", (job,))[0][0]
        admin.sql('ALTER ROLE "%s" NOLOGIN' % boot)
        try:
            admin.sql("SELECT pg_terminate_backend(%s)", (pid,))
            assert wait(cur, job, timeout=15) == "failed"
        finally:
            admin.sql('ALTER ROLE "%s" LOGIN' % boot)
        cur.execute("SELECT error_sqlstate, error_message FROM oml.pyqJobStatus(%s)", (job,))
        assert cur.fetchone() == ("XX000", "the job's worker process ended unexpectedly")


def test_unpicklable_result_fails_with_its_reason(admin):
    """A result the synchronous JSON call shows as str() (a lambda) cannot
    be stored by a job: failed with 0A000 and that reason, not as an error
    of the script."""
    with closing(connect()) as conn, conn.cursor() as cur:
        cur.execute("SELECT oml.pyqScriptCreate('lam', %s)",
                    ("def f():\n    return {'l': (lambda x: x)}\n",))
        job = submit(cur, '{}', script="lam")
        assert wait(cur, job) == "failed"
        cur.execute("SELECT error_sqlstate, error_message, error_hint"
                    " FROM oml.pyqJobStatus(%s)", (job,))
        code, message, hint = cur.fetchone()
        assert code == "0A000"
        assert message.startswith("the script's result cannot be kept for pyqJobResult:"
                                  " it does not pickle (AttributeError: "), message
        assert hint.startswith("An async job stores its result pickled")


def test_role_that_lost_login_before_its_job_ran(admin):
    """A queued job whose role loses LOGIN (or CONNECT) before it starts
    fails with that reason, which the server log alone told."""
    with closing(connect()) as conn, conn.cursor() as cur:
        busy = [submit(cur) for _ in range(int(admin.sql("SHOW oml_store.job_workers")[0][0]))]
        for job in busy:
            wait(cur, job, until=("running",))
        nologin = submit(cur, '{"n": 2}', script="square")
        admin.sql("ALTER ROLE %s NOLOGIN" % ALICE)
        try:
            for job in busy:
                cur.execute("SELECT oml.pyqJobCancel(%s)", (job,))
            assert wait(cur, nologin, timeout=20) == "failed"
        finally:
            admin.sql("ALTER ROLE %s LOGIN" % ALICE)
        cur.execute("SELECT error_sqlstate, error_message FROM oml.pyqJobStatus(%s)", (nologin,))
        assert cur.fetchone() == (
            "28000", "the job's role cannot log in (a job's worker connects as the role that submitted it)")
        admin.sql("REVOKE CONNECT ON DATABASE %s FROM PUBLIC" % DBNAME)
        try:
            noconnect = submit(cur, '{"n": 2}', script="square")
            assert wait(cur, noconnect, timeout=20) == "failed"
        finally:
            admin.sql("GRANT CONNECT ON DATABASE %s TO PUBLIC" % DBNAME)
        cur.execute("SELECT error_sqlstate, error_message FROM oml.pyqJobStatus(%s)", (noconnect,))
        assert cur.fetchone() == ("42501", "the job's role may not connect to this database")


def test_crash_restart_with_jobs_running(admin):
    """kill -9 of a job worker: the server restarts; the jobs that were
    running are failed with the reason; the queued one runs afterwards."""
    from test_faults import wait_for_server
    workers = int(admin.sql("SHOW oml_store.job_workers")[0][0])
    with closing(connect()) as conn, conn.cursor() as cur:
        running = [submit(cur) for _ in range(workers)]
        for job in running:
            wait(cur, job, until=("running",))
        queued = submit(cur, '{"s": 0, "tag": "after"}')
        cur.execute("SELECT worker_pid FROM oml.job WHERE id = %s", (running[0],))
        pid = cur.fetchone()[0]
    killer = admin_connect(DBNAME)
    try:
        killer.cursor().execute("COPY (SELECT 1) TO PROGRAM 'kill -9 %d'" % pid)
    except psycopg2.Error:
        pass                        # the restart may end this session first
    try:
        deadline = time.monotonic() + 30
        while True:                 # wait until the postmaster reset us
            try:
                killer.cursor().execute("SELECT 1")
            except psycopg2.Error:
                break
            assert time.monotonic() < deadline, "the server did not restart"
            time.sleep(0.1)
        killer.close()
        wait_for_server().close()
        with closing(connect()) as conn, conn.cursor() as cur:
            for job in running:
                assert wait(cur, job) == "failed"
                cur.execute("SELECT error_sqlstate, error_message FROM oml.pyqJobStatus(%s)",
                            (job,))
                assert cur.fetchone() == ("57P01",
                                          "the server restarted while the job was running")
            assert wait(cur, queued) == "succeeded"
            cur.execute("SELECT value::jsonb FROM oml.pyqJobResult(%s, 'JSON')", (queued,))
            assert cur.fetchone()[0] == {"slept": 0, "tag": "after"}
    finally:
        # the admin fixture's connection died with the restart
        wait_for_server().close()
        admin.conn = admin_connect(DBNAME)


def test_job_timeout(admin):
    admin.sql("ALTER ROLE %s SET oml_store.job_timeout = 1" % ALICE)
    try:
        with closing(connect()) as conn, conn.cursor() as cur:
            job = submit(cur, '{"s": 30}')
            assert wait(cur, job, timeout=20) == "failed"
            cur.execute("SELECT error_sqlstate, error_message,"
                        " ended - started < interval '10 s' FROM oml.pyqJobStatus(%s)", (job,))
            assert cur.fetchone() == (
                "57014", "the job ran longer than oml_store.job_timeout (1 s)", True)
    finally:
        admin.sql("ALTER ROLE %s RESET oml_store.job_timeout" % ALICE)


def test_retention_deletes_expired_jobs(admin):
    with closing(connect()) as conn, conn.cursor() as cur:
        job = submit(cur, '{"n": 1}', script="square")
        wait(cur, job)
    admin.sql("ALTER SYSTEM SET oml_store.job_retention = '1s'")
    admin.sql("SELECT pg_reload_conf()")
    try:
        deadline = time.monotonic() + 20
        while admin.sql("SELECT count(*) FROM oml.job WHERE id = %s", (job,)) != [(0,)]:
            assert time.monotonic() < deadline, "the expired job was not deleted"
            time.sleep(0.2)
        assert admin.sql("SELECT count(*) FROM oml.job_result WHERE job_id = %s", (job,)) == [(0,)]
    finally:
        admin.sql("ALTER SYSTEM RESET oml_store.job_retention")
        admin.sql("SELECT pg_reload_conf()")


# -- the client -----------------------------------------------------------------

@pytest.fixture
def table(admin):
    admin.sql("DROP TABLE IF EXISTS public.job_t")
    admin.sql("CREATE TABLE public.job_t (id int, grp text, val float8)")
    admin.sql("INSERT INTO public.job_t SELECT i, CASE WHEN mod(i, 2) = 0 THEN 'even'"
              " ELSE 'odd' END, i * 1.5 FROM generate_series(1, 6) i")
    admin.sql("GRANT SELECT ON public.job_t TO PUBLIC")
    yield "public.job_t"
    admin.sql("DROP TABLE public.job_t")


def test_client_job_object(alice, table):
    job = oml.do_eval("square", n=7, async_mode=True)
    assert isinstance(job, oml.Job)
    assert job.status() in ("queued", "running", "succeeded")
    assert job.wait(timeout=30) == "succeeded"
    assert job.result() == oml.do_eval("square", n=7) == {"n": 7, "sq": 49}
    assert job.result() == {"n": 7, "sq": 49}        # as often as asked
    assert job.info()["func"] == "pyqEval"

    pairs = [
        (lambda **kw: oml.table_apply(table, "colsum",
                                      oml_input_type="pandas.DataFrame", **kw)),
        (lambda **kw: oml.row_apply("SELECT * FROM %s ORDER BY id" % table, "colsum",
                                    rows=4, oml_input_type="pandas.DataFrame", **kw)),
        (lambda **kw: oml.group_apply(table, "grp", "colsum",
                                      oml_input_type="pandas.DataFrame", **kw)),
        (lambda **kw: oml.index_apply(3, "square", **kw)),
    ]
    for call in pairs:
        sync = call()
        got = call(async_mode=True).result(timeout=30)
        if isinstance(sync, dict):
            assert got.keys() == sync.keys()
            for k in sync:
                assert (got[k] == sync[k]) if not hasattr(sync[k], "equals") else got[k].equals(sync[k])
        elif isinstance(sync, list):
            assert len(got) == len(sync)
            for a, b in zip(got, sync):
                assert a.equals(b) if hasattr(b, "equals") else a == b
        else:
            assert got.equals(sync)

    pic = oml.do_eval("plot", k=3, graphics=True, async_mode=True).result(timeout=30)
    assert isinstance(pic, oml.GraphicsResult)
    assert pic.result == 3
    assert [img.title for img in pic.images] == ["fig 3"]
    assert pic.images[0].png[:4] == b"\x89PNG"


def test_client_job_errors(alice):
    failing = oml.do_eval("boom", async_mode=True)
    with pytest.raises(oml.OMLError) as exc:
        failing.result(timeout=30)
    assert exc.value.sqlstate == "38000"
    assert "KeyError" in exc.value.message
    assert "Traceback" in exc.value.detail

    slow = oml.do_eval("sleepy", s=30, async_mode=True)
    with pytest.raises(TimeoutError):
        slow.wait(timeout=0.2)
    assert slow.cancel() == "cancelled"
    with pytest.raises(oml.OMLError) as exc:
        slow.result(timeout=10)
    assert exc.value.sqlstate == "57014"
    slow.delete()
    with pytest.raises(oml.OMLError) as exc:
        slow.status()
    assert exc.value.sqlstate == "42704"

    with pytest.raises(ValueError):
        oml.do_eval("def f():\n    return 1\n", async_mode=True)
    with pytest.raises(TypeError):
        oml.do_eval("square", async_mode="yes")
    with pytest.raises(TypeError):
        oml.do_eval("square", oml_async_flag=True)


def test_without_preloaded_library(admin):
    """A server without shared_preload_libraries: async calls fail with
    55000 and a hint, everything else works (a throwaway cluster of the
    same installation, on a Unix socket only)."""
    import os
    import pathlib
    import shutil
    import subprocess
    import tempfile

    tmp_path = pathlib.Path(tempfile.mkdtemp(prefix="oml_nopreload_"))
    bindir = admin.sql("SELECT setting FROM pg_config WHERE name = 'BINDIR'")[0][0]
    data = tmp_path / "data"
    as_owner = []
    if os.geteuid() == 0:           # initdb and postgres refuse root
        as_owner = ["runuser", "-u", "postgres", "--"]
        shutil.chown(tmp_path, "postgres")
    subprocess.run(as_owner + [os.path.join(bindir, "initdb"), "-D", str(data),
                               "-U", "postgres", "--auth=trust", "-E", "UTF8",
                               "--locale=C.UTF-8"],
                   check=True, capture_output=True)
    port = "55%03d" % (os.getpid() % 1000)
    server = subprocess.Popen(
        as_owner + [os.path.join(bindir, "postgres"), "-D", str(data), "-p", port,
                    "-k", str(tmp_path), "-c", "listen_addresses=",
                    "-c", "shared_preload_libraries="],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                conn = psycopg2.connect(host=str(tmp_path), port=port,
                                        user="postgres", dbname="postgres")
                break
            except psycopg2.OperationalError:
                assert time.monotonic() < deadline, "the server did not start"
                time.sleep(0.2)
        conn.autocommit = True
        with closing(conn), conn.cursor() as cur:
            cur.execute("CREATE EXTENSION oml_store")
            cur.execute("SELECT oml.pyqScriptCreate('sq', %s)",
                        ("def f(n=1):\n    return n * n\n",))
            with pytest.raises(psycopg2.Error) as exc:
                cur.execute("""SELECT * FROM oml.pyqEval('{"oml_async_flag": true}', 'JSON', 'sq')""")
            assert exc.value.pgcode == "55000"
            assert exc.value.diag.message_primary == "asynchronous jobs are not available"
            assert "shared_preload_libraries" in exc.value.diag.message_hint
            cur.execute("""SELECT value FROM oml.pyqEval('{"n": 3}', 'JSON', 'sq')""")
            assert cur.fetchone() == ("9",)
            cur.execute("SELECT count(*) FROM oml.user_pyq_jobs")
            assert cur.fetchone() == (0,)
            cur.execute("SHOW oml_store.job_timeout")
            assert cur.fetchone() == ("0",)
    finally:
        server.terminate()
        server.wait(timeout=60)
        shutil.rmtree(tmp_path, ignore_errors=True)

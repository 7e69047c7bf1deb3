"""Python code that runs outside the guarded script call: in conversions
of results and parameters (__str__) and in destructors.

- A destructor that runs SQL while a PostgreSQL error is on its way out
  (here: the caller's output type does not fit the script's result) must
  not swallow that error: it used to give XX000 "errstart was not called".
- A process forked by such code (a __str__ that calls os.fork()) must exit
  when it gets back into the extension, never go on into PostgreSQL: it
  used to finish the statement too, talk to the client and release the
  parent's locks (PANIC "failed to re-find shared lock object").
"""

import json
import time

import psycopg2
import psycopg2.errors
import pytest

from conftest import admin_connect
from test_runtime import RUN, backend_pid, connect, create, one

TEXT_ROWS = ("SELECT v FROM oml.pyqEval(%s, NULL::record, %s)"
             " AS t(v text)")


def session_works(conn):
    assert one(conn, "SELECT 1") == 1
    assert one(conn, RUN, ('{"x": 5}', "triv")) == "5"


@pytest.fixture
def triv(admin):
    create(admin, "triv", "def triv(x=None):\n    return x\n")


DESTRUCTOR_SQL = """
def del_sql():
    import oml
    class Bomb:
        def __str__(self):
            return 'not a number'
        def __del__(self):
            try:
                oml.sql('SELECT 1/0')
            except Exception:
                pass
    return [(Bomb(),)]
"""


def test_destructor_sql_during_an_error_keeps_the_error(admin, triv):
    create(admin, "del_sql", DESTRUCTOR_SQL)
    conn = connect()
    try:
        for _ in range(3):
            with pytest.raises(psycopg2.Error) as err:
                one(conn, "SELECT v FROM oml.pyqEval('{}', NULL::record,"
                    " 'del_sql') AS t(v int)")
            assert err.value.pgcode == "22P02", err.value.pgerror
            assert "not a number" in err.value.pgerror
            session_works(conn)
    finally:
        conn.close()


FORK_IN_STR = """
def fork_str(where='result'):
    import os, time
    import oml
    class Forky:
        def __str__(self):
            pid = os.fork()
            if pid == 0:
                return 'child'
            end = time.monotonic() + 10
            while time.monotonic() < end:
                done, status = os.waitpid(pid, os.WNOHANG)
                if done:
                    return 'exit %d' % os.waitstatus_to_exitcode(status)
                time.sleep(0.01)
            os.kill(pid, 9)
            os.waitpid(pid, 0)
            return 'stuck'
    if where == 'param':
        rows = oml.sql("SELECT %s AS s, nextval('public.fork_str_seq') AS n",
                       [Forky()])
        return [(rows['s'][0],)]
    return [(Forky(),)]
"""


def test_fork_in_a_conversion_never_runs_the_backend(admin, triv):
    create(admin, "fork_str", FORK_IN_STR)
    admin.sql("DROP SEQUENCE IF EXISTS public.fork_str_seq")
    admin.sql("CREATE SEQUENCE public.fork_str_seq")
    admin.sql("GRANT USAGE ON SEQUENCE public.fork_str_seq TO PUBLIC")
    started = admin.sql("SELECT pg_postmaster_start_time()")
    conn = connect()
    try:
        for where in ("result", "param", "result"):
            assert one(conn, TEXT_ROWS, ('{"where": "%s"}' % where,
                                         "fork_str")) == "exit 0"
            session_works(conn)
        # Only the parent ran the parameter's statement.
        assert admin.sql("SELECT last_value FROM public.fork_str_seq") == [(1,)]
        assert admin.sql("SELECT pg_postmaster_start_time()") == started
    finally:
        conn.close()
        admin.sql("DROP SEQUENCE IF EXISTS public.fork_str_seq")


CLOSE_IN_STR = """
def close_in_str():
    import _oml, oml
    class S:
        def __str__(self):
            try:
                _oml.subxact('commit')
            except RuntimeError as exc:
                seen.append(str(exc))
            return '1'
    seen = []
    _oml.subxact('begin')
    x = oml.sql('SELECT %s::int AS x', [S()])['x'][0]
    _oml.subxact('commit')
    return [int(x), seen]
"""


def test_subtransaction_not_closed_from_inside_a_statement(admin, triv):
    """A script's subtransaction closed by Python that runs while one of
    the script's statements runs (a parameter's __str__) would close the
    statement's subtransaction instead (XX000 SPI_ERROR_UNCONNECTED, and
    the resource owner of a rolled-back subtransaction left current)."""
    create(admin, "close_in_str", CLOSE_IN_STR)
    conn = connect()
    try:
        conn.notices.clear()
        for _ in range(2):
            x, seen = json.loads(
                one(conn, RUN, ('{}', "close_in_str")))
            assert x == 1
            assert len(seen) == 1 and "cannot be closed" in seen[0]
        assert conn.notices == []
        session_works(conn)
    finally:
        conn.close()


SHAPE = """
def shape(data):
    import oml
    s = oml.sql('SELECT 1 + 1, 2 + 2, 3 AS a')
    return {'input': [list(map(str, getattr(data, 'columns', []))),
                      [float(v) for v in data[-1].tolist()]
                      if not hasattr(data, 'columns')
                      else [float(v) for v in data.iloc[-1].tolist()]],
            'sql': [list(s.columns), s.iloc[0].tolist()]}
"""

TWO_UNNAMED = "SELECT x + 1, x * 2 FROM generate_series(1, 3) x"


def test_input_columns_with_the_same_name_are_all_kept(admin):
    """Unnamed expressions are all called ?column?: the script used to get
    only the last of them (a DataFrame, and the ndarray, of one column)."""
    create(admin, "shape", SHAPE)
    conn = connect()
    try:
        for controls, names in (('{"oml_input_type": "pandas.DataFrame"}',
                                 ["?column?", "?column?"]),
                                ('{}', [])):
            got = json.loads(one(
                conn, "SELECT value FROM oml.pyqTableEval(%s, %s, 'JSON',"
                " 'shape')", (TWO_UNNAMED, controls)))
            assert got["input"] == [names, [4.0, 6.0]]
            assert got["sql"] == [["?column?", "?column?", "a"], [2, 4, 3]]
        with pytest.raises(psycopg2.Error) as err:
            one(conn, "SELECT value FROM oml.pyqTableEval(%s, %s, 'JSON',"
                " 'shape')", (TWO_UNNAMED,
                              '{"oml_input_type": "numpy.recarray"}'))
        assert err.value.pgcode == "42701"
        assert '"?column?" appears more than once' in err.value.pgerror
    finally:
        conn.close()


DEEP = """
def deep(n=3000, q='SELECT 1'):
    import sys, oml
    sys.setrecursionlimit(20000)
    def rec(k):
        if k == 0:
            try:
                return str(oml.sql(q).iloc[0, 0])
            except oml.OMLError as exc:
                return exc.sqlstate
        return rec(k - 1)
    return rec(n)
"""

NESTED = """SELECT value FROM oml.pyqEval('{"x": 7}', 'JSON', 'triv')"""


def test_sql_from_deep_recursion_after_a_raised_limit(admin, triv):
    """SQL that a script runs gets the usual recursion limit back; a script
    that had raised it and recursed deeper than that made Python abort the
    backend (Fatal Python error: Cannot recover from stack overflow, the
    postmaster restarting every backend) as soon as the SQL ran Python."""
    create(admin, "deep", DEEP)
    started = admin.sql("SELECT pg_postmaster_start_time()")
    conn = connect()
    try:
        for q, want in ((NESTED, "7"), ("SELECT 1/0", "22012"),
                        ("SELECT 2", "2")):
            assert one(conn, RUN, (json.dumps({"q": q}), "deep")) \
                == json.dumps(want)
        session_works(conn)
        assert admin.sql("SELECT pg_postmaster_start_time()") == started
    finally:
        conn.close()


PROFILER = """
def prof(stop=False):
    import signal, time
    hits = []
    signal.signal(signal.SIGPROF, lambda s, f: hits.append(1))
    signal.setitimer(signal.ITIMER_PROF, 0.005, 0.005)
    x = 0
    end = time.monotonic() + 20
    while not hits and time.monotonic() < end:
        x += 1
    if stop:
        signal.setitimer(signal.ITIMER_PROF, 0)
    return len(hits) > 0
"""


def test_profiling_timer_left_running_is_stopped(admin, triv):
    """A script that leaves ITIMER_PROF running (a sampling profiler that
    did not stop) got its backend killed by SIGPROF once its handler was
    put back to the default, and the postmaster restarted every backend."""
    create(admin, "prof", PROFILER)
    started = admin.sql("SELECT pg_postmaster_start_time()")
    conn = connect()
    try:
        for params in ('{}', '{"stop": true}', '{}'):
            assert one(conn, RUN, (params, "prof")) == "true"
            # CPU time, so that a running timer would fire.
            assert one(conn, "SELECT count(*) FROM generate_series(1, 2000000)") \
                == 2000000
            session_works(conn)
        assert admin.sql("SELECT pg_postmaster_start_time()") == started
    finally:
        conn.close()


USR1 = """
def usr1(sec=2):
    import signal, time
    from oml_store import _backend
    signal.signal(signal.SIGUSR1, lambda s, f: None)
    _backend.get_backend().query(
        "SELECT set_config('application_name', 'oml_usr1_sleeping', false)")
    time.sleep(sec)
    return True
"""


def test_sigusr1_meant_for_postgres_during_a_call_is_not_lost(admin):
    """A script's SIGUSR1 handler took the signal of another session's
    procsignal barrier (DROP DATABASE), and the backend never absorbed the
    barrier after the call: DROP DATABASE waited for it indefinitely."""
    import threading

    create(admin, "usr1", USR1)
    admin.sql("DROP DATABASE IF EXISTS oml_usr1_tmp")
    admin.sql("CREATE DATABASE oml_usr1_tmp")
    conn = connect()
    dropper = admin_connect()
    result = {}
    runner = threading.Thread(target=lambda: result.update(
        v=one(conn, RUN, ('{"sec": 2}', "usr1"))))
    try:
        pid = backend_pid(conn)
        runner.start()
        for _ in range(200):
            if admin.sql("SELECT application_name FROM pg_stat_activity"
                         " WHERE pid = %s", (pid,)) == [("oml_usr1_sleeping",)]:
                break
            time.sleep(0.05)
        # The call ends after 2 s; the barrier must be absorbed then.
        with dropper.cursor() as cur:
            cur.execute("SET statement_timeout = '30s'")
            cur.execute("DROP DATABASE oml_usr1_tmp")
        runner.join()
        assert result == {"v": "true"}
        assert one(conn, "SELECT 1") == 1
    finally:
        if runner.ident is not None:
            runner.join()
        conn.close()
        dropper.close()
        admin.sql("DROP DATABASE IF EXISTS oml_usr1_tmp")

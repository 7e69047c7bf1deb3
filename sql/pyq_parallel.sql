--
-- pyq_parallel: oml_parallel_flag and oml_parallel_degree for pyqRowEval,
-- pyqGroupEval and pyqIndexEval: the same rows in the same order as the
-- serial call, every bad degree, errors and SQL inside parallel scripts,
-- and running serially (with a NOTICE) when no parallel worker is free.
--
\set VERBOSITY default
\set SHOW_CONTEXT never
\i sql/include/expect_error.sql

CREATE ROLE regress_pyqp_dev LOGIN IN ROLE oml_developer;
CREATE SCHEMA regress_pyqp AUTHORIZATION regress_pyqp_dev;
SET ROLE regress_pyqp_dev;
SET search_path = regress_pyqp, public;
CREATE TABLE t (id int, grp text, val float8);
INSERT INTO t SELECT i, 'g' || (i % 3), i * 0.5 FROM generate_series(1, 30) i;

SELECT oml.pyqScriptCreate('stats', $$
def f(df):
    return {"n": len(df), "ids": [int(v) for v in df["id"]],
            "sum": float(df["val"].sum())}
$$);
SELECT oml.pyqScriptCreate('times', $$
def f(i, k=1):
    return i * k
$$);

--
-- The same rows in the same order as serially
--
SELECT name, value FROM oml.pyqRowEval('SELECT * FROM t ORDER BY id',
  '{"oml_input_type": "pandas.DataFrame"}', 'JSON', 7, 'stats');
SELECT name, value FROM oml.pyqRowEval('SELECT * FROM t ORDER BY id',
  '{"oml_input_type": "pandas.DataFrame", "oml_parallel_flag": true}', 'JSON', 7, 'stats');
SELECT name, value FROM oml.pyqRowEval('SELECT * FROM t ORDER BY id',
  '{"oml_input_type": "pandas.DataFrame", "oml_parallel_degree": 2}', 'JSON', 7, 'stats');
SELECT name, value FROM oml.pyqGroupEval('t',
  '{"oml_input_type": "pandas.DataFrame", "oml_parallel_degree": 3}', 'JSON', 'grp', 'id DESC', 'stats');
SELECT name, value FROM oml.pyqIndexEval('{"k": 10, "oml_parallel_flag": "true"}', 'JSON', 6, 'times');
-- relational output
SELECT * FROM oml.pyqIndexEval('{"k": 3, "oml_parallel_degree": 2}', NULL::int, 5, 'times');
-- degree 1 is serial; pyqEval and pyqTableEval accept the controls and run serially
SELECT name, value FROM oml.pyqIndexEval('{"oml_parallel_degree": 1}', 'JSON', 2, 'times');
SELECT value FROM oml.pyqEval('{"i": 4, "oml_parallel_degree": 4}', 'JSON', 'times');
SELECT value FROM oml.pyqTableEval('t', '{"oml_parallel_flag": true, "oml_input_type": "pandas.DataFrame"}', 'JSON', 'stats') \gset
SELECT (:'value'::json)->>'n' AS n;
-- a degree above what can run: as many workers as can be had
SET max_parallel_workers = 1;
SELECT name, value FROM oml.pyqIndexEval('{"oml_parallel_degree": 64}', 'JSON', 3, 'times');
RESET max_parallel_workers;

--
-- Bad degrees: 22023
--
SELECT * FROM pg_temp.expect_error($$SELECT * FROM oml.pyqIndexEval('{"oml_parallel_degree": 0}', 'JSON', 2, 'times')$$);
SELECT * FROM pg_temp.expect_error($$SELECT * FROM oml.pyqIndexEval('{"oml_parallel_degree": -2}', 'JSON', 2, 'times')$$);
SELECT * FROM pg_temp.expect_error($$SELECT * FROM oml.pyqIndexEval('{"oml_parallel_degree": 65}', 'JSON', 2, 'times')$$);
SELECT * FROM pg_temp.expect_error($$SELECT * FROM oml.pyqIndexEval('{"oml_parallel_degree": 1.5}', 'JSON', 2, 'times')$$);
SELECT * FROM pg_temp.expect_error($$SELECT * FROM oml.pyqIndexEval('{"oml_parallel_degree": "2"}', 'JSON', 2, 'times')$$);
SELECT * FROM pg_temp.expect_error($$SELECT * FROM oml.pyqIndexEval('{"oml_parallel_degree": true}', 'JSON', 2, 'times')$$);
SELECT * FROM pg_temp.expect_error($$SELECT * FROM oml.pyqIndexEval('{"oml_parallel_degree": null}', 'JSON', 2, 'times')$$);
SELECT * FROM pg_temp.expect_error($$SELECT * FROM oml.pyqRowEval('t', '{"oml_parallel_flag": false, "oml_parallel_degree": 3}', 'JSON', 2, 'stats')$$);
SELECT * FROM pg_temp.expect_error($$SELECT * FROM oml.pyqRowEval('t', '{"oml_parallel_flag": 2}', 'JSON', 2, 'stats')$$);
-- false with degree 1 is no conflict
SELECT count(*) FROM oml.pyqIndexEval('{"oml_parallel_flag": false, "oml_parallel_degree": 1}', 'JSON', 2, 'times');

--
-- No parallel worker free: serially, with a NOTICE
--
SET max_parallel_workers = 0;
SELECT name, value FROM oml.pyqIndexEval('{"k": 2, "oml_parallel_flag": true}', 'JSON', 3, 'times');
SELECT name, value FROM oml.pyqGroupEval('t', '{"oml_input_type": "pandas.DataFrame", "oml_parallel_degree": 2}', 'JSON', 'grp', 'id', 'stats');
RESET max_parallel_workers;
-- max_parallel_workers_per_gather = 0: the default degree is 1 (serial, no NOTICE)
SET max_parallel_workers_per_gather = 0;
SELECT count(*) FROM oml.pyqIndexEval('{"oml_parallel_flag": true}', 'JSON', 3, 'times');
RESET max_parallel_workers_per_gather;

--
-- Errors in a parallel call: as serially (SQLSTATE, message, traceback)
--
SELECT oml.pyqScriptCreate('fail5', $$
def f(i):
    if i == 5:
        raise ValueError("index %d failed" % i)
    return i
$$);
SELECT * FROM pg_temp.expect_error($$SELECT * FROM oml.pyqIndexEval(NULL, 'JSON', 8, 'fail5')$$);
SELECT * FROM pg_temp.expect_error($$SELECT * FROM oml.pyqIndexEval('{"oml_parallel_degree": 3}', 'JSON', 8, 'fail5')$$);
-- a failed SQL statement ends the call even when the script catches it
-- (no subtransaction can undo it in parallel mode); serially it is caught
SELECT oml.pyqScriptCreate('catch', $$
def f(i):
    import oml
    try:
        oml.sql("SELECT 1 / 0")
    except Exception as exc:
        return "caught %s" % type(exc).__name__
    return "not reached"
$$);
SELECT name, value FROM oml.pyqIndexEval(NULL, 'JSON', 2, 'catch');
SELECT * FROM pg_temp.expect_error($$SELECT * FROM oml.pyqIndexEval('{"oml_parallel_degree": 2}', 'JSON', 2, 'catch')$$);
-- reading works; writing is refused in parallel mode, with PostgreSQL's error
SELECT oml.pyqScriptCreate('reader', $$
def f(i):
    import oml
    return int(oml.sql("SELECT count(*) AS n FROM regress_pyqp.t WHERE id <= %s", [i])["n"][0])
$$);
SELECT name, value FROM oml.pyqIndexEval('{"oml_parallel_degree": 2}', 'JSON', 3, 'reader');
SELECT oml.pyqScriptCreate('writer', $$
def f(i):
    import oml
    oml.sql("INSERT INTO regress_pyqp.t VALUES (%s, 'w', 0)", [100 + i])
    return i
$$);
SELECT * FROM pg_temp.expect_error($$SELECT * FROM oml.pyqIndexEval('{"oml_parallel_degree": 2}', 'JSON', 2, 'writer')$$);
SELECT count(*) FROM t WHERE grp = 'w';
-- serially it writes
SELECT count(*) FROM oml.pyqIndexEval(NULL, 'JSON', 2, 'writer');
SELECT count(*) FROM t WHERE grp = 'w';
-- the session goes on, in parallel too
SELECT name, value FROM oml.pyqIndexEval('{"oml_parallel_degree": 2}', 'JSON', 2, 'times');
-- inside a transaction that has written: the call still runs in parallel
BEGIN;
DELETE FROM t WHERE grp = 'w';
SELECT name, value FROM oml.pyqGroupEval('t', '{"oml_input_type": "pandas.DataFrame", "oml_parallel_degree": 2}', 'JSON', 'grp', 'id', 'stats');
ROLLBACK;

--
-- Clean up
--
RESET search_path;
SELECT oml.pyqScriptDrop(name) FROM oml.user_pyq_scripts;
RESET ROLE;
DROP SCHEMA regress_pyqp CASCADE;
DROP ROLE regress_pyqp_dev;

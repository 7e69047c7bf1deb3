--
-- pyq_parallel: oml_parallel_flag and oml_parallel_degree for pyqRowEval,
-- pyqGroupEval and pyqIndexEval: the same rows in the same order as the
-- serial call (every out_fmt), every bad degree, errors and SQL inside
-- parallel scripts, and running serially (with a NOTICE) when no parallel
-- worker is free.  Cancel, roles and hostile sessions: test_parallel.py.
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

--
-- Every out_fmt of the three functions: the parallel rows, with every unit
-- run by a worker (parallel_leader_participation off), equal the serial
-- rows, in order.  pg_temp.same(q) runs q with %s as '' and as the
-- parallel controls and compares the rows as text, in order.
--
CREATE FUNCTION pg_temp.same(q text) RETURNS bool LANGUAGE plpgsql AS $$
DECLARE
	serial text[]; par text[];
BEGIN
	EXECUTE format('SELECT array_agg(t::text) FROM (%s) t', format(q, '')) INTO serial;
	EXECUTE format('SELECT array_agg(t::text) FROM (%s) t',
				   format(q, ', "oml_parallel_degree": 2')) INTO par;
	RETURN serial = par AND cardinality(serial) > 1;
END
$$;
SELECT oml.pyqScriptCreate('frame', $$
def f(df):
    import pandas as pd
    return pd.DataFrame({"id": df["id"], "twice": df["val"] * 2, "grp": df["grp"]})
$$);
SELECT oml.pyqScriptCreate('plot', $$
def f(df):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    plt.figure(figsize=(2, 2), dpi=40)
    plt.plot(list(df["id"]), list(df["val"]))
    plt.title("%d rows" % len(df))
    return len(df)
$$);
SELECT oml.pyqScriptCreate('plot_index', $$
def f(i):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    plt.figure(figsize=(2, 2), dpi=40)
    plt.plot([0, i], [i, 0])
    plt.title("index %d" % i)
    return {"i": i}
$$);
SET parallel_leader_participation = off;
SELECT fmt, pg_temp.same(q) FROM (VALUES
  ('row JSON', $q$SELECT * FROM oml.pyqRowEval('t', '{"oml_input_type": "pandas.DataFrame"%s}', 'JSON', 7, 'stats')$q$),
  ('row XML', $q$SELECT * FROM oml.pyqRowEval('t', '{"oml_input_type": "pandas.DataFrame"%s}', 'XML', 7, 'stats')$q$),
  ('row PNG', $q$SELECT name, id, value, title, md5(image) FROM oml.pyqRowEval('t', '{"oml_input_type": "pandas.DataFrame"%s}', 'PNG', 10, 'plot')$q$),
  ('row relational', $q$SELECT * FROM oml.pyqRowEval('t', '{"oml_input_type": "pandas.DataFrame"%s}', NULL::record, 4, 'frame') AS r(id int, twice float8, grp text)$q$),
  ('group JSON', $q$SELECT * FROM oml.pyqGroupEval('t', '{"oml_input_type": "pandas.DataFrame"%s}', 'JSON', 'grp', 'id', 'stats')$q$),
  ('group XML', $q$SELECT * FROM oml.pyqGroupEval('t', '{"oml_input_type": "pandas.DataFrame"%s}', 'XML', 'grp', 'id DESC', 'stats')$q$),
  ('group PNG', $q$SELECT name, id, value, title, md5(image) FROM oml.pyqGroupEval('t', '{"oml_input_type": "pandas.DataFrame"%s}', 'PNG', 'grp', 'id', 'plot')$q$),
  ('group relational', $q$SELECT * FROM oml.pyqGroupEval('t', '{"oml_input_type": "pandas.DataFrame"%s}', NULL::record, 'grp', 'id', 'frame') AS r(id int, twice float8, grp text)$q$),
  ('index JSON', $q$SELECT * FROM oml.pyqIndexEval('{"k": 3%s}', 'JSON', 7, 'times')$q$),
  ('index XML', $q$SELECT * FROM oml.pyqIndexEval('{"k": 3%s}', 'XML', 7, 'times')$q$),
  ('index PNG', $q$SELECT name, id, value, title, md5(image) FROM oml.pyqIndexEval('{"oml_input_type": "default"%s}', 'PNG', 4, 'plot_index')$q$),
  ('index relational', $q$SELECT * FROM oml.pyqIndexEval('{"k": 3%s}', NULL::int, 7, 'times')$q$)
) AS v(fmt, q);
RESET parallel_leader_participation;
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
DROP FUNCTION pg_temp.same(text);
RESET ROLE;
DROP SCHEMA regress_pyqp CASCADE;
DROP ROLE regress_pyqp_dev;

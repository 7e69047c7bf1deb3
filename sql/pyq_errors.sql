--
-- pyq_errors: Python exceptions and SQL errors raised by scripts, bad
-- arguments to the pyq* functions, and cancelling a running script.
--
-- Python exceptions are shown as psql prints them (message, traceback,
-- context), followed by their SQLSTATE; the other errors go through
-- pg_temp.expect_error, which prints "SQLSTATE: message" and any DETAIL
-- and HINT.
--
\set VERBOSITY default
\set SHOW_CONTEXT errors
\i sql/include/expect_error.sql

CREATE ROLE regress_pyqx_dev LOGIN IN ROLE oml_developer;
CREATE SCHEMA regress_pyqx AUTHORIZATION regress_pyqx_dev;
SET ROLE regress_pyqx_dev;
SET search_path = regress_pyqx, public;
CREATE TABLE t (id int, grp text, val float8);
INSERT INTO t SELECT i, CASE WHEN i % 2 = 0 THEN 'even' ELSE 'odd' END, i * 1.5
  FROM generate_series(1, 6) i;

SELECT oml.pyqScriptCreate('ok', $$
def f(data=None):
    return "fine"
$$);

--
-- A Python exception: SQLSTATE 38000, the exception as the message, the
-- traceback (script name and line) as the detail
--
SELECT oml.pyqScriptCreate('raise', $$
def f(n=7):
    x = n * 2
    raise ValueError("boom %d" % x)
$$);
SELECT * FROM oml.pyqEval('{"n": 2}', 'JSON', 'raise');
SELECT :'LAST_ERROR_SQLSTATE' AS sqlstate;
-- from a nested function, several frames
SELECT oml.pyqScriptCreate('nested', $$
def outer(d=None):
    def inner(k):
        return d[k]
    return inner("missing")
$$);
SELECT * FROM oml.pyqEval('{"d": {"a": 1}}', 'JSON', 'nested');
SELECT :'LAST_ERROR_SQLSTATE' AS sqlstate;
-- the same through relational output and the other pyq* functions
SELECT * FROM oml.pyqEval('{"n": 1}', NULL::int, 'raise');
SELECT :'LAST_ERROR_SQLSTATE' AS sqlstate;
SELECT oml.pyqScriptCreate('fail_on', $$
def f(df, bad=4):
    if bad in df["id"].tolist():
        raise RuntimeError("row %d is bad" % bad)
    return len(df)
$$);
-- an error in the second chunk or the second group: no rows at all
SELECT * FROM oml.pyqRowEval('SELECT * FROM t ORDER BY id', '{"oml_input_type": "pandas.DataFrame"}', 'JSON', 3, 'fail_on');
SELECT :'LAST_ERROR_SQLSTATE' AS sqlstate;
SELECT * FROM oml.pyqGroupEval('t', '{"oml_input_type": "pandas.DataFrame"}', 'JSON', 'grp', NULL, 'fail_on');
SELECT :'LAST_ERROR_SQLSTATE' AS sqlstate;
SELECT * FROM oml.pyqTableEval('t', '{"oml_input_type": "pandas.DataFrame", "bad": 6}', NULL::int, 'fail_on');
SELECT :'LAST_ERROR_SQLSTATE' AS sqlstate;
-- wrong arguments for the function
SELECT * FROM oml.pyqEval('{"x": 1}', 'JSON', 'ok');
SELECT oml.pyqScriptCreate('no_input', $$
def f():
    return 1
$$);
SELECT * FROM oml.pyqTableEval('t', NULL, 'JSON', 'no_input');
SELECT * FROM oml.pyqIndexEval(NULL, 'JSON', 2, 'no_input');
-- a module that is not there (imports are checked only when the script runs)
SELECT oml.pyqScriptCreate('bad_import', $$
import regress_pyqx_no_such_module

def f():
    return 1
$$);
SELECT * FROM oml.pyqEval(NULL, 'JSON', 'bad_import');
SELECT :'LAST_ERROR_SQLSTATE' AS sqlstate;
-- sys.exit and deep recursion are errors like any other
SELECT oml.pyqScriptCreate('exits', $$
def f(code=3):
    import sys
    sys.exit(code)
$$);
SELECT * FROM oml.pyqEval(NULL, 'JSON', 'exits');
SELECT :'LAST_ERROR_SQLSTATE' AS sqlstate;
SELECT oml.pyqScriptCreate('recurse', $$
def f():
    def down(n):
        return down(n + 1)
    return down(0)
$$);
SELECT * FROM pg_temp.expect_error($q$SELECT * FROM oml.pyqEval(NULL, 'JSON', 'recurse')$q$) LIMIT 1;
-- the session goes on
SELECT value FROM oml.pyqEval(NULL, 'JSON', 'ok');

--
-- SQL errors inside a script
--
SELECT oml.pyqScriptCreate('sql_err', $$
def f(catch=True):
    import _oml
    if catch:
        try:
            _oml.execute("SELECT * FROM regress_pyqx_no_such_table")
        except _oml.SPIError as e:
            cols, rows = _oml.execute("SELECT count(*) AS n FROM regress_pyqx.t")
            return {"caught": e.sqlstate, "message": str(e), "then": rows[0][0]}
    _oml.execute("SELECT * FROM regress_pyqx_no_such_table")
    return "not reached"
$$);
-- caught: the script goes on in the same transaction
SELECT value FROM oml.pyqEval('{"catch": true}', 'JSON', 'sql_err');
-- not caught: the original SQLSTATE, the script's traceback as context
SELECT value FROM oml.pyqEval('{"catch": false}', 'JSON', 'sql_err');
SELECT :'LAST_ERROR_SQLSTATE' AS sqlstate;
-- through the oml API: oml.OMLError with the server's SQLSTATE
SELECT oml.pyqScriptCreate('ds_err', $$
def f(catch=True):
    import oml
    try:
        oml.ds.load("regress_pyqx_none")
    except oml.OMLError as e:
        if not catch:
            raise
        return {"sqlstate": e.sqlstate, "message": str(e)}
$$);
SELECT value FROM oml.pyqEval(NULL, 'JSON', 'ds_err');
SELECT * FROM pg_temp.expect_error($q$SELECT * FROM oml.pyqEval('{"catch": false}', 'JSON', 'ds_err')$q$);
-- a failing script leaves nothing of what it wrote
SELECT oml.pyqScriptCreate('save_then_fail', $$
def f():
    import oml
    oml.ds.save({"x": 1}, "regress_pyqx_ds")
    raise RuntimeError("after the save")
$$);
SELECT * FROM pg_temp.expect_error($q$SELECT * FROM oml.pyqEval(NULL, 'JSON', 'save_then_fail')$q$);
SELECT count(*) FROM oml.user_pyq_datastores WHERE dsname = 'regress_pyqx_ds';

--
-- par_lst
--
SELECT * FROM pg_temp.expect_error($q$SELECT * FROM oml.pyqEval('{"n": ', 'JSON', 'ok')$q$);
SELECT * FROM pg_temp.expect_error($q$SELECT * FROM oml.pyqEval('not json', 'JSON', 'ok')$q$);
SELECT * FROM pg_temp.expect_error($q$SELECT * FROM oml.pyqEval('[1, 2]', 'JSON', 'ok')$q$);
SELECT * FROM pg_temp.expect_error($q$SELECT * FROM oml.pyqEval('"text"', 'JSON', 'ok')$q$);
SELECT * FROM pg_temp.expect_error($q$SELECT * FROM oml.pyqEval('3', 'JSON', 'ok')$q$);
SELECT * FROM pg_temp.expect_error($q$SELECT * FROM oml.pyqEval('{"oml_bogus": 1}', 'JSON', 'ok')$q$);
SELECT * FROM pg_temp.expect_error($q$SELECT * FROM oml.pyqTableEval('t', '{"oml_input_type": "list"}', 'JSON', 'ok')$q$);
SELECT * FROM pg_temp.expect_error($q$SELECT * FROM oml.pyqTableEval('t', '{"oml_input_type": null}', 'JSON', 'ok')$q$);
SELECT * FROM pg_temp.expect_error($q$SELECT * FROM oml.pyqTableEval('t', '{"oml_input_type": "pandas.dataframe"}', 'JSON', 'ok')$q$);
SELECT * FROM pg_temp.expect_error($q$SELECT * FROM oml.pyqTableEval('t', '{"oml_na_omit": 1}', 'JSON', 'ok')$q$);
SELECT * FROM pg_temp.expect_error($q$SELECT * FROM oml.pyqTableEval('t', '{"oml_graphics_flag": "yes"}', 'JSON', 'ok')$q$);
-- oml_async_flag true (also as a string) submits a job (see jobs.sql)
SELECT value::jsonb ? 'job_id' AS submitted FROM oml.pyqEval('{"oml_async_flag": true}', 'JSON', 'ok');
SELECT value::jsonb ? 'job_id' AS submitted FROM oml.pyqEval('{"oml_async_flag": "TRUE"}', 'JSON', 'ok');
-- accepted: false flags, flags as strings, oml_parallel_flag
SELECT value FROM oml.pyqTableEval('t', '{"oml_async_flag": false, "oml_parallel_flag": true, "oml_na_omit": "false", "oml_graphics_flag": false}', 'JSON', 'ok');

--
-- out_fmt and relational output
--
SELECT * FROM pg_temp.expect_error($q$SELECT * FROM oml.pyqEval(NULL, 'CSV', 'ok')$q$);
SELECT * FROM pg_temp.expect_error($q$SELECT * FROM oml.pyqEval(NULL, '', 'ok')$q$);
-- a NULL out_fmt, bare or text-typed, is text output: the result as text
-- in value (see clear_errors)
SELECT * FROM oml.pyqEval(NULL, NULL, 'ok');
SELECT * FROM oml.pyqEval(NULL, NULL::text, 'ok');
SELECT * FROM pg_temp.expect_error($q$SELECT * FROM oml.pyqTableEval('t', NULL, 'HTML', 'ok')$q$);
-- record needs a column definition list
SELECT * FROM oml.pyqEval(NULL, NULL::record, 'ok');
-- the number of columns must match (for a frame: when no declared name is
-- one of its columns; a subset by name is fine, see pyq_output_compat)
SELECT oml.pyqScriptCreate('three_cols', $$
def f(shape="frame"):
    import pandas as pd
    if shape == "frame":
        return pd.DataFrame({"a": [1], "b": ["x"], "c": [0.5]})
    if shape == "rows":
        return [(1, "x", 0.5), (2, "y", 1.5)]
    if shape == "ragged":
        return [(1, "x"), (2, "y", 1.5)]
    return 42
$$);
SELECT * FROM pg_temp.expect_error($q$SELECT * FROM oml.pyqEval(NULL, NULL::record, 'three_cols') AS t(x int, y text)$q$);
SELECT * FROM pg_temp.expect_error($q$SELECT * FROM oml.pyqEval(NULL, NULL::record, 'three_cols') AS t(a int, b text, c float8, d int)$q$);
SELECT * FROM pg_temp.expect_error($q$SELECT * FROM oml.pyqEval('{"shape": "rows"}', NULL::record, 'three_cols') AS t(a int, b text)$q$);
SELECT * FROM pg_temp.expect_error($q$SELECT * FROM oml.pyqEval('{"shape": "ragged"}', NULL::record, 'three_cols') AS t(a int, b text)$q$);
SELECT * FROM pg_temp.expect_error($q$SELECT * FROM oml.pyqEval('{"shape": "scalar"}', NULL::record, 'three_cols') AS t(a int, b text)$q$);
SELECT * FROM pg_temp.expect_error($q$SELECT * FROM oml.pyqEval(NULL, NULL::int, 'three_cols')$q$);
-- matching, for comparison
SELECT * FROM oml.pyqEval('{"shape": "rows"}', NULL::record, 'three_cols') AS t(a int, b text, c float8);
-- a value the declared type does not accept
SELECT * FROM pg_temp.expect_error($q$SELECT * FROM oml.pyqEval(NULL, NULL::record, 'three_cols') AS t(a int, b int, c float8)$q$);

--
-- row_num, times_num, inp_nam, grp_col, scripts
--
SELECT * FROM pg_temp.expect_error($q$SELECT * FROM oml.pyqRowEval('t', NULL, 'JSON', NULL, 'ok')$q$);
SELECT * FROM pg_temp.expect_error($q$SELECT * FROM oml.pyqRowEval('t', NULL, 'JSON', 0, 'ok')$q$);
SELECT * FROM pg_temp.expect_error($q$SELECT * FROM oml.pyqRowEval('t', NULL, 'JSON', -1, 'ok')$q$);
SELECT * FROM pg_temp.expect_error($q$SELECT * FROM oml.pyqIndexEval(NULL, 'JSON', NULL, 'ok')$q$);
SELECT * FROM pg_temp.expect_error($q$SELECT * FROM oml.pyqIndexEval(NULL, 'JSON', 0, 'ok')$q$);
SELECT * FROM pg_temp.expect_error($q$SELECT * FROM oml.pyqIndexEval(NULL, 'JSON', -5, 'ok')$q$);
SELECT * FROM pg_temp.expect_error($q$SELECT * FROM oml.pyqTableEval(NULL, NULL, 'JSON', 'ok')$q$);
SELECT * FROM pg_temp.expect_error($q$SELECT * FROM oml.pyqTableEval('', NULL, 'JSON', 'ok')$q$);
SELECT * FROM pg_temp.expect_error($q$SELECT * FROM oml.pyqRowEval(E' \n\t', NULL, 'JSON', 1, 'ok')$q$);
SELECT * FROM pg_temp.expect_error($q$SELECT * FROM oml.pyqGroupEval('', NULL, 'JSON', 'grp', NULL, 'ok')$q$);
SELECT * FROM pg_temp.expect_error($q$SELECT * FROM oml.pyqTableEval('regress_pyqx_missing', NULL, 'JSON', 'ok')$q$);
SELECT * FROM pg_temp.expect_error($q$SELECT * FROM oml.pyqTableEval('regress_pyqx.missing', NULL, 'JSON', 'ok')$q$);
SELECT * FROM pg_temp.expect_error($q$SELECT * FROM oml.pyqTableEval('regress_pyqx_no_schema.t', NULL, 'JSON', 'ok')$q$);
SELECT * FROM pg_temp.expect_error($q$SELECT * FROM oml.pyqTableEval('SELECT * FROM regress_pyqx_missing', NULL, 'JSON', 'ok')$q$);
SELECT * FROM pg_temp.expect_error($q$SELECT * FROM oml.pyqRowEval('regress_pyqx_missing', NULL, 'JSON', 2, 'ok')$q$);
SELECT * FROM pg_temp.expect_error($q$SELECT * FROM oml.pyqGroupEval('regress_pyqx_missing', NULL, 'JSON', 'grp', NULL, 'ok')$q$);
SELECT * FROM pg_temp.expect_error($q$SELECT * FROM oml.pyqTableEval('SELECT nope FROM t', NULL, 'JSON', 'ok')$q$);
SELECT * FROM pg_temp.expect_error($q$SELECT * FROM oml.pyqTableEval('not a name', NULL, 'JSON', 'ok')$q$);
SELECT * FROM pg_temp.expect_error($q$SELECT * FROM oml.pyqGroupEval('t', NULL, 'JSON', 'nope', NULL, 'ok')$q$);
SELECT * FROM pg_temp.expect_error($q$SELECT * FROM oml.pyqGroupEval('t', NULL, 'JSON', 'grp,nope', NULL, 'ok')$q$);
SELECT * FROM pg_temp.expect_error($q$SELECT * FROM oml.pyqGroupEval('t', NULL, 'JSON', 'grp', 'nope', 'ok')$q$);
SELECT * FROM pg_temp.expect_error($q$SELECT * FROM oml.pyqGroupEval('t', NULL, 'JSON', NULL, NULL, 'ok')$q$);
SELECT * FROM pg_temp.expect_error($q$SELECT * FROM oml.pyqEval(NULL, 'JSON', 'regress_pyqx_missing')$q$);
SELECT * FROM pg_temp.expect_error($q$SELECT * FROM oml.pyqEval(NULL, 'JSON', 'ok', 'regress_pyqx_nobody')$q$);
SELECT * FROM pg_temp.expect_error($q$SELECT * FROM oml.pyqEval(NULL, 'JSON', NULL)$q$);
SELECT * FROM pg_temp.expect_error($q$SELECT * FROM oml.pyqEval(NULL, 'JSON', '')$q$);
SELECT * FROM pg_temp.expect_error($q$SELECT * FROM oml.pyqTableEval('t', NULL, 'JSON', 'regress_pyqx_missing')$q$);
-- the script is looked up before the input is read
SELECT * FROM pg_temp.expect_error($q$SELECT * FROM oml.pyqTableEval('regress_pyqx_missing', NULL, 'JSON', 'regress_pyqx_missing')$q$);

--
-- Cancelling: statement_timeout stops a running script; the session stays usable
--
SELECT oml.pyqScriptCreate('spin', $$
def f(*args):
    while True:
        pass
$$);
SELECT oml.pyqScriptCreate('sleepy', $$
def f():
    import time
    time.sleep(60)
$$);
SET statement_timeout = '200ms';
SELECT * FROM oml.pyqEval(NULL, 'JSON', 'spin');
SELECT :'LAST_ERROR_SQLSTATE' AS sqlstate;
RESET statement_timeout;
SELECT value FROM oml.pyqEval(NULL, 'JSON', 'ok');
SET statement_timeout = '200ms';
SELECT * FROM oml.pyqEval(NULL, 'JSON', 'sleepy');
SELECT * FROM oml.pyqIndexEval(NULL, 'JSON', 5, 'spin');
SELECT * FROM oml.pyqRowEval('t', NULL, 'JSON', 2, 'spin');
RESET statement_timeout;
SELECT value FROM oml.pyqEval(NULL, 'JSON', 'ok');
-- pg_cancel_backend too (here the script cancels its own backend, which
-- takes the session's superuser; statement_timeout only as a safety net).
-- The cancel reaches the script as an SQL error, which it ignores; the
-- running loop is then interrupted.  (Not ignoring it: see pyq_bugs.)
SELECT oml.pyqScriptCreate('self_cancel', $$
def f(catch_sql_error=False):
    import _oml
    try:
        _oml.execute("SELECT pg_cancel_backend(pg_backend_pid())")
    except _oml.SPIError:
        if not catch_sql_error:
            raise
    while True:
        pass
$$);
RESET ROLE;
SET statement_timeout = '10s';
SELECT * FROM oml.pyqEval('{"catch_sql_error": true}', 'JSON', 'self_cancel', 'regress_pyqx_dev');
SELECT :'LAST_ERROR_SQLSTATE' AS sqlstate;
SELECT value FROM oml.pyqEval(NULL, 'JSON', 'ok', 'regress_pyqx_dev');
SELECT name, value FROM oml.pyqIndexEval(NULL, 'JSON', 3, 'ok', 'regress_pyqx_dev');
RESET statement_timeout;
SET ROLE regress_pyqx_dev;
-- inside a transaction: the transaction is aborted, the session is not
BEGIN;
SELECT value FROM oml.pyqEval(NULL, 'JSON', 'ok');
SET LOCAL statement_timeout = '200ms';
SELECT * FROM oml.pyqEval(NULL, 'JSON', 'spin');
SELECT value FROM oml.pyqEval(NULL, 'JSON', 'ok');
ROLLBACK;
SELECT value FROM oml.pyqEval(NULL, 'JSON', 'ok');
-- caught by a savepoint
BEGIN;
SAVEPOINT s;
SET LOCAL statement_timeout = '200ms';
SELECT * FROM oml.pyqEval(NULL, 'JSON', 'spin');
ROLLBACK TO SAVEPOINT s;
SELECT value FROM oml.pyqEval(NULL, 'JSON', 'ok');
COMMIT;

--
-- Clean up
--
RESET search_path;
SELECT oml.pyqScriptDrop(name) FROM oml.user_pyq_scripts;
RESET ROLE;
DROP SCHEMA regress_pyqx CASCADE;
DROP ROLE regress_pyqx_dev;

--
-- pyq_bugs: behaviour the current implementation gets wrong.  The expected
-- output is the correct behaviour; each case says what happens instead.
-- Once a case passes, it can move to the file of its topic.
--
\set SHOW_CONTEXT never
SET datestyle = 'ISO, YMD';
SET timezone = 'UTC';
CREATE ROLE regress_pyqb_dev LOGIN IN ROLE oml_developer;
CREATE SCHEMA regress_pyqb AUTHORIZATION regress_pyqb_dev;
SET ROLE regress_pyqb_dev;
SET search_path = regress_pyqb, public;

--
-- A script replaced inside the transaction that already ran it: the next
-- run must use the new source.  (Runs the old one: the compiled function is
-- cached by the row's xmin, which an UPDATE in the same transaction keeps.)
--
SELECT oml.pyqScriptCreate('ver', 'def f(): return "version 1"');
BEGIN;
SELECT value FROM oml.pyqEval(NULL, 'JSON', 'ver');
SELECT oml.pyqScriptCreate('ver', 'def f(): return "version 2"', v_overwrite => true);
SELECT value FROM oml.pyqEval(NULL, 'JSON', 'ver');
SELECT oml.pyqScriptCreate('ver', 'def f(): return "version 3"', v_overwrite => true);
SELECT value FROM oml.pyqEval(NULL, 'JSON', 'ver');
COMMIT;
SELECT value FROM oml.pyqEval(NULL, 'JSON', 'ver');

--
-- Integer columns through Python and back to integer columns.  An integer
-- column with a NULL reaches Python as float64 (NULL as NaN), and the
-- default input type makes every numeric column float64; whole floats
-- must go back into int2/int4/int8 columns.  (Fails: invalid input syntax
-- for type smallint: "1.0".)
--
CREATE TABLE ints (n int, i2 int2, i4 int4, i8 int8);
INSERT INTO ints VALUES (1, 1, 2, 3000000000), (2, NULL, NULL, NULL), (3, -1, -32768, -9000000000);
SELECT oml.pyqScriptCreate('echo', $$
def f(data):
    return data
$$);
SELECT * FROM oml.pyqTableEval('SELECT * FROM ints ORDER BY n', '{"oml_input_type": "pandas.DataFrame"}',
							   NULL::ints, 'echo');
SELECT * FROM oml.pyqTableEval('SELECT * FROM ints ORDER BY n', '{"oml_input_type": "numpy.recarray"}',
							   NULL::ints, 'echo');
SELECT * FROM oml.pyqTableEval('SELECT * FROM ints WHERE n <> 2 ORDER BY n', NULL, NULL::ints, 'echo');
SELECT oml.pyqScriptCreate('whole_floats', $$
def f():
    return [(1.0, 2.0, -3.0, 4.0), (None, float("nan"), None, None)]
$$);
SELECT * FROM oml.pyqEval(NULL, NULL::ints, 'whole_floats');

--
-- pandas' nullable dtypes in a returned DataFrame: NA is NULL.  (Fails:
-- cannot convert to 'numpy.int64'-dtype NumPy array with missing values.)
--
SELECT oml.pyqScriptCreate('nullable', $$
def f():
    import pandas as pd
    return pd.DataFrame({"i": pd.array([1, None, 3], dtype="Int64"),
                         "b": pd.array([True, None, False], dtype="boolean"),
                         "s": pd.array(["x", None, "z"], dtype="string")})
$$);
SELECT * FROM oml.pyqEval(NULL, NULL::record, 'nullable') AS t(i int, b boolean, s text);

--
-- NaT in rows returned as a list is NULL, as it is in a DataFrame.
-- (Fails: invalid input syntax for type date: "NaT".)
--
SELECT oml.pyqScriptCreate('nat_rows', $$
def f():
    import numpy as np
    import pandas as pd
    return [(1, pd.NaT, pd.NaT), (2, np.datetime64("NaT"), None)]
$$);
SELECT * FROM oml.pyqEval(NULL, NULL::record, 'nat_rows') AS t(n int, d date, ts timestamptz);

--
-- pyqGroupEval: distinct groups are distinct calls.  (Fails: groups are
-- told apart by their values' text joined with commas, so ('a', 'b,c') and
-- ('a,b', 'c') are one group, and so are NULL and the string 'NULL'.)
--
SELECT oml.pyqScriptCreate('group_ids', $$
def f(df):
    return sorted(df["id"].tolist())
$$);
SELECT value FROM oml.pyqGroupEval(
	$$SELECT * FROM (VALUES (1, 'a', 'b,c'), (2, 'a,b', 'c')) v(id, k1, k2)$$,
	'{"oml_input_type": "pandas.DataFrame"}', 'JSON', 'k1,k2', NULL, 'group_ids')
 ORDER BY value;
SELECT value FROM oml.pyqGroupEval(
	$$SELECT * FROM (VALUES (1, 'NULL'), (2, NULL), (3, NULL)) v(id, k)$$,
	'{"oml_input_type": "pandas.DataFrame"}', 'JSON', 'k', NULL, 'group_ids')
 ORDER BY value;

--
-- A cancel that arrives while a script waits in an SQL statement keeps
-- its SQLSTATE 57014.  (Fails: 38000, the message without the script's
-- name: the interrupt Python still has pending breaks the formatting of
-- the error in oml_py_raise.)
--
SELECT oml.pyqScriptCreate('slow_sql', $$
def f():
    import _oml
    _oml.execute("SELECT pg_sleep(30)")
$$);
SET statement_timeout = '300ms';
\set VERBOSITY terse
SELECT * FROM oml.pyqEval(NULL, 'JSON', 'slow_sql');
\set VERBOSITY default
SELECT :'LAST_ERROR_SQLSTATE' AS sqlstate;
RESET statement_timeout;
SELECT oml.pyqScriptCreate('self_cancel', $$
def f():
    import _oml
    _oml.execute("SELECT pg_cancel_backend(pg_backend_pid())")
    while True:
        pass
$$);
-- (cancelling one's own backend takes the session's superuser)
RESET ROLE;
SET statement_timeout = '10s';
\set VERBOSITY terse
SELECT * FROM oml.pyqEval(NULL, 'JSON', 'self_cancel', 'regress_pyqb_dev');
\set VERBOSITY default
SELECT :'LAST_ERROR_SQLSTATE' AS sqlstate;
RESET statement_timeout;
SET ROLE regress_pyqb_dev;

--
-- Clean up
--
RESET search_path;
SELECT oml.pyqScriptDrop(name) FROM oml.user_pyq_scripts;
RESET ROLE;
DROP SCHEMA regress_pyqb CASCADE;
DROP ROLE regress_pyqb_dev;

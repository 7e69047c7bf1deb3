--
-- pyq_dropped_cols: relational output into a row type with dropped
-- columns (a table's after ALTER TABLE ... DROP COLUMN).  Dropped columns
-- are not part of the declared output: results map by name or by position
-- onto the live columns only, and the dropped ones are NULL.  (Before, the
-- names were ignored and a value for a dropped column gave XX000 "cache
-- lookup failed for type 0".)
--
\set VERBOSITY default
\set SHOW_CONTEXT never
\i sql/include/expect_error.sql

CREATE ROLE regress_pyqd_dev LOGIN IN ROLE oml_developer;
CREATE SCHEMA regress_pyqd;
GRANT USAGE, CREATE ON SCHEMA regress_pyqd TO regress_pyqd_dev;
SET ROLE regress_pyqd_dev;
CREATE TABLE regress_pyqd.rt (a float8, x int, b float8);
ALTER TABLE regress_pyqd.rt DROP COLUMN x;
CREATE TABLE regress_pyqd.rt0 (x int);
ALTER TABLE regress_pyqd.rt0 DROP COLUMN x;

SELECT oml.pyqScriptCreate('pyqd_ba', $$
def f(df=None):
    import pandas as pd
    return pd.DataFrame({"B": [10.0, 20.0], "A": [1.0, 2.0]})
$$);
SELECT oml.pyqScriptCreate('pyqd_tup2', $$
def f():
    return [(1.0, 2.0)]
$$);
SELECT oml.pyqScriptCreate('pyqd_tup3', $$
def f():
    return [(1.0, 5, 2.0)]
$$);
SELECT oml.pyqScriptCreate('pyqd_frame3', $$
def f():
    import pandas as pd
    return pd.DataFrame({"p": [1.0], "q": [5], "r": [2.0]})
$$);
SELECT oml.pyqScriptCreate('pyqd_empty_rows', $$
def f():
    return [(), ()]
$$);

-- by name onto the live columns, in the row type's order
SELECT * FROM oml.pyqEval(NULL, NULL::regress_pyqd.rt, 'pyqd_ba');
-- by position: one value per live column
SELECT * FROM oml.pyqEval(NULL, NULL::regress_pyqd.rt, 'pyqd_tup2');
-- a value for the dropped column too: an error, not XX000
SELECT * FROM pg_temp.expect_error($q$SELECT * FROM oml.pyqEval(NULL, NULL::regress_pyqd.rt, 'pyqd_tup3')$q$);
SELECT * FROM pg_temp.expect_error($q$SELECT * FROM oml.pyqEval(NULL, NULL::regress_pyqd.rt, 'pyqd_frame3')$q$);
-- the grouped and chunked forms too
SELECT * FROM oml.pyqRowEval('SELECT 1 AS i UNION ALL SELECT 2', NULL, NULL::regress_pyqd.rt, 1, 'pyqd_ba');
-- every column dropped: rows of no columns
SELECT count(*) FROM oml.pyqEval(NULL, NULL::regress_pyqd.rt0, 'pyqd_empty_rows');

RESET ROLE;
DROP SCHEMA regress_pyqd CASCADE;

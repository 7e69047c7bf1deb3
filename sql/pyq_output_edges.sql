--
-- pyq_output_edges: relational output edge cases.  A script that returns
-- pd.DataFrame() (no rows, no columns: "nothing for this group") gives no
-- rows rather than 42804; the per-backend cache of column mappings keeps
-- no long labels (a frame with 10 MB column names would otherwise stay in
-- the backend's memory, 256 times over).
--
\set VERBOSITY default
\set SHOW_CONTEXT never
\i sql/include/expect_error.sql

CREATE ROLE regress_pyqedg_dev LOGIN IN ROLE oml_developer;
SET ROLE regress_pyqedg_dev;
SELECT oml.pyqScriptCreate('pyqedg_odd_empty', $$
def f(df):
    import pandas as pd
    i = int(df["i"].iloc[0])
    if i % 2:
        return pd.DataFrame()
    return pd.DataFrame({"Y": [float(-i)], "X": [-i]})
$$);
SELECT * FROM oml.pyqGroupEval('SELECT generate_series(1, 4) AS i',
	'{"oml_input_type": "pandas.DataFrame"}', NULL::record, 'i', NULL,
	'pyqedg_odd_empty') AS t(y float8, x int) ORDER BY x;
-- columns but no rows still go by the declared columns' rules
SELECT oml.pyqScriptCreate('pyqedg_no_rows', $$
def f():
    import pandas as pd
    return pd.DataFrame(columns=["p", "q", "r"])
$$);
SELECT * FROM pg_temp.expect_error($q$SELECT * FROM oml.pyqEval(NULL, NULL::record, 'pyqedg_no_rows') AS t(x int)$q$);

SELECT oml.pyqScriptCreate('pyqedg_long_labels', $$
def f():
    import pandas as pd
    return pd.DataFrame({("x" * 1000000) + str(i): [i] for i in range(3)})
$$);
SELECT oml.pyqScriptCreate('pyqedg_cached_chars', $$
def f():
    from oml_store import _runtime
    return sum(len(n) for labels, _ in _runtime._column_maps for n in labels)
$$);
SELECT * FROM oml.pyqEval(NULL, NULL::record, 'pyqedg_long_labels') AS t(a int, b int, c int);
SELECT * FROM oml.pyqEval(NULL, NULL::int8, 'pyqedg_cached_chars') AS t(chars) WHERE chars < 65536;
RESET ROLE;

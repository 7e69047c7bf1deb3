--
-- pyq_na_omit_infinite: oml_na_omit drops rows with an infinite date,
-- timestamp or timestamptz before chunking, as it drops NULL and NaN: the
-- script's input shows them as NaT (missing), so before they were dropped
-- only after chunks were cut, and a chunk held fewer than row_num rows.
--
\set VERBOSITY default
\set SHOW_CONTEXT never

CREATE ROLE regress_pyqn_dev LOGIN IN ROLE oml_developer;
SET ROLE regress_pyqn_dev;
SELECT oml.pyqScriptCreate('pyqn_ids', $$
def f(df):
    return list(df["i"])
$$);
-- each chunk holds row_num rows of the rows kept
SELECT name, value FROM oml.pyqRowEval(
	$q$SELECT i, CASE WHEN i IN (2, 5) THEN 'infinity' ELSE '2020-01-01' END::timestamp AS t
	   FROM generate_series(1, 7) i$q$,
	'{"oml_na_omit": true, "oml_input_type": "pandas.DataFrame"}', 'JSON', 2, 'pyqn_ids')
	ORDER BY name;
SELECT name, value FROM oml.pyqRowEval(
	$q$SELECT i, CASE WHEN i = 1 THEN '-infinity' ELSE '2020-01-01' END::timestamptz AS t
	   FROM generate_series(1, 5) i$q$,
	'{"oml_na_omit": true, "oml_input_type": "pandas.DataFrame"}', 'JSON', 2, 'pyqn_ids')
	ORDER BY name;
SELECT name, value FROM oml.pyqRowEval(
	$q$SELECT i, CASE WHEN i = 3 THEN 'infinity' ELSE '2020-01-01' END::date AS t
	   FROM generate_series(1, 5) i$q$,
	'{"oml_na_omit": true, "oml_input_type": "pandas.DataFrame"}', 'JSON', 2, 'pyqn_ids')
	ORDER BY name;
-- without oml_na_omit, every row (the infinite ones as NaT)
SELECT name, value FROM oml.pyqRowEval(
	$q$SELECT i, CASE WHEN i = 3 THEN 'infinity' ELSE '2020-01-01' END::date AS t
	   FROM generate_series(1, 5) i$q$,
	'{"oml_input_type": "pandas.DataFrame"}', 'JSON', 2, 'pyqn_ids')
	ORDER BY name;
RESET ROLE;

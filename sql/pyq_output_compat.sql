--
-- pyq_output_compat: OML4Py compatibility of output and controls (issue 8,
-- items 2, 3, 5, 6, 7): relational output mapped by column name,
-- oml_na_omit before chunking, the documented controls, well-formed XML
-- for any string, and XML output with images.
--
\set VERBOSITY default
\set SHOW_CONTEXT never
\i sql/include/expect_error.sql

CREATE ROLE regress_pyqo_dev LOGIN IN ROLE oml_developer;
CREATE SCHEMA regress_pyqo;
GRANT USAGE ON SCHEMA regress_pyqo TO regress_pyqo_dev;
CREATE TABLE regress_pyqo.grades (id int, name text, midterm float8, final float8,
	hw1 float8, hw2 float8, hw3 float8, quiz float8);
INSERT INTO regress_pyqo.grades VALUES
	(1, 'ann', 70, 80, 1, 2, 3, 4), (2, 'bob', 90, 85, 1, 2, 3, 4),
	(3, 'cat', 60, 75, 1, 2, 3, 4);
CREATE TABLE regress_pyqo.gaps (id int, g text, x float8, y numeric);
INSERT INTO regress_pyqo.gaps
	SELECT i, CASE WHEN i <= 6 THEN 'a' ELSE 'b' END,
		CASE WHEN i % 3 = 0 THEN NULL WHEN i = 4 THEN 'NaN'::float8 ELSE i END,
		CASE WHEN i = 5 THEN 'NaN'::numeric WHEN i = 8 THEN NULL ELSE i END
	FROM generate_series(1, 14) i;
GRANT SELECT ON ALL TABLES IN SCHEMA regress_pyqo TO regress_pyqo_dev;
SET ROLE regress_pyqo_dev;

SELECT oml.pyqScriptCreate('pyqo_ab', $$
def f():
    import pandas as pd
    return pd.DataFrame({"A": [1.0, 2.0], "B": [10.0, 20.0]})
$$);
SELECT oml.pyqScriptCreate('pyqo_echo', $$
def f(df):
    return df
$$);
SELECT oml.pyqScriptCreate('pyqo_grade_diff', $$
def computeGradeDiff(df):
    df["diff"] = df["final"] - df["midterm"]
    return df
$$);

-- 3. Relational output by name
-- declared in the other order: each column by its name, not swapped
SELECT * FROM oml.pyqEval(NULL, NULL::record, 'pyqo_ab') AS t("B" float8, "A" float8);
-- unquoted (folded to lower case): matched case-insensitively
SELECT * FROM oml.pyqEval(NULL, NULL::record, 'pyqo_ab') AS t(b float8, a float8);
-- a subset of the frame's columns, as Oracle's computeGradeDiff example
SELECT * FROM oml.pyqTableEval('regress_pyqo.grades', '{"oml_input_type": "pandas.DataFrame"}',
	NULL::record, 'pyqo_grade_diff') AS t(name text, diff float8) ORDER BY name;
-- a named row type picks its columns by name too
CREATE TYPE pg_temp.pyqo_row AS (diff float8, id int);
SELECT * FROM oml.pyqTableEval('regress_pyqo.grades', '{"oml_input_type": "pandas.DataFrame"}',
	NULL::pg_temp.pyqo_row, 'pyqo_grade_diff') ORDER BY id;
-- no declared name matches and the counts agree: by position
SELECT * FROM oml.pyqEval(NULL, NULL::record, 'pyqo_ab') AS t(x float8, y float8);
-- a partial match is an error naming the missing columns
SELECT * FROM pg_temp.expect_error($q$SELECT * FROM oml.pyqEval(NULL, NULL::record, 'pyqo_ab') AS t(a float8, c float8, d float8)$q$);
-- no match and different counts
SELECT * FROM pg_temp.expect_error($q$SELECT * FROM oml.pyqEval(NULL, NULL::record, 'pyqo_ab') AS t(x float8)$q$);
-- ambiguity: two columns that differ only in case, declared in a third case
SELECT oml.pyqScriptCreate('pyqo_twocase', $$
def f():
    import pandas as pd
    return pd.DataFrame([[1.0, 2.0]], columns=["Val", "VAL"])
$$);
SELECT * FROM pg_temp.expect_error($q$SELECT * FROM oml.pyqEval(NULL, NULL::record, 'pyqo_twocase') AS t(val float8)$q$);
-- ... but an exact match picks one of them
SELECT * FROM oml.pyqEval(NULL, NULL::record, 'pyqo_twocase') AS t("VAL" float8, "Val" float8);
-- labels of a script's own str class match as well (not cached per backend)
SELECT oml.pyqScriptCreate('pyqo_strsub', $$
def f():
    import pandas as pd
    class Label(str):
        def __hash__(self):
            return 1
    return pd.DataFrame([[1, 2]], columns=[Label("One"), Label("Two")])
$$);
SELECT * FROM oml.pyqEval(NULL, NULL::record, 'pyqo_strsub') AS t(two int, one int);
-- a dict of scalars has names (its keys); tuples and lists have none
SELECT oml.pyqScriptCreate('pyqo_dict', $$
def f():
    return {"first": 1, "second": "two"}
$$);
SELECT * FROM oml.pyqEval(NULL, NULL::record, 'pyqo_dict') AS t(second text, first int);
SELECT oml.pyqScriptCreate('pyqo_tuples', $$
def f():
    return [(1, "one"), (2, "two")]
$$);
SELECT * FROM oml.pyqEval(NULL, NULL::record, 'pyqo_tuples') AS t(second int, first text);
-- a structured array carries names; a plain one does not
SELECT oml.pyqScriptCreate('pyqo_arrays', $$
def f(named=True):
    import numpy as np
    if named:
        return np.array([(1.0, 2)], dtype=[("p", "f8"), ("q", "i8")])
    return np.array([[1.0, 2.0]])
$$);
SELECT * FROM oml.pyqEval(NULL, NULL::record, 'pyqo_arrays') AS t(q int, p float8);
SELECT * FROM oml.pyqEval('{"named": false}', NULL::record, 'pyqo_arrays') AS t(q float8, p float8);
-- a scalar output type: its one column goes by position
SELECT oml.pyqScriptCreate('pyqo_onecol', $$
def f():
    import pandas as pd
    return pd.DataFrame({"anything": [1.5]})
$$);
SELECT * FROM oml.pyqEval(NULL, NULL::float8, 'pyqo_onecol');
-- pyqRowEval and pyqGroupEval: by name as well
SELECT * FROM oml.pyqRowEval('SELECT id, x, y FROM regress_pyqo.gaps WHERE id <= 4',
	'{"oml_input_type": "pandas.DataFrame"}', NULL::record, 2, 'pyqo_echo')
	AS t(y float8, id int) ORDER BY id;
SELECT * FROM oml.pyqGroupEval('SELECT g, id FROM regress_pyqo.gaps WHERE id IN (1, 2, 7)',
	'{"oml_input_type": "pandas.DataFrame"}', NULL::record, 'g', NULL, 'pyqo_echo')
	AS t(id int, "G" text) ORDER BY id;
-- the mapping is worked out per column list: a later call whose frame
-- has other columns is checked again
SELECT oml.pyqScriptCreate('pyqo_shift', $$
def f(i):
    import pandas as pd
    if i == 1:
        return pd.DataFrame({"a": [1], "b": [2]})
    if i == 2:
        return pd.DataFrame({"b": [3], "a": [4]})
    return pd.DataFrame({"a": [5], "c": [6]})
$$);
SELECT * FROM oml.pyqIndexEval(NULL, NULL::record, 2, 'pyqo_shift') AS t(a int, b int);
SELECT * FROM pg_temp.expect_error($q$SELECT * FROM oml.pyqIndexEval(NULL, NULL::record, 3, 'pyqo_shift') AS t(a int, b int)$q$);

-- 7. oml_na_omit drops rows (NULL or NaN) before chunking: every chunk has
-- row_num rows but the last
SELECT oml.pyqScriptCreate('pyqo_chunk', $$
def f(df):
    import pandas as pd
    return pd.DataFrame({"n": [len(df)], "ids": [",".join(str(int(i)) for i in df["id"])]})
$$);
SELECT oml.pyqScriptCreate('pyqo_chunk_info', $$
def f(data):
    return {"type": type(data).__name__, "shape": list(data.shape)}
$$);
SELECT n, ids FROM oml.pyqRowEval('SELECT id, x, y FROM regress_pyqo.gaps ORDER BY id',
	'{"oml_na_omit": true, "oml_input_type": "pandas.DataFrame"}', NULL::record, 3, 'pyqo_chunk')
	AS t(n int, ids text);
SELECT name, value FROM oml.pyqRowEval('SELECT id, x, y FROM regress_pyqo.gaps ORDER BY id',
	'{"oml_na_omit": true}', 'JSON', 3, 'pyqo_chunk_info');
-- without it, NULLs stay
SELECT n, ids FROM oml.pyqRowEval('SELECT id, x, y FROM regress_pyqo.gaps ORDER BY id',
	'{"oml_input_type": "pandas.DataFrame"}', NULL::record, 5, 'pyqo_chunk')
	AS t(n int, ids text);
-- groups and the whole table: the same rows go
SELECT name, value FROM oml.pyqGroupEval('regress_pyqo.gaps',
	'{"oml_na_omit": true, "oml_input_type": "pandas.DataFrame"}', 'JSON', 'g', 'id', 'pyqo_chunk')
	ORDER BY name;
SELECT n, ids FROM oml.pyqTableEval('SELECT id, x FROM regress_pyqo.gaps ORDER BY id',
	'{"oml_na_omit": true, "oml_input_type": "pandas.DataFrame"}', NULL::record, 'pyqo_chunk')
	AS t(n int, ids text);

-- 2. Every control OML4Py documents for the SQL API is accepted
SELECT oml.pyqScriptCreate('pyqo_kw', $$
def f(**kw):
    return sorted(kw)
$$);
SELECT value FROM oml.pyqEval('{"oml_service_level": "MEDIUM", "k": 1}', 'JSON', 'pyqo_kw');
SELECT value FROM oml.pyqEval('{"oml_service_level": "low"}', 'JSON', 'pyqo_kw');
SELECT value FROM oml.pyqEval('{"oml_input_type": "default", "oml_na_omit": false,
	"oml_graphics_flag": false, "oml_parallel_flag": true, "oml_service_level": "HIGH",
	"oml_async_flag": false}', 'JSON', 'pyqo_kw');
-- the NOTICE comes once per statement
SELECT count(*) FROM generate_series(1, 3) g,
	LATERAL oml.pyqEval('{"oml_service_level": "MEDIUM", "g": ' || g || '}', 'JSON', 'pyqo_kw') e;
SELECT * FROM pg_temp.expect_error($q$SELECT * FROM oml.pyqEval('{"oml_service_level": "URGENT"}', 'JSON', 'pyqo_kw')$q$);
SELECT * FROM pg_temp.expect_error($q$SELECT * FROM oml.pyqEval('{"oml_service_level": 2}', 'JSON', 'pyqo_kw')$q$);
-- unknown oml_ keys stay refused; async submits a job (see jobs.sql)
SELECT * FROM pg_temp.expect_error($q$SELECT * FROM oml.pyqEval('{"oml_priority": "HIGH"}', 'JSON', 'pyqo_kw')$q$);
SELECT value::jsonb ? 'job_id' AS submitted FROM oml.pyqEval('{"oml_async_flag": true, "oml_service_level": "LOW"}', 'JSON', 'pyqo_kw');

-- 6. XML is well-formed for any Python string
SELECT oml.pyqScriptCreate('pyqo_chars', $$
def f(keys=False):
    s = "".join(chr(c) for c in list(range(0, 0x20)) + list(range(0x7F, 0xA0)))
    s += "\ud800|\udfff|\ufffe|\uffff|\ufffd|\U0001F600|<&>]]>"
    if keys:
        return {s: 1, "ok": s, "xmlns": 2, "a\u00b7b": 3, "\u2118": 4}
    return s
$$);
SELECT xml_is_well_formed_document(value) AS well_formed, value
	FROM oml.pyqEval(NULL, 'XML', 'pyqo_chars');
SELECT xml_is_well_formed_document(value) AS well_formed, value
	FROM oml.pyqEval('{"keys": true}', 'XML', 'pyqo_chars');
-- what the parser reads back: escapes as text; tab, CR and U+0085 kept
SELECT oml.pyqScriptCreate('pyqo_str', $$
def f(s):
    return s
$$);
SELECT value, (xpath('/root/text()', value::xml))[1]::text AS parsed
	FROM oml.pyqEval(E'{"s": "a\\u0001b\\tc\\rd\\u0085e"}', 'XML', 'pyqo_str');

-- 5. XML with images: oml_graphics_flag, or figures drawn with out_fmt XML
SELECT oml.pyqScriptCreate('pyqo_plot', $$
def f(n=1, draw=True):
    if draw:
        import matplotlib.pyplot as plt
        for i in range(n):
            plt.figure()
            plt.plot([1, 2, 3])
            plt.title("plot %d" % (i + 1))
    return {"n": n}
$$);
-- checked through xpath: the PNG bytes differ between matplotlib builds
SELECT xml_is_well_formed_document(value) AS well_formed,
	(xpath('/root/Py-data/n/text()', value::xml))[1]::text AS n,
	(xpath('count(/root/images/image)', value::xml))[1]::text AS images,
	(xpath('/root/images/image[2]/@title', value::xml))[1]::text AS title,
	(xpath('/root/images/image[1]/img/@src', value::xml))[1]::text AS src,
	substr(decode((xpath('string(/root/images/image[1]/img)', value::xml))[1]::text, 'base64'), 1, 4)
		= '\x89504e47'::bytea AS png
	FROM oml.pyqEval('{"n": 2, "oml_graphics_flag": true}', 'XML', 'pyqo_plot');
-- figures drawn without the flag are included too
SELECT (xpath('count(/root/images/image)', value::xml))[1]::text AS images
	FROM oml.pyqEval('{"n": 1}', 'XML', 'pyqo_plot');
-- the flag without figures: an empty <images/>
SELECT value FROM oml.pyqEval('{"draw": false, "oml_graphics_flag": true}', 'XML', 'pyqo_plot');
-- neither: as before
SELECT value FROM oml.pyqEval('{"draw": false}', 'XML', 'pyqo_plot');
-- per call of pyqIndexEval: each call's own figures
SELECT name, (xpath('count(/root/images/image)', value::xml))[1]::text AS images
	FROM oml.pyqIndexEval('{"oml_graphics_flag": true}', 'XML', 2, 'pyqo_plot') ORDER BY name;

RESET ROLE;
DROP SCHEMA regress_pyqo CASCADE;

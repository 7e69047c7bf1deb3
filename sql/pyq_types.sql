--
-- pyq_types: how column types reach Python (NULL as NaN, None or NaT) and
-- how Python values come back as each declared type (None, NaN and NaT as
-- NULL).
--
\set SHOW_CONTEXT never
\i sql/include/expect_error.sql
SET datestyle = 'ISO, YMD';
SET timezone = 'UTC';
SET extra_float_digits = 0;
SET intervalstyle = 'postgres';

CREATE ROLE regress_pyqt_dev LOGIN IN ROLE oml_developer;
CREATE SCHEMA regress_pyqt AUTHORIZATION regress_pyqt_dev;
SET ROLE regress_pyqt_dev;
SET search_path = regress_pyqt, public;

CREATE TABLE all_types (
	n int, i2 int2, i4 int4, i8 int8, f4 float4, f8 float8, nu numeric,
	tx text, vc varchar(10), b boolean, d date, ts timestamp, tz timestamptz);
INSERT INTO all_types VALUES
	(1, 1, 2, 3000000000, 1.5, 2.25, 3.125, 'héllo', 'v1', true,
	 '2024-02-29', '2024-02-29 12:34:56.789', '2024-02-29 12:34:56.789+02'),
	(2, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
	(3, -1, -32768, -9223372036854775807, -0.5, 1e300, -0.00001, '', 'x', false,
	 '1999-12-31', '1970-01-01 00:00:00.000001', '1969-12-31 23:59:59+00');

-- Each column as the script sees it: dtype and the repr of each value.
SELECT oml.pyqScriptCreate('types_in', $$
def f(df):
    return [[str(c), str(df[c].dtype), [repr(v) for v in df[c].tolist()]]
            for c in df.columns if c != "n"]
$$);
SELECT oml.pyqScriptCreate('echo', $$
def f(data):
    return data
$$);

--
-- Into Python
--
-- with NULLs: integers become float64 with NaN, text and boolean objects
-- with None, dates and timestamps datetime64 with NaT (timestamptz in UTC)
SELECT jsonb_pretty(value::jsonb)
  FROM oml.pyqTableEval('SELECT * FROM all_types ORDER BY n', '{"oml_input_type": "pandas.DataFrame"}', 'JSON', 'types_in');
-- without NULLs: integers stay int64, booleans bool
SELECT jsonb_pretty(value::jsonb)
  FROM oml.pyqTableEval('SELECT * FROM all_types WHERE n <> 2 ORDER BY n', '{"oml_input_type": "pandas.DataFrame"}', 'JSON', 'types_in');
-- the session time zone does not change what Python gets
SET timezone = 'America/New_York';
SELECT value
  FROM oml.pyqTableEval('SELECT n, ts, tz FROM all_types ORDER BY n', '{"oml_input_type": "pandas.DataFrame"}', 'JSON', 'types_in');
SET timezone = 'UTC';
-- default input type: all numeric columns give one float64 ndarray, NULL as NaN
SELECT oml.pyqScriptCreate('array_in', $$
def f(a):
    import numpy as np
    return {"dtype": str(a.dtype), "shape": list(a.shape),
            "nan": [[bool(np.isnan(v)) for v in row] for row in a],
            "rows": [[None if np.isnan(v) else float(v) for v in row] for row in a]}
$$);
SELECT value FROM oml.pyqTableEval('SELECT n, i2, i4, f4, f8, nu FROM all_types ORDER BY n', NULL, 'JSON', 'array_in');
-- a recarray keeps each column's type
SELECT oml.pyqScriptCreate('rec_in', $$
def f(r):
    return [[name, str(r.dtype[name])] for name in r.dtype.names]
$$);
SELECT value FROM oml.pyqTableEval('SELECT * FROM all_types ORDER BY n', '{"oml_input_type": "numpy.recarray"}', 'JSON', 'rec_in');
-- oml_na_omit drops every row with a NULL in any column
SELECT value FROM oml.pyqTableEval('SELECT n, tx, d FROM all_types ORDER BY n',
								   '{"oml_input_type": "pandas.DataFrame", "oml_na_omit": true}', 'JSON', 'echo');
-- numeric becomes float64: what does not fit a double is rounded
SELECT value FROM oml.pyqTableEval($$SELECT 0.1::numeric AS a, 12345678901234567890.5::numeric AS b, 1e-20::numeric AS c$$,
								   '{"oml_input_type": "pandas.DataFrame"}', 'JSON', 'types_in');
-- special float values
SELECT value FROM oml.pyqTableEval($$SELECT 'Infinity'::float8 AS a, '-Infinity'::float4 AS b, 'Infinity'::numeric AS c$$,
								   '{"oml_input_type": "pandas.DataFrame"}', 'JSON', 'types_in');
-- other types arrive as Python objects (text output for those without a
-- natural Python form)
SELECT value FROM oml.pyqTableEval(
	$$SELECT 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid AS u, '1 day 02:00'::interval AS iv,
			 ARRAY[1, 2] AS arr, '{"k": [1, 2]}'::jsonb AS js, '\x00ff'::bytea AS by,
			 'ab'::char(3) AS ch, 'nm'::name AS nm$$,
	'{"oml_input_type": "pandas.DataFrame"}', 'JSON', 'types_in');

--
-- Out of Python: each declared type, with None, NaN and NaT as NULL
--
SELECT oml.pyqScriptCreate('values_out', $$
def f():
    import datetime as dt
    import numpy as np
    import pandas as pd
    return [
        (1, 1, 2, 3, 1.5, 2.5, 3.5, "a", "b", True,
         dt.date(2024, 1, 2), dt.datetime(2024, 1, 2, 3, 4, 5, 600000),
         dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=dt.timezone.utc)),
        (2, None, None, None, None, None, None, None, None, None, None, None, None),
        (3, np.int16(-7), np.int32(8), np.int64(-9000000000), np.float32(0.25), np.nan, float("nan"),
         np.str_("ü"), "", np.bool_(False),
         np.datetime64("2024-03-04"), pd.Timestamp("2024-03-04 05:06:07.000008"),
         pd.Timestamp("2024-03-04 05:06:07", tz="Europe/Paris")),
        (4, 5, 6, 7, 8, np.float64(1e-3), "1.25", 42, "vc", 1,
         "2024-05-06", "2024-05-06T07:08:09", "2024-05-06 07:08:09-05"),
        (5, None, None, None, float("inf"), float("-inf"), float("inf"), None, None, 0,
         pd.Timestamp("2024-07-08"), dt.datetime(1969, 12, 31, 23, 59, 59), dt.datetime(2000, 1, 1)),
    ]
$$);
SELECT * FROM oml.pyqEval(NULL, NULL::all_types, 'values_out');
SELECT * FROM oml.pyqEval(NULL, NULL::record, 'values_out')
	AS t(n int, a text, b text, c text, d text, e text, f text, g text, h text, i text, j text, k text, l text);
-- a naive datetime is a time in the session's time zone, an aware one is exact
SET timezone = 'Asia/Tokyo';
SELECT n, tz FROM oml.pyqEval(NULL, NULL::all_types, 'values_out');
SET timezone = 'UTC';
-- a DataFrame: NaN, None and NaT in any column become NULL
SELECT oml.pyqScriptCreate('frame_out', $$
def f():
    import numpy as np
    import pandas as pd
    return pd.DataFrame({
        "i": [1, 2, 3],
        "f": [1.5, np.nan, None],
        "s": ["x", None, np.nan],
        "b": [True, None, False],
        "d": pd.to_datetime(["2024-01-01", None, "2024-01-03"]),
        "tz": pd.to_datetime(["2024-01-01 10:00", None, "2024-01-03 12:00"]).tz_localize("UTC"),
    })
$$);
SELECT * FROM oml.pyqEval(NULL, NULL::record, 'frame_out')
	AS t(i int, f float8, s text, b boolean, d date, tz timestamptz);
SELECT * FROM oml.pyqEval(NULL, NULL::record, 'frame_out')
	AS t(i int8, f numeric, s varchar, b text, d timestamp, tz text);
SELECT * FROM oml.pyqEval(NULL, NULL::record, 'frame_out')
	AS t(i numeric, f float4, s text, b boolean, d timestamptz, tz timestamp);
-- bytes as bytea
SELECT oml.pyqScriptCreate('bytes_out', $$
def f():
    return [(b"\x00\x01\xff", bytearray(b"ab")), (None, memoryview(b"z"))]
$$);
SELECT * FROM oml.pyqEval(NULL, NULL::record, 'bytes_out') AS t(a bytea, b bytea);
-- other types through their input functions
SELECT oml.pyqScriptCreate('other_out', $$
def f():
    return [("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", "1 day 02:00", "{1,2}", '{"k": 1}', "10.0.0.1")]
$$);
SELECT * FROM oml.pyqEval(NULL, NULL::record, 'other_out') AS t(u uuid, iv interval, arr int[], js jsonb, ip inet);

--
-- Round trips: a table through a script that returns its input
--
-- every column but the integer ones (which come back as floats when they hold NULLs)
SELECT * FROM oml.pyqTableEval('SELECT n, f4, f8, nu, tx, vc, b, d, ts, tz FROM all_types ORDER BY n',
							   '{"oml_input_type": "pandas.DataFrame"}', NULL::record, 'echo')
	AS t(n int, f4 float4, f8 float8, nu numeric, tx text, vc varchar(10), b boolean, d date, ts timestamp, tz timestamptz);
SELECT count(*) AS differences FROM (
	(SELECT n, f4, f8, nu, tx, vc, b, d, ts, tz FROM all_types
	 EXCEPT
	 SELECT * FROM oml.pyqTableEval('SELECT n, f4, f8, nu, tx, vc, b, d, ts, tz FROM all_types', '{"oml_input_type": "pandas.DataFrame"}', NULL::record, 'echo')
		AS t(n int, f4 float4, f8 float8, nu numeric, tx text, vc varchar(10), b boolean, d date, ts timestamp, tz timestamptz)
	) UNION ALL (
	 SELECT * FROM oml.pyqTableEval('SELECT n, f4, f8, nu, tx, vc, b, d, ts, tz FROM all_types', '{"oml_input_type": "numpy.recarray"}', NULL::record, 'echo')
		AS t(n int, f4 float4, f8 float8, nu numeric, tx text, vc varchar(10), b boolean, d date, ts timestamp, tz timestamptz)
	 EXCEPT
	 SELECT n, f4, f8, nu, tx, vc, b, d, ts, tz FROM all_types)
) q;
-- integers without NULLs keep their type
SELECT * FROM oml.pyqTableEval('SELECT n, i2, i4, i8 FROM all_types WHERE n <> 2 ORDER BY n',
							   '{"oml_input_type": "pandas.DataFrame"}', NULL::record, 'echo')
	AS t(n int, i2 int2, i4 int4, i8 int8);

--
-- Conversion errors
--
SELECT * FROM pg_temp.expect_error($q$SELECT * FROM oml.pyqEval(NULL, NULL::record, 'other_out') AS t(u int, iv interval, arr int[], js jsonb, ip inet)$q$);
SELECT oml.pyqScriptCreate('big', $$
def f(v):
    return [(v,)]
$$);
SELECT * FROM pg_temp.expect_error($q$SELECT * FROM oml.pyqEval('{"v": 40000}', NULL::int2, 'big')$q$);
SELECT * FROM pg_temp.expect_error($q$SELECT * FROM oml.pyqEval('{"v": 3000000000}', NULL::int4, 'big')$q$);
SELECT * FROM pg_temp.expect_error($q$SELECT * FROM oml.pyqEval('{"v": 100000000000000000000}', NULL::int8, 'big')$q$);
SELECT * FROM pg_temp.expect_error($q$SELECT * FROM oml.pyqEval('{"v": "toolongvalue"}', NULL::record, 'big') AS t(v varchar(3))$q$);
SELECT * FROM pg_temp.expect_error($q$SELECT * FROM oml.pyqEval('{"v": "2024-13-01"}', NULL::date, 'big')$q$);
SELECT * FROM pg_temp.expect_error($q$SELECT * FROM oml.pyqEval('{"v": "maybe"}', NULL::boolean, 'big')$q$);
SELECT * FROM oml.pyqEval('{"v": 100000000000000000000}', NULL::numeric, 'big');
SELECT * FROM oml.pyqEval('{"v": 100000000000000000000}', NULL::float8, 'big');

--
-- Clean up
--
RESET search_path;
RESET ROLE;
SET ROLE regress_pyqt_dev;
SELECT oml.pyqScriptDrop(name) FROM oml.user_pyq_scripts;
RESET ROLE;
DROP SCHEMA regress_pyqt CASCADE;
DROP ROLE regress_pyqt_dev;

--
-- clear_errors: every error a user can cause is a clear error (issue 7,
-- items 9 and 10): SQLSTATEs that scripts raise are validated, par_lst and
-- script source are bounded, values over 1 GB give 54000, names may not
-- hold invisible characters, text is an output type, JSON output is valid
-- JSON, float4 overflow is an error, and SQL run from scripts rewrites
-- placeholders only when given parameters.  After each kind of error the
-- session still works and nothing was stored.
--
\set VERBOSITY default
\set SHOW_CONTEXT never
\i sql/include/expect_error.sql

CREATE ROLE regress_clerr_dev LOGIN IN ROLE oml_developer;
CREATE SCHEMA regress_clerr AUTHORIZATION regress_clerr_dev;
SET ROLE regress_clerr_dev;
SET search_path = regress_clerr, public;

SELECT oml.pyqScriptCreate('ok', $$
def f(x=None):
    return "fine"
$$);

--
-- SQLSTATEs raised by scripts: only error classes pass; success (00),
-- warning (01), no data (02), operator intervention (57) and malformed
-- codes give 38000 with the refused code in the detail.
--
SELECT oml.pyqScriptCreate('raise_code', $$
def f(code, as_int=False):
    class Failed(Exception):
        pass
    e = Failed("it failed")
    e.sqlstate = int(code) if as_int else code
    raise e
$$);
SELECT c AS code, e AS error
  FROM unnest(ARRAY['00000', '01000', '02000', '57P01', '57014', 'ab123',
                    '2201', '220123', '22 12', '22012', 'P0001', '40001',
                    'XX000']) c,
       pg_temp.expect_error(format('SELECT * FROM oml.pyqEval(%L, %L, %L)',
                                   json_build_object('code', c), 'JSON',
                                   'raise_code')) e;
-- Not a str: refused too
SELECT * FROM pg_temp.expect_error($$SELECT * FROM oml.pyqEval('{"code": "22012", "as_int": true}', 'JSON', 'raise_code')$$);
SELECT oml.pyqScriptCreate('raise_sub', $$
def f():
    class Code(str):
        pass
    e = ValueError("x")
    e.sqlstate = Code("22012")
    raise e
$$);
SELECT * FROM pg_temp.expect_error($$SELECT * FROM oml.pyqEval(NULL, 'JSON', 'raise_sub')$$);
-- A property that raises is no escape either
SELECT oml.pyqScriptCreate('raise_prop', $$
def f():
    class Sly(Exception):
        @property
        def sqlstate(self):
            raise RuntimeError("no")
    raise Sly("sly")
$$);
SELECT * FROM pg_temp.expect_error($$SELECT * FROM oml.pyqEval(NULL, 'JSON', 'raise_prop')$$);
-- Long messages are cut (8192 characters, then a count of the rest)
SELECT oml.pyqScriptCreate('raise_long', $$
def f():
    raise ValueError("x" * 1000000)
$$);
SELECT length(e), right(e, 30) FROM pg_temp.expect_error($$SELECT * FROM oml.pyqEval(NULL, 'JSON', 'raise_long')$$) e
 WHERE e NOT LIKE 'DETAIL:%';
-- A MemoryError is out of memory (53200)
SELECT oml.pyqScriptCreate('raise_mem', $$
def f():
    raise MemoryError("could not allocate")
$$);
SELECT * FROM pg_temp.expect_error($$SELECT * FROM oml.pyqEval(NULL, 'JSON', 'raise_mem')$$);
-- An SQL error inside the script keeps its code
SELECT oml.pyqScriptCreate('raise_sql', $$
def f():
    import oml
    oml.sql("SELECT 1 / 0")
$$);
SELECT * FROM pg_temp.expect_error($$SELECT * FROM oml.pyqEval(NULL, 'JSON', 'raise_sql')$$);
SELECT value FROM oml.pyqEval(NULL, 'JSON', 'ok');

--
-- par_lst: at most 64 levels of arrays and objects (54001) and 16 MB
-- (54000), checked before Python parses it; bad JSON is 22P02.
--
SELECT * FROM pg_temp.expect_error($$SELECT * FROM oml.pyqEval(repeat('[', 100000), 'JSON', 'ok')$$);
SELECT * FROM pg_temp.expect_error($$SELECT * FROM oml.pyqEval('{"x": ' || repeat('[', 64) || repeat(']', 64) || '}', 'JSON', 'ok')$$);
SELECT value FROM oml.pyqEval('{"x": ' || repeat('[', 63) || repeat(']', 63) || '}', 'JSON', 'ok');
SELECT * FROM pg_temp.expect_error($$SELECT * FROM oml.pyqEval('{"x": ' || repeat('{"a": ', 64) || '1' || repeat('}', 64) || '}', 'JSON', 'ok')$$);
-- brackets inside strings (escaped quotes too) do not count
SELECT value FROM oml.pyqEval('{"x": "\"' || repeat('[', 1000) || '"}', 'JSON', 'ok');
SELECT * FROM pg_temp.expect_error($$SELECT * FROM oml.pyqEval('{"x": "' || repeat('a', 16 * 1024 * 1024) || '"}', 'JSON', 'ok')$$);
SELECT * FROM pg_temp.expect_error($$SELECT * FROM oml.pyqEval('{"x": [1, 2', 'JSON', 'ok')$$);
SELECT * FROM pg_temp.expect_error($$SELECT * FROM oml.pyqIndexEval(repeat('{"a":', 70), 'JSON', 2, 'ok')$$);
SELECT value FROM oml.pyqEval('{"x": 1}', 'JSON', 'ok');

--
-- Script source nested too deeply: 42P13, not a RecursionError or
-- MemoryError, and nothing stored.
--
SELECT * FROM pg_temp.expect_error($$SELECT oml.pyqScriptCreate('deep_brackets', E'def f():\n    return ' || repeat('[', 100000) || repeat(']', 100000))$$);
SELECT * FROM pg_temp.expect_error($$SELECT oml.pyqScriptCreate('deep_unary', E'def f():\n    return ' || repeat('-', 100000) || '1')$$);
SELECT * FROM pg_temp.expect_error($$SELECT oml.pyqScriptCreate('deep_sum', E'def f(x):\n    return ' || repeat('x + ', 2000) || 'x')$$);
SELECT * FROM pg_temp.expect_error($$SELECT oml.pyqScriptCreate('deep_attr', E'def f(x):\n    return x' || repeat('.a', 100000))$$);
SELECT * FROM pg_temp.expect_error($$SELECT oml.pyqScriptCreate('deep_lambda', E'def f(x):\n    return ' || repeat('lambda: ', 100000) || 'x')$$);
SELECT * FROM pg_temp.expect_error($$SELECT oml.pyqScriptCreate('deep_indent',
    E'def f(x):\n' || (SELECT string_agg(repeat(' ', i) || E'if x:\n', '') FROM generate_series(1, 150) i) || repeat(' ', 151) || 'pass')$$);
SELECT name FROM oml.user_pyq_scripts WHERE name LIKE 'deep%';
SELECT value FROM oml.pyqEval(NULL, 'JSON', 'ok');

--
-- Names: control characters (C0, DEL, C1), bidirectional formatting,
-- zero-width and other invisible characters are refused with 22023, for
-- datastores, objects and scripts alike; nothing is created.
--
SELECT to_hex(cp) AS code_point, e AS error
  FROM unnest(ARRAY[x'09', x'7f', x'80', x'85', x'9f', x'a0', x'ad', x'61c',
                    x'200b', x'200c', x'200d', x'200e', x'200f', x'2028',
                    x'202a', x'202e', x'2060', x'2066', x'2069', x'3000',
                    x'fe0f', x'feff', x'e0041']::int[]) cp,
       pg_temp.expect_error(format('SELECT oml.pyqScriptCreate(%L, %L)',
                                   'a' || chr(cp) || 'b', 'def f(): pass')) e
 WHERE e NOT LIKE 'HINT:%';
SELECT * FROM pg_temp.expect_error($$SELECT oml.ds_save_begin(E'evil\u202Etxt.exe')$$);
SELECT * FROM pg_temp.expect_error($$SELECT oml.ds_save_begin(E'zero\u200Bwidth')$$);
BEGIN;
SELECT oml.ds_save_begin('plain') AS ds_id \gset
SELECT * FROM pg_temp.expect_error(format('SELECT oml.ds_put_object(%s, %L, %L)', :ds_id, E'obj\u2066x', 'builtins.int'));
ROLLBACK;
SELECT * FROM pg_temp.expect_error($$SELECT * FROM oml.pyqEval(NULL, 'JSON', E'ok\u200B')$$);
SELECT count(*) AS scripts FROM oml.user_pyq_scripts WHERE name LIKE 'a%b';
SELECT count(*) AS datastores FROM oml.user_pyq_datastores;
-- Letters, accents, symbols and the plain space are fine
SELECT oml.pyqScriptCreate(E'caf\u00e9 \u2603 \u6570\u636e', 'def f(): return 1');
SELECT value FROM oml.pyqEval(NULL, 'JSON', E'caf\u00e9 \u2603 \u6570\u636e');
SELECT oml.pyqScriptDrop(E'caf\u00e9 \u2603 \u6570\u636e');
-- Objects named so before these rules (0.1.0) can still be dropped
RESET ROLE;
INSERT INTO oml.script (id, owner, name, source)
  VALUES (nextval('oml.script_id_seq'), 'regress_clerr_dev', E'old\u202Ename', 'def f(): pass');
INSERT INTO oml.datastore (id, owner, name)
  VALUES (nextval('oml.datastore_id_seq'), 'regress_clerr_dev', E'old\u200Bds');
SET ROLE regress_clerr_dev;
SELECT * FROM pg_temp.expect_error($$SELECT * FROM oml.pyqEval(NULL, 'JSON', E'old\u202Ename')$$);
SELECT * FROM pg_temp.expect_error($$SELECT oml.pyqGrant(E'old\u202Ename', 'pyqscript', NULL)$$);
SELECT oml.pyqRevoke(E'old\u202Ename', 'pyqscript', NULL);
SELECT oml.pyqScriptDrop(E'old\u202Ename');
SELECT oml.ds_delete(E'old\u200Bds');
SELECT * FROM pg_temp.expect_error($$SELECT oml.pyqScriptDrop(E'old\tname')$$);

--
-- Text output: NULL::text (and NULL::varchar) pick the overloads that
-- return name, id, value, title, image; each result value comes as text in
-- value, one row per value, as a one-column relational output.
--
SELECT * FROM oml.pyqEval('{}', NULL::text, 'ok');
SELECT * FROM oml.pyqEval('{}', NULL::varchar, 'ok');
SELECT oml.pyqScriptCreate('values', $$
def f(kind="list"):
    import numpy as np
    import pandas as pd
    if kind == "list":
        return ["a", None, 3, 2.5, True, float("nan")]
    if kind == "frame":
        return pd.DataFrame({"v": [1.5, np.nan, 3.0]})
    if kind == "ints":
        return pd.DataFrame({"v": [1, 2]})
    if kind == "none":
        return None
    return {"a": 1, "b": 2}
$$);
SELECT name, id, value, title, image FROM oml.pyqEval(NULL, NULL::text, 'values');
SELECT value FROM oml.pyqEval('{"kind": "frame"}', NULL::text, 'values');
SELECT value FROM oml.pyqEval('{"kind": "ints"}', NULL::text, 'values');
SELECT count(*) FROM oml.pyqEval('{"kind": "none"}', NULL::text, 'values');
SELECT name, value FROM oml.pyqIndexEval(NULL, NULL::text, 2, 'ok');
SELECT name, value FROM oml.pyqTableEval('SELECT 1 AS a', NULL, NULL::text, 'ok');
SELECT * FROM pg_temp.expect_error($$SELECT * FROM oml.pyqEval('{"kind": "dict"}', NULL::text, 'values')$$);
SELECT * FROM pg_temp.expect_error($$SELECT * FROM oml.pyqEval(NULL, 'TEXT', 'ok')$$);

--
-- JSON output is valid JSON: NaN and infinities become null everywhere
-- (plain values, nested containers, numpy values, DataFrames, json
-- columns of relational output).
--
SELECT oml.pyqScriptCreate('nonfinite', $$
def f(kind):
    import numpy as np
    import pandas as pd
    nan, inf = float("nan"), float("inf")
    if kind == "scalar":
        return nan
    if kind == "inf":
        return -inf
    if kind == "nested":
        return {"a": [1.5, nan, {"b": inf}], "c": (nan,), inf: "key", "d": "NaN"}
    if kind == "numpy":
        return {"a": np.array([1.0, np.nan, np.inf]), "b": np.float32("nan"),
                "c": np.float64(2.5)}
    if kind == "array":
        return np.array([[np.nan, 1.0], [np.inf, -np.inf]])
    if kind == "frame":
        return pd.DataFrame({"x": [1.0, np.nan, np.inf], "y": ["a", None, "c"]})
    if kind == "series":
        return pd.Series([np.inf, 2.0])
    if kind == "row":
        return [({"a": nan, "b": [inf, 1]}, [np.float64("nan")])]
$$);
SELECT k AS kind, value, value::json IS NOT NULL AS valid
  FROM unnest(ARRAY['scalar', 'inf', 'nested', 'numpy', 'array', 'frame', 'series']) k,
       oml.pyqEval(json_build_object('kind', k)::text, 'JSON', 'nonfinite');
SELECT value, value::jsonb FROM oml.pyqEval('{"kind": "nested", "oml_graphics_flag": true}', 'JSON', 'nonfinite');
SELECT value::jsonb FROM oml.pyqEval('{"kind": "nested"}', 'PNG', 'nonfinite');
SELECT * FROM oml.pyqEval('{"kind": "row"}', NULL::record, 'nonfinite') AS t(j jsonb, k json);
SELECT oml.pyqScriptCreate('deep_result', $$
def f():
    v = []
    for _ in range(100000):
        v = [v]
    return v
$$);
SELECT * FROM pg_temp.expect_error($$SELECT * FROM oml.pyqEval(NULL, 'JSON', 'deep_result')$$);
SELECT * FROM pg_temp.expect_error($$SELECT * FROM oml.pyqEval(NULL, 'XML', 'deep_result')$$);
SELECT * FROM pg_temp.expect_error($$SELECT * FROM oml.pyqEval(NULL, 'PICKLE', 'deep_result')$$);
SELECT value FROM oml.pyqEval(NULL, 'JSON', 'ok');

--
-- float4: a finite value out of its range is an error (22003), as
-- float8::float4 is; infinities and NaN (NULL) stay what they are.
--
SELECT oml.pyqScriptCreate('num', $$
def f(v, frame=False):
    import pandas as pd
    v = float(v)
    return pd.DataFrame({"v": [v]}) if frame else v
$$);
SELECT * FROM pg_temp.expect_error($$SELECT * FROM oml.pyqEval('{"v": 1e300}', NULL::float4, 'num')$$);
SELECT * FROM pg_temp.expect_error($$SELECT * FROM oml.pyqEval('{"v": -1e39}', NULL::float4, 'num')$$);
SELECT * FROM pg_temp.expect_error($$SELECT * FROM oml.pyqEval('{"v": 1e-300}', NULL::float4, 'num')$$);
SELECT * FROM pg_temp.expect_error($$SELECT * FROM oml.pyqEval('{"v": 1e300, "frame": true}', NULL::record, 'num') AS t(v real)$$);
SELECT * FROM oml.pyqEval('{"v": "inf"}', NULL::float4, 'num');
SELECT * FROM oml.pyqEval('{"v": "-inf", "frame": true}', NULL::record, 'num') AS t(v real);
SELECT * FROM oml.pyqEval('{"v": "nan"}', NULL::float4, 'num');
SELECT * FROM oml.pyqEval('{"v": 3.4e38}', NULL::float4, 'num');
SELECT * FROM oml.pyqEval('{"v": 1e300}', NULL::float8, 'num');

--
-- A value over 1 GB: 54000 naming the limit, not XX000 (one such test:
-- it allocates 1.1 GB for a moment).
--
SELECT oml.pyqScriptCreate('huge', $$
def f(n):
    return "x" * n
$$);
SELECT * FROM pg_temp.expect_error($$SELECT length(v) FROM oml.pyqEval('{"n": 1100000000}', NULL::record, 'huge') AS t(v text)$$);
SELECT length(v) FROM oml.pyqEval('{"n": 1000}', NULL::record, 'huge') AS t(v text);

--
-- SQL from scripts: %s and %% are placeholders only when parameters are
-- given (as psycopg2 does), so literals stay as written otherwise; the
-- rewritten statements are cached in a bounded LRU.
--
SELECT oml.pyqScriptCreate('percent', $$
def f():
    import oml
    from oml_store import _spi
    a = oml.sql("SELECT '%s' AS a, '100%%' AS b")
    b = oml.sql("SELECT %s::int AS a, '100%%' AS b", [5])
    for i in range(600):
        oml.sql("SELECT %s::int + " + str(i) + " AS a", [i])
    info = _spi._cached_to_dollar.cache_info()
    return [list(a.iloc[0]), [int(b.iloc[0, 0]), b.iloc[0, 1]],
            info.currsize <= _spi._CACHE_SIZE, info.maxsize]
$$);
SELECT value FROM oml.pyqEval(NULL, 'JSON', 'percent');

--
-- Clean up
--
RESET search_path;
SELECT oml.pyqScriptDrop(name) FROM oml.user_pyq_scripts;
RESET ROLE;
DROP SCHEMA regress_clerr CASCADE;
DROP ROLE regress_clerr_dev;

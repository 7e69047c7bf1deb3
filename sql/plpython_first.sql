--
-- plpython_first: PL/Python starts Python in this session, then oml_store
-- uses the same interpreter; both keep working, calling each other.
-- (plpython_after.sql does it the other way round.)
--
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS plpython3u;
RESET client_min_messages;

CREATE ROLE regress_plpy1_dev LOGIN IN ROLE oml_developer;

CREATE FUNCTION pg_temp.plpy_state() RETURNS text LANGUAGE plpython3u AS $$
import sys
return "python %d, oml runtime loaded: %s" % (sys.version_info[0],
                                             "oml_store._runtime" in sys.modules)
$$;
CREATE FUNCTION pg_temp.plpy_query(n int) RETURNS int LANGUAGE plpython3u AS $$
rows = plpy.execute("SELECT sum(g)::int AS s FROM generate_series(1, %d) g" % n)
GD["calls"] = GD.get("calls", 0) + 1
return rows[0]["s"]
$$;
CREATE FUNCTION pg_temp.plpy_calls() RETURNS int LANGUAGE plpython3u AS $$
return GD.get("calls", 0)
$$;
CREATE FUNCTION pg_temp.plpy_calls_oml(par text) RETURNS text LANGUAGE plpython3u AS $$
plan = plpy.prepare("SELECT value FROM oml.pyqEval($1, 'JSON', 'regress_plpy1_sq')", ["text"])
return plpy.execute(plan, [par])[0]["value"]
$$;
CREATE FUNCTION pg_temp.plpy_fails() RETURNS int LANGUAGE plpython3u AS $$
try:
    plpy.execute("SELECT * FROM regress_plpy1_no_such_table")
except plpy.SPIError as e:
    plpy.notice("plpython caught %s" % e.sqlstate)
with plpy.subtransaction():
    plpy.execute("SELECT 1")
raise ValueError("plpython failure")
$$;

-- PL/Python first
SELECT pg_temp.plpy_state();
SELECT pg_temp.plpy_query(10);
DO LANGUAGE plpython3u $$ plpy.notice("inline block, %d" % plpy.execute("SELECT 6 * 7 AS v")[0]["v"]) $$;

-- then oml_store
SET ROLE regress_plpy1_dev;
SELECT oml.pyqScriptCreate('regress_plpy1_sq', $$
def f(n=2):
    return {"n": n, "square": n * n}
$$, v_global => true);
SELECT oml.pyqScriptCreate('regress_plpy1_calls_pl', $$
def f(n=4):
    import _oml
    cols, rows = _oml.execute("SELECT pg_temp.plpy_query($1::int) AS s", [n])
    return {"from plpython": rows[0][0]}
$$, v_global => true);
SELECT oml.pyqScriptCreate('regress_plpy1_sum', $$
def f(a):
    return float(a.sum())
$$, v_global => true);
SELECT oml.pyqScriptCreate('regress_plpy1_fails', $$
def f():
    raise RuntimeError("oml failure")
$$, v_global => true);
RESET ROLE;
SELECT value FROM oml.pyqEval('{"n": 3}', 'JSON', 'regress_plpy1_sq');
SELECT * FROM oml.pyqTableEval('SELECT g AS x FROM generate_series(1, 4) g', NULL, NULL::float8, 'regress_plpy1_sum');

-- one interpreter: PL/Python sees oml_store's runtime
SELECT pg_temp.plpy_state();
SELECT pg_temp.plpy_query(100);
SELECT pg_temp.plpy_calls();

-- each calling the other
SELECT pg_temp.plpy_calls_oml('{"n": 5}');
SELECT value FROM oml.pyqEval('{"n": 4}', 'JSON', 'regress_plpy1_calls_pl');
SELECT pg_temp.plpy_calls();

-- an error in one leaves the other working
SELECT pg_temp.plpy_fails();
SELECT value FROM oml.pyqEval('{"n": 6}', 'JSON', 'regress_plpy1_sq');
SELECT * FROM oml.pyqEval(NULL, 'JSON', 'regress_plpy1_fails');
SELECT pg_temp.plpy_query(3);
SELECT pg_temp.plpy_calls_oml('{"n": 7}');

-- clean up
SET ROLE regress_plpy1_dev;
SELECT oml.pyqScriptDrop(name, v_global => true)
  FROM oml.script_dir('^regress_plpy1_', true, 'global');
RESET ROLE;
DROP ROLE regress_plpy1_dev;
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS plpython3u CASCADE;
RESET client_min_messages;

--
-- pyq_runs: the record of every run.  Per-script statistics
-- (oml.pyq_stat_scripts, oml.pyq_stat_reset, oml_store.track) and the run
-- log (oml_store.log_runs, oml.pyq_runs), for all five pyq* functions,
-- their errors, cancels and rolled-back statements; who sees and resets
-- what; who may switch them off; pruning by age.  Needs the library in
-- shared_preload_libraries (as make test runs it).
--
\set VERBOSITY default
\i sql/include/expect_error.sql

-- Waits (up to 15 s) until oml.pyq_runs holds n rows of role who: the
-- log's writer is a background worker.
CREATE FUNCTION pg_temp.wait_runs(n int, who text) RETURNS boolean
LANGUAGE plpgsql AS $$
BEGIN
	FOR i IN 1..300 LOOP
		IF (SELECT count(*) FROM oml.pyq_runs WHERE role_name = who) >= n THEN
			RETURN true;
		END IF;
		PERFORM pg_sleep(0.05);
	END LOOP;
	RETURN false;
END
$$;

SELECT oml.pyq_stat_reset() >= 0 AS reset;
TRUNCATE oml.pyq_runs;
CREATE ROLE regress_runs_dev LOGIN IN ROLE oml_developer;
CREATE ROLE regress_runs_other LOGIN;
CREATE SCHEMA regress_runs AUTHORIZATION regress_runs_dev;
GRANT USAGE ON SCHEMA regress_runs TO regress_runs_other;
SET ROLE regress_runs_dev;
SET search_path = regress_runs, public;
CREATE TABLE t (id int, grp text, val float8);
INSERT INTO t SELECT i, CASE WHEN i % 2 = 0 THEN 'even' ELSE 'odd' END, i
  FROM generate_series(1, 6) i;
GRANT SELECT ON t TO regress_runs_other;

SELECT oml.pyqScriptCreate(s, $$
def f(data=None, x=0):
    return x + 1 if data is None else len(data)
$$) FROM unnest(ARRAY['runs_eval', 'runs_table', 'runs_row', 'runs_group']) s;
SELECT oml.pyqScriptCreate('runs_index', $$
def f(i):
    return i
$$);
SELECT oml.pyqScriptCreate('runs_fail', $$
def f(data=None):
    raise ValueError("no luck")
$$);
SELECT oml.pyqScriptCreate('runs_sleep', $$
def f(data=None):
    import time
    time.sleep(5)
$$);
SELECT oml.pyqScriptCreate('runs_global', $$
def f(i=None):
    return 1
$$, v_global => true);

--
-- Statistics: calls, rows in and out of each of the five functions
--
SELECT count(*) FROM generate_series(1, 3) g,
  LATERAL oml.pyqEval('{"x": ' || g || '}', 'JSON', 'runs_eval') e;
SELECT * FROM oml.pyqTableEval('t', NULL, 'JSON', 'runs_table');
SELECT name, value FROM oml.pyqRowEval('t', NULL, 'JSON', 4, 'runs_row');
SELECT name, value FROM oml.pyqGroupEval('t', NULL, 'JSON', 'grp', NULL, 'runs_group') ORDER BY name;
SELECT count(*) FROM oml.pyqIndexEval(NULL, 'JSON', 5, 'runs_index');
SELECT count(*) FROM oml.pyqEval(NULL, 'JSON', 'runs_global');
-- errors are counted too: a Python exception, ...
SELECT * FROM pg_temp.expect_error($$SELECT * FROM oml.pyqEval(NULL, 'JSON', 'runs_fail')$$);
SELECT * FROM pg_temp.expect_error($$SELECT * FROM oml.pyqTableEval('t', NULL, 'JSON', 'runs_fail')$$);
-- ... a cancelled call (statement_timeout) ...
SET statement_timeout = '300ms';
SELECT * FROM oml.pyqEval(NULL, 'JSON', 'runs_sleep');
RESET statement_timeout;
-- ... and a failure after the script ran (rows that do not match)
SELECT * FROM pg_temp.expect_error($$SELECT * FROM oml.pyqEval(NULL, NULL::record, 'runs_eval') AS t(a int, b int)$$);
-- a rolled-back statement's calls stay counted
BEGIN;
SELECT value FROM oml.pyqEval('{"x": 41}', 'JSON', 'runs_eval');
ROLLBACK;
-- ... and calls of a statement that fails after them
SELECT * FROM pg_temp.expect_error($$SELECT count(*) FROM generate_series(1, 5) g, LATERAL oml.pyqEval('{"x": ' || g || '}', 'JSON', 'runs_table') e WHERE 1 / (g - 4) < 10$$);
-- an unknown script has no statistics
SELECT * FROM pg_temp.expect_error($$SELECT * FROM oml.pyqEval(NULL, 'JSON', 'runs_nosuch')$$);
SELECT owner, name, version, calls, errors, rows_in, rows_out,
       total_time > 0 AS timed, abs(mean_time * calls - total_time) < 1e-6 AS mean_ok,
       peak_memory_kb >= 0 AS mem_ok
  FROM oml.pyq_stat_scripts ORDER BY name;

--
-- Who sees what: another role sees the counters of scripts it cannot
-- read, without owner, name or version; global scripts in full
--
SET ROLE regress_runs_other;
SELECT owner, name, version, calls, errors FROM oml.pyq_stat_scripts
 ORDER BY name NULLS LAST, calls, errors;
-- its own calls of a script granted to it count under that script
RESET ROLE;
SET ROLE regress_runs_dev;
SELECT oml.pyqGrant('runs_eval', 'pyqscript', 'regress_runs_other');
SET ROLE regress_runs_other;
SELECT value FROM oml.pyqEval('{"x": 1}', 'JSON', 'runs_eval', 'regress_runs_dev');
SELECT count(*) AS shown, count(name) AS named FROM oml.pyq_stat_scripts;
-- it cannot reset others' statistics
SELECT oml.pyq_stat_reset();
-- pg_read_all_stats reads every row in full, and still cannot reset them
RESET ROLE;
GRANT pg_read_all_stats TO regress_runs_other;
SET ROLE regress_runs_other;
SELECT count(*) AS shown, count(name) AS named FROM oml.pyq_stat_scripts;
SELECT oml.pyq_stat_reset();
RESET ROLE;
REVOKE pg_read_all_stats FROM regress_runs_other;
-- the owner resets its own (the global script too: it created it)
SET ROLE regress_runs_dev;
SELECT oml.pyq_stat_reset();
SELECT count(*) FROM oml.pyq_stat_scripts;

--
-- oml_store.track: only superusers switch it off
--
SELECT * FROM pg_temp.expect_error($$SET oml_store.track = off$$);
RESET ROLE;
SET oml_store.track = off;
SELECT value FROM oml.pyqEval('{"x": 1}', 'JSON', 'runs_eval', 'regress_runs_dev');
RESET oml_store.track;
SELECT count(*) FROM oml.pyq_stat_scripts;

--
-- The run log: only superusers set oml_store.log_runs, for a session, a
-- role or the server; a role cannot switch it off for itself
--
SHOW oml_store.log_runs;
SET ROLE regress_runs_dev;
SELECT * FROM pg_temp.expect_error($$SET oml_store.log_runs = 'all'$$);
SELECT * FROM pg_temp.expect_error($$SELECT set_config('oml_store.log_runs', 'off', false)$$);
SELECT * FROM pg_temp.expect_error($$ALTER ROLE regress_runs_dev SET oml_store.log_runs = 'off'$$);
RESET ROLE;
SELECT * FROM pg_temp.expect_error($$SET oml_store.log_runs = 'some'$$);
SET oml_store.log_runs = 'all';
SET ROLE regress_runs_dev;
SELECT * FROM pg_temp.expect_error($$RESET oml_store.log_runs$$);
SHOW oml_store.log_runs;
-- a rolled-back statement's runs are logged
BEGIN;
SELECT value FROM oml.pyqEval('{"x": 1}', 'JSON', 'runs_eval');
SELECT count(*) FROM oml.pyqRowEval('t', NULL, 'JSON', 4, 'runs_row');
ROLLBACK;
SELECT * FROM pg_temp.expect_error($$SELECT * FROM oml.pyqTableEval('SELECT id FROM t WHERE id < 3', NULL, 'JSON', 'runs_fail')$$);
SET statement_timeout = '300ms';
SELECT * FROM oml.pyqEval(NULL, 'JSON', 'runs_sleep');
RESET statement_timeout;
SELECT * FROM pg_temp.expect_error($$SELECT * FROM oml.pyqGroupEval('t', NULL, 'JSON', 'grp', NULL, 'runs_nosuch', 'regress_runs_dev')$$);
SELECT count(*) FROM oml.pyqIndexEval(NULL, 'JSON', 2, 'runs_global', 'PYQSYS');
SELECT count(*) FROM oml.pyqGroupEval('t', NULL, 'JSON', 'grp', NULL, 'runs_group');
-- another role's runs
SET ROLE regress_runs_other;
SELECT value FROM oml.pyqEval('{"x": 2}', 'JSON', 'runs_eval', 'regress_runs_dev');
RESET ROLE;
SELECT pg_temp.wait_runs(7, 'regress_runs_dev'), pg_temp.wait_runs(1, 'regress_runs_other');
SELECT function, role_name, session_role = session_user AS session_ok, script_owner, script_name, script_version,
       datastore_objects, inp_nam, rows_in, rows_out, duration_ms > 0 AS timed,
       status, sqlstate, error, error_detail IS NOT NULL AS has_detail
  FROM oml.pyq_runs ORDER BY id;
-- each role reads its own runs only (row-level security)
SET ROLE regress_runs_dev;
SELECT count(*), count(*) FILTER (WHERE role_name = 'regress_runs_dev') AS own
  FROM oml.pyq_runs;
SET ROLE regress_runs_other;
SELECT function, script_name, status FROM oml.pyq_runs;
SELECT * FROM pg_temp.expect_error($$DELETE FROM oml.pyq_runs$$);
SELECT * FROM pg_temp.expect_error($$INSERT INTO oml.pyq_runs (started, role_id, role_name, function, rows_in, rows_out, duration_ms, status) VALUES (now(), 1, 'x', 'x', 0, 0, 0, 'ok')$$);
RESET ROLE;

-- errors: only failing calls
TRUNCATE oml.pyq_runs;
SET oml_store.log_runs = 'errors';
SET ROLE regress_runs_dev;
SELECT value FROM oml.pyqEval('{"x": 1}', 'JSON', 'runs_eval');
SELECT * FROM pg_temp.expect_error($$SELECT * FROM oml.pyqEval(NULL, 'JSON', 'runs_fail')$$);
RESET ROLE;
SELECT pg_temp.wait_runs(1, 'regress_runs_dev');
SELECT function, script_name, status FROM oml.pyq_runs;

--
-- Pruning: the writer deletes rows older than oml_store.log_runs_max_age
-- (30 days by default)
--
SHOW oml_store.log_runs_max_age;
INSERT INTO oml.pyq_runs (started, role_id, role_name, function, rows_in,
                          rows_out, duration_ms, status, session_role)
VALUES (now() - interval '31 days', 10, 'old', 'pyqEval', 0, 0, 1, 'ok', 'old'),
       (now() - interval '29 days', 10, 'recent', 'pyqEval', 0, 0, 1, 'ok', 'recent');
SET ROLE regress_runs_dev;
SELECT * FROM pg_temp.expect_error($$SELECT * FROM oml.pyqEval(NULL, 'JSON', 'runs_fail')$$);
RESET ROLE;
SELECT pg_temp.wait_runs(2, 'regress_runs_dev');
SELECT role_name, status FROM oml.pyq_runs ORDER BY id;

RESET oml_store.log_runs;
TRUNCATE oml.pyq_runs;
SELECT oml.pyq_stat_reset() >= 0 AS reset;
DROP SCHEMA regress_runs CASCADE;
DELETE FROM oml.script WHERE name LIKE 'runs\_%';
DROP ROLE regress_runs_dev, regress_runs_other;

--
-- jobs: async pyq* calls ("oml_async_flag": true), pyqJobStatus,
-- pyqJobResult in every out_fmt, pyqJobCancel, pyqJobDelete, the views,
-- and every error of the SQL surface.  Jobs run in background workers of
-- the preloaded library (the suites run with shared_preload_libraries).
--
\set VERBOSITY default
\i sql/include/expect_error.sql

-- expect_error with job ids masked as N.
CREATE FUNCTION pg_temp.job_error(stmt text) RETURNS SETOF text
LANGUAGE sql AS $$
SELECT regexp_replace(e, 'job [0-9]+', 'job N', 'g') FROM pg_temp.expect_error(stmt) e
$$;

-- Wait (up to 30 s) until a job has finished; its state.
CREATE FUNCTION pg_temp.wait_job(job bigint) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
	st text;
BEGIN
	FOR i IN 1..600 LOOP
		SELECT state INTO st FROM oml.pyqJobStatus(job);
		IF st NOT IN ('queued', 'running') THEN
			RETURN st;
		END IF;
		PERFORM pg_sleep(0.05);
	END LOOP;
	RETURN st;
END
$$;
-- Wait (up to 30 s) until a job is running.
CREATE FUNCTION pg_temp.wait_running(job bigint) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
	st text;
BEGIN
	FOR i IN 1..600 LOOP
		SELECT state INTO st FROM oml.pyqJobStatus(job);
		IF st <> 'queued' THEN
			RETURN st;
		END IF;
		PERFORM pg_sleep(0.05);
	END LOOP;
	RETURN st;
END
$$;

CREATE ROLE regress_job_alice LOGIN IN ROLE oml_developer;
CREATE ROLE regress_job_bob LOGIN;
CREATE ROLE regress_job_nologin NOLOGIN IN ROLE oml_developer;
CREATE SCHEMA regress_job AUTHORIZATION regress_job_alice;
GRANT USAGE ON SCHEMA regress_job TO regress_job_bob;
SET ROLE regress_job_alice;
SET search_path = regress_job, public;
CREATE TABLE t (id int, grp text, val float8);
INSERT INTO t SELECT i, CASE WHEN i % 2 = 0 THEN 'even' ELSE 'odd' END, i * 1.5
  FROM generate_series(1, 6) i;

SELECT oml.pyqScriptCreate('square', $$
def f(n=1):
    return {"n": n, "sq": n * n}
$$);
SELECT oml.pyqScriptCreate('colsum', $$
def f(df):
    import pandas as pd
    return pd.DataFrame({"rows": [len(df)], "total": [float(df["val"].sum())]})
$$);
SELECT oml.pyqScriptCreate('plot', $$
def f():
    import matplotlib.pyplot as plt
    plt.plot([1, 2, 3])
    plt.title("three points")
    return [1, 2]
$$);
SELECT oml.pyqScriptCreate('sleepy', $$
def f(s=30):
    import time
    time.sleep(s)
    return s
$$);
SELECT oml.pyqScriptCreate('boom', $$
def f():
    x = 1
    raise ValueError("boom %d" % x)
$$);
SELECT oml.pyqScriptCreate('where', $$
def f():
    import oml
    return oml.sql("SELECT current_user::text AS u, session_user::text AS s,"
                   " current_setting('search_path') AS p,"
                   " current_setting('TimeZone') AS tz").iloc[0].to_dict()
$$);

--
-- A submission returns one row: the job id in id and in value's JSON
--
SELECT name, id IS NOT NULL AS has_id, value::jsonb ? 'job_id' AS has_job_id,
       (value::jsonb ->> 'job_id')::bigint = id AS same, title, image
  FROM oml.pyqEval('{"n": 3, "oml_async_flag": true}', 'JSON', 'square');
SELECT id AS j_eval FROM oml.pyqEval('{"n": 4, "oml_async_flag": true}', 'JSON', 'square') \gset
SELECT pg_temp.wait_job(:j_eval);

-- the result in every out_fmt, as often as asked
SELECT * FROM oml.pyqJobResult(:j_eval, 'JSON');
SELECT * FROM oml.pyqJobResult(:j_eval, 'json');
SELECT * FROM oml.pyqJobResult(:j_eval, 'XML');
SELECT name, id, value, title, image FROM oml.pyqJobResult(:j_eval, 'PNG');
SELECT name, id, value, title, length(image) > 0 AS pickled
  FROM oml.pyqJobResult(:j_eval, 'PICKLE');
SELECT * FROM oml.pyqJobResult(:j_eval, NULL::record) AS t(sq int, n int);
-- as the synchronous call: a dict of two values is two columns
SELECT pg_temp.job_error($$SELECT * FROM oml.pyqJobResult($$ || :j_eval || $$, NULL::float8)$$);
SELECT pg_temp.job_error($$SELECT * FROM oml.pyqJobResult($$ || :j_eval || $$, 'CSV')$$);
SELECT pg_temp.job_error($$SELECT * FROM oml.pyqJobResult($$ || :j_eval || $$, 'JOB')$$);
SELECT pg_temp.job_error($$SELECT * FROM oml.pyqJobResult($$ || :j_eval || $$, NULL::record)$$);
SELECT pg_temp.job_error($$SELECT * FROM oml.pyqJobResult($$ || :j_eval || $$, NULL::record) AS t(a int, b int, c int)$$);
SELECT pg_temp.job_error('SELECT * FROM oml.pyqJobResult(NULL, ''JSON'')');

-- status and the views
SELECT job_id = :j_eval AS same, owner, state, func, scr_name, scr_owner,
       submitted <= started AND started <= ended AS ordered, result_count,
       result_size > 0 AS has_size, error_sqlstate, error_message
  FROM oml.pyqJobStatus(:j_eval);
SELECT func, scr_name, state FROM oml.user_pyq_jobs WHERE job_id = :j_eval;
SELECT owner, func, state FROM oml.all_pyq_jobs WHERE job_id = :j_eval;

--
-- The other functions: same results as the synchronous calls
--
SELECT id AS j_table FROM oml.pyqTableEval('t', '{"oml_async_flag": true, "oml_input_type": "pandas.DataFrame"}', 'JSON', 'colsum') \gset
SELECT id AS j_row FROM oml.pyqRowEval('SELECT * FROM t ORDER BY id', '{"oml_async_flag": "true", "oml_input_type": "pandas.DataFrame"}', 'JSON', 4, 'colsum') \gset
SELECT id AS j_group FROM oml.pyqGroupEval('t', '{"oml_async_flag": true, "oml_input_type": "pandas.DataFrame"}', 'JSON', 'grp', NULL, 'colsum') \gset
SELECT id AS j_index FROM oml.pyqIndexEval('{"oml_async_flag": true}', 'XML', 3, 'square') \gset
SELECT pg_temp.wait_job(:j_table), pg_temp.wait_job(:j_row),
       pg_temp.wait_job(:j_group), pg_temp.wait_job(:j_index);
SELECT * FROM oml.pyqJobResult(:j_table, NULL::record) AS t(rows int, total float8);
SELECT * FROM oml.pyqTableEval('t', '{"oml_input_type": "pandas.DataFrame"}', NULL::record, 'colsum') AS t(rows int, total float8);
SELECT name, value FROM oml.pyqJobResult(:j_row, 'JSON');
SELECT name, value FROM oml.pyqRowEval('SELECT * FROM t ORDER BY id', '{"oml_input_type": "pandas.DataFrame"}', 'JSON', 4, 'colsum');
SELECT name, value FROM oml.pyqJobResult(:j_group, 'JSON');
SELECT name, value FROM oml.pyqJobResult(:j_index, 'JSON');
SELECT name, value FROM oml.pyqJobResult(:j_index, 'XML');
SELECT * FROM oml.pyqJobResult(:j_index, NULL::record) AS t(n int, sq int);
SELECT func FROM oml.pyqJobStatus(:j_row) UNION ALL SELECT func FROM oml.pyqJobStatus(:j_group)
 UNION ALL SELECT func FROM oml.pyqJobStatus(:j_index);

-- figures: PNG rows, XML with images, or just the value
SELECT id AS j_plot FROM oml.pyqEval('{"oml_async_flag": true}', 'PNG', 'plot') \gset
SELECT pg_temp.wait_job(:j_plot);
SELECT name, id, value, title, substr(image, 1, 4) AS png FROM oml.pyqJobResult(:j_plot, 'PNG');
SELECT value FROM oml.pyqJobResult(:j_plot, 'JSON');
SELECT value FROM oml.pyqJobResult(:j_plot, NULL::text);
SELECT * FROM oml.pyqJobResult(:j_plot, NULL::float8);
SELECT value LIKE '<root><Py-data><item>1</item><item>2</item></Py-data><images><image id="1" title="three points">%' AS xml_with_image
  FROM oml.pyqJobResult(:j_plot, 'XML');

--
-- The job runs as the submitter, with its search_path and settings, and
-- reads what is committed when it runs (a later snapshot than the
-- submitting statement's)
--
SET TimeZone = 'Asia/Tokyo';
SET search_path = regress_job, pg_catalog, public;
SELECT id AS j_where FROM oml.pyqEval('{"oml_async_flag": true}', 'JSON', 'where') \gset
SELECT pg_temp.wait_job(:j_where);
SELECT value::jsonb FROM oml.pyqJobResult(:j_where, 'JSON');
RESET TimeZone;
SET search_path = regress_job, public;
BEGIN;
SELECT id AS j_later FROM oml.pyqTableEval('t', '{"oml_async_flag": true, "oml_input_type": "pandas.DataFrame"}', 'JSON', 'colsum') \gset
INSERT INTO t VALUES (7, 'odd', 100);
SELECT state FROM oml.pyqJobStatus(:j_later);
COMMIT;
SELECT pg_temp.wait_job(:j_later);
SELECT value FROM oml.pyqJobResult(:j_later, 'JSON');
DELETE FROM t WHERE id = 7;

--
-- A submission in a rolled-back transaction leaves no job
--
BEGIN;
SELECT id AS j_rolled FROM oml.pyqEval('{"oml_async_flag": true}', 'JSON', 'square') \gset
ROLLBACK;
SELECT pg_temp.job_error('SELECT * FROM oml.pyqJobStatus(' || :j_rolled || ')');
BEGIN;
SAVEPOINT s;
SELECT id AS j_rolled2 FROM oml.pyqEval('{"oml_async_flag": true}', 'JSON', 'square') \gset
ROLLBACK TO s;
COMMIT;
SELECT pg_temp.job_error('SELECT * FROM oml.pyqJobStatus(' || :j_rolled2 || ')');
-- nor can it be prepared
BEGIN;
SELECT count(*) FROM oml.pyqEval('{"oml_async_flag": true}', 'JSON', 'square');
PREPARE TRANSACTION 'regress_job';
SELECT count(*) FROM pg_prepared_xacts;

--
-- A failed job: SQLSTATE, message and traceback; no result
--
SELECT id AS j_boom FROM oml.pyqEval('{"oml_async_flag": true}', 'JSON', 'boom') \gset
SELECT pg_temp.wait_job(:j_boom);
SELECT state, error_sqlstate, error_message, error_traceback, result_count
  FROM oml.pyqJobStatus(:j_boom);
SELECT pg_temp.job_error('SELECT * FROM oml.pyqJobResult(' || :j_boom || ', ''JSON'')');
-- a job that runs into an error of the pyq* call itself
SELECT id AS j_noinput FROM oml.pyqTableEval('no_such_table', '{"oml_async_flag": true}', 'JSON', 'colsum') \gset
SELECT pg_temp.wait_job(:j_noinput);
SELECT state, error_sqlstate, error_message FROM oml.pyqJobStatus(:j_noinput);

--
-- Cancel and delete
--
SELECT id AS j_sleep FROM oml.pyqEval('{"s": 30, "oml_async_flag": true}', 'JSON', 'sleepy') \gset
SELECT pg_temp.wait_running(:j_sleep);
SELECT pg_temp.job_error('SELECT oml.pyqJobDelete(' || :j_sleep || ')');
SELECT pg_temp.job_error('SELECT * FROM oml.pyqJobResult(' || :j_sleep || ', ''JSON'')');
SELECT oml.pyqJobCancel(:j_sleep);
SELECT pg_temp.wait_job(:j_sleep);
SELECT state, error_sqlstate, error_message, ended - started < interval '10 s' AS quick
  FROM oml.pyqJobStatus(:j_sleep);
SELECT oml.pyqJobCancel(:j_sleep);       -- already over: its state
SELECT oml.pyqJobCancel(:j_eval);
SELECT oml.pyqJobDelete(:j_sleep);
SELECT pg_temp.job_error('SELECT * FROM oml.pyqJobStatus(' || :j_sleep || ')');
SELECT pg_temp.job_error('SELECT oml.pyqJobDelete(' || :j_sleep || ')');
SELECT pg_temp.job_error('SELECT oml.pyqJobCancel(' || :j_sleep || ')');

--
-- Errors at submission
--
SELECT pg_temp.expect_error($$SELECT * FROM oml.pyqEval('{"oml_async_flag": true}', NULL::record, 'square') AS t(n int)$$);
SELECT pg_temp.expect_error($$SELECT * FROM oml.pyqEval('{"oml_async_flag": true}', 'JSON', 'no_such_script')$$);
SELECT pg_temp.expect_error($$SELECT * FROM oml.pyqEval('{"oml_async_flag": "yes"}', 'JSON', 'square')$$);
SELECT pg_temp.expect_error($$SELECT * FROM oml.pyqEval('{"oml_async_flag": true}', 'JOB', 'square')$$);
SELECT pg_temp.expect_error($$SELECT * FROM oml.pyqRowEval('t', '{"oml_async_flag": true}', 'JSON', 0, 'square')$$);
SELECT pg_temp.expect_error($$SELECT * FROM oml.pyqEval('{"oml_async_flag": true', 'JSON', 'square')$$);
-- a false flag runs the call as usual
SELECT value FROM oml.pyqEval('{"n": 5, "oml_async_flag": false}', 'JSON', 'square');
-- the worker connects as the submitting role: it must be able to log in
RESET ROLE;
SET ROLE regress_job_nologin;
SELECT pg_temp.expect_error($$SELECT * FROM oml.pyqEval('{"oml_async_flag": true}', 'JSON', 'square', 'regress_job_alice')$$);
RESET ROLE;
SET ROLE regress_job_alice;

--
-- Another role, hostile: its own search_path, functions and operators do
-- not make another role's job visible; the answer is that of a missing job
--
RESET ROLE;
CREATE SCHEMA regress_job_bob AUTHORIZATION regress_job_bob;
SET ROLE regress_job_bob;
SET search_path = regress_job_bob, pg_catalog, public;
CREATE FUNCTION regress_job_bob.always(oid, oid) RETURNS bool
LANGUAGE sql AS 'SELECT true';
CREATE OPERATOR regress_job_bob.= (LEFTARG = oid, RIGHTARG = oid, FUNCTION = regress_job_bob.always);
CREATE FUNCTION regress_job_bob.superuser() RETURNS bool LANGUAGE sql AS 'SELECT true';
SELECT pg_temp.job_error('SELECT * FROM oml.pyqJobStatus(' || :j_eval || ')');
SELECT pg_temp.job_error('SELECT * FROM oml.pyqJobStatus(999999)');
SELECT pg_temp.job_error('SELECT * FROM oml.pyqJobResult(' || :j_eval || ', ''JSON'')');
SELECT pg_temp.job_error('SELECT oml.pyqJobCancel(' || :j_eval || ')');
SELECT pg_temp.job_error('SELECT oml.pyqJobDelete(' || :j_eval || ')');
SELECT count(*) FROM oml.user_pyq_jobs;
SELECT count(*) FROM oml.all_pyq_jobs;
SELECT count(*) FROM oml.job;
SELECT count(*) FROM oml.job_result;
SELECT pg_temp.expect_error('UPDATE oml.job SET state = ''queued''');
SELECT pg_temp.expect_error('INSERT INTO oml.job_result VALUES (1, 1, NULL, 0, ''\x00'')');
RESET ROLE;
-- a superuser sees every job
SELECT state FROM oml.pyqJobStatus(:j_eval);
SELECT count(*) > 0 AS sees_all FROM oml.all_pyq_jobs WHERE owner = 'regress_job_alice';
-- a deleted job's result went with it
SELECT count(*) FROM oml.job_result r WHERE r.job_id = :j_sleep;

-- clean up
DROP SCHEMA regress_job_bob CASCADE;
DROP SCHEMA regress_job CASCADE;
DELETE FROM oml.job WHERE owner IN ('regress_job_alice'::regrole, 'regress_job_bob'::regrole);
SET ROLE regress_job_alice;
SELECT oml.pyqScriptDrop(name) FROM oml.user_pyq_scripts ORDER BY name;
RESET ROLE;
DROP ROLE regress_job_alice, regress_job_bob, regress_job_nologin;

-- oml_store 0.2.0 -> 0.3.0: async jobs and parallel execution, the model
-- and script registry, performance, sandboxed Python.
--
-- A fresh CREATE EXTENSION runs oml_store--0.1.0.sql, then
-- oml_store--0.1.0--0.2.0.sql, then this file, so everything added here is
-- part of every 0.3.0 schema.  Objects are schema-qualified; the
-- extension's search_path is pg_catalog, pg_temp.  Each topic appends its
-- own section below, with a comment header naming it.

\echo Use "ALTER EXTENSION oml_store UPDATE" to load this file. \quit

-----------------------------------------------------------------------------
-- Async jobs (issue 10, part 1): pyq* calls with "oml_async_flag": true
-- become rows of oml.job, run later by background workers as the
-- submitting role; results are kept in chunks in oml.job_result.
-----------------------------------------------------------------------------

CREATE SEQUENCE oml.job_id_seq;
-- readable, as the other id sequences, so that a dump by a role that
-- row-level security limits fails at the table data, naming the way
REVOKE ALL ON SEQUENCE oml.job_id_seq FROM PUBLIC;
GRANT SELECT ON SEQUENCE oml.job_id_seq TO PUBLIC;

-- One asynchronous call.  owner is the submitting role (regrole, so that
-- pg_dump writes its name; jobs of a dropped role are deleted by the job
-- machinery); settings are the
-- submitter's search_path and the other settings the job applies, as
-- name/value pairs.  Written only by the extension's C code, as the
-- extension owner.
CREATE TABLE oml.job (
	id bigint PRIMARY KEY DEFAULT pg_catalog.nextval('oml.job_id_seq'),
	owner regrole NOT NULL,
	func text NOT NULL CHECK (func IN ('pyqEval', 'pyqTableEval', 'pyqRowEval',
										'pyqGroupEval', 'pyqIndexEval')),
	inp_nam text,
	par_lst text,
	out_fmt text,
	row_num integer,
	grp_col text,
	ord_col text,
	times_num integer,
	scr_name text NOT NULL,
	scr_owner text,
	settings text[] NOT NULL,
	state text NOT NULL DEFAULT 'queued'
		CHECK (state IN ('queued', 'running', 'succeeded', 'failed', 'cancelled')),
	submitted timestamptz NOT NULL DEFAULT pg_catalog.statement_timestamp(),
	started timestamptz,
	ended timestamptz,
	worker_pid integer,
	result_count integer,
	result_size bigint,
	error_sqlstate text,
	error_message text,
	error_traceback text,
	error_hint text
);
CREATE INDEX job_owner ON oml.job (owner);
CREATE INDEX job_state ON oml.job (state) WHERE state IN ('queued', 'running');

-- The results: one per script call (seq from 1; name as the synchronous
-- call labels it), each the pickled (result, figures) in chunks.
CREATE TABLE oml.job_result (
	job_id bigint NOT NULL REFERENCES oml.job ON DELETE CASCADE,
	seq integer NOT NULL,
	name text,
	chunk integer NOT NULL,
	data bytea NOT NULL,
	PRIMARY KEY (job_id, seq, chunk)
);

SELECT pg_catalog.pg_extension_config_dump('oml.job', '');
SELECT pg_catalog.pg_extension_config_dump('oml.job_result', '');
SELECT pg_catalog.pg_extension_config_dump('oml.job_id_seq', '');

-- Every role sees its own jobs and their results (superusers all); only
-- the extension's functions write, as the extension owner.
ALTER TABLE oml.job ENABLE ROW LEVEL SECURITY;
ALTER TABLE oml.job_result ENABLE ROW LEVEL SECURITY;
CREATE POLICY job_read ON oml.job FOR SELECT
	USING (owner::pg_catalog.oid OPERATOR(pg_catalog.=)
		   (SELECT r.oid FROM pg_catalog.pg_roles r
			 WHERE r.rolname OPERATOR(pg_catalog.=) CURRENT_USER));
CREATE POLICY job_result_read ON oml.job_result FOR SELECT
	USING (EXISTS (SELECT FROM oml.job j
					WHERE j.id OPERATOR(pg_catalog.=) job_id));
REVOKE ALL ON oml.job, oml.job_result FROM PUBLIC;
GRANT SELECT ON oml.job, oml.job_result TO PUBLIC;

CREATE VIEW oml.all_pyq_jobs WITH (security_invoker = true) AS
SELECT j.id AS job_id,
	   pg_catalog.pg_get_userbyid(j.owner::pg_catalog.oid)::text AS owner,
	   j.func, j.scr_name, j.scr_owner, j.state,
	   j.submitted, j.started, j.ended,
	   j.error_sqlstate, j.error_message
  FROM oml.job j;
CREATE VIEW oml.user_pyq_jobs WITH (security_invoker = true) AS
SELECT job_id, func, scr_name, scr_owner, state, submitted, started, ended,
	   error_sqlstate, error_message
  FROM oml.all_pyq_jobs
 WHERE owner OPERATOR(pg_catalog.=) CURRENT_USER;
GRANT SELECT ON oml.all_pyq_jobs, oml.user_pyq_jobs TO PUBLIC;

CREATE FUNCTION oml.pyqJobStatus(job_id bigint)
RETURNS TABLE (job_id bigint, owner text, state text, func text,
			   scr_name text, scr_owner text, submitted timestamptz,
			   started timestamptz, ended timestamptz, result_count integer,
			   result_size bigint, error_sqlstate text, error_message text,
			   error_traceback text, error_hint text)
AS 'MODULE_PATHNAME', 'oml_pyq_job_status'
LANGUAGE C VOLATILE STRICT;

CREATE FUNCTION oml.pyqJobResult(job_id bigint, out_fmt text)
RETURNS TABLE (name text, id integer, value text, title text, image bytea)
AS 'MODULE_PATHNAME', 'oml_pyq_job_result'
LANGUAGE C VOLATILE CALLED ON NULL INPUT;
CREATE FUNCTION oml.pyqJobResult(job_id bigint, out_fmt anyelement)
RETURNS SETOF anyelement
AS 'MODULE_PATHNAME', 'oml_pyq_job_result'
LANGUAGE C VOLATILE CALLED ON NULL INPUT;

CREATE FUNCTION oml.pyqJobCancel(job_id bigint)
RETURNS text
AS 'MODULE_PATHNAME', 'oml_pyq_job_cancel'
LANGUAGE C VOLATILE STRICT;

CREATE FUNCTION oml.pyqJobDelete(job_id bigint)
RETURNS void
AS 'MODULE_PATHNAME', 'oml_pyq_job_delete'
LANGUAGE C VOLATILE STRICT;

-- ---------------------------------------------------------------------------
-- Sandboxed Python (issue 13): scripts of ordinary roles run in an isolated,
-- locked-down process (see the README, Sandbox).
-- ---------------------------------------------------------------------------

-- Members may create sandboxed scripts (only).  Roles are shared by every
-- database of the cluster, so a second installation finds it there.
DO $$
BEGIN
	IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'oml_sandbox_user') THEN
		CREATE ROLE oml_sandbox_user NOLOGIN;
	END IF;
END
$$;

-- A sandboxed script always runs in the sandbox, whoever calls it.
ALTER TABLE oml.script ADD COLUMN sandbox boolean NOT NULL DEFAULT false;

-- v_sandbox added at the end with a default, so every existing call
-- (positional or named, OML4Py's four arguments) resolves as before.
DROP FUNCTION oml.pyqScriptCreate(text, text, boolean, boolean, text);
CREATE FUNCTION oml.pyqScriptCreate(v_name text, v_script text,
									v_global boolean DEFAULT false,
									v_overwrite boolean DEFAULT false,
									v_description text DEFAULT NULL,
									v_sandbox boolean DEFAULT false)
RETURNS void
AS 'MODULE_PATHNAME', 'oml_pyq_script_create'
LANGUAGE C VOLATILE;

-- The sandbox limits set for each role (ALTER ROLE ... SET, by superusers):
-- the role's own setting for this database or for all databases, NULL when
-- the role has none (the server's setting applies).
CREATE VIEW oml.sandbox_limits WITH (security_invoker = true) AS
SELECT r.rolname::text AS role,
	   pg_catalog.pg_has_role(r.oid, 'oml_sandbox_user', 'USAGE') AS sandbox_user,
	   l.memory, l.cpu_time, l.wall_time, l.max_per_role, l.file_size
  FROM pg_catalog.pg_roles r
  CROSS JOIN LATERAL (
	SELECT max(v) FILTER (WHERE k = 'oml_store.sandbox_memory') AS memory,
		   max(v) FILTER (WHERE k = 'oml_store.sandbox_cpu_time') AS cpu_time,
		   max(v) FILTER (WHERE k = 'oml_store.sandbox_wall_time') AS wall_time,
		   max(v) FILTER (WHERE k = 'oml_store.sandbox_max_per_role') AS max_per_role,
		   max(v) FILTER (WHERE k = 'oml_store.sandbox_file_size') AS file_size
	  FROM (SELECT DISTINCT ON (k) k, v
			  FROM pg_catalog.pg_db_role_setting s,
				   LATERAL pg_catalog.unnest(s.setconfig) c,
				   LATERAL (SELECT pg_catalog.split_part(c, '=', 1) AS k,
								   pg_catalog.substr(c, pg_catalog.strpos(c, '=') + 1) AS v) kv
			 WHERE s.setrole OPERATOR(pg_catalog.=) r.oid
			   AND s.setdatabase OPERATOR(pg_catalog.=) ANY (ARRAY[0::oid,
					(SELECT oid FROM pg_catalog.pg_database
					  WHERE datname OPERATOR(pg_catalog.=) pg_catalog.current_database())])
			   AND pg_catalog.split_part(c, '=', 1) OPERATOR(pg_catalog.~~) 'oml_store.sandbox%'
			 ORDER BY k, s.setdatabase DESC) one) l
 WHERE r.rolname OPERATOR(pg_catalog.!~~) 'pg\_%';
GRANT SELECT ON oml.sandbox_limits TO PUBLIC;

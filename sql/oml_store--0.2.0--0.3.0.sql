-- oml_store 0.2.0 -> 0.3.0: async jobs and parallel execution, the model
-- and script registry, performance, sandboxed Python.
--
-- A fresh CREATE EXTENSION runs oml_store--0.1.0.sql, then
-- oml_store--0.1.0--0.2.0.sql, then this file, so everything added here is
-- part of every 0.3.0 schema.  Objects are schema-qualified; the
-- extension's search_path is pg_catalog, pg_temp.  Each topic appends its
-- own section below, with a comment header naming it.

\echo Use "ALTER EXTENSION oml_store UPDATE" to load this file. \quit

-- ---------------------------------------------------------------------------
-- Registry: a record of every run (statistics and the run log), issue 11.
--
-- Statistics live in shared memory (runstats.c); the view reads them, and
-- which rows a role sees in full is decided in C.  The run log is written
-- by a background worker (runlog.c), so that the runs of rolled-back
-- statements are kept; it is not registered with pg_extension_config_dump:
-- a log of this server's runs is not data to restore elsewhere (roles'
-- OIDs differ there), so pg_dump leaves it out.

CREATE FUNCTION oml.pyq_stat_scripts(
	OUT owner text, OUT name text, OUT version bigint,
	OUT calls bigint, OUT errors bigint,
	OUT total_time double precision, OUT mean_time double precision,
	OUT rows_in bigint, OUT rows_out bigint, OUT peak_memory_kb bigint)
	RETURNS SETOF record
	AS 'MODULE_PATHNAME', 'oml_pyq_stat_scripts'
	LANGUAGE C STRICT VOLATILE PARALLEL RESTRICTED;

CREATE VIEW oml.pyq_stat_scripts WITH (security_invoker = true) AS
	SELECT * FROM oml.pyq_stat_scripts();

CREATE FUNCTION oml.pyq_stat_reset() RETURNS bigint
	AS 'MODULE_PATHNAME', 'oml_pyq_stat_reset'
	LANGUAGE C STRICT VOLATILE PARALLEL RESTRICTED;

GRANT SELECT ON oml.pyq_stat_scripts TO PUBLIC;

CREATE TABLE oml.pyq_runs (
	id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	started timestamptz NOT NULL,
	role_id oid NOT NULL,
	role_name text NOT NULL,
	function text NOT NULL,
	script_owner text,
	script_name text,
	script_version bigint,
	datastore_objects jsonb NOT NULL DEFAULT '[]',
	inp_nam text,
	rows_in bigint NOT NULL,
	rows_out bigint NOT NULL,
	duration_ms double precision NOT NULL,
	status text NOT NULL CHECK (status IN ('ok', 'error', 'cancelled', 'terminated')),
	sqlstate text,
	error text,
	error_detail text,
	session_role text NOT NULL
);
CREATE INDEX pyq_runs_started ON oml.pyq_runs (started);

ALTER TABLE oml.pyq_runs ENABLE ROW LEVEL SECURITY;
CREATE POLICY pyq_runs_own ON oml.pyq_runs FOR SELECT
	USING (role_id OPERATOR(pg_catalog.=)
		   (SELECT r.oid FROM pg_catalog.pg_roles r
			 WHERE r.rolname OPERATOR(pg_catalog.=) CURRENT_USER));
REVOKE ALL ON oml.pyq_runs FROM PUBLIC;
GRANT SELECT ON oml.pyq_runs TO PUBLIC;

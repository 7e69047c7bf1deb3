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

-- ---------------------------------------------------------------------------
-- Registry, part 1 (issue 11): script versions and aliases, execute-only
-- script grants and usage grants on datastores.  See src/registry.c.
--
-- oml.script keeps the current source (so every 0.2.0 query and view is
-- unchanged) and the number of its current version; oml.script_version
-- holds every version kept, the current one included; oml.script_alias
-- names versions.  Grants stay aclitem[] in oml.script.acl and
-- oml.datastore.acl: SELECT is 'read' (as before), EXECUTE on a script is
-- 'execute', USAGE on a datastore is 'usage'.  Row-level security reads
-- SELECT only, so execute-only and usage grantees see no source and no
-- bytes in any table or view.
-- ---------------------------------------------------------------------------
ALTER TABLE oml.script ADD COLUMN version integer NOT NULL DEFAULT 1;

CREATE TABLE oml.script_version (
	script_id bigint NOT NULL REFERENCES oml.script (id) ON DELETE CASCADE,
	version integer NOT NULL CHECK (version > 0),
	source text NOT NULL,
	description text,
	creator text NOT NULL,
	created timestamptz NOT NULL DEFAULT pg_catalog.now(),
	PRIMARY KEY (script_id, version)
);

-- An alias names one version; the version cannot go while it does (the
-- foreign key is checked at the end of the statement, so dropping the
-- whole script, which removes both, works).
CREATE TABLE oml.script_alias (
	script_id bigint NOT NULL REFERENCES oml.script (id) ON DELETE CASCADE,
	alias text NOT NULL,
	version integer NOT NULL,
	set_by text NOT NULL,
	set_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
	PRIMARY KEY (script_id, alias),
	FOREIGN KEY (script_id, version) REFERENCES oml.script_version (script_id, version)
);
CREATE INDEX script_alias_version ON oml.script_alias (script_id, version);

SELECT pg_catalog.pg_extension_config_dump('oml.script_version', '');
SELECT pg_catalog.pg_extension_config_dump('oml.script_alias', '');

-- Every script of 0.2.0 becomes version 1 of itself.
INSERT INTO oml.script_version (script_id, version, source, description, creator, created)
SELECT s.id, 1, s.source, s.description, pg_catalog.pg_get_userbyid(s.owner), s.created
  FROM oml.script s;

-- A cached lookup of 'name@version' or 'name@alias' goes stale when these
-- change, as for oml.script.
CREATE TRIGGER script_version_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE
	ON oml.script_version FOR EACH STATEMENT EXECUTE FUNCTION oml.script_changed();
CREATE TRIGGER script_alias_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE
	ON oml.script_alias FOR EACH STATEMENT EXECUTE FUNCTION oml.script_changed();
ALTER TABLE oml.script_version ENABLE ALWAYS TRIGGER script_version_changed;
ALTER TABLE oml.script_alias ENABLE ALWAYS TRIGGER script_alias_changed;

ALTER TABLE oml.script_version ENABLE ROW LEVEL SECURITY;
ALTER TABLE oml.script_alias ENABLE ROW LEVEL SECURITY;
CREATE POLICY script_version_read ON oml.script_version FOR SELECT
	USING (EXISTS (SELECT FROM oml.script s WHERE s.id OPERATOR(pg_catalog.=) script_id));
CREATE POLICY script_alias_read ON oml.script_alias FOR SELECT
	USING (EXISTS (SELECT FROM oml.script s WHERE s.id OPERATOR(pg_catalog.=) script_id));
REVOKE ALL ON oml.script_version, oml.script_alias FROM PUBLIC;
GRANT SELECT ON oml.script_version, oml.script_alias TO PUBLIC;

-- Versions of the scripts the caller may read, with the aliases naming each.
CREATE VIEW oml.script_versions WITH (security_invoker = true) AS
SELECT s.name,
	   CASE WHEN s.is_global THEN 'PYQSYS' ELSE pg_catalog.pg_get_userbyid(s.owner)::text END AS owner,
	   v.version,
	   v.created,
	   v.creator,
	   v.description,
	   pg_catalog.encode(pg_catalog.sha256(pg_catalog.convert_to(v.source, 'UTF8')), 'hex') AS source_hash,
	   v.version OPERATOR(pg_catalog.=) s.version AS is_current,
	   ARRAY(SELECT a.alias FROM oml.script_alias a
			  WHERE a.script_id OPERATOR(pg_catalog.=) v.script_id
				AND a.version OPERATOR(pg_catalog.=) v.version
			  ORDER BY a.alias COLLATE "C") AS aliases
  FROM oml.script s
  JOIN oml.script_version v ON v.script_id OPERATOR(pg_catalog.=) s.id;

CREATE VIEW oml.script_aliases WITH (security_invoker = true) AS
SELECT s.name,
	   CASE WHEN s.is_global THEN 'PYQSYS' ELSE pg_catalog.pg_get_userbyid(s.owner)::text END AS owner,
	   a.alias,
	   a.version,
	   a.set_by,
	   a.set_at
  FROM oml.script s
  JOIN oml.script_alias a ON a.script_id OPERATOR(pg_catalog.=) s.id;

GRANT SELECT ON oml.script_versions, oml.script_aliases TO PUBLIC;

-- Point alias v_alias of the caller's script at a version (the current one
-- by default); returns the version.  Moving an alias is one UPDATE.
CREATE FUNCTION oml.script_alias_set(v_name text, v_alias text,
									 v_version integer DEFAULT NULL,
									 v_global boolean DEFAULT false)
RETURNS integer
AS 'MODULE_PATHNAME', 'oml_script_alias_set'
LANGUAGE C VOLATILE;

CREATE FUNCTION oml.script_alias_drop(v_name text, v_alias text,
									  v_global boolean DEFAULT false,
									  v_silent boolean DEFAULT false)
RETURNS void
AS 'MODULE_PATHNAME', 'oml_script_alias_drop'
LANGUAGE C VOLATILE;

-- Drop one kept version of the caller's script (not the current one, not
-- one an alias names).
CREATE FUNCTION oml.script_version_drop(v_name text, v_version integer,
										v_global boolean DEFAULT false)
RETURNS void
AS 'MODULE_PATHNAME', 'oml_script_version_drop'
LANGUAGE C VOLATILE;

-- pyqGrant / pyqRevoke take the privilege: 'read' (the default, as in
-- 0.2.0), 'execute' (scripts) or 'usage' (datastores).  pyqRevoke without
-- one takes every privilege of the grantee.  Grants made before 0.3.0 are
-- SELECT items, i.e. 'read', and stay so.
DROP FUNCTION oml.pyqGrant(text, text, text);
DROP FUNCTION oml.pyqRevoke(text, text, text);
CREATE FUNCTION oml.pyqGrant(v_name text, v_type text DEFAULT 'datastore',
							 v_user text DEFAULT NULL,
							 v_privilege text DEFAULT 'read')
RETURNS void
AS 'MODULE_PATHNAME', 'oml_pyq_grant'
LANGUAGE C VOLATILE;
CREATE FUNCTION oml.pyqRevoke(v_name text, v_type text DEFAULT 'datastore',
							  v_user text DEFAULT NULL,
							  v_privilege text DEFAULT NULL)
RETURNS void
AS 'MODULE_PATHNAME', 'oml_pyq_revoke'
LANGUAGE C VOLATILE;

-- Grants with their privilege, one row per grantee and privilege.
CREATE VIEW oml.user_pyq_grants WITH (security_invoker = true) AS
SELECT 'datastore'::text AS type, d.name,
	   CASE WHEN a.grantee OPERATOR(pg_catalog.=) 0 THEN 'PUBLIC'
			ELSE pg_catalog.pg_get_userbyid(a.grantee)::text END AS grantee,
	   CASE a.privilege_type WHEN 'SELECT' THEN 'read' ELSE 'usage' END AS privilege
  FROM oml.datastore d, LATERAL pg_catalog.aclexplode(d.acl) a
 WHERE d.owner OPERATOR(pg_catalog.=) (SELECT oid FROM pg_catalog.pg_roles WHERE rolname OPERATOR(pg_catalog.=) CURRENT_USER)
UNION ALL
SELECT 'pyqscript', s.name,
	   CASE WHEN a.grantee OPERATOR(pg_catalog.=) 0 THEN 'PUBLIC'
			ELSE pg_catalog.pg_get_userbyid(a.grantee)::text END,
	   CASE a.privilege_type WHEN 'SELECT' THEN 'read' ELSE 'execute' END
  FROM oml.script s, LATERAL pg_catalog.aclexplode(s.acl) a
 WHERE NOT s.is_global
   AND s.owner OPERATOR(pg_catalog.=) (SELECT oid FROM pg_catalog.pg_roles WHERE rolname OPERATOR(pg_catalog.=) CURRENT_USER);
GRANT SELECT ON oml.user_pyq_grants TO PUBLIC;

-- Datastore versions (opt in) and aliases: see src/dsversion.c.  A
-- datastore saved with versioned => true keeps, on overwrite, its previous
-- objects and bytes here; appends and deletes of objects change the
-- current version in place.  Kept objects name their writer as text.
ALTER TABLE oml.datastore ADD COLUMN versioned boolean NOT NULL DEFAULT false;
ALTER TABLE oml.datastore ADD COLUMN version integer NOT NULL DEFAULT 1;

CREATE TABLE oml.datastore_version (
	ds_id bigint NOT NULL REFERENCES oml.datastore (id) ON DELETE CASCADE,
	version integer NOT NULL CHECK (version > 0),
	description text,
	created timestamptz NOT NULL,
	PRIMARY KEY (ds_id, version)
);
CREATE TABLE oml.datastore_version_object (
	id bigint PRIMARY KEY,
	ds_id bigint NOT NULL,
	version integer NOT NULL,
	name text NOT NULL,
	class text NOT NULL,
	size bigint NOT NULL,
	length bigint NOT NULL,
	nrow bigint NOT NULL,
	ncol bigint NOT NULL,
	nchunks integer NOT NULL,
	compression text NOT NULL,
	writer text NOT NULL,
	trusted boolean NOT NULL,
	created timestamptz NOT NULL,
	UNIQUE (ds_id, version, name),
	FOREIGN KEY (ds_id, version) REFERENCES oml.datastore_version (ds_id, version) ON DELETE CASCADE
);
CREATE TABLE oml.datastore_version_chunk (
	obj_id bigint NOT NULL REFERENCES oml.datastore_version_object (id) ON DELETE CASCADE,
	seq integer NOT NULL,
	data bytea NOT NULL,
	PRIMARY KEY (obj_id, seq)
);
ALTER TABLE oml.datastore_version_chunk ALTER COLUMN data SET STORAGE EXTERNAL;
CREATE TABLE oml.datastore_alias (
	ds_id bigint NOT NULL REFERENCES oml.datastore (id) ON DELETE CASCADE,
	alias text NOT NULL,
	version integer NOT NULL,
	set_by text NOT NULL,
	set_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
	PRIMARY KEY (ds_id, alias)
);

SELECT pg_catalog.pg_extension_config_dump('oml.datastore_version', '');
SELECT pg_catalog.pg_extension_config_dump('oml.datastore_version_object', '');
SELECT pg_catalog.pg_extension_config_dump('oml.datastore_version_chunk', '');
SELECT pg_catalog.pg_extension_config_dump('oml.datastore_alias', '');

ALTER TABLE oml.datastore_version ENABLE ROW LEVEL SECURITY;
ALTER TABLE oml.datastore_version_object ENABLE ROW LEVEL SECURITY;
ALTER TABLE oml.datastore_version_chunk ENABLE ROW LEVEL SECURITY;
ALTER TABLE oml.datastore_alias ENABLE ROW LEVEL SECURITY;
CREATE POLICY datastore_version_read ON oml.datastore_version FOR SELECT
	USING (EXISTS (SELECT FROM oml.datastore d WHERE d.id OPERATOR(pg_catalog.=) ds_id));
CREATE POLICY datastore_version_object_read ON oml.datastore_version_object FOR SELECT
	USING (EXISTS (SELECT FROM oml.datastore d WHERE d.id OPERATOR(pg_catalog.=) ds_id));
CREATE POLICY datastore_version_chunk_read ON oml.datastore_version_chunk FOR SELECT
	USING (EXISTS (SELECT FROM oml.datastore_version_object o WHERE o.id OPERATOR(pg_catalog.=) obj_id));
CREATE POLICY datastore_alias_read ON oml.datastore_alias FOR SELECT
	USING (EXISTS (SELECT FROM oml.datastore d WHERE d.id OPERATOR(pg_catalog.=) ds_id));
REVOKE ALL ON oml.datastore_version, oml.datastore_version_object,
	oml.datastore_version_chunk, oml.datastore_alias FROM PUBLIC;
GRANT SELECT ON oml.datastore_version, oml.datastore_version_object,
	oml.datastore_version_chunk, oml.datastore_alias TO PUBLIC;

-- Versions of the readable datastores: the kept ones and the current one.
CREATE VIEW oml.datastore_versions WITH (security_invoker = true) AS
SELECT pg_catalog.pg_get_userbyid(d.owner)::text AS dsowner,
	   d.name AS dsname,
	   v.version,
	   v.created,
	   v.description,
	   v.nobj,
	   v.dssize,
	   v.version OPERATOR(pg_catalog.=) d.version AS is_current,
	   ARRAY(SELECT a.alias FROM oml.datastore_alias a
			  WHERE a.ds_id OPERATOR(pg_catalog.=) d.id
				AND a.version OPERATOR(pg_catalog.=) v.version
			  ORDER BY a.alias COLLATE "C") AS aliases
  FROM oml.datastore d,
	   LATERAL (SELECT d.version, d.created, d.description,
					   (SELECT pg_catalog.count(*) FROM oml.datastore_object o
						 WHERE o.ds_id OPERATOR(pg_catalog.=) d.id) AS nobj,
					   (SELECT COALESCE(pg_catalog.sum(o.size), 0)::bigint FROM oml.datastore_object o
						 WHERE o.ds_id OPERATOR(pg_catalog.=) d.id) AS dssize
				UNION ALL
				SELECT k.version, k.created, k.description,
					   (SELECT pg_catalog.count(*) FROM oml.datastore_version_object o
						 WHERE o.ds_id OPERATOR(pg_catalog.=) k.ds_id
						   AND o.version OPERATOR(pg_catalog.=) k.version),
					   (SELECT COALESCE(pg_catalog.sum(o.size), 0)::bigint FROM oml.datastore_version_object o
						 WHERE o.ds_id OPERATOR(pg_catalog.=) k.ds_id
						   AND o.version OPERATOR(pg_catalog.=) k.version)
				  FROM oml.datastore_version k
				 WHERE k.ds_id OPERATOR(pg_catalog.=) d.id) v
 WHERE d.versioned
	OR EXISTS (SELECT FROM oml.datastore_version k WHERE k.ds_id OPERATOR(pg_catalog.=) d.id);
GRANT SELECT ON oml.datastore_versions TO PUBLIC;

DROP FUNCTION oml.ds_save_begin(text, text, boolean, boolean, boolean);
CREATE FUNCTION oml.ds_save_begin(ds_name text,
								  description text DEFAULT NULL,
								  grantable boolean DEFAULT false,
								  overwrite boolean DEFAULT false,
								  append boolean DEFAULT false,
								  versioned boolean DEFAULT NULL)
RETURNS bigint
AS 'MODULE_PATHNAME', 'oml_ds_save_begin'
LANGUAGE C VOLATILE;

CREATE FUNCTION oml.ds_alias_set(ds_name text, v_alias text, v_version integer DEFAULT NULL)
RETURNS integer
AS 'MODULE_PATHNAME', 'oml_ds_alias_set'
LANGUAGE C VOLATILE;
CREATE FUNCTION oml.ds_alias_drop(ds_name text, v_alias text, v_silent boolean DEFAULT false)
RETURNS void
AS 'MODULE_PATHNAME', 'oml_ds_alias_drop'
LANGUAGE C VOLATILE;
CREATE FUNCTION oml.ds_version_drop(ds_name text, v_version integer)
RETURNS void
AS 'MODULE_PATHNAME', 'oml_ds_version_drop'
LANGUAGE C VOLATILE;
-- What a client needs to load a version (read right required).
CREATE FUNCTION oml.ds_version_objects(ds_name text, ds_owner text DEFAULT NULL,
									   objs text[] DEFAULT NULL,
									   v_version integer DEFAULT NULL,
									   v_alias text DEFAULT NULL)
RETURNS TABLE (object_name text, object_id bigint, size bigint,
			   nchunks integer, compression text, trusted boolean,
			   writer text, kept boolean)
AS 'MODULE_PATHNAME', 'oml_ds_version_objects'
LANGUAGE C STABLE;

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

-- ---------------------------------------------------------------------------
-- Parallel execution (issue 10, part 2): oml_parallel_flag and
-- oml_parallel_degree in par_lst run pyqRowEval, pyqGroupEval and
-- pyqIndexEval in PostgreSQL parallel workers (src/parallel.c).  No SQL
-- object changes: the controls are parsed by the existing functions.
-- ---------------------------------------------------------------------------

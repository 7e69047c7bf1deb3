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

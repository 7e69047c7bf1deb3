-- oml_store 0.1.0: datastores of Python objects shared through PostgreSQL roles
--
-- Catalog tables are owned by the extension owner.  Ordinary roles may SELECT
-- them, and row-level security shows each role only what it may read.  Every
-- write goes through the C functions below, which check the caller's rights
-- and then write as the extension owner.

\echo Use "CREATE EXTENSION oml_store" to load this file. \quit

-- Refuse a schema oml that someone else made: its owner could shadow our
-- functions with overloads or drop everything with DROP SCHEMA ... CASCADE.
-- CREATE EXTENSION makes the schema (owned by the installing role) when it
-- is missing; a schema that was already there must be the installer's own.
DO $$
DECLARE
	owner_name name;
BEGIN
	SELECT r.rolname INTO owner_name
	  FROM pg_catalog.pg_namespace n
	  JOIN pg_catalog.pg_roles r ON r.oid OPERATOR(pg_catalog.=) n.nspowner
	 WHERE n.nspname OPERATOR(pg_catalog.=) 'oml';
	IF owner_name IS NOT NULL AND owner_name OPERATOR(pg_catalog.<>) CURRENT_USER THEN
		RAISE EXCEPTION 'schema "oml" is owned by role "%", not by the installing role "%"',
				owner_name, CURRENT_USER
			USING ERRCODE = 'object_not_in_prerequisite_state',
				  DETAIL = 'The owner of the schema could replace or drop the extension''s objects.',
				  HINT = 'Drop the schema, or change its owner with ALTER SCHEMA oml OWNER TO the installing role, then create the extension again.';
	END IF;
END
$$;

-- Names, scripts and Python text cross between PostgreSQL and Python as
-- UTF-8: require it rather than mangle other encodings.
DO $$
BEGIN
	IF pg_catalog.getdatabaseencoding() <> 'UTF8' THEN
		RAISE EXCEPTION 'oml_store requires a database with UTF8 encoding'
			USING ERRCODE = 'feature_not_supported',
				  DETAIL = pg_catalog.format('This database uses %s.', pg_catalog.getdatabaseencoding()),
				  HINT = 'Create the database with ENCODING ''UTF8''.';
	END IF;
END
$$;

-- The trust role (OML4Py's PYQADMIN).  Roles are shared by every database of
-- the cluster, so a second installation finds it already there.
DO $$
BEGIN
	IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'oml_developer') THEN
		CREATE ROLE oml_developer NOLOGIN;
	END IF;
END
$$;

GRANT USAGE ON SCHEMA oml TO PUBLIC;

-- Read check used by the row-level security policies and the views.
CREATE FUNCTION oml.ds_can_read(owner oid, acl pg_catalog.aclitem[])
RETURNS boolean
AS 'MODULE_PATHNAME', 'oml_ds_can_read'
LANGUAGE C STABLE PARALLEL SAFE;

-- Datastores.  Roles are stored as regrole, so pg_dump writes their names.
CREATE TABLE oml.datastore (
	id bigint PRIMARY KEY,
	owner regrole NOT NULL,
	name text NOT NULL,
	description text,
	grantable boolean NOT NULL DEFAULT false,
	acl pg_catalog.aclitem[],
	created timestamptz NOT NULL DEFAULT pg_catalog.now(),
	UNIQUE (owner, name)
);
CREATE SEQUENCE oml.datastore_id_seq OWNED BY oml.datastore.id;

-- Objects of a datastore; their bytes are in oml.datastore_chunk.
CREATE TABLE oml.datastore_object (
	id bigint PRIMARY KEY,
	ds_id bigint NOT NULL REFERENCES oml.datastore (id) ON DELETE CASCADE,
	name text NOT NULL,
	class text NOT NULL,
	size bigint NOT NULL DEFAULT 0,
	length bigint NOT NULL DEFAULT 1,
	nrow bigint NOT NULL DEFAULT 1,
	ncol bigint NOT NULL DEFAULT 1,
	nchunks integer NOT NULL DEFAULT 0,
	compression text NOT NULL DEFAULT 'none' CHECK (compression IN ('none', 'zlib')),
	writer regrole NOT NULL,
	trusted boolean NOT NULL,
	created timestamptz NOT NULL DEFAULT pg_catalog.now(),
	UNIQUE (ds_id, name)
);
CREATE SEQUENCE oml.datastore_object_id_seq OWNED BY oml.datastore_object.id;

-- Pickled bytes, in order, at most a few megabytes a row, so an object has no
-- size cap.  Pickles rarely compress well: store them out of line, as they are.
CREATE TABLE oml.datastore_chunk (
	obj_id bigint NOT NULL REFERENCES oml.datastore_object (id) ON DELETE CASCADE,
	seq integer NOT NULL,
	data bytea NOT NULL,
	PRIMARY KEY (obj_id, seq)
);
ALTER TABLE oml.datastore_chunk ALTER COLUMN data SET STORAGE EXTERNAL;

SELECT pg_catalog.pg_extension_config_dump('oml.datastore', '');
SELECT pg_catalog.pg_extension_config_dump('oml.datastore_object', '');
SELECT pg_catalog.pg_extension_config_dump('oml.datastore_chunk', '');
SELECT pg_catalog.pg_extension_config_dump('oml.datastore_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('oml.datastore_object_id_seq', '');

ALTER TABLE oml.datastore ENABLE ROW LEVEL SECURITY;
ALTER TABLE oml.datastore_object ENABLE ROW LEVEL SECURITY;
ALTER TABLE oml.datastore_chunk ENABLE ROW LEVEL SECURITY;

CREATE POLICY datastore_read ON oml.datastore FOR SELECT
	USING (oml.ds_can_read(owner, acl));
CREATE POLICY datastore_object_read ON oml.datastore_object FOR SELECT
	USING (EXISTS (SELECT FROM oml.datastore d WHERE d.id = ds_id));
CREATE POLICY datastore_chunk_read ON oml.datastore_chunk FOR SELECT
	USING (EXISTS (SELECT FROM oml.datastore_object o WHERE o.id = obj_id));

REVOKE ALL ON oml.datastore, oml.datastore_object, oml.datastore_chunk FROM PUBLIC;
GRANT SELECT ON oml.datastore, oml.datastore_object, oml.datastore_chunk TO PUBLIC;
REVOKE ALL ON SEQUENCE oml.datastore_id_seq, oml.datastore_object_id_seq FROM PUBLIC;

-- Views, with Oracle's column names.  security_invoker makes row-level
-- security apply to the role that queries them.
CREATE VIEW oml.all_pyq_datastores WITH (security_invoker = true) AS
SELECT pg_catalog.pg_get_userbyid(d.owner) AS dsowner,
	   d.name AS dsname,
	   (SELECT pg_catalog.count(*) FROM oml.datastore_object o WHERE o.ds_id = d.id) AS nobj,
	   (SELECT COALESCE(pg_catalog.sum(o.size), 0)::bigint FROM oml.datastore_object o WHERE o.ds_id = d.id) AS dssize,
	   d.created AS cdate,
	   d.description,
	   d.grantable
  FROM oml.datastore d;

CREATE VIEW oml.user_pyq_datastores WITH (security_invoker = true) AS
SELECT dsname, nobj, dssize, cdate, description, grantable
  FROM oml.all_pyq_datastores
 WHERE dsowner = CURRENT_USER;

CREATE VIEW oml.all_pyq_datastore_contents WITH (security_invoker = true) AS
SELECT pg_catalog.pg_get_userbyid(d.owner) AS dsowner,
	   d.name AS dsname,
	   o.name AS objname,
	   o.class,
	   o.size AS objsize,
	   o.length,
	   o.nrow,
	   o.ncol
  FROM oml.datastore d
  JOIN oml.datastore_object o ON o.ds_id = d.id;

CREATE VIEW oml.user_pyq_datastore_contents WITH (security_invoker = true) AS
SELECT dsname, objname, class, objsize, length, nrow, ncol
  FROM oml.all_pyq_datastore_contents
 WHERE dsowner = CURRENT_USER;

-- Grants of one's own datastores, one row per grantee ('PUBLIC' for all).
CREATE VIEW oml.user_pyq_datastore_grants WITH (security_invoker = true) AS
SELECT d.name AS dsname,
	   CASE WHEN a.grantee = 0 THEN 'PUBLIC'
			ELSE pg_catalog.pg_get_userbyid(a.grantee)::text END AS grantee
  FROM oml.datastore d,
	   LATERAL pg_catalog.aclexplode(d.acl) a
 WHERE d.owner = (SELECT oid FROM pg_catalog.pg_roles WHERE rolname = CURRENT_USER)
   AND a.privilege_type = 'SELECT';

GRANT SELECT ON oml.all_pyq_datastores, oml.user_pyq_datastores,
	oml.all_pyq_datastore_contents, oml.user_pyq_datastore_contents,
	oml.user_pyq_datastore_grants TO PUBLIC;

-- Write API.  Not STRICT: a NULL argument gets a clear error, not a NULL.

-- Start saving into datastore ds_name of the current role; returns its id.
CREATE FUNCTION oml.ds_save_begin(ds_name text,
								  description text DEFAULT NULL,
								  grantable boolean DEFAULT false,
								  overwrite boolean DEFAULT false,
								  append boolean DEFAULT false)
RETURNS bigint
AS 'MODULE_PATHNAME', 'oml_ds_save_begin'
LANGUAGE C VOLATILE;

-- Add (or replace) object obj_name in a datastore being saved; returns its id.
CREATE FUNCTION oml.ds_put_object(ds_id bigint,
								  obj_name text,
								  class text,
								  length bigint DEFAULT 1,
								  nrow bigint DEFAULT 1,
								  ncol bigint DEFAULT 1,
								  compression text DEFAULT 'none')
RETURNS bigint
AS 'MODULE_PATHNAME', 'oml_ds_put_object'
LANGUAGE C VOLATILE;

-- Append the next chunk of an object's bytes; returns the object's size so far.
CREATE FUNCTION oml.ds_put_chunk(obj_id bigint, data bytea)
RETURNS bigint
AS 'MODULE_PATHNAME', 'oml_ds_put_chunk'
LANGUAGE C VOLATILE;

-- The same, for many chunks at once: COPY oml.datastore_chunk_in FROM STDIN
-- (FORMAT binary) sends bytes without escaping.  Each row is checked and
-- stored as by ds_put_chunk, in order.
CREATE VIEW oml.datastore_chunk_in WITH (security_invoker = true) AS
SELECT NULL::bigint AS obj_id, NULL::bytea AS data WHERE false;
CREATE FUNCTION oml.ds_chunk_in()
RETURNS trigger
AS 'MODULE_PATHNAME', 'oml_ds_chunk_in'
LANGUAGE C;
CREATE TRIGGER datastore_chunk_in INSTEAD OF INSERT ON oml.datastore_chunk_in
	FOR EACH ROW EXECUTE FUNCTION oml.ds_chunk_in();
REVOKE EXECUTE ON FUNCTION oml.ds_chunk_in() FROM PUBLIC;
REVOKE ALL ON oml.datastore_chunk_in FROM PUBLIC;
GRANT SELECT, INSERT ON oml.datastore_chunk_in TO PUBLIC;

-- Find a readable datastore; returns its id or raises an error.
CREATE FUNCTION oml.ds_open(ds_name text, ds_owner text DEFAULT NULL)
RETURNS bigint
AS 'MODULE_PATHNAME', 'oml_ds_open'
LANGUAGE C STABLE;

-- The objects of a readable datastore, with what a reader needs to fetch them.
CREATE FUNCTION oml.ds_objects(ds_name text, ds_owner text DEFAULT NULL,
							   objs text[] DEFAULT NULL)
RETURNS TABLE (object_name text, object_id bigint, size bigint,
			   nchunks integer, compression text, trusted boolean)
AS 'MODULE_PATHNAME', 'oml_ds_objects'
LANGUAGE C STABLE;

-- One chunk of an object's bytes; chunks are numbered from 0.
CREATE FUNCTION oml.ds_get_chunk(obj_id bigint, seq integer)
RETURNS bytea
AS 'MODULE_PATHNAME', 'oml_ds_get_chunk'
LANGUAGE C STABLE;

-- Describe a readable datastore without unpickling anything.
CREATE FUNCTION oml.ds_describe(ds_name text, ds_owner text DEFAULT NULL)
RETURNS TABLE (object_name text, class text, size bigint, length bigint,
			   row_count bigint, col_count bigint)
AS 'MODULE_PATHNAME', 'oml_ds_describe'
LANGUAGE C STABLE;

-- Delete a datastore, some of its objects, or every own datastore matching a
-- regular expression; returns how many datastores or objects went.
CREATE FUNCTION oml.ds_delete(ds_name text, objs text[] DEFAULT NULL,
							  regex_match boolean DEFAULT false)
RETURNS integer
AS 'MODULE_PATHNAME', 'oml_ds_delete'
LANGUAGE C VOLATILE;

-- List datastores as oml.ds.dir does.  dstype is one of user, grantable,
-- private, grant, granted, all; grantee is set only for 'grant'.
CREATE FUNCTION oml.ds_dir(ds_name text DEFAULT NULL,
						   regex_match boolean DEFAULT false,
						   dstype text DEFAULT 'user')
RETURNS TABLE (owner name, datastore_name text, object_count bigint,
			   size bigint, date timestamptz, description text,
			   grantee text)
AS 'MODULE_PATHNAME', 'oml_ds_dir'
LANGUAGE C STABLE;

-- Grant or revoke read access to an own datastore (or, later, script).
-- v_user NULL means PUBLIC.
CREATE FUNCTION oml.pyqGrant(v_name text, v_type text DEFAULT 'datastore',
							 v_user text DEFAULT NULL)
RETURNS void
AS 'MODULE_PATHNAME', 'oml_pyq_grant'
LANGUAGE C VOLATILE;

CREATE FUNCTION oml.pyqRevoke(v_name text, v_type text DEFAULT 'datastore',
							  v_user text DEFAULT NULL)
RETURNS void
AS 'MODULE_PATHNAME', 'oml_pyq_revoke'
LANGUAGE C VOLATILE;

-- Whether the current role is trusted to have its bytes unpickled in the
-- server (a superuser or a member of oml_developer).
CREATE FUNCTION oml.is_trusted()
RETURNS boolean
AS 'MODULE_PATHNAME', 'oml_is_trusted'
LANGUAGE C STABLE;

-- Script repository.  A private script is unique per owner; a global one is
-- unique among global scripts and readable by everyone.
CREATE TABLE oml.script (
	id bigint PRIMARY KEY,
	owner regrole NOT NULL,
	name text NOT NULL,
	is_global boolean NOT NULL DEFAULT false,
	source text NOT NULL,
	description text,
	acl pg_catalog.aclitem[],
	created timestamptz NOT NULL DEFAULT pg_catalog.now()
);
CREATE SEQUENCE oml.script_id_seq OWNED BY oml.script.id;
CREATE UNIQUE INDEX script_private_name ON oml.script (owner, name) WHERE NOT is_global;
CREATE UNIQUE INDEX script_global_name ON oml.script (name) WHERE is_global;

SELECT pg_catalog.pg_extension_config_dump('oml.script', '');

-- Backends cache the scripts they run; any change tells them to look again.
CREATE FUNCTION oml.script_changed()
RETURNS trigger
AS 'MODULE_PATHNAME', 'oml_script_changed'
LANGUAGE C;
REVOKE EXECUTE ON FUNCTION oml.script_changed() FROM PUBLIC;
CREATE TRIGGER script_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE
	ON oml.script FOR EACH STATEMENT EXECUTE FUNCTION oml.script_changed();
SELECT pg_catalog.pg_extension_config_dump('oml.script_id_seq', '');

ALTER TABLE oml.script ENABLE ROW LEVEL SECURITY;
CREATE POLICY script_read ON oml.script FOR SELECT
	USING (is_global OR oml.ds_can_read(owner, acl));
REVOKE ALL ON oml.script FROM PUBLIC;
GRANT SELECT ON oml.script TO PUBLIC;
REVOKE ALL ON SEQUENCE oml.script_id_seq FROM PUBLIC;

CREATE VIEW oml.all_pyq_scripts WITH (security_invoker = true) AS
SELECT CASE WHEN s.is_global THEN 'PYQSYS' ELSE pg_catalog.pg_get_userbyid(s.owner)::text END AS owner,
	   s.name,
	   s.source AS script,
	   s.description,
	   s.created AS date,
	   s.is_global
  FROM oml.script s;

CREATE VIEW oml.user_pyq_scripts WITH (security_invoker = true) AS
SELECT s.name, s.source AS script, s.description, s.created AS date
  FROM oml.script s
 WHERE NOT s.is_global
   AND s.owner = (SELECT oid FROM pg_catalog.pg_roles WHERE rolname = CURRENT_USER);

GRANT SELECT ON oml.all_pyq_scripts, oml.user_pyq_scripts TO PUBLIC;

-- Create a script (members of oml_developer and superusers only).
CREATE FUNCTION oml.pyqScriptCreate(v_name text, v_script text,
									v_global boolean DEFAULT false,
									v_overwrite boolean DEFAULT false,
									v_description text DEFAULT NULL)
RETURNS void
AS 'MODULE_PATHNAME', 'oml_pyq_script_create'
LANGUAGE C VOLATILE;

CREATE FUNCTION oml.pyqScriptDrop(v_name text, v_global boolean DEFAULT false,
								  v_silent boolean DEFAULT false)
RETURNS void
AS 'MODULE_PATHNAME', 'oml_pyq_script_drop'
LANGUAGE C VOLATILE;

-- List scripts as oml.script.dir does; sctype is user, global, all or grant.
CREATE FUNCTION oml.script_dir(v_name text DEFAULT NULL,
							   regex_match boolean DEFAULT false,
							   sctype text DEFAULT 'user')
RETURNS TABLE (owner text, name text, script text, description text,
			   date timestamptz, grantee text)
AS 'MODULE_PATHNAME', 'oml_script_dir'
LANGUAGE C STABLE;

-- The source of a readable script: own first, then global.
CREATE FUNCTION oml.script_load(v_name text, v_owner text DEFAULT NULL)
RETURNS text
AS 'MODULE_PATHNAME', 'oml_script_load'
LANGUAGE C STABLE;

-- Embedded Python execution.  With out_fmt 'JSON', 'XML' or 'PNG' the
-- result has the columns below (name, value for JSON and XML; all five
-- for PNG).  For relational output pass out_fmt as NULL::some_row_type,
-- or as NULL::record with a column definition list.
CREATE FUNCTION oml.pyqEval(par_lst text, out_fmt text, scr_name text,
							scr_owner text DEFAULT NULL)
RETURNS TABLE (name text, id integer, value text, title text, image bytea)
AS 'MODULE_PATHNAME', 'oml_pyq_eval'
LANGUAGE C VOLATILE CALLED ON NULL INPUT;
CREATE FUNCTION oml.pyqEval(par_lst text, out_fmt anyelement, scr_name text,
							scr_owner text DEFAULT NULL)
RETURNS SETOF anyelement
AS 'MODULE_PATHNAME', 'oml_pyq_eval'
LANGUAGE C VOLATILE CALLED ON NULL INPUT;

CREATE FUNCTION oml.pyqTableEval(inp_nam text, par_lst text, out_fmt text,
								 scr_name text, scr_owner text DEFAULT NULL)
RETURNS TABLE (name text, id integer, value text, title text, image bytea)
AS 'MODULE_PATHNAME', 'oml_pyq_table_eval'
LANGUAGE C VOLATILE CALLED ON NULL INPUT;
CREATE FUNCTION oml.pyqTableEval(inp_nam text, par_lst text, out_fmt anyelement,
								 scr_name text, scr_owner text DEFAULT NULL)
RETURNS SETOF anyelement
AS 'MODULE_PATHNAME', 'oml_pyq_table_eval'
LANGUAGE C VOLATILE CALLED ON NULL INPUT;

CREATE FUNCTION oml.pyqRowEval(inp_nam text, par_lst text, out_fmt text,
							   row_num integer, scr_name text,
							   scr_owner text DEFAULT NULL)
RETURNS TABLE (name text, id integer, value text, title text, image bytea)
AS 'MODULE_PATHNAME', 'oml_pyq_row_eval'
LANGUAGE C VOLATILE CALLED ON NULL INPUT;
CREATE FUNCTION oml.pyqRowEval(inp_nam text, par_lst text, out_fmt anyelement,
							   row_num integer, scr_name text,
							   scr_owner text DEFAULT NULL)
RETURNS SETOF anyelement
AS 'MODULE_PATHNAME', 'oml_pyq_row_eval'
LANGUAGE C VOLATILE CALLED ON NULL INPUT;

CREATE FUNCTION oml.pyqGroupEval(inp_nam text, par_lst text, out_fmt text,
								 grp_col text, ord_col text, scr_name text,
								 scr_owner text DEFAULT NULL)
RETURNS TABLE (name text, id integer, value text, title text, image bytea)
AS 'MODULE_PATHNAME', 'oml_pyq_group_eval'
LANGUAGE C VOLATILE CALLED ON NULL INPUT;
CREATE FUNCTION oml.pyqGroupEval(inp_nam text, par_lst text, out_fmt anyelement,
								 grp_col text, ord_col text, scr_name text,
								 scr_owner text DEFAULT NULL)
RETURNS SETOF anyelement
AS 'MODULE_PATHNAME', 'oml_pyq_group_eval'
LANGUAGE C VOLATILE CALLED ON NULL INPUT;

CREATE FUNCTION oml.pyqIndexEval(par_lst text, out_fmt text, times_num integer,
								 scr_name text, scr_owner text DEFAULT NULL)
RETURNS TABLE (name text, id integer, value text, title text, image bytea)
AS 'MODULE_PATHNAME', 'oml_pyq_index_eval'
LANGUAGE C VOLATILE CALLED ON NULL INPUT;
CREATE FUNCTION oml.pyqIndexEval(par_lst text, out_fmt anyelement, times_num integer,
								 scr_name text, scr_owner text DEFAULT NULL)
RETURNS SETOF anyelement
AS 'MODULE_PATHNAME', 'oml_pyq_index_eval'
LANGUAGE C VOLATILE CALLED ON NULL INPUT;

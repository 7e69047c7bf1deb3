-- oml_store 0.1.0 -> 0.2.0: security and robustness (trust decided in C,
-- caches, roles like native objects, backups).
--
-- A fresh CREATE EXTENSION runs oml_store--0.1.0.sql and then this file, so
-- everything added here is part of every 0.2.0 schema.  Objects are
-- schema-qualified; the extension's search_path is pg_catalog, pg_temp.

\echo Use "ALTER EXTENSION oml_store UPDATE" to load this file. \quit

-- ---------------------------------------------------------------------
-- Trust decided in C.  ds_objects reports, per object, whether the server
-- would unpickle it (written by a role that was trusted then and is still
-- trusted now) and who wrote it; ds_read returns the bytes of objects only
-- when every one asked for is trusted -- the rule the in-server loader uses.
-- ---------------------------------------------------------------------
DROP FUNCTION oml.ds_objects(text, text, text[]);
CREATE FUNCTION oml.ds_objects(ds_name text, ds_owner text DEFAULT NULL,
							   objs text[] DEFAULT NULL)
RETURNS TABLE (object_name text, object_id bigint, size bigint,
			   nchunks integer, compression text, trusted boolean,
			   writer text)
AS 'MODULE_PATHNAME', 'oml_ds_objects'
LANGUAGE C STABLE;

CREATE FUNCTION oml.ds_read(ds_name text, ds_owner text DEFAULT NULL,
							objs text[] DEFAULT NULL)
RETURNS TABLE (object_name text, seq integer, compression text, data bytea)
AS 'MODULE_PATHNAME', 'oml_ds_read'
LANGUAGE C STABLE;
-- ---------------------------------------------------------------------------
-- Roles like native objects (issue 7 item 6) and backups (item 7).
--
-- Every role a catalog row names (owner, writer, grantee or grantor) gets a
-- privilege-type entry in pg_shdepend on that column of the table, so that
-- DROP ROLE fails with 2BP01 from any database while rows name the role.
-- Row triggers keep the entries for every write, including pg_restore's
-- COPY.  See src/roles.c.

CREATE FUNCTION oml.role_refs_changed()
RETURNS trigger
AS 'MODULE_PATHNAME', 'oml_role_refs_changed'
LANGUAGE C;
REVOKE EXECUTE ON FUNCTION oml.role_refs_changed() FROM PUBLIC;

CREATE TRIGGER datastore_roles AFTER INSERT OR DELETE OR UPDATE OF owner, acl
	ON oml.datastore FOR EACH ROW EXECUTE FUNCTION oml.role_refs_changed();
CREATE TRIGGER datastore_roles_truncate AFTER TRUNCATE
	ON oml.datastore FOR EACH STATEMENT EXECUTE FUNCTION oml.role_refs_changed();
CREATE TRIGGER datastore_object_roles AFTER INSERT OR DELETE OR UPDATE OF writer
	ON oml.datastore_object FOR EACH ROW EXECUTE FUNCTION oml.role_refs_changed();
CREATE TRIGGER datastore_object_roles_truncate AFTER TRUNCATE
	ON oml.datastore_object FOR EACH STATEMENT EXECUTE FUNCTION oml.role_refs_changed();
CREATE TRIGGER script_roles AFTER INSERT OR DELETE OR UPDATE OF owner, acl
	ON oml.script FOR EACH ROW EXECUTE FUNCTION oml.role_refs_changed();
CREATE TRIGGER script_roles_truncate AFTER TRUNCATE
	ON oml.script FOR EACH STATEMENT EXECUTE FUNCTION oml.role_refs_changed();
-- Also under session_replication_role = replica: no write may skip them.
ALTER TABLE oml.datastore ENABLE ALWAYS TRIGGER datastore_roles;
ALTER TABLE oml.datastore ENABLE ALWAYS TRIGGER datastore_roles_truncate;
ALTER TABLE oml.datastore_object ENABLE ALWAYS TRIGGER datastore_object_roles;
ALTER TABLE oml.datastore_object ENABLE ALWAYS TRIGGER datastore_object_roles_truncate;
ALTER TABLE oml.script ENABLE ALWAYS TRIGGER script_roles;
ALTER TABLE oml.script ENABLE ALWAYS TRIGGER script_roles_truncate;

-- Finding whether a role still writes objects or owns scripts.
CREATE INDEX datastore_object_writer ON oml.datastore_object (writer);
CREATE INDEX script_owner ON oml.script (owner);

-- Rebuild this database's entries from the rows (superusers only).
CREATE FUNCTION oml.role_dependencies_sync()
RETURNS integer
AS 'MODULE_PATHNAME', 'oml_role_dependencies_sync'
LANGUAGE C VOLATILE;
REVOKE EXECUTE ON FUNCTION oml.role_dependencies_sync() FROM PUBLIC;

-- What DROP OWNED BY / REASSIGN OWNED BY do to our rows when the library
-- is not in shared_preload_libraries (same privilege rules).
CREATE FUNCTION oml.drop_owned(role_name text)
RETURNS void
AS 'MODULE_PATHNAME', 'oml_drop_owned'
LANGUAGE C VOLATILE;
CREATE FUNCTION oml.reassign_owned(old_role text, new_role text)
RETURNS void
AS 'MODULE_PATHNAME', 'oml_reassign_owned'
LANGUAGE C VOLATILE;

-- Entries for the rows that are already there.
SELECT oml.role_dependencies_sync();

-- pg_dump reads the sequences' state: let any role read it (the number of
-- ids handed out so far), so that a dump by a role that row-level security
-- limits fails at the table data with a message naming the supported way,
-- not at a sequence.
GRANT SELECT ON SEQUENCE oml.datastore_id_seq, oml.datastore_object_id_seq,
	oml.script_id_seq TO PUBLIC;
-- ---------------------------------------------------------------------------
-- Script cache (issue 7, items 2 and 3): the statement trigger that tells
-- every backend's script cache that oml.script changed fires also with
-- session_replication_role = replica (logical replication apply, a
-- superuser's direct DML), so no change can bypass it.
-- ---------------------------------------------------------------------------
ALTER TABLE oml.script ENABLE ALWAYS TRIGGER script_changed;
-- ---------------------------------------------------------------------------
-- Owner columns as text everywhere (issue 8, item 8): the datastore views
-- had dsowner of type name while all_pyq_scripts.owner is text (it shows
-- PYQSYS for global scripts), and ds_dir returned owner as name while
-- script_dir returns text.  A view's column type cannot change with
-- CREATE OR REPLACE, so the views are dropped (dependent ones first) and
-- made again as in 0.1.0 but for the type, with the same options and
-- grants; ds_dir likewise (its library code casts to text).
-- ---------------------------------------------------------------------------
DROP VIEW oml.user_pyq_datastores;
DROP VIEW oml.all_pyq_datastores;
DROP VIEW oml.user_pyq_datastore_contents;
DROP VIEW oml.all_pyq_datastore_contents;

CREATE VIEW oml.all_pyq_datastores WITH (security_invoker = true) AS
SELECT pg_catalog.pg_get_userbyid(d.owner)::text AS dsowner,
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
 WHERE dsowner OPERATOR(pg_catalog.=) CURRENT_USER::text;

CREATE VIEW oml.all_pyq_datastore_contents WITH (security_invoker = true) AS
SELECT pg_catalog.pg_get_userbyid(d.owner)::text AS dsowner,
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
 WHERE dsowner OPERATOR(pg_catalog.=) CURRENT_USER::text;

GRANT SELECT ON oml.all_pyq_datastores, oml.user_pyq_datastores,
	oml.all_pyq_datastore_contents, oml.user_pyq_datastore_contents TO PUBLIC;

DROP FUNCTION oml.ds_dir(text, boolean, text);
CREATE FUNCTION oml.ds_dir(ds_name text DEFAULT NULL,
						   regex_match boolean DEFAULT false,
						   dstype text DEFAULT 'user')
RETURNS TABLE (owner text, datastore_name text, object_count bigint,
			   size bigint, date timestamptz, description text,
			   grantee text)
AS 'MODULE_PATHNAME', 'oml_ds_dir'
LANGUAGE C STABLE;

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

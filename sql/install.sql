--
-- install: what CREATE EXTENSION oml_store puts in place (all in schema
-- oml), pg_dump registration, row-level security, privileges; then DROP
-- EXTENSION and CREATE EXTENSION again.  Ends with the extension installed,
-- as the other tests expect.
--
-- Expected errors go through pg_temp.expect_error, which prints
-- "SQLSTATE: message" (ids masked as N) and any DETAIL and HINT.
--
\set SHOW_CONTEXT never
CREATE FUNCTION pg_temp.expect_error(stmt text) RETURNS SETOF text
LANGUAGE plpgsql AS $$
DECLARE
	st text; msg text; det text; hnt text;
BEGIN
	EXECUTE stmt;
	RETURN NEXT 'no error';
EXCEPTION WHEN OTHERS THEN
	GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT,
		det = PG_EXCEPTION_DETAIL, hnt = PG_EXCEPTION_HINT;
	RETURN NEXT st || ': ' || regexp_replace(msg, '(with id|datastore object) [0-9]+', '\1 N', 'g');
	IF det <> '' THEN RETURN NEXT 'DETAIL: ' || det; END IF;
	IF hnt <> '' THEN RETURN NEXT 'HINT: ' || hnt; END IF;
END
$$;

SELECT extname, extversion, extnamespace::regnamespace AS schema, extrelocatable
  FROM pg_extension WHERE extname = 'oml_store';

-- every member object, all in schema oml
SELECT pg_describe_object(classid, objid, objsubid) AS member
  FROM pg_depend
 WHERE refclassid = 'pg_extension'::regclass
   AND refobjid = (SELECT oid FROM pg_extension WHERE extname = 'oml_store')
   AND deptype = 'e'
 ORDER BY 1;
SELECT relname, relkind FROM pg_class
 WHERE relnamespace = 'oml'::regnamespace AND relkind IN ('r', 'v', 'S')
 ORDER BY relname;

-- the functions: parameter names (for named notation), defaults, results;
-- none is STRICT (NULLs get errors) or SECURITY DEFINER
SELECT p.proname, pg_get_function_arguments(p.oid) AS arguments
  FROM pg_proc p WHERE p.pronamespace = 'oml'::regnamespace
 ORDER BY p.proname;
SELECT p.proname, pg_get_function_result(p.oid) AS result, p.provolatile, p.proisstrict,
	   p.prosecdef, p.proretset
  FROM pg_proc p WHERE p.pronamespace = 'oml'::regnamespace
 ORDER BY p.proname;
-- anyone may call them
SELECT p.proname FROM pg_proc p
 WHERE p.pronamespace = 'oml'::regnamespace
   AND NOT has_function_privilege('public', p.oid, 'EXECUTE')
 ORDER BY 1;

-- pg_dump dumps the catalog tables' rows and the sequences
SELECT c::regclass AS config_table, e.extcondition[i] AS condition
  FROM pg_extension e, unnest(e.extconfig) WITH ORDINALITY AS u(c, i)
 WHERE e.extname = 'oml_store'
 ORDER BY i;

-- row-level security on the three tables, with one SELECT policy each
SELECT relname, relrowsecurity, relforcerowsecurity FROM pg_class
 WHERE relnamespace = 'oml'::regnamespace AND relkind = 'r'
 ORDER BY relname;
SELECT tablename, policyname, permissive, roles, cmd, qual, with_check
  FROM pg_policies WHERE schemaname = 'oml'
 ORDER BY tablename, policyname;

-- PUBLIC: USAGE on the schema, SELECT on tables and views, nothing on the
-- sequences, nothing else
SELECT a.privilege_type FROM pg_namespace n, aclexplode(n.nspacl) a
 WHERE n.nspname = 'oml' AND a.grantee = 0;
SELECT c.relname, c.relkind, a.privilege_type, a.is_grantable
  FROM pg_class c, aclexplode(c.relacl) a
 WHERE c.relnamespace = 'oml'::regnamespace AND a.grantee = 0
 ORDER BY 1, 3;
SELECT c.relname FROM pg_class c
 WHERE c.relnamespace = 'oml'::regnamespace AND c.relkind = 'S'
   AND (has_sequence_privilege('public', c.oid, 'USAGE')
		OR has_sequence_privilege('public', c.oid, 'SELECT')
		OR has_sequence_privilege('public', c.oid, 'UPDATE'));

-- the views run as the querying role
SELECT relname, reloptions FROM pg_class
 WHERE relnamespace = 'oml'::regnamespace AND relkind = 'v'
 ORDER BY relname;

-- chunk bytes are stored out of line, uncompressed
SELECT attname, attstorage FROM pg_attribute
 WHERE attrelid = 'oml.datastore_chunk'::regclass AND attname = 'data';

-- the trust role
SELECT rolname, rolcanlogin, rolsuper FROM pg_roles WHERE rolname = 'oml_developer';

--
-- DROP EXTENSION removes everything but the role (shared by all
-- databases); CREATE EXTENSION again starts from an empty catalog
--
CREATE ROLE regress_inst_user LOGIN;
SET ROLE regress_inst_user;
SELECT oml.ds_put_chunk(oml.ds_put_object(oml.ds_save_begin('before_drop'), 'o', 'builtins.int'), '\x01'::bytea);
RESET ROLE;

DROP EXTENSION oml_store;
SELECT count(*) AS extensions FROM pg_extension WHERE extname = 'oml_store';
SELECT count(*) AS relations FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname = 'oml';
SELECT count(*) AS functions FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
 WHERE n.nspname = 'oml';
SELECT count(*) AS policies FROM pg_policies WHERE schemaname = 'oml';
SELECT rolname, rolcanlogin FROM pg_roles WHERE rolname = 'oml_developer';

-- only a superuser installs it, and only in schema oml
SET ROLE regress_inst_user;
SELECT * FROM pg_temp.expect_error($$CREATE EXTENSION oml_store$$);
RESET ROLE;
CREATE SCHEMA regress_inst_schema;
SELECT * FROM pg_temp.expect_error($$CREATE EXTENSION oml_store SCHEMA regress_inst_schema$$);
DROP SCHEMA regress_inst_schema;

CREATE EXTENSION oml_store;
SELECT extname, extversion, extnamespace::regnamespace AS schema
  FROM pg_extension WHERE extname = 'oml_store';
SELECT count(*) AS members FROM pg_depend
 WHERE refclassid = 'pg_extension'::regclass
   AND refobjid = (SELECT oid FROM pg_extension WHERE extname = 'oml_store')
   AND deptype = 'e';
SELECT count(*) AS datastores FROM oml.datastore;
SELECT count(*) FILTER (WHERE rolname = 'oml_developer') AS developer_roles FROM pg_roles;
SET ROLE regress_inst_user;
SELECT count(*) AS before_drop FROM oml.ds_dir();
SELECT oml.ds_put_chunk(oml.ds_put_object(oml.ds_save_begin('after_create'), 'o', 'builtins.int'), '\x01'::bytea);
SELECT datastore_name, object_count, size FROM oml.ds_dir();
SELECT oml.ds_delete('after_create');
RESET ROLE;

DROP ROLE regress_inst_user;

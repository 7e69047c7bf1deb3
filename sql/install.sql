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
\i sql/include/expect_error.sql

SELECT extname, extversion, extnamespace::regnamespace AS schema, extrelocatable
  FROM pg_extension WHERE extname = 'oml_store';

-- every member object, all in schema oml
SELECT pg_describe_object(classid, objid, objsubid) AS member
  FROM pg_depend
 WHERE refclassid = 'pg_extension'::regclass
   AND refobjid = (SELECT oid FROM pg_extension WHERE extname = 'oml_store')
   AND deptype = 'e'
 ORDER BY 1;
-- (members outside schema oml: none)
SELECT pg_describe_object(d.classid, d.objid, d.objsubid) AS outside_oml
  FROM pg_depend d
  LEFT JOIN pg_class c ON d.classid = 'pg_class'::regclass AND c.oid = d.objid
  LEFT JOIN pg_proc p ON d.classid = 'pg_proc'::regclass AND p.oid = d.objid
  LEFT JOIN pg_type t ON d.classid = 'pg_type'::regclass AND t.oid = d.objid
 WHERE d.refclassid = 'pg_extension'::regclass
   AND d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'oml_store')
   AND d.deptype = 'e'
   AND coalesce(c.relnamespace, p.pronamespace, t.typnamespace) IS DISTINCT FROM 'oml'::regnamespace;

-- Invariants over every table, view, sequence and function of schema oml
-- (each query lists the offenders, so it must return no rows):
-- row-level security on every table
SELECT relname AS table_without_rls FROM pg_class
 WHERE relnamespace = 'oml'::regnamespace AND relkind = 'r'
   AND NOT (relrowsecurity AND EXISTS (SELECT FROM pg_policy WHERE polrelid = pg_class.oid));
-- pg_dump dumps the rows of every table and the state of every sequence,
-- but the run log's (oml.pyq_runs: a log of this server's runs)
SELECT relname AS not_dumped FROM pg_class
 WHERE relnamespace = 'oml'::regnamespace AND relkind IN ('r', 'S')
   AND oid <> ALL ((SELECT extconfig FROM pg_extension WHERE extname = 'oml_store')::oid[]);
-- PUBLIC may only SELECT tables and views, nothing on sequences
SELECT c.relname, a.privilege_type AS public_privilege FROM pg_class c, aclexplode(c.relacl) a
 WHERE c.relnamespace = 'oml'::regnamespace AND a.grantee = 0
   AND (c.relkind NOT IN ('r', 'v') OR a.privilege_type <> 'SELECT' OR a.is_grantable);
SELECT c.relname AS table_public_cannot_read FROM pg_class c
 WHERE c.relnamespace = 'oml'::regnamespace AND c.relkind IN ('r', 'v')
   AND NOT has_table_privilege('public', c.oid, 'SELECT');
-- views run as the querying role
SELECT relname AS view_not_security_invoker FROM pg_class
 WHERE relnamespace = 'oml'::regnamespace AND relkind = 'v'
   AND NOT coalesce('security_invoker=true' = ANY (reloptions), false);
-- no function runs as its owner, and anyone may call them
SELECT p.oid::regprocedure AS security_definer FROM pg_proc p
 WHERE p.pronamespace = 'oml'::regnamespace AND p.prosecdef;
SELECT p.oid::regprocedure AS not_executable FROM pg_proc p
 WHERE p.pronamespace = 'oml'::regnamespace
   AND NOT has_function_privilege('public', p.oid, 'EXECUTE')
 ORDER BY p.oid::regprocedure::text COLLATE "C";
-- PUBLIC may use the schema
SELECT a.privilege_type FROM pg_namespace n, aclexplode(n.nspacl) a
 WHERE n.nspname = 'oml' AND a.grantee = 0;

-- The datastore API: parameter names (for named notation), defaults and
-- results; none is STRICT, so NULL arguments get errors, not NULL
SELECT p.oid::regprocedure AS function, pg_get_function_arguments(p.oid) AS arguments
  FROM pg_proc p WHERE p.pronamespace = 'oml'::regnamespace
   AND p.proname IN ('ds_save_begin', 'ds_put_object', 'ds_put_chunk', 'ds_open', 'ds_objects',
					 'ds_get_chunk', 'ds_describe', 'ds_delete', 'ds_dir', 'pyqgrant', 'pyqrevoke',
					 'is_trusted', 'ds_can_read')
 ORDER BY p.proname;
SELECT p.proname, pg_get_function_result(p.oid) AS result, p.provolatile, p.proisstrict, p.proretset
  FROM pg_proc p WHERE p.pronamespace = 'oml'::regnamespace
   AND p.proname IN ('ds_save_begin', 'ds_put_object', 'ds_put_chunk', 'ds_open', 'ds_objects',
					 'ds_get_chunk', 'ds_describe', 'ds_delete', 'ds_dir', 'pyqgrant', 'pyqrevoke',
					 'is_trusted', 'ds_can_read')
 ORDER BY p.proname;

-- The datastore catalog: pg_dump registration (all rows), row-level
-- security and its policies
SELECT c::regclass AS config_table, e.extcondition[i] AS condition
  FROM pg_extension e, unnest(e.extconfig) WITH ORDINALITY AS u(c, i)
 WHERE e.extname = 'oml_store' AND c::regclass::text LIKE 'oml.datastore%'
 ORDER BY i;
SELECT relname, relrowsecurity, relforcerowsecurity FROM pg_class
 WHERE relnamespace = 'oml'::regnamespace AND relkind = 'r' AND relname LIKE 'datastore%'
 ORDER BY relname;
SELECT tablename, policyname, permissive, roles, cmd, qual, with_check
  FROM pg_policies WHERE schemaname = 'oml' AND tablename LIKE 'datastore%'
 ORDER BY tablename, policyname;
SELECT c.relname, c.relkind, a.privilege_type
  FROM pg_class c, aclexplode(c.relacl) a
 WHERE c.relnamespace = 'oml'::regnamespace AND a.grantee = 0
   AND (c.relname LIKE 'datastore%' OR c.relname LIKE '%pyq_datastore%')
 ORDER BY 1, 3;

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
SELECT string_agg(pg_describe_object(classid, objid, objsubid), ', ' ORDER BY pg_describe_object(classid, objid, objsubid)) AS members
  FROM pg_depend
 WHERE refclassid = 'pg_extension'::regclass
   AND refobjid = (SELECT oid FROM pg_extension WHERE extname = 'oml_store')
   AND deptype = 'e' \gset

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
-- the same members as before
SELECT string_agg(pg_describe_object(classid, objid, objsubid), ', ' ORDER BY pg_describe_object(classid, objid, objsubid)) = :'members' AS same_members
  FROM pg_depend
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

--
-- bad_input: every function against NULLs, bad names, unknown roles and
-- datastores, bad counts, ids, chunk numbers, types and patterns; odd but
-- valid names round-trip exactly.  Failed calls change nothing.
--
-- Expected errors go through pg_temp.expect_error, which prints
-- "SQLSTATE: message" (ids masked as N) and any DETAIL and HINT.
--
\set SHOW_CONTEXT never
\i sql/include/expect_error.sql

CREATE ROLE regress_bad_user LOGIN;
CREATE ROLE regress_bad_other LOGIN;

-- Everything in the catalog, as one fingerprint.
CREATE TEMP VIEW catalog_state AS
SELECT (SELECT count(*) FROM oml.datastore) AS datastores,
	   (SELECT count(*) FROM oml.datastore_object) AS objects,
	   (SELECT count(*) FROM oml.datastore_chunk) AS chunks,
	   md5(concat(
		(SELECT string_agg(format('%s|%s|%s|%s|%s|%s|%s', id, owner, name, description, grantable, acl, created), E'\n' ORDER BY id)
		   FROM oml.datastore),
		(SELECT string_agg(format('%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s', id, ds_id, name, class, size, length, nrow, ncol,
								  nchunks, compression, writer, trusted), E'\n' ORDER BY id)
		   FROM oml.datastore_object),
		(SELECT string_agg(format('%s|%s|%s', obj_id, seq, encode(data, 'hex')), E'\n' ORDER BY obj_id, seq)
		   FROM oml.datastore_chunk))) AS fingerprint;

--
-- Odd but valid names round-trip exactly; none is a pattern
--
SET ROLE regress_bad_user;
CREATE TEMP TABLE odd_names (name text);
INSERT INTO odd_names VALUES
	('it''s'), ('"quoted"'), ('x''; DROP TABLE t; --'), ('Robert''); DROP TABLE oml.datastore;--'),
	('a b'), ('naïve 名前'), ('🐘'), ('.*'), ('%'), ('_'), ('back\slash'), ('$1'),
	('inner  spaces'), (repeat('n', 128)), (repeat('é', 128)), (repeat('🐘', 128));
SELECT count(*) AS saved
  FROM odd_names,
	   LATERAL oml.ds_put_chunk(oml.ds_put_object(oml.ds_save_begin(name, name, grantable => true),
												  name, name), '\x01'::bytea);
-- every name is listed back as given, in byte order
SELECT left(datastore_name, 40) AS datastore_name, length(datastore_name) AS chars, octet_length(datastore_name) AS bytes,
	   description = datastore_name AS description_ok, object_count
  FROM oml.ds_dir();
-- each is found by its exact name, and only it
SELECT n.name = d.datastore_name AS found, count(*) OVER (PARTITION BY n.name) AS matches
  FROM odd_names n, LATERAL oml.ds_dir(n.name) d ORDER BY n.name COLLATE "C";
SELECT bool_and(oml.ds_open(name) IS NOT NULL) AS all_open FROM odd_names;
SELECT bool_and(d.object_name = n.name AND d.class = n.name) AS all_describe
  FROM odd_names n, LATERAL oml.ds_describe(n.name) d;
SELECT bool_and(o.object_name = n.name) AS all_objects
  FROM odd_names n, LATERAL oml.ds_objects(n.name, NULL, ARRAY[n.name]) o;
SELECT count(*) AS granted
  FROM odd_names, LATERAL oml.pyqGrant(name, 'datastore', 'regress_bad_other');
SELECT count(*) AS revoked
  FROM odd_names, LATERAL oml.pyqRevoke(name, 'datastore', 'regress_bad_other')
 WHERE name <> '.*';
RESET ROLE;
SET ROLE regress_bad_other;
SELECT owner, datastore_name FROM oml.ds_dir(dstype => 'granted');
SELECT * FROM oml.ds_describe('.*', 'regress_bad_user');
RESET ROLE;
-- the table names in the strings are still there
SELECT to_regclass('oml.datastore') IS NOT NULL AS catalog_there;
SET ROLE regress_bad_user;
-- pattern-looking names delete only themselves
SELECT oml.ds_delete('.*');
SELECT oml.ds_delete('%', '{%}');
SELECT oml.ds_delete('_');
SELECT count(*) AS left FROM oml.ds_dir();
SELECT object_count FROM oml.ds_dir('%');
SELECT count(*) AS deleted FROM odd_names, LATERAL oml.ds_delete(name) WHERE name NOT IN ('.*', '_');
SELECT count(*) AS left FROM oml.ds_dir();
DROP TABLE odd_names;

-- a datastore to aim the bad calls at
BEGIN;
SELECT oml.ds_save_begin('base', 'the target', grantable => true) AS base \gset
SELECT oml.ds_put_object(:base, 'o', 'builtins.bytes') AS base_o \gset
SELECT oml.ds_put_chunk(:base_o, '\x0102'::bytea);
SELECT oml.ds_put_chunk(:base_o, '\x03'::bytea);
COMMIT;
RESET ROLE;
SELECT datastores, objects, chunks, fingerprint AS state_before FROM catalog_state \gset
SET ROLE regress_bad_user;

--
-- oml.ds_save_begin(ds_name, description, grantable, overwrite, append)
--
SELECT * FROM pg_temp.expect_error($$SELECT oml.ds_save_begin(NULL)$$);
SELECT * FROM pg_temp.expect_error($$SELECT oml.ds_save_begin('')$$);
SELECT * FROM pg_temp.expect_error(format('SELECT oml.ds_save_begin(%L)', repeat('x', 129)));
SELECT * FROM pg_temp.expect_error(format('SELECT oml.ds_save_begin(%L)', repeat('é', 129)));
SELECT * FROM pg_temp.expect_error($$SELECT oml.ds_save_begin(E'a\tb')$$);
SELECT * FROM pg_temp.expect_error($$SELECT oml.ds_save_begin(E'a\nb')$$);
SELECT * FROM pg_temp.expect_error($$SELECT oml.ds_save_begin(E'\x01x')$$);
SELECT * FROM pg_temp.expect_error($$SELECT oml.ds_save_begin(E'x\x7f')$$);
SELECT * FROM pg_temp.expect_error($$SELECT oml.ds_save_begin(' lead')$$);
SELECT * FROM pg_temp.expect_error($$SELECT oml.ds_save_begin('trail ')$$);
SELECT * FROM pg_temp.expect_error($$SELECT oml.ds_save_begin('   ')$$);
SELECT * FROM pg_temp.expect_error($$SELECT oml.ds_save_begin('new', 'd', NULL)$$);
SELECT * FROM pg_temp.expect_error($$SELECT oml.ds_save_begin('new', overwrite => NULL)$$);
SELECT * FROM pg_temp.expect_error($$SELECT oml.ds_save_begin('new', append => NULL)$$);
SELECT * FROM pg_temp.expect_error($$SELECT oml.ds_save_begin('base')$$);
SELECT * FROM pg_temp.expect_error($$SELECT oml.ds_save_begin('base', overwrite => true, append => true)$$);

--
-- oml.ds_put_object(ds_id, obj_name, class, length, nrow, ncol, compression)
--
SELECT * FROM pg_temp.expect_error($$SELECT oml.ds_put_object(NULL, 'o', 'builtins.int')$$);
SELECT * FROM pg_temp.expect_error($$SELECT oml.ds_put_object(-1, 'o', 'builtins.int')$$);
SELECT * FROM pg_temp.expect_error(format($$SELECT oml.ds_put_object(%s, NULL, 'builtins.int')$$, :base));
SELECT * FROM pg_temp.expect_error(format($$SELECT oml.ds_put_object(%s, '', 'builtins.int')$$, :base));
SELECT * FROM pg_temp.expect_error(format($$SELECT oml.ds_put_object(%s, %L, 'builtins.int')$$, :base, repeat('o', 129)));
SELECT * FROM pg_temp.expect_error(format($$SELECT oml.ds_put_object(%s, E'o\to', 'builtins.int')$$, :base));
SELECT * FROM pg_temp.expect_error(format($$SELECT oml.ds_put_object(%s, ' o', 'builtins.int')$$, :base));
SELECT * FROM pg_temp.expect_error(format($$SELECT oml.ds_put_object(%s, 'o ', 'builtins.int')$$, :base));
SELECT * FROM pg_temp.expect_error(format($$SELECT oml.ds_put_object(%s, 'o', NULL)$$, :base));
SELECT * FROM pg_temp.expect_error(format($$SELECT oml.ds_put_object(%s, 'o', '')$$, :base));
SELECT * FROM pg_temp.expect_error(format($$SELECT oml.ds_put_object(%s, 'o', %L)$$, :base, repeat('c', 1025)));
SELECT * FROM pg_temp.expect_error(format($$SELECT oml.ds_put_object(%s, 'o', 'builtins.int', NULL)$$, :base));
SELECT * FROM pg_temp.expect_error(format($$SELECT oml.ds_put_object(%s, 'o', 'builtins.int', -1)$$, :base));
SELECT * FROM pg_temp.expect_error(format($$SELECT oml.ds_put_object(%s, 'o', 'builtins.int', nrow => NULL)$$, :base));
SELECT * FROM pg_temp.expect_error(format($$SELECT oml.ds_put_object(%s, 'o', 'builtins.int', nrow => -5)$$, :base));
SELECT * FROM pg_temp.expect_error(format($$SELECT oml.ds_put_object(%s, 'o', 'builtins.int', ncol => NULL)$$, :base));
SELECT * FROM pg_temp.expect_error(format($$SELECT oml.ds_put_object(%s, 'o', 'builtins.int', ncol => -9223372036854775808)$$, :base));
SELECT * FROM pg_temp.expect_error(format($$SELECT oml.ds_put_object(%s, 'o', 'builtins.int', compression => 'gzip')$$, :base));
SELECT * FROM pg_temp.expect_error(format($$SELECT oml.ds_put_object(%s, 'o', 'builtins.int', compression => 'ZLIB')$$, :base));
SELECT * FROM pg_temp.expect_error(format($$SELECT oml.ds_put_object(%s, 'o', 'builtins.int', compression => '')$$, :base));

--
-- oml.ds_put_chunk(obj_id, data)
--
SELECT * FROM pg_temp.expect_error($$SELECT oml.ds_put_chunk(NULL, '\x01')$$);
SELECT * FROM pg_temp.expect_error($$SELECT oml.ds_put_chunk(-1, '\x01')$$);
SELECT * FROM pg_temp.expect_error(format($$SELECT oml.ds_put_chunk(%s, NULL)$$, :base_o));
SELECT * FROM pg_temp.expect_error(format($$SELECT oml.ds_put_chunk(%s, '')$$, :base_o));

--
-- oml.ds_open(ds_name, ds_owner)
--
SELECT * FROM pg_temp.expect_error($$SELECT oml.ds_open(NULL)$$);
SELECT * FROM pg_temp.expect_error($$SELECT oml.ds_open('')$$);
SELECT * FROM pg_temp.expect_error(format('SELECT oml.ds_open(%L)', repeat('x', 129)));
SELECT * FROM pg_temp.expect_error($$SELECT oml.ds_open(E'ba\rse')$$);
SELECT * FROM pg_temp.expect_error($$SELECT oml.ds_open('base ')$$);
SELECT * FROM pg_temp.expect_error($$SELECT oml.ds_open('nosuch')$$);
SELECT * FROM pg_temp.expect_error($$SELECT oml.ds_open('base', '')$$);
SELECT * FROM pg_temp.expect_error($$SELECT oml.ds_open('base', 'regress_bad_nobody')$$);
SELECT * FROM pg_temp.expect_error($$SELECT oml.ds_open('base', 'regress_bad_other')$$);
SELECT oml.ds_open('base', NULL) = :base AS own_by_default;

--
-- oml.ds_objects(ds_name, ds_owner, objs)
--
SELECT * FROM pg_temp.expect_error($$SELECT * FROM oml.ds_objects(NULL)$$);
SELECT * FROM pg_temp.expect_error($$SELECT * FROM oml.ds_objects('')$$);
SELECT * FROM pg_temp.expect_error(format('SELECT * FROM oml.ds_objects(%L)', repeat('x', 129)));
SELECT * FROM pg_temp.expect_error($$SELECT * FROM oml.ds_objects(E'base\n')$$);
SELECT * FROM pg_temp.expect_error($$SELECT * FROM oml.ds_objects(' base')$$);
SELECT * FROM pg_temp.expect_error($$SELECT * FROM oml.ds_objects('nosuch')$$);
SELECT * FROM pg_temp.expect_error($$SELECT * FROM oml.ds_objects('base', '')$$);
SELECT * FROM pg_temp.expect_error($$SELECT * FROM oml.ds_objects('base', 'regress_bad_nobody')$$);
SELECT * FROM pg_temp.expect_error($$SELECT * FROM oml.ds_objects('base', NULL, '{{o},{o}}')$$);
SELECT * FROM pg_temp.expect_error($$SELECT * FROM oml.ds_objects('base', NULL, ARRAY['o', NULL])$$);
SELECT * FROM pg_temp.expect_error($$SELECT * FROM oml.ds_objects('base', NULL, '{NULL}')$$);
SELECT * FROM pg_temp.expect_error($$SELECT * FROM oml.ds_objects('base', NULL, '{nosuch}')$$);
SELECT * FROM pg_temp.expect_error($$SELECT * FROM oml.ds_objects('base', NULL, '{""}')$$);
SELECT object_name FROM oml.ds_objects('base', NULL, '{}');
SELECT object_name FROM oml.ds_objects('base', NULL, '[0:0]={o}');

--
-- oml.ds_get_chunk(obj_id, seq)
--
SELECT * FROM pg_temp.expect_error($$SELECT oml.ds_get_chunk(NULL, 0)$$);
SELECT * FROM pg_temp.expect_error(format('SELECT oml.ds_get_chunk(%s, NULL)', :base_o));
SELECT * FROM pg_temp.expect_error($$SELECT oml.ds_get_chunk(-1, 0)$$);
SELECT * FROM pg_temp.expect_error(format('SELECT oml.ds_get_chunk(%s, -1)', :base_o));
SELECT * FROM pg_temp.expect_error(format('SELECT oml.ds_get_chunk(%s, 2)', :base_o));
SELECT * FROM pg_temp.expect_error(format('SELECT oml.ds_get_chunk(%s, 2147483647)', :base_o));
SELECT oml.ds_get_chunk(:base_o, 0), oml.ds_get_chunk(:base_o, 1);

--
-- oml.ds_describe(ds_name, ds_owner)
--
SELECT * FROM pg_temp.expect_error($$SELECT * FROM oml.ds_describe(NULL)$$);
SELECT * FROM pg_temp.expect_error($$SELECT * FROM oml.ds_describe('')$$);
SELECT * FROM pg_temp.expect_error(format('SELECT * FROM oml.ds_describe(%L)', repeat('x', 129)));
SELECT * FROM pg_temp.expect_error($$SELECT * FROM oml.ds_describe(E'\x1bbase')$$);
SELECT * FROM pg_temp.expect_error($$SELECT * FROM oml.ds_describe('base  ')$$);
SELECT * FROM pg_temp.expect_error($$SELECT * FROM oml.ds_describe('nosuch')$$);
SELECT * FROM pg_temp.expect_error($$SELECT * FROM oml.ds_describe('base', '')$$);
SELECT * FROM pg_temp.expect_error($$SELECT * FROM oml.ds_describe('base', 'regress_bad_nobody')$$);
SELECT * FROM pg_temp.expect_error($$SELECT * FROM oml.ds_describe('base', 'regress_bad_other')$$);

--
-- oml.ds_delete(ds_name, objs, regex_match)
--
SELECT * FROM pg_temp.expect_error($$SELECT oml.ds_delete(NULL)$$);
SELECT * FROM pg_temp.expect_error($$SELECT oml.ds_delete('')$$);
SELECT * FROM pg_temp.expect_error(format('SELECT oml.ds_delete(%L)', repeat('x', 129)));
SELECT * FROM pg_temp.expect_error($$SELECT oml.ds_delete(E'base\t')$$);
SELECT * FROM pg_temp.expect_error($$SELECT oml.ds_delete(' base')$$);
SELECT * FROM pg_temp.expect_error($$SELECT oml.ds_delete('nosuch')$$);
SELECT * FROM pg_temp.expect_error($$SELECT oml.ds_delete('base', '{{o}}')$$);
SELECT * FROM pg_temp.expect_error($$SELECT oml.ds_delete('base', ARRAY[NULL, 'o'])$$);
SELECT * FROM pg_temp.expect_error($$SELECT oml.ds_delete('base', NULL, NULL)$$);
SELECT * FROM pg_temp.expect_error($$SELECT oml.ds_delete('base', '{o}', true)$$);
SELECT * FROM pg_temp.expect_error($$SELECT oml.ds_delete('(', regex_match => true)$$);
SELECT * FROM pg_temp.expect_error($$SELECT oml.ds_delete('a{2,1}', regex_match => true)$$);

--
-- oml.ds_dir(ds_name, regex_match, dstype)
--
SELECT * FROM pg_temp.expect_error($$SELECT * FROM oml.ds_dir('base', NULL)$$);
SELECT * FROM pg_temp.expect_error($$SELECT * FROM oml.ds_dir('base', false, NULL)$$);
SELECT * FROM pg_temp.expect_error($$SELECT * FROM oml.ds_dir(dstype => 'bogus')$$);
SELECT * FROM pg_temp.expect_error($$SELECT * FROM oml.ds_dir(dstype => '')$$);
SELECT * FROM pg_temp.expect_error($$SELECT * FROM oml.ds_dir(NULL, true)$$);
SELECT * FROM pg_temp.expect_error($$SELECT * FROM oml.ds_dir('(', true)$$);
SELECT * FROM pg_temp.expect_error($$SELECT * FROM oml.ds_dir('')$$);
SELECT * FROM pg_temp.expect_error(format('SELECT * FROM oml.ds_dir(%L)', repeat('x', 129)));
SELECT * FROM pg_temp.expect_error($$SELECT * FROM oml.ds_dir(E'ba\x02se')$$);
SELECT * FROM pg_temp.expect_error($$SELECT * FROM oml.ds_dir(' base')$$);
-- dstype is case-insensitive; an unknown exact name lists nothing
SELECT datastore_name FROM oml.ds_dir(dstype => 'USER');
SELECT datastore_name FROM oml.ds_dir(dstype => 'All');
SELECT datastore_name FROM oml.ds_dir('nosuch');

--
-- oml.pyqGrant(v_name, v_type, v_user) and oml.pyqRevoke
--
SELECT * FROM pg_temp.expect_error($$SELECT oml.pyqGrant(NULL)$$);
SELECT * FROM pg_temp.expect_error($$SELECT oml.pyqGrant('')$$);
SELECT * FROM pg_temp.expect_error(format('SELECT oml.pyqGrant(%L)', repeat('x', 129)));
SELECT * FROM pg_temp.expect_error($$SELECT oml.pyqGrant(E'base\n')$$);
SELECT * FROM pg_temp.expect_error($$SELECT oml.pyqGrant('base ')$$);
SELECT * FROM pg_temp.expect_error($$SELECT oml.pyqGrant('nosuch')$$);
SELECT * FROM pg_temp.expect_error($$SELECT oml.pyqGrant('base', NULL)$$);
SELECT * FROM pg_temp.expect_error($$SELECT oml.pyqGrant('base', 'table')$$);
-- 'pyqscript' (any case) names a script, not the datastore "base"
SELECT * FROM pg_temp.expect_error($$SELECT oml.pyqGrant('base', 'pyqscript')$$);
SELECT * FROM pg_temp.expect_error($$SELECT oml.pyqGrant('base', 'datastore', '')$$);
SELECT * FROM pg_temp.expect_error($$SELECT oml.pyqGrant('base', 'datastore', 'regress_bad_nobody')$$);
SELECT * FROM pg_temp.expect_error($$SELECT oml.pyqRevoke(NULL)$$);
SELECT * FROM pg_temp.expect_error($$SELECT oml.pyqRevoke('')$$);
SELECT * FROM pg_temp.expect_error(format('SELECT oml.pyqRevoke(%L)', repeat('x', 129)));
SELECT * FROM pg_temp.expect_error($$SELECT oml.pyqRevoke(E'\tbase')$$);
SELECT * FROM pg_temp.expect_error($$SELECT oml.pyqRevoke(' base')$$);
SELECT * FROM pg_temp.expect_error($$SELECT oml.pyqRevoke('nosuch')$$);
SELECT * FROM pg_temp.expect_error($$SELECT oml.pyqRevoke('base', NULL)$$);
SELECT * FROM pg_temp.expect_error($$SELECT oml.pyqRevoke('base', 'script')$$);
-- 'pyqscript' (any case) names a script, not the datastore "base"
SELECT * FROM pg_temp.expect_error($$SELECT oml.pyqRevoke('base', 'PyqScript')$$);
SELECT * FROM pg_temp.expect_error($$SELECT oml.pyqRevoke('base', 'datastore', '')$$);
SELECT * FROM pg_temp.expect_error($$SELECT oml.pyqRevoke('base', 'datastore', 'regress_bad_nobody')$$);

-- the catalog did not change
RESET ROLE;
SELECT datastores = :datastores AS same_datastores, objects = :objects AS same_objects,
	   chunks = :chunks AS same_chunks, fingerprint = :'state_before' AS same_state
  FROM catalog_state;

--
-- Valid edge values: 128 characters, zero counts, zlib, NULL compression,
-- a 1024-byte class, type names in any case
--
SET ROLE regress_bad_user;
BEGIN;
SELECT oml.ds_save_begin('base', append => true) = :base AS same_datastore;
SELECT oml.ds_put_chunk(oml.ds_put_object(:base, repeat('o', 128), repeat('c', 1024), 0, 0, 0, 'zlib'), '\x78'::bytea);
SELECT oml.ds_put_chunk(oml.ds_put_object(:base, 'nullcomp', 'builtins.int', compression => NULL), '\x01'::bytea);
COMMIT;
SELECT length(object_name) AS name_chars, size, nchunks, compression FROM oml.ds_objects('base');
SELECT length(object_name) AS name_chars, length(class) AS class_chars, size, length, row_count, col_count
  FROM oml.ds_describe('base');
SELECT oml.pyqGrant('base', 'DATASTORE', 'regress_bad_other');
SELECT oml.pyqGrant('base', 'DataStore', 'Public');
SELECT datastore_name, grantee FROM oml.ds_dir(dstype => 'GRANT');
SELECT oml.pyqRevoke('base', 'Datastore', 'pUbLiC');
SELECT oml.pyqRevoke('base', 'datastore', 'regress_bad_other');
SELECT datastore_name, grantee FROM oml.ds_dir(dstype => 'grant');
RESET ROLE;

-- the helper functions
SELECT oml.ds_can_read(NULL, NULL) AS null_owner;
SELECT oml.ds_can_read('regress_bad_user'::regrole, NULL) AS superuser_reads;

--
-- Clean up
--
DELETE FROM oml.datastore
 WHERE owner IN (SELECT oid FROM pg_roles WHERE rolname LIKE 'regress\_bad\_%');
SELECT count(*) AS left_over FROM oml.datastore
 WHERE owner IN (SELECT oid FROM pg_roles WHERE rolname LIKE 'regress\_bad\_%');
DROP VIEW catalog_state;
DROP ROLE regress_bad_user, regress_bad_other;

--
-- privileges: sharing datastores through pyqGrant / pyqRevoke, group roles,
-- PUBLIC, what others may and may not do, superusers, and row-level
-- security on the catalog tables.
--
-- Expected errors go through pg_temp.expect_error, which prints
-- "SQLSTATE: message" (ids masked as N) and any DETAIL and HINT.
--
\set SHOW_CONTEXT never
\i sql/include/expect_error.sql

CREATE ROLE regress_priv_group NOLOGIN;
CREATE ROLE regress_priv_alice LOGIN;
CREATE ROLE regress_priv_bob LOGIN IN ROLE regress_priv_group;
CREATE ROLE regress_priv_carol LOGIN;
CREATE ROLE regress_priv_dave LOGIN NOINHERIT IN ROLE regress_priv_group;
CREATE ROLE regress_priv_alice_member LOGIN IN ROLE regress_priv_alice;
CREATE ROLE regress_priv_dev LOGIN IN ROLE oml_developer;
CREATE ROLE regress_priv_admin SUPERUSER NOLOGIN;

-- the trust role exists and cannot log in
SELECT rolname, rolcanlogin, rolsuper, rolinherit, rolcreaterole, rolbypassrls
  FROM pg_roles WHERE rolname = 'oml_developer';

-- Everything about alice's datastores, as one fingerprint, to show that
-- what others attempt changes nothing.
CREATE TEMP VIEW alice_state AS
SELECT md5(string_agg(format('%s|%s|%s|%s|%s|%s', d.name, d.description, d.grantable,
							 d.acl, d.created,
							 (SELECT string_agg(format('%s:%s:%s:%s:%s', o.name, o.class, o.size, o.nchunks,
													   (SELECT string_agg(encode(c.data, 'hex'), ',' ORDER BY c.seq)
														  FROM oml.datastore_chunk c WHERE c.obj_id = o.id)),
												';' ORDER BY o.name)
								FROM oml.datastore_object o WHERE o.ds_id = d.id)),
					  E'\n' ORDER BY d.name)) AS fingerprint
  FROM oml.datastore d
 WHERE d.owner = (SELECT oid FROM pg_roles WHERE rolname = 'regress_priv_alice');

SET ROLE regress_priv_alice;
BEGIN;
SELECT oml.ds_save_begin('shared', 'to share', grantable => true) AS shared \gset
SELECT oml.ds_put_object(:shared, 'o1', 'builtins.list', 2, 1, 2) AS shared_o1 \gset
SELECT oml.ds_put_chunk(:shared_o1, '\x0a0b'::bytea);
SELECT oml.ds_put_chunk(:shared_o1, '\x0c'::bytea);
SELECT oml.ds_put_chunk(oml.ds_put_object(:shared, 'o2', 'builtins.int'), '\x0d'::bytea);
SELECT oml.ds_save_begin('private_ds', 'mine only') AS private_ds \gset
SELECT oml.ds_put_object(:private_ds, 'p', 'builtins.str') AS private_p \gset
SELECT oml.ds_put_chunk(:private_p, '\xff'::bytea);
SELECT oml.ds_save_begin('pub', 'for a group, then everyone', grantable => true) AS pub \gset
SELECT oml.ds_put_object(:pub, 'q', 'builtins.float') AS pub_q \gset
SELECT oml.ds_put_chunk(:pub_q, '\x1234'::bytea);
COMMIT;
SELECT dsname, nobj, dssize, description, grantable FROM oml.user_pyq_datastores ORDER BY dsname;
RESET ROLE;
SELECT fingerprint AS alice_state FROM alice_state \gset

--
-- Nothing granted: others can neither read nor see alice's datastores
--
SET ROLE regress_priv_bob;
SELECT * FROM pg_temp.expect_error($$SELECT oml.ds_open('shared', 'regress_priv_alice')$$);
SELECT * FROM pg_temp.expect_error($$SELECT * FROM oml.ds_describe('shared', 'regress_priv_alice')$$);
SELECT * FROM pg_temp.expect_error($$SELECT * FROM oml.ds_objects('shared', 'regress_priv_alice')$$);
SELECT * FROM pg_temp.expect_error(format('SELECT oml.ds_get_chunk(%s, 0)', :shared_o1));
-- a missing datastore of another role
SELECT * FROM pg_temp.expect_error($$SELECT * FROM oml.ds_describe('nosuch', 'regress_priv_alice')$$);
-- without an owner, the name is looked up among one's own
SELECT * FROM pg_temp.expect_error($$SELECT * FROM oml.ds_describe('shared')$$);
SELECT count(*) AS all_datastores FROM oml.all_pyq_datastores;
SELECT count(*) AS all_contents FROM oml.all_pyq_datastore_contents;
SELECT count(*) AS datastore_rows FROM oml.datastore;
SELECT count(*) AS object_rows FROM oml.datastore_object;
SELECT count(*) AS chunk_rows FROM oml.datastore_chunk;
SELECT count(*) AS chunk_rows_by_id FROM oml.datastore_chunk WHERE obj_id = :shared_o1;
SELECT * FROM oml.ds_dir(dstype => 'all');
SELECT * FROM oml.ds_dir(dstype => 'granted');
RESET ROLE;

--
-- Grant to a role
--
SET ROLE regress_priv_alice;
SELECT oml.pyqGrant('shared', 'datastore', 'regress_priv_bob');
-- granting again changes nothing
SELECT oml.pyqGrant(v_name => 'shared', v_type => 'datastore', v_user => 'regress_priv_bob');
SELECT datastore_name, grantee FROM oml.ds_dir(dstype => 'grant');
SELECT * FROM oml.user_pyq_datastore_grants ORDER BY dsname, grantee;
RESET ROLE;
SELECT name, acl FROM oml.datastore WHERE owner = 'regress_priv_alice'::regrole ORDER BY name;

SET ROLE regress_priv_bob;
SELECT oml.ds_open('shared', 'regress_priv_alice') = :shared AS opened;
SELECT * FROM oml.ds_describe('shared', 'regress_priv_alice');
SELECT object_name, size, nchunks, compression, trusted FROM oml.ds_objects('shared', 'regress_priv_alice');
SELECT oml.ds_get_chunk(:shared_o1, 0), oml.ds_get_chunk(:shared_o1, 1);
SELECT dsowner, dsname, nobj, dssize, description, grantable FROM oml.all_pyq_datastores;
SELECT * FROM oml.all_pyq_datastore_contents ORDER BY objname;
-- bob's own views stay empty
SELECT count(*) AS own FROM oml.user_pyq_datastores;
SELECT count(*) AS own FROM oml.user_pyq_datastore_contents;
-- direct SELECTs on the catalog show only readable rows
SELECT name, description, grantable FROM oml.datastore;
SELECT name, class, size, nchunks FROM oml.datastore_object ORDER BY name;
SELECT seq, data FROM oml.datastore_chunk ORDER BY obj_id, seq;
SELECT owner, datastore_name, object_count, size, description FROM oml.ds_dir(dstype => 'granted');
SELECT owner, datastore_name FROM oml.ds_dir(dstype => 'all');
-- still not the others
SELECT * FROM pg_temp.expect_error($$SELECT * FROM oml.ds_describe('private_ds', 'regress_priv_alice')$$);
SELECT * FROM pg_temp.expect_error(format('SELECT oml.ds_get_chunk(%s, 0)', :private_p));
SELECT * FROM pg_temp.expect_error(format('SELECT oml.ds_get_chunk(%s, 0)', :pub_q));
-- reading is not writing
SELECT * FROM pg_temp.expect_error(format($$SELECT oml.ds_put_object(%s, 'o3', 'builtins.int')$$, :shared));
SELECT * FROM pg_temp.expect_error(format($$SELECT oml.ds_put_chunk(%s, '\x00')$$, :shared_o1));
SELECT * FROM pg_temp.expect_error($$SELECT oml.ds_delete('shared')$$);
SELECT * FROM pg_temp.expect_error($$SELECT oml.pyqGrant('shared', 'datastore', 'regress_priv_carol')$$);
RESET ROLE;

-- carol got nothing
SET ROLE regress_priv_carol;
SELECT * FROM pg_temp.expect_error($$SELECT * FROM oml.ds_describe('shared', 'regress_priv_alice')$$);
SELECT * FROM pg_temp.expect_error(format('SELECT oml.ds_get_chunk(%s, 0)', :shared_o1));
SELECT count(*) AS visible FROM oml.all_pyq_datastores;
SELECT count(*) AS visible FROM oml.datastore_chunk;
RESET ROLE;

-- a rolled-back grant leaves no trace
SET ROLE regress_priv_alice;
BEGIN;
SELECT oml.pyqGrant('shared', 'datastore', 'regress_priv_carol');
SELECT datastore_name, grantee FROM oml.ds_dir(dstype => 'grant');
ROLLBACK;
SELECT datastore_name, grantee FROM oml.ds_dir(dstype => 'grant');
RESET ROLE;

--
-- Grant to a group role: its members read, as with PostgreSQL's own
-- privileges; a NOINHERIT member only after SET ROLE
--
SET ROLE regress_priv_alice;
SELECT oml.pyqGrant('pub', 'datastore', 'regress_priv_group');
SELECT datastore_name, grantee FROM oml.ds_dir(dstype => 'grant');
RESET ROLE;
SET ROLE regress_priv_bob;
SELECT * FROM oml.ds_describe('pub', 'regress_priv_alice');
SELECT oml.ds_get_chunk(:pub_q, 0);
SELECT owner, datastore_name FROM oml.ds_dir(dstype => 'granted');
SELECT dsowner, dsname FROM oml.all_pyq_datastores ORDER BY dsname;
RESET ROLE;
SET ROLE regress_priv_dave;
SELECT * FROM pg_temp.expect_error($$SELECT * FROM oml.ds_describe('pub', 'regress_priv_alice')$$);
SELECT * FROM pg_temp.expect_error(format('SELECT oml.ds_get_chunk(%s, 0)', :pub_q));
SELECT count(*) AS visible FROM oml.all_pyq_datastores;
SET ROLE regress_priv_group;
SELECT * FROM oml.ds_describe('pub', 'regress_priv_alice');
SELECT oml.ds_get_chunk(:pub_q, 0);
SELECT dsowner, dsname FROM oml.all_pyq_datastores;
RESET ROLE;
SET ROLE regress_priv_carol;
SELECT * FROM pg_temp.expect_error($$SELECT * FROM oml.ds_describe('pub', 'regress_priv_alice')$$);
SELECT count(*) AS visible FROM oml.all_pyq_datastores;
RESET ROLE;

--
-- Grant to PUBLIC: v_user NULL (the default) or 'PUBLIC' in any case
--
SET ROLE regress_priv_alice;
SELECT oml.pyqGrant('pub');
SELECT datastore_name, grantee FROM oml.ds_dir(dstype => 'grant');
RESET ROLE;
SELECT name, acl FROM oml.datastore WHERE owner = 'regress_priv_alice'::regrole ORDER BY name;
SET ROLE regress_priv_carol;
SELECT * FROM oml.ds_describe('pub', 'regress_priv_alice');
SELECT oml.ds_get_chunk(:pub_q, 0);
SELECT dsowner, dsname FROM oml.all_pyq_datastores;
SELECT owner, datastore_name FROM oml.ds_dir(dstype => 'granted');
-- NOINHERIT does not matter for PUBLIC
SET ROLE regress_priv_dave;
SELECT * FROM oml.ds_describe('pub', 'regress_priv_alice');
RESET ROLE;
SET ROLE regress_priv_alice;
SELECT oml.pyqRevoke('pub', 'datastore', 'public');
SELECT datastore_name, grantee FROM oml.ds_dir(dstype => 'grant');
RESET ROLE;
SET ROLE regress_priv_carol;
SELECT * FROM pg_temp.expect_error($$SELECT * FROM oml.ds_describe('pub', 'regress_priv_alice')$$);
RESET ROLE;
SET ROLE regress_priv_alice;
SELECT oml.pyqGrant('pub', 'datastore', 'PUBLIC');
SELECT datastore_name, grantee FROM oml.ds_dir(dstype => 'grant');
RESET ROLE;
SET ROLE regress_priv_carol;
SELECT oml.ds_get_chunk(:pub_q, 0);
RESET ROLE;
SET ROLE regress_priv_alice;
SELECT oml.pyqRevoke('pub', v_user => NULL);
SELECT datastore_name, grantee FROM oml.ds_dir(dstype => 'grant');
RESET ROLE;
SET ROLE regress_priv_carol;
SELECT * FROM pg_temp.expect_error(format('SELECT oml.ds_get_chunk(%s, 0)', :pub_q));
RESET ROLE;

--
-- Revoking
--
SET ROLE regress_priv_alice;
SELECT oml.pyqRevoke('shared', 'datastore', 'regress_priv_bob');
SELECT oml.pyqRevoke('pub', 'datastore', 'regress_priv_group');
SELECT datastore_name, grantee FROM oml.ds_dir(dstype => 'grant');
-- revoking what was never granted is silent
SELECT oml.pyqRevoke('shared', 'datastore', 'regress_priv_carol');
SELECT oml.pyqRevoke('shared');
SELECT oml.pyqRevoke('private_ds', 'datastore', 'regress_priv_bob');
RESET ROLE;
-- no grants left: the acl is NULL again
SELECT name, acl FROM oml.datastore WHERE owner = 'regress_priv_alice'::regrole ORDER BY name;
SET ROLE regress_priv_bob;
SELECT * FROM pg_temp.expect_error($$SELECT * FROM oml.ds_describe('shared', 'regress_priv_alice')$$);
SELECT * FROM pg_temp.expect_error(format('SELECT oml.ds_get_chunk(%s, 0)', :shared_o1));
SELECT * FROM pg_temp.expect_error(format('SELECT oml.ds_get_chunk(%s, 0)', :pub_q));
SELECT count(*) AS visible FROM oml.all_pyq_datastores;
SELECT count(*) AS visible FROM oml.datastore_object;
RESET ROLE;

--
-- Errors
--
SET ROLE regress_priv_alice;
-- a datastore saved with grantable => false cannot be granted
SELECT * FROM pg_temp.expect_error($$SELECT oml.pyqGrant('private_ds', 'datastore', 'regress_priv_bob')$$);
SELECT * FROM pg_temp.expect_error($$SELECT oml.pyqGrant('private_ds')$$);
-- the grantee must exist
SELECT * FROM pg_temp.expect_error($$SELECT oml.pyqGrant('shared', 'datastore', 'regress_priv_nobody')$$);
SELECT * FROM pg_temp.expect_error($$SELECT oml.pyqRevoke('shared', 'datastore', 'regress_priv_nobody')$$);
-- the datastore must exist
SELECT * FROM pg_temp.expect_error($$SELECT oml.pyqGrant('nosuch', 'datastore', 'regress_priv_bob')$$);
SELECT * FROM pg_temp.expect_error($$SELECT oml.pyqRevoke('nosuch')$$);
RESET ROLE;

-- another role's datastore: no grant, revoke, delete, save into it
SET ROLE regress_priv_bob;
SELECT * FROM pg_temp.expect_error($$SELECT oml.pyqGrant('shared', 'datastore', 'regress_priv_bob')$$);
SELECT * FROM pg_temp.expect_error($$SELECT oml.pyqRevoke('shared', 'datastore', 'regress_priv_bob')$$);
SELECT * FROM pg_temp.expect_error($$SELECT oml.ds_delete('shared')$$);
SELECT * FROM pg_temp.expect_error($$SELECT oml.ds_delete('shared', '{o1}')$$);
SELECT oml.ds_delete('shared|pub|private', regex_match => true);
SELECT * FROM pg_temp.expect_error(format($$SELECT oml.ds_put_object(%s, 'o1', 'builtins.int')$$, :shared));
SELECT * FROM pg_temp.expect_error(format($$SELECT oml.ds_put_object(%s, 'new', 'builtins.int')$$, :private_ds));
SELECT * FROM pg_temp.expect_error(format($$SELECT oml.ds_put_chunk(%s, '\x00')$$, :shared_o1));
SELECT * FROM pg_temp.expect_error(format($$SELECT oml.ds_put_chunk(%s, '\x00')$$, :private_p));
-- names are per owner: this is bob's own "shared"
SELECT oml.ds_put_chunk(oml.ds_put_object(oml.ds_save_begin('shared', 'of bob', grantable => true), 'b', 'builtins.int'), '\x0b'::bytea);
SELECT oml.pyqGrant('shared', 'datastore', 'regress_priv_carol');
SELECT owner, datastore_name, description FROM oml.ds_dir(dstype => 'all');
SELECT datastore_name, grantee FROM oml.ds_dir(dstype => 'grant');
RESET ROLE;
SET ROLE regress_priv_carol;
SELECT * FROM oml.ds_describe('shared', 'regress_priv_bob');
SELECT * FROM pg_temp.expect_error($$SELECT * FROM oml.ds_describe('shared', 'regress_priv_alice')$$);
SELECT owner, datastore_name FROM oml.ds_dir(dstype => 'granted');
RESET ROLE;
SET ROLE regress_priv_bob;
SELECT oml.ds_delete('shared');
RESET ROLE;
-- alice's datastores did not change
SELECT fingerprint = :'alice_state' AS alice_unchanged FROM alice_state;

--
-- Direct writes to the catalog tables are refused, even to the owner of
-- the rows; only the functions write
--
SET ROLE regress_priv_alice;
SELECT * FROM pg_temp.expect_error($$INSERT INTO oml.datastore (id, owner, name) VALUES (-1, 'regress_priv_alice'::regrole, 'sneaky')$$);
SELECT * FROM pg_temp.expect_error($$UPDATE oml.datastore SET description = 'changed' WHERE name = 'shared'$$);
SELECT * FROM pg_temp.expect_error($$UPDATE oml.datastore SET acl = '{=r/regress_priv_alice}' WHERE name = 'private_ds'$$);
SELECT * FROM pg_temp.expect_error($$DELETE FROM oml.datastore WHERE name = 'shared'$$);
SELECT * FROM pg_temp.expect_error(format($$INSERT INTO oml.datastore_object (id, ds_id, name, class, writer, trusted) VALUES (-1, %s, 'x', 'builtins.int', 'regress_priv_alice'::regrole, true)$$, :shared));
SELECT * FROM pg_temp.expect_error($$UPDATE oml.datastore_object SET trusted = true$$);
SELECT * FROM pg_temp.expect_error($$DELETE FROM oml.datastore_object$$);
SELECT * FROM pg_temp.expect_error(format($$INSERT INTO oml.datastore_chunk VALUES (%s, 9, '\x00')$$, :shared_o1));
SELECT * FROM pg_temp.expect_error($$UPDATE oml.datastore_chunk SET data = '\x00'$$);
SELECT * FROM pg_temp.expect_error($$DELETE FROM oml.datastore_chunk$$);
SELECT * FROM pg_temp.expect_error($$TRUNCATE oml.datastore_chunk$$);
SELECT * FROM pg_temp.expect_error($$SELECT nextval('oml.datastore_id_seq')$$);
SELECT * FROM pg_temp.expect_error($$SELECT nextval('oml.datastore_object_id_seq')$$);
-- the owner reads her own rows directly
SELECT name, description, grantable FROM oml.datastore ORDER BY name;
SELECT count(*) AS chunk_rows FROM oml.datastore_chunk;
RESET ROLE;
SET ROLE regress_priv_bob;
SELECT * FROM pg_temp.expect_error($$UPDATE oml.datastore SET acl = NULL$$);
SELECT * FROM pg_temp.expect_error($$DELETE FROM oml.datastore$$);
RESET ROLE;
SELECT fingerprint = :'alice_state' AS alice_unchanged FROM alice_state;

--
-- Superusers see and read everything
--
SET ROLE regress_priv_bob;
SELECT oml.ds_put_chunk(oml.ds_put_object(oml.ds_save_begin('bob_private'), 'b', 'builtins.int'), '\x0b'::bytea);
RESET ROLE;
SET ROLE regress_priv_admin;
SELECT owner, datastore_name, object_count, size, description
  FROM oml.ds_dir(dstype => 'all') WHERE owner::text LIKE 'regress\_priv\_%';
SELECT owner, datastore_name
  FROM oml.ds_dir(dstype => 'granted') WHERE owner::text LIKE 'regress\_priv\_%';
SELECT count(*) AS own FROM oml.ds_dir();
SELECT * FROM oml.ds_describe('private_ds', 'regress_priv_alice');
SELECT * FROM oml.ds_describe('bob_private', 'regress_priv_bob');
SELECT oml.ds_get_chunk(:private_p, 0);
SELECT dsowner, dsname FROM oml.all_pyq_datastores WHERE dsowner::text LIKE 'regress\_priv\_%' ORDER BY 1, 2;
SELECT count(*) AS own FROM oml.user_pyq_datastores;
SELECT d.name, count(o.id) AS objects
  FROM oml.datastore d LEFT JOIN oml.datastore_object o ON o.ds_id = d.id
 WHERE d.owner IN ('regress_priv_alice'::regrole, 'regress_priv_bob'::regrole)
 GROUP BY d.name ORDER BY d.name;
-- a superuser cannot grant others' datastores either: only own ones
SELECT * FROM pg_temp.expect_error($$SELECT oml.pyqGrant('shared', 'datastore', 'regress_priv_carol')$$);
RESET ROLE;

-- a member of the owner role reads with the owner's rights
SET ROLE regress_priv_alice_member;
SELECT * FROM oml.ds_describe('private_ds', 'regress_priv_alice');
SELECT dsowner, dsname FROM oml.all_pyq_datastores ORDER BY dsname;
-- but ds_delete and pyqGrant act on the current role's own datastores
SELECT * FROM pg_temp.expect_error($$SELECT oml.ds_delete('private_ds')$$);
RESET ROLE;

-- membership of oml_developer gives no read access
SET ROLE regress_priv_dev;
SELECT * FROM pg_temp.expect_error($$SELECT * FROM oml.ds_describe('private_ds', 'regress_priv_alice')$$);
SELECT count(*) AS visible FROM oml.all_pyq_datastores;
RESET ROLE;
SELECT fingerprint = :'alice_state' AS alice_unchanged FROM alice_state;

--
-- Overwrite: grantable => false drops the grants; grantable => true keeps
-- them; append keeps grants and the grantable flag
--
SET ROLE regress_priv_alice;
SELECT oml.pyqGrant('shared', 'datastore', 'regress_priv_bob');
SELECT oml.pyqGrant('shared', 'datastore', 'regress_priv_group');
SELECT oml.ds_put_chunk(oml.ds_put_object(oml.ds_save_begin('shared', 'ignored', grantable => false, append => true), 'o3', 'builtins.int'), '\x0e'::bytea);
SELECT dsname, grantable, description FROM oml.user_pyq_datastores WHERE dsname = 'shared';
SELECT datastore_name, grantee FROM oml.ds_dir(dstype => 'grant');
SELECT oml.ds_put_chunk(oml.ds_put_object(oml.ds_save_begin('shared', 'second', grantable => true, overwrite => true), 'n', 'builtins.int'), '\x0f'::bytea);
SELECT datastore_name, grantee FROM oml.ds_dir(dstype => 'grant');
RESET ROLE;
SET ROLE regress_priv_bob;
SELECT * FROM oml.ds_describe('shared', 'regress_priv_alice');
RESET ROLE;
SET ROLE regress_priv_alice;
SELECT oml.ds_put_chunk(oml.ds_put_object(oml.ds_save_begin('shared', 'third', grantable => false, overwrite => true), 'n', 'builtins.int'), '\x10'::bytea);
SELECT dsname, grantable, description FROM oml.user_pyq_datastores WHERE dsname = 'shared';
SELECT datastore_name, grantee FROM oml.ds_dir(dstype => 'grant');
SELECT * FROM pg_temp.expect_error($$SELECT oml.pyqGrant('shared', 'datastore', 'regress_priv_bob')$$);
RESET ROLE;
SELECT name, acl FROM oml.datastore WHERE owner = 'regress_priv_alice'::regrole ORDER BY name;
SET ROLE regress_priv_bob;
SELECT * FROM pg_temp.expect_error($$SELECT * FROM oml.ds_describe('shared', 'regress_priv_alice')$$);
SELECT dsowner, dsname FROM oml.all_pyq_datastores;
RESET ROLE;

--
-- Clean up
--
DELETE FROM oml.datastore
 WHERE owner IN (SELECT oid FROM pg_roles WHERE rolname LIKE 'regress\_priv\_%');
SELECT count(*) AS left_over FROM oml.datastore
 WHERE owner IN (SELECT oid FROM pg_roles WHERE rolname LIKE 'regress\_priv\_%');
DROP VIEW alice_state;
DROP ROLE regress_priv_alice_member, regress_priv_alice, regress_priv_bob, regress_priv_carol,
	regress_priv_dave, regress_priv_dev, regress_priv_admin, regress_priv_group;

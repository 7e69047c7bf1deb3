--
-- datastore: the save protocol by hand, reading back, overwrite and append,
-- delete, transactions, the views, oml.ds_dir and the trusted flag.
--
-- Expected errors go through pg_temp.expect_error, which prints
-- "SQLSTATE: message" (ids masked as N) and any DETAIL and HINT.
--
\set SHOW_CONTEXT never
\i sql/include/expect_error.sql

CREATE ROLE regress_ds_alice LOGIN;
CREATE ROLE regress_ds_bob LOGIN;
CREATE ROLE regress_ds_dev LOGIN IN ROLE oml_developer;
CREATE ROLE regress_ds_noinh LOGIN NOINHERIT IN ROLE oml_developer;
CREATE ROLE regress_ds_admin SUPERUSER NOLOGIN;

--
-- Saving by hand: one transaction, ds_save_begin, then for each object
-- ds_put_object and its chunks.
--
SET ROLE regress_ds_alice;
BEGIN;
SELECT oml.ds_save_begin('ds1', 'first datastore') AS ds1 \gset
SELECT oml.ds_put_object(:ds1, 'a_list', 'builtins.list', 3, 1, 3) AS o_list \gset
-- ds_put_chunk returns the object's size so far
SELECT oml.ds_put_chunk(:o_list, '\x0102'::bytea);
SELECT oml.ds_put_chunk(:o_list, '\x030405'::bytea);
SELECT oml.ds_put_chunk(:o_list, '\x06'::bytea);
SELECT oml.ds_put_object(:ds1, 'frame', 'pandas.core.frame.DataFrame', 10, 10, 4) AS o_frame \gset
SELECT oml.ds_put_chunk(:o_frame, '\xdeadbeef'::bytea);
-- length, nrow and ncol default to 1
SELECT oml.ds_put_object(:ds1, 'num', 'builtins.int') AS o_num \gset
SELECT oml.ds_put_chunk(:o_num, '\x2a'::bytea);
COMMIT;

SELECT oml.ds_open('ds1') = :ds1 AS open_gives_id;
SELECT oml.ds_open('ds1', 'regress_ds_alice') = :ds1 AS open_with_owner_gives_id;
SELECT * FROM oml.ds_describe('ds1');
SELECT * FROM oml.ds_describe(ds_name => 'ds1', ds_owner => 'regress_ds_alice');
SELECT object_name,
	   object_id = CASE object_name WHEN 'a_list' THEN :o_list
									WHEN 'frame' THEN :o_frame
									WHEN 'num' THEN :o_num END AS id_ok,
	   size, nchunks, compression, trusted
  FROM oml.ds_objects('ds1');
-- only the named objects, still in name order
SELECT object_name, size FROM oml.ds_objects('ds1', objs => ARRAY['num', 'a_list']);
SELECT object_name FROM oml.ds_objects('ds1', NULL, ARRAY['frame', 'frame']);
SELECT * FROM pg_temp.expect_error($$SELECT * FROM oml.ds_objects('ds1', objs => '{num,nosuch}')$$);
-- chunks are numbered from 0
SELECT oml.ds_get_chunk(:o_list, 0), oml.ds_get_chunk(:o_list, 1), oml.ds_get_chunk(:o_list, 2);
SELECT string_agg(oml.ds_get_chunk(o.object_id, s), ''::bytea ORDER BY s) AS bytes
  FROM oml.ds_objects('ds1', objs => '{a_list}') o, generate_series(0, o.nchunks - 1) s;
SELECT * FROM pg_temp.expect_error(format('SELECT oml.ds_get_chunk(%s, 3)', :o_list));
SELECT * FROM pg_temp.expect_error(format('SELECT oml.ds_get_chunk(%s, -1)', :o_num));

-- the views
SELECT dsname, nobj, dssize, cdate IS NOT NULL AS has_cdate, description, grantable
  FROM oml.user_pyq_datastores ORDER BY dsname;
SELECT dsowner, dsname, nobj, dssize, description, grantable
  FROM oml.all_pyq_datastores ORDER BY dsowner, dsname;
SELECT * FROM oml.all_pyq_datastore_contents ORDER BY dsowner, dsname, objname;
SELECT * FROM oml.user_pyq_datastore_contents ORDER BY dsname, objname;
SELECT cdate AS ds1_cdate FROM oml.user_pyq_datastores WHERE dsname = 'ds1' \gset
-- the size of a datastore is the sum of its chunks' lengths
SELECT d.dssize, (SELECT sum(length(c.data))
					FROM oml.datastore_chunk c
					JOIN oml.datastore_object o ON o.id = c.obj_id
				   WHERE o.ds_id = :ds1) AS chunk_bytes
  FROM oml.user_pyq_datastores d WHERE d.dsname = 'ds1';
RESET ROLE;

-- the views have Oracle's columns
SELECT table_name, string_agg(column_name || ' ' || data_type, ', ' ORDER BY ordinal_position) AS columns
  FROM information_schema.columns
 WHERE table_schema = 'oml' AND table_name IN ('all_pyq_datastores', 'user_pyq_datastores',
		'all_pyq_datastore_contents', 'user_pyq_datastore_contents')
 GROUP BY table_name ORDER BY table_name;

--
-- Saving onto an existing name
--
SET ROLE regress_ds_alice;
SELECT * FROM pg_temp.expect_error($$SELECT oml.ds_save_begin('ds1')$$);
SELECT * FROM pg_temp.expect_error($$SELECT oml.ds_save_begin('ds1', 'x', true)$$);
SELECT * FROM pg_temp.expect_error($$SELECT oml.ds_save_begin('ds1', overwrite => true, append => true)$$);
-- the two flags together are refused for a new name too
SELECT * FROM pg_temp.expect_error($$SELECT oml.ds_save_begin('brand_new', overwrite => true, append => true)$$);
SELECT count(*) AS brand_new FROM oml.user_pyq_datastores WHERE dsname = 'brand_new';

-- append: same-named object replaced, the others kept, description and
-- creation date unchanged
SELECT pg_sleep(0.01);
BEGIN;
SELECT oml.ds_save_begin('ds1', 'ignored with append', append => true) AS ds1_again \gset
SELECT :ds1_again = :ds1 AS same_datastore;
SELECT oml.ds_put_object(:ds1, 'num', 'builtins.float') AS o_num2 \gset
SELECT oml.ds_put_chunk(:o_num2, '\x0a0b'::bytea);
SELECT oml.ds_put_object(:ds1, 'extra', 'builtins.str') AS o_extra \gset
SELECT oml.ds_put_chunk(:o_extra, '\x65'::bytea);
COMMIT;
SELECT * FROM oml.ds_describe('ds1');
SELECT description, cdate = :'ds1_cdate' AS cdate_kept, nobj, dssize
  FROM oml.user_pyq_datastores WHERE dsname = 'ds1';
-- the replaced object and its chunks are gone
SELECT * FROM pg_temp.expect_error(format('SELECT oml.ds_get_chunk(%s, 0)', :o_num));
SELECT oml.ds_get_chunk(:o_num2, 0), oml.ds_get_chunk(:o_list, 1);
RESET ROLE;
SELECT count(*) AS old_num_chunks FROM oml.datastore_chunk WHERE obj_id = :o_num;
SELECT count(*) AS old_num_rows FROM oml.datastore_object WHERE id = :o_num;

-- overwrite: objects replaced, description and grantable replaced,
-- creation date reset
SET ROLE regress_ds_alice;
SELECT pg_sleep(0.01);
BEGIN;
SELECT oml.ds_save_begin('ds1', 'second version', grantable => true, overwrite => true) AS ds1 \gset
SELECT oml.ds_put_chunk(oml.ds_put_object(:ds1, 'only', 'builtins.dict', 2, 1, 2), '\x0001'::bytea);
COMMIT;
SELECT * FROM oml.ds_describe('ds1');
SELECT description, grantable, cdate > :'ds1_cdate' AS cdate_reset, nobj, dssize
  FROM oml.user_pyq_datastores WHERE dsname = 'ds1';
SELECT * FROM pg_temp.expect_error(format('SELECT oml.ds_get_chunk(%s, 0)', :o_list));
RESET ROLE;
SELECT count(*) AS old_objects FROM oml.datastore_object WHERE id IN (:o_list, :o_frame, :o_num2, :o_extra);
SELECT count(*) AS old_chunks FROM oml.datastore_chunk WHERE obj_id IN (:o_list, :o_frame, :o_num2, :o_extra);
SET ROLE regress_ds_alice;
-- overwrite with no description clears it
SELECT oml.ds_save_begin('ds1', overwrite => true) IS NOT NULL AS saved;
SELECT description, grantable, nobj FROM oml.user_pyq_datastores WHERE dsname = 'ds1';
-- overwrite and append onto a missing name create the datastore
SELECT oml.ds_save_begin('made_by_overwrite', 'o', overwrite => true) IS NOT NULL AS saved;
SELECT oml.ds_save_begin('made_by_append', 'a', append => true) IS NOT NULL AS saved;
SELECT dsname, description, nobj FROM oml.user_pyq_datastores
 WHERE dsname LIKE 'made_by%' ORDER BY dsname;
-- an empty datastore is fine
SELECT * FROM oml.ds_describe('made_by_append');
SELECT * FROM oml.ds_objects('made_by_append');

--
-- Transactions: a rolled-back save leaves nothing
--
BEGIN;
SELECT oml.ds_save_begin('rolled_back', 'never') AS rb \gset
SELECT oml.ds_put_chunk(oml.ds_put_object(:rb, 'o', 'builtins.int'), '\x01'::bytea);
SELECT dsname, nobj FROM oml.user_pyq_datastores WHERE dsname = 'rolled_back';
ROLLBACK;
SELECT count(*) AS rolled_back FROM oml.user_pyq_datastores WHERE dsname = 'rolled_back';
SELECT * FROM pg_temp.expect_error($$SELECT oml.ds_open('rolled_back')$$);
RESET ROLE;
SELECT count(*) AS rows_left FROM oml.datastore WHERE id = :rb;
SELECT count(*) AS rows_left FROM oml.datastore_object WHERE ds_id = :rb;
SET ROLE regress_ds_alice;

-- a rolled-back overwrite or append leaves the old contents
BEGIN;
SELECT oml.ds_save_begin('ds2', 'two objects') AS ds2 \gset
SELECT oml.ds_put_chunk(oml.ds_put_object(:ds2, 'x', 'builtins.int'), '\x01'::bytea);
SELECT oml.ds_put_chunk(oml.ds_put_object(:ds2, 'y', 'builtins.int'), '\x0202'::bytea);
COMMIT;
BEGIN;
SELECT oml.ds_save_begin('ds2', 'replaced', overwrite => true) IS NOT NULL AS saved;
SELECT oml.ds_put_chunk(oml.ds_put_object(:ds2, 'z', 'builtins.int'), '\x03'::bytea);
ROLLBACK;
BEGIN;
SELECT oml.ds_save_begin('ds2', append => true) IS NOT NULL AS saved;
SELECT oml.ds_put_chunk(oml.ds_put_object(:ds2, 'x', 'builtins.str'), '\x0404'::bytea);
ROLLBACK;
SELECT * FROM oml.ds_describe('ds2');
SELECT description, nobj, dssize FROM oml.user_pyq_datastores WHERE dsname = 'ds2';
SELECT object_name, oml.ds_get_chunk(object_id, 0) FROM oml.ds_objects('ds2');

--
-- Delete
--
-- deletes rolled back restore everything
BEGIN;
SELECT oml.ds_delete('ds2', ARRAY['x']);
SELECT oml.ds_delete('ds2');
SELECT oml.ds_delete('ds', regex_match => true);
SELECT count(*) AS left_in_txn FROM oml.user_pyq_datastores;
ROLLBACK;
SELECT dsname, nobj, dssize FROM oml.user_pyq_datastores ORDER BY dsname;
SELECT object_name, oml.ds_get_chunk(object_id, 0) FROM oml.ds_objects('ds2');

-- named objects: unknown names are skipped; a warning when nothing went
SELECT oml.ds_put_chunk(oml.ds_put_object(oml.ds_save_begin('ds2', append => true), 'w', 'builtins.int'), '\x05'::bytea);
SELECT oml.ds_delete('ds2', ARRAY['x', 'nosuch']);
SELECT oml.ds_delete('ds2', '{nosuch,other}');
SELECT oml.ds_delete('ds2', '{}');
SELECT * FROM oml.ds_describe('ds2');
SELECT oml.ds_delete('ds2', objs => ARRAY['w', 'y']);
-- an emptied datastore stays
SELECT dsname, nobj, dssize FROM oml.user_pyq_datastores WHERE dsname = 'ds2';
-- the whole datastore
SELECT oml.ds_delete('ds2');
SELECT count(*) AS ds2 FROM oml.user_pyq_datastores WHERE dsname = 'ds2';
SELECT * FROM pg_temp.expect_error($$SELECT oml.ds_delete('ds2')$$);
SELECT * FROM pg_temp.expect_error($$SELECT oml.ds_delete('ds2', '{x}')$$);
SELECT * FROM pg_temp.expect_error($$SELECT oml.ds_describe('ds2')$$);
SELECT * FROM pg_temp.expect_error($$SELECT * FROM oml.ds_objects('ds2')$$);

-- regular expressions are found anywhere in the name, and only own
-- datastores are deleted
SELECT oml.ds_save_begin(n) IS NOT NULL AS saved
  FROM unnest(ARRAY['reg_a', 'xreg_b', 'other', 'REG_C']) n;
RESET ROLE;
SET ROLE regress_ds_bob;
SELECT oml.ds_save_begin('reg_bob') IS NOT NULL AS saved;
RESET ROLE;
SET ROLE regress_ds_alice;
SELECT * FROM pg_temp.expect_error($$SELECT oml.ds_delete('reg', '{a}', true)$$);
SELECT oml.ds_delete('reg', regex_match => true);
SELECT dsname FROM oml.user_pyq_datastores ORDER BY dsname;
SELECT oml.ds_delete('^o', regex_match => true);
SELECT oml.ds_delete('^made_by_(over|app)', regex_match => true);
SELECT oml.ds_delete('nothing_matches', regex_match => true);
SELECT dsname FROM oml.user_pyq_datastores ORDER BY dsname;
RESET ROLE;
SELECT dsowner, dsname FROM oml.all_pyq_datastores WHERE dsname = 'reg_bob';

--
-- oml.ds_dir: names in byte order; sizes are sums of chunk lengths
--
SET ROLE regress_ds_alice;
SELECT oml.ds_delete('ds1');
BEGIN;
SELECT oml.ds_put_chunk(oml.ds_put_object(oml.ds_save_begin('é', 'e acute'), 'o', 'builtins.int'), '\x010203'::bytea);
SELECT oml.ds_put_chunk(oml.ds_put_object(oml.ds_save_begin('a', 'lower a', grantable => true), 'o', 'builtins.int'), '\x01'::bytea);
SELECT oml.ds_put_chunk(oml.ds_put_object(oml.ds_save_begin('a', append => true), 'p', 'builtins.int'), '\x0102'::bytea);
SELECT oml.ds_save_begin('_x', 'underscore', grantable => true) IS NOT NULL AS saved;
SELECT oml.ds_put_chunk(oml.ds_put_object(oml.ds_save_begin('B', 'upper B'), 'o', 'builtins.int'), '\x01020304'::bytea);
COMMIT;
SELECT oml.pyqGrant('a', 'datastore', 'regress_ds_bob');
SELECT oml.pyqGrant('_x');
RESET ROLE;
SET ROLE regress_ds_bob;
SELECT oml.ds_put_chunk(oml.ds_put_object(oml.ds_save_begin('bobs', 'of bob', true), 'o', 'builtins.int'), '\x01'::bytea);
SELECT oml.pyqGrant('bobs', 'datastore', 'regress_ds_alice');
RESET ROLE;
SET ROLE regress_ds_alice;
SELECT owner, datastore_name, object_count, size, date IS NOT NULL AS has_date, description, grantee
  FROM oml.ds_dir();
SELECT datastore_name, object_count, size, description FROM oml.ds_dir(dstype => 'grantable');
SELECT datastore_name, object_count, size, description FROM oml.ds_dir(dstype => 'private');
SELECT datastore_name, grantee FROM oml.ds_dir(dstype => 'grant');
SELECT owner, datastore_name, object_count, size, description FROM oml.ds_dir(dstype => 'granted');
SELECT owner, datastore_name, object_count, size, description FROM oml.ds_dir(dstype => 'all');
-- reg_bob is not readable by alice; bob's view of the same
RESET ROLE;
SET ROLE regress_ds_bob;
SELECT owner, datastore_name FROM oml.ds_dir(dstype => 'all');
SELECT datastore_name, grantee FROM oml.ds_dir(dstype => 'grant');
RESET ROLE;
SET ROLE regress_ds_alice;
-- the date is the creation date
SELECT bool_and(d.date = v.cdate) AS date_is_cdate
  FROM oml.ds_dir() d JOIN oml.user_pyq_datastores v ON v.dsname = d.datastore_name;
-- sizes are the sums of the chunks' lengths
SELECT d.datastore_name, d.size,
	   (SELECT coalesce(sum(length(c.data)), 0)
		  FROM oml.datastore x
		  JOIN oml.datastore_object o ON o.ds_id = x.id
		  JOIN oml.datastore_chunk c ON c.obj_id = o.id
		 WHERE x.name = d.datastore_name AND x.owner = 'regress_ds_alice'::regrole) AS chunk_bytes
  FROM oml.ds_dir() d;
-- one name, exactly
SELECT datastore_name FROM oml.ds_dir('a');
SELECT datastore_name FROM oml.ds_dir('A');
SELECT datastore_name FROM oml.ds_dir('a', false, 'all');
-- regular expressions, unanchored
SELECT datastore_name FROM oml.ds_dir('[a-z]', true);
SELECT datastore_name FROM oml.ds_dir('^[A-Z]$', regex_match => true);
SELECT owner, datastore_name FROM oml.ds_dir('b', true, 'all');
SELECT datastore_name FROM oml.ds_dir('', true);
RESET ROLE;

--
-- The trusted flag: objects written by a superuser or a member of
-- oml_developer are trusted; others not.
--
SET ROLE regress_ds_admin;
SELECT current_user, oml.is_trusted();
SET ROLE regress_ds_dev;
SELECT current_user, oml.is_trusted();
SET ROLE regress_ds_noinh;
SELECT current_user, oml.is_trusted();
SET ROLE regress_ds_alice;
SELECT current_user, oml.is_trusted();
RESET ROLE;
SET ROLE regress_ds_admin;
SELECT oml.ds_put_chunk(oml.ds_put_object(oml.ds_save_begin('trust'), 'o', 'builtins.int'), '\x01'::bytea);
SELECT object_name, trusted FROM oml.ds_objects('trust');
RESET ROLE;
SET ROLE regress_ds_dev;
SELECT oml.ds_put_chunk(oml.ds_put_object(oml.ds_save_begin('trust'), 'o', 'builtins.int'), '\x01'::bytea);
SELECT object_name, trusted FROM oml.ds_objects('trust');
RESET ROLE;
-- privileges of oml_developer count, not mere membership (as for pg_* roles)
SET ROLE regress_ds_noinh;
SELECT oml.ds_put_chunk(oml.ds_put_object(oml.ds_save_begin('trust'), 'o', 'builtins.int'), '\x01'::bytea);
SELECT object_name, trusted FROM oml.ds_objects('trust');
RESET ROLE;
SET ROLE regress_ds_alice;
BEGIN;
SELECT oml.ds_save_begin('trust') AS trust \gset
SELECT oml.ds_put_object(:trust, 'o', 'builtins.int') AS o_trust \gset
SELECT oml.ds_put_chunk(:o_trust, '\x01'::bytea);
COMMIT;
SELECT object_name, trusted FROM oml.ds_objects('trust');
RESET ROLE;
-- trust is the writer's at each write: a chunk written after losing
-- membership (here within the same save) leaves the object untrusted
BEGIN;
GRANT oml_developer TO regress_ds_alice;
SET ROLE regress_ds_alice;
SELECT oml.ds_put_object(oml.ds_save_begin('trust', append => true), 'p', 'builtins.int') AS o_trust_p \gset
SELECT oml.ds_put_chunk(:o_trust_p, '\x01'::bytea);
SELECT object_name, trusted FROM oml.ds_objects('trust');
RESET ROLE;
REVOKE oml_developer FROM regress_ds_alice;
SET ROLE regress_ds_alice;
SELECT oml.ds_put_chunk(:o_trust_p, '\x02'::bytea);
SELECT object_name, size, nchunks, trusted FROM oml.ds_objects('trust');
RESET ROLE;
COMMIT;
SELECT o.name, pg_get_userbyid(o.writer) AS writer, o.trusted
  FROM oml.datastore_object o JOIN oml.datastore d ON d.id = o.ds_id
 WHERE d.name = 'trust' ORDER BY 2, 1;

--
-- Clean up
--
DELETE FROM oml.datastore
 WHERE owner IN (SELECT oid FROM pg_roles WHERE rolname LIKE 'regress\_ds\_%');
SELECT count(*) AS left_over FROM oml.datastore
 WHERE owner IN (SELECT oid FROM pg_roles WHERE rolname LIKE 'regress\_ds\_%');
DROP ROLE regress_ds_alice, regress_ds_bob, regress_ds_dev, regress_ds_noinh, regress_ds_admin;

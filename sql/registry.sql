--
-- registry: script versions and aliases (name@version, name@alias),
-- execute-only script grants and usage grants on datastores (issue 11).
--
-- Expected errors go through pg_temp.expect_error, which prints
-- "SQLSTATE: message" (ids masked as N) and any DETAIL and HINT.
--
\set SHOW_CONTEXT never
\i sql/include/expect_error.sql

CREATE ROLE regress_reg_group NOLOGIN;
CREATE ROLE regress_reg_alice LOGIN IN ROLE oml_developer;
CREATE ROLE regress_reg_dev LOGIN IN ROLE oml_developer;
CREATE ROLE regress_reg_bob LOGIN IN ROLE regress_reg_group;
CREATE ROLE regress_reg_carol LOGIN;

--
-- Versions: every overwrite keeps the previous source
--
SET ROLE regress_reg_alice;
SELECT oml.pyqScriptCreate('score', 'def f(x=1):
    return ("v1", x)', v_description => 'first');
SELECT oml.pyqScriptCreate('score', 'def f(x=1):
    return ("v2", x)', v_overwrite => true, v_description => 'second');
SELECT oml.pyqScriptCreate('score', 'def f(x=1):
    return ("v3", x)', v_overwrite => true);
SELECT name, owner, version, creator, description, length(source_hash) AS hash_len,
	   is_current, aliases
  FROM oml.script_versions WHERE name = 'score' ORDER BY version;
-- the hash is of the version's source
SELECT v.source_hash = encode(sha256(convert_to(s.source, 'UTF8')), 'hex') AS same
  FROM oml.script_versions v JOIN oml.script s ON s.name = v.name
 WHERE v.name = 'score' AND v.is_current;
-- OML4Py's view shows the current source, as before
SELECT name, script FROM oml.user_pyq_scripts WHERE name = 'score';
-- the current version by default, any version by number
SELECT value FROM oml.pyqEval('{"x": 5}', 'JSON', 'score');
SELECT value FROM oml.pyqEval('{"x": 5}', 'JSON', 'score@1');
SELECT value FROM oml.pyqEval(NULL, 'JSON', scr_name => 'score@2');
SELECT value FROM oml.pyqEval(NULL, 'JSON', 'score@3', 'regress_reg_alice');
SELECT oml.script_load('score@1');
-- every pyq* function takes a reference
SELECT name, value FROM oml.pyqIndexEval(NULL, 'JSON', 2, 'score@2');
SELECT value FROM oml.pyqTableEval('SELECT 1 AS a', NULL, 'JSON', 'score@1');
SELECT name, value FROM oml.pyqRowEval('SELECT 1 AS a', NULL, 'JSON', 1, 'score@2');
SELECT name, value FROM oml.pyqGroupEval('SELECT 1 AS a', NULL, 'JSON', 'a', NULL, 'score@1');
-- unknown versions, aliases and scripts
SELECT * FROM pg_temp.expect_error($q$SELECT * FROM oml.pyqEval(NULL, 'JSON', 'score@9')$q$);
SELECT * FROM pg_temp.expect_error($q$SELECT * FROM oml.pyqEval(NULL, 'JSON', 'score@0')$q$);
SELECT * FROM pg_temp.expect_error($q$SELECT * FROM oml.pyqEval(NULL, 'JSON', 'score@99999999999')$q$);
SELECT * FROM pg_temp.expect_error($q$SELECT * FROM oml.pyqEval(NULL, 'JSON', 'score@nope')$q$);
SELECT * FROM pg_temp.expect_error($q$SELECT * FROM oml.pyqEval(NULL, 'JSON', 'score@')$q$);
SELECT * FROM pg_temp.expect_error($q$SELECT * FROM oml.pyqEval(NULL, 'JSON', 'nosuch@1')$q$);
SELECT * FROM pg_temp.expect_error($q$SELECT * FROM oml.pyqEval(NULL, 'JSON', '@1')$q$);
SELECT * FROM pg_temp.expect_error($q$SELECT oml.script_load('score@7')$q$);
-- new names cannot hold '@'
SELECT * FROM pg_temp.expect_error($q$SELECT oml.pyqScriptCreate('a@b', 'def f(): return 1')$q$);
RESET ROLE;

-- A script named with '@' before 0.3.0 still means itself.
INSERT INTO oml.script (id, owner, name, source)
VALUES (nextval('oml.script_id_seq'), 'regress_reg_alice', 'score@1', 'def f(): return "literal"');
INSERT INTO oml.script_version (script_id, version, source, creator)
SELECT id, 1, source, 'regress_reg_alice' FROM oml.script WHERE name = 'score@1';
SET ROLE regress_reg_alice;
SELECT value FROM oml.pyqEval(NULL, 'JSON', 'score@1');
SELECT value FROM oml.pyqEval(NULL, 'JSON', 'score@1@1');
-- ... and can still be overwritten
SELECT oml.pyqScriptCreate('score@1', 'def f(): return "literal 2"', v_overwrite => true);
SELECT value FROM oml.pyqEval(NULL, 'JSON', 'score@1@1');
SELECT oml.pyqScriptDrop('score@1');
SELECT value FROM oml.pyqEval(NULL, 'JSON', 'score@1');

--
-- Aliases
--
SELECT oml.script_alias_set('score', 'prod', 1);
SELECT oml.script_alias_set('score', 'latest');
SELECT value FROM oml.pyqEval(NULL, 'JSON', 'score@prod');
SELECT value FROM oml.pyqEval(NULL, 'JSON', 'score@latest');
SELECT oml.script_load('score@prod');
SELECT name, owner, alias, version, set_by FROM oml.script_aliases ORDER BY alias;
SELECT version, aliases FROM oml.script_versions WHERE name = 'score' ORDER BY version;
-- moving is one update, rolled back like any other
BEGIN;
SELECT oml.script_alias_set('score', 'prod', 2);
SELECT value FROM oml.pyqEval(NULL, 'JSON', 'score@prod');
ROLLBACK;
SELECT value FROM oml.pyqEval(NULL, 'JSON', 'score@prod');
SELECT oml.script_alias_set('score', 'prod', 2);
SELECT value FROM oml.pyqEval(NULL, 'JSON', 'score@prod');
-- errors
SELECT * FROM pg_temp.expect_error($q$SELECT oml.script_alias_set('score', 'prod', 7)$q$);
SELECT * FROM pg_temp.expect_error($q$SELECT oml.script_alias_set('score', '1st')$q$);
SELECT * FROM pg_temp.expect_error($q$SELECT oml.script_alias_set('score', 'a@b')$q$);
SELECT * FROM pg_temp.expect_error($q$SELECT oml.script_alias_set('score', '')$q$);
SELECT * FROM pg_temp.expect_error($q$SELECT oml.script_alias_set('score', NULL)$q$);
SELECT * FROM pg_temp.expect_error($q$SELECT oml.script_alias_set('nosuch', 'prod')$q$);
SELECT * FROM pg_temp.expect_error($q$SELECT oml.script_alias_drop('score', 'nope')$q$);
SELECT oml.script_alias_drop('score', 'nope', v_silent => true);
SELECT oml.script_alias_drop('score', 'latest');
SELECT * FROM pg_temp.expect_error($q$SELECT * FROM oml.pyqEval(NULL, 'JSON', 'score@latest')$q$);

--
-- Dropping versions
--
SELECT * FROM pg_temp.expect_error($q$SELECT oml.script_version_drop('score', 2)$q$);
SELECT * FROM pg_temp.expect_error($q$SELECT oml.script_version_drop('score', 3)$q$);
SELECT * FROM pg_temp.expect_error($q$SELECT oml.script_version_drop('score', 8)$q$);
SELECT oml.script_version_drop('score', 1);
SELECT * FROM pg_temp.expect_error($q$SELECT * FROM oml.pyqEval(NULL, 'JSON', 'score@1')$q$);
SELECT version FROM oml.script_versions WHERE name = 'score' ORDER BY version;
-- the foreign key stands behind the check
RESET ROLE;
SELECT e FROM pg_temp.expect_error($q$DELETE FROM oml.script_version WHERE version = 2 AND script_id = (SELECT id FROM oml.script WHERE name = 'score')$q$) e
 WHERE e NOT LIKE 'DETAIL:%';
SET ROLE regress_reg_alice;

--
-- A cap on the versions kept: the oldest go, never the current one or
-- one an alias names
--
SET oml_store.script_versions_max = 2;
SELECT oml.pyqScriptCreate('score', 'def f(x=1):
    return ("v4", x)', v_overwrite => true);
SELECT oml.pyqScriptCreate('score', 'def f(x=1):
    return ("v5", x)', v_overwrite => true);
SELECT oml.pyqScriptCreate('score', 'def f(x=1):
    return ("v6", x)', v_overwrite => true);
SELECT version, is_current, aliases FROM oml.script_versions WHERE name = 'score' ORDER BY version;
RESET oml_store.script_versions_max;

--
-- Only the owner changes aliases and versions; global scripts
--
SELECT oml.pyqScriptCreate('gscore', 'def f(): return "g1"', v_global => true);
SELECT oml.pyqScriptCreate('gscore', 'def f(): return "g2"', v_global => true, v_overwrite => true);
SELECT oml.script_alias_set('gscore', 'prod', 1, v_global => true);
SELECT value FROM oml.pyqEval(NULL, 'JSON', 'gscore@prod');
SELECT owner, version, aliases FROM oml.script_versions WHERE name = 'gscore' ORDER BY version;
RESET ROLE;
SET ROLE regress_reg_dev;
SELECT * FROM pg_temp.expect_error($q$SELECT oml.script_alias_set('score', 'mine')$q$);
SELECT * FROM pg_temp.expect_error($q$SELECT oml.script_alias_set('gscore', 'mine', v_global => true)$q$);
SELECT * FROM pg_temp.expect_error($q$SELECT oml.script_version_drop('gscore', 2, v_global => true)$q$);
SELECT * FROM pg_temp.expect_error($q$SELECT oml.script_alias_drop('gscore', 'prod', v_global => true)$q$);
-- everyone runs a global script's versions
SELECT value FROM oml.pyqEval(NULL, 'JSON', 'gscore@1', 'PYQSYS');
-- a private script of another role: not readable, so neither are its versions
SELECT * FROM pg_temp.expect_error($q$SELECT * FROM oml.pyqEval(NULL, 'JSON', 'score@9', 'regress_reg_alice')$q$);
SELECT count(*) FROM oml.script_versions WHERE name = 'score';
RESET ROLE;

--
-- Execute-only grants
--
SET ROLE regress_reg_alice;
SELECT oml.pyqGrant('score', 'pyqscript', 'regress_reg_bob', 'execute');
SELECT type, name, grantee, privilege FROM oml.user_pyq_grants ORDER BY 1, 2, 3;
RESET ROLE;
SET ROLE regress_reg_bob;
SELECT value FROM oml.pyqEval('{"x": 7}', 'JSON', 'score', 'regress_reg_alice');
SELECT value FROM oml.pyqEval(NULL, 'JSON', 'score@prod', 'regress_reg_alice');
SELECT name, value FROM oml.pyqIndexEval(NULL, 'JSON', 1, 'score@2', 'regress_reg_alice');
-- but not read its source, in any way
SELECT * FROM pg_temp.expect_error($q$SELECT oml.script_load('score', 'regress_reg_alice')$q$);
SELECT * FROM pg_temp.expect_error($q$SELECT oml.script_load('score@2', 'regress_reg_alice')$q$);
SELECT count(*) FROM oml.script WHERE name = 'score';
SELECT count(*) FROM oml.script_version;
SELECT count(*) FROM oml.script_alias;
SELECT count(*) FROM oml.all_pyq_scripts WHERE name = 'score';
SELECT count(*) FROM oml.script_versions WHERE name = 'score';
SELECT count(*) FROM oml.script_dir(sctype => 'all') WHERE name = 'score';
COPY (SELECT v.version, v.source FROM oml.script_version v
	  JOIN oml.script s ON s.id = v.script_id WHERE NOT s.is_global) TO STDOUT;
RESET ROLE;
-- a read grant includes execute, and replaces it
SET ROLE regress_reg_alice;
SELECT oml.pyqGrant('score', 'pyqscript', 'regress_reg_bob');
SELECT type, name, grantee, privilege FROM oml.user_pyq_grants ORDER BY 1, 2, 3;
-- execute to a reader changes nothing
SELECT oml.pyqGrant('score', 'pyqscript', 'regress_reg_bob', 'execute');
SELECT type, name, grantee, privilege FROM oml.user_pyq_grants ORDER BY 1, 2, 3;
RESET ROLE;
SET ROLE regress_reg_bob;
SELECT length(oml.script_load('score', 'regress_reg_alice')) > 0 AS readable;
SELECT count(*) FROM oml.script_versions WHERE name = 'score';
RESET ROLE;
SET ROLE regress_reg_alice;
-- revoking read leaves nothing; revoking without a privilege takes all
SELECT oml.pyqRevoke('score', 'pyqscript', 'regress_reg_bob', 'read');
SELECT type, name, grantee, privilege FROM oml.user_pyq_grants ORDER BY 1, 2, 3;
SELECT oml.pyqGrant('score', 'pyqscript', 'regress_reg_group', 'execute');
SELECT oml.pyqGrant('score', 'pyqscript', 'PUBLIC', 'execute');
SELECT oml.pyqRevoke('score', 'pyqscript', 'PUBLIC', 'execute');
SELECT type, name, grantee, privilege FROM oml.user_pyq_grants ORDER BY 1, 2, 3;
SELECT * FROM pg_temp.expect_error($q$SELECT oml.pyqGrant('score', 'pyqscript', 'regress_reg_bob', 'usage')$q$);
SELECT * FROM pg_temp.expect_error($q$SELECT oml.pyqGrant('score', 'pyqscript', 'regress_reg_bob', 'write')$q$);
SELECT * FROM pg_temp.expect_error($q$SELECT oml.pyqGrant('score', 'pyqscript', 'regress_reg_bob', NULL)$q$);
RESET ROLE;
-- through the group
SET ROLE regress_reg_bob;
SELECT value FROM oml.pyqEval(NULL, 'JSON', 'score@prod', 'regress_reg_alice');
SELECT * FROM pg_temp.expect_error($q$SELECT oml.script_load('score', 'regress_reg_alice')$q$);
RESET ROLE;
SET ROLE regress_reg_carol;
SELECT * FROM pg_temp.expect_error($q$SELECT * FROM oml.pyqEval(NULL, 'JSON', 'score', 'regress_reg_alice')$q$);
RESET ROLE;
SET ROLE regress_reg_alice;
SELECT oml.pyqRevoke('score', 'pyqscript', 'regress_reg_group');
RESET ROLE;
SET ROLE regress_reg_bob;
SELECT * FROM pg_temp.expect_error($q$SELECT * FROM oml.pyqEval(NULL, 'JSON', 'score', 'regress_reg_alice')$q$);
RESET ROLE;

--
-- Usage grants on datastores: load inside a script one cannot change,
-- never fetch the bytes
--
SET ROLE regress_reg_alice;
SELECT oml.pyqScriptCreate('train', $$
def f():
    import oml
    oml.ds.save({"model": {"w": 3}}, "model", grantable=True, overwrite=True)
    return "saved"
$$);
SELECT value FROM oml.pyqEval(NULL, 'JSON', 'train');
SELECT oml.pyqScriptCreate('predict', $$
def f(x=1):
    import oml
    m = oml.ds.load("model", owner="regress_reg_alice", to_globals=False)["model"]
    return m["w"] * x
$$);
SELECT oml.pyqGrant('predict', 'pyqscript', 'regress_reg_bob', 'execute');
SELECT oml.pyqGrant('predict', 'pyqscript', 'regress_reg_dev', 'execute');
SELECT oml.pyqGrant('predict', 'pyqscript', 'regress_reg_carol', 'execute');
SELECT oml.pyqGrant('model', 'datastore', 'regress_reg_bob', 'usage');
SELECT oml.pyqGrant('model', 'datastore', 'regress_reg_dev', 'usage');
SELECT type, name, grantee, privilege FROM oml.user_pyq_grants ORDER BY 1, 2, 3;
SELECT dsname, grantee FROM oml.user_pyq_datastore_grants ORDER BY 1, 2;
-- a loader script of the developer's own
RESET ROLE;
SET ROLE regress_reg_dev;
SELECT oml.pyqScriptCreate('steal', $$
def f():
    import oml
    return repr(oml.ds.load("model", owner="regress_reg_alice", to_globals=False))
$$);
RESET ROLE;
SET ROLE regress_reg_bob;
-- runs the owner's script, which loads the model
SELECT value FROM oml.pyqEval('{"x": 2}', 'JSON', 'predict', 'regress_reg_alice');
SELECT name, value FROM oml.pyqIndexEval(NULL, 'JSON', 2, 'predict', 'regress_reg_alice');
-- describe is allowed
SELECT * FROM oml.ds_describe('model', 'regress_reg_alice');
-- the bytes are not: the loader's SQL form, the client's functions, the tables, COPY
SELECT * FROM pg_temp.expect_error($q$SELECT * FROM oml.ds_read('model', 'regress_reg_alice')$q$);
SELECT * FROM pg_temp.expect_error($q$SELECT * FROM oml.ds_objects('model', 'regress_reg_alice')$q$);
SELECT * FROM pg_temp.expect_error($q$SELECT oml.ds_open('model', 'regress_reg_alice')$q$);
SELECT count(*) FROM oml.datastore_chunk;
SELECT count(*) FROM oml.datastore_object;
SELECT count(*) FROM oml.datastore;
SELECT count(*) FROM oml.all_pyq_datastore_contents;
COPY oml.datastore_chunk TO STDOUT;
COPY (SELECT * FROM oml.datastore_chunk) TO STDOUT;
SELECT count(*) FROM oml.ds_dir(dstype => 'all');
-- ... nor from an SQL function run by the input query while the script runs
CREATE FUNCTION pg_temp.grab() RETURNS bigint LANGUAGE sql AS
$$SELECT count(*) FROM oml.ds_read('model', 'regress_reg_alice')$$;
SELECT * FROM pg_temp.expect_error($q$SELECT * FROM oml.pyqRowEval('SELECT pg_temp.grab() AS a', NULL, 'JSON', 1, 'predict', 'regress_reg_alice')$q$);
DROP FUNCTION pg_temp.grab();
RESET ROLE;
-- a role with usage may not load in a script it can change (its own)
SET ROLE regress_reg_dev;
SELECT * FROM pg_temp.expect_error($q$SELECT * FROM oml.pyqEval(NULL, 'JSON', 'steal')$q$);
SELECT value FROM oml.pyqEval('{"x": 5}', 'JSON', 'predict', 'regress_reg_alice');
RESET ROLE;
-- without a usage grant the owner's script cannot load it for you
SET ROLE regress_reg_carol;
SELECT * FROM pg_temp.expect_error($q$SELECT * FROM oml.pyqEval(NULL, 'JSON', 'predict', 'regress_reg_alice')$q$);
RESET ROLE;
-- usage to PUBLIC and to a group
SET ROLE regress_reg_alice;
SELECT oml.pyqGrant('model', 'datastore', 'PUBLIC', 'usage');
RESET ROLE;
SET ROLE regress_reg_carol;
SELECT value FROM oml.pyqEval(NULL, 'JSON', 'predict', 'regress_reg_alice');
SELECT * FROM pg_temp.expect_error($q$SELECT * FROM oml.ds_read('model', 'regress_reg_alice')$q$);
RESET ROLE;
SET ROLE regress_reg_alice;
SELECT oml.pyqRevoke('model', 'datastore', 'PUBLIC', 'usage');
SELECT oml.pyqRevoke('model', 'datastore', 'regress_reg_bob');
SELECT oml.pyqGrant('model', 'datastore', 'regress_reg_group', 'usage');
RESET ROLE;
SET ROLE regress_reg_bob;
SELECT value FROM oml.pyqEval(NULL, 'JSON', 'predict', 'regress_reg_alice');
SELECT count(*) FROM oml.datastore_chunk;
RESET ROLE;
SET ROLE regress_reg_carol;
SELECT * FROM pg_temp.expect_error($q$SELECT * FROM oml.pyqEval(NULL, 'JSON', 'predict', 'regress_reg_alice')$q$);
RESET ROLE;
-- read replaces usage
SET ROLE regress_reg_alice;
SELECT oml.pyqGrant('model', 'datastore', 'regress_reg_carol');
SELECT oml.pyqGrant('model', 'datastore', 'regress_reg_carol', 'usage');
SELECT type, name, grantee, privilege FROM oml.user_pyq_grants WHERE type = 'datastore' ORDER BY 1, 2, 3;
SELECT * FROM pg_temp.expect_error($q$SELECT oml.pyqGrant('model', 'datastore', 'regress_reg_bob', 'execute')$q$);
RESET ROLE;
SET ROLE regress_reg_carol;
SELECT count(*) > 0 AS readable FROM oml.ds_read('model', 'regress_reg_alice');
RESET ROLE;

--
-- Tracebacks show an execute-only caller no source lines
--
SET ROLE regress_reg_alice;
SELECT oml.pyqScriptCreate('boom', $$
def f(x=1):
    secret = "s3cr3t"
    return secret[x * 10]
$$);
SELECT oml.pyqGrant('boom', 'pyqscript', 'regress_reg_carol', 'execute');
SELECT * FROM pg_temp.expect_error($q$SELECT * FROM oml.pyqEval(NULL, 'JSON', 'boom')$q$);
RESET ROLE;
SET ROLE regress_reg_carol;
SELECT * FROM pg_temp.expect_error($q$SELECT * FROM oml.pyqEval(NULL, 'JSON', 'boom', 'regress_reg_alice')$q$);
RESET ROLE;
-- ... also when a read grant turns into execute in the same session
SET ROLE regress_reg_alice;
SELECT oml.pyqGrant('boom', 'pyqscript', 'regress_reg_group');
RESET ROLE;
SET ROLE regress_reg_bob;
SELECT * FROM pg_temp.expect_error($q$SELECT * FROM oml.pyqEval(NULL, 'JSON', 'boom', 'regress_reg_alice')$q$);
RESET ROLE;
SET ROLE regress_reg_alice;
SELECT oml.pyqGrant('boom', 'pyqscript', 'regress_reg_bob', 'execute');
RESET ROLE;
REVOKE regress_reg_group FROM regress_reg_bob;
SET ROLE regress_reg_bob;
SELECT * FROM pg_temp.expect_error($q$SELECT * FROM oml.pyqEval(NULL, 'JSON', 'boom', 'regress_reg_alice')$q$);
RESET ROLE;

--
-- Dropping a script drops its versions and aliases
--
RESET ROLE;
SELECT count(*) FROM oml.script_versions WHERE name = 'score';
SELECT count(*) FROM oml.script_aliases WHERE name = 'score';
SET ROLE regress_reg_alice;
SELECT oml.pyqScriptDrop('score');
RESET ROLE;
SELECT count(*) FROM oml.script_versions WHERE name = 'score';
SELECT count(*) FROM oml.script_aliases WHERE name = 'score';
SELECT count(*) FROM oml.script_version v
 WHERE NOT EXISTS (SELECT FROM oml.script s WHERE s.id = v.script_id);

--
-- Clean up
--
DELETE FROM oml.script WHERE owner IN ('regress_reg_alice'::regrole, 'regress_reg_dev'::regrole);
DELETE FROM oml.datastore WHERE owner IN ('regress_reg_alice'::regrole, 'regress_reg_dev'::regrole);
DROP ROLE regress_reg_alice, regress_reg_dev, regress_reg_bob, regress_reg_carol, regress_reg_group;

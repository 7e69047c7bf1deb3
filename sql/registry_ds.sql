--
-- registry_ds: versions and aliases of datastores (issue 11), opt in with
-- versioned => true; loading a version in the server by number or alias,
-- and the usage rule for versions.
--
\set SHOW_CONTEXT never
\i sql/include/expect_error.sql

CREATE ROLE regress_regds_alice LOGIN IN ROLE oml_developer;
CREATE ROLE regress_regds_bob LOGIN;

SET ROLE regress_regds_alice;
SELECT oml.pyqScriptCreate('save', $$
def f(w, versioned=None, overwrite=True, append=False):
    import oml
    oml.ds.save({"w": w, "note": "weights %d" % w}, "model", description="w=%d" % w,
                grantable=True, overwrite=overwrite, append=append, versioned=versioned)
    return w
$$);
SELECT oml.pyqScriptCreate('load', $$
def f(version=None, alias=None, objs=None):
    import oml
    return oml.ds.load("model", objs=objs, owner="regress_regds_alice", to_globals=False,
                       version=version, alias=alias)
$$);
-- by default an overwrite keeps nothing, as in OML4Py
SELECT value FROM oml.pyqEval('{"w": 1, "overwrite": false}', 'JSON', 'save');
SELECT value FROM oml.pyqEval('{"w": 2}', 'JSON', 'save');
SELECT count(*) FROM oml.datastore_versions;
-- (its only version, 1, is the current one)
SELECT value FROM oml.pyqEval('{"version": 1}', 'JSON', 'load');
-- opting in: this overwrite keeps version 2 (the current one), the next ones too
SELECT value FROM oml.pyqEval('{"w": 3, "versioned": true}', 'JSON', 'save');
SELECT value FROM oml.pyqEval('{"w": 4}', 'JSON', 'save');
SELECT dsname, version, description, nobj, is_current, aliases
  FROM oml.datastore_versions ORDER BY version;
SELECT value FROM oml.pyqEval(NULL, 'JSON', 'load');
SELECT value FROM oml.pyqEval('{"version": 2}', 'JSON', 'load');
SELECT value FROM oml.pyqEval('{"version": 3, "objs": ["w"]}', 'JSON', 'load');
SELECT * FROM pg_temp.expect_error($q$SELECT * FROM oml.pyqEval('{"version": 4}', 'JSON', 'load')$q$);
-- aliases
SELECT oml.ds_alias_set('model', 'prod', 3);
SELECT oml.ds_alias_set('model', 'latest');
SELECT value FROM oml.pyqEval('{"alias": "prod"}', 'JSON', 'load');
SELECT value FROM oml.pyqEval('{"alias": "latest"}', 'JSON', 'load');
SELECT version, aliases FROM oml.datastore_versions ORDER BY version;
-- errors
SELECT * FROM pg_temp.expect_error($q$SELECT * FROM oml.pyqEval('{"version": 9}', 'JSON', 'load')$q$);
SELECT * FROM pg_temp.expect_error($q$SELECT * FROM oml.pyqEval('{"alias": "nope"}', 'JSON', 'load')$q$);
SELECT * FROM pg_temp.expect_error($q$SELECT * FROM oml.pyqEval('{"version": 3, "objs": ["nope"]}', 'JSON', 'load')$q$);
SELECT * FROM pg_temp.expect_error($q$SELECT oml.ds_alias_set('model', 'prod', 7)$q$);
SELECT * FROM pg_temp.expect_error($q$SELECT oml.ds_alias_set('model', '2x')$q$);
SELECT * FROM pg_temp.expect_error($q$SELECT oml.ds_alias_set('nosuch', 'prod')$q$);
SELECT * FROM pg_temp.expect_error($q$SELECT oml.ds_version_drop('model', 3)$q$);
SELECT * FROM pg_temp.expect_error($q$SELECT oml.ds_version_drop('model', 4)$q$);
SELECT * FROM pg_temp.expect_error($q$SELECT oml.ds_version_drop('model', 1)$q$);
SELECT * FROM pg_temp.expect_error($q$SELECT oml.ds_alias_drop('model', 'nope')$q$);
SELECT oml.ds_alias_drop('model', 'nope', true);
-- an overwrite moves the current version into the kept ones; the alias follows its number
SELECT value FROM oml.pyqEval('{"w": 5}', 'JSON', 'save');
SELECT value FROM oml.pyqEval('{"alias": "latest"}', 'JSON', 'load');
SELECT value FROM oml.pyqEval('{"version": 3, "objs": ["note"]}', 'JSON', 'load');
SELECT * FROM pg_temp.expect_error($q$SELECT * FROM oml.pyqEval('{"version": 3, "objs": ["nope"]}', 'JSON', 'load')$q$);
SELECT version, is_current, aliases FROM oml.datastore_versions ORDER BY version;
SELECT oml.ds_version_drop('model', 2);
SELECT version FROM oml.datastore_versions ORDER BY version;
-- append changes the current version in place
SELECT value FROM oml.pyqEval('{"w": 6, "overwrite": false, "append": true}', 'JSON', 'save');
SELECT version, nobj, is_current FROM oml.datastore_versions ORDER BY version;
-- a cap: the oldest unaliased versions go
SET oml_store.datastore_versions_max = 1;
SELECT value FROM oml.pyqEval('{"w": 7}', 'JSON', 'save');
SELECT version, is_current, aliases FROM oml.datastore_versions ORDER BY version;
RESET oml_store.datastore_versions_max;
-- usage grants reach kept versions the same way; read rights likewise
SELECT oml.pyqGrant('load', 'pyqscript', 'regress_regds_bob', 'execute');
SELECT oml.pyqGrant('model', 'datastore', 'regress_regds_bob', 'usage');
RESET ROLE;
SET ROLE regress_regds_bob;
SELECT value FROM oml.pyqEval('{"alias": "prod"}', 'JSON', 'load', 'regress_regds_alice');
SELECT count(*) FROM oml.datastore_version_chunk;
SELECT count(*) FROM oml.datastore_versions;
SELECT * FROM pg_temp.expect_error($q$SELECT * FROM oml.ds_version_objects('model', 'regress_regds_alice', v_alias => 'prod')$q$);
SELECT * FROM pg_temp.expect_error($q$SELECT oml.ds_alias_set('model', 'mine')$q$);
RESET ROLE;
-- the client's listing of a version
SET ROLE regress_regds_alice;
SELECT object_name, size > 0 AS has_bytes, nchunks, trusted, writer, kept
  FROM oml.ds_version_objects('model', v_alias => 'prod');
SELECT object_name, kept FROM oml.ds_version_objects('model', v_version => 5);
SELECT * FROM pg_temp.expect_error($q$SELECT * FROM oml.ds_version_objects('model', v_version => 7)$q$);
SELECT * FROM pg_temp.expect_error($q$SELECT * FROM oml.ds_version_objects('model', v_version => 3, objs => ARRAY['nope'])$q$);
SELECT * FROM pg_temp.expect_error($q$SELECT * FROM oml.ds_version_objects('model')$q$);
-- deleting the datastore deletes its versions and aliases
SELECT oml.ds_delete('model');
RESET ROLE;
SELECT (SELECT count(*) FROM oml.datastore_version), (SELECT count(*) FROM oml.datastore_version_object),
	   (SELECT count(*) FROM oml.datastore_version_chunk), (SELECT count(*) FROM oml.datastore_alias);

DELETE FROM oml.script WHERE owner = 'regress_regds_alice'::regrole;
DROP ROLE regress_regds_alice, regress_regds_bob;

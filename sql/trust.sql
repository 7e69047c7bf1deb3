--
-- trust: oml_developer (OML4Py's PYQADMIN) gates writing code the server
-- runs and unpickling in the server.  Only its members and superusers
-- create scripts; anyone runs the scripts it can read; objects are
-- unpickled inside the server only when a trusted role wrote them.
--
-- Expected errors go through pg_temp.expect_error, which prints
-- "SQLSTATE: message" and any DETAIL and HINT.
--
\set SHOW_CONTEXT never
\i sql/include/expect_error.sql

-- oml_developer exists (the extension makes it) and cannot log in
SELECT rolname, rolcanlogin, rolsuper FROM pg_roles WHERE rolname = 'oml_developer';

CREATE ROLE regress_trust_dev LOGIN IN ROLE oml_developer;
CREATE ROLE regress_trust_user LOGIN;
CREATE ROLE regress_trust_noinh LOGIN NOINHERIT IN ROLE oml_developer;
CREATE ROLE regress_trust_team NOLOGIN IN ROLE oml_developer;
CREATE ROLE regress_trust_member LOGIN IN ROLE regress_trust_team;
CREATE ROLE regress_trust_admin SUPERUSER NOLOGIN;

-- who is trusted: members of oml_developer (also through a group role, when
-- inheriting) and superusers
SET ROLE regress_trust_dev;
SELECT current_user, oml.is_trusted();
SET ROLE regress_trust_user;
SELECT current_user, oml.is_trusted();
SET ROLE regress_trust_noinh;
SELECT current_user, oml.is_trusted();
SET ROLE regress_trust_member;
SELECT current_user, oml.is_trusted();
SET ROLE regress_trust_admin;
SELECT current_user, oml.is_trusted();
RESET ROLE;

--
-- Creating scripts
--
SET ROLE regress_trust_user;
SELECT * FROM pg_temp.expect_error($q$SELECT oml.pyqScriptCreate('mine', 'def f(): return 1')$q$);
SELECT * FROM pg_temp.expect_error($q$SELECT oml.pyqScriptCreate('regress_trust_g', 'def f(): return 1', v_global => true)$q$);
-- refused before the source is even looked at
SELECT * FROM pg_temp.expect_error($q$SELECT oml.pyqScriptCreate('mine', 'not python at all')$q$);
SELECT count(*) FROM oml.all_pyq_scripts WHERE name IN ('mine', 'regress_trust_g');
RESET ROLE;
SET ROLE regress_trust_noinh;
SELECT * FROM pg_temp.expect_error($q$SELECT oml.pyqScriptCreate('mine', 'def f(): return 1')$q$);
RESET ROLE;
SET ROLE regress_trust_member;
SELECT oml.pyqScriptCreate('member_script', $$
def f():
    return "written by a member of a member of oml_developer"
$$);
RESET ROLE;
SET ROLE regress_trust_admin;
SELECT oml.pyqScriptCreate('regress_trust_admin_g', $$
def f():
    return "a superuser's global script"
$$, v_global => true);
RESET ROLE;
SET ROLE regress_trust_dev;
SELECT oml.pyqScriptCreate('private_one', $$
def f(x=1):
    return {"private": x}
$$);
SELECT oml.pyqScriptCreate('shared_one', $$
def f(x=1):
    return {"shared": x}
$$);
SELECT oml.pyqScriptCreate('regress_trust_global', $$
def f(x=1):
    return {"global": x}
$$, v_global => true);
SELECT oml.pyqGrant('shared_one', 'pyqscript', 'regress_trust_user');
RESET ROLE;

--
-- Running scripts: any role, for the scripts it can read
--
SET ROLE regress_trust_user;
SELECT value FROM oml.pyqEval('{"x": 2}', 'JSON', 'regress_trust_global');
SELECT value FROM oml.pyqEval(NULL, 'JSON', 'regress_trust_admin_g');
SELECT value FROM oml.pyqEval('{"x": 3}', 'JSON', 'shared_one', 'regress_trust_dev');
SELECT name, value FROM oml.pyqIndexEval(NULL, 'JSON', 2, 'regress_trust_global');
SELECT * FROM pg_temp.expect_error($q$SELECT * FROM oml.pyqEval(NULL, 'JSON', 'private_one', 'regress_trust_dev')$q$);
SELECT * FROM pg_temp.expect_error($q$SELECT * FROM oml.pyqEval(NULL, 'JSON', 'private_one')$q$);
RESET ROLE;

-- a role that leaves oml_developer keeps running its scripts, but can no
-- longer create or replace any
REVOKE oml_developer FROM regress_trust_dev;
SET ROLE regress_trust_dev;
SELECT oml.is_trusted();
SELECT value FROM oml.pyqEval(NULL, 'JSON', 'private_one');
SELECT * FROM pg_temp.expect_error($q$SELECT oml.pyqScriptCreate('private_one', 'def f(): return 0', v_overwrite => true)$q$);
SELECT * FROM pg_temp.expect_error($q$SELECT oml.pyqScriptCreate('regress_trust_global', 'def f(): return 0', true, true)$q$);
SELECT oml.script_load('private_one');
RESET ROLE;
GRANT oml_developer TO regress_trust_dev;

--
-- Unpickling in the server: only objects written by trusted roles
--
SET ROLE regress_trust_dev;
SELECT oml.pyqScriptCreate('regress_trust_save', $$
def f(name, grantable=False):
    import oml
    oml.ds.save({"numbers": [1, 2, 3], "label": "saved in the server"}, name,
                grantable=grantable, overwrite=True)
    return "saved"
$$, v_global => true);
SELECT oml.pyqScriptCreate('regress_trust_load', $$
def f(name, owner=None, objs=None):
    import oml
    return oml.ds.load(name, objs=objs, owner=owner, to_globals=False)
$$, v_global => true);
-- a script trying to create a script, as its caller
SELECT oml.pyqScriptCreate('regress_trust_creator', $$
def f(name):
    import oml
    oml.script.create(name, "def g():\n    return 1\n")
    return "created"
$$, v_global => true);
RESET ROLE;

-- an untrusted role saves its own objects inside the server ...
SET ROLE regress_trust_user;
SELECT value FROM oml.pyqEval('{"name": "regress_trust_u1", "grantable": true}', 'JSON', 'regress_trust_save');
SELECT object_name, trusted FROM oml.ds_objects('regress_trust_u1');
-- ... and may fetch their bytes (as the client does) ...
SELECT object_name, oml.ds_get_chunk(object_id, 0) IS NOT NULL AS readable
  FROM oml.ds_objects('regress_trust_u1');
-- ... but a script cannot unpickle them in the server
SELECT * FROM pg_temp.expect_error($q$SELECT * FROM oml.pyqEval('{"name": "regress_trust_u1"}', 'JSON', 'regress_trust_load')$q$);
SELECT * FROM pg_temp.expect_error($q$SELECT * FROM oml.pyqEval('{"name": "regress_trust_u1", "objs": ["label"]}', 'JSON', 'regress_trust_load')$q$);
-- and it cannot create scripts through a script either
SELECT * FROM pg_temp.expect_error($q$SELECT * FROM oml.pyqEval('{"name": "sneaky"}', 'JSON', 'regress_trust_creator')$q$);
SELECT count(*) FROM oml.script WHERE name = 'sneaky';
SELECT oml.pyqGrant('regress_trust_u1', 'datastore', 'regress_trust_dev');
RESET ROLE;

-- a trusted role cannot unpickle them in the server either
SET ROLE regress_trust_dev;
SELECT * FROM pg_temp.expect_error($q$SELECT * FROM oml.pyqEval('{"name": "regress_trust_u1", "owner": "regress_trust_user"}', 'JSON', 'regress_trust_load')$q$);
-- its own objects, saved in the server, are trusted and load
SELECT value FROM oml.pyqEval('{"name": "regress_trust_d1", "grantable": true}', 'JSON', 'regress_trust_save');
SELECT object_name, trusted FROM oml.ds_objects('regress_trust_d1');
SELECT value FROM oml.pyqEval('{"name": "regress_trust_d1"}', 'JSON', 'regress_trust_load');
SELECT oml.pyqGrant('regress_trust_d1', 'datastore', 'regress_trust_user');
RESET ROLE;
-- objects written by a trusted role load for an untrusted reader too
SET ROLE regress_trust_user;
SELECT value FROM oml.pyqEval('{"name": "regress_trust_d1", "owner": "regress_trust_dev"}', 'JSON', 'regress_trust_load');
RESET ROLE;
-- a superuser's objects are trusted; a superuser still cannot unpickle an
-- untrusted role's objects in the server
SET ROLE regress_trust_admin;
SELECT value FROM oml.pyqEval('{"name": "regress_trust_a1"}', 'JSON', 'regress_trust_save');
SELECT object_name, trusted FROM oml.ds_objects('regress_trust_a1');
SELECT value FROM oml.pyqEval('{"name": "regress_trust_a1"}', 'JSON', 'regress_trust_load');
SELECT * FROM pg_temp.expect_error($q$SELECT * FROM oml.pyqEval('{"name": "regress_trust_u1", "owner": "regress_trust_user"}', 'JSON', 'regress_trust_load')$q$);
RESET ROLE;

-- trust is per object: an object added after the writer left oml_developer
-- is refused, the others still load
SET ROLE regress_trust_dev;
SELECT oml.pyqScriptCreate('regress_trust_append', $$
def f(name):
    import oml
    oml.ds.save({"late": "added while untrusted"}, name, append=True)
    return "appended"
$$, v_global => true);
RESET ROLE;
REVOKE oml_developer FROM regress_trust_dev;
SET ROLE regress_trust_dev;
SELECT value FROM oml.pyqEval('{"name": "regress_trust_d1"}', 'JSON', 'regress_trust_append');
RESET ROLE;
GRANT oml_developer TO regress_trust_dev;
SET ROLE regress_trust_dev;
SELECT object_name, trusted FROM oml.ds_objects('regress_trust_d1');
SELECT value FROM oml.pyqEval('{"name": "regress_trust_d1", "objs": ["label", "numbers"]}', 'JSON', 'regress_trust_load');
SELECT * FROM pg_temp.expect_error($q$SELECT * FROM oml.pyqEval('{"name": "regress_trust_d1"}', 'JSON', 'regress_trust_load')$q$);
SELECT * FROM pg_temp.expect_error($q$SELECT * FROM oml.pyqEval('{"name": "regress_trust_d1", "objs": ["late"]}', 'JSON', 'regress_trust_load')$q$);
-- saving it again as a trusted role makes it whole again
SELECT value FROM oml.pyqEval('{"name": "regress_trust_d1"}', 'JSON', 'regress_trust_save');
SELECT object_name, trusted FROM oml.ds_objects('regress_trust_d1');
RESET ROLE;

--
-- Clean up
--
SET ROLE regress_trust_user;
SELECT oml.ds_delete('regress_trust_u1');
RESET ROLE;
SET ROLE regress_trust_dev;
SELECT oml.ds_delete('regress_trust_d1');
SELECT oml.pyqScriptDrop(name) FROM oml.user_pyq_scripts;
SELECT oml.pyqScriptDrop(name, v_global => true)
  FROM oml.script_dir('^regress_trust_', true, 'global') WHERE name <> 'regress_trust_admin_g';
RESET ROLE;
SET ROLE regress_trust_admin;
SELECT oml.ds_delete('regress_trust_a1');
SELECT oml.pyqScriptDrop('regress_trust_admin_g', v_global => true);
RESET ROLE;
SET ROLE regress_trust_member;
SELECT oml.pyqScriptDrop('member_script');
RESET ROLE;
SELECT count(*) AS left_over FROM oml.script
 WHERE owner IN (SELECT oid FROM pg_roles WHERE rolname LIKE 'regress\_trust\_%');
SELECT count(*) AS left_over FROM oml.datastore
 WHERE owner IN (SELECT oid FROM pg_roles WHERE rolname LIKE 'regress\_trust\_%');
DROP ROLE regress_trust_dev, regress_trust_user, regress_trust_noinh, regress_trust_member,
	regress_trust_team, regress_trust_admin;

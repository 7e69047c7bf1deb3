--
-- script: the script repository.  pyqScriptCreate (private, global,
-- overwrite, source checks), pyqScriptDrop, the views, oml.script_dir,
-- oml.script_load and read grants of scripts.
--
-- Expected errors go through pg_temp.expect_error, which prints
-- "SQLSTATE: message" and any DETAIL and HINT.
--
\set SHOW_CONTEXT never
\i sql/include/expect_error.sql

CREATE ROLE regress_scr_dev1 LOGIN IN ROLE oml_developer;
CREATE ROLE regress_scr_dev2 LOGIN IN ROLE oml_developer;
CREATE ROLE regress_scr_user LOGIN;
CREATE ROLE regress_scr_grp NOLOGIN;
CREATE ROLE regress_scr_member LOGIN IN ROLE regress_scr_grp;
CREATE ROLE regress_scr_admin SUPERUSER NOLOGIN;

--
-- Creating scripts
--
SET ROLE regress_scr_dev1;
SELECT oml.pyqScriptCreate('alpha', $$
def f(n=1):
    return n + 1
$$, v_description => 'adds one');
-- imports and a docstring may stand beside the function
SELECT oml.pyqScriptCreate('with_imports', $$
"""Square a number."""
import math
from os import path as _p

def square(x):
    return math.pow(x, 2)
$$);
SELECT oml.pyqScriptCreate('shared', $$
def f():
    return "global shared of dev1"
$$, v_global => true, v_description => 'for everyone');
-- named notation, with Oracle's parameter names
SELECT oml.pyqScriptCreate(v_name => 'named', v_script => 'def f(): return 1',
						   v_global => false, v_overwrite => false);
SELECT name, script, description FROM oml.user_pyq_scripts ORDER BY name COLLATE "C";
SELECT owner, name, description, is_global FROM oml.all_pyq_scripts
 WHERE owner IN ('regress_scr_dev1', 'PYQSYS') AND name IN ('alpha', 'with_imports', 'shared', 'named')
 ORDER BY owner COLLATE "C", name COLLATE "C";

-- the same name again, without overwrite
SELECT * FROM pg_temp.expect_error($q$SELECT oml.pyqScriptCreate('alpha', 'def g(): pass')$q$);
SELECT * FROM pg_temp.expect_error($q$SELECT oml.pyqScriptCreate('shared', 'def g(): pass', true)$q$);

-- overwrite a private script: new source and description
SELECT oml.pyqScriptCreate('alpha', $$
def f(n=1):
    return n + 100
$$, v_overwrite => true);
SELECT name, script, description FROM oml.user_pyq_scripts WHERE name = 'alpha';
-- overwrite of a script that does not exist creates it
SELECT oml.pyqScriptCreate('fresh', 'def f(): return 0', v_overwrite => true);
SELECT name FROM oml.user_pyq_scripts WHERE name = 'fresh';

-- private and global names are separate namespaces
SELECT oml.pyqScriptCreate('shared', $$
def f():
    return "private shared of dev1"
$$);
SELECT owner, name, is_global FROM oml.all_pyq_scripts WHERE name = 'shared'
 ORDER BY owner COLLATE "C";
RESET ROLE;

-- a global script is replaced only by its creator or a superuser
SET ROLE regress_scr_dev2;
SELECT * FROM pg_temp.expect_error($q$SELECT oml.pyqScriptCreate('shared', 'def f(): return "dev2"', true, true)$q$);
-- dev2 may still have a private script of that name
SELECT oml.pyqScriptCreate('shared', $$
def f():
    return "private shared of dev2"
$$);
RESET ROLE;
SET ROLE regress_scr_admin;
SELECT oml.pyqScriptCreate('shared', $$
def f():
    return "global shared, replaced by a superuser"
$$, v_global => true, v_overwrite => true);
RESET ROLE;
SELECT pg_get_userbyid(owner) AS owner, name, source, description
  FROM oml.script WHERE name = 'shared' AND is_global;
SET ROLE regress_scr_dev1;
SELECT oml.pyqScriptCreate('shared', $$
def f():
    return "global shared of dev1"
$$, v_global => true, v_overwrite => true, v_description => 'for everyone');
SELECT name, script, description FROM oml.script_dir('shared', false, 'global');

--
-- Source checks: each error shows the line
--
SELECT * FROM pg_temp.expect_error($q$SELECT oml.pyqScriptCreate('bad', E'def f(x):\n    return x +\n')$q$);
SELECT * FROM pg_temp.expect_error($q$SELECT oml.pyqScriptCreate('bad', E'def f(x):\n    return (x\n\ndef g():\n    pass\n')$q$);
SELECT * FROM pg_temp.expect_error($q$SELECT oml.pyqScriptCreate('bad', E'def f(x):\nreturn x\n')$q$);
SELECT * FROM pg_temp.expect_error($q$SELECT oml.pyqScriptCreate('bad', E'def f(x):\n    return x\n\ndef g(y):\n    return y\n')$q$);
SELECT * FROM pg_temp.expect_error($q$SELECT oml.pyqScriptCreate('bad', E'import os\nimport sys\n')$q$);
SELECT * FROM pg_temp.expect_error($q$SELECT oml.pyqScriptCreate('bad', E'# nothing here\n')$q$);
SELECT * FROM pg_temp.expect_error($q$SELECT oml.pyqScriptCreate('bad', '')$q$);
SELECT * FROM pg_temp.expect_error($q$SELECT oml.pyqScriptCreate('bad', E'import os\nLIMIT = 3\n\ndef f(x):\n    return x\n')$q$);
SELECT * FROM pg_temp.expect_error($q$SELECT oml.pyqScriptCreate('bad', E'def f(x):\n    return x\n\nprint(f(1))\n')$q$);
SELECT * FROM pg_temp.expect_error($q$SELECT oml.pyqScriptCreate('bad', E'class C:\n    pass\n')$q$);
SELECT * FROM pg_temp.expect_error($q$SELECT oml.pyqScriptCreate('bad', 'f = lambda x: x')$q$);
SELECT * FROM pg_temp.expect_error($q$SELECT oml.pyqScriptCreate('bad', E'async def f():\n    return 1\n')$q$);
-- nothing was stored
SELECT count(*) FROM oml.user_pyq_scripts WHERE name = 'bad';

--
-- Argument checks
--
SELECT * FROM pg_temp.expect_error($q$SELECT oml.pyqScriptCreate(NULL, 'def f(): pass')$q$);
SELECT * FROM pg_temp.expect_error($q$SELECT oml.pyqScriptCreate('', 'def f(): pass')$q$);
SELECT * FROM pg_temp.expect_error(format('SELECT oml.pyqScriptCreate(%L, %L)', repeat('n', 129), 'def f(): pass'));
SELECT * FROM pg_temp.expect_error($q$SELECT oml.pyqScriptCreate(E'tab\there', 'def f(): pass')$q$);
SELECT * FROM pg_temp.expect_error($q$SELECT oml.pyqScriptCreate(' lead', 'def f(): pass')$q$);
SELECT * FROM pg_temp.expect_error($q$SELECT oml.pyqScriptCreate('nosrc', NULL)$q$);
SELECT * FROM pg_temp.expect_error($q$SELECT oml.pyqScriptCreate('big', repeat('#', 1024 * 1024 + 1))$q$);
SELECT * FROM pg_temp.expect_error($q$SELECT oml.pyqScriptCreate('nullflag', 'def f(): pass', NULL)$q$);
SELECT * FROM pg_temp.expect_error($q$SELECT oml.pyqScriptCreate('nullflag', 'def f(): pass', false, NULL)$q$);
-- 128 characters (not bytes) is the longest name
SELECT oml.pyqScriptCreate(repeat('é', 128), 'def f(): pass');
SELECT length(name), octet_length(name) FROM oml.user_pyq_scripts WHERE name LIKE 'é%';
SELECT oml.pyqScriptDrop(repeat('é', 128));
RESET ROLE;

--
-- Dropping scripts
--
SET ROLE regress_scr_dev1;
SELECT * FROM pg_temp.expect_error($q$SELECT oml.pyqScriptDrop('missing')$q$);
SELECT * FROM pg_temp.expect_error($q$SELECT oml.pyqScriptDrop('missing', v_global => true)$q$);
SELECT oml.pyqScriptDrop('missing', v_silent => true);
SELECT oml.pyqScriptDrop('missing', true, true);
SELECT * FROM pg_temp.expect_error($q$SELECT oml.pyqScriptDrop(NULL)$q$);
SELECT * FROM pg_temp.expect_error($q$SELECT oml.pyqScriptDrop('')$q$);
SELECT * FROM pg_temp.expect_error($q$SELECT oml.pyqScriptDrop('fresh', NULL)$q$);
-- 'fresh' is private: dropping it as global finds nothing
SELECT * FROM pg_temp.expect_error($q$SELECT oml.pyqScriptDrop('fresh', v_global => true)$q$);
SELECT oml.pyqScriptDrop('fresh');
SELECT count(*) FROM oml.all_pyq_scripts WHERE name = 'fresh';
-- a global script of another creator
SELECT oml.pyqScriptCreate('dev1_global', 'def f(): return 1', v_global => true);
RESET ROLE;
SET ROLE regress_scr_dev2;
SELECT * FROM pg_temp.expect_error($q$SELECT oml.pyqScriptDrop('dev1_global', v_global => true)$q$);
-- dev2's private 'shared' goes, the global one stays
SELECT oml.pyqScriptDrop('shared');
SELECT owner, name, is_global FROM oml.all_pyq_scripts WHERE name = 'shared';
SELECT oml.pyqScriptCreate('shared', $$
def f():
    return "private shared of dev2"
$$);
RESET ROLE;
SET ROLE regress_scr_dev1;
-- 'dev1_global' is global: dropping it as private finds nothing
SELECT * FROM pg_temp.expect_error($q$SELECT oml.pyqScriptDrop('dev1_global')$q$);
SELECT oml.pyqScriptDrop('dev1_global', v_global => true);
SELECT count(*) FROM oml.all_pyq_scripts WHERE name = 'dev1_global';
-- a transaction that drops and rolls back leaves the script
BEGIN;
SELECT oml.pyqScriptDrop('named');
SELECT count(*) FROM oml.user_pyq_scripts WHERE name = 'named';
ROLLBACK;
SELECT count(*) FROM oml.user_pyq_scripts WHERE name = 'named';
RESET ROLE;
-- a superuser drops any global script
SET ROLE regress_scr_dev2;
SELECT oml.pyqScriptCreate('dev2_global', 'def f(): return 2', v_global => true);
RESET ROLE;
SET ROLE regress_scr_admin;
SELECT oml.pyqScriptDrop('dev2_global', v_global => true);
RESET ROLE;
SELECT count(*) FROM oml.script WHERE name = 'dev2_global';

--
-- oml.script_dir: user, global, all, grant; byte order; regular expressions
--
SET ROLE regress_scr_dev1;
SELECT oml.pyqScriptCreate('Zulu', 'def f(): pass');
SELECT oml.pyqScriptCreate('_under', 'def f(): pass');
SELECT oml.pyqScriptCreate('beta', 'def f(): pass');
SELECT oml.pyqScriptCreate('Beta', 'def f(): pass');
SELECT oml.pyqScriptCreate('émile', 'def f(): pass');
SELECT oml.pyqScriptCreate('regress_scr_glob_b', 'def f(): pass', v_global => true);
SELECT oml.pyqScriptCreate('regress_scr_glob_A', 'def f(): pass', v_global => true);
SELECT owner, name, description, grantee FROM oml.script_dir();
SELECT owner, name FROM oml.script_dir(sctype => 'USER');
SELECT owner, name, description FROM oml.script_dir(sctype => 'global')
 WHERE name ~ '^(regress_scr_|shared$)';
-- (other tests' global scripts left out)
SELECT owner, name FROM oml.script_dir(sctype => 'all')
 WHERE owner <> 'PYQSYS' OR name ~ '^(regress_scr_|shared$)';
SELECT owner, name FROM oml.script_dir('shared', sctype => 'all');
-- a name is matched exactly, a regular expression anywhere in the name
SELECT name FROM oml.script_dir('beta');
SELECT name FROM oml.script_dir('eta', true);
SELECT name FROM oml.script_dir('^[A-Z]', true);
SELECT name FROM oml.script_dir('BETA', true);
SELECT name FROM oml.script_dir('(?i)BETA', true);
SELECT name FROM oml.script_dir('glob_', true, 'global') WHERE name LIKE 'regress_scr_%';
SELECT name FROM oml.script_dir('eta', false);
SELECT * FROM pg_temp.expect_error($q$SELECT * FROM oml.script_dir('(', true)$q$);
SELECT * FROM pg_temp.expect_error($q$SELECT * FROM oml.script_dir(sctype => 'mine')$q$);
SELECT * FROM pg_temp.expect_error($q$SELECT * FROM oml.script_dir(sctype => NULL)$q$);
SELECT * FROM pg_temp.expect_error($q$SELECT * FROM oml.script_dir(regex_match => NULL)$q$);
SELECT * FROM pg_temp.expect_error($q$SELECT * FROM oml.script_dir('')$q$);
-- no grants yet
SELECT name, grantee FROM oml.script_dir(sctype => 'grant');
RESET ROLE;

--
-- oml.script_load: own script first, then the global one
--
SET ROLE regress_scr_dev1;
SELECT oml.script_load('shared');
SELECT oml.script_load('alpha');
SELECT oml.script_load('alpha', 'regress_scr_dev1');
-- with an owner: that role's private script first, and dev2's is not readable
SELECT * FROM pg_temp.expect_error($q$SELECT oml.script_load(v_name => 'shared', v_owner => 'regress_scr_dev2')$q$);
RESET ROLE;
SET ROLE regress_scr_dev2;
SELECT oml.script_load('shared');
SELECT * FROM pg_temp.expect_error($q$SELECT oml.script_load('alpha')$q$);
SELECT * FROM pg_temp.expect_error($q$SELECT oml.script_load('alpha', 'regress_scr_dev1')$q$);
SELECT * FROM pg_temp.expect_error($q$SELECT oml.script_load('nope', 'regress_scr_dev1')$q$);
SELECT * FROM pg_temp.expect_error($q$SELECT oml.script_load('alpha', 'regress_scr_nobody')$q$);
SELECT * FROM pg_temp.expect_error($q$SELECT oml.script_load('alpha', '')$q$);
SELECT * FROM pg_temp.expect_error($q$SELECT oml.script_load(NULL)$q$);
RESET ROLE;
-- a role outside oml_developer reads global scripts, not private ones
SET ROLE regress_scr_user;
SELECT oml.script_load('shared');
SELECT * FROM pg_temp.expect_error($q$SELECT oml.script_load('alpha', 'regress_scr_dev1')$q$);
SELECT * FROM pg_temp.expect_error($q$SELECT * FROM oml.pyqEval(NULL, 'JSON', 'alpha', 'regress_scr_dev1')$q$);
SELECT owner, name FROM oml.all_pyq_scripts
 WHERE owner LIKE 'regress_scr_%' OR name IN ('shared', 'alpha')
 ORDER BY owner COLLATE "C", name COLLATE "C";
SELECT count(*) FROM oml.user_pyq_scripts;
RESET ROLE;
-- superusers read everything
SET ROLE regress_scr_admin;
SELECT oml.script_load('alpha', 'regress_scr_dev1');
RESET ROLE;

--
-- Grants of scripts
--
SET ROLE regress_scr_dev1;
SELECT oml.pyqGrant('alpha', 'pyqscript', 'regress_scr_user');
SELECT name, grantee FROM oml.script_dir(sctype => 'grant');
RESET ROLE;
SET ROLE regress_scr_user;
SELECT oml.script_load('alpha', 'regress_scr_dev1');
SELECT name, value FROM oml.pyqEval('{"n": 2}', 'JSON', 'alpha', 'regress_scr_dev1');
SELECT owner, name FROM oml.all_pyq_scripts WHERE owner = 'regress_scr_dev1';
-- still not found without naming the owner
SELECT * FROM pg_temp.expect_error($q$SELECT oml.script_load('alpha')$q$);
-- and not in the role's own list
SELECT count(*) FROM oml.user_pyq_scripts;
SELECT name FROM oml.script_dir(sctype => 'user');
RESET ROLE;
SET ROLE regress_scr_dev2;
SELECT * FROM pg_temp.expect_error($q$SELECT oml.script_load('alpha', 'regress_scr_dev1')$q$);
RESET ROLE;

-- to a group role, to PUBLIC; one row per grantee, byte order
SET ROLE regress_scr_dev1;
SELECT oml.pyqGrant('with_imports', 'PyqScript', 'regress_scr_grp');
SELECT oml.pyqGrant('named', 'pyqscript');
SELECT oml.pyqGrant('named', 'pyqscript', 'regress_scr_grp');
-- granting twice changes nothing
SELECT oml.pyqGrant('alpha', 'pyqscript', 'regress_scr_user');
SELECT name, grantee FROM oml.script_dir(sctype => 'grant');
SELECT name, grantee FROM oml.script_dir('^(al|na)', true, 'grant');
RESET ROLE;
SET ROLE regress_scr_member;
SELECT oml.script_load('with_imports', 'regress_scr_dev1');
SELECT oml.script_load('named', 'regress_scr_dev1');
SELECT * FROM pg_temp.expect_error($q$SELECT oml.script_load('alpha', 'regress_scr_dev1')$q$);
SELECT owner, name FROM oml.script_dir(sctype => 'all') WHERE owner <> 'PYQSYS';
RESET ROLE;
SET ROLE regress_scr_dev2;
SELECT oml.script_load('named', 'regress_scr_dev1');
RESET ROLE;

-- grant errors: global scripts are readable by all and cannot be granted
SET ROLE regress_scr_dev1;
SELECT * FROM pg_temp.expect_error($q$SELECT oml.pyqGrant('regress_scr_glob_b', 'pyqscript', 'regress_scr_user')$q$);
SET ROLE regress_scr_dev2;
-- a global script of someone else, another role's private script
SELECT * FROM pg_temp.expect_error($q$SELECT oml.pyqGrant('regress_scr_glob_b', 'pyqscript')$q$);
SELECT * FROM pg_temp.expect_error($q$SELECT oml.pyqGrant('alpha', 'pyqscript', 'regress_scr_dev2')$q$);
SET ROLE regress_scr_dev1;
SELECT * FROM pg_temp.expect_error($q$SELECT oml.pyqGrant('nope', 'pyqscript', 'regress_scr_user')$q$);
SELECT * FROM pg_temp.expect_error($q$SELECT oml.pyqGrant('alpha', 'pyqscript', 'regress_scr_nobody')$q$);
SELECT * FROM pg_temp.expect_error($q$SELECT oml.pyqGrant('alpha', 'pyqscript', '')$q$);
SELECT * FROM pg_temp.expect_error($q$SELECT oml.pyqGrant('alpha', 'script', 'regress_scr_user')$q$);
SELECT * FROM pg_temp.expect_error($q$SELECT oml.pyqGrant('alpha', NULL, 'regress_scr_user')$q$);
-- a datastore named like the script is another thing
SELECT * FROM pg_temp.expect_error($q$SELECT oml.pyqGrant('alpha', 'datastore', 'regress_scr_user')$q$);

-- an overwritten script keeps its grants
SELECT oml.pyqScriptCreate('alpha', $$
def f(n=1):
    return n + 1000
$$, v_overwrite => true);
RESET ROLE;
SET ROLE regress_scr_user;
SELECT name, value FROM oml.pyqEval('{"n": 2}', 'JSON', 'alpha', 'regress_scr_dev1');
RESET ROLE;

-- revoking
SET ROLE regress_scr_dev1;
SELECT oml.pyqRevoke('alpha', 'pyqscript', 'regress_scr_user');
SELECT oml.pyqRevoke('named', 'pyqscript', 'PUBLIC');
-- revoking what was never granted is silent
SELECT oml.pyqRevoke('alpha', 'pyqscript', 'regress_scr_user');
SELECT oml.pyqRevoke('beta', 'pyqscript');
SELECT * FROM pg_temp.expect_error($q$SELECT oml.pyqRevoke('regress_scr_glob_A', 'pyqscript', 'regress_scr_user')$q$);
SELECT name, grantee FROM oml.script_dir(sctype => 'grant');
RESET ROLE;
SET ROLE regress_scr_user;
SELECT * FROM pg_temp.expect_error($q$SELECT oml.script_load('alpha', 'regress_scr_dev1')$q$);
SELECT * FROM pg_temp.expect_error($q$SELECT oml.script_load('named', 'regress_scr_dev1')$q$);
RESET ROLE;
SET ROLE regress_scr_member;
SELECT oml.script_load('named', 'regress_scr_dev1');
RESET ROLE;
-- a rolled-back grant leaves no trace
SET ROLE regress_scr_dev1;
BEGIN;
SELECT oml.pyqGrant('beta', 'pyqscript', 'regress_scr_user');
SELECT name, grantee FROM oml.script_dir('beta', sctype => 'grant');
ROLLBACK;
SELECT name, grantee FROM oml.script_dir('beta', sctype => 'grant');
RESET ROLE;

--
-- Clean up
--
SET ROLE regress_scr_dev1;
SELECT oml.pyqScriptDrop(name) FROM oml.user_pyq_scripts;
SELECT oml.pyqScriptDrop(name, v_global => true)
  FROM oml.script_dir(sctype => 'global') WHERE name IN ('shared', 'regress_scr_glob_A', 'regress_scr_glob_b');
RESET ROLE;
SET ROLE regress_scr_dev2;
SELECT oml.pyqScriptDrop('shared');
RESET ROLE;
SELECT count(*) AS left_over FROM oml.script
 WHERE owner IN (SELECT oid FROM pg_roles WHERE rolname LIKE 'regress\_scr\_%');
DROP ROLE regress_scr_dev1, regress_scr_dev2, regress_scr_user, regress_scr_member,
	regress_scr_grp, regress_scr_admin;

--
-- script_cache: the per-backend script cache and compiled-function cache
-- answer as an uncached lookup would, in one session (the isolation spec
-- script_cache and test/python/test_script_cache.py cover other sessions).
--
\set SHOW_CONTEXT never
\i sql/include/expect_error.sql
CREATE ROLE regress_sc_dev IN ROLE oml_developer;
CREATE ROLE regress_sc_dev2 IN ROLE oml_developer;
CREATE ROLE regress_sc_user;

SET ROLE regress_sc_dev;
SELECT oml.pyqScriptCreate('v', 'def v():' || chr(10) || '    return "dev 1"');
SELECT oml.pyqGrant('v', 'pyqscript', 'regress_sc_user');
SET ROLE regress_sc_dev2;
SELECT oml.pyqScriptCreate('v', 'def v():' || chr(10) || '    return "dev2"');
SELECT oml.pyqGrant('v', 'pyqscript', 'regress_sc_user');
RESET ROLE;

--
-- The trigger that invalidates the caches fires also with
-- session_replication_role = replica (e.g. in a logical replication apply
-- worker, or a superuser's direct DML).
--
SELECT tgenabled FROM pg_trigger
 WHERE tgrelid = 'oml.script'::regclass AND tgname = 'script_changed';
SET ROLE regress_sc_user;
SELECT value FROM oml.pyqEval(NULL, 'JSON', 'v', 'regress_sc_dev');
RESET ROLE;
SET session_replication_role = replica;
UPDATE oml.script SET source = replace(source, 'dev 1', 'dev 2')
 WHERE name = 'v' AND owner = 'regress_sc_dev'::regrole;
RESET session_replication_role;
SET ROLE regress_sc_user;
SELECT value FROM oml.pyqEval(NULL, 'JSON', 'v', 'regress_sc_dev');

--
-- Owner names are resolved on every call: after two roles swap names, the
-- name means the other role's script.
--
RESET ROLE;
ALTER ROLE regress_sc_dev RENAME TO regress_sc_tmp;
ALTER ROLE regress_sc_dev2 RENAME TO regress_sc_dev;
ALTER ROLE regress_sc_tmp RENAME TO regress_sc_dev2;
SET ROLE regress_sc_user;
SELECT value FROM oml.pyqEval(NULL, 'JSON', 'v', 'regress_sc_dev');
SELECT value FROM oml.pyqEval(NULL, 'JSON', 'v', 'regress_sc_dev2');
SELECT oml.script_load('v', 'regress_sc_dev');

--
-- Revocation of role membership takes effect at once, although the
-- script row did not change.
--
RESET ROLE;
SET ROLE regress_sc_dev;
SELECT oml.pyqRevoke('v', 'pyqscript', 'regress_sc_user');
SELECT oml.pyqGrant('v', 'pyqscript', 'oml_developer');
RESET ROLE;
GRANT oml_developer TO regress_sc_user;
SET ROLE regress_sc_user;
SELECT value FROM oml.pyqEval(NULL, 'JSON', 'v', 'regress_sc_dev');
RESET ROLE;
REVOKE oml_developer FROM regress_sc_user;
SET ROLE regress_sc_user;
SELECT * FROM pg_temp.expect_error($$SELECT value FROM oml.pyqEval(NULL, 'JSON', 'v', 'regress_sc_dev')$$);

--
-- Many calls in one statement, the script overwritten in the middle by the
-- same transaction: each call runs what its snapshot sees, a call site
-- recompiles only when the source changes.
--
RESET ROLE;
SET ROLE regress_sc_dev;
CREATE FUNCTION pg_temp.bump(i int) RETURNS int LANGUAGE plpgsql AS $$
BEGIN
	IF i = 3 THEN
		PERFORM oml.pyqScriptCreate('v', 'def v():' || chr(10) || '    return "three"', v_overwrite => true);
	END IF;
	RETURN i;
END $$;
BEGIN;
SELECT i, (SELECT value FROM oml.pyqEval(NULL, 'JSON', 'v') WHERE i > 0)
  FROM (SELECT pg_temp.bump(i) AS i FROM generate_series(1, 5) i) s;
SELECT value FROM oml.pyqEval(NULL, 'JSON', 'v');
ROLLBACK;
SELECT value FROM oml.pyqEval(NULL, 'JSON', 'v');

RESET ROLE;
DROP FUNCTION pg_temp.bump(int);
DELETE FROM oml.script WHERE owner IN ('regress_sc_dev'::regrole, 'regress_sc_dev2'::regrole);
DROP ROLE regress_sc_dev;
DROP ROLE regress_sc_dev2;
DROP ROLE regress_sc_user;

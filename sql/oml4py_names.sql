--
-- oml4py_names: names as OML4Py code and BI tools write them.  PYQSYS as
-- scr_owner / v_owner means the global script of that name, in every pyq*
-- function and script_load (also when a role of that name exists, and
-- without mixing up the cached lookups of other owners); grp_col and
-- ord_col naming an upper-case column unquoted get a hint; owner columns
-- of the views and of ds_dir are text.
--
-- Expected errors go through pg_temp.expect_error, which prints
-- "SQLSTATE: message" and any DETAIL and HINT.
--
\set SHOW_CONTEXT never
\i sql/include/expect_error.sql

CREATE ROLE regress_names_dev LOGIN IN ROLE oml_developer;
CREATE ROLE regress_names_user LOGIN;
CREATE TABLE regress_names_iris ("SPECIES" text, "Sepal_Length" float8, petal float8);
INSERT INTO regress_names_iris VALUES ('setosa', 5.1, 1.4), ('virginica', 6.3, 6.0),
	('setosa', 4.9, 1.5);
GRANT SELECT ON regress_names_iris TO regress_names_dev, regress_names_user;

--
-- PYQSYS: the global script of that name
--
SET ROLE regress_names_dev;
SELECT oml.pyqScriptCreate('regress_names_s', $$
def f(*args, **kwargs):
    return "global"
$$, v_global => true);
SELECT oml.pyqScriptCreate('regress_names_s', $$
def f(*args, **kwargs):
    return "private"
$$);
SELECT oml.pyqScriptCreate('regress_names_only_private', 'def f(): return 1');
-- own private first without an owner; the global one with PYQSYS, in any case
SELECT value FROM oml.pyqEval(NULL, 'JSON', 'regress_names_s');
SELECT value FROM oml.pyqEval(NULL, 'JSON', 'regress_names_s', 'PYQSYS');
SELECT value FROM oml.pyqEval(NULL, 'JSON', 'regress_names_s', 'pyqsys');
SELECT value FROM oml.pyqEval(NULL, 'JSON', 'regress_names_s', 'PyqSys');
-- a replaced global script is seen at once through PYQSYS (cached lookups
-- follow changes), and the private one stays as it was
SELECT oml.pyqScriptCreate('regress_names_s', $$
def f(*args, **kwargs):
    return "global, replaced"
$$, v_global => true, v_overwrite => true);
SELECT value FROM oml.pyqEval(NULL, 'JSON', 'regress_names_s', 'PYQSYS');
SELECT value FROM oml.pyqEval(NULL, 'JSON', 'regress_names_s');
SELECT oml.pyqScriptCreate('regress_names_s', $$
def f(*args, **kwargs):
    return "global"
$$, v_global => true, v_overwrite => true);
SELECT value FROM oml.pyqEval(NULL, 'JSON', 'regress_names_s', 'PYQSYS');
-- the creator's name still finds its private script first
SELECT value FROM oml.pyqEval(NULL, 'JSON', 'regress_names_s', 'regress_names_dev');
-- one statement, several owners: each call gets the script its owner means
SELECT o, value FROM (VALUES (1, NULL), (2, 'PYQSYS'), (3, NULL), (4, 'pyqsys'),
					 (5, 'regress_names_dev')) v(o, owner),
	   LATERAL oml.pyqEval(NULL, 'JSON', 'regress_names_s', v.owner)
 ORDER BY o;
-- every pyq* function, and script_load
SELECT value FROM oml.pyqTableEval('regress_names_iris', NULL, 'JSON', 'regress_names_s', 'PYQSYS');
SELECT name, value FROM oml.pyqRowEval('regress_names_iris', NULL, 'JSON', 2, 'regress_names_s', 'PYQSYS')
 ORDER BY name;
SELECT name, value FROM oml.pyqGroupEval('regress_names_iris', NULL, 'JSON', '"SPECIES"', NULL,
										 'regress_names_s', 'PYQSYS') ORDER BY name;
SELECT name, value FROM oml.pyqIndexEval(NULL, 'JSON', 2, 'regress_names_s', 'PYQSYS') ORDER BY name;
SELECT oml.script_load('regress_names_s', 'PYQSYS') LIKE '%return "global"%' AS global_source;
SELECT oml.script_load('regress_names_s') LIKE '%return "private"%' AS private_source;
-- PYQSYS never falls back to a private script
SELECT * FROM pg_temp.expect_error($q$SELECT * FROM oml.pyqEval(NULL, 'JSON', 'regress_names_only_private', 'PYQSYS')$q$);
SELECT * FROM pg_temp.expect_error($q$SELECT oml.script_load('regress_names_only_private', 'pyqsys')$q$);
-- an owner that is no role is still an error
SELECT * FROM pg_temp.expect_error($q$SELECT * FROM oml.pyqEval(NULL, 'JSON', 'regress_names_s', 'PYQSYS_')$q$);
SELECT * FROM pg_temp.expect_error($q$SELECT oml.script_load('regress_names_s', 'regress_names_nobody')$q$);
RESET ROLE;

-- Another role, as a BI tool would: list the scripts, call each with the
-- owner the view shows.
SET ROLE regress_names_user;
SELECT s.owner, s.name, r.value
  FROM oml.all_pyq_scripts s,
	   LATERAL oml.pyqEval(NULL, 'JSON', s.name, s.owner) r
 WHERE s.name = 'regress_names_s';
-- the private one is not granted: with its owner named, refused
SELECT * FROM pg_temp.expect_error($q$SELECT * FROM oml.pyqEval(NULL, 'JSON', 'regress_names_s', 'regress_names_dev')$q$);
RESET ROLE;

-- A role named PYQSYS (either case) does not change what PYQSYS means.
CREATE ROLE "PYQSYS" LOGIN IN ROLE oml_developer;
CREATE ROLE pyqsys LOGIN IN ROLE oml_developer;
SET ROLE "PYQSYS";
SELECT oml.pyqScriptCreate('regress_names_s', 'def f(): return "role PYQSYS"');
SELECT oml.pyqGrant('regress_names_s', 'pyqscript', NULL);
SELECT value FROM oml.pyqEval(NULL, 'JSON', 'regress_names_s');
RESET ROLE;
SET ROLE pyqsys;
SELECT oml.pyqScriptCreate('regress_names_s', 'def f(): return "role pyqsys"');
SELECT oml.pyqGrant('regress_names_s', 'pyqscript', NULL);
RESET ROLE;
SET ROLE regress_names_user;
SELECT value FROM oml.pyqEval(NULL, 'JSON', 'regress_names_s', 'PYQSYS');
SELECT value FROM oml.pyqEval(NULL, 'JSON', 'regress_names_s', 'pyqsys');
SELECT oml.script_load('regress_names_s', 'PYQSYS') LIKE '%return "global"%' AS global_source;
RESET ROLE;
SET ROLE "PYQSYS";
SELECT oml.pyqScriptDrop('regress_names_s');
RESET ROLE;
SET ROLE pyqsys;
SELECT oml.pyqScriptDrop('regress_names_s');
RESET ROLE;
DROP ROLE "PYQSYS", pyqsys;

--
-- grp_col and ord_col: a hint for a name in the wrong case
--
SET ROLE regress_names_user;
SELECT * FROM pg_temp.expect_error($q$SELECT * FROM oml.pyqGroupEval('regress_names_iris', NULL, 'JSON', 'SPECIES', NULL, 'regress_names_s', 'PYQSYS')$q$);
SELECT * FROM pg_temp.expect_error($q$SELECT * FROM oml.pyqGroupEval('regress_names_iris', NULL, 'JSON', '"species"', NULL, 'regress_names_s', 'PYQSYS')$q$);
SELECT * FROM pg_temp.expect_error($q$SELECT * FROM oml.pyqGroupEval('regress_names_iris', NULL, 'JSON', '"SPECIES", Sepal_Length', NULL, 'regress_names_s', 'PYQSYS')$q$);
SELECT * FROM pg_temp.expect_error($q$SELECT * FROM oml.pyqGroupEval('regress_names_iris', NULL, 'JSON', '"SPECIES"', 'Sepal_Length DESC', 'regress_names_s', 'PYQSYS')$q$);
-- no column of that name in any case: no hint
SELECT * FROM pg_temp.expect_error($q$SELECT * FROM oml.pyqGroupEval('regress_names_iris', NULL, 'JSON', 'GENUS', NULL, 'regress_names_s', 'PYQSYS')$q$);
-- syntax is checked before columns
SELECT * FROM pg_temp.expect_error($q$SELECT * FROM oml.pyqGroupEval('regress_names_iris', NULL, 'JSON', '"SPECIES"', 'SEPAL; DROP TABLE x', 'regress_names_s', 'PYQSYS')$q$);
-- and an input that is not a query before both
SELECT * FROM pg_temp.expect_error($q$SELECT * FROM oml.pyqGroupEval('regress_names_nothing', NULL, 'JSON', 'SPECIES', NULL, 'regress_names_s', 'PYQSYS')$q$);
-- written as the hint says, it works (groups in order, rows by ord_col)
SELECT name, value FROM oml.pyqGroupEval('SELECT "SPECIES", "Sepal_Length" FROM regress_names_iris',
	'{"oml_input_type": "pandas.DataFrame"}', 'JSON', '"SPECIES"', '"Sepal_Length" DESC',
	'regress_names_s', 'PYQSYS') ORDER BY name;
RESET ROLE;

--
-- Owner columns are text in every view, and in ds_dir
--
SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod)
  FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
 WHERE c.relnamespace = 'oml'::regnamespace AND c.relkind = 'v'
   AND a.attname IN ('owner', 'dsowner', 'grantee')
 ORDER BY 1, 2;
SELECT pg_get_function_result('oml.ds_dir(text, boolean, text)'::regprocedure) LIKE 'TABLE(owner text,%' AS ds_dir_owner_text;
-- the views still work, for their owners and through their grants
SET ROLE regress_names_dev;
SELECT dsowner, dsname FROM oml.all_pyq_datastores WHERE dsowner = 'regress_names_dev';
SELECT count(*) FROM oml.user_pyq_datastores;
SELECT count(*) FROM oml.user_pyq_datastore_contents;
SELECT count(*) FROM oml.all_pyq_datastore_contents WHERE dsowner = 'regress_names_dev';
SELECT owner, datastore_name FROM oml.ds_dir(dstype => 'all') WHERE owner = 'regress_names_dev';
RESET ROLE;
SELECT relname, reloptions,
	   (SELECT string_agg(privilege_type, ',') FROM aclexplode(relacl) WHERE grantee = 0) AS public_privileges
  FROM pg_class
 WHERE relnamespace = 'oml'::regnamespace AND relkind = 'v' AND relname ~ 'datastore'
 ORDER BY relname;

--
-- Clean up
--
SET ROLE regress_names_dev;
SELECT oml.pyqScriptDrop('regress_names_s');
SELECT oml.pyqScriptDrop('regress_names_only_private');
SELECT oml.pyqScriptDrop('regress_names_s', v_global => true);
RESET ROLE;
DROP TABLE regress_names_iris;
DROP ROLE regress_names_dev, regress_names_user;

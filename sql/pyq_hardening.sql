--
-- pyq_hardening: misuse of internals, SQL-looking column lists, group keys
-- compared as values, dates pandas cannot hold, arguments shared between
-- calls, transaction control inside scripts, and what an unreadable
-- object id reveals.
--
\set VERBOSITY default
\set SHOW_CONTEXT never
\i sql/include/expect_error.sql

CREATE ROLE regress_hard_dev LOGIN IN ROLE oml_developer;
CREATE ROLE regress_hard_other LOGIN;
CREATE SCHEMA regress_hard AUTHORIZATION regress_hard_dev;
GRANT USAGE ON SCHEMA regress_hard TO regress_hard_other;

-- The COPY trigger function cannot be attached elsewhere by a plain role,
SET ROLE regress_hard_other;
CREATE TEMP VIEW fake AS SELECT 0::bigint AS obj_id, 0::bigint AS data;
SELECT pg_temp.expect_error($$CREATE TRIGGER t INSTEAD OF INSERT ON fake
	FOR EACH ROW EXECUTE FUNCTION oml.ds_chunk_in()$$);
DROP VIEW fake;
RESET ROLE;
-- and refuses any view but its own, even when a superuser attaches it.
CREATE VIEW regress_hard.fake AS SELECT 0::bigint AS obj_id, 0::bigint AS data;
CREATE TRIGGER t INSTEAD OF INSERT ON regress_hard.fake
	FOR EACH ROW EXECUTE FUNCTION oml.ds_chunk_in();
SELECT pg_temp.expect_error($$INSERT INTO regress_hard.fake VALUES (1, 4096)$$);
DROP VIEW regress_hard.fake;

SET ROLE regress_hard_dev;
SET search_path = regress_hard, public;
CREATE TABLE g (id int, k numeric, s text, v float8);
INSERT INTO g VALUES (1, 1.0, 'a', 1), (2, 1.00, 'a', 2), (3, 2, 'a', 3),
	(4, 1.000, 'b', 4);
SELECT oml.pyqScriptCreate('ids', $$
def f(df):
    return sorted(int(i) for i in df["id"])
$$);

-- Group keys compare with the type's equality: 1.0, 1.00 and 1.000 are one
-- group, as ORDER BY puts them together.
SELECT name, value FROM oml.pyqGroupEval('g', '{"oml_input_type": "pandas.DataFrame"}',
	'JSON', 'k', 'id', 'ids') ORDER BY value;

-- Column lists are names (with directions for ord_col), nothing else.
SELECT name, value FROM oml.pyqGroupEval('g', '{"oml_input_type": "pandas.DataFrame"}',
	'JSON', ' S ', 'v DESC NULLS LAST, id', 'ids') ORDER BY name;
SELECT pg_temp.expect_error($$SELECT * FROM oml.pyqGroupEval('g', NULL, 'JSON', 's',
	'id; DROP TABLE g', 'ids')$$);
SELECT pg_temp.expect_error($$SELECT * FROM oml.pyqGroupEval('g', NULL, 'JSON',
	's, (SELECT 1)', NULL, 'ids')$$);
SELECT pg_temp.expect_error($$SELECT * FROM oml.pyqGroupEval('g', NULL, 'JSON', 's',
	'id sideways', 'ids')$$);
SELECT pg_temp.expect_error($$SELECT * FROM oml.pyqGroupEval('g', NULL, 'JSON',
	'"unterminated', NULL, 'ids')$$);
-- An input query ending in a comment still works.
SELECT name, value FROM oml.pyqGroupEval('SELECT * FROM g -- comment',
	'{"oml_input_type": "pandas.DataFrame"}', 'JSON', 's', NULL, 'ids') ORDER BY name;

-- Dates beyond pandas' range arrive as Python objects; infinities as NULL.
CREATE TABLE d (day date, ts timestamp);
INSERT INTO d VALUES ('9999-12-31', '2020-01-01 10:00'), ('2020-01-01', 'infinity'),
	('-infinity', '1500-06-01 00:00');
SELECT oml.pyqScriptCreate('dates', $$
def f(df):
    return [(str(x) if x is not None and x == x else None) for x in df["day"]] + \
           [(str(x) if x is not None and x == x else None) for x in df["ts"]]
$$);
SELECT value FROM oml.pyqTableEval('SELECT * FROM d ORDER BY day NULLS LAST',
	'{"oml_input_type": "pandas.DataFrame"}', 'JSON', 'dates');

-- A list argument is fresh for every call, even if a call changes it.
SELECT oml.pyqScriptCreate('acc', $$
def f(i, acc):
    acc.append(i)
    return len(acc)
$$);
SELECT name, value FROM oml.pyqIndexEval('{"acc": []}', 'JSON', 3, 'acc');

-- Scripts are cached per backend; any change to oml.script, even direct
-- DML by a superuser, is seen by the next statement.
SELECT value FROM oml.pyqIndexEval('{"acc": [7]}', 'JSON', 1, 'acc');
RESET ROLE;
UPDATE oml.script SET source = replace(source, 'len(acc)', 'len(acc) * 100')
 WHERE name = 'acc';
SET ROLE regress_hard_dev;
SELECT value FROM oml.pyqIndexEval('{"acc": [7]}', 'JSON', 1, 'acc');
RESET ROLE;
DELETE FROM oml.script WHERE name = 'acc';
SET ROLE regress_hard_dev;
SELECT pg_temp.expect_error($$SELECT * FROM oml.pyqIndexEval('{"acc": []}', 'JSON', 1, 'acc')$$);

-- Transaction control is not for scripts.
SELECT oml.pyqScriptCreate('commits', $$
def f():
    import _oml
    _oml.execute("COMMIT")
$$);
SELECT pg_temp.expect_error($$SELECT * FROM oml.pyqEval(NULL, 'JSON', 'commits')$$);

-- An object id the caller may not read reveals nothing about it.
BEGIN;
SELECT oml.ds_save_begin('mine') AS ds \gset
SELECT oml.ds_put_object(:ds, 'o', 'bytes') AS obj \gset
SELECT oml.ds_put_chunk(:obj, '\x01'::bytea);
COMMIT;
SET ROLE regress_hard_other;
SELECT pg_temp.expect_error(format('SELECT oml.ds_get_chunk(%s, 0)', :obj));
SELECT count(*) AS visible_chunks FROM oml.datastore_chunk WHERE obj_id = :obj;
RESET ROLE;

-- Clean up.
SET ROLE regress_hard_dev;
SELECT oml.ds_delete('mine');
SELECT oml.pyqScriptDrop(n) FROM unnest(ARRAY['ids', 'dates', 'commits']) n;
RESET ROLE;
RESET search_path;
DROP SCHEMA regress_hard CASCADE;
DROP ROLE regress_hard_dev, regress_hard_other;

--
-- pyqeval: running stored scripts in embedded Python.  pyqEval with JSON,
-- XML, PNG and relational output; pyqTableEval over tables, views and
-- queries with each oml_input_type; pyqRowEval, pyqGroupEval and
-- pyqIndexEval; datastores used from inside scripts; input read as the
-- calling role; scripts replaced while a session runs them.
--
-- Expected errors go through pg_temp.expect_error, which prints
-- "SQLSTATE: message" and any DETAIL (unless told not to: tracebacks that
-- go through the installed package's files) and HINT.
--
\set SHOW_CONTEXT never
CREATE FUNCTION pg_temp.expect_error(stmt text, show_detail boolean DEFAULT true)
RETURNS SETOF text
LANGUAGE plpgsql AS $$
DECLARE
	st text; msg text; det text; hnt text;
BEGIN
	EXECUTE stmt;
	RETURN NEXT 'no error';
EXCEPTION WHEN OTHERS THEN
	GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT,
		det = PG_EXCEPTION_DETAIL, hnt = PG_EXCEPTION_HINT;
	RETURN NEXT st || ': ' || msg;
	IF det <> '' AND show_detail THEN RETURN NEXT 'DETAIL: ' || det; END IF;
	IF hnt <> '' THEN RETURN NEXT 'HINT: ' || hnt; END IF;
END
$$;

CREATE ROLE regress_pyqe_dev LOGIN IN ROLE oml_developer;
CREATE ROLE regress_pyqe_user LOGIN;
CREATE ROLE regress_pyqe_nosel LOGIN;

-- Input data: a schema of our own, and one table on the search_path.
CREATE SCHEMA regress_pyqe;
GRANT USAGE ON SCHEMA regress_pyqe TO regress_pyqe_dev, regress_pyqe_user, regress_pyqe_nosel;
CREATE TABLE regress_pyqe.nums (id int, x float8, y numeric);
INSERT INTO regress_pyqe.nums VALUES
	(1, 0.5, 10), (2, 1.5, 20), (3, NULL, 30), (4, 3.5, 40), (5, 4.5, NULL), (6, 5.5, 60);
CREATE TABLE regress_pyqe.mixed (id int, grp text, sub int, ord int, val float8);
INSERT INTO regress_pyqe.mixed VALUES
	(1, 'b', 1, 3, 1.0), (2, 'a', 1, 2, 2.0), (3, 'a', 2, 1, 3.0), (4, 'b', 1, 1, 4.0),
	(5, 'a', 1, 1, 5.0), (6, 'b', 2, 2, 6.0), (7, 'a', 1, 3, 7.0), (8, 'c', 1, 1, 8.0);
CREATE VIEW regress_pyqe.mixed_a AS SELECT id, sub, val FROM regress_pyqe.mixed WHERE grp = 'a';
CREATE TABLE regress_pyqe_plain (k text, v int);
INSERT INTO regress_pyqe_plain VALUES ('one', 1), ('two', 2), ('three', 3);
CREATE TYPE regress_pyqe.result AS (id int, label text, score float8);
GRANT SELECT ON regress_pyqe.nums, regress_pyqe.mixed, regress_pyqe.mixed_a, regress_pyqe_plain
	TO regress_pyqe_dev, regress_pyqe_user;
-- row-level security: each role sees its own rows
CREATE TABLE regress_pyqe.owned (who name, item text);
INSERT INTO regress_pyqe.owned VALUES
	('regress_pyqe_dev', 'd1'), ('regress_pyqe_user', 'u1'), ('regress_pyqe_user', 'u2'), ('someone', 's1');
ALTER TABLE regress_pyqe.owned ENABLE ROW LEVEL SECURITY;
CREATE POLICY own_rows ON regress_pyqe.owned USING (who = current_user);
GRANT SELECT ON regress_pyqe.owned TO regress_pyqe_dev, regress_pyqe_user;

SET ROLE regress_pyqe_dev;
-- What a script was given: its type, shape and column types.
SELECT oml.pyqScriptCreate('regress_pyqe_info', $$
def describe(data):
    t = type(data)
    out = {"type": t.__module__ + "." + t.__name__, "shape": list(data.shape)}
    if hasattr(data, "dtypes"):
        out["columns"] = {c: str(d) for c, d in data.dtypes.items()}
    elif data.dtype.names:
        out["columns"] = {n: str(data.dtype[n]) for n in data.dtype.names}
    else:
        out["dtype"] = str(data.dtype)
    return out
$$, v_global => true);
SELECT oml.pyqScriptCreate('regress_pyqe_echo', $$
def echo(data):
    return data
$$, v_global => true);
SELECT oml.pyqScriptCreate('kw', $$
def f(a, b=2, c=None, **rest):
    return {"a": a, "b": b, "c": c, "rest": rest}
$$);

--
-- pyqEval: JSON, XML, PNG
--
SELECT * FROM oml.pyqEval('{"a": 1}', 'JSON', 'kw');
SELECT name, value FROM oml.pyqEval('{"a": "x", "b": [1, 2.5, null], "c": {"d": true}, "z": false}', 'json', 'kw');
-- named notation, Oracle's names; controls are not keyword arguments
SELECT value FROM oml.pyqEval(par_lst => '{"a": 0, "oml_parallel_flag": true, "oml_async_flag": false}',
							  out_fmt => 'JSON', scr_name => 'kw', scr_owner => 'regress_pyqe_dev');
-- NULL and empty par_lst mean no arguments
SELECT oml.pyqScriptCreate('noargs', $$
def f():
    return [1, "two", None, 4.5, True]
$$);
SELECT value FROM oml.pyqEval(NULL, 'JSON', 'noargs');
SELECT value FROM oml.pyqEval('', 'JSON', 'noargs');
SELECT value FROM oml.pyqEval('  {}  ', 'JSON', 'noargs');
SELECT name, value FROM oml.pyqEval(NULL, 'XML', 'noargs');
SELECT value FROM oml.pyqEval('{"a": "<&>", "b": {"k": [1, 2]}, "c": null}', 'XML', 'kw');
SELECT oml.pyqScriptCreate('frame', $$
def f(n=3):
    import pandas as pd
    return pd.DataFrame({"id": list(range(1, n + 1)),
                         "name": ["r%d" % i for i in range(1, n + 1)],
                         "score": [i / 2 for i in range(1, n + 1)]})
$$);
SELECT value FROM oml.pyqEval('{"n": 2}', 'JSON', 'frame');
SELECT value FROM oml.pyqEval('{"n": 2}', 'XML', 'frame');

-- PNG: one row per figure drawn, with the result as JSON in value
SELECT oml.pyqScriptCreate('plot', $$
def f(title="Squares", n=4):
    import matplotlib.pyplot as plt
    xs = list(range(n))
    plt.figure()
    plt.plot(xs, [x * x for x in xs])
    plt.title(title)
    fig = plt.figure()
    fig.suptitle("Second figure")
    ax = fig.add_subplot(1, 1, 1)
    ax.bar(xs, xs)
    return {"points": n}
$$);
SELECT name, id, value, title, image IS NOT NULL AS has_image,
	   substr(image, 1, 8) = '\x89504e470d0a1a0a'::bytea AS is_png
  FROM oml.pyqEval('{"title": "Squares of x"}', 'PNG', 'plot');
-- the same script with JSON output: no images
SELECT name, id, value, title, image FROM oml.pyqEval('{"n": 2}', 'JSON', 'plot');
-- PNG from a script that draws nothing: one row, no image
SELECT name, id, value, title, image FROM oml.pyqEval(NULL, 'PNG', 'noargs');
-- figures do not leak from one call to the next
SELECT count(*) FROM oml.pyqEval(NULL, 'PNG', 'plot');
SELECT count(*) FROM oml.pyqEval(NULL, 'PNG', 'plot');

--
-- pyqEval: relational output
--
-- (columns go by name: label is not one of the frame's columns)
SELECT * FROM oml.pyqEval('{"n": 3}', NULL::regress_pyqe.result, 'frame');
SELECT * FROM oml.pyqEval('{"n": 2}', NULL::record, 'frame') AS t(id int, name text, score float8);
-- a list of tuples, a scalar
SELECT oml.pyqScriptCreate('tuples', $$
def f():
    return [(1, "a", 0.5), (2, None, float("nan")), (3, "c", None)]
$$);
SELECT * FROM oml.pyqEval(NULL, NULL::regress_pyqe.result, 'tuples');
SELECT * FROM oml.pyqEval(NULL, NULL::record, 'tuples') AS t(i int8, s varchar(3), f numeric);
SELECT oml.pyqScriptCreate('scalar', $$
def f(x=2.0):
    return x * 1.5
$$);
SELECT * FROM oml.pyqEval('{"x": 3}', NULL::float8, 'scalar');
SELECT * FROM oml.pyqEval('{"x": 3}', NULL::numeric, 'scalar') AS s(v);
-- a one-column result as a scalar type: a list gives one row per item
SELECT * FROM oml.pyqEval(NULL, NULL::int, 'noargs') WHERE false;
SELECT oml.pyqScriptCreate('ints', $$
def f(n=3):
    return list(range(n))
$$);
SELECT * FROM oml.pyqEval('{"n": 4}', NULL::int, 'ints');
-- None: no rows
SELECT oml.pyqScriptCreate('nothing', $$
def f():
    return None
$$);
SELECT * FROM oml.pyqEval(NULL, NULL::regress_pyqe.result, 'nothing');
SELECT value FROM oml.pyqEval(NULL, 'JSON', 'nothing');
RESET ROLE;

--
-- pyqTableEval: the whole input as the first argument
--
SET ROLE regress_pyqe_dev;
-- every column numeric: a 2-D float ndarray by default
SELECT value FROM oml.pyqTableEval('regress_pyqe.nums', NULL, 'JSON', 'regress_pyqe_info');
-- a text column: a DataFrame
SELECT value FROM oml.pyqTableEval('regress_pyqe.mixed', NULL, 'JSON', 'regress_pyqe_info');
SELECT value FROM oml.pyqTableEval('regress_pyqe.nums', '{"oml_input_type": "default"}', 'JSON', 'regress_pyqe_info');
SELECT value FROM oml.pyqTableEval('regress_pyqe.nums', '{"oml_input_type": "pandas.DataFrame"}', 'JSON', 'regress_pyqe_info');
SELECT value FROM oml.pyqTableEval('regress_pyqe.mixed', '{"oml_input_type": "numpy.recarray"}', 'JSON', 'regress_pyqe_info');
-- oml_na_omit drops the rows with a NULL
SELECT value FROM oml.pyqTableEval('regress_pyqe.nums', '{"oml_na_omit": true}', 'JSON', 'regress_pyqe_info');
SELECT value FROM oml.pyqTableEval('regress_pyqe.nums', '{"oml_na_omit": true, "oml_input_type": "pandas.DataFrame"}', 'JSON', 'regress_pyqe_echo');
SELECT value FROM oml.pyqTableEval('regress_pyqe.nums', '{"oml_na_omit": false, "oml_input_type": "pandas.DataFrame"}', 'JSON', 'regress_pyqe_echo');
-- the ndarray itself
SELECT value FROM oml.pyqTableEval('SELECT id, x FROM regress_pyqe.nums WHERE id < 4 ORDER BY id', NULL, 'JSON', 'regress_pyqe_echo');
-- a table on the search_path, a quoted schema-qualified name, a view
SELECT name, value FROM oml.pyqTableEval('regress_pyqe_plain', NULL, 'JSON', 'regress_pyqe_echo');
SELECT value FROM oml.pyqTableEval('"regress_pyqe"."nums"', NULL, 'JSON', 'regress_pyqe_info');
SELECT value FROM oml.pyqTableEval('regress_pyqe.mixed_a', NULL, 'JSON', 'regress_pyqe_info');
SELECT * FROM oml.pyqTableEval('regress_pyqe.mixed_a', '{"oml_input_type": "pandas.DataFrame"}', NULL::record, 'regress_pyqe_echo')
	AS t(id int, sub int, val float8) ORDER BY id;
-- queries: SELECT, WITH, VALUES, TABLE, in parentheses
SELECT value FROM oml.pyqTableEval('SELECT grp, val FROM regress_pyqe.mixed WHERE id <= 2 ORDER BY id', NULL, 'JSON', 'regress_pyqe_echo');
SELECT value FROM oml.pyqTableEval('with q as (select 1 as a, 2.5::float4 as b) select * from q', NULL, 'JSON', 'regress_pyqe_echo');
SELECT value FROM oml.pyqTableEval('VALUES (1, 2), (3, 4)', NULL, 'JSON', 'regress_pyqe_echo');
SELECT value FROM oml.pyqTableEval('TABLE regress_pyqe_plain', NULL, 'JSON', 'regress_pyqe_info');
SELECT value FROM oml.pyqTableEval('(SELECT v FROM regress_pyqe_plain ORDER BY v DESC)', NULL, 'JSON', 'regress_pyqe_echo');
-- an empty input: the script still runs once
SELECT oml.pyqScriptCreate('shape', $$
def f(data):
    return {"type": type(data).__name__, "shape": list(data.shape),
            "columns": list(getattr(data, "columns", None) if hasattr(data, "columns") else data.dtype.names or [])}
$$);
SELECT value FROM oml.pyqTableEval('SELECT * FROM regress_pyqe.mixed WHERE false', '{"oml_input_type": "pandas.DataFrame"}', 'JSON', 'shape');
SELECT value FROM oml.pyqTableEval('SELECT * FROM regress_pyqe.mixed WHERE false', '{"oml_input_type": "numpy.recarray"}', 'JSON', 'shape');
SELECT value FROM oml.pyqTableEval('SELECT id, val FROM regress_pyqe.mixed WHERE false', NULL, 'JSON', 'shape');
-- keyword arguments after the input
SELECT oml.pyqScriptCreate('scale', $$
def f(df, factor=1, cols=None):
    import pandas as pd
    out = df[cols] if cols else df
    return out * factor
$$);
SELECT * FROM oml.pyqTableEval('SELECT id, x FROM regress_pyqe.nums ORDER BY id',
							   '{"oml_input_type": "pandas.DataFrame", "factor": 10, "cols": ["x"]}',
							   NULL::float8, 'scale');
-- relational output of a row type, from a recarray
SELECT * FROM oml.pyqTableEval('SELECT id, grp AS label, val AS score FROM regress_pyqe.mixed ORDER BY id',
							   '{"oml_input_type": "numpy.recarray"}', NULL::regress_pyqe.result, 'regress_pyqe_echo');
RESET ROLE;

--
-- pyqRowEval: chunks of at most row_num rows; name is the chunk number
--
SET ROLE regress_pyqe_dev;
SELECT oml.pyqScriptCreate('chunk', $$
def f(df, tag="c"):
    return {"tag": tag, "rows": len(df), "ids": df["id"].tolist()}
$$);
SELECT name, value FROM oml.pyqRowEval('SELECT * FROM regress_pyqe.mixed ORDER BY id', '{"oml_input_type": "pandas.DataFrame"}', 'JSON', 1, 'chunk');
SELECT name, value FROM oml.pyqRowEval('SELECT * FROM regress_pyqe.mixed ORDER BY id', '{"oml_input_type": "pandas.DataFrame", "tag": "three"}', 'JSON', 3, 'chunk');
SELECT name, value FROM oml.pyqRowEval('SELECT * FROM regress_pyqe.mixed ORDER BY id', '{"oml_input_type": "pandas.DataFrame"}', 'JSON', 8, 'chunk');
SELECT name, value FROM oml.pyqRowEval('SELECT * FROM regress_pyqe.mixed ORDER BY id', '{"oml_input_type": "pandas.DataFrame"}', 'JSON', 1000, 'chunk');
-- each chunk gets the input type; chunks of a table name
SELECT name, value FROM oml.pyqRowEval('regress_pyqe.nums', NULL, 'JSON', 4, 'regress_pyqe_info');
SELECT name, value FROM oml.pyqRowEval('regress_pyqe.nums', '{"oml_na_omit": true}', 'JSON', 4, 'regress_pyqe_info');
-- an empty input: no call
SELECT name, value FROM oml.pyqRowEval('SELECT * FROM regress_pyqe.mixed WHERE false', NULL, 'JSON', 2, 'chunk');
-- relational: the rows of every chunk
SELECT oml.pyqScriptCreate('chunk_rows', $$
def f(df):
    import pandas as pd
    return pd.DataFrame({"id": df["id"], "label": "chunk of %d" % len(df), "score": df["val"] * 2})
$$);
SELECT * FROM oml.pyqRowEval('SELECT * FROM regress_pyqe.mixed ORDER BY id', '{"oml_input_type": "pandas.DataFrame"}',
							 NULL::regress_pyqe.result, 3, 'chunk_rows');
SELECT * FROM oml.pyqRowEval('SELECT * FROM regress_pyqe.mixed ORDER BY id', '{"oml_input_type": "pandas.DataFrame"}',
							 NULL::record, 5, 'chunk_rows') AS t(id int, label text, score float8);
RESET ROLE;

--
-- pyqGroupEval: once per group of grp_col, rows ordered by ord_col
--
SET ROLE regress_pyqe_dev;
SELECT oml.pyqScriptCreate('group', $$
def f(df):
    return {"rows": len(df), "ids": df["id"].tolist(), "ord": df["ord"].tolist(), "sum": float(df["val"].sum())}
$$);
SELECT name, value FROM oml.pyqGroupEval('regress_pyqe.mixed', '{"oml_input_type": "pandas.DataFrame"}', 'JSON', 'grp', 'ord, id', 'group');
SELECT name, value FROM oml.pyqGroupEval('regress_pyqe.mixed', '{"oml_input_type": "pandas.DataFrame"}', 'JSON', 'grp', 'ord DESC, id', 'group');
-- several grouping columns: name joins their values with commas
SELECT name, value FROM oml.pyqGroupEval('regress_pyqe.mixed', '{"oml_input_type": "pandas.DataFrame"}', 'JSON', 'grp,sub', 'ord, id', 'group');
SELECT name, value FROM oml.pyqGroupEval('regress_pyqe.mixed', '{"oml_input_type": "pandas.DataFrame"}', 'JSON', ' sub , grp ', 'id', 'group');
-- a view; a query; a numeric group column
SELECT name, value FROM oml.pyqGroupEval('regress_pyqe.mixed_a', NULL, 'JSON', 'sub', 'id', 'regress_pyqe_info');
SELECT name, value FROM oml.pyqGroupEval('SELECT id, grp, ord, val FROM regress_pyqe.mixed WHERE val > 2',
										 '{"oml_input_type": "pandas.DataFrame"}', 'JSON', 'grp', 'id', 'group');
-- relational: one row per group
SELECT oml.pyqScriptCreate('group_row', $$
def f(df):
    return [(int(df["id"].min()), "%s:%d" % (df["grp"].iloc[0], len(df)), float(df["val"].mean()))]
$$);
SELECT * FROM oml.pyqGroupEval('regress_pyqe.mixed', '{"oml_input_type": "pandas.DataFrame"}',
							   NULL::regress_pyqe.result, 'grp', NULL, 'group_row');
SELECT * FROM oml.pyqGroupEval('regress_pyqe.mixed', '{"oml_input_type": "pandas.DataFrame"}',
							   NULL::record, 'grp', 'id', 'group_row') AS t(first_id int, what text, mean float8);
-- an empty input: no call
SELECT name, value FROM oml.pyqGroupEval('SELECT * FROM regress_pyqe.mixed WHERE false', NULL, 'JSON', 'grp', NULL, 'group');
RESET ROLE;

--
-- pyqIndexEval: called with 1..times_num; name is the index
--
SET ROLE regress_pyqe_dev;
SELECT oml.pyqScriptCreate('index', $$
def f(i, base=0):
    return {"i": i, "value": base + i * i}
$$);
SELECT name, value FROM oml.pyqIndexEval('{"base": 100}', 'JSON', 4, 'index');
SELECT name, value FROM oml.pyqIndexEval(NULL, 'XML', 1, 'index');
SELECT oml.pyqScriptCreate('index_row', $$
def f(i, base=0):
    return (i, base + i * i)
$$);
SELECT * FROM oml.pyqIndexEval('{"base": 10}', NULL::record, 3, 'index_row') AS t(i int, value int);
SELECT oml.pyqScriptCreate('index_plot', $$
def f(i):
    import matplotlib.pyplot as plt
    plt.plot([0, i], [0, i])
    plt.title("index %d" % i)
    return i
$$);
SELECT name, id, value, title, substr(image, 1, 8) = '\x89504e470d0a1a0a'::bytea AS is_png
  FROM oml.pyqIndexEval(NULL, 'PNG', 3, 'index_plot');
RESET ROLE;

--
-- One statement, several scripts and argument lists
--
SET ROLE regress_pyqe_dev;
SELECT v.scr, v.par, p.value
  FROM (VALUES ('kw', '{"a": 1}'), ('kw', '{"a": 2}'), ('noargs', NULL), ('kw', '{"a": 1}'), ('ints', '{"n": 2}')) v(scr, par),
	   LATERAL oml.pyqEval(v.par, 'JSON', v.scr) p;
RESET ROLE;

--
-- Datastores from inside scripts: save with oml.ds.save, load, dir
--
SET ROLE regress_pyqe_dev;
SELECT oml.pyqScriptCreate('ds_save', $$
def f(name, n=3):
    import oml
    import numpy as np
    import pandas as pd
    frame = pd.DataFrame({"k": list("abc")[:n], "v": np.arange(n, dtype=float)})
    oml.ds.save({"frame": frame, "coef": np.array([0.5, 2.0]), "meta": {"n": n, "tags": ["x", "y"]}},
                name, description="saved in the server", overwrite=True)
    return "saved %s" % name
$$);
SELECT oml.pyqScriptCreate('ds_load', $$
def f(name, objs=None, owner=None):
    import oml
    loaded = oml.ds.load(name, objs=objs, owner=owner, to_globals=False)
    out = {}
    for key in sorted(loaded):
        obj = loaded[key]
        if hasattr(obj, "to_dict"):
            out[key] = obj.to_dict(orient="list")
        elif hasattr(obj, "tolist"):
            out[key] = obj.tolist()
        else:
            out[key] = obj
    return out
$$);
-- to_globals=True binds the objects in the script's globals
SELECT oml.pyqScriptCreate('ds_globals', $$
def f(name):
    import oml
    names = oml.ds.load(name)
    return {"names": names, "coef_sum": float(coef.sum()), "n": meta["n"]}
$$);
SELECT oml.pyqScriptCreate('ds_dir', $$
def f(dstype="user", name=None, regex_match=False):
    import oml
    d = oml.ds.dir(name=name, regex_match=regex_match, dstype=dstype)
    return d.drop(columns=[c for c in ("date", "size") if c in d.columns])
$$);
SELECT value FROM oml.pyqEval('{"name": "regress_pyqe_ds1"}', 'JSON', 'ds_save');
SELECT value FROM oml.pyqEval('{"name": "regress_pyqe_ds2", "n": 1}', 'JSON', 'ds_save');
SELECT value FROM oml.pyqEval('{"name": "regress_pyqe_ds1"}', 'JSON', 'ds_load');
SELECT value FROM oml.pyqEval('{"name": "regress_pyqe_ds1", "objs": ["meta"]}', 'JSON', 'ds_load');
SELECT value FROM oml.pyqEval('{"name": "regress_pyqe_ds2", "owner": "regress_pyqe_dev"}', 'JSON', 'ds_load');
SELECT value FROM oml.pyqEval('{"name": "regress_pyqe_ds1"}', 'JSON', 'ds_globals');
SELECT * FROM oml.pyqEval(NULL, NULL::record, 'ds_dir') AS t(datastore_name text, object_count int, description text);
SELECT * FROM oml.pyqEval('{"name": "ds2$", "regex_match": true}', NULL::record, 'ds_dir')
	AS t(datastore_name text, object_count int, description text);
-- what the saves stored, seen from SQL
SELECT dsname, nobj, description, grantable FROM oml.user_pyq_datastores ORDER BY dsname;
SELECT dsname, objname, class, length, nrow, ncol FROM oml.user_pyq_datastore_contents ORDER BY dsname, objname;
SELECT object_name, trusted FROM oml.ds_objects('regress_pyqe_ds1');
-- errors of the datastore API reach SQL with their SQLSTATE
SELECT * FROM pg_temp.expect_error($q$SELECT * FROM oml.pyqEval('{"name": "regress_pyqe_none"}', 'JSON', 'ds_load')$q$);
SELECT * FROM pg_temp.expect_error($q$SELECT * FROM oml.pyqEval('{"name": "regress_pyqe_ds1", "objs": ["nope"]}', 'JSON', 'ds_load')$q$);
-- a save that fails in the middle leaves nothing behind
SELECT oml.pyqScriptCreate('ds_save_bad', $$
def f():
    import oml
    oml.ds.save({"ok": 1, "bad": lambda x: x}, "regress_pyqe_ds3")
$$);
SELECT * FROM pg_temp.expect_error($q$SELECT * FROM oml.pyqEval(NULL, 'JSON', 'ds_save_bad')$q$, false);
SELECT count(*) FROM oml.user_pyq_datastores WHERE dsname = 'regress_pyqe_ds3';
-- a script may catch that error and go on
SELECT oml.pyqScriptCreate('ds_save_catch', $$
def f():
    import oml
    try:
        oml.ds.save({"x": 1}, "regress_pyqe_ds1")
    except oml.OMLError as e:
        return {"sqlstate": e.sqlstate, "message": str(e)}
$$);
SELECT value FROM oml.pyqEval(NULL, 'JSON', 'ds_save_catch');
RESET ROLE;

--
-- Input is read, and scripts run, as the calling role
--
SET ROLE regress_pyqe_dev;
SELECT oml.pyqScriptCreate('regress_pyqe_whoami', $$
def f(data=None):
    import _oml
    cols, rows = _oml.execute("SELECT current_user::text")
    out = {"current_user": rows[0][0]}
    if data is not None:
        out["items"] = sorted(data["item"].tolist())
    return out
$$, v_global => true);
SELECT value FROM oml.pyqEval(NULL, 'JSON', 'regress_pyqe_whoami');
-- row-level security applies to the input
SELECT value FROM oml.pyqTableEval('regress_pyqe.owned', NULL, 'JSON', 'regress_pyqe_whoami');
RESET ROLE;
SET ROLE regress_pyqe_user;
SELECT value FROM oml.pyqEval(NULL, 'JSON', 'regress_pyqe_whoami');
SELECT value FROM oml.pyqTableEval('regress_pyqe.owned', NULL, 'JSON', 'regress_pyqe_whoami');
SELECT value FROM oml.pyqTableEval('SELECT * FROM regress_pyqe.owned', NULL, 'JSON', 'regress_pyqe_whoami');
SELECT name, value FROM oml.pyqGroupEval('regress_pyqe.owned', NULL, 'JSON', 'item', NULL, 'regress_pyqe_whoami');
RESET ROLE;
-- without SELECT on the table: permission denied, whatever the form of inp_nam
SET ROLE regress_pyqe_nosel;
SELECT * FROM pg_temp.expect_error($q$SELECT * FROM oml.pyqTableEval('regress_pyqe.nums', NULL, 'JSON', 'regress_pyqe_info')$q$);
SELECT * FROM pg_temp.expect_error($q$SELECT * FROM oml.pyqTableEval('SELECT x FROM regress_pyqe.nums', NULL, 'JSON', 'regress_pyqe_info')$q$);
SELECT * FROM pg_temp.expect_error($q$SELECT * FROM oml.pyqRowEval('regress_pyqe.mixed_a', NULL, 'JSON', 2, 'regress_pyqe_info')$q$);
SELECT * FROM pg_temp.expect_error($q$SELECT * FROM oml.pyqGroupEval('regress_pyqe.mixed', NULL, 'JSON', 'grp', NULL, 'regress_pyqe_info')$q$);
-- the role can still run global scripts without input
SELECT value FROM oml.pyqEval(NULL, 'JSON', 'regress_pyqe_whoami');
RESET ROLE;

--
-- A script replaced while a session uses it runs in its new version
--
SET ROLE regress_pyqe_dev;
SELECT oml.pyqScriptCreate('ver', $$
def f():
    return "version 1"
$$);
SELECT value FROM oml.pyqEval(NULL, 'JSON', 'ver');
SELECT value FROM oml.pyqEval(NULL, 'JSON', 'ver');
SELECT oml.pyqScriptCreate('ver', $$
def f():
    return "version 2"
$$, v_overwrite => true);
SELECT value FROM oml.pyqEval(NULL, 'JSON', 'ver');
-- dropped and created again
SELECT oml.pyqScriptDrop('ver');
SELECT * FROM pg_temp.expect_error($q$SELECT * FROM oml.pyqEval(NULL, 'JSON', 'ver')$q$);
SELECT oml.pyqScriptCreate('ver', $$
def f():
    return "version 3"
$$);
SELECT value FROM oml.pyqEval(NULL, 'JSON', 'ver');
-- a private script of the same name hides the global one
SELECT oml.pyqScriptCreate('regress_pyqe_ver', 'def f(): return "global"', v_global => true);
SELECT value FROM oml.pyqEval(NULL, 'JSON', 'regress_pyqe_ver');
SELECT oml.pyqScriptCreate('regress_pyqe_ver', 'def f(): return "private"');
SELECT value FROM oml.pyqEval(NULL, 'JSON', 'regress_pyqe_ver');
SELECT oml.pyqScriptDrop('regress_pyqe_ver');
SELECT value FROM oml.pyqEval(NULL, 'JSON', 'regress_pyqe_ver');
-- a rolled-back replacement is forgotten
BEGIN;
SELECT oml.pyqScriptCreate('ver', 'def f(): return "rolled back"', v_overwrite => true);
SELECT value FROM oml.pyqEval(NULL, 'JSON', 'ver');
ROLLBACK;
SELECT value FROM oml.pyqEval(NULL, 'JSON', 'ver');
RESET ROLE;
-- another role sees the global script, not dev's private one of the same name
SET ROLE regress_pyqe_user;
SELECT value FROM oml.pyqEval(NULL, 'JSON', 'regress_pyqe_ver');
RESET ROLE;

--
-- Clean up
--
SET ROLE regress_pyqe_dev;
SELECT oml.ds_delete('^regress_pyqe_', regex_match => true);
SELECT oml.pyqScriptDrop(name) FROM oml.user_pyq_scripts;
SELECT oml.pyqScriptDrop(name, v_global => true)
  FROM oml.script_dir('^regress_pyqe_', true, 'global');
RESET ROLE;
SELECT count(*) AS left_over FROM oml.script
 WHERE owner IN (SELECT oid FROM pg_roles WHERE rolname LIKE 'regress\_pyqe\_%');
SELECT count(*) AS left_over FROM oml.datastore
 WHERE owner IN (SELECT oid FROM pg_roles WHERE rolname LIKE 'regress\_pyqe\_%');
DROP SCHEMA regress_pyqe CASCADE;
DROP TABLE regress_pyqe_plain;
DROP ROLE regress_pyqe_dev, regress_pyqe_user, regress_pyqe_nosel;

"""oml.do_eval, table_apply, row_apply, group_apply and index_apply."""

import inspect
import json
import textwrap

import numpy as np
import pandas as pd
import psycopg2
import pytest

import oml_store as oml
from conftest import ALICE, BOB, CAROL, PASSWORD, sql_as

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
KINDS = ("name", "source", "function")


# -- functions run in the server (self-contained: they import what they use) --

def double(x, factor=2):
    return x * factor


def describe_input(data, **kwargs):
    import numpy
    import pandas
    info = {"type": type(data).__module__ + "." + type(data).__name__,
            "kwargs": kwargs}
    if isinstance(data, pandas.DataFrame):
        info["columns"] = list(data.columns)
        info["rows"] = len(data)
    elif isinstance(data, numpy.recarray):
        info["columns"] = list(data.dtype.names)
        info["rows"] = len(data)
    else:
        info["shape"] = list(data.shape)
        info["dtype"] = str(data.dtype)
    return info


def chunk_ids(df):
    return [int(v) for v in df["id"]]


def group_summary(df, scale=1):
    return {"ids": [int(v) for v in df["id"]],
            "sum_x": float(df["x"].sum()) * scale}


def square(i, offset=0):
    return i * i + offset


def draw(n=3, title="my plot"):
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots()
    ax.plot(range(n))
    ax.set_title(title)
    plt.figure()
    plt.plot([1, 2])
    return n * 10


def draw_table(df):
    import matplotlib.pyplot as plt
    plt.plot(df["x"])
    plt.suptitle("rows %d" % len(df))
    return len(df)


def failing(x):
    y = x + 1
    raise ValueError("failing with %d" % y)


def fit_and_predict(df):
    import oml
    model = oml.ds.load("models", objs=["lr"], to_globals=False)["lr"]
    return model.predict(df[["x"]].to_numpy()).round(6).tolist()


def load_from(owner, ds):
    import oml
    return oml.ds.load(ds, owner=owner, to_globals=False)


def source_of(func):
    return textwrap.dedent(inspect.getsource(func))


def as_kind(kind, func, name=None):
    """func as do_eval and the *_apply functions take it: a stored script's
    name, its source, or the function itself."""
    if kind == "name":
        name = name or func.__name__
        oml.script.create(name, func, overwrite=True)
        return name
    if kind == "source":
        return source_of(func)
    return func


def expect_error(sqlstate, func, *args, **kwargs):
    with pytest.raises(oml.OMLError) as err:
        func(*args, **kwargs)
    assert err.value.sqlstate == sqlstate, str(err.value)
    return err.value


def stored_scripts(admin):
    return admin.sql("SELECT owner, name FROM oml.all_pyq_scripts"
                     " ORDER BY 1, 2")


# -- input tables ---------------------------------------------------------------

DATA = pd.DataFrame({
    "id": [1, 2, 3, 4, 5, 6, 7],
    "grp": ["a", "b", "a", "b", "c", "a", "b"],
    "sub": [1, 1, 2, 1, 1, 1, 2],
    "x": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0],
})


@pytest.fixture(scope="module")
def tables(admin):
    admin.sql("CREATE SCHEMA IF NOT EXISTS evs")
    admin.sql("DROP TABLE IF EXISTS evs.data, evs.nums, evs.nulls,"
              " evs.secret, evs.empty")
    admin.sql("CREATE TABLE evs.data (id int, grp text, sub int, x float8)")
    for r in DATA.itertuples(index=False):
        admin.sql("INSERT INTO evs.data VALUES (%s, %s, %s, %s)", tuple(r))
    admin.sql("CREATE TABLE evs.nums AS SELECT g AS a, g * 0.5 AS b"
              " FROM generate_series(1, 4) g")
    admin.sql("CREATE TABLE evs.nulls (a int, b text)")
    admin.sql("INSERT INTO evs.nulls VALUES (1, 'x'), (NULL, 'y'), (3, NULL),"
              " (4, 'z')")
    admin.sql("CREATE TABLE evs.secret (id int)")
    admin.sql("INSERT INTO evs.secret VALUES (1)")
    admin.sql("CREATE TABLE evs.empty (id int, x float8)")
    admin.sql("GRANT USAGE ON SCHEMA evs TO PUBLIC")
    admin.sql("GRANT SELECT ON evs.data, evs.nums, evs.nulls, evs.empty"
              " TO PUBLIC")
    admin.sql("GRANT SELECT ON evs.secret TO %s" % ALICE)
    yield
    admin.sql("DROP SCHEMA evs CASCADE")


# -- do_eval --------------------------------------------------------------------

@pytest.mark.parametrize("kind", KINDS)
def test_do_eval(alice, admin, kind):
    func = as_kind(kind, double)
    assert oml.do_eval(func, x=21) == 42
    assert oml.do_eval(func, x=1.5, factor=3) == 4.5
    assert oml.do_eval(func, x="ab") == "abab"
    assert oml.do_eval(func, x=[1, None]) == [1, None, 1, None]
    expected = [(ALICE, "double")] if kind == "name" else []
    assert stored_scripts(admin) == expected


def test_do_eval_one_line_source(alice):
    assert oml.do_eval("def f(): return 'one line'") == "one line"


def test_do_eval_result_objects(alice):
    def frame():
        import pandas
        return pandas.DataFrame({"a": [1, 2], "b": ["x", None]})

    df = oml.do_eval(frame)
    pd.testing.assert_frame_equal(df, pd.DataFrame({"a": [1, 2],
                                                    "b": ["x", None]}))

    def array():
        import numpy
        return numpy.arange(6, dtype=numpy.int32).reshape(2, 3)

    arr = oml.do_eval(array)
    assert arr.dtype == np.int32 and arr.tolist() == [[0, 1, 2], [3, 4, 5]]

    def nothing():
        pass

    assert oml.do_eval(nothing) is None

    def fitted():
        from sklearn.linear_model import LinearRegression
        return LinearRegression().fit([[0.0], [1.0], [2.0]], [1.0, 3.0, 5.0])

    model = oml.do_eval(fitted)
    assert model.predict([[10.0]]).round(6).tolist() == [21.0]


def test_do_eval_kwargs_round_trip_as_json(alice):
    def echo(**kwargs):
        return kwargs

    kwargs = {"i": 1, "f": 2.5, "s": "é\n\"'", "b": True, "n": None,
              "l": [1, [2, "3"]], "d": {"k": {"x": 1}}}
    assert oml.do_eval(echo, **kwargs) == kwargs
    # NumPy scalars go as their Python values.
    assert oml.do_eval(echo, a=np.int64(5), b=np.float32(0.5)) == {
        "a": 5, "b": 0.5}
    assert oml.do_eval(echo) == {}


def test_do_eval_func_owner(alice, connect_as):
    oml.script.create("p", double)
    oml.script.create("g", "def g():\n    return 'global'\n", is_global=True)
    oml.grant("p", typ="pyqscript", user=BOB)
    connect_as(BOB)
    assert oml.do_eval("p", func_owner=ALICE, x=2) == 4
    assert oml.do_eval("g") == "global"
    err = expect_error("42883", oml.do_eval, "p", x=2)      # not bob's own
    assert err.message == 'script "p" does not exist'
    connect_as(CAROL)
    err = expect_error("42501", oml.do_eval, "p", func_owner=ALICE, x=2)
    assert 'permission denied for script "p" of role "%s"' % ALICE \
        in err.message
    assert oml.do_eval("g") == "global"        # global: anyone runs it


def test_do_eval_granted_through_group_and_public(alice, connect_as):
    oml.script.create("p", double)
    oml.grant("p", typ="pyqscript", user="oml_grp")
    connect_as(BOB)                             # member of oml_grp
    assert oml.do_eval("p", func_owner=ALICE, x=5) == 10
    connect_as(CAROL)
    expect_error("42501", oml.do_eval, "p", func_owner=ALICE, x=5)
    connect_as(ALICE)
    oml.grant("p", typ="pyqscript")             # PUBLIC
    connect_as(CAROL)
    assert oml.do_eval("p", func_owner=ALICE, x=5) == 10


def test_do_eval_runs_as_the_caller(alice, connect_as, tables):
    def whoami():
        from oml_store import _backend
        return _backend.get_backend().query("SELECT current_user")[0][0]

    oml.script.create("whoami", whoami, is_global=True)
    assert oml.do_eval("whoami") == ALICE
    connect_as(CAROL)
    assert oml.do_eval("whoami") == CAROL


# -- table_apply ------------------------------------------------------------------

@pytest.mark.parametrize("kind", KINDS)
def test_table_apply(alice, tables, kind):
    func = as_kind(kind, describe_input)
    got = oml.table_apply("evs.data", func, oml_input_type="pandas.DataFrame",
                          k=1)
    assert got == {"type": "pandas.core.frame.DataFrame", "kwargs": {"k": 1},
                   "columns": ["id", "grp", "sub", "x"], "rows": 7}


def test_table_apply_returns_the_frame(alice, tables):
    def identity(df):
        return df

    df = oml.table_apply("SELECT * FROM evs.data ORDER BY id", identity,
                         oml_input_type="pandas.DataFrame")
    assert df["grp"].tolist() == DATA["grp"].tolist()
    assert df["x"].tolist() == DATA["x"].tolist()
    assert df["id"].tolist() == DATA["id"].tolist()


@pytest.mark.parametrize("data", [
    "evs.nums", "EVS.NUMS", '"evs"."nums"',
    "SELECT a, b FROM evs.nums", "  select * from evs.nums where a > 0",
    "WITH t AS (SELECT * FROM evs.nums) SELECT * FROM t",
    "(SELECT * FROM evs.nums)",
])
def test_table_apply_data_forms(alice, tables, data):
    got = oml.table_apply(data, describe_input)
    assert got["shape"] == [4, 2]


@pytest.mark.parametrize("input_type, expected", [
    (None, {"type": "numpy.ndarray", "shape": [4, 2], "dtype": "float64"}),
    ("default", {"type": "numpy.ndarray", "shape": [4, 2],
                 "dtype": "float64"}),
    ("pandas.DataFrame", {"type": "pandas.core.frame.DataFrame",
                          "columns": ["a", "b"], "rows": 4}),
    ("numpy.recarray", {"type": "numpy.recarray", "columns": ["a", "b"],
                        "rows": 4}),
])
def test_table_apply_input_types(alice, tables, input_type, expected):
    kwargs = {} if input_type is None else {"oml_input_type": input_type}
    got = oml.table_apply("evs.nums", describe_input, **kwargs)
    assert got == dict(expected, kwargs={})


def test_table_apply_default_with_text_is_a_frame(alice, tables):
    got = oml.table_apply("evs.data", describe_input)
    assert got["type"] == "pandas.core.frame.DataFrame"


def test_table_apply_na_omit(alice, tables):
    source = ("def values(df):\n"
              "    import pandas\n"
              "    return [[None if pandas.isna(v) else v for v in row]\n"
              "            for row in df.itertuples(index=False)]\n")
    q = "SELECT * FROM evs.nulls ORDER BY b NULLS LAST"
    assert oml.table_apply(q, source, oml_input_type="pandas.DataFrame") == [
        [1.0, "x"], [None, "y"], [4.0, "z"], [3.0, None]]
    assert oml.table_apply(q, source, oml_input_type="pandas.DataFrame",
                           oml_na_omit=True) == [[1.0, "x"], [4.0, "z"]]


def test_table_apply_empty_input(alice, tables):
    assert oml.table_apply("evs.empty", describe_input,
                           oml_input_type="pandas.DataFrame")["rows"] == 0


def test_table_apply_input_read_as_the_caller(alice, connect_as, tables):
    oml.script.create("desc", describe_input, is_global=True)
    assert oml.table_apply("evs.secret", "desc")["shape"] == [1, 1]
    connect_as(BOB)
    err = expect_error("42501", oml.table_apply, "evs.secret", "desc")
    assert "permission denied for table secret" in err.message


def test_table_apply_input_errors(alice, tables):
    expect_error("42P01", oml.table_apply, "evs.no_such_table", double)
    expect_error("42601", oml.table_apply, "SELECT FROM WHERE", double)
    err = expect_error("22023", oml.table_apply, "  ", double)
    assert "inp_nam must not be empty" in err.message
    with pytest.raises(TypeError, match="data must be a table or view name"):
        oml.table_apply(DATA, double)


# -- row_apply ------------------------------------------------------------------

@pytest.mark.parametrize("kind", KINDS)
def test_row_apply(alice, tables, kind):
    func = as_kind(kind, chunk_ids)
    q = "SELECT * FROM evs.data ORDER BY id"
    assert oml.row_apply(q, func, rows=3,
                         oml_input_type="pandas.DataFrame") == [
        [1, 2, 3], [4, 5, 6], [7]]
    assert oml.row_apply(q, func, oml_input_type="pandas.DataFrame") == [
        [i] for i in range(1, 8)]
    assert oml.row_apply(q, func, rows=7,
                         oml_input_type="pandas.DataFrame") == [
        list(range(1, 8))]
    assert oml.row_apply(q, func, rows=100,
                         oml_input_type="pandas.DataFrame") == [
        list(range(1, 8))]


def test_row_apply_many_chunks_keep_order(alice):
    def first(df):
        return int(df[0][0])

    got = oml.row_apply("SELECT g FROM generate_series(1, 25000) g ORDER BY g",
                        first, rows=1000)
    assert got == list(range(1, 25001, 1000))


def test_row_apply_kwargs_and_empty(alice, tables):
    def n_rows(df, plus=0):
        return len(df) + plus

    assert oml.row_apply("evs.data", n_rows, rows=4, plus=100) == [104, 103]
    assert oml.row_apply("evs.empty", n_rows, rows=4) == []


def test_row_apply_argument_errors(alice, tables):
    err = expect_error("22023", oml.row_apply, "evs.data", chunk_ids, rows=0)
    assert "row_num must be positive" in err.message
    with pytest.raises(TypeError, match="rows must be an int"):
        oml.row_apply("evs.data", chunk_ids, rows=2.0)
    with pytest.raises(TypeError, match="rows must be an int"):
        oml.row_apply("evs.data", chunk_ids, rows=True)


# -- group_apply ------------------------------------------------------------------

@pytest.mark.parametrize("kind", KINDS)
def test_group_apply(alice, tables, kind):
    func = as_kind(kind, group_summary)
    got = oml.group_apply("evs.data", "grp", func, orderby="id",
                          oml_input_type="pandas.DataFrame", scale=2)
    assert list(got) == ["a", "b", "c"]
    assert got == {"a": {"ids": [1, 3, 6], "sum_x": 20.0},
                   "b": {"ids": [2, 4, 7], "sum_x": 26.0},
                   "c": {"ids": [5], "sum_x": 10.0}}


def test_group_apply_several_columns_and_orderby(alice, tables):
    got = oml.group_apply("SELECT * FROM evs.data", ["grp", "sub"],
                          group_summary, orderby=["x"],
                          oml_input_type="pandas.DataFrame")
    # Keys of several columns are row literals.
    assert got == {"(a,1)": {"ids": [1, 6], "sum_x": 7.0},
                   "(a,2)": {"ids": [3], "sum_x": 3.0},
                   "(b,1)": {"ids": [2, 4], "sum_x": 6.0},
                   "(b,2)": {"ids": [7], "sum_x": 7.0},
                   "(c,1)": {"ids": [5], "sum_x": 5.0}}
    # Rows within a group follow orderby.
    desc = oml.group_apply("SELECT id, grp, -x AS x FROM evs.data", "grp",
                           group_summary, orderby="x",
                           oml_input_type="pandas.DataFrame")
    assert desc["a"]["ids"] == [6, 3, 1]


def test_group_apply_null_key_and_empty(alice, tables):
    def n(df):
        return len(df)

    got = oml.group_apply("evs.nulls", "b", n)
    assert got == {"x": 1, "y": 1, "z": 1, None: 1}
    assert list(got)[-1] is None                # NULLs sort last
    q = ("SELECT * FROM (VALUES ('a,b', 'c'), ('a', 'b,c'), ('a', NULL),"
         " ('a', NULL)) t(k1, k2)")
    assert oml.group_apply(q, ["k1", "k2"], n) == {
        '(a,"b,c")': 1, "(a,)": 2, '("a,b",c)': 1}
    assert oml.group_apply("evs.empty", "id", n) == {}


def test_group_apply_column_names_are_exact(alice, tables):
    def n(df):
        return len(df)

    q = 'SELECT grp AS "Grp", x FROM evs.data'
    assert oml.group_apply(q, "Grp", n) == {"a": 3, "b": 3, "c": 1}
    err = expect_error("42703", oml.group_apply, q, "grp", n)
    assert 'column "grp"' in err.message
    expect_error("42703", oml.group_apply, "evs.data", "grp", n,
                 orderby="nope")


def test_group_apply_argument_errors(alice, tables):
    for index in (None, [], 3, ["grp", 1]):
        with pytest.raises(TypeError, match="index must"):
            oml.group_apply("evs.data", index, group_summary)
    with pytest.raises(ValueError, match="empty column name"):
        oml.group_apply("evs.data", [""], group_summary)
    with pytest.raises(TypeError, match="orderby must"):
        oml.group_apply("evs.data", "grp", group_summary, orderby=1)


# -- index_apply ------------------------------------------------------------------

@pytest.mark.parametrize("kind", KINDS)
def test_index_apply(alice, kind):
    func = as_kind(kind, square)
    assert oml.index_apply(4, func) == [1, 4, 9, 16]
    assert oml.index_apply(1, func, offset=10) == [11]
    assert oml.index_apply(12, func) == [i * i for i in range(1, 13)]


def test_index_apply_argument_errors(alice):
    err = expect_error("22023", oml.index_apply, 0, square)
    assert "times_num must be positive" in err.message
    expect_error("22023", oml.index_apply, -1, square)
    for times in ("3", 2.0, True, None):
        with pytest.raises(TypeError, match="times must be an int"):
            oml.index_apply(times, square)


# -- graphics -------------------------------------------------------------------

@pytest.mark.parametrize("kind", KINDS)
def test_do_eval_graphics(alice, kind):
    got = oml.do_eval(as_kind(kind, draw), graphics=True, n=5)
    assert isinstance(got, oml._eval.GraphicsResult)
    assert got.result == 50
    assert [title for title, _ in got.images] == ["my plot", None]
    for _, png in got.images:
        assert isinstance(png, bytes)
        assert png.startswith(PNG_MAGIC)
        assert len(png) > 1000
    assert "GraphicsResult(result=50" in repr(got)


def test_graphics_without_figures_and_without_flag(alice):
    got = oml.do_eval(double, graphics=True, x=2)
    assert got.result == 4 and got.images == []
    # Without graphics the figures are not captured: the plain result.
    assert oml.do_eval(draw, n=2) == 20


def test_graphics_in_each_apply(alice, tables):
    got = oml.table_apply("evs.data", draw_table, graphics=True,
                          oml_input_type="pandas.DataFrame")
    assert got.result == 7
    assert [t for t, _ in got.images] == ["rows 7"]
    assert got.images[0][1].startswith(PNG_MAGIC)

    chunks = oml.row_apply("evs.data", draw_table, rows=5, graphics=True,
                           oml_input_type="pandas.DataFrame")
    assert [c.result for c in chunks] == [5, 2]
    assert [c.images[0][0] for c in chunks] == ["rows 5", "rows 2"]

    groups = oml.group_apply("evs.data", "grp", draw_table, graphics=True,
                             oml_input_type="pandas.DataFrame")
    assert {k: g.result for k, g in groups.items()} == {"a": 3, "b": 3,
                                                        "c": 1}
    assert all(g.images[0][1].startswith(PNG_MAGIC) for g in groups.values())

    runs = oml.index_apply(2, draw, graphics=True)
    assert [r.result for r in runs] == [10, 20]     # n is the index
    assert all(len(r.images) == 2 for r in runs)


def test_graphics_argument_errors(alice):
    with pytest.raises(TypeError, match="graphics must be a bool"):
        oml.do_eval(draw, graphics="yes")
    with pytest.raises(TypeError, match="graphics=True instead"):
        oml.do_eval(draw, oml_graphics_flag=True)


# -- datastores inside scripts ----------------------------------------------------

def test_script_loads_a_datastore_saved_by_the_client(alice, tables):
    from sklearn.linear_model import LinearRegression
    lr = LinearRegression().fit(DATA[["x"]].to_numpy(), DATA["x"] * 2 + 1)
    oml.ds.save({"lr": lr, "other": [1, 2]}, "models")
    for kind in KINDS:
        got = oml.table_apply("SELECT * FROM evs.data ORDER BY id",
                              as_kind(kind, fit_and_predict),
                              oml_input_type="pandas.DataFrame")
        assert got == [x * 2 + 1 for x in DATA["x"]]


def test_script_loads_granted_datastore_of_trusted_role(alice, connect_as):
    oml.ds.save({"v": {"k": [1, 2]}}, "shared", grantable=True)
    oml.grant("shared", user=BOB)
    oml.script.create("load_from", load_from, is_global=True)
    connect_as(BOB)
    assert oml.do_eval("load_from", owner=ALICE, ds="shared") == {
        "v": {"k": [1, 2]}}
    connect_as(CAROL)
    err = expect_error("42501", oml.do_eval, "load_from", owner=ALICE,
                       ds="shared")
    assert 'permission denied for datastore "shared"' in err.message


def test_script_refuses_datastore_of_untrusted_role(alice, connect_as):
    oml.script.create("load_from", load_from, is_global=True)
    connect_as(BOB)
    oml.ds.save({"v": 1}, "mine")
    assert oml.ds.load("mine", to_globals=False) == {"v": 1}   # client: fine
    err = expect_error("42501", oml.do_eval, "load_from", owner=BOB,
                       ds="mine")
    assert "was written by role \"oml_bob\", which is not trusted" in err.message


# -- errors ---------------------------------------------------------------------

def test_unknown_script(alice):
    err = expect_error("42883", oml.do_eval, "no_such_script")
    assert err.message == 'script "no_such_script" does not exist'
    err = expect_error("42883", oml.index_apply, 2, "no_such_script",
                       func_owner=BOB)
    assert 'script "no_such_script" of role "%s"' % BOB in err.message
    expect_error("42883", oml.table_apply, "SELECT 1", "no_such_script")


@pytest.mark.parametrize("kind", KINDS)
def test_python_exception(alice, admin, kind):
    func = as_kind(kind, failing, name="failing")
    err = expect_error("38000", oml.do_eval, func, x=4)
    assert "ValueError: failing with 5" in err.message
    if kind == "name":
        assert err.message.startswith('script "failing" failed: ')
    assert err.detail.startswith("Traceback (most recent call last):")
    assert ", line 3, in failing" in err.detail
    assert 'raise ValueError("failing with %d" % y)' in err.detail
    expected = [(ALICE, "failing")] if kind == "name" else []
    assert stored_scripts(admin) == expected
    # The connection is usable after the error.
    assert oml.do_eval("def f():\n    return 'ok'\n") == "ok"


def test_python_exception_in_apply_functions(alice, tables):
    def bad_chunk(df):
        if len(df) < 3:
            raise RuntimeError("short chunk")
        return len(df)

    err = expect_error("38000", oml.row_apply, "evs.data", bad_chunk, rows=3)
    assert "RuntimeError: short chunk" in err.message
    assert 'raise RuntimeError("short chunk")' in err.detail
    err = expect_error("38000", oml.group_apply, "evs.data", "grp", bad_chunk)
    assert "RuntimeError: short chunk" in err.message
    err = expect_error("38000", oml.index_apply, 3,
                       "def f(i):\n    return 1 / (i - 2)\n")
    assert "ZeroDivisionError: division by zero" in err.message
    assert "return 1 / (i - 2)" in err.detail


def test_result_that_cannot_be_pickled(alice):
    def generator():
        return (i for i in range(3))

    err = expect_error("38000", oml.do_eval, generator)
    assert "cannot pickle 'generator' object" in err.message

    # A class defined in the script is not importable where the result is
    # unpickled.
    source = ("def local_class():\n"
              "    class Local:\n"
              "        pass\n"
              "    return Local()\n")
    err = expect_error("38000", oml.do_eval, source)
    assert "Can't pickle" in err.message and "Local" in err.message
    # The session stays usable.
    assert oml.do_eval("def f():\n    return 'still fine'\n") == \
        "still fine"


def test_bad_temporary_source(alice, admin):
    err = expect_error("42P13", oml.do_eval, "def f(:\n    return 1\n")
    assert "at line 1" in err.message
    err = expect_error("42P13", oml.do_eval, "def f():\n    return 1\nx = 2\n")
    assert "only imports may stand beside the function at line 3" \
        in err.message
    assert stored_scripts(admin) == []


def test_server_side_argument_errors(alice):
    err = expect_error("22023", oml.do_eval, double, x=1,
                       oml_input_type="nope")
    assert 'unknown oml_input_type "nope"' in err.message
    # async is async_mode=True (test_jobs.py), not the SQL control
    with pytest.raises(TypeError, match="async_mode"):
        oml.do_eval(double, x=1, oml_async_flag=True)
    err = expect_error("22023", oml.do_eval, double, x=1, oml_bogus=1)
    assert 'unknown control "oml_bogus"' in err.message
    # A keyword the function does not take is a Python error.
    err = expect_error("38000", oml.do_eval, double, x=1, y=2)
    assert "unexpected keyword argument 'y'" in err.message


def test_client_side_argument_errors():
    # Found before reaching the server: there is no connection.
    with pytest.raises(TypeError, match="func must be a function"):
        oml.do_eval(42)
    with pytest.raises(ValueError, match="lambda"):
        oml.do_eval(lambda: 1)
    with pytest.raises(ValueError, match="func_owner applies only"):
        oml.do_eval(double, func_owner=ALICE)
    with pytest.raises(TypeError, match="func_owner must be a str"):
        oml.do_eval("double", func_owner=1)
    with pytest.raises(TypeError, match="JSON-serialisable"):
        oml.do_eval("double", x=object())
    with pytest.raises(TypeError, match="JSON-serialisable"):
        oml.do_eval("double", x=np.arange(3))
    with pytest.raises(TypeError, match="JSON-serialisable"):
        oml.do_eval("double", x={1, 2})


# -- temporary scripts ------------------------------------------------------------

def test_temporary_scripts_leave_nothing(alice, admin, tables):
    [[seq_before]] = admin.sql("SELECT count(*) FROM oml.script")
    oml.do_eval(double, x=1)
    oml.table_apply("evs.data", describe_input)
    oml.row_apply("evs.data", chunk_ids, rows=3,
                  oml_input_type="pandas.DataFrame")
    oml.group_apply("evs.data", "grp", group_summary,
                    oml_input_type="pandas.DataFrame")
    oml.index_apply(2, square)
    expect_error("38000", oml.do_eval, failing, x=1)
    expect_error("42703", oml.group_apply, "evs.data", "nope", square)
    assert seq_before == 0
    assert stored_scripts(admin) == []
    assert oml.script.dir(sctype="all").empty


def test_temporary_script_in_user_transaction(database, admin):
    conn = psycopg2.connect(user=ALICE, password=PASSWORD, dbname=database)
    try:
        oml.connect(conn=conn)
        with conn.cursor() as cur:
            cur.execute("CREATE TEMP TABLE mine (v int)")
            cur.execute("INSERT INTO mine VALUES (1)")
        assert oml.do_eval(double, x=3) == 6
        expect_error("38000", oml.do_eval, failing, x=1)
        # The user's transaction is open and intact; no script is visible.
        assert conn.info.transaction_status == \
            psycopg2.extensions.TRANSACTION_STATUS_INTRANS
        with conn.cursor() as cur:
            cur.execute("SELECT v FROM mine")
            assert cur.fetchall() == [(1,)]
            cur.execute("SELECT count(*) FROM oml.script")
            assert cur.fetchall() == [(0,)]
        conn.commit()
        assert stored_scripts(admin) == []
    finally:
        oml.disconnect()
        conn.close()


@pytest.mark.parametrize("role", [BOB, CAROL])
def test_temporary_script_refused_to_untrusted_role(connect_as, admin, tables,
                                                    role):
    connect_as(role)
    for call in (lambda: oml.do_eval(double, x=1),
                 lambda: oml.do_eval(source_of(double), x=1),
                 lambda: oml.table_apply("evs.data", describe_input),
                 lambda: oml.row_apply("evs.data", chunk_ids),
                 lambda: oml.group_apply("evs.data", "grp", group_summary),
                 lambda: oml.index_apply(2, square)):
        err = expect_error("42501", call)
        assert err.message == "permission denied to create scripts"
    assert stored_scripts(admin) == []


def test_untrusted_role_runs_stored_scripts(alice, connect_as, tables):
    oml.script.create("square", square, is_global=True)
    oml.script.create("summary", group_summary, is_global=True)
    connect_as(CAROL)
    assert oml.index_apply(3, "square") == [1, 4, 9]
    assert oml.group_apply("evs.data", "grp", "summary",
                           oml_input_type="pandas.DataFrame")["c"] == {
        "ids": [5], "sum_x": 5.0}


# -- inside the server ------------------------------------------------------------

def nested_eval():
    import oml
    from oml_store._eval import GraphicsResult
    oml.script.create("inner_sq", "def sq(i):\n    return i * i\n")
    out = {
        "by_name": oml.index_apply(3, "inner_sq"),
        "by_source": oml.do_eval("def f(a):\n    return a + 1\n", a=1),
        "table": oml.table_apply("SELECT 1 AS a, 2 AS b",
                                 "def f(d):\n    return d.shape\n"),
        "graphics": isinstance(oml.do_eval("inner_sq", graphics=True, i=2),
                               GraphicsResult),
    }
    try:
        oml.do_eval("def f():\n    raise KeyError('inner')\n")
    except oml.OMLError as exc:
        out["error"] = [exc.sqlstate, exc.message.split(": ", 1)[1]]
    oml.script.drop("inner_sq")
    return out


def test_eval_functions_inside_the_server(alice, admin):
    oml.script.create("nested_eval", nested_eval)
    [[value]] = sql_as(ALICE, "SELECT value FROM oml.pyqEval(NULL, 'JSON',"
                              " 'nested_eval')")
    assert json.loads(value) == {
        "by_name": [1, 4, 9], "by_source": 2, "table": [1, 2],
        "graphics": True, "error": ["38000", "KeyError: 'inner'"]}
    assert stored_scripts(admin) == [(ALICE, "nested_eval")]
    # And through the client: the result pickled in the server comes back.
    assert oml.do_eval("nested_eval")["by_name"] == [1, 4, 9]


def test_signatures():
    def params(f):
        return [(p.name, p.default) for p in
                inspect.signature(f).parameters.values()]

    e = inspect.Parameter.empty
    # OML4Py's parameters, then the keyword-only async_mode (issue 10)
    am = ("async_mode", False)
    assert params(oml.do_eval) == [("func", e), ("func_owner", None),
                                   ("graphics", False), am, ("kwargs", e)]
    assert params(oml.table_apply) == [("data", e), ("func", e),
                                       ("func_owner", None),
                                       ("graphics", False), am, ("kwargs", e)]
    # OML4Py's parallel= for the three that split their work (0.3.0)
    assert params(oml.row_apply) == [("data", e), ("func", e),
                                     ("func_owner", None), ("rows", 1),
                                     ("graphics", False), ("parallel", None),
                                     am, ("kwargs", e)]
    assert params(oml.group_apply) == [("data", e), ("index", e), ("func", e),
                                       ("func_owner", None),
                                       ("orderby", None), ("graphics", False),
                                       ("parallel", None), am, ("kwargs", e)]
    assert params(oml.index_apply) == [("times", e), ("func", e),
                                       ("func_owner", None),
                                       ("graphics", False), ("parallel", None),
                                       am, ("kwargs", e)]
    for f in (oml.do_eval, oml.table_apply, oml.row_apply, oml.group_apply,
              oml.index_apply):
        assert (inspect.signature(f).parameters["async_mode"].kind
                is inspect.Parameter.KEYWORD_ONLY)


def test_name_or_source(alice):
    # A name may hold "def " inside it; source has a newline or starts with
    # def.
    err = expect_error("42883", oml.do_eval, "undef x")
    assert err.message == 'script "undef x" does not exist'
    assert oml.do_eval("def f(): return 'src'") == "src"
    # Source strings are sent as given: indented source is the server's
    # error, with the line.
    err = expect_error("42P13", oml.do_eval, "  def f():\n    return 1\n")
    assert "unexpected indent at line 1" in err.message
    oml.script.create("my def", "def f():\n    return 'named'\n")
    assert oml.do_eval("my def") == "named"


# -- issue 8: OML4Py controls through the client ---------------------------------

def chunk_sizes(df):
    return len(df)


def test_row_apply_na_omit_before_chunking(alice, tables):
    # evs.nulls: 4 rows, 2 with a NULL.  The rows go before chunking, so
    # chunks of 2 give one full chunk, not two half-empty ones.
    got = oml.row_apply("SELECT * FROM evs.nulls ORDER BY a", chunk_sizes,
                        rows=2, oml_na_omit=True,
                        oml_input_type="pandas.DataFrame")
    assert got == [2]
    assert oml.row_apply("SELECT * FROM evs.nulls ORDER BY a", chunk_sizes,
                         rows=2, oml_input_type="pandas.DataFrame") == [2, 2]


def test_documented_controls_accepted(alice):
    for level in ("LOW", "MEDIUM", "HIGH", "medium"):
        assert oml.do_eval(double, x=2, oml_service_level=level,
                           oml_parallel_flag=True) == 4
    err = expect_error("22023", oml.do_eval, double, x=1,
                       oml_service_level="TOP")
    assert 'unknown oml_service_level "TOP"' in err.message

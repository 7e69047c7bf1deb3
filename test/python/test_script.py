"""oml.script: create, load, dir and drop, client-side and inside the server."""

import contextlib
import datetime
import inspect
import textwrap
import traceback
import warnings

import numpy as np
import pandas as pd
import psycopg2
import pytest

import oml_store as oml
from conftest import (ALICE, BOB, CAROL, DEVELOPER, PASSWORD, no_warnings,
                      sql_as)

USER_COLUMNS = ["name", "script", "description", "date"]
COLUMNS = {
    "user": USER_COLUMNS,
    "global": USER_COLUMNS,
    "all": ["owner"] + USER_COLUMNS,
    "grant": ["name", "grantee"],
}


def add_one(x, step=1):
    """Add step to x."""
    return x + step


def raises_inside(x):
    y = x * 2
    raise ValueError("bad value %d" % y)


def byte_order(names):
    return sorted(names, key=lambda s: s.encode("utf-8"))


def scripts(admin):
    """(owner, name, is_global) of every stored script, seen by a superuser."""
    return admin.sql("SELECT pg_get_userbyid(owner)::text, name, is_global"
                     " FROM oml.script ORDER BY 1, 2, 3")


def rows(df):
    return [tuple(r) for r in df.itertuples(index=False)]


@contextlib.contextmanager
def trusted(admin, role):
    """Make role a member of oml_developer for the block."""
    admin.sql("GRANT %s TO %s" % (DEVELOPER, role))
    try:
        yield
    finally:
        admin.sql("REVOKE %s FROM %s" % (DEVELOPER, role))


def expect_error(sqlstate, func, *args, **kwargs):
    with pytest.raises(oml.OMLError) as err:
        func(*args, **kwargs)
    assert err.value.sqlstate == sqlstate, str(err.value)
    return err.value


# -- create -------------------------------------------------------------------

def test_create_from_function(alice, admin):
    with no_warnings():
        assert oml.script.create("add", add_one) is None
    assert scripts(admin) == [(ALICE, "add", False)]
    df = oml.script.dir()
    assert df["script"].tolist() == [inspect.getsource(add_one)]
    assert df["script"][0].startswith("def add_one(x, step=1):\n")


def test_create_from_nested_function_is_dedented(alice):
    def inner(a, b):
        # a comment stays
        return [a, b]

    oml.script.create("inner", inner)
    source = oml.script.dir()["script"][0]
    assert source == textwrap.dedent(inspect.getsource(inner))
    assert source.startswith("def inner(a, b):\n    # a comment stays\n")
    assert oml.script.load("inner")(1, "x") == [1, "x"]


def test_create_from_string_stored_as_given(alice):
    source = ("import math\n\n"
              "def hyp(a, b):\n"
              "    '''Hypotenuse.'''\n"
              "    return math.sqrt(a * a + b * b)\n")
    oml.script.create("hyp", source)
    assert oml.script.dir()["script"].tolist() == [source]
    f = oml.script.load("hyp")
    assert f.get_source().read() == source
    assert f(3, 4) == 5.0
    assert f.__name__ == "hyp"
    assert f.__doc__ == "Hypotenuse."


def test_create_one_line_string(alice):
    oml.script.create("one", "def one(): return 1")
    assert oml.script.load("one")() == 1


def test_create_private_and_global_same_name(alice, admin):
    oml.script.create("s", "def f():\n    return 'private'\n")
    oml.script.create("s", "def f():\n    return 'global'\n", is_global=True)
    assert scripts(admin) == [(ALICE, "s", False), (ALICE, "s", True)]
    assert oml.script.dir()["name"].tolist() == ["s"]
    assert oml.script.dir(sctype="global")["script"].tolist() == [
        "def f():\n    return 'global'\n"]
    # Without an owner a name means one's own script first.
    assert oml.script.load("s")() == "private"


def test_create_existing_needs_overwrite(alice):
    oml.script.create("s", "def f():\n    return 1\n")
    err = expect_error("42710", oml.script.create, "s",
                       "def f():\n    return 2\n")
    assert 'private script "s" already exists' in str(err)
    assert "overwrite" in err.hint
    assert oml.script.load("s")() == 1
    oml.script.create("s", "def f():\n    return 1\n", is_global=True)
    err = expect_error("42710", oml.script.create, "s",
                       "def f():\n    return 2\n", is_global=True)
    assert 'global script "s" already exists' in str(err)


def test_create_overwrite_replaces(alice, admin):
    oml.script.create("s", "def f():\n    return 1\n")
    first = oml.script.dir()["date"][0]
    oml.script.create("s", add_one, overwrite=True)
    df = oml.script.dir()
    assert df["script"].tolist() == [inspect.getsource(add_one)]
    assert df["date"][0] >= first
    assert oml.script.load("s")(1) == 2
    assert scripts(admin) == [(ALICE, "s", False)]


def test_create_overwrite_of_missing_creates(alice):
    oml.script.create("new", add_one, overwrite=True)
    assert oml.script.dir()["name"].tolist() == ["new"]


def test_create_overwrite_global_only_by_creator_or_superuser(
        alice, admin, connect_as):
    oml.script.create("g", "def f():\n    return 'alice'\n", is_global=True)
    with trusted(admin, CAROL):
        connect_as(CAROL)
        err = expect_error("42501", oml.script.create, "g",
                           "def f():\n    return 'carol'\n",
                           is_global=True, overwrite=True)
        assert 'permission denied to replace global script "g"' in str(err)
        # Carol's private script of that name is hers to make.
        oml.script.create("g", "def f():\n    return 'carol'\n")
    connect_as(None)
    oml.script.create("g", "def f():\n    return 'superuser'\n",
                      is_global=True, overwrite=True)
    assert oml.script.load("g")() == "superuser"
    # Still owned by its creator.
    assert (ALICE, "g", True) in scripts(admin)


@pytest.mark.parametrize("source, line, message, text", [
    ("def f(x):\n    return x +\n", 2, "invalid syntax", "return x +"),
    ("\n\ndef f(x)\n    return x\n", 3, "expected ':'", "def f(x)"),
    ("def f():\n    return 1\n\ndef g():\n    return 2\n", 4,
     "the script defines more than one function", "def g():"),
    ("x = 1\ndef f():\n    return x\n", 1,
     "only imports may stand beside the function", "x = 1"),
    ("import os\n", 1, "the script defines no function", "import os"),
    ("async def f():\n    return 1\n", 1, "the function must not be async",
     "async def f():"),
])
def test_create_bad_source_shows_line(alice, admin, source, line, message,
                                      text):
    err = expect_error("42P13", oml.script.create, "bad", source)
    assert 'invalid script "bad": %s at line %d' % (message, line) \
        == err.message
    assert err.detail == "Line %d: %s" % (line, text)
    assert "one Python function" in err.hint
    assert scripts(admin) == []


def test_create_bad_source_overwrite_keeps_old(alice):
    oml.script.create("s", add_one)
    expect_error("42P13", oml.script.create, "s", "def f(:\n", overwrite=True)
    assert oml.script.load("s")(1) == 2


@pytest.mark.parametrize("role", [BOB, CAROL])
def test_create_refused_to_untrusted_role(connect_as, admin, role):
    connect_as(role)
    for is_global in (False, True):
        err = expect_error("42501", oml.script.create, "s", add_one,
                           is_global=is_global)
        assert err.message == "permission denied to create scripts"
        assert "oml_developer" in err.hint
    assert scripts(admin) == []
    # Reading still works: there is just nothing to read.
    assert len(oml.script.dir(sctype="all")) == 0


def test_create_by_superuser(connect_as, admin):
    connect_as(None)
    oml.script.create("s", add_one, is_global=True)
    assert scripts(admin) == [(admin.user, "s", True)]


def test_create_membership_through_group(admin, connect_as):
    # Bob is a member of oml_grp; making the group trusted makes him so.
    with trusted(admin, "oml_grp"):
        connect_as(BOB)
        oml.script.create("s", add_one)
    assert scripts(admin) == [(BOB, "s", False)]


def test_create_argument_errors_need_no_connection():
    # Checked before anything reaches the server (there is no connection).
    with pytest.raises(TypeError, match="name must be a str"):
        oml.script.create(1, add_one)
    with pytest.raises(TypeError, match="func must be a function"):
        oml.script.create("s", 42)
    with pytest.raises(TypeError, match="func must be a function"):
        oml.script.create("s", len)                 # a builtin
    with pytest.raises(TypeError, match="func must be a function"):
        oml.script.create("s", None)
    with pytest.raises(TypeError, match="is_global must be a bool"):
        oml.script.create("s", add_one, is_global=1)
    with pytest.raises(TypeError, match="overwrite must be a bool"):
        oml.script.create("s", add_one, overwrite="yes")
    with pytest.raises(ValueError, match="empty"):
        oml.script.create("s", "  \n")


def test_create_lambda_refused():
    with pytest.raises(ValueError, match="lambda"):
        oml.script.create("s", lambda x: x)


def test_create_function_without_source_refused():
    namespace = {}
    exec("def nosrc(x):\n    return x\n", namespace)
    with pytest.raises(ValueError, match="source of function 'nosrc' is not"
                                         " available"):
        oml.script.create("s", namespace["nosrc"])


def test_create_closure_refused():
    k = 3

    def closure(x):
        return x + k

    with pytest.raises(ValueError, match=r"enclosing function \(k\)"):
        oml.script.create("s", closure)


def test_create_decorated_function_refused():
    def deco(f):
        return f

    @deco
    def decorated(x):
        return x

    with pytest.raises(ValueError, match="decorated"):
        oml.script.create("s", decorated)


def uses_module_globals(x):
    return np.asarray(x) + len(pd.__name__)


def test_create_warns_about_module_globals(alice):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        oml.script.create("s", uses_module_globals)
    assert len(caught) == 1
    assert caught[0].filename == __file__
    assert "global names np, pd" in str(caught[0].message)
    # It is still stored; run in the server it fails on the missing name.
    assert oml.script.dir()["name"].tolist() == ["s"]
    err = expect_error("38000", oml.do_eval, "s", x=1)
    assert "NameError: name 'np' is not defined" in err.message


def test_create_no_warning_for_builtins_recursion_and_local_imports(alice):
    def fact(n):
        import math
        return 1 if n <= 1 else n * fact(n - 1) + len([math.pi]) - 1

    # fact is a local here: give the server a top-level one.
    namespace = {}
    source = textwrap.dedent(inspect.getsource(fact))
    with no_warnings():
        oml.script.create("fact", source)
    exec(source, namespace)
    assert oml.script.load("fact")(5) == 120


def test_create_in_user_transaction_rolls_back(database, admin):
    conn = psycopg2.connect(user=ALICE, password=PASSWORD, dbname=database)
    try:
        oml.connect(conn=conn)
        conn.cursor().execute("SELECT 1")       # a transaction is open
        oml.script.create("s", add_one)
        assert oml.script.dir()["name"].tolist() == ["s"]
        assert scripts(admin) == []             # not committed yet
        conn.rollback()
        assert oml.script.dir()["name"].tolist() == []
    finally:
        oml.disconnect()
        conn.close()


# -- load ---------------------------------------------------------------------

def test_load_returns_callable_with_source(alice):
    oml.script.create("add", add_one)
    f = oml.script.load("add")
    assert callable(f)
    assert f(1) == 2
    assert f(1, step=10) == 11
    assert f.get_source().read() == inspect.getsource(add_one)
    assert f.__name__ == "add_one"
    assert f.__doc__ == "Add step to x."
    assert f.name == "add" and f.owner is None
    assert str(inspect.signature(f)) == "(x, step=1)"
    assert "add" in repr(f)
    # The loaded function's source is what inspect sees too.
    assert inspect.getsource(f.__wrapped__) == f.get_source().read()


def test_load_traceback_shows_script_lines(alice):
    oml.script.create("r", raises_inside)
    f = oml.script.load("r")
    with pytest.raises(ValueError, match="bad value 6") as err:
        f(3)
    text = "".join(traceback.format_tb(err.value.__traceback__))
    assert 'File "<oml script r>", line 3, in raises_inside' in text
    assert 'raise ValueError("bad value %d" % y)' in text


def test_load_global_and_owner(alice, connect_as):
    oml.script.create("g", "def f():\n    return 'global'\n", is_global=True)
    oml.script.create("p", "def f():\n    return 'private'\n")
    connect_as(CAROL)
    assert oml.script.load("g")() == "global"          # global fallback
    assert oml.script.load("g", owner=ALICE)() == "global"
    err = expect_error("42501", oml.script.load, "p", owner=ALICE)
    assert 'permission denied for script "p" of role "%s"' % ALICE \
        in err.message
    err = expect_error("42883", oml.script.load, "p")    # not carol's own
    assert err.message == 'script "p" does not exist'


def test_load_granted(alice, connect_as):
    oml.script.create("p", add_one)
    oml.grant("p", typ="pyqscript", user=BOB)
    connect_as(BOB)
    f = oml.script.load("p", owner=ALICE)
    assert f(41) == 42
    assert f.owner == ALICE
    assert "of %r" % ALICE in repr(f)
    connect_as(CAROL)
    expect_error("42501", oml.script.load, "p", owner=ALICE)
    connect_as(ALICE)
    oml.revoke("p", typ="pyqscript", user=BOB)
    connect_as(BOB)
    expect_error("42501", oml.script.load, "p", owner=ALICE)


def test_load_errors(alice):
    err = expect_error("42883", oml.script.load, "missing")
    assert err.message == 'script "missing" does not exist'
    err = expect_error("42883", oml.script.load, "missing", owner=BOB)
    assert err.message == 'script "missing" of role "%s" does not exist' % BOB
    err = expect_error("42704", oml.script.load, "s", owner="no_such_role")
    assert "no_such_role" in err.message
    expect_error("22023", oml.script.load, "")
    with pytest.raises(TypeError, match="name must be a str"):
        oml.script.load(None)
    with pytest.raises(TypeError, match="owner must be a str or None"):
        oml.script.load("s", owner=1)


def test_load_with_a_module_missing_here_fails_here(alice):
    oml.script.create("s", "import no_such_module_here\n\ndef f():\n"
                           "    return 1\n")
    with pytest.raises(ImportError):
        oml.script.load("s")


# -- dir ----------------------------------------------------------------------

@pytest.mark.parametrize("sctype", sorted(COLUMNS))
def test_dir_empty_columns(alice, sctype):
    df = oml.script.dir(sctype=sctype)
    assert isinstance(df, pd.DataFrame)
    assert list(df.columns) == COLUMNS[sctype]
    assert len(df) == 0


def test_dir_user_values(alice):
    before = datetime.datetime.now(datetime.timezone.utc)
    oml.script.create("b", add_one)
    oml.script.create("a", "def f():\n    return 1\n")
    oml.script.create("g", "def f():\n    return 1\n", is_global=True)
    after = datetime.datetime.now(datetime.timezone.utc)
    df = oml.script.dir()
    assert list(df.columns) == USER_COLUMNS
    assert df["name"].tolist() == ["a", "b"]         # no global one
    assert df["script"].tolist() == ["def f():\n    return 1\n",
                                     inspect.getsource(add_one)]
    assert df["description"].isna().all()
    assert str(df["date"].dtype) == "datetime64[ns, UTC]"
    slack = datetime.timedelta(seconds=5)
    for d in df["date"]:
        assert before - slack <= d.to_pydatetime() <= after + slack


def test_dir_description_from_sql(alice):
    sql_as(ALICE, "SELECT oml.pyqScriptCreate('d', 'def f():\n    return 1\n',"
                  " v_description => 'described')")
    assert oml.script.dir()["description"].tolist() == ["described"]


def test_dir_global(alice, connect_as):
    oml.script.create("p", add_one)
    oml.script.create("g2", add_one, is_global=True)
    connect_as(None)
    oml.script.create("g1", add_one, is_global=True)
    connect_as(CAROL)
    df = oml.script.dir(sctype="global")
    assert list(df.columns) == USER_COLUMNS
    assert df["name"].tolist() == ["g1", "g2"]
    assert oml.script.dir()["name"].tolist() == []


def test_dir_all(alice, admin, connect_as):
    oml.script.create("mine", add_one)
    oml.script.create("shared", add_one)
    oml.script.create("glob", add_one, is_global=True)
    oml.grant("shared", typ="pyqscript", user=BOB)
    connect_as(BOB)
    df = oml.script.dir(sctype="all")
    assert list(df.columns) == COLUMNS["all"]
    assert rows(df[["owner", "name"]]) == [("PYQSYS", "glob"),
                                           (ALICE, "shared")]
    connect_as(ALICE)
    assert rows(oml.script.dir(sctype="all")[["owner", "name"]]) == [
        ("PYQSYS", "glob"), (ALICE, "mine"), (ALICE, "shared")]
    connect_as(None)                    # a superuser sees everything
    assert len(oml.script.dir(sctype="all")) == 3


def test_dir_grant(alice, connect_as):
    oml.script.create("s", add_one)
    oml.script.create("t", add_one)
    oml.script.create("g", add_one, is_global=True)
    assert len(oml.script.dir(sctype="grant")) == 0
    oml.grant("s", typ="pyqscript", user=BOB)
    oml.grant("s", typ="pyqscript")                  # PUBLIC
    oml.grant("t", typ="pyqscript", user="oml_grp")
    df = oml.script.dir(sctype="grant")
    assert list(df.columns) == ["name", "grantee"]
    assert rows(df) == [("s", "PUBLIC"), ("s", BOB), ("t", "oml_grp")]
    assert rows(oml.script.dir("t", sctype="grant")) == [("t", "oml_grp")]
    # What is granted to PUBLIC, carol reads.
    connect_as(CAROL)
    assert oml.script.load("s", owner=ALICE)(1) == 2
    assert len(oml.script.dir(sctype="grant")) == 0
    connect_as(ALICE)
    oml.revoke("s", typ="pyqscript")
    assert rows(oml.script.dir(sctype="grant")) == [("s", BOB),
                                                    ("t", "oml_grp")]


def test_grant_global_script_is_an_error(alice):
    oml.script.create("g", add_one, is_global=True)
    err = expect_error("42704", oml.grant, "g", typ="pyqscript", user=BOB)
    assert 'script "g" does not exist' in err.message


def test_dir_name_and_regex(alice):
    names = ["b", "B", "a", "_x", "Z", "é", "A1", "a b", "model_v1",
             "model_v2", "old_model"]
    for n in names:
        oml.script.create(n, add_one)
    assert oml.script.dir()["name"].tolist() == byte_order(names)
    assert oml.script.dir("a")["name"].tolist() == ["a"]
    assert oml.script.dir("model")["name"].tolist() == []
    assert oml.script.dir("model", regex_match=True)["name"].tolist() == [
        "model_v1", "model_v2", "old_model"]
    assert oml.script.dir("^model_v[0-9]$", regex_match=True)[
        "name"].tolist() == ["model_v1", "model_v2"]
    assert oml.script.dir("A", regex_match=True)["name"].tolist() == ["A1"]


def test_dir_errors(alice):
    err = expect_error("22023", oml.script.dir, sctype="nope")
    assert 'unknown sctype "nope"' in err.message
    expect_error("2201B", oml.script.dir, "(", regex_match=True)
    with pytest.raises(TypeError, match="sctype must be a str"):
        oml.script.dir(sctype=None)
    with pytest.raises(TypeError, match="regex_match must be a bool"):
        oml.script.dir("a", regex_match=1)
    with pytest.raises(TypeError, match="name must be a str or None"):
        oml.script.dir(3)


def test_dir_sctype_any_case(alice):
    oml.script.create("g", add_one, is_global=True)
    df = oml.script.dir(sctype="GLOBAL")
    assert list(df.columns) == USER_COLUMNS
    assert df["name"].tolist() == ["g"]


# -- drop ---------------------------------------------------------------------

def test_drop(alice, admin):
    oml.script.create("s", add_one)
    oml.script.create("s", add_one, is_global=True)
    with no_warnings():
        assert oml.script.drop("s") is None
    assert scripts(admin) == [(ALICE, "s", True)]
    oml.script.drop("s", is_global=True)
    assert scripts(admin) == []


def test_drop_missing(alice):
    err = expect_error("42704", oml.script.drop, "s")
    assert err.message == 'private script "s" does not exist'
    assert "v_global" in err.hint
    err = expect_error("42704", oml.script.drop, "s", is_global=True)
    assert err.message == 'global script "s" does not exist'
    with no_warnings():
        assert oml.script.drop("s", silent=True) is None
        assert oml.script.drop("s", is_global=True, silent=True) is None


def test_drop_global_only_by_creator_or_superuser(alice, admin, connect_as):
    oml.script.create("g", add_one, is_global=True)
    connect_as(BOB)
    err = expect_error("42501", oml.script.drop, "g", is_global=True)
    assert 'permission denied to drop global script "g"' in err.message
    # silent does not hide a refusal
    expect_error("42501", oml.script.drop, "g", is_global=True, silent=True)
    # Bob has no private "g"; the global one is not his to drop.
    expect_error("42704", oml.script.drop, "g")
    assert scripts(admin) == [(ALICE, "g", True)]
    connect_as(None)
    oml.script.drop("g", is_global=True)
    assert scripts(admin) == []


def test_drop_other_roles_private_is_missing(alice, admin, connect_as):
    oml.script.create("p", add_one)
    oml.grant("p", typ="pyqscript", user=BOB)
    connect_as(BOB)
    expect_error("42704", oml.script.drop, "p")
    assert scripts(admin) == [(ALICE, "p", False)]


def test_drop_untrusted_own_script(admin, connect_as):
    # A role that left oml_developer can still drop its scripts.
    with trusted(admin, CAROL):
        connect_as(CAROL)
        oml.script.create("s", add_one)
    connect_as(CAROL)
    oml.script.drop("s")
    assert scripts(admin) == []


def test_drop_argument_errors():
    with pytest.raises(TypeError, match="name must be a str"):
        oml.script.drop(None)
    with pytest.raises(TypeError, match="is_global must be a bool"):
        oml.script.drop("s", is_global=None)
    with pytest.raises(TypeError, match="silent must be a bool"):
        oml.script.drop("s", silent=1)


def test_drop_invalid_name(alice):
    expect_error("22023", oml.script.drop, "")
    expect_error("22023", oml.script.drop, "a\nb")
    expect_error("42622", oml.script.drop, "x" * 129)


# -- inside the server --------------------------------------------------------

def in_server():
    import oml
    oml.script.create("made_inside", "def g(x):\n    return x + 1\n")
    g = oml.script.load("made_inside")
    listed = oml.script.dir()["name"].tolist()
    try:
        oml.script.create("made_inside", "def g(x):\n    return x\n")
    except oml.OMLError as exc:
        duplicate = exc.sqlstate
    try:
        oml.script.create("bad", "def g(:\n")
    except oml.OMLError as exc:
        bad = (exc.sqlstate, exc.message)
    oml.script.drop("made_inside")
    oml.script.drop("made_inside", silent=True)
    return {"g": g(1), "source": g.get_source().read(), "listed": listed,
            "duplicate": duplicate, "bad": bad,
            "after": oml.script.dir()["name"].tolist()}


def test_script_module_inside_the_server(alice, admin):
    import json
    oml.script.create("in_server", in_server)
    [[value]] = sql_as(ALICE, "SELECT value FROM oml.pyqEval(NULL, 'JSON',"
                              " 'in_server')")
    assert json.loads(value) == {
        "g": 2, "source": "def g(x):\n    return x + 1\n",
        "listed": ["in_server", "made_inside"], "duplicate": "42710",
        "bad": ["42P13",
                'invalid script "bad": invalid syntax at line 1'],
        "after": ["in_server"]}
    assert scripts(admin) == [(ALICE, "in_server", False)]


def test_script_create_inside_the_server_as_untrusted_caller(alice, admin):
    # Bob may run a granted script, but it creates scripts as Bob: refused.
    oml.script.create("in_server", in_server)
    oml.grant("in_server", typ="pyqscript", user=BOB)
    with pytest.raises(psycopg2.Error) as err:
        sql_as(BOB, "SELECT value FROM oml.pyqEval(NULL, 'JSON', 'in_server',"
                    " %s)", (ALICE,))
    assert err.value.pgcode == "42501"
    assert "permission denied to create scripts" in str(err.value)
    assert scripts(admin) == [(ALICE, "in_server", False)]


def test_package_surface():
    for name in ("create", "load", "dir", "drop"):
        assert callable(getattr(oml.script, name))
    for name in ("script", "do_eval", "table_apply", "row_apply",
                 "group_apply", "index_apply"):
        assert name in oml.__all__
        assert getattr(oml, name) is not None
    assert list(inspect.signature(oml.script.create).parameters) == [
        "name", "func", "is_global", "overwrite", "sandbox"]
    # OML4Py's four, then the sandbox flag, by keyword only.
    assert inspect.signature(oml.script.create).parameters[
        "sandbox"].kind is inspect.Parameter.KEYWORD_ONLY
    assert list(inspect.signature(oml.script.dir).parameters) == [
        "name", "regex_match", "sctype"]

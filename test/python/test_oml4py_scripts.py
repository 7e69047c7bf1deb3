"""OML4Py lab code about scripts, run unchanged (issue 8, items 1 and 4).

- ``oml.script.load(name).get_source()`` is a file-like object, in the
  client and in the server, and what it gives can be stored again;
- ``func_owner='PYQSYS'`` / ``owner='PYQSYS'`` (any case) mean the global
  script of that name, also when a role of that name exists.
"""

import io
import json

import psycopg2
import pytest

import oml_store as oml
from conftest import ALICE, BOB, DEVELOPER, PASSWORD, admin_connect, sql_as

SOURCE = ("import math\n\n"
          "def hyp(a=3, b=4):\n"
          "    '''Hypotenuse.'''\n"
          "    return math.sqrt(a * a + b * b)\n")
DATA = "SELECT * FROM (VALUES (1, 'a'), (2, 'b'), (3, 'a')) t(id, grp)"


# -- item 1: get_source() is file-like ------------------------------------------

def test_get_source_is_a_file_like_object(alice):
    oml.script.create("hyp", SOURCE)
    f = oml.script.load("hyp")
    src = f.get_source()
    assert isinstance(src, io.StringIO)
    assert src.readline() == "import math\n"
    assert src.read() == SOURCE[len("import math\n"):]
    assert src.read() == ""
    # A new object each time, read from the start.
    assert f.get_source().read() == SOURCE
    assert list(f.get_source()) == SOURCE.splitlines(True)
    with f.get_source() as s:
        assert s.getvalue() == SOURCE


def test_lab_code_copies_a_script(alice):
    # As in OML4Py's labs: create a script from another's source.
    oml.script.create("hyp", SOURCE)
    oml.script.create("hyp2", oml.script.load("hyp").get_source().read())
    assert oml.script.load("hyp2")(6, 8) == 10.0
    # The file-like object itself, and a loaded script, work as func too.
    oml.script.create("hyp3", oml.script.load("hyp").get_source())
    oml.script.create("hyp4", oml.script.load("hyp"))
    got = oml.script.dir(name="^hyp", regex_match=True)
    assert got["name"].tolist() == ["hyp", "hyp2", "hyp3", "hyp4"]
    assert got["script"].tolist() == [SOURCE] * 4
    # Read from where it stands; a binary file or an empty one is refused.
    rest = io.StringIO("# header\n" + SOURCE)
    rest.readline()
    oml.script.create("hyp5", rest)
    assert oml.script.dir(name="hyp5")["script"].tolist() == [SOURCE]
    with pytest.raises(TypeError, match="text mode"):
        oml.script.create("bin", io.BytesIO(SOURCE.encode()))
    with pytest.raises(ValueError, match="empty"):
        oml.script.create("empty", io.StringIO("  \n"))
    with pytest.raises(TypeError, match="file-like"):
        oml.script.create("num", 42)


def test_do_eval_with_file_like_source(alice):
    oml.script.create("hyp", SOURCE)
    assert oml.do_eval(oml.script.load("hyp").get_source(), a=5, b=12) == 13.0
    assert oml.do_eval(oml.script.load("hyp"), a=8, b=15) == 17.0
    # Temporary scripts leave nothing behind.
    assert oml.script.dir()["name"].tolist() == ["hyp"]


def copy_in_server(name, new_name):
    import oml
    src = oml.script.load(name).get_source()
    first = src.readline()
    oml.script.create(new_name, oml.script.load(name).get_source().read())
    return {"type": type(src).__name__, "first": first,
            "copied": oml.script.load(new_name).get_source().read(),
            "runs": oml.script.load(new_name)()}


def test_get_source_in_the_server(alice):
    oml.script.create("hyp", SOURCE)
    oml.script.create("copy_in_server", copy_in_server)
    [[value]] = sql_as(ALICE, "SELECT value FROM oml.pyqEval(%s, 'JSON',"
                              " 'copy_in_server')",
                       (json.dumps({"name": "hyp", "new_name": "hyp2"}),))
    assert json.loads(value) == {"type": "StringIO", "first": "import math\n",
                                 "copied": SOURCE, "runs": 5.0}


# -- item 4: PYQSYS means the global script ---------------------------------------

def load_global_in_server(name):
    import oml
    f = oml.script.load(name, owner="PYQSYS")
    return [f(), oml.script.load(name)(), f.get_source().read()]

def which(label):
    return "def f(*args, **kwargs):\n    return %r\n" % label


@pytest.fixture
def same_named(alice):
    """Alice's global and private scripts "s", the private one granted to
    no one."""
    oml.script.create("s", which("global"), is_global=True)
    oml.script.create("s", which("private"))


def test_func_owner_pyqsys_in_every_apply(same_named):
    assert oml.do_eval("s") == "private"
    for owner in ("PYQSYS", "pyqsys", "PyqSys"):
        assert oml.do_eval("s", func_owner=owner) == "global"
    assert oml.do_eval("s", func_owner=ALICE) == "private"
    assert oml.table_apply(DATA, "s", func_owner="PYQSYS") == "global"
    assert oml.row_apply(DATA, "s", func_owner="PYQSYS", rows=2) == \
        ["global", "global"]
    assert oml.group_apply(DATA, "grp", "s", func_owner="PYQSYS") == \
        {"a": "global", "b": "global"}
    assert oml.index_apply(2, "s", func_owner="PYQSYS") == \
        ["global", "global"]
    f = oml.script.load("s", owner="PYQSYS")
    assert f() == "global" and f.owner == "PYQSYS"
    assert f.get_source().read() == which("global")
    assert oml.script.load("s")() == "private"
    # Inside the server too.
    oml.script.create("load_global_in_server", load_global_in_server)
    assert oml.do_eval("load_global_in_server", name="s") == \
        ["global", "private", which("global")]


def test_pyqsys_as_another_role(same_named, connect_as):
    oml.disconnect()
    connect_as(BOB)
    # What oml.script.dir lists, Bob can call by the owner it shows.
    listed = oml.script.dir(sctype="all")
    assert listed[["owner", "name"]].values.tolist() == [["PYQSYS", "s"]]
    assert oml.do_eval("s", func_owner=listed["owner"][0]) == "global"
    assert oml.script.load("s", owner="PYQSYS")() == "global"
    assert oml.do_eval("s") == "global"
    with pytest.raises(oml.OMLError) as err:
        oml.do_eval("s", func_owner=ALICE)
    assert err.value.sqlstate == "42501"


def test_pyqsys_finds_no_private_script(alice):
    oml.script.create("mine", which("private"))
    for call in (lambda: oml.do_eval("mine", func_owner="PYQSYS"),
                 lambda: oml.script.load("mine", owner="pyqsys")):
        with pytest.raises(oml.OMLError) as err:
            call()
        assert err.value.sqlstate == "42883"
        assert 'global script "mine" does not exist' in str(err.value)


def test_pyqsys_means_global_even_with_a_role_of_that_name(same_named, admin):
    conn = admin_connect()
    cur = conn.cursor()
    cur.execute("CREATE ROLE \"PYQSYS\" LOGIN PASSWORD %s IN ROLE " + DEVELOPER,
                (PASSWORD,))
    try:
        sql_as("PYQSYS", "SELECT oml.pyqScriptCreate('s', %s)",
               (which("role PYQSYS"),))
        sql_as("PYQSYS", "SELECT oml.pyqGrant('s', 'pyqscript', NULL)")
        # The role's own unqualified call finds its own script ...
        assert sql_as("PYQSYS", "SELECT value FROM oml.pyqEval(NULL, 'JSON',"
                                " 's')") == [('"role PYQSYS"',)]
        # ... but PYQSYS as owner is always the global script.
        assert oml.do_eval("s", func_owner="PYQSYS") == "global"
        assert oml.script.load("s", owner="PYQSYS")() == "global"
        assert sql_as(BOB, "SELECT value FROM oml.pyqEval(NULL, 'JSON', 's',"
                           " 'PYQSYS')") == [('"global"',)]
    finally:
        admin.sql("DELETE FROM oml.script WHERE owner = '\"PYQSYS\"'::regrole")
        cur.execute("DROP ROLE \"PYQSYS\"")
        conn.close()


# -- item 8: owner columns are text, ds_dir works before and after the update ----

def test_ds_dir_owner_before_and_after_update(admin):
    from test_upgrade import drop_db, new_db, save_010
    name = "oml_pytest_owner_text"
    old = new_db(name)
    try:
        cur = old.cursor()
        cur.execute("CREATE EXTENSION oml_store VERSION '0.1.0'")
        save_010(name, ALICE, "alice_ds")
        query = ("SELECT owner, pg_typeof(owner)::text, datastore_name"
                 " FROM oml.ds_dir(dstype => 'all')")
        views = ("SELECT (SELECT pg_typeof(dsowner)::text || ' ' || dsowner"
                 "         FROM oml.all_pyq_datastores),"
                 " (SELECT pg_typeof(dsowner)::text || ' ' || dsowner"
                 "         FROM oml.all_pyq_datastore_contents LIMIT 1),"
                 " (SELECT count(*) FROM oml.user_pyq_datastores),"
                 " (SELECT count(*) FROM oml.user_pyq_datastore_contents)")
        # The new library with the 0.1.0 schema: owner is still a name.
        cur.execute(query)
        assert cur.fetchall() == [(ALICE, "name", "alice_ds")]
        cur.execute("ALTER EXTENSION oml_store UPDATE")
        cur.execute(query)
        assert cur.fetchall() == [(ALICE, "text", "alice_ds")]
        cur.execute(views)
        assert cur.fetchall() == [("text " + ALICE, "text " + ALICE, 0, 0)]
        conn = psycopg2.connect(user=ALICE, password=PASSWORD, dbname=name)
        try:
            with conn.cursor() as acur:
                acur.execute(views)
                assert acur.fetchall() == [("text " + ALICE, "text " + ALICE,
                                            1, 2)]
        finally:
            conn.close()
    finally:
        old.close()
        drop_db(name)

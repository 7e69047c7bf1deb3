"""The registry, part 1 (issue 11): script versions and aliases,
execute-only script grants and usage grants on datastores, through the
client; every way a grantee might read source or bytes; a dump/restore
round trip of versions and aliases; 0.2.0 scripts and grants surviving the
update as version 1 and 'read'.
"""

import os

import psycopg2
import pytest

import oml_store as oml
from conftest import ALICE, BOB, CAROL, DBNAME, GROUP, PASSWORD, admin_connect
from test_backup import drop_db, pg_bin, recreate, run

V1 = "def score(x=1):\n    return ['v1', x]\n"
V2 = "def score(x=1):\n    return ['v2', x]\n"
PREDICT = ("def predict(x=1):\n"
           "    import oml\n"
           "    m = oml.ds.load('model', owner='%s', to_globals=False)['w']\n"
           "    return m * x\n" % ALICE)


def connect(role, dbname=DBNAME):
    oml.connect(user=role, password=PASSWORD, dbname=dbname)


def session(role, dbname=DBNAME):
    conn = psycopg2.connect(user=role, password=PASSWORD, dbname=dbname)
    conn.autocommit = True
    return conn


def fails(sqlstate, func, *args, **kwargs):
    with pytest.raises(oml.OMLError) as err:
        func(*args, **kwargs)
    assert err.value.sqlstate == sqlstate, str(err.value)
    return err.value


def sql_fails(cur, sqlstate, query, params=()):
    with pytest.raises(psycopg2.Error) as err:
        cur.execute(query, params)
    assert err.value.pgcode == sqlstate, str(err.value)
    return err.value


def test_versions_and_aliases_from_the_client(admin):
    connect(ALICE)
    oml.script.create("score", V1)
    oml.script.create("score", V2, overwrite=True)
    v = oml.script.versions("score")
    assert list(v["version"]) == [1, 2]
    assert list(v["is_current"]) == [False, True]
    assert list(v["creator"]) == [ALICE, ALICE]
    assert v["source_hash"].str.len().tolist() == [64, 64]
    # current by default, any version by number
    assert oml.do_eval("score", x=3) == ["v2", 3]
    assert oml.do_eval("score@1", x=3) == ["v1", 3]
    assert oml.script.load("score@1").get_source().read() == V1
    assert oml.script.load("score@1")(x=4) == ["v1", 4]
    # aliases: set, move, roll back
    assert oml.script.set_alias("score", "prod", 1) == 1
    assert oml.do_eval("score@prod") == ["v1", 1]
    assert oml.script.set_alias("score", "prod") == 2
    assert oml.do_eval("score@prod") == ["v2", 1]
    assert oml.script.set_alias("score", "prod", 1) == 1
    assert list(oml.script.versions("score")["aliases"]) == [["prod"], []]
    # errors
    fails("2BP01", oml.script.drop_version, "score", 1)
    fails("55006", oml.script.drop_version, "score", 2)
    fails("42704", oml.do_eval, "score@7")
    fails("42704", oml.do_eval, "score@staging")
    fails("42704", oml.script.set_alias, "score", "prod", 9)
    fails("42602", oml.script.set_alias, "score", "9x")
    fails("42602", oml.script.create, "a@b", V1)
    with pytest.raises(TypeError):
        oml.script.set_alias("score", "prod", "1")
    with pytest.raises(TypeError):
        oml.script.drop_version("score", True)
    oml.script.drop_alias("score", "prod")
    fails("42704", oml.script.drop_alias, "score", "prod")
    oml.script.drop_alias("score", "prod", silent=True)
    oml.script.drop_version("score", 1)
    fails("42704", oml.do_eval, "score@1")
    # dropping the script drops everything
    oml.script.create("score", V1, overwrite=True)
    oml.script.set_alias("score", "prod")
    oml.script.drop("score")
    assert len(oml.script.versions("score")) == 0
    assert admin.sql("SELECT count(*) FROM oml.script_version UNION ALL"
                     " SELECT count(*) FROM oml.script_alias") == [(0,), (0,)]


def test_versions_cap():
    conn = session(ALICE)
    cur = conn.cursor()
    cur.execute("SELECT oml.pyqScriptCreate('capped', %s)", (V1,))
    cur.execute("SELECT oml.script_alias_set('capped', 'keep')")
    cur.execute("SET oml_store.script_versions_max = 2")
    for _ in range(4):
        cur.execute("SELECT oml.pyqScriptCreate('capped', %s, v_overwrite => true)", (V2,))
    cur.execute("SELECT version FROM oml.script_versions WHERE name = 'capped' ORDER BY 1")
    assert [r[0] for r in cur.fetchall()] == [1, 4, 5]
    conn.close()


@pytest.fixture
def shared():
    """Alice's model, saved in the server, and her predict script."""
    connect(ALICE)
    oml.script.create("train", "def train():\n    import oml\n"
                      "    oml.ds.save({'w': 3}, 'model', grantable=True, overwrite=True)\n"
                      "    return 'ok'\n")
    assert oml.do_eval("train") == "ok"
    oml.script.create("predict", PREDICT)
    oml.disconnect()


def test_execute_only_grant(shared):
    connect(ALICE)
    oml.script.set_alias("predict", "prod")
    oml.grant("predict", "pyqscript", BOB, privilege="execute")
    oml.grant("model", "datastore", BOB)
    connect(BOB)
    # runs it by name, version and alias, from the client and SQL
    assert oml.do_eval("predict", func_owner=ALICE, x=2) == 6
    assert oml.do_eval("predict@1", func_owner=ALICE) == 3
    assert oml.do_eval("predict@prod", func_owner=ALICE) == 3
    # cannot read the source: client load, dir, the SQL function and views
    fails("42501", oml.script.load, "predict", owner=ALICE)
    fails("42501", oml.script.load, "predict@prod", owner=ALICE)
    assert "predict" not in list(oml.script.dir(sctype="all")["name"])
    assert len(oml.script.versions("predict")) == 0
    conn = session(BOB)
    cur = conn.cursor()
    cur.execute("SELECT value FROM oml.pyqEval('{\"x\": 5}', 'JSON', 'predict@prod', %s)", (ALICE,))
    assert cur.fetchall() == [("15",)]
    for q in ("SELECT source FROM oml.script WHERE name = 'predict'",
              "SELECT script FROM oml.all_pyq_scripts WHERE name = 'predict'",
              "SELECT v.source FROM oml.script_version v",
              "SELECT * FROM oml.script_versions WHERE name = 'predict'",
              "SELECT script FROM oml.script_dir(sctype => 'all') WHERE name = 'predict'"):
        cur.execute(q)
        assert cur.fetchall() == [], q
    sql_fails(cur, "42501", "SELECT oml.script_load('predict', %s)", (ALICE,))
    sql_fails(cur, "42501", "SELECT oml.script_load('predict@1', %s)", (ALICE,))
    with open(os.devnull, "w") as sink:
        cur.copy_expert("COPY oml.script TO STDOUT", sink)
    cur.execute("SELECT count(*) FROM oml.script WHERE NOT is_global")
    assert cur.fetchone() == (0,)
    conn.close()
    # revoke by privilege
    connect(ALICE)
    oml.revoke("predict", "pyqscript", BOB, privilege="execute")
    connect(BOB)
    fails("42501", oml.do_eval, "predict", func_owner=ALICE)


def test_execute_grant_to_group_and_public(shared):
    connect(ALICE)
    oml.grant("model", "datastore", None)
    oml.grant("predict", "pyqscript", GROUP, privilege="execute")
    connect(BOB)
    assert oml.do_eval("predict", func_owner=ALICE) == 3
    fails("42501", oml.script.load, "predict", owner=ALICE)
    connect(CAROL)
    fails("42501", oml.do_eval, "predict", func_owner=ALICE)
    connect(ALICE)
    oml.grant("predict", "pyqscript", None, privilege="execute")
    connect(CAROL)
    assert oml.do_eval("predict", func_owner=ALICE) == 3
    fails("42501", oml.script.load, "predict", owner=ALICE)


def _bytes_refused(role):
    """Every way role might fetch the bytes of alice's model fails or
    gives nothing, while describe works."""
    connect(role)
    fails("42501", oml.ds.load, "model", owner=ALICE)
    d = oml.ds.describe("model", owner=ALICE)
    assert list(d["object_name"]) == ["w"]
    conn = session(role)
    cur = conn.cursor()
    sql_fails(cur, "42501", "SELECT * FROM oml.ds_read('model', %s)", (ALICE,))
    sql_fails(cur, "42501", "SELECT * FROM oml.ds_objects('model', %s)", (ALICE,))
    sql_fails(cur, "42501", "SELECT oml.ds_open('model', %s)", (ALICE,))
    for q in ("SELECT data FROM oml.datastore_chunk",
              "SELECT * FROM oml.datastore_object",
              "SELECT * FROM oml.all_pyq_datastore_contents"):
        cur.execute(q)
        assert cur.fetchall() == [], q
    a = admin_connect(DBNAME)
    with a.cursor() as acur:
        acur.execute("SELECT o.id FROM oml.datastore_object o JOIN oml.datastore d"
                     " ON d.id = o.ds_id WHERE d.name = 'model'")
        [[obj_id]] = acur.fetchall()
    a.close()
    # as for an object one cannot see at all
    sql_fails(cur, "42704", "SELECT oml.ds_get_chunk(%s, 0)", (obj_id,))
    copied = []

    class Sink:
        def write(self, data):
            copied.append(data)
    cur.copy_expert("COPY oml.datastore_chunk TO STDOUT", Sink())
    cur.copy_expert("COPY (SELECT * FROM oml.datastore_chunk) TO STDOUT", Sink())
    assert copied == []
    conn.close()


def test_usage_grant(shared):
    connect(ALICE)
    oml.grant("predict", "pyqscript", BOB, privilege="execute")
    oml.grant("model", "datastore", BOB, privilege="usage")
    connect(BOB)
    assert oml.do_eval("predict", func_owner=ALICE, x=2) == 6
    _bytes_refused(BOB)
    # read replaces usage; revoking without a privilege takes all
    connect(ALICE)
    oml.grant("model", "datastore", BOB)
    connect(BOB)
    assert oml.ds.load("model", owner=ALICE, to_globals=False) == {"w": 3}
    connect(ALICE)
    oml.revoke("model", "datastore", BOB)
    connect(BOB)
    fails("42501", oml.do_eval, "predict", func_owner=ALICE)
    fails("42501", oml.ds.describe, "model", owner=ALICE)


def test_usage_grant_to_public_and_group(shared):
    connect(ALICE)
    oml.grant("predict", "pyqscript", None, privilege="execute")
    oml.grant("model", "datastore", GROUP, privilege="usage")
    connect(BOB)
    assert oml.do_eval("predict", func_owner=ALICE) == 3
    connect(CAROL)
    fails("42501", oml.do_eval, "predict", func_owner=ALICE)
    connect(ALICE)
    oml.grant("model", "datastore", None, privilege="usage")
    connect(CAROL)
    assert oml.do_eval("predict", func_owner=ALICE) == 3
    _bytes_refused(CAROL)
    _bytes_refused(BOB)


def test_usage_not_in_a_script_the_caller_wrote(shared, admin):
    """A usage grantee who may write scripts cannot load the datastore in
    its own, nor in one of a role whose privileges it has."""
    admin.sql("DROP ROLE IF EXISTS oml_reg_dev")
    admin.sql("CREATE ROLE oml_reg_dev LOGIN PASSWORD %s IN ROLE oml_developer", (PASSWORD,))
    try:
        connect(ALICE)
        oml.grant("model", "datastore", "oml_reg_dev", privilege="usage")
        oml.grant("predict", "pyqscript", "oml_reg_dev", privilege="execute")
        connect("oml_reg_dev")
        oml.script.create("steal", "def steal():\n    import oml\n"
                          "    return oml.ds.load('model', owner='%s', to_globals=False)\n" % ALICE)
        fails("42501", oml.do_eval, "steal")
        # the same source as alice's, but the developer's own
        oml.script.create("predict", PREDICT)
        fails("42501", oml.do_eval, "predict")
        assert oml.do_eval("predict", func_owner=ALICE) == 3
        # alice's script run from inside the developer's own script
        oml.script.create("nested", "def nested():\n    import oml\n"
                          "    return oml.do_eval('predict', func_owner='%s')\n" % ALICE)
        assert oml.do_eval("nested") == 3
        # ... but a load right after it, in the developer's script, fails
        oml.script.create("after", "def after():\n    import oml\n"
                          "    oml.do_eval('predict', func_owner='%s')\n"
                          "    return oml.ds.load('model', owner='%s', to_globals=False)\n"
                          % (ALICE, ALICE))
        fails("42501", oml.do_eval, "after")
        oml.disconnect()
    finally:
        admin.sql("DELETE FROM oml.script")
        admin.sql("DELETE FROM oml.datastore")
        admin.sql("DROP ROLE oml_reg_dev")


def test_dump_restore_keeps_versions_and_aliases(shared):
    connect(ALICE)
    oml.script.create("predict", PREDICT.replace("m * x", "m * x + 100"), overwrite=True)
    oml.script.set_alias("predict", "prod", 1)
    oml.grant("predict", "pyqscript", BOB, privilege="execute")
    oml.grant("model", "datastore", BOB, privilege="usage")
    oml.disconnect()
    state_q = ("SELECT s.name, v.version, v.source, v.creator, v.created, s.version,"
               " s.acl::text, (SELECT string_agg(a.alias || '=' || a.version, ',')"
               "  FROM oml.script_alias a WHERE a.script_id = s.id AND a.version = v.version)"
               " FROM oml.script s JOIN oml.script_version v ON v.script_id = s.id ORDER BY 1, 2")

    def state(dbname):
        c = admin_connect(dbname)
        with c.cursor() as cur:
            cur.execute(state_q)
            rows = cur.fetchall()
            cur.execute("SELECT name, acl::text FROM oml.datastore ORDER BY 1")
            rows += cur.fetchall()
        c.close()
        return rows

    before = state(DBNAME)
    dump = os.path.join(os.environ.get("OML_TEST_SHARED_DIR", "/tmp"), "oml_registry.custom")
    res = run([pg_bin("pg_dump"), "-Fc", "-d", DBNAME, "-f", dump])
    assert res.returncode == 0, res.stderr
    restored = "oml_pytest_registry_restored"
    recreate(restored)
    try:
        res = run([pg_bin("pg_restore"), "--exit-on-error", "-d", restored, dump])
        assert res.returncode == 0, res.stderr
        assert state(restored) == before
        connect(BOB, restored)
        assert oml.do_eval("predict@prod", func_owner=ALICE) == 3
        assert oml.do_eval("predict", func_owner=ALICE) == 103
        fails("42501", oml.script.load, "predict", owner=ALICE)
        fails("42501", oml.ds.load, "model", owner=ALICE)
        connect(ALICE, restored)
        oml.script.create("predict", PREDICT, overwrite=True)
        assert list(oml.script.versions("predict")["version"]) == [1, 2, 3]
    finally:
        oml.disconnect()
        drop_db(restored)
        os.unlink(dump)


def test_update_from_020_gives_version_1_and_read_grants(admin):
    from test_upgrade import OLD, as_role, drop_db as drop_upgrade_db, new_db, populate_010
    old = new_db(OLD)
    try:
        old.autocommit = True
        old.cursor().execute("CREATE EXTENSION oml_store VERSION '0.2.0'")
        populate_010(OLD)
        with old.cursor() as cur:
            cur.execute("ALTER EXTENSION oml_store UPDATE")
            cur.execute("SELECT s.name, v.version, v.source = s.source, v.creator,"
                        " v.created = s.created, s.version"
                        " FROM oml.script s JOIN oml.script_version v ON v.script_id = s.id"
                        " ORDER BY 1")
            assert cur.fetchall() == [("global_s", 1, True, ALICE, True, 1),
                                      ("private_s", 1, True, ALICE, True, 1)]
        conn = session(CAROL, OLD)
        cur = conn.cursor()
        # the 0.2.0 grant is 'read': carol runs and reads private_s
        cur.execute("SELECT value FROM oml.pyqEval('{}', 'JSON', 'private_s@1', %s)", (ALICE,))
        assert cur.fetchall() == [("1",)]
        cur.execute("SELECT oml.script_load('private_s', %s) IS NOT NULL", (ALICE,))
        assert cur.fetchone() == (True,)
        conn.close()
        conn = session(ALICE, OLD)
        cur = conn.cursor()
        cur.execute("SELECT type, name, grantee, privilege FROM oml.user_pyq_grants ORDER BY 1, 2")
        assert cur.fetchall() == [("datastore", "alice_ds", BOB, "read"),
                                  ("pyqscript", "private_s", CAROL, "read")]
        cur.execute("SELECT oml.pyqScriptCreate('private_s', 'def f(x=1):\n    return 2 * x', v_overwrite => true)")
        cur.execute("SELECT value FROM oml.pyqEval('{}', 'JSON', 'private_s@1')"
                    " UNION ALL SELECT value FROM oml.pyqEval('{}', 'JSON', 'private_s')")
        assert cur.fetchall() == [("1",), ("2",)]
        conn.close()
        as_role(OLD, ALICE, "SELECT oml.pyqScriptDrop('private_s')")
    finally:
        old.close()
        drop_upgrade_db(OLD)


def test_datastore_versions_from_the_client(admin):
    import pandas as pd
    connect(ALICE)
    oml.ds.save({"m": 1}, "dsv", grantable=True)
    oml.ds.save({"m": 2, "f": pd.DataFrame({"a": [1, 2]})}, "dsv", overwrite=True,
                grantable=True, versioned=True)
    oml.ds.save({"m": 3}, "dsv", overwrite=True, grantable=True)
    assert admin.sql("SELECT version, is_current FROM oml.datastore_versions"
                     " WHERE dsname = 'dsv' ORDER BY 1") == [(1, False), (2, False), (3, True)]
    assert oml.ds.load("dsv", to_globals=False) == {"m": 3}
    assert oml.ds.load("dsv", version=1, to_globals=False) == {"m": 1}
    got = oml.ds.load("dsv", version=2, to_globals=False)
    assert got["m"] == 2 and got["f"].equals(pd.DataFrame({"a": [1, 2]}))
    assert oml.ds.load("dsv", objs=["m"], version=2, to_globals=False) == {"m": 2}
    assert oml.ds.load("dsv", version=3, to_globals=False) == {"m": 3}
    conn = session(ALICE)
    cur = conn.cursor()
    cur.execute("SELECT oml.ds_alias_set('dsv', 'prod', 2)")
    conn.close()
    assert oml.ds.load("dsv", alias="prod", to_globals=False)["m"] == 2
    fails("42704", oml.ds.load, "dsv", version=9)
    fails("42704", oml.ds.load, "dsv", alias="nope")
    fails("42704", oml.ds.load, "dsv", objs=["zz"], version=2)
    with pytest.raises(TypeError):
        oml.ds.load("dsv", version="2")
    with pytest.raises(TypeError):
        oml.ds.load("dsv", version=1, alias="prod")
    # the default stays OML4Py's: no versions
    oml.ds.save({"x": 1}, "plain")
    oml.ds.save({"x": 2}, "plain", overwrite=True)
    assert admin.sql("SELECT count(*) FROM oml.datastore_versions WHERE dsname = 'plain'") == [(0,)]
    # a reader loads versions; a usage grantee cannot, from the client
    oml.grant("dsv", user=BOB)
    oml.grant("dsv", user=CAROL, privilege="usage")
    connect(BOB)
    assert oml.ds.load("dsv", owner=ALICE, alias="prod", to_globals=False)["m"] == 2
    connect(CAROL)
    fails("42501", oml.ds.load, "dsv", owner=ALICE, version=1)
    c = session(CAROL)
    ccur = c.cursor()
    ccur.execute("SELECT count(*) FROM oml.datastore_version_chunk")
    assert ccur.fetchone() == (0,)
    c.close()
    # deleting the datastore deletes every version
    connect(ALICE)
    oml.ds.delete("dsv")
    assert admin.sql("SELECT (SELECT count(*) FROM oml.datastore_version_chunk),"
                     " (SELECT count(*) FROM oml.datastore_alias)") == [(0, 0)]


def test_dump_restore_keeps_datastore_versions():
    connect(ALICE)
    oml.ds.save({"m": 1}, "dsv", versioned=True)
    oml.ds.save({"m": 2}, "dsv", overwrite=True)
    conn = session(ALICE)
    conn.cursor().execute("SELECT oml.ds_alias_set('dsv', 'prod', 1)")
    conn.close()
    oml.disconnect()
    dump = os.path.join(os.environ.get("OML_TEST_SHARED_DIR", "/tmp"), "oml_registry_ds.custom")
    res = run([pg_bin("pg_dump"), "-Fc", "-d", DBNAME, "-f", dump])
    assert res.returncode == 0, res.stderr
    restored = "oml_pytest_registry_ds_restored"
    recreate(restored)
    try:
        res = run([pg_bin("pg_restore"), "--exit-on-error", "-d", restored, dump])
        assert res.returncode == 0, res.stderr
        connect(ALICE, restored)
        assert oml.ds.load("dsv", alias="prod", to_globals=False) == {"m": 1}
        assert oml.ds.load("dsv", to_globals=False) == {"m": 2}
        oml.ds.save({"m": 3}, "dsv", overwrite=True)
        assert oml.ds.load("dsv", version=2, to_globals=False) == {"m": 2}
    finally:
        oml.disconnect()
        drop_db(restored)
        os.unlink(dump)

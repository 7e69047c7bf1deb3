"""oml.grant and oml.revoke, and who reads what."""

import psycopg2
import pytest

import oml_store as oml
from conftest import (ALICE, BOB, CAROL, GROUP, PASSWORD, no_warnings,
                      sql_as)


def readable(role, connect_as, ds="ds", owner=ALICE):
    """Whether role can load, and describe, owner's datastore ds."""
    connect_as(role)
    try:
        got = oml.ds.load(ds, owner=owner, to_globals=False)
    except oml.OMLError as err:
        assert err.sqlstate == "42501"
        assert 'permission denied for datastore "%s" of role "%s"' \
            % (ds, owner) in str(err)
        with pytest.raises(oml.OMLError) as derr:
            oml.ds.describe(ds, owner=owner)
        assert derr.value.sqlstate == "42501"
        return False
    assert got == {"o": [1, 2]}
    assert oml.ds.describe(ds, owner=owner)["object_name"].tolist() == ["o"]
    return True


@pytest.fixture
def alice_ds(connect_as):
    connect_as(ALICE)
    oml.ds.save({"o": [1, 2]}, "ds", grantable=True)


def grants():
    return [tuple(r) for r in oml.ds.dir(dstype="grant")
            .itertuples(index=False)]


def test_not_granted(alice_ds, connect_as):
    assert readable(ALICE, connect_as)          # own
    assert not readable(BOB, connect_as)
    assert not readable(CAROL, connect_as)


def test_grant_to_role_and_revoke(alice_ds, connect_as):
    with no_warnings():
        assert oml.grant("ds", user=BOB) is None
    assert grants() == [("ds", BOB)]
    assert readable(BOB, connect_as)
    assert not readable(CAROL, connect_as)
    connect_as(ALICE)
    assert oml.revoke("ds", user=BOB) is None
    assert grants() == []
    assert not readable(BOB, connect_as)


def test_grant_twice_is_one_grant(alice_ds):
    oml.grant("ds", user=BOB)
    oml.grant("ds", user=BOB)
    assert grants() == [("ds", BOB)]


def test_grant_to_public(alice_ds, connect_as):
    oml.grant("ds")                              # user=None: PUBLIC
    assert grants() == [("ds", "PUBLIC")]
    assert readable(BOB, connect_as)
    assert readable(CAROL, connect_as)
    connect_as(ALICE)
    oml.revoke("ds")
    assert grants() == []
    assert not readable(CAROL, connect_as)


def test_grant_to_public_by_name(alice_ds, connect_as):
    oml.grant("ds", "datastore", "PUBLIC")
    assert grants() == [("ds", "PUBLIC")]
    assert readable(CAROL, connect_as)
    connect_as(ALICE)
    oml.revoke("ds", user="public")
    assert grants() == []


def test_public_and_role_grants_are_separate(alice_ds, connect_as):
    oml.grant("ds", user=None)
    oml.grant("ds", user=CAROL)
    assert grants() == [("ds", "PUBLIC"), ("ds", CAROL)]
    oml.revoke("ds", user=None)
    assert grants() == [("ds", CAROL)]
    assert readable(CAROL, connect_as)
    assert not readable(BOB, connect_as)


def test_grant_to_group(alice_ds, connect_as):
    oml.grant("ds", typ="datastore", user=GROUP)
    assert grants() == [("ds", GROUP)]
    assert readable(BOB, connect_as)             # member of oml_grp
    assert not readable(CAROL, connect_as)
    connect_as(BOB)
    assert oml.ds.dir(dstype="granted")["datastore_name"].tolist() == ["ds"]


def test_revoke_never_granted_is_silent(alice_ds):
    with no_warnings():
        oml.revoke("ds", user=CAROL)
        oml.revoke("ds")
    assert grants() == []


def test_revoke_not_grantable_is_silent(connect_as):
    connect_as(ALICE)
    oml.ds.save({"o": 1}, "ds")
    with no_warnings():
        oml.revoke("ds", user=BOB)


def test_grant_not_grantable(connect_as):
    connect_as(ALICE)
    oml.ds.save({"o": [1, 2]}, "ds")
    with pytest.raises(oml.OMLError) as err:
        oml.grant("ds", user=BOB)
    assert err.value.sqlstate == "0LP01"
    assert str(err.value).startswith('datastore "ds" is not grantable')
    assert not readable(BOB, connect_as)


def test_grant_unknown_role(alice_ds):
    with pytest.raises(oml.OMLError) as err:
        oml.grant("ds", user="oml_nosuchrole")
    assert err.value.sqlstate == "42704"
    assert 'role "oml_nosuchrole" does not exist' in str(err.value)
    with pytest.raises(oml.OMLError) as err:
        oml.revoke("ds", user="oml_nosuchrole")
    assert err.value.sqlstate == "42704"
    assert grants() == []


def test_grant_missing_or_foreign_datastore(alice_ds, connect_as):
    with pytest.raises(oml.OMLError) as err:
        oml.grant("nope", user=BOB)
    assert err.value.sqlstate == "42704"
    connect_as(BOB)
    for call in (oml.grant, oml.revoke):
        with pytest.raises(oml.OMLError) as err:
            call("ds", user=BOB)                 # alice's, not bob's
        assert err.value.sqlstate == "42704"
        assert str(err.value).startswith('datastore "ds" does not exist')
    assert not readable(BOB, connect_as)


def test_grant_types(alice_ds):
    with pytest.raises(oml.OMLError) as err:
        oml.grant("ds", typ="pyqscript", user=BOB)    # no script "ds"
    assert err.value.sqlstate == "42704"
    assert str(err.value).startswith('script "ds" does not exist')
    with pytest.raises(oml.OMLError) as err:
        oml.grant("ds", typ="table", user=BOB)
    assert err.value.sqlstate == "22023"
    assert grants() == []
    oml.grant("ds", typ="DATASTORE", user=BOB)
    assert grants() == [("ds", BOB)]


def test_grant_script(alice_ds, connect_as):
    def can_read(role):
        try:
            return sql_as(role, "SELECT oml.script_load('f', %s)",
                          (ALICE,)) == [(SOURCE,)]
        except psycopg2.Error as err:
            assert err.pgcode == "42501"
            return False
    SOURCE = "def f():\n    return 1\n"
    sql_as(ALICE, "SELECT oml.pyqScriptCreate('f', %s)", (SOURCE,))
    assert not can_read(BOB)
    oml.grant("f", typ="pyqscript", user=BOB)
    assert can_read(BOB) and not can_read(CAROL)
    oml.grant("f", "pyqscript")                      # PUBLIC
    assert can_read(CAROL)
    oml.revoke("f", typ="pyqscript")
    oml.revoke("f", typ="pyqscript", user=BOB)
    assert not can_read(BOB) and not can_read(CAROL)
    assert grants() == []               # dir lists datastore grants only
    connect_as(BOB)
    with pytest.raises(oml.OMLError) as err:
        oml.grant("f", typ="pyqscript", user=CAROL)   # not bob's
    assert err.value.sqlstate == "42704"


def test_grant_argument_types(alice_ds):
    for call in (oml.grant, oml.revoke):
        with pytest.raises(TypeError):
            call(1)
        with pytest.raises(TypeError):
            call("ds", typ=None)
        with pytest.raises(TypeError):
            call("ds", user=5)
    assert grants() == []


def test_superuser_reads_everything(connect_as, admin):
    connect_as(ALICE)
    oml.ds.save({"o": [1, 2]}, "ds")            # not even grantable
    assert readable(None, connect_as)
    connect_as(None)
    assert oml.ds.dir(dstype="granted")["owner"].tolist() == [ALICE]


def test_overwrite_keeps_grants_only_if_grantable(alice_ds, connect_as):
    oml.grant("ds", user=BOB)
    oml.ds.save({"o": [1, 2]}, "ds", grantable=True, overwrite=True)
    assert grants() == [("ds", BOB)]
    assert readable(BOB, connect_as)
    connect_as(ALICE)
    oml.ds.save({"o": [1, 2]}, "ds", overwrite=True)     # not grantable now
    assert grants() == []
    assert not readable(BOB, connect_as)


def test_append_keeps_grants(alice_ds, connect_as):
    oml.grant("ds", user=BOB)
    oml.ds.save({"p": 3}, "ds", append=True)
    assert grants() == [("ds", BOB)]
    connect_as(BOB)
    assert oml.ds.load("ds", owner=ALICE, to_globals=False) == \
        {"o": [1, 2], "p": 3}


def test_deleted_and_recreated_datastore_loses_grants(alice_ds, connect_as):
    oml.grant("ds", user=BOB)
    oml.ds.delete("ds")
    oml.ds.save({"o": [1, 2]}, "ds", grantable=True)
    assert grants() == []
    assert not readable(BOB, connect_as)


def test_grant_rolled_back(alice_ds, database, connect_as):
    conn = psycopg2.connect(user=ALICE, password=PASSWORD, dbname=database)
    try:
        oml.connect(conn=conn)
        with conn.cursor() as cur:
            cur.execute("SELECT 1")            # open a transaction
        oml.grant("ds", user=BOB)
        assert grants() == [("ds", BOB)]
        conn.rollback()
        assert grants() == []
    finally:
        oml.disconnect()
        conn.close()
    assert not readable(BOB, connect_as)


def test_revoke_rolled_back(alice_ds, database, connect_as):
    oml.grant("ds", user=BOB)
    conn = psycopg2.connect(user=ALICE, password=PASSWORD, dbname=database)
    try:
        oml.connect(conn=conn)
        with conn.cursor() as cur:
            cur.execute("SELECT 1")
        oml.revoke("ds", user=BOB)
        assert grants() == []
        conn.rollback()
    finally:
        oml.disconnect()
        conn.close()
    assert readable(BOB, connect_as)

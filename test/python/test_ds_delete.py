"""oml.ds.delete."""

import warnings

import psycopg2
import pytest

import oml_store as oml
from conftest import ALICE, BOB, PASSWORD, no_warnings


def names():
    return oml.ds.dir()["datastore_name"].tolist()


def test_delete_datastore(alice, admin):
    oml.ds.save({"a": 1, "b": 2}, "ds")
    oml.ds.save({"a": 1}, "other")
    with no_warnings():
        assert oml.ds.delete("ds") == 1
    assert names() == ["other"]
    assert admin.sql("SELECT count(*) FROM oml.datastore_object")[0][0] == 1
    with pytest.raises(oml.OMLError) as err:
        oml.ds.load("ds")
    assert err.value.sqlstate == "42704"


def test_delete_objects(alice):
    oml.ds.save({"a": 1, "b": 2, "c": 3, "d": 4}, "ds")
    with no_warnings():
        assert oml.ds.delete("ds", objs=["a", "c"]) == 2
        assert oml.ds.delete("ds", objs="b") == 1
    assert oml.ds.load("ds", to_globals=False) == {"d": 4}
    assert names() == ["ds"]


def test_delete_objects_unknown_skipped(alice):
    oml.ds.save({"a": 1, "b": 2}, "ds")
    with no_warnings():
        assert oml.ds.delete("ds", objs=["a", "nope"]) == 1
    assert oml.ds.load("ds", to_globals=False) == {"b": 2}


def test_delete_nothing_warns_once(alice):
    oml.ds.save({"a": 1}, "ds")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert oml.ds.delete("ds", objs=["nope", "neither"]) == 0
    assert len(caught) == 1
    w = caught[0]
    assert w.category is UserWarning
    assert str(w.message).startswith(
        'no objects were deleted from datastore "ds"')
    assert w.filename == __file__           # attributed to the caller
    assert oml.ds.load("ds", to_globals=False) == {"a": 1}
    with pytest.warns(UserWarning, match="no objects were deleted"):
        assert oml.ds.delete("ds", objs=[]) == 0


def test_delete_all_objects_keeps_empty_datastore(alice):
    oml.ds.save({"a": 1, "b": 2}, "ds")
    assert oml.ds.delete("ds", objs=["a", "b"]) == 2
    df = oml.ds.dir()
    assert df["datastore_name"].tolist() == ["ds"]
    assert df["object_count"].tolist() == [0] and df["size"].tolist() == [0]
    assert oml.ds.load("ds", to_globals=False) == {}


def test_delete_missing_datastore(alice):
    with pytest.raises(oml.OMLError) as err:
        oml.ds.delete("nope")
    assert err.value.sqlstate == "42704"
    assert str(err.value) == 'datastore "nope" does not exist'
    with pytest.raises(oml.OMLError) as err:
        oml.ds.delete("nope", objs=["a"])
    assert err.value.sqlstate == "42704"


def test_delete_regex(connect_as):
    connect_as(BOB)
    oml.ds.save({"a": 1}, "tmp_bob")
    connect_as(ALICE)
    for n in ("tmp1", "tmp2", "my_tmp", "keep", "TMP"):
        oml.ds.save({"a": 1}, n)
    with no_warnings():
        assert oml.ds.delete("tmp", regex_match=True) == 3   # unanchored
    assert names() == ["TMP", "keep"]
    assert oml.ds.delete("^k.e", regex_match=True) == 1
    assert names() == ["TMP"]
    connect_as(BOB)                         # other roles' are untouched
    assert names() == ["tmp_bob"]


def test_delete_regex_nothing_warns(alice):
    oml.ds.save({"a": 1}, "keep")
    with pytest.warns(UserWarning, match='no datastore matches "zzz"'):
        assert oml.ds.delete("zzz", regex_match=True) == 0
    assert names() == ["keep"]


def test_delete_regex_with_objs(alice):
    oml.ds.save({"a": 1}, "ds")
    with pytest.raises(oml.OMLError) as err:
        oml.ds.delete("ds", objs=["a"], regex_match=True)
    assert err.value.sqlstate == "22023"
    assert names() == ["ds"]


def test_delete_bad_regex(alice):
    with pytest.raises(oml.OMLError) as err:
        oml.ds.delete("(", regex_match=True)
    assert err.value.sqlstate == "2201B"


def test_delete_only_own(connect_as):
    connect_as(ALICE)
    oml.ds.save({"a": 1}, "ds", grantable=True)
    oml.grant("ds", user=BOB)
    connect_as(BOB)
    with pytest.raises(oml.OMLError) as err:
        oml.ds.delete("ds")
    assert err.value.sqlstate == "42704"
    connect_as(ALICE)
    assert names() == ["ds"]


def test_delete_rolled_back(database, admin):
    conn = psycopg2.connect(user=ALICE, password=PASSWORD, dbname=database)
    try:
        oml.connect(conn=conn)
        oml.ds.save({"a": 1, "b": 2}, "ds")
        with conn.cursor() as cur:
            cur.execute("SELECT 1")            # open a transaction
        assert oml.ds.delete("ds", objs=["a"]) == 1
        assert oml.ds.delete("ds") == 1
        assert names() == []
        conn.rollback()
        assert oml.ds.load("ds", to_globals=False) == {"a": 1, "b": 2}
    finally:
        oml.disconnect()
        conn.close()


def test_delete_argument_types(alice):
    oml.ds.save({"a": 1}, "ds")
    with pytest.raises(TypeError):
        oml.ds.delete(None)
    with pytest.raises(TypeError):
        oml.ds.delete("ds", objs=[1])
    with pytest.raises(TypeError):
        oml.ds.delete("ds", objs=3)
    with pytest.raises(TypeError):
        oml.ds.delete("ds", regex_match=1)
    assert names() == ["ds"]

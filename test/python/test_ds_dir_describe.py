"""oml.ds.dir and oml.ds.describe."""

import datetime
import pickle
import zlib

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LinearRegression

import oml_store as oml
from conftest import ALICE, BOB, CAROL, GROUP

OWN = ["datastore_name", "object_count", "size", "date", "description"]
COLUMNS = {
    "user": OWN,
    "grantable": OWN,
    "private": OWN,
    "all": ["owner"] + OWN,
    "granted": ["owner"] + OWN,
    "grant": ["datastore_name", "grantee"],
}
DESCRIBE = ["object_name", "class", "size", "length", "row_count", "col_count"]


def byte_order(names):
    return sorted(names, key=lambda s: s.encode("utf-8"))


def pickled_size(obj, compression=False):
    data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    return len(zlib.compress(data) if compression else data)


# -- dir ----------------------------------------------------------------------

@pytest.mark.parametrize("dstype", sorted(COLUMNS))
def test_dir_empty_columns(alice, dstype):
    df = oml.ds.dir(dstype=dstype)
    assert isinstance(df, pd.DataFrame)
    assert list(df.columns) == COLUMNS[dstype]
    assert len(df) == 0


def test_dir_user_values(alice):
    before = datetime.datetime.now(datetime.timezone.utc)
    objs = {"a": [1, 2, 3], "b": "text" * 10}
    oml.ds.save(objs, "ds1", description="my first")
    oml.ds.save({"c": 1}, "ds2")
    df = oml.ds.dir()
    assert list(df.columns) == OWN
    assert df["datastore_name"].tolist() == ["ds1", "ds2"]
    assert df["object_count"].tolist() == [2, 1]
    assert df["size"].tolist() == [
        sum(pickled_size(v) for v in objs.values()), pickled_size(1)]
    assert df["object_count"].dtype == np.int64
    assert df["size"].dtype == np.int64
    assert df["description"].tolist()[0] == "my first"
    assert pd.isna(df["description"].tolist()[1])
    assert str(df["date"].dtype) == "datetime64[ns, UTC]"
    after = datetime.datetime.now(datetime.timezone.utc)
    slack = datetime.timedelta(seconds=5)      # client and server clocks
    for d in df["date"]:
        assert before - slack <= d.to_pydatetime() <= after + slack


def test_dir_size_with_compression(alice):
    obj = "z" * 100000
    oml.ds.save({"o": obj}, "ds", compression=True)
    assert oml.ds.dir()["size"].tolist() == [pickled_size(obj, True)]


def test_dir_byte_order(alice):
    names = ["b", "B", "a", "_x", "Z", "é", "A1", "a b", "aa", "ds10", "ds9"]
    for n in names:
        oml.ds.save({"o": 1}, n)
    assert oml.ds.dir()["datastore_name"].tolist() == byte_order(names)
    assert byte_order(names)[:3] == ["A1", "B", "Z"]


def test_dir_name(alice):
    for n in ("ds", "ds1", "my_ds", "d.s"):
        oml.ds.save({"o": 1}, n)
    assert oml.ds.dir("ds")["datastore_name"].tolist() == ["ds"]
    assert oml.ds.dir("d.s")["datastore_name"].tolist() == ["d.s"]
    assert len(oml.ds.dir("nope")) == 0


def test_dir_regex_unanchored(alice):
    for n in ("ds", "ds1", "my_ds", "d.s", "other"):
        oml.ds.save({"o": 1}, n)

    def names(pattern):
        return oml.ds.dir(pattern, regex_match=True)["datastore_name"].tolist()
    assert names("ds") == ["ds", "ds1", "my_ds"]
    assert names("^ds") == ["ds", "ds1"]
    assert names("ds$") == ["ds", "my_ds"]
    assert names("d.s") == ["d.s"]
    assert names("d") == ["d.s", "ds", "ds1", "my_ds"]
    assert names("[0-9]") == ["ds1"]
    assert names("zzz") == []


def test_dir_regex_errors(alice):
    with pytest.raises(oml.OMLError) as err:
        oml.ds.dir(regex_match=True)
    assert err.value.sqlstate == "22004"
    with pytest.raises(oml.OMLError) as err:
        oml.ds.dir("(", regex_match=True)
    assert err.value.sqlstate == "2201B"


@pytest.fixture
def shared(connect_as):
    """alice: pub (grantable, to PUBLIC), grp (to oml_grp), bobs (to bob),
    priv (not grantable); bob: bob_own; carol: carol_pub (to PUBLIC)."""
    connect_as(CAROL)
    oml.ds.save({"o": 1}, "carol_pub", grantable=True)
    oml.grant("carol_pub")
    connect_as(BOB)
    oml.ds.save({"o": 1}, "bob_own", grantable=True)
    connect_as(ALICE)
    oml.ds.save({"o": 1}, "priv", description="private")
    oml.ds.save({"o": 1, "p": 2}, "pub", grantable=True, description="public")
    oml.ds.save({"o": 1}, "grp", grantable=True)
    oml.ds.save({"o": 1}, "bobs", grantable=True)
    oml.ds.save({"o": 1}, "kept", grantable=True)    # grantable, not granted
    oml.grant("pub")
    oml.grant("pub", user=BOB)
    oml.grant("grp", user=GROUP)
    oml.grant("bobs", user=BOB)


def test_dir_dstypes_alice(shared):
    def names(dstype):
        df = oml.ds.dir(dstype=dstype)
        assert list(df.columns) == COLUMNS[dstype]
        return df
    assert names("user")["datastore_name"].tolist() == \
        ["bobs", "grp", "kept", "priv", "pub"]
    assert names("grantable")["datastore_name"].tolist() == \
        ["bobs", "grp", "kept", "pub"]
    assert names("private")["datastore_name"].tolist() == ["priv"]
    grant = names("grant")
    assert [tuple(r) for r in grant.itertuples(index=False)] == [
        ("bobs", BOB), ("grp", GROUP), ("pub", "PUBLIC"), ("pub", BOB)]
    granted = names("granted")
    assert [tuple(r) for r in granted[["owner", "datastore_name"]]
            .itertuples(index=False)] == [(CAROL, "carol_pub")]
    all_ = names("all")
    assert [tuple(r) for r in all_[["owner", "datastore_name"]]
            .itertuples(index=False)] == [
        (ALICE, "bobs"), (ALICE, "grp"), (ALICE, "kept"), (ALICE, "priv"),
        (ALICE, "pub"), (CAROL, "carol_pub")]
    pub = all_[all_["datastore_name"] == "pub"].iloc[0]
    assert pub["object_count"] == 2 and pub["description"] == "public"


def test_dir_dstypes_bob(shared, connect_as):
    connect_as(BOB)
    assert oml.ds.dir()["datastore_name"].tolist() == ["bob_own"]
    granted = oml.ds.dir(dstype="granted")
    assert [tuple(r) for r in granted[["owner", "datastore_name"]]
            .itertuples(index=False)] == [
        (ALICE, "bobs"), (ALICE, "grp"), (ALICE, "pub"), (CAROL, "carol_pub")]
    all_ = oml.ds.dir(dstype="all")         # by owner, then name
    assert [tuple(r) for r in all_[["owner", "datastore_name"]]
            .itertuples(index=False)] == [
        (ALICE, "bobs"), (ALICE, "grp"), (ALICE, "pub"), (BOB, "bob_own"),
        (CAROL, "carol_pub")]
    assert len(oml.ds.dir(dstype="grant")) == 0
    # name and regex filters apply to every dstype
    assert oml.ds.dir("pub", dstype="granted")["owner"].tolist() == [ALICE]
    assert oml.ds.dir("b", regex_match=True, dstype="all")[
        "datastore_name"].tolist() == ["bobs", "pub", "bob_own", "carol_pub"]


def test_dir_dstypes_carol(shared, connect_as):
    connect_as(CAROL)
    granted = oml.ds.dir(dstype="granted")
    assert granted["datastore_name"].tolist() == ["pub"]
    assert oml.ds.dir(dstype="grant")[["datastore_name", "grantee"]] \
        .values.tolist() == [["carol_pub", "PUBLIC"]]


def test_dir_superuser_sees_all(shared, connect_as, admin):
    connect_as(None)
    df = oml.ds.dir(dstype="all")
    assert [tuple(r) for r in df[["owner", "datastore_name"]]
            .itertuples(index=False)] == [
        (ALICE, "bobs"), (ALICE, "grp"), (ALICE, "kept"), (ALICE, "priv"),
        (ALICE, "pub"), (BOB, "bob_own"), (CAROL, "carol_pub")]
    assert len(oml.ds.dir()) == 0           # owns none


def test_dir_dstype_case_and_errors(alice):
    oml.ds.save({"o": 1}, "ds")
    df = oml.ds.dir(dstype="ALL")
    assert list(df.columns) == COLUMNS["all"] and len(df) == 1
    with pytest.raises(oml.OMLError) as err:
        oml.ds.dir(dstype="mine")
    assert err.value.sqlstate == "22023"
    assert 'unknown dstype "mine"' in str(err.value)
    with pytest.raises(TypeError):
        oml.ds.dir(dstype=None)
    with pytest.raises(TypeError):
        oml.ds.dir(name=1)
    with pytest.raises(TypeError):
        oml.ds.dir("ds", regex_match="yes")


# -- describe -----------------------------------------------------------------

def fitted_model():
    x = np.arange(20, dtype=float).reshape(10, 2)
    return LinearRegression().fit(x, x @ [1.0, 2.0] + 3.0)


def test_describe_metadata(alice):
    frame = pd.DataFrame({"a": range(7), "b": 1.5, "c": "x"})
    objs = {
        "frame": frame,
        "list": [1, 2, 3, 4],
        "dict": {"a": 1, "b": 2},
        "model": fitted_model(),
        "scalar": 3.5,
        "int": 7,
        "str": "hello",
        "array": np.zeros((4, 5)),
        "tuple": (1, 2, 3),
    }
    oml.ds.save(objs, "ds")
    df = oml.ds.describe("ds")
    assert isinstance(df, pd.DataFrame)
    assert list(df.columns) == DESCRIBE
    assert df["object_name"].tolist() == byte_order(objs)
    rows = {r.object_name: r for r in df.itertuples(index=False)}
    expect = {
        "frame": ("pandas.core.frame.DataFrame", 7, 7, 3),
        "list": ("list", 4, 1, 4),
        "dict": ("dict", 2, 1, 2),
        "model": ("sklearn.linear_model._base.LinearRegression", 1, 1, 1),
        "scalar": ("float", 1, 1, 1),
        "int": ("int", 1, 1, 1),
        "str": ("str", 1, 1, 1),
        "array": ("numpy.ndarray", 1, 1, 1),
        "tuple": ("tuple", 1, 1, 1),
    }
    for name, (cls, length, nrow, ncol) in expect.items():
        r = rows[name]
        assert (r[1], r.length, r.row_count, r.col_count) == \
            (cls, length, nrow, ncol), name
        assert r.size == pickled_size(objs[name]), name
    for col in ("size", "length", "row_count", "col_count"):
        assert df[col].dtype == np.int64


class Local:
    class Inner:
        pass


def test_describe_class_names(alice):
    oml.ds.save({"inner": Local.Inner(), "empty_list": [],
                 "empty_frame": pd.DataFrame()}, "ds", compression=True)
    rows = {r[0]: r for r in oml.ds.describe("ds").itertuples(index=False)}
    assert rows["inner"][1] == __name__ + ".Local.Inner"
    assert tuple(rows["empty_list"][3:]) == (0, 1, 0)
    assert tuple(rows["empty_frame"][3:]) == (0, 0, 0)
    assert rows["inner"].size == pickled_size(Local.Inner(), True)


class Unloadable:
    """Pickles fine; unpickling fails."""

    def __reduce__(self):
        return (_fail, ())


def _fail():
    raise RuntimeError("unpickled")


def test_describe_does_not_unpickle(alice):
    oml.ds.save({"u": Unloadable()}, "ds")
    df = oml.ds.describe("ds")
    assert df["class"].tolist() == [__name__ + ".Unloadable"]
    with pytest.raises(RuntimeError, match="unpickled"):
        oml.ds.load("ds")


def test_describe_append_replaces_metadata(alice):
    oml.ds.save({"a": [1, 2]}, "ds")
    oml.ds.save({"a": {"x": 1, "y": 2, "z": 3}}, "ds", append=True)
    df = oml.ds.describe("ds")
    assert df[["object_name", "class", "length"]].values.tolist() == \
        [["a", "dict", 3]]


def test_describe_owner_and_errors(connect_as):
    connect_as(ALICE)
    oml.ds.save({"o": [1]}, "ds", grantable=True)
    with pytest.raises(oml.OMLError) as err:
        oml.ds.describe("nope")
    assert err.value.sqlstate == "42704"
    connect_as(BOB)
    with pytest.raises(oml.OMLError) as err:
        oml.ds.describe("ds", owner=ALICE)
    assert err.value.sqlstate == "42501"
    assert "permission denied" in str(err.value)
    connect_as(ALICE)
    oml.grant("ds", user=BOB)
    assert oml.ds.describe("ds", owner=ALICE)["object_name"].tolist() == ["o"]
    connect_as(BOB)
    assert oml.ds.describe("ds", owner=ALICE)["class"].tolist() == ["list"]
    with pytest.raises(TypeError):
        oml.ds.describe(1)
    with pytest.raises(TypeError):
        oml.ds.describe("ds", owner=1)


def test_describe_empty_datastore(alice):
    oml.ds.save({"o": 1}, "ds")
    oml.ds.delete("ds", objs=["o"])
    df = oml.ds.describe("ds")
    assert list(df.columns) == DESCRIBE and len(df) == 0

"""oml.ds.save and oml.ds.load."""

import math
import pickle
import zlib

import numpy as np
import pandas as pd
import pytest

import oml_store as oml
from oml_store import _backend
from conftest import (ALICE, BOB, CAROL, PASSWORD, PicklingNotAllowed,
                      Unpicklable)


def date_of(name):
    return oml.ds.dir(name)["date"].iloc[0]


def stored(admin, ds, owner=ALICE):
    """{object name: (size, nchunks, compression, trusted)} as stored."""
    rows = admin.sql("SELECT object_name, size, nchunks, compression, trusted"
                     " FROM oml.ds_objects(%s, %s)", (ds, owner))
    return {r[0]: r[1:] for r in rows}


SAMPLES = {
    "an_int": 42,
    "a_float": 2.5,
    "a_str": "héllo\x00wörld",
    "a_none": None,
    "a_list": [1, "two", 3.0, [4]],
    "a_dict": {"k": (1, 2), 3: {"nested": True}},
    "a_set": {1, 2, 3},
    "an_array": np.arange(12, dtype=np.float32).reshape(3, 4),
    "a_frame": pd.DataFrame({"a": [1, 2, 3], "b": ["x", "y", None]}),
    "a_bytes": bytes(range(256)),
}


def assert_same(a, b):
    assert type(a) is type(b)
    if isinstance(a, np.ndarray):
        assert a.dtype == b.dtype and np.array_equal(a, b)
    elif isinstance(a, pd.DataFrame):
        pd.testing.assert_frame_equal(a, b)
    else:
        assert a == b


# -- round trips --------------------------------------------------------------

@pytest.mark.parametrize("compression", [False, True])
def test_round_trip(alice, compression):
    assert oml.ds.save(SAMPLES, "ds", compression=compression) is None
    got = oml.ds.load("ds", to_globals=False)
    assert sorted(got) == sorted(SAMPLES)
    for key, value in SAMPLES.items():
        assert_same(got[key], value)


def test_pickled_with_highest_protocol(alice, admin):
    oml.ds.save({"x": [1, 2, 3]}, "ds")
    [[obj_id]] = admin.sql("SELECT object_id FROM oml.ds_objects('ds', %s)",
                           (ALICE,))
    [[data]] = admin.sql("SELECT oml.ds_get_chunk(%s, 0)", (obj_id,))
    data = bytes(data)
    assert data == pickle.dumps([1, 2, 3], protocol=pickle.HIGHEST_PROTOCOL)
    assert data[:2] == b"\x80\x05"


def test_compression_stores_zlib(alice, admin):
    big = "abc" * 100000
    oml.ds.save({"big": big}, "plain")
    oml.ds.save({"big": big}, "packed", compression=True)
    plain = stored(admin, "plain")["big"]
    packed = stored(admin, "packed")["big"]
    assert plain[2] == "none" and packed[2] == "zlib"
    raw = pickle.dumps(big, protocol=pickle.HIGHEST_PROTOCOL)
    assert plain[0] == len(raw)
    assert packed[0] == len(zlib.compress(raw))
    assert packed[0] < plain[0] / 100
    assert oml.ds.load("packed", to_globals=False) == {"big": big}


@pytest.mark.parametrize("compression", [False, True])
def test_chunks(alice, admin, monkeypatch, compression):
    monkeypatch.setattr(oml.ds, "CHUNK_SIZE", 1000)
    value = np.random.default_rng(1).integers(0, 255, 10500, dtype=np.uint8)
    exact = bytes(range(250)) * 4            # pickles to more than 1000
    oml.ds.save({"v": value, "exact": exact, "small": 1}, "ds",
                compression=compression)
    st = stored(admin, "ds")
    for name in ("v", "exact", "small"):
        size, nchunks = st[name][:2]
        assert nchunks == math.ceil(size / 1000)
    assert st["v"][1] >= 10
    assert st["small"][1] == 1
    got = oml.ds.load("ds", to_globals=False)
    assert np.array_equal(got["v"], value)
    assert got["exact"] == exact and got["small"] == 1


def test_object_size_multiple_of_chunk(alice, admin, monkeypatch):
    data = b"x" * 2000
    size = len(pickle.dumps(data, protocol=pickle.HIGHEST_PROTOCOL))
    monkeypatch.setattr(oml.ds, "CHUNK_SIZE", size // 2)
    assert size % 2 == 0
    oml.ds.save({"d": data}, "ds")
    assert stored(admin, "ds")["d"][:2] == (size, 2)
    assert oml.ds.load("ds", to_globals=False) == {"d": data}


def test_unicode_names(alice):
    oml.ds.save({"données ✓": 1}, "magasin é")
    assert oml.ds.load("magasin é", to_globals=False) == {"données ✓": 1}


# -- load: objs, owner, to_globals --------------------------------------------

def test_load_to_globals(alice):
    oml.ds.save({"zz_loaded_b": [1], "zz_loaded_a": "a"}, "ds")
    try:
        names = oml.ds.load("ds")
        assert names == ["zz_loaded_a", "zz_loaded_b"]
        assert globals()["zz_loaded_a"] == "a"
        assert globals()["zz_loaded_b"] == [1]
    finally:
        globals().pop("zz_loaded_a", None)
        globals().pop("zz_loaded_b", None)


def test_load_to_globals_explicit_true_is_callers_module(alice):
    oml.ds.save({"zz_x": 7}, "ds")

    def inner():
        return oml.ds.load("ds", to_globals=True)
    try:
        assert inner() == ["zz_x"]
        assert globals()["zz_x"] == 7   # module globals, not inner's locals
    finally:
        globals().pop("zz_x", None)


def test_load_to_globals_false(alice):
    oml.ds.save({"b": 2, "a": 1}, "ds")
    got = oml.ds.load("ds", to_globals=False)
    assert got == {"a": 1, "b": 2}
    assert list(got) == ["a", "b"]
    assert "a" not in globals()


def test_load_some(alice):
    oml.ds.save({"a": 1, "b": 2, "c": 3}, "ds")
    assert oml.ds.load("ds", objs=["c", "a"], to_globals=False) == \
        {"a": 1, "c": 3}
    assert oml.ds.load("ds", objs="b", to_globals=False) == {"b": 2}
    assert oml.ds.load("ds", objs=("b",), to_globals=False) == {"b": 2}
    assert oml.ds.load("ds", objs=[], to_globals=False) == {}


def test_load_unknown_object(alice):
    oml.ds.save({"a": 1}, "ds")
    with pytest.raises(oml.OMLError) as err:
        oml.ds.load("ds", objs=["a", "zz_nope"])
    assert err.value.sqlstate == "42704"
    assert str(err.value) == \
        'object "zz_nope" does not exist in datastore "ds"'
    assert "a" not in globals() and "zz_nope" not in globals()


def test_load_unknown_datastore(alice):
    with pytest.raises(oml.OMLError) as err:
        oml.ds.load("nope")
    assert err.value.sqlstate == "42704"
    assert str(err.value) == 'datastore "nope" does not exist'


def test_load_owner(connect_as):
    connect_as(ALICE)
    oml.ds.save({"a": 1}, "ds", grantable=True)
    assert oml.ds.load("ds", owner=ALICE, to_globals=False) == {"a": 1}
    oml.grant("ds", user=BOB)
    connect_as(BOB)
    with pytest.raises(oml.OMLError) as err:
        oml.ds.load("ds")                   # bob has no datastore "ds"
    assert err.value.sqlstate == "42704"
    assert oml.ds.load("ds", owner=ALICE, to_globals=False) == {"a": 1}
    with pytest.raises(oml.OMLError) as err:
        oml.ds.load("ds", owner="oml_nosuchrole")
    assert err.value.sqlstate == "42704"
    assert "oml_nosuchrole" in str(err.value)
    connect_as(CAROL)
    with pytest.raises(oml.OMLError) as err:
        oml.ds.load("ds", owner=ALICE)
    assert err.value.sqlstate == "42501"
    with pytest.raises(oml.OMLError) as err:
        oml.ds.load("other", owner=ALICE)
    assert err.value.sqlstate == "42704"
    assert str(err.value) == \
        'datastore "other" of role "oml_alice" does not exist'


def test_load_sees_one_snapshot(alice, database, monkeypatch):
    """A save committed while load reads does not mix into what it reads."""
    monkeypatch.setattr(oml.ds, "CHUNK_SIZE", 100)
    old = {"a": list(range(200)), "b": "old"}
    oml.ds.save(old, "ds")
    backend = _backend.get_backend()
    real_query = backend.query
    calls = []

    real_copy_out = backend.copy_out

    def interfere(sql):
        if not calls:
            calls.append(sql)
            # Another session replaces the datastore and commits.
            other = _backend.Psycopg2Backend(
                __import__("psycopg2").connect(
                    user=ALICE, password=PASSWORD, dbname=database),
                owned=True)
            previous = _backend.set_backend(other)
            try:
                oml.ds.save({"a": "new", "b": "new"}, "ds", overwrite=True)
            finally:
                _backend.set_backend(previous)
                other.close()

    def query(sql, params=()):
        if "ds_get_chunk" in sql:
            interfere(sql)
        return real_query(sql, params)

    def copy_out(sql, write):
        interfere(sql)
        return real_copy_out(sql, write)

    monkeypatch.setattr(backend, "query", query)
    monkeypatch.setattr(backend, "copy_out", copy_out)
    assert oml.ds.load("ds", to_globals=False) == old
    assert calls
    monkeypatch.undo()
    assert oml.ds.load("ds", to_globals=False) == {"a": "new", "b": "new"}


def test_load_unpickling_error_binds_nothing(alice):
    oml.ds.save({"zz_ok": 1, "zz_bad": Exploding()}, "ds")
    with pytest.raises(RuntimeError, match="boom"):
        oml.ds.load("ds")
    assert "zz_ok" not in globals() and "zz_bad" not in globals()


class Exploding:
    """Pickles fine; unpickling raises RuntimeError."""

    def __reduce__(self):
        return (_explode, ())


def _explode():
    raise RuntimeError("boom")


def test_load_argument_types(alice):
    oml.ds.save({"a": 1}, "ds")
    for kwargs in ({"name": 1}, {"name": "ds", "objs": 5},
                   {"name": "ds", "objs": [1]}, {"name": "ds", "objs": b"a"},
                   {"name": "ds", "owner": 3},
                   {"name": "ds", "to_globals": "no"}):
        with pytest.raises(TypeError):
            oml.ds.load(**kwargs)


# -- save: overwrite, append and their errors ---------------------------------

def test_save_existing_is_an_error(alice):
    oml.ds.save({"a": 1}, "ds", description="first")
    with pytest.raises(oml.OMLError) as err:
        oml.ds.save({"b": 2}, "ds", description="second")
    assert err.value.sqlstate == "42710"
    assert '"ds"' in str(err.value)
    assert oml.ds.load("ds", to_globals=False) == {"a": 1}
    assert oml.ds.dir()["description"].tolist() == ["first"]


def test_overwrite(alice, admin):
    oml.ds.save({"a": 1, "b": 2}, "ds", description="first", grantable=True)
    first = date_of("ds")
    oml.ds.save({"c": 3}, "ds", description="second", overwrite=True)
    assert oml.ds.load("ds", to_globals=False) == {"c": 3}
    row = oml.ds.dir("ds").iloc[0]
    assert row["description"] == "second"
    assert row["date"] > first                  # a new datastore
    assert oml.ds.dir(dstype="private")["datastore_name"].tolist() == ["ds"]
    oml.ds.save({"d": 4}, "ds", overwrite=True)
    assert oml.ds.dir()["description"].isna().tolist() == [True]
    assert admin.sql("SELECT count(*) FROM oml.datastore")[0][0] == 1


def test_overwrite_creates(alice):
    oml.ds.save({"a": 1}, "ds", overwrite=True, description="d")
    assert oml.ds.load("ds", to_globals=False) == {"a": 1}
    assert oml.ds.dir()["description"].tolist() == ["d"]


def test_append(alice):
    oml.ds.save({"a": 1, "b": 2}, "ds", description="first")
    created = date_of("ds")
    oml.ds.save({"b": 20, "c": 30}, "ds", append=True,
                description="ignored", grantable=True)
    assert oml.ds.load("ds", to_globals=False) == {"a": 1, "b": 20, "c": 30}
    row = oml.ds.dir("ds").iloc[0]
    assert row["description"] == "first"         # ignored with append
    assert row["date"] == created                # creation date survives
    assert row["object_count"] == 3
    # grantable is not changed by append either
    assert oml.ds.dir(dstype="private")["datastore_name"].tolist() == ["ds"]


def test_append_creates(alice):
    oml.ds.save({"a": 1}, "ds", append=True)
    assert oml.ds.load("ds", to_globals=False) == {"a": 1}


def test_overwrite_and_append(alice):
    oml.ds.save({"a": 1}, "ds")
    with pytest.raises(oml.OMLError) as err:
        oml.ds.save({"b": 2}, "ds", overwrite=True, append=True)
    assert err.value.sqlstate == "22023"
    assert oml.ds.load("ds", to_globals=False) == {"a": 1}
    with pytest.raises(oml.OMLError) as err:
        oml.ds.save({"b": 2}, "new", overwrite=True, append=True)
    assert err.value.sqlstate == "22023"
    assert oml.ds.dir()["datastore_name"].tolist() == ["ds"]


@pytest.mark.parametrize("name, sqlstate", [
    ("", "22023"),
    ("x" * 129, "42622"),
    (" lead", "42602"),
    ("trail ", "42602"),
    ("tab\there", "22023"),
    ("new\nline", "22023"),
    ("rtl\u202eoverride", "22023"),
    ("zero\u200bwidth", "22023"),
    ("c1\x85control", "22023"),
    ("bom\ufeff", "22023"),
])
def test_bad_datastore_names(alice, name, sqlstate):
    with pytest.raises(oml.OMLError) as err:
        oml.ds.save({"a": 1}, name)
    assert err.value.sqlstate == sqlstate
    assert len(oml.ds.dir()) == 0


def test_longest_name(alice):
    name = "é" * 128
    oml.ds.save({name: 1}, name)
    assert oml.ds.load(name, to_globals=False) == {name: 1}


@pytest.mark.parametrize("name, sqlstate", [
    ("", "22023"),
    ("y" * 129, "42622"),
    (" x", "42602"),
    ("x\u2067y", "22023"),
])
def test_bad_object_name_rolls_back(alice, name, sqlstate):
    with pytest.raises(oml.OMLError) as err:
        oml.ds.save({"fine": 1, name: 2}, "ds")
    assert err.value.sqlstate == sqlstate
    assert len(oml.ds.dir()) == 0


def test_save_argument_errors(alice):
    with pytest.raises(TypeError):
        oml.ds.save([1, 2], "ds")
    with pytest.raises(TypeError):
        oml.ds.save({1: "x"}, "ds")
    with pytest.raises(ValueError):
        oml.ds.save({}, "ds")
    with pytest.raises(TypeError):
        oml.ds.save({"a": 1}, 5)
    with pytest.raises(TypeError):
        oml.ds.save({"a": 1}, "ds", description=3)
    for flag in ("grantable", "overwrite", "append", "compression"):
        with pytest.raises(TypeError):
            oml.ds.save({"a": 1}, "ds", **{flag: 1})
    with pytest.raises(ValueError):             # psycopg2 refuses NUL
        oml.ds.save({"a": 1}, "nul\x00")
    assert len(oml.ds.dir()) == 0


# -- transactions -------------------------------------------------------------

def test_failed_save_leaves_nothing(alice, admin):
    with pytest.raises(PicklingNotAllowed):
        oml.ds.save({"a": 1, "b": Unpicklable(), "c": 3}, "ds")
    assert len(oml.ds.dir()) == 0
    assert admin.sql("SELECT count(*) FROM oml.datastore_object")[0][0] == 0
    assert admin.sql("SELECT count(*) FROM oml.datastore_chunk")[0][0] == 0


def test_failed_overwrite_keeps_old(alice):
    oml.ds.save({"a": 1}, "ds", description="old")
    created = date_of("ds")
    with pytest.raises(PicklingNotAllowed):
        oml.ds.save({"b": 2, "c": Unpicklable()}, "ds", overwrite=True,
                    description="new")
    assert oml.ds.load("ds", to_globals=False) == {"a": 1}
    row = oml.ds.dir().iloc[0]
    assert row["description"] == "old" and row["date"] == created


def test_failed_append_keeps_old(alice):
    oml.ds.save({"a": 1, "b": 2}, "ds")
    with pytest.raises(PicklingNotAllowed):
        oml.ds.save({"b": 20, "c": Unpicklable()}, "ds", append=True)
    assert oml.ds.load("ds", to_globals=False) == {"a": 1, "b": 2}


def test_interrupted_chunk_upload_leaves_nothing(alice, admin, monkeypatch):
    monkeypatch.setattr(oml.ds, "CHUNK_SIZE", 100)
    backend = _backend.get_backend()
    real_query = backend.query
    sent = []

    real_copy_in = backend.copy_in

    def count():
        sent.append(1)
        if len(sent) == 3:
            raise KeyboardInterrupt

    def query(sql, params=()):
        if "ds_put_chunk" in sql:
            count()
        return real_query(sql, params)

    def copy_in(sql, data):
        count()
        return real_copy_in(sql, data)

    monkeypatch.setattr(backend, "query", query)
    monkeypatch.setattr(backend, "copy_in", copy_in)
    with pytest.raises(KeyboardInterrupt):
        oml.ds.save({"a": list(range(1000))}, "ds")
    monkeypatch.undo()
    assert admin.sql("SELECT count(*) FROM oml.datastore")[0][0] == 0
    assert admin.sql("SELECT count(*) FROM oml.datastore_chunk")[0][0] == 0
    oml.ds.save({"a": 1}, "ds")             # the connection is still usable
    assert oml.ds.load("ds", to_globals=False) == {"a": 1}


# -- trust --------------------------------------------------------------------

def test_trusted_flag(connect_as, admin):
    connect_as(ALICE)                       # member of oml_developer
    oml.ds.save({"a": 1}, "ds")
    connect_as(BOB)
    oml.ds.save({"a": 1}, "ds")
    connect_as(None)                        # superuser
    oml.ds.save({"a": 1}, "ds")
    for owner, trusted in ((ALICE, True), (BOB, False), (admin.user, True)):
        assert admin.sql("SELECT trusted FROM oml.ds_objects('ds', %s)",
                         (owner,)) == [(trusted,)]


def test_names_unique_per_owner(connect_as):
    connect_as(ALICE)
    oml.ds.save({"a": "alice"}, "same")
    connect_as(BOB)
    oml.ds.save({"a": "bob"}, "same")       # no conflict with alice's
    assert oml.ds.load("same", to_globals=False) == {"a": "bob"}
    connect_as(ALICE)
    assert oml.ds.load("same", to_globals=False) == {"a": "alice"}

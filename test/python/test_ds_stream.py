"""In-server oml.ds.load streams: each object is unpickled from its chunks
as they are read, never whole in the backend's memory.

Objects are saved here with a small oml.ds.CHUNK_SIZE so that they span
many chunks; the server reads them through _oml.load_objects with an
unpickle callable (src/pyload.c, src/dsread.c).
"""

import json
import threading
import time

import numpy as np
import psycopg2
import pytest

import oml_store as oml
from conftest import ALICE, CAROL, DBNAME, PASSWORD, sql_as

CHUNK = 8192

LOADER = '''
def loader(ds, owner=None, objs=None):
    import hashlib
    import pickle
    import oml
    try:
        got = oml.ds.load(ds, objs=objs, owner=owner, to_globals=False)
    except pickle.UnpicklingError as exc:
        return {"error": "UnpicklingError", "message": str(exc)}
    except oml.OMLError as exc:
        return {"error": "OMLError", "sqlstate": exc.sqlstate,
                "message": exc.message, "detail": exc.detail}
    out = {}
    for name, obj in got.items():
        if hasattr(obj, "tobytes"):
            out[name] = ["ndarray", str(obj.dtype), len(obj),
                         hashlib.sha256(obj.tobytes()).hexdigest()]
        else:
            out[name] = repr(obj)
    # The session goes on: SQL still works after the load.
    out["after"] = int(oml.sql("SELECT 41 + 1 AS x")["x"][0])
    return out
'''

MEMORY = '''
def memory(ds):
    import gc
    import oml

    def status():
        out = {}
        with open("/proc/self/status") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key in ("VmRSS", "VmHWM", "RssShmem"):
                    out[key] = int(value.split()[0]) * 1024
        return out
    oml.ds.load("warm", to_globals=False)      # numpy imported, caches warm
    gc.collect()
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")            # peak RSS starts over from here
    except OSError:
        return None
    before = status()
    obj = oml.ds.load(ds, to_globals=False)["big"]
    after = status()
    # Shared buffers the read went through count in RSS, but are not the
    # backend's own memory.
    return [after["VmHWM"] - before["VmRSS"]
            - (after["RssShmem"] - before["RssShmem"]), obj.nbytes]
'''


@pytest.fixture
def small_chunks(monkeypatch):
    monkeypatch.setattr(oml.ds, "CHUNK_SIZE", CHUNK)


@pytest.fixture
def loader(alice):
    oml.script.create("loader", LOADER, is_global=True)


def run(script, par, role=ALICE):
    [[value]] = sql_as(role, "SELECT value FROM oml.pyqEval(%s, 'JSON', %s)",
                       (json.dumps(par), script))
    return json.loads(value)


def digest(arr):
    import hashlib
    return ["ndarray", str(arr.dtype), len(arr),
            hashlib.sha256(arr.tobytes()).hexdigest()]


def nchunks(admin, ds, obj):
    [[n]] = admin.sql("SELECT nchunks FROM oml.ds_objects(%s, %s, %s)",
                      (ds, ALICE, [obj]))
    return n


def test_multi_chunk_objects_load_in_the_server(small_chunks, loader, admin):
    # Not periodic in the chunk size: misordered chunks would show.
    arr = np.random.default_rng(7).random(30_011)
    words = {"w%d" % i: "x" * (i % 50) for i in range(1000)}
    oml.ds.save({"arr": arr, "words": words, "small": 1}, "multi")
    oml.ds.save({"arr": arr, "words": words}, "multi_z", compression=True)
    assert nchunks(admin, "multi", "arr") > 20
    assert nchunks(admin, "multi_z", "arr") > 20
    for ds in ("multi", "multi_z"):
        got = run("loader", {"ds": ds})
        assert got["arr"] == digest(arr), ds
        assert got["words"] == repr(words), ds
        assert got["after"] == 42
    assert run("loader", {"ds": "multi"})["small"] == "1"
    # Named objects only, still streamed.
    got = run("loader", {"ds": "multi", "objs": ["words"]})
    assert set(got) == {"words", "after"}


def test_granted_objects_stream_to_another_role(small_chunks, loader):
    arr = np.arange(50_000, dtype=np.int32)
    oml.ds.save({"arr": arr}, "shared", grantable=True)
    oml.grant("shared", user=CAROL)
    assert run("loader", {"ds": "shared", "owner": ALICE}, role=CAROL) \
        == {"arr": digest(arr), "after": 42}


def test_missing_chunk_mid_stream(small_chunks, loader, admin):
    oml.ds.save({"arr": np.arange(40_000.0)}, "damaged")
    n = nchunks(admin, "damaged", "arr")
    admin.sql("DELETE FROM oml.datastore_chunk c USING oml.datastore_object o"
              " WHERE c.obj_id = o.id AND o.name = 'arr' AND c.seq = %s",
              (n // 2,))
    got = run("loader", {"ds": "damaged"})
    assert got["error"] == "OMLError" and got["sqlstate"] == "XX001"
    assert got["message"] == 'object "arr" of datastore "damaged" is damaged'
    assert got["detail"] == "Chunk %d of its %d chunks is missing." % (n // 2, n)


def test_longer_chunk_mid_stream(small_chunks, loader, admin):
    oml.ds.save({"arr": np.arange(40_000.0)}, "damaged")
    n = nchunks(admin, "damaged", "arr")
    admin.sql("UPDATE oml.datastore_chunk c SET data = data || data"
              " FROM oml.datastore_object o"
              " WHERE c.obj_id = o.id AND o.name = 'arr' AND c.seq = %s",
              (n // 2,))
    got = run("loader", {"ds": "damaged"})
    assert got["error"] == "OMLError" and got["sqlstate"] == "XX001"
    assert "more than its recorded size" in got["detail"]


def test_trailing_chunk_is_still_checked(small_chunks, loader, admin):
    # The unpickler stops at the pickle's end: the size is checked anyway.
    oml.ds.save({"arr": np.arange(40_000.0)}, "damaged")
    [[size]] = admin.sql("UPDATE oml.datastore_object SET size = size + 10"
                         " WHERE name = 'arr' RETURNING size - 10")
    got = run("loader", {"ds": "damaged"})
    assert got["error"] == "OMLError" and got["sqlstate"] == "XX001"
    assert got["detail"] == ("Its chunks hold %d bytes, but its recorded size"
                             " is %d." % (size, size + 10))


def test_corrupt_bytes_raise_the_unpicklers_error(small_chunks, loader, admin):
    oml.ds.save({"arr": np.arange(40_000.0)}, "damaged")
    admin.sql("UPDATE oml.datastore_chunk c"
              " SET data = overlay(data placing '\\xffffffff'::bytea from 1)"
              " FROM oml.datastore_object o"
              " WHERE c.obj_id = o.id AND o.name = 'arr' AND c.seq = 0")
    got = run("loader", {"ds": "damaged"})
    # The script sees pickle's own exception, and catches it.
    assert got["error"] == "UnpicklingError", got


class _Sleep:
    """Unpickles as a call to time.sleep."""

    def __init__(self, seconds):
        self.seconds = seconds

    def __reduce__(self):
        return (time.sleep, (self.seconds,))


def test_cancel_during_a_streaming_load(small_chunks, loader, admin):
    arr = np.arange(30_000.0)
    oml.ds.save({"big": [arr, _Sleep(60), arr]}, "slow")
    conn = psycopg2.connect(user=ALICE, password=PASSWORD, dbname=DBNAME)
    conn.autocommit = True
    pid = conn.get_backend_pid()

    def cancel():
        time.sleep(1.0)
        admin.sql("SELECT pg_cancel_backend(%s)", (pid,))
    t = threading.Thread(target=cancel)
    try:
        with conn.cursor() as cur:
            start = time.monotonic()
            t.start()
            with pytest.raises(psycopg2.extensions.QueryCanceledError):
                cur.execute("SELECT value FROM oml.pyqEval(%s, 'JSON', 'loader')",
                            ('{"ds": "slow"}',))
            assert time.monotonic() - start < 30      # well under the sleep
            t.join()
            # The session is usable, and loads again.
            oml.ds.save({"arr": arr}, "fast", overwrite=True)
            cur.execute("SELECT value FROM oml.pyqEval(%s, 'JSON', 'loader')",
                        ('{"ds": "fast"}',))
            assert json.loads(cur.fetchone()[0])["arr"] == digest(arr)
    finally:
        conn.close()


def test_statement_timeout_during_a_streaming_load(small_chunks, loader):
    oml.ds.save({"big": [np.arange(30_000.0), _Sleep(60)]}, "slow")
    conn = psycopg2.connect(user=ALICE, password=PASSWORD, dbname=DBNAME)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute("SET statement_timeout = '500ms'")
            start = time.monotonic()
            with pytest.raises(psycopg2.extensions.QueryCanceledError):
                cur.execute("SELECT value FROM oml.pyqEval(%s, 'JSON', 'loader')",
                            ('{"ds": "slow"}',))
            assert time.monotonic() - start < 30
            cur.execute("RESET statement_timeout")
            cur.execute("SELECT 1")
            assert cur.fetchone() == (1,)
    finally:
        conn.close()


def test_untrusted_writer_refused_before_any_chunk(small_chunks, loader, admin):
    # Carol is not trusted: her object is refused by name, and the read
    # stops before any chunk of the trusted object listed first.
    oml.connect(user=CAROL, password=PASSWORD, dbname=DBNAME)
    oml.ds.save({"a_first": np.arange(20_000.0), "z_hers": 1}, "mixed")
    admin.sql("UPDATE oml.datastore_object SET trusted = true,"
              " writer = (SELECT oid FROM pg_roles WHERE rolname = %s)"
              " WHERE name = 'a_first'", (ALICE,))
    admin.sql("DELETE FROM oml.datastore_chunk c USING oml.datastore_object o"
              " WHERE c.obj_id = o.id AND o.name = 'a_first' AND c.seq = 0")
    got = run("loader", {"ds": "mixed", "owner": CAROL}, role=CAROL)
    # Not the damaged first object: the trust rule came first.
    assert got["error"] == "OMLError" and got["sqlstate"] == "42501"
    assert 'object "z_hers"' in got["message"]


def test_server_load_needs_about_the_objects_size(loader):
    oml.script.create("memory", MEMORY, is_global=True)
    big = np.random.default_rng(3).random(32 * 1024 * 1024 // 8)   # 32 MB
    oml.ds.save({"big": big}, "big")
    oml.ds.save({"small": np.arange(10.0)}, "warm")
    del big
    got = run("memory", {"ds": "big"})
    if got is None:
        pytest.skip("/proc/self/clear_refs is not writable here")
    peak, size = got
    # Materialised bytes and then the object would need twice its size.
    assert peak < 1.5 * size, "peak %d for an object of %d bytes" % (peak, size)


# -- the client streams too ---------------------------------------------------

def test_client_load_streams_many_chunks(small_chunks, admin):
    arr = np.random.default_rng(11).random(30_011)
    words = {"w%d" % i: "x" * (i % 50) for i in range(1000)}
    oml.connect(user=ALICE, password=PASSWORD, dbname=DBNAME)
    oml.ds.save({"arr": arr, "words": words}, "multi")
    oml.ds.save({"arr": arr, "words": words}, "multi_z", compression=True)
    assert nchunks(admin, "multi", "arr") > 20
    for ds in ("multi", "multi_z"):
        got = oml.ds.load(ds, to_globals=False)
        assert digest(got["arr"]) == digest(arr) and got["words"] == words
    # Another role's objects, through the restricted unpickler, streamed.
    oml.ds.save({"arr": arr}, "shared", grantable=True)
    oml.grant("shared", user=CAROL)
    oml.connect(user=CAROL, password=PASSWORD, dbname=DBNAME)
    got = oml.ds.load("shared", owner=ALICE, to_globals=False, trusted=False)
    assert digest(got["arr"]) == digest(arr)
    # The connection is usable after each load.
    assert oml.ds.dir()["datastore_name"].tolist() == []


@pytest.mark.parametrize("damage", [
    "DELETE FROM oml.datastore_chunk c USING oml.datastore_object o"
    " WHERE c.obj_id = o.id AND o.name = 'arr' AND c.seq = 5",
    "UPDATE oml.datastore_chunk c SET data = data || data"
    " FROM oml.datastore_object o"
    " WHERE c.obj_id = o.id AND o.name = 'arr' AND c.seq = 3",
], ids=["missing chunk", "longer chunk"])
def test_client_load_of_damaged_chunks(small_chunks, admin, damage):
    oml.connect(user=ALICE, password=PASSWORD, dbname=DBNAME)
    oml.ds.save({"arr": np.arange(40_000.0)}, "damaged")
    admin.sql(damage)
    with pytest.raises(oml.OMLError) as err:
        oml.ds.load("damaged", to_globals=False)
    assert err.value.sqlstate == "XX001"
    # The session goes on.
    assert len(oml.ds.dir()) == 1


def test_client_load_of_corrupt_bytes(small_chunks, admin):
    import pickle
    oml.connect(user=ALICE, password=PASSWORD, dbname=DBNAME)
    oml.ds.save({"arr": np.arange(40_000.0)}, "damaged")
    admin.sql("UPDATE oml.datastore_chunk c"
              " SET data = overlay(data placing '\\xffffffff'::bytea from 1)"
              " FROM oml.datastore_object o"
              " WHERE c.obj_id = o.id AND o.name = 'arr' AND c.seq = 0")
    with pytest.raises(pickle.UnpicklingError):
        oml.ds.load("damaged", to_globals=False)
    assert len(oml.ds.dir()) == 1

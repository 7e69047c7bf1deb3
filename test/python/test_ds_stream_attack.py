"""Hostile uses of the streaming in-server load (_oml.load_objects with an
unpickle callable, src/pyload.c and src/dsread.c): a fill kept past its
read, called from another thread, with odd buffers, re-entrantly; and
memory across many failed loads in one call.
"""

import json

import numpy as np
import pytest

import oml_store as oml
from conftest import ALICE, DBNAME, PASSWORD, sql_as

FILL_TRICKS = '''
def tricks(ds):
    import threading
    import _oml
    out = {}
    kept = []

    def describe(exc):
        return type(exc).__name__ + ": " + str(exc)

    def unpickle(fill, compression):
        kept.append(fill)
        first = bytearray(3)
        out["first"] = [fill(first), bytes(first).hex()]
        out["empty"] = fill(bytearray(0))
        for name, buf in (("bytes", b"xyz"), ("readonly", memoryview(b"abc")),
                          ("int", 5)):
            try:
                fill(buf)
                out[name] = "no error"
            except Exception as exc:
                out[name] = type(exc).__name__
        # Another thread may not call it.
        res = []
        def other():
            try:
                res.append(fill(bytearray(4)))
            except BaseException as exc:
                res.append(type(exc).__name__)
        t = threading.Thread(target=other)
        t.start()
        t.join()
        out["thread"] = res[0]
        # Re-entrant: a nested load of the same datastore, whose unpickle
        # also pulls from the outer fill.
        def inner(fill2, compression):
            a = bytearray(2)
            b = bytearray(2)
            return [fill2(a), fill(b)]
        out["nested"] = _oml.load_objects(ds, None, None, inner)
        # A buffer larger than the object takes all that is left.
        big = bytearray(1 << 20)
        out["rest"] = fill(big)
        out["after_end"] = fill(bytearray(10))
        return "done"

    out["result"] = _oml.load_objects(ds, None, None, unpickle)
    try:
        kept[0](bytearray(10))
        out["kept"] = "no error"
    except Exception as exc:
        out["kept"] = describe(exc)
    return out
'''


@pytest.fixture
def small_chunks(monkeypatch):
    monkeypatch.setattr(oml.ds, "CHUNK_SIZE", 8192)


def run(script, par, role=ALICE):
    [[value]] = sql_as(role, "SELECT value FROM oml.pyqEval(%s, 'JSON', %s)",
                       (json.dumps(par), script))
    return json.loads(value)


def test_fill_tricks(alice):
    oml.ds.save({"x": b"0123456789" * 10}, "tricks")
    oml.script.create("tricks", FILL_TRICKS, is_global=True)
    [size] = oml.ds.describe("tricks")["size"].tolist()
    got = run("tricks", {"ds": "tricks"})
    assert got == {
        "first": [3, "800595"],         # the pickle's protocol and frame
        "empty": 0,
        "bytes": "BufferError", "readonly": "BufferError", "int": "TypeError",
        "thread": "RuntimeError",
        # The nested load has a fill of its own; the outer one goes on.
        "nested": [["x", [2, 2]]],
        "rest": size - 5, "after_end": 0,
        "result": [["x", "done"]],
        "kept": "ValueError: the datastore read is over",
    }


FAILING_LOADS = '''
def failing_loads(ds, n):
    import gc
    import oml

    def rss():
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    errors = set()

    def attempt():
        try:
            oml.ds.load(ds, to_globals=False)
        except Exception as exc:
            errors.add(type(exc).__name__)
    attempt()
    gc.collect()
    before = rss()
    for _ in range(n):
        attempt()
    gc.collect()
    return {"growth": rss() - before, "errors": sorted(errors)}
'''


class _Fails:
    """Unpickles as int("not a number"): a ValueError in the server."""

    def __reduce__(self):
        return (int, ("not a number",))


def test_failed_loads_free_their_chunk(alice):
    # The error comes after several chunks were read: the chunk being read
    # must not stay in the statement's memory, once per failed load.
    arr = np.random.default_rng(5).random(3 * oml.ds.CHUNK_SIZE // 8)
    oml.ds.save({"obj": [arr, _Fails(), arr]}, "fails")
    oml.script.create("failing_loads", FAILING_LOADS, is_global=True)
    got = run("failing_loads", {"ds": "fails", "n": 20})
    assert got["errors"] == ["ValueError"]
    # Not once per failed load (each held chunks of CHUNK_SIZE bytes).
    assert got["growth"] < 5 * oml.ds.CHUNK_SIZE, got


class _Interrupts:
    """Unpickles as a SIGINT to the unpickling process (Ctrl-C)."""

    def __reduce__(self):
        import signal
        return (signal.raise_signal, (signal.SIGINT,))


@pytest.mark.parametrize("bad", [_Fails(), _Interrupts()],
                         ids=["error", "KeyboardInterrupt"])
def test_client_load_ends_its_copy_on_errors(small_chunks, bad):
    import threading
    oml.connect(user=ALICE, password=PASSWORD, dbname=DBNAME)
    arr = np.arange(200_000.0)
    oml.ds.save({"obj": [bad, arr], "other": 7}, "bad")
    threads = threading.active_count()
    for _ in range(3):
        with pytest.raises((ValueError, KeyboardInterrupt)):
            oml.ds.load("bad", to_globals=False)
        # The COPY thread is gone and the connection is usable.
        assert threading.active_count() == threads
        assert oml.ds.load("bad", objs="other", to_globals=False) \
            == {"other": 7}


class _Sleep:
    """Unpickles as a call to time.sleep."""

    def __init__(self, seconds):
        self.seconds = seconds

    def __reduce__(self):
        import time
        return (time.sleep, (self.seconds,))


LOAD_DIGEST = '''
def load_digest(ds):
    import hashlib
    import oml
    obj = oml.ds.load(ds, to_globals=False)["obj"]
    return [hashlib.sha256(obj[0].tobytes()).hexdigest(),
            hashlib.sha256(obj[2].tobytes()).hexdigest()]
'''


def test_delete_and_vacuum_during_a_streaming_load(small_chunks, alice, admin):
    # The chunks come from the snapshot the objects were listed from: a
    # concurrent overwrite, delete and VACUUM change nothing in the load.
    import hashlib
    import threading
    import time
    a = np.arange(100_000.0)
    b = np.arange(100_000.0) * 3
    oml.ds.save({"obj": [a, _Sleep(2), b]}, "moving")
    oml.script.create("load_digest", LOAD_DIGEST, is_global=True)
    result = {}

    def load():
        result["got"] = run("load_digest", {"ds": "moving"})
    t = threading.Thread(target=load)
    t.start()
    time.sleep(1)
    oml.ds.save({"obj": [b, 1, a]}, "moving", overwrite=True)
    oml.ds.delete("moving")
    admin.sql("VACUUM oml.datastore_chunk")
    t.join()
    assert result["got"] == [hashlib.sha256(a.tobytes()).hexdigest(),
                             hashlib.sha256(b.tobytes()).hexdigest()]


def test_client_load_in_the_callers_transaction(small_chunks, admin):
    # Inside the caller's open (read committed) transaction a load runs in
    # a savepoint: a failed streaming load leaves that transaction usable,
    # and an overwrite committed between listing and reading is reported as
    # such, not as a damaged object.
    import psycopg2
    conn = psycopg2.connect(user=ALICE, password=PASSWORD, dbname=DBNAME)
    try:
        oml.connect(conn=conn)
        arr = np.arange(100_000.0)
        oml.ds.save({"obj": [_Fails(), arr], "arr": arr}, "mine")
        conn.commit()
        with conn.cursor() as cur:
            cur.execute("SELECT 1")
            for _ in range(2):
                with pytest.raises(ValueError):
                    oml.ds.load("mine", to_globals=False)
                cur.execute("SELECT 2")
                assert cur.fetchone() == (2,)
            # An overwrite from another session while listing is done.
            orig = oml.ds._load_streamed
            calls = []

            def racing(*args, **kwargs):
                if not calls:
                    calls.append(1)
                    sql_as(ALICE, "SELECT oml.ds_delete('mine',"
                           " ARRAY['arr'])")
                return orig(*args, **kwargs)
            oml.ds._load_streamed = racing
            try:
                with pytest.raises(oml.OMLError) as err:
                    oml.ds.load("mine", objs="arr", to_globals=False)
            finally:
                oml.ds._load_streamed = orig
            assert err.value.sqlstate == "40001"
            assert err.value.message == (
                'object "arr" was overwritten or deleted while it was being'
                " loaded")
            cur.execute("SELECT 3")
            assert cur.fetchone() == (3,)
    finally:
        oml.disconnect()
        conn.close()


MANY_LOADS = '''
def many_loads(ds, n):
    import gc
    import oml

    def rss():
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    for _ in range(n):
        oml.ds.load(ds, to_globals=False)
    gc.collect()
    before = rss()
    for _ in range(n):
        oml.ds.load(ds, to_globals=False)
    gc.collect()
    return rss() - before
'''


def test_many_loads_in_one_call_do_not_grow(small_chunks, alice):
    oml.ds.save({"arr%d" % i: np.arange(3000.0) for i in range(5)}, "many")
    oml.script.create("many_loads", MANY_LOADS, is_global=True)
    growth = run("many_loads", {"ds": "many", "n": 500})
    # Each load kept its listing (about 500 bytes here) in the script
    # call's memory until the statement ended: 250 KB for 500 loads.
    assert growth < 100 * 1024, growth

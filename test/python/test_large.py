"""Objects larger than PostgreSQL's 1 GB field limit (run with -m large)."""

import hashlib
import math
import time

import numpy as np
import pytest

import oml_store as oml
from conftest import ALICE

SIZE = 1_500_000_000


@pytest.mark.large
def test_object_of_1_5_gb(alice, admin, capsys):
    # Not periodic in the chunk size: misordered chunks would show.
    block = np.random.default_rng(2024).integers(0, 256, (1 << 20) + 7,
                                                 dtype=np.uint8)
    big = np.resize(block, SIZE)
    digest = hashlib.sha256(big).digest()

    start = time.perf_counter()
    oml.ds.save({"big": big, "small": "x"}, "large")
    save_s = time.perf_counter() - start
    del big

    [[size, nchunks]] = admin.sql(
        "SELECT size, nchunks FROM oml.ds_objects('large', %s, '{big}')",
        (ALICE,))
    assert size > SIZE
    assert nchunks == math.ceil(size / oml.ds.CHUNK_SIZE)
    df = oml.ds.describe("large")
    assert df["size"].tolist() == [size, df["size"][1]]
    assert df["class"].tolist() == ["numpy.ndarray", "str"]

    start = time.perf_counter()
    got = oml.ds.load("large", to_globals=False)
    load_s = time.perf_counter() - start
    assert got["small"] == "x"
    big = got.pop("big")
    assert big.dtype == np.uint8 and big.shape == (SIZE,)
    assert hashlib.sha256(big).digest() == digest

    mb = size / 1e6
    with capsys.disabled():
        print("\nlarge object: %.0f MB in %d chunks; save %.1f s (%.0f MB/s),"
              " load %.1f s (%.0f MB/s)"
              % (mb, nchunks, save_s, mb / save_s, load_s, mb / load_s))

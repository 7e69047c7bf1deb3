"""Progress bars of ds.save / ds.load, and pictures of graphics=True runs."""

import base64
import io
import pickle
import re
import subprocess
import sys

import numpy as np
import psycopg2
import pytest

import oml_store as oml
from oml_store import _progress
from conftest import ALICE, PASSWORD, DBNAME

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _no_bar(err):
    return "save " not in err and "load " not in err and "%|" not in err


# -- progress ---------------------------------------------------------------------

def test_progress_true_shows_a_bar(alice, capsys):
    data = np.arange(100_000, dtype=np.float64)           # 800 kB
    oml.ds.save({"data": data, "b": b"x" * 1000}, "prog", progress=True)
    err = capsys.readouterr().err
    assert "save prog" in err
    assert "100%" in err                    # ends full, estimate or not
    got = oml.ds.load("prog", to_globals=False, progress=True)
    err = capsys.readouterr().err
    assert "load prog" in err and "100%" in err
    assert np.array_equal(got["data"], data)


def test_progress_counts_every_chunk(alice, capsys, monkeypatch):
    monkeypatch.setattr(oml.ds, "CHUNK_SIZE", 1000)
    data = bytes(range(256)) * 40                         # 10240 bytes
    oml.ds.save({"d": data}, "chunks", progress=True, compression=True)
    capsys.readouterr()
    bars = []
    real = _progress.Progress

    class Spy(real):
        def close(self, complete=True):
            bars.append((self._count, self._total, complete))
            super().close(complete)

    monkeypatch.setattr(oml.ds, "Progress", Spy)
    assert oml.ds.load("chunks", to_globals=False, progress=True) == {"d": data}
    [[stored]] = oml.sql("SELECT size FROM oml.datastore_object"
                         " WHERE name = 'd'").values.tolist()
    assert bars == [(stored, stored, True)]
    oml.ds.save({"d": data}, "chunks2", progress=True)
    # Pickled bytes are counted (before compression, had there been one).
    assert bars[1][0] == len(pickle.dumps(data, pickle.HIGHEST_PROTOCOL))
    assert bars[1][1] == len(data)          # the estimate
    assert "100%" in capsys.readouterr().err


def test_no_bar_by_default_in_scripts_and_tests(alice, capsys, monkeypatch):
    monkeypatch.setattr(_progress, "MIN_BYTES", 0)
    assert not _progress.interactive()
    oml.ds.save({"b": b"y" * 100_000}, "quiet")
    oml.ds.load("quiet", to_globals=False)
    assert capsys.readouterr().err == ""


def test_auto_shows_in_interactive_use_for_large_objects(alice, capsys,
                                                          monkeypatch):
    monkeypatch.setattr(_progress, "interactive", lambda: True)
    oml.ds.save({"b": b"y" * 100_000}, "small")           # under MIN_BYTES
    oml.ds.load("small", to_globals=False)
    assert capsys.readouterr().err == ""
    monkeypatch.setattr(_progress, "MIN_BYTES", 50_000)
    oml.ds.save({"b": b"y" * 100_000}, "large")
    assert "save large" in capsys.readouterr().err
    oml.ds.load("large", to_globals=False)
    assert "load large" in capsys.readouterr().err
    # progress=False: never.
    oml.ds.save({"b": b"y" * 100_000}, "never")
    capsys.readouterr()
    oml.ds.save({"b": b"y" * 100_000}, "never", overwrite=True,
                progress=False)
    oml.ds.load("never", to_globals=False, progress=False)
    assert capsys.readouterr().err == ""
    # An object of unknown size: the bar opens once MIN_BYTES went by.
    oml.ds.save({"l": [bytes([i]) * 1000 for i in range(100)]}, "unknown")
    assert "save unknown" in capsys.readouterr().err


class _FakeShell:
    pass


class _Tty(io.StringIO):
    def isatty(self):
        return True


def test_interactive_detection(monkeypatch):
    assert not _progress.interactive()
    fake = type(sys)("IPython")
    fake.get_ipython = lambda: None
    monkeypatch.setitem(sys.modules, "IPython", fake)
    assert not _progress.interactive()      # IPython imported, no shell
    fake.get_ipython = _FakeShell
    assert _progress.interactive()
    monkeypatch.delitem(sys.modules, "IPython")
    monkeypatch.setattr(sys, "ps1", ">>> ", raising=False)
    monkeypatch.setattr(sys, "stderr", io.StringIO())
    assert not _progress.interactive()      # the prompt, stderr not a tty
    monkeypatch.setattr(sys, "stderr", _Tty())
    assert _progress.interactive()


def test_without_tqdm_no_bar_and_no_error(alice, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "tqdm", None)
    monkeypatch.setitem(sys.modules, "tqdm.std", None)
    oml.ds.save({"b": b"y" * 1000}, "notqdm", progress=True)
    assert oml.ds.load("notqdm", to_globals=False,
                       progress=True) == {"b": b"y" * 1000}
    assert capsys.readouterr().err == ""


def test_import_does_not_load_tqdm():
    code = "import sys, oml_store; print('tqdm' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True,
                         text=True, check=True)
    assert out.stdout.strip() == "False"


def test_progress_argument_checked(alice):
    for bad in ("yes", 1, 0):
        with pytest.raises(TypeError, match="progress must be a bool"):
            oml.ds.save({"a": 1}, "bad", progress=bad)
        with pytest.raises(TypeError, match="progress must be a bool"):
            oml.ds.load("bad", progress=bad)
    with pytest.raises(TypeError):
        oml.ds.save({"a": 1}, "bad", None, False, False, False, False, True)
    assert oml.ds.dir().empty


def in_server_progress():
    import oml
    oml.ds.save({"a": b"q" * 10_000_000}, "srv", progress=True)
    got = oml.ds.load("srv", to_globals=False, progress=True)
    return len(got["a"])


def test_progress_is_ignored_in_the_server(alice):
    oml.script.create("srv_progress", in_server_progress)
    conn = psycopg2.connect(user=ALICE, password=PASSWORD, dbname=DBNAME)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT value FROM oml.pyqEval(NULL, 'JSON',"
                        " 'srv_progress')")
            assert cur.fetchall() == [("10000000",)]
        conn.commit()
        # No bar reached the output the server passes on as a NOTICE.
        assert conn.notices == []
    finally:
        conn.close()


# -- pictures -----------------------------------------------------------------------

def draw(n=3, title="my plot"):
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(4, 3), dpi=50)
    ax.plot(range(n))
    ax.set_title(title)
    plt.figure(figsize=(2, 2), dpi=50)
    plt.plot([1, 2])
    return n * 10


def double(x):
    return 2 * x


def test_graphics_result_displays_as_pictures(alice):
    got = oml.do_eval(draw, graphics=True, n=5)
    assert isinstance(got, oml.GraphicsResult)
    first, second = got.images
    # Still (title, png) pairs.
    assert isinstance(first, tuple) and first == (first.title, first.png)
    title, png = first
    assert title == "my plot" and second.title is None
    assert png.startswith(PNG_MAGIC)
    assert first.size == (200, 150) and second.size == (100, 100)
    # What IPython/Jupyter call to display it.
    assert got._repr_png_() == png
    assert first._repr_png_() == png and second._repr_png_() == second.png
    page = got._repr_html_()
    imgs = re.findall(r'<img src="data:image/png;base64,([^"]+)"', page)
    assert [base64.b64decode(i) for i in imgs] == [png, second.png]
    assert "<figcaption>my plot</figcaption>" in page
    assert "<pre>50</pre>" in page
    assert "<figcaption>my plot</figcaption>" in first._repr_html_()
    assert repr(first) == "Image(title='my plot', png=<%d bytes of PNG>)" % len(png)
    assert "GraphicsResult(result=50" in repr(got)


def test_graphics_result_saves_png_files(alice, tmp_path):
    import matplotlib.image

    got = oml.do_eval(draw, graphics=True, n=5)
    written = got.save(tmp_path / "plot.png")
    assert written == [tmp_path / "plot-1.png", tmp_path / "plot-2.png"]
    assert [p.read_bytes() for p in written] == [i.png for i in got.images]
    assert matplotlib.image.imread(written[0]).shape[:2] == (150, 200)
    assert got.save(str(tmp_path / "second.png"), index=1) == [
        tmp_path / "second.png"]
    assert (tmp_path / "second.png").read_bytes() == got.images[1].png
    assert got.images[0].save(tmp_path / "one.png") == tmp_path / "one.png"
    assert (tmp_path / "one.png").read_bytes() == got.images[0].png
    with pytest.raises(IndexError):
        got.save(tmp_path / "x.png", index=2)

    # One figure: the path itself.
    runs = oml.index_apply(1, "def f(i):\n    import matplotlib.pyplot as plt\n"
                           "    plt.plot([i])\n    return i\n", graphics=True)
    assert runs[0].save(tmp_path / "single.png") == [tmp_path / "single.png"]
    assert (tmp_path / "single.png").read_bytes().startswith(PNG_MAGIC)


def test_graphics_result_without_figures(alice, tmp_path):
    got = oml.do_eval(double, graphics=True, x=2)
    assert got.result == 4 and got.images == []
    assert got._repr_png_() is None and got._repr_html_() is None
    with pytest.raises(ValueError, match="drew no figures"):
        got.save(tmp_path / "none.png")
    assert list(tmp_path.iterdir()) == []


def test_graphics_result_pickled_with_plain_pairs():
    # As the client pickled it before Image existed: plain tuples.
    old = object.__new__(oml.GraphicsResult)
    old.__dict__.update(result=1, images=[("t", PNG_MAGIC + b"rest")])
    new = pickle.loads(pickle.dumps(old))
    assert isinstance(new.images[0], oml.Image)
    assert new.images[0].png == PNG_MAGIC + b"rest"
    assert new._repr_png_() == PNG_MAGIC + b"rest"


def test_graphics_result_pickles_and_lists_stay_dataframes(alice):
    got = oml.do_eval(draw, graphics=True, n=2)
    again = pickle.loads(pickle.dumps(got))
    assert again.images == got.images and again._repr_png_() == got._repr_png_()
    oml.ds.save({"g": got}, "pics")
    back = oml.ds.load("pics", to_globals=False)["g"]
    assert back.images[1].png == got.images[1].png
    import pandas as pd
    assert isinstance(oml.ds.dir(), pd.DataFrame)
    assert isinstance(oml.ds.describe("pics"), pd.DataFrame)
    assert oml.ds.describe("pics")["class"].tolist() == [
        "oml_store._graphics.GraphicsResult"]


def test_ipython_display_formatter_shows_pictures(alice):
    pytest.importorskip("IPython")      # python3-ipython (install-deps)
    from IPython.core.formatters import DisplayFormatter

    formatter = DisplayFormatter()
    got = oml.do_eval(draw, graphics=True, n=5)
    data, _ = formatter.format(got)
    assert set(data) == {"text/plain", "text/html", "image/png"}
    assert data["image/png"] == got.images[0].png
    assert data["text/html"].count("<img ") == 2
    assert data["text/plain"].startswith("GraphicsResult(result=50")
    data, _ = formatter.format(got.images[1])
    assert data["image/png"] == got.images[1].png
    # Without figures: only the text.
    data, _ = formatter.format(oml.do_eval(double, graphics=True, x=1))
    assert set(data) == {"text/plain"}


SAVE_BIG = """
import oml_store as oml
oml.connect(user=%r, password=%r, dbname=%r)
oml.ds.save({"big": bytes(9 * 1024 * 1024)}, "big", overwrite=True)
oml.ds.load("big", to_globals=False)
oml.disconnect()
"""


def test_bar_in_ipython_but_not_in_a_script(alice, tmp_path):
    import os

    pytest.importorskip("IPython")      # python3-ipython (install-deps)

    code = SAVE_BIG % (ALICE, PASSWORD, DBNAME)
    env = dict(os.environ, PYTHONPATH=os.path.dirname(os.path.dirname(
        oml.__file__)))
    # A script (stderr a pipe, not interactive): nothing.
    script = subprocess.run([sys.executable, "-c", code], env=env,
                            cwd=tmp_path, capture_output=True, text=True)
    assert script.returncode == 0, script.stderr
    assert script.stderr == ""
    # The same code in IPython: a bar each way (9 MB > MIN_BYTES).
    shell = subprocess.run([sys.executable, "-m", "IPython", "--quick",
                            "--no-banner", "--colors=NoColor", "-c", code],
                           env=env, cwd=tmp_path, capture_output=True,
                           text=True)
    assert shell.returncode == 0, shell.stderr
    assert "save big: 100%" in shell.stderr
    assert "load big: 100%" in shell.stderr

"""The client as a package: pip install into a fresh virtual environment,
its version and metadata, the extension versions it accepts, and type
hints and docstrings on the public API."""

import inspect
import json
import os
import pathlib
import re
import shutil
import subprocess

import psycopg2
import pytest

import oml_store as oml
from oml_store import _versions
from conftest import ALICE, PASSWORD, admin_connect

ROOT = pathlib.Path(__file__).resolve().parents[2]
PYTHON = "/usr/bin/python3"         # Debian's, as run-suites uses
OTHER = "oml_pytest_versions"


def control_version():
    text = (ROOT / "oml_store.control").read_text()
    [version] = re.findall(r"^default_version\s*=\s*'([^']+)'", text, re.M)
    return version


def test_version_is_the_extensions():
    assert oml.__version__ == control_version() == "0.3.0"
    makefile = (ROOT / "Makefile").read_text()
    assert re.findall(r"^EXTVERSION = (\S+)$", makefile, re.M) == [
        oml.__version__]
    # pyproject.toml takes it from oml_store/__init__.py, its one source.
    pyproject = (ROOT / "python" / "pyproject.toml").read_text()
    assert 'version = {attr = "oml_store.__version__"}' in pyproject
    assert 'dynamic = ["version"]' in pyproject
    assert _versions.supported_series() == (0, 3)


# -- pip install into a fresh venv ---------------------------------------------

CHECK_INSTALLED = r"""
import json, os, sys
import importlib.metadata as md
import oml_store as oml
dist = md.distribution("oml_store")
requires = dist.requires or []
out = {
    "file": oml.__file__,
    "version": oml.__version__,
    "dist_version": dist.version,
    "requires": requires,
    "summary": dist.metadata["Summary"],
    "files": sorted(str(f) for f in dist.files),
    "typed": os.path.exists(os.path.join(os.path.dirname(oml.__file__),
                                         "py.typed")),
    "deps": {},
}
for req in requires:
    if "extra ==" in req:
        continue
    name = req.split()[0].split(">")[0].split("=")[0].split("(")[0]
    out["deps"][name] = md.version(name)
# The installed client works against the test database.
oml.connect(dbname=sys.argv[1])
oml.ds.save({"n": 42}, "from_venv", overwrite=True)
out["loaded"] = oml.ds.load("from_venv", to_globals=False)
out["described"] = oml.ds.describe("from_venv")["class"].tolist()
oml.ds.delete("from_venv")
oml.disconnect()
print(json.dumps(out))
"""


def test_pip_install_into_fresh_venv(tmp_path, database):
    src = tmp_path / "src"
    # A copy: pip builds in the source tree (build/, *.egg-info).
    shutil.copytree(ROOT / "python", src, ignore=shutil.ignore_patterns(
        "build", "*.egg-info", "__pycache__"))
    venv = tmp_path / "venv"
    # Only Debian's packages: no PYTHONPATH, no pip configuration (no
    # index, no local wheel directories).
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PYTHON", "PIP_"))}
    env["PIP_CONFIG_FILE"] = os.devnull
    env["PIP_NO_INPUT"] = "1"
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    made = subprocess.run([PYTHON, "-m", "venv", "--system-site-packages",
                           str(venv)], env=env, cwd=tmp_path,
                          capture_output=True, text=True)
    # Needs Debian's python3-venv (scripts/install-deps.sh installs it).
    assert made.returncode == 0, made.stdout + made.stderr
    py = str(venv / "bin" / "python")
    done = subprocess.run(
        [py, "-m", "pip", "install", "--no-index", "--no-build-isolation",
         str(src)], env=env, cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Successfully installed oml-store-0.3.0" in done.stdout

    # Outside the repository, without PYTHONPATH: the installed copy.
    run = subprocess.run([py, "-c", CHECK_INSTALLED, database], env=env,
                         cwd=tmp_path, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    got = json.loads(run.stdout)
    assert got["file"].startswith(str(venv) + "/lib/python3.11/"
                                  "site-packages/oml_store/")
    assert got["version"] == got["dist_version"] == control_version()
    assert "oml_store" in got["summary"]
    assert sorted(r.split()[0] for r in got["requires"]) == [
        "numpy", "pandas", "psycopg2", "tqdm"]
    assert [r for r in got["requires"] if r.startswith("tqdm")] == [
        "tqdm (>=4.64) ; extra == 'progress'"]
    # Debian's python3-psycopg2, -pandas, -numpy provide them.
    assert set(got["deps"]) == {"psycopg2", "pandas", "numpy"}
    assert got["typed"]
    modules = {f for f in got["files"] if f.startswith("oml_store/")
               and f.endswith(".py")}
    assert modules == {"oml_store/" + p.name for p in
                       (ROOT / "python" / "oml_store").glob("*.py")}
    assert got["loaded"] == {"n": 42}
    assert got["described"] == ["int"]


# -- extension versions ----------------------------------------------------------

@pytest.mark.parametrize("version", ["0.3.0", "0.3.1", "0.3.17", "0.3"])
def test_supported_extension_versions(version):
    _versions.check_extension_version(version, "db")


@pytest.mark.parametrize("version,sqlstate,words", [
    ("0.1.0", "55000", "older"),
    ("0.2.0", "55000", "older"),
    ("0.0.9", "55000", "older"),
    ("0.4.0", "0A000", "newer"),
    ("1.0.0", "0A000", "newer"),
    ("0.3.0beta1", "0A000", "not one this client knows"),
    ("", "0A000", "not one this client knows"),
])
def test_unsupported_extension_versions(version, sqlstate, words):
    with pytest.raises(oml.OMLError) as err:
        _versions.check_extension_version(version, "db")
    assert err.value.sqlstate == sqlstate
    assert words in err.value.message
    assert "works with extension versions 0.3.x" in err.value.detail


@pytest.fixture
def other_db(database):
    """A database with oml_store 0.1.0 installed (dropped afterwards)."""
    admin = admin_connect()
    with admin.cursor() as cur:
        cur.execute("DROP DATABASE IF EXISTS %s WITH (FORCE)" % OTHER)
        cur.execute("CREATE DATABASE %s TEMPLATE template0" % OTHER)
    conn = admin_connect(OTHER)
    conn.cursor().execute("CREATE EXTENSION oml_store VERSION '0.1.0'")
    yield conn
    oml.disconnect()
    conn.close()
    with admin.cursor() as cur:
        cur.execute("DROP DATABASE IF EXISTS %s WITH (FORCE)" % OTHER)
    admin.close()


def _connect_error(**kwargs):
    with pytest.raises(oml.OMLError) as err:
        oml.connect(user=ALICE, password=PASSWORD, dbname=OTHER, **kwargs)
    return err.value


def test_connect_to_an_older_extension(other_db, alice):
    err = _connect_error()
    assert err.sqlstate == "55000"
    assert err.message == ('oml_store extension version 0.1.0 in database'
                           ' "%s" is older than this client supports' % OTHER)
    assert "ALTER EXTENSION oml_store UPDATE" in err.hint
    assert "HINT:  Have a superuser run ALTER EXTENSION" in str(err)
    # The connection that was there stays.
    assert oml.isconnected(check_status=True)
    assert oml.sql("SELECT current_database() AS d")["d"][0] == "oml_pytest"
    # A connection passed in is checked too, and left open.
    conn = psycopg2.connect(user=ALICE, password=PASSWORD, dbname=OTHER)
    with pytest.raises(oml.OMLError) as err2:
        oml.connect(conn=conn)
    assert err2.value.sqlstate == "55000" and not conn.closed
    conn.close()
    # After the update the client connects.
    other_db.cursor().execute("ALTER EXTENSION oml_store UPDATE")
    oml.connect(user=ALICE, password=PASSWORD, dbname=OTHER)
    oml.ds.save({"x": 1}, "after_update")
    assert oml.ds.load("after_update", to_globals=False) == {"x": 1}


def _set_extversion(conn, version):
    # A throwaway database: pretend another release is installed.
    conn.cursor().execute("UPDATE pg_catalog.pg_extension SET extversion = %s"
                          " WHERE extname = 'oml_store'", (version,))


def test_connect_to_a_newer_or_unknown_extension(other_db):
    other_db.cursor().execute("ALTER EXTENSION oml_store UPDATE")
    _set_extversion(other_db, "1.0.0")
    err = _connect_error()
    assert err.sqlstate == "0A000"
    assert "version 1.0.0" in err.message and "newer" in err.message
    assert err.hint.startswith("Upgrade the client to version 1.0")
    assert "python3-oml-store" in err.hint
    assert not oml.isconnected()

    _set_extversion(other_db, "0.3.0-custom")
    err = _connect_error()
    assert err.sqlstate == "0A000"
    assert "not one this client knows" in err.message

    _set_extversion(other_db, "0.3.5")     # same series: accepted
    oml.connect(user=ALICE, password=PASSWORD, dbname=OTHER)
    assert oml.isconnected(check_status=True)


def test_not_installed_still_reported(database):
    admin = admin_connect()
    with admin.cursor() as cur:
        cur.execute("DROP DATABASE IF EXISTS %s WITH (FORCE)" % OTHER)
        cur.execute("CREATE DATABASE %s TEMPLATE template0" % OTHER)
    try:
        with pytest.raises(oml.OMLError) as err:
            oml.connect(dbname=OTHER)
        assert err.value.sqlstate == "58P01"
        assert err.value.message == ('extension "oml_store" is not installed'
                                     ' in database "%s"' % OTHER)
    finally:
        with admin.cursor() as cur:
            cur.execute("DROP DATABASE IF EXISTS %s WITH (FORCE)" % OTHER)
        admin.close()


# -- type hints and docstrings -------------------------------------------------------

def _public_functions():
    for module in (oml, oml.ds, oml.script):
        for name in module.__all__:
            obj = getattr(module, name)
            if inspect.isfunction(obj):
                yield "%s.%s" % (module.__name__, name), obj
    for cls in (oml.GraphicsResult, oml.Image, oml.script.ScriptFunction):
        for name, obj in vars(cls).items():
            if inspect.isfunction(obj) and (not name.startswith("_")
                                            or name.startswith("_repr_")):
                yield "%s.%s" % (cls.__name__, name), obj


def test_public_functions_have_hints_and_docstrings():
    seen = set()
    for qualname, func in _public_functions():
        seen.add(qualname)
        assert inspect.getdoc(func), qualname
        sig = inspect.signature(func)
        assert sig.return_annotation is not inspect.Signature.empty, qualname
        for param in sig.parameters.values():
            if param.name == "self":
                continue
            assert param.annotation is not inspect.Parameter.empty, \
                (qualname, param.name)
    assert {"oml_store.connect", "oml_store.do_eval", "oml_store.group_apply",
            "oml_store.ds.save", "oml_store.ds.load", "oml_store.ds.dir",
            "oml_store.script.create", "GraphicsResult.save",
            "Image.save"} <= seen
    # OML4Py's parameters first, in order; progress only as a keyword.
    save = inspect.signature(oml.ds.save).parameters
    assert list(save)[:7] == ["objs", "name", "description", "grantable",
                              "overwrite", "append", "compression"]
    assert save["progress"].kind is inspect.Parameter.KEYWORD_ONLY
    load = inspect.signature(oml.ds.load).parameters
    assert list(load)[:4] == ["name", "objs", "owner", "to_globals"]
    assert load["progress"].kind is inspect.Parameter.KEYWORD_ONLY


def test_help_shows_the_signatures():
    import pydoc
    text = pydoc.render_doc(oml.ds.save, renderer=pydoc.plaintext)
    assert "save(objs: 'dict[str, Any]', name: 'str'" in text
    assert "progress: 'Optional[bool]' = None) -> 'None'" in text

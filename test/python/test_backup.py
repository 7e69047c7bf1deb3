"""pg_dump and pg_restore of the catalog (issue 7 item 7).

A superuser's dump restored into a fresh database keeps every byte, the
describe metadata, grants, private and global scripts, trust flags, the
sequences and the role names; a dump by a role that row-level security
limits (a non-superuser database owner) fails with a message naming the
supported way rather than silently missing rows.
"""

import os
import shutil
import subprocess

import numpy as np
import pandas as pd
import psycopg2
import pytest

import oml_store as oml
from conftest import ALICE, BOB, CAROL, DBNAME, PASSWORD, admin_connect

RESTORED = "oml_pytest_restored"
OWNED_DB = "oml_pytest_dbowner"
DBOWNER = "oml_b_dbowner"


def pg_bin(name):
    """A client program of the server's installation (next to pg_config)."""
    pg_config = os.environ.get("PG_CONFIG") or shutil.which("pg_config")
    if pg_config:
        out = subprocess.run([pg_config, "--bindir"], capture_output=True,
                             text=True, check=True).stdout.strip()
        path = os.path.join(out, name)
        if os.path.exists(path):
            return path
    return os.path.join("/usr/lib/postgresql/15/bin", name)


def run(args, env=None):
    return subprocess.run(args, capture_output=True, text=True, env=env,
                          timeout=120)


def recreate(dbname, owner=None):
    conn = admin_connect()
    try:
        with conn.cursor() as cur:
            cur.execute("DROP DATABASE IF EXISTS %s WITH (FORCE)" % dbname)
            cur.execute("CREATE DATABASE %s TEMPLATE template0%s"
                        % (dbname, " OWNER " + owner if owner else ""))
    finally:
        conn.close()


def drop_db(dbname):
    conn = admin_connect()
    try:
        with conn.cursor() as cur:
            cur.execute("DROP DATABASE IF EXISTS %s WITH (FORCE)" % dbname)
    finally:
        conn.close()


def catalog_state(dbname):
    """Everything a restore must keep, with role names, not OIDs."""
    conn = admin_connect(dbname)
    try:
        cur = conn.cursor()
        state = {}
        cur.execute("SELECT owner::text, name, description, grantable, acl::text, created"
                    " FROM oml.datastore ORDER BY 1, 2")
        state["datastores"] = cur.fetchall()
        cur.execute("SELECT d.owner::text, d.name, o.name, o.class, o.size, o.length,"
                    " o.nrow, o.ncol, o.nchunks, o.compression, o.writer::text, o.trusted,"
                    " o.created, (SELECT md5(string_agg(c.data, '' ORDER BY c.seq))"
                    "   FROM oml.datastore_chunk c WHERE c.obj_id = o.id)"
                    " FROM oml.datastore_object o JOIN oml.datastore d ON d.id = o.ds_id"
                    " ORDER BY 1, 2, 3")
        state["objects"] = cur.fetchall()
        cur.execute("SELECT owner::text, name, is_global, source, description, acl::text, created"
                    " FROM oml.script ORDER BY 1, 2")
        state["scripts"] = cur.fetchall()
        cur.execute("SELECT d.owner::text, d.name, x.* FROM oml.datastore d,"
                    " oml.ds_describe(d.name, d.owner::text) x ORDER BY 1, 2, 3")
        state["describe"] = cur.fetchall()
        cur.execute("SELECT last_value, is_called FROM oml.datastore_id_seq"
                    " UNION ALL SELECT last_value, is_called FROM oml.datastore_object_id_seq"
                    " UNION ALL SELECT last_value, is_called FROM oml.script_id_seq")
        state["sequences"] = cur.fetchall()
        cur.execute("SELECT d.objid::regclass::text, d.objsubid, d.refobjid::regrole::text"
                    " FROM pg_shdepend d"
                    " WHERE d.dbid = (SELECT oid FROM pg_database WHERE datname = current_database())"
                    " AND d.classid = 'pg_class'::regclass AND d.refclassid = 'pg_authid'::regclass"
                    " AND d.objid::regclass::text LIKE 'oml.%' ORDER BY 1, 2, 3")
        state["role_dependencies"] = cur.fetchall()
        return state
    finally:
        conn.close()


def populate():
    oml.connect(user=ALICE, password=PASSWORD, dbname=DBNAME)
    big = np.random.default_rng(7).random(1_100_000)        # 8.8 MB: two chunks
    oml.ds.save({"big": big, "frame": pd.DataFrame({"a": [1, 2], "b": ["x", None]})},
                "alice_ds", description="trusted writer", grantable=True)
    oml.grant("alice_ds", user=BOB)
    oml.ds.save({"n": 1}, "alice_private", compression=True)
    oml.script.create("alice_private_script", "def f():\n    return 1")
    oml.grant("alice_private_script", typ="pyqscript", user=CAROL)
    oml.script.create("alice_global_script", "def g(x=2):\n    return x", is_global=True)
    oml.connect(user=CAROL, password=PASSWORD, dbname=DBNAME)
    oml.ds.save({"carols": [1, 2, 3]}, "carol_ds", grantable=True)
    oml.grant("carol_ds", user=None)
    oml.disconnect()


def test_dump_restore_round_trip(admin):
    populate()
    before = catalog_state(DBNAME)
    assert {r[11] for r in before["objects"]} == {True, False}   # both trust flags
    dump = os.path.join(os.environ.get("OML_TEST_SHARED_DIR", "/tmp"), "oml_dump.custom")
    res = run([pg_bin("pg_dump"), "-Fc", "-d", DBNAME, "-f", dump])
    assert res.returncode == 0, res.stderr
    recreate(RESTORED)
    try:
        res = run([pg_bin("pg_restore"), "--exit-on-error", "-d", RESTORED, dump])
        assert res.returncode == 0, res.stderr
        after = catalog_state(RESTORED)
        assert after == before
        # The restored catalog works: a grantee loads, ids continue.
        oml.connect(user=BOB, password=PASSWORD, dbname=RESTORED)
        loaded = oml.ds.load("alice_ds", owner=ALICE, to_globals=False)
        assert loaded["frame"].equals(pd.DataFrame({"a": [1, 2], "b": ["x", None]}))
        oml.connect(user=ALICE, password=PASSWORD, dbname=RESTORED)
        oml.ds.save({"n": 2}, "after_restore")
        oml.disconnect()
        conn = admin_connect(RESTORED)
        with conn.cursor() as cur:
            cur.execute("SELECT id > %s FROM oml.datastore WHERE name = 'after_restore'",
                        (before["sequences"][0][0],))
            assert cur.fetchone() == (True,)
        conn.close()
    finally:
        oml.disconnect()
        drop_db(RESTORED)
        os.unlink(dump)


@pytest.fixture(scope="module")
def owned_database(admin):
    conn = admin_connect()
    with conn.cursor() as cur:
        cur.execute("DROP DATABASE IF EXISTS %s WITH (FORCE)" % OWNED_DB)
        cur.execute("DROP ROLE IF EXISTS %s" % DBOWNER)
        cur.execute("CREATE ROLE %s LOGIN PASSWORD %%s" % DBOWNER, (PASSWORD,))
    conn.close()
    recreate(OWNED_DB, owner=DBOWNER)
    conn = admin_connect(OWNED_DB)
    with conn.cursor() as cur:
        cur.execute("CREATE EXTENSION oml_store")
    conn.close()
    oml.connect(user=ALICE, password=PASSWORD, dbname=OWNED_DB)
    oml.ds.save({"secret": 1}, "alice_not_shared")
    oml.disconnect()
    yield OWNED_DB
    drop_db(OWNED_DB)
    conn = admin_connect()
    with conn.cursor() as cur:
        cur.execute("DROP ROLE IF EXISTS %s" % DBOWNER)
    conn.close()


def dump_as_owner(*extra, **env_extra):
    env = dict(os.environ, PGUSER=DBOWNER, PGPASSWORD=PASSWORD, **env_extra)
    return run([pg_bin("pg_dump"), "-d", OWNED_DB, "-f", os.devnull] + list(extra), env=env)


def preloaded(admin):
    return "oml_store" in admin.sql("SHOW shared_preload_libraries")[0][0]


def test_dump_by_database_owner_fails_clearly(admin, owned_database):
    res = dump_as_owner()
    assert res.returncode != 0
    assert "permission denied for sequence" not in res.stderr
    if preloaded(admin):
        assert "cannot dump all rows of oml." in res.stderr, res.stderr
        assert "Run pg_dump as a superuser" in res.stderr
    else:
        assert "row-level security" in res.stderr, res.stderr


def test_dump_with_row_security_refused(admin, owned_database):
    """--enable-row-security would write a dump without alice's rows."""
    if not preloaded(admin):
        pytest.skip("needs shared_preload_libraries = 'oml_store'")
    res = dump_as_owner("--enable-row-security")
    assert res.returncode != 0
    assert "cannot dump all rows of oml." in res.stderr, res.stderr


def test_dump_with_row_security_refused_whatever_the_application_name(
        admin, owned_database):
    """PGAPPNAME (or application_name in the connection string) replaces
    pg_dump's application name: the dump must still be refused, not come
    out without alice's rows."""
    if not preloaded(admin):
        pytest.skip("needs shared_preload_libraries = 'oml_store'")
    res = dump_as_owner("--enable-row-security", PGAPPNAME="nightly_backup")
    assert res.returncode != 0
    assert "cannot dump all rows of oml." in res.stderr, res.stderr


@pytest.mark.parametrize("option", ["--inserts", "--column-inserts"])
def test_dump_with_inserts_and_row_security_refused(admin, owned_database,
                                                    option):
    """pg_dump --inserts reads through a cursor, not COPY."""
    if not preloaded(admin):
        pytest.skip("needs shared_preload_libraries = 'oml_store'")
    res = dump_as_owner("--enable-row-security", option)
    assert res.returncode != 0
    assert "cannot dump all rows of oml." in res.stderr, res.stderr


def test_cursor_over_what_one_may_read_still_works(admin, owned_database):
    conn = psycopg2.connect(user=CAROL, password=PASSWORD, dbname=OWNED_DB)
    try:
        with conn.cursor() as cur:
            cur.execute("DECLARE c CURSOR FOR SELECT name FROM oml.datastore")
            cur.execute("FETCH ALL FROM c")
            assert cur.fetchall() == []          # alice's row is not hers
    finally:
        conn.close()


def test_copy_of_what_one_may_read_still_works(admin, owned_database):
    conn = psycopg2.connect(user=CAROL, password=PASSWORD, dbname=OWNED_DB)
    try:
        with conn.cursor() as cur:
            import io
            buf = io.StringIO()
            cur.copy_expert("COPY oml.datastore (name) TO STDOUT", buf)
            assert buf.getvalue() == ""          # alice's row is not hers
    finally:
        conn.close()

"""Hostile sessions against the trust rule: what the server unpickles, and what
the client unpickles without restriction, must not depend on anything the
calling role (or a database owner) defines.

The attacker is oml_carol (not trusted).  Alice (a member of oml_developer)
owns a granted datastore and a global script that loads it in the server.
"""

import os
import pickle

import psycopg2
import pytest

import oml_store as oml
from conftest import ALICE, BOB, CAROL, DBNAME, PASSWORD, DEVELOPER, sql_as

EVIL = "carol_evil"

LOADER = """
def loader(ds, owner=None, objs=None):
    import oml
    return {k: repr(v) for k, v in
            oml.ds.load(ds, objs=objs, owner=owner, to_globals=False).items()}
"""

# Operators for every type the package's and the extension's statements
# compare, all answering "equal" (and functions shadowing common builtins).
HOSTILE_DDL = [
    "CREATE FUNCTION {s}.eq8(bigint, bigint) RETURNS boolean"
    " LANGUAGE sql IMMUTABLE AS 'SELECT true'",
    "CREATE OPERATOR {s}.= (LEFTARG = bigint, RIGHTARG = bigint,"
    " FUNCTION = {s}.eq8)",
    "CREATE FUNCTION {s}.eq4(integer, integer) RETURNS boolean"
    " LANGUAGE sql IMMUTABLE AS 'SELECT true'",
    "CREATE OPERATOR {s}.= (LEFTARG = integer, RIGHTARG = integer,"
    " FUNCTION = {s}.eq4)",
    "CREATE FUNCTION {s}.eqt(text, text) RETURNS boolean"
    " LANGUAGE sql IMMUTABLE AS 'SELECT true'",
    "CREATE OPERATOR {s}.= (LEFTARG = text, RIGHTARG = text,"
    " FUNCTION = {s}.eqt)",
    "CREATE FUNCTION {s}.eqo(oid, oid) RETURNS boolean"
    " LANGUAGE sql IMMUTABLE AS 'SELECT true'",
    "CREATE OPERATOR {s}.= (LEFTARG = oid, RIGHTARG = oid,"
    " FUNCTION = {s}.eqo)",
    "CREATE FUNCTION {s}.unnest(anyarray) RETURNS SETOF anyelement"
    " LANGUAGE sql AS 'SELECT NULL::text'",
    "CREATE FUNCTION {s}.current_database() RETURNS name"
    " LANGUAGE sql AS $$SELECT 'nowhere'::name$$",
]


@pytest.fixture
def hostile(admin):
    """Alice's granted datastore 'shared' and global script 'loader';
    Carol's own datastore 'bait' and her schema of hostile operators."""
    admin.sql("DROP SCHEMA IF EXISTS %s CASCADE" % EVIL)
    admin.sql("CREATE SCHEMA %s AUTHORIZATION %s" % (EVIL, CAROL))
    for ddl in HOSTILE_DDL:
        sql_as(CAROL, ddl.format(s=EVIL))
    oml.connect(user=ALICE, password=PASSWORD, dbname=DBNAME)
    oml.ds.save({"model": {"owner": "alice"}}, "shared", grantable=True)
    oml.grant("shared", user=CAROL)
    oml.script.create("loader", LOADER, is_global=True)
    oml.connect(user=CAROL, password=PASSWORD, dbname=DBNAME)
    oml.ds.save({"model": "PWNED", "zzz": "PWNED"}, "bait")
    oml.disconnect()
    yield
    admin.sql("ALTER ROLE %s RESET search_path" % CAROL)
    admin.sql("ALTER DATABASE %s RESET search_path" % DBNAME)
    admin.sql("DROP SCHEMA IF EXISTS %s CASCADE" % EVIL)


def run_loader(conn, ds="shared", owner=ALICE):
    with conn.cursor() as cur:
        cur.execute("SELECT value FROM oml.pyqEval(%s, 'JSON', 'loader')",
                    ('{"ds": "%s", "owner": "%s"}' % (ds, owner),))
        return cur.fetchone()[0]


def carol_conn(search_path=None):
    conn = psycopg2.connect(user=CAROL, password=PASSWORD, dbname=DBNAME)
    conn.autocommit = True
    if search_path:
        with conn.cursor() as cur:
            cur.execute("SET search_path = " + search_path)
    return conn


def test_own_operators_first_on_search_path(hostile):
    conn = carol_conn("%s, pg_catalog, public" % EVIL)
    try:
        with conn.cursor() as cur:          # the operators are really in use
            cur.execute("SELECT 1::bigint = 2::bigint")
            assert cur.fetchone()[0] is True
        assert run_loader(conn) == '{"model": "{\'owner\': \'alice\'}"}'
        # Her own bytes are still refused in the server, by name and writer.
        with pytest.raises(psycopg2.Error) as err:
            run_loader(conn, "bait", CAROL)
        assert err.value.pgcode == "42501"
        assert 'written by role "oml_carol"' in err.value.pgerror
    finally:
        conn.close()


def test_alter_role_set_search_path(hostile, admin):
    admin.sql("ALTER ROLE %s SET search_path = %s, pg_catalog, public"
              % (CAROL, EVIL))
    conn = carol_conn()
    try:
        with conn.cursor() as cur:
            cur.execute("SHOW search_path")
            assert cur.fetchone()[0].startswith(EVIL)
        assert run_loader(conn) == '{"model": "{\'owner\': \'alice\'}"}'
        # Named objects: the existence check cannot be fooled either.
        with conn.cursor() as cur:
            cur.execute("SELECT value FROM oml.pyqEval(%s, 'JSON', 'loader')",
                        ('{"ds": "shared", "owner": "%s", "objs": ["zzz"]}'
                         % ALICE,))
            pytest.fail("an object that does not exist was loaded")
    except psycopg2.Error as exc:
        assert exc.pgcode == "42704", exc.pgerror
    finally:
        conn.close()


def test_alter_database_search_path_against_superuser(hostile, admin):
    """A database-level search_path reaches every session, superusers'
    included: the package's statements still mean what they say."""
    admin.sql("ALTER DATABASE %s SET search_path = %s, pg_catalog, public"
              % (DBNAME, EVIL))
    conn = psycopg2.connect(dbname=DBNAME)      # the superuser of PG*
    conn.autocommit = True
    try:
        assert run_loader(conn) == '{"model": "{\'owner\': \'alice\'}"}'
        with conn.cursor() as cur:      # a superuser's own datastore
            cur.execute("SELECT value FROM oml.pyqEval(%s, 'JSON', 'loader')",
                        ('{"ds": "bait", "owner": "%s"}' % CAROL,))
            pytest.fail("a superuser's script unpickled carol's bytes")
    except psycopg2.Error as exc:
        assert exc.pgcode == "42501", exc.pgerror
    finally:
        conn.close()


def test_client_api_with_hostile_search_path(hostile):
    """The client's statements qualify their operators too: Carol's own
    session, with her operators first, loads exactly her objects."""
    conn = carol_conn("%s, pg_catalog, public" % EVIL)
    oml.connect(conn=conn)
    try:
        assert oml.ds.load("shared", owner=ALICE, to_globals=False) == {
            "model": {"owner": "alice"}}
        assert oml.ds.load("bait", to_globals=False) == {
            "model": "PWNED", "zzz": "PWNED"}
    finally:
        oml.disconnect()
        conn.close()


def test_ds_read_returns_only_trusted_bytes(hostile):
    rows = sql_as(CAROL, "SELECT object_name, seq, compression, data"
                  " FROM oml.ds_read('shared', %s)", (ALICE,))
    assert [(r[0], r[1], r[2]) for r in rows] == [("model", 0, "none")]
    assert pickle.loads(bytes(rows[0][3])) == {"owner": "alice"}
    with pytest.raises(psycopg2.Error) as err:
        sql_as(CAROL, "SELECT * FROM oml.ds_read('bait')")
    assert err.value.pgcode == "42501"
    with pytest.raises(psycopg2.Error) as err:
        sql_as(BOB, "SELECT * FROM oml.ds_read('shared', %s)", (ALICE,))
    assert err.value.pgcode == "42501"          # not granted to bob
    assert "permission denied" in err.value.pgerror


def test_writer_no_longer_trusted(hostile, admin):
    """Trust is the writer's now, not only when it wrote."""
    conn = carol_conn()
    try:
        assert "alice" in run_loader(conn)
        admin.sql("REVOKE %s FROM %s" % (DEVELOPER, ALICE))
        try:
            with pytest.raises(psycopg2.Error) as err:
                run_loader(conn)
            assert err.value.pgcode == "42501"
            [[trusted]] = admin.sql(
                "SELECT trusted FROM oml.ds_objects('shared', %s)", (ALICE,))
            assert trusted is False
        finally:
            admin.sql("GRANT %s TO %s" % (DEVELOPER, ALICE))
        assert "alice" in run_loader(conn)
    finally:
        conn.close()


class Payload:
    """Unpickles by calling os.getpid: any callable a pickle names runs."""

    def __reduce__(self):
        return (os.getpid, ())


def test_client_restricted_unpickler(connect_as, admin):
    connect_as(BOB)                         # not trusted
    oml.ds.save({"payload": Payload(), "plain": [1, 2]}, "gift",
                grantable=True)
    oml.grant("gift", user=CAROL)
    assert isinstance(oml.ds.load("gift", to_globals=False)["payload"], int)
    connect_as(CAROL)
    with pytest.raises(pickle.UnpicklingError) as err:
        oml.ds.load("gift", owner=BOB, to_globals=False)
    assert "posix.getpid" in str(err.value)
    assert oml.ds.load("gift", objs="plain", owner=BOB,
                       to_globals=False) == {"plain": [1, 2]}
    got = oml.ds.load("gift", owner=BOB, to_globals=False, trusted=True)
    assert isinstance(got["payload"], int)
    oml.ds.TRUST_ALL = True
    try:
        assert isinstance(oml.ds.load("gift", owner=BOB, to_globals=False)
                          ["payload"], int)
    finally:
        oml.ds.TRUST_ALL = False
    with pytest.raises(TypeError):
        oml.ds.load("gift", owner=BOB, trusted="yes")


def test_client_trusts_trusted_writers(connect_as):
    connect_as(ALICE)                       # trusted
    oml.ds.save({"payload": Payload()}, "gift", grantable=True)
    oml.grant("gift", user=CAROL)
    connect_as(CAROL)
    assert isinstance(oml.ds.load("gift", owner=ALICE, to_globals=False)
                      ["payload"], int)


def test_restricted_unpickler_loads_common_objects(connect_as):
    import numpy as np
    import pandas as pd
    from sklearn.linear_model import LinearRegression

    df = pd.DataFrame({"a": [1.0, 2.0], "b": ["x", "y"],
                       "t": pd.to_datetime(["2020-01-01", "2021-06-01"])})
    model = LinearRegression().fit(df[["a"]], [1.0, 2.0])
    connect_as(BOB)
    oml.ds.save({"df": df, "model": model, "arr": np.arange(3)}, "common",
                grantable=True)
    oml.grant("common", user=CAROL)
    connect_as(CAROL)
    got = oml.ds.load("common", owner=BOB, to_globals=False)
    assert got["df"].equals(df)
    assert got["model"].predict(pd.DataFrame({"a": [3.0]}))[0] == pytest.approx(3.0)
    assert list(got["arr"]) == [0, 1, 2]

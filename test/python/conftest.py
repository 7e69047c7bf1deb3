"""Fixtures of the oml_store client tests.

Connection settings come only from the standard PG* environment variables
(PGHOST, PGPORT, PGUSER, PGPASSWORD, PGDATABASE), which must name a
superuser: pg_virtualenv exports them in CI.  For a local run, export them
yourself.

The session fixture creates a fresh database ``oml_pytest`` (dropping an old
one), creates the extension there and makes sure the test roles exist with
known passwords and memberships.  Roles are shared by the whole cluster, so
existing ones are reused and put back into shape rather than dropped:

- ``oml_alice``: LOGIN, member of ``oml_developer`` (trusted);
- ``oml_bob``: LOGIN, member of the NOLOGIN group role ``oml_grp``;
- ``oml_carol``: LOGIN, member of nothing.

Every test starts with no datastores and without an oml_store connection.
"""

import contextlib

import psycopg2
import pytest

import oml_store as oml

DBNAME = "oml_pytest"
PASSWORD = "oml_pytest_secret"
ALICE, BOB, CAROL = "oml_alice", "oml_bob", "oml_carol"
GROUP = "oml_grp"
DEVELOPER = "oml_developer"
USERS = (ALICE, BOB, CAROL)


def pytest_configure(config):
    config.addinivalue_line(
        "markers",
        "large: moves objects of more than 1 GB (run with -m large)")


def admin_connect(dbname=None):
    """A superuser connection (from PG*), in autocommit mode."""
    kwargs = {"dbname": dbname} if dbname else {}
    conn = psycopg2.connect(**kwargs)
    conn.autocommit = True
    return conn


def _role_exists(cur, role):
    cur.execute("SELECT FROM pg_catalog.pg_roles WHERE rolname = %s", (role,))
    return cur.rowcount == 1


def _setup_roles(cur):
    ident = psycopg2.extensions.quote_ident
    if not _role_exists(cur, GROUP):
        cur.execute("CREATE ROLE %s NOLOGIN" % GROUP)
    for role in USERS:
        verb = "ALTER" if _role_exists(cur, role) else "CREATE"
        cur.execute("%s ROLE %s LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE"
                    " INHERIT PASSWORD %%s" % (verb, ident(role, cur)),
                    (PASSWORD,))
    # Memberships exactly as documented above; drop any others between them.
    cur.execute("SELECT r.rolname, m.rolname FROM pg_catalog.pg_auth_members a"
                " JOIN pg_catalog.pg_roles r ON r.oid = a.roleid"
                " JOIN pg_catalog.pg_roles m ON m.oid = a.member"
                " WHERE m.rolname = ANY (%s)", (list(USERS),))
    for group, member in cur.fetchall():
        cur.execute("REVOKE %s FROM %s" % (ident(group, cur),
                                           ident(member, cur)))
    cur.execute("GRANT %s TO %s" % (DEVELOPER, ALICE))
    cur.execute("GRANT %s TO %s" % (GROUP, BOB))


@pytest.fixture(scope="session")
def database():
    """Name of a fresh database with the extension and the test roles."""
    conn = admin_connect()
    with conn.cursor() as cur:
        cur.execute("DROP DATABASE IF EXISTS %s WITH (FORCE)" % DBNAME)
        cur.execute("CREATE DATABASE %s TEMPLATE template0" % DBNAME)
    conn.close()
    conn = admin_connect(DBNAME)
    with conn.cursor() as cur:
        cur.execute("CREATE EXTENSION oml_store")
        _setup_roles(cur)
    conn.close()
    yield DBNAME
    oml.disconnect()
    conn = admin_connect()
    with conn.cursor() as cur:
        cur.execute("DROP DATABASE IF EXISTS %s WITH (FORCE)" % DBNAME)
    conn.close()


class Admin:
    """Superuser access to the test database, for setup and checks."""

    def __init__(self, dbname):
        self.conn = admin_connect(dbname)
        with self.conn.cursor() as cur:
            cur.execute("SELECT current_user")
            self.user = cur.fetchone()[0]

    def sql(self, query, params=()):
        """Run one statement; its rows (or [] without a result)."""
        with self.conn.cursor() as cur:
            cur.execute(query, params)
            return cur.fetchall() if cur.description else []

    def close(self):
        self.conn.close()


@pytest.fixture(scope="session")
def admin(database):
    a = Admin(database)
    yield a
    a.close()


@pytest.fixture(autouse=True)
def clean(admin):
    """Each test starts without datastores and without a connection."""
    oml.disconnect()
    admin.sql("DELETE FROM oml.datastore")
    admin.sql("DELETE FROM oml.script")
    yield
    oml.disconnect()
    admin.sql("DELETE FROM oml.datastore")
    admin.sql("DELETE FROM oml.script")


@pytest.fixture
def connect_as(database, admin):
    """connect_as(role): make role's connection the oml_store connection.

    connect_as(None) connects as the superuser of the PG* variables.
    """
    def _connect(role):
        if role is None:
            oml.connect(dbname=database)
        else:
            oml.connect(user=role, password=PASSWORD, dbname=database)
    return _connect


@pytest.fixture
def alice(connect_as):
    connect_as(ALICE)


def sql_as(role, query, params=()):
    """Run one statement as role (in its own committed transaction)."""
    conn = psycopg2.connect(user=role, password=PASSWORD, dbname=DBNAME)
    try:
        with conn, conn.cursor() as cur:
            cur.execute(query, params)
            return cur.fetchall() if cur.description else []
    finally:
        conn.close()


class Unpicklable:
    """An object whose pickling fails with PicklingNotAllowed."""

    def __reduce__(self):
        raise PicklingNotAllowed("this object cannot be pickled")


class PicklingNotAllowed(Exception):
    pass


@contextlib.contextmanager
def no_warnings():
    """Fail if the block issues any warning."""
    import warnings
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield
    assert [str(w.message) for w in caught] == []

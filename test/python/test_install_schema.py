"""CREATE EXTENSION refuses a schema oml that another role made (issue 7
item 5): its owner could shadow the extension's functions or drop them."""

import psycopg2
import pytest

from conftest import PASSWORD, admin_connect

DB = "oml_pytest_schema"
DBO = "oml_s_dbowner"


@pytest.fixture
def owned_db(admin):
    a = admin_connect()
    with a.cursor() as cur:
        cur.execute("DROP DATABASE IF EXISTS %s WITH (FORCE)" % DB)
        cur.execute("DROP ROLE IF EXISTS %s" % DBO)
        cur.execute("CREATE ROLE %s LOGIN PASSWORD %%s" % DBO, (PASSWORD,))
        cur.execute("CREATE DATABASE %s TEMPLATE template0 OWNER %s" % (DB, DBO))
    yield DB
    with a.cursor() as cur:
        cur.execute("DROP DATABASE IF EXISTS %s WITH (FORCE)" % DB)
        cur.execute("DROP ROLE IF EXISTS %s" % DBO)
    a.close()


def as_dbowner(sql):
    conn = psycopg2.connect(user=DBO, password=PASSWORD, dbname=DB)
    conn.autocommit = True
    try:
        conn.cursor().execute(sql)
    finally:
        conn.close()


@pytest.mark.parametrize("version", ["", " VERSION '0.1.0'"])
def test_foreign_schema_refused(owned_db, version):
    as_dbowner("CREATE SCHEMA oml")
    conn = admin_connect(DB)
    try:
        cur = conn.cursor()
        with pytest.raises(psycopg2.Error) as err:
            cur.execute("CREATE EXTENSION oml_store" + version)
        assert err.value.pgcode == "55000"
        assert err.value.diag.message_primary == \
            'schema "oml" is owned by role "%s", not by the installing role "%s"' \
            % (DBO, conn.get_dsn_parameters().get("user", "postgres"))
        assert "ALTER SCHEMA oml OWNER TO" in err.value.diag.message_hint
        cur.execute("SELECT count(*) FROM pg_extension WHERE extname = 'oml_store'")
        assert cur.fetchone() == (0,)
        # Once the installer owns the schema, the extension goes in.
        cur.execute("ALTER SCHEMA oml OWNER TO CURRENT_USER")
        cur.execute("CREATE EXTENSION oml_store" + version)
    finally:
        conn.close()
    # The database owner cannot drop or fill the schema any more.
    for sql in ("DROP SCHEMA oml CASCADE",
                "CREATE FUNCTION oml.ds_open(text) RETURNS bigint LANGUAGE sql AS 'SELECT 1'"):
        with pytest.raises(psycopg2.Error) as err:
            as_dbowner(sql)
        assert err.value.pgcode == "42501"


def test_extension_makes_its_own_schema(owned_db):
    conn = admin_connect(DB)
    try:
        cur = conn.cursor()
        cur.execute("CREATE EXTENSION oml_store")
        cur.execute("SELECT nspowner = (SELECT oid FROM pg_roles WHERE rolname = current_user)"
                    " FROM pg_namespace WHERE nspname = 'oml'")
        assert cur.fetchone() == (True,)
    finally:
        conn.close()

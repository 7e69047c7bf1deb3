"""Roles like native objects: DROP ROLE, DROP OWNED, REASSIGN OWNED.

The roles made here (oml_r_*) are dropped at the end of each test; a role
that still owned rows could not be dropped, so the cleanup itself checks
that DROP OWNED clears everything.
"""

import psycopg2
import pytest

from conftest import ALICE, DBNAME, PASSWORD, admin_connect

OWNER, GRANTEE, HEIR, UNTRUSTED = "oml_r_owner", "oml_r_grantee", "oml_r_heir", "oml_r_plain"
ROLES = (OWNER, GRANTEE, HEIR, UNTRUSTED)
OTHER_DB = "oml_pytest_roles_other"


def preloaded(admin):
    return "oml_store" in admin.sql("SHOW shared_preload_libraries")[0][0]


@pytest.fixture
def roles(admin):
    for r in ROLES:
        admin.sql("DROP ROLE IF EXISTS %s" % r)
        admin.sql("CREATE ROLE %s LOGIN PASSWORD %%s" % r, (PASSWORD,))
    admin.sql("GRANT oml_developer TO %s, %s" % (OWNER, HEIR))
    yield
    for r in ROLES:
        admin.sql("SELECT oml.drop_owned(rolname) FROM pg_roles WHERE rolname = %s", (r,))
    for r in ROLES:
        admin.sql("DROP ROLE IF EXISTS %s" % r)


def run_as(role, *queries, dbname=DBNAME):
    """Run queries as role in one committed transaction."""
    conn = psycopg2.connect(user=role, password=PASSWORD, dbname=dbname)
    try:
        with conn, conn.cursor() as cur:
            for q in queries:
                if isinstance(q, tuple):
                    cur.execute(*q)
                else:
                    cur.execute(q)
    finally:
        conn.close()


def save(role, ds, objs=("x",), grantable=True):
    """Save datastore ds of role through the SQL save protocol."""
    queries = [("SELECT oml.ds_save_begin(%s, NULL, %s, true)", (ds, grantable))]
    for o in objs:
        queries.append(("SELECT oml.ds_put_chunk(oml.ds_put_object("
                        "(SELECT id FROM oml.datastore WHERE name = %s AND owner = current_user::regrole),"
                        " %s, 'bytes'), '\\x0102')", (ds, o)))
    run_as(role, *queries)


def populate():
    save(OWNER, "owned_ds", ("a", "b"))
    run_as(OWNER,
           "SELECT oml.pyqScriptCreate('owned_private', 'def f():\n    return 1')",
           "SELECT oml.pyqScriptCreate('owned_global', 'def f():\n    return 2', true)",
           "SELECT oml.pyqGrant('owned_ds', 'datastore', '%s')" % GRANTEE,
           "SELECT oml.pyqGrant('owned_private', 'pyqscript', '%s')" % GRANTEE)
    save(ALICE, "alice_ds")
    run_as(ALICE, "SELECT oml.pyqGrant('alice_ds', 'datastore', '%s')" % GRANTEE)


def expect_error(admin, sql, sqlstate):
    with pytest.raises(psycopg2.Error) as err:
        admin.sql(sql)
    assert err.value.pgcode == sqlstate, err.value
    return err.value


def entries(admin, role):
    """Our pg_shdepend entries of role in this database, as text."""
    return sorted(r[0] for r in admin.sql(
        "SELECT objid::regclass || '.' || a.attname FROM pg_shdepend d"
        " JOIN pg_attribute a ON a.attrelid = d.objid AND a.attnum = d.objsubid"
        " WHERE d.dbid = (SELECT oid FROM pg_database WHERE datname = current_database())"
        " AND d.refclassid = 'pg_authid'::regclass AND d.refobjid = %s::regrole"
        " AND d.classid = 'pg_class'::regclass", (role,)))


def test_entries_follow_rows(admin, roles):
    populate()
    assert entries(admin, OWNER) == ["oml.datastore.acl", "oml.datastore.owner",
                                     "oml.datastore_object.writer",
                                     "oml.script.acl", "oml.script.owner"]
    assert entries(admin, GRANTEE) == ["oml.datastore.acl", "oml.script.acl"]
    run_as(OWNER, "SELECT oml.pyqRevoke('owned_private', 'pyqscript', '%s')" % GRANTEE)
    assert entries(admin, GRANTEE) == ["oml.datastore.acl"]
    run_as(OWNER, "SELECT oml.ds_delete('owned_ds')",
           "SELECT oml.pyqScriptDrop('owned_private')",
           "SELECT oml.pyqScriptDrop('owned_global', true)")
    assert entries(admin, OWNER) == []
    # TRUNCATE (a superuser's) takes every entry of the table with it.
    admin.sql("TRUNCATE oml.datastore CASCADE")
    assert entries(admin, GRANTEE) == []
    assert entries(admin, ALICE) == []


def test_drop_role_refused_with_detail(admin, roles):
    if not preloaded(admin):
        pytest.skip("needs shared_preload_libraries = 'oml_store'")
    populate()
    err = expect_error(admin, "DROP ROLE %s" % OWNER, "2BP01")
    assert err.diag.message_primary == \
        'role "%s" cannot be dropped because some objects depend on it' % OWNER
    assert err.diag.message_detail.splitlines() == [
        'owner of datastore "owned_ds"',
        'owner of global script "owned_global"',
        'owner of private script "owned_private"',
    ]
    assert "DROP OWNED" in err.diag.message_hint
    # A role that only holds grants is refused too.
    err = expect_error(admin, "DROP ROLE %s" % GRANTEE, "2BP01")
    assert err.diag.message_detail.splitlines() == [
        'privileges for datastore "alice_ds" of role %s' % ALICE,
        'privileges for datastore "owned_ds" of role %s' % OWNER,
        'privileges for script "owned_private" of role %s' % OWNER,
    ]
    # A role without rows is dropped as usual.
    admin.sql("DROP ROLE %s" % UNTRUSTED)


def test_drop_role_refused_from_another_database(admin, roles):
    """PostgreSQL's own check sees our rows from any database."""
    populate()
    a = admin_connect()
    try:
        with a.cursor() as cur:
            cur.execute("DROP DATABASE IF EXISTS " + OTHER_DB)
            cur.execute("CREATE DATABASE " + OTHER_DB)
    finally:
        a.close()
    other = admin_connect(OTHER_DB)
    try:
        with other.cursor() as cur:
            for role in (OWNER, GRANTEE):
                with pytest.raises(psycopg2.Error) as err:
                    cur.execute("DROP ROLE %s" % role)
                assert err.value.pgcode == "2BP01"
                assert "in database %s" % DBNAME in err.value.diag.message_detail
            # DROP OWNED there does not touch this database's rows.
            cur.execute("DROP OWNED BY %s" % OWNER)
    finally:
        other.close()
        a = admin_connect()
        with a.cursor() as cur:
            cur.execute("DROP DATABASE " + OTHER_DB)
        a.close()
    assert admin.sql("SELECT count(*) FROM oml.datastore WHERE owner = %s::regrole",
                     (OWNER,)) == [(1,)]


def test_drop_owned(admin, roles):
    if not preloaded(admin):
        pytest.skip("needs shared_preload_libraries = 'oml_store'")
    populate()
    admin.sql("DROP OWNED BY %s, %s" % (OWNER, GRANTEE))
    assert admin.sql("SELECT owner::text, name, acl::text FROM oml.datastore") == \
        [(ALICE, "alice_ds", None)]
    assert admin.sql("SELECT count(*) FROM oml.datastore_object o"
                     " WHERE o.writer = %s::regrole", (OWNER,)) == [(0,)]
    assert admin.sql("SELECT count(*) FROM oml.script") == [(0,)]
    assert entries(admin, OWNER) == [] and entries(admin, GRANTEE) == []
    admin.sql("DROP ROLE %s, %s" % (OWNER, GRANTEE))


def test_drop_owned_needs_the_role(admin, roles):
    if not preloaded(admin):
        pytest.skip("needs shared_preload_libraries = 'oml_store'")
    populate()
    with pytest.raises(psycopg2.Error) as err:
        run_as(UNTRUSTED, "DROP OWNED BY %s" % OWNER)
    assert err.value.pgcode == "42501"
    with pytest.raises(psycopg2.Error) as err:
        run_as(UNTRUSTED, ("SELECT oml.drop_owned(%s)", (OWNER,)))
    assert err.value.pgcode == "42501"
    assert admin.sql("SELECT count(*) FROM oml.datastore WHERE owner = %s::regrole",
                     (OWNER,)) == [(1,)]


def test_reassign_owned_to_trusted_role(admin, roles):
    if not preloaded(admin):
        pytest.skip("needs shared_preload_libraries = 'oml_store'")
    populate()
    admin.sql("REASSIGN OWNED BY %s TO %s" % (OWNER, HEIR))
    assert admin.sql("SELECT owner::text, acl::text FROM oml.datastore WHERE name = 'owned_ds'") == \
        [(HEIR, "{%s=r/%s}" % (GRANTEE, HEIR))]
    assert admin.sql("SELECT DISTINCT writer::text, trusted FROM oml.datastore_object o"
                     " JOIN oml.datastore d ON d.id = o.ds_id WHERE d.name = 'owned_ds'") == \
        [(HEIR, True)]
    assert sorted(admin.sql("SELECT owner::text, name FROM oml.script")) == \
        [(HEIR, "owned_global"), (HEIR, "owned_private")]
    assert entries(admin, OWNER) == []
    # The grantee still reads what it was granted, now from the heir.
    run_as(GRANTEE, ("SELECT oml.ds_open('owned_ds', %s)", (HEIR,)),
           ("SELECT oml.script_load('owned_private', %s)", (HEIR,)))
    admin.sql("DROP ROLE %s" % OWNER)


def test_reassign_owned_to_untrusted_role_clears_trust(admin, roles):
    if not preloaded(admin):
        pytest.skip("needs shared_preload_libraries = 'oml_store'")
    save(OWNER, "owned_ds", ("a",))
    admin.sql("REASSIGN OWNED BY %s TO %s" % (OWNER, UNTRUSTED))
    assert admin.sql("SELECT writer::text, trusted FROM oml.datastore_object") == \
        [(UNTRUSTED, False)]


def test_reassign_owned_name_conflict(admin, roles):
    if not preloaded(admin):
        pytest.skip("needs shared_preload_libraries = 'oml_store'")
    save(OWNER, "same")
    save(HEIR, "same")
    err = expect_error(admin, "REASSIGN OWNED BY %s TO %s" % (OWNER, HEIR), "42710")
    assert 'datastore "same"' in err.diag.message_primary
    assert admin.sql("SELECT count(*) FROM oml.datastore WHERE owner = %s::regrole",
                     (OWNER,)) == [(1,)]


def test_without_the_hook(admin, roles):
    """As without shared_preload_libraries: DROP ROLE is still refused
    (PostgreSQL's own check), DROP OWNED leaves our rows, and the SQL
    functions do what the hook would."""
    populate()
    conn = admin_connect(DBNAME)
    try:
        cur = conn.cursor()
        cur.execute("SET oml_store.role_commands = off")
        with pytest.raises(psycopg2.Error) as err:
            cur.execute("DROP ROLE %s" % OWNER)
        assert err.value.pgcode == "2BP01"
        assert "privileges for column owner of table oml.datastore" in \
            err.value.diag.message_detail
        cur.execute("DROP OWNED BY %s" % OWNER)
        cur.execute("SELECT count(*) FROM oml.datastore WHERE owner = %s::regrole", (OWNER,))
        assert cur.fetchone() == (1,)
        cur.execute("SELECT oml.reassign_owned(%s, %s)", (OWNER, HEIR))
        cur.execute("SELECT oml.drop_owned(%s)", (GRANTEE,))
        cur.execute("DROP ROLE %s, %s" % (OWNER, GRANTEE))
    finally:
        conn.close()
    assert admin.sql("SELECT count(*) FROM oml.datastore WHERE owner = %s::regrole",
                     (HEIR,)) == [(1,)]


def test_stale_entry_cleared(admin, roles):
    """An entry left behind (e.g. by concurrent deletes) never blocks a
    role without rows for good: DROP ROLE's hook or the sync clears it."""
    save(OWNER, "gone")
    admin.sql("ALTER TABLE oml.datastore DISABLE TRIGGER datastore_roles")
    try:
        admin.sql("DELETE FROM oml.datastore WHERE owner = %s::regrole", (OWNER,))
    finally:
        admin.sql("ALTER TABLE oml.datastore ENABLE TRIGGER datastore_roles")
    assert "oml.datastore.owner" in entries(admin, OWNER)
    assert admin.sql("SELECT oml.role_dependencies_sync()")[0][0] >= 1
    assert entries(admin, OWNER) == []
    assert admin.sql("SELECT oml.role_dependencies_sync()") == [(0,)]


def test_row_naming_a_dropped_role_refused(admin, roles):
    """A row cannot name a role that does not exist (a restore of a bare
    OID fails instead of attaching the row to whoever has it)."""
    expect_error(admin, "INSERT INTO oml.datastore (id, owner, name)"
                 " VALUES (nextval('oml.datastore_id_seq'), '4000000000'::regrole, 'x')",
                 "42704")


def test_drop_extension_takes_the_entries(admin, roles):
    """DROP EXTENSION (and DROP DATABASE) remove the entries with the
    tables, so the role can be dropped afterwards."""
    a = admin_connect()
    try:
        with a.cursor() as cur:
            cur.execute("DROP DATABASE IF EXISTS " + OTHER_DB)
            cur.execute("CREATE DATABASE " + OTHER_DB)
    finally:
        a.close()
    other = admin_connect(OTHER_DB)
    try:
        with other.cursor() as cur:
            cur.execute("CREATE EXTENSION oml_store")
        run_as(OWNER, "SELECT oml.ds_save_begin('in_other')",
               "SELECT oml.pyqScriptCreate('s', 'def f():\n    return 1')", dbname=OTHER_DB)
        with other.cursor() as cur:
            cur.execute("SELECT count(*) FROM pg_shdepend WHERE refobjid = %s::regrole"
                        " AND dbid = (SELECT oid FROM pg_database WHERE datname = current_database())",
                        (OWNER,))
            assert cur.fetchone() == (2,)
            cur.execute("DROP EXTENSION oml_store")
            cur.execute("SELECT count(*) FROM pg_shdepend WHERE refobjid = %s::regrole", (OWNER,))
            assert cur.fetchone() == (0,)
            cur.execute("DROP ROLE " + OWNER)
    finally:
        other.close()
        a = admin_connect()
        with a.cursor() as cur:
            cur.execute("DROP DATABASE " + OTHER_DB)
        a.close()


def test_writer_in_another_roles_datastore(admin, roles):
    """A role that wrote an object into another role's datastore (only
    direct DML can do that) is refused too, and DROP OWNED removes the
    object."""
    if not preloaded(admin):
        pytest.skip("needs shared_preload_libraries = 'oml_store'")
    save(ALICE, "alice_ds", ("mine", "theirs"))
    admin.sql("UPDATE oml.datastore_object SET writer = %s::regrole WHERE name = 'theirs'",
              (UNTRUSTED,))
    assert entries(admin, UNTRUSTED) == ["oml.datastore_object.writer"]
    err = expect_error(admin, "DROP ROLE %s" % UNTRUSTED, "2BP01")
    assert err.diag.message_detail == \
        'writer of object "theirs" in datastore "alice_ds" of role %s' % ALICE
    admin.sql("DROP OWNED BY %s" % UNTRUSTED)
    assert admin.sql("SELECT name FROM oml.datastore_object") == [("mine",)]
    admin.sql("DROP ROLE %s" % UNTRUSTED)

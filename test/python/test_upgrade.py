"""ALTER EXTENSION oml_store UPDATE from every earlier release with data present.

The updated schema must be the one a fresh install of the default version
gives (compared over the catalogs, whatever the upgrade scripts contain),
the data must be intact, the library must refuse pyq* calls against an
older schema with a clear error, and a failed update must leave the old
release as it was.
"""

import psycopg2
import pytest

from conftest import ALICE, BOB, CAROL, PASSWORD, admin_connect

OLD = "oml_pytest_upgrade"
FRESH = "oml_pytest_fresh"

# One text line per property of the extension's objects, without OIDs.
SCHEMA_QUERY = r"""
WITH ext AS (SELECT oid FROM pg_extension WHERE extname = 'oml_store'),
nsp AS (SELECT 'oml'::regnamespace AS oid)
SELECT 'member ' || pg_describe_object(d.classid, d.objid, d.objsubid)
  FROM pg_depend d, ext
 WHERE d.refclassid = 'pg_extension'::regclass AND d.refobjid = ext.oid AND d.deptype = 'e'
UNION ALL
SELECT 'extension ' || e.extversion || ' relocatable=' || e.extrelocatable
       || ' config=' || coalesce((SELECT string_agg(c::regclass::text, ',' ORDER BY c::regclass::text)
                                   FROM unnest(e.extconfig) c), '')
       || ' conditions=' || coalesce(array_to_string(e.extcondition, ','), '')
  FROM pg_extension e WHERE e.extname = 'oml_store'
UNION ALL
SELECT 'schema acl=' || coalesce(n.nspacl::text, '') || ' owner=' || n.nspowner::regrole
  FROM pg_namespace n, nsp WHERE n.oid = nsp.oid
UNION ALL
SELECT 'function ' || p.oid::regprocedure || ' owner=' || p.proowner::regrole
       || ' acl=' || coalesce(p.proacl::text, '') || ' config=' || coalesce(p.proconfig::text, '')
       || E'\n' || CASE WHEN p.prokind IN ('f', 'p') THEN pg_get_functiondef(p.oid) ELSE p.prokind::text END
  FROM pg_proc p, nsp WHERE p.pronamespace = nsp.oid
UNION ALL
SELECT 'relation ' || c.relname || ' kind=' || c.relkind::text || ' owner=' || c.relowner::regrole
       || ' acl=' || coalesce(c.relacl::text, '') || ' options=' || coalesce(c.reloptions::text, '')
       || ' rls=' || c.relrowsecurity || '/' || c.relforcerowsecurity
       || ' persistence=' || c.relpersistence::text || ' replident=' || c.relreplident::text
  FROM pg_class c, nsp WHERE c.relnamespace = nsp.oid
UNION ALL
SELECT 'column ' || c.relname || '.' || a.attname || ' #' || a.attnum || ' '
       || format_type(a.atttypid, a.atttypmod) || ' notnull=' || a.attnotnull
       || ' storage=' || a.attstorage::text || ' dropped=' || a.attisdropped
       || ' acl=' || coalesce(a.attacl::text, '') || ' collation=' || a.attcollation::regcollation
       || ' default=' || coalesce(pg_get_expr(ad.adbin, ad.adrelid), '')
  FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
  LEFT JOIN pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum, nsp
 WHERE c.relnamespace = nsp.oid AND a.attnum > 0
UNION ALL
SELECT 'constraint ' || c.conrelid::regclass || ' ' || c.conname || ' ' || pg_get_constraintdef(c.oid)
       || ' deferrable=' || c.condeferrable
  FROM pg_constraint c, nsp WHERE c.connamespace = nsp.oid
UNION ALL
SELECT 'index ' || pg_get_indexdef(i.indexrelid)
  FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid, nsp WHERE c.relnamespace = nsp.oid
UNION ALL
SELECT 'trigger ' || pg_get_triggerdef(t.oid) || ' enabled=' || t.tgenabled::text
  FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid, nsp
 WHERE c.relnamespace = nsp.oid AND NOT t.tgisinternal
UNION ALL
SELECT 'policy ' || p.polrelid::regclass || ' ' || p.polname || ' cmd=' || p.polcmd::text
       || ' permissive=' || p.polpermissive
       || ' roles=' || (SELECT string_agg(CASE WHEN r = 0 THEN 'public' ELSE r::regrole::text END, ',' ORDER BY r)
                         FROM unnest(p.polroles) r)
       || ' using=' || coalesce(pg_get_expr(p.polqual, p.polrelid), '')
       || ' check=' || coalesce(pg_get_expr(p.polwithcheck, p.polrelid), '')
  FROM pg_policy p JOIN pg_class c ON c.oid = p.polrelid, nsp WHERE c.relnamespace = nsp.oid
UNION ALL
SELECT 'view ' || c.relname || E'\n' || pg_get_viewdef(c.oid)
  FROM pg_class c, nsp WHERE c.relnamespace = nsp.oid AND c.relkind::text = 'v'
UNION ALL
SELECT 'sequence ' || s.seqrelid::regclass || ' ' || format_type(s.seqtypid, NULL) || ' start=' || s.seqstart
       || ' inc=' || s.seqincrement || ' min=' || s.seqmin || ' max=' || s.seqmax
       || ' cache=' || s.seqcache || ' cycle=' || s.seqcycle
       || ' owned_by=' || coalesce((SELECT d.refobjid::regclass || '.' || a.attname FROM pg_depend d
                                    JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
                                    WHERE d.classid = 'pg_class'::regclass AND d.objid = s.seqrelid
                                    AND d.deptype = 'a'), '')
  FROM pg_sequence s JOIN pg_class c ON c.oid = s.seqrelid, nsp WHERE c.relnamespace = nsp.oid
UNION ALL
SELECT 'type ' || t.typname || ' ' || t.typtype::text
  FROM pg_type t, nsp WHERE t.typnamespace = nsp.oid
UNION ALL
SELECT 'init_privs ' || pg_describe_object(ip.classoid, ip.objoid, ip.objsubid) || ' ' || ip.privtype::text
       || ' ' || ip.initprivs::text
  FROM pg_init_privs ip, ext, pg_depend d
 WHERE d.refclassid = 'pg_extension'::regclass AND d.refobjid = ext.oid AND d.deptype = 'e'
   AND d.classid = ip.classoid AND d.objid = ip.objoid
UNION ALL
SELECT 'comment ' || pg_describe_object(ds.classoid, ds.objoid, ds.objsubid) || ' ' || ds.description
  FROM pg_description ds, ext, pg_depend d
 WHERE d.refclassid = 'pg_extension'::regclass AND d.refobjid = ext.oid AND d.deptype = 'e'
   AND d.classid = ds.classoid AND d.objid = ds.objoid
ORDER BY 1
"""


def new_db(name):
    a = admin_connect()
    try:
        with a.cursor() as cur:
            cur.execute("DROP DATABASE IF EXISTS %s WITH (FORCE)" % name)
            cur.execute("CREATE DATABASE %s TEMPLATE template0" % name)
    finally:
        a.close()
    return admin_connect(name)


def drop_db(name):
    a = admin_connect()
    try:
        with a.cursor() as cur:
            cur.execute("DROP DATABASE IF EXISTS %s WITH (FORCE)" % name)
    finally:
        a.close()


def schema_of(conn):
    with conn.cursor() as cur:
        cur.execute(SCHEMA_QUERY)
        return [r[0] for r in cur.fetchall()]


def data_of(conn):
    with conn.cursor() as cur:
        out = {}
        cur.execute("SELECT id, owner::text, name, description, grantable, acl::text, created"
                    " FROM oml.datastore ORDER BY id")
        out["datastore"] = cur.fetchall()
        cur.execute("SELECT o.id, o.ds_id, o.name, o.class, o.size, o.length, o.nrow, o.ncol,"
                    " o.nchunks, o.compression, o.writer::text, o.trusted, o.created,"
                    " (SELECT string_agg(c.seq || ':' || md5(c.data), ',' ORDER BY c.seq)"
                    "  FROM oml.datastore_chunk c WHERE c.obj_id = o.id)"
                    " FROM oml.datastore_object o ORDER BY o.id")
        out["objects"] = cur.fetchall()
        cur.execute("SELECT id, owner::text, name, is_global, source, description, acl::text, created"
                    " FROM oml.script ORDER BY id")
        out["scripts"] = cur.fetchall()
        cur.execute("SELECT last_value FROM oml.datastore_id_seq UNION ALL"
                    " SELECT last_value FROM oml.datastore_object_id_seq UNION ALL"
                    " SELECT last_value FROM oml.script_id_seq")
        out["sequences"] = cur.fetchall()
        return out


def as_role(dbname, role, *queries):
    conn = psycopg2.connect(user=role, password=PASSWORD, dbname=dbname)
    try:
        with conn, conn.cursor() as cur:
            for q in queries:
                cur.execute(*q) if isinstance(q, tuple) else cur.execute(q)
    finally:
        conn.close()


def save_010(dbname, role, ds):
    """Save a datastore through the SQL save protocol (as in 0.1.0)."""
    conn = psycopg2.connect(user=role, password=PASSWORD, dbname=dbname)
    try:
        with conn, conn.cursor() as cur:
            cur.execute("SELECT oml.ds_save_begin(%s, 'from 0.1.0', true)", (ds,))
            ds_id = cur.fetchone()[0]
            cur.execute("SELECT oml.ds_put_object(%s, 'obj', 'bytes', 2, 3, 4)", (ds_id,))
            obj_id = cur.fetchone()[0]
            cur.execute("SELECT oml.ds_put_chunk(%s, '\\x0102')", (obj_id,))
            cur.execute("SELECT oml.ds_put_chunk(%s, '\\x03')", (obj_id,))
            cur.execute("SELECT oml.ds_put_object(%s, 'empty', 'NoneType')", (ds_id,))
    finally:
        conn.close()


def populate_010(dbname):
    """Data made with the 0.1.0 schema, through its SQL functions."""
    save_010(dbname, ALICE, "alice_ds")
    save_010(dbname, CAROL, "carol_ds")
    as_role(dbname, ALICE,
            "SELECT oml.pyqGrant('alice_ds', 'datastore', '%s')" % BOB,
            "SELECT oml.pyqScriptCreate('private_s', 'def f(x=1):\n    return x')",
            "SELECT oml.pyqScriptCreate('global_s', 'def g():\n    return 2', true)",
            "SELECT oml.pyqGrant('private_s', 'pyqscript', '%s')" % CAROL)
    as_role(dbname, CAROL, "SELECT oml.pyqGrant('carol_ds', 'datastore', NULL)")


# Every earlier release; the default version is the newest.
OLD_RELEASES = ["0.1.0", "0.2.0"]
NEW_RELEASE = "0.3.0"


@pytest.fixture(params=OLD_RELEASES)
def release(request):
    """The earlier release a test installs before updating."""
    return request.param


@pytest.fixture
def dbs(admin, release):
    old = new_db(OLD)
    old.cursor().execute("CREATE EXTENSION oml_store VERSION '%s'" % release)
    yield old
    old.close()
    drop_db(OLD)
    drop_db(FRESH)


def test_update_with_data(dbs, release):
    old = dbs
    populate_010(OLD)
    before = data_of(old)
    assert len(before["objects"]) == 4 and len(before["scripts"]) == 2

    # The new library refuses pyq* calls against the old schema.
    session = psycopg2.connect(user=ALICE, password=PASSWORD, dbname=OLD)
    session.autocommit = True
    scur = session.cursor()
    with pytest.raises(psycopg2.Error) as err:
        scur.execute("SELECT value FROM oml.pyqEval('{}', 'JSON', 'global_s')")
    assert err.value.pgcode == "55000"
    assert release in err.value.diag.message_primary
    assert err.value.diag.message_hint == "Run ALTER EXTENSION oml_store UPDATE in this database."

    with old.cursor() as cur:
        cur.execute("ALTER EXTENSION oml_store UPDATE")
        cur.execute("SELECT extversion FROM pg_extension WHERE extname = 'oml_store'")
        assert cur.fetchone() == (NEW_RELEASE,)
    assert data_of(old) == before

    # The same session works once the schema is updated.
    scur.execute("SELECT value FROM oml.pyqEval('{}', 'JSON', 'global_s')")
    assert scur.fetchall() == [("2",)]
    # Scripts of earlier releases are not sandboxed: they run in process.
    with old.cursor() as cur:
        cur.execute("SELECT name, sandbox FROM oml.script ORDER BY name")
        assert cur.fetchall() == [("global_s", False), ("private_s", False)]
    scur.execute("SELECT * FROM oml.ds_describe('alice_ds') ORDER BY 1")
    assert scur.fetchall() == [("empty", "NoneType", 0, 1, 1, 1), ("obj", "bytes", 3, 2, 3, 4)]
    session.close()

    # The rows that were there got their role dependencies.
    with old.cursor() as cur:
        cur.execute("SELECT DISTINCT refobjid::regrole::text FROM pg_shdepend"
                    " WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())"
                    " AND classid = 'pg_class'::regclass ORDER BY 1")
        assert [r[0] for r in cur.fetchall()] == sorted([ALICE, BOB, CAROL])

    fresh = new_db(FRESH)
    try:
        fresh.cursor().execute("CREATE EXTENSION oml_store")
        fresh_schema = schema_of(fresh)
    finally:
        fresh.close()
    updated_schema = schema_of(old)
    assert len(updated_schema) > 150
    assert updated_schema == fresh_schema
    assert any(line.startswith("extension " + NEW_RELEASE) for line in updated_schema)


def test_failed_update_leaves_old_release_intact(dbs, release):
    old = dbs
    populate_010(OLD)
    with old.cursor() as cur:
        # Fail at the very end of ALTER EXTENSION, after the whole script ran.
        cur.execute("CREATE FUNCTION public.refuse_update() RETURNS event_trigger"
                    " LANGUAGE plpgsql AS $$BEGIN RAISE EXCEPTION 'update refused'"
                    " USING ERRCODE = 'P0001'; END$$")
        cur.execute("CREATE EVENT TRIGGER refuse_update ON ddl_command_end"
                    " WHEN TAG IN ('ALTER EXTENSION') EXECUTE FUNCTION public.refuse_update()")
    schema_before = schema_of(old)
    data_before = data_of(old)
    with old.cursor() as cur:
        with pytest.raises(psycopg2.Error) as err:
            cur.execute("ALTER EXTENSION oml_store UPDATE")
        assert err.value.pgcode == "P0001"
        cur.execute("SELECT extversion FROM pg_extension WHERE extname = 'oml_store'")
        assert cur.fetchone() == (release,)
    assert schema_of(old) == schema_before
    assert data_of(old) == data_before
    # Still usable at the old release, and updatable once the obstacle is gone.
    as_role(OLD, ALICE, "SELECT oml.ds_save_begin('after_failed_update')")
    with old.cursor() as cur:
        cur.execute("DROP EVENT TRIGGER refuse_update")
        cur.execute("ALTER EXTENSION oml_store UPDATE")
        cur.execute("SELECT count(*) FROM oml.datastore")
        assert cur.fetchone() == (3,)


def test_update_reports_rows_of_dropped_roles(dbs, release):
    """Under 0.1.0 a role could be dropped under its rows; the update keeps
    such rows, records nothing for them and says so."""
    old = dbs
    if release != "0.1.0":
        pytest.skip("from 0.2.0 on, DROP ROLE is refused while rows name the role")
    with old.cursor() as cur:
        cur.execute("DROP ROLE IF EXISTS oml_u_gone")
        cur.execute("CREATE ROLE oml_u_gone LOGIN PASSWORD %s", (PASSWORD,))
    save_010(OLD, "oml_u_gone", "orphan")
    with old.cursor() as cur:
        cur.execute("SET oml_store.role_commands = off")     # as the 0.1.0 library
        cur.execute("DROP ROLE oml_u_gone")
        cur.execute("RESET oml_store.role_commands")
        old.notices.clear()
        cur.execute("ALTER EXTENSION oml_store UPDATE")
        assert any("name roles that no longer exist" in n for n in old.notices), old.notices
        cur.execute("SELECT name FROM oml.datastore WHERE owner::text ~ '^[0-9]+$'")
        assert cur.fetchall() == [("orphan",)]
        # Deleting them is the way out.
        cur.execute("DELETE FROM oml.datastore WHERE name = 'orphan'")

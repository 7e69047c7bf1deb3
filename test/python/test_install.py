"""Installing the extension: several databases of one cluster."""

import psycopg2

from conftest import admin_connect

OTHER = "oml_pytest_other"


def _autocommit(dbname):
    conn = admin_connect(dbname)
    conn.autocommit = True
    return conn


def test_two_databases_of_one_cluster(database):
    admin = _autocommit(None)
    try:
        cur = admin.cursor()
        cur.execute("DROP DATABASE IF EXISTS " + OTHER)
        cur.execute("CREATE DATABASE " + OTHER)
        other = _autocommit(OTHER)
        try:
            ocur = other.cursor()
            # The role oml_developer already exists (made by the first
            # installation); the second one finds and keeps it.
            ocur.execute("CREATE EXTENSION oml_store")
            ocur.execute("SELECT rolcanlogin FROM pg_roles"
                         " WHERE rolname = 'oml_developer'")
            assert ocur.fetchall() == [(False,)]
            ocur.execute("SELECT oml.ds_save_begin('only_here')")
            ocur.execute("SELECT dsname FROM oml.user_pyq_datastores")
            assert ocur.fetchall() == [("only_here",)]
            # Each database has its own catalog.
            first = _autocommit(database)
            try:
                fcur = first.cursor()
                fcur.execute("SELECT count(*) FROM oml.datastore"
                             " WHERE name = 'only_here'")
                assert fcur.fetchone() == (0,)
            finally:
                first.close()
            # Dropping the extension keeps the shared role for the others.
            ocur.execute("DROP EXTENSION oml_store")
            ocur.execute("SELECT count(*) FROM pg_roles"
                         " WHERE rolname = 'oml_developer'")
            assert ocur.fetchone() == (1,)
        finally:
            other.close()
        cur.execute("DROP DATABASE " + OTHER)
    finally:
        admin.close()


def test_extension_requires_its_schema_free(database):
    """CREATE EXTENSION in a database whose schema oml is taken fails cleanly."""
    admin = _autocommit(None)
    try:
        cur = admin.cursor()
        cur.execute("DROP DATABASE IF EXISTS " + OTHER)
        cur.execute("CREATE DATABASE " + OTHER)
        other = _autocommit(OTHER)
        try:
            ocur = other.cursor()
            ocur.execute("CREATE SCHEMA oml")
            ocur.execute("CREATE TABLE oml.datastore (x int)")
            try:
                ocur.execute("CREATE EXTENSION oml_store")
            except psycopg2.Error as err:
                assert err.pgcode == "42P07"        # relation already exists
            else:
                raise AssertionError("CREATE EXTENSION should have failed")
        finally:
            other.close()
        cur.execute("DROP DATABASE " + OTHER)
    finally:
        admin.close()

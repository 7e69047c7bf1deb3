"""oml.connect, oml.disconnect, oml.isconnected, errors and transactions."""

import psycopg2
import psycopg2.extensions as ext
import pytest

import oml_store as oml
from oml_store import _backend
from conftest import (ALICE, BOB, PASSWORD, PicklingNotAllowed, Unpicklable,
                      admin_connect)


def current_user():
    return _backend.get_backend().query("SELECT current_user")[0][0]


def test_not_connected():
    assert oml.isconnected() is False
    assert oml.isconnected(check_status=True) is False
    with pytest.raises(oml.OMLError) as err:
        oml.ds.dir()
    assert err.value.sqlstate == "08003"
    assert "not connected" in str(err.value)
    assert "oml.connect" in str(err.value)


def test_connect_keywords_and_disconnect(database):
    assert oml.connect(user=ALICE, password=PASSWORD, dbname=database) is None
    assert oml.isconnected() is True
    assert oml.isconnected(check_status=True) is True
    assert current_user() == ALICE
    conn = _backend.get_backend().connection
    oml.disconnect()
    assert conn.closed
    assert oml.isconnected() is False
    oml.disconnect()                    # not connected: nothing happens
    assert oml.isconnected() is False


def test_connect_dsn_string(database):
    oml.connect("dbname=%s user=%s password=%s" % (database, BOB, PASSWORD))
    assert current_user() == BOB


def test_connect_defaults_from_environment(database, admin, monkeypatch):
    monkeypatch.setenv("PGDATABASE", database)
    oml.connect()
    assert current_user() == admin.user


def test_isconnected_check_status_sees_a_dead_connection(connect_as):
    connect_as(ALICE)
    _backend.get_backend().connection.close()
    assert oml.isconnected() is False
    assert oml.isconnected(check_status=True) is False
    with pytest.raises(oml.OMLError) as err:
        oml.ds.dir()
    assert err.value.sqlstate == "08003"


def test_isconnected_check_status_type():
    with pytest.raises(TypeError):
        oml.isconnected(check_status="yes")


def test_connect_again_replaces_and_closes(connect_as):
    connect_as(ALICE)
    first = _backend.get_backend().connection
    connect_as(BOB)
    assert first.closed
    assert current_user() == BOB


def test_failed_connect_keeps_previous(connect_as, database):
    connect_as(ALICE)
    with pytest.raises(oml.OMLError) as err:
        oml.connect(user=BOB, password="wrong", dbname=database)
    assert "password authentication failed" in str(err.value)
    assert oml.isconnected(check_status=True)
    assert current_user() == ALICE


def test_connect_to_database_without_extension(admin):
    conn = admin_connect()
    with conn.cursor() as cur:
        cur.execute("DROP DATABASE IF EXISTS oml_pytest_noext WITH (FORCE)")
        cur.execute("CREATE DATABASE oml_pytest_noext TEMPLATE template0")
    try:
        with pytest.raises(oml.OMLError) as err:
            oml.connect(dbname="oml_pytest_noext")
        assert 'extension "oml_store" is not installed' in str(err.value)
        assert "CREATE EXTENSION oml_store" in err.value.hint
        assert not oml.isconnected()
    finally:
        with conn.cursor() as cur:
            cur.execute("DROP DATABASE oml_pytest_noext WITH (FORCE)")
        conn.close()


# -- conn= an existing psycopg2 connection ------------------------------------

@pytest.fixture
def user_conn(database):
    conn = psycopg2.connect(user=ALICE, password=PASSWORD, dbname=database)
    yield conn
    conn.close()


def test_conn_is_used_and_not_closed(user_conn):
    oml.connect(conn=user_conn)
    oml.ds.save({"x": 1}, "ds")
    assert user_conn.info.transaction_status == ext.TRANSACTION_STATUS_IDLE
    oml.disconnect()
    assert not user_conn.closed
    with user_conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM oml.ds_objects('ds')")
        assert cur.fetchone()[0] == 1


def test_conn_argument_errors(user_conn, database):
    with pytest.raises(TypeError):
        oml.connect(conn=object())
    with pytest.raises(TypeError):
        oml.connect(dbname=database, conn=user_conn)
    user_conn.close()
    with pytest.raises(oml.OMLError):
        oml.connect(conn=user_conn)
    assert not oml.isconnected()


def test_conn_in_user_transaction_commits_with_it(user_conn, admin):
    oml.connect(conn=user_conn)
    with user_conn.cursor() as cur:
        cur.execute("SELECT 1")         # the user's transaction is open
    oml.ds.save({"x": 1}, "ds")
    # Still the user's open transaction; nobody else sees the datastore yet.
    assert user_conn.info.transaction_status == ext.TRANSACTION_STATUS_INTRANS
    assert admin.sql("SELECT count(*) FROM oml.datastore")[0][0] == 0
    assert oml.ds.load("ds", to_globals=False) == {"x": 1}
    user_conn.commit()
    assert admin.sql("SELECT name FROM oml.datastore") == [("ds",)]


def test_conn_in_user_transaction_rolls_back_with_it(user_conn, admin):
    oml.connect(conn=user_conn)
    with user_conn.cursor() as cur:
        cur.execute("SELECT 1")
    oml.ds.save({"x": 1}, "ds")
    user_conn.rollback()
    assert admin.sql("SELECT count(*) FROM oml.datastore")[0][0] == 0


def test_conn_in_user_transaction_error_keeps_it_usable(user_conn):
    """A failing call inside the user's transaction undoes only itself."""
    oml.connect(conn=user_conn)
    with user_conn.cursor() as cur:
        cur.execute("CREATE TEMP TABLE t (i int)")
        cur.execute("INSERT INTO t VALUES (1)")
    oml.ds.save({"x": 1}, "ds")
    with pytest.raises(oml.OMLError) as err:
        oml.ds.save({"y": 2}, "ds")            # exists
    assert err.value.sqlstate == "42710"
    assert user_conn.info.transaction_status == ext.TRANSACTION_STATUS_INTRANS
    with user_conn.cursor() as cur:
        cur.execute("SELECT i FROM t")
        assert cur.fetchall() == [(1,)]
    user_conn.commit()
    assert oml.ds.load("ds", to_globals=False) == {"x": 1}


def test_conn_in_aborted_transaction(user_conn):
    oml.connect(conn=user_conn)
    with user_conn.cursor() as cur:
        with pytest.raises(psycopg2.Error):
            cur.execute("SELECT 1/0")
    with pytest.raises(oml.OMLError) as err:
        oml.ds.dir()
    assert err.value.sqlstate == "25P02"
    user_conn.rollback()
    assert len(oml.ds.dir()) == 0


def test_conn_autocommit(user_conn, admin):
    user_conn.autocommit = True
    oml.connect(conn=user_conn)
    oml.ds.save({"x": 1, "y": 2}, "ds")
    assert admin.sql("SELECT count(*) FROM oml.datastore_object")[0][0] == 2
    # Still one transaction per call: a failure half-way leaves nothing.
    with pytest.raises(oml.OMLError):
        oml.ds.save({"a": 1, "": 2}, "ds2")
    assert admin.sql("SELECT name FROM oml.datastore") == [("ds",)]
    assert user_conn.info.transaction_status == ext.TRANSACTION_STATUS_IDLE
    assert oml.ds.load("ds", to_globals=False) == {"x": 1, "y": 2}


# -- errors and transactions --------------------------------------------------

def test_server_error_fields(alice):
    oml.ds.save({"x": 1}, "ds")
    with pytest.raises(oml.OMLError) as err:
        oml.ds.save({"x": 1}, "ds")
    e = err.value
    assert isinstance(e, Exception)
    assert e.sqlstate == "42710"
    assert e.message == 'datastore "ds" already exists'
    assert e.hint and "overwrite" in e.hint
    assert str(e).startswith('datastore "ds" already exists\nHINT:  ')


def test_connection_idle_after_calls_and_errors(alice):
    conn = _backend.get_backend().connection
    oml.ds.save({"x": 1}, "ds")
    assert conn.info.transaction_status == ext.TRANSACTION_STATUS_IDLE
    oml.ds.dir()
    assert conn.info.transaction_status == ext.TRANSACTION_STATUS_IDLE
    with pytest.raises(oml.OMLError):
        oml.ds.load("nope")
    assert conn.info.transaction_status == ext.TRANSACTION_STATUS_IDLE
    with pytest.raises(PicklingNotAllowed):
        oml.ds.save({"x": Unpicklable()}, "ds2")
    assert conn.info.transaction_status == ext.TRANSACTION_STATUS_IDLE
    assert list(oml.ds.dir()["datastore_name"]) == ["ds"]


def test_connection_notices_left_alone(alice):
    """Server warnings become Python warnings, not entries in conn.notices."""
    conn = _backend.get_backend().connection
    oml.ds.save({"x": 1}, "ds")
    with pytest.warns(UserWarning):
        oml.ds.delete("ds", objs=["nope"])
    assert conn.notices == []


def test_package_surface():
    for name in ("connect", "disconnect", "isconnected", "ds", "grant",
                 "revoke", "OMLError"):
        assert hasattr(oml, name)
    for name in ("save", "load", "dir", "describe", "delete"):
        assert callable(getattr(oml.ds, name))
    assert oml.ds.CHUNK_SIZE == 8 * 1024 * 1024
    assert issubclass(oml.OMLError, Exception)


def test_terminated_session(connect_as, admin):
    connect_as(ALICE)
    pid = _backend.get_backend().connection.info.backend_pid
    assert admin.sql("SELECT pg_terminate_backend(%s)", (pid,)) == [(True,)]
    with pytest.raises(oml.OMLError) as err:
        oml.ds.dir()
    assert "terminat" in str(err.value) or "closed" in str(err.value)
    assert oml.isconnected() is False
    connect_as(ALICE)                   # reconnecting just works
    assert len(oml.ds.dir()) == 0

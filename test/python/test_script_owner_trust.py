"""A script that runs in process needs a trusted owner on every run, not
only when it was created: leaving oml_developer withdraws the scripts a
role wrote, as it withdraws the datastore objects it wrote."""

import psycopg2
import pytest

from conftest import CAROL, DBNAME, PASSWORD, sql_as

DEV = "oml_u_former_dev"


@pytest.fixture
def dev(admin):
    if admin.sql("SELECT 1 FROM pg_roles WHERE rolname = %s", (DEV,)):
        admin.sql("DELETE FROM oml.script")
        admin.sql("DROP OWNED BY %s" % DEV)
        admin.sql("DROP ROLE %s" % DEV)
    admin.sql("CREATE ROLE %s LOGIN PASSWORD %%s" % DEV, (PASSWORD,))
    admin.sql("GRANT oml_developer TO %s" % DEV)
    admin.sql("GRANT CONNECT ON DATABASE %s TO %s" % (DBNAME, DEV))
    yield DEV
    admin.sql("DELETE FROM oml.script")
    admin.sql("DROP OWNED BY %s" % DEV)
    admin.sql("DROP ROLE IF EXISTS %s" % DEV)


def run(role, name, owner=None):
    return sql_as(role, "SELECT value FROM oml.pyqEval('{}', 'JSON', %s, %s)",
                  (name, owner))


def test_scripts_of_a_role_that_left_oml_developer_stop_running(admin, dev):
    sql_as(dev, "SELECT oml.pyqScriptCreate('mine', 'def f():\n    return 1')")
    sql_as(dev, "SELECT oml.pyqScriptCreate('shared', 'def f():\n    return 2', true)")
    sql_as(dev, "SELECT oml.pyqGrant('mine', 'pyqscript', %s)", (CAROL,))
    assert run(CAROL, "mine", dev) == [("1",)]
    assert run(CAROL, "shared") == [("2",)]

    admin.sql("REVOKE oml_developer FROM %s" % dev)
    for role, name, owner in ((CAROL, "mine", dev), (CAROL, "shared", None),
                              (dev, "mine", None)):
        with pytest.raises(psycopg2.Error) as err:
            run(role, name, owner)
        assert err.value.pgcode == "42501"
        assert err.value.diag.message_primary == (
            'script "%s" cannot run inside the server: its owner "%s" is no'
            ' longer trusted' % (name, dev))
        assert "create it as a sandboxed script" in err.value.diag.message_hint

    # Trusted again: the same scripts run again.
    admin.sql("GRANT oml_developer TO %s" % dev)
    assert run(CAROL, "mine", dev) == [("1",)]
    assert run(CAROL, "shared") == [("2",)]

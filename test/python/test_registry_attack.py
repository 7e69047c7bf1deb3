"""Attacks on the registry by a role with only an execute grant (review
of issue 11): what the role learns of a script it may run but not read.
"""

import psycopg2
import pytest

from conftest import ALICE, CAROL, DBNAME, PASSWORD
from test_runs import runlog, wait_runs    # noqa: F401 (runlog: a fixture)
from test_sandbox import MISSING

SECRET = ("def f(x=1):\n"
          "    y = x * 100\n"
          "    return 's3cr3t-in-the-source'[y]\n")


def session(role):
    conn = psycopg2.connect(user=role, password=PASSWORD, dbname=DBNAME)
    conn.autocommit = True
    return conn


def error_of(cur, query, params=()):
    with pytest.raises(psycopg2.Error) as err:
        cur.execute(query, params)
    return err.value


@pytest.mark.skipif(MISSING is not None, reason="kernel lacks %s" % MISSING)
def test_sandboxed_traceback_shows_execute_only_caller_no_source(admin):
    """A sandboxed script compiles in its child: there too an execute-only
    caller's traceback has the script's line numbers, not its lines; a
    reader's still has them; and a caller whose read grant becomes an
    execute grant gets a child compiled anew."""
    a = session(ALICE)
    c = session(CAROL)
    try:
        with a.cursor() as cur:
            cur.execute("SELECT oml.pyqScriptCreate('sbx_secret', %s,"
                        " v_sandbox => true)", (SECRET,))
            cur.execute("SELECT oml.pyqGrant('sbx_secret', 'pyqscript',"
                        " %s, 'execute')", (CAROL,))
        with c.cursor() as cur:
            e = error_of(cur, "SELECT * FROM oml.pyqEval(NULL, 'JSON',"
                         " 'sbx_secret', %s)", (ALICE,))
        text = str(e) + (e.diag.message_detail or "") + (e.diag.context or "")
        assert "IndexError" in text
        assert "line 3" in text
        assert "s3cr3t" not in text, text
        # a reader sees the line
        with a.cursor() as cur:
            e = error_of(cur, "SELECT * FROM oml.pyqEval(NULL, 'JSON',"
                         " 'sbx_secret')")
        text = str(e) + (e.diag.message_detail or "") + (e.diag.context or "")
        assert "s3cr3t" in text
        # read, then execute only, in one session of the grantee
        with a.cursor() as cur:
            cur.execute("SELECT oml.pyqGrant('sbx_secret', 'pyqscript', %s)",
                        (CAROL,))
        with c.cursor() as cur:
            e = error_of(cur, "SELECT * FROM oml.pyqEval(NULL, 'JSON',"
                         " 'sbx_secret', %s)", (ALICE,))
            assert "s3cr3t" in str(e) + (e.diag.context or "")
        with a.cursor() as cur:
            cur.execute("SELECT oml.pyqRevoke('sbx_secret', 'pyqscript', %s)",
                        (CAROL,))
            cur.execute("SELECT oml.pyqGrant('sbx_secret', 'pyqscript',"
                        " %s, 'execute')", (CAROL,))
        with c.cursor() as cur:
            e = error_of(cur, "SELECT * FROM oml.pyqEval(NULL, 'JSON',"
                         " 'sbx_secret', %s)", (ALICE,))
        text = str(e) + (e.diag.message_detail or "") + (e.diag.context or "")
        assert "line 3" in text
        assert "s3cr3t" not in text, text
    finally:
        a.close()
        c.close()


def test_traceback_lines_are_of_the_script_that_ran(admin):
    """Scripts of two owners may share a name, and so the file name their
    code is compiled under; the traceback of one must show its own lines,
    never those of the other (which the caller may not read), also when
    the other was compiled later in the same backend."""
    from conftest import admin_connect
    a = session(ALICE)
    s = admin_connect(DBNAME)
    s.autocommit = True
    try:
        with a.cursor() as cur:
            cur.execute("SELECT oml.pyqScriptCreate('dup', %s)", (SECRET,))
        with s.cursor() as cur:
            cur.execute("SELECT current_user")
            me = cur.fetchone()[0]
            cur.execute("SELECT oml.pyqScriptCreate('dup', %s)",
                        ("def g(x=1):\n    y = x * 100\n"
                         "    return 'public-text'[y]\n",))
            cur.execute("SELECT oml.pyqGrant('dup', 'pyqscript', %s)",
                        (CAROL,))
            for role, owner in ((CAROL, me), (ALICE, ALICE), (CAROL, me)):
                cur.execute("SET ROLE %s" % role)
                e = error_of(cur, "SELECT * FROM oml.pyqEval(NULL, 'JSON',"
                             " 'dup', %s)", (owner,))
                cur.execute("RESET ROLE")
                text = str(e) + (e.diag.context or "")
                if role == CAROL:
                    assert "public-text" in text, text
                    assert "s3cr3t" not in text, text
                else:
                    assert "s3cr3t" in text, text
    finally:
        a.close()
        s.close()


def test_run_log_names_the_datastore_version_loaded(admin, runlog, alice):
    """The run log's datastore_objects carry the version each object was
    read from: a kept version by number or alias, the current one of a
    versioned datastore by its number; null only for a datastore without
    versions."""
    import oml_store as oml
    oml.ds.save({"w": 1}, "rl_plain")
    oml.ds.save({"w": 1}, "rl_ver", overwrite=True, versioned=True)
    oml.ds.save({"w": 2}, "rl_ver", overwrite=True)
    oml.script.create("rl_load", """
def f():
    import oml
    a = oml.ds.load('rl_ver', version=1, to_globals=False)['w']
    b = oml.ds.load('rl_ver', to_globals=False)['w']
    c = oml.ds.load('rl_plain', to_globals=False)['w']
    return [a, b, c]
""")
    assert oml.do_eval("rl_load") == [1, 2, 1]
    rows = wait_runs(admin, "script_name = 'rl_load'", 1)
    assert len(rows) == 1
    got = sorted((o["datastore"], o["version"]) for o in rows[0][4])
    assert got == [("rl_plain", None), ("rl_ver", 1), ("rl_ver", 2)]

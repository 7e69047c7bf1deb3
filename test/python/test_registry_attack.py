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


class StealModel:
    """Unpickled, becomes the object of a datastore the unpickling code may
    load: in a sandboxed script of another owner, one granted to the
    caller for usage only."""

    def __reduce__(self):
        return (eval, ("__import__('oml').ds.load('sbx_model', owner='%s',"
                       " to_globals=False)['w']" % ALICE,))


SCORE_CALLERS_DATA = """
def f(who, steps):
    import oml
    out = []
    for step in steps:
        if step == 'input':
            out.append(str(oml.ds.load('sbx_input', owner=who,
                                       to_globals=False)['x']))
        else:
            out.append(len(oml.ds.load('sbx_model', owner='%s',
                                       to_globals=False)['w']))
    return out
""" % ALICE


@pytest.mark.skipif(MISSING is not None, reason="kernel lacks %s" % MISSING)
def test_sandbox_usage_grant_and_callers_pickles_never_meet(admin):
    """A usage grantee must not get the bytes through a sandboxed script
    that unpickles a datastore the grantee wrote: that object's code runs
    in the script's sandbox, whose loads honour the grant.  So one sandbox
    never has both, in either order, also across calls of one call site;
    each alone works."""
    import json
    import oml_store as oml
    oml.connect(user=ALICE, password=PASSWORD, dbname=DBNAME)
    oml.ds.save({"w": "MODEL-SECRET"}, "sbx_model", grantable=True,
                overwrite=True)
    a = session(ALICE)
    with a.cursor() as cur:
        cur.execute("SELECT oml.pyqScriptCreate('sbx_score', %s,"
                    " v_sandbox => true)", (SCORE_CALLERS_DATA,))
    a.close()
    oml.grant("sbx_score", "pyqscript", CAROL, "execute")
    oml.grant("sbx_model", "datastore", CAROL, "usage")
    oml.connect(user=CAROL, password=PASSWORD, dbname=DBNAME)
    oml.ds.save({"x": StealModel()}, "sbx_input", overwrite=True)
    c = session(CAROL)
    query = "SELECT value FROM oml.pyqEval(%s, 'JSON', 'sbx_score', %s)"
    try:
        with c.cursor() as cur:
            cur.execute(query, (json.dumps({"who": CAROL, "steps": ["model"]}),
                                ALICE))
            assert json.loads(cur.fetchone()[0]) == [12]
            for steps in (["input", "model"], ["model", "input"]):
                e = error_of(cur, query,
                             (json.dumps({"who": CAROL, "steps": steps}), ALICE))
                assert e.pgcode == "42501", str(e)
                assert "MODEL-SECRET" not in str(e)
        # one call site, two calls: the child of the first is kept
        with c.cursor() as cur:
            e = error_of(cur, "SELECT (oml.pyqEval(v.p, 'JSON', 'sbx_score', %s)).value"
                         " FROM (VALUES (1, %s), (2, %s)) v(n, p)",
                         (ALICE, json.dumps({"who": CAROL, "steps": ["model"]}),
                          json.dumps({"who": CAROL, "steps": ["input"]})))
            assert e.pgcode == "42501", str(e)
    finally:
        c.close()


def test_run_log_hides_input_queries_of_scripts_run_execute_only(admin, runlog):
    """A call nested in a script logs the query the script passed as its
    inp_nam: text of that script's source, so the row an execute-only
    caller reads has none; a reader's row has it."""
    from test_runs import create
    create("rl_inner", "def f(df):\n    return len(df)\n", is_global=True)
    create("rl_outer", """
def f():
    import oml
    q = "SELECT 'HIDDEN-QUERY' AS a"
    return int(oml.sql("SELECT value FROM oml.pyqTableEval(%s, NULL,"
                       " 'JSON', 'rl_inner')", [q]).iloc[0, 0])
""")
    a = session(ALICE)
    c = session(CAROL)
    try:
        with a.cursor() as cur:
            cur.execute("SELECT oml.pyqGrant('rl_outer', 'pyqscript', %s,"
                        " 'execute')", (CAROL,))
        for conn, owner in ((c, ALICE), (a, None)):
            with conn.cursor() as cur:
                cur.execute("SELECT value FROM oml.pyqEval(NULL, 'JSON',"
                            " 'rl_outer', %s)", (owner,))
                assert cur.fetchone()[0] == "1"
        rows = wait_runs(admin, "script_name = 'rl_inner'", 2)
        assert len(rows) == 2
        with c.cursor() as cur:
            cur.execute("SELECT inp_nam FROM oml.pyq_runs"
                        " WHERE script_name = 'rl_inner'")
            assert cur.fetchall() == [(None,)]
        with a.cursor() as cur:
            cur.execute("SELECT inp_nam FROM oml.pyq_runs"
                        " WHERE script_name = 'rl_inner'")
            assert cur.fetchall() == [("SELECT 'HIDDEN-QUERY' AS a",)]
    finally:
        a.close()
        c.close()

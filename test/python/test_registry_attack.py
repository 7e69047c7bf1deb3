"""Attacks on the registry by a role with only an execute grant (review
of issue 11): what the role learns of a script it may run but not read.
"""

import psycopg2
import pytest

from conftest import ALICE, CAROL, DBNAME, PASSWORD
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

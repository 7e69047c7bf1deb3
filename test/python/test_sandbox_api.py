"""The API inside the sandbox: every pyq* function and out_fmt, oml.sql,
oml.ds.load of the caller's own pickles, print, errors, nesting -- run by
``oml_sandy``, a member of oml_sandbox_user only, with the same results as
in process."""

import json
import pickle
import textwrap

import pandas as pd
import psycopg2
import psycopg2.errors
import pytest

import oml_store as oml

from conftest import ALICE, DBNAME, PASSWORD, sql_as
from test_sandbox import MISSING, SANDY, Session, sandy  # noqa: F401

pytestmark = pytest.mark.skipif(MISSING is not None,
                                reason="kernel lacks %s" % MISSING)


@pytest.fixture(scope="module")
def s(sandy, admin):  # noqa: F811
    admin.sql("DROP TABLE IF EXISTS public.sb_iris")
    admin.sql("CREATE TABLE public.sb_iris (species text, a float8, b int,"
              " d date, t timestamptz)")
    admin.sql("INSERT INTO public.sb_iris SELECT CASE WHEN i %% 2 = 0 THEN 'x'"
              " ELSE 'y' END, i * 0.5, i, date '2020-01-01' + i,"
              " timestamptz '2020-01-01 00:00+00' + i * interval '1 hour'"
              " FROM generate_series(1, 10) i")
    admin.sql("GRANT SELECT ON public.sb_iris TO %s" % SANDY)
    sess = Session(sandy)
    yield sess
    sess.close()
    admin.sql("DROP TABLE IF EXISTS public.sb_iris")


def create(s, name, src):
    s.create(name, textwrap.dedent(src))


def test_pyqeval_every_format(s):
    create(s, "fmt", """
        def f(n=2):
            import os
            return {"n": n, "pid": os.getpid(), "nan": float("nan")}
    """)
    v = json.loads(s.one("SELECT value FROM oml.pyqEval('{\"n\": 3}', 'JSON', 'fmt')"))
    assert v == {"n": 3, "pid": 1, "nan": None}
    xml = s.one("SELECT value FROM oml.pyqEval('{}', 'XML', 'fmt')")
    assert xml.startswith("<root>") and "<n>2</n>" in xml
    assert s.one("SELECT xml_is_well_formed_document(value) FROM"
                 " oml.pyqEval('{}', 'XML', 'fmt')") is True
    create(s, "txt", "def f():\n    return 'plain text'\n")
    assert s.one("SELECT value FROM oml.pyqEval('{}', NULL::text, 'txt')") == "plain text"


def test_png_and_graphics(s):
    create(s, "plot", """
        def f():
            import matplotlib.pyplot as plt
            plt.figure()
            plt.plot([1, 2, 3])
            plt.title("line")
            return 7
    """)
    rows = s.sql("SELECT id, title, length(image) > 100, substr(image, 2, 3)"
                 " FROM oml.pyqEval('{}', 'PNG', 'plot')")
    assert [r[:3] + (bytes(r[3]),) for r in rows] == [(1, "line", True, b"PNG")]
    xml = s.one("SELECT value FROM oml.pyqEval('{\"oml_graphics_flag\": true}',"
                " 'XML', 'plot')")
    assert "<Py-data>7</Py-data>" in xml and "<image id=\"1\"" in xml


def test_relational_output(s):
    create(s, "rel", """
        def f():
            import pandas as pd, numpy as np, datetime
            return pd.DataFrame({"a": np.arange(3, dtype=float),
                                 "b": [1, 2, 3], "c": ["x", None, "z"],
                                 "ok": [True, False, True],
                                 "d": [datetime.date(2020, 1, i) for i in (1, 2, 3)]})
    """)
    rows = s.sql("SELECT * FROM oml.pyqEval('{}', NULL::record, 'rel')"
                 " AS t(a float8, b int, c text, ok boolean, d date)")
    import datetime
    assert rows == [(0.0, 1, "x", True, datetime.date(2020, 1, 1)),
                    (1.0, 2, None, False, datetime.date(2020, 1, 2)),
                    (2.0, 3, "z", True, datetime.date(2020, 1, 3))]
    create(s, "scalar", "def f():\n    return 2.5\n")
    assert s.one("SELECT * FROM oml.pyqEval('{}', NULL::float8, 'scalar')") == 2.5
    create(s, "tuples", "def f():\n    return [(1, {'k': [1, 2]}), (2, None)]\n")
    assert s.sql("SELECT * FROM oml.pyqEval('{}', NULL::record, 'tuples')"
                 " AS t(i int, j jsonb)") == [(1, {"k": [1, 2]}), (2, None)]


def test_table_eval_input_types(s):
    create(s, "shape", """
        def f(df):
            import pandas as pd
            return {"type": type(df).__name__, "shape": list(df.shape),
                    "cols": list(df.columns) if hasattr(df, "columns") else None,
                    "sum": float(df["a"].sum()) if hasattr(df, "columns") else float(df.sum()),
                    "tz": str(df["t"].dt.tz) if hasattr(df, "columns") and "t" in df else None}
    """)
    v = json.loads(s.one("SELECT value FROM oml.pyqTableEval('public.sb_iris',"
                         " '{}', 'JSON', 'shape')"))
    assert v == {"type": "DataFrame", "shape": [10, 5],
                 "cols": ["species", "a", "b", "d", "t"], "sum": 27.5, "tz": "UTC"}
    v = json.loads(s.one("SELECT value FROM oml.pyqTableEval('SELECT a, b FROM"
                         " public.sb_iris', '{}', 'JSON', 'shape')"))
    assert v["type"] == "ndarray" and v["shape"] == [10, 2]
    create(s, "echo", "def f(df):\n    return df\n")
    rows = s.sql("SELECT * FROM oml.pyqTableEval('SELECT species, a FROM"
                 " public.sb_iris WHERE b <= 2', '{\"oml_input_type\":"
                 " \"pandas.DataFrame\"}', NULL::record, 'echo')"
                 " AS t(species text, a float8)")
    assert rows == [("y", 0.5), ("x", 1.0)]


def test_row_group_index_eval(s):
    create(s, "count", "def f(df):\n    return len(df)\n")
    assert s.sql("SELECT name, value FROM oml.pyqRowEval('public.sb_iris', '{}',"
                 " 'JSON', 4, 'count')") == [("1", "4"), ("2", "4"), ("3", "2")]
    assert s.sql("SELECT name, value FROM oml.pyqGroupEval('public.sb_iris', '{}',"
                 " 'JSON', 'species', NULL, 'count') ORDER BY name") == [
        ("x", "5"), ("y", "5")]
    create(s, "sq", "def f(i):\n    return i * i\n")
    assert s.sql("SELECT name, value FROM oml.pyqIndexEval('{}', 'JSON', 3, 'sq')"
                 ) == [("1", "1"), ("2", "4"), ("3", "9")]


def test_oml_sql_runs_as_caller(s, admin):
    create(s, "who", """
        def f():
            import oml
            df = oml.sql("SELECT current_user AS u, %s::int AS p", [5])
            return [df["u"][0], int(df["p"][0])]
    """)
    assert json.loads(s.one("SELECT value FROM oml.pyqEval('{}', 'JSON', 'who')")
                      ) == [SANDY, 5]
    admin.sql("CREATE TABLE IF NOT EXISTS public.sb_secret (x int)")
    create(s, "peek", """
        def f():
            import oml
            try:
                oml.sql("SELECT * FROM public.sb_secret")
            except oml.OMLError as e:
                return ["refused", e.sqlstate]
            return ["read"]
    """)
    assert json.loads(s.one("SELECT value FROM oml.pyqEval('{}', 'JSON', 'peek')")
                      ) == ["refused", "42501"]
    admin.sql("DROP TABLE public.sb_secret")


def test_ds_load_own_pickles(s, database):
    oml.connect(user=SANDY, password=PASSWORD, dbname=database)
    oml.ds.save({"frame": pd.DataFrame({"v": [1, 2]}), "n": 42}, "mine")
    oml.disconnect()
    create(s, "load", """
        def f():
            import oml
            names = oml.ds.load("mine")
            return [sorted(names), int(frame["v"].sum()), n]
    """)
    assert json.loads(s.one("SELECT value FROM oml.pyqEval('{}', 'JSON', 'load')")
                      ) == [["frame", "n"], 3, 42]


def test_ds_load_of_unreadable_is_refused(s, database):
    from conftest import CAROL
    oml.connect(user=CAROL, password=PASSWORD, dbname=database)
    oml.ds.save({"x": 1}, "carols")
    oml.disconnect()
    create(s, "steal", """
        def f():
            import oml
            try:
                oml.ds.load("carols", owner="oml_carol")
            except oml.OMLError as e:
                return ["refused", e.sqlstate]
            return ["loaded"]
    """)
    r = json.loads(s.one("SELECT value FROM oml.pyqEval('{}', 'JSON', 'steal')"))
    assert r[0] == "refused"


def test_print_and_errors(s):
    create(s, "talk", "def f():\n    print('hello from the box')\n    return 1\n")
    del s.notices[:]
    s.one("SELECT value FROM oml.pyqEval('{}', 'JSON', 'talk')")
    assert any("hello from the box" in n for n in s.notices)
    create(s, "boom", "def f():\n    raise ValueError('bad value')\n")
    with pytest.raises(psycopg2.errors.ExternalRoutineException) as e:
        s.one("SELECT value FROM oml.pyqEval('{}', 'JSON', 'boom')")
    assert "bad value" in str(e.value)
    assert "line 2" in (e.value.diag.message_detail or "")
    create(s, "coded", """
        def f():
            e = ValueError("coded")
            e.sqlstate = "22012"
            raise e
    """)
    with pytest.raises(psycopg2.errors.DivisionByZero):
        s.one("SELECT value FROM oml.pyqEval('{}', 'JSON', 'coded')")
    with pytest.raises(psycopg2.errors.InvalidFunctionDefinition):
        s.sql("SELECT oml.pyqScriptCreate('bad', 'def f(:', v_sandbox => true)")


def test_nested_sandboxed_call(s):
    create(s, "inner", "def f(i=0):\n    import os\n    return [os.getpid(), i]\n")
    create(s, "outer", """
        def f():
            import oml
            df = oml.sql("SELECT value FROM oml.pyqEval('{\\"i\\": 3}', 'JSON', 'inner')")
            return df["value"][0]
    """)
    assert json.loads(json.loads(s.one(
        "SELECT value FROM oml.pyqEval('{}', 'JSON', 'outer')"))) == [1, 3]


def test_large_table_in_and_out(s, admin):
    admin.sql("DROP TABLE IF EXISTS public.sb_big")
    admin.sql("CREATE TABLE public.sb_big AS SELECT i::float8 AS x, i AS y,"
              " 't' || i AS z FROM generate_series(1, 200000) i")
    admin.sql("GRANT SELECT ON public.sb_big TO %s" % SANDY)
    create(s, "ident", "def f(df):\n    return df\n")
    assert s.sql("SELECT count(*), sum(x), sum(y), max(z) FROM oml.pyqTableEval("
                 "'public.sb_big', '{\"oml_input_type\": \"pandas.DataFrame\"}',"
                 " NULL::record, 'ident') AS t(x float8, y bigint, z text)") == [
        (200000, 20000100000.0, 20000100000, "t99999")]
    admin.sql("DROP TABLE public.sb_big")


def test_untrusted_pickles_never_unpickled_in_process(s, database):
    """The same load in a trusted in-process script is still refused."""
    oml.connect(user=SANDY, password=PASSWORD, dbname=database)
    oml.ds.save({"n": 1}, "mine2", grantable=True)
    oml.disconnect()
    sql_as(ALICE, "SELECT oml.pyqScriptCreate('inload', 'def f():\n"
           "    import oml\n    oml.ds.load(\"mine2\", owner=\"%s\")\n"
           "    return 1')" % SANDY)
    sql_as(ALICE, "SELECT oml.pyqGrant('inload', 'pyqscript', NULL)")
    sql_as(SANDY, "SELECT oml.pyqGrant('mine2', 'datastore', NULL)")
    with pytest.raises(psycopg2.errors.InsufficientPrivilege):
        s.one("SELECT value FROM oml.pyqEval('{}', 'JSON', 'inload', %s)", (ALICE,))


def test_text_columns_with_nulls_both_ways(s):
    """Text columns cross as one blob with a NULL mask, in and out."""
    create(s, "ident", "def f(df):\n    return df\n")
    rows = s.sql("SELECT * FROM oml.pyqTableEval($$SELECT i, CASE WHEN i %% 7 = 0"
                 " THEN NULL ELSE 'é' || i END AS t FROM generate_series(1, 500) i$$,"
                 " '{\"oml_input_type\": \"pandas.DataFrame\"}', NULL::record,"
                 " 'ident') AS r(i int, t text)")
    assert rows == [(i, None if i % 7 == 0 else "é%d" % i) for i in range(1, 501)]
    create(s, "nul", "def f():\n    return {'t': ['a\\x00b'] * 100}\n")
    with pytest.raises(psycopg2.Error):        # text cannot hold NUL
        s.sql("SELECT * FROM oml.pyqEval('{}', NULL::record, 'nul') AS r(t text)")


def test_ds_save_inside_the_sandbox(s, database):
    """A sandboxed script saves a datastore (through the backend, in a
    subtransaction); a failed save inside leaves nothing."""
    create(s, "saver", """
        def f():
            import oml, pandas as pd
            oml.ds.save({"df": pd.DataFrame({"v": [1, 2, 3]})}, "boxed_ds",
                        overwrite=True)
            try:
                oml.ds.save({"x": 1}, "boxed_ds")    # exists: refused
            except oml.OMLError as e:
                return e.sqlstate
    """)
    assert json.loads(s.one("SELECT value FROM oml.pyqEval('{}', 'JSON', 'saver')")
                      ) is not None
    oml.connect(user=SANDY, password=PASSWORD, dbname=database)
    try:
        assert int(oml.ds.load("boxed_ds", to_globals=False)["df"]["v"].sum()) == 6
        assert list(oml.ds.describe("boxed_ds")["object_name"]) == ["df"]
    finally:
        oml.disconnect()


def test_parallel_controls_keep_sandboxed_scripts_in_the_sandbox(s):
    """Parallel workers run scripts in process: a sandboxed script asked to
    run in parallel runs serially, in its sandbox (pid 1 there), with the
    serial results."""
    create(s, "where", "def f(df):\n    import os\n    return [len(df), os.getpid()]\n")
    for sql in (
            "SELECT name, value FROM oml.pyqRowEval('public.sb_iris',"
            " '{\"oml_parallel_flag\": true, \"oml_parallel_degree\": 2}',"
            " 'JSON', 4, 'where')",
            "SELECT name, value FROM oml.pyqGroupEval('public.sb_iris',"
            " '{\"oml_parallel_degree\": 2}', 'JSON', 'species', NULL, 'where')"
            " ORDER BY name"):
        rows = s.sql(sql)
        assert rows and all(json.loads(v)[1] == 1 for _, v in rows), rows
    create(s, "ipid", "def f(i):\n    import os\n    return [i, os.getpid()]\n")
    rows = s.sql("SELECT name, value FROM oml.pyqIndexEval("
                 "'{\"oml_parallel_degree\": 2}', 'JSON', 4, 'ipid')")
    assert [json.loads(v) for _, v in rows] == [[i, 1] for i in range(1, 5)]


def test_sandboxed_scripts_cannot_run_as_async_jobs(s):
    """A job's result is unpickled in the server when fetched: a sandboxed
    script's pickles would run anything there, so submitting one is
    refused (0A000), and nothing is queued."""
    create(s, "boxed_job", "def f():\n    return 1\n")
    before = s.one("SELECT count(*) FROM oml.user_pyq_jobs")
    with pytest.raises(psycopg2.Error) as err:
        s.sql("SELECT id FROM oml.pyqEval('{\"oml_async_flag\": true}', 'JSON',"
              " 'boxed_job')")
    assert err.value.pgcode == "0A000"
    assert "cannot run as an asynchronous job" in err.value.diag.message_primary
    assert s.one("SELECT count(*) FROM oml.user_pyq_jobs") == before


EVIL = """
def f():
    import os
    class Evil:
        def __reduce__(self):
            return (os.system, ("touch %s",))
    return Evil()
"""


def test_sandboxed_pickles_reach_the_client_restricted(s, tmp_path):
    """PICKLE rows of a sandboxed script say so in title, and the client
    unpickles them with its restricted unpickler: a payload the sandbox
    pickled does not run in the client."""
    marker = tmp_path / "evil_ran"
    create(s, "evil", EVIL % marker)
    create(s, "plain", "def f():\n    return {'a': [1, 2.5], 'b': 'x'}\n")
    assert s.sql("SELECT title FROM oml.pyqEval('{}', 'PICKLE', 'plain')") == [
        ("sandboxed",)]
    oml.connect(user=SANDY, password=PASSWORD, dbname=DBNAME)
    try:
        assert oml.do_eval("plain") == {"a": [1, 2.5], "b": "x"}
        with pytest.raises(pickle.UnpicklingError):
            oml.do_eval("evil")
        assert not marker.exists()
    finally:
        oml.disconnect()


def test_trusted_caller_does_not_launder_sandboxed_code(s):
    """A trusted role (alice, oml_developer) running an ordinary role's
    sandboxed script: what the script saves through alice's rights is
    recorded as untrusted (never unpickled in process later), and it cannot
    create an in-process script as alice."""
    create(s, "launder", """
        def f():
            import oml
            oml.ds.save({"x": 1}, "laundered_ds", overwrite=True)
            try:
                oml.sql("SELECT oml.pyqScriptCreate('laundered_s',"
                        " 'def f():\\n    return 1', false, true)")
            except oml.OMLError as e:
                return e.sqlstate
            return "created"
    """)
    s.sql("SELECT oml.pyqGrant('launder', 'pyqscript', %s)", (ALICE,))
    a = psycopg2.connect(user=ALICE, password=PASSWORD, dbname=DBNAME)
    a.autocommit = True
    try:
        with a.cursor() as cur:
            cur.execute("SELECT value FROM oml.pyqEval('{}', 'JSON', 'launder', %s)",
                        (SANDY,))
            assert json.loads(cur.fetchone()[0]) == "42501"
            cur.execute("SELECT trusted, writer FROM oml.ds_objects('laundered_ds')")
            assert cur.fetchall() == [(False, ALICE)]
            cur.execute("SELECT count(*) FROM oml.script WHERE name = 'laundered_s'")
            assert cur.fetchone() == (0,)
            # Outside the sandboxed call alice is trusted again.
            cur.execute("SELECT oml.pyqScriptCreate('after_launder',"
                        " 'def f():\n    return 2', false, true)")
            cur.execute("SELECT value FROM oml.pyqEval('{}', 'JSON', 'after_launder')")
            assert cur.fetchone() == ("2",)
            cur.execute("SELECT oml.pyqScriptDrop('after_launder')")
            cur.execute("SELECT oml.ds_delete('laundered_ds')")
    finally:
        a.close()

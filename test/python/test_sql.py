"""oml.sql: a query's result as a DataFrame, in the client and in a script."""

import pandas as pd
import pytest

import oml_store as oml
from conftest import ALICE, BOB, sql_as


def test_client_sql_returns_frame(alice):
    df = oml.sql("SELECT g AS n, g * 0.5 AS half, 'x' || g AS label"
                 " FROM generate_series(1, %s) g", [3])
    assert list(df.columns) == ["n", "half", "label"]
    assert df["n"].tolist() == [1, 2, 3]
    assert df["label"].tolist() == ["x1", "x2", "x3"]


def test_client_sql_statement_without_rows(alice):
    assert oml.sql("SELECT 1 WHERE false").empty


def test_client_sql_errors(alice):
    with pytest.raises(TypeError):
        oml.sql(42)
    with pytest.raises(oml.OMLError) as err:
        oml.sql("SELECT * FROM no_such_table")
    assert err.value.sqlstate == "42P01"
    # The connection is usable after the error.
    assert oml.sql("SELECT 2 AS two")["two"].tolist() == [2]


def test_client_sql_percent_without_parameters(alice):
    # No parameters: the statement goes as written (a %s or %% in a literal
    # stays), as in a script; with parameters, %s and %% are placeholders.
    df = oml.sql("SELECT '%s' AS a, '100%%' AS b, 'x%' AS c")
    assert df.iloc[0].tolist() == ["%s", "100%%", "x%"]
    df = oml.sql("SELECT %s::int AS a, '100%%' AS b", [5])
    assert df.iloc[0].tolist() == [5, "100%"]


def test_sql_inside_a_script_runs_as_the_caller(admin):
    admin.sql("DROP TABLE IF EXISTS sql_secret")
    admin.sql("CREATE TABLE sql_secret (a int, b float8, c text, d date)")
    admin.sql("INSERT INTO sql_secret VALUES (1, 1.5, 'x', '2024-01-02'),"
              " (2, NULL, NULL, NULL)")
    admin.sql("GRANT SELECT ON sql_secret TO %s" % ALICE)
    sql_as(ALICE, """SELECT oml.pyqScriptCreate('sqlq', $$
def f():
    import oml
    df = oml.sql("SELECT a, b, c, d FROM sql_secret ORDER BY a")
    return {"cols": list(df.columns), "a": df["a"].tolist(),
            "b_nan": bool(df["b"].isna()[1]), "c": df["c"].tolist(),
            "d": str(df["d"].iloc[0].date())}
$$, v_global => true)""")
    [[value]] = sql_as(ALICE, "SELECT value FROM oml.pyqEval(NULL, 'JSON', 'sqlq')")
    got = pd.read_json(value, typ="series")
    assert list(got["cols"]) == ["a", "b", "c", "d"]
    assert list(got["a"]) == [1, 2]
    assert got["b_nan"]
    assert list(got["c"]) == ["x", None]
    assert got["d"] == "2024-01-02"
    # bob runs the same global script but may not read the table.
    with pytest.raises(Exception) as err:
        sql_as(BOB, "SELECT value FROM oml.pyqEval(NULL, 'JSON', 'sqlq')")
    assert err.value.pgcode == "42501"
    assert "permission denied for table sql_secret" in str(err.value)
    admin.sql("DROP TABLE sql_secret")


def test_sql_inside_a_script_edge_cases(admin):
    sql_as(ALICE, """SELECT oml.pyqScriptCreate('sqledge', $$
def f():
    import threading
    import oml
    empty = oml.sql("SELECT 1 AS one, 'x'::text AS two WHERE false")
    errors = []

    def worker():
        try:
            oml.sql("SELECT 1")
        except RuntimeError as exc:
            errors.append(str(exc))
    t = threading.Thread(target=worker)
    t.start()
    t.join()
    try:
        oml.sql("SELECT * FROM no_such_table_here")
    except oml.OMLError as exc:
        caught = exc.sqlstate
    import _oml
    try:
        _oml.subxact("rollback")     # nothing of this script's to roll back
        floor = None
    except RuntimeError as exc:
        floor = str(exc)
    return {"empty_cols": list(empty.columns), "empty_rows": len(empty),
            "thread": errors, "caught": caught, "floor": floor}
$$, v_global => true)""")
    [[value]] = sql_as(ALICE, "SELECT value FROM oml.pyqEval(NULL, 'JSON', 'sqledge')")
    got = pd.read_json(value, typ="series")
    assert list(got["empty_cols"]) == ["one", "two"]
    assert got["empty_rows"] == 0
    assert list(got["thread"]) == [
        "oml_store can run SQL only from the thread that called the script"]
    assert got["caught"] == "42P01"
    assert got["floor"] == "no oml_store transaction of this script is open"

"""pyqEval's per-call and per-statement shortcuts give what the long way gives.

Release 0.3.0 made a call cheaper (issue 12): par_lst without controls is
parsed in C with json's own scanner, plain JSON results are written by one
cached encoder, a backend keeps the compiled functions it ran (per script
id, role, name and exact source), the row type of formatted output is made
once per backend, and a script name that passed the name checks is not
checked again.  These tests pin the results those paths must give: the same
values and errors as json.loads / json.dumps(allow_nan=False), fresh
keyword arguments for every call, exactly the source found, the globals of
the right role, and the name checks on every new name.
"""

import json

import psycopg2
import psycopg2.errors
import pytest

from conftest import ALICE, BOB, DBNAME, PASSWORD


def connect(role=ALICE):
    conn = psycopg2.connect(user=role, password=PASSWORD, dbname=DBNAME)
    conn.autocommit = True
    return conn


def rows(conn, sql, params=()):
    with conn.cursor() as cur:
        cur.execute(sql, params)
        return [r[0] for r in cur.fetchall()] if cur.description else []


def sqlstate(conn, sql, params=()):
    """The SQLSTATE and message sql fails with."""
    with pytest.raises(psycopg2.Error) as err:
        rows(conn, sql, params)
    return err.value.pgcode, err.value.pgerror


EVAL = "SELECT value FROM oml.pyqEval(%s, 'JSON', %s)"


@pytest.fixture
def conn():
    c = connect()
    yield c
    c.close()


def create(conn, name, source, overwrite=True):
    rows(conn, "SELECT oml.pyqScriptCreate(%s, %s, v_overwrite => %s)",
         (name, source, overwrite))


def test_par_lst_values_and_errors_as_json_loads(conn):
    create(conn, "echo", "def f(**kw):\n    return sorted(kw.items())\n")
    for par in (' {"x": 1} ', '\n\t{"x": 1}\r\n', '{"x": 1, "x": 2}',
                '{"s": "\u00e9\u00e9 \\u00e9", "n": null, "b": true}  ',
                '{"big": 123456789012345678901234567890}', '{"f": 1.5e3}',
                '{}', '{"x": {"oml_na_omit": 1}}'):
        want = json.dumps(sorted(json.loads(par).items()), allow_nan=False)
        assert rows(conn, EVAL, (par, "echo")) == [want], par
    # Not an object, not JSON, more after the object: json.loads' errors.
    for par, state, text in (('[1]', "22023", "must be a JSON object"),
                             ('"x"', "22023", "must be a JSON object"),
                             ('{"x": 1} x', "22P02", "Extra data"),
                             ('{"x": 1}{"y": 2}', "22P02", "Extra data"),
                             ('{"x": 1', "22P02", "not valid JSON"),
                             ('\ufeff{"x": 1}', "22P02", "BOM"),
                             ('{"x": 1}\u00a0', "22P02", "Extra data")):
        got = sqlstate(conn, EVAL, (par, "echo"))
        assert got[0] == state and text in got[1], (par, got)
    # Controls still go to the runtime's checks.
    assert sqlstate(conn, EVAL, ('{"x": 1, "oml_bogus": 1}', "echo"))[0] == "22023"
    assert rows(conn, EVAL, ('{"x": 1, "oml_parallel_flag": true}', "echo")) == ['[["x", 1]]']


def test_list_and_dict_arguments_are_fresh_for_every_call(conn):
    # The C parser must flag lists and dicts as mutable, as the runtime does:
    # then each call gets its own copy, whatever the previous call did to it.
    create(conn, "grow", "def f(a, d=None):\n    a.append(0)\n    if d is not None:\n"
                         "        d['k'].append(1)\n        return [len(a), len(d['k'])]\n"
                         "    return len(a)\n")
    q = ("SELECT e.value FROM generate_series(1, 3) g,"
         " LATERAL oml.pyqEval(%s, 'JSON', 'grow') e")
    assert rows(conn, q, ('{"a": [1]}',)) == ["2", "2", "2"]
    assert rows(conn, q, ('{"a": [], "d": {"k": []}}',)) == ["[1, 1]"] * 3
    # One per statement, too.
    for _ in range(2):
        assert rows(conn, EVAL, ('{"a": [1, 2]}', "grow")) == ["3"]


def test_plain_results_written_as_json_dumps(conn):
    create(conn, "give", "def f(k):\n"
                         "    return [0, -7, 10 ** 40, 'q\"\\\\\\u00e9\\n\\x01', True, False, None,\n"
                         "            [1, 'a', None], {'a': [1, {'b': 2}]}, (1, 2), float('nan'),\n"
                         "            [1.5, float('inf')], 10 ** 5000][k]\n")
    want = ["0", "-7", str(10 ** 40), json.dumps('q"\\\u00e9\n\x01'), "true", "false",
            "null", '[1, "a", null]', '{"a": [1, {"b": 2}]}', "[1, 2]"]
    for k, w in enumerate(want):
        assert rows(conn, EVAL, ('{"k": %d}' % k, "give")) == [w], k
    # What json.dumps(allow_nan=False) refuses goes the long way, as before.
    assert rows(conn, EVAL, ('{"k": 10}', "give")) == ["null"]
    assert rows(conn, EVAL, ('{"k": 11}', "give")) == ["[1.5, null]"]
    # An int too long for str(): the long way's error, as before.
    state, text = sqlstate(conn, EVAL, ('{"k": 12}', "give"))
    assert state == "38000" and "Exceeds the limit" in text


COUNTER = ("def f():\n    global n\n    n = globals().get('n', 0) + 1\n"
           "    return [%r, n]\n")


def test_compiled_functions_follow_the_exact_source(conn):
    a, b = COUNTER % "A", COUNTER % "B"
    create(conn, "cnt", a)
    assert rows(conn, EVAL, (None, "cnt")) == ['["A", 1]']
    assert rows(conn, EVAL, (None, "cnt")) == ['["A", 2]']       # its globals
    create(conn, "cnt", b)
    assert rows(conn, EVAL, (None, "cnt")) == ['["B", 1]']
    # Back to A's exact source: a fresh compile, as get_function gives.
    create(conn, "cnt", a)
    assert rows(conn, EVAL, (None, "cnt")) == ['["A", 1]']
    # Overwritten in a transaction that rolls back: the source found runs.
    conn.autocommit = False
    create(conn, "cnt", b)
    assert rows(conn, EVAL, (None, "cnt")) == ['["B", 1]']
    conn.rollback()
    conn.autocommit = True
    assert rows(conn, EVAL, (None, "cnt")) == ['["A", 1]']
    # Dropped and made again with the same source: another script.
    rows(conn, "SELECT oml.pyqScriptDrop('cnt')")
    create(conn, "cnt", a, overwrite=False)
    assert rows(conn, EVAL, (None, "cnt")) == ['["A", 1]']
    assert rows(conn, EVAL, (None, "cnt")) == ['["A", 2]']


def test_compiled_functions_are_per_role_and_bounded(conn):
    create(conn, "cnt", COUNTER % "G")
    rows(conn, "SELECT oml.pyqGrant('cnt', 'pyqscript', %s)", (BOB,))
    # One backend, the roles in turn (as test_script_cache does).
    su = psycopg2.connect(dbname=DBNAME)
    su.autocommit = True
    q = "SELECT value FROM oml.pyqEval(NULL, 'JSON', 'cnt', %s)"
    try:
        rows(su, "SET ROLE %s" % ALICE)
        assert rows(su, q, (ALICE,)) == ['["G", 1]']
        assert rows(su, q, (ALICE,)) == ['["G", 2]']
        rows(su, "SET ROLE %s" % BOB)
        assert rows(su, q, (ALICE,)) == ['["G", 1]']    # Bob's own globals
        rows(su, "SET ROLE %s" % ALICE)
        assert rows(su, q, (ALICE,)) == ['["G", 3]']
        # More scripts than the backend keeps: each runs its own source.
        for i in range(40):
            create(conn, "s%d" % i, "def f():\n    return %d\n" % i)
        # The function of cnt leaves the backend's cache, not the runtime's:
        # its globals stay.
        for rnd in range(2):
            for i in range(40):
                assert rows(su, EVAL, (None, "s%d" % i)) == [str(i)]
            assert rows(su, q, (ALICE,)) == ['["G", %d]' % (4 + rnd)]
    finally:
        su.close()


def test_formatted_output_wherever_it_is_called(conn):
    create(conn, "two", "def f():\n    return 2\n")
    assert rows(conn, "SELECT (oml.pyqEval(NULL, 'JSON', 'two')).value") == ["2"]
    with conn.cursor() as cur:
        cur.execute("SELECT * FROM oml.pyqEval(NULL, 'JSON', 'two')")
        assert [d.name for d in cur.description] == ["name", "id", "value", "title", "image"]
        assert cur.fetchall() == [(None, None, "2", None, None)]
        cur.execute("SELECT * FROM oml.pyqEval(NULL, NULL::int, 'two')")
        assert cur.fetchall() == [(2,)]
        cur.execute("SELECT * FROM oml.pyqEval(NULL, NULL::record, 'two') AS t(v float8)")
        assert cur.fetchall() == [(2.0,)]


def test_every_new_script_name_is_checked(conn):
    create(conn, "two", "def f():\n    return 2\n")
    assert rows(conn, EVAL, (None, "two")) == ["2"]
    assert sqlstate(conn, EVAL, (None, "two "))[0] == "42602"
    assert sqlstate(conn, EVAL, (None, "tw\x01o"))[0] == "22023"
    assert sqlstate(conn, EVAL, (None, ""))[0] == "22023"
    assert sqlstate(conn, EVAL, (None, "x" * 200))[0] == "42622"
    assert rows(conn, EVAL, (None, "two")) == ["2"]
    assert sqlstate(conn, EVAL, (None, "two "))[0] == "42602"

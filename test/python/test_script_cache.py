"""The per-backend script cache and compiled-function cache under fire.

* A bounded two-session invalidation stress test: other sessions flood
  invalidations (temp-table DDL of the same role, which can overflow the
  invalidation queue and force a reset; overwrites of the script; grants and
  revokes on it; role membership changes) while one session runs a script
  of more than 4 kB, whose source is stored out of line (TOAST), so that
  invalidations arrive while cache entries are filled and while readability
  is checked on a hit.  The backend must not crash, and every result must be
  one that was committed.
* Function globals are per calling role: ``oml.ds.load(..., to_globals=True)``
  in one role's call is not seen by another role's call of the same script
  in the same backend.

* With gdb (skipped without): an invalidation at a chosen point of a fill,
  while the script's source is detoasted.

The isolation spec script_cache.spec shows the transactional rules
(revoke, overwrite, REPEATABLE READ, rollback, savepoints).
"""

import os
import random
import re
import shutil
import signal
import string
import subprocess
import threading
import time

import psycopg2
import psycopg2.errors
import pytest

import oml_store as oml
from conftest import ALICE, BOB, CAROL, DBNAME, GROUP, PASSWORD

STRESS_SECONDS = 4.0

RUN_BIG = "SELECT value FROM oml.pyqEval(NULL, 'JSON', 'big', %s)"
RUN_BIG_LATE = ("SELECT e.value FROM (SELECT pg_sleep(0.2)::text AS x) s,"
                " LATERAL oml.pyqEval(CASE WHEN s.x IS NULL THEN '{}' END,"
                " 'JSON', 'big', %s) e")


def connect(role=ALICE):
    conn = psycopg2.connect(user=role, password=PASSWORD, dbname=DBNAME)
    conn.autocommit = True
    return conn


def one(conn, sql, params=()):
    with conn.cursor() as cur:
        cur.execute(sql, params)
        return cur.fetchone()[0]


def big_source(version):
    """A script of about 12 kB that returns version; its random padding
    does not compress, so the source is stored out of line."""
    rnd = random.Random(version)
    pad = "".join(rnd.choice(string.ascii_letters + string.digits)
                  for _ in range(12000))
    return ("def big():\n"
            "    pad = %r\n"
            "    return %d\n" % (pad, version))


def test_big_source_is_toasted(admin):
    conn = connect()
    try:
        one(conn, "SELECT oml.pyqScriptCreate('big', %s) IS NULL",
            (big_source(0),))
    finally:
        conn.close()
    # Stored out of line: reading it opens the TOAST table, which processes
    # invalidations.
    toast = admin.sql("SELECT reltoastrelid::regclass::text FROM pg_class"
                      " WHERE oid = 'oml.script'::regclass")[0][0]
    assert admin.sql("SELECT count(*) > 0 FROM %s" % toast) == [(True,)]
    assert admin.sql("SELECT octet_length(source) > 4096 FROM oml.script"
                     " WHERE name = 'big'") == [(True,)]


def test_invalidation_flood_while_filling_and_hitting(admin):
    """Invalidations and resets at any point of a fill or a hit."""
    admin.sql("DROP ROLE IF EXISTS oml_cache_flood")
    admin.sql("CREATE ROLE oml_cache_flood NOLOGIN")
    owner = connect(ALICE)
    one(owner, "SELECT oml.pyqScriptCreate('big', %s) IS NULL",
        (big_source(0),))
    one(owner, "SELECT oml.pyqGrant('big', 'pyqscript', %s) IS NULL", (GROUP,))
    reader = connect(BOB)
    pid = one(reader, "SELECT pg_backend_pid()")
    assert one(reader, RUN_BIG, (ALICE,)) == "0"

    stop = threading.Event()
    errors = []
    written = {0}
    written_lock = threading.Lock()

    def guarded(body):
        def run():
            try:
                body()
            except Exception as exc:       # reported by the main thread
                errors.append(exc)
                stop.set()
        return run

    def overwrite():
        conn = connect(ALICE)
        try:
            v = 0
            while not stop.is_set():
                v += 1
                with written_lock:
                    written.add(v)
                one(conn, "SELECT oml.pyqScriptCreate('big', %s, false, true)"
                    " IS NULL", (big_source(v % 5),))
                # acl changes that leave bob (through oml_grp) reading
                one(conn, "SELECT oml.pyqGrant('big', 'pyqscript', %s) IS NULL",
                    (CAROL,))
                one(conn, "SELECT oml.pyqRevoke('big', 'pyqscript', %s) IS NULL",
                    (CAROL,))
        finally:
            conn.close()

    def temp_ddl():
        # The reader's own role in a second session.
        conn = connect(BOB)
        try:
            while not stop.is_set():
                with conn.cursor() as cur:
                    cur.execute("CREATE TEMP TABLE flood (a int, b text);"
                                " CREATE INDEX ON flood (a);"
                                " DROP TABLE flood")
        finally:
            conn.close()

    def membership():
        conn = psycopg2.connect(dbname=DBNAME)
        conn.autocommit = True
        try:
            while not stop.is_set():
                with conn.cursor() as cur:
                    cur.execute("GRANT oml_cache_flood TO %s;"
                                " REVOKE oml_cache_flood FROM %s" % (BOB, BOB))
        finally:
            conn.close()

    threads = [threading.Thread(target=guarded(f), daemon=True)
               for f in (overwrite, temp_ddl, membership)]
    for t in threads:
        t.start()
    runs = 0
    try:
        end = time.monotonic() + STRESS_SECONDS
        while time.monotonic() < end and not stop.is_set():
            # Now and then the lookup comes after a pause in which the
            # reader reads no invalidations, so that it falls behind and
            # gets a reset in the middle of its statement.
            value = one(reader, RUN_BIG_LATE if runs % 8 == 7 else RUN_BIG,
                        (ALICE,))
            assert int(value) in range(5)
            runs += 1
    finally:
        stop.set()
        for t in threads:
            t.join(30)
        admin.sql("DROP ROLE IF EXISTS oml_cache_flood")
    assert not errors
    assert runs > 10
    # Same backend, still up, and it sees the last committed version.
    assert one(reader, "SELECT pg_backend_pid()") == pid
    last = one(owner, "SELECT oml.script_load('big')")
    assert one(reader, RUN_BIG, (ALICE,)) == last.rsplit("return ", 1)[1].strip()
    # Revoked from the group: refused from the next statement.
    one(owner, "SELECT oml.pyqRevoke('big', 'pyqscript', %s) IS NULL", (GROUP,))
    with pytest.raises(psycopg2.errors.InsufficientPrivilege):
        one(reader, RUN_BIG, (ALICE,))
    reader.close()
    owner.close()


def test_invalidation_flood_in_one_statement(admin):
    """Many calls in one statement while the script changes: every call
    of the statement runs the version its snapshot sees."""
    owner = connect(ALICE)
    one(owner, "SELECT oml.pyqScriptCreate('big', %s, true) IS NULL",
        (big_source(1),))
    reader = connect(BOB)
    stop = threading.Event()

    def overwrite():
        conn = connect(ALICE)
        try:
            v = 1
            while not stop.is_set():
                v = 3 - v
                one(conn, "SELECT oml.pyqScriptCreate('big', %s, true, true)"
                    " IS NULL", (big_source(v),))
        finally:
            conn.close()

    t = threading.Thread(target=overwrite, daemon=True)
    t.start()
    try:
        with reader.cursor() as cur:
            for _ in range(3):
                cur.execute("SELECT array_agg(DISTINCT e.value)"
                            " FROM generate_series(1, 300) g,"
                            " LATERAL oml.pyqEval('{}', 'JSON', 'big') e")
                # One statement, one snapshot: one version.
                assert len(cur.fetchone()[0]) == 1
    finally:
        stop.set()
        t.join(30)
    reader.close()
    owner.close()


# -- function globals per calling role ----------------------------------------

GLOBALS_SCRIPT = """
def secret_probe(mode='check'):
    import oml
    if mode == 'load':
        oml.ds.load('secret_ds', owner='oml_alice', to_globals=True)
        return 'loaded'
    return globals().get('secret')
"""


def test_to_globals_is_per_role(admin, connect_as):
    connect_as(ALICE)
    oml.ds.save({"secret": 42}, "secret_ds", grantable=True)
    oml.grant("secret_ds", "datastore", BOB)
    oml.script.create("secret_probe", GLOBALS_SCRIPT, is_global=True)
    oml.disconnect()
    run = ("SELECT value FROM oml.pyqEval(%s, 'JSON', 'secret_probe')")
    # One backend, several roles in turn.
    conn = psycopg2.connect(dbname=DBNAME)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute("SET ROLE %s" % ALICE)
        assert one(conn, run, ('{"mode": "load"}',)) == '"loaded"'
        # Alice's own later calls keep her globals.
        assert one(conn, run, ('{}',)) == "42"
        with conn.cursor() as cur:
            cur.execute("SET ROLE %s" % BOB)
        assert one(conn, run, ('{}',)) == "null"
        assert one(conn, run, ('{"mode": "load"}',)) == '"loaded"'
        assert one(conn, run, ('{}',)) == "42"
        with conn.cursor() as cur:
            cur.execute("SET ROLE %s" % CAROL)
        assert one(conn, run, ('{}',)) == "null"
        with conn.cursor() as cur:
            cur.execute("RESET ROLE")
        assert one(conn, run, ('{}',)) == "null"
    finally:
        conn.close()


# -- invalidations at chosen points, under a debugger -------------------------

# A breakpoint on a function that stops only when the script lookup called
# it (directly or a few frames down).
GDB_BREAK = """
class InLookup(gdb.Breakpoint):
    def stop(self):
        frame = gdb.newest_frame()
        for _ in range(8):
            frame = frame.older()
            if frame is None:
                return False
            if (frame.name() or "") in ("script_lookup",
                                        "oml_script_find_known",
                                        "oml_script_find"):
                return True
        return False
InLookup(%r)
"""

# Run by gdb while the reader is stopped: a committed overwrite of the
# reader's script (direct DML as a superuser: the trigger fires as well).
OVERWRITE_TO_3 = ("shell psql -X -qAt -d %s -c \"UPDATE oml.script"
                  " SET source = replace(source, 'return 2', 'return 3')"
                  " WHERE name = 'big'\"" % DBNAME)


def stop_in_lookup(reader, pid, function, actions, statement, params):
    """Run statement on reader with its backend stopped, under gdb, in
    function called by the script lookup; there run the gdb commands
    actions.  Returns (gdb's output, {"value": ...} or {"error": ...})."""
    gdb = shutil.which("gdb")
    if gdb is None:
        pytest.skip("gdb is not installed")
    if not os.path.exists("/proc/%d/status" % pid):
        pytest.skip("the server runs elsewhere")
    cmds = ["set pagination off", "python exec(%r)" % (GDB_BREAK % function),
            "continue"] + actions + ["delete", "detach"]
    argv = [gdb, "-nx", "-batch", "-p", str(pid)]
    for c in cmds:
        argv += ["-ex", c]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    result = {}
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and proc.poll() is None:
            with open("/proc/%d/status" % pid) as f:
                if "TracerPid:\t0\n" not in f.read():
                    break
            time.sleep(0.05)
        time.sleep(1.0)                     # breakpoint set, continuing

        def run():
            try:
                result["value"] = one(reader, statement, params)
            except psycopg2.Error as exc:
                result["error"] = exc
        t = threading.Thread(target=run, daemon=True)
        t.start()
        t.join(60)
        if proc.poll() is None and not t.is_alive():
            # The breakpoint was never hit: stop waiting for it.
            proc.send_signal(signal.SIGINT)
        out = proc.communicate(timeout=60)[0]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    if "Breakpoint 1," not in out and "error" not in result:
        pytest.skip("gdb could not stop the backend in the lookup: %s"
                    % out[-500:])
    return out, result


def generations(out):
    return [int(v) for v in re.findall(r"^\$\d+ = (\d+)$", out, re.M)]


def test_invalidation_while_source_is_detoasted(admin):
    """Stop the reader's backend in the middle of filling a cache entry
    (while the script's out-of-line source is read) and commit an
    overwrite from another session there: the statement runs what its
    snapshot saw, the next one the new version, and the backend lives.
    Needs gdb and ptrace rights over the server's processes."""
    owner = connect(ALICE)
    one(owner, "SELECT oml.pyqScriptCreate('big', %s, true) IS NULL",
        (big_source(1),))
    reader = connect(BOB)
    pid = one(reader, "SELECT pg_backend_pid()")
    assert one(reader, RUN_BIG, (None,)) == "1"
    one(owner, "SELECT oml.pyqScriptCreate('big', %s, true, true) IS NULL",
        (big_source(2),))                   # the reader's next lookup misses
    out, result = stop_in_lookup(
        reader, pid, "detoast_attr",
        ["print script_cache_generation",
         OVERWRITE_TO_3,
         "finish",
         "print script_cache_generation"],
        RUN_BIG, (None,))
    # The overwrite's invalidation was processed in the middle of the fill.
    gens = generations(out)
    assert len(gens) == 2 and gens[1] > gens[0], out[-2000:]
    assert result == {"value": "2"}
    assert one(reader, RUN_BIG, (None,)) == "3"
    assert one(reader, "SELECT pg_backend_pid()") == pid
    reader.close()
    owner.close()


def test_invalidation_while_readability_is_checked_on_a_hit(admin):
    """Stop the reader in the role membership check of a cache hit, commit
    an overwrite and process invalidations there (as a catalog access in
    that check would)."""
    owner = connect(ALICE)
    one(owner, "SELECT oml.pyqScriptCreate('big', %s) IS NULL",
        (big_source(2),))
    one(owner, "SELECT oml.pyqGrant('big', 'pyqscript', %s) IS NULL", (GROUP,))
    reader = connect(BOB)
    pid = one(reader, "SELECT pg_backend_pid()")
    assert one(reader, RUN_BIG, (ALICE,)) == "2"     # filled: the next hits
    out, result = stop_in_lookup(
        reader, pid, "has_privs_of_role",
        ["print script_cache_generation",
         OVERWRITE_TO_3,
         "call (void) AcceptInvalidationMessages()",
         "print script_cache_generation"],
        RUN_BIG, (ALICE,))
    gens = generations(out)
    assert len(gens) == 2 and gens[1] > gens[0], out[-2000:]
    assert result == {"value": "2"}
    assert one(reader, RUN_BIG, (ALICE,)) == "3"
    assert one(reader, "SELECT pg_backend_pid()") == pid
    reader.close()
    owner.close()


# -- the compiled-function cache itself (no server needed) --------------------

def test_get_function_keys_on_role_and_exact_source():
    from oml_store import _runtime
    _runtime._functions.clear()
    a = "def f():\n    return 'A'\n"
    b = "def f():\n    return 'B'\n"
    fa = _runtime.get_function(7, 10, "f", a)
    assert fa() == "A" and _runtime.get_function(7, 10, "f", a) is fa
    # Another role: its own function and globals.
    fa2 = _runtime.get_function(7, 11, "f", a)
    assert fa2 is not fa and fa2.__globals__ is not fa.__globals__
    fa.__globals__["kept"] = 1
    assert "kept" not in fa2.__globals__
    # Overwritten (same id; e.g. twice in one transaction, same xmin),
    # then rolled back: each time exactly the source given runs.
    assert _runtime.get_function(7, 10, "f", b)() == "B"
    back = _runtime.get_function(7, 10, "f", a)
    assert back() == "A" and "kept" not in back.__globals__
    # Bounded, oldest out.
    for i in range(_runtime._FUNCTIONS_MAX + 20):
        _runtime.get_function(1000 + i, 10, "f", a)
    assert len(_runtime._functions) == _runtime._FUNCTIONS_MAX
    assert (1000 + _runtime._FUNCTIONS_MAX + 19, 10) in _runtime._functions
    assert (1000, 10) not in _runtime._functions
    _runtime._functions.clear()

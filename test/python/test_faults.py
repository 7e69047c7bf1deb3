"""Crashes and concurrency, bounded (issue 7: keep such tests in the suite).

- kill -9 of a backend in the middle of 30 MB saves, overwrites and
  deletes, a few times: after the restart no committed object is lost, no
  chunk is orphaned, every object's nchunks and size match its chunks, and
  every role that rows name has its pg_shdepend entry.
- several writers for a few seconds on the same datastores (save with
  overwrite, append, delete, grant, revoke): the same invariants, no
  duplicate, and every object a writer committed to its own append-only
  datastore is there with its bytes.
"""

import hashlib
import os
import random
import threading
import time

import psycopg2
import pytest

from conftest import ALICE, BOB, DBNAME, PASSWORD, admin_connect

CHUNK = 8 * 1024 * 1024


def connect(role=ALICE):
    return psycopg2.connect(user=role, password=PASSWORD, dbname=DBNAME)


def save(cur, name, objs, overwrite=True, append=False, grantable=True):
    """One save through the SQL protocol, objs {name: bytes}, not committed."""
    cur.execute("SELECT oml.ds_save_begin(%s, NULL, %s, %s, %s)",
                (name, grantable, overwrite, append))
    ds_id = cur.fetchone()[0]
    for oname, data in objs.items():
        cur.execute("SELECT oml.ds_put_object(%s, %s, %s)",
                    (ds_id, oname, hashlib.md5(data).hexdigest()))
        obj_id = cur.fetchone()[0]
        for off in range(0, len(data), CHUNK):
            cur.execute("SELECT oml.ds_put_chunk(%s, %s)",
                        (obj_id, psycopg2.Binary(data[off:off + CHUNK])))


def check_invariants(cur):
    """The structural invariants of the catalog; returns {(ds, obj): md5}."""
    cur.execute("SELECT count(*) FROM oml.datastore_chunk c WHERE NOT EXISTS"
                " (SELECT FROM oml.datastore_object o WHERE o.id = c.obj_id)")
    assert cur.fetchone() == (0,), "orphan chunks"
    cur.execute("SELECT count(*) FROM oml.datastore_object o WHERE NOT EXISTS"
                " (SELECT FROM oml.datastore d WHERE d.id = o.ds_id)")
    assert cur.fetchone() == (0,), "orphan objects"
    cur.execute("SELECT o.id, o.nchunks, o.size, count(c.seq), coalesce(sum(length(c.data)), 0),"
                " coalesce(max(c.seq), -1)"
                " FROM oml.datastore_object o LEFT JOIN oml.datastore_chunk c ON c.obj_id = o.id"
                " GROUP BY o.id HAVING o.nchunks <> count(c.seq)"
                " OR o.size <> coalesce(sum(length(c.data)), 0)"
                " OR coalesce(max(c.seq), -1) <> count(c.seq) - 1")
    assert cur.fetchall() == [], "nchunks/size do not match the chunks"
    # Every role a row names has its shared dependency (never missing).
    cur.execute("""
        WITH named(rel, col, role) AS (
            SELECT 'oml.datastore', 'owner', owner::oid FROM oml.datastore
            UNION SELECT 'oml.datastore_object', 'writer', writer::oid FROM oml.datastore_object
            UNION SELECT 'oml.datastore', 'acl', a.grantee FROM oml.datastore d, aclexplode(d.acl) a
            WHERE a.grantee <> 0
            UNION SELECT 'oml.script', 'owner', owner::oid FROM oml.script)
        SELECT n.* FROM named n WHERE n.role <> 10 AND NOT EXISTS (
            SELECT FROM pg_shdepend s JOIN pg_attribute a
              ON a.attrelid = s.objid AND a.attnum = s.objsubid
             WHERE s.dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
               AND s.classid = 'pg_class'::regclass AND s.objid = n.rel::regclass
               AND a.attname = n.col AND s.refobjid = n.role)""")
    assert cur.fetchall() == [], "rows name roles without a shared dependency"
    cur.execute("SELECT d.name, o.name, o.class, md5(string_agg(c.data, '' ORDER BY c.seq))"
                " FROM oml.datastore d JOIN oml.datastore_object o ON o.ds_id = d.id"
                " LEFT JOIN oml.datastore_chunk c ON c.obj_id = o.id"
                " GROUP BY d.name, o.name, o.class")
    found = {}
    for ds, obj, cls, md5 in cur.fetchall():
        assert cls == (md5 or hashlib.md5(b"").hexdigest()), (ds, obj)
        found[(ds, obj)] = md5
    return found


def wait_for_server(timeout=30):
    deadline = time.monotonic() + timeout
    while True:
        try:
            c = admin_connect(DBNAME)
            c.cursor().execute("SELECT 1")
            return c
        except psycopg2.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def test_kill_9_during_large_saves(admin):
    rng = random.Random(1234)
    # A committed datastore of 30 MB to overwrite and delete.
    data = os.urandom(30 * 1024 * 1024)
    conn = connect()
    with conn, conn.cursor() as cur:
        save(cur, "big0", {"o": data})
    conn.close()
    state = {"big0": hashlib.md5(data).hexdigest()}     # exactly what is committed
    interrupted = 0

    for rnd, (op, name) in enumerate((("overwrite", "big0"), ("new", "big1"),
                                      ("delete", "big0"), ("overwrite", "big1"))):
        data = os.urandom(30 * 1024 * 1024)
        conn = connect()
        cur = conn.cursor()
        cur.execute("SELECT pg_backend_pid()")
        pid = cur.fetchone()[0]
        outcome = {}

        def work():
            try:
                if op == "delete":
                    cur.execute("SELECT oml.ds_delete(%s)", (name,))
                    # keep the transaction open so the kill lands before COMMIT
                    cur.execute("SELECT pg_sleep(2)")
                else:
                    save(cur, name, {"o": data})
                outcome["commit_sent"] = True
                conn.commit()
                outcome["committed"] = True
            except psycopg2.Error:
                pass

        t = threading.Thread(target=work)
        t.start()
        time.sleep(rng.uniform(0.1, 0.3))
        killer = admin_connect(DBNAME)
        try:
            killer.cursor().execute("COPY (SELECT 1) TO PROGRAM 'kill -9 %d'" % pid)
            # The postmaster ends every session after a crash: wait until it
            # has ended this one, so the next connection is after the restart.
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline:
                killer.cursor().execute("SELECT 1")
                time.sleep(0.05)
            raise AssertionError("the server did not restart after kill -9")
        except psycopg2.Error:
            pass                  # this session ended with the crash
        t.join(30)
        assert not t.is_alive()
        conn.close()
        killer.close()
        admin.conn.close()
        admin.conn = wait_for_server()

        interrupted += not outcome.get("committed")
        old = state.get(name)
        new = None if op == "delete" else hashlib.md5(data).hexdigest()
        if outcome.get("committed"):
            allowed = {new}
        elif outcome.get("commit_sent"):
            allowed = {old, new}          # the kill hit the commit itself
        else:
            allowed = {old}
        with admin.conn.cursor() as acur:
            found = check_invariants(acur)
        got = found.get((name, "o"))
        assert got in allowed, (rnd, op, name, outcome)
        for ds, md5 in state.items():
            if ds != name:
                assert found.get((ds, "o")) == md5, (rnd, ds)
        if got is None:
            state.pop(name, None)
        else:
            state[name] = got
    assert interrupted >= 2, "the kills did not land inside transactions"
    assert admin.sql("SELECT 1") == [(1,)]


def test_concurrent_writers(admin):
    workers, seconds = 6, 3.0
    shared = ["ds%d" % i for i in range(3)]
    kept = {}                 # (ds, obj) -> md5 committed to append-only datastores
    errors = []
    unexpected = []
    ops = [0]
    lock = threading.Lock()
    stop = time.monotonic() + seconds

    def worker(i):
        rng = random.Random(i)
        conn = connect(ALICE)
        cur = conn.cursor()
        n = 0
        while time.monotonic() < stop:
            n += 1
            name = rng.choice(shared)
            data = os.urandom(rng.randint(1, 200_000))
            op = rng.choice(("overwrite", "append", "delete_obj", "delete",
                             "grant", "revoke", "keep"))
            try:
                if op == "overwrite":
                    save(cur, name, {"a": data, "b": data[:10]})
                elif op == "append":
                    save(cur, name, {"w%d_%d" % (i, n): data}, overwrite=False, append=True)
                elif op == "delete_obj":
                    cur.execute("SELECT oml.ds_delete(%s, ARRAY['a'])", (name,))
                elif op == "delete":
                    cur.execute("SELECT oml.ds_delete(%s)", (name,))
                elif op in ("grant", "revoke"):
                    cur.execute("SELECT oml.pyq%s(%%s, 'datastore', %%s)"
                                % op.capitalize(), (name, BOB))
                else:
                    save(cur, "keep%d" % i, {"k%d" % n: data}, overwrite=False, append=True)
                conn.commit()
                with lock:
                    ops[0] += 1
                    if op == "keep":
                        kept[("keep%d" % i, "k%d" % n)] = hashlib.md5(data).hexdigest()
            except psycopg2.Error as e:
                conn.rollback()
                with lock:
                    (errors if e.pgcode in ("40001", "40P01", "42704") else unexpected).append(
                        (op, e.pgcode, str(e).splitlines()[0]))
        conn.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert unexpected == []
    assert ops[0] > 50, (ops[0], errors[:5])
    print("concurrent writers: %d operations committed, %d retryable errors, %d kept objects"
          % (ops[0], len(errors), len(kept)))
    with admin.conn.cursor() as cur:
        found = check_invariants(cur)
        cur.execute("SELECT owner, name, count(*) FROM oml.datastore GROUP BY 1, 2 HAVING count(*) > 1")
        assert cur.fetchall() == []
    for key, md5 in kept.items():
        assert found.get(key) == md5, key

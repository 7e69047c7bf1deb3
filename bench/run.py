"""oml_store benchmarks against plpython3u and client-side Python.

Run by `make bench` inside a throwaway cluster (scripts/with-cluster.sh), so
the PG* variables name a superuser.  Every workload measures oml_store and
its peers in the same run, on the same data, and prints ratios; nothing
here asserts a time.  `--quick` runs smaller sizes (for a smoke test).

Peers are what a competent user would write:
  - plpython3u functions doing the same job in the server;
  - a client pulling data with psycopg2 `COPY ... TO STDOUT` into
    pandas.read_csv (the fastest client path measured here), and the same
    with psycopg 3 (Debian's pure-Python build) for reference;
  - for datastores, a raw bytea INSERT/SELECT of the same pickle through the
    driver, and pickle to a local file (the floor).
"""

import argparse
import io
import json
import os
import pickle
import re
import subprocess
import sys
import tempfile
import time

import numpy as np
import pandas as pd
import psycopg2

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python"))
import oml_store as oml  # noqa: E402

DB = "oml_bench"
RESULTS = []


def connect(dbname=DB):
    conn = psycopg2.connect(dbname=dbname)
    conn.autocommit = True
    return conn


def timed(fn, repeat=3):
    """Best wall time of fn() over repeat runs, in seconds, and its result."""
    best, result = None, None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        dt = time.perf_counter() - t0
        best = dt if best is None else min(best, dt)
    return best, result


def record(workload, ours, peers, target=None, unit="s"):
    """peers: list of (name, seconds).  ratio = peer / ours (>1: we win)."""
    RESULTS.append((workload, ours, peers, target, unit))
    line = "%-44s oml_store %9.3f %s" % (workload, ours, unit)
    for name, value in peers:
        line += " | %s %.3f (x%.2f)" % (name, value, value / ours if ours else float("nan"))
    print(line, flush=True)


def rss_kb(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def setup(sizes):
    admin = connect(os.environ.get("PGDATABASE", "postgres"))
    cur = admin.cursor()
    cur.execute("DROP DATABASE IF EXISTS " + DB)
    cur.execute("CREATE DATABASE " + DB)
    admin.close()
    conn = connect()
    cur = conn.cursor()
    cur.execute("CREATE EXTENSION oml_store")
    cur.execute("CREATE EXTENSION plpython3u")
    for n in sizes:
        cur.execute("""
            CREATE TABLE t%d AS
            SELECT g AS id, random() AS a, random() AS b, random() AS c,
                   random() AS d, md5(g::text) AS s
              FROM generate_series(1, %d) g""" % (n, n))
        cur.execute("VACUUM ANALYZE t%d" % n)
    cur.execute("""SELECT oml.pyqScriptCreate('triv', $$
def f(x=0):
    return x + 1
$$)""")
    cur.execute("""CREATE FUNCTION py_triv(par text) RETURNS text
        LANGUAGE plpython3u AS $$
import json
a = json.loads(par)
def f(x=0):
    return x + 1
return json.dumps(f(**a))
$$""")
    cur.execute("""CREATE FUNCTION py_bare(x int) RETURNS int
        LANGUAGE plpython3u AS $$ return x + 1 $$""")
    cur.execute("""SELECT oml.pyqScriptCreate('means', $$
def f(df):
    return df[["a", "b", "c", "d"]].mean().to_frame().T
$$)""")
    cur.execute("""CREATE FUNCTION py_means(tab text)
        RETURNS TABLE (a float8, b float8, c float8, d float8)
        LANGUAGE plpython3u AS $$
import pandas as pd
rows = plpy.execute("SELECT a, b, c, d, s FROM " + plpy.quote_ident(tab))
df = pd.DataFrame.from_records(list(rows))
m = df[["a", "b", "c", "d"]].mean()
return [(m["a"], m["b"], m["c"], m["d"])]
$$""")
    return conn


# -- 1. call overhead -----------------------------------------------------------

def bench_calls(conn, n):
    cur = conn.cursor()
    # JIT compiling the outer query would add the same fixed cost to both.
    cur.execute("SET jit = off")
    ours = py = bare = None
    for _ in range(3):          # interleaved, best of 3 x 2
        o, _ = timed(lambda: cur.execute(
            "SELECT count(*) FROM generate_series(1, %d) g,"
            " LATERAL oml.pyqEval('{\"x\": ' || g || '}', 'JSON', 'triv') e" % n), 2)
        p, _ = timed(lambda: cur.execute(
            "SELECT count(py_triv('{\"x\": ' || g || '}')) FROM generate_series(1, %d) g" % n), 2)
        b, _ = timed(lambda: cur.execute(
            "SELECT count(py_bare(g)) FROM generate_series(1, %d) g" % n), 2)
        ours = o if ours is None else min(ours, o)
        py = p if py is None else min(py, p)
        bare = b if bare is None else min(bare, b)
    cur.execute("RESET jit")
    record("1. %dk pyqEval calls (us/call)" % (n // 1000), ours / n * 1e6,
           [("plpython3u json", py / n * 1e6), ("plpython3u bare", bare / n * 1e6)],
           target="<= 1.5x plpython3u json", unit="us")


# -- 2. table to DataFrame ------------------------------------------------------

def client_copy_psycopg2(n):
    conn = psycopg2.connect(dbname=DB)
    buf = io.StringIO()
    conn.cursor().copy_expert("COPY (SELECT a, b, c, d, s FROM t%d) TO STDOUT WITH CSV HEADER" % n, buf)
    buf.seek(0)
    df = pd.read_csv(buf)
    conn.close()
    return df[["a", "b", "c", "d"]].mean()


def client_copy_psycopg3(n):
    import psycopg
    with psycopg.connect(dbname=DB) as conn:
        buf = io.BytesIO()
        with conn.cursor().copy("COPY (SELECT a, b, c, d, s FROM t%d) TO STDOUT WITH CSV HEADER" % n) as cp:
            for chunk in cp:
                buf.write(chunk)
        buf.seek(0)
        df = pd.read_csv(buf)
    return df[["a", "b", "c", "d"]].mean()


def bench_table(conn, n, with_peers=True):
    cur = conn.cursor()
    q = ("SELECT * FROM oml.pyqTableEval('SELECT a, b, c, d, s FROM t" + str(n) + " LIMIT %d',"
         " '{\"oml_input_type\": \"pandas.DataFrame\"}', NULL::record, 'means')"
         " AS r(a float8, b float8, c float8, d float8)" % n)
    ours, _ = timed(lambda: cur.execute(q), 3)
    floor, _ = timed(lambda: cur.execute("SELECT avg(a), avg(b), avg(c), avg(d) FROM t%d" % n), 3)
    peers = [("SQL avg floor", floor)]
    if with_peers:
        py, _ = timed(lambda: cur.execute("SELECT * FROM py_means('t%d')" % n), 1 if n >= 1000000 else 3)
        c2, _ = timed(lambda: client_copy_psycopg2(n), 2)
        peers += [("plpython3u", py), ("client psycopg2 COPY", c2)]
        try:
            c3, _ = timed(lambda: client_copy_psycopg3(n), 1)
            peers.append(("client psycopg3 COPY", c3))
        except ImportError:
            pass
    record("2. pyqTableEval means, %d rows (s)" % n, ours, peers,
           target=">= 5x plpython3u, >= 2x client")


# -- 3. scoring -----------------------------------------------------------------

def bench_scoring(conn, n, chunk):
    from sklearn.linear_model import LinearRegression

    cur = conn.cursor()
    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.random((1000, 4)), columns=["a", "b", "c", "d"])
    y = X @ np.array([1.0, 2.0, 3.0, 4.0])
    model = LinearRegression().fit(X, y)
    oml.connect(dbname=DB)
    oml.ds.save({"model": model}, "bench_model", overwrite=True)
    oml.disconnect()
    cur.execute("""SELECT oml.pyqScriptCreate('score', $$
def f(df):
    import oml
    m = oml.ds.load('bench_model', to_globals=False)['model']
    out = df[['id']].copy()
    out['pred'] = m.predict(df[['a', 'b', 'c', 'd']])
    return out
$$, v_overwrite => true)""")
    cur.execute("DROP TABLE IF EXISTS scores")
    cur.execute("CREATE TABLE scores (id int, pred float8)")
    q = ("INSERT INTO scores SELECT * FROM oml.pyqRowEval('SELECT id, a, b, c, d FROM t%d',"
         " '{\"oml_input_type\": \"pandas.DataFrame\"}', NULL::record, %d, 'score')"
         " AS r(id int, pred float8)" % (n, chunk))

    def ours_fn():
        cur.execute("TRUNCATE scores")
        cur.execute(q)
    ours, _ = timed(ours_fn, 2)

    cur.execute("""CREATE OR REPLACE FUNCTION py_score(tab text, chunk int)
        RETURNS TABLE (id int, pred float8) LANGUAGE plpython3u AS $$
import pickle
import pandas as pd
m = pickle.loads(plpy.execute("SELECT data FROM oml.datastore_chunk c JOIN oml.datastore_object o ON o.id = c.obj_id WHERE o.name = 'model' ORDER BY seq")[0]["data"])
cur = plpy.cursor("SELECT id, a, b, c, d FROM " + plpy.quote_ident(tab))
while True:
    rows = cur.fetch(chunk)
    if not rows:
        break
    df = pd.DataFrame.from_records(list(rows))
    pred = m.predict(df[["a", "b", "c", "d"]])
    for i, p in zip(df["id"].tolist(), pred.tolist()):
        yield (i, p)
$$""")

    def py_fn():
        cur.execute("TRUNCATE scores")
        cur.execute("INSERT INTO scores SELECT * FROM py_score('t%d', %d)" % (n, chunk))
    py, _ = timed(py_fn, 1)

    def client_fn():
        c = psycopg2.connect(dbname=DB)
        k = c.cursor()
        buf = io.StringIO()
        k.copy_expert("COPY (SELECT id, a, b, c, d FROM t%d) TO STDOUT WITH CSV HEADER" % n, buf)
        buf.seek(0)
        df = pd.read_csv(buf)
        out = pd.DataFrame({"id": df["id"], "pred": model.predict(df[["a", "b", "c", "d"]])})
        k.execute("TRUNCATE scores")
        obuf = io.StringIO()
        out.to_csv(obuf, index=False, header=False)
        obuf.seek(0)
        k.copy_expert("COPY scores FROM STDIN WITH CSV", obuf)
        c.commit()
        c.close()
    cl, _ = timed(client_fn, 2)
    record("3. pyqRowEval scoring, %d rows (s)" % n, ours,
           [("plpython3u", py), ("client fetch+predict+COPY", cl)],
           target=">= 2x best peer")


# -- 4. datastore throughput ------------------------------------------------------

def _median(samples):
    """The median of a list of samples."""
    ordered = sorted(samples)
    return ordered[len(ordered) // 2]


def server_cpu(conn):
    """CPU seconds the whole server (postmaster's children, live or reaped)
    has used so far, or None without /proc."""
    try:
        with open("/proc/%d/stat" % conn.get_backend_pid()) as f:
            postmaster = int(f.read().rsplit(")", 1)[1].split()[1])
        tick = os.sysconf("SC_CLK_TCK")
        total = 0
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open("/proc/%s/stat" % entry) as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue            # ended meanwhile
            if int(entry) == postmaster:
                total += int(fields[13]) + int(fields[14])    # reaped children
            elif int(fields[1]) == postmaster:
                total += int(fields[11]) + int(fields[12])
        return total / tick
    except (OSError, ValueError):
        return None


def bench_datastore(conn, mb, rounds=3):
    """Save / load through oml.ds against the strongest client a competent
    user would write: psycopg 3 with binary parameters and results into a
    bytea column with STORAGE EXTERNAL (psycopg2's hex bytea as a second
    row), and the local-file floor (pickle to a file + fsync, read back).
    Rounds are interleaved; each figure is the median of rounds."""
    import psycopg

    arr = np.random.default_rng(1).random(mb * 1024 * 1024 // 8)
    frame = pd.DataFrame({"a": np.arange(1000000), "b": np.random.default_rng(2).random(1000000),
                          "s": ["x%d" % i for i in range(1000000)]})
    oml.connect(dbname=DB)
    cur = conn.cursor()
    cur.execute("CREATE TABLE IF NOT EXISTS rawb (k text PRIMARY KEY, b bytea)")
    cur.execute("ALTER TABLE rawb ALTER COLUMN b SET STORAGE EXTERNAL")
    tmpdir = tempfile.mkdtemp(prefix="oml_bench_")
    path = os.path.join(tmpdir, "o.pkl")
    for label, obj in (("%d MB ndarray" % mb, arr), ("1M-row DataFrame", frame)):
        size_mb = len(pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)) / 1e6

        def ours_in():
            oml.ds.save({"o": obj}, "bench_ds", overwrite=True)

        def ours_out():
            return oml.ds.load("bench_ds", to_globals=False)

        def pg3_in():
            with psycopg.connect(dbname=DB) as c:
                c.execute("DELETE FROM rawb")
                c.execute("INSERT INTO rawb VALUES ('o', %b)",
                          (pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL),))

        def pg3_out():
            with psycopg.connect(dbname=DB) as c:
                data = c.execute("SELECT b FROM rawb WHERE k = 'o'", binary=True).fetchone()[0]
                return pickle.loads(data)

        def pg2_in():
            c = psycopg2.connect(dbname=DB)
            k = c.cursor()
            k.execute("DELETE FROM rawb")
            k.execute("INSERT INTO rawb VALUES ('o', %s)",
                      (psycopg2.Binary(pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)),))
            c.commit()
            c.close()

        def pg2_out():
            c = psycopg2.connect(dbname=DB)
            k = c.cursor()
            k.execute("SELECT b FROM rawb WHERE k = 'o'")
            o = pickle.loads(k.fetchone()[0])
            c.close()
            return o

        def file_in():
            with open(path, "wb") as f:
                pickle.dump(obj, f, protocol=pickle.HIGHEST_PROTOCOL)
                f.flush()
                os.fsync(f.fileno())

        def file_out():
            with open(path, "rb") as f:
                return pickle.load(f)

        runs = {"ours_in": ours_in, "pg3_in": pg3_in, "pg2_in": pg2_in, "file_in": file_in,
                "ours_out": ours_out, "pg3_out": pg3_out, "pg2_out": pg2_out, "file_out": file_out}
        samples = {k: [] for k in runs}
        cpu = {k: [] for k in runs}         # client + server CPU seconds
        for _ in range(rounds):
            for key, fn in runs.items():
                s0, c0 = server_cpu(conn), time.process_time()
                t0 = time.perf_counter()
                fn()
                samples[key].append(time.perf_counter() - t0)
                s1, c1 = server_cpu(conn), time.process_time()
                if s0 is not None and s1 is not None:
                    cpu[key].append(s1 - s0 + c1 - c0)
        t = {k: _median(v) for k, v in samples.items()}
        for way, peer3, peer2, floor in (("save", "pg3_in", "pg2_in", "file_in"),
                                         ("load", "pg3_out", "pg2_out", "file_out")):
            ours = t["ours_" + ("in" if way == "save" else "out")]
            record("4. %s %s (MB/s)" % (way, label), size_mb / ours,
                   [("psycopg3 binary bytea (EXTERNAL)", size_mb / t[peer3]),
                    ("psycopg2 hex bytea", size_mb / t[peer2]),
                    ("local file + fsync floor", size_mb / t[floor])],
                   target=">= 3x psycopg3 binary", unit="MB/s")
            print("   %s %s: oml_store at %.0f%% of the local-file floor; samples (s): %s"
                  % (way, label, 100 * t[floor] / ours,
                     ", ".join("%s %s" % (k, "/".join("%.3f" % x for x in v))
                               for k, v in samples.items()
                               if k.endswith("_in" if way == "save" else "_out"))),
                  flush=True)
            side = "_in" if way == "save" else "_out"
            if cpu["ours" + side]:
                c = {k: _median(v) for k, v in cpu.items() if v}
                print("   %s %s: CPU (client + whole server) oml_store %.2f s, psycopg3 %.2f s"
                      " (x%.2f), psycopg2 %.2f s, file %.2f s"
                      % (way, label, c["ours" + side], c["pg3" + side],
                         c["pg3" + side] / c["ours" + side], c["pg2" + side],
                         c["file" + side]), flush=True)
    os.unlink(path)
    os.rmdir(tmpdir)
    oml.ds.delete("bench_ds")
    oml.disconnect()


# -- 5. concurrency -------------------------------------------------------------

def pgbench(sql, clients, seconds):
    with tempfile.NamedTemporaryFile("w", suffix=".sql", delete=False) as f:
        f.write(sql + "\n")
        path = f.name
    os.chmod(path, 0o644)
    try:
        out = subprocess.run(
            ["/usr/lib/postgresql/15/bin/pgbench", "-n", "-c", str(clients), "-j", str(min(clients, 2)),
             "-T", str(seconds), "-f", path, DB],
            capture_output=True, text=True, check=True).stdout
    finally:
        os.unlink(path)
    tps = float(re.search(r"tps = ([0-9.]+)", out).group(1))
    lat = float(re.search(r"latency average = ([0-9.]+) ms", out).group(1))
    return tps, lat


def bench_concurrency(seconds):
    ours_sql = "SELECT value FROM oml.pyqEval('{\"x\": 1}', 'JSON', 'triv');"
    py_sql = "SELECT py_triv('{\"x\": 1}');"
    for clients in (1, 8):
        t_ours, l_ours = pgbench(ours_sql, clients, seconds)
        t_py, l_py = pgbench(py_sql, clients, seconds)
        record("5. pgbench -c %d pyqEval (tps)" % clients, t_ours,
               [("plpython3u", t_py)], unit="tps")
        record("5. pgbench -c %d pyqEval latency (ms)" % clients, l_ours,
               [("plpython3u", l_py)], unit="ms")


# -- 6. memory ------------------------------------------------------------------

def bench_memory(n):
    res = {}
    for name, sql in (("oml_store", "SELECT count(*) FROM generate_series(1, 1000) g,"
                       " LATERAL oml.pyqEval('{\"x\": ' || g || '}', 'JSON', 'triv') e"),
                      ("plpython3u", "SELECT count(py_triv('{\"x\": ' || g || '}'))"
                       " FROM generate_series(1, 1000) g")):
        c = connect()
        cur = c.cursor()
        pid = c.get_backend_pid()
        cur.execute(sql)
        after_1k = rss_kb(pid)
        for _ in range(n // 1000 - 1):
            cur.execute(sql)
        after_all = rss_kb(pid)
        c.close()
        res[name] = (after_1k, after_all)
    if res["oml_store"][0] is None:
        print("6. memory: /proc not readable, skipped")
        return
    o, p = res["oml_store"], res["plpython3u"]
    print("6. backend RSS after 1k -> %dk calls: oml_store %d -> %d kB (%+d), plpython3u %d -> %d kB (%+d)"
          % (n // 1000, o[0], o[1], o[1] - o[0], p[0], p[1], p[1] - p[0]))
    RESULTS.append(("6. RSS growth 1k->%dk calls (kB)" % (n // 1000), o[1] - o[0],
                    [("plpython3u", p[1] - p[0])], "flat", "kB"))


# -- 6b. peak backend memory ------------------------------------------------------

def proc_status(pid):
    """VmRSS, VmHWM and RssShmem of process pid, in bytes (None if /proc is
    not readable)."""
    out = {}
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                key, _, value = line.partition(":")
                if key in ("VmRSS", "VmHWM", "RssShmem"):
                    out[key] = int(value.split()[0]) * 1024
    except OSError:
        return None
    return out


def peak_of(conn, sql, params=None):
    """Run sql on conn and return (its rows, the backend's peak private
    memory growth in bytes): VmHWM, reset first through clear_refs, less
    RSS before, less the shared buffers the statement touched (RssShmem
    growth: the server's shared cache, not the backend's own memory)."""
    pid = conn.get_backend_pid()
    with open("/proc/%d/clear_refs" % pid, "w") as f:
        f.write("5")
    before = proc_status(pid)
    cur = conn.cursor()
    cur.execute(sql, params)
    rows = cur.fetchall()
    after = proc_status(pid)
    return rows, (after["VmHWM"] - before["VmRSS"]
                  - (after["RssShmem"] - before["RssShmem"]))


def bench_peak_memory(n, mb):
    """Peak backend memory of pyqTableEval over n rows (against the size of
    the DataFrame the script gets, with its strings) and of an in-server
    oml.ds.load of an object of mb MB (against the object's size)."""
    if proc_status(os.getpid()) is None:
        print("6. peak memory: /proc not readable, skipped")
        return
    cur = connect().cursor()
    cur.execute("""SELECT oml.pyqScriptCreate('df_size', $$
def f(df):
    import pandas as pd
    return pd.DataFrame({"size": [int(df.memory_usage(index=True, deep=True).sum())]})
$$, v_overwrite => true)""")
    cur.execute("""SELECT oml.pyqScriptCreate('ds_load_size', $$
def f(name):
    import oml
    return {"size": int(oml.ds.load(name, to_globals=False)["o"].nbytes)}
$$, v_overwrite => true)""")
    q = ("SELECT * FROM oml.pyqTableEval('SELECT a, b, c, d, s FROM t" + str(n) + " LIMIT %d',"
         " '{\"oml_input_type\": \"pandas.DataFrame\"}', NULL::record, 'df_size')"
         " AS r(size bigint)")
    peaks, size = [], None
    for _ in range(3):
        c = connect()
        c.cursor().execute(q % 1000)                    # pandas imported
        rows, peak = peak_of(c, q % n)
        size = rows[0][0]
        peaks.append(peak)
        c.close()
    record("6. peak memory pyqTableEval %d rows (MB)" % n, _median(peaks) / 1e6,
           [("DataFrame size (deep)", size / 1e6)], target="<= 1.5x the DataFrame", unit="MB")
    print("   ratio %.2fx the DataFrame; samples (MB): %s"
          % (_median(peaks) / size, "/".join("%.0f" % (p / 1e6) for p in peaks)), flush=True)

    oml.connect(dbname=DB)
    oml.ds.save({"o": np.random.default_rng(5).random(mb * 1024 * 1024 // 8)}, "bench_big",
                overwrite=True)
    oml.ds.save({"o": np.arange(10.0)}, "bench_small", overwrite=True)
    oml.disconnect()
    peaks, times = [], []
    for _ in range(3):
        c = connect()
        c.cursor().execute("SELECT value FROM oml.pyqEval('{\"name\": \"bench_small\"}',"
                           " 'JSON', 'ds_load_size')")     # numpy imported
        t0 = time.perf_counter()
        rows, peak = peak_of(c, "SELECT value FROM oml.pyqEval('{\"name\": \"bench_big\"}',"
                                " 'JSON', 'ds_load_size')")
        times.append(time.perf_counter() - t0)
        size = json.loads(rows[0][0])["size"]
        peaks.append(peak)
        c.close()
    record("6. peak memory in-server ds.load %d MB (MB)" % mb, _median(peaks) / 1e6,
           [("object size", size / 1e6)], target="<= 2x the object", unit="MB")
    print("   ratio %.2fx the object, in %.2f s (%.0f MB/s); samples (MB): %s"
          % (_median(peaks) / size, _median(times), size / 1e6 / _median(times),
             "/".join("%.0f" % (p / 1e6) for p in peaks)), flush=True)
    oml.connect(dbname=DB)
    oml.ds.delete("bench_big")
    oml.ds.delete("bench_small")
    oml.disconnect()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="small sizes, for a smoke test")
    ap.add_argument("--only", help="comma-separated workload numbers, e.g. 1,2")
    args = ap.parse_args()
    only = set(args.only.split(",")) if args.only else {"1", "2", "3", "4", "5", "6"}
    if args.quick:
        sizes, calls, big, mb, secs = [10000, 100000], 10000, 100000, 20, 3
    else:
        sizes, calls, big, mb, secs = [100000, 1000000, 4000000], 100000, 1000000, 200, 10
    t0 = time.time()
    print("machine: %d cores, %s; PostgreSQL %s; Python %s"
          % (os.cpu_count(), os.uname().machine,
             subprocess.run(["/usr/lib/postgresql/15/bin/postgres", "--version"],
                            capture_output=True, text=True).stdout.strip(),
             sys.version.split()[0]), flush=True)
    conn = setup(sizes if "2" in only or "3" in only or "6" in only else [])
    if "1" in only:
        bench_calls(conn, calls)
    if "2" in only:
        for n in sizes:
            bench_table(conn, n, with_peers=(n != sizes[-1] or args.quick or len(sizes) == 1))
    if "3" in only:
        bench_scoring(conn, big, max(big // 4, 1))
    if "4" in only:
        bench_datastore(conn, mb)
    if "5" in only:
        bench_concurrency(secs)
    if "6" in only:
        bench_memory(calls)
        bench_peak_memory(big, 20 if args.quick else 500)
    print("\nfinished in %.0f s" % (time.time() - t0))
    print(json.dumps([{"workload": w, "oml_store": o, "peers": dict(p), "unit": u}
                      for w, o, p, _, u in RESULTS]), file=open(os.environ.get("BENCH_JSON", "/dev/null"), "w"))


if __name__ == "__main__":
    main()

"""The registry on a hot standby (issue 11): versions, aliases and grants
are rows of plain tables, so a streaming standby runs 'name@alias' and
sees an alias move once it has replayed it (the move's invalidation of
cached lookups replays too).

Needs to start a second server: runs only as root with runuser and a
local server whose data directory this test can find (PGDATA, or the
server's data_directory setting); skipped otherwise.
"""

import os
import shutil
import subprocess
import tempfile
import time

import psycopg2
import pytest

from conftest import ALICE, BOB, DBNAME, PASSWORD, admin_connect
from test_backup import pg_bin

V1 = "def hs():\n    return 'v1'\n"
V2 = "def hs():\n    return 'v2'\n"


def _can_run():
    return (hasattr(os, "geteuid") and os.geteuid() == 0
            and shutil.which("runuser") is not None
            and os.environ.get("PGHOST", "localhost") in ("localhost", "127.0.0.1"))


# Settings a hot standby needs at least as high as its primary's.
_AS_HIGH = ("max_connections", "max_worker_processes", "max_wal_senders",
            "max_prepared_transactions", "max_locks_per_transaction")


def _config_files(admin, data):
    """A base backup of a cluster whose configuration lives outside its
    data directory (Debian's layout, as under pg_virtualenv) has no
    postgresql.conf or pg_hba.conf: give the standby its own (never the
    primary's postgresql.conf, which names the primary's directories)."""
    conf = os.path.join(data, "postgresql.conf")
    if not os.path.exists(conf):
        with open(conf, "w") as f:
            for name in _AS_HIGH:
                f.write("%s = %s\n" % (name, admin.sql("SHOW " + name)[0][0]))
    hba = os.path.join(data, "pg_hba.conf")
    if not os.path.exists(hba):
        shutil.copyfile(admin.sql("SHOW hba_file")[0][0], hba)
    ident = os.path.join(data, "pg_ident.conf")
    if not os.path.exists(ident):
        open(ident, "w").close()


@pytest.fixture
def standby(admin):
    if not _can_run():
        pytest.skip("needs root, runuser and a local server")
    port = int(os.environ.get("PGPORT", "5432")) + 200
    tmp = tempfile.mkdtemp(prefix="oml_standby_")
    data = os.path.join(tmp, "data")
    env = dict(os.environ)
    res = subprocess.run([pg_bin("pg_basebackup"), "-D", data, "-R", "-X", "stream", "-c", "fast",
                          "-h", env.get("PGHOST", "localhost"),
                          "-p", env.get("PGPORT", "5432"),
                          "-U", env.get("PGUSER", "postgres")],
                         capture_output=True, text=True, env=env, timeout=120)
    if res.returncode != 0:
        shutil.rmtree(tmp, ignore_errors=True)
        pytest.skip("pg_basebackup failed: %s" % res.stderr.strip())
    _config_files(admin, data)
    subprocess.run(["chown", "-R", "postgres", tmp], check=True)
    os.chmod(data, 0o700)
    log = os.path.join(tmp, "log")
    res = subprocess.run(["runuser", "-u", "postgres", "--", pg_bin("pg_ctl"), "-D", data,
                          "-l", log, "-w", "-t", "60", "start", "-o",
                          "-p %d -c unix_socket_directories='%s' -c hot_standby=on" % (port, tmp)],
                         capture_output=True, text=True, timeout=90)
    if res.returncode != 0:
        out = open(log).read() if os.path.exists(log) else ""
        shutil.rmtree(tmp, ignore_errors=True)
        pytest.fail("standby did not start: %s %s" % (res.stderr, out[-2000:]))
    try:
        yield port
    finally:
        subprocess.run(["runuser", "-u", "postgres", "--", pg_bin("pg_ctl"), "-D", data,
                        "-m", "immediate", "stop"], capture_output=True, timeout=60)
        shutil.rmtree(tmp, ignore_errors=True)


def _replayed(port, lsn):
    """Wait (at most a minute) until the standby has replayed lsn."""
    deadline = time.monotonic() + 60
    while True:
        conn = psycopg2.connect(user=os.environ.get("PGUSER", "postgres"),
                                password=os.environ.get("PGPASSWORD"),
                                host="localhost", port=port, dbname=DBNAME)
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", (lsn,))
                if cur.fetchone()[0]:
                    return
        finally:
            conn.close()
        assert time.monotonic() < deadline, "standby did not replay " + lsn
        time.sleep(0.2)


def _primary_lsn():
    a = admin_connect(DBNAME)
    try:
        with a.cursor() as cur:
            cur.execute("SELECT pg_current_wal_lsn()::text")
            return cur.fetchone()[0]
    finally:
        a.close()


def _as(role, port=None):
    kwargs = dict(user=role, password=PASSWORD, dbname=DBNAME)
    if port:
        kwargs.update(host="localhost", port=port)
    conn = psycopg2.connect(**kwargs)
    conn.autocommit = True
    return conn


@pytest.fixture
def registry_rows():
    primary = _as(ALICE)
    cur = primary.cursor()
    cur.execute("SELECT oml.pyqScriptCreate('hs', %s)", (V1,))
    cur.execute("SELECT oml.pyqScriptCreate('hs', %s, v_overwrite => true)", (V2,))
    cur.execute("SELECT oml.script_alias_set('hs', 'prod', 1)")
    cur.execute("SELECT oml.pyqGrant('hs', 'pyqscript', %s, 'execute')", (BOB,))
    yield cur
    primary.close()


def test_standby_replays(registry_rows, standby):
    _replayed(standby, _primary_lsn())
    replica = _as(BOB, standby)
    rcur = replica.cursor()
    rcur.execute("SELECT pg_is_in_recovery()")
    assert rcur.fetchone() == (True,)
    rcur.execute("SELECT value FROM oml.pyqEval(NULL, 'JSON', 'hs@prod', %s)", (ALICE,))
    assert rcur.fetchall() == [('"v1"',)]
    rcur.execute("SELECT value FROM oml.pyqEval(NULL, 'JSON', 'hs', %s)", (ALICE,))
    assert rcur.fetchall() == [('"v2"',)]
    with pytest.raises(psycopg2.Error) as err:
        rcur.execute("SELECT oml.script_load('hs', %s)", (ALICE,))
    assert err.value.pgcode == "42501"
    # a move on the primary reaches the standby's cached lookup
    registry_rows.execute("SELECT oml.script_alias_set('hs', 'prod', 2)")
    _replayed(standby, _primary_lsn())
    rcur.execute("SELECT value FROM oml.pyqEval(NULL, 'JSON', 'hs@prod', %s)", (ALICE,))
    assert rcur.fetchall() == [('"v2"',)]
    a = _as(ALICE, standby)
    with a.cursor() as acur:
        acur.execute("SELECT version, aliases FROM oml.script_versions WHERE name = 'hs' ORDER BY 1")
        assert acur.fetchall() == [(1, []), (2, ["prod"])]
    a.close()
    replica.close()

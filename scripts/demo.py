"""A walkthrough of oml_store with two roles, run by `make demo`.

Runs inside a throwaway cluster (scripts/with-cluster.sh) whose PG*
variables name a superuser.  It creates a database, the extension and two
roles, then: alice saves a DataFrame and a fitted scikit-learn model from
the Python client, lists and describes them, grants them to bob, who loads
them; alice revokes, bob is refused; alice stores a scoring script, and bob
scores a table with it from SQL; alice deletes the datastore.
"""

import os
import sys
import warnings

import numpy as np
import pandas as pd
import psycopg2
from sklearn.linear_model import LinearRegression

import oml_store as oml

DB = "oml_demo"
PASSWORD = "demo-password"


def step(text):
    print("\n== " + text)


def show(obj):
    with pd.option_context("display.width", 120, "display.max_columns", 20):
        print(obj)


def admin_setup():
    """As the superuser: a fresh database, the extension and two roles."""
    conn = psycopg2.connect(dbname=os.environ.get("PGDATABASE", "postgres"))
    conn.autocommit = True
    cur = conn.cursor()
    cur.execute("DROP DATABASE IF EXISTS " + DB)
    cur.execute("CREATE DATABASE " + DB)
    for role in ("alice", "bob"):
        cur.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,))
        verb = "ALTER" if cur.fetchone() else "CREATE"
        cur.execute("%s ROLE %s LOGIN PASSWORD %%s" % (verb, role), (PASSWORD,))
    conn.close()

    conn = psycopg2.connect(dbname=DB)
    conn.autocommit = True
    cur = conn.cursor()
    cur.execute("CREATE EXTENSION oml_store")
    # alice writes scripts: she joins oml_developer (OML4Py's PYQADMIN).
    cur.execute("GRANT oml_developer TO alice")
    cur.execute("CREATE TABLE houses (id int, rooms float8, area float8)")
    cur.execute("INSERT INTO houses SELECT g, 1 + g % 5, 40 + 7 * g FROM generate_series(1, 12) g")
    cur.execute("GRANT SELECT ON houses TO alice, bob")
    conn.close()


def connect_as(role):
    oml.disconnect()
    oml.connect(dbname=DB, user=role, password=PASSWORD,
                host=os.environ.get("PGHOST", "localhost"),
                port=os.environ.get("PGPORT", "5432"))


def sql_as(role, query, params=None):
    conn = psycopg2.connect(dbname=DB, user=role, password=PASSWORD,
                            host=os.environ.get("PGHOST", "localhost"),
                            port=os.environ.get("PGPORT", "5432"))
    try:
        cur = conn.cursor()
        cur.execute(query, params)
        cols = [d[0] for d in cur.description]
        rows = cur.fetchall()
        conn.commit()
        return pd.DataFrame(rows, columns=cols)
    finally:
        conn.close()


def score_houses(df):
    import oml
    m = oml.ds.load("houses", objs=["model"], owner="alice",
                    to_globals=False)["model"]
    out = df[["id"]].copy()
    out["price"] = m.predict(df[["rooms", "area"]])
    return out


def main():
    step("setup: database %s, extension oml_store, roles alice and bob" % DB)
    admin_setup()

    step("alice saves a DataFrame and a fitted model")
    connect_as("alice")
    rng = np.random.default_rng(0)
    train = pd.DataFrame({"rooms": rng.integers(1, 6, 200).astype(float),
                          "area": rng.uniform(30, 200, 200)})
    train["price"] = 50 * train["rooms"] + 3 * train["area"] + rng.normal(0, 5, 200)
    model = LinearRegression().fit(train[["rooms", "area"]], train["price"])
    oml.ds.save({"train": train, "model": model}, "houses",
                description="house prices", grantable=True)
    show(oml.ds.dir())

    step("alice describes it (metadata recorded at save time, nothing unpickled)")
    show(oml.ds.describe("houses"))

    step("alice grants it to bob")
    oml.grant("houses", user="bob")
    show(oml.ds.dir(dstype="grant"))

    step("bob lists what he can read and loads the model")
    connect_as("bob")
    show(oml.ds.dir(dstype="granted"))
    objs = oml.ds.load("houses", objs=["model"], owner="alice", to_globals=False)
    print("bob's model predicts", objs["model"].predict(pd.DataFrame({"rooms": [3.0], "area": [100.0]})))

    step("alice revokes; bob is refused")
    connect_as("alice")
    oml.revoke("houses", user="bob")
    connect_as("bob")
    try:
        oml.ds.load("houses", owner="alice")
    except oml.OMLError as exc:
        print("bob gets: %s (SQLSTATE %s)" % (exc.message, exc.sqlstate))

    step("alice stores a scoring script (a Python function) and grants it to bob")
    connect_as("alice")
    oml.grant("houses", user="bob")
    oml.script.create("score_houses", score_houses)
    oml.grant("score_houses", typ="pyqscript", user="bob")
    show(oml.script.dir()[["name", "script"]])

    step("alice tries it from Python: oml.table_apply runs it in the server")
    show(oml.table_apply("houses", "score_houses",
                         oml_input_type="pandas.DataFrame").head(3))

    step("bob scores the houses table from SQL")
    query = ("SELECT * FROM oml.pyqTableEval('houses', "
             "'{\"oml_input_type\": \"pandas.DataFrame\"}', "
             "NULL::record, 'score_houses', 'alice') AS t(id int, price float8) ORDER BY id")
    print(query)
    show(sql_as("bob", query))

    step("bob scores it again as an async job: back at once, fetched when done")
    connect_as("bob")
    job = oml.table_apply("houses", "score_houses", func_owner="alice",
                          oml_input_type="pandas.DataFrame", async_mode=True)
    print("submitted job", job.job_id, "->", job.wait(timeout=120))
    show(job.result().head(3))
    show(sql_as("bob", "SELECT job_id, func, scr_name, state FROM oml.user_pyq_jobs"))

    step("alice deletes the datastore")
    connect_as("alice")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        print("deleted:", oml.ds.delete("houses"))
    show(oml.ds.dir())
    oml.disconnect()

    step("roles like tables: alice still owns a script, so DROP ROLE is refused")
    conn = psycopg2.connect(dbname=DB)
    conn.autocommit = True
    try:
        conn.cursor().execute("DROP ROLE alice")
    except psycopg2.Error as exc:
        print("DROP ROLE alice: %s (SQLSTATE %s)\n  %s"
              % (exc.diag.message_primary, exc.pgcode,
                 (exc.diag.message_detail or "").replace("\n", "\n  ")))
    cur = conn.cursor()
    cur.execute("SHOW shared_preload_libraries")
    print("(shared_preload_libraries = '%s': DROP OWNED BY / REASSIGN OWNED BY"
          " handle datastores and scripts)" % cur.fetchone()[0])
    conn.close()
    print("\ndemo finished")


if __name__ == "__main__":
    sys.exit(main())

--
-- pyq_hygiene: what a script changes in the backend process does not
-- outlive its call, and its output is reported as a capped NOTICE.
-- (Cancel timing, signals and fork are in test/python/test_hygiene.py.)
--
\set VERBOSITY default
\set SHOW_CONTEXT errors
\i sql/include/expect_error.sql

CREATE ROLE regress_pyqh_dev LOGIN IN ROLE oml_developer;
SET ROLE regress_pyqh_dev;

-- Output to sys.stdout and sys.stderr: one NOTICE after the call
SELECT oml.pyqScriptCreate('chatty', $$
def chatty(n=1):
    import sys
    for i in range(n):
        print("line", i)
    print("to stderr", file=sys.stderr)
    return n
$$);
SELECT value FROM oml.pyqEval('{"n": 2}', 'JSON', 'chatty');

-- ... also before the error of a failing call
SELECT oml.pyqScriptCreate('fails', $$
def fails():
    print("about to fail")
    raise ValueError("boom")
$$);
SELECT * FROM pg_temp.expect_error($$SELECT value FROM oml.pyqEval(NULL, 'JSON', 'fails')$$);

-- ... at most oml_store.max_output_bytes per call; 0 discards it
SHOW oml_store.max_output_bytes;
SET oml_store.max_output_bytes = 12;
SELECT value FROM oml.pyqEval('{"n": 3}', 'JSON', 'chatty');
SET oml_store.max_output_bytes = 0;
SELECT value FROM oml.pyqEval('{"n": 3}', 'JSON', 'chatty');
RESET oml_store.max_output_bytes;
SELECT * FROM pg_temp.expect_error($$SET oml_store.max_output_bytes = -1$$);

-- Working directory, recursion limit, environment, umask, sys.path: put back
SELECT oml.pyqScriptCreate('meddle', $$
def meddle():
    import os, sys
    os.chdir("/")
    sys.setrecursionlimit(50000)
    os.environ["OML_REGRESS"] = "x"
    os.umask(0)
    sys.path.append("/nonexistent")
    return [os.getcwd(), sys.getrecursionlimit()]
$$);
SELECT oml.pyqScriptCreate('look', $$
def look():
    import os, sys
    mask = os.umask(0o077)
    os.umask(mask)
    return [os.path.exists("PG_VERSION"),
            sys.getrecursionlimit(), os.environ.get("OML_REGRESS"),
            mask != 0, "/nonexistent" in sys.path]
$$);
SELECT value FROM oml.pyqEval(NULL, 'JSON', 'look');
SELECT value FROM oml.pyqEval(NULL, 'JSON', 'meddle');
SELECT value FROM oml.pyqEval(NULL, 'JSON', 'look');

-- SIGALRM timers belong to PostgreSQL (statement_timeout)
SELECT oml.pyqScriptCreate('alarm', $$
def alarm():
    import signal
    signal.alarm(5)
$$);
SELECT * FROM pg_temp.expect_error($$SELECT value FROM oml.pyqEval(NULL, 'JSON', 'alarm')$$);

RESET ROLE;
DELETE FROM oml.script WHERE owner = 'regress_pyqh_dev'::regrole;
DROP ROLE regress_pyqh_dev;

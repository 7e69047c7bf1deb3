#!/usr/bin/python3
"""oml_store walkthrough, run by `make demo` inside a throwaway cluster.

Connection settings come from the PG* environment variables (PGHOST, PGPORT,
PGUSER, PGPASSWORD, PGDATABASE) that pg_virtualenv exports; ./python is on
PYTHONPATH. The extension is installed but not yet created in any database.
"""

print("demo not yet written")

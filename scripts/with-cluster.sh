#!/usr/bin/env bash
# Run a command inside a throwaway PostgreSQL cluster, then drop the cluster.
#
#   scripts/with-cluster.sh COMMAND [ARGS...]      e.g. scripts/with-cluster.sh make installcheck-all
#   scripts/with-cluster.sh                        an interactive shell (psql works as-is)
#
# Uses Debian's pg_virtualenv with -t, so the cluster lives in a temporary
# directory even when run as root (it never touches /etc/postgresql/15/regress,
# and a killed run leaves nothing that blocks the next one). The server runs as
# the `postgres` OS user. Inside, the command sees:
#   PGHOST=localhost PGPORT=<port> PGUSER=postgres (superuser; $USER when not root)
#   PGPASSWORD=<random> PGDATABASE=postgres PG_CONFIG=.../15/bin/pg_config
#   PGVERSION=15 PGSYSCONFDIR=<tmp>  (pg_service.conf there has a [15] service)
# The cluster is initialised with locale C.UTF-8 and encoding UTF8 whatever the
# caller's locale (otherwise an unset LANG would give SQL_ASCII).
#
# Environment knobs:
#   HARNESS_PG_VERSION   server version (default 15)
#   HARNESS_PG_OPTS      whitespace-separated guc=value settings for postgresql.conf,
#                        e.g. HARNESS_PG_OPTS="max_prepared_transactions=10 log_min_messages=debug1"
#                        (shared_preload_libraries=oml_store is the default; pass
#                        shared_preload_libraries= to run without it)
set -euo pipefail

if ! command -v pg_virtualenv >/dev/null 2>&1; then
    echo "with-cluster: pg_virtualenv not found (package postgresql-common); run scripts/install-deps.sh" >&2
    exit 2
fi

version=${HARNESS_PG_VERSION:-15}
args=(-t -v "$version" -c "--locale=C.UTF-8 --encoding=UTF8")
# oml_store's hooks (DROP ROLE / DROP OWNED / REASSIGN OWNED, pg_dump check)
# need the library in every backend, as on a real server; a
# shared_preload_libraries in HARNESS_PG_OPTS replaces this one.
case " ${HARNESS_PG_OPTS:-} " in
    *" shared_preload_libraries="*) ;;
    *) args+=(-o "shared_preload_libraries=oml_store") ;;
esac
for opt in ${HARNESS_PG_OPTS:-}; do
    args+=(-o "$opt")
done

# Clients (psql, Python) get a UTF-8 locale too, unless the caller chose one.
if [ -z "${LC_ALL:-}" ] && [ -z "${LANG:-}" ]; then
    export LANG=C.UTF-8
fi

exec pg_virtualenv "${args[@]}" "$@"

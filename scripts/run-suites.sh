#!/usr/bin/env bash
# shellcheck disable=SC2317  # the suite_* functions are called indirectly
# Run oml_store's test suites against the server the PG* environment points at
# (normally inside scripts/with-cluster.sh, via `make test`). The extension must
# already be installed in that server's PostgreSQL (`make install`); each suite
# runs CREATE EXTENSION itself, once per database it creates.
#
#   scripts/run-suites.sh [SUITE...]
#
# SUITE is one of
#   regress       pg_regress via PGXS `make installcheck` (sql/*.sql, expected/*.out)
#   isolation     pg_isolation_regress on test/isolation/specs/*.spec
#   pytest        /usr/bin/python3 -m pytest -m "not large" test/python
#   pytest-large  /usr/bin/python3 -m pytest -m large test/python
# default: regress isolation pytest. Every suite runs even when an earlier one
# failed; the exit status is 1 if any failed.
#
# Narrowing (environment, or make command-line variables):
#   REGRESS="a b"          only these pg_regress tests (names without .sql)
#   ISOLATION_SPECS="a b"  only these isolation specs (names without .spec; not
#                          ISOLATION, which would switch on PGXS's own isolation run)
#   PYTEST_ARGS="..."      extra pytest arguments (shell-quoted), e.g.
#                          PYTEST_ARGS='test/python/test_ds.py -k "save and not append" -x'
#                          (a file or directory given there replaces test/python)
#   HARNESS_TIMEOUT_<SUITE>  seconds before a suite is killed (REGRESS 420,
#                            ISOLATION 420, PYTEST 900, PYTEST_LARGE 1200)
#
# Tests may use $OML_TEST_SHARED_DIR: an empty directory that both this runner
# (e.g. root) and a local server's OS user (postgres) can read and write, for
# files the server itself must read or write (COPY, server-side file output).
# It is removed afterwards. The repository itself is not writable by the server.
set -uo pipefail

cd "$(dirname "$0")/.." || exit 2
ROOT=$PWD
PG_CONFIG=${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}
PYTHON=/usr/bin/python3          # Debian's; a pyenv python3 may be first on PATH
MAKE=${MAKE:-make}
EXTENSION=oml_store

suites=("$@")
[ ${#suites[@]} -gt 0 ] || suites=(regress isolation pytest)
for s in "${suites[@]}"; do
    case "$s" in
        regress|isolation|pytest|pytest-large) ;;
        *) echo "run-suites: unknown suite '$s' (regress isolation pytest pytest-large)" >&2; exit 2 ;;
    esac
done

# ---------------------------------------------------------------- helpers
header() {
    printf '\n==================== %s ====================\n' "$*"
}

# show_file FILE: print a diff/log file, capped so a flood stays readable.
show_file() {
    local f=$1 max=400 n
    [ -s "$f" ] || return 0
    n=$(wc -l < "$f")
    printf -- '----- %s (%s lines) -----\n' "$f" "$n"
    head -n "$max" "$f"
    [ "$n" -le "$max" ] || printf -- '----- ... %s more lines in %s -----\n' "$((n - max))" "$f"
}

# run_timed SECONDS CMD...: run CMD, killing its whole process group on timeout.
run_timed() {
    local secs=$1; shift
    timeout -k 15 "$secs" "$@"
}

# list_names DIR SUFFIX [EXCLUDE-PREFIX]: sorted base names of DIR/*SUFFIX, space-separated.
list_names() {
    local dir=$1 suffix=$2 exclude=${3:-} f name out=()
    for f in "$dir"/*"$suffix"; do
        [ -f "$f" ] || continue
        name=$(basename "$f" "$suffix")
        if [ -n "$exclude" ] && [[ $name == "$exclude"* ]]; then continue; fi
        out+=("$name")
    done
    [ ${#out[@]} -eq 0 ] || printf '%s\n' "${out[@]}" | LC_ALL=C sort | tr '\n' ' '
}

# ---------------------------------------------------------------- checks
PSQL=$("$PG_CONFIG" --bindir)/psql
if ! server_version=$("$PSQL" -XAtqc 'show server_version' 2>&1); then
    echo "run-suites: $server_version" >&2
    echo "run-suites: cannot connect with PGHOST=${PGHOST:-} PGPORT=${PGPORT:-} PGUSER=${PGUSER:-} PGDATABASE=${PGDATABASE:-}" >&2
    echo "run-suites: run inside scripts/with-cluster.sh, or point the PG* variables at a server" >&2
    exit 2
fi

OML_TEST_SHARED_DIR=$(mktemp -d /tmp/oml_store_test.XXXXXX)
chmod 1777 "$OML_TEST_SHARED_DIR"
export OML_TEST_SHARED_DIR
trap 'rm -rf "$OML_TEST_SHARED_DIR"' EXIT

if [ "$(id -u)" -eq 0 ] && id postgres >/dev/null 2>&1 \
   && ! runuser -u postgres -- test -r "$ROOT/Makefile" 2>/dev/null; then
    echo "run-suites: note: the postgres OS user cannot read $ROOT; server-side reads of repository files will fail"
fi

# ---------------------------------------------------------------- suites
# Each suite function returns 0 ok, 1 failed, 3 skipped (nothing to run).

suite_regress() {
    local tests
    if [ -n "${REGRESS+x}" ]; then
        tests=$REGRESS
    else
        tests=$(list_names sql .sql "$EXTENSION--")
    fi
    if [ -z "${tests// /}" ]; then
        echo "no pg_regress tests (sql/*.sql); skipping"
        return 3
    fi
    rm -rf results regression.diffs regression.out
    echo "tests: $tests"
    run_timed "${HARNESS_TIMEOUT_REGRESS:-420}" \
        "$MAKE" -s --no-print-directory -C "$ROOT" installcheck REGRESS="$tests"
    local rc=$?
    if [ "$rc" -ne 0 ]; then
        [ "$rc" -ne 124 ] || echo "regress: TIMEOUT after ${HARNESS_TIMEOUT_REGRESS:-420}s"
        show_file regression.diffs
        return 1
    fi
}

suite_isolation() {
    local tests bindir iso
    if [ -n "${ISOLATION_SPECS+x}" ]; then
        tests=$ISOLATION_SPECS
    else
        tests=$(list_names test/isolation/specs .spec)
    fi
    if [ -z "${tests// /}" ]; then
        echo "no isolation specs (test/isolation/specs/*.spec); skipping"
        return 3
    fi
    bindir=$("$PG_CONFIG" --bindir)
    iso=$(dirname "$("$PG_CONFIG" --pgxs)")/../../src/test/isolation/pg_isolation_regress
    if [ ! -x "$iso" ]; then
        echo "pg_isolation_regress not found at $iso (package postgresql-server-dev-15)"
        return 1
    fi
    rm -rf output_iso
    echo "specs: $tests"
    # shellcheck disable=SC2086
    run_timed "${HARNESS_TIMEOUT_ISOLATION:-420}" \
        "$iso" --inputdir=test/isolation --outputdir=output_iso --bindir="$bindir" \
        --dbname=isolation_regression --load-extension="$EXTENSION" $tests
    local rc=$?
    if [ "$rc" -ne 0 ]; then
        [ "$rc" -ne 124 ] || echo "isolation: TIMEOUT after ${HARNESS_TIMEOUT_ISOLATION:-420}s"
        show_file output_iso/regression.diffs
        return 1
    fi
}

# run_pytest MARKEXPR TIMEOUT
run_pytest() {
    local mark=$1 secs=$2 files
    files=$(find test/python -type f \( -name 'test_*.py' -o -name '*_test.py' \) 2>/dev/null | head -n 1)
    if [ -z "$files" ]; then
        echo "no pytest files (test/python/test_*.py); skipping"
        return 3
    fi
    local extra=() where=(test/python) a p
    eval "extra=(${PYTEST_ARGS:-})"     # shell-quoted, e.g. PYTEST_ARGS='-k "save and not append"'
    # A test file or directory in PYTEST_ARGS replaces the default test/python.
    for a in "${extra[@]}"; do
        p=${a%%::*}
        if [[ $p == *.py || $p == test/python* ]] && [ -e "$p" ]; then where=(); fi
    done
    # Debian's Python with only Debian's packages plus ./python; the PG*
    # connection variables are inherited from the environment.
    # PYTHONSAFEPATH=1 (python -P): keep the current directory off sys.path, or
    # `import oml_store` finds the repository's built ./oml_store.so (the
    # PostgreSQL module) instead of python/oml_store, and fails.
    run_timed "$secs" env -u PYTHONHOME PYTHONPATH="$ROOT/python" PYTHONNOUSERSITE=1 PYTHONSAFEPATH=1 \
        "$PYTHON" -m pytest -q -p no:cacheprovider -m "$mark" "${where[@]}" "${extra[@]}"
    local rc=$?
    case $rc in
        0) return 0 ;;
        5) echo "pytest: no tests collected for -m \"$mark\" although test files exist"; return 1 ;;
        124) echo "pytest: TIMEOUT after ${secs}s"; return 1 ;;
        *) return 1 ;;
    esac
}
suite_pytest()       { run_pytest "not large" "${HARNESS_TIMEOUT_PYTEST:-900}"; }
suite_pytest_large() { run_pytest "large" "${HARNESS_TIMEOUT_PYTEST_LARGE:-1200}"; }

# ---------------------------------------------------------------- main
summary=()
failed=0
i=0
echo "run-suites: PostgreSQL $server_version at ${PGHOST:-<socket>}:${PGPORT:-5432} as ${PGUSER:-$(id -un)}"
preload=$("$PSQL" -XAtqc 'show shared_preload_libraries' 2>/dev/null)
case ",${preload// /}," in
    *,oml_store,*) ;;
    *) echo "run-suites: note: shared_preload_libraries does not include oml_store; tests of its hooks are skipped" ;;
esac
for s in "${suites[@]}"; do
    i=$((i + 1))
    header "[$i/${#suites[@]}] $s"
    start=$SECONDS
    "suite_${s//-/_}"
    rc=$?
    took=$((SECONDS - start))
    case $rc in
        0) summary+=("$s ok"); echo "--> $s ok (${took}s)" ;;
        3) summary+=("$s skipped"); echo "--> $s skipped" ;;
        *) summary+=("$s FAILED"); failed=1; echo "--> $s FAILED (${took}s)" ;;
    esac
done

line=$(printf '%s, ' "${summary[@]}")
echo
echo "suites: ${line%, }"
exit $failed

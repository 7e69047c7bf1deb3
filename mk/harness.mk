# Test, demo and CI harness for oml_store (included at the end of ../Makefile).
#
#   make test             deps + build (-Werror) + install, then in ONE throwaway
#                         PostgreSQL 15 cluster: pg_regress, isolation, pytest -m "not large";
#                         then the Debian packages: make test-deb (mk/deb.mk: build,
#                         lintian, install, pg_buildext installcheck; HARNESS_DEB= skips it,
#                         and so does a narrowed run with HARNESS_SUITES=...)
#   make test-large       same setup, then only pytest -m large (the 1.5 GB object test)
#   make demo             same setup, then /usr/bin/python3 scripts/demo.py in the cluster
#   make installcheck-all the three suites against whatever server PG* points at
#                         (no deps, no build, no cluster; extension must be installed)
#   make deps             scripts/install-deps.sh (missing Debian packages only)
#
# Narrowing a run (make variables, passed down into the cluster):
#   make test HARNESS_SUITES="regress"          only some suites (regress isolation pytest)
#   make test HARNESS_SUITES=regress REGRESS=datastore          one pg_regress test
#   make test HARNESS_SUITES=isolation ISOLATION_SPECS=concurrent_save  one isolation spec
#   make test HARNESS_SUITES=pytest PYTEST_ARGS='test/python/test_x.py -k "name and not other"'
#   make test HARNESS_SUITES=pytest-large        (what make test-large runs)
# or by hand, after `make && make install`:
#   scripts/with-cluster.sh make installcheck REGRESS=datastore
#   scripts/with-cluster.sh env PYTHONPATH=python /usr/bin/python3 -P -m pytest test/python/test_x.py -k name
#   (-P keeps the repo root off sys.path: there `import oml_store` would find the
#   built PostgreSQL module ./oml_store.so instead of python/oml_store)
#   scripts/with-cluster.sh          (a shell with PGHOST/PGPORT/PGUSER/PGPASSWORD set; psql just works)
# pytest tests create their own extension (CREATE EXTENSION in their fixtures);
# pg_regress and isolation get it from --load-extension.
# The cluster runs with shared_preload_libraries=oml_store (see scripts/with-cluster.sh).
# Other knobs: HARNESS_PG_OPTS="guc=value ..." (server settings), HARNESS_WERROR=
# (empty: build without -Werror), HARNESS_TIMEOUT_<SUITE> (see scripts/run-suites.sh).

HARNESS_SUITES ?= regress isolation pytest
# The Debian package stage of make test; off in a narrowed run
# (HARNESS_SUITES given on the command line) unless HARNESS_DEB=1.
HARNESS_DEB ?= $(if $(filter command line,$(origin HARNESS_SUITES)),,1)
HARNESS_WERROR ?= 1
HARNESS_PYTHON := /usr/bin/python3
HARNESS_PYTHON_CONFIG := /usr/bin/python3-config
HARNESS_CLUSTER := scripts/with-cluster.sh
# Build/install always against Debian's Python, whatever PYTHON is in the environment.
HARNESS_BUILD_VARS := PG_CONFIG=$(PG_CONFIG) PYTHON=$(HARNESS_PYTHON) PYTHON_CONFIG=$(HARNESS_PYTHON_CONFIG)

.PHONY: deps harness-prepare harness-build test test-large demo installcheck-all installcheck-large demo-run

deps:
	@scripts/install-deps.sh

# Deps first, then a fresh make (this one may have been parsed before
# pg_config/python3-config existed), then install.
harness-prepare: deps
	@$(MAKE) --no-print-directory harness-build $(HARNESS_BUILD_VARS)
	@echo "==================== make install ===================="
	@$(MAKE) --no-print-directory install $(HARNESS_BUILD_VARS)

# Rebuild from scratch so -Werror sees every file, even ones built earlier without it.
harness-build:
	@echo "==================== build$(if $(HARNESS_WERROR), (WERROR=1)) ===================="
	rm -f $(OBJS) $(OBJS:.o=.bc) $(MODULE_big)$(DLSUFFIX)
	@$(MAKE) --no-print-directory all $(if $(HARNESS_WERROR),WERROR=1)

test: harness-prepare
	@$(HARNESS_CLUSTER) $(MAKE) --no-print-directory installcheck-all
ifneq ($(HARNESS_DEB),)
	@$(MAKE) --no-print-directory test-deb
endif

test-large: harness-prepare
	@$(HARNESS_CLUSTER) $(MAKE) --no-print-directory installcheck-large

demo: harness-prepare
	@$(HARNESS_CLUSTER) $(MAKE) --no-print-directory demo-run

installcheck-all:
	@MAKE="$(MAKE)" PG_CONFIG="$(PG_CONFIG)" scripts/run-suites.sh $(HARNESS_SUITES)

installcheck-large:
	@MAKE="$(MAKE)" PG_CONFIG="$(PG_CONFIG)" scripts/run-suites.sh pytest-large

demo-run:
	@echo "==================== demo ===================="
	@env -u PYTHONHOME PYTHONPATH="$(CURDIR)/python" PYTHONNOUSERSITE=1 PYTHONSAFEPATH=1 $(HARNESS_PYTHON) scripts/demo.py

# Benchmarks against plpython3u and client-side Python (bench/run.py):
#   make bench                      full sizes (under 10 minutes on 2 cores); writes
#                                   bench/results/latest.{json,png,md}
#   make bench BENCH_ARGS=--quick   small sizes;  BENCH_ARGS="--only 1,2"
.PHONY: bench bench-run
BENCH_ARGS ?=
# The bench cluster runs with fsync = on, as a real server (bench/run.py
# also turns it on for its run, whatever cluster it is given).
bench: harness-prepare
	@HARNESS_PG_OPTS="$(HARNESS_PG_OPTS) fsync=on" $(HARNESS_CLUSTER) $(MAKE) --no-print-directory bench-run BENCH_ARGS="$(BENCH_ARGS)"

bench-run:
	@echo "==================== bench ===================="
	@env -u PYTHONHOME PYTHONNOUSERSITE=1 PYTHONSAFEPATH=1 $(HARNESS_PYTHON) bench/run.py $(BENCH_ARGS)

# oml_store: Python datastores, script repository and pyq* execution for PostgreSQL
#
# Build with Debian's pg_config and Debian's Python 3.11, whatever else is on PATH.

EXTENSION = oml_store
EXTVERSION = 0.3.0
MODULE_big = oml_store
OBJS = $(patsubst %.c,%.o,$(wildcard src/*.c))
# Release scripts: 0.1.0 is the full install script of the first release;
# every later release is an upgrade script from the one before.  A fresh
# CREATE EXTENSION runs 0.1.0 and then each upgrade in turn, so the newest
# schema is by construction the previous one plus its upgrade.
DATA = $(sort $(wildcard sql/$(EXTENSION)--*.sql))

REGRESS = $(patsubst sql/%.sql,%,$(sort $(filter-out sql/$(EXTENSION)--%,$(wildcard sql/*.sql))))
REGRESS_OPTS = --inputdir=. --load-extension=$(EXTENSION)

PG_CONFIG ?= /usr/lib/postgresql/15/bin/pg_config
PYTHON ?= /usr/bin/python3
PYTHON_CONFIG ?= /usr/bin/python3-config

PG_CPPFLAGS = -I$(srcdir)/src $(shell $(PYTHON_CONFIG) --includes)
PG_CFLAGS = -Wall -Wextra -Wno-unused-parameter -Wno-missing-field-initializers -Wno-sign-compare
SHLIB_LINK = $(shell $(PYTHON_CONFIG) --embed --ldflags)
ifdef WERROR
PG_CFLAGS += -Werror
endif

PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

# The sandbox program (src/sandbox/oml_sandbox.c): a fresh process that
# embeds Python and locks itself down with libseccomp, Landlock and
# namespaces; installed beside the library.
SANDBOX_PROG = src/sandbox/oml_sandbox
EXTRA_CLEAN = $(SANDBOX_PROG)
all: $(SANDBOX_PROG)
$(SANDBOX_PROG): src/sandbox/oml_sandbox.c src/sandbox/frame.h
	$(CC) $(CFLAGS) $(PG_CFLAGS) $(shell $(PYTHON_CONFIG) --includes) -o $@ $< \
		$(LDFLAGS) $(shell $(PYTHON_CONFIG) --embed --ldflags) -lseccomp

install: install-sandbox
.PHONY: install-sandbox
install-sandbox: $(SANDBOX_PROG)
	$(MKDIR_P) '$(DESTDIR)$(pkglibdir)'
	$(INSTALL_PROGRAM) $(SANDBOX_PROG) '$(DESTDIR)$(pkglibdir)/oml_sandbox'

uninstall: uninstall-sandbox
.PHONY: uninstall-sandbox
uninstall-sandbox:
	rm -f '$(DESTDIR)$(pkglibdir)/oml_sandbox'

# The Python package, installed where the embedded runtime finds it.
PY_PKG_DIR = $(datadir)/extension/oml_store_python/oml_store
PY_PKG_FILES = $(wildcard python/oml_store/*.py)

install: install-python
.PHONY: install-python
install-python:
	$(MKDIR_P) '$(DESTDIR)$(PY_PKG_DIR)'
	rm -f '$(DESTDIR)$(PY_PKG_DIR)'/*.py
	$(INSTALL_DATA) $(PY_PKG_FILES) '$(DESTDIR)$(PY_PKG_DIR)/'

uninstall: uninstall-python
.PHONY: uninstall-python
uninstall-python:
	rm -rf '$(DESTDIR)$(datadir)/extension/oml_store_python'

# Test, demo and benchmark targets live apart from the build, and so do the
# Debian package targets (make deb; the package build itself runs only the
# PGXS targets all, install and clean).
include mk/harness.mk
include mk/deb.mk

# oml_store: Python datastores, script repository and pyq* execution for PostgreSQL
#
# Build with Debian's pg_config and Debian's Python 3.11, whatever else is on PATH.

EXTENSION = oml_store
EXTVERSION = 0.1.0
MODULE_big = oml_store
OBJS = $(patsubst %.c,%.o,$(wildcard src/*.c))
DATA = sql/$(EXTENSION)--$(EXTVERSION).sql

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

# Test, demo and benchmark targets live apart from the build.
include mk/harness.mk

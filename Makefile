# PenguinMails data tiers: one C++ shared library serving every pm_* extension.
# `make && make install` (as root) builds it and installs every control and SQL file
# under extension/.  Sources: src/<extension>/ (server glue), src/<extension>/pure/
# (C++ without server headers, unit-tested), src/shared/ (boundary helpers), fdw/.  `make installcheck` runs the pg_regress suite (sql/ + expected/).

MODULE_big = penguinmails
SRCS       = $(sort $(wildcard src/*/*.cpp src/*/pure/*.cpp fdw/*.cpp fdw/common/*.cpp))
OBJS       = $(SRCS:.cpp=.o)

# Control files and versioned scripts live in extension/; install them where
# CREATE EXTENSION looks for them.
MODULEDIR  = extension
DATA       = $(sort $(wildcard extension/*.control extension/*--*.sql))
# pm-restore (restore of a tier database's dump) goes next to pg_restore.
SCRIPTS    = bin/pm-restore

REGRESS      = $(sort $(basename $(notdir $(wildcard sql/*.sql))))
REGRESS_OPTS = --inputdir=. --outputdir=build/regress

PG_CONFIG ?= pg_config
# The server headers are C, not C++17 (`register`, unused inline parameters): include
# them as system headers so -Wall -Wextra speaks only about this project's code.
PG_CPPFLAGS = -I$(srcdir)/src -I$(srcdir) -isystem $(shell $(PG_CONFIG) --includedir-server) \
              -isystem $(shell $(PG_CONFIG) --includedir)
# -MMD -MP: PGXS tracks no header dependencies for C++; the .d files let a header change
# rebuild every object that includes it.
PG_CXXFLAGS = -std=c++17 -Wall -Wextra $(if $(PM_WERROR),-Werror) -MMD -MP
# pm_fdw (fdw/) talks to remote tiers with libpq; the outbox shipper posts with libcurl.
SHLIB_LINK = -lpq -lzstd -lcurl -lstdc++

# Debian builds PostgreSQL with LLVM JIT; PGXS would otherwise compile every .cpp to
# bitcode with clang and without our -std flag.
override with_llvm = no

PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)
-include $(OBJS:.o=.d)

installcheck: | build/regress
build/regress:
	mkdir -p $@

clean: clean-build
.PHONY: clean-build
clean-build:
	rm -rf build $(OBJS:.o=.d)

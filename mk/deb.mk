# Debian packages (debian/, Debian's pg_buildext and debhelper), included at
# the end of ../Makefile.  Nothing here runs during the package build itself.
#
#   make deb              install the build dependencies (scripts/install-deps.sh
#                         --deb), build the packages into build/deb/ (scripts/build-deb.sh)
#   make deb-lintian      lintian on build/deb/*.changes
#   make deb-installcheck install build/deb/*.deb with apt-get, then pg_regress
#                         against the installed package in a throwaway cluster, as
#                         autopkgtest does with pg_buildext installcheck
#                         (scripts/deb-installcheck.sh; replaces files that
#                         `make install` put under /usr)
#   make test-deb         all three (the last part of `make test`)
#   make deb-autopkgtest  debian/tests/control under autopkgtest's null runner on
#                         this machine (installs autopkgtest; not part of make test;
#                         leaves the packages installed)

.PHONY: deb deb-deps deb-build deb-lintian deb-installcheck test-deb deb-autopkgtest

deb: deb-deps
	@$(MAKE) --no-print-directory deb-build

deb-deps:
	@scripts/install-deps.sh --deb

deb-build:
	@echo "==================== make deb ===================="
	@scripts/build-deb.sh

deb-lintian:
	@echo "==================== lintian ===================="
	lintian --fail-on error,warning --pedantic build/deb/*.changes

deb-installcheck:
	@scripts/deb-installcheck.sh

test-deb: deb
	@$(MAKE) --no-print-directory deb-lintian
	@$(MAKE) --no-print-directory deb-installcheck

deb-autopkgtest:
	@OML_DEPS_EXTRA=autopkgtest scripts/install-deps.sh --deb
	@echo "==================== autopkgtest ===================="
	env -u MAKEFLAGS -u MAKELEVEL PATH=/usr/sbin:/usr/bin:/sbin:/bin autopkgtest \
		$(filter-out $(wildcard build/deb/*-dbgsym_*.deb),$(wildcard build/deb/*.deb)) \
		build/deb/src/oml-store-$(EXTVERSION)/ -- null

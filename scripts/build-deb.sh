#!/usr/bin/env bash
# Build the Debian packages (debian/) with Debian's own tooling, into build/deb/.
#
#   scripts/build-deb.sh        (normally via `make deb`)
#
# The build runs in a copy of the working tree (tracked and untracked files
# that git does not ignore) under build/deb/src/oml-store-VERSION, so it starts
# clean, never touches objects of a developer build, and dpkg-buildpackage's
# output into the parent directory lands in build/deb/src/; the .deb,
# .buildinfo and .changes files are then moved to build/deb/.  The copy stays
# there: scripts/deb-installcheck.sh runs the tests from it, as autopkgtest
# runs them from the unpacked source.
#
# Build dependencies: scripts/install-deps.sh --deb.  Build-time tests are
# skipped (DEB_BUILD_OPTIONS=nocheck) unless OML_DEB_CHECK=1: they would
# need a second throwaway cluster; scripts/deb-installcheck.sh runs the same
# pg_regress suite against the installed packages instead.
set -euo pipefail
# Not steered by the variables of a calling make (make test REGRESS=...).
unset MAKEFLAGS MFLAGS MAKELEVEL MAKEOVERRIDES
cd "$(dirname "$0")/.."
ROOT=$PWD
OUT=$ROOT/build/deb

version=$(dpkg-parsechangelog -S Version)
upstream=${version%-*}
SRC=$OUT/src/oml-store-$upstream

# One version everywhere: debian/changelog, the control file's
# default_version, the Makefile's EXTVERSION, META.json and the client.
/usr/bin/python3 - "$upstream" <<'PY'
import json, re, sys
want = sys.argv[1]
found = {
    "debian/changelog": want,
    "oml_store.control default_version":
        re.search(r"^default_version\s*=\s*'([^']*)'", open("oml_store.control").read(), re.M).group(1),
    "Makefile EXTVERSION":
        re.search(r"^EXTVERSION\s*=\s*(\S+)", open("Makefile").read(), re.M).group(1),
    "META.json version": json.load(open("META.json"))["version"],
    "META.json provides": json.load(open("META.json"))["provides"]["oml_store"]["version"],
    "python/oml_store __version__":
        re.search(r'^__version__\s*=\s*"([^"]*)"', open("python/oml_store/__init__.py").read(), re.M).group(1),
}
bad = {k: v for k, v in found.items() if v != want}
if bad:
    sys.exit("build-deb: versions differ from debian/changelog's %s: %s" % (want, bad))
print("build-deb: version %s in %s" % (want, ", ".join(found)))
PY

rm -rf "$OUT"
mkdir -p "$SRC"
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    git ls-files -z -c -o --exclude-standard \
        | tar --null --ignore-failed-read -T - -cf - \
        | tar -C "$SRC" -xf -
else
    tar --exclude=./build --exclude=./.git -cf - . | tar -C "$SRC" -xf -
fi
rm -rf "$SRC/build"

opts=${DEB_BUILD_OPTIONS:-}
[ "${OML_DEB_CHECK:-}" = 1 ] || opts="nocheck${opts:+ $opts}"
echo "build-deb: dpkg-buildpackage -b in $SRC (DEB_BUILD_OPTIONS=$opts)"
# Debian's tools only, as on a build daemon: no python3 of pyenv or a venv
# first on PATH (pybuild runs "python3.11" from PATH).
(cd "$SRC" && PATH=/usr/sbin:/usr/bin:/sbin:/bin DEB_BUILD_OPTIONS=$opts \
    dpkg-buildpackage -b -us -uc)

shopt -s nullglob
files=("$OUT"/src/*.deb "$OUT"/src/*.buildinfo "$OUT"/src/*.changes)
mv "${files[@]}" "$OUT"/
cd "$OUT"
echo "build-deb: in build/deb:"
ls -1 ./*.deb

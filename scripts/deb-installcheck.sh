#!/usr/bin/env bash
# Install the packages that `make deb` built and test them as installed, the
# way Debian's autopkgtest does (debian/tests/control):
#
#   scripts/deb-installcheck.sh        (normally via `make deb-installcheck`)
#
# 1. apt-get install --reinstall ./build/deb/postgresql-15-oml-store_*.deb
#    ./build/deb/python3-oml-store_*.deb (replaces any files `make install`
#    put under /usr/lib/postgresql/15 and /usr/share/postgresql/15);
# 2. dpkg --verify: the files on disk are the packages' files;
# 3. the client imports from /usr/lib/python3/dist-packages, with the
#    package's version;
# 4. pg_buildext installcheck from the packaged source copy
#    (build/deb/src/oml-store-VERSION): pg_regress on sql/*.sql in a throwaway
#    pg_virtualenv cluster with shared_preload_libraries=oml_store;
# 5. in another such cluster, a pytest smoke test of the installed client
#    against the installed extension (test/python/test_connect.py and
#    test_ds_save_load.py, without python/ on PYTHONPATH).
# At the end python3-oml-store is removed again (OML_DEB_KEEP=1 keeps it), so
# that later tests of the client in a virtual environment made with
# --system-site-packages do not see it; postgresql-15-oml-store stays
# installed (its files are the ones `make install` puts there too).
set -euo pipefail
# Not steered by the variables of a calling make (make test REGRESS=...).
unset MAKEFLAGS MFLAGS MAKELEVEL MAKEOVERRIDES
cd "$(dirname "$0")/.."
OUT=$PWD/build/deb

version=$(dpkg-parsechangelog -S Version)
SRC=$OUT/src/oml-store-${version%-*}
shopt -s nullglob
debs=("$OUT"/postgresql-*-oml-store_"$version"_*.deb "$OUT"/python3-oml-store_"$version"_all.deb)
if [ ${#debs[@]} -lt 2 ] || [ ! -d "$SRC" ]; then
    echo "deb-installcheck: no packages of $version in build/deb; run make deb first" >&2
    exit 2
fi
SUDO=()
[ "$(id -u)" -eq 0 ] || SUDO=(sudo)
[ -n "${LC_ALL:-}${LANG:-}" ] || export LANG=C.UTF-8

echo "==================== install the packages ===================="
if [ "${OML_DEB_KEEP:-}" != 1 ]; then
    trap '"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -qq -y remove python3-oml-store >/dev/null && echo "deb-installcheck: removed python3-oml-store again"' EXIT
fi
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -q -y install --reinstall "${debs[@]}"
pkgs=()
for d in "${debs[@]}"; do pkgs+=("$(dpkg-deb -f "$d" Package)"); done
bad=$(dpkg --verify "${pkgs[@]}" || true)
if [ -n "$bad" ]; then
    echo "deb-installcheck: installed files differ from the packages':" >&2
    echo "$bad" >&2
    exit 1
fi
echo "dpkg --verify ${pkgs[*]}: ok"

echo "==================== client import ===================="
(cd / && env -u PYTHONPATH -u PYTHONHOME PYTHONNOUSERSITE=1 /usr/bin/python3 -P -c '
import sys, oml_store
want = sys.argv[1]
assert oml_store.__file__.startswith("/usr/lib/python3/dist-packages/oml_store/"), oml_store.__file__
assert oml_store.__version__ == want, (oml_store.__version__, want)
print("import oml_store:", oml_store.__file__, oml_store.__version__)
' "${version%-*}")

echo "==================== pg_buildext installcheck ===================="
cd "$SRC"
pg_buildext -o shared_preload_libraries=oml_store -c --locale=C.UTF-8 installcheck

echo "==================== installed client against installed extension ===================="
echo 'env -u PYTHONPATH -u PYTHONHOME PYTHONNOUSERSITE=1 /usr/bin/python3 -P -m pytest -q -p no:cacheprovider test/python/test_connect.py test/python/test_ds_save_load.py' \
    | pg_buildext -o shared_preload_libraries=oml_store -c --locale=C.UTF-8 virtualenv

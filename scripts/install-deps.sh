#!/usr/bin/env bash
# Install the Debian 12 packages oml_store needs to build and test.
#
# Idempotent: asks dpkg-query which packages are missing and installs only
# those (one `apt-get update` first, and only when something is missing).
#
#   scripts/install-deps.sh           install what is missing
#   scripts/install-deps.sh --check   only report; exit 1 if something is missing
#   scripts/install-deps.sh --deb     also the Debian packaging tools (make deb:
#                                     debhelper, pg_buildext, dh-python, lintian)
#   scripts/install-deps.sh --deb --check
#
# OML_DEPS_EXTRA="pkg ..." adds packages to the list.
set -euo pipefail

PACKAGES=(
    build-essential
    postgresql-15
    postgresql-server-dev-15
    postgresql-plpython3-15
    postgresql-contrib
    python3.11-dev
    libseccomp-dev
    python3-numpy
    python3-pandas
    python3-sklearn
    python3-matplotlib
    python3-psycopg2
    python3-psycopg
    python3-pytest
    python3-tqdm
    python3-ipython
    python3-pip
    python3-venv
    python3-setuptools
    python3-wheel
    gdb
)
# Building and checking the Debian packages (debian/control's
# Build-Depends, plus what dpkg-buildpackage and the checks use).
DEB_PACKAGES=(
    debhelper
    dpkg-dev
    libseccomp-dev
    fakeroot
    postgresql-server-dev-all
    dh-python
    pybuild-plugin-pyproject
    python3-all
    python3-dev
    python3-setuptools
    python3-wheel
    lintian
)

check_only=
for arg in "$@"; do
    case "$arg" in
        --check) check_only=1 ;;
        --deb) PACKAGES+=("${DEB_PACKAGES[@]}") ;;
        -h|--help) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "install-deps: unknown argument '$arg' (try --help)" >&2; exit 2 ;;
    esac
done
# shellcheck disable=SC2206
PACKAGES+=(${OML_DEPS_EXTRA:-})

if ! command -v dpkg-query >/dev/null 2>&1; then
    echo "install-deps: dpkg-query not found; this script supports Debian 12 only" >&2
    exit 1
fi

# A package counts as present only when dpkg says "installed" (not
# "config-files", "half-installed", or unknown to dpkg).
is_installed() {
    [ "$(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null || true)" = installed ]
}

missing=()
for pkg in "${PACKAGES[@]}"; do
    is_installed "$pkg" || missing+=("$pkg")
done

if [ ${#missing[@]} -eq 0 ]; then
    echo "install-deps: all ${#PACKAGES[@]} packages already installed"
    exit 0
fi

echo "install-deps: missing: ${missing[*]}"
if [ -n "$check_only" ]; then
    exit 1
fi

SUDO=()
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
        SUDO=(sudo)
    else
        echo "install-deps: not root and sudo is not available; install these as root:" >&2
        echo "    apt-get install ${missing[*]}" >&2
        exit 1
    fi
fi

export DEBIAN_FRONTEND=noninteractive
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -qq update
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -q -y install "${missing[@]}"

# Verify: apt-get may "succeed" while leaving a package unconfigured.
still=()
for pkg in "${missing[@]}"; do
    is_installed "$pkg" || still+=("$pkg")
done
if [ ${#still[@]} -ne 0 ]; then
    echo "install-deps: still not installed after apt-get: ${still[*]}" >&2
    exit 1
fi
echo "install-deps: installed ${missing[*]}"

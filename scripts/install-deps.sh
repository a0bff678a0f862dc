#!/usr/bin/env bash
# Installs the Debian 12 packages needed to build, test and run PenguinMails data tiers.
# Idempotent and quiet: when everything is already installed it only asks dpkg (about 1 s)
# and never touches the network.  Must run as root (apt-get).
set -euo pipefail

packages=(
    postgresql-15
    postgresql-server-dev-15
    postgresql-15-pgtap
    postgresql-15-cron
    libtap-parser-sourcehandler-pgtap-perl   # pg_prove
    pkg-config
    g++
    make
    cmake
    libgtest-dev
    libcurl4-openssl-dev
    nlohmann-json3-dev
    libzstd-dev
    python3                                  # the local event sink of the demo and the tests
    curl                                     # ... and how they talk to it
)

missing=()
for pkg in "${packages[@]}"; do
    status=$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null || true)
    [[ "$status" == installed ]] || missing+=("$pkg")
done

if ((${#missing[@]} == 0)); then
    exit 0
fi

if ((EUID != 0)); then
    echo "install-deps: missing packages (${missing[*]}); run this script as root" >&2
    exit 1
fi

echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
# A fresh image has no package lists, and stale lists point at versions the mirror no
# longer has: refresh once, only because something has to be installed.
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "install-deps: done"

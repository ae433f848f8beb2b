#!/bin/sh
# Install the Debian packages the WordPress test fixture needs.
# Idempotent and non-interactive; run as root on Debian 12.
set -eu

PACKAGES="wordpress php-cli php-mysql php-xml mariadb-server openssl systemd"
export DEBIAN_FRONTEND=noninteractive

missing=""
for pkg in $PACKAGES; do
    status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
    if [ "$status" != "install ok installed" ]; then
        missing="$missing $pkg"
    fi
done

if [ -z "$missing" ]; then
    echo "all packages present:$PACKAGES"
    exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
    echo "must run as root to install:$missing" >&2
    exit 1
fi

echo "installing:$missing"
apt-get update -q
# shellcheck disable=SC2086
apt-get install -y -q --no-install-recommends \
    -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold $missing

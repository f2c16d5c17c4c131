#!/bin/sh
# Install what building and testing vigil needs on Debian 12 / Ubuntu,
# skipping packages already present. Needs root (or sudo).
set -eu
BUILD="autoconf automake libtool make pkg-config gcc clang llvm
 libsystemd-dev libudev-dev libnl-3-dev libnl-route-3-dev libcurl4-openssl-dev
 libinih-dev libjson-c-dev libpcre2-dev libcmocka-dev"
TEST="python3 iproute2 e2fsprogs util-linux kmod procps openssl valgrind systemd
 prometheus-alertmanager iputils-ping"
want="$BUILD"
[ "${1:-}" = "--test" ] && want="$BUILD $TEST ${VIGIL_EXTRA_PACKAGES:-}"
missing=""
for p in $want; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO=sudo
echo "deps: installing:$missing" >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q >/dev/null
# shellcheck disable=SC2086
$SUDO apt-get install -y -q --no-install-recommends $missing >/dev/null

#!/bin/sh
# alert delivery latency (event emitted -> 2xx at a loopback receiver) and
# sustained events/s. Prints figures; never fails on time.
BUILD=${1:-$(pwd)}
SRC=$(cd "$(dirname "$0")/.." && pwd)
make -C "$BUILD" tests/integration/plugins/testemit.la >/dev/null 2>&1
VIGIL_BUILD_DIR=$BUILD VIGIL_SOURCE_DIR=$SRC exec python3 "$SRC/bench/alert-latency.py"

#!/bin/sh
# make bench: cost of one blkstall sampling tick on this machine's real /sys
# (readdir of /sys/block and /sys/class/net, two pread()s per watched disk,
# one per virtio_net carrier). Prints figures; never fails on time.
b=${1:-.}
exec "$b/tests/unit/test-blkstall" --bench 20000

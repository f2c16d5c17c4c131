#!/bin/sh
# blkstall for real on this host: a loop device whose backing file sits on
# an ext4 filesystem that we freeze (fsfreeze) -- the loop worker's writes to
# the backing file block, so the kernel shows a request in flight in
# /sys/block/loopN/inflight that does not complete, like a disk whose
# backend stopped. The real vigild must report blk_stall for it (and no
# vhost_backend_lost: a loop disk is not virtio), then blk_resumed once the
# filesystem is thawed. Always thaws and detaches, even on failure. TAP.
set -u
B=${VIGIL_BUILD_DIR:?}; S=${VIGIL_SOURCE_DIR:?}
TAP_PLAN=5
. "$S/tests/integration/tap.sh"
plan

[ -x "$B/vigild" ] && [ -f "$B/plugins/.libs/blkstall.so" ] || skip_all "vigild or blkstall.so not built"
[ "$(id -u)" = 0 ] || skip_all "needs root (loop devices, mount, fsfreeze)"
for c in losetup mkfs.ext4 fsfreeze mount umount; do
    command -v $c >/dev/null 2>&1 || skip_all "$c not installed"
done

t=$(mktemp -d /tmp/vigil-blkstall.XXXXXX)
la=""; lb=""; frozen=0; dd_pid=""; vpid=""
cleanup() {
    [ "$frozen" = 1 ] && fsfreeze -u "$t/mnt" 2>/dev/null
    [ -n "$dd_pid" ] && kill "$dd_pid" 2>/dev/null
    [ -n "$vpid" ] && kill "$vpid" 2>/dev/null
    wait 2>/dev/null
    [ -n "$lb" ] && losetup -d "$lb" 2>/dev/null
    mountpoint -q "$t/mnt" 2>/dev/null && umount "$t/mnt"
    [ -n "$la" ] && losetup -d "$la" 2>/dev/null
    rm -rf "$t"
}
trap cleanup EXIT INT TERM
mkdir -p "$t/mnt" "$t/state" "$t/plugins"
truncate -s 64M "$t/outer.img"
mkfs.ext4 -q -F "$t/outer.img" || skip_all "mkfs.ext4 failed"
la=$(losetup -f --show "$t/outer.img" 2>/dev/null) || skip_all "no free loop device"
mount "$la" "$t/mnt" || skip_all "cannot mount ext4 on $la"
truncate -s 16M "$t/mnt/inner.img"
lb=$(losetup -f --show "$t/mnt/inner.img" 2>/dev/null) || skip_all "no second loop device"
name=$(basename "$lb")

cp "$B/plugins/.libs/blkstall.so" "$t/plugins/"
chmod 0755 "$t/plugins"; chmod 0644 "$t/plugins/blkstall.so"
cat > "$t/vigil.conf" <<EOC
[agent]
plugins = blkstall

[blkstall]
interval = 200ms
stall_secs = 1s
devices = $name
net_carrier = no

[rule io]
match = blk_stall blk_resumed vhost_backend_*
actions = log
EOC
"$B/vigild" -f -c "$t/vigil.conf" --conf-dir "$t/none" --plugin-dir "$t/plugins" --state-dir "$t/state" \
    --data-dir "$S/conf" --control-socket "$t/ctl" >"$t/out" 2>"$t/err" &
vpid=$!
sleep 1

fsfreeze -f "$t/mnt" && frozen=1
dd if=/dev/zero of="$lb" bs=4k count=8 oflag=direct 2>/dev/null &
dd_pid=$!
i=0
while [ $i -lt 100 ] && ! grep -q "\"kind\":\"blk_stall\".*\"name\":\"$name\"" "$t/out"; do sleep 0.1; i=$((i + 1)); done
line=$(grep "\"kind\":\"blk_stall\"" "$t/out" | grep "\"name\":\"$name\"" | head -1)
check_eval '[ -n "$line" ]' "blk_stall for $name while its backing filesystem is frozen (after $((i / 10)).$((i % 10)) s)"
check_eval 'echo "$line" | grep -q "\"condition\":\"blk_stall/$name\"" && echo "$line" | grep -q "\"active\":true" && echo "$line" | grep -Eq "\"write\":[1-9]"' "blk_stall carries condition, active and the in-flight write"
check_eval '! grep -q "vhost_backend_lost" "$t/out"' "no vhost_backend_lost for a non-virtio disk"

fsfreeze -u "$t/mnt" && frozen=0
i=0
while [ $i -lt 50 ] && ! grep -q "\"kind\":\"blk_resumed\".*\"name\":\"$name\"" "$t/out"; do sleep 0.1; i=$((i + 1)); done
line=$(grep "\"kind\":\"blk_resumed\"" "$t/out" | grep "\"name\":\"$name\"" | head -1)
check_eval '[ -n "$line" ] && echo "$line" | grep -q "\"active\":false"' "blk_resumed after thawing"
wait "$dd_pid" 2>/dev/null; dd_pid=""
check_eval '[ "$(grep -c "\"kind\":\"blk_stall\"" "$t/out")" = 1 ]' "exactly one blk_stall (no repeats while stalled)"

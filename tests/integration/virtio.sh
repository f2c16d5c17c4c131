#!/bin/sh
# virtio plugin against the real kernel of this host: the inventory in
# `vigilctl status` matches /sys/bus/virtio, and real kernel uevents (raw
# netlink group, no udevd here) are correlated. The uevents are synthetic --
# written to the devices' `uevent` files, which makes the kernel broadcast
# them without touching the device -- on a virtio device that backs no disk
# or link (rng/balloon/vsock), in the order a hot-unplug sends them. TAP.
set -u
B=${VIGIL_BUILD_DIR:?}; S=${VIGIL_SOURCE_DIR:?}
TAP_PLAN=4
. "$S/tests/integration/tap.sh"
plan

[ -x "$B/vigild" ] && [ -f "$B/plugins/.libs/virtio.so" ] || skip_all "vigild or virtio.so not built"
[ -d /sys/bus/virtio/devices ] && [ -n "$(ls /sys/bus/virtio/devices)" ] || skip_all "no virtio devices on this machine"
[ "$(id -u)" = 0 ] || skip_all "needs root to write uevent files"
# a device with no block/net child, on a PCI function
vdev=""
for v in /sys/bus/virtio/devices/*; do
    p=$(readlink -f "$v")
    [ -e "$p/block" ] || [ -e "$p/net" ] && continue
    [ -f "$(dirname "$p")/vendor" ] || continue
    vdev=$p; break
done
[ -n "$vdev" ] || skip_all "no virtio device without a disk or link to send synthetic uevents for"
pci=$(dirname "$vdev"); bdf=$(basename "$pci"); vname=$(basename "$vdev")

t=$(mktemp -d /tmp/vigil-virtio.XXXXXX)
vpid=""
cleanup() { [ -n "$vpid" ] && kill "$vpid" 2>/dev/null; wait 2>/dev/null; rm -rf "$t"; }
trap cleanup EXIT INT TERM
mkdir -p "$t/state" "$t/plugins"
cp "$B/plugins/.libs/virtio.so" "$t/plugins/"
chmod 0755 "$t/plugins"; chmod 0644 "$t/plugins/virtio.so"
cat > "$t/vigil.conf" <<EOC
[agent]
plugins = virtio

[virtio]
source = kernel
settle = 300ms

[rule dev]
match = virtio_*
actions = log
EOC
"$B/vigild" -f -c "$t/vigil.conf" --conf-dir "$t/none" --plugin-dir "$t/plugins" --state-dir "$t/state" \
    --data-dir "$S/conf" --control-socket "$t/ctl" >"$t/out" 2>"$t/err" &
vpid=$!
i=0
while [ $i -lt 50 ] && [ ! -S "$t/ctl" ]; do sleep 0.1; i=$((i + 1)); done
sleep 0.3

"$B/vigilctl" -s "$t/ctl" status --json > "$t/status" 2>&1
want=$(ls /sys/bus/virtio/devices | wc -l)
got=$(python3 -c "
import json,sys
d=json.load(open('$t/status'))
def find(o):
    if isinstance(o,dict):
        if 'devices' in o and isinstance(o['devices'],list) and o.get('source'): return o['devices']
        for v in o.values():
            r=find(v)
            if r is not None: return r
    elif isinstance(o,list):
        for v in o:
            r=find(v)
            if r is not None: return r
devs=find(d) or []
ok=all(x.get('virtio_mode') in ('legacy','modern') and x.get('pci_bdf') for x in devs)
print(len(devs) if ok else -1)
" 2>/dev/null)
check_eval '[ "$got" = "$want" ]' "vigilctl status lists the $want virtio device(s) with mode and BDF (got $got)"

# the hot-unplug order: virtio unbind, virtio remove, pci unbind, pci remove
echo unbind > "$vdev/uevent" 2>/dev/null || echo remove > "$vdev/uevent"
echo remove > "$vdev/uevent"
echo remove > "$pci/uevent"
i=0
while [ $i -lt 30 ] && ! grep -q '"kind":"virtio_removed"' "$t/out"; do sleep 0.1; i=$((i + 1)); done
line=$(grep '"kind":"virtio_removed"' "$t/out")
check_eval '[ "$(echo "$line" | grep -c .)" = 1 ] && echo "$line" | grep -q "\"pci_bdf\":\"$bdf\"" && echo "$line" | grep -q "\"virtio_name\":\"$vname\""' \
    "one virtio_removed for $vname ($bdf) from kernel uevents"
check_eval 'echo "$line" | grep -q "\"stages\":\[\"virtio_remove\",\"pci_remove\"\]\|\"stages\":\[\"virtio_unbind\",\"virtio_remove\",\"pci_remove\"\]"' \
    "the removal stages seen are recorded"

# and back: the device never left, so re-reading it finds it bound
echo add > "$pci/uevent"
echo add > "$vdev/uevent"
i=0
while [ $i -lt 30 ] && ! grep -q '"kind":"virtio_added"' "$t/out"; do sleep 0.1; i=$((i + 1)); done
line=$(grep '"kind":"virtio_added"' "$t/out")
check_eval '[ "$(echo "$line" | grep -c .)" = 1 ] && echo "$line" | grep -q "\"pci_bdf\":\"$bdf\"" && echo "$line" | grep -q "\"active\":false"' \
    "one virtio_added for $vname after the add uevents"

#!/bin/sh
# lastboot, end to end: the real vigild reads a kdump vmcore-dmesg.txt (the
# OVS/veth soft lockup seed) and a two-record pstore dump, reports one
# previous_boot_crash per crash, and -- run again over the same state
# directory -- reports nothing. A crash file that appears later is the only
# one reported by the third run. TAP.
set -u
B=${VIGIL_BUILD_DIR:?}; S=${VIGIL_SOURCE_DIR:?}
TAP_PLAN=7
. "$S/tests/integration/tap.sh"
plan
[ -x "$B/vigild" ] && [ -f "$B/plugins/.libs/lastboot.so" ] || skip_all "vigild or lastboot.so not built"
t=$(mktemp -d /tmp/vigil-lastboot.XXXXXX)
trap '[ -n "${KEEP:-}" ] || rm -rf "$t"' EXIT INT TERM
mkdir -p "$t/pstore" "$t/crash/10.0.0.5-2024-05-06-11:22:33" "$t/state" "$t/plugins"
chmod 0700 "$t/state"
cp "$S/tests/fixtures/lastboot/vmcore-dmesg.txt" "$t/crash/10.0.0.5-2024-05-06-11:22:33/"
{ echo 'Oops#1 Part1'; sed 's/^/<4>/' "$S/tests/fixtures/lastboot/xfs-stack-overflow-sched-atomic.log"; } > "$t/pstore/dmesg-ramoops-0"
cp "$S/tests/fixtures/lastboot/console-clean-boot.txt" "$t/pstore/console-ramoops-0"
# the plugin dir must hold only root-owned, non-writable plugins
cp "$B/plugins/.libs/lastboot.so" "$t/plugins/"
chmod 0755 "$t/plugins"; chmod 0644 "$t/plugins/lastboot.so"
cat > "$t/vigil.conf" <<EOC
[agent]
plugins = lastboot

[lastboot]
pstore_dir = $t/pstore
crash_dir = $t/crash
paths = $t/archive/*/dmesg.txt

[rule crashes]
match = previous_boot_crash
actions = log
EOC

run_daemon() { # $1 = output file; runs until the plugin reported its scan
    "$B/vigild" -f -c "$t/vigil.conf" --conf-dir "$t/none" --plugin-dir "$t/plugins" --state-dir "$t/state" \
        --data-dir "$S/conf" --control-socket "$t/ctl" >"$1" 2>"$1.err" &
    pid=$!
    i=0
    while [ $i -lt 100 ] && ! grep -q 'new crash file' "$1.err"; do sleep 0.1; i=$((i + 1)); done
    sleep 0.5 # the state write runs on a worker after the events
    kill "$pid"; wait "$pid" 2>/dev/null
}
count() { grep -c '"kind":"previous_boot_crash"' "$1"; }

run_daemon "$t/run1"
check_eval '[ "$(count "$t/run1")" = 2 ]' "first start: one previous_boot_crash per crash (2), got $(count "$t/run1")"
check_eval 'grep "vmcore-dmesg.txt" "$t/run1" | grep -q "\"class\":\"soft_lockup\""' "vmcore-dmesg.txt: class soft_lockup"
check_eval 'grep "dmesg-ramoops-0" "$t/run1" | grep -q "\"class\":\"oops\"" && grep "dmesg-ramoops-0" "$t/run1" | grep -q "\"pstore_reason\":\"Oops\""' "pstore dump (XFS seed): class oops (the fatal report, not the survived sched_atomic), reason Oops"
check_eval '! grep -q console-ramoops "$t/run1"' "clean console record: no event"
check_eval '[ -s "$t/state/lastboot/reported" ] && [ "$(stat -c %a "$t/state/lastboot")" = 700 ]' "state recorded (0700 dir)"

run_daemon "$t/run2"
check_eval '[ "$(count "$t/run2")" = 0 ]' "second start over the same state: nothing reported again (got $(count "$t/run2"))"

# systemd-pstore archives the same dump elsewhere: same content, not new;
# a new kdump dump is the only news
mkdir -p "$t/archive/1714994553" "$t/crash/202405071200"
cp "$t/pstore/dmesg-ramoops-0" "$t/archive/1714994553/dmesg.txt"
head -n 60 "$S/tests/fixtures/lastboot/vmcore-dmesg.txt" > "$t/crash/202405071200/dmesg.202405071200"
run_daemon "$t/run3"
check_eval '[ "$(count "$t/run3")" = 1 ] && grep -q "dmesg.202405071200" "$t/run3"' "third start: only the new dump is reported (got $(count "$t/run3"))"

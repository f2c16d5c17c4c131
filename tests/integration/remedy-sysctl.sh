#!/bin/sh
# sysctl plugin against a temporary procfs/sysfs tree: apply at start,
# when-kdump-armed follows kexec_crash_loaded, drift event + re-apply,
# bad values refused before start.
. "$(dirname "$0")/remedy-lib.sh"
echo 1..9
P=$T/proc; Y=$T/sys
mkdir -p $P/sys/kernel $P/sys/vm $Y/kernel
echo 0 >$P/sys/kernel/panic_on_oops
echo 10 >$P/sys/kernel/hung_task_warnings
echo 0 >$P/sys/kernel/softlockup_panic
echo 0 >$Y/kernel/kexec_crash_loaded
cat >$T/v.conf <<EOC
[agent]
plugins = sysctl
lock_memory = no
[sysctl]
proc_root = $P
sys_root = $Y
check_interval = 1s
kernel.hung_task_warnings = -1
kernel.panic_on_oops = when-kdump-armed:1
kernel.softlockup_panic = when-kdump-armed:1:0
[rule report]
match = *
actions = log
EOC
start s $T/v.conf
check "hung_task_warnings applied at start" [ "$(cat $P/sys/kernel/hung_task_warnings)" = "-1" ]
check "panic_on_oops left at 0 while no crash kernel is loaded" [ "$(cat $P/sys/kernel/panic_on_oops)" = "0" ]
echo 1 >$Y/kernel/kexec_crash_loaded
wait_for $P/sys/kernel/panic_on_oops '^1$' 5
check "panic_on_oops = 1 once kexec_crash_loaded = 1" [ "$(cat $P/sys/kernel/panic_on_oops)" = "1" ]
check "softlockup_panic = 1 once armed" [ "$(cat $P/sys/kernel/softlockup_panic)" = "1" ]
echo 5 >$P/sys/kernel/hung_task_warnings
if wait_for $T/s.out '"kind":"sysctl_drift"' 5 && events sysctl_drift $T/s.out | grep -q '"name":"kernel.hung_task_warnings".*"actual":"5".*"reapplied":true'; then
	ok "drift reported as sysctl_drift with name, actual value and reapplied"
else nok "drift reported as sysctl_drift" "$(cat $T/s.out)"; fi
wait_for $P/sys/kernel/hung_task_warnings '^-1$' 3
check "drifted value re-applied" [ "$(cat $P/sys/kernel/hung_task_warnings)" = "-1" ]
echo 0 >$Y/kernel/kexec_crash_loaded
wait_for $P/sys/kernel/panic_on_oops '^0$' 5
check "panic_on_oops back to its original 0 when the crash kernel goes away" [ "$(cat $P/sys/kernel/panic_on_oops)" = "0" ]
stop
printf '[agent]\nplugins = sysctl\n[sysctl]\nproc_root = %s\nkernel.panic_on_oops = 2\n' $P >$T/bad.conf
if "$B/vigild" --check-config -c $T/bad.conf --conf-dir "" --plugin-dir "$PLUGDIR" 2>$T/bad.err; then
	nok "out-of-range value refused"
else grep -q "bad.conf:5" $T/bad.err && ok "out-of-range value refused with file:line" || nok "file:line in error" "$(cat $T/bad.err)"; fi
printf '[agent]\nplugins = sysctl\n[sysctl]\nkernel.core_pattern = |/bin/sh\n' >$T/bad2.conf
if "$B/vigild" --check-config -c $T/bad2.conf --conf-dir "" --plugin-dir "$PLUGDIR" 2>$T/bad2.err; then
	nok "string sysctl (core_pattern) refused"
else ok "string sysctl (core_pattern) refused"; fi
exit 0

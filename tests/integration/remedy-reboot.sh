#!/bin/sh
# reboot plugin end to end in test_mode (every side effect written to a
# file instead of done): flush -> ledger -> sd-bus -> sync -> reboot(2) ->
# sysrq, the fallbacks on simulated failures and hangs, and the loop guard
# across daemon restarts ("boots"). Trigger: a sysctl drift on a temp tree.
. "$(dirname "$0")/remedy-lib.sh"
echo 1..16
P=$T/proc
mkdir -p $P/sys/kernel $T/sys/kernel
echo -1 >$P/sys/kernel/hung_task_warnings
LOG=$T/steps.log

# conf NAME "reboot keys" "action keys"
conf() {
	cat >$T/$1.conf <<EOC
[agent]
plugins = sysctl, reboot
lock_memory = no
[sysctl]
proc_root = $P
sys_root = $T/sys
check_interval = 1s
kernel.hung_task_warnings = -1
[reboot]
test_mode = yes
test_log = $LOG
min_uptime = 0
$2
[action reboot-t]
sync_timeout = 1s
reboot_timeout = 1s
graceful_timeout = 1s
$3
[rule report]
match = *
actions = log
[rule drift]
match = sysctl_drift
actions = reboot-t
EOC
}
# run NAME WAIT_REGEX [OUT_REGEX]: start, cause a drift, wait for REGEX in
# the steps or stderr (and OUT_REGEX in the event output, when given)
run() {
	rm -f $LOG
	start $1 $T/$1.conf
	echo 7 >$P/sys/kernel/hung_task_warnings
	# up to 30 s: drift check (1 s), ledger fsync, sync() and the steps can
	# take a while when make check -j runs other tests beside this one; a
	# "boot" stopped before its reboot leaves no ledger entry, and the loop
	# guard below would then rightly allow the third
	i=0
	while [ $i -lt 300 ] && ! grep -qE -- "$2" "$T/$1.err" "$LOG" 2>/dev/null; do sleep 0.1; i=$((i + 1)); done
	if [ -n "${3:-}" ]; then
		i=0
		while [ $i -lt 300 ] && ! grep -qE -- "$3" "$T/$1.out" 2>/dev/null; do sleep 0.1; i=$((i + 1)); done
	fi
	sleep 0.3
	stop
}
steps() { tr '\n' '|' <$LOG 2>/dev/null; }

conf graceful "max_reboots = 10" "mode = graceful"
run graceful "reboot RB_AUTOBOOT"
check "graceful: logind asked, then (still up after graceful_timeout) sync and reboot(2)" [ "$(steps)" = "bus logind Reboot|sync|reboot RB_AUTOBOOT|" ]
if events agent_reboot $T/graceful.out | grep -q '"mode":"graceful".*"trigger":{"kind":"sysctl_drift"'; then ok "agent_reboot event emitted before the reboot (alerted, flushed)"; else nok "agent_reboot event" "$(cat $T/graceful.out)"; fi
check "ledger written to the state dir" grep -q '^reboot [0-9]* [0-9]* [0-9a-f]* graceful sysctl_drift' $T/state/reboot/ledger

conf busfail "max_reboots = 10
test_fail = bus" "mode = graceful"
run busfail "reboot RB_AUTOBOOT"
check "no bus (lab guest without systemd): straight to sync + reboot(2)" [ "$(steps)" = "bus logind Reboot|sync|reboot RB_AUTOBOOT|" ]
check "no bus: did not wait for graceful_timeout" grep -q "going direct" $T/busfail.err

conf dead "max_reboots = 10
test_fail = sync-hang, reboot-hang" "mode = forced"
run dead "sysrq b"
check "dead disk: sync hangs, reboot(2) hangs, sysrq b still fires" [ "$(steps)" = "sync|reboot RB_AUTOBOOT|sysrq b|" ]
check "dead disk: sync deadline logged" grep -q "sync() did not finish" $T/dead.err

conf rebootfail "max_reboots = 10
test_fail = reboot" "mode = forced"
run rebootfail "sysrq b"
check "reboot(2) error: sysrq b at once" [ "$(steps)" = "sync|reboot RB_AUTOBOOT|sysrq b|" ]

conf panic "max_reboots = 10" "mode = panic"
run panic "sysrq c"
check "panic mode: sync then sysrq c" [ "$(steps)" = "sync|sysrq c|" ]
conf nodump "max_reboots = 10
test_fail = nodump" "mode = panic"
run nodump "reboot RB_AUTOBOOT"
check "panic mode without a crash kernel and panic=0: reboots instead of hanging" [ "$(steps)" = "sync|reboot RB_AUTOBOOT|" ]

conf dry "max_reboots = 10
dry_run = yes" "mode = forced"
run dry "dry run: would reboot"
check "dry_run: nothing done" [ ! -s $LOG ]

# Loop guard across "boots": max 2 per window, the ledger already holds
# the 6 reboots above -> fresh state dir for this part.
rm -rf $T/state
conf guard "max_reboots = 2" "mode = forced"
run guard "reboot RB_AUTOBOOT"; g1=$(steps); run guard "reboot RB_AUTOBOOT"
check "loop guard: the first two boots in the window reboot" [ "$g1:$(steps)" = "sync|reboot RB_AUTOBOOT|:sync|reboot RB_AUTOBOOT|" ]
run guard "refused by the loop guard" '"kind":"reboot_suppressed"'
check "third reboot in the window refused (ledger read back across restarts)" [ ! -s $LOG ]
if events reboot_suppressed $T/guard.out | grep -q '"verdict":"max_reboots".*"reboots_in_window":2'; then ok "reboot_suppressed event with verdict max_reboots"; else nok "reboot_suppressed event" "$(cat $T/guard.out)"; fi

rm -rf $T/state
conf uptime "min_uptime = 36500d" "mode = forced"
run uptime "refused by the loop guard"
if [ ! -s $LOG ] && events reboot_suppressed $T/uptime.out | grep -q '"verdict":"min_uptime"'; then ok "min_uptime refuses"; else nok "min_uptime refuses"; fi

rm -rf $T/state; mkdir -p $T/state/reboot
printf 'version 1\nreboot 12 garbage\n' >$T/state/reboot/ledger
conf corrupt "max_reboots = 5" "mode = forced"
run corrupt "refused by the loop guard"
if [ ! -s $LOG ] && events reboot_suppressed $T/corrupt.out | grep -q '"verdict":"ledger_corrupt"' && [ -f $T/state/reboot/ledger.corrupt ] &&
	grep -q '^suppress_until [1-9]' $T/state/reboot/ledger; then
	ok "corrupt ledger: refused, evidence kept, suppression persisted"
else nok "corrupt ledger" "$(steps)" "$(cat $T/corrupt.err)"; fi
exit 0

#!/bin/sh
# exec plugin with real children: argv without a shell ($(reboot) stays
# literal), the event in the environment, stdout/stderr in the log, timeout
# with SIGTERM then SIGKILL, exit status in vigilctl status.
. "$(dirname "$0")/remedy-lib.sh"
echo 1..8
P=$T/proc
mkdir -p $P/sys/kernel $T/sys/kernel
echo -1 >$P/sys/kernel/hung_task_warnings
cat >$T/v.conf <<EOC
[agent]
plugins = sysctl, exec
lock_memory = no
[sysctl]
proc_root = $P
sys_root = $T/sys
check_interval = 1s
kernel.hung_task_warnings = -1
[action exec-args]
command = /bin/echo \$(reboot) '&& rm -rf /' "two words" \`id\` | x
[action exec-env]
command = /usr/bin/env
[action exec-slow]
command = /bin/sleep 30
timeout = 500ms
[action exec-stubborn]
command = /usr/bin/perl -e '\$SIG{TERM}="IGNORE"; print "ignoring TERM\\n"; sleep 30'
# long enough for perl to start and ignore TERM on a loaded machine
timeout = 3s
kill_timeout = 500ms
[action exec-fail]
command = /bin/false
[rule report]
match = *
actions = log
[rule drift]
match = sysctl_drift
actions = exec-args, exec-env, exec-slow, exec-stubborn, exec-fail
EOC
start e $T/v.conf
echo 3 >$P/sys/kernel/hung_task_warnings
wait_for $T/e.err 'exec-stubborn\[[0-9]+\] killed by signal 9' 20
wait_for $T/e.err 'exec-fail\[[0-9]+\] exited 1' 5
wait_for $T/e.err 'exec-slow\[[0-9]+\] killed by signal 15' 5
ctl_status >$T/status.json 2>&1
stop
ID=$(events sysctl_drift $T/e.out | jget - 'd["id"]')
if grep -qF 'exec-args' $T/e.err && grep -F 'exec-args[' $T/e.err | grep -qF 'stdout: $(reboot) && rm -rf / two words `id` | x'; then
	ok "argv passed literally, no shell: \$(reboot), quotes, backticks, pipe"
else nok "argv literal" "$(grep exec-args $T/e.err)"; fi
check "env: VIGIL_KIND" grep -qF "exec-env[" $T/e.err
grep -F 'exec-env[' $T/e.err >$T/env.txt
if grep -qF "stdout: VIGIL_KIND=sysctl_drift" $T/env.txt && grep -qF "stdout: VIGIL_EVENT_ID=$ID" $T/env.txt; then
	ok "env: VIGIL_KIND and VIGIL_EVENT_ID of the triggering event"
else nok "env kind/id" "$(cat $T/env.txt)"; fi
J=$(sed -n 's/.*stdout: VIGIL_EVENT_JSON=//p' $T/env.txt)
if [ "$(printf '%s' "$J" | jget - 'd["kind"] + " " + d["name"]')" = "sysctl_drift kernel.hung_task_warnings" ]; then
	ok "env: VIGIL_EVENT_JSON is the event's JSON"
else nok "VIGIL_EVENT_JSON" "$J"; fi
check "env: nothing inherited from vigild (clean environment)" sh -c "! grep -q 'stdout: HOME=' $T/env.txt"
S=$(jget $T/status.json '[a for a in d["actions"] if a["name"]=="exec-slow"][0]["status"]["last"]' 2>/dev/null)
if echo "$S" | grep -q "'signal': 15" && echo "$S" | grep -q "'timed_out': True"; then ok "timeout: SIGTERM, recorded in status"; else nok "timeout SIGTERM" "$S" "$(head -c 2000 $T/status.json)"; fi
S=$(jget $T/status.json '[a for a in d["actions"] if a["name"]=="exec-stubborn"][0]["status"]["last"]' 2>/dev/null)
if echo "$S" | grep -q "'signal': 9"; then ok "SIGTERM ignored: SIGKILL after kill_timeout"; else nok "SIGKILL" "$S"; fi
S=$(jget $T/status.json '[a for a in d["actions"] if a["name"]=="exec-fail"][0]["status"]["last"]["exit_code"]' 2>/dev/null)
check "exit status recorded (false -> 1)" [ "$S" = "1" ]
exit 0

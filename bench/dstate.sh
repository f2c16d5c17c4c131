#!/bin/bash
# dstate sampling cost with thousands of tasks: spawns TASKS sleeping
# processes (default 5000) plus one process with TASKS/5 threads, then runs
# vigild with only the dstate plugin at a short interval and reports
#  - wall time per sample (µs, the plugin's own measurement: average, max),
#    for threads = no and threads = yes;
#  - user-space instructions per sample (callgrind, --toggle-collect on
#    the timer and slice callbacks; kernel work in the syscalls is not in this figure).
# Prints figures; never fails on time. Usage: dstate.sh BUILD_DIR
set -u
B=${1:-${VIGIL_BUILD_DIR:-_build}}
TASKS=${TASKS:-5000}
T=$(mktemp -d /tmp/vigil-dstate-bench.XXXXXX)
DPID=

cleanup() {
	[ -n "$DPID" ] && kill "$DPID" 2>/dev/null
	[ -f "$T/spawner.pid" ] && kill "$(cat "$T/spawner.pid")" 2>/dev/null
	wait 2>/dev/null
	rm -rf "$T"
}
trap cleanup EXIT

if [ ! -x "$B/vigild" ] || [ ! -e "$B/plugins/.libs/dstate.so" ]; then
	echo "dstate bench: vigild or dstate.so not built in $B, skipped"
	exit 0
fi

# The spawner keeps TASKS sleep(1) children and a process with TASKS/5
# threads; it kills them all when it gets SIGTERM.
cat >"$T/spawn.py" <<'EOF'
import os, signal, sys, threading, time
n = int(sys.argv[1])
pids = [os.posix_spawn("/bin/sleep", ["sleep", "3600"], os.environ) for _ in range(n)]
def stop(*_):
    for p in pids:
        try:
            os.kill(p, signal.SIGTERM)
        except ProcessLookupError:
            pass
    os._exit(0)
signal.signal(signal.SIGTERM, stop)
ev = threading.Event()
for _ in range(n // 5):
    threading.Thread(target=ev.wait, daemon=True).start()
open(sys.argv[2], "w").write("ready\n")
while True:
    time.sleep(3600)
EOF
python3 "$T/spawn.py" "$TASKS" "$T/ready" &
echo $! >"$T/spawner.pid"
for i in $(seq 1 600); do [ -f "$T/ready" ] && break; sleep 0.1; done
procs=$(ls -d /proc/[0-9]* 2>/dev/null | wc -l)
threads=$(ls -d /proc/[0-9]*/task/[0-9]* 2>/dev/null | wc -l)
echo "dstate bench: $procs processes, $threads threads on this host"

status() {
	"$B/vigilctl" -s "$T/ctl" status --json | python3 -c '
import json, sys
s = [p for p in json.load(sys.stdin)["plugins"] if p["name"] == "dstate"][0]["status"]
print(s["samples"], s["tasks_last"], s["sample_usec_avg"], s["sample_usec_max"], s["sample_cpu_usec_avg"], s["slice_usec_max"])'
}

run() { # threads interval seconds [wrapper...]
	local threads=$1 interval=$2 secs=$3
	shift 3
	rm -f "$T/ctl"
	cat >"$T/vigil.conf" <<EOF
[agent]
plugins = dstate
[dstate]
interval = $interval
threads = $threads
EOF
	"$@" "$B/vigild" -f -c "$T/vigil.conf" --plugin-dir "$B/plugins/.libs" --state-dir "$T/state" \
		--control-socket "$T/ctl" >/dev/null 2>"$T/log" &
	DPID=$!
	sleep "$secs"
	STATUS=$(status)
	kill "$DPID"
	wait "$DPID" 2>/dev/null
	DPID=
}

for threads in no yes; do
	run $threads 200ms 6
	read -r samples tasks avg max cpu slice <<<"$STATUS"
	echo "dstate bench: threads=$threads: $tasks tasks per sample, $samples samples: wall ${avg} us/sample average (${max} max), CPU ${cpu} us/sample average, $((cpu * 1000 / (tasks > 0 ? tasks : 1))) ns CPU per task; the loop is held at most ${slice} us (one slice)"
done

if [ "${CALLGRIND:-yes}" = no ]; then
	echo "dstate bench: CALLGRIND=no, no instruction count"
elif command -v valgrind >/dev/null && command -v callgrind_annotate >/dev/null; then
	for threads in no yes; do
		run $threads 1s 12 valgrind --tool=callgrind --callgrind-out-file="$T/cg.out" \
			--toggle-collect=dstate_on_slice --toggle-collect=dstate_on_timer -q
		read -r samples tasks avg max cpu slice <<<"$STATUS"
		ir=$(callgrind_annotate "$T/cg.out" 2>/dev/null | awk '/PROGRAM TOTALS/ { gsub(",", "", $1); print $1; exit }')
		if [[ "$ir" =~ ^[0-9]+$ ]] && [ "${samples:-0}" -gt 0 ]; then
			echo "dstate bench: threads=$threads: callgrind $((ir / samples)) instructions/sample ($((ir / samples / tasks)) per task, $tasks tasks, $samples samples)"
		else
			echo "dstate bench: threads=$threads: callgrind figure unavailable"
		fi
	done
else
	echo "dstate bench: valgrind not installed, no instruction count"
fi
exit 0

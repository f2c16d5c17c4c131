#!/bin/bash
# dstate plugin against real D-state tasks: an ext4 image on a loop device,
# writers appending with buffered writes + fsync, `fsfreeze -f` on the mount
# puts them in D (sb_start_write waits on the frozen superblock) → one
# aggregated task_stuck after the threshold; `fsfreeze -u` → cleared. One
# daemon samples thread-group leaders only, a second one every thread (a
# writer thread inside a multithreaded process is seen only by the second).
# The trap always unfreezes, kills the writers, unmounts and detaches.
# Prints TAP.
set -u

B=${VIGIL_BUILD_DIR:-$(cd "$(dirname "$0")/../.." && pwd)/_build}
TAP_PLAN=12
T=$(mktemp -d /tmp/vigil-dstate-test.XXXXXX)
MNT=$T/mnt
LOOP=
PIDS=()
WRITERS=()
FROZEN=0

. "$(dirname "$0")/tap.sh"

cleanup() {
	[ "$FROZEN" = 1 ] && fsfreeze -u "$MNT" 2>/dev/null
	mountpoint -q "$MNT" 2>/dev/null && fsfreeze -u "$MNT" 2>/dev/null
	for p in "${WRITERS[@]}" "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
	wait 2>/dev/null
	mountpoint -q "$MNT" 2>/dev/null && umount "$MNT"
	[ -n "$LOOP" ] && losetup -d "$LOOP" 2>/dev/null
	rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

[ "$(id -u)" = 0 ] || skip_all "needs root (loop devices, mount, fsfreeze)"
for c in losetup mkfs.ext4 fsfreeze mount python3; do
	command -v $c >/dev/null || skip_all "$c missing"
done
[ -x "$B/vigild" ] && [ -e "$B/plugins/.libs/dstate.so" ] || skip_all "vigild or dstate.so not built"
truncate -s 64M "$T/img"
mkfs.ext4 -q -F "$T/img" >/dev/null 2>&1 || skip_all "mkfs.ext4 failed"
LOOP=$(losetup -f --show "$T/img" 2>/dev/null) || skip_all "no loop device available"
mkdir -p "$MNT"
mount "$LOOP" "$MNT" 2>/dev/null || skip_all "cannot mount the loop device"

plan

. "$(dirname "$0")/events.sh"
status() { plugin_status "$1" dstate "$2"; }

start_daemon() { # name threads
	mkdir -p "$T/$1"
	cat >"$T/$1/vigil.conf" <<EOF
[agent]
plugins = dstate

[dstate]
interval = 500ms
threshold = 3s
threads = $2

[rule all]
match = task_stuck
actions = log
EOF
	# VIGIL_TEST_WRAPPER="valgrind -q --leak-check=full" runs the daemon under a checker
	${VIGIL_TEST_WRAPPER:-} "$B/vigild" -f -c "$T/$1/vigil.conf" --plugin-dir "$B/plugins/.libs" --state-dir "$T/$1/state" \
		--control-socket "$T/$1/ctl" >"$T/$1/events.jsonl" 2>"$T/$1/log" &
	PIDS+=($!)
	for i in $(seq 1 50); do
		"$B/vigilctl" -s "$T/$1/ctl" status >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	return 1
}

# A writer: buffered appends + fsync (not O_DIRECT: the block layer's
# O_DIRECT waits time out and reschedule, which is not a stuck task). The
# comm is set with prctl(PR_SET_NAME) so the test can find it.
cat >"$T/writer.py" <<'EOF'
import ctypes, os, sys, threading, time
libc = ctypes.CDLL(None)
def name(n):
    libc.prctl(15, n.encode(), 0, 0, 0)
def write_loop(path):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    while True:
        os.write(fd, b"x" * 512)
        os.fsync(fd)
        time.sleep(0.1)
if sys.argv[1] == "thread":
    name("vigil-thr")
    def run():
        name("vigil-thr-w")
        write_loop(sys.argv[2])
    threading.Thread(target=run, daemon=True).start()
    while True:
        time.sleep(3600)
else:
    name("vigil-writer")
    write_loop(sys.argv[2])
EOF

start_daemon a no && start_daemon b yes || { echo "# daemons did not start"; sed 's/^/# /' "$T"/*/log; }
for i in 1 2 3 4 5 6 7 8; do
	python3 "$T/writer.py" proc "$MNT/w$i" &
	WRITERS+=($!)
done
python3 "$T/writer.py" thread "$MNT/thr" &
THR=$!
WRITERS+=($THR)
# python starts slowly on a loaded machine: wait until every writer writes
size() { stat -c %s "$@" 2>/dev/null | awk '{ t += $1 } END { print t + 0 }'; }
files=("$MNT"/w{1..8} "$MNT/thr")
for i in $(seq 1 300); do
	[ "$(ls "${files[@]}" 2>/dev/null | wc -l)" = 9 ] && break
	sleep 0.1
done
s1=$(size "${files[@]}")
sleep 0.5
s2=$(size "${files[@]}")
check "8 writers + 1 writer thread appending to ext4 on $LOOP" [ "$(ls "${files[@]}" 2>/dev/null | wc -l)" = 9 -a "$s2" -gt "$s1" ]

fsfreeze -f "$MNT" && FROZEN=1
state_of() { awk '{ sub(/.*\) /, ""); print $1 }' "$1" 2>/dev/null; }
# each writer blocks at its next write: poll (a loaded machine is slow)
for i in $(seq 1 50); do
	indstate=0
	for p in "${WRITERS[@]:0:8}"; do [ "$(state_of /proc/$p/stat)" = D ] && indstate=$((indstate + 1)); done
	[ "$indstate" = 8 ] && break
	sleep 0.1
done
WCHAN=$(cat /proc/${WRITERS[0]}/wchan 2>/dev/null)
check "after fsfreeze -f all 8 writers are in D state (wchan $WCHAN)" [ "$indstate" = 8 ]
sleep 1
cp "$T/a/events.jsonl" "$T/snap" # judged on a copy: counting takes time here
check "no task_stuck before the 3s threshold" [ "$(count "$T/snap" 'e["kind"]=="task_stuck" and e["comm"].startswith("vigil-")')" = 0 ]

A=$T/a/events.jsonl
BB=$T/b/events.jsonl
check "task_stuck for vigil-writer: pid of a writer, wchan, duration_s >= 3, condition, active, warning" \
	wait_for "$A" 8 'e["kind"]=="task_stuck" and e["comm"]=="vigil-writer" and e["active"] is True and e["severity"]=="warning" and e["duration_s"]>=3 and e["wchan"]=="'"$WCHAN"'" and e["condition"]=="task_stuck/vigil-writer/'"$WCHAN"'" and e["pid"] in ('"$(IFS=,; echo "${WRITERS[*]:0:8}")"',)'
sleep 1.5
check "8 stuck writers are ONE event (aggregated by comm + wchan)" \
	[ "$(count "$A" 'e["kind"]=="task_stuck" and e["comm"]=="vigil-writer" and e["active"] is True')" = 1 ]
check "the event carries the kernel stack (frames with symbols) and the kernel's hung-task settings" \
	[ "$(count "$A" 'e["kind"]=="task_stuck" and e["comm"]=="vigil-writer" and e["active"] and len(e.get("frames", [])) > 0 and all(f["symbol"] for f in e["frames"]) and e["hung_task_timeout_s"] == '"$(cat /proc/sys/kernel/hung_task_timeout_secs)"' and e["hung_task_warnings"] == '"$(cat /proc/sys/kernel/hung_task_warnings)"'')" = 1 ]
check "status shows the group with 8 tasks" \
	[ "$(status "$T/a/ctl" '[(g["comm"], g["count"]) for g in s["stuck"] if g["comm"]=="vigil-writer"]')" = "[('vigil-writer', 8)]" ]
check "leaders-only sampling does not see the stuck writer thread" \
	[ "$(count "$A" 'e["kind"]=="task_stuck" and e["comm"].startswith("vigil-thr")')" = 0 ]
check "threads = yes sees it: vigil-thr-w, tid != pid, pid of its process" \
	wait_for "$BB" 8 'e["kind"]=="task_stuck" and e["comm"]=="vigil-thr-w" and e["pid"]=='"$THR"' and e["tid"]!=e["pid"] and e["active"] is True'

fsfreeze -u "$MNT" && FROZEN=0
check "fsfreeze -u: vigil-writer cleared (active false, info)" \
	wait_for "$A" 10 'e["kind"]=="task_stuck" and e["comm"]=="vigil-writer" and e["active"] is False and e["severity"]=="info" and e["condition"]=="task_stuck/vigil-writer/'"$WCHAN"'"'
check "threads = yes: vigil-thr-w cleared" \
	wait_for "$BB" 10 'e["kind"]=="task_stuck" and e["comm"]=="vigil-thr-w" and e["active"] is False'
s1=$(size "${files[@]}")
sleep 1
check "writers resumed; dstate status has no stuck group" \
	[ "$(size "${files[@]}")" -gt "$s1" -a "$(status "$T/a/ctl" 'len([g for g in s["stuck"] if g["comm"].startswith("vigil-")])')" = 0 ]

[ "$FAILED" = 0 ] || { echo "# logs:"; sed 's/^/# /' "$T"/a/log "$T"/a/events.jsonl "$T"/b/events.jsonl; }
if [ -n "${VIGIL_TEST_WRAPPER:-}" ]; then # show what the checker found
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
	wait "${PIDS[@]}" 2>/dev/null
	PIDS=()
	grep -h "==[0-9]*==" "$T"/*/log | sed 's/^/# /'
fi
exit 0

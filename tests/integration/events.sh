# Shell helpers for the integration tests that read vigild's JSON event
# lines: source it, then use
#   count FILE EXPR          number of events for which EXPR holds
#   wait_for FILE SECS EXPR  wait up to SECS for one (exit status 0/1)
#   plugin_status CTL PLUGIN EXPR   evaluate EXPR over that plugin's status
#   wait_status CTL PLUGIN SECS EXPR  wait up to SECS for EXPR to be True
# EXPR is a python expression over `e` (the event) and `L` (its "link"
# field or {}); for plugin_status over `s`. $B is the build directory.

count() {
	python3 - "$1" "$2" <<'PYEOF'
import json, sys
n = 0
for line in open(sys.argv[1]):
    line = line.strip()
    if not line.startswith("{"):
        continue
    e = json.loads(line)
    L = e.get("link") or {}
    if eval(sys.argv[2]):
        n += 1
print(n)
PYEOF
}

# one python process polls (startup is slow on a busy machine)
wait_for() {
	python3 - "$1" "$2" "$3" <<'PYEOF'
import json, sys, time
deadline = time.monotonic() + float(sys.argv[2])
while True:
    for line in open(sys.argv[1]):
        line = line.strip()
        if line.startswith("{"):
            e = json.loads(line)
            L = e.get("link") or {}
            if eval(sys.argv[3]):
                sys.exit(0)
    if time.monotonic() > deadline:
        sys.exit(1)
    time.sleep(0.1)
PYEOF
}

plugin_status() {
	"$B/vigilctl" -s "$1" status --json | python3 -c '
import json, sys
d = json.load(sys.stdin)
s = [p for p in d["plugins"] if p["name"] == sys.argv[1]][0]["status"]
print(eval(sys.argv[2]))' "$2" "$3"
}

wait_status() {
	_end=$(($(date +%s) + $3))
	while [ "$(date +%s)" -le "$_end" ]; do
		[ "$(plugin_status "$1" "$2" "$4" 2>/dev/null)" = True ] && return 0
		sleep 0.2
	done
	return 1
}

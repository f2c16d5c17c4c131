# Shared helpers for the remediation integration tests (sourced).
# TAP: tap.sh (ok/nok/check/skip_all).
B=${VIGIL_BUILD_DIR:-$(cd "$(dirname "$0")/../.." && pwd)/_build}
S=${VIGIL_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
T=$(mktemp -d /tmp/vigil-remedy.XXXXXX)
DPID=
cleanup() { [ -n "$DPID" ] && kill "$DPID" 2>/dev/null; wait 2>/dev/null; [ -n "$VIGIL_KEEP" ] || rm -rf "$T"; }
trap cleanup EXIT

. "$(dirname "$0")/tap.sh"

# The plugin dir must be root-owned and not group/world-writable.
PLUGDIR=$B/plugins/.libs
[ -x "$B/vigild" ] || skip_all "vigild not built"
[ -d "$PLUGDIR" ] || skip_all "plugins not built"

# start NAME CONF: run vigild -f in the background, stdout/stderr to $T/NAME.{out,err}
start() {
	name=$1; conf=$2
	mkdir -p "$T/state"
	"$B/vigild" -f -c "$conf" --conf-dir "" --plugin-dir "$PLUGDIR" --state-dir "$T/state" \
		--control-socket "$T/ctl" >"$T/$name.out" 2>"$T/$name.err" &
	DPID=$!
	wait_for "$T/$name.err" "started:" 10 || { echo "# vigild did not start:"; sed 's/^/#   /' "$T/$name.err"; }
}
stop() {
	[ -n "$DPID" ] && kill "$DPID" 2>/dev/null && wait "$DPID" 2>/dev/null
	DPID=
}
# wait_for FILE REGEX SECONDS
wait_for() {
	i=0
	while [ $i -lt $(($3 * 10)) ]; do
		grep -qE -- "$2" "$1" 2>/dev/null && return 0
		sleep 0.1; i=$((i + 1))
	done
	return 1
}
ctl_status() { "$B/vigilctl" -s "$T/ctl" status --json; }
# jget FILE-OR-- PYEXPR: evaluate a python expression over the JSON document d
jget() { python3 -c "import json,sys; d=json.load(open(sys.argv[1]) if sys.argv[1] != '-' else sys.stdin); print($2)" "$1"; }
# events KIND FILE: JSON lines of that kind
events() { grep "\"kind\":\"$1\"" "$2"; }

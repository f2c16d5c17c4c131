#!/bin/bash
# link plugin against real rtnetlink: vigild runs inside a network namespace
# of its own (so it sees only the test's links), the peer ends of veth pairs
# live in a second namespace. Carrier loss and return via the peer, a short
# flap, link creation, `ip link del` while pinging, and a notification storm
# with a tiny receive buffer while the daemon is stopped (ENOBUFS → re-dump)
# must produce exactly the expected link_* events. Prints TAP.
set -u

B=${VIGIL_BUILD_DIR:-$(cd "$(dirname "$0")/../.." && pwd)/_build}
TAP_PLAN=15
NS=vigil-test-$$
PEER=vigil-test-$$-peer
T=$(mktemp -d /tmp/vigil-link-test.XXXXXX)
PIDS=()

. "$(dirname "$0")/tap.sh"

cleanup() {
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
	wait 2>/dev/null
	ip netns del "$NS" 2>/dev/null
	ip netns del "$PEER" 2>/dev/null
	rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

[ "$(id -u)" = 0 ] || skip_all "needs root (network namespaces)"
command -v ip >/dev/null || skip_all "iproute2 missing"
[ -x "$B/vigild" ] && [ -e "$B/plugins/.libs/link.so" ] || skip_all "vigild or link.so not built"
ip netns add "$NS" 2>/dev/null || skip_all "cannot create network namespaces"
ip netns add "$PEER" || skip_all "cannot create network namespaces"
ip -n "$NS" link add vt0 type veth peer name vt1 netns "$PEER" 2>/dev/null || skip_all "no veth support"

plan
ip -n "$NS" link set lo up
ip -n "$NS" addr add 10.203.0.1/30 dev vt0
ip -n "$PEER" addr add 10.203.0.2/30 dev vt1
ip -n "$NS" link set vt0 up
ip -n "$PEER" link set vt1 up

# count, wait_for, plugin_status: see events.sh
. "$(dirname "$0")/events.sh"
status() { plugin_status "$1" link "$2"; }

start_daemon() { # name extra-config
	mkdir -p "$T/$1"
	cat >"$T/$1/vigil.conf" <<EOF
[agent]
plugins = link

[link]
# 2 s: the sleeps below keep >= 1.5 s from it on a loaded machine
debounce = 2s
churn_burst = 5
churn_interval = 1m
$2

[rule all]
match = link_*
actions = log
EOF
	# VIGIL_TEST_WRAPPER="valgrind -q --leak-check=full" runs the daemon under a checker
	ip netns exec "$NS" ${VIGIL_TEST_WRAPPER:-} "$B/vigild" -f -c "$T/$1/vigil.conf" --plugin-dir "$B/plugins/.libs" \
		--state-dir "$T/$1/state" --control-socket "$T/$1/ctl" >"$T/$1/events.jsonl" 2>"$T/$1/log" &
	PIDS+=($!)
	for i in $(seq 1 50); do
		[ -S "$T/$1/ctl" ] && "$B/vigilctl" -s "$T/$1/ctl" status >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	return 1
}

# 1: the daemon starts in the namespace and sees exactly our links
if start_daemon a "" && [ "$(status "$T/a/ctl" '",".join(sorted(l["name"] + "/" + str(l["driver"]) + "/" + str(l["kind"]) for l in s["links"]))')" = "vt0/veth/veth" ]; then
	ok "vigild in netns watches vt0 (driver veth, kind veth) and nothing else"
else
	nok "vigild in netns watches vt0 (driver veth, kind veth) and nothing else"
	sed 's/^/# /' "$T/a/log"
fi
E=$T/a/events.jsonl

# 2-3: carrier loss via the peer: link_down after the debounce, not before
ip -n "$PEER" link set vt1 down
sleep 0.5
cp "$E" "$T/snap" # judged on a copy: counting takes time on a busy machine
check "no link_down within the 2s debounce" [ "$(count "$T/snap" 'e["kind"]=="link_down"')" = 0 ]
check "link_down vt0: veth/veth, no_carrier, condition link/vt0 active, netnsid of the peer" \
	wait_for "$E" 5 'e["kind"]=="link_down" and L["name"]=="vt0" and L["driver"]=="veth" and L["kind"]=="veth" and e["reason"]=="no_carrier" and e["condition"]=="link/vt0" and e["active"] is True and e["severity"]=="warning" and L["carrier"] is False and isinstance(L["netnsid"], int)'

# 4: carrier back
ip -n "$PEER" link set vt1 up
check "link_up vt0: condition cleared (active false), duration_s >= 1" \
	wait_for "$E" 5 'e["kind"]=="link_up" and L["name"]=="vt0" and e["condition"]=="link/vt0" and e["active"] is False and e["duration_s"]>=1 and e["severity"]=="info"'

# 5: a second down/up within the core's 60s dedup window is delivered again
ip -n "$PEER" link set vt1 down
sleep 3.5
ip -n "$PEER" link set vt1 up
i=0; while [ $i -lt 50 ] && [ "$(count "$E" 'e["kind"]=="link_up" and L["name"]=="vt0"')" -lt 2 ]; do sleep 0.1; i=$((i + 1)); done
check "second episode: link_down and link_up again (not folded by the dedup window)" \
	[ "$(count "$E" 'e["kind"]=="link_down" and L["name"]=="vt0"'):$(count "$E" 'e["kind"]=="link_up" and L["name"]=="vt0"')" = "2:2" ]

# 6: a flap shorter than the debounce: one link_flapping, no down/up pair
ip -n "$PEER" link set vt1 down
sleep 0.2
ip -n "$PEER" link set vt1 up
sleep 2.5
check "200ms flap: exactly one link_flapping, no further link_down/link_up" \
	[ "$(count "$E" 'e["kind"]=="link_flapping" and L["name"]=="vt0"'):$(count "$E" 'e["kind"]=="link_down"'):$(count "$E" 'e["kind"]=="link_up"')" = "1:2:2" ]

# 6: a new veth pair inside the daemon's namespace
ip -n "$NS" link add vt2 type veth peer name vt3
wait_for "$E" 5 'e["kind"]=="link_added" and L["name"]=="vt3"'
wait_for "$E" 5 'e["kind"]=="link_added" and L["name"]=="vt2"'
check "link_added for vt2 and vt3 (kind veth, driver veth)" \
	[ "$(count "$E" 'e["kind"]=="link_added" and L["name"] in ("vt2","vt3") and L["kind"]=="veth" and L["driver"]=="veth"')" = 2 ]

# a bridge port: master and slave kind come from IFLA_MASTER / IFLA_INFO_SLAVE_KIND
ip -n "$NS" link add br-t type bridge
ip -n "$NS" link set vt2 master br-t
check "bridge port: vt2 master br-t (slave_kind bridge); br-t kind bridge, driver bridge" \
	wait_status "$T/a/ctl" link 10 'sorted((l["name"], l["master"], l["slave_kind"], l["kind"], l["driver"]) for l in s["links"] if l["name"] in ("vt2", "br-t")) == [("br-t", None, None, "bridge", "bridge"), ("vt2", "br-t", "bridge", "veth", "veth")]' 

# 7-8: delete the peer while pinging: vt0 goes with it
ip netns exec "$NS" ping -q -i 0.01 -w 10 10.203.0.2 >"$T/ping.out" 2>&1 &
PING=$!
PIDS+=($PING)
sleep 0.5
ip -n "$PEER" link del vt1
check "link_removed vt0 (veth, condition link/vt0 cleared)" \
	wait_for "$E" 5 'e["kind"]=="link_removed" and L["name"]=="vt0" and L["kind"]=="veth" and L["driver"]=="veth" and e["active"] is False'
sleep 2.5
check "no link_down for the deleted link (removal inside the debounce)" [ "$(count "$E" 'e["kind"]=="link_down"')" = 2 ]
kill "$PING" 2>/dev/null

# 9: status after all that
check "status: vt0 gone, br-t/vt2/vt3 watched, removed counted, no overrun" \
	[ "$(status "$T/a/ctl" '",".join(sorted(l["name"] for l in s["links"])) + ":" + str(s["removed"] >= 1) + ":" + str(s["overruns"])')" = "br-t,vt2,vt3:True:0" ]
kill "${PIDS[0]}"

# 10-13: a storm while the daemon is stopped, with a tiny receive buffer:
# ENOBUFS, a re-dump, the diff finds every new link; add/remove events are
# rate-limited (churn_burst = 5) and the rest counted.
start_daemon b "rcvbuf = 4K"
E=$T/b/events.jsonl
PB=${PIDS[-1]}
kill -STOP "$PB"
for i in $(seq 1 60); do echo "link add st$i type veth peer name sp$i"; done >"$T/batch"
ip -n "$NS" -batch "$T/batch"
kill -CONT "$PB"
check "overrun counted and re-dumped" wait_status "$T/b/ctl" link 10 's["overruns"] >= 1 and s["resyncs"] >= 1'
check "all 120 new links known after the re-dump" \
	wait_status "$T/b/ctl" link 10 'len([l for l in s["links"] if l["name"][:2] in ("st","sp")]) == 120' 
for i in $(seq 1 60); do echo "link del st$i"; done >"$T/batch"
ip -n "$NS" -batch "$T/batch"
wait_status "$T/b/ctl" link 10 'len([l for l in s["links"] if l["name"][:2] in ("st","sp")]) == 0'
sleep 0.5
check "storm of 240 add/remove: at most 5 link_added/link_removed events" \
	[ "$(count "$E" 'e["kind"] in ("link_added","link_removed")')" -le 5 ]
check "status counts the suppressed churn and no storm links remain" \
	[ "$(status "$T/b/ctl" 's["churn_suppressed"] >= 200 and len([l for l in s["links"] if l["name"][:2] in ("st","sp")]) == 0')" = True ]

[ "$FAILED" = 0 ] || { echo "# daemon a log:"; sed 's/^/# /' "$T/a/log" "$T/a/events.jsonl"; }
if [ -n "${VIGIL_TEST_WRAPPER:-}" ]; then # show what the checker found
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
	wait "${PIDS[@]}" 2>/dev/null
	PIDS=()
	grep -h "==[0-9]*==" "$T"/*/log | sed 's/^/# /'
fi
exit 0

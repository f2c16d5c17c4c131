#!/bin/bash
# vigil quick start. Two commands, on a fresh Debian 12 / Ubuntu machine:
#
#   sudo scripts/quickstart.sh run    install what is missing, build, run the
#                                     agent in the foreground with the default
#                                     configuration (events: journal/stdout + spool)
#   sudo scripts/quickstart.sh test   install what is missing, build, run every
#                                     test tier; ends with "N passed, N failed"
#
# Build trees live in _build/ (and _build-clang/, _build-asan/ for `test`).
set -uo pipefail
cd "$(dirname "$0")/.."
TOP=$PWD
JOBS=$(nproc 2>/dev/null || echo 2)
mode=${1:-}

log() { printf '== %s\n' "$*" >&2; }

build() { # build DIR CONFIGURE-ARGS...
	local dir=$1
	shift
	mkdir -p "$dir"
	if [ ! -f "$dir/Makefile" ]; then
		(cd "$dir" && "$TOP/configure" --enable-werror "$@" >configure.out 2>&1) || {
			tail -30 "$dir/configure.out" >&2
			return 1
		}
	fi
	make -C "$dir" -j"$JOBS" >"$dir/make.out" 2>&1 || {
		grep -E "error|warning" "$dir/make.out" | head -40 >&2
		tail -20 "$dir/make.out" >&2
		return 1
	}
}

prepare() {
	scripts/deps.sh ${1:-} || exit 1
	[ -x configure ] || ./autogen.sh >/dev/null 2>&1 || { ./autogen.sh; exit 1; }
}

# Sum the automake test-suite.log summaries (TAP cases) of a build tree.
PASS=0 FAIL=0 SKIP=0
count_suite() { # count_suite LOG
	local log=$1 p f e x s
	[ -f "$log" ] || { FAIL=$((FAIL + 1)); return; }
	p=$(sed -n 's/^# PASS: *\([0-9]*\)/\1/p' "$log" | head -1)
	f=$(sed -n 's/^# FAIL: *\([0-9]*\)/\1/p' "$log" | head -1)
	e=$(sed -n 's/^# ERROR: *\([0-9]*\)/\1/p' "$log" | head -1)
	x=$(sed -n 's/^# XPASS: *\([0-9]*\)/\1/p' "$log" | head -1)
	s=$(sed -n 's/^# SKIP: *\([0-9]*\)/\1/p' "$log" | head -1)
	PASS=$((PASS + ${p:-0}))
	FAIL=$((FAIL + ${f:-0} + ${e:-0} + ${x:-0}))
	SKIP=$((SKIP + ${s:-0}))
}

# Count a tier that prints its own "N passed, N failed" line.
count_line() { # count_line OUTPUT-FILE RC
	local line
	line=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$1" | tail -1)
	if [ -z "$line" ]; then
		FAIL=$((FAIL + 1))
		return
	fi
	PASS=$((PASS + $(echo "$line" | sed 's/ passed.*//')))
	FAIL=$((FAIL + $(echo "$line" | sed 's/.*passed, \([0-9]*\) failed.*/\1/')))
	SKIP=$((SKIP + $(echo "$line" | sed -n 's/.*, \([0-9]*\) skipped.*/\1/p' | grep . || echo 0)))
	[ "$2" -eq 0 ] || [ "$(echo "$line" | sed 's/.*passed, \([0-9]*\) failed.*/\1/')" -gt 0 ] || FAIL=$((FAIL + 1))
}

case "$mode" in
run)
	prepare
	build _build || exit 1
	log "starting vigild in the foreground (Ctrl-C stops it); in another shell: sudo _build/vigilctl status"
	exec _build/vigild -f
	;;
test)
	prepare --test
	started=$(date +%s)

	log "build (gcc, -Werror)"
	build _build || { echo "0 passed, 1 failed"; exit 1; }
	log "unit + integration tests (gcc build)"
	make -C _build -j"$JOBS" check >_build/check.out 2>&1
	grep -E '^(FAIL|ERROR|XPASS)' _build/check.out >&2
	count_suite _build/test-suite.log
	grep -h -E '^not ok' _build/tests/*/*.log >&2 2>/dev/null

	log "build (clang, -Werror)"
	if ! build _build-clang CC=clang --disable-tests; then FAIL=$((FAIL + 1)); else PASS=$((PASS + 1)); fi

	log "unit tests under ASan+UBSan (clang)"
	if build _build-asan CC=clang \
		CFLAGS="-O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all"; then
		units=$(make -s -C _build-asan print-unit-tests)
		ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
			make -C _build-asan -j"$JOBS" check TESTS="$units" >_build-asan/check.out 2>&1
		grep -E '^(FAIL|ERROR)' _build-asan/check.out >&2
		count_suite _build-asan/test-suite.log
	else
		FAIL=$((FAIL + 1))
	fi

	if [ -x fuzz/run.sh ]; then
		log "fuzzers (${VIGIL_FUZZ_SECONDS:-180}s in all, split over the targets)"
		fuzz/run.sh "${VIGIL_FUZZ_SECONDS:-180}" >_build/fuzz.out 2>&1
		rc=$?
		tail -5 _build/fuzz.out >&2
		count_line _build/fuzz.out $rc
	fi

	log "systemd unit"
	if command -v systemd-analyze >/dev/null; then
		if systemd-analyze verify --man=no "_build/systemd/vigild.service" >_build/verify.out 2>&1 ||
			! grep -v -E "vigild: (command|Command) .* not (found|executable)|is not executable|No such file" _build/verify.out | grep -q .; then
			PASS=$((PASS + 1))
		else
			cat _build/verify.out >&2
			FAIL=$((FAIL + 1))
		fi
		systemd-analyze security --offline=yes "_build/systemd/vigild.service" 2>/dev/null | tail -1 >&2
	fi

	if [ "${VIGIL_SKIP_VM:-0}" != 1 ] && grep -q '^check-vm:' _build/Makefile; then
		log "QEMU lab (make check-vm)"
		make -C _build check-vm >_build/check-vm.out 2>&1
		rc=$?
		grep -E '^(PASS|FAIL|SKIP) ' _build/check-vm.out >&2
		count_line _build/check-vm.out $rc
	fi

	log "all tiers done in $(($(date +%s) - started))s"
	echo "$PASS passed, $FAIL failed, $SKIP skipped"
	[ "$FAIL" -eq 0 ]
	;;
*)
	sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'
	exit 2
	;;
esac

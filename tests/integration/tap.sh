# TAP output for the shell integration tests (sourced; POSIX sh). Set
# TAP_PLAN=N before sourcing when skip_all must know the plan.
#   plan                     print "1..$TAP_PLAN"
#   ok WHAT | nok WHAT [DIAG...]   one result; DIAG lines become "# " comments
#   check WHAT CMD [ARG...]  ok when CMD succeeds
#   check_eval EXPR WHAT     ok when `eval EXPR` succeeds
#   skip_all REASON          the planned tests not run yet are skipped (the
#                            whole script when there is no plan); exit 0
# FAILED is 1 once a test has failed.
TAP_N=0
TAP_PLAN=${TAP_PLAN:-0}
TAP_PLANNED=0
FAILED=0
plan() { TAP_PLANNED=1; echo "1..$TAP_PLAN"; }
ok() { TAP_N=$((TAP_N + 1)); echo "ok $TAP_N - $1"; }
nok() {
	TAP_N=$((TAP_N + 1)); FAILED=1; echo "not ok $TAP_N - $1"; shift
	for l in "$@"; do echo "# $l"; done
}
check() {
	_what=$1; shift
	if "$@"; then ok "$_what"; else nok "$_what" "failed: $*"; fi
}
check_eval() { if eval "$1"; then ok "$2"; else nok "$2" "failed: $1"; fi; }
skip_all() {
	if [ "$TAP_PLAN" -eq 0 ]; then echo "1..0 # SKIP $1"; exit 0; fi
	[ "$TAP_PLANNED" = 1 ] || echo "1..$TAP_PLAN"
	while [ "$TAP_N" -lt "$TAP_PLAN" ]; do TAP_N=$((TAP_N + 1)); echo "ok $TAP_N # SKIP $1"; done
	exit 0
}

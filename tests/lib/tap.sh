# TAP helpers for shell integration tests: source this, call tap_plan, then ok/fail/skip per check.
#   tap_plan N            "1..N"
#   tap_ok NAME           a passing result
#   tap_fail NAME WHY     a failing result with the reason on a diagnostic line
#   tap_skip NAME WHY     a skipped result, reason printed; never counted as a pass
#   tap_check NAME CMD... runs CMD; ok if it exits 0, else fail with its output
tap_n=0
tap_plan() { echo "1..$1"; }
tap_ok() { tap_n=$((tap_n + 1)); echo "ok $tap_n - $1"; }
tap_fail() { tap_n=$((tap_n + 1)); echo "not ok $tap_n - $1"; echo "# $2" | sed '2,$s/^/# /'; }
tap_skip() { tap_n=$((tap_n + 1)); echo "ok $tap_n # SKIP $1: $2"; echo "# SKIP $1: $2"; }
tap_check() {
    local name=$1; shift
    local out
    if out=$("$@" 2>&1); then tap_ok "$name"; else tap_fail "$name" "command failed: $* :: $out"; fi
}

#!/usr/bin/env bash
# Kukeon test runner: runs every unit and integration test program, reads their TAP output
# (cmocka with CMOCKA_MESSAGE_OUTPUT=TAP, shell tests through tests/lib/tap.sh), prints each
# result, and ends with one line: "N passed, N failed, N skipped".
#   tests/run.sh [unit|integration|all] [filter-substring]
# A program that dies, or reports fewer results than it planned, counts as a failure.
# A skip is never a pass: it is counted apart and its reason is printed.
set -u
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/.." && pwd)
BUILD=${BUILD:-build}
case "$BUILD" in /*) ;; *) BUILD="$top/$BUILD" ;; esac
export BUILD KUKEON_TOP="$top"
suite=${1:-all}
filter=${2:-}
passed=0 failed=0 skipped=0
failures=()

timings=()

run_one() { # name, command...
    local name=$1; shift
    local out rc planned=0 seen=0 line t0=$SECONDS
    out=$(CMOCKA_MESSAGE_OUTPUT=TAP timeout --kill-after=10 "${KUKEON_TEST_TIMEOUT:-600}" "$@" 2>&1)
    rc=$?
    timings+=("$((SECONDS - t0)) $name")
    local this_failed=0
    while IFS= read -r line; do
        if [[ $line =~ ^1\.\.([0-9]+) ]]; then
            planned=$((planned + BASH_REMATCH[1]))
        elif [[ $line =~ ^(not\ )?ok\ [0-9]+(.*)$ ]]; then
            seen=$((seen + 1))
            local neg=${BASH_REMATCH[1]} rest=${BASH_REMATCH[2]}
            if [[ $rest =~ \#\ [Ss][Kk][Ii][Pp] ]]; then
                skipped=$((skipped + 1)); echo "SKIP  $name${rest}"
            elif [[ -n $neg ]]; then
                failed=$((failed + 1)); this_failed=1; echo "FAIL  $name${rest}"
            else
                passed=$((passed + 1)); echo "ok    $name${rest}"
            fi
        fi
    done <<<"$out"
    if (( seen < planned )); then
        failed=$((failed + planned - seen)); this_failed=1
        echo "FAIL  $name: planned $planned results, reported $seen (exit $rc)"
    elif (( seen == 0 )); then
        failed=$((failed + 1)); this_failed=1
        echo "FAIL  $name: reported no result (exit $rc)"
    elif (( rc != 0 && this_failed == 0 )); then
        failed=$((failed + 1)); this_failed=1
        echo "FAIL  $name: exited $rc after its results"
    fi
    # Skip reasons and failure details are worth reading; passing chatter is not.
    if (( this_failed )); then
        failures+=("$name")
        echo "----- output of $name -----"; echo "$out" | tail -n 60; echo "-----"
    else
        sed -n -E "/^# (SKIP|skip)/s|^|      $name: |p" <<<"$out"
    fi
}

run_dir() { # dir of executables and/or *.sh files
    local dir=$1 f
    [ -d "$dir" ] || return 0
    for f in "$dir"/test_*; do
        [ -e "$f" ] || continue
        case "$f" in *.o|*.d|*.c) continue ;; esac
        [ -n "$filter" ] && [[ $f != *"$filter"* ]] && continue
        if [[ $f == *.sh ]]; then run_one "$(basename "$f" .sh)" bash "$f"
        elif [ -x "$f" ]; then run_one "$(basename "$f")" "$f"; fi
    done
}

if [[ $suite == unit || $suite == all ]]; then
    echo "== unit tests"
    run_dir "$BUILD/tests/unit"
fi
if [[ $suite == integration || $suite == all ]]; then
    echo "== integration tests"
    # shellcheck source=tests/harness/env.sh
    source "$here/harness/env.sh"
    harness_setup
    trap 'harness_teardown' EXIT
    run_dir "$BUILD/tests/integration"
    run_dir "$here/integration"
    trap - EXIT
    # A teardown that could not remove what the run made leaves the host dirty: that is a failure.
    if harness_teardown; then
        passed=$((passed + 1)); echo "ok    harness teardown: the host holds nothing of the run"
    else
        failed=$((failed + 1)); failures+=("harness-teardown")
        echo "FAIL  harness teardown: see the '# harness:' lines above"
    fi
fi

# Where the suite's time goes (whole seconds; a test program's own wall time, harness excluded).
if (( ${#timings[@]} > 1 )); then
    echo "slowest: $(printf '%s\n' "${timings[@]}" | sort -rn | head -8 | awk '{printf "%s %ss, ", $2, $1}' | sed 's/, $//')"
fi
if (( ${#failures[@]} )); then echo "failed: ${failures[*]}"; fi
echo "$passed passed, $failed failed, $skipped skipped"
(( failed == 0 ))

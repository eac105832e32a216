#!/usr/bin/env bash
# scripts/test-all.sh — THE test command (CI runs it through .ci/run).
#
# Steps: install test dependencies, cargo build (lib + CLI, debug), rustfmt check, clippy with
# warnings denied, cargo nextest (profile in .config/nextest.toml), then the conformance matrix
# (conformance/run.sh) against target/debug/libkeyrotor.so. Every step runs even when an earlier
# one failed (except that conformance needs the build); the summary lists each step and the last
# line is "PASS: ..." or "FAIL: ...". Exit status is non-zero on any failure.
#
# Environment: CARGO_TARGET_DIR is honoured. TEST_ALL_MODULE overrides the conformance module
# (only for testing this script itself).
set -euo pipefail
cd "$(dirname "$0")/.."
REPO="$(pwd)"
TARGET="${CARGO_TARGET_DIR:-$REPO/target}"
START=$(date +%s)

STEPS=()   # "name|status|seconds"
FAILED=0
LOGS="$(mktemp -d "${TMPDIR:-/tmp}/keyrotor-test-all.XXXXXX")"
trap 'rm -rf -- "$LOGS"' EXIT

section() {
    printf '\n==== [%s] %s ====\n' "$(date -u '+%Y-%m-%d %H:%M:%S UTC')" "$*"
}

# run_step NAME CMD...: run CMD with a timestamped header, record PASS/FAIL and its duration.
# Output is shown and kept in $LOGS/NAME.log (test counts are read from it).
run_step() {
    local name="$1" rc=0 t0
    shift
    section "$name: $*"
    t0=$(date +%s)
    "$@" 2>&1 | tee "$LOGS/$name.log" || rc=${PIPESTATUS[0]}
    local dt=$(($(date +%s) - t0))
    if [[ $rc -eq 0 ]]; then
        STEPS+=("$name|PASS|$dt")
        printf -- '---- %s: PASS (%ss)\n' "$name" "$dt"
    else
        STEPS+=("$name|FAIL (exit $rc)|$dt")
        FAILED=$((FAILED + 1))
        printf -- '---- %s: FAIL, exit %s (%ss)\n' "$name" "$rc" "$dt"
    fi
    return 0
}

skip_step() {
    section "$1: skipped ($2)"
    STEPS+=("$1|SKIP ($2)|0")
    FAILED=$((FAILED + 1)) # a step that could not run is a failure of the whole run
}

run_step deps ./scripts/install-test-deps.sh
run_step build cargo build --lib --bins
BUILD_OK=0
[[ "${STEPS[-1]}" == build\|PASS* ]] && BUILD_OK=1
run_step fmt cargo fmt --all -- --check
run_step clippy cargo clippy --all-targets -- -D warnings
run_step nextest cargo nextest run --no-fail-fast
run_step valgrind ./scripts/valgrind.sh
if [[ -x ./scripts/fuzz-smoke.sh ]]; then
    run_step fuzz-smoke env FUZZ_SANITIZER="${FUZZ_SANITIZER:-none}" FUZZ_PROFILE="${FUZZ_PROFILE:-dev}" ./scripts/fuzz-smoke.sh
fi

MODULE_UNDER_TEST="${TEST_ALL_MODULE:-$TARGET/debug/libkeyrotor.so}"
if [[ $BUILD_OK == 1 || -n "${TEST_ALL_MODULE:-}" ]]; then
    run_step conformance env MODULE="$MODULE_UNDER_TEST" ./conformance/run.sh
else
    skip_step conformance "build failed"
fi

# Test counts for the closing line: nextest's "Summary ... N passed, N failed, N skipped" plus
# conformance/run.sh's "conformance: N passed, N failed, N skipped". A failed step that produced no
# failed test (deps, build, fmt, clippy, a test build error, a missing module) counts as one failure.
count() { # count FILE LINE-REGEX WORD -> sum of "<n> WORD" on the lines matching LINE-REGEX
    { sed 's/\x1b\[[0-9;]*m//g' "$1" 2>/dev/null | grep -E "$2" | grep -oE "[0-9]+ $3" || true; } |
        awk '{ n += $1 } END { print n + 0 }'
}
PASSED=0 FAILS=0 SKIPPED=0
section "summary"
for s in "${STEPS[@]}"; do
    IFS='|' read -r name status secs <<<"$s"
    printf '  %-12s %-28s %5ss\n' "$name" "$status" "$secs"
    step_failed=0
    [[ $status == PASS ]] || step_failed=1
    case "$name" in
    nextest | conformance)
        if [[ $name == nextest ]]; then re='^ *Summary '; else re='^conformance: [0-9]+ passed'; fi
        p=$(count "$LOGS/$name.log" "$re" passed)
        f=$(($(count "$LOGS/$name.log" "$re" failed) + $(count "$LOGS/$name.log" "$re" 'timed out')))
        k=$(count "$LOGS/$name.log" "$re" skipped)
        [[ $step_failed == 1 && $f -eq 0 ]] && f=1
        PASSED=$((PASSED + p)) FAILS=$((FAILS + f)) SKIPPED=$((SKIPPED + k))
        ;;
    *) FAILS=$((FAILS + step_failed)) ;;
    esac
done
TOTAL=$(($(date +%s) - START))
if [[ $FAILED -eq 0 ]]; then
    echo "PASS: test-all (${#STEPS[@]} steps, ${TOTAL}s)"
    echo "test-all: $PASSED passed, $FAILS failed, $SKIPPED skipped"
    exit 0
fi
echo "FAIL: test-all ($FAILED of ${#STEPS[@]} steps failed, ${TOTAL}s)"
echo "test-all: $PASSED passed, $FAILS failed, $SKIPPED skipped"
exit 1

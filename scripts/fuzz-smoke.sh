#!/usr/bin/env bash
# scripts/fuzz-smoke.sh — build the cargo-fuzz targets in fuzz/ and run each one briefly.
#
# Usage: scripts/fuzz-smoke.sh [TARGET...]      (default: every target in fuzz/fuzz_targets)
#
# Steps: install cargo-fuzz if `cargo fuzz` is missing; build all targets once (release with
# debug assertions and AddressSanitizer, cargo-fuzz's default); then run each target for
# FUZZ_SECONDS on a temporary corpus seeded from fuzz/seeds/<target>/. A crash, leak, timeout
# or non-zero exit fails that target; its reproducer is copied to fuzz/artifacts/<target>/
# (git-ignored) and named in the output. One summary line per target, then a last line
# "PASS: fuzz-smoke ..." or "FAIL: fuzz-smoke ...". Exit status is non-zero on any failure.
#
# Environment:
#   FUZZ_SECONDS     seconds per target (default 25)
#   FUZZ_TARGET_DIR  cargo target directory for the fuzz build (default fuzz/target). The
#                    caller's CARGO_TARGET_DIR is deliberately not used: sanitizer builds do not
#                    share artifacts with normal ones, and `cargo fuzz run` must find the binary
#                    where `cargo fuzz build` put it, so both get the same explicit --target-dir.
#   FUZZ_JOBS        cargo build jobs (default 2)
#   KEYROTOR_FUZZ_SKIP_KNOWN  passed through to the harness: comma-separated finding ids
#                    (fuzz/README.md) whose known symptom is not reported again. Unset here, so
#                    an unfixed finding fails the smoke run when the fuzzer reaches it.
# The stable toolchain is used with RUSTC_BOOTSTRAP=1 (cargo-fuzz needs -Z flags).
set -euo pipefail
cd "$(dirname "$0")/.."
REPO="$(pwd)"
SECS="${FUZZ_SECONDS:-25}"
TARGET_DIR="${FUZZ_TARGET_DIR:-$REPO/fuzz/target}"
export RUSTC_BOOTSTRAP=1
export CARGO_BUILD_JOBS="${FUZZ_JOBS:-2}"
unset CARGO_TARGET_DIR
START=$(date +%s)

if [[ $# -gt 0 ]]; then
    TARGETS=("$@")
else
    TARGETS=()
    for f in fuzz/fuzz_targets/*.rs; do
        TARGETS+=("$(basename "$f" .rs)")
    done
fi

if ! cargo fuzz --help >/dev/null 2>&1; then
    echo "==== installing cargo-fuzz (once; takes a few minutes)"
    cargo install cargo-fuzz --locked
fi

WORK="$(mktemp -d "${TMPDIR:-/tmp}/keyrotor-fuzz-smoke.XXXXXX")"
trap 'rm -rf -- "$WORK"' EXIT

echo "==== building ${#TARGETS[@]} fuzz targets into $TARGET_DIR"
t0=$(date +%s)
BUILD_RC=0
# FUZZ_SANITIZER (default address) and FUZZ_PROFILE (release|dev, default release) choose the build;
# test-all.sh uses a no-sanitizer dev build for a fast CI smoke (valgrind covers memory errors there).
FUZZ_FLAGS=(--target-dir "$TARGET_DIR" --sanitizer "${FUZZ_SANITIZER:-address}")
if [[ "${FUZZ_PROFILE:-release}" == dev ]]; then FUZZ_FLAGS+=(--dev); fi
(cd fuzz && cargo fuzz build "${FUZZ_FLAGS[@]}") >"$WORK/build.log" 2>&1 || BUILD_RC=$?
tail -n 5 "$WORK/build.log"
echo "---- build: exit $BUILD_RC ($(($(date +%s) - t0))s)"
if [[ $BUILD_RC -ne 0 ]]; then
    grep -E "^error" -A 5 "$WORK/build.log" | head -n 40 || true
    echo "FAIL: fuzz-smoke (build failed)"
    exit 1
fi

# last_number LOG REGEX: the number after the last match of REGEX (e.g. "cov: ") in LOG.
last_number() {
    { grep -oE "$2[0-9]+" "$1" || true; } | tail -n 1 | grep -oE '[0-9]+$' || echo "?"
}

FAILED=0
SUMMARY=()
for t in "${TARGETS[@]}"; do
    corpus="$WORK/corpus/$t"
    artifacts="$WORK/artifacts/$t"
    log="$WORK/$t.log"
    mkdir -p "$corpus" "$artifacts"
    if [[ -d "fuzz/seeds/$t" ]]; then
        cp fuzz/seeds/"$t"/* "$corpus"/ 2>/dev/null || true
    fi
    echo "==== $t: ${SECS}s, $(find "$corpus" -type f | wc -l) seeds"
    rc=0
    # The store directory the harness creates goes under $WORK too.
    (cd fuzz && TMPDIR="$WORK" cargo fuzz run "${FUZZ_FLAGS[@]}" "$t" "$corpus" -- \
        -max_total_time="$SECS" -timeout=30 -rss_limit_mb=4096 -print_final_stats=1 \
        -artifact_prefix="$artifacts/") >"$log" 2>&1 || rc=$?
    execs=$(last_number "$log" 'stat::number_of_executed_units: *')
    cov=$(last_number "$log" 'cov: ')
    ft=$(last_number "$log" 'ft: ')
    corp=$(last_number "$log" 'corp: ')
    crashes=$(find "$artifacts" -type f | wc -l)
    if [[ $rc -eq 0 && $crashes -eq 0 ]]; then
        line=$(printf '%-14s PASS  %ss  execs=%s cov=%s ft=%s corpus=%s' "$t" "$SECS" "$execs" "$cov" "$ft" "$corp")
    else
        FAILED=$((FAILED + 1))
        mkdir -p "fuzz/artifacts/$t"
        cp "$artifacts"/* "fuzz/artifacts/$t/" 2>/dev/null || true
        cp "$log" "fuzz/artifacts/$t/smoke.log"
        line=$(printf '%-14s FAIL  exit %s, %s reproducer(s) in fuzz/artifacts/%s/ (log: smoke.log)' "$t" "$rc" "$crashes" "$t")
        # Show the crash report: from libFuzzer's or the sanitizer's first error line on.
        grep -nE "panicked at|ERROR: (libFuzzer|AddressSanitizer|LeakSanitizer)|SUMMARY" "$log" | head -n 20 || true
    fi
    echo "fuzz-smoke: $line"
    SUMMARY+=("$line")
done

echo
echo "==== summary"
for s in "${SUMMARY[@]}"; do
    echo "fuzz-smoke: $s"
done
TOTAL=$(($(date +%s) - START))
if [[ $FAILED -eq 0 ]]; then
    echo "PASS: fuzz-smoke (${#TARGETS[@]} targets, ${TOTAL}s)"
    exit 0
fi
echo "FAIL: fuzz-smoke ($FAILED of ${#TARGETS[@]} targets failed, ${TOTAL}s)"
exit 1

#!/usr/bin/env bash
# conformance/run.sh — run every consumer script against $MODULE and print a consumer × capability
# matrix. Exits non-zero if any check failed or any script crashed.
#
# Usage: MODULE=/path/to/module.so conformance/run.sh [--markdown FILE] [consumer ...]
#   consumers: pkcs11-tool pykcs11 java-sunpkcs11 (default: all)
#   --markdown FILE  also write the matrix as a Markdown table (for README.md)
#   CONF_VERBOSE=1   print the output of failed commands
set -uo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
. "$HERE/lib.sh"

MARKDOWN=""
SELECTED=()
while [[ $# -gt 0 ]]; do
    case "$1" in
    --markdown)
        MARKDOWN="$2"
        shift 2
        ;;
    -h | --help)
        sed -n '2,8p' "$0"
        exit 0
        ;;
    *)
        SELECTED+=("$1")
        shift
        ;;
    esac
done

# consumer name : script (each is runnable alone and sets up its own token in its own temp dir)
ALL=("pkcs11-tool:pkcs11-tool.sh" "pykcs11:pykcs11_gcm.py" "java-sunpkcs11:java.sh")
RUN=()
for entry in "${ALL[@]}"; do
    name="${entry%%:*}"
    if [[ ${#SELECTED[@]} -eq 0 || " ${SELECTED[*]} " == *" $name "* ]]; then RUN+=("$entry"); fi
done
if [[ ${#RUN[@]} -eq 0 ]]; then
    echo "error: no consumer matches: ${SELECTED[*]}" >&2
    exit 2
fi

if [[ ! -f "$MODULE" ]]; then
    echo "FAIL: conformance: module not found: $MODULE"
    echo "conformance: 0 passed, 1 failed, 0 skipped"
    exit 1
fi

OUT="$(mktemp -d "${TMPDIR:-/tmp}/keyrotor-conformance-run.XXXXXX")"
trap 'rm -rf -- "$OUT"' EXIT
RESULTS="$OUT/results"
: >"$RESULTS"
SCRIPT_FAILS=0

echo "conformance: module $(conf_module_name)"
for entry in "${RUN[@]}"; do
    name="${entry%%:*}"
    script="${entry#*:}"
    start=$(date +%s)
    rc=0
    # Each script bounds its own commands; this outer bound catches anything else.
    timeout 900 "$HERE/$script" >"$OUT/$name.out" 2>"$OUT/$name.err" || rc=$?
    grep '^RESULT |' "$OUT/$name.out" >>"$RESULTS" || true
    n_results=$(grep -c '^RESULT |' "$OUT/$name.out" || true)
    if [[ $n_results -eq 0 || ($rc -ne 0 && $rc -ne 1) ]]; then
        echo "RESULT | $name | run | FAIL | $script exited $rc with $n_results results" >>"$RESULTS"
        SCRIPT_FAILS=$((SCRIPT_FAILS + 1))
    fi
    pass=$(grep -c "^RESULT | $name | .* | PASS |" "$RESULTS" || true)
    fail=$(grep -c "^RESULT | $name | .* | FAIL |" "$RESULTS" || true)
    skip=$(grep -c "^RESULT | $name | .* | SKIP |" "$RESULTS" || true)
    printf '[%s] %-15s %-16s %3d pass %3d fail %3d skip  (%ds, exit %d)\n' "$(date +%H:%M:%S)" \
        "$name" "$script" "$pass" "$fail" "$skip" "$(($(date +%s) - start))" "$rc"
    if [[ $fail -gt 0 || $rc -ne 0 ]]; then
        grep "^RESULT | $name | .* | FAIL |" "$RESULTS" | awk -F' [|] ' '{ printf "    FAIL %s: %s\n", $3, $5 }'
        # stderr beyond lib.sh's own "module: ..." line (crashes, Java stack traces, Python tracebacks)
        if grep -qv '\] module: ' "$OUT/$name.err"; then
            echo "    --- stderr (last 15 lines) ---"
            grep -v '\] module: ' "$OUT/$name.err" | tail -n 15 | sed 's/^/    /'
        fi
    fi
done

# Matrix: one row per capability (first-seen order), one column per consumer.
consumers="$(printf '%s\n' "${RUN[@]}" | cut -d: -f1 | tr '\n' ' ')"
render() {
    awk -F' [|] ' -v consumers="$consumers" -v md="$1" '
    BEGIN { nc = split(consumers, cols, " ") }
    {
        c = $2; cap = $3; st = $4
        if (!(cap in seen)) { seen[cap] = 1; caps[++ncap] = cap }
        cell[cap, c] = st
    }
    END {
        w = 26
        if (md) {
            line = "| capability |"; sep = "|---|"
            for (i = 1; i <= nc; i++) { line = line " " cols[i] " |"; sep = sep "---|" }
            print line; print sep
        } else {
            line = sprintf("%-" w "s", "capability")
            for (i = 1; i <= nc; i++) line = line sprintf("  %-15s", cols[i])
            print line
        }
        for (r = 1; r <= ncap; r++) {
            cap = caps[r]
            line = md ? "| " cap " |" : sprintf("%-" w "s", cap)
            for (i = 1; i <= nc; i++) {
                v = ((cap, cols[i]) in cell) ? cell[cap, cols[i]] : "-"
                line = line (md ? " " v " |" : sprintf("  %-15s", v))
            }
            print line
        }
    }' "$RESULTS"
}

echo
render ""
notes="$(grep -E ' [|] (FAIL|SKIP) [|] | [|] PASS [|] .+$' "$RESULTS" | awk -F' [|] ' '$5 != "" { printf "  %-14s %-24s %s: %s\n", $2, $3, $4, $5 }')"
if [[ -n "$notes" ]]; then
    echo
    echo "details:"
    echo "$notes"
fi

total_fail=$(grep -c ' | FAIL | ' "$RESULTS" || true)
total_pass=$(grep -c ' | PASS | ' "$RESULTS" || true)
total_skip=$(grep -c ' | SKIP | ' "$RESULTS" || true)

if [[ -n "$MARKDOWN" ]]; then
    {
        echo "Module: $(conf_module_name), $(date -u '+%Y-%m-%d %H:%M UTC'): $total_pass pass, $total_fail fail, $total_skip skip."
        echo
        render 1
        if [[ -n "$notes" ]]; then
            echo
            echo '```'
            echo "$notes"
            echo '```'
        fi
    } >"$MARKDOWN"
fi

echo
if [[ $total_fail -eq 0 && $SCRIPT_FAILS -eq 0 ]]; then
    echo "PASS: conformance against $(conf_module_name)"
    echo "conformance: $total_pass passed, $total_fail failed, $total_skip skipped"
    exit 0
fi
echo "FAIL: conformance against $(conf_module_name)"
echo "conformance: $total_pass passed, $total_fail failed, $total_skip skipped"
exit 1

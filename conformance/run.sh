#!/usr/bin/env bash
# conformance/run.sh — run every consumer script against $MODULE and print a consumer × capability
# matrix. Exits non-zero if any check failed or any script crashed.
#
# Usage: MODULE=/path/to/module.so conformance/run.sh [--markdown FILE] [--checks] [consumer ...]
#   consumers: pkcs11-tool pkcs11-tool-test p11tool pykcs11 python-pkcs11 java-sunpkcs11 p11-kit cryptoki
#              (default: all)
#   --markdown FILE  also write the matrix and its notes as Markdown (for README.md)
#   --checks         also print every individual check (consumer, check, status, detail)
#   CONF_VERBOSE=1   print the output of failed commands
set -uo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
. "$HERE/lib.sh"

MARKDOWN=""
CHECKS=0
SELECTED=()
while [[ $# -gt 0 ]]; do
    case "$1" in
    --markdown)
        MARKDOWN="$2"
        shift 2
        ;;
    --checks)
        CHECKS=1
        shift
        ;;
    -h | --help)
        sed -n '2,11p' "$0"
        exit 0
        ;;
    *)
        SELECTED+=("$1")
        shift
        ;;
    esac
done

# consumer name : script(s). Each script is runnable alone and sets up its own token in its own temp dir.
ALL=(
    "pkcs11-tool:pkcs11-tool.sh"
    "hsm:hsm.sh"
    "pkcs11-tool-test:pkcs11-tool-test.sh"
    "p11tool:p11tool.sh"
    "pykcs11:pykcs11_gcm.py pykcs11_ops.py pykcs11_rotation.py"
    "python-pkcs11:python_pkcs11.sh"
    "java-sunpkcs11:java.sh"
    "p11-kit:p11-kit.sh"
    "cryptoki:cryptoki.sh"
)
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
    start=$(date +%s)
    worst=0
    : >"$OUT/$name.out"
    : >"$OUT/$name.err"
    for script in ${entry#*:}; do
        rc=0
        # Each script bounds its own commands; this outer bound catches anything else.
        timeout 1800 "$HERE/$script" >"$OUT/$name.$script.out" 2>>"$OUT/$name.err" || rc=$?
        cat "$OUT/$name.$script.out" >>"$OUT/$name.out"
        n_results=$(grep -c '^RESULT |' "$OUT/$name.$script.out" || true)
        if [[ $n_results -eq 0 || ($rc -ne 0 && $rc -ne 1) ]]; then
            echo "RESULT | $name | run-$script | FAIL | $script exited $rc with $n_results results" >>"$OUT/$name.out"
            SCRIPT_FAILS=$((SCRIPT_FAILS + 1))
        fi
        ((rc > worst)) && worst=$rc
    done
    grep '^RESULT |' "$OUT/$name.out" >>"$RESULTS" || true
    pass=$(grep -c "^RESULT | $name | .* | PASS |" "$RESULTS" || true)
    fail=$(grep -c "^RESULT | $name | .* | FAIL |" "$RESULTS" || true)
    skip=$(grep -c "^RESULT | $name | .* | SKIP |" "$RESULTS" || true)
    printf '[%s] %-17s %3d pass %3d fail %3d skip  (%ds, exit %d)\n' "$(date +%H:%M:%S)" \
        "$name" "$pass" "$fail" "$skip" "$(($(date +%s) - start))" "$worst"
    if [[ $fail -gt 0 || $worst -ne 0 ]]; then
        grep "^RESULT | $name | .* | FAIL |" "$RESULTS" | awk -F' [|] ' '{ printf "    FAIL %s: %s\n", $3, $5 }'
        # stderr beyond lib.sh's own "module: ..." lines (crashes, Java stack traces, Python tracebacks)
        if grep -qv '\] module: ' "$OUT/$name.err"; then
            echo "    --- stderr (last 15 lines) ---"
            grep -v '\] module: ' "$OUT/$name.err" | tail -n 15 | sed 's/^/    /'
        fi
    fi
done

# Capability columns. Each check name maps to one column by its name (first matching rule); a check
# that matches none goes to "other" (e.g. pkcs11-tool --test's RSA sub-tests and its overall verdict).
# A cell is FAIL if any of its checks failed, else PASS if any passed, else SKIP (reasons in the notes).
COLUMNS="load token-info login keygen find aes-gcm aes-cbc-pad wrap-unwrap hmac digest random rotation other"
AWK_COLUMN='
function column(c) {
    if (c ~ /rotation|rotate|envelope/) return "rotation"
    if (c ~ /^(aes-)?gcm/) return "aes-gcm"
    if (c ~ /^(aes-)?cbc/) return "aes-cbc-pad"
    if (c ~ /wrap/) return "wrap-unwrap"
    if (c ~ /hmac/) return "hmac"
    if (c ~ /digest|hash/) return "digest"
    if (c ~ /random/) return "random"
    if (c ~ /^login|private-hidden/) return "login"
    if (c ~ /keygen|create-known|import|sensitive-value/) return "keygen"
    if (c ~ /^find|list-objects/) return "find"
    if (c ~ /^(token-info|list-slots|list-mechanisms|mechanism-info|init-token|init-pin)/) return "token-info"
    if (c ~ /^(load|setup|module-info|provider-configure)/) return "load"
    return "other"
}'
render() {
    awk -F' [|] ' -v consumers="$consumers" -v columns="$COLUMNS" -v md="$1" "$AWK_COLUMN"'
    BEGIN {
        nr = split(consumers, rows, " "); nc = split(columns, cols, " ")
        split("load|token info|login|keygen|find|AES-GCM|AES-CBC-PAD|wrap/unwrap|HMAC|digest|random|rotation|other", title, "|")
    }
    {
        k = column($3); used[k] = 1
        if ($4 == "FAIL") cell[$2, k] = "FAIL"
        else if ($4 == "PASS" && cell[$2, k] != "FAIL") cell[$2, k] = "PASS"
        else if (!(($2, k) in cell)) cell[$2, k] = "SKIP"
    }
    END {
        if (md) { line = "| consumer |"; sep = "|---|" } else line = sprintf("%-17s", "consumer")
        for (j = 1; j <= nc; j++) {
            if (cols[j] == "other" && !used["other"]) continue
            if (md) { line = line " " title[j] " |"; sep = sep "---|" }
            else line = line sprintf(" %-6s", substr(title[j] == "token info" ? "token" : title[j] == "AES-CBC-PAD" ? "CBC" : title[j] == "wrap/unwrap" ? "wrap" : title[j] == "AES-GCM" ? "GCM" : title[j] == "rotation" ? "rotate" : title[j], 1, 6))
        }
        print line
        if (md) print sep
        for (i = 1; i <= nr; i++) {
            line = md ? "| " rows[i] " |" : sprintf("%-17s", rows[i])
            for (j = 1; j <= nc; j++) {
                if (cols[j] == "other" && !used["other"]) continue
                v = ((rows[i], cols[j]) in cell) ? cell[rows[i], cols[j]] : "-"
                line = line (md ? " " v " |" : sprintf(" %-6s", v))
            }
            print line
        }
    }' "$RESULTS"
}
consumers="$(printf '%s\n' "${RUN[@]}" | cut -d: -f1 | tr '\n' ' ')"

echo
render ""
# Notes: every FAIL and SKIP with its reason, and PASS lines that carry a detail worth reading.
notes="$(awk -F' [|] ' "$AWK_COLUMN"'
    $4 != "PASS" || $5 != "" { printf "  %-16s %-12s %-28s %s: %s\n", $2, column($3), $3, $4, $5 }' "$RESULTS")"
if [[ -n "$notes" ]]; then
    echo
    echo "notes (consumer, column, check, status: detail):"
    echo "$notes"
fi
if [[ $CHECKS == 1 ]]; then
    echo
    echo "checks:"
    awk -F' [|] ' '{ printf "  %-16s %-30s %s\n", $2, $3, $4 }' "$RESULTS"
fi

total_fail=$(grep -c ' | FAIL | ' "$RESULTS" || true)
total_pass=$(grep -c ' | PASS | ' "$RESULTS" || true)
total_skip=$(grep -c ' | SKIP | ' "$RESULTS" || true)

if [[ -n "$MARKDOWN" ]]; then
    {
        echo "Module: $(conf_module_name), $(date -u '+%Y-%m-%d %H:%M UTC'): $total_pass checks passed, $total_fail failed, $total_skip skipped."
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

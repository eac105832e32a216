#!/usr/bin/env bash
# conformance/cryptoki.sh — the Rust `cryptoki` crate (0.12) against $MODULE, through the example
# program examples/cryptoki_consumer.rs (it prints the RESULT lines itself; read it for the checks).
#
# The example is built with cargo (cryptoki is a dev-dependency, so the lockfile pins it) into
# $CARGO_TARGET_DIR (default target/) and then run against a freshly initialised token. The build is
# bounded by CONF_BUILD_TIMEOUT (default 1200 s: a cold build compiles the crate's dependencies).
#
# Usage: MODULE=/path/to/module.so conformance/cryptoki.sh   (default: keyrotor's .so)
set -uo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
. "$HERE/lib.sh"

C=cryptoki
if ! command -v cargo >/dev/null; then
    conf_result $C setup FAIL "cargo not found (Rust toolchain needed to build examples/cryptoki_consumer.rs)"
    exit 1
fi
TARGET="${CARGO_TARGET_DIR:-$CONF_REPO_DIR/target}"
BIN="$TARGET/debug/examples/cryptoki_consumer"
BUILD_LOG="$(mktemp "${TMPDIR:-/tmp}/keyrotor-cryptoki-build.XXXXXX")"
if ! (cd "$CONF_REPO_DIR" && timeout "${CONF_BUILD_TIMEOUT:-1200}" cargo build --quiet --example cryptoki_consumer) >"$BUILD_LOG" 2>&1; then
    conf_result $C setup FAIL "cargo build --example cryptoki_consumer: $(grep -m1 -E '^error' "$BUILD_LOG" || tail -n1 "$BUILD_LOG")"
    rm -f "$BUILD_LOG"
    exit 1
fi
rm -f "$BUILD_LOG"

conf_prepare $C
read -r CONF_SLOT_ID _ < <(conf_slot_info) || CONF_SLOT_ID=0
export CONF_SLOT_ID
rc=0
timeout "$CONF_TIMEOUT" "$BIN" "$MODULE" || rc=$?
if [[ $rc -ne 0 && $rc -ne 1 ]]; then
    conf_result $C run FAIL "cryptoki_consumer exited with status $rc (crash or timeout)"
fi

# GCM IVs the module generates (3.0 message API, CKG_GENERATE) must never repeat under one key version,
# also across processes: two more processes seal two messages each under the rotated key rot-cryptoki.
ivs_across_processes() {
    local a b all
    a="$(timeout "$CONF_TIMEOUT" "$BIN" "$MODULE" --msg-ivs rot-cryptoki)" || return 1
    b="$(timeout "$CONF_TIMEOUT" "$BIN" "$MODULE" --msg-ivs rot-cryptoki)" || return 1
    echo "process 1: $a"
    echo "process 2: $b"
    all="$(tr ' ' '\n' <<<"$a $b")"
    if [[ $(sort <<<"$all" | uniq -d | wc -l) -ne 0 ]]; then
        echo "error: IV reuse across processes under one key version: $a / $b"
        return 1
    fi
    echo "note: 4 distinct IVs from 2 processes: $a $b"
}
if conf_is_softhsm; then
    conf_result $C gcm-message-api-iv-across-processes SKIP "SoftHSM2 has no C_MessageEncryptInit"
else
    conf_check $C gcm-message-api-iv-across-processes ivs_across_processes || rc=1
fi
exit "$rc"

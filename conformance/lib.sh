#!/usr/bin/env bash
# conformance/lib.sh — shared plumbing for the conformance scripts.
#
# Source it from a script (`. "$(dirname "$0")/lib.sh"`), then call:
#   conf_setup            temp dir + module-specific configuration + EXIT trap that removes the temp dir
#   conf_init_token       C_InitToken + C_InitPIN through pkcs11-tool (same commands for every module)
#   conf_result / conf_check   print one "RESULT | consumer | capability | STATUS | detail" line
#
# Or execute it to run any command against a freshly initialised token (used by pykcs11_gcm.py when
# it is started on its own):   bash conformance/lib.sh with-token CMD [ARGS...]
#
# The module under test is $MODULE. Default: keyrotor's debug build, else its release build.
# SoftHSM2 needs its own configuration file (SOFTHSM2_CONF); keyrotor needs KEYROTOR_CONF. Each has its
# own setup function and only the one that matches $MODULE is called.

CONF_LIB_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CONF_REPO_DIR="$(cd "$CONF_LIB_DIR/.." && pwd)"

# Token identity used by every script. The PINs are test values for throw-away tokens.
CONF_TOKEN_LABEL="${CONF_TOKEN_LABEL:-conformance}"
CONF_SO_PIN="${CONF_SO_PIN:-12345678}"
CONF_USER_PIN="${CONF_USER_PIN:-1234}"
# Upper bound for any single consumer command, so a hung module fails the run instead of hanging CI.
CONF_TIMEOUT="${CONF_TIMEOUT:-120}"
export CONF_TOKEN_LABEL CONF_SO_PIN CONF_USER_PIN CONF_TIMEOUT

conf_default_module() {
    local target="${CARGO_TARGET_DIR:-$CONF_REPO_DIR/target}"
    if [[ -f "$target/debug/libkeyrotor.so" ]]; then
        echo "$target/debug/libkeyrotor.so"
    else
        echo "$target/release/libkeyrotor.so"
    fi
}
MODULE="${MODULE:-$(conf_default_module)}"
export MODULE

# True when the module under test is SoftHSM2 (decides setup and the few documented SoftHSM quirks).
conf_is_softhsm() {
    [[ "$(basename "$MODULE")" == *softhsm* ]]
}

# Human-readable module name for logs and the README matrix.
conf_module_name() {
    if conf_is_softhsm; then echo "SoftHSM2 ($MODULE)"; else echo "keyrotor ($MODULE)"; fi
}

conf_log() {
    printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2
}

# ---------------------------------------------------------------------------------------------
# Module-specific setup. Exactly one of these runs, from conf_setup.

# SoftHSM2 only: a private token directory so tests never touch /var/lib/softhsm.
conf_softhsm_setup() {
    mkdir -p "$CONF_WORK/softhsm-tokens"
    cat >"$CONF_WORK/softhsm2.conf" <<EOF
directories.tokendir = $CONF_WORK/softhsm-tokens
objectstore.backend = file
log.level = ERROR
slots.removable = false
EOF
    export SOFTHSM2_CONF="$CONF_WORK/softhsm2.conf"
    CONF_STORE_DIR="$CONF_WORK/softhsm-tokens"
}

# keyrotor: one software slot whose SQLite store lives in the temp dir; fast PIN hashing for tests.
conf_keyrotor_setup() {
    CONF_STORE_DIR="$CONF_WORK/store"
    mkdir -p "$CONF_STORE_DIR"
    cat >"$CONF_WORK/keyrotor.toml" <<EOF
[[slot]]
label = "$CONF_TOKEN_LABEL"
backend = "software"
store = "$CONF_STORE_DIR/slot0.sqlite"
EOF
    export KEYROTOR_CONF="$CONF_WORK/keyrotor.toml"
    export KEYROTOR_KDF_MEMORY_KIB="${KEYROTOR_KDF_MEMORY_KIB:-64}"
}

# ---------------------------------------------------------------------------------------------

conf_cleanup() {
    if [[ -n "${CONF_WORK:-}" && -d "$CONF_WORK" ]]; then
        if [[ "${CONF_KEEP_TMP:-0}" == 1 ]]; then
            conf_log "keeping temp dir $CONF_WORK (CONF_KEEP_TMP=1)"
        else
            rm -rf -- "$CONF_WORK"
        fi
    fi
}

# Create the temp dir, configure the module, install the cleanup trap. Fails if the module is missing.
conf_setup() {
    if [[ ! -f "$MODULE" ]]; then
        echo "error: PKCS#11 module not found: $MODULE (build keyrotor first or set MODULE=...)" >&2
        return 1
    fi
    CONF_WORK="$(mktemp -d "${TMPDIR:-/tmp}/${CONF_TMP_PREFIX:-keyrotor-conformance}.XXXXXX")"
    export CONF_WORK
    trap conf_cleanup EXIT
    trap 'exit 130' INT TERM
    if conf_is_softhsm; then
        conf_softhsm_setup
    else
        conf_keyrotor_setup
    fi
    export CONF_STORE_DIR
    conf_log "module: $(conf_module_name); temp dir: $CONF_WORK"
}

# pkcs11-tool bound to the module and the test token, with a timeout.
conf_p11() {
    timeout "$CONF_TIMEOUT" pkcs11-tool --module "$MODULE" --token-label "$CONF_TOKEN_LABEL" "$@"
}

# pkcs11-tool logged in as the user.
conf_p11u() {
    conf_p11 --login --pin "$CONF_USER_PIN" "$@"
}

conf_init_token_only() {
    timeout "$CONF_TIMEOUT" pkcs11-tool --module "$MODULE" --init-token \
        --label "$CONF_TOKEN_LABEL" --so-pin "$CONF_SO_PIN"
}

conf_init_pin_only() {
    conf_p11 --init-pin --pin "$CONF_USER_PIN" --so-pin "$CONF_SO_PIN"
}

# C_InitToken + C_InitPIN; output goes to $CONF_WORK/init-token.log.
conf_init_token() {
    {
        conf_init_token_only && conf_init_pin_only
    } >"$CONF_WORK/init-token.log" 2>&1
}

# Slot ID (decimal) and slot list index of the slot whose token label is $CONF_TOKEN_LABEL,
# parsed from `pkcs11-tool -L` ("Slot <index> (0x<id>): ..." then "token label : <label>").
conf_slot_info() {
    local hexid idx
    read -r hexid idx < <(timeout "$CONF_TIMEOUT" pkcs11-tool --module "$MODULE" -L 2>/dev/null |
        awk -v want="$CONF_TOKEN_LABEL" '
        /^Slot [0-9]+ \(0x[0-9a-fA-F]+\)/ { idx = $2; id = $3; gsub(/[():]/, "", id); sub(/^0x/, "", id) }
        /token label/ { sub(/^[^:]*: */, ""); sub(/ +$/, ""); if ($0 == want) { print id, idx; exit } }') || return 1
    [[ -n "${hexid:-}" ]] || return 1
    echo "$((16#$hexid)) $idx"
}

# ---------------------------------------------------------------------------------------------
# Results. Every check prints one line that run.sh collects into the matrix:
#   RESULT | <consumer> | <capability> | PASS|FAIL|SKIP | <detail>

CONF_FAILS=0

conf_result() {
    local consumer="$1" cap="$2" status="$3" detail="${4:-}"
    [[ "$status" == FAIL ]] && CONF_FAILS=$((CONF_FAILS + 1))
    printf 'RESULT | %s | %s | %s | %s\n' "$consumer" "$cap" "$status" "$detail"
}

# The most useful line of a failed command's output: the first error/CKR_ line, ignoring
# pkcs11-tool's routine warnings; else the last non-empty line.
conf_reason() {
    local log="$1" line
    line="$(grep -v '^warning' "$log" 2>/dev/null | grep -m1 -iE 'error|fail|CKR_|exception|not supported|unknown' || true)"
    [[ -z "$line" ]] && line="$(grep -v '^[[:space:]]*$' "$log" 2>/dev/null | tail -n1 || true)"
    if [[ "$line" == *"Failed to load pkcs11 module"* ]]; then line="$line: $(conf_load_diagnosis)"; fi
    printf '%s' "${line:0:200}"
}

# conf_check CONSUMER CAPABILITY CMD [ARGS...]: PASS if CMD exits 0, else FAIL with the reason.
# The command's output is kept in $CONF_WORK/logs/<capability>.log (and $CONF_LAST_LOG).
conf_check() {
    local consumer="$1" cap="$2" rc=0
    shift 2
    mkdir -p "$CONF_WORK/logs"
    CONF_LAST_LOG="$CONF_WORK/logs/$cap.log"
    "$@" >"$CONF_LAST_LOG" 2>&1 || rc=$?
    if [[ $rc -eq 0 ]]; then
        # A check may explain a PASS with a line starting "note: ".
        conf_result "$consumer" "$cap" PASS "$(grep -m1 '^note: ' "$CONF_LAST_LOG" | cut -c7- || true)"
        return 0
    fi
    conf_result "$consumer" "$cap" FAIL "$(conf_reason "$CONF_LAST_LOG") (exit $rc)"
    if [[ "${CONF_VERBOSE:-0}" == 1 ]]; then sed 's/^/    | /' "$CONF_LAST_LOG" >&2; fi
    return 1
}

# Standard preamble for consumer scripts: setup + token initialisation, recorded as "setup".
conf_prepare() {
    local consumer="$1"
    if ! conf_setup; then
        conf_result "$consumer" setup FAIL "module not found: $MODULE"
        exit 1
    fi
    if ! conf_init_token; then
        conf_result "$consumer" setup FAIL "token init: $(conf_reason "$CONF_WORK/init-token.log")"
        exit 1
    fi
}

# Why a module cannot be loaded: dlopen's error, or which entry points are missing.
conf_load_diagnosis() {
    /usr/bin/python3 - "$MODULE" <<'PY' 2>&1 | head -n1
import ctypes, sys
try:
    lib = ctypes.CDLL(sys.argv[1])
except OSError as e:
    print(f"dlopen: {e}")
    sys.exit()
missing = [f for f in ("C_GetFunctionList", "C_GetInterface", "C_GetInterfaceList") if not hasattr(lib, f)]
print(f"dlopen ok; missing exports: {' '.join(missing)}" if missing else "dlopen ok; C_GetFunctionList exported")
PY
}

hex_of() { od -An -v -tx1 "$1" | tr -d ' \n'; }

# conf_skip CONSUMER REASON CHECK...: one SKIP line per check, all with the same reason. For capabilities
# a consumer genuinely cannot exercise, so every cell of the matrix says PASS, FAIL or SKIP with a reason.
conf_skip() {
    local consumer="$1" reason="$2" cap
    shift 2
    for cap in "$@"; do conf_result "$consumer" "$cap" SKIP "$reason"; done
}

# ---------------------------------------------------------------------------------------------
# keyrotor's own admin CLI, for the rotation checks. It lives beside the .so in the same target dir
# (target/debug/keyrotor next to target/debug/libkeyrotor.so); KEYROTOR_CLI overrides.
CONF_CLI="${KEYROTOR_CLI:-$(dirname "$MODULE")/keyrotor}"
export CONF_CLI

# conf_cli ARGS...: the CLI against this script's store and slot, user PIN from $KEYROTOR_PIN (the CLI
# never takes a PIN as an argument). CONF_SLOT_ID must be set (conf_slot_info).
conf_cli() {
    KEYROTOR_PIN="$CONF_USER_PIN" timeout "$CONF_TIMEOUT" "$CONF_CLI" --config "$KEYROTOR_CONF" \
        --slot "${CONF_SLOT_ID:-0}" "$@"
}

# Executed directly: `lib.sh with-token CMD...` runs CMD against a fresh, initialised token.
if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
    set -uo pipefail
    if [[ "${1:-}" != with-token || $# -lt 2 ]]; then
        echo "usage: MODULE=/path/to/module.so $0 with-token CMD [ARGS...]" >&2
        exit 2
    fi
    shift
    conf_prepare "${CONF_CONSUMER:-lib.sh}"
    export CONF_READY=1
    rc=0
    "$@" || rc=$?
    exit "$rc"
fi

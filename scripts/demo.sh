#!/usr/bin/env bash
# scripts/demo.sh — the five-minute tour: build libkeyrotor.so, give it a fresh SQLite store, initialise
# the token with pkcs11-tool, then let Python (PyKCS11) generate a persistent AES-256 key, encrypt with
# AES-GCM in one process and decrypt in another, list the key with pkcs11-tool and show that key
# material is not readable in the store.
#
# Usage: scripts/demo.sh               (builds target/release/libkeyrotor.so)
#        DEMO_KEEP=1 scripts/demo.sh   (keep the temp dir and its store for inspection)
#        MODULE=/usr/lib/softhsm/libsofthsm2.so scripts/demo.sh   (same tour on another module, no build)
#
# Then it rotates demo-key with the `keyrotor` CLI and shows a third process decrypting the old
# ciphertext through the same label while new data is encrypted under v2.
set -euo pipefail
REPO="$(cd "$(dirname "$0")/.." && pwd)"
TARGET="${CARGO_TARGET_DIR:-$REPO/target}"
STEP=0
step() {
    STEP=$((STEP + 1))
    printf '\n[%d] %s\n' "$STEP" "$*"
}

echo "keyrotor demo — a PKCS#11 module whose keys rotate"

# --- 1. consumer tools ------------------------------------------------------------------------------
step "checking tools: pkcs11-tool (opensc), PyKCS11, python3-cryptography"
missing=()
for pkg in opensc python3-pykcs11 python3-cryptography; do
    dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done
if [[ ${#missing[@]} -gt 0 ]]; then
    if [[ $(id -u) -eq 0 ]]; then
        echo "  installing ${missing[*]} with apt-get"
        apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
    else
        echo "  missing packages: ${missing[*]} — run: sudo apt-get install -y ${missing[*]}" >&2
        exit 1
    fi
fi
echo "  ok: $(command -v pkcs11-tool), /usr/bin/python3 with PyKCS11"

# --- 2. build ----------------------------------------------------------------------------------------
if [[ -z "${MODULE:-}" ]]; then
    step "building libkeyrotor.so (cargo build --release; the first build takes a few minutes)"
    BUILD_LOG="$(mktemp "${TMPDIR:-/tmp}/keyrotor-demo-build.XXXXXX")"
    start=$(date +%s)
    if ! (cd "$REPO" && cargo build --release) >"$BUILD_LOG" 2>&1; then
        tail -n 30 "$BUILD_LOG"
        echo "  build failed (full log: $BUILD_LOG)" >&2
        exit 1
    fi
    rm -f "$BUILD_LOG"
    MODULE="$TARGET/release/libkeyrotor.so"
    echo "  built $MODULE in $(($(date +%s) - start))s"
fi
export MODULE

# --- 3. a fresh store and token ------------------------------------------------------------------------
export CONF_TOKEN_LABEL=demo CONF_TMP_PREFIX=keyrotor-demo
# shellcheck source=../conformance/lib.sh
. "$REPO/conformance/lib.sh"
step "creating a temp dir with a configuration and a fresh store"
if [[ ! -f "$MODULE" ]]; then
    echo "  FAILED: module not found: $MODULE" >&2
    exit 1
fi
conf_setup 2>/dev/null
if [[ "${DEMO_KEEP:-0}" == 1 ]]; then CONF_KEEP_TMP=1; fi
if conf_is_softhsm; then
    echo "  SOFTHSM2_CONF=$SOFTHSM2_CONF (token files in $CONF_STORE_DIR)"
else
    echo "  KEYROTOR_CONF=$KEYROTOR_CONF: slot \"$CONF_TOKEN_LABEL\", software backend, store $CONF_STORE_DIR/slot0.sqlite"
fi

step "initialising the token with pkcs11-tool (--init-token, then --init-pin)"
if ! conf_init_token; then
    sed 's/^/  | /' "$CONF_WORK/init-token.log"
    echo "  token initialisation failed" >&2
    exit 1
fi
echo "  token \"$CONF_TOKEN_LABEL\" initialised: SO PIN $CONF_SO_PIN, user PIN $CONF_USER_PIN (demo values)"

# --- 4. the application's view ------------------------------------------------------------------------
PY=/usr/bin/python3
DEMO_PY="$REPO/conformance/demo.py"
step "process 1: generate a persistent key and encrypt (AES-256-GCM with AAD)"
"$PY" "$DEMO_PY" encrypt "$CONF_WORK/message.json"

step "process 2: a new process finds the key by label and decrypts"
"$PY" "$DEMO_PY" decrypt "$CONF_WORK/message.json"

step "pkcs11-tool --list-objects sees the key (its value is never shown: sensitive)"
if ! conf_p11u --list-objects >"$CONF_WORK/objects.txt" 2>&1 || ! grep -q 'label: *demo-key' "$CONF_WORK/objects.txt"; then
    sed 's/^/  | /' "$CONF_WORK/objects.txt"
    echo "  FAILED: pkcs11-tool --list-objects does not show demo-key" >&2
    exit 1
fi
grep -v -e '^warning' -e '^Using slot' -e '^$' "$CONF_WORK/objects.txt" | sed 's/^/  | /'

# --- 5. nothing readable at rest -----------------------------------------------------------------------
step "key material at rest: import a key with a known value, then search the store for it"
"$PY" "$DEMO_PY" known "$CONF_WORK/known-key.hex"
echo "  store: $CONF_STORE_DIR ($(find "$CONF_STORE_DIR" -type f | wc -l) files, $(du -sh "$CONF_STORE_DIR" | cut -f1))"
"$PY" "$DEMO_PY" scan "$CONF_WORK/known-key.hex" "$CONF_STORE_DIR"

# --- 6. rotation --------------------------------------------------------------------------------------
if ! conf_is_softhsm; then
    CLI="$TARGET/release/keyrotor"
    step "rotate demo-key with the keyrotor admin CLI: v2 becomes Active, v1 keeps decrypting"
    KEYROTOR_PIN=1234 "$CLI" --config "$KEYROTOR_CONF" key rotate demo-key | sed 's/^/  /'
    "$CLI" --config "$KEYROTOR_CONF" key show demo-key | sed 's/^/  | /'
    step "process 3: the same label decrypts the old data and encrypts new data under v2"
    "$PY" "$DEMO_PY" after_rotation "$CONF_WORK/message.json"
    step "the audit log records every state change, hash-chained"
    "$CLI" --config "$KEYROTOR_CONF" audit verify | sed 's/^/  /'
fi

echo
if [[ "${DEMO_KEEP:-0}" == 1 ]]; then
    echo "demo complete. Everything is in $CONF_WORK (kept because DEMO_KEEP=1)."
else
    echo "demo complete. The temp dir $CONF_WORK is removed now; DEMO_KEEP=1 keeps it."
fi

#!/usr/bin/env bash
# conformance/java.sh — Java 17 SunPKCS11 against $MODULE: provider configuration, login through
# KeyStore.load(null, PIN), KeyGenerator AES-256 on the token, AES/GCM/NoPadding with AAD round trip,
# tampered tag rejected, and a known key's ciphertext compared with SunJCE's. See java/GcmRoundTrip.java.
#
# Usage: MODULE=/path/to/module.so conformance/java.sh   (default: keyrotor's .so)
set -uo pipefail
. "$(dirname "$0")/lib.sh"

C=java-sunpkcs11
if ! command -v java >/dev/null; then
    conf_result $C setup FAIL "java not found (Java 17 JDK needed)"
    exit 1
fi
conf_prepare $C

if ! read -r SLOT_ID SLOT_INDEX < <(conf_slot_info); then
    conf_result $C setup FAIL "no slot with token label '$CONF_TOKEN_LABEL' in pkcs11-tool -L"
    exit 1
fi

# SunPKCS11 parses slot= as a Java int; fall back to the slot list index for larger IDs.
CFG="$CONF_WORK/sunpkcs11.cfg"
{
    echo "name = keyrotor"
    echo "library = $MODULE"
    if ((SLOT_ID <= 2147483647)); then echo "slot = $SLOT_ID"; else echo "slotListIndex = $SLOT_INDEX"; fi
} >"$CFG"

EXTRA=()
conf_is_softhsm && EXTRA=(softhsm)
rc=0
# Java 11+ runs a single source file directly; no class files to clean up.
timeout "$CONF_TIMEOUT" java -Djava.io.tmpdir="$CONF_WORK" \
    "$(dirname "$0")/java/GcmRoundTrip.java" "$CFG" "$CONF_USER_PIN" "${EXTRA[@]}" || rc=$?
if [[ $rc -ne 0 && $rc -ne 1 ]]; then
    conf_result $C run FAIL "java exited with status $rc (crash or timeout)"
fi
exit "$rc"

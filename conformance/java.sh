#!/usr/bin/env bash
# conformance/java.sh — Java 17 SunPKCS11 against $MODULE, one JVM per step:
#   java/GcmRoundTrip.java   provider configuration, login through KeyStore.load(null, PIN), KeyGenerator
#                            AES-256, AES/GCM/NoPadding with AAD, tampered tag rejected, raw key == SunJCE
#   java/Capabilities.java   ops: registered services, AES/CBC/PKCS5Padding, Mac HmacSHA256, SHA-256,
#                            SecureRandom, AES/KW (each compared with SunJCE/SUN); store + find: a
#                            KeyGenerator key stored under a KeyStore alias, found by a second JVM;
#                            rot-seal + rot-open: GCM through a rotating key's alias before and after
#                            `keyrotor key rotate` (keyrotor only).
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
JAVA=(timeout "$CONF_TIMEOUT" java -Djava.io.tmpdir="$CONF_WORK")
JDIR="$(dirname "$0")/java"
status=0
# Runs one JVM; a crash or timeout (exit other than 0/1) is a FAIL of its own.
jvm() {
    local what="$1" rc=0
    shift
    "${JAVA[@]}" "$@" || rc=$?
    if [[ $rc -ne 0 && $rc -ne 1 ]]; then
        conf_result $C "run-$what" FAIL "java exited with status $rc (crash or timeout)"
    fi
    [[ $rc -eq 0 ]] || status=1
    return "$rc"
}

# Java 11+ runs a single source file directly; no class files to clean up.
jvm gcm "$JDIR/GcmRoundTrip.java" "$CFG" "$CONF_USER_PIN" "${EXTRA[@]}"
jvm ops "$JDIR/Capabilities.java" "$CFG" "$CONF_USER_PIN" ops "$CONF_WORK" "${EXTRA[@]}"
# A key stored under a KeyStore alias in one JVM, found and used by a second JVM.
if jvm store "$JDIR/Capabilities.java" "$CFG" "$CONF_USER_PIN" store "$CONF_WORK" "${EXTRA[@]}"; then
    jvm find "$JDIR/Capabilities.java" "$CFG" "$CONF_USER_PIN" find "$CONF_WORK" "${EXTRA[@]}"
else
    conf_result $C find-keystore-alias SKIP "nothing stored (keygen-keystore-store failed)"
fi

# Rotation through the standard API, across JVMs: a rotating key made by pkcs11-tool (C_GenerateKey of an
# AES token key), GCM through its KeyStore alias, `keyrotor key rotate` in between.
if conf_is_softhsm; then
    conf_skip $C "SoftHSM2 has no rotating keys" rotation
else
    CONF_SLOT_ID="$SLOT_ID"
    if ! conf_p11u --keygen --key-type AES:32 --label java-rot --id 0e >"$CONF_WORK/rot-keygen.log" 2>&1; then
        conf_result $C rotation-keygen FAIL "pkcs11-tool --keygen: $(conf_reason "$CONF_WORK/rot-keygen.log")"
        status=1
    elif jvm rot-seal "$JDIR/Capabilities.java" "$CFG" "$CONF_USER_PIN" rot-seal "$CONF_WORK"; then
        if conf_check $C rotation-cli-rotate conf_cli key rotate java-rot; then
            jvm rot-open "$JDIR/Capabilities.java" "$CFG" "$CONF_USER_PIN" rot-open "$CONF_WORK"
        else
            status=1
            conf_result $C rotation-open-after-rotate SKIP "the CLI did not rotate"
        fi
    fi
fi
conf_skip $C "SunPKCS11 has no API for vendor mechanisms; rotation is checked through plain AES/GCM" rotation-envelope
exit "$status"

#!/usr/bin/env bash
# conformance/hsm.sh — keyrotor's pkcs11 (HSM) slot on SoftHSM2, checked from outside:
#   setup                              SoftHSM2 token "HSM-CONF" in a temp dir; keyrotor slot on it;
#                                      keyrotor's own token initialised with pkcs11-tool
#   keygen-in-hsm                      pkcs11-tool --keygen AES:32 on keyrotor (a rotating key)
#   list-objects-never-extractable     pkcs11-tool --list-objects --login on SoftHSM2 itself shows
#                                      keyrotor:<name>@v1 with Access "sensitive ... never extractable"
#                                      and without "extractable" on its own
#   list-mechanisms-hsm-slot           keyrotor's slot lists AES-GCM but no AES-CBC (not on a device)
#   gcm-roundtrip                      PyKCS11 AES-GCM (IV + AAD) and envelope round trips (hsm/gcm.py)
#   gcm-bad-tag                        flipped tag bit -> CKR_ENCRYPTED_DATA_INVALID
#   rotate-cli                         keyrotor key rotate -> v2, a second HSM key appears
#   rotate-old-ciphertexts-decrypt     what v1 wrote still decrypts; new envelopes say v2
#   rotate-destroy-v1-erases-hsm-key   keyrotor key destroy --version 1 -> SoftHSM2 no longer has it
#
# Prints RESULT lines like every conformance script (conformance/lib.sh). Runs against keyrotor only
# ($MODULE); with SoftHSM2 as $MODULE every check is SKIP. Needs softhsm2, opensc, python3-pykcs11.
set -uo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
. "$HERE/lib.sh"

C=hsm
CHECKS=(keygen-in-hsm list-objects-never-extractable list-mechanisms-hsm-slot gcm-roundtrip gcm-bad-tag
    rotate-cli rotate-old-ciphertexts-decrypt rotate-destroy-v1-erases-hsm-key)
SOFTHSM="${SOFTHSM_MODULE:-/usr/lib/softhsm/libsofthsm2.so}"
HSM_LABEL="HSM-CONF"
HSM_SO_PIN="87654321"
export CONF_HSM_PIN="4321" # the HSM's user PIN: keyrotor reads it from this variable
KEY="conf-hsm"

if conf_is_softhsm; then
    conf_skip "$C" "tests keyrotor's HSM slot; MODULE is SoftHSM2 itself" setup "${CHECKS[@]}"
    exit 0
fi
if [[ ! -f "$SOFTHSM" ]] || ! command -v softhsm2-util >/dev/null; then
    conf_result "$C" setup FAIL "SoftHSM2 is not installed ($SOFTHSM; scripts/install-test-deps.sh)"
    exit 1
fi

CONF_TMP_PREFIX=keyrotor-conformance-hsm
if ! conf_setup; then
    conf_result "$C" setup FAIL "module not found: $MODULE"
    exit 1
fi

# SoftHSM2 in the temp dir (conf_setup configured keyrotor; the HSM gets its own directory).
mkdir -p "$CONF_WORK/hsm-tokens" "$CONF_WORK/data"
cat >"$CONF_WORK/softhsm2.conf" <<EOF
directories.tokendir = $CONF_WORK/hsm-tokens
objectstore.backend = file
log.level = ERROR
slots.removable = false
EOF
export SOFTHSM2_CONF="$CONF_WORK/softhsm2.conf"

# keyrotor: one slot whose keys live in the HSM.
cat >"$KEYROTOR_CONF" <<EOF
[[slot]]
label = "$CONF_TOKEN_LABEL"
backend = "pkcs11"
store = "$CONF_STORE_DIR/hsm.sqlite"
[slot.pkcs11]
module = "$SOFTHSM"
token = "$HSM_LABEL"
pin = { env = "CONF_HSM_PIN" }
EOF

hsm_p11() { # pkcs11-tool on SoftHSM2 itself, logged in as the HSM user
    timeout "$CONF_TIMEOUT" pkcs11-tool --module "$SOFTHSM" --token-label "$HSM_LABEL" \
        --login --pin "$CONF_HSM_PIN" "$@"
}
cli() { # keyrotor's CLI with keyrotor's own user PIN
    KEYROTOR_PIN="$CONF_USER_PIN" timeout "$CONF_TIMEOUT" "$CONF_CLI" --config "$KEYROTOR_CONF" "$@"
}
gcm() { timeout "$CONF_TIMEOUT" /usr/bin/python3 "$HERE/hsm/gcm.py" "$@"; }

if ! softhsm2-util --init-token --free --label "$HSM_LABEL" --so-pin "$HSM_SO_PIN" \
    --pin "$CONF_HSM_PIN" >"$CONF_WORK/softhsm-init.log" 2>&1; then
    conf_result "$C" setup FAIL "softhsm2-util: $(conf_reason "$CONF_WORK/softhsm-init.log")"
    exit 1
fi
if ! conf_init_token; then
    conf_result "$C" setup FAIL "keyrotor token init on the HSM slot: $(conf_reason "$CONF_WORK/init-token.log")"
    exit 1
fi
conf_result "$C" setup PASS "SoftHSM2 token $HSM_LABEL behind keyrotor slot \"$CONF_TOKEN_LABEL\""

# The secret-key blocks of SoftHSM2's listing whose label is keyrotor:$KEY@vN, one per line:
# "<label>|<access flags>".
hsm_versions() {
    hsm_p11 --list-objects --type secrkey 2>/dev/null | awk '
        /^Secret Key Object/ { label = ""; access = "" }
        /^[[:space:]]*label:/ { sub(/^[^:]*:[[:space:]]*/, ""); label = $0 }
        /^[[:space:]]*Access:/ { sub(/^[^:]*:[[:space:]]*/, ""); access = $0; if (label ~ /^keyrotor:/) print label "|" access }' |
        grep "^keyrotor:$KEY@v" | sort
}

check_never_extractable() {
    local want="$1" lines
    lines="$(hsm_versions)"
    echo "$lines"
    [[ "$(grep -c . <<<"$lines")" -eq "$want" ]] || { echo "error: expected $want HSM keys for $KEY"; return 1; }
    while IFS='|' read -r label access; do
        [[ "$access" == *"never extractable"* && "$access" == *"sensitive"* ]] ||
            { echo "error: $label access is \"$access\""; return 1; }
        # "extractable" may only appear as part of "never extractable".
        [[ "$(sed 's/never extractable//' <<<"$access")" != *extractable* ]] ||
            { echo "error: $label is extractable: $access"; return 1; }
    done <<<"$lines"
    echo "note: $(cut -d'|' -f1 <<<"$lines" | tr '\n' ' ')never extractable, sensitive"
}

mechanisms_ok() {
    local m
    m="$(conf_p11 -M 2>&1)"
    echo "$m"
    grep -q 'AES-GCM' <<<"$m" || { echo "error: AES-GCM missing"; return 1; }
    ! grep -q 'AES-CBC' <<<"$m" || { echo "error: AES-CBC listed on a device slot"; return 1; }
}

rotate_ok() {
    local out
    out="$(cli key rotate "$KEY" --json)" || return 1
    echo "$out"
    grep -q '"active_version": *2' <<<"$out" || { echo "error: expected active_version 2"; return 1; }
    check_never_extractable 2
}

old_decrypts() {
    gcm open "$KEY" "$CONF_WORK/data" || return 1
    mkdir -p "$CONF_WORK/data2"
    local v
    v="$(gcm seal "$KEY" "$CONF_WORK/data2")" || return 1
    [[ "$v" == "version 2" ]] || { echo "error: new envelope says $v, expected version 2"; return 1; }
    echo "note: v1 ciphertexts decrypt after rotation; new envelopes use v2"
}

destroy_v1() {
    cli key destroy "$KEY" --version 1 --yes || return 1
    local lines
    lines="$(hsm_versions)"
    echo "$lines"
    [[ "$lines" == "keyrotor:$KEY@v2|"* && "$(grep -c . <<<"$lines")" -eq 1 ]] ||
        { echo "error: expected only keyrotor:$KEY@v2 left in the HSM"; return 1; }
    echo "note: v1's HSM key is destroyed, v2 remains"
}

conf_check "$C" keygen-in-hsm conf_p11u --keygen --key-type AES:32 --label "$KEY" --id 0c0f
conf_check "$C" list-objects-never-extractable check_never_extractable 1
conf_check "$C" list-mechanisms-hsm-slot mechanisms_ok
conf_check "$C" gcm-roundtrip gcm seal "$KEY" "$CONF_WORK/data"
conf_check "$C" gcm-bad-tag gcm badtag "$KEY" "$CONF_WORK/data"
conf_check "$C" rotate-cli rotate_ok
conf_check "$C" rotate-old-ciphertexts-decrypt old_decrypts
conf_check "$C" rotate-destroy-v1-erases-hsm-key destroy_v1

[[ $CONF_FAILS -eq 0 ]]

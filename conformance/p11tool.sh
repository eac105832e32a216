#!/usr/bin/env bash
# conformance/p11tool.sh — GnuTLS p11tool (gnutls-bin 3.7) against $MODULE, loaded with --provider.
#
# What p11tool can really do with a token that holds secret keys: list tokens and their flags, list
# mechanisms, log in, write a secret key with a known value (--write --secret-key, a CKK_GENERIC_SECRET
# through C_CreateObject), list, filter by PKCS#11 URL, show and delete objects, and generate random
# data. It generates only key pairs (--generate-privkey) and has no encrypt/decrypt/MAC/digest/wrap
# operation for secret keys: those capabilities are SKIP with that reason.
#
# Usage: MODULE=/path/to/module.so conformance/p11tool.sh   (default: keyrotor's .so)
set -uo pipefail
. "$(dirname "$0")/lib.sh"

C=p11tool
if ! command -v p11tool >/dev/null; then
    conf_result $C setup FAIL "p11tool not found (apt-get install gnutls-bin)"
    exit 1
fi
conf_prepare $C
W="$CONF_WORK"
URL="pkcs11:token=$CONF_TOKEN_LABEL"
NO_OPS="p11tool has no operation on secret keys (it lists, writes and deletes them; it signs only with private keys)"

# p11tool bound to the module; --batch never prompts. The PIN comes from GNUTLS_PIN, set per call.
p11t() { timeout "$CONF_TIMEOUT" p11tool --provider "$MODULE" --batch "$@"; }
p11t_login() { GNUTLS_PIN="$CONF_USER_PIN" p11t --login "$@"; }

# GnuTLS prints "Thread locking error" for CKR_CANT_LOCK and CKR_NEED_TO_CREATE_THREADS from C_Initialize:
# p11tool initialises modules with CKF_LIBRARY_CANT_CREATE_OS_THREADS | CKF_OS_LOCKING_OK.
load() {
    p11t --list-tokens >"$W/tokens.txt" 2>&1
    local rc=$?
    if grep -q "Thread locking error" "$W/tokens.txt"; then
        echo "error: C_Initialize refused the flags GnuTLS passes (CKF_LIBRARY_CANT_CREATE_OS_THREADS|CKF_OS_LOCKING_OK): CKR_NEED_TO_CREATE_THREADS or CKR_CANT_LOCK ('Thread locking error')"
        cat "$W/tokens.txt"
        return 1
    fi
    cat "$W/tokens.txt"
    [[ $rc -eq 0 ]] || return 1
    grep -qE "^[[:space:]]*Label: $CONF_TOKEN_LABEL\$" "$W/tokens.txt" || {
        echo "error: token '$CONF_TOKEN_LABEL' not listed by --list-tokens"
        return 1
    }
}
if ! conf_check $C load load; then
    conf_skip $C "module not loadable by p11tool (see load)" token-info login keygen find random
    conf_skip $C "$NO_OPS" aes-gcm aes-cbc-pad wrap-unwrap hmac digest rotation
    exit 1
fi

# --- token ----------------------------------------------------------------------------------------
token_info() {
    # The token's block of --list-tokens: flags from CK_TOKEN_INFO, blank padding stripped by GnuTLS.
    awk -v want="$CONF_TOKEN_LABEL" '/^Token [0-9]+:/ { keep = 0 } $1 == "Label:" && $2 == want { keep = 1 } keep' \
        "$W/tokens.txt" >"$W/token.txt"
    cat "$W/token.txt"
    grep -q "Requires login" "$W/token.txt" || {
        echo "error: flags lack CKF_LOGIN_REQUIRED"
        return 1
    }
    grep -q "RNG" "$W/token.txt" || {
        echo "error: flags lack CKF_RNG"
        return 1
    }
    p11t --list-token-urls >"$W/urls.txt" 2>&1 || return 1
    grep -q "token=$CONF_TOKEN_LABEL" "$W/urls.txt" || {
        echo "error: --list-token-urls lacks token=$CONF_TOKEN_LABEL"
        return 1
    }
}
conf_check $C token-info token_info

# AES key sizes are bytes in CK_MECHANISM_INFO; p11tool prints them as "keysize range (16, 32)".
list_mechanisms() {
    p11t --list-mechanisms "$URL" >"$W/mechs.txt" 2>&1 || {
        cat "$W/mechs.txt"
        return 1
    }
    cat "$W/mechs.txt"
    local m missing=""
    for m in CKM_AES_KEY_GEN CKM_AES_GCM CKM_AES_CBC_PAD CKM_AES_KEY_WRAP CKM_SHA256 CKM_SHA256_HMAC; do
        grep -qE "\] $m( |\$)" "$W/mechs.txt" || missing="$missing $m"
    done
    if [[ -n "$missing" ]]; then
        echo "error: mechanisms not listed:$missing"
        return 1
    fi
    grep -E "\] CKM_AES_GCM " "$W/mechs.txt" | grep -qE "keysize range \((16|24|32), (16|24|32)\)" || {
        echo "error: CKM_AES_GCM key sizes not in bytes: $(grep -E '\] CKM_AES_GCM ' "$W/mechs.txt")"
        return 1
    }
}
conf_check $C token-info-mechanisms list_mechanisms

# --- login ----------------------------------------------------------------------------------------
# An empty token: GnuTLS reports "No matching objects found" (exit 2) after a successful login.
login_ok() {
    local out rc=0
    out="$(p11t_login --list-all "$URL" 2>&1)" || rc=$?
    echo "$out"
    [[ $rc -eq 0 ]] || [[ "$(grep -v '^[[:space:]]*$' <<<"$out")" == "No matching objects found" ]]
}
conf_check $C login login_ok

login_wrong_pin() {
    local out
    if out="$(GNUTLS_PIN=0000 p11t --login --list-all "$URL" 2>&1)"; then
        echo "$out"
        echo "error: --login with a wrong PIN succeeded"
        return 1
    fi
    echo "$out"
    grep -qi "pin" <<<"$out" || {
        echo "error: failure does not mention the PIN"
        return 1
    }
}
conf_check $C login-wrong-pin login_wrong_pin

# --- keys -----------------------------------------------------------------------------------------
# p11tool generates only key pairs. Try it only when the module lists a key-pair mechanism.
if grep -qE "\] CKM_(RSA_PKCS|EC|ECDSA)_KEY_PAIR_GEN " "$W/mechs.txt"; then
    conf_check $C keygen-keypair p11t_login --generate-privkey=ECDSA --curve=secp256r1 --label p11tool-ec \
        --outfile "$W/ec.pub" "$URL"
else
    conf_result $C keygen-keypair SKIP "p11tool generates only key pairs (--generate-privkey) and the module lists no key-pair mechanism"
fi

SECRET_HEX="$(openssl rand -hex 32)"
conf_check $C secret-key-import p11t_login --write --secret-key="$SECRET_HEX" --label p11tool-secret \
    --mark-private "$URL" && SECRET_OK=1 || SECRET_OK=0

# A rotating key (for keyrotor) made by pkcs11-tool: the URL object=<name> must select only its current
# object, the versions are <name>@vN. SoftHSM has just the one object.
conf_p11u --keygen --key-type AES:32 --label rot-key --id 0c >"$W/keygen.log" 2>&1 && ROT_OK=1 || ROT_OK=0

# --- find -----------------------------------------------------------------------------------------
find_written() {
    p11t_login --list-all "$URL" >"$W/all.txt" 2>&1 || {
        cat "$W/all.txt"
        return 1
    }
    cat "$W/all.txt"
    grep -A2 "object=p11tool-secret;type=secret-key" "$W/all.txt" | grep -q "Type: Secret key" || {
        echo "error: p11tool-secret not listed as a secret key"
        return 1
    }
}
if [[ $SECRET_OK == 1 ]]; then conf_check $C find-list-all find_written; else conf_result $C find-list-all SKIP "no secret key written"; fi

private_hidden() {
    local out
    out="$(p11t --list-all "$URL" 2>&1)"
    echo "$out"
    if grep -q "object=p11tool-secret" <<<"$out"; then
        echo "error: private object p11tool-secret listed without login"
        return 1
    fi
}
if [[ $SECRET_OK == 1 ]]; then conf_check $C login-private-hidden private_hidden; fi

find_by_url() {
    local out n
    out="$(p11t_login --list-all "$URL;object=rot-key;type=secret-key" 2>&1)" || {
        echo "$out"
        return 1
    }
    echo "$out"
    n="$(grep -c '^Object [0-9]*:' <<<"$out")"
    [[ $n -eq 1 ]] || {
        echo "error: URL object=rot-key matched $n objects, expected exactly 1 (the current object)"
        return 1
    }
    if ! conf_is_softhsm; then
        out="$(p11t_login --list-all "$URL;object=rot-key@v1" 2>&1)"
        echo "$out"
        grep -q "Label: rot-key@v1" <<<"$out" || {
            echo "error: version object rot-key@v1 not found by URL"
            return 1
        }
        echo "note: object=rot-key selects the current object only; rot-key@v1 is the version"
    fi
}
if [[ $ROT_OK == 1 ]]; then conf_check $C find-by-url find_by_url; else conf_result $C find-by-url SKIP "pkcs11-tool --keygen failed: $(conf_reason "$W/keygen.log")"; fi

object_info() {
    local out
    out="$(p11t_login --info "$URL;object=p11tool-secret;type=secret-key" 2>&1)" || {
        echo "$out"
        return 1
    }
    echo "$out"
    grep -q "Label: p11tool-secret" <<<"$out" && grep -q "CKA_PRIVATE" <<<"$out" || {
        echo "error: --info lacks the label or CKA_PRIVATE"
        return 1
    }
}
delete_object() {
    p11t_login --delete "$URL;object=p11tool-secret;type=secret-key" || return 1
    local out
    out="$(p11t_login --list-all "$URL;object=p11tool-secret" 2>&1)"
    echo "$out"
    if grep -q "object=p11tool-secret" <<<"$out"; then
        echo "error: p11tool-secret still listed after --delete"
        return 1
    fi
}
if [[ $SECRET_OK == 1 ]]; then
    conf_check $C find-object-info object_info
    conf_check $C find-delete delete_object
fi

# --- random ---------------------------------------------------------------------------------------
random() {
    p11t --generate-random=64 "$URL" >"$W/rand1.bin" || return 1
    p11t --generate-random=64 "$URL" >"$W/rand2.bin" || return 1
    [[ $(stat -c %s "$W/rand1.bin") -eq 64 ]] || {
        echo "error: --generate-random=64 gave $(stat -c %s "$W/rand1.bin") bytes"
        return 1
    }
    if cmp -s "$W/rand1.bin" "$W/rand2.bin"; then
        echo "error: two C_GenerateRandom calls returned the same bytes"
        return 1
    fi
}
conf_check $C random random

conf_skip $C "$NO_OPS" aes-gcm aes-cbc-pad wrap-unwrap hmac digest rotation

[[ $CONF_FAILS -eq 0 ]]

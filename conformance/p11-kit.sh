#!/usr/bin/env bash
# conformance/p11-kit.sh — $MODULE registered with p11-kit (0.24) the way a distribution installs a
# module: a `<name>.module` file containing `module: <path>`, here in a private user configuration
# ($HOME/.config/pkcs11/modules/, with `user-config: only` in $HOME/.config/pkcs11/pkcs11.conf so the
# machine's own modules stay out of the way). Then:
#   p11-kit list-modules        shows the module, its library info and its token
#   p11-kit list-mechanisms     only where this p11-kit has it (added in 0.25)
#   p11-kit-proxy.so            the module seen through p11-kit's proxy (what NSS, GnuTLS and others
#                               load on many distributions): pkcs11-tool -L, then the PyKCS11 scripts
#                               (pykcs11_gcm.py, pykcs11_ops.py, pykcs11_rotation.py) with
#                               CONF_LOAD_MODULE=p11-kit-proxy.so, reporting as consumer "p11-kit"
#
# p11-kit ignores user configuration when running as root ("skipping user config in program running as
# root"), so as root the p11-kit commands run as nobody (setpriv) with the temp dir handed to nobody;
# files nobody cannot reach (a module or CLI under /root) are copied into the temp dir first.
#
# Usage: MODULE=/path/to/module.so conformance/p11-kit.sh   (default: keyrotor's .so)
set -uo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
. "$HERE/lib.sh"

C=p11-kit
for tool in p11-kit pkcs11-tool; do
    if ! command -v $tool >/dev/null; then
        conf_result $C setup FAIL "$tool not found (apt-get install p11-kit opensc)"
        exit 1
    fi
done
PROXY=""
for f in "/usr/lib/$(uname -m)-linux-gnu/p11-kit-proxy.so" /usr/lib64/p11-kit-proxy.so /usr/lib/p11-kit-proxy.so; do
    if [[ -f "$f" ]]; then PROXY="$f" && break; fi
done
conf_prepare $C
W="$CONF_WORK"
read -r SLOT_ID _ < <(conf_slot_info) || SLOT_ID=0

# --- run as a user whose user configuration p11-kit reads -------------------------------------------
AS=()
if [[ $(id -u) -eq 0 ]]; then
    AS=(setpriv --reuid=65534 --regid=65534 --clear-groups --)
fi
as_user() { timeout "$CONF_TIMEOUT" "${AS[@]}" env HOME="$W/home" XDG_CONFIG_HOME="$W/home/.config" "$@"; }
# A path the p11-kit user can read (and execute): the original, else a copy in the temp dir.
reachable() {
    if [[ ${#AS[@]} -eq 0 ]] || "${AS[@]}" test -r "$1"; then
        echo "$1"
    else
        cp -- "$1" "$W/$(basename "$1")" && echo "$W/$(basename "$1")"
    fi
}
NAME="$(basename "$MODULE" .so)"
NAME="${NAME#lib}"
mkdir -p "$W/home/.config/pkcs11/modules" "$W/scripts"
echo "user-config: only" >"$W/home/.config/pkcs11/pkcs11.conf"
echo "module: $(reachable "$MODULE")" >"$W/home/.config/pkcs11/modules/$NAME.module"
CLI_PATH=""
[[ -x "$CONF_CLI" ]] && CLI_PATH="$(reachable "$CONF_CLI")"
cp -- "$HERE"/pyconf.py "$HERE"/pykcs11_gcm.py "$HERE"/pykcs11_ops.py "$HERE"/pykcs11_rotation.py "$W/scripts/"
if [[ ${#AS[@]} -gt 0 ]]; then
    chmod 755 "$W"
    chown -R 65534:65534 "$W"
fi

# --- p11-kit list-modules -------------------------------------------------------------------------
list_modules() {
    as_user p11-kit list-modules >"$W/modules.txt" 2>&1 || {
        cat "$W/modules.txt"
        return 1
    }
    cat "$W/modules.txt"
    grep -q "^$NAME: " "$W/modules.txt" || {
        echo "error: module '$NAME' not listed (config $W/home/.config/pkcs11/modules/$NAME.module)"
        return 1
    }
    grep -qE "^ +token: $CONF_TOKEN_LABEL\$" "$W/modules.txt" || {
        echo "error: token '$CONF_TOKEN_LABEL' not listed under $NAME (C_GetSlotList/C_GetTokenInfo through p11-kit)"
        return 1
    }
}
if ! conf_check $C load-list-modules list_modules; then
    conf_skip $C "p11-kit does not list the module (see load-list-modules)" token-info login keygen find \
        aes-gcm aes-cbc-pad wrap-unwrap hmac digest random rotation
    exit 1
fi

token_flags() {
    # The token block of list-modules: CK_TOKEN_INFO flags as p11-kit names them.
    awk -v t="$CONF_TOKEN_LABEL" '$1 == "token:" { on = ($2 == t) } on' "$W/modules.txt" >"$W/token.txt"
    cat "$W/token.txt"
    local f missing=""
    for f in rng login-required user-pin-initialized token-initialized; do
        grep -qE "^ +$f\$" "$W/token.txt" || missing="$missing $f"
    done
    [[ -z "$missing" ]] || {
        echo "error: token flags lack:$missing"
        return 1
    }
}
conf_check $C token-info-list-modules token_flags

if p11-kit list-mechanisms --help >/dev/null 2>&1; then
    conf_check $C token-info-list-mechanisms as_user p11-kit list-mechanisms "pkcs11:token=$CONF_TOKEN_LABEL"
else
    conf_result $C token-info-list-mechanisms SKIP "this p11-kit ($(dpkg-query -W -f='${Version}' p11-kit 2>/dev/null || echo '< 0.25')) has no list-mechanisms (added in 0.25); pkcs11-tool/PyKCS11 through the proxy list them"
fi

# --- through p11-kit-proxy.so ---------------------------------------------------------------------
if [[ -z "$PROXY" ]]; then
    conf_result $C load-proxy FAIL "p11-kit-proxy.so not found (apt-get install p11-kit-modules)"
    exit 1
fi
proxy_slots() {
    as_user pkcs11-tool --module "$PROXY" -L >"$W/proxy-slots.txt" 2>&1 || {
        cat "$W/proxy-slots.txt"
        return 1
    }
    cat "$W/proxy-slots.txt"
    grep -qE "token label +: $CONF_TOKEN_LABEL\$" "$W/proxy-slots.txt" || {
        echo "error: token '$CONF_TOKEN_LABEL' not visible through $PROXY"
        return 1
    }
}
if ! conf_check $C load-proxy proxy_slots; then
    conf_skip $C "the proxy does not show the token (see load-proxy)" login keygen find aes-gcm aes-cbc-pad \
        wrap-unwrap hmac digest random rotation
    exit 1
fi

status=0
for script in pykcs11_gcm.py pykcs11_ops.py pykcs11_rotation.py; do
    rc=0
    as_user CONF_READY=1 CONF_RESULT_CONSUMER=$C CONF_LOAD_MODULE="$PROXY" CONF_SLOT_ID="$SLOT_ID" \
        CONF_CLI="$CLI_PATH" /usr/bin/python3 "$W/scripts/$script" || rc=$?
    if [[ $rc -ne 0 && $rc -ne 1 ]]; then
        conf_result $C "run-$script" FAIL "$script through the proxy exited with status $rc (crash or timeout)"
    fi
    [[ $rc -eq 0 ]] || status=1
done

[[ $CONF_FAILS -eq 0 && $status -eq 0 ]]

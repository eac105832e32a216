#!/usr/bin/env bash
# conformance/python_pkcs11.sh — python-pkcs11 (PyPI) against $MODULE; see python_pkcs11.py.
#
# python-pkcs11 is not packaged by Debian: it lives in a venv made with Debian's python3 -m venv
# --system-site-packages (so Debian's python3-cryptography gives the reference results), created on
# first use and reused: $CONF_PYTHON_PKCS11_VENV, default ${TMPDIR:-/tmp}/keyrotor-python-pkcs11-venv.
# scripts/install-test-deps.sh creates it ahead of time with `conformance/python_pkcs11.sh --install`.
#
# Usage: MODULE=/path/to/module.so conformance/python_pkcs11.sh
#        conformance/python_pkcs11.sh --install     (only create/refresh the venv)
set -uo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
. "$HERE/lib.sh"

C=python-pkcs11
PYTHON_PKCS11_VERSION=0.10.1
VENV="${CONF_PYTHON_PKCS11_VENV:-${TMPDIR:-/tmp}/keyrotor-python-pkcs11-venv}"
VPY="$VENV/bin/python"

venv_ok() {
    [[ -x "$VPY" ]] && "$VPY" - "$PYTHON_PKCS11_VERSION" <<'PY' >/dev/null 2>&1
import sys
from importlib.metadata import version
import pkcs11, cryptography  # noqa: F401  (cryptography from Debian, through --system-site-packages)
sys.exit(version("python-pkcs11") != sys.argv[1])
PY
}

make_venv() {
    venv_ok && return 0
    rm -rf -- "$VENV"
    timeout 300 /usr/bin/python3 -m venv --system-site-packages "$VENV" &&
        timeout 600 "$VPY" -m pip install --quiet --disable-pip-version-check \
            "python-pkcs11==$PYTHON_PKCS11_VERSION" &&
        venv_ok
}

if [[ "${1:-}" == --install ]]; then
    if make_venv; then
        echo "python-pkcs11 $PYTHON_PKCS11_VERSION ready in $VENV"
        exit 0
    fi
    echo "error: could not create the python-pkcs11 venv in $VENV (needs python3-venv and PyPI)" >&2
    exit 1
fi

if ! make_venv >"${TMPDIR:-/tmp}/keyrotor-python-pkcs11-install.$$.log" 2>&1; then
    conf_result $C setup FAIL "venv $VENV: $(tail -n1 "${TMPDIR:-/tmp}/keyrotor-python-pkcs11-install.$$.log")"
    rm -f "${TMPDIR:-/tmp}/keyrotor-python-pkcs11-install.$$.log"
    exit 1
fi
rm -f "${TMPDIR:-/tmp}/keyrotor-python-pkcs11-install.$$.log"

conf_prepare $C
export CONF_READY=1
rc=0
timeout "$CONF_TIMEOUT" "$VPY" "$HERE/python_pkcs11.py" || rc=$?
if [[ $rc -ne 0 && $rc -ne 1 ]]; then
    conf_result $C run FAIL "python_pkcs11.py exited with status $rc (crash or timeout)"
fi
exit "$rc"

#!/usr/bin/env bash
# scripts/install-test-deps.sh — install what the tests and conformance scripts need. Idempotent and
# fast when everything is present: apt runs only when a package is missing (checked with dpkg -s),
# and cargo-nextest is installed only when `cargo nextest --version` fails.
set -euo pipefail

PACKAGES=(
    softhsm2             # HSM stand-in for the pkcs11 backend and for validating conformance scripts
    opensc               # pkcs11-tool
    gnutls-bin           # p11tool
    python3-pykcs11      # PyKCS11 for Debian's /usr/bin/python3
    python3-cryptography # reference AES-GCM for byte-for-byte comparisons
    p11-kit              # `p11-kit server` to simulate HSM outages; `p11-kit list-modules` (conformance)
    p11-kit-modules      # p11-kit-proxy.so: conformance/p11-kit.sh drives the module through the proxy
    python3-venv         # the venv that holds python-pkcs11 (PyPI) for conformance/python_pkcs11.sh
    libengine-pkcs11-openssl
    cmake                # aws-lc-rs builds its C sources with cmake
    sqlite3              # inspecting stores in tests and the demo
    xxd                  # hex conversions in shell tests
)

if [[ $(id -u) -eq 0 ]]; then
    SUDO=()
elif command -v sudo >/dev/null; then
    SUDO=(sudo)
else
    SUDO=(__no_sudo__)
fi

missing=()
for pkg in "${PACKAGES[@]}"; do
    # "install ok installed" is the only state in which a package's files are really present.
    if [[ "$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)" != "install ok installed" ]]; then
        missing+=("$pkg")
    fi
done
# Java 17 (SunPKCS11 conformance) is normally present; install a JDK only if there is no java at all.
if ! command -v java >/dev/null; then missing+=(openjdk-17-jdk-headless); fi

if [[ ${#missing[@]} -gt 0 ]]; then
    if [[ "${SUDO[*]}" == __no_sudo__ ]]; then
        echo "install-test-deps: missing ${missing[*]}; not root and no sudo — install them manually" >&2
        exit 1
    fi
    echo "install-test-deps: installing ${missing[*]}"
    "${SUDO[@]}" apt-get update
    "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"
else
    echo "install-test-deps: all ${#PACKAGES[@]} packages present"
fi

# python-pkcs11 is not packaged by Debian: a venv (Debian's python3 -m venv --system-site-packages) with
# the pinned version from PyPI. Reused when present; conformance/python_pkcs11.sh makes it on demand too.
if ! "$(dirname "$0")/../conformance/python_pkcs11.sh" --install; then
    echo "install-test-deps: python-pkcs11 venv could not be created (PyPI reachable?)" >&2
    exit 1
fi

if cargo nextest --version >/dev/null 2>&1; then
    echo "install-test-deps: $(cargo nextest --version 2>/dev/null | head -n1)"
else
    echo "install-test-deps: installing cargo-nextest"
    cargo install --locked cargo-nextest
fi

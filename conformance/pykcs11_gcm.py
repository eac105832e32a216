#!/usr/bin/python3
"""conformance/pykcs11_gcm.py — AES-GCM through PyKCS11 (Debian's /usr/bin/python3) against $MODULE.

Every ciphertext the module produces is compared byte for byte with Python `cryptography`
(AESGCM), using a key created with a known CKA_VALUE (C_CreateObject). Checks:
  create-known-key     C_CreateObject of a sensitive AES-256 token key with a known value
  sensitive-value      C_GetAttributeValue(CKA_VALUE) on it -> CKR_ATTRIBUTE_SENSITIVE
  find-by-label        C_FindObjects by CKA_LABEL returns exactly that one object
  gcm-encrypt-aad      12-byte IV + AAD, ciphertext||tag equals AESGCM's
  gcm-decrypt-aad      decrypts AESGCM's ciphertext
  gcm-bad-tag          flipped tag bit / wrong AAD -> CKR_ENCRYPTED_DATA_INVALID
                       (SoftHSM2 returns CKR_GENERAL_ERROR; accepted only when MODULE is SoftHSM)
  gcm-iv-16            16-byte IV, equals AESGCM's (GHASH-derived J0)
  gcm-tag-96           96-bit tag, equals AESGCM's tag truncated to 12 bytes
  gcm-null-param       CKM_AES_GCM without parameters -> CKR_MECHANISM_PARAM_INVALID
                       (SoftHSM2 returns CKR_ARGUMENTS_BAD; accepted only when MODULE is SoftHSM)
  gcm-generated-key    C_GenerateKey AES-256 token key, GCM round trip, fresh session finds it

PyKCS11 1.5 passes CK_GCM_PARAMS in the 2.40 layout (with ulIvBits, 48 bytes), ulIvBits = 0.

Run alone:  MODULE=/path/to/module.so conformance/pykcs11_gcm.py
(it then initialises a fresh token through lib.sh; run.sh does the same).
"""
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))

if os.environ.get("CONF_READY") != "1":
    # Started on its own: let lib.sh create a temp dir, configure the module and initialise the token,
    # then run this script again inside that environment; lib.sh cleans up afterwards.
    python = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable
    env = dict(os.environ, CONF_CONSUMER="pykcs11")
    sys.exit(subprocess.call(["bash", os.path.join(HERE, "lib.sh"), "with-token", python,
                              os.path.abspath(__file__)] + sys.argv[1:], env=env))

try:
    import PyKCS11
    from PyKCS11 import LowLevel
    from PyKCS11.LowLevel import (CKA_CLASS, CKA_DECRYPT, CKA_ENCRYPT, CKA_EXTRACTABLE, CKA_KEY_TYPE,
                                  CKA_LABEL, CKA_PRIVATE, CKA_SENSITIVE, CKA_TOKEN, CKA_VALUE,
                                  CKA_VALUE_LEN, CKF_RW_SESSION, CKF_SERIAL_SESSION, CKK_AES,
                                  CKM_AES_GCM, CKM_AES_KEY_GEN, CKO_SECRET_KEY)
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM
except ImportError as e:  # pragma: no cover - environment problem, reported as a failed setup
    print(f"RESULT | pykcs11 | setup | FAIL | import failed: {e} (install python3-pykcs11 "
          "python3-cryptography; run with /usr/bin/python3)")
    sys.exit(1)

CONSUMER = os.environ.get("CONF_RESULT_CONSUMER", "pykcs11")
MODULE = os.environ["MODULE"]
# p11-kit.sh runs this script through p11-kit-proxy.so, which loads MODULE.
LOAD_MODULE = os.environ.get("CONF_LOAD_MODULE", MODULE)
LABEL = os.environ.get("CONF_TOKEN_LABEL", "conformance")
PIN = os.environ.get("CONF_USER_PIN", "1234")
IS_SOFTHSM = "softhsm" in os.path.basename(MODULE)
CKR_ENCRYPTED_DATA_INVALID = PyKCS11.CKR_ENCRYPTED_DATA_INVALID
CKR_GENERAL_ERROR = PyKCS11.CKR_GENERAL_ERROR

failures = 0


def result(cap, status, detail=""):
    global failures
    if status == "FAIL":
        failures += 1
    print(f"RESULT | {CONSUMER} | {cap} | {status} | {detail}", flush=True)


def rv_name(e):
    """CKR_ name of a PyKCS11Error (or the exception text)."""
    if isinstance(e, PyKCS11.PyKCS11Error):
        return PyKCS11.CKR.get(e.value, hex(e.value))
    return f"{type(e).__name__}: {e}"


def check(cap, fn, *args):
    """Run fn; PASS if it returns (its return value, if a str, is the detail), FAIL on any exception."""
    try:
        detail = fn(*args)
        result(cap, "PASS", detail if isinstance(detail, str) else "")
        return True
    except Exception as e:  # every failure becomes a FAIL line; the run continues
        result(cap, "FAIL", rv_name(e))
        return False


class CheckFailed(Exception):
    pass


def expect(cond, msg):
    if not cond:
        raise CheckFailed(msg)


def gcm(iv, aad, tag_bits=128):
    return PyKCS11.AES_GCM_Mechanism(iv, aad, tag_bits)


def expect_error(fn, wanted, softhsm_alt=None):
    """fn must raise PyKCS11Error with rv == wanted (or softhsm_alt when testing SoftHSM2)."""
    try:
        fn()
    except PyKCS11.PyKCS11Error as e:
        if e.value == wanted:
            return PyKCS11.CKR[wanted]
        if IS_SOFTHSM and softhsm_alt is not None and e.value == softhsm_alt:
            return f"{PyKCS11.CKR[softhsm_alt]} (SoftHSM2 quirk, accepted)"
        raise CheckFailed(f"expected {PyKCS11.CKR[wanted]}, got {rv_name(e)}")
    raise CheckFailed(f"expected {PyKCS11.CKR[wanted]}, call succeeded")


def main():
    lib = PyKCS11.PyKCS11Lib()
    try:
        lib.load(LOAD_MODULE)
        slot = next(s for s in lib.getSlotList(tokenPresent=True)
                    if lib.getTokenInfo(s).label.strip() == LABEL)
        session = lib.openSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION)
        session.login(PIN)
        result("login", "PASS")
    except Exception as e:
        result("login", "FAIL", rv_name(e))
        return

    key_bytes = os.urandom(32)
    ref = AESGCM(key_bytes)
    plaintext = os.urandom(200) + b"keyrotor conformance"
    aad = b"table=accounts;column=iban;row=42"
    key = None

    def create_known():
        nonlocal key
        key = session.createObject([
            (CKA_CLASS, CKO_SECRET_KEY), (CKA_KEY_TYPE, CKK_AES), (CKA_TOKEN, True),
            (CKA_PRIVATE, True), (CKA_SENSITIVE, True), (CKA_EXTRACTABLE, False),
            (CKA_ENCRYPT, True), (CKA_DECRYPT, True), (CKA_LABEL, "gcm-known"),
            (CKA_VALUE, key_bytes),
        ])

    if not check("create-known-key", create_known):
        for cap in ("sensitive-value", "find-by-label", "gcm-encrypt-aad", "gcm-decrypt-aad",
                    "gcm-bad-tag", "gcm-iv-16", "gcm-tag-96", "gcm-null-param"):
            result(cap, "SKIP", "no key with a known value")
    else:
        def sensitive_value():
            tmpl = LowLevel.ckattrlist(1)
            tmpl[0].SetType(CKA_VALUE)
            rv = session.lib.C_GetAttributeValue(session.session, key, tmpl)
            expect(rv == PyKCS11.CKR_ATTRIBUTE_SENSITIVE,
                   f"expected CKR_ATTRIBUTE_SENSITIVE, got {PyKCS11.CKR.get(rv, hex(rv))}")

        def find_by_label():
            found = session.findObjects([(CKA_CLASS, CKO_SECRET_KEY), (CKA_LABEL, "gcm-known")])
            expect(len(found) == 1, f"expected 1 object, found {len(found)}")
            expect(found[0].value() == key.value(), "found a different handle than C_CreateObject returned")

        iv = os.urandom(12)
        want = ref.encrypt(iv, plaintext, aad)

        def enc_aad():
            got = bytes(session.encrypt(key, plaintext, gcm(iv, aad)))
            expect(len(got) == len(plaintext) + 16, f"length {len(got)}, expected {len(plaintext) + 16}")
            expect(got == want, "ciphertext||tag differs from cryptography's AESGCM")

        def dec_aad():
            got = bytes(session.decrypt(key, want, gcm(iv, aad)))
            expect(got == plaintext, "decrypted text differs")

        def bad_tag():
            tampered = bytearray(want)
            tampered[-1] ^= 0x01
            a = expect_error(lambda: session.decrypt(key, bytes(tampered), gcm(iv, aad)),
                             CKR_ENCRYPTED_DATA_INVALID, CKR_GENERAL_ERROR)
            expect_error(lambda: session.decrypt(key, want, gcm(iv, aad + b"!")),
                         CKR_ENCRYPTED_DATA_INVALID, CKR_GENERAL_ERROR)
            return a

        def iv16():
            iv_16 = os.urandom(16)
            want16 = ref.encrypt(iv_16, plaintext, aad)
            got = bytes(session.encrypt(key, plaintext, gcm(iv_16, aad)))
            expect(got == want16, "16-byte-IV ciphertext differs from AESGCM's")
            back = bytes(session.decrypt(key, want16, gcm(iv_16, aad)))
            expect(back == plaintext, "16-byte-IV decryption differs")

        def tag96():
            want96 = want[:-4]  # a 96-bit GCM tag is the 128-bit tag truncated
            got = bytes(session.encrypt(key, plaintext, gcm(iv, aad, 96)))
            expect(got == want96, "96-bit-tag ciphertext differs from AESGCM's truncated tag")
            back = bytes(session.decrypt(key, want96, gcm(iv, aad, 96)))
            expect(back == plaintext, "96-bit-tag decryption differs")

        def null_param():
            mech = PyKCS11.Mechanism(CKM_AES_GCM, None)
            return expect_error(lambda: session.encrypt(key, plaintext, mech),
                                PyKCS11.CKR_MECHANISM_PARAM_INVALID, PyKCS11.CKR_ARGUMENTS_BAD)

        check("sensitive-value", sensitive_value)
        check("find-by-label", find_by_label)
        check("gcm-encrypt-aad", enc_aad)
        check("gcm-decrypt-aad", dec_aad)
        check("gcm-bad-tag", bad_tag)
        check("gcm-iv-16", iv16)
        check("gcm-tag-96", tag96)
        check("gcm-null-param", null_param)

    def generated_key():
        gen = session.generateKey([
            (CKA_CLASS, CKO_SECRET_KEY), (CKA_KEY_TYPE, CKK_AES), (CKA_VALUE_LEN, 32),
            (CKA_TOKEN, True), (CKA_PRIVATE, True), (CKA_SENSITIVE, True),
            (CKA_ENCRYPT, True), (CKA_DECRYPT, True), (CKA_LABEL, "gcm-generated"),
        ], PyKCS11.Mechanism(CKM_AES_KEY_GEN, None))
        iv = os.urandom(12)
        ct = bytes(session.encrypt(gen, plaintext, gcm(iv, aad)))
        expect(len(ct) == len(plaintext) + 16, "wrong ciphertext length")
        # A second session (same login) finds the token key by label and decrypts.
        s2 = lib.openSession(slot, CKF_SERIAL_SESSION)
        found = s2.findObjects([(CKA_CLASS, CKO_SECRET_KEY), (CKA_LABEL, "gcm-generated")])
        expect(len(found) == 1, f"second session found {len(found)} objects")
        back = bytes(s2.decrypt(found[0], ct, gcm(iv, aad)))
        expect(back == plaintext, "round trip differs")
        s2.closeSession()

    check("gcm-generated-key", generated_key)

    session.logout()
    session.closeSession()


if __name__ == "__main__":
    main()
    sys.exit(1 if failures else 0)

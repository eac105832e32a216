#!/usr/bin/python3
"""conformance/pykcs11_rotation.py — key rotation as an application sees it, through PyKCS11.

keyrotor only (SoftHSM2 has neither rotating keys nor the vendor mechanism: every check is SKIP there).
  rotation-keygen          C_GenerateKey AES-256 with CKA_TOKEN=true: a rotating key at version 1
  rotation-envelope-v1     C_Encrypt with CKM_KEYROTOR_AES_GCM_ENVELOPE (CKM_VENDOR_DEFINED|0x4B520001,
                           parameter = the AAD): 0x01 | version 1 (u32 BE) | IV (12) | ct | tag (16);
                           C_Decrypt gives the plaintext back
  rotation-cli-rotate      `keyrotor --config $KEYROTOR_CONF --slot N key rotate NAME` (KEYROTOR_PIN set),
                           run while this process keeps its session open
  rotation-envelope-v2     the same, still-open session now encrypts under version 2 (polled up to 5 s:
                           other processes learn of a rotation through the store's generation counter)
  rotation-decrypt-old     the v1 envelope still decrypts through the same current object after rotation
  rotation-version-object  a fresh session finds NAME@v2, and CKA_KEYROTOR_VERSION of NAME is 2
  rotation-tamper          a changed version byte or wrong AAD -> CKR_ENCRYPTED_DATA_INVALID

Run alone:  MODULE=/path/to/module.so conformance/pykcs11_rotation.py
"""
import os
import struct
import subprocess
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pyconf  # noqa: E402
from pyconf import expect  # noqa: E402

pyconf.ensure_token("pykcs11", __file__,
                    "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable)

CONSUMER = "pykcs11"
CKM_ENVELOPE = 0x80000000 | 0x4B520001   # CKM_KEYROTOR_AES_GCM_ENVELOPE, include/keyrotor.h
CKA_KEYROTOR_VERSION = 0x80000000 | 0x4B520001
NAME = "rot-pykcs11"
CHECKS = ("rotation-keygen", "rotation-envelope-v1", "rotation-cli-rotate", "rotation-envelope-v2",
          "rotation-decrypt-old", "rotation-version-object", "rotation-tamper")

try:
    import PyKCS11 as P
except ImportError as e:
    print(f"RESULT | {CONSUMER} | setup | FAIL | import failed: {e} (install python3-pykcs11)")
    sys.exit(1)


def rv_name(e):
    if isinstance(e, P.PyKCS11Error):
        return P.CKR.get(e.value, hex(e.value))
    return f"{type(e).__name__}: {e}"


R = pyconf.Results(CONSUMER, rv_name)


def envelope_version(blob):
    expect(len(blob) >= 33, f"envelope of {len(blob)} bytes is shorter than its 33-byte overhead")
    expect(blob[0] == 0x01, f"format byte {blob[0]:#04x}, expected 0x01")
    return struct.unpack(">I", blob[1:5])[0]


def main():
    if pyconf.IS_SOFTHSM:
        R.skip("SoftHSM2 has no rotating keys and no CKM_KEYROTOR_AES_GCM_ENVELOPE", *CHECKS)
        return
    cli = os.environ.get("CONF_CLI", "")
    lib = P.PyKCS11Lib()
    lib.load(pyconf.LOAD_MODULE)
    slot = next(s for s in lib.getSlotList(tokenPresent=True)
                if lib.getTokenInfo(s).label.strip() == pyconf.LABEL)
    session = lib.openSession(slot, P.CKF_SERIAL_SESSION | P.CKF_RW_SESSION)
    session.login(pyconf.PIN)

    plaintext = os.urandom(100) + b"rotated, not lost"
    aad = b"tenant=7;table=cards"
    env = {}
    key = []

    def keygen():
        key.append(session.generateKey([
            (P.CKA_CLASS, P.CKO_SECRET_KEY), (P.CKA_KEY_TYPE, P.CKK_AES), (P.CKA_VALUE_LEN, 32),
            (P.CKA_TOKEN, True), (P.CKA_PRIVATE, True), (P.CKA_SENSITIVE, True),
            (P.CKA_ENCRYPT, True), (P.CKA_DECRYPT, True), (P.CKA_LABEL, NAME),
        ], P.Mechanism(P.CKM_AES_KEY_GEN, None)))

    def seal():
        return bytes(session.encrypt(key[0], plaintext, P.Mechanism(CKM_ENVELOPE, aad)))

    def open_(blob, s=None):
        return bytes((s or session).decrypt(key[0], blob, P.Mechanism(CKM_ENVELOPE, aad)))

    def envelope_v1():
        env[1] = seal()
        v = envelope_version(env[1])
        expect(v == 1, f"version field {v}, expected 1")
        expect(len(env[1]) == len(plaintext) + 33, f"length {len(env[1])}, expected {len(plaintext) + 33}")
        expect(open_(env[1]) == plaintext, "round trip differs")
        return "0x01, version 00000001, IV, ciphertext, tag"

    def cli_rotate():
        expect(os.access(cli, os.X_OK), f"keyrotor CLI not found at {cli!r} (set KEYROTOR_CLI)")
        # The module's own slot ID (a proxy such as p11-kit renumbers slots; p11-kit.sh passes the real one).
        cli_slot = os.environ.get("CONF_SLOT_ID", str(slot))
        cmd = [cli, "--config", os.environ["KEYROTOR_CONF"], "--slot", cli_slot, "key", "rotate", NAME]
        env_vars = dict(os.environ, KEYROTOR_PIN=pyconf.PIN)
        p = subprocess.run(cmd, env=env_vars, capture_output=True, text=True, timeout=pyconf.TIMEOUT)
        out = (p.stdout + p.stderr).strip().replace("\n", " ")
        expect(p.returncode == 0, f"exit {p.returncode}: {out}")
        return out

    def envelope_v2():
        start = time.monotonic()
        while True:
            env[2] = seal()
            v = envelope_version(env[2])
            waited = time.monotonic() - start
            if v == 2 or waited > 5:
                break
            time.sleep(0.1)
        expect(v == 2, f"version field still {v} {waited:.1f} s after the CLI rotated (expected 2)")
        expect(open_(env[2]) == plaintext, "v2 round trip differs")
        return f"version 2 after {waited * 1000:.0f} ms in the already-open session"

    def decrypt_old():
        expect(open_(env[1]) == plaintext, "v1 envelope decrypts to different bytes")
        return "v1 envelope decrypts through the current object"

    def version_object():
        s2 = lib.openSession(slot, P.CKF_SERIAL_SESSION)
        try:
            found = s2.findObjects([(P.CKA_CLASS, P.CKO_SECRET_KEY), (P.CKA_LABEL, f"{NAME}@v2")])
            expect(len(found) == 1, f"{NAME}@v2: found {len(found)} objects")
            cur = s2.findObjects([(P.CKA_CLASS, P.CKO_SECRET_KEY), (P.CKA_LABEL, NAME)])
            expect(len(cur) == 1, f"{NAME}: found {len(cur)} objects, expected only the current object")
            raw = bytes(s2.getAttributeValue(cur[0], [CKA_KEYROTOR_VERSION], allAsBinary=True)[0])
            expect(len(raw) == 8, f"CKA_KEYROTOR_VERSION is {len(raw)} bytes, expected a CK_ULONG")
            v = int.from_bytes(raw, sys.byteorder)
            expect(v == 2, f"CKA_KEYROTOR_VERSION {v}, expected 2")
            expect(open_(env[1], s2) == plaintext, "a fresh session cannot decrypt the v1 envelope")
        finally:
            s2.closeSession()

    def tamper():
        bad = bytearray(env[2])
        bad[4] ^= 0x03  # version 2 -> 1: authenticated header, so the tag must fail
        for blob, what in ((bytes(bad), "version byte"), (env[2], "AAD")):
            mech_aad = aad if what == "version byte" else aad + b"!"
            try:
                session.decrypt(key[0], blob, P.Mechanism(CKM_ENVELOPE, mech_aad))
            except P.PyKCS11Error as e:
                expect(e.value == P.CKR_ENCRYPTED_DATA_INVALID,
                       f"changed {what}: expected CKR_ENCRYPTED_DATA_INVALID, got {rv_name(e)}")
                continue
            raise pyconf.CheckFailed(f"changed {what}: decrypted without error")
        return "CKR_ENCRYPTED_DATA_INVALID"

    steps = [("rotation-keygen", keygen), ("rotation-envelope-v1", envelope_v1),
             ("rotation-cli-rotate", cli_rotate), ("rotation-envelope-v2", envelope_v2),
             ("rotation-decrypt-old", decrypt_old), ("rotation-version-object", version_object),
             ("rotation-tamper", tamper)]
    for i, (cap, fn) in enumerate(steps):
        if not R.check(cap, fn):
            R.skip(f"{cap} failed", *[c for c, _ in steps[i + 1:]])
            break

    session.logout()
    session.closeSession()


if __name__ == "__main__":
    main()
    R.exit()

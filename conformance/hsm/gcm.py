#!/usr/bin/python3
"""conformance/hsm/gcm.py — AES-GCM and the envelope through keyrotor's HSM slot, with PyKCS11.

Used by conformance/hsm.sh (not a consumer of its own). Usage, with MODULE, CONF_TOKEN_LABEL and
CONF_USER_PIN in the environment:

  gcm.py seal KEY DIR     GCM (12-byte IV, AAD) and envelope round trips through the current object of
                          KEY; writes DIR/gcm.ct, DIR/gcm.iv, DIR/env.blob, DIR/plain; prints the
                          envelope's version ("version N")
  gcm.py open KEY DIR     decrypts what `seal` wrote (possibly under an older version)
  gcm.py badtag KEY DIR   a flipped tag bit must give CKR_ENCRYPTED_DATA_INVALID

Exit status 0 on success; a failure prints one line saying what went wrong.
"""
import os
import sys

import PyKCS11
from PyKCS11.LowLevel import CKA_CLASS, CKA_LABEL, CKF_RW_SESSION, CKF_SERIAL_SESSION, CKO_SECRET_KEY

CKM_ENVELOPE = PyKCS11.CKM_VENDOR_DEFINED | 0x4B520001
AAD = b"conformance/hsm"


def session():
    lib = PyKCS11.PyKCS11Lib()
    lib.load(os.environ["MODULE"])
    label = os.environ.get("CONF_TOKEN_LABEL", "conformance")
    slot = next(s for s in lib.getSlotList(tokenPresent=True) if lib.getTokenInfo(s).label.strip() == label)
    s = lib.openSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION)
    s.login(os.environ.get("CONF_USER_PIN", "1234"))
    return lib, s


def current_object(s, name):
    found = s.findObjects([(CKA_CLASS, CKO_SECRET_KEY), (CKA_LABEL, name)])
    if len(found) != 1:
        sys.exit(f"expected one object labelled {name}, found {len(found)}")
    return found[0]


def main():
    op, name, d = sys.argv[1], sys.argv[2], sys.argv[3]
    _lib, s = session()
    k = current_object(s, name)
    if op == "seal":
        plain = os.urandom(1000)
        iv = os.urandom(12)
        ct = bytes(s.encrypt(k, plain, PyKCS11.AES_GCM_Mechanism(iv, AAD, 128)))
        back = bytes(s.decrypt(k, ct, PyKCS11.AES_GCM_Mechanism(iv, AAD, 128)))
        if back != plain or len(ct) != len(plain) + 16:
            sys.exit("GCM round trip through the HSM slot returned different bytes")
        env = bytes(s.encrypt(k, plain, PyKCS11.Mechanism(CKM_ENVELOPE, None)))
        if bytes(s.decrypt(k, env, PyKCS11.Mechanism(CKM_ENVELOPE, None))) != plain:
            sys.exit("envelope round trip returned different bytes")
        for f, v in (("plain", plain), ("gcm.iv", iv), ("gcm.ct", ct), ("env.blob", env)):
            with open(os.path.join(d, f), "wb") as fh:
                fh.write(v)
        print(f"version {int.from_bytes(env[1:5], 'big')}")
    elif op in ("open", "badtag"):
        read = lambda f: open(os.path.join(d, f), "rb").read()
        plain, iv, ct, env = read("plain"), read("gcm.iv"), read("gcm.ct"), read("env.blob")
        if op == "badtag":
            bad = ct[:-1] + bytes([ct[-1] ^ 1])
            try:
                s.decrypt(k, bad, PyKCS11.AES_GCM_Mechanism(iv, AAD, 128))
            except PyKCS11.PyKCS11Error as e:
                if e.value == PyKCS11.CKR_ENCRYPTED_DATA_INVALID:
                    print("note: CKR_ENCRYPTED_DATA_INVALID")
                    return
                sys.exit(f"bad tag gave {e}, expected CKR_ENCRYPTED_DATA_INVALID")
            sys.exit("a flipped tag bit decrypted")
        if bytes(s.decrypt(k, ct, PyKCS11.AES_GCM_Mechanism(iv, AAD, 128))) != plain:
            sys.exit("old GCM ciphertext decrypted to different bytes")
        if bytes(s.decrypt(k, env, PyKCS11.Mechanism(CKM_ENVELOPE, None))) != plain:
            sys.exit("old envelope decrypted to different bytes")
        print(f"note: envelope of v{int.from_bytes(env[1:5], 'big')} and its GCM twin decrypt")
    else:
        sys.exit(f"unknown operation {op}")


if __name__ == "__main__":
    main()

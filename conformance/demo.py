#!/usr/bin/python3
"""conformance/demo.py — the steps of scripts/demo.sh that talk PKCS#11 (PyKCS11 + Debian's python3).

Each sub-command is one process, so the demo shows that keys persist across processes:
  encrypt STATE   log in, generate the persistent AES-256 token key "demo-key", AES-GCM encrypt a message
                  with AAD, print the ciphertext, save IV/AAD/ciphertext to STATE (JSON)
  decrypt STATE   a new process: log in, find "demo-key" by label, decrypt STATE's ciphertext
  known KEYFILE   create a second token key "demo-known" with a known CKA_VALUE (C_CreateObject) and
                  write that value to KEYFILE so the store can be searched for it
  scan KEYFILE DIR  search every file under DIR for the known key bytes (raw, hex, base64): must be absent
Environment: MODULE (the PKCS#11 module), CONF_TOKEN_LABEL, CONF_USER_PIN.
"""
import base64
import json
import os
import sys

MODULE = os.environ.get("MODULE", "")
LABEL = os.environ.get("CONF_TOKEN_LABEL", "demo")
PIN = os.environ.get("CONF_USER_PIN", "1234")
KEY_LABEL = "demo-key"


def say(msg):
    print(f"  {msg}", flush=True)


def die(msg):
    print(f"  FAILED: {msg}", flush=True)
    sys.exit(1)


def open_session():
    import PyKCS11
    lib = PyKCS11.PyKCS11Lib()
    lib.load(MODULE)
    slots = [s for s in lib.getSlotList(tokenPresent=True) if lib.getTokenInfo(s).label.strip() == LABEL]
    if not slots:
        die(f"no token labelled {LABEL!r}")
    session = lib.openSession(slots[0], PyKCS11.CKF_SERIAL_SESSION | PyKCS11.CKF_RW_SESSION)
    session.login(PIN)
    say(f"pid {os.getpid()}: loaded {os.path.basename(MODULE)}, opened a session on token {LABEL!r}, logged in")
    return PyKCS11, lib, session


def encrypt(state_path):
    PyKCS11, _lib, s = open_session()
    key = s.generateKey([
        (PyKCS11.CKA_CLASS, PyKCS11.CKO_SECRET_KEY), (PyKCS11.CKA_KEY_TYPE, PyKCS11.CKK_AES),
        (PyKCS11.CKA_VALUE_LEN, 32), (PyKCS11.CKA_TOKEN, True), (PyKCS11.CKA_PRIVATE, True),
        (PyKCS11.CKA_SENSITIVE, True), (PyKCS11.CKA_EXTRACTABLE, False),
        (PyKCS11.CKA_ENCRYPT, True), (PyKCS11.CKA_DECRYPT, True), (PyKCS11.CKA_LABEL, KEY_LABEL),
    ], PyKCS11.Mechanism(PyKCS11.CKM_AES_KEY_GEN, None))
    say(f"generated persistent AES-256 key {KEY_LABEL!r} (token object, sensitive, non-extractable; "
        f"handle {key.value()})")
    message = b"Meet me at the usual place at 10:00."
    aad = b"customer-id=4711"
    iv = os.urandom(12)
    ct = bytes(s.encrypt(key, message, PyKCS11.AES_GCM_Mechanism(iv, aad, 128)))
    say(f"AES-GCM encrypted {message.decode()!r} with AAD {aad.decode()!r}, 12-byte IV {iv.hex()}")
    say(f"ciphertext+tag ({len(ct)} bytes): {ct.hex()}")
    with open(state_path, "w") as f:
        json.dump({"iv": iv.hex(), "aad": aad.hex(), "ct": ct.hex()}, f)
    s.logout()
    s.closeSession()
    say("logged out, session closed, process exits")


def decrypt(state_path):
    PyKCS11, _lib, s = open_session()
    with open(state_path) as f:
        st = json.load(f)
    found = s.findObjects([(PyKCS11.CKA_CLASS, PyKCS11.CKO_SECRET_KEY), (PyKCS11.CKA_LABEL, KEY_LABEL)])
    if len(found) != 1:
        die(f"expected one key labelled {KEY_LABEL!r}, found {len(found)}")
    say(f"found key {KEY_LABEL!r} by label (handle {found[0].value()})")
    pt = bytes(s.decrypt(found[0], bytes.fromhex(st["ct"]),
                         PyKCS11.AES_GCM_Mechanism(bytes.fromhex(st["iv"]), bytes.fromhex(st["aad"]), 128)))
    say(f"decrypted: {pt.decode()!r}")
    s.logout()
    s.closeSession()


def after_rotation(state_path):
    PyKCS11, _lib, s = open_session()
    with open(state_path) as f:
        st = json.load(f)
    version_attr = 0x80000000 | 0x4B520001  # CKA_KEYROTOR_VERSION (include/keyrotor.h)
    key = s.findObjects([(PyKCS11.CKA_CLASS, PyKCS11.CKO_SECRET_KEY), (PyKCS11.CKA_LABEL, KEY_LABEL)])[0]
    active = int.from_bytes(bytes(s.getAttributeValue(key, [version_attr])[0]), "little")
    say(f"{KEY_LABEL!r} (found by the same label) now reports Active version v{active}")
    mech = PyKCS11.AES_GCM_Mechanism(bytes.fromhex(st["iv"]), bytes.fromhex(st["aad"]), 128)
    pt = bytes(s.decrypt(key, bytes.fromhex(st["ct"]), mech))
    say(f"the ciphertext made by v1 before the rotation still decrypts: {pt.decode()!r}")
    iv = os.urandom(12)
    new_ct = bytes(s.encrypt(key, b"New data after rotation.", PyKCS11.AES_GCM_Mechanism(iv, b"", 128)))
    for v in (1, active):
        obj = s.findObjects([(PyKCS11.CKA_LABEL, f"{KEY_LABEL}@v{v}")])[0]
        try:
            s.decrypt(obj, new_ct, PyKCS11.AES_GCM_Mechanism(iv, b"", 128))
            say(f"new ciphertext opens with {KEY_LABEL}@v{v}: it was encrypted under v{v}")
        except PyKCS11.PyKCS11Error:
            say(f"new ciphertext does not open with {KEY_LABEL}@v{v}")
    s.logout()
    s.closeSession()


def known(key_file):
    PyKCS11, _lib, s = open_session()
    value = os.urandom(32)
    s.createObject([
        (PyKCS11.CKA_CLASS, PyKCS11.CKO_SECRET_KEY), (PyKCS11.CKA_KEY_TYPE, PyKCS11.CKK_AES),
        (PyKCS11.CKA_TOKEN, True), (PyKCS11.CKA_PRIVATE, True), (PyKCS11.CKA_SENSITIVE, True),
        (PyKCS11.CKA_ENCRYPT, True), (PyKCS11.CKA_DECRYPT, True), (PyKCS11.CKA_LABEL, "demo-known"),
        (PyKCS11.CKA_VALUE, value),
    ])
    fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(value.hex())
    say(f"imported a second token key 'demo-known' whose value we know ({value.hex()[:16]}...)")
    s.logout()
    s.closeSession()


def scan(key_file, store_dir):
    with open(key_file) as f:
        value = bytes.fromhex(f.read().strip())
    needles = [value, value.hex().encode(), value.hex().upper().encode(),
               base64.b64encode(value), base64.b64encode(value).rstrip(b"=")]
    files = [os.path.join(d, n) for d, _, names in os.walk(store_dir) for n in names]
    total = 0
    for path in files:
        with open(path, "rb") as f:
            data = f.read()
        total += len(data)
        if any(n in data for n in needles):
            die(f"the known key value is readable in {path}")
    if not files:
        die(f"no store files under {store_dir}")
    say(f"searched {len(files)} store file(s), {total} bytes: the key value appears nowhere "
        "(not raw, not hex, not base64)")


def main():
    commands = {"encrypt": (encrypt, 1), "decrypt": (decrypt, 1), "after_rotation": (after_rotation, 1),
                "known": (known, 1), "scan": (scan, 2)}
    if len(sys.argv) < 2 or sys.argv[1] not in commands or len(sys.argv) - 2 != commands[sys.argv[1]][1]:
        print(__doc__)
        sys.exit(2)
    fn = commands[sys.argv[1]][0]
    try:
        fn(*sys.argv[2:])
    except Exception as e:  # show the PKCS#11 error in one line instead of a traceback
        die(f"{type(e).__name__}: {e}")


if __name__ == "__main__":
    main()

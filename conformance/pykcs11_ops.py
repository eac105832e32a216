#!/usr/bin/python3
"""conformance/pykcs11_ops.py — PyKCS11 (Debian's /usr/bin/python3) beyond GCM, against $MODULE.

Every result with a known key is compared with Python's own implementation (hmac, hashlib,
cryptography). Checks:
  load-info            C_GetInfo: Cryptoki version >= 2.40, blank-padded (not NUL-terminated) strings
  token-info           C_GetTokenInfo flags, blank-padded label; mechanism list; CKM_AES_GCM key sizes in bytes
  login-wrong-pin      C_Login with a wrong PIN -> CKR_PIN_INCORRECT, then the right one works
  keygen-generic       C_GenerateKey CKM_GENERIC_SECRET_KEY_GEN (32 bytes), usable for HMAC
  cbc-pad-known        CKM_AES_CBC_PAD with a known key == cryptography's AES-CBC + PKCS#7, both ways
  hmac-sha256-known    CKM_SHA256_HMAC with a known generic secret == hmac.new(key, data, sha256)
  hmac-sha256-verify   C_Verify accepts it, a flipped bit -> CKR_SIGNATURE_INVALID
  hmac-generated-key   sign/verify with the generated generic secret
  digest-sha256        C_Digest == hashlib.sha256; multi-part (C_DigestUpdate) == the same
  digest-sha384/512    when listed
  random               C_GenerateRandom lengths 1/32/1000, two outputs differ; C_SeedRandom OK or
                       CKR_RANDOM_SEED_NOT_SUPPORTED
  wrap-aes-kw          CKM_AES_KEY_WRAP of a known key == cryptography's aes_key_wrap (RFC 3394)
  unwrap-aes-kw        C_UnwrapKey of cryptography's wrapping; the new key encrypts like the original
  wrap-aes-kwp         CKM_AES_KEY_WRAP_KWP (RFC 5649) == aes_key_wrap_with_padding, when listed

Run alone:  MODULE=/path/to/module.so conformance/pykcs11_ops.py
"""
import hashlib
import hmac
import os
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pyconf  # noqa: E402
from pyconf import expect  # noqa: E402

pyconf.ensure_token("pykcs11", __file__,
                    "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable)

CONSUMER = "pykcs11"
try:
    import PyKCS11
    from PyKCS11 import LowLevel
    from cryptography.hazmat.primitives import keywrap, padding
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
except ImportError as e:  # an environment problem, reported as a failed setup
    print(f"RESULT | {CONSUMER} | setup | FAIL | import failed: {e} (install python3-pykcs11 "
          "python3-cryptography; run with /usr/bin/python3)")
    sys.exit(1)

P = PyKCS11
CKM_AES_KEY_WRAP_KWP = 0x210B


def rv_name(e):
    if isinstance(e, P.PyKCS11Error):
        return P.CKR.get(e.value, hex(e.value))
    return f"{type(e).__name__}: {e}"


R = pyconf.Results(CONSUMER, rv_name)


def expect_rv(fn, wanted):
    """fn must raise PyKCS11Error with rv == wanted."""
    try:
        fn()
    except P.PyKCS11Error as e:
        expect(e.value == wanted, f"expected {P.CKR[wanted]}, got {rv_name(e)}")
        return P.CKR[wanted]
    raise pyconf.CheckFailed(f"expected {P.CKR[wanted]}, call succeeded")


def raw_info_field(value, size):
    """PyKCS11 hands CK_INFO strings back undecoded-length: check the blank padding ourselves."""
    expect(len(value) == size, f"string field has {len(value)} chars, expected {size} (blank-padded)")
    expect("\x00" not in value, "string field contains NUL (must be blank-padded, not NUL-terminated)")


def main():
    lib = P.PyKCS11Lib()
    try:
        lib.load(pyconf.LOAD_MODULE)
    except Exception as e:
        R.result("load-info", "FAIL", f"load: {rv_name(e)}")
        R.exit()

    def load_info():
        info = lib.getInfo()
        ver = info.cryptokiVersion
        expect(tuple(ver) >= (2, 40), f"cryptokiVersion {ver}")
        raw_info_field(info.manufacturerID, 32)
        raw_info_field(info.libraryDescription, 32)
        return f"Cryptoki {ver[0]}.{ver[1]}, {info.manufacturerID.strip()}"

    R.check("load-info", load_info)

    slot = next((s for s in lib.getSlotList(tokenPresent=True)
                 if lib.getTokenInfo(s).label.strip() == pyconf.LABEL), None)
    if slot is None:
        R.result("token-info", "FAIL", f"no slot with token label {pyconf.LABEL!r}")
        R.exit()

    mechs = set()

    def token_info():
        ti = lib.getTokenInfo(slot)
        raw_info_field(ti.label, 32)
        want = P.CKF_TOKEN_INITIALIZED | P.CKF_USER_PIN_INITIALIZED | P.CKF_LOGIN_REQUIRED | P.CKF_RNG
        expect(ti.flags & want == want, f"token flags {ti.flags:#x} lack {want & ~ti.flags:#x}")
        mechs.update(lib.getMechanismList(slot))
        missing = [m for m in ("CKM_AES_GCM", "CKM_AES_CBC_PAD", "CKM_AES_KEY_WRAP", "CKM_SHA256",
                               "CKM_SHA256_HMAC", "CKM_GENERIC_SECRET_KEY_GEN") if m not in mechs]
        expect(not missing, f"mechanisms not listed: {missing}")
        mi = lib.getMechanismInfo(slot, "CKM_AES_GCM")
        expect(16 <= mi.ulMinKeySize <= mi.ulMaxKeySize <= 32,
               f"CKM_AES_GCM key sizes {mi.ulMinKeySize}..{mi.ulMaxKeySize}, expected bytes (16..32)")
        return f"{len(mechs)} mechanisms"

    R.check("token-info", token_info)

    session = lib.openSession(slot, P.CKF_SERIAL_SESSION | P.CKF_RW_SESSION)

    def wrong_pin():
        got = expect_rv(lambda: session.login("0000"), P.CKR_PIN_INCORRECT)
        session.login(pyconf.PIN)
        return got

    if not R.check("login-wrong-pin", wrong_pin):
        try:
            session.login(pyconf.PIN)
        except Exception as e:
            R.result("login", "FAIL", rv_name(e))
            R.exit()

    def secret(key_type, value, label, **flags):
        tmpl = [(P.CKA_CLASS, P.CKO_SECRET_KEY), (P.CKA_KEY_TYPE, key_type), (P.CKA_TOKEN, False),
                (P.CKA_LABEL, label), (P.CKA_VALUE, value)]
        tmpl += [(getattr(P, "CKA_" + k.upper()), v) for k, v in flags.items()]
        return session.createObject(tmpl)

    data = os.urandom(3000) + b"keyrotor conformance"

    # --- AES-CBC-PAD ------------------------------------------------------------------------------
    def cbc_known():
        k = os.urandom(32)
        key = secret(P.CKK_AES, k, "cbc-known", encrypt=True, decrypt=True)
        iv = os.urandom(16)
        padder = padding.PKCS7(128).padder()
        enc = Cipher(algorithms.AES(k), modes.CBC(iv)).encryptor()
        want = enc.update(padder.update(data) + padder.finalize()) + enc.finalize()
        got = bytes(session.encrypt(key, data, P.Mechanism(P.CKM_AES_CBC_PAD, iv)))
        expect(got == want, "ciphertext differs from cryptography's AES-CBC + PKCS#7")
        back = bytes(session.decrypt(key, want, P.Mechanism(P.CKM_AES_CBC_PAD, iv)))
        expect(back == data, "decryption of cryptography's ciphertext differs")

    R.check("cbc-pad-known", cbc_known)

    # --- HMAC -------------------------------------------------------------------------------------
    hmac_key = os.urandom(32)
    want_mac = hmac.new(hmac_key, data, hashlib.sha256).digest()
    hkey = []

    def hmac_known():
        hkey.append(secret(P.CKK_GENERIC_SECRET, hmac_key, "hmac-known", sign=True, verify=True))
        got = bytes(session.sign(hkey[0], data, P.Mechanism(P.CKM_SHA256_HMAC, None)))
        expect(got == want_mac, "HMAC-SHA256 differs from Python's hmac")

    def hmac_verify():
        expect(hkey, "no HMAC key")
        mech = P.Mechanism(P.CKM_SHA256_HMAC, None)
        expect(session.verify(hkey[0], data, want_mac, mech), "C_Verify rejected a correct MAC")
        bad = bytearray(want_mac)
        bad[0] ^= 0x80
        # PyKCS11's verify returns False for CKR_SIGNATURE_INVALID and raises for anything else.
        try:
            ok = session.verify(hkey[0], data, bytes(bad), mech)
        except P.PyKCS11Error as e:
            raise pyconf.CheckFailed(f"tampered MAC: expected CKR_SIGNATURE_INVALID, got {rv_name(e)}")
        expect(not ok, "C_Verify accepted a tampered MAC")
        return "tampered MAC -> CKR_SIGNATURE_INVALID"

    if R.check("hmac-sha256-known", hmac_known):
        R.check("hmac-sha256-verify", hmac_verify)
    else:
        R.skip("no HMAC key with a known value", "hmac-sha256-verify")

    gen = []

    def keygen_generic():
        gen.append(session.generateKey([
            (P.CKA_CLASS, P.CKO_SECRET_KEY), (P.CKA_KEY_TYPE, P.CKK_GENERIC_SECRET),
            (P.CKA_VALUE_LEN, 32), (P.CKA_TOKEN, False), (P.CKA_SIGN, True), (P.CKA_VERIFY, True),
            (P.CKA_LABEL, "hmac-generated"),
        ], P.Mechanism(P.CKM_GENERIC_SECRET_KEY_GEN, None)))
        vlen = session.getAttributeValue(gen[0], [P.CKA_VALUE_LEN])[0]
        expect(vlen == 32, f"CKA_VALUE_LEN {vlen}, expected 32")

    def hmac_generated():
        mech = P.Mechanism(P.CKM_SHA256_HMAC, None)
        mac = bytes(session.sign(gen[0], data, mech))
        expect(len(mac) == 32, f"MAC length {len(mac)}")
        expect(session.verify(gen[0], data, mac, mech), "C_Verify rejected the module's own MAC")

    if R.check("keygen-generic", keygen_generic):
        R.check("hmac-generated-key", hmac_generated)
    else:
        R.skip("no generated generic secret", "hmac-generated-key")

    # --- digest -----------------------------------------------------------------------------------
    def digest(name, mech):
        want = hashlib.new(name, data).digest()
        got = bytes(session.digest(data, P.Mechanism(mech, None)))
        expect(got == want, f"C_Digest differs from hashlib.{name}")
        ds = session.digestSession(P.Mechanism(mech, None))
        for i in range(0, len(data), 1000):
            ds.update(data[i:i + 1000])
        got = bytes(ds.final())
        expect(got == want, f"multi-part digest differs from hashlib.{name}")
        return "single and multi-part"

    R.check("digest-sha256", digest, "sha256", P.CKM_SHA256)
    for name, mech in (("sha384", "CKM_SHA384"), ("sha512", "CKM_SHA512")):
        if mech in mechs:
            R.check(f"digest-{name}", digest, name, getattr(P, mech))

    # --- random -----------------------------------------------------------------------------------
    def random():
        for n in (1, 32, 1000):
            got = bytes(session.generateRandom(n))
            expect(len(got) == n, f"asked {n} bytes, got {len(got)}")
        a, b = bytes(session.generateRandom(32)), bytes(session.generateRandom(32))
        expect(a != b, "two C_GenerateRandom calls returned the same bytes")
        try:
            session.seedRandom(os.urandom(16))
            return "C_SeedRandom OK"
        except P.PyKCS11Error as e:
            expect(e.value == P.CKR_RANDOM_SEED_NOT_SUPPORTED, f"C_SeedRandom: {rv_name(e)}")
            return "C_SeedRandom: CKR_RANDOM_SEED_NOT_SUPPORTED (legal)"

    R.check("random", random)

    # --- key wrap ---------------------------------------------------------------------------------
    kek_value, target_value = os.urandom(32), os.urandom(32)
    keys = {}

    def wrap_setup():
        keys["kek"] = secret(P.CKK_AES, kek_value, "kek", wrap=True, unwrap=True)
        keys["target"] = secret(P.CKK_AES, target_value, "to-wrap", extractable=True, sensitive=False,
                                encrypt=True)

    def same_as_target(handle):
        """The unwrapped key must encrypt exactly like a key with target_value (CBC, fixed IV)."""
        iv = bytes(16)
        want = Cipher(algorithms.AES(target_value), modes.CBC(iv)).encryptor().update(bytes(32))
        got = bytes(session.encrypt(handle, bytes(32), P.Mechanism(P.CKM_AES_CBC, iv)))
        expect(got == want, "the unwrapped key encrypts differently from the original")

    def wrap_kw():
        got = bytes(session.wrapKey(keys["kek"], keys["target"], P.Mechanism(P.CKM_AES_KEY_WRAP, None)))
        expect(got == keywrap.aes_key_wrap(kek_value, target_value), "differs from RFC 3394 aes_key_wrap")

    def unwrap(mech, wrapped, label):
        h = session.unwrapKey(keys["kek"], wrapped, [
            (P.CKA_CLASS, P.CKO_SECRET_KEY), (P.CKA_KEY_TYPE, P.CKK_AES), (P.CKA_TOKEN, False),
            (P.CKA_ENCRYPT, True), (P.CKA_LABEL, label)], P.Mechanism(mech, None))
        same_as_target(h)

    def wrap_kwp():
        got = bytes(session.wrapKey(keys["kek"], keys["target"], P.Mechanism(CKM_AES_KEY_WRAP_KWP, None)))
        want = keywrap.aes_key_wrap_with_padding(kek_value, target_value)
        expect(got == want, "differs from RFC 5649 aes_key_wrap_with_padding")
        unwrap(CKM_AES_KEY_WRAP_KWP, want, "unwrapped-kwp")
        return "RFC 5649, both ways"

    if R.check("wrap-setup", wrap_setup):
        R.check("wrap-aes-kw", wrap_kw)
        R.check("unwrap-aes-kw", unwrap, P.CKM_AES_KEY_WRAP,
                keywrap.aes_key_wrap(kek_value, target_value), "unwrapped-kw")
        if "CKM_AES_KEY_WRAP_KWP" in mechs:
            R.check("wrap-aes-kwp", wrap_kwp)
        else:
            R.skip("module does not list CKM_AES_KEY_WRAP_KWP (0x210B)", "wrap-aes-kwp")
    else:
        R.skip("no wrapping keys", "wrap-aes-kw", "unwrap-aes-kw", "wrap-aes-kwp")

    session.logout()
    session.closeSession()


if __name__ == "__main__":
    main()
    R.exit()

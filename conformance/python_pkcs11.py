"""conformance/python_pkcs11.py — python-pkcs11 (PyPI `python-pkcs11`, Cython, loads modules through
C_GetInterface when exported) against $MODULE. Run by python_pkcs11.sh inside its venv, which also sees
Debian's python3-cryptography (--system-site-packages) for the reference results.

Checks (with a known key, results equal cryptography / hashlib / hmac):
  load-info             lib.cryptoki_version, manufacturer, library description
  token-info            get_token(token_label=...), token flags, mechanism list, AES-GCM key sizes in bytes
  login / login-wrong-pin   Token.open(user_pin=...); a wrong PIN raises PinIncorrect
  keygen-session        generate_key(AES, 256) as a session key
  keygen-token          generate_key(AES, 256, store=True); a new session finds it with get_key(label=)
                        (exactly one object: keyrotor's versions are NAME@vN) and decrypts with it
  find-objects          get_objects({CLASS: SECRET_KEY}) lists the keys created here
  gcm-aad-known         AES_GCM with GCMParams(iv, aad) == AESGCM, decrypt, single-part
  gcm-multipart         the same through C_EncryptUpdate/C_DecryptUpdate (iterator input)
  gcm-bad-tag           flipped tag bit -> EncryptedDataInvalid
  cbc-pad-known         AES_CBC_PAD == AES-CBC + PKCS#7, both ways
  hmac-sha256-known     SHA256_HMAC with a known generic secret == hmac; verify; tampered MAC rejected;
                        multi-part (C_SignUpdate) gives the same MAC
  digest-sha256         single and multi-part == hashlib
  random                generate_random(256 bits); seed_random OK or RandomSeedNotSupported
  wrap-aes-kw           AES_KEY_WRAP == RFC 3394, unwrap of the reference wrapping works
  rotation-plain-gcm    keyrotor only, standard API: encrypt with AES_GCM, rotate with the CLI, the old
                        ciphertext still decrypts through the same key object, new ciphertexts are made by
                        NAME@v2 (python-pkcs11 accepts only its Mechanism enum, so the vendor envelope
                        mechanism cannot be passed; pykcs11 covers the envelope)
"""
import hashlib
import hmac
import os
import subprocess
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pyconf  # noqa: E402
from pyconf import expect  # noqa: E402

CONSUMER = "python-pkcs11"
if os.environ.get("CONF_READY") != "1":
    sys.exit("run through conformance/python_pkcs11.sh (it prepares the venv and the token)")

try:
    import pkcs11
    from pkcs11 import Attribute, KeyType, Mechanism, ObjectClass, TokenFlag
    from pkcs11 import exceptions as px
    from pkcs11.mechanisms import GCMParams
    from cryptography.hazmat.primitives import keywrap, padding
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM
except ImportError as e:
    print(f"RESULT | {CONSUMER} | setup | FAIL | import failed: {e}")
    sys.exit(1)

R = pyconf.Results(CONSUMER)


def chunks(data, n=700):
    return (data[i:i + n] for i in range(0, len(data), n))


def main():
    try:
        lib = pkcs11.lib(pyconf.MODULE)
    except Exception as e:
        R.result("load-info", "FAIL", f"{type(e).__name__}: {e}")
        return

    def load_info():
        ver = lib.cryptoki_version
        expect(tuple(ver) >= (2, 40), f"cryptoki_version {ver}")
        return f"Cryptoki {ver[0]}.{ver[1]}, {lib.manufacturer_id.strip()}, {lib.library_description.strip()}"

    R.check("load-info", load_info)

    token = []

    def token_info():
        token.append(lib.get_token(token_label=pyconf.LABEL))
        t = token[0]
        want = TokenFlag.TOKEN_INITIALIZED | TokenFlag.USER_PIN_INITIALIZED | TokenFlag.LOGIN_REQUIRED | TokenFlag.RNG
        expect(t.flags & want == want, f"token flags {t.flags!r}")
        mechs = t.slot.get_mechanisms()
        missing = [m.name for m in (Mechanism.AES_GCM, Mechanism.AES_CBC_PAD, Mechanism.AES_KEY_WRAP,
                                    Mechanism.SHA256, Mechanism.SHA256_HMAC) if m not in mechs]
        expect(not missing, f"mechanisms not listed: {missing}")
        mi = t.slot.get_mechanism_info(Mechanism.AES_GCM)
        expect(16 <= mi.min_key_length <= mi.max_key_length <= 32,
               f"AES_GCM key sizes {mi.min_key_length}..{mi.max_key_length}, expected bytes")
        return f"{len(mechs)} mechanisms"

    if not R.check("token-info", token_info):
        return
    tok = token[0]

    def wrong_pin():
        try:
            tok.open(user_pin="0000")
        except px.PinIncorrect:
            return "PinIncorrect"
        raise pyconf.CheckFailed("open(user_pin=wrong) succeeded")

    R.check("login-wrong-pin", wrong_pin)
    try:
        session = tok.open(rw=True, user_pin=pyconf.PIN)
        R.result("login", "PASS")
    except Exception as e:
        R.result("login", "FAIL", f"{type(e).__name__}: {e}")
        return

    data = os.urandom(2500) + b"python-pkcs11 conformance"
    aad = b"row=17;column=ssn"

    def known(key_type, value, label, **attrs):
        tmpl = {Attribute.CLASS: ObjectClass.SECRET_KEY, Attribute.KEY_TYPE: key_type,
                Attribute.VALUE: value, Attribute.LABEL: label, Attribute.TOKEN: False}
        tmpl.update({getattr(Attribute, k.upper()): v for k, v in attrs.items()})
        return session.create_object(tmpl)

    # --- keys and find ---------------------------------------------------------------------------
    def keygen_session():
        k = session.generate_key(KeyType.AES, 256, label="pp11-session")
        iv = os.urandom(12)
        ct = k.encrypt(data, mechanism=Mechanism.AES_GCM, mechanism_param=GCMParams(iv, aad))
        expect(k.decrypt(ct, mechanism=Mechanism.AES_GCM, mechanism_param=GCMParams(iv, aad)) == data,
               "GCM round trip with a generated session key differs")

    R.check("keygen-session", keygen_session)

    def keygen_token():
        k = session.generate_key(KeyType.AES, 256, label="pp11-token", store=True)
        iv = os.urandom(12)
        ct = k.encrypt(data, mechanism=Mechanism.AES_GCM, mechanism_param=GCMParams(iv, aad))
        with tok.open(user_pin=None) as s2:  # same application: the login is per token, not per session
            found = s2.get_key(label="pp11-token")  # raises MultipleObjectsReturned if not unique
            back = found.decrypt(ct, mechanism=Mechanism.AES_GCM, mechanism_param=GCMParams(iv, aad))
            expect(back == data, "a second session decrypts differently")
        return "get_key(label=) in a second session: exactly one object"

    R.check("keygen-token", keygen_token)

    # --- AES-GCM ---------------------------------------------------------------------------------
    gk = os.urandom(32)
    gkey = []
    iv = os.urandom(12)
    want = AESGCM(gk).encrypt(iv, data, aad)

    def gcm_known():
        gkey.append(known(KeyType.AES, gk, "pp11-gcm", encrypt=True, decrypt=True))
        got = gkey[0].encrypt(data, mechanism=Mechanism.AES_GCM, mechanism_param=GCMParams(iv, aad))
        expect(got == want, "ciphertext||tag differs from cryptography's AESGCM")
        back = gkey[0].decrypt(want, mechanism=Mechanism.AES_GCM, mechanism_param=GCMParams(iv, aad))
        expect(back == data, "decryption of AESGCM's ciphertext differs")

    def gcm_multipart():
        got = b"".join(gkey[0].encrypt(chunks(data), mechanism=Mechanism.AES_GCM,
                                       mechanism_param=GCMParams(iv, aad)))
        expect(got == want, "multi-part ciphertext||tag differs from AESGCM")
        back = b"".join(gkey[0].decrypt(chunks(want), mechanism=Mechanism.AES_GCM,
                                        mechanism_param=GCMParams(iv, aad)))
        expect(back == data, "multi-part decryption differs")

    def gcm_bad_tag():
        bad = bytearray(want)
        bad[-1] ^= 1
        try:
            gkey[0].decrypt(bytes(bad), mechanism=Mechanism.AES_GCM, mechanism_param=GCMParams(iv, aad))
        except px.EncryptedDataInvalid:
            return "EncryptedDataInvalid"
        except px.GeneralError:
            if pyconf.IS_SOFTHSM:
                return "GeneralError (SoftHSM2 quirk, accepted)"
            raise
        raise pyconf.CheckFailed("tampered ciphertext decrypted")

    if R.check("gcm-aad-known", gcm_known):
        R.check("gcm-multipart", gcm_multipart)
        R.check("gcm-bad-tag", gcm_bad_tag)
    else:
        R.skip("no GCM key with a known value", "gcm-multipart", "gcm-bad-tag")

    # --- AES-CBC-PAD -----------------------------------------------------------------------------
    def cbc_known():
        k = os.urandom(32)
        key = known(KeyType.AES, k, "pp11-cbc", encrypt=True, decrypt=True)
        civ = os.urandom(16)
        p = padding.PKCS7(128).padder()
        enc = Cipher(algorithms.AES(k), modes.CBC(civ)).encryptor()
        ref = enc.update(p.update(data) + p.finalize()) + enc.finalize()
        expect(key.encrypt(data, mechanism=Mechanism.AES_CBC_PAD, mechanism_param=civ) == ref,
               "ciphertext differs from AES-CBC + PKCS#7")
        expect(key.decrypt(ref, mechanism=Mechanism.AES_CBC_PAD, mechanism_param=civ) == data,
               "decryption of the reference ciphertext differs")

    R.check("cbc-pad-known", cbc_known)

    # --- HMAC ------------------------------------------------------------------------------------
    def hmac_known():
        hk = os.urandom(32)
        key = known(KeyType.GENERIC_SECRET, hk, "pp11-hmac", sign=True, verify=True)
        ref = hmac.new(hk, data, hashlib.sha256).digest()
        expect(key.sign(data, mechanism=Mechanism.SHA256_HMAC) == ref, "HMAC differs from Python's hmac")
        expect(key.sign(chunks(data), mechanism=Mechanism.SHA256_HMAC) == ref, "multi-part HMAC differs")
        expect(key.verify(data, ref, mechanism=Mechanism.SHA256_HMAC), "verify rejected a correct MAC")
        bad = bytes([ref[0] ^ 1]) + ref[1:]
        expect(not key.verify(data, bad, mechanism=Mechanism.SHA256_HMAC), "verify accepted a tampered MAC")
        return "single and multi-part, verify, tampered MAC rejected"

    R.check("hmac-sha256-known", hmac_known)

    # --- digest and random -----------------------------------------------------------------------
    def digest():
        ref = hashlib.sha256(data).digest()
        expect(session.digest(data, mechanism=Mechanism.SHA256) == ref, "C_Digest differs from hashlib")
        expect(session.digest(chunks(data), mechanism=Mechanism.SHA256) == ref, "multi-part digest differs")
        return "single and multi-part"

    R.check("digest-sha256", digest)

    def random():
        a, b = session.generate_random(256), session.generate_random(256)
        expect(len(a) == 32 and a != b, "generate_random(256) gave a wrong length or twice the same bytes")
        try:
            session.seed_random(os.urandom(16))
            return "seed_random OK"
        except px.RandomSeedNotSupported:
            return "seed_random: RandomSeedNotSupported (legal)"

    R.check("random", random)

    # --- key wrap --------------------------------------------------------------------------------
    def wrap_kw():
        kek_v, tgt_v = os.urandom(32), os.urandom(32)
        kek = known(KeyType.AES, kek_v, "pp11-kek", wrap=True, unwrap=True)
        tgt = known(KeyType.AES, tgt_v, "pp11-target", extractable=True, sensitive=False, encrypt=True)
        ref = keywrap.aes_key_wrap(kek_v, tgt_v)
        expect(kek.wrap_key(tgt, mechanism=Mechanism.AES_KEY_WRAP) == ref, "wrapped key differs from RFC 3394")
        new = kek.unwrap_key(ObjectClass.SECRET_KEY, KeyType.AES, ref, label="pp11-unwrapped",
                             mechanism=Mechanism.AES_KEY_WRAP)
        z = bytes(16)
        same = Cipher(algorithms.AES(tgt_v), modes.CBC(z)).encryptor().update(bytes(32))
        expect(new.encrypt(bytes(32), mechanism=Mechanism.AES_CBC, mechanism_param=z) == same,
               "the unwrapped key encrypts differently from the original")
        return "wrap == RFC 3394; unwrap of the reference works"

    R.check("wrap-aes-kw", wrap_kw)

    # --- find ------------------------------------------------------------------------------------
    def find_objects():
        labels = {o[Attribute.LABEL] for o in session.get_objects({Attribute.CLASS: ObjectClass.SECRET_KEY})}
        missing = {"pp11-token", "pp11-gcm", "pp11-kek"} - labels
        expect(not missing, f"get_objects does not list {sorted(missing)}")
        return f"{len(labels)} secret keys"

    R.check("find-objects", find_objects)

    # --- rotation through the standard API -------------------------------------------------------
    def rotation():
        name = "pp11-rot"
        k = session.generate_key(KeyType.AES, 256, label=name, store=True)
        iv1 = os.urandom(12)
        ct1 = k.encrypt(data, mechanism=Mechanism.AES_GCM, mechanism_param=GCMParams(iv1, aad))
        cmd = [os.environ["CONF_CLI"], "--config", os.environ["KEYROTOR_CONF"], "--slot",
               str(tok.slot.slot_id), "key", "rotate", name]
        p = subprocess.run(cmd, env=dict(os.environ, KEYROTOR_PIN=pyconf.PIN), capture_output=True,
                           text=True, timeout=pyconf.TIMEOUT)
        expect(p.returncode == 0, f"CLI exit {p.returncode}: {(p.stdout + p.stderr).strip()}")
        v1 = session.get_key(label=f"{name}@v1")
        start = time.monotonic()
        while True:  # the open session learns of the rotation through the store (about a second)
            iv2 = os.urandom(12)
            ct2 = k.encrypt(data, mechanism=Mechanism.AES_GCM, mechanism_param=GCMParams(iv2, aad))
            try:
                v1.decrypt(ct2, mechanism=Mechanism.AES_GCM, mechanism_param=GCMParams(iv2, aad))
            except px.EncryptedDataInvalid:
                break  # not made by v1 any more
            expect(time.monotonic() - start < 5, "still encrypting with v1 5 s after the rotation")
            time.sleep(0.1)
        v2 = session.get_key(label=f"{name}@v2")
        expect(v2.decrypt(ct2, mechanism=Mechanism.AES_GCM, mechanism_param=GCMParams(iv2, aad)) == data,
               f"{name}@v2 cannot decrypt a new ciphertext")
        expect(k.decrypt(ct1, mechanism=Mechanism.AES_GCM, mechanism_param=GCMParams(iv1, aad)) == data,
               "the pre-rotation ciphertext no longer decrypts through the key object")
        return "old ciphertext decrypts through the same object; new ones are made by @v2"

    if pyconf.IS_SOFTHSM:
        R.skip("SoftHSM2 has no rotating keys", "rotation-plain-gcm")
    else:
        R.check("rotation-plain-gcm", rotation)

    session.close()


if __name__ == "__main__":
    main()
    R.exit()

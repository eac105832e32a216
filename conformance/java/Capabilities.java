// conformance/java/Capabilities.java — Java 17 SunPKCS11 beyond GCM: one JVM per mode.
//
// Usage (java.sh does all of this): java Capabilities.java <provider.cfg> <user PIN> <mode> <dir> [softhsm]
//   ops       services the provider registered from the token's mechanism list; AES/CBC/PKCS5Padding,
//             Mac HmacSHA256, MessageDigest SHA-256 compared with SunJCE/SUN; SecureRandom; AES/KW wrap
//   store     KeyGenerator AES-256 (a session key), stored on the token with KeyStore.setEntry(alias)
//             (SunPKCS11 copies it with CKA_TOKEN=true, CKA_LABEL=alias); encrypts a message into <dir>
//   find      a second JVM: the alias is in KeyStore.aliases(), getKey(alias) decrypts the message
//   rot-seal  GCM-encrypts with the key of alias <name> (made by pkcs11-tool, rotated later by the CLI)
//   rot-open  after the CLI rotated <name>: the old ciphertext decrypts through alias <name>; new
//             ciphertexts are made by <name>@v2, not <name>@v1
// Prints one "RESULT | java-sunpkcs11 | <check> | PASS|FAIL|SKIP | detail" line per check; exits 1 on a FAIL.

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.Key;
import java.security.KeyStore;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.security.Provider;
import java.security.SecureRandom;
import java.security.Security;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import javax.crypto.AEADBadTagException;
import javax.crypto.Cipher;
import javax.crypto.KeyGenerator;
import javax.crypto.Mac;
import javax.crypto.SecretKey;
import javax.crypto.spec.GCMParameterSpec;
import javax.crypto.spec.IvParameterSpec;
import javax.crypto.spec.SecretKeySpec;

public final class Capabilities {
    private static final String CONSUMER = "java-sunpkcs11";
    private static final SecureRandom RNG = new SecureRandom();
    private static final String ALIAS = "java-stored-key";
    private static final String ROT = "java-rot";
    private static int failures = 0;
    private static Provider p;
    private static KeyStore ks;
    private static Path dir;

    @FunctionalInterface
    private interface Check {
        String run() throws Exception;
    }

    private static void result(String cap, String status, String detail) {
        if (status.equals("FAIL")) {
            failures++;
        }
        String d = detail == null ? "" : detail.replace('\n', ' ').replace(" | ", " / ");
        System.out.println("RESULT | " + CONSUMER + " | " + cap + " | " + status + " | " + d);
        System.out.flush();
    }

    private static boolean check(String cap, Check c) {
        try {
            result(cap, "PASS", c.run());
            return true;
        } catch (Throwable t) {
            Throwable root = t;
            while (root.getCause() != null) {
                root = root.getCause();
            }
            String msg = t.getClass().getSimpleName() + ": " + t.getMessage();
            if (root != t) {
                msg += " (cause " + root.getClass().getSimpleName() + ": " + root.getMessage() + ")";
            }
            result(cap, "FAIL", msg);
            return false;
        }
    }

    private static void expect(boolean cond, String msg) {
        if (!cond) {
            throw new IllegalStateException(msg);
        }
    }

    private static byte[] random(int n) {
        byte[] b = new byte[n];
        RNG.nextBytes(b);
        return b;
    }

    private static byte[] gcm(int mode, Key key, byte[] iv, byte[] in) throws Exception {
        Cipher c = Cipher.getInstance("AES/GCM/NoPadding", p);
        c.init(mode, key, new GCMParameterSpec(128, iv));
        c.updateAAD("java-capabilities".getBytes(StandardCharsets.UTF_8));
        return c.doFinal(in);
    }

    private static byte[] concat(byte[] a, byte[] b) {
        byte[] r = Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, r, a.length, b.length);
        return r;
    }

    public static void main(String[] args) throws Exception {
        if (args.length < 4) {
            System.err.println("usage: java Capabilities.java <provider.cfg> <PIN> <mode> <dir> [softhsm]");
            System.exit(2);
        }
        String mode = args[2];
        dir = Path.of(args[3]);
        boolean ok = check("load-" + mode, () -> {
            Provider base = Security.getProvider("SunPKCS11");
            expect(base != null, "SunPKCS11 provider not present in this JDK");
            p = base.configure(args[0]);
            Security.addProvider(p);
            ks = KeyStore.getInstance("PKCS11", p);
            ks.load(null, args[1].toCharArray());
            return p.getName() + ", logged in through KeyStore.load";
        });
        if (!ok) {
            System.exit(1);
        }
        switch (mode) {
            case "ops": ops(); break;
            case "store": store(); break;
            case "find": find(); break;
            case "rot-seal": rotSeal(); break;
            case "rot-open": rotOpen(); break;
            default:
                System.err.println("unknown mode " + mode);
                System.exit(2);
        }
        System.exit(failures == 0 ? 0 : 1);
    }

    // SunPKCS11 registers a service only when C_GetMechanismList/C_GetMechanismInfo offer its mechanism.
    private static void ops() {
        byte[] data = concat(random(1000), "SunPKCS11 capabilities".getBytes(StandardCharsets.UTF_8));
        check("token-info-services", () -> {
            String[][] want = {
                {"Cipher", "AES/GCM/NoPadding"}, {"Cipher", "AES/CBC/PKCS5Padding"}, {"Mac", "HmacSHA256"},
                {"MessageDigest", "SHA-256"}, {"KeyGenerator", "AES"}, {"SecureRandom", "PKCS11"},
            };
            StringBuilder missing = new StringBuilder();
            for (String[] w : want) {
                if (p.getService(w[0], w[1]) == null) {
                    missing.append(' ').append(w[0]).append('.').append(w[1]);
                }
            }
            expect(missing.length() == 0, "services not registered (mechanism not listed?):" + missing);
            return p.getServices().size() + " services from the token's mechanism list";
        });
        check("cbc-pad-vs-sunjce", () -> {
            SecretKey raw = new SecretKeySpec(random(32), "AES");
            IvParameterSpec iv = new IvParameterSpec(random(16));
            Cipher tok = Cipher.getInstance("AES/CBC/PKCS5Padding", p);
            tok.init(Cipher.ENCRYPT_MODE, raw, iv);
            byte[] viaToken = tok.doFinal(data);
            Cipher jce = Cipher.getInstance("AES/CBC/PKCS5Padding", "SunJCE");
            jce.init(Cipher.ENCRYPT_MODE, raw, iv);
            expect(Arrays.equals(viaToken, jce.doFinal(data)), "ciphertext differs from SunJCE's");
            tok.init(Cipher.DECRYPT_MODE, raw, iv);
            expect(Arrays.equals(tok.doFinal(viaToken), data), "decryption differs");
            return null;
        });
        check("hmac-sha256-vs-sunjce", () -> {
            SecretKey raw = new SecretKeySpec(random(32), "HmacSHA256");
            Mac tok = Mac.getInstance("HmacSHA256", p);
            tok.init(raw); // SunPKCS11 imports it as a CKK_GENERIC_SECRET and uses CKM_SHA256_HMAC
            tok.update(data, 0, 300);
            tok.update(data, 300, data.length - 300);
            byte[] viaToken = tok.doFinal();
            Mac jce = Mac.getInstance("HmacSHA256", "SunJCE");
            jce.init(raw);
            expect(Arrays.equals(viaToken, jce.doFinal(data)), "HMAC differs from SunJCE's");
            return "multi-part, " + tok.getProvider().getName();
        });
        check("digest-sha256-vs-sun", () -> {
            MessageDigest md = MessageDigest.getInstance("SHA-256", p);
            md.update(data, 0, 10);
            md.update(data, 10, data.length - 10);
            expect(Arrays.equals(md.digest(), MessageDigest.getInstance("SHA-256", "SUN").digest(data)),
                    "SHA-256 differs from SUN's");
            return null;
        });
        check("random-securerandom", () -> {
            SecureRandom sr = SecureRandom.getInstance("PKCS11", p);
            byte[] a = new byte[32];
            byte[] b = new byte[32];
            sr.nextBytes(a);
            sr.nextBytes(b);
            expect(!Arrays.equals(a, b), "two nextBytes calls gave the same bytes");
            return null;
        });
        // AES key wrap: SunPKCS11 names CKM_AES_KEY_WRAP "AES/KW/NoPadding" where the JDK supports it.
        try {
            Cipher.getInstance("AES/KW/NoPadding", p);
        } catch (NoSuchAlgorithmException | javax.crypto.NoSuchPaddingException e) {
            result("wrap-aes-kw", "SKIP", "this JDK's SunPKCS11 has no AES/KW/NoPadding: " + e.getMessage());
            return;
        }
        check("wrap-aes-kw", () -> {
            SecretKey kek = new SecretKeySpec(random(32), "AES");
            SecretKey target = new SecretKeySpec(random(32), "AES");
            Cipher tok = Cipher.getInstance("AES/KW/NoPadding", p);
            tok.init(Cipher.WRAP_MODE, kek);
            byte[] wrapped = tok.wrap(target);
            Cipher jce = Cipher.getInstance("AES/KW/NoPadding", "SunJCE");
            jce.init(Cipher.WRAP_MODE, kek);
            expect(Arrays.equals(wrapped, jce.wrap(target)), "wrapped key differs from SunJCE's (RFC 3394)");
            tok.init(Cipher.UNWRAP_MODE, kek);
            Key back = tok.unwrap(wrapped, "AES", Cipher.SECRET_KEY);
            byte[] iv = random(12);
            expect(Arrays.equals(gcm(Cipher.ENCRYPT_MODE, back, iv, data), gcm(Cipher.ENCRYPT_MODE, target, iv, data)),
                    "the unwrapped key encrypts differently from the original");
            return "== SunJCE; unwrapped key works";
        });
    }

    private static void store() {
        check("keygen-keystore-store", () -> {
            KeyGenerator kg = KeyGenerator.getInstance("AES", p);
            kg.init(256);
            SecretKey k = kg.generateKey();
            ks.setEntry(ALIAS, new KeyStore.SecretKeyEntry(k), null);
            Key stored = ks.getKey(ALIAS, null);
            expect(stored != null, "getKey(" + ALIAS + ") is null right after setEntry");
            byte[] iv = random(12);
            byte[] msg = "persisted through a KeyStore alias".getBytes(StandardCharsets.UTF_8);
            Files.write(dir.resolve("stored.iv"), iv);
            Files.write(dir.resolve("stored.ct"), gcm(Cipher.ENCRYPT_MODE, stored, iv, msg));
            return "setEntry(\"" + ALIAS + "\") of a KeyGenerator key";
        });
    }

    private static void find() {
        check("find-keystore-alias", () -> {
            List<String> aliases = Collections.list(ks.aliases());
            expect(aliases.contains(ALIAS), "alias " + ALIAS + " not in a new JVM's KeyStore: " + aliases);
            expect(ks.isKeyEntry(ALIAS), ALIAS + " is not a key entry");
            Key k = ks.getKey(ALIAS, null);
            byte[] back = gcm(Cipher.DECRYPT_MODE, k, Files.readAllBytes(dir.resolve("stored.iv")),
                    Files.readAllBytes(dir.resolve("stored.ct")));
            expect(new String(back, StandardCharsets.UTF_8).equals("persisted through a KeyStore alias"),
                    "decrypted message differs");
            return "second JVM: alias found, decrypts the first JVM's ciphertext; aliases " + aliases;
        });
    }

    private static void rotSeal() {
        check("rotation-seal-v1", () -> {
            Key k = ks.getKey(ROT, null);
            expect(k != null, "no key entry for alias " + ROT);
            byte[] iv = random(12);
            Files.write(dir.resolve("rot.iv"), iv);
            Files.write(dir.resolve("rot.ct"), gcm(Cipher.ENCRYPT_MODE, k, iv, "before rotation".getBytes(StandardCharsets.UTF_8)));
            return "AES/GCM through alias " + ROT;
        });
    }

    private static void rotOpen() {
        check("rotation-open-after-rotate", () -> {
            Key k = ks.getKey(ROT, null);
            byte[] back = gcm(Cipher.DECRYPT_MODE, k, Files.readAllBytes(dir.resolve("rot.iv")),
                    Files.readAllBytes(dir.resolve("rot.ct")));
            expect(new String(back, StandardCharsets.UTF_8).equals("before rotation"), "old ciphertext decrypts differently");
            Key v1 = ks.getKey(ROT + "@v1", null);
            Key v2 = ks.getKey(ROT + "@v2", null);
            expect(v1 != null && v2 != null, "aliases " + ROT + "@v1/@v2 missing: " + Collections.list(ks.aliases()));
            byte[] iv = random(12);
            byte[] msg = "after rotation".getBytes(StandardCharsets.UTF_8);
            byte[] ct = gcm(Cipher.ENCRYPT_MODE, k, iv, msg);
            expect(Arrays.equals(gcm(Cipher.DECRYPT_MODE, v2, iv, ct), msg), ROT + "@v2 cannot decrypt a new ciphertext");
            try {
                gcm(Cipher.DECRYPT_MODE, v1, iv, ct);
                throw new IllegalStateException("a new ciphertext decrypts with " + ROT + "@v1: still encrypting with v1");
            } catch (AEADBadTagException expected) {
                // v1 did not make it: good
            }
            return "old ciphertext decrypts through " + ROT + "; new ones are made by @v2";
        });
    }
}

// conformance/java/GcmRoundTrip.java — AES-GCM through Java 17's SunPKCS11 provider.
//
// Usage (java.sh does all of this): java GcmRoundTrip.java <provider.cfg> <user PIN> [softhsm]
// Prints one "RESULT | java-sunpkcs11 | <capability> | PASS|FAIL | detail" line per check and exits
// non-zero if any check failed. "softhsm" accepts SoftHSM2's CKR_GENERAL_ERROR for a bad tag.

import java.nio.charset.StandardCharsets;
import java.security.KeyStore;
import java.security.Provider;
import java.security.SecureRandom;
import java.security.Security;
import java.util.Arrays;
import javax.crypto.AEADBadTagException;
import javax.crypto.Cipher;
import javax.crypto.KeyGenerator;
import javax.crypto.SecretKey;
import javax.crypto.spec.GCMParameterSpec;
import javax.crypto.spec.SecretKeySpec;

public final class GcmRoundTrip {
    private static final String CONSUMER = "java-sunpkcs11";
    private static final SecureRandom RNG = new SecureRandom();
    private static int failures = 0;

    @FunctionalInterface
    private interface Check {
        String run() throws Exception;
    }

    private static void result(String cap, String status, String detail) {
        if (status.equals("FAIL")) {
            failures++;
        }
        System.out.println("RESULT | " + CONSUMER + " | " + cap + " | " + status + " | " + detail);
        System.out.flush();
    }

    private static boolean check(String cap, Check c) {
        try {
            String detail = c.run();
            result(cap, "PASS", detail == null ? "" : detail);
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
            result(cap, "FAIL", msg.replace('\n', ' '));
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

    private static byte[] gcm(String provider, Provider p, int mode, SecretKey key, byte[] iv, byte[] aad,
            byte[] in) throws Exception {
        Cipher c = p != null ? Cipher.getInstance("AES/GCM/NoPadding", p)
                : Cipher.getInstance("AES/GCM/NoPadding", provider);
        c.init(mode, key, new GCMParameterSpec(128, iv));
        c.updateAAD(aad);
        return c.doFinal(in);
    }

    public static void main(String[] args) throws Exception {
        if (args.length < 2) {
            System.err.println("usage: java GcmRoundTrip.java <provider.cfg> <PIN> [softhsm]");
            System.exit(2);
        }
        final String cfg = args[0];
        final char[] pin = args[1].toCharArray();
        final boolean softhsm = args.length > 2 && args[2].equals("softhsm");
        final Provider[] holder = new Provider[1];
        final SecretKey[] generated = new SecretKey[1];

        boolean ok = check("provider-configure", () -> {
            Provider base = Security.getProvider("SunPKCS11");
            expect(base != null, "SunPKCS11 provider not present in this JDK");
            Provider p = base.configure(cfg);
            Security.addProvider(p);
            holder[0] = p;
            return p.getName();
        });
        ok = ok && check("login", () -> {
            KeyStore ks = KeyStore.getInstance("PKCS11", holder[0]);
            ks.load(null, pin);
            return null;
        });
        if (!ok) {
            for (String cap : new String[] {"aes-keygen", "gcm-roundtrip-aad", "gcm-bad-tag", "gcm-known-key-vs-sunjce"}) {
                result(cap, "SKIP", "provider not usable");
            }
            System.exit(1);
        }
        final Provider p = holder[0];
        final byte[] plaintext = ("keyrotor conformance through SunPKCS11 " + new String(new char[300]).replace('\0', 'x'))
                .getBytes(StandardCharsets.UTF_8);
        final byte[] aad = "tenant=42;purpose=tde".getBytes(StandardCharsets.UTF_8);

        boolean gen = check("aes-keygen", () -> {
            KeyGenerator kg = KeyGenerator.getInstance("AES", p);
            kg.init(256);
            generated[0] = kg.generateKey();
            return generated[0].getAlgorithm() + "-256 on " + p.getName();
        });

        final byte[] iv = random(12);
        final byte[][] ct = new byte[1][];
        if (gen) {
            check("gcm-roundtrip-aad", () -> {
                ct[0] = gcm(null, p, Cipher.ENCRYPT_MODE, generated[0], iv, aad, plaintext);
                expect(ct[0].length == plaintext.length + 16, "ciphertext length " + ct[0].length);
                byte[] back = gcm(null, p, Cipher.DECRYPT_MODE, generated[0], iv, aad, ct[0]);
                expect(Arrays.equals(back, plaintext), "decrypted text differs");
                return null;
            });
            check("gcm-bad-tag", () -> {
                expect(ct[0] != null, "no ciphertext from the round trip");
                byte[] tampered = ct[0].clone();
                tampered[tampered.length - 1] ^= 1;
                try {
                    gcm(null, p, Cipher.DECRYPT_MODE, generated[0], iv, aad, tampered);
                } catch (AEADBadTagException e) {
                    // SunPKCS11 turns several return values into AEADBadTagException; the cause says which.
                    String cause = e.getCause() == null ? "" : String.valueOf(e.getCause().getMessage());
                    if (cause.isEmpty() || cause.contains("CKR_ENCRYPTED_DATA_INVALID")) {
                        return "AEADBadTagException " + cause;
                    }
                    if (softhsm && cause.contains("CKR_GENERAL_ERROR")) {
                        return "AEADBadTagException CKR_GENERAL_ERROR (SoftHSM2 quirk, accepted)";
                    }
                    throw new IllegalStateException("bad tag reported as " + cause + ", expected CKR_ENCRYPTED_DATA_INVALID");
                } catch (java.security.ProviderException e) {
                    if (softhsm && String.valueOf(e.getMessage()).contains("CKR_GENERAL_ERROR")) {
                        return "ProviderException CKR_GENERAL_ERROR (SoftHSM2 quirk, accepted)";
                    }
                    throw e;
                }
                throw new IllegalStateException("tampered ciphertext decrypted without error");
            });
        } else {
            result("gcm-roundtrip-aad", "SKIP", "no generated key");
            result("gcm-bad-tag", "SKIP", "no generated key");
        }

        // A raw key handed to the provider is imported (C_CreateObject); its ciphertext must equal SunJCE's.
        check("gcm-known-key-vs-sunjce", () -> {
            SecretKey raw = new SecretKeySpec(random(32), "AES");
            byte[] iv2 = random(12);
            byte[] viaToken = gcm(null, p, Cipher.ENCRYPT_MODE, raw, iv2, aad, plaintext);
            byte[] viaJce = gcm("SunJCE", null, Cipher.ENCRYPT_MODE, raw, iv2, aad, plaintext);
            expect(Arrays.equals(viaToken, viaJce), "ciphertext differs from SunJCE's");
            byte[] back = gcm(null, p, Cipher.DECRYPT_MODE, raw, iv2, aad, viaJce);
            expect(Arrays.equals(back, plaintext), "decryption of SunJCE's ciphertext differs");
            return null;
        });

        System.exit(failures == 0 ? 0 : 1);
    }
}

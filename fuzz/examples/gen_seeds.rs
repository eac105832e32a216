//! Writes the seed corpora in `fuzz/seeds/<target>/`: one well-formed input
//! per interesting path, encoded the way `keyrotor_fuzz::harness` decodes.
//!
//! Run from `fuzz/`: `cargo run --example gen_seeds -- seeds` (overwrites
//! files of the same name, leaves others).

use std::path::Path;

use cryptoki_sys as sys;
use keyrotor::keys::attrs::{cka, CKM_KEYROTOR_AES_GCM_ENVELOPE, CKM_KEYROTOR_AES_GCM_REWRAP};
use keyrotor::keys::policy::Policy;
use keyrotor::mech::envelope;
use keyrotor::mech::registry::SOFTWARE;
use keyrotor::object::{Object, Origin, TemplateAttr};
use keyrotor_fuzz::harness::template::KNOWN_TYPES;
use sys::{CK_ATTRIBUTE_TYPE, CK_MECHANISM_TYPE, CK_ULONG};

/// Builds an input byte by byte, mirroring `harness::input::Input`.
#[derive(Default)]
struct Enc(Vec<u8>);

impl Enc {
    fn u8(&mut self, v: u8) -> &mut Self {
        self.0.push(v);
        self
    }
    fn u16(&mut self, v: u16) -> &mut Self {
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }
    fn bytes(&mut self, b: &[u8]) -> &mut Self {
        self.0.extend_from_slice(b);
        self
    }
    /// `Input::blob(max)`: a one-byte length, then the bytes.
    fn blob(&mut self, b: &[u8]) -> &mut Self {
        assert!(b.len() < 256);
        self.u8(b.len() as u8).bytes(b)
    }
    /// `Input::blob16(max)`: a two-byte length, then the bytes.
    fn blob16(&mut self, b: &[u8]) -> &mut Self {
        self.u16(b.len() as u16).bytes(b)
    }
    fn kind(&mut self, k: CK_ATTRIBUTE_TYPE) -> &mut Self {
        let idx = KNOWN_TYPES
            .iter()
            .position(|&x| x == k)
            .expect("known type");
        self.u8(idx as u8)
    }
    /// A template of raw-form attributes (form 4: one-byte length + bytes).
    fn template(&mut self, attrs: &[(CK_ATTRIBUTE_TYPE, Vec<u8>)]) -> &mut Self {
        self.u8(attrs.len() as u8);
        for (k, v) in attrs {
            self.kind(*k).u8(4).blob(v);
        }
        self
    }
    fn mech(&mut self, t: CK_MECHANISM_TYPE) -> &mut Self {
        let idx = SOFTWARE.iter().position(|m| m.mech == t).expect("offered");
        self.u8(idx as u8)
    }
}

fn ul(v: CK_ULONG) -> Vec<u8> {
    v.to_ne_bytes().to_vec()
}

fn b(v: bool) -> Vec<u8> {
    vec![u8::from(v)]
}

fn write(dir: &Path, target: &str, name: &str, bytes: &[u8]) {
    let d = dir.join(target);
    std::fs::create_dir_all(&d).expect("mkdir");
    std::fs::write(d.join(name), bytes).expect("write seed");
}

fn templates(dir: &Path) {
    let w = |name: &str, e: &Enc| write(dir, "templates", name, &e.0);
    let mut e = Enc::default();
    e.u8(0)
        .template(&[
            (sys::CKA_CLASS, ul(sys::CKO_DATA)),
            (sys::CKA_TOKEN, b(false)),
            (sys::CKA_LABEL, b"seed".to_vec()),
            (sys::CKA_VALUE, b"hello".to_vec()),
        ])
        // Query: label in 16 bytes, value by NULL, class in 8.
        .u8(3)
        .kind(sys::CKA_LABEL)
        .u8(3)
        .u8(16)
        .kind(sys::CKA_VALUE)
        .u8(0)
        .kind(sys::CKA_CLASS)
        .u8(1)
        // Find: 2 handles per call; modify: a new label.
        .u8(1)
        .template(&[(sys::CKA_LABEL, b"renamed".to_vec())]);
    w("data_object", &e);

    let mut e = Enc::default();
    e.u8(0x20)
        .template(&[
            (sys::CKA_CLASS, ul(sys::CKO_SECRET_KEY)),
            (sys::CKA_KEY_TYPE, ul(sys::CKK_AES)),
            (sys::CKA_VALUE, vec![0x11; 16]),
            (sys::CKA_ENCRYPT, b(true)),
            (sys::CKA_SENSITIVE, b(false)),
        ])
        .u8(4)
        .kind(sys::CKA_VALUE)
        .u8(0)
        .kind(sys::CKA_VALUE_LEN)
        .u8(1)
        .kind(sys::CKA_CHECK_VALUE)
        .u8(3)
        .u8(3)
        .kind(sys::CKA_UNIQUE_ID)
        .u8(3)
        .u8(4)
        .u8(0)
        .template(&[(sys::CKA_SENSITIVE, b(true))]);
    w("aes_by_value", &e);

    let mut e = Enc::default();
    e.u8(0x40)
        .template(&[
            (sys::CKA_VALUE_LEN, ul(32)),
            (sys::CKA_ENCRYPT, b(true)),
            (sys::CKA_LABEL, b"gen".to_vec()),
            (
                sys::CKA_ALLOWED_MECHANISMS,
                [ul(sys::CKM_AES_GCM), ul(sys::CKM_AES_CTR)].concat(),
            ),
            (sys::CKA_START_DATE, b"20250101".to_vec()),
        ])
        .u8(3)
        .kind(sys::CKA_ALLOWED_MECHANISMS)
        .u8(0)
        .kind(sys::CKA_KEY_GEN_MECHANISM)
        .u8(1)
        .kind(sys::CKA_START_DATE)
        .u8(3)
        .u8(8);
    w("generate_aes", &e);

    let mut e = Enc::default();
    e.u8(0x10)
        .template(&[(sys::CKA_VALUE_LEN, ul(20)), (sys::CKA_SIGN, b(true))])
        .u8(1)
        .kind(sys::CKA_KEY_TYPE)
        .u8(1);
    w("generate_generic", &e);

    let mut e = Enc::default();
    e.u8(0)
        .template(&[
            (sys::CKA_CLASS, ul(sys::CKO_SECRET_KEY)),
            (sys::CKA_KEY_TYPE, ul(sys::CKK_AES)),
            (sys::CKA_VALUE_LEN, ul(32)),
            (cka(3), ul(86_400)),
        ])
        .u8(2)
        .kind(cka(1))
        .u8(1)
        .kind(cka(7))
        .u8(1);
    w("vendor_policy", &e);

    // A CKA_WRAP_TEMPLATE holding a nested template (form 7).
    let mut e = Enc::default();
    e.u8(0).u8(3);
    e.kind(sys::CKA_CLASS).u8(4).blob(&ul(sys::CKO_SECRET_KEY));
    e.kind(sys::CKA_KEY_TYPE).u8(4).blob(&ul(sys::CKK_AES));
    e.kind(sys::CKA_WRAP_TEMPLATE).u8(7).u8(1);
    e.kind(sys::CKA_EXTRACTABLE).u8(4).blob(&b(true));
    e.u8(1).kind(sys::CKA_WRAP_TEMPLATE).u8(0);
    w("wrap_template", &e);

    let mut e = Enc::default();
    e.u8(0x0F)
        .template(&[
            (sys::CKA_CLASS, ul(sys::CKO_DATA)),
            (sys::CKA_TOKEN, b(true)),
            (sys::CKA_LABEL, b"token".to_vec()),
        ])
        .u8(1)
        .kind(sys::CKA_TOKEN)
        .u8(2);
    w("token_data", &e);
}

fn mech_params(dir: &Path) {
    // sel (key; ask), ops mask (0 = all), type index, form, parameter, payload.
    let mut n = 0;
    let mut w = |key: u8, t: CK_MECHANISM_TYPE, form: &[u8], payload: &[u8]| {
        let mut e = Enc::default();
        e.u8(key).u8(0).mech(t).bytes(form).blob(payload);
        n += 1;
        write(dir, "mech_params", &format!("{n:02}_{t:x}"), &e.0);
    };
    let block = [0x33u8; 32];
    w(0, sys::CKM_AES_ECB, &[0], &block);
    w(
        1,
        sys::CKM_AES_CBC,
        &[[6].as_slice(), &[1; 16]].concat(),
        &block,
    );
    w(
        0x10,
        sys::CKM_AES_CBC_PAD,
        &[[6].as_slice(), &[2; 16]].concat(),
        b"odd",
    );
    w(
        0,
        sys::CKM_AES_CTR,
        &[[5, 0].as_slice(), &[3; 16]].concat(),
        b"counter",
    );
    // CK_GCM_PARAMS: IV buffer (12), AAD buffer (3), ulIvBits from the length, 128-bit tag.
    let mut gcm = vec![3, 0x20, 12];
    gcm.extend_from_slice(&[4; 12]);
    gcm.extend_from_slice(&[0x20, 3, b'a', b'a', b'd', 1, 0]);
    w(0, sys::CKM_AES_GCM, &gcm, b"plain");
    w(3, sys::CKM_AES_GCM, &gcm, b"plain");
    let mut gcm240 = vec![4, 0x20, 16];
    gcm240.extend_from_slice(&[5; 16]);
    gcm240.extend_from_slice(&[0x20, 0, 1, 2]);
    w(0x20, sys::CKM_AES_GCM, &gcm240, b"2.40 layout");
    w(
        3,
        CKM_KEYROTOR_AES_GCM_ENVELOPE,
        &[2, 3, b'a', b'a', b'd'],
        b"env",
    );
    w(3, CKM_KEYROTOR_AES_GCM_REWRAP, &[2, 0], b"rewrap");
    w(0, sys::CKM_AES_CMAC, &[0], b"mac me");
    w(2, sys::CKM_SHA256_HMAC, &[0], b"hmac");
    w(2, sys::CKM_SHA384_HMAC, &[0], b"hmac");
    w(2, sys::CKM_SHA512_HMAC, &[0], b"hmac");
    w(0, sys::CKM_SHA256, &[0], b"digest");
    w(0, sys::CKM_SHA384, &[0], b"digest");
    w(0, sys::CKM_SHA512, &[0], b"digest");
    w(0, sys::CKM_AES_KEY_WRAP, &[8], &[0x44; 24]);
    w(1, sys::CKM_AES_KEY_WRAP_PAD, &[8], &[0x44; 24]);
    w(3, sys::CKM_AES_KEY_WRAP_KWP, &[0], &[0x44; 24]);
    w(0, sys::CKM_AES_KEY_GEN, &[0], b"");
}

fn blobs(dir: &Path) {
    let w = |name: &str, e: &Enc| write(dir, "blobs", name, &e.0);
    // Case byte: low 3 bits = case, bit 3 = session key (else rotating), bits 4-5 = ask.
    for (key, tag) in [(0u8, "rot"), (0x08, "session")] {
        let mut e = Enc::default();
        e.u8(key).blob(&[7; 12]).blob(b"aad").u8(4);
        e.u8(0).blob(b"gcm plaintext").u8(0);
        w(&format!("gcm_{tag}"), &e);

        let mut e = Enc::default();
        e.u8(key | 0x20).blob(&[7; 16]).blob(b"").u8(0);
        e.u8(0).blob(b"sixteen-byte iv").u8(1).u8(0).u16(3).u8(0x80);
        w(&format!("gcm_edited_{tag}"), &e);

        let mut e = Enc::default();
        e.u8(key | 2).bytes(&[8; 16]).u8(0).blob(b"cbc pad").u8(0);
        w(&format!("cbc_pad_{tag}"), &e);

        let mut e = Enc::default();
        e.u8(key | 0x12).bytes(&[8; 16]).u8(1).blob16(&[9; 32]);
        w(&format!("cbc_pad_raw_{tag}"), &e);

        let mut e = Enc::default();
        e.u8(key | 3).blob(b"ctx").u8(0).blob(b"envelope").u8(0);
        w(&format!("envelope_{tag}"), &e);

        let mut e = Enc::default();
        e.u8(key | 5).blob(b"aad").u8(0).blob(&[6; 12]).u8(4);
        e.blob(b"message").u8(0).u8(3);
        w(&format!("message_{tag}"), &e);

        let mut e = Enc::default();
        e.u8(key | 5).blob(b"").u8(1).blob16(&[1; 20]);
        e.u8(0x20).blob(&[6; 12]).u8(0).u8(0).u8(0);
        w(&format!("message_raw_{tag}"), &e);

        for (wrap, name) in [(1u8, "kw"), (0, "kwp")] {
            let mut e = Enc::default();
            e.u8(key | 6).u8(wrap).u8(1).u8(0).blob(b"").u8(0);
            w(&format!("unwrap_{name}_{tag}"), &e);
        }
    }
}

fn store_records(dir: &Path) {
    let w = |name: &str, sel: u8, body: &[u8]| {
        write(
            dir,
            "store_records",
            name,
            &[[sel].as_slice(), body].concat(),
        );
    };
    // Objects: a data object and an AES key, as the store would hold them.
    let data = [
        TemplateAttr::ulong(sys::CKA_CLASS, sys::CKO_DATA),
        TemplateAttr::bool(sys::CKA_TOKEN, true),
        TemplateAttr::bytes(sys::CKA_LABEL, b"stored"),
        TemplateAttr::bytes(sys::CKA_VALUE, b"data value"),
    ];
    let mut o = Object::from_template(&data, Origin::Create, None, false).expect("data object");
    o.set_unique_id("00ff");
    w(
        "object_data",
        0,
        &[[0xFF].as_slice(), &o.encode_public()].concat(),
    );
    let key = [
        TemplateAttr::ulong(sys::CKA_CLASS, sys::CKO_SECRET_KEY),
        TemplateAttr::ulong(sys::CKA_KEY_TYPE, sys::CKK_AES),
        TemplateAttr::bool(sys::CKA_TOKEN, true),
        TemplateAttr::bytes(sys::CKA_VALUE, &[0x42; 16]),
        TemplateAttr::bytes(sys::CKA_START_DATE, b"20250101"),
        TemplateAttr::ulongs(sys::CKA_ALLOWED_MECHANISMS, &[sys::CKM_AES_GCM]),
    ];
    let mut o = Object::from_template(&key, Origin::Create, None, false).expect("key");
    o.set_unique_id("0a0b");
    let enc = o.encode_public();
    w("object_key", 0, &[[16].as_slice(), &enc].concat());
    w(
        "object_key_no_secret",
        0,
        &[[0xFF].as_slice(), &enc].concat(),
    );

    // Wrapped storage key: magic, version, m/t/p (BE), salt, blob (format 1).
    let mut wk = b"KRWK".to_vec();
    wk.push(1);
    for v in [64u32, 2, 1] {
        wk.extend_from_slice(&v.to_be_bytes());
    }
    wk.extend_from_slice(&[0x5A; 16]);
    wk.push(1);
    wk.extend_from_slice(&[0x6B; 12 + 32 + 16]);
    w("wrapped_storage_key", 1, &wk);

    let mut env = envelope::header(3).to_vec();
    env.extend_from_slice(&envelope::version_iv(3, 9));
    env.extend_from_slice(&[0xCC; 24]);
    w("envelope", 2, &env);
    w("data_key_blob", 3, &[2, 0, 0, 0, 7, 1, 2, 3]);

    let p = Policy {
        cron: Some("0 3 * * MON".into()),
        ..Policy::default()
    };
    w("policy_default", 4, Policy::default().to_json().as_bytes());
    w("policy_cron", 4, p.to_json().as_bytes());

    let conf = "[log]\nlevel = \"info\"\ndestination = \"stderr\"\n\n[defaults]\n\
                rotation_period = \"90d\"\ngrace_period = \"30d\"\nretention = \"365d\"\n\n\
                [[slot]]\nid = 0\nlabel = \"keyrotor\"\nbackend = \"software\"\n\
                store = \"sqlite:/tmp/x.sqlite\"\nmax_sessions = 4\npin_min_len = 4\n\
                pin_max_len = 64\nmax_login_failures = 3\n";
    w("config_full", 5, conf.as_bytes());
    w(
        "config_bad",
        5,
        b"[[slot]]\nlabel = 7\nbackend = \"h\xc3\xa9\"\n",
    );

    let t: i64 = 1_750_000_000_000;
    for (i, expr) in [
        "*/15 * * * *",
        "0 0 29 2 *",
        "@weekly",
        "30 12 1,15 JAN-MAR MON-FRI",
        "5-55/10 */3 * * 7",
    ]
    .iter()
    .enumerate()
    {
        let mut v = t.to_le_bytes().to_vec();
        v.extend_from_slice(expr.as_bytes());
        w(&format!("cron_{i}"), 6, &v);
    }
    let mut v = (-86_400_000i64).to_le_bytes().to_vec();
    v.extend_from_slice(b"59 23 31 12 *");
    w("cron_negative", 6, &v);
}

fn main() {
    let out = std::env::args().nth(1).unwrap_or_else(|| "seeds".into());
    let dir = Path::new(&out);
    templates(dir);
    mech_params(dir);
    blobs(dir);
    store_records(dir);
    println!("seeds written to {}", dir.display());
}

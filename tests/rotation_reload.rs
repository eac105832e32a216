//! Keys created, rotated and destroyed by another process (the `keyrotor`
//! CLI) show up in a running library within about a second, through the
//! reload that reads only the keys changed since the last one, and the keys
//! nobody touched keep their handles and keep working meanwhile.

#[macro_use]
mod common;
mod rotation_support;

use std::time::Duration;

use common::sys::*;
use common::template::{Mech, Template};
use common::TestToken;
use rotation_support::*;

/// A rotation period that never comes due during a test.
const HOUR: CK_ULONG = 3600;
/// How long another process's change may take to show here.
const SEE: Duration = Duration::from_secs(3);

fn labelled(tok: &TestToken, s: CK_SESSION_HANDLE, label: &str) -> Vec<CK_OBJECT_HANDLE> {
    let mut t = Template::new().bytes(CKA_LABEL, label.as_bytes());
    tok.raw.find(s, Some(&mut t), 8)
}

#[test]
fn keys_made_rotated_and_destroyed_elsewhere_appear_and_vanish_here() {
    let tok = TestToken::new();
    let r = &tok.raw;
    let s = tok.user_session();
    let mut keys = Vec::new();
    for i in 0..5 {
        let name = format!("reload-{i}");
        let k = generate_key(r, s, &name, &[(ROTATION_PERIOD, HOUR)])
            .unwrap_or_else(|rv| panic!("C_GenerateKey({name}): {}", rv_name(rv)));
        keys.push(k);
    }
    let iv = [7u8; 12];
    let ct = r
        .encrypt(s, &mut Mech::gcm(&iv, b"", 128), keys[0], b"kept")
        .expect("encrypt with reload-0");

    // Made elsewhere: appears.
    cli_ok(&tok.conf, &["key", "create", "reload-new"]);
    let seen = poll(SEE, || {
        (labelled(&tok, s, "reload-new").len() == 1).then_some(())
    });
    assert!(
        seen.is_some(),
        "a key the CLI created did not appear within {SEE:?}"
    );

    // Rotated elsewhere: the new version appears, the others are untouched.
    cli_ok(&tok.conf, &["key", "rotate", "reload-3"]);
    let seen = poll(SEE, || {
        (labelled(&tok, s, "reload-3@v2").len() == 1).then_some(())
    });
    assert!(
        seen.is_some(),
        "v2 of reload-3 did not appear within {SEE:?}"
    );
    for (i, k) in keys.iter().enumerate() {
        assert_eq!(
            labelled(&tok, s, &format!("reload-{i}")),
            [*k],
            "reload-{i} keeps its handle"
        );
    }

    // Destroyed elsewhere: vanishes, with its version objects.
    cli_ok(&tok.conf, &["key", "destroy", "reload-1", "--yes"]);
    let gone = poll(SEE, || {
        (labelled(&tok, s, "reload-1").is_empty() && labelled(&tok, s, "reload-1@v1").is_empty())
            .then_some(())
    });
    assert!(
        gone.is_some(),
        "a key the CLI destroyed was still found after {SEE:?}"
    );
    assert_eq!(labelled(&tok, s, "reload-new").len(), 1);

    // The untouched key still decrypts what it encrypted before all this.
    assert_eq!(
        r.decrypt(s, &mut Mech::gcm(&iv, b"", 128), keys[0], &ct)
            .expect("decrypt with reload-0"),
        b"kept"
    );
}

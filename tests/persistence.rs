//! Token objects persist in the store: a key created in this process is found
//! and decrypts data in another process opening the same store; its bytes
//! never appear in the SQLite files; re-initialising the token removes all
//! objects.

#[macro_use]
mod common;

use std::path::Path;
use std::process::Command;

use common::sys::*;
use common::{Mech, Template, TestToken, SO_PIN, USER_PIN};

/// Environment of the child: the store directory, the ciphertext to decrypt.
const ENV_DIR: &str = "KEYROTOR_TEST_PERSIST_DIR";
const ENV_CT: &str = "KEYROTOR_TEST_PERSIST_CT";
/// Printed by the child when everything held, so the parent knows it ran.
const CHILD_OK: &str = "KEYROTOR-PERSISTENCE-CHILD-OK";

/// An arbitrary key, unlikely to appear in a file by chance.
const KEY: &str = "3f0a8c1d5e7b92a4c6d8e0f1a3b5c7d9e1f3a5b7c9d1e3f5a7b9c1d3e5f7a9b1";
const LABEL: &[u8] = b"persisted-key";
const IV: [u8; 12] = [0x42; 12];
const PLAINTEXT: &[u8] = b"written by the parent process";

/// Every store file (`slot0.sqlite`, `-wal`, `-shm`, journals).
fn store_files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut v: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("slot0.sqlite"))
        })
        .collect();
    v.sort();
    v
}

/// Asserts that no file holds the key: not its 32 bytes, no 8-byte window
/// of them, not its hex text.
fn assert_key_absent(dir: &Path, when: &str) {
    let key = common::vectors::h(KEY);
    let files = store_files(dir);
    assert!(
        files.iter().any(|p| p.ends_with("slot0.sqlite")),
        "store file exists: {files:?}"
    );
    for f in &files {
        let data = std::fs::read(f).unwrap();
        for w in key.windows(8) {
            assert!(
                !data.windows(8).any(|d| d == w),
                "{when}: {} contains 8 bytes of the key ({})",
                f.display(),
                hex::encode(w)
            );
        }
        let text = String::from_utf8_lossy(&data).to_lowercase();
        assert!(
            !text.contains(KEY),
            "{when}: {} contains the key as hex text",
            f.display()
        );
    }
}

#[test]
fn token_key_is_found_and_used_by_another_process() {
    let tok = TestToken::new();
    let r = &tok.raw;
    let s = tok.user_session();
    let extra = Template::new()
        .bytes(CKA_LABEL, LABEL)
        .bool(CKA_ENCRYPT, true)
        .bool(CKA_DECRYPT, true)
        .bool(CKA_SENSITIVE, true)
        .bool(CKA_EXTRACTABLE, false);
    let k = r.secret_key(s, CKK_AES, &common::vectors::h(KEY), true, extra);
    let ct = r
        .encrypt(s, &mut Mech::gcm(&IV, b"aad", 128), k, PLAINTEXT)
        .expect("encrypt");
    assert_key_absent(&tok.path, "while the library runs");

    let out = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "child_reader", "--ignored", "--nocapture"])
        .env(ENV_DIR, &tok.path)
        .env(ENV_CT, hex::encode(&ct))
        .output()
        .expect("spawn the child test");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stdout.contains(CHILD_OK),
        "child failed ({}):\n{stdout}\n{stderr}",
        out.status
    );

    // The parent still uses the key after the child wrote to the store too.
    assert_eq!(
        r.decrypt(s, &mut Mech::gcm(&IV, b"aad", 128), k, &ct)
            .unwrap(),
        PLAINTEXT
    );
    assert_rv!(r.finalize(), CKR_OK);
    assert_key_absent(&tok.path, "after C_Finalize");
}

#[test]
fn the_key_search_finds_a_planted_key() {
    // The check above must be able to fail: plant the key in a fake store.
    let dir = tempfile::tempdir().unwrap();
    let mut junk = vec![0x5au8; 1000];
    junk.extend(common::vectors::h(KEY));
    junk.extend([0xa5u8; 1000]);
    std::fs::write(dir.path().join("slot0.sqlite"), &junk).unwrap();
    let found = std::panic::catch_unwind(|| assert_key_absent(dir.path(), "planted"));
    assert!(
        found.is_err(),
        "a plaintext key in the store file must be detected"
    );
}

#[test]
#[ignore = "run in a child process by token_key_is_found_and_used_by_another_process"]
fn child_reader() {
    let (Some(dir), Some(ct)) = (std::env::var_os(ENV_DIR), std::env::var(ENV_CT).ok()) else {
        eprintln!(
            "child_reader only runs as the child of token_key_is_found_and_used_by_another_process"
        );
        return;
    };
    let ct = hex::decode(ct).unwrap();
    let tok = TestToken::attach(Path::new(&dir));
    let r = &tok.raw;
    let ti = r.token_info(tok.slot);
    assert_ne!(
        ti.flags & CKF_TOKEN_INITIALIZED,
        0,
        "the token is initialised in the store"
    );
    let s = tok.user_session();
    let mut t = Template::new().bytes(CKA_LABEL, LABEL);
    let found = r.find(s, Some(&mut t), 8);
    assert_eq!(found.len(), 1, "the parent's key by label");
    let k = found[0];
    assert_eq!(r.attr_bool(s, k, CKA_TOKEN), Ok(true));
    assert_eq!(
        r.attr(s, k, CKA_VALUE),
        Err(CKR_ATTRIBUTE_SENSITIVE),
        "still sensitive"
    );
    assert_eq!(
        r.decrypt(s, &mut Mech::gcm(&IV, b"aad", 128), k, &ct)
            .unwrap(),
        PLAINTEXT,
        "decrypts the parent's data"
    );
    // Before login it is private and invisible.
    assert_rv!(ck!(r, C_Logout(s)), CKR_OK);
    assert!(r
        .find(s, Some(&mut Template::new().bytes(CKA_LABEL, LABEL)), 8)
        .is_empty());
    println!("{CHILD_OK}");
}

#[test]
fn reinitialising_the_token_removes_all_objects() {
    let tok = TestToken::new();
    let r = &tok.raw;
    let s = tok.user_session();
    for i in 0..3u8 {
        r.secret_key(
            s,
            CKK_AES,
            &[i; 16],
            true,
            Template::new().bytes(CKA_LABEL, format!("token-{i}").as_bytes()),
        );
    }
    r.secret_key(
        s,
        CKK_AES,
        &[9; 16],
        true,
        Template::new()
            .bool(CKA_PRIVATE, false)
            .bytes(CKA_LABEL, b"public"),
    );
    assert_eq!(r.find(s, None, 16).len(), 4);
    assert_rv!(ck!(r, C_CloseAllSessions(tok.slot)), CKR_OK);

    tok.init_token();
    let s = tok.user_session();
    assert!(
        r.find(s, None, 16).is_empty(),
        "no object after C_InitToken"
    );
    // Not in the store either: a fresh library instance finds nothing.
    assert_rv!(r.finalize(), CKR_OK);
    assert_rv!(r.init_conf(&tok.conf), CKR_OK);
    let s = r.open(tok.slot, true);
    assert!(
        r.find(s, None, 16).is_empty(),
        "no public object in the store after C_InitToken"
    );
    assert_rv!(r.login(s, CKU_USER, USER_PIN), CKR_OK);
    assert!(
        r.find(s, None, 16).is_empty(),
        "no private object in the store after C_InitToken"
    );
    // The old PIN set still works as configured by init_token.
    assert_rv!(ck!(r, C_Logout(s)), CKR_OK);
    assert_rv!(r.login(s, CKU_SO, SO_PIN), CKR_OK);
}

//! Tests of the pure chain logic: pinned hash vectors, linking, and each kind of tampering.

use super::*;

fn draft(event: &str, key_name: Option<&str>, version: Option<u32>, detail: &str) -> AuditDraft {
    AuditDraft {
        at: 1_700_000_000_000,
        actor: "so".into(),
        event: event.into(),
        key_name: key_name.map(Into::into),
        version,
        detail: detail.into(),
    }
}

fn chain(n: u64) -> Vec<AuditEntry> {
    let mut out: Vec<AuditEntry> = Vec::new();
    for i in 0..n {
        let last = out.last().map(|e| (e.seq, e.hash));
        let d = draft(
            "key.rotate",
            Some("k"),
            Some(i as u32),
            &format!("{{\"i\":{i}}}"),
        );
        out.push(next_entry("tok", last, &d).unwrap());
    }
    out
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

#[test]
fn known_vectors() {
    // Computed independently (Python hashlib) from the encoding in the module docs; a change
    // here breaks the verification of every existing log.
    let first = next_entry("tok", None, &draft("token.init", None, None, "{}")).unwrap();
    assert_eq!(first.seq, 1);
    assert_eq!(first.prev_hash, [0u8; 32]);
    assert_eq!(
        first.hash.to_vec(),
        unhex("4eba72f844b8662dd35f35d10f57f8ae5b3ff77a8a6129ea12a73894fb6ac379")
    );
    let mut d = draft(
        "key.rotate",
        Some("db-key"),
        Some(3),
        "{\"reason\":\"period\"}",
    );
    d.at = -5;
    d.actor = "manager".into();
    let second = next_entry("tok", Some((first.seq, first.hash)), &d).unwrap();
    assert_eq!(second.seq, 2);
    assert_eq!(second.prev_hash, first.hash);
    assert_eq!(
        second.hash.to_vec(),
        unhex("499498f4a03b6f0d29cdc19fafd75b3a1c3284eca79c1c3f93d591c3726d0bba")
    );
    assert_eq!(second.draft(), d);
}

#[test]
fn hash_binds_every_field_and_the_token() {
    let base = chain(1).remove(0);
    let h = base.hash;
    assert_eq!(entry_hash("tok", &base), h);
    assert_ne!(entry_hash("tok2", &base), h);
    type Change = Box<dyn Fn(&mut AuditEntry)>;
    let variants: Vec<Change> = vec![
        Box::new(|e| e.seq += 1),
        Box::new(|e| e.at += 1),
        Box::new(|e| e.actor.push('x')),
        Box::new(|e| e.event.push('x')),
        Box::new(|e| e.key_name = None),
        Box::new(|e| e.key_name = Some(String::new())),
        Box::new(|e| e.version = None),
        Box::new(|e| e.version = Some(1)),
        Box::new(|e| e.detail.push(' ')),
        Box::new(|e| e.prev_hash[31] ^= 1),
    ];
    for (i, change) in variants.iter().enumerate() {
        let mut e = base.clone();
        change(&mut e);
        assert_ne!(entry_hash("tok", &e), h, "variant {i} not bound");
    }
    // The stored hash itself is not an input.
    let mut e = base.clone();
    e.hash = [9; 32];
    assert_eq!(entry_hash("tok", &e), h);
    // Length prefixes keep field boundaries: ("ab","c") differs from ("a","bc").
    let mut a = base.clone();
    (a.actor, a.event) = ("ab".into(), "c".into());
    let mut b = base;
    (b.actor, b.event) = ("a".into(), "bc".into());
    assert_ne!(entry_hash("tok", &a), entry_hash("tok", &b));
}

#[test]
fn intact_chain_verifies() {
    let entries = chain(5);
    let r = verify("tok", &entries);
    assert_eq!(
        r,
        VerifyReport {
            ok: true,
            entries: 5,
            problems: vec![]
        }
    );
    assert!(verify("tok", &[]).ok);
    // The same rows checked as another token's chain fail everywhere.
    let r = verify("other", &entries);
    assert!(!r.ok);
    assert_eq!(r.problems.len(), 5);
}

#[test]
fn edited_entry_is_named() {
    let mut entries = chain(5);
    entries[2].detail = "{\"i\":99}".into();
    let r = verify("tok", &entries);
    assert!(!r.ok);
    assert_eq!(r.problems.len(), 1, "{:?}", r.problems);
    assert_eq!(r.problems[0].seq, 3);
    assert_eq!(r.problems[0].kind, ProblemKind::HashMismatch);
    assert!(r.problems[0].message.contains("entry 3"));
}

#[test]
fn removed_entries_are_named() {
    let mut entries = chain(6);
    entries.remove(2); // seq 3
    let r = verify("tok", &entries);
    assert!(!r.ok);
    let gap = &r.problems[0];
    assert_eq!(gap.seq, 4);
    assert_eq!(
        gap.kind,
        ProblemKind::SeqGap {
            expected: 3,
            found: 4
        }
    );
    assert!(
        gap.message.contains("entry 3 is missing"),
        "{}",
        gap.message
    );
    assert_eq!(r.problems[1].kind, ProblemKind::PrevHashMismatch);
    assert_eq!(r.problems.len(), 2);

    let mut entries = chain(6);
    entries.drain(1..4); // seq 2..=4
    let r = verify("tok", &entries);
    assert!(r.problems[0].message.contains("entries 2 to 4"));

    // Removing the first entry: the new first entry does not start the chain.
    let entries = chain(3)[1..].to_vec();
    let r = verify("tok", &entries);
    assert_eq!(
        r.problems[0].kind,
        ProblemKind::SeqGap {
            expected: 1,
            found: 2
        }
    );
    assert!(r.problems[1].message.contains("does not start the chain"));
}

#[test]
fn reordered_entries_are_detected() {
    let mut entries = chain(5);
    entries.swap(1, 3);
    let r = verify("tok", &entries);
    assert!(!r.ok);
    assert!(r.problems.iter().any(|p| matches!(
        p.kind,
        ProblemKind::SeqGap {
            expected: 2,
            found: 4
        }
    )));
    // Renumbering rows to hide the swap breaks their hashes instead.
    let mut entries = chain(5);
    entries.swap(1, 3);
    entries[1].seq = 2;
    entries[3].seq = 4;
    let r = verify("tok", &entries);
    let hash_bad: Vec<u64> = r
        .problems
        .iter()
        .filter(|p| p.kind == ProblemKind::HashMismatch)
        .map(|p| p.seq)
        .collect();
    assert_eq!(hash_bad, [2, 4]);
}

#[test]
fn next_entry_refuses_non_json_detail() {
    let e = next_entry("tok", None, &draft("x", None, None, "not json")).unwrap_err();
    assert!(matches!(e, Error::Internal(_)), "{e}");
    assert!(next_entry("tok", None, &draft("x", None, None, "")).is_err());
    assert!(next_entry(
        "tok",
        Some((u64::MAX, [0; 32])),
        &draft("x", None, None, "{}")
    )
    .is_err());
}

#[test]
fn json_lines_parse_and_carry_every_field() {
    let mut entries = chain(2);
    entries[1].key_name = None;
    entries[1].version = None;
    entries[1].actor = "cli:\"root\"\n".into();
    for e in &entries {
        let line = to_json_line(e);
        assert!(!line.contains('\n'));
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["seq"], e.seq);
        assert_eq!(v["at"], e.at);
        assert_eq!(v["actor"], e.actor.as_str());
        assert_eq!(v["event"], "key.rotate");
        assert_eq!(v["hash"].as_str().unwrap(), {
            let h: String = e.hash.iter().map(|b| format!("{b:02x}")).collect();
            h
        });
        assert_eq!(v["prev_hash"].as_str().unwrap().len(), 64);
    }
    let v: serde_json::Value = serde_json::from_str(&to_json_line(&entries[0])).unwrap();
    assert_eq!(v["key_name"], "k");
    assert_eq!(v["version"], 0);
    assert_eq!(v["detail"]["i"], 0);
    let v: serde_json::Value = serde_json::from_str(&to_json_line(&entries[1])).unwrap();
    assert!(v["key_name"].is_null() && v["version"].is_null());
    // A detail that no longer parses (edited by hand) is exported as a string.
    let mut odd = entries[0].clone();
    odd.detail = "{broken".into();
    let v: serde_json::Value = serde_json::from_str(&to_json_line(&odd)).unwrap();
    assert_eq!(v["detail"], "{broken");
    assert_eq!(
        to_json_line(&entries[0]),
        format!(
            "{{\"seq\":1,\"at\":1700000000000,\"actor\":\"so\",\"event\":\"key.rotate\",\
             \"key_name\":\"k\",\"version\":0,\"detail\":{{\"i\":0}},\"prev_hash\":\"{}\",\
             \"hash\":\"{}\"}}",
            "0".repeat(64),
            entries[0]
                .hash
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<String>()
        )
    );
}

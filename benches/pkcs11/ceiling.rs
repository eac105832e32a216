//! [ceiling] The in-process upper bound: the same AES-256-GCM operation with aws-lc-rs
//! (`LessSafeKey::seal_in_place_separate_tag`, and `open_separate_gather` for decrypt), no
//! PKCS#11 in between, 1 and 2 threads.

use crate::rows::Row;
use crate::scen_gcm::{SIZES, THREADS};
use crate::stats::{measure, Plan};
use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM};

/// Label of the ceiling rows (also the table column heading).
pub const NAME: &str = "ceiling (aws-lc-rs)";

fn key() -> Result<LessSafeKey, String> {
    let bytes = [0x42u8; 32];
    UnboundKey::new(&AES_256_GCM, &bytes)
        .map(LessSafeKey::new)
        .map_err(|_| "aws-lc-rs: bad key".to_string())
}

/// Runs the ceiling measurements.
pub fn ceiling(plan: &Plan) -> Vec<Row> {
    let mut rows = Vec::new();
    let key = match key() {
        Ok(k) => k,
        Err(e) => return vec![Row::error("ceiling", "aws-lc-rs AES-256-GCM", e)],
    };
    for size in SIZES {
        let n = size as usize;
        // Ciphertext and tag for the decrypt loop.
        let mut ct = vec![0x5au8; n];
        let tag = key
            .seal_in_place_separate_tag(
                Nonce::assume_unique_for_key([7; 12]),
                Aad::empty(),
                &mut ct,
            )
            .map(|t| t.as_ref().to_vec());
        for threads in THREADS {
            let enc = measure(
                plan,
                threads as usize,
                |i| Ok((vec![0x5au8; n], (i as u64) << 56)),
                |(buf, ctr): &mut (Vec<u8>, u64)| {
                    *ctr += 1;
                    let mut iv = [0u8; 12];
                    iv[4..].copy_from_slice(&ctr.to_le_bytes());
                    key.seal_in_place_separate_tag(
                        Nonce::assume_unique_for_key(iv),
                        Aad::empty(),
                        buf,
                    )
                    .map(|_| ())
                    .map_err(|_| "seal failed".to_string())
                },
            );
            rows.push(
                Row::measured(
                    "ceiling",
                    "aws-lc-rs AES-256-GCM enc",
                    Some(size),
                    threads,
                    enc,
                )
                .with_ceiling("enc"),
            );
            let dec = match &tag {
                Err(_) => Err("preparing ciphertext: seal failed".to_string()),
                Ok(tag) => measure(
                    plan,
                    threads as usize,
                    |_| Ok(vec![0u8; n]),
                    |out: &mut Vec<u8>| {
                        key.open_separate_gather(
                            Nonce::assume_unique_for_key([7; 12]),
                            Aad::empty(),
                            &ct,
                            tag,
                            out,
                        )
                        .map_err(|_| "open failed".to_string())
                    },
                ),
            };
            rows.push(
                Row::measured(
                    "ceiling",
                    "aws-lc-rs AES-256-GCM dec",
                    Some(size),
                    threads,
                    dec,
                )
                .with_ceiling("dec"),
            );
        }
    }
    rows
}

//! [ceiling] The in-process upper bound: the same AES-256-GCM operation with aws-lc-rs
//! (`LessSafeKey::seal_in_place_separate_tag`, and `open_separate_gather` for decrypt), no
//! PKCS#11 in between, 1 and 2 threads. The first module's worker measures it in alternating
//! repeats with its own GCM loops (see `stats::measure_paired`); `ceiling()` is the standalone
//! run used when no module ran [gcm].

use crate::rows::Row;
use crate::scen_gcm::{SIZES, THREADS};
use crate::stats::{measure, Measurement, Plan};
use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM};

/// Column heading of the ceiling.
pub const NAME: &str = "ceiling (aws-lc-rs)";
/// Nonce of the one ciphertext the decrypt loops open over and over.
const DEC_NONCE: [u8; 12] = [7; 12];

/// An AES-256-GCM key held in process.
pub struct Ceiling {
    key: LessSafeKey,
}

/// Per-thread state of the encrypt loop: the buffer sealed in place and an IV counter.
pub struct EncState {
    buf: Vec<u8>,
    ctr: u64,
}

/// Per-thread state of the decrypt loop.
pub struct DecState {
    ct: Vec<u8>,
    tag: Vec<u8>,
    out: Vec<u8>,
}

impl Ceiling {
    /// A fixed benchmark key.
    pub fn new() -> Result<Ceiling, String> {
        let bytes = [0x42u8; 32];
        UnboundKey::new(&AES_256_GCM, &bytes)
            .map(|k| Ceiling {
                key: LessSafeKey::new(k),
            })
            .map_err(|_| "aws-lc-rs: bad key".to_string())
    }

    /// State for thread `thread` encrypting `n`-byte messages.
    pub fn make_enc(&self, thread: usize, n: usize) -> Result<EncState, String> {
        Ok(EncState {
            buf: vec![0x5a; n],
            ctr: (thread as u64) << 56,
        })
    }

    /// One seal with a fresh IV.
    pub fn enc(&self, s: &mut EncState) -> Result<(), String> {
        s.ctr += 1;
        let mut iv = [0u8; 12];
        // 12-byte array: bytes 4..12 are exactly the 8 of a u64, so this cannot panic.
        iv[4..].copy_from_slice(&s.ctr.to_le_bytes());
        self.key
            .seal_in_place_separate_tag(Nonce::assume_unique_for_key(iv), Aad::empty(), &mut s.buf)
            .map(|_| ())
            .map_err(|_| "aws-lc-rs seal failed".to_string())
    }

    /// State for decrypting one `n`-byte message (sealed here, untimed).
    pub fn make_dec(&self, n: usize) -> Result<DecState, String> {
        let mut ct = vec![0x5au8; n];
        let tag = self
            .key
            .seal_in_place_separate_tag(
                Nonce::assume_unique_for_key(DEC_NONCE),
                Aad::empty(),
                &mut ct,
            )
            .map_err(|_| "aws-lc-rs seal failed".to_string())?;
        Ok(DecState {
            ct,
            tag: tag.as_ref().to_vec(),
            out: vec![0u8; n],
        })
    }

    /// One open (tag verified) into the output buffer.
    pub fn dec(&self, s: &mut DecState) -> Result<(), String> {
        self.key
            .open_separate_gather(
                Nonce::assume_unique_for_key(DEC_NONCE),
                Aad::empty(),
                &s.ct,
                &s.tag,
                &mut s.out,
            )
            .map_err(|_| "aws-lc-rs open failed".to_string())
    }
}

/// The ceiling row for an encrypt ("enc") or decrypt ("dec") measurement.
pub fn row(op: &str, size: u64, threads: u32, r: Result<Measurement, String>) -> Row {
    Row::measured(
        "ceiling",
        format!("aws-lc-rs AES-256-GCM {op}"),
        Some(size),
        threads,
        r,
    )
    .with_ceiling(op)
}

/// Standalone ceiling run (all sizes × threads × enc/dec).
pub fn ceiling(plan: &Plan) -> Vec<Row> {
    let c = match Ceiling::new() {
        Ok(c) => c,
        Err(e) => return vec![Row::error("ceiling", "aws-lc-rs AES-256-GCM", e)],
    };
    let mut rows = Vec::new();
    for size in SIZES {
        let n = size as usize;
        for threads in THREADS {
            let t = threads as usize;
            rows.push(row(
                "enc",
                size,
                threads,
                measure(plan, t, |i| c.make_enc(i, n), |s| c.enc(s)),
            ));
            rows.push(row(
                "dec",
                size,
                threads,
                measure(plan, t, |_| c.make_dec(n), |s| c.dec(s)),
            ));
        }
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enc_and_dec_states_work() {
        let c = Ceiling::new().expect("key");
        let mut e = c.make_enc(1, 64).expect("enc state");
        c.enc(&mut e).expect("seal");
        assert_ne!(e.buf, vec![0x5a; 64]);
        let mut d = c.make_dec(64).expect("dec state");
        c.dec(&mut d).expect("open");
        assert_eq!(d.out, vec![0x5a; 64]);
        d.tag[0] ^= 1;
        assert!(c.dec(&mut d).is_err());
    }
}

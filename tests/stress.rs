//! Stress: 16 threads doing a random mix of PKCS#11 work on one token for
//! about 10 s — open/close sessions, login/logout (login is per application,
//! so threads race on it), create/destroy session, private and token
//! objects, AES-GCM encrypt/decrypt (single-part and the 3.0 message API)
//! with every round trip checked, and find. Every return value is counted
//! by function and code; only the codes the specification allows for the
//! race may appear. A watchdog aborts the process after 60 s (deadlock).

#[macro_use]
mod common;

#[path = "torture/support.rs"]
mod support;

use std::collections::BTreeMap;
use std::ptr::null_mut;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::sys::*;
use common::{rv_name, GcmMsg, Mech, Template, TestToken, USER_PIN};
use support::*;

const THREADS: usize = 16;
const RUN: Duration = Duration::from_secs(10);
const WATCHDOG: Duration = Duration::from_secs(60);

type Counts = BTreeMap<(&'static str, CK_RV), u64>;

/// The codes each counted call may return under the race.
fn allowed(what: &str) -> &'static [CK_RV] {
    match what {
        // Login state is shared by all sessions of the application (§5.6):
        // another thread may have logged in or out first.
        "C_Login" => &[CKR_OK, CKR_USER_ALREADY_LOGGED_IN],
        "C_Logout" => &[CKR_OK, CKR_USER_NOT_LOGGED_IN],
        // A private object needs a logged-in user; another thread's logout
        // destroys private session objects (§5.6 C_Logout).
        "C_CreateObject(private key)" => &[CKR_OK, CKR_USER_NOT_LOGGED_IN],
        "C_DestroyObject(private key)" => &[CKR_OK, CKR_OBJECT_HANDLE_INVALID],
        _ => &[CKR_OK],
    }
}

/// One worker's view: its own copy of the function list and its objects.
struct Worker {
    f: CK_FUNCTION_LIST_3_0,
    slot: CK_SLOT_ID,
    home: CK_SESSION_HANDLE,
    key: CK_OBJECT_HANDLE,
    label: Vec<u8>,
    rng: u64,
    counts: Counts,
    data: Vec<CK_OBJECT_HANDLE>,
    private: Vec<CK_OBJECT_HANDLE>,
    token: Vec<CK_OBJECT_HANDLE>,
    ops: u64,
}

impl Worker {
    fn next(&mut self) -> u64 {
        // xorshift64*: cheap, reproducible per thread.
        self.rng ^= self.rng >> 12;
        self.rng ^= self.rng << 25;
        self.rng ^= self.rng >> 27;
        self.rng.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: u64) -> usize {
        (self.next() % n) as usize
    }

    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }

    fn count(&mut self, what: &'static str, rv: CK_RV) -> CK_RV {
        *self.counts.entry((what, rv)).or_insert(0) += 1;
        rv
    }

    fn create(&mut self, what: &'static str, mut t: Template) -> Option<CK_OBJECT_HANDLE> {
        let mut o = 0;
        let rv = ck!(self, C_CreateObject(self.home, t.ptr(), t.count(), &mut o));
        (self.count(what, rv) == CKR_OK).then_some(o)
    }

    fn destroy(&mut self, what: &'static str, o: CK_OBJECT_HANDLE) {
        let rv = ck!(self, C_DestroyObject(self.home, o));
        self.count(what, rv);
    }

    /// Takes a random element out of one of the worker's object lists.
    fn take(list: &mut Vec<CK_OBJECT_HANDLE>, i: usize) -> Option<CK_OBJECT_HANDLE> {
        (!list.is_empty()).then(|| list.swap_remove(i % list.len()))
    }

    fn gcm_round_trip(&mut self) {
        let n = self.below(300);
        let na = self.below(40);
        let (p, iv, aad) = (self.bytes(n), self.bytes(12), self.bytes(na));
        let mut ct = vec![0u8; n + 16];
        let mut m = Mech::gcm(&iv, &aad, 128);
        let rv = ck!(self, C_EncryptInit(self.home, m.ptr(), self.key));
        if self.count("C_EncryptInit", rv) != CKR_OK {
            return;
        }
        let mut len = ct.len() as CK_ULONG;
        let (pp, pl) = inp(&p);
        let rv = ck!(
            self,
            C_Encrypt(self.home, pp, pl, ct.as_mut_ptr(), &mut len)
        );
        if self.count("C_Encrypt", rv) != CKR_OK {
            return;
        }
        let mut back = vec![0u8; n + 1];
        let rv = ck!(self, C_DecryptInit(self.home, m.ptr(), self.key));
        if self.count("C_DecryptInit", rv) != CKR_OK {
            return;
        }
        let mut blen = back.len() as CK_ULONG;
        let rv = ck!(
            self,
            C_Decrypt(
                self.home,
                ct.as_mut_ptr(),
                len,
                back.as_mut_ptr(),
                &mut blen
            )
        );
        if self.count("C_Decrypt", rv) == CKR_OK {
            assert_eq!(
                &back[..blen as usize],
                &p[..],
                "GCM round trip under stress"
            );
        }
    }

    fn message_round_trip(&mut self) {
        let n = self.below(200);
        let (p, aad) = (self.bytes(n), self.bytes(16));
        let (ap, al) = inp(&aad);
        let mut m = GcmMsg::new(&[0; 12], 0, CKG_GENERATE_RANDOM, 16);
        let mut ct = vec![0u8; n.max(1)];
        let mut len = n as CK_ULONG;
        let mut mm = msg_mech();
        let rv = ck!(self, C_MessageEncryptInit(self.home, mm.ptr(), self.key));
        if self.count("C_MessageEncryptInit", rv) != CKR_OK {
            return;
        }
        let (pp, pl) = inp(&p);
        let (mp, ml) = (m.ptr(), m.len());
        let rv = ck!(
            self,
            C_EncryptMessage(self.home, mp, ml, ap, al, pp, pl, ct.as_mut_ptr(), &mut len)
        );
        self.count("C_EncryptMessage", rv);
        let rv = ck!(self, C_MessageEncryptFinal(self.home));
        self.count("C_MessageEncryptFinal", rv);
        m.p.ivGenerator = CKG_NO_GENERATE;
        let mut back = vec![0u8; n.max(1)];
        let mut blen = n as CK_ULONG;
        let rv = ck!(self, C_MessageDecryptInit(self.home, mm.ptr(), self.key));
        if self.count("C_MessageDecryptInit", rv) != CKR_OK {
            return;
        }
        let rv = ck!(
            self,
            C_DecryptMessage(
                self.home,
                m.ptr(),
                ml,
                ap,
                al,
                ct.as_mut_ptr(),
                len,
                back.as_mut_ptr(),
                &mut blen
            )
        );
        if self.count("C_DecryptMessage", rv) == CKR_OK {
            assert_eq!(
                &back[..blen as usize],
                &p[..],
                "message API round trip under stress"
            );
        }
        let rv = ck!(self, C_MessageDecryptFinal(self.home));
        self.count("C_MessageDecryptFinal", rv);
    }

    fn find_own_token_objects(&mut self) {
        let mut t = Template::new()
            .bool(CKA_TOKEN, true)
            .bytes(CKA_LABEL, &self.label.clone());
        let rv = ck!(self, C_FindObjectsInit(self.home, t.ptr(), t.count()));
        if self.count("C_FindObjectsInit", rv) != CKR_OK {
            return;
        }
        let mut found = Vec::new();
        loop {
            let mut hs = [0 as CK_OBJECT_HANDLE; 7];
            let mut n: CK_ULONG = 0;
            let rv = ck!(self, C_FindObjects(self.home, hs.as_mut_ptr(), 7, &mut n));
            if self.count("C_FindObjects", rv) != CKR_OK || n == 0 {
                break;
            }
            found.extend_from_slice(&hs[..n as usize]);
        }
        let rv = ck!(self, C_FindObjectsFinal(self.home));
        self.count("C_FindObjectsFinal", rv);
        found.sort_unstable();
        let mut mine = self.token.clone();
        mine.sort_unstable();
        assert_eq!(found, mine, "find sees exactly this thread's token objects");
    }

    fn step(&mut self) {
        match self.below(20) {
            0 | 1 => {
                let mut h = 0;
                let flags = CKF_SERIAL_SESSION
                    | if self.below(2) == 0 {
                        CKF_RW_SESSION
                    } else {
                        0
                    };
                let rv = ck!(
                    self,
                    C_OpenSession(self.slot, flags, null_mut(), None, &mut h)
                );
                if self.count("C_OpenSession", rv) == CKR_OK {
                    let mut info = CK_SESSION_INFO::default();
                    let rv = ck!(self, C_GetSessionInfo(h, &mut info));
                    self.count("C_GetSessionInfo", rv);
                    let rv = ck!(self, C_CloseSession(h));
                    self.count("C_CloseSession", rv);
                }
            }
            2 => {
                let rv = ck!(
                    self,
                    C_Login(self.home, CKU_USER, USER_PIN.as_ptr() as *mut u8, 4)
                );
                self.count("C_Login", rv);
            }
            3 => {
                let rv = ck!(self, C_Logout(self.home));
                self.count("C_Logout", rv);
            }
            4 | 5 => {
                let t = Template::new()
                    .ulong(CKA_CLASS, CKO_DATA)
                    .bool(CKA_TOKEN, false)
                    .bool(CKA_PRIVATE, false)
                    .bytes(CKA_VALUE, &self.bytes(24));
                if let Some(o) = self.create("C_CreateObject(session data)", t) {
                    self.data.push(o);
                }
                let i = self.below(8);
                if i < 3 {
                    if let Some(o) = Self::take(&mut self.data, i) {
                        self.destroy("C_DestroyObject(session data)", o);
                    }
                }
            }
            6 => {
                let value = self.bytes(16);
                let t = Template::new()
                    .ulong(CKA_CLASS, CKO_SECRET_KEY)
                    .ulong(CKA_KEY_TYPE, CKK_AES)
                    .bool(CKA_TOKEN, false)
                    .bool(CKA_PRIVATE, true)
                    .bytes(CKA_VALUE, &value);
                if let Some(o) = self.create("C_CreateObject(private key)", t) {
                    self.private.push(o);
                }
                let i = self.below(8);
                if i < 4 {
                    if let Some(o) = Self::take(&mut self.private, i) {
                        self.destroy("C_DestroyObject(private key)", o);
                    }
                }
            }
            7 => {
                let t = Template::new()
                    .ulong(CKA_CLASS, CKO_DATA)
                    .bool(CKA_TOKEN, true)
                    .bool(CKA_PRIVATE, false)
                    .bytes(CKA_LABEL, &self.label.clone());
                if let Some(o) = self.create("C_CreateObject(token data)", t) {
                    self.token.push(o);
                }
                let i = self.below(8);
                if i < 4 {
                    if let Some(o) = Self::take(&mut self.token, i) {
                        self.destroy("C_DestroyObject(token data)", o);
                    }
                }
            }
            8..=13 => self.gcm_round_trip(),
            14..=16 => self.message_round_trip(),
            17 | 18 => self.find_own_token_objects(),
            _ => {
                let mut info = CK_SESSION_INFO::default();
                let rv = ck!(self, C_GetSessionInfo(self.home, &mut info));
                self.count("C_GetSessionInfo", rv);
                let ok = [CKS_RW_PUBLIC_SESSION, CKS_RW_USER_FUNCTIONS];
                assert!(ok.contains(&info.state), "session state {}", info.state);
            }
        }
        self.ops += 1;
    }
}

#[test]
fn sixteen_threads_of_mixed_work() {
    let (tx, rx) = mpsc::channel::<()>();
    let watchdog = std::thread::spawn(move || {
        if rx.recv_timeout(WATCHDOG) == Err(mpsc::RecvTimeoutError::Timeout) {
            eprintln!("stress: no end after {WATCHDOG:?}: deadlock; aborting");
            std::process::abort();
        }
    });

    let tok = TestToken::new();
    let r = &tok.raw;
    let mut workers = Vec::new();
    for tid in 0..THREADS {
        let home = tok.user_session();
        let value: Vec<u8> = (0..16).map(|i| (tid * 16 + i) as u8).collect();
        let key = r.secret_key(
            home,
            CKK_AES,
            &value,
            false,
            Template::all_usages().bool(CKA_PRIVATE, false),
        );
        workers.push(Worker {
            f: r.f,
            slot: tok.slot,
            home,
            key,
            label: format!("stress-{tid}").into_bytes(),
            rng: 0x9E37_79B9_7F4A_7C15 ^ (tid as u64 + 1).wrapping_mul(0xBF58_476D_1CE4_E5B9),
            counts: Counts::new(),
            data: vec![],
            private: vec![],
            token: vec![],
            ops: 0,
        });
    }
    let main_session = tok.user_session();
    let deadline = Instant::now() + RUN;
    let workers: Vec<Worker> = std::thread::scope(|sc| {
        let hs: Vec<_> = workers
            .into_iter()
            .map(|mut w| {
                sc.spawn(move || {
                    while Instant::now() < deadline {
                        w.step();
                    }
                    w
                })
            })
            .collect();
        hs.into_iter()
            .map(|h| h.join().expect("a stress thread panicked"))
            .collect()
    });
    let _ = tx.send(());
    watchdog.join().expect("watchdog");

    let mut total = Counts::new();
    for w in &workers {
        assert!(
            w.ops >= 10,
            "a thread made almost no progress ({} operations)",
            w.ops
        );
        for (k, n) in &w.counts {
            *total.entry(*k).or_insert(0) += n;
        }
    }
    let ops: u64 = workers.iter().map(|w| w.ops).sum();
    let mut bad = Vec::new();
    eprintln!("stress: {THREADS} threads, {ops} steps in {RUN:?}");
    for ((what, rv), n) in &total {
        eprintln!("  {what:<32} {:<40} {n}", rv_name(*rv));
        if !allowed(what).contains(rv) {
            bad.push(format!("{what} = {} × {n}", rv_name(*rv)));
        }
    }

    // Every home session is still there (and ours): 17 sessions open.
    assert_eq!(
        r.token_info(tok.slot).ulSessionCount,
        THREADS as CK_ULONG + 1
    );
    // Clean up the token objects and check find agrees.
    let _ = r.login(main_session, CKU_USER, USER_PIN);
    for w in &workers {
        for o in &w.token {
            assert_rv!(ck!(r, C_DestroyObject(main_session, *o)), CKR_OK, "cleanup");
        }
    }
    let mut t = Template::new()
        .ulong(CKA_CLASS, CKO_DATA)
        .bool(CKA_TOKEN, true);
    assert_eq!(
        r.find(main_session, Some(&mut t), 64),
        vec![],
        "token objects left"
    );
    let (k, _, _) = keys(r, main_session);
    assert_eq!(
        r.encrypt(main_session, &mut gcm4(), k, &tc4_p()),
        Ok(tc4_ct())
    );
    // Checked last so that everything above is verified too.
    // FINDING 6: a public token object cannot be created in a R/W public
    // session (CKR_USER_NOT_LOGGED_IN): the module seals every token object's
    // CKA_VALUE, and the sealing key exists only while a user is logged in.
    assert!(
        bad.is_empty(),
        "codes the race does not allow:\n{}",
        bad.join("\n")
    );
}

//! Who makes an HSM call and on which session: the pool of HSM sessions
//! (one per concurrent caller, never shared) and, in `calls = "worker"`
//! mode, the worker threads that own them so a caller can stop waiting at
//! its deadline while the HSM call itself cannot be interrupted.
//!
//! A worker whose call outlives the deadline is abandoned: the caller gets
//! `CKR_DEVICE_ERROR`, a replacement thread takes its place, and the stuck
//! thread discards its session and exits whenever the HSM lets go of it.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use cryptoki::session::Session;
use cryptoki_sys as sys;
use parking_lot::{Condvar, Mutex};

use super::spin::{self, Spinner};
use crate::error::{rv, Error, Result};

/// One open HSM session and the module generation it belongs to.
pub(super) struct Conn {
    /// Opened with `open_rw_session_no_drop`: closing is explicit, so a
    /// session of a dead generation is never "closed" onto a new one that
    /// reuses its handle number.
    pub session: Session,
    /// Module generation when opened.
    pub gen: u64,
}

/// Idle sessions for `calls = "inline"`: the caller's thread runs the call.
pub(super) struct ConnPool {
    state: Mutex<PoolState>,
    freed: Condvar,
    size: usize,
}

struct PoolState {
    idle: Vec<Conn>,
    busy: usize,
}

impl ConnPool {
    /// A pool of at most `size` sessions, starting with `initial`.
    pub fn new(size: usize, initial: Vec<Conn>) -> ConnPool {
        ConnPool {
            state: Mutex::new(PoolState {
                idle: initial,
                busy: 0,
            }),
            freed: Condvar::new(),
            size,
        }
    }

    /// Takes a session slot: `Some` an idle session, `None` a free place to
    /// open one in. Waits for a place until `deadline`.
    pub fn checkout(&self, deadline: Instant) -> Result<Option<Conn>> {
        let mut st = self.state.lock();
        loop {
            if let Some(c) = st.idle.pop() {
                st.busy += 1;
                return Ok(Some(c));
            }
            if st.busy < self.size {
                st.busy += 1;
                return Ok(None);
            }
            if self.freed.wait_until(&mut st, deadline).timed_out() {
                return rv(sys::CKR_DEVICE_ERROR);
            }
        }
    }

    /// Returns a slot taken by [`ConnPool::checkout`] (`None`: the session
    /// was discarded).
    pub fn checkin(&self, conn: Option<Conn>) {
        let mut st = self.state.lock();
        st.busy = st.busy.saturating_sub(1);
        if let Some(c) = conn {
            st.idle.push(c);
        }
        drop(st);
        self.freed.notify_one();
    }

    /// Removes every idle session (at shutdown).
    pub fn drain(&self) -> Vec<Conn> {
        std::mem::take(&mut self.state.lock().idle)
    }
}

/// A job for a worker: runs with the worker's own session slot.
type Job = Box<dyn FnOnce(&mut Option<Conn>) + Send>;
/// What a worker's mailbox carries.
enum Msg {
    /// A job and the ticket its caller watches.
    Job(Job, Arc<AtomicU8>),
    /// Shutdown: leave the loop.
    Exit,
}

const QUEUED: u8 = 0;
const RUNNING: u8 = 1;
const DONE: u8 = 2;
const CANCELLED: u8 = 3;
const ABANDONED: u8 = 4;

/// Worker threads, each owning one HSM session (`calls = "worker"`). A
/// caller takes an idle worker's mailbox, so each job wakes exactly one
/// thread and concurrent callers never queue behind one another's job.
pub(super) struct Workers {
    shared: Arc<Shared>,
    threads: Mutex<Vec<JoinHandle<()>>>,
}

struct Shared {
    // Mailboxes of the workers waiting for a job.
    idle: Mutex<Vec<Sender<Msg>>>,
    freed: Condvar,
    closed: AtomicBool,
    size: usize,
    stuck: AtomicUsize,
    // Session a worker starts with (the one `open` logged in on).
    spare: Mutex<Vec<Conn>>,
    // Where a finishing worker puts its session for shutdown to close.
    closing: Mutex<Vec<Conn>>,
    // Whether caller and worker poll before parking.
    spinner: Spinner,
}

impl Workers {
    /// Starts `size` workers; `initial` sessions are handed to the first.
    pub fn start(size: usize, initial: Vec<Conn>) -> Result<Workers> {
        let w = Workers {
            shared: Arc::new(Shared {
                idle: Mutex::new(Vec::with_capacity(size)),
                freed: Condvar::new(),
                closed: AtomicBool::new(false),
                size,
                stuck: AtomicUsize::new(0),
                spare: Mutex::new(initial),
                closing: Mutex::new(Vec::new()),
                spinner: Spinner::new(),
            }),
            threads: Mutex::new(Vec::new()),
        };
        for _ in 0..size {
            w.spawn()?;
        }
        Ok(w)
    }

    fn spawn(&self) -> Result<()> {
        let shared = self.shared.clone();
        let (tx, rx) = mpsc::channel();
        let handle = std::thread::Builder::new()
            .name("keyrotor-hsm".into())
            .spawn(move || worker_loop(&shared, &tx, &rx))
            .map_err(|e| Error::Internal(format!("cannot start an HSM worker thread: {e}")))?;
        let mut threads = self.threads.lock();
        threads.retain(|t| !t.is_finished());
        threads.push(handle);
        Ok(())
    }

    /// An idle worker's mailbox, waiting for one until `deadline`.
    fn take_idle(&self, deadline: Instant) -> Result<Sender<Msg>> {
        let mut idle = self.shared.idle.lock();
        loop {
            if self.shared.closed.load(Ordering::Acquire) {
                return rv(sys::CKR_DEVICE_ERROR);
            }
            if let Some(tx) = idle.pop() {
                return Ok(tx);
            }
            // Every session is busy for the whole wait: the HSM is too slow.
            if self
                .shared
                .freed
                .wait_until(&mut idle, deadline)
                .timed_out()
            {
                return rv(sys::CKR_DEVICE_ERROR);
            }
        }
    }

    /// Runs `job` on a worker and waits for its result until `deadline`;
    /// past it the caller gets `CKR_DEVICE_ERROR` (and `on_abandon` runs if
    /// the job had started, i.e. the HSM is not answering).
    pub fn call<R: Send + 'static>(
        &self,
        deadline: Instant,
        job: impl FnOnce(&mut Option<Conn>) -> Result<R> + Send + 'static,
        on_abandon: impl FnOnce(),
    ) -> Result<R> {
        let (reply_tx, reply_rx) = mpsc::sync_channel(1);
        let ticket = Arc::new(AtomicU8::new(QUEUED));
        let boxed: Job = Box::new(move |conn| {
            let _ = reply_tx.send(job(conn));
        });
        self.take_idle(deadline)?
            .send(Msg::Job(boxed, ticket.clone()))
            .map_err(|_| Error::Rv(sys::CKR_DEVICE_ERROR))?;
        // Short calls: poll for the answer rather than park and be woken.
        if spin::until(self.shared.spinner.budget(), || {
            ticket.load(Ordering::Acquire) == DONE
        }) {
            if let Ok(r) = reply_rx.try_recv() {
                return r;
            }
        }
        let wait = deadline.saturating_duration_since(Instant::now());
        match reply_rx.recv_timeout(wait) {
            Ok(r) => r,
            Err(RecvTimeoutError::Disconnected) => Err(Error::Internal(
                "an HSM worker stopped without an answer".into(),
            )),
            Err(RecvTimeoutError::Timeout) => {
                match ticket.compare_exchange(
                    QUEUED,
                    CANCELLED,
                    Ordering::AcqRel,
                    Ordering::Acquire,
                ) {
                    // Never started (the worker was not scheduled in time).
                    Ok(_) => rv(sys::CKR_DEVICE_ERROR),
                    Err(DONE) => reply_rx.try_recv().unwrap_or(rv(sys::CKR_DEVICE_ERROR)),
                    Err(_) => {
                        let abandoned = ticket
                            .compare_exchange(
                                RUNNING,
                                ABANDONED,
                                Ordering::AcqRel,
                                Ordering::Acquire,
                            )
                            .is_ok();
                        if !abandoned {
                            // It finished between the two checks.
                            return reply_rx.try_recv().unwrap_or(rv(sys::CKR_DEVICE_ERROR));
                        }
                        on_abandon();
                        // Keep the pool's capacity while the stuck thread
                        // waits on the HSM, but never grow past twice it.
                        let stuck = self.shared.stuck.fetch_add(1, Ordering::AcqRel) + 1;
                        if stuck <= self.shared.size {
                            if let Err(e) = self.spawn() {
                                tracing::error!(error = %e, "cannot replace a stuck HSM worker");
                            }
                        }
                        rv(sys::CKR_DEVICE_ERROR)
                    }
                }
            }
        }
    }

    /// Stops the workers: each finishes its job, and the sessions they held
    /// are returned for the caller to close. A thread still inside the HSM
    /// after `grace` is left behind (it exits when the HSM answers), so
    /// `C_Finalize` never hangs on a dead HSM.
    pub fn stop(&self, grace: Duration) -> Vec<Conn> {
        // Under the idle lock: a worker either is in the list (and gets
        // Exit) or sees `closed` before it would join it.
        let idle = {
            let mut idle = self.shared.idle.lock();
            self.shared.closed.store(true, Ordering::Release);
            std::mem::take(&mut *idle)
        };
        for tx in idle {
            let _ = tx.send(Msg::Exit);
        }
        self.shared.freed.notify_all();
        let threads = std::mem::take(&mut *self.threads.lock());
        let until = Instant::now() + grace;
        while threads.iter().any(|t| !t.is_finished()) && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(2));
        }
        for t in threads {
            if t.is_finished() {
                let _ = t.join();
            } else {
                tracing::warn!("an HSM worker is still inside the HSM; leaving it behind");
            }
        }
        let mut conns = std::mem::take(&mut *self.shared.closing.lock());
        conns.append(&mut self.shared.spare.lock());
        conns
    }
}

fn worker_loop(shared: &Shared, tx: &Sender<Msg>, rx: &Receiver<Msg>) {
    let mut conn: Option<Conn> = shared.spare.lock().pop();
    loop {
        {
            let mut idle = shared.idle.lock();
            if shared.closed.load(Ordering::Acquire) {
                break;
            }
            idle.push(tx.clone());
        }
        shared.freed.notify_one();
        // While calls are short the next one usually comes within the spin.
        let mut early = None;
        spin::until(shared.spinner.budget(), || {
            early = rx.try_recv().ok();
            early.is_some()
        });
        let Some(Msg::Job(job, ticket)) = early.or_else(|| rx.recv().ok()) else {
            break;
        };
        if ticket
            .compare_exchange(QUEUED, RUNNING, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
        {
            continue; // its caller gave up before it started
        }
        // A panic in a job must not take the worker (and its session) down.
        let started = Instant::now();
        if catch_unwind(AssertUnwindSafe(|| job(&mut conn))).is_err() {
            conn = None;
        }
        shared.spinner.record(started.elapsed());
        if ticket
            .compare_exchange(RUNNING, DONE, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
        {
            // Abandoned: a replacement took this thread's place, and the
            // session's state after a timed-out call is unknown.
            shared.stuck.fetch_sub(1, Ordering::AcqRel);
            return;
        }
    }
    if let Some(c) = conn {
        shared.closing.lock().push(c);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inline_pool_bounds_concurrent_sessions() {
        let pool = ConnPool::new(2, Vec::new());
        let soon = Instant::now() + Duration::from_millis(50);
        assert!(pool.checkout(soon).unwrap().is_none());
        assert!(pool.checkout(soon).unwrap().is_none());
        let t = Instant::now();
        assert!(matches!(
            pool.checkout(Instant::now() + Duration::from_millis(50)),
            Err(Error::Rv(sys::CKR_DEVICE_ERROR))
        ));
        assert!(t.elapsed() >= Duration::from_millis(45));
        pool.checkin(None);
        assert!(pool
            .checkout(soon + Duration::from_secs(1))
            .unwrap()
            .is_none());
    }

    #[test]
    fn workers_answer_and_give_up_at_the_deadline() {
        let w = Workers::start(1, Vec::new()).unwrap();
        let far = Instant::now() + Duration::from_secs(5);
        assert_eq!(w.call(far, |_| Ok(41 + 1), || ()).unwrap(), 42);

        // A job that outlives its deadline: the caller returns on time and
        // a replacement worker serves the next call.
        let mut abandoned = false;
        let t = Instant::now();
        let r: Result<()> = w.call(
            Instant::now() + Duration::from_millis(100),
            |_| {
                std::thread::sleep(Duration::from_millis(600));
                Ok(())
            },
            || abandoned = true,
        );
        assert!(matches!(r, Err(Error::Rv(sys::CKR_DEVICE_ERROR))));
        assert!(abandoned);
        assert!(t.elapsed() < Duration::from_millis(400));
        assert_eq!(w.call(far, |_| Ok("next"), || ()).unwrap(), "next");
        assert!(w.stop(Duration::from_secs(1)).is_empty());
    }

    #[test]
    fn stopping_leaves_a_stuck_worker_behind() {
        let w = Workers::start(1, Vec::new()).unwrap();
        let r: Result<()> = w.call(
            Instant::now() + Duration::from_millis(50),
            |_| {
                std::thread::sleep(Duration::from_secs(2));
                Ok(())
            },
            || (),
        );
        assert!(r.is_err());
        let t = Instant::now();
        w.stop(Duration::from_millis(100));
        assert!(t.elapsed() < Duration::from_secs(1), "{:?}", t.elapsed());
    }

    #[test]
    fn a_queued_job_is_cancelled_not_run() {
        let w = Workers::start(1, Vec::new()).unwrap();
        let ran = Arc::new(AtomicUsize::new(0));
        std::thread::scope(|s| {
            s.spawn(|| {
                let _ = w.call(
                    Instant::now() + Duration::from_secs(5),
                    |_| {
                        std::thread::sleep(Duration::from_millis(300));
                        Ok(())
                    },
                    || (),
                );
            });
            std::thread::sleep(Duration::from_millis(50));
            let r2 = ran.clone();
            let r: Result<()> = w.call(
                Instant::now() + Duration::from_millis(50),
                move |_| {
                    r2.fetch_add(1, Ordering::SeqCst);
                    Ok(())
                },
                || panic!("a queued job is not abandoned"),
            );
            assert!(matches!(r, Err(Error::Rv(sys::CKR_DEVICE_ERROR))));
        });
        w.stop(Duration::from_secs(1));
        assert_eq!(ran.load(Ordering::SeqCst), 0);
    }
}

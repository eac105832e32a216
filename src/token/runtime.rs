//! The library's own tokio runtime and the bridge from C-ABI threads into it.
//!
//! Work is spawned onto the runtime and the calling thread waits on a plain
//! channel, never `Runtime::block_on`: a host that calls us from inside its
//! own tokio runtime must not panic.

use std::future::Future;
use std::time::Duration;

use crate::error::{Error, Result};

/// Owns the runtime created in `C_Initialize` and shut down in `C_Finalize`.
pub struct AsyncRuntime {
    rt: parking_lot::RwLock<Option<tokio::runtime::Runtime>>,
}

impl AsyncRuntime {
    /// Starts one worker thread; the store's own threads come from sqlx.
    pub fn new() -> Result<AsyncRuntime> {
        // Built on a short-lived thread: building sets thread-locals with
        // destructors on the building thread, and glibc keeps a library
        // mapped while such a thread lives — the caller's thread would pin
        // us in memory after dlclose.
        let built = std::thread::scope(|scope| {
            scope
                .spawn(|| {
                    tokio::runtime::Builder::new_multi_thread()
                        .worker_threads(1)
                        .max_blocking_threads(4)
                        .thread_name("keyrotor-rt")
                        .enable_all()
                        .build()
                })
                .join()
        });
        let rt = match built {
            Ok(Ok(rt)) => rt,
            Ok(Err(e)) => return Err(Error::Internal(format!("cannot start runtime: {e}"))),
            Err(_) => return Err(Error::Internal("runtime builder panicked".into())),
        };
        Ok(AsyncRuntime {
            rt: parking_lot::RwLock::new(Some(rt)),
        })
    }

    /// Runs `fut` on the runtime and waits for its result.
    pub fn block<F>(&self, fut: F) -> Result<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        self.spawn(async move {
            // The receiver only goes away if the caller panicked; nothing to do then.
            let _ = tx.send(fut.await);
        })?;
        rx.recv()
            .map_err(|_| Error::Internal("runtime task was dropped".into()))
    }

    /// Starts a background task on the runtime.
    pub fn spawn<F>(&self, fut: F) -> Result<tokio::task::JoinHandle<F::Output>>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let guard = self.rt.read();
        let rt = guard
            .as_ref()
            .ok_or_else(|| Error::Internal("runtime already shut down".into()))?;
        Ok(rt.spawn(fut))
    }

    /// Stops the runtime and joins its threads (unless we are inside another
    /// runtime, where blocking is forbidden; then the threads exit on their own).
    pub fn shutdown(&self) {
        let taken = self.rt.write().take();
        if let Some(rt) = taken {
            if tokio::runtime::Handle::try_current().is_ok() {
                rt.shutdown_background();
            } else {
                rt.shutdown_timeout(Duration::from_secs(10));
            }
        }
    }
}

impl Drop for AsyncRuntime {
    fn drop(&mut self) {
        self.shutdown();
    }
}

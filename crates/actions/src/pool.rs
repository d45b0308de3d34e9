//! The engine's own threads: a fixed number of them, each keeping one QuickJS runtime warm, so
//! the memory the runtimes hold is bounded and no execution starts on a cold thread. Executions
//! beyond that number wait for a free thread.

use std::{
    panic::{AssertUnwindSafe, catch_unwind},
    sync::{Arc, Mutex, PoisonError, mpsc},
};

type Job = Box<dyn FnOnce() + Send>;

pub(crate) struct Pool {
    jobs: mpsc::Sender<Job>,
}

impl Pool {
    /// Starts `n` threads (at least one is tried; if none starts, [`Pool::run`] answers `None`).
    pub fn new(n: usize) -> Self {
        let (jobs, rx) = mpsc::channel::<Job>();
        let rx = Arc::new(Mutex::new(rx));
        for i in 0..n.max(1) {
            let rx = rx.clone();
            let started = std::thread::Builder::new()
                .name(format!("gatehouse-actions-{i}"))
                .spawn(move || {
                    loop {
                        let job = rx.lock().unwrap_or_else(PoisonError::into_inner).recv();
                        match job {
                            Ok(job) => job(),
                            // The engine is gone.
                            Err(_) => break,
                        }
                    }
                });
            if let Err(e) = started {
                tracing::warn!(error = %e, "an Actions thread could not start");
            }
        }
        Pool { jobs }
    }

    /// Runs `f` on one of the pool's threads; `None` when no thread can run it (none started,
    /// or `f` panicked).
    pub async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Option<T> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move || {
            if let Ok(v) = catch_unwind(AssertUnwindSafe(f)) {
                let _ = tx.send(v);
            }
        });
        self.jobs.send(job).ok()?;
        rx.await.ok()
    }
}

//! Runs the durable queue (`gatehouse_store::queue`): one loop per kind of work claims due
//! items and hands them to the kind's handler. Every instance runs the loops; the queue's leases
//! make sure an item is handled by one instance at a time and, if that instance dies, by another
//! later. A loop wakes when its kind is enqueued on this instance ([`Worker::wake`]) and polls the
//! database every [`POLL`] for the rest (items of other instances, retries coming due).

use std::{
    collections::HashMap,
    future::Future,
    pin::Pin,
    sync::{Arc, Weak},
    time::Duration,
};

use gatehouse_store::queue::{self, Item};
use tokio::sync::Notify;

use crate::state::{AppState, Inner};

/// How often an idle loop looks for work enqueued elsewhere or due again.
pub const POLL: Duration = Duration::from_millis(500);

/// A handler: gets the claimed items (all of its kind) and must settle each of them, with
/// `queue::done` or `queue::retry`; an item left unsettled is claimed again when its lease ends.
pub type Handler = fn(AppState, Vec<Item>) -> Pin<Box<dyn Future<Output = ()> + Send>>;

/// One kind of work.
pub struct Kind {
    pub name: &'static str,
    pub handler: Handler,
    /// Most items handed over at once.
    pub batch: i64,
    /// How long a claim lasts before another instance may take the items.
    pub lease: Duration,
}

/// Every kind of work of the server.
pub fn kinds() -> Vec<Kind> {
    vec![
        crate::logs::streams::KIND,
        crate::events::delivery::KIND,
        crate::mgmt::jobs::WORK,
        crate::email::WORK,
    ]
}

/// The wake-up bells of the loops, by kind.
#[derive(Default)]
pub struct Worker {
    bells: HashMap<&'static str, Arc<Notify>>,
}

impl Worker {
    pub fn new() -> Self {
        Self {
            bells: kinds()
                .iter()
                .map(|k| (k.name, Arc::new(Notify::new())))
                .collect(),
        }
    }

    /// The bell of `kind`'s loop (for a writer that enqueues outside a request).
    pub fn bell(&self, kind: &str) -> Option<Arc<Notify>> {
        self.bells.get(kind).cloned()
    }

    /// Work of `kind` was enqueued here (and committed): run it now rather than at the next poll.
    pub fn wake(&self, kind: &str) {
        if let Some(b) = self.bells.get(kind) {
            b.notify_one();
        }
    }
}

/// Starts one loop per kind. The loops hold the state weakly and end when the server is gone.
pub fn start(state: &AppState) {
    for kind in kinds() {
        let Some(bell) = state.worker.bells.get(kind.name).cloned() else {
            continue;
        };
        let weak = Arc::downgrade(&state.0);
        tokio::spawn(run(weak, kind, bell));
    }
}

async fn run(weak: Weak<Inner>, kind: Kind, bell: Arc<Notify>) {
    loop {
        let Some(inner) = weak.upgrade() else { return };
        let state = AppState(inner);
        let items = match queue::claim(&state.db, kind.name, kind.batch, kind.lease).await {
            Ok(items) => items,
            Err(e) => {
                tracing::warn!(error = %e, kind = kind.name, "could not claim queued work");
                Vec::new()
            }
        };
        let idle = items.is_empty();
        if !idle {
            // A handler that panics loses nothing: its items are claimed again after the lease.
            if let Err(e) = tokio::spawn((kind.handler)(state, items)).await {
                tracing::error!(error = %e, kind = kind.name, "a queue handler failed");
            }
        } else {
            drop(state);
            let _ = tokio::time::timeout(POLL, bell.notified()).await;
        }
    }
}

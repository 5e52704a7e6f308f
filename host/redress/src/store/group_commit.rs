//! Group commit: many writers, one fsync.
//!
//! Each writer finishes its (in-memory) sled transaction, takes a ticket and waits. A single
//! flusher thread notes the highest ticket issued, flushes sled once, appends what the batch
//! wrote to the acknowledgement ledger (`ledger.rs`, synced), and only then releases every
//! writer up to that ticket. Under load one fsync (and one ledger append) acknowledges a whole
//! batch, instead of each request paying for its own.

use std::{
    sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError},
    thread::JoinHandle,
};

use super::StoreError;
use super::ledger::{Acknowledged, Ledger};

#[derive(Debug, Default)]
struct State {
    issued: u64,
    durable: u64,
    /// Tickets up to this one belonged to a flush that failed.
    failed_upto: u64,
    last_error: Option<String>,
    shutdown: bool,
    /// What the writes up to `issued` left the cases at, for the ledger.
    pending: Vec<Acknowledged>,
}

#[derive(Debug, Default)]
struct Shared {
    state: Mutex<State>,
    work: Condvar,
    done: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic elsewhere while holding the lock leaves plain counters behind: still usable.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[derive(Debug)]
pub(crate) struct GroupCommit {
    shared: Arc<Shared>,
    flusher: Option<JoinHandle<()>>,
}

impl GroupCommit {
    pub(crate) fn start(db: sled::Db, ledger: Option<Ledger>) -> Result<Self, StoreError> {
        let shared = Arc::new(Shared::default());
        let thread_shared = Arc::clone(&shared);
        let flusher = std::thread::Builder::new()
            .name("redress-flush".into())
            .spawn(move || flush_loop(&thread_shared, &db, ledger))
            .map_err(|e| StoreError::Backend(format!("cannot start the flush thread: {e}")))?;
        Ok(GroupCommit {
            shared,
            flusher: Some(flusher),
        })
    }

    /// Blocks until everything written before this call is on disk, and `written` (what this
    /// write left its case at) is in the ledger.
    pub(crate) fn wait_durable(&self, written: Option<Acknowledged>) -> Result<(), StoreError> {
        let mut state = self.shared.lock();
        state.pending.extend(written);
        state.issued += 1;
        let ticket = state.issued;
        self.shared.work.notify_one();
        loop {
            if state.durable >= ticket {
                return Ok(());
            }
            if state.failed_upto >= ticket {
                let reason = state.last_error.clone().unwrap_or_default();
                return Err(StoreError::Backend(format!(
                    "flush to disk failed: {reason}"
                )));
            }
            state = self
                .shared
                .done
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }

    /// Records `written` for the ledger without waiting (bulk loads without durable writes;
    /// the next flush writes it).
    pub(crate) fn note(&self, written: Acknowledged) {
        self.shared.lock().pending.push(written);
    }
}

fn flush_loop(shared: &Shared, db: &sled::Db, mut ledger: Option<Ledger>) {
    loop {
        let (target, written) = {
            let mut state = shared.lock();
            while state.issued == state.durable.max(state.failed_upto) && !state.shutdown {
                state = shared
                    .work
                    .wait(state)
                    .unwrap_or_else(PoisonError::into_inner);
            }
            if state.shutdown && state.issued == state.durable.max(state.failed_upto) {
                return;
            }
            (state.issued, std::mem::take(&mut state.pending))
        };
        // sled first: a ledger record must never claim what sled has not made durable.
        let result = db
            .flush()
            .map_err(|e| e.to_string())
            .and_then(|_| match &mut ledger {
                Some(ledger) => ledger.append(&written).map_err(|e| e.to_string()),
                None => Ok(()),
            });
        let mut state = shared.lock();
        match result {
            Ok(_) => state.durable = state.durable.max(target),
            Err(e) => {
                tracing::error!(error = %e, "flushing the store to disk failed");
                state.failed_upto = target;
                state.last_error = Some(e);
            }
        }
        shared.done.notify_all();
    }
}

impl Drop for GroupCommit {
    fn drop(&mut self) {
        self.shared.lock().shutdown = true;
        self.shared.work.notify_all();
        self.shared.done.notify_all();
        if let Some(handle) = self.flusher.take() {
            let _ = handle.join();
        }
    }
}

//! Group commit: many writers, one fsync.
//!
//! Each writer finishes its (in-memory) sled transaction, takes a ticket and waits. A single
//! flusher thread notes the highest ticket issued, flushes sled once, and releases every writer
//! up to that ticket. Under load one fsync acknowledges a whole batch, instead of each request
//! paying for its own.

use std::{
    sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError},
    thread::JoinHandle,
};

use super::StoreError;

#[derive(Debug, Default)]
struct State {
    issued: u64,
    durable: u64,
    /// Tickets up to this one belonged to a flush that failed.
    failed_upto: u64,
    last_error: Option<String>,
    shutdown: bool,
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
    pub(crate) fn start(db: sled::Db) -> Result<Self, StoreError> {
        let shared = Arc::new(Shared::default());
        let thread_shared = Arc::clone(&shared);
        let flusher = std::thread::Builder::new()
            .name("redress-flush".into())
            .spawn(move || flush_loop(&thread_shared, &db))
            .map_err(|e| StoreError::Backend(format!("cannot start the flush thread: {e}")))?;
        Ok(GroupCommit {
            shared,
            flusher: Some(flusher),
        })
    }

    /// Blocks until everything written before this call is on disk.
    pub(crate) fn wait_durable(&self) -> Result<(), StoreError> {
        let mut state = self.shared.lock();
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
}

fn flush_loop(shared: &Shared, db: &sled::Db) {
    loop {
        let target = {
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
            state.issued
        };
        let result = db.flush();
        let mut state = shared.lock();
        match result {
            Ok(_) => state.durable = state.durable.max(target),
            Err(e) => {
                tracing::error!(error = %e, "flushing the store to disk failed");
                state.failed_upto = target;
                state.last_error = Some(e.to_string());
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

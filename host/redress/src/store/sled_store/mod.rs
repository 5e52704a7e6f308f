//! The embedded default backend: sled, one data directory, no external service.
//!
//! Trees:
//! - default tree: `format` → the on-disk format version;
//! - `cases`: case id (16 bytes) → snapshot JSON;
//! - `events`: case id ‖ seq (u64 BE) → event JSON, so a case's history is one ordered range;
//! - `tracking`: tracking code → case id;
//! - `idempotency`: tenant ‖ 0 ‖ key → case id;
//! - `index`: the listing indexes, one key prefix each (see `IndexKey`), value empty;
//! - `due`: the scheduler's due-index: time ‖ case id ‖ kind ‖ clock name, for every warning
//!   and breach still owed, so finding what is due is a range scan, not a scan of all cases.
//!
//! Every index key is a pure function of a case snapshot (`index_keys`, `due_keys`); a write
//! removes the keys of the old snapshot that the new one lacks and inserts the new ones, in the
//! same transaction as the events.
//!
//! Every write is one sled transaction over the trees it touches, then a group-commit wait, so a
//! crash can lose only writes that were never acknowledged.

use std::path::Path;

use jiff::Timestamp;
use redress_domain::{Actor, Case, CaseId, EventRecord, Status, case::Sector};
use sled::{
    Transactional, Tree,
    transaction::{ConflictableTransactionError, TransactionError},
};

use std::collections::BTreeSet;

use super::{
    Append, AuditProblem, AuditReport, CaseStore, ComplainantQuery, Created, DueClock, DueKind,
    HealthCounts, ListOrder, ListQuery, NewCase, Page, Plan, StoreError, audit_case, due_clocks,
    earliest_due, group_commit::GroupCommit, is_overdue, open_clock_calendars, provisional_clocks,
    queue_position, run_plan,
};

mod case_store;
mod heads;
mod keys;
mod write;

#[cfg(test)]
pub(crate) use heads::head_value;
use heads::*;
use keys::*;
use write::*;

/// Written into a new data directory and checked on every open. Bump it (and write a
/// migration) whenever the layout or the meaning of a stored value changes.
pub const FORMAT: &str = "redress-sled/1";
const FORMAT_KEY: &[u8] = b"format";
/// The layout of the `index` tree. The index is derived data (a pure function of the
/// snapshots), so a new layout is not a new format: opening a directory indexed under another
/// layout rebuilds the tree from the snapshots.
const INDEX_LAYOUT: &[u8] =
    b"5: manual, provisional, open clocks by calendar; heads; complainant keys; office and assignee queues";
const INDEX_LAYOUT_KEY: &[u8] = b"index-layout";
/// Set once the store has an acknowledgement ledger.
const LEDGER_KEY: &[u8] = b"ledger";
/// How often an append decides again when other writes to the same case keep getting in
/// first. Each attempt is one decision; contention on one case is rare and short.
const APPEND_ATTEMPTS: usize = 64;

#[derive(Debug, Clone)]
pub struct SledOptions {
    /// sled's page cache, in bytes.
    pub cache_capacity: u64,
    /// Wait for each write to be on disk before returning (the server always does). Turning it
    /// off is only for bulk loads (benchmarks, imports) that call [`SledStore::flush`] at the
    /// end: a crash before that loses writes.
    pub durable_writes: bool,
}

impl Default for SledOptions {
    fn default() -> Self {
        SledOptions {
            cache_capacity: 256 * 1024 * 1024,
            durable_writes: true,
        }
    }
}

#[derive(Debug)]
pub struct SledStore {
    cases: Tree,
    events: Tree,
    tracking: Tree,
    idempotency: Tree,
    index: Tree,
    due: Tree,
    /// Case id → version (u64 BE) ‖ head hash: what the acknowledgement ledger is compared
    /// with, without reading every snapshot.
    heads: Tree,
    durable_writes: bool,
    ledger_path: std::path::PathBuf,
    /// What the store had lost of the acknowledged writes when it was opened.
    losses: Vec<AuditProblem>,
    // Declared last: dropped after the trees, it joins the flush thread, which holds the last
    // handle on the database, so that reopening the same directory works once this is dropped.
    commit: GroupCommit,
}

fn backend(e: sled::Error) -> StoreError {
    StoreError::Backend(e.to_string())
}

fn from_tx(e: TransactionError<StoreError>) -> StoreError {
    match e {
        TransactionError::Abort(e) => e,
        TransactionError::Storage(e) => backend(e),
    }
}

fn abort<T>(e: StoreError) -> Result<T, ConflictableTransactionError<StoreError>> {
    Err(ConflictableTransactionError::Abort(e))
}

fn to_json<T: serde::Serialize>(value: &T) -> Result<Vec<u8>, StoreError> {
    serde_json::to_vec(value).map_err(|e| StoreError::Corrupt(format!("cannot encode: {e}")))
}

fn parse_case(bytes: &[u8]) -> Result<Case, StoreError> {
    serde_json::from_slice(bytes)
        .map_err(|e| StoreError::Corrupt(format!("unreadable case snapshot: {e}")))
}

/// How long an open waits for the previous holder of the data directory to let go of it.
const LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(3);

/// sled releases its file lock only when the last of its background threads lets go of the
/// database, a moment after the `Db` is dropped: a reopen right after a close (a restart in the
/// same process, `redress audit verify` right after a server stopped) could find it still held
/// (the intermittent failure of `sled_store_matches_the_in_memory_model`). A second server on
/// the same directory still fails, after `LOCK_WAIT`.
/// sled reports another process's lock on the directory only in its message.
fn is_lock_error(e: &std::io::Error) -> bool {
    e.to_string().contains("could not acquire lock")
}

fn open_waiting_for_lock(config: &sled::Config) -> sled::Result<sled::Db> {
    let deadline = std::time::Instant::now() + LOCK_WAIT;
    loop {
        match config.open() {
            Err(sled::Error::Io(e))
                if is_lock_error(&e) && std::time::Instant::now() < deadline =>
            {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            other => return other,
        }
    }
}

/// The acknowledgement ledger's file in a data directory.
pub const LEDGER_FILE: &str = "acknowledged.ledger";

impl SledStore {
    pub fn open(path: &Path, options: &SledOptions) -> Result<Self, StoreError> {
        let config = sled::Config::new()
            .path(path)
            .cache_capacity(options.cache_capacity)
            .mode(sled::Mode::HighThroughput);
        let db = open_waiting_for_lock(&config).map_err(|e| match e {
            sled::Error::Io(e) if is_lock_error(&e) => StoreError::Locked {
                path: path.display().to_string(),
            },
            e => StoreError::Backend(format!("cannot open {}: {e}", path.display())),
        })?;
        match db.get(FORMAT_KEY).map_err(backend)? {
            Some(found) if found.as_ref() != FORMAT.as_bytes() => {
                return Err(StoreError::UnsupportedFormat {
                    found: String::from_utf8_lossy(&found).into_owned(),
                    supported: FORMAT,
                });
            }
            Some(_) => {}
            None => {
                if db.tree_names().len() > 1 && !db.open_tree("cases").map_err(backend)?.is_empty()
                {
                    return Err(StoreError::UnsupportedFormat {
                        found: "(none)".into(),
                        supported: FORMAT,
                    });
                }
                db.insert(FORMAT_KEY, FORMAT.as_bytes()).map_err(backend)?;
                db.flush().map_err(backend)?;
            }
        }
        let open = |name: &str| db.open_tree(name).map_err(backend);
        let cases = open("cases")?;
        let index = open("index")?;
        let heads = open("heads")?;
        let events = open("events")?;
        if db.get(INDEX_LAYOUT_KEY).map_err(backend)?.as_deref() != Some(INDEX_LAYOUT) {
            rebuild_index(&cases, &index, &heads)?;
            db.insert(INDEX_LAYOUT_KEY, INDEX_LAYOUT).map_err(backend)?;
            db.flush().map_err(backend)?;
        }
        let ledger_path = path.join(LEDGER_FILE);
        let ledger_error =
            |e: crate::store::ledger::LedgerError| StoreError::Backend(e.to_string());
        let (read, previous) = crate::store::ledger::read(&ledger_path).map_err(ledger_error)?;
        let mut losses = compare_with_ledger(&read, &heads, &events)?;
        // Once a store has a ledger, a missing one is not "nothing acknowledged yet": it is the
        // record that would show a loss, gone.
        if db.get(LEDGER_KEY).map_err(backend)?.is_some() && !ledger_path.exists() {
            losses.push(AuditProblem {
                case_id: String::new(),
                problem: format!(
                    "the acknowledgement ledger {} is missing: what this store acknowledged cannot be checked",
                    ledger_path.display()
                ),
            });
        }
        let mut ledger = crate::store::ledger::Ledger::open(&ledger_path, &read, previous)
            .map_err(ledger_error)?;
        if losses.is_empty() {
            // Everything acknowledged is here (and what survived unacknowledged is durable
            // now): one record per case from here on.
            let mut current = crate::store::ledger::Heads::new();
            for item in heads.iter() {
                let (id, value) = item.map_err(backend)?;
                current.insert(id_from_suffix(&id)?, parse_head(&value)?);
            }
            ledger.compact(&current).map_err(ledger_error)?;
            db.insert(LEDGER_KEY, b"1").map_err(backend)?;
            db.flush().map_err(backend)?;
        } else {
            // Kept as it is: it is the evidence of what was lost.
            losses.sort_by(|a, b| a.case_id.cmp(&b.case_id));
        }
        Ok(SledStore {
            cases,
            events,
            tracking: open("tracking")?,
            idempotency: open("idempotency")?,
            index,
            due: open("due")?,
            heads,
            durable_writes: options.durable_writes,
            ledger_path,
            losses,
            commit: GroupCommit::start(db, Some(ledger))?,
        })
    }

    fn load(&self, id: CaseId) -> Result<Option<Case>, StoreError> {
        #[cfg(test)]
        read_counts::SNAPSHOT_READS.with(|n| n.set(n.get() + 1));
        match self.cases.get(id.to_bytes()).map_err(backend)? {
            Some(bytes) => parse_case(&bytes).map(Some),
            None => Ok(None),
        }
    }

    /// Whether `id` is a case of `tenant`: its `a` index key exists (written in the same
    /// transaction as the case, never removed, and a case's tenant never changes).
    fn belongs_to(&self, tenant: &str, id: CaseId) -> Result<bool, StoreError> {
        #[cfg(test)]
        read_counts::OWNERSHIP_PROBES.with(|n| n.set(n.get() + 1));
        let mut key = IndexKey::All { tenant }.prefix();
        key.extend_from_slice(&id.to_bytes());
        self.index.contains_key(key).map_err(backend)
    }

    /// Makes every write so far durable (after a bulk load without `durable_writes`).
    pub fn flush(&self) -> Result<(), StoreError> {
        self.commit.wait_durable(None)
    }

    /// Makes `case` (as just written) durable and recorded in the ledger before returning, or,
    /// for a bulk load, notes it for the next flush.
    fn acknowledge(&self, case: &Case) -> Result<(), StoreError> {
        if self.durable_writes {
            self.commit.wait_durable(Some(acknowledged(case)))
        } else {
            self.commit.note(acknowledged(case));
            Ok(())
        }
    }

    /// Raw access for tests that damage the heads (as lost writes would).
    #[doc(hidden)]
    pub fn heads_tree(&self) -> &Tree {
        &self.heads
    }

    /// Raw access for tests that tamper with stored events.
    #[doc(hidden)]
    pub fn events_tree(&self) -> &Tree {
        &self.events
    }

    /// Raw access for tests that lose cases, as a damaged sled log would.
    #[doc(hidden)]
    pub fn cases_tree(&self) -> &Tree {
        &self.cases
    }
}

/// One case's stored events, as read in key order during verification.
struct HistoryGroup {
    id: CaseId,
    events: Vec<redress_domain::event::StoredEvent>,
    unreadable: Option<String>,
}

impl SledStore {
    fn audit_group(&self, group: HistoryGroup, report: &mut AuditReport) {
        if let Some(problem) = group.unreadable {
            report.cases_checked += 1;
            report.problems.push(AuditProblem {
                case_id: group.id.to_string(),
                problem,
            });
            return;
        }
        match self.load(group.id) {
            Ok(snapshot) => audit_case(group.id, snapshot.as_ref(), &group.events, report),
            Err(e) => {
                report.cases_checked += 1;
                report.problems.push(AuditProblem {
                    case_id: group.id.to_string(),
                    problem: e.to_string(),
                });
            }
        }
    }
}

/// What a read did, per thread, so that tests can check that two answers took the same path.
#[cfg(test)]
pub(crate) mod read_counts {
    use std::cell::Cell;

    thread_local! {
        pub static SNAPSHOT_READS: Cell<u64> = const { Cell::new(0) };
        pub static OWNERSHIP_PROBES: Cell<u64> = const { Cell::new(0) };
    }

    /// (ownership probes, snapshot reads) made by `work` on this thread.
    pub fn during<T>(work: impl FnOnce() -> T) -> (T, u64, u64) {
        let probes = OWNERSHIP_PROBES.with(Cell::get);
        let reads = SNAPSHOT_READS.with(Cell::get);
        let result = work();
        (
            result,
            OWNERSHIP_PROBES.with(Cell::get) - probes,
            SNAPSHOT_READS.with(Cell::get) - reads,
        )
    }
}

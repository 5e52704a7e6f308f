//! Case storage behind a trait, so that a distributed backend can replace sled without anything
//! above this module changing.
//!
//! Contract of every implementation:
//! - a method that writes returns only once the write is durable (it survives a crash);
//! - a write either happens whole (event, snapshot, indexes) or not at all;
//! - a case's events are append-only and hash-chained (`redress_domain::event`);
//! - reads are scoped to a tenant: a case of another tenant is reported as absent.

mod group_commit;
pub mod memory;
pub mod sled_store;
#[cfg(test)]
mod tests;

use jiff::Timestamp;
use redress_domain::{
    Actor, Case, CaseId, CaseIntake, EventRecord, HandlerAction, Status, TrackingCode,
    case::{ApplyError, Sector},
    event::ChainError,
};
use serde::Serialize;

pub use memory::MemoryStore;
pub use sled_store::{SledOptions, SledStore};

/// A case to register, with everything the store must not invent itself (ids and time are
/// chosen above the store, so that tests can fix them).
#[derive(Debug, Clone)]
pub struct NewCase {
    pub id: CaseId,
    pub tracking_code: TrackingCode,
    pub tenant: String,
    pub intake: CaseIntake,
    pub actor: Actor,
    pub now: Timestamp,
    /// A client-chosen key: a retried create with the same key returns the first case instead of
    /// registering a second one.
    pub idempotency_key: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Created {
    /// Registered now.
    New(Case),
    /// The idempotency key was seen before: this is the case it created.
    Existing(Case),
}

/// A handler action to record on a case.
#[derive(Debug, Clone)]
pub struct Append {
    pub tenant: String,
    pub id: CaseId,
    pub action: HandlerAction,
    pub actor: Actor,
    pub now: Timestamp,
    /// Refuse the write unless the case is at this version (optimistic concurrency).
    pub expected_version: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListQuery {
    pub tenant: String,
    pub status: Option<Status>,
    pub sector: Option<Sector>,
    pub received_from: Option<Timestamp>,
    pub received_before: Option<Timestamp>,
    /// An opaque cursor from a previous page.
    pub cursor: Option<String>,
    pub limit: usize,
}

impl ListQuery {
    pub fn tenant(tenant: &str) -> Self {
        ListQuery {
            tenant: tenant.to_owned(),
            status: None,
            sector: None,
            received_from: None,
            received_before: None,
            cursor: None,
            limit: 50,
        }
    }

    /// Whether a case passes every filter (the store narrows with an index first).
    pub fn matches(&self, case: &Case) -> bool {
        case.tenant == self.tenant
            && self.status.is_none_or(|s| case.status == s)
            && self.sector.is_none_or(|s| case.sector == s)
            && self.received_from.is_none_or(|t| case.received_at >= t)
            && self.received_before.is_none_or(|t| case.received_at < t)
    }
}

/// One page of a listing, newest first.
#[derive(Debug, Clone, PartialEq)]
pub struct Page {
    pub cases: Vec<Case>,
    pub next_cursor: Option<String>,
}

/// What `redress audit verify` found.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct AuditReport {
    pub cases_checked: u64,
    pub events_checked: u64,
    pub problems: Vec<AuditProblem>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditProblem {
    pub case_id: String,
    pub problem: String,
}

impl AuditReport {
    pub fn is_clean(&self) -> bool {
        self.problems.is_empty()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("case {0} not found")]
    NotFound(CaseId),
    #[error("the case is at version {actual}, not {expected}: it changed since it was read")]
    VersionConflict { expected: u64, actual: u64 },
    #[error(transparent)]
    Refused(#[from] ApplyError),
    #[error("tracking code {0} is already in use")]
    TrackingCodeTaken(TrackingCode),
    #[error("case id {0} is already in use")]
    IdTaken(CaseId),
    #[error("the listing cursor is not valid for this query")]
    BadCursor,
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    #[error("{0}")]
    Chain(#[from] ChainError),
    #[error("the data directory holds on-disk format `{found}`; this build reads `{supported}`")]
    UnsupportedFormat {
        found: String,
        supported: &'static str,
    },
    #[error("storage failed: {0}")]
    Backend(String),
}

/// Case storage. Every method may block (disk I/O, waiting for durability): async callers run
/// it on a blocking thread.
pub trait CaseStore: Send + Sync + std::fmt::Debug + 'static {
    /// Registers a case (its `received` event and snapshot), durably.
    fn create(&self, new: NewCase) -> Result<Created, StoreError>;
    /// Records a handler action, checked against the lifecycle, durably. Returns the new
    /// snapshot and the event.
    fn append(&self, append: Append) -> Result<(Case, EventRecord), StoreError>;
    fn get(&self, tenant: &str, id: CaseId) -> Result<Option<Case>, StoreError>;
    fn get_by_tracking_code(&self, code: &str) -> Result<Option<Case>, StoreError>;
    /// A case's whole history, oldest first; `None` if the case does not exist for this tenant.
    fn events(&self, tenant: &str, id: CaseId) -> Result<Option<Vec<EventRecord>>, StoreError>;
    fn list(&self, query: &ListQuery) -> Result<Page, StoreError>;
    /// Re-checks every case: its chain links, every hash, and that its snapshot equals the
    /// replay of its events.
    fn verify(&self) -> Result<AuditReport, StoreError>;
}

/// Checks one case's stored history against its stored snapshot; shared by the backends.
pub(crate) fn audit_case(
    id: CaseId,
    snapshot: Option<&Case>,
    events: &[EventRecord],
    report: &mut AuditReport,
) {
    report.cases_checked += 1;
    report.events_checked += events.len() as u64;
    let mut problem = |p: String| {
        report.problems.push(AuditProblem {
            case_id: id.to_string(),
            problem: p,
        })
    };
    if let Err(e) = redress_domain::event::verify_chain(id, events) {
        problem(e.to_string());
        return;
    }
    match (Case::replay(events), snapshot) {
        (Err(e), _) => problem(format!("its history does not replay: {e}")),
        (Ok(_), None) => problem("events exist but the case snapshot is missing".into()),
        (Ok(replayed), Some(stored)) if &replayed != stored => problem(format!(
            "the stored snapshot (version {}, head {}) differs from the replay of its {} events (head {})",
            stored.version,
            stored.head_hash,
            events.len(),
            replayed.head_hash
        )),
        _ => {}
    }
}

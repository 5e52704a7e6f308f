//! Case storage behind a trait, so that a distributed backend can replace sled without anything
//! above this module changing.
//!
//! Contract of every implementation:
//! - a method that writes returns only once the write is durable (it survives a crash);
//! - a write either happens whole (event, snapshot, indexes) or not at all;
//! - a case's events are append-only and hash-chained (`redress_domain::event`);
//! - reads are scoped to a tenant: a case of another tenant is reported as absent.

mod group_commit;
pub mod ledger;
pub mod load;
pub mod memory;
pub mod sled_store;
#[cfg(test)]
mod tests;

use std::collections::BTreeSet;
use std::sync::Arc;

use jiff::Timestamp;
use redress_domain::{
    Actor, Case, CaseId, CaseIntake, EventKind, EventRecord, HandlerAction, Hash, Status, TenantId,
    TrackingCode,
    case::{ApplyError, Sector},
    clock::ClockState,
    event::ChainError,
    repeat::RepeatFacts,
};
use serde::Serialize;

pub use memory::MemoryStore;
pub use sled_store::{SledOptions, SledStore};

/// A case to register, with everything the store must not invent itself (ids and time are
/// chosen above the store, so that tests can fix them).
#[derive(Clone)]
pub struct NewCase {
    pub id: CaseId,
    pub tracking_code: TrackingCode,
    pub tenant: TenantId,
    pub intake: CaseIntake,
    /// The complainant key and the repeat candidates the service found, recorded on the
    /// `received` event (empty: none).
    pub repeat: RepeatFacts,
    pub actor: Actor,
    pub now: Timestamp,
    /// A client-chosen key: a retried create with the same key returns the first case instead of
    /// registering a second one.
    pub idempotency_key: Option<String>,
    /// Events to append right after registration, in the same write (the ruleset's decision on
    /// receipt).
    pub then: Option<Plan>,
}

impl std::fmt::Debug for NewCase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewCase")
            .field("id", &self.id)
            .field("tenant", &self.tenant)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Created {
    /// Registered now.
    New(Case),
    /// The idempotency key was seen before: this is the case it created.
    Existing(Case),
}

/// Decides, from the case as it stands inside the write transaction, which events to append.
/// It may run more than once (a transaction retried after a conflict) and must be pure.
pub type Plan = Arc<dyn Fn(&Case, Timestamp) -> Result<Vec<EventKind>, Refusal> + Send + Sync>;

/// Why a plan refused to write, judged on the case as it stands when it is written.
#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    /// The case does not allow it: its lifecycle, a clock's state, jurisdiction...
    #[error(transparent)]
    Case(#[from] ApplyError),
    /// The one acting may not act on the case as it now stands (a handler on a case that is
    /// not, or no longer, assigned to them). The reason is for the requester.
    #[error("{0}")]
    Forbidden(String),
    /// The case is outside the office scope of the one acting: it reads as absent (404), as
    /// another tenant's case does.
    #[error("no case {0}")]
    Hidden(CaseId),
}

/// Events to append to a case, decided by `plan` on the current snapshot.
#[derive(Clone)]
pub struct Append {
    /// The tenant the request acts for; `None` only for the server's own work (the scheduler).
    pub tenant: Option<TenantId>,
    pub id: CaseId,
    pub plan: Plan,
    pub actor: Actor,
    pub now: Timestamp,
    /// Refuse the write unless the case is at this version (optimistic concurrency).
    pub expected_version: Option<u64>,
}

impl std::fmt::Debug for Append {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Append")
            .field("tenant", &self.tenant)
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl Append {
    /// A single handler action, checked against the lifecycle.
    pub fn action(
        tenant: &TenantId,
        id: CaseId,
        action: HandlerAction,
        actor: Actor,
        now: Timestamp,
    ) -> Self {
        Append {
            tenant: Some(tenant.clone()),
            id,
            plan: Arc::new(move |_, _| {
                Ok(vec![EventKind::Handler {
                    action: action.clone(),
                }])
            }),
            actor,
            now,
            expected_version: None,
        }
    }
}

/// Applies a plan to a snapshot: the events it decided, sealed and applied in order. Events
/// that follow a ruleset's decision (or rule failure) are its consequences and are attributed
/// to the ruleset, not to whoever triggered it.
pub(crate) fn run_plan(
    case: &mut Case,
    plan: &Plan,
    actor: &Actor,
    now: Timestamp,
) -> Result<Vec<EventRecord>, Refusal> {
    let mut records = Vec::new();
    let mut current = actor.clone();
    for kind in plan(case, now)? {
        match &kind {
            EventKind::Handler { action } => {
                case.check_handler(action)?;
            }
            EventKind::Decision { ruleset, .. } => {
                current = crate::rules::apply::ruleset_actor(ruleset)
            }
            EventKind::RuleFailure {
                ruleset: Some(ruleset),
                ..
            } => current = crate::rules::apply::ruleset_actor(ruleset),
            _ => {}
        }
        let record = case.seal(kind, current.clone(), now);
        case.apply(&record)?;
        records.push(record);
    }
    Ok(records)
}

/// A clock that the scheduler owes a firing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DueClock {
    pub at: Timestamp,
    pub case_id: CaseId,
    pub clock: String,
    pub kind: DueKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum DueKind {
    Warning,
    Breach,
}

/// The firings a case owes, derived from its snapshot.
pub fn due_clocks(case: &Case) -> Vec<DueClock> {
    let mut due = Vec::new();
    for (name, clock) in &case.clocks {
        if let Some(at) = clock.warning_pending() {
            due.push(DueClock {
                at,
                case_id: case.id,
                clock: name.clone(),
                kind: DueKind::Warning,
            });
        }
        if let Some(at) = clock.breach_pending() {
            due.push(DueClock {
                at,
                case_id: case.id,
                clock: name.clone(),
                kind: DueKind::Breach,
            });
        }
    }
    due
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListQuery {
    pub tenant: TenantId,
    pub status: Option<Status>,
    pub sector: Option<Sector>,
    pub received_from: Option<Timestamp>,
    pub received_before: Option<Timestamp>,
    /// Only cases with a running clock due before this instant (soonest first).
    pub due_before: Option<Timestamp>,
    /// Only cases with a breached clock.
    pub overdue: bool,
    /// Only cases with this clock (and, with `due_before` / `overdue`, only this clock counts).
    pub clock: Option<String>,
    /// Only cases in manual handling (the rules could not decide), newest registered first.
    pub manual: bool,
    /// A work queue: only open cases the office has now (`Case::current_office`), overdue
    /// first, then soonest due, then those without a running clock (`ListOrder::Queue`).
    pub office: Option<String>,
    /// A work queue: only open cases assigned to this person, in the same order; with
    /// `office`, both must hold.
    pub assignee: Option<String>,
    /// Only the cases an office-scoped principal may see (`access::OfficeScope`).
    pub scope: Option<crate::access::OfficeScope>,
    /// An opaque cursor from a previous page.
    pub cursor: Option<String>,
    pub limit: usize,
}

/// Which index a listing walks, and so its order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListOrder {
    /// Breached cases, newest first.
    Overdue,
    /// Soonest earliest-due first.
    DueSoonest,
    /// Newest received first.
    Received,
    /// Cases in manual handling, newest registered first.
    Manual,
    /// Newest registered first.
    Registered,
    /// A work queue (`office` or `assignee`): overdue first (earliest breach first), then
    /// soonest due, then cases without a running clock (oldest received first).
    Queue,
}

impl ListQuery {
    pub fn tenant(tenant: &TenantId) -> Self {
        ListQuery {
            tenant: tenant.clone(),
            status: None,
            sector: None,
            received_from: None,
            received_before: None,
            due_before: None,
            overdue: false,
            clock: None,
            manual: false,
            office: None,
            assignee: None,
            scope: None,
            cursor: None,
            limit: 50,
        }
    }

    pub fn order(&self) -> ListOrder {
        if self.office.is_some() || self.assignee.is_some() {
            ListOrder::Queue
        } else if self.overdue {
            ListOrder::Overdue
        } else if self.manual {
            ListOrder::Manual
        } else if self.due_before.is_some() {
            ListOrder::DueSoonest
        } else if self.status.is_none()
            && self.sector.is_none()
            && (self.received_from.is_some() || self.received_before.is_some())
        {
            ListOrder::Received
        } else {
            ListOrder::Registered
        }
    }

    /// Whether a case passes every filter (the store narrows with an index first).
    pub fn matches(&self, case: &Case) -> bool {
        let clocks = || {
            case.clocks
                .iter()
                .filter(|(name, _)| self.clock.as_ref().is_none_or(|c| c == *name))
        };
        case.tenant == self.tenant
            && self.status.is_none_or(|s| case.status == s)
            && self.sector.is_none_or(|s| case.sector == s)
            && self.received_from.is_none_or(|t| case.received_at >= t)
            && self.received_before.is_none_or(|t| case.received_at < t)
            && self
                .clock
                .as_ref()
                .is_none_or(|c| case.clocks.contains_key(c))
            && self.due_before.is_none_or(|t| {
                clocks().any(|(_, c)| c.breach_pending().is_some_and(|due| due < t))
            })
            && (!self.overdue || clocks().any(|(_, c)| c.state == ClockState::Breached))
            && (!self.manual || case.manual_handling.is_some())
            && (self.office.is_none() && self.assignee.is_none() || case.is_open())
            && self
                .office
                .as_deref()
                .is_none_or(|o| case.current_office() == Some(o))
            && self
                .assignee
                .as_deref()
                .is_none_or(|a| case.assignee() == Some(a))
            && self.scope.as_ref().is_none_or(|scope| scope.admits(case))
    }
}

/// A case's place in a work queue: overdue first (by its earliest breach), then by its
/// earliest due time, then the cases without a running clock by receipt. The rank byte comes
/// first, so that byte order is queue order.
pub fn queue_position(case: &Case) -> (u8, Timestamp) {
    let breached = case
        .clocks
        .values()
        .filter(|c| c.state == ClockState::Breached)
        .filter_map(|c| c.breached_at.or(c.due_at))
        .min();
    match (breached, earliest_due(case)) {
        (Some(at), _) => (0, at),
        (None, Some(due)) => (1, due),
        (None, None) => (2, case.received_at),
    }
}

/// The earliest due time among a case's running clocks: its position in the due listing.
pub fn earliest_due(case: &Case) -> Option<Timestamp> {
    case.clocks
        .values()
        .filter_map(|c| c.breach_pending())
        .min()
}

/// The clocks that still owe something (running or breached) and were computed with a year
/// that had no published schedule.
pub fn provisional_clocks(case: &Case) -> impl Iterator<Item = &str> {
    case.clocks
        .iter()
        .filter(|(_, c)| c.provisional && owes(c))
        .map(|(name, _)| name.as_str())
}

/// The calendars of the clocks whose due time a new calendar could move: running or breached
/// (a paused clock has no due time; it is computed with the calendar in force when it resumes).
pub fn open_clock_calendars(case: &Case) -> BTreeSet<&str> {
    case.clocks
        .values()
        .filter(|c| owes(c))
        .map(|c| c.spec.calendar.as_str())
        .collect()
}

fn owes(clock: &redress_domain::clock::CaseClock) -> bool {
    matches!(clock.state, ClockState::Running | ClockState::Breached)
}

/// Counts an operator watches (`/readyz`, the log): things that need a person.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct HealthCounts {
    /// Cases whose rules could not decide, across tenants.
    pub manual_handling: u64,
    /// Running or breached clocks computed with a provisional year, across tenants.
    pub provisional_clocks: u64,
}

/// Whether any clock of the case is breached: its presence in the overdue listing.
pub fn is_overdue(case: &Case) -> bool {
    case.clocks
        .values()
        .any(|c| c.state == ClockState::Breached)
}

/// The tenant's cases with one complainant key received within a time range (both ends
/// included, at millisecond precision): where repeat detection looks for earlier cases.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComplainantQuery {
    pub tenant: TenantId,
    /// The complainant key's digest (`Case::complainant_key`).
    pub digest: Hash,
    pub received_from: Timestamp,
    pub received_until: Timestamp,
    /// At most this many, newest received first.
    pub limit: usize,
}

impl ComplainantQuery {
    /// Whether `case` answers the query (the store narrows with its index first).
    pub fn matches(&self, case: &Case) -> bool {
        let ms = case.received_at.as_millisecond();
        case.tenant == self.tenant
            && case
                .complainant_key
                .as_ref()
                .is_some_and(|k| k.digest == self.digest)
            && self.received_from.as_millisecond() <= ms
            && ms <= self.received_until.as_millisecond()
    }
}

/// The open cases of a tenant, or of one office: what the supervisor's board counts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OpenCases {
    /// When each open case was received (for the backlog by age), in no particular order.
    pub received: Vec<Timestamp>,
    /// The open cases nobody is assigned to: an office's in queue order, a tenant's newest
    /// registered first (the listing's orders).
    pub unassigned: Vec<CaseId>,
}

/// One page of a listing, newest first.
#[derive(Debug, Clone, PartialEq)]
pub struct Page {
    pub cases: Vec<Case>,
    pub next_cursor: Option<String>,
}

/// What `redress audit verify` found.
#[derive(
    Debug, Clone, Default, PartialEq, Eq, Serialize, serde::Deserialize, schemars::JsonSchema,
)]
pub struct AuditReport {
    pub cases_checked: u64,
    pub events_checked: u64,
    pub problems: Vec<AuditProblem>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize, schemars::JsonSchema)]
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
    /// A plan refused the one acting ([`Refusal::Forbidden`]).
    #[error("{0}")]
    Forbidden(String),
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
    /// Another process holds the store (sled locks its directory for one process).
    #[error(
        "it is in use by another process (is a server running on it?); stop that process, or ask the server instead (e.g. `redress audit verify --server http://ADDRESS --api-key KEY`)"
    )]
    Locked { path: String },
    /// The case changed between the read a write decided on and the write: decide again.
    /// Internal to a backend's retry loop; never returned to a caller.
    #[error("the case changed while the write was decided")]
    Stale,
}

impl From<Refusal> for StoreError {
    fn from(refusal: Refusal) -> Self {
        match refusal {
            Refusal::Case(e) => StoreError::Refused(e),
            Refusal::Forbidden(reason) => StoreError::Forbidden(reason),
            Refusal::Hidden(id) => StoreError::NotFound(id),
        }
    }
}

/// Case storage. Every method may block (disk I/O, waiting for durability): async callers run
/// it on a blocking thread.
pub trait CaseStore: Send + Sync + std::fmt::Debug + 'static {
    /// Registers a case (its `received` event and snapshot), durably.
    fn create(&self, new: NewCase) -> Result<Created, StoreError>;
    /// Appends the events `append.plan` decides on the current snapshot, all or none, durably.
    /// Returns the new snapshot and the events (none when the plan decided nothing).
    fn append(&self, append: Append) -> Result<(Case, Vec<EventRecord>), StoreError>;
    /// The firings owed at or before `until`, earliest first (at most `limit`).
    fn due(&self, until: Timestamp, limit: usize) -> Result<Vec<DueClock>, StoreError>;
    fn get(&self, tenant: &TenantId, id: CaseId) -> Result<Option<Case>, StoreError>;
    fn get_by_tracking_code(&self, code: &str) -> Result<Option<Case>, StoreError>;
    /// A case's whole history, oldest first; `None` if the case does not exist for this tenant.
    fn events(&self, tenant: &TenantId, id: CaseId)
    -> Result<Option<Vec<EventRecord>>, StoreError>;
    fn list(&self, query: &ListQuery) -> Result<Page, StoreError>;
    /// The tenant's cases with the query's complainant key received in its range, newest
    /// received first (then newest id), at most `limit`: a range of an index, never a scan of
    /// the tenant's cases.
    fn same_complainant(&self, query: &ComplainantQuery) -> Result<Vec<Case>, StoreError>;
    /// Re-checks every case: its chain links, every hash, and that its snapshot equals the
    /// replay of its events.
    fn verify(&self) -> Result<AuditReport, StoreError>;
    /// Every case (of any tenant) with a running or breached clock on `calendar`, from an
    /// index: what a changed calendar may have to revise.
    fn cases_with_open_clocks(&self, calendar: &str) -> Result<Vec<CaseId>, StoreError>;
    /// The open cases of `tenant` (of `office` only, if given; as `ListQuery::office` has
    /// them). This default walks the listing and reads every snapshot; a backend with indexes
    /// answers from them without reading any.
    fn open_cases(&self, tenant: &TenantId, office: Option<&str>) -> Result<OpenCases, StoreError> {
        let mut open = OpenCases::default();
        let mut cursor = None;
        loop {
            let mut query = ListQuery::tenant(tenant);
            query.office = office.map(str::to_owned);
            query.limit = 500;
            query.cursor = cursor;
            let page = self.list(&query)?;
            for case in page.cases.iter().filter(|c| c.is_open()) {
                open.received.push(case.received_at);
                if case.assignee().is_none() {
                    open.unassigned.push(case.id);
                }
            }
            cursor = page.next_cursor;
            if cursor.is_none() {
                return Ok(open);
            }
        }
    }
    /// The counts `/readyz` reports, from indexes.
    fn health_counts(&self) -> Result<HealthCounts, StoreError>;
    /// What the store had lost of the writes it acknowledged, found when it was opened
    /// (compared with the acknowledgement ledger); empty when nothing was lost.
    fn acknowledged_losses(&self) -> Vec<AuditProblem> {
        Vec::new()
    }
    /// Every case's version and chain head (of `tenant`'s cases only, if given), by case id:
    /// what an audit checkpoint signs.
    fn heads(&self, tenant: Option<&TenantId>) -> Result<Vec<(CaseId, u64, Hash)>, StoreError>;
    /// The hash of event `seq` of case `id` (of any tenant), if it is stored.
    fn event_hash(&self, id: CaseId, seq: u64) -> Result<Option<Hash>, StoreError>;
}

/// Checks one case's stored history against its stored snapshot; shared by the backends.
pub(crate) fn audit_case(
    id: CaseId,
    snapshot: Option<&Case>,
    stored: &[redress_domain::event::StoredEvent],
    report: &mut AuditReport,
) {
    let events: Vec<EventRecord> = stored.iter().map(|e| e.record.clone()).collect();
    report.cases_checked += 1;
    report.events_checked += events.len() as u64;
    let mut problem = |p: String| {
        report.problems.push(AuditProblem {
            case_id: id.to_string(),
            problem: p,
        })
    };
    if let Err(e) = redress_domain::event::verify_chain(id, stored) {
        problem(e.to_string());
        return;
    }
    match (Case::replay(&events), snapshot) {
        (Err(e), _) => problem(format!("its history does not replay: {e}")),
        (Ok(_), None) => problem("events exist but the case snapshot is missing".into()),
        (Ok(replayed), Some(snapshot)) if &replayed != snapshot => problem(format!(
            "the stored snapshot (version {}, head {}) differs from the replay of its {} events (head {})",
            snapshot.version,
            snapshot.head_hash,
            events.len(),
            replayed.head_hash
        )),
        _ => {}
    }
}

//! The application core: validates requests, chooses ids and time, turns requests into plans
//! that the store applies atomically, and fires due clocks. The HTTP layer, the scheduler task
//! and the CLI are thin shells around it.

mod cases;
mod decide;
mod deploy;
mod explain;
mod firing;
mod repeats;

use std::sync::{Arc, PoisonError, RwLock};

use redress_calendar::CalendarSet;
use redress_domain::{
    Actor, Case, CaseId, EventKind, EventRecord, TenantId, ValidationErrors, case::ApplyError,
};

use crate::{
    routing::RoutingTables,
    rules::Registry,
    store::{Append, CaseStore, Plan, StoreError},
    time_source::TimeSource,
};

pub use cases::Acting;
pub use decide::decide;
pub use deploy::DeployError;

/// Why a request to the service failed.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error("invalid request: {0}")]
    Invalid(ValidationErrors),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The blocking task running the store call failed (it panicked): whether a write took
    /// effect is not known.
    #[error("internal task failed: {0}")]
    Task(String),
}

/// The calendars in force; replaced whole when the calendar files change.
#[derive(Debug, Clone)]
pub struct Calendars(Arc<RwLock<Arc<CalendarSet>>>);

impl Calendars {
    pub fn new(set: CalendarSet) -> Self {
        Calendars(Arc::new(RwLock::new(Arc::new(set))))
    }

    pub fn current(&self) -> Arc<CalendarSet> {
        Arc::clone(&self.0.read().unwrap_or_else(PoisonError::into_inner))
    }

    pub fn replace(&self, set: CalendarSet) {
        *self.0.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(set);
    }
}

/// Handles shared by every request.
#[derive(Debug, Clone)]
pub struct Redress {
    store: Arc<dyn CaseStore>,
    time: Arc<dyn TimeSource>,
    calendars: Calendars,
    rules: Arc<Registry>,
    /// Where deployed packages are kept, so that a restart reinstalls them.
    deployed_dir: Option<std::path::PathBuf>,
    /// The built-in rulesets' folder: the bases a deployed package may `extend`.
    base_rulesets: Option<std::path::PathBuf>,
    routing: Arc<RoutingTables>,
    /// Where each tenant's trusted plugin-vendor keys are kept (`<tenant>.toml`).
    plugin_keys_dir: Option<std::path::PathBuf>,
    /// The calendar versions the open clocks were last reconciled with (`revision.rs`).
    calendar_record: Arc<crate::revision::CalendarRecord>,
    /// The key complainant keys are computed with (`<data>/repeat.key` for a server).
    repeat_key: crate::repeat::RepeatKey,
}

impl Redress {
    pub fn new(
        store: Arc<dyn CaseStore>,
        time: Arc<dyn TimeSource>,
        calendars: Calendars,
        rules: Arc<Registry>,
    ) -> Self {
        Redress {
            store,
            time,
            calendars,
            rules,
            deployed_dir: None,
            base_rulesets: None,
            routing: Arc::new(RoutingTables::default()),
            plugin_keys_dir: None,
            calendar_record: Arc::new(crate::revision::CalendarRecord::in_memory()),
            // For this process only, until `with_repeat_key` gives the server's own: the
            // thread RNG is a CSPRNG seeded from the operating system.
            repeat_key: crate::repeat::RepeatKey::from_bytes(rand::random()),
        }
    }

    /// Computes complainant keys with `key` (the server's, kept in the data directory, so that
    /// keys stay comparable across restarts).
    pub fn with_repeat_key(mut self, key: crate::repeat::RepeatKey) -> Self {
        self.repeat_key = key;
        self
    }

    /// Keeps the calendar versions the open clocks were reconciled with in `path`, so that a
    /// restart after a calendar change (or in the middle of a revision) finishes the revision.
    /// `pause` is waited after each case a revision touches, to leave room for live requests.
    pub fn with_calendar_record(
        mut self,
        path: std::path::PathBuf,
        pause: std::time::Duration,
    ) -> Self {
        self.calendar_record = Arc::new(crate::revision::CalendarRecord::at(path, pause));
        self
    }

    pub(crate) fn calendar_record(&self) -> &Arc<crate::revision::CalendarRecord> {
        &self.calendar_record
    }

    /// The counts an operator watches: cases in manual handling, provisional clocks.
    pub async fn health_counts(&self) -> Result<crate::store::HealthCounts, ServiceError> {
        self.blocking(|store| store.health_counts()).await
    }

    /// Resolves the rulesets' `route` actions through each tenant's routing table.
    pub fn with_routing(mut self, routing: Arc<RoutingTables>) -> Self {
        self.routing = routing;
        self
    }

    pub fn routing(&self) -> &Arc<RoutingTables> {
        &self.routing
    }

    pub fn rules(&self) -> &Arc<Registry> {
        &self.rules
    }

    pub fn time(&self) -> &Arc<dyn TimeSource> {
        &self.time
    }

    pub fn store(&self) -> &Arc<dyn CaseStore> {
        &self.store
    }

    pub fn calendars(&self) -> &Calendars {
        &self.calendars
    }

    /// Appends what `plan` decides as the server's own work (any tenant's case).
    pub(crate) async fn append_system(
        &self,
        id: CaseId,
        plan: Plan,
    ) -> Result<Vec<EventRecord>, ServiceError> {
        Ok(self.append(None, id, plan, Actor::system(), None).await?.1)
    }

    /// Runs `work` on the store from a blocking thread (every store call may block).
    pub(crate) async fn blocking<T, F>(&self, work: F) -> Result<T, ServiceError>
    where
        T: Send + 'static,
        F: FnOnce(&dyn CaseStore) -> Result<T, StoreError> + Send + 'static,
    {
        let store = Arc::clone(&self.store);
        tokio::task::spawn_blocking(move || work(store.as_ref()))
            .await
            .map_err(|e| ServiceError::Task(e.to_string()))?
            .map_err(ServiceError::from)
    }

    /// Appends what `plan` decides about the case as it stands when it is written (the store
    /// runs the plan again if the case changed meanwhile), logs every rule failure it
    /// recorded, and links the earlier case of a merge the rules decided.
    async fn append(
        &self,
        tenant: Option<TenantId>,
        id: CaseId,
        plan: Plan,
        actor: Actor,
        expected_version: Option<u64>,
    ) -> Result<(Case, Vec<EventRecord>), ServiceError> {
        let (case, events) = self
            .append_once(tenant, id, plan, actor, expected_version)
            .await?;
        self.link_merge(&case, repeats::merges(&events)).await;
        Ok((case, events))
    }

    /// [`Redress::append`] without the merge links (what the link itself is written with).
    async fn append_once(
        &self,
        tenant: Option<TenantId>,
        id: CaseId,
        plan: Plan,
        actor: Actor,
        expected_version: Option<u64>,
    ) -> Result<(Case, Vec<EventRecord>), ServiceError> {
        let now = self.time.now();
        let (case, events) = self
            .blocking(move |store| {
                store.append(Append {
                    tenant,
                    id,
                    plan,
                    actor,
                    now,
                    expected_version,
                })
            })
            .await?;
        for event in &events {
            if let EventKind::RuleFailure {
                ruleset, trigger, ..
            } = &event.event
            {
                warn_manual_handling(case.id, ruleset.as_ref(), &trigger.describe());
            }
        }
        Ok((case, events))
    }
}

/// The log line an operator watches for. The failure's text stays with the case (it may quote
/// the case's facts); the log names only the case, the ruleset and the trigger.
fn warn_manual_handling(
    case_id: CaseId,
    ruleset: Option<&redress_domain::contract::RulesetRef>,
    trigger: &str,
) {
    let ruleset = ruleset.map_or_else(|| "none".to_owned(), |r| format!("{}@{}", r.id, r.version));
    tracing::warn!(
        %case_id,
        %ruleset,
        trigger,
        "the rules could not decide: the case is in manual handling until a handler clears it"
    );
}

impl From<ApplyError> for ServiceError {
    fn from(e: ApplyError) -> Self {
        ServiceError::Store(StoreError::Refused(e))
    }
}

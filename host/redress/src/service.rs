//! The application core: validates requests, chooses ids and time, turns requests into plans
//! that the store applies atomically, and fires due clocks. The HTTP layer, the scheduler task
//! and the CLI are thin shells around it.

use std::sync::{Arc, PoisonError, RwLock};

use jiff::Timestamp;
use rand::Rng;
use redress_calendar::CalendarSet;
use redress_domain::{
    Actor, Case, CaseId, CaseIntake, EventKind, EventRecord, HandlerAction, Status, TrackingCode,
    ValidationErrors,
    case::ApplyError,
    clock::{ClockAction, ClockChange, ClockState},
    contract::Trigger,
};

use crate::{
    clock::Clock,
    deadlines,
    routing::{RoutingTables, check_jurisdiction, resolve_route_actions},
    rules::{
        LoadedRuleset, Registry, RuleContext,
        apply::decision_events,
        registry::{Activated, Package, PackageError, Prepared, RulesetSummary, StateChangeError},
    },
    store::{
        Append, AuditReport, CaseStore, Created, DueClock, DueKind, ListQuery, NewCase, Page, Plan,
        StoreError,
    },
};

#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error("invalid request: {0}")]
    Invalid(ValidationErrors),
    #[error(transparent)]
    Store(#[from] StoreError),
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
    clock: Arc<dyn Clock>,
    calendars: Calendars,
    rules: Arc<Registry>,
    /// Where deployed packages are kept, so that a restart reinstalls them.
    deployed_dir: Option<std::path::PathBuf>,
    routing: Arc<RoutingTables>,
    /// Where each tenant's trusted plugin-vendor keys are kept (`<tenant>.toml`).
    plugin_keys_dir: Option<std::path::PathBuf>,
    /// The calendar versions the open clocks were last reconciled with (`revision.rs`).
    calendar_record: Arc<crate::revision::CalendarRecord>,
}

/// Why a deployment was refused.
#[derive(Debug, thiserror::Error)]
pub enum DeployError {
    #[error(transparent)]
    Package(#[from] PackageError),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("the package could not be stored: {0}")]
    Storage(String),
}

/// The ruleset that decides a case: the version it is pinned to, or (before its first
/// decision) the one selected by tenant, sector and receipt date.
fn ruleset_for(rules: &Registry, case: &Case) -> Result<Arc<LoadedRuleset>, String> {
    match &case.ruleset {
        Some(pin) => rules.find(pin).ok_or_else(|| {
            format!(
                "the ruleset the case is pinned to ({} {}) is not installed",
                pin.id, pin.version
            )
        }),
        None => {
            let received = case.received_at.to_zoned(case.time_zone()).date();
            rules
                .select(&case.tenant, case.sector, received)
                .ok_or_else(|| {
                    format!(
                        "no active ruleset for sector `{}` and receipt date {received}",
                        case.sector.as_str()
                    )
                })
        }
    }
}

/// The events recording the rules' decision on `trigger` for `case` (as it stands after the
/// triggering event). With no ruleset to ask, a rule failure: the case goes to manual handling.
pub fn decide(
    rules: &Registry,
    calendars: &CalendarSet,
    trigger: Trigger,
    case: &Case,
    now: Timestamp,
) -> Vec<EventKind> {
    match ruleset_for(rules, case) {
        Ok(ruleset) => decision_events(&ruleset, trigger, case, &RuleContext { now, calendars }),
        // A case no ruleset covers was sent to manual handling when it was received; saying so
        // again on every later event would only bury the history.
        Err(_) if case.ruleset.is_none() && trigger != Trigger::CaseReceived => Vec::new(),
        Err(reason) => vec![EventKind::RuleFailure {
            ruleset: case.ruleset.clone(),
            trigger,
            reason,
        }],
    }
}

/// The folder of deployed packages that apply to every tenant (deployed with an operator key);
/// a tenant's are under the tenant's id.
const OPERATOR_NAMESPACE: &str = "_operator";

/// Writes a package under `<dir>/<id>/<version>/`, durably: files are written to a temporary
/// folder, synced, and renamed into place, so a crash leaves either the whole package or none.
fn persist_package(
    dir: &std::path::Path,
    id: &str,
    version: &str,
    package: &Package,
) -> std::io::Result<()> {
    use std::io::Write;
    let target = dir.join(id).join(version);
    let staging = dir.join(format!(".staging-{id}-{version}"));
    if staging.exists() {
        std::fs::remove_dir_all(&staging)?;
    }
    let contents = package
        .files
        .iter()
        .map(|(path, text)| (path, text.as_bytes()))
        .chain(
            package
                .binaries
                .iter()
                .map(|(path, bytes)| (path, bytes.as_slice())),
        );
    for (path, content) in contents {
        // Paths were checked by `check_package_path`: relative, no `..`.
        let file_path = staging.join(path);
        if let Some(parent) = file_path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        let mut file = std::fs::File::create(&file_path)?;
        file.write_all(content)?;
        file.sync_all()?;
    }
    if let Some(parent) = target.parent() {
        std::fs::create_dir_all(parent)?;
    }
    if target.exists() {
        std::fs::remove_dir_all(&target)?;
    }
    std::fs::rename(&staging, &target)?;
    std::fs::File::open(target.parent().unwrap_or(dir))?.sync_all()?;
    Ok(())
}

/// Applies `events` to a copy of `case`, to see the case the rules will be asked about.
fn after(case: &Case, events: &[EventKind], now: Timestamp) -> Result<Case, ApplyError> {
    let mut scratch = case.clone();
    for kind in events {
        scratch.preview(kind, now)?;
    }
    Ok(scratch)
}

/// How often registration retries after drawing a tracking code that is taken. With 40 random
/// bits a second collision in a row means something else is wrong.
const TRACKING_CODE_ATTEMPTS: usize = 4;

/// How many due firings one scheduler pass takes on.
const SCHEDULER_BATCH: usize = 256;

impl Redress {
    pub fn new(
        store: Arc<dyn CaseStore>,
        clock: Arc<dyn Clock>,
        calendars: Calendars,
        rules: Arc<Registry>,
    ) -> Self {
        Redress {
            store,
            clock,
            calendars,
            rules,
            deployed_dir: None,
            routing: Arc::new(RoutingTables::default()),
            plugin_keys_dir: None,
            calendar_record: Arc::new(crate::revision::CalendarRecord::in_memory()),
        }
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

    /// Keeps each tenant's trusted plugin-vendor keys under `dir`.
    pub fn with_plugin_keys_dir(mut self, dir: std::path::PathBuf) -> Self {
        self.plugin_keys_dir = Some(dir);
        self
    }

    /// The vendor keys `tenant` trusts for its own plugins, as stored (`None`: none set).
    pub fn plugin_keys(&self, tenant: &str) -> Option<String> {
        let dir = self.plugin_keys_dir.as_ref()?;
        std::fs::read_to_string(dir.join(format!("{tenant}.toml"))).ok()
    }

    /// Replaces the vendor keys `tenant` trusts for its own plugins: checked, stored durably,
    /// then in force for the next deployment. Packages already active stay active.
    pub async fn set_plugin_keys(&self, tenant: String, text: String) -> Result<(), DeployError> {
        let keys = crate::rules::signing::TrustStore::parse(&text, "toml")
            .map_err(|e| DeployError::Package(PackageError::Invalid(e.to_string())))?;
        let rules = Arc::clone(&self.rules);
        let dir = self.plugin_keys_dir.clone();
        tokio::task::spawn_blocking(move || {
            if let Some(dir) = dir {
                std::fs::create_dir_all(&dir)
                    .and_then(|()| {
                        crate::durable::write_file(
                            &dir.join(format!("{tenant}.toml")),
                            text.as_bytes(),
                            false,
                        )
                    })
                    .map_err(|e| DeployError::Storage(e.to_string()))?;
            }
            rules.set_tenant_trust(&tenant, keys);
            Ok(())
        })
        .await
        .map_err(|e| DeployError::Storage(e.to_string()))?
    }

    /// Resolves the rulesets' `route` actions through each tenant's routing table.
    pub fn with_routing(mut self, routing: Arc<RoutingTables>) -> Self {
        self.routing = routing;
        self
    }

    pub fn routing(&self) -> &Arc<RoutingTables> {
        &self.routing
    }

    /// Keeps deployed packages under `dir` (normally `<data>/rulesets`).
    pub fn with_deployed_dir(mut self, dir: std::path::PathBuf) -> Self {
        self.deployed_dir = Some(dir);
        self
    }

    /// Validates a package (compiles it, runs its fixture cases), stores it durably, then
    /// activates it. Returns the summary and whether it is new (false: the same version with
    /// the same content was already active). A refused package changes nothing.
    ///
    /// A package naming a tenant is deployed by that tenant; one without (it applies to every
    /// tenant) only by the operator (`operator`: the request carries the operator role, see
    /// `Principal::is_operator`), never merely by a key of the `default` tenant.
    pub async fn deploy(
        &self,
        tenant: String,
        operator: bool,
        package: Package,
    ) -> Result<(RulesetSummary, bool), DeployError> {
        let rules = Arc::clone(&self.rules);
        let calendars = self.calendars.current();
        let deployed_dir = self.deployed_dir.clone();
        tokio::task::spawn_blocking(move || {
            // Who may deploy it is decided from the manifest before anything is compiled or
            // compared: a package for another tenant is refused without looking at that
            // tenant's packages.
            let manifest = package.manifest()?;
            match (&manifest.tenant, tenant.as_str()) {
                (Some(own), requester) if own == requester => {}
                (None, _) if operator => {}
                (Some(own), requester) => {
                    return Err(DeployError::Forbidden(format!(
                        "the package is for tenant `{own}`; the request acts for `{requester}`"
                    )));
                }
                (None, _) => {
                    return Err(DeployError::Forbidden(
                        "a package without `tenant` applies to every tenant and can only be deployed with an `operator` key".into(),
                    ));
                }
            }
            let prepared = rules.prepare(&package, &calendars)?;
            let loaded = match prepared {
                Prepared::AlreadyActive(existing) => return Ok((existing.summary(), false)),
                Prepared::Ready(loaded) => loaded,
            };
            if let Some(dir) = &deployed_dir {
                let namespace = loaded.manifest.tenant.as_deref().unwrap_or(OPERATOR_NAMESPACE);
                persist_package(
                    &dir.join(namespace),
                    &loaded.manifest.id,
                    &loaded.manifest.version,
                    &package,
                )
                .map_err(|e| DeployError::Storage(e.to_string()))?;
            }
            let active = match rules.activate(*loaded)? {
                Activated::New(active) => active,
                Activated::AlreadyActive(existing) => return Ok((existing.summary(), false)),
            };
            tracing::info!(id = %active.manifest.id, version = %active.manifest.version, "ruleset deployed");
            Ok((active.summary(), true))
        })
        .await
        .map_err(|e| DeployError::Storage(e.to_string()))?
    }

    /// Suspends (`Some(reason)`) or resumes (`None`) a ruleset version. A tenant acts on its
    /// own versions; the built-in ones belong to the operator (`operator`: the request carries
    /// the operator role), who may act on any version. Another tenant's version is reported as
    /// absent.
    pub async fn set_ruleset_state(
        &self,
        tenant: &str,
        operator: bool,
        id: &str,
        version: &str,
        suspend: Option<&str>,
    ) -> Result<RulesetSummary, DeployError> {
        use redress_domain::contract::RulesetRef;
        let absent = || DeployError::NotFound(format!("no ruleset {id} {version}"));
        // The tenant's own package of that id and version, else the built-in one: ids are per
        // tenant, and another tenant's packages are not addressed at all.
        let own = RulesetRef::named(Some(tenant), id, version);
        let builtin = RulesetRef::named(None, id, version);
        let (reference, ruleset) = match (self.rules.find(&own), self.rules.find(&builtin)) {
            (Some(ruleset), _) => (own, ruleset),
            (None, Some(ruleset)) => (builtin, ruleset),
            // The operator may act on any tenant's package, found by id and version when only
            // one tenant has it.
            (None, None) if operator => {
                let mut found = self.rules.named_in_any_namespace(id, version);
                if found.len() > 1 {
                    return Err(DeployError::Forbidden(format!(
                        "{} tenants have a ruleset {id} {version} ({}); act with a key of the tenant whose version it is",
                        found.len(),
                        found
                            .iter()
                            .filter_map(|r| r.manifest.tenant.clone())
                            .collect::<Vec<_>>()
                            .join(", ")
                    )));
                }
                let ruleset = found.pop().ok_or_else(absent)?;
                (ruleset.manifest.reference(), ruleset)
            }
            (None, None) => return Err(absent()),
        };
        match (ruleset.manifest.tenant.as_deref(), tenant) {
            (Some(own), requester) if own == requester => {}
            _ if operator => {}
            (Some(_), _) => return Err(absent()),
            (None, requester) => {
                return Err(DeployError::Forbidden(format!(
                    "{id} {version} applies to every tenant; only an `operator` key changes its state, not a key of `{requester}` without that role"
                )));
            }
        }
        let rules = Arc::clone(&self.rules);
        let suspend = suspend.map(str::to_owned);
        let changed =
            tokio::task::spawn_blocking(move || rules.set_state(&reference, suspend.as_deref()))
                .await
                .map_err(|e| DeployError::Storage(e.to_string()))?
                .map_err(|e| match e {
                    StateChangeError::NotFound { .. } => absent(),
                    StateChangeError::Storage(reason) => DeployError::Storage(reason),
                })?;
        tracing::warn!(%id, %version, state = ?changed.state(), %tenant, "ruleset state changed by an operator");
        Ok(changed.summary())
    }

    pub fn rules(&self) -> &Arc<Registry> {
        &self.rules
    }

    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
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

    pub async fn create_case(
        &self,
        tenant: String,
        intake: CaseIntake,
        actor: Actor,
        idempotency_key: Option<String>,
    ) -> Result<Created, ServiceError> {
        let now = self.clock.now();
        intake.validate(now).map_err(ServiceError::Invalid)?;
        let mut last_error = None;
        for _ in 0..TRACKING_CODE_ATTEMPTS {
            let (id, tracking_code) = {
                let mut rng = rand::rng();
                let ms = u64::try_from(now.as_millisecond()).unwrap_or(0);
                (
                    CaseId::from_parts(ms, rng.random::<u128>()),
                    TrackingCode::from_random(rng.random::<u64>()),
                )
            };
            let new = NewCase {
                id,
                tracking_code,
                tenant: tenant.clone(),
                intake: intake.clone(),
                actor: actor.clone(),
                now,
                idempotency_key: idempotency_key.clone(),
                then: Some(self.with_decision(Arc::new(|_, _| Ok(Vec::new())), |_| {
                    Some(Trigger::CaseReceived)
                })),
            };
            match self.blocking(move |store| store.create(new)).await {
                Err(ServiceError::Store(
                    e @ (StoreError::TrackingCodeTaken(_) | StoreError::IdTaken(_)),
                )) => {
                    last_error = Some(e);
                }
                Ok(Created::New(case)) => {
                    if let Some(manual) = &case.manual_handling {
                        warn_manual_handling(case.id, manual.ruleset.as_ref(), "case received");
                    }
                    return Ok(Created::New(case));
                }
                other => return other,
            }
        }
        Err(ServiceError::Store(last_error.unwrap_or(
            StoreError::Backend("no id could be drawn".into()),
        )))
    }

    async fn append(
        &self,
        tenant: Option<String>,
        id: CaseId,
        plan: Plan,
        actor: Actor,
        expected_version: Option<u64>,
    ) -> Result<(Case, Vec<EventRecord>), ServiceError> {
        let now = self.clock.now();
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

    /// Records a handler action. When it ends the case (closed, withdrawn), every clock still
    /// counting is stopped in the same write: nothing is owed on a finished case.
    pub async fn act(
        &self,
        tenant: String,
        id: CaseId,
        action: HandlerAction,
        actor: Actor,
        expected_version: Option<u64>,
    ) -> Result<(Case, Vec<EventRecord>), ServiceError> {
        action.validate().map_err(ServiceError::Invalid)?;
        let trigger_action = action.clone();
        let routing = Arc::clone(&self.routing);
        let plan: Plan = Arc::new(move |case: &Case, _now| {
            let next = case.check_handler(&action)?;
            check_jurisdiction(routing.get(&case.tenant).as_deref(), case, &action)
                .map_err(ApplyError::Jurisdiction)?;
            let mut events = vec![EventKind::Handler {
                action: action.clone(),
            }];
            let met = case.clocks_met_by(&action);
            let is_met = |clock: &str| {
                met.iter()
                    .any(|e| matches!(e, EventKind::Clock { name, .. } if name == clock))
            };
            if matches!(next, Status::Closed | Status::Withdrawn) {
                for (name, clock) in &case.clocks {
                    if matches!(clock.state, ClockState::Running | ClockState::Paused)
                        && !is_met(name)
                    {
                        events.push(EventKind::Clock {
                            name: name.clone(),
                            change: ClockChange::Stopped {
                                met: false,
                                reason: Some(format!("case {}", next)),
                            },
                        });
                    }
                }
            }
            events.extend(met);
            Ok(events)
        });
        let plan = self.with_decision(plan, move |_| {
            // Clearing manual handling is a person's word about the case, not a fact for the
            // rules: asking them again could put it straight back.
            (!matches!(trigger_action, HandlerAction::ClearManualHandling { .. })).then(|| {
                Trigger::HandlerEvent {
                    action: trigger_action.clone(),
                }
            })
        });
        self.append(Some(tenant), id, plan, actor, expected_version)
            .await
    }

    /// A plan that appends what `first` decides and then the rules' decision on the trigger
    /// `trigger_of` names (given those events), about the case as it stands after them, all in
    /// one write.
    fn with_decision(
        &self,
        first: Plan,
        trigger_of: impl Fn(&[EventKind]) -> Option<Trigger> + Send + Sync + 'static,
    ) -> Plan {
        let rules = Arc::clone(&self.rules);
        let calendars = self.calendars.clone();
        let routing = Arc::clone(&self.routing);
        Arc::new(move |case: &Case, now| {
            let mut events = first(case, now)?;
            if let Some(trigger) = trigger_of(&events) {
                let current = after(case, &events, now)?;
                let mut decided = decide(&rules, &calendars.current(), trigger, &current, now);
                if let Some(table) = routing.get(&current.tenant) {
                    resolve_route_actions(&table, &current, &mut decided);
                }
                events.extend(decided);
            }
            Ok(events)
        })
    }

    /// Starts, pauses, resumes, extends, restarts or stops a clock. Due times are computed here,
    /// with the calendars in force, and recorded in the event.
    pub async fn clock_action(
        &self,
        tenant: String,
        id: CaseId,
        action: ClockAction,
        actor: Actor,
        expected_version: Option<u64>,
    ) -> Result<(Case, Vec<EventRecord>), ServiceError> {
        action.validate().map_err(ServiceError::Invalid)?;
        let calendars = self.calendars.current();
        let plan: Plan = Arc::new(move |case: &Case, now| {
            let change = deadlines::change_for(&calendars, case, &action, now)?;
            Ok(vec![EventKind::Clock {
                name: action.clock_name().to_owned(),
                change,
            }])
        });
        self.append(Some(tenant), id, plan, actor, expected_version)
            .await
    }

    /// Fires every warning and breach due by now, each exactly once: the firing event and the
    /// removal of its due-index entry are one write, and a firing that is no longer owed (the
    /// clock was paused, stopped or already fired) appends nothing. Returns the events written.
    pub async fn fire_due(&self) -> Result<Vec<EventRecord>, ServiceError> {
        let now = self.clock.now();
        let due = self
            .blocking(move |store| store.due(now, SCHEDULER_BATCH))
            .await?;
        let mut fired = Vec::new();
        for entry in due {
            let case_id = entry.case_id;
            let firing_plan: Plan = Arc::new(move |case: &Case, now| Ok(firing(case, &entry, now)));
            let plan = self.with_decision(firing_plan, |events| {
                events.iter().rev().find_map(|event| match event {
                    EventKind::Clock {
                        name,
                        change: ClockChange::Breached { .. },
                    } => Some(Trigger::ClockBreach {
                        clock: name.clone(),
                    }),
                    EventKind::Clock {
                        name,
                        change: ClockChange::Warned,
                    } => Some(Trigger::ClockWarning {
                        clock: name.clone(),
                    }),
                    _ => None,
                })
            });
            match self
                .append(None, case_id, plan, Actor::system(), None)
                .await
            {
                Ok((_, events)) => fired.extend(events),
                // One broken case must not stop the others from being served.
                Err(e) => {
                    tracing::error!(case_id = %case_id, error = %e, "a due clock could not be fired")
                }
            }
        }
        Ok(fired)
    }

    /// The case with this tracking code, whatever its tenant (for complainants' self-service,
    /// which checks the tracking secret first).
    pub async fn get_by_tracking_code(&self, code: String) -> Result<Option<Case>, ServiceError> {
        self.blocking(move |store| store.get_by_tracking_code(&code))
            .await
    }

    pub async fn get(&self, tenant: String, id: CaseId) -> Result<Option<Case>, ServiceError> {
        self.blocking(move |store| store.get(&tenant, id)).await
    }

    pub async fn events(
        &self,
        tenant: String,
        id: CaseId,
    ) -> Result<Option<Vec<EventRecord>>, ServiceError> {
        self.blocking(move |store| store.events(&tenant, id)).await
    }

    pub async fn list(&self, query: ListQuery) -> Result<Page, ServiceError> {
        self.blocking(move |store| store.list(&query)).await
    }

    pub async fn verify(&self) -> Result<AuditReport, ServiceError> {
        self.blocking(|store| store.verify()).await
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

/// The event a due entry calls for, if the clock still owes it.
fn firing(case: &Case, entry: &DueClock, now: Timestamp) -> Vec<EventKind> {
    let Some(clock) = case.clocks.get(&entry.clock) else {
        return Vec::new();
    };
    let change = match entry.kind {
        DueKind::Warning if clock.warning_pending().is_some_and(|at| at <= now) => {
            ClockChange::Warned
        }
        DueKind::Breach if clock.breach_pending().is_some_and(|at| at <= now) => {
            let tier = usize::try_from(clock.escalation_level).unwrap_or(usize::MAX);
            ClockChange::Breached {
                escalated_to: clock.spec.escalation.get(tier).cloned(),
            }
        }
        _ => return Vec::new(),
    };
    let mut events = Vec::new();
    // A breach owes the warning too if both fell due in the same pass (e.g. after downtime).
    if change != ClockChange::Warned && clock.warning_pending().is_some_and(|at| at <= now) {
        events.push(EventKind::Clock {
            name: entry.clock.clone(),
            change: ClockChange::Warned,
        });
    }
    events.push(EventKind::Clock {
        name: entry.clock.clone(),
        change,
    });
    events
}

impl From<ApplyError> for ServiceError {
    fn from(e: ApplyError) -> Self {
        ServiceError::Store(StoreError::Refused(e))
    }
}

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
    lifecycle,
};

use crate::{
    clock::Clock,
    deadlines,
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
}

/// How often registration retries after drawing a tracking code that is taken. With 40 random
/// bits a second collision in a row means something else is wrong.
const TRACKING_CODE_ATTEMPTS: usize = 4;

/// How many due firings one scheduler pass takes on.
const SCHEDULER_BATCH: usize = 256;

impl Redress {
    pub fn new(store: Arc<dyn CaseStore>, clock: Arc<dyn Clock>, calendars: Calendars) -> Self {
        Redress {
            store,
            clock,
            calendars,
        }
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

    async fn blocking<T, F>(&self, work: F) -> Result<T, ServiceError>
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
            };
            match self.blocking(move |store| store.create(new)).await {
                Err(ServiceError::Store(
                    e @ (StoreError::TrackingCodeTaken(_) | StoreError::IdTaken(_)),
                )) => {
                    last_error = Some(e);
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
        self.blocking(move |store| {
            store.append(Append {
                tenant,
                id,
                plan,
                actor,
                now,
                expected_version,
            })
        })
        .await
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
        let plan: Plan = Arc::new(move |case: &Case, _now| {
            let next = lifecycle::transition(case.status, &action)?;
            let mut events = vec![EventKind::Handler {
                action: action.clone(),
            }];
            if matches!(next, Status::Closed | Status::Withdrawn) {
                for (name, clock) in &case.clocks {
                    if matches!(clock.state, ClockState::Running | ClockState::Paused) {
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
            Ok(events)
        });
        self.append(Some(tenant), id, plan, actor, expected_version)
            .await
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
            let plan: Plan = Arc::new(move |case: &Case, now| Ok(firing(case, &entry, now)));
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

//! Registering cases, handler and clock actions, and reading cases.

use redress_domain::TenantId;
use std::sync::Arc;

use rand::Rng;
use redress_domain::{
    Actor, Case, CaseId, CaseIntake, EventKind, EventRecord, HandlerAction, Status, TrackingCode,
    case::ApplyError,
    clock::{ClockAction, ClockChange, ClockState},
    contract::Trigger,
};

use super::{Redress, ServiceError, warn_manual_handling};
use crate::{
    access::{OfficeScope, Principal, Role},
    deadlines,
    routing::check_jurisdiction,
    store::{AuditReport, Created, ListQuery, NewCase, Page, Plan, Refusal, StoreError},
};

/// Which cases the one acting may work. Checked by the write's plan, on the case as it stands
/// when it is written: a check on an earlier read would miss a reassignment that lands between
/// that read and the write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Acting {
    /// Only the cases assigned to this handler (the name their key or account records).
    assignee: Option<String>,
    /// Only the cases of this office scope; the others read as absent.
    scope: Option<OfficeScope>,
}

impl Acting {
    /// Any case of the tenant: a supervisor without an office, an open-access development
    /// server, a simulation.
    pub const ANY_CASE: Acting = Acting {
        assignee: None,
        scope: None,
    };

    /// What `principal` may work: a handler only the cases assigned to them; a principal with
    /// an office only the cases of its scope.
    pub fn of(principal: &Principal) -> Self {
        Acting {
            assignee: match principal.role {
                Some(Role::Handler) => Some(principal.name.clone()),
                _ => None,
            },
            scope: principal.scope(),
        }
    }

    /// Refuses unless the one acting may work `case` as it stands.
    fn check(&self, case: &Case) -> Result<(), Refusal> {
        if self.scope.as_ref().is_some_and(|scope| !scope.admits(case)) {
            return Err(Refusal::Hidden(case.id));
        }
        let Some(name) = &self.assignee else {
            return Ok(());
        };
        match &case.assignment {
            Some(assignment) if assignment.assignee == *name => Ok(()),
            Some(assignment) => Err(Refusal::Forbidden(format!(
                "the case is assigned to `{}`; a handler works only the cases assigned to them",
                assignment.assignee
            ))),
            None => Err(Refusal::Forbidden(
                "the case is not assigned; a supervisor assigns it first".into(),
            )),
        }
    }

    /// Before a write with an expected version: a case outside the scope is absent, whatever
    /// version was sent (a 412 would tell that it exists).
    async fn check_visible(
        &self,
        service: &Redress,
        tenant: &TenantId,
        id: CaseId,
    ) -> Result<(), ServiceError> {
        let Some(scope) = &self.scope else {
            return Ok(());
        };
        match service.get(tenant.clone(), id).await? {
            Some(case) if scope.admits(&case) => Ok(()),
            _ => Err(ServiceError::Store(StoreError::NotFound(id))),
        }
    }
}

/// How often registration retries after drawing a tracking code that is taken. With 40 random
/// bits a second collision in a row means something else is wrong.
const TRACKING_CODE_ATTEMPTS: usize = 4;

impl Redress {
    /// The ruleset that will decide a new case: selected by tenant, sector and receipt date
    /// (in the case's time zone), as the decision will select it. Asked once per registration,
    /// for the attribute check and the repeat window.
    fn ruleset_at_receipt(
        &self,
        tenant: &TenantId,
        intake: &CaseIntake,
        now: jiff::Timestamp,
    ) -> Option<Arc<crate::rules::LoadedRuleset>> {
        let zone = jiff::tz::TimeZone::get(&intake.time_zone).unwrap_or(jiff::tz::TimeZone::UTC);
        let received = intake.received_at.unwrap_or(now).to_zoned(zone).date();
        self.rules.select(tenant, intake.sector, received)
    }

    /// Refuses an intake whose attributes the ruleset that will decide it does not declare
    /// (or of another type): a typo would otherwise read as "not given" and decide the case
    /// wrongly. With no ruleset for the case, nothing is checked (it goes to manual handling).
    fn check_attributes(
        ruleset: Option<&crate::rules::LoadedRuleset>,
        intake: &CaseIntake,
    ) -> Result<(), ServiceError> {
        let Some(ruleset) = ruleset else {
            return Ok(());
        };
        let faults = ruleset.manifest.check_attributes(&intake.attributes);
        if faults.is_empty() {
            return Ok(());
        }
        let mut errors = redress_domain::ValidationErrors::default();
        for (name, why) in faults {
            errors.push(
                format!("/attributes/{}", name.replace('~', "~0").replace('/', "~1")),
                why,
            );
        }
        Err(ServiceError::Invalid(errors))
    }

    pub async fn create_case(
        &self,
        tenant: TenantId,
        intake: CaseIntake,
        actor: Actor,
        idempotency_key: Option<String>,
    ) -> Result<Created, ServiceError> {
        let now = self.time.now();
        intake.validate(now).map_err(ServiceError::Invalid)?;
        let ruleset = self.ruleset_at_receipt(&tenant, &intake, now);
        Self::check_attributes(ruleset.as_deref(), &intake)?;
        let repeat = self
            .repeat_facts(&tenant, ruleset.as_deref(), &intake, now)
            .await?;
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
                repeat: repeat.clone(),
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
                    // Everything on a new case was decided in this write.
                    self.link_merge(&case, true).await;
                    return Ok(Created::New(case));
                }
                other => return other,
            }
        }
        Err(ServiceError::Store(last_error.unwrap_or(
            StoreError::Backend("no id could be drawn".into()),
        )))
    }

    /// Records a handler action, if `acting` may work the case. When it ends the case (closed,
    /// withdrawn), every clock still counting is stopped in the same write: nothing is owed on
    /// a finished case.
    pub async fn act(
        &self,
        tenant: TenantId,
        id: CaseId,
        action: HandlerAction,
        actor: Actor,
        acting: Acting,
        expected_version: Option<u64>,
    ) -> Result<(Case, Vec<EventRecord>), ServiceError> {
        action.validate().map_err(ServiceError::Invalid)?;
        acting.check_visible(self, &tenant, id).await?;
        let trigger_action = action.clone();
        let routing = Arc::clone(&self.routing);
        let plan: Plan = Arc::new(move |case: &Case, _now| {
            acting.check(case)?;
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

    /// Starts, pauses, resumes, extends, restarts or stops a clock, if `acting` may work the
    /// case. Due times are computed here, with the calendars in force, and recorded in the event.
    pub async fn clock_action(
        &self,
        tenant: TenantId,
        id: CaseId,
        action: ClockAction,
        actor: Actor,
        acting: Acting,
        expected_version: Option<u64>,
    ) -> Result<(Case, Vec<EventRecord>), ServiceError> {
        action.validate().map_err(ServiceError::Invalid)?;
        acting.check_visible(self, &tenant, id).await?;
        let calendars = self.calendars.current();
        let plan: Plan = Arc::new(move |case: &Case, now| {
            acting.check(case)?;
            let change = deadlines::change_for(&calendars, case, &action, now)?;
            Ok(vec![EventKind::Clock {
                name: action.clock_name().to_owned(),
                change,
            }])
        });
        self.append(Some(tenant), id, plan, actor, expected_version)
            .await
    }

    /// The case with this tracking code, whatever its tenant (for complainants' self-service,
    /// which checks the tracking secret first).
    pub async fn get_by_tracking_code(&self, code: String) -> Result<Option<Case>, ServiceError> {
        self.blocking(move |store| store.get_by_tracking_code(&code))
            .await
    }

    pub async fn get(&self, tenant: TenantId, id: CaseId) -> Result<Option<Case>, ServiceError> {
        self.blocking(move |store| store.get(&tenant, id)).await
    }

    pub async fn events(
        &self,
        tenant: TenantId,
        id: CaseId,
    ) -> Result<Option<Vec<EventRecord>>, ServiceError> {
        self.blocking(move |store| store.events(&tenant, id)).await
    }

    pub async fn list(&self, query: ListQuery) -> Result<Page, ServiceError> {
        self.blocking(move |store| store.list(&query)).await
    }

    /// The case as `principal` may see it: its tenant's, within its office scope; `None` for
    /// any other, alike.
    pub async fn get_as(
        &self,
        principal: &Principal,
        id: CaseId,
    ) -> Result<Option<Case>, ServiceError> {
        Ok(self
            .get(principal.tenant.clone(), id)
            .await?
            .filter(|case| principal.may_see(case)))
    }

    /// The case's history, if `principal` may see the case ([`Redress::get_as`]).
    pub async fn events_as(
        &self,
        principal: &Principal,
        id: CaseId,
    ) -> Result<Option<Vec<EventRecord>>, ServiceError> {
        if self.get_as(principal, id).await?.is_none() {
            return Ok(None);
        }
        self.events(principal.tenant.clone(), id).await
    }

    /// A listing of `principal`'s tenant, within its office scope. A scoped principal that names
    /// another office is refused (403): it knows its own office, so the refusal tells nothing,
    /// and an empty list would read as "that office has no cases", which is not true.
    pub async fn list_as(
        &self,
        principal: &Principal,
        mut query: ListQuery,
    ) -> Result<Page, ServiceError> {
        query.tenant = principal.tenant.clone();
        if let Some(scope) = principal.scope() {
            if let Some(office) = query.office.as_deref()
                && office != scope.office
            {
                return Err(ServiceError::Store(StoreError::Forbidden(format!(
                    "this principal is scoped to office `{}` and lists only its cases and those \
                     assigned to `{}`; it may not list office `{office}`",
                    scope.office, scope.person
                ))));
            }
            query.scope = Some(scope);
        }
        self.list(query).await
    }

    /// The open cases of a tenant or an office, from the store's indexes (the board).
    pub async fn open_cases(
        &self,
        tenant: TenantId,
        office: Option<String>,
    ) -> Result<crate::store::OpenCases, ServiceError> {
        self.blocking(move |store| store.open_cases(&tenant, office.as_deref()))
            .await
    }

    pub async fn verify(&self) -> Result<AuditReport, ServiceError> {
        self.blocking(|store| store.verify()).await
    }
}

//! The case page (`/console/cases/{id}`), where every action the lifecycle allows now is a
//! form, posted to `/console/cases/{id}/act`.
//!
//! Everything goes through the service as the API does: `Redress::list` with the queue
//! indexes, `Redress::get` / `events`, and `Redress::act` with the viewer's principal, so the
//! lifecycle, the handler-assignment check (`Acting`), the supervisor-only actions and the
//! optimistic version check are the API's own. The forms come from `forms.rs` (the actions'
//! JSON Schemas) and are read back through the API's types and checks.

use askama::Template;
use axum::{
    Router,
    extract::{Path, RawQuery, State},
    http::StatusCode,
    response::{IntoResponse, Response},
    routing::{get, post},
};
use redress_domain::{Case, CaseId, EventKind, EventRecord, HandlerAction, clock::ClockState};

use super::{
    fields::{self, FieldView},
    labels::{
        action_label, clock_label, due_date, forbidden, local_time, may, remaining_text,
        sector_label, server_error, short, status_label,
    },
    query_value,
};
use crate::{
    console::{Layout, PageError, PageForm, Texts, Viewer, render, see_other},
    forms::{self, FormFaults},
    server::{AppState, extract::RoleSet, problem::ApiError, routes::allowed},
    service::Acting,
};

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/console/cases/{id}", get(case_page))
        .route("/console/cases/{id}/act", post(act))
}
#[derive(Debug, Clone)]
struct Fact {
    label: String,
    value: String,
}

#[derive(Debug, Clone)]
struct ClockRow {
    label: String,
    state: String,
    due: String,
    remaining: String,
    overdue: bool,
    provisional: bool,
    article: String,
    explanation: Vec<String>,
}

#[derive(Debug, Clone)]
struct DecisionRow {
    at: String,
    by: String,
    trigger: String,
    reasons: Vec<String>,
    actions: Vec<String>,
    failed: bool,
}

#[derive(Debug, Clone)]
struct EventRow {
    seq: u64,
    at: String,
    actor: String,
    what: String,
}

#[derive(Debug, Clone)]
struct ActionView {
    action: String,
    label: String,
    fields: Vec<FieldView>,
    /// The form that was refused: open, with its errors.
    open: bool,
}

#[derive(Template)]
#[template(path = "case.html")]
struct CasePage {
    layout: Layout,
    heading: String,
    status: String,
    facts: Vec<Fact>,
    manual: Option<String>,
    clocks: Vec<ClockRow>,
    decisions: Vec<DecisionRow>,
    events: Vec<EventRow>,
    actions: Vec<ActionView>,
    act_href: String,
    version: u64,
    csrf: String,
    notice: Option<String>,
    errors: Vec<String>,
    read_only: bool,
    /// "Explain this case under another version" (`explain.rs`), for the roles that may.
    explain_href: Option<String>,
}

pub(super) fn parse_id(viewer: &Viewer, id: &str) -> Result<CaseId, PageError> {
    id.parse()
        .map_err(|_| PageError::not_found(viewer.texts, &viewer.path))
}

/// The case as this viewer may see it: the tenant's (another tenant's reads as absent), in
/// the viewer's office scope, identity masked for roles that do not need it.
pub(super) async fn load(state: &AppState, viewer: &Viewer, id: CaseId) -> Result<Case, PageError> {
    if !may(viewer, allowed::ReadCases::ROLES) {
        return Err(forbidden(viewer));
    }
    let mut case = state
        .app
        .get_as(&viewer.principal, id)
        .await
        .map_err(|e| server_error(viewer, e))?
        .ok_or_else(|| PageError::not_found(viewer.texts, &viewer.path))?;
    if !viewer.principal.sees_identity() {
        case.intake.complainant.mask_identity();
    }
    Ok(case)
}

fn sensitive(value: &Option<redress_domain::Sensitive<String>>) -> String {
    value
        .as_ref()
        .map(|v| v.expose().clone())
        .unwrap_or_else(|| "—".to_owned())
}

fn describe_event(t: Texts, event: &EventKind) -> String {
    match event {
        EventKind::Received { .. } => t.t("event.received").to_owned(),
        EventKind::Handler { action } => t.fill(
            "event.handler",
            &[("action", &action_label(t, action.name().as_str()))],
        ),
        EventKind::Clock { name, change } => {
            let change_label = t
                .lookup(&format!("clock.change.{}", change.name()))
                .unwrap_or(change.name());
            t.fill(
                "event.clock",
                &[("clock", &clock_label(t, name)), ("change", change_label)],
            )
        }
        EventKind::Decision { ruleset, .. } => t.fill(
            "event.decision",
            &[("ruleset", &format!("{}@{}", ruleset.id, ruleset.version))],
        ),
        EventKind::RuleFailure { reason, .. } => {
            t.fill("event.rule_failure", &[("reason", &short(reason, 120))])
        }
        EventKind::MergedFrom { case_id, .. } => {
            t.fill("event.merged_from", &[("case", &case_id.to_string())])
        }
    }
}

pub(super) fn trigger_label(t: Texts, trigger: &redress_domain::contract::Trigger) -> String {
    use redress_domain::contract::Trigger;
    match trigger {
        Trigger::CaseReceived => t.t("trigger.received").to_owned(),
        Trigger::HandlerEvent { action } => t.fill(
            "trigger.handler",
            &[("action", &action_label(t, action.name().as_str()))],
        ),
        Trigger::ClockWarning { clock } => {
            t.fill("trigger.warning", &[("clock", &clock_label(t, clock))])
        }
        Trigger::ClockBreach { clock } => {
            t.fill("trigger.breach", &[("clock", &clock_label(t, clock))])
        }
    }
}

pub(super) fn action_summary(t: Texts, action: &redress_domain::contract::Action) -> String {
    use redress_domain::contract::Action;
    let kind = t
        .lookup(&format!("decision.{}", action.kind()))
        .unwrap_or(action.kind())
        .to_owned();
    let detail = match action {
        Action::Reject {
            ground, article, ..
        } => format!("{ground} · {article}"),
        Action::StartClock { clock, .. } => format!("{} · {}", clock.name, clock.amount),
        Action::Route { office, tier, .. } => {
            office.clone().or_else(|| tier.clone()).unwrap_or_default()
        }
        Action::Transfer { to_office, .. } => to_office.clone(),
        Action::Escalate { to, .. } => to.clone(),
        Action::Notify {
            recipient,
            template,
        } => format!("{recipient} · {template}"),
        Action::PauseClock { name, .. }
        | Action::ResumeClock { name, .. }
        | Action::StopClock { name, .. }
        | Action::ExtendClock { name, .. }
        | Action::RestartClock { name, .. } => name.clone(),
        Action::Classify {
            category, flags, ..
        } => category
            .iter()
            .chain(flags.iter())
            .cloned()
            .collect::<Vec<_>>()
            .join(", "),
        Action::MergeInto { case_id, .. } => case_id.to_string(),
        Action::RequestInformation { fields, .. } => fields.join(", "),
        Action::Accept { .. } | Action::Close { .. } => String::new(),
    };
    if detail.is_empty() {
        kind
    } else {
        format!("{kind}: {detail}")
    }
}

/// The actions `viewer` may record on `case` now: those the lifecycle allows in its status,
/// less the supervisor's own for anyone else; none for roles that do not work cases.
pub(super) fn allowed_actions(viewer: &Viewer, case: &Case) -> Vec<&'static str> {
    if !may(viewer, allowed::WorkCases::ROLES) {
        return Vec::new();
    }
    let supervisor = may(viewer, allowed::Supervise::ROLES);
    case.status
        .allowed_actions()
        .into_iter()
        .filter(|a| supervisor || !matches!(*a, "assign" | "refer_up" | "take_over"))
        .collect()
}

pub(super) fn field_label(t: Texts, action: &str, name: &str) -> String {
    t.lookup(&format!("field.{action}.{name}"))
        .or_else(|| t.lookup(&format!("field.{name}")))
        .unwrap_or(name)
        .to_owned()
}

/// The refused form: its action, the values submitted, the faults.
type RefusedForm<'a> = (&'a str, &'a [(String, String)], &'a FormFaults);

fn action_views(t: Texts, names: &[&str], refused: Option<RefusedForm<'_>>) -> Vec<ActionView> {
    let forms = forms::action_forms();
    names
        .iter()
        .filter_map(|name| forms.get(*name))
        .map(|form| {
            let this_refused = refused.filter(|(action, _, _)| *action == form.action);
            let submitted: &[(String, String)] = this_refused.map_or(&[], |(_, values, _)| values);
            let fields = form
                .fields
                .iter()
                .map(|field| {
                    let error = this_refused.and_then(|(_, _, faults)| {
                        faults
                            .iter()
                            .find(|(n, _)| *n == field.name)
                            .map(|(_, why)| why.clone())
                    });
                    fields::view(
                        t,
                        &form.action,
                        field_label(t, &form.action, &field.name),
                        field,
                        submitted,
                        error,
                    )
                })
                .collect();
            ActionView {
                action: form.action.clone(),
                label: action_label(t, &form.action),
                fields,
                open: this_refused.is_some(),
            }
        })
        .collect()
}

struct Refused<'a> {
    action: &'a str,
    values: &'a [(String, String)],
    faults: FormFaults,
}

async fn build_case_page(
    state: &AppState,
    viewer: &Viewer,
    case: Case,
    notice: Option<String>,
    refused: Option<Refused<'_>>,
) -> Result<CasePage, PageError> {
    let t = viewer.texts;
    let events: Vec<EventRecord> = state
        .app
        .events(viewer.principal.tenant.clone(), case.id)
        .await
        .map_err(|e| server_error(viewer, e))?
        .unwrap_or_default();
    let now = state.app.time().now();
    let intake = &case.intake;
    let mut facts = vec![
        Fact {
            label: t.t("case.reference").into(),
            value: case.tracking_code.as_str().to_owned(),
        },
        Fact {
            label: t.t("case.sector").into(),
            value: sector_label(t, case.sector),
        },
        Fact {
            label: t.t("case.received").into(),
            value: local_time(case.received_at),
        },
        Fact {
            label: t.t("case.complainant").into(),
            value: format!(
                "{} · {}",
                sensitive(&intake.complainant.name),
                sensitive(&intake.complainant.phone)
            ),
        },
        Fact {
            label: t.t("case.respondent").into(),
            value: intake.respondent.name.clone(),
        },
        Fact {
            label: t.t("case.claim").into(),
            value: intake.claim.clone(),
        },
    ];
    if !intake.facts.is_empty() {
        facts.push(Fact {
            label: t.t("case.facts").into(),
            value: intake.facts.clone(),
        });
    }
    facts.push(Fact {
        label: t.t("case.office").into(),
        value: case.current_office().unwrap_or("—").to_owned(),
    });
    facts.push(Fact {
        label: t.t("case.assignee").into(),
        value: case.assignee().unwrap_or("—").to_owned(),
    });
    if let Some(ruleset) = &case.ruleset {
        facts.push(Fact {
            label: t.t("case.ruleset").into(),
            value: format!("{}@{}", ruleset.id, ruleset.version),
        });
    }
    if !case.ruling.flags.is_empty() {
        facts.push(Fact {
            label: t.t("case.flags").into(),
            value: case.ruling.flags.join(", "),
        });
    }
    let clocks = case
        .clocks
        .iter()
        .map(|(name, clock)| {
            let explanation = serde_json::from_value::<redress_calendar::Explanation>(
                clock.explanation.as_ref().clone(),
            )
            .map(|e| e.render_text().lines().map(str::to_owned).collect())
            .unwrap_or_default();
            ClockRow {
                label: clock_label(t, name),
                state: t
                    .lookup(&format!("clock.state.{}", clock.state.as_str()))
                    .unwrap_or(clock.state.as_str())
                    .to_owned(),
                due: due_date(clock).unwrap_or_else(|| "—".to_owned()),
                remaining: remaining_text(t, state, clock, now),
                overdue: clock.state == ClockState::Breached,
                provisional: clock.provisional,
                article: clock.spec.article.clone().unwrap_or_default(),
                explanation,
            }
        })
        .collect();
    let mut decisions = Vec::new();
    let mut rows = Vec::new();
    for record in &events {
        rows.push(EventRow {
            seq: record.seq,
            at: local_time(record.recorded_at),
            actor: record.actor.id.clone(),
            what: describe_event(t, &record.event),
        });
        match &record.event {
            EventKind::Decision {
                ruleset,
                trigger,
                actions,
                explanation,
                ..
            } => decisions.push(DecisionRow {
                at: local_time(record.recorded_at),
                by: format!("{}@{}", ruleset.id, ruleset.version),
                trigger: trigger_label(t, trigger),
                reasons: explanation.clone(),
                actions: actions.iter().map(|a| action_summary(t, a)).collect(),
                failed: false,
            }),
            EventKind::RuleFailure {
                trigger, reason, ..
            } => decisions.push(DecisionRow {
                at: local_time(record.recorded_at),
                by: String::new(),
                trigger: trigger_label(t, trigger),
                reasons: vec![reason.clone()],
                actions: Vec::new(),
                failed: true,
            }),
            _ => {}
        }
    }
    decisions.reverse();
    rows.reverse();
    let names = allowed_actions(viewer, &case);
    let errors = refused
        .as_ref()
        .map(|r| {
            r.faults
                .iter()
                .map(|(field, why)| {
                    if field.is_empty() {
                        why.clone()
                    } else {
                        format!("{}: {why}", field_label(t, r.action, field))
                    }
                })
                .collect()
        })
        .unwrap_or_default();
    let actions = action_views(
        t,
        &names,
        refused.as_ref().map(|r| (r.action, r.values, &r.faults)),
    );
    Ok(CasePage {
        layout: viewer.layout("case.title"),
        heading: t.fill(
            "case.heading",
            &[("reference", case.tracking_code.as_str())],
        ),
        status: status_label(t, case.status),
        facts,
        manual: case.manual_handling.as_ref().map(|m| m.reason.clone()),
        clocks,
        decisions,
        events: rows,
        read_only: actions.is_empty(),
        explain_href: may(viewer, crate::server::routes::allowed::ExplainCases::ROLES)
            .then(|| format!("/console/rulesets/explain?case={}", case.id)),
        actions,
        act_href: format!("/console/cases/{}/act", case.id),
        version: case.version,
        csrf: viewer.csrf().to_owned(),
        notice,
        errors,
    })
}

async fn case_page(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, PageError> {
    let id = parse_id(&viewer, &id)?;
    let case = load(&state, &viewer, id).await?;
    let notice = query_value(raw.as_deref(), "done").map(|action| {
        viewer.texts.fill(
            "case.done",
            &[("action", &action_label(viewer.texts, &action))],
        )
    });
    let page = build_case_page(&state, &viewer, case, notice, None).await?;
    Ok(render(StatusCode::OK, &page))
}

/// Records one action from its form: the CSRF token first, then the form read as the API
/// reads a body, then `Redress::act` with the version the page showed (a case changed since
/// is refused, not overwritten). Refused: the page again, the form open with each fault.
async fn act(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(id): Path<String>,
    PageForm(submitted): PageForm<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    let field = |name: &str| {
        submitted
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    };
    viewer.check_csrf(field("csrf"))?;
    let id = parse_id(&viewer, &id)?;
    if !may(&viewer, allowed::WorkCases::ROLES) {
        return Err(forbidden(&viewer));
    }
    let case = load(&state, &viewer, id).await?;
    let action_name = field("type").unwrap_or_default().to_owned();
    let version = field("version").and_then(|v| v.parse::<u64>().ok());
    let values: Vec<(String, String)> = submitted
        .iter()
        .filter(|(n, _)| !matches!(n.as_str(), "csrf" | "type" | "version"))
        .cloned()
        .collect();
    let refuse = |faults: FormFaults| Refused {
        action: &action_name,
        values: &values,
        faults,
    };
    if !allowed_actions(&viewer, &case).contains(&action_name.as_str()) {
        let why = viewer.texts.fill(
            "case.not_allowed",
            &[("action", &action_label(viewer.texts, &action_name))],
        );
        let page = build_case_page(
            &state,
            &viewer,
            case,
            None,
            Some(refuse(vec![(String::new(), why)])),
        )
        .await?;
        return Ok(render(StatusCode::CONFLICT, &page));
    }
    let action: HandlerAction = match forms::read_action(&action_name, &values) {
        Ok(action) => action,
        Err(faults) => {
            let page = build_case_page(&state, &viewer, case, None, Some(refuse(faults))).await?;
            return Ok(render(StatusCode::UNPROCESSABLE_ENTITY, &page));
        }
    };
    let recorded = state
        .app
        .act(
            viewer.principal.tenant.clone(),
            id,
            action,
            redress_domain::Actor::api(viewer.principal.actor_id()),
            Acting::of(&viewer.principal),
            version,
        )
        .await;
    match recorded {
        Ok(_) => Ok(see_other(&format!(
            "/console/cases/{id}?done={action_name}"
        ))),
        Err(error) => {
            let problem = ApiError::from(error);
            let status =
                StatusCode::from_u16(problem.0.status).unwrap_or(StatusCode::UNPROCESSABLE_ENTITY);
            if status.is_server_error() {
                return Err(server_error(&viewer, &problem.0.detail));
            }
            let faults = forms::problem_faults(&problem);
            // The case as it stands now (it may have changed since the page was shown).
            let case = load(&state, &viewer, id).await?;
            let page = build_case_page(&state, &viewer, case, None, Some(refuse(faults))).await?;
            Ok(render(status, &page).into_response())
        }
    }
}

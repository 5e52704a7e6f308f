//! `redress simulate`: run a scenario through simulated weeks with the real service, the
//! in-memory store and a manual clock, and print the timeline. Compliance staff use it to see
//! when warnings, breaches and escalations would happen, without waiting for them.
//!
//! ```yaml
//! start: 2026-02-13T09:00:00+08:00
//! until: 2026-03-10T00:00:00+08:00
//! step_minutes: 60            # how often the scheduler looks, in simulated time (default 60)
//! cases:
//!   - ref: a
//!     at: 2026-02-13T10:00:00+08:00
//!     intake: { sector: market_supervision, channel: hotline, respondent: {name: X}, claim: 退货 }
//! steps:
//!   - at: 2026-02-13T10:05:00+08:00
//!     case: a
//!     clock: { type: start, clock: { name: acceptance, amount: 7, unit: working_days } }
//!   - at: 2026-02-16T09:00:00+08:00
//!     case: a
//!     action: { type: accept }
//! ```

use std::collections::BTreeMap;

use jiff::{SignedDuration, Timestamp};
use redress_domain::{
    Actor, CaseId, CaseIntake, EventKind, EventRecord, HandlerAction, clock::ClockAction,
};
use serde::Deserialize;

use crate::{
    service::{Acting, Redress, ServiceError},
    store::Created,
    time_source::ManualTimeSource,
};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    pub start: Timestamp,
    pub until: Timestamp,
    #[serde(default = "default_step")]
    pub step_minutes: u32,
    #[serde(default)]
    pub cases: Vec<ScenarioCase>,
    #[serde(default)]
    pub steps: Vec<ScenarioStep>,
}

fn default_step() -> u32 {
    60
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScenarioCase {
    #[serde(rename = "ref")]
    pub reference: String,
    pub at: Timestamp,
    pub intake: CaseIntake,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScenarioStep {
    pub at: Timestamp,
    pub case: String,
    pub action: Option<HandlerAction>,
    pub clock: Option<ClockAction>,
}

#[derive(Debug, thiserror::Error)]
pub enum SimulateError {
    #[error("{file}: {message}")]
    Parse { file: String, message: String },
    #[error("{file}: {message}")]
    Scenario { file: String, message: String },
    #[error("{file}: at {at}, case `{case}`: {error}")]
    Step {
        file: String,
        at: Timestamp,
        case: String,
        error: Box<ServiceError>,
    },
}

impl Scenario {
    pub fn parse(text: &str, file: &str) -> Result<Scenario, SimulateError> {
        let scenario: Scenario =
            crate::yaml::from_str(text, file).map_err(|e| SimulateError::Parse {
                file: match e.line {
                    Some(line) => format!("{file}:{line}"),
                    None => file.to_owned(),
                },
                message: if e.path.is_empty() || e.path == "." {
                    e.message
                } else {
                    format!("at `{}`: {}", e.path, e.message)
                },
            })?;
        let bad = |message: String| SimulateError::Scenario {
            file: file.to_owned(),
            message,
        };
        if scenario.until <= scenario.start {
            return Err(bad("`until` must be after `start`".into()));
        }
        if scenario.step_minutes == 0 {
            return Err(bad("`step_minutes` must be at least 1".into()));
        }
        for (i, step) in scenario.steps.iter().enumerate() {
            if step.action.is_some() == step.clock.is_some() {
                return Err(bad(format!(
                    "steps[{i}]: give exactly one of `action` or `clock`"
                )));
            }
            if !scenario.cases.iter().any(|c| c.reference == step.case) {
                return Err(bad(format!("steps[{i}]: no case with ref `{}`", step.case)));
            }
        }
        Ok(scenario)
    }
}

/// One line of the printed timeline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    pub at: Timestamp,
    pub case: String,
    pub what: String,
}

fn describe(event: &EventRecord) -> String {
    match &event.event {
        EventKind::Received { intake, .. } => {
            format!("received ({} {:?})", intake.sector.as_str(), intake.kind).to_lowercase()
        }
        EventKind::Handler { action } => {
            format!("{} by {}", action.name().as_str(), event.actor.id)
        }
        EventKind::Decision {
            ruleset, actions, ..
        } => format!(
            "decision by {}@{}: {}",
            ruleset.id,
            ruleset.version,
            actions
                .iter()
                .map(|a| a.kind())
                .collect::<Vec<_>>()
                .join(", ")
        ),
        EventKind::RuleFailure { reason, .. } => format!("rule failure: {reason}"),
        EventKind::MergedFrom { case_id, .. } => format!("case {case_id} merged into this one"),
        EventKind::Clock { name, change } => {
            use redress_domain::clock::ClockChange;
            let mut text = format!("clock {name}: {}", change.name());
            match change {
                ClockChange::Breached {
                    escalated_to: Some(tier),
                } => text.push_str(&format!(", escalated to {tier}")),
                ClockChange::Stopped { met: true, .. } => text.push_str(" (met)"),
                ClockChange::Started { schedule, .. }
                | ClockChange::Resumed { schedule }
                | ClockChange::Extended { schedule, .. }
                | ClockChange::Restarted { schedule, .. } => {
                    if let Some(due) = schedule.due_at {
                        let local = due.to_zoned(
                            jiff::tz::TimeZone::get("Asia/Shanghai")
                                .unwrap_or(jiff::tz::TimeZone::UTC),
                        );
                        text.push_str(&format!(", due {}", local.strftime("%Y-%m-%d %H:%M")));
                    }
                }
                _ => {}
            }
            text
        }
    }
}

/// Runs the scenario on `app` (assembled in memory by the composition root, `app.rs`) whose
/// time is `clock`, and returns every event, in time order.
pub async fn run(
    scenario: Scenario,
    app: &Redress,
    clock: &ManualTimeSource,
    file: &str,
) -> Result<Vec<Line>, SimulateError> {
    clock.set(scenario.start);
    let mut ids: BTreeMap<String, CaseId> = BTreeMap::new();
    let mut names: BTreeMap<CaseId, String> = BTreeMap::new();
    // Everything that happens at a given instant, in file order: registrations, then steps.
    let mut agenda: Vec<(Timestamp, usize, Agenda<'_>)> = Vec::new();
    for (i, case) in scenario.cases.iter().enumerate() {
        agenda.push((case.at, i, Agenda::Register(case)));
    }
    for (i, step) in scenario.steps.iter().enumerate() {
        agenda.push((step.at, scenario.cases.len() + i, Agenda::Step(step)));
    }
    agenda.sort_by_key(|(at, order, _)| (*at, *order));
    let step = SignedDuration::from_mins(i64::from(scenario.step_minutes));
    let mut next_pass = scenario.start;
    let mut pending = agenda.into_iter().peekable();
    loop {
        let next_item = pending.peek().map(|(at, _, _)| *at);
        let now = match next_item {
            Some(at) if at <= next_pass => at,
            _ => next_pass,
        };
        if now > scenario.until {
            break;
        }
        clock.set(now);
        if next_item == Some(now) {
            if let Some((at, _, item)) = pending.next() {
                let failed = |case: &str, source: ServiceError| SimulateError::Step {
                    file: file.to_owned(),
                    at,
                    case: case.to_owned(),
                    error: Box::new(source),
                };
                match item {
                    Agenda::Register(case) => {
                        let mut intake = case.intake.clone();
                        intake.received_at.get_or_insert(at);
                        let created = app
                            .create_case(
                                redress_domain::TenantId::default_tenant(),
                                intake,
                                Actor::api("simulation"),
                                None,
                            )
                            .await
                            .map_err(|e| failed(&case.reference, e))?;
                        let (Created::New(c) | Created::Existing(c)) = created;
                        ids.insert(case.reference.clone(), c.id);
                        names.insert(c.id, case.reference.clone());
                    }
                    Agenda::Step(step) => {
                        let Some(id) = ids.get(&step.case).copied() else {
                            return Err(SimulateError::Scenario {
                                file: file.to_owned(),
                                message: format!(
                                    "case `{}` is used at {at} before it is registered",
                                    step.case
                                ),
                            });
                        };
                        let actor = Actor::api("simulation");
                        let result = match (&step.action, &step.clock) {
                            (Some(action), _) => {
                                app.act(
                                    redress_domain::TenantId::default_tenant(),
                                    id,
                                    action.clone(),
                                    actor,
                                    Acting::ANY_CASE,
                                    None,
                                )
                                .await
                            }
                            (_, Some(clock_action)) => {
                                app.clock_action(
                                    redress_domain::TenantId::default_tenant(),
                                    id,
                                    clock_action.clone(),
                                    actor,
                                    Acting::ANY_CASE,
                                    None,
                                )
                                .await
                            }
                            (None, None) => continue,
                        };
                        result.map_err(|e| failed(&step.case, e))?;
                    }
                }
            }
            continue;
        }
        app.fire_due().await.map_err(|e| SimulateError::Step {
            file: file.to_owned(),
            at: now,
            case: "-".into(),
            error: Box::new(e),
        })?;
        next_pass = now + step;
    }
    let mut lines = Vec::new();
    for (reference, id) in &ids {
        let events = app
            .events(redress_domain::TenantId::default_tenant(), *id)
            .await
            .ok()
            .flatten()
            .unwrap_or_default();
        lines.extend(events.iter().map(|e| Line {
            at: e.recorded_at,
            case: reference.clone(),
            what: describe(e),
        }));
    }
    lines.sort_by(|a, b| (a.at, &a.case).cmp(&(b.at, &b.case)));
    Ok(lines)
}

enum Agenda<'a> {
    Register(&'a ScenarioCase),
    Step(&'a ScenarioStep),
}

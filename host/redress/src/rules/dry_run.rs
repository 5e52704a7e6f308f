//! "Explain this case under that version": what another ruleset version would have decided at
//! each decision point of a case's recorded history, beside what was recorded.
//!
//! A dry run by construction: [`dry_run`] takes the recorded events by value and no store, so
//! it cannot write anything; it rebuilds the case in memory (`Case::replay` of the first event,
//! then `Case::apply`), and asks the version through the same path the server decides with
//! (`apply::decision_events`, then the tenant's routing table), on a scratch copy
//! (`Case::preview`) that is thrown away.
//!
//! Each step is judged on the case *as it was recorded* at that point, not on the case the
//! other version's earlier decisions would have made: the question is "at this moment, with
//! these facts, what would that version have said", so one early difference does not hide
//! every later one. The tenant's routing table resolves a proposed route only where the
//! recorded decision's route was resolved through one (its reasoning says so): routing is the
//! tenant's, not the version's.

use std::collections::BTreeMap;

use jiff::{Timestamp, civil::Date};
use redress_calendar::CalendarSet;
use redress_domain::{
    Case, EventKind, EventRecord, Status,
    case::ApplyError,
    clock::ClockChange,
    contract::{Action, RulesetRef, Trigger},
};

use super::{LoadedRuleset, RuleContext, apply::decision_events};
use crate::routing::{RoutingTable, resolve_route_actions};

/// How `routing::resolve_route_actions` begins the line it adds to a decision's reasoning.
const ROUTING_TABLE_LINE: &str = "routing table:";

/// Why a dry run could not be made.
#[derive(Debug, thiserror::Error)]
pub enum DryRunError {
    #[error("no case with this id in the tenant")]
    NoCase,
    #[error("no ruleset {id} {version} for this tenant")]
    NoRuleset { id: String, version: String },
    #[error(
        "ruleset {id} {version} decides sector `{ruleset_sector}`; the case is in sector `{case_sector}`"
    )]
    OtherSector {
        id: String,
        version: String,
        ruleset_sector: String,
        case_sector: String,
    },
    #[error("the case's recorded history does not replay: {0}")]
    Replay(#[from] ApplyError),
    #[error("the case could not be read: {0}")]
    Read(String),
}

/// A clock as a step left it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClockOutcome {
    pub state: &'static str,
    /// The local date it is due on (the last day of its period).
    pub due_date: Option<Date>,
}

/// What a decision point came to, recorded or proposed.
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    /// The version that decided (`None`: no ruleset, or no decision recorded at this point).
    pub ruleset: Option<RulesetRef>,
    /// Whether a decision (or a rule failure) was made at all at this point.
    pub decided: bool,
    pub actions: Vec<Action>,
    pub explanation: Vec<String>,
    pub failure: Option<String>,
    pub status: Option<Status>,
    pub clocks: BTreeMap<String, ClockOutcome>,
}

/// One decision point of the history.
#[derive(Debug, Clone)]
pub struct Step {
    pub at: Timestamp,
    pub trigger: Trigger,
    pub recorded: Outcome,
    pub proposed: Outcome,
    /// The actions, the failure, the status or a clock differ.
    pub differs: bool,
    /// The reasoning's text differs (reasons alone are worded per version).
    pub reasons_differ: bool,
}

/// The whole dry run.
#[derive(Debug, Clone)]
pub struct DryRun {
    pub ruleset: RulesetRef,
    /// The case as its history leaves it (rebuilt in memory; unmasked).
    pub case: Case,
    pub steps: Vec<Step>,
    /// The recorded events read (the history is left exactly as it was).
    pub events_read: usize,
}

impl DryRun {
    pub fn differences(&self) -> usize {
        self.steps.iter().filter(|s| s.differs).count()
    }
}

/// How many events a recorded decision wrote after itself: one per lifecycle or clock action
/// (`apply::decision_events`).
fn action_events(actions: &[Action], case: &Case) -> usize {
    actions
        .iter()
        .filter(|a| a.lifecycle().is_some() || a.clock(case.received_at).is_some())
        .count()
}

/// The trigger an event is for the rules, if it is one.
fn trigger_of(event: &EventKind) -> Option<Trigger> {
    match event {
        EventKind::Received { .. } => Some(Trigger::CaseReceived),
        EventKind::Handler { action } => Some(Trigger::HandlerEvent {
            action: action.clone(),
        }),
        EventKind::Clock {
            name,
            change: ClockChange::Warned,
        } => Some(Trigger::ClockWarning {
            clock: name.clone(),
        }),
        EventKind::Clock { name, change }
            if matches!(change, ClockChange::Breached { .. }) || change.closes_window() =>
        {
            Some(Trigger::ClockBreach {
                clock: name.clone(),
            })
        }
        _ => None,
    }
}

fn clocks_of(case: &Case) -> BTreeMap<String, ClockOutcome> {
    case.clocks
        .iter()
        .map(|(name, clock)| {
            let due_date = clock.due_at.map(|due| {
                (due - jiff::SignedDuration::from_nanos(1))
                    .to_zoned(case.time_zone())
                    .date()
            });
            (
                name.clone(),
                ClockOutcome {
                    state: clock.state.as_str(),
                    due_date,
                },
            )
        })
        .collect()
}

/// What `events` (a decision and its actions, or nothing) came to on `case`.
fn outcome_of(events: &[EventKind], after: &Case) -> Outcome {
    let mut outcome = Outcome {
        status: Some(after.status),
        clocks: clocks_of(after),
        ..Outcome::default()
    };
    for event in events {
        match event {
            EventKind::Decision {
                ruleset,
                actions,
                explanation,
                ..
            } => {
                outcome.decided = true;
                outcome.ruleset = Some(ruleset.clone());
                outcome.actions = actions.clone();
                outcome.explanation = explanation.clone();
            }
            EventKind::RuleFailure {
                ruleset, reason, ..
            } => {
                outcome.decided = true;
                outcome.ruleset = ruleset.clone();
                outcome.failure = Some(reason.clone());
            }
            _ => {}
        }
    }
    outcome
}

/// What `ruleset` decides on `trigger` about `case` at `at`, and the case it leaves.
fn propose(
    ruleset: &LoadedRuleset,
    calendars: &CalendarSet,
    routing: Option<&RoutingTable>,
    trigger: Trigger,
    case: &Case,
    at: Timestamp,
) -> Outcome {
    let ctx = RuleContext { now: at, calendars };
    let mut events = decision_events(ruleset, trigger, case, &ctx);
    if let Some(table) = routing {
        resolve_route_actions(table, case, &mut events);
    }
    let mut scratch = case.clone();
    for kind in &events {
        // `decision_events` checked each event on its own scratch copy; one refused here would
        // be a bug, and the outcome then shows the case as far as it got.
        if scratch.preview(kind, at).is_err() {
            break;
        }
    }
    outcome_of(&events, &scratch)
}

fn compare(recorded: &Outcome, proposed: &Outcome) -> (bool, bool) {
    let json = |actions: &[Action]| serde_json::to_value(actions).unwrap_or_default();
    let differs = recorded.decided != proposed.decided
        || json(&recorded.actions) != json(&proposed.actions)
        || recorded.failure != proposed.failure
        || recorded.status != proposed.status
        || recorded.clocks != proposed.clocks;
    (differs, recorded.explanation != proposed.explanation)
}

/// Replays `events` (a case's whole recorded history, in order) and, at each point where the
/// rules were asked (or would have been: a trigger with no decision recorded), asks `ruleset`
/// too. Nothing is written anywhere: see the module's comment.
pub fn dry_run(
    ruleset: &LoadedRuleset,
    calendars: &CalendarSet,
    routing: Option<&RoutingTable>,
    events: &[EventRecord],
) -> Result<DryRun, DryRunError> {
    let (first, rest) = events.split_first().ok_or(DryRunError::NoCase)?;
    let mut case = Case::replay(std::slice::from_ref(first))?;
    let mut steps = Vec::new();
    // A trigger seen whose decision has not come yet: (trigger, when).
    let mut pending: Option<(Trigger, Timestamp)> =
        Some((Trigger::CaseReceived, first.recorded_at));
    // Where nothing was recorded, a step is shown only if this version would say something.
    let undecided = |case: &Case, trigger: Trigger, at: Timestamp| {
        let recorded = outcome_of(&[], case);
        // Nothing recorded says whether a table was asked: the version's own decision.
        let proposed = propose(ruleset, calendars, None, trigger.clone(), case, at);
        if !proposed.decided {
            return None;
        }
        let (differs, reasons_differ) = compare(&recorded, &proposed);
        Some(Step {
            at,
            trigger,
            recorded,
            proposed,
            differs,
            reasons_differ,
        })
    };
    let mut i = 0;
    while i < rest.len() {
        let record = &rest[i];
        let decision = match &record.event {
            EventKind::Decision {
                trigger, actions, ..
            } => Some((trigger.clone(), 1 + action_events(actions, &case))),
            EventKind::RuleFailure { trigger, .. } => Some((trigger.clone(), 1)),
            _ => None,
        };
        if let Some((trigger, count)) = decision {
            pending = None;
            let before = case.clone();
            let group = &rest[i..(i + count).min(rest.len())];
            for r in group {
                case.apply(r)?;
            }
            let kinds: Vec<EventKind> = group.iter().map(|r| r.event.clone()).collect();
            let recorded = outcome_of(&kinds, &case);
            // The routing table is the tenant's, not the version's: a route the recorded
            // decision resolved through a table is resolved through the table in force; one
            // decided before the tenant had a table is left unresolved, as it was, so that
            // a table added since does not read as a difference between versions.
            let routed = recorded
                .explanation
                .iter()
                .any(|line| line.starts_with(ROUTING_TABLE_LINE));
            let proposed = propose(
                ruleset,
                calendars,
                routing.filter(|_| routed),
                trigger.clone(),
                &before,
                record.recorded_at,
            );
            let (differs, reasons_differ) = compare(&recorded, &proposed);
            steps.push(Step {
                at: record.recorded_at,
                trigger,
                recorded,
                proposed,
                differs,
                reasons_differ,
            });
            i += group.len();
            continue;
        }
        if let Some(trigger) = trigger_of(&record.event) {
            // The previous trigger had no decision recorded: the version in force said
            // nothing; would this one?
            if let Some((previous, at)) = pending.take() {
                steps.extend(undecided(&case, previous, at));
            }
            pending = Some((trigger, record.recorded_at));
        }
        case.apply(record)?;
        i += 1;
    }
    if let Some((trigger, at)) = pending {
        steps.extend(undecided(&case, trigger, at));
    }
    Ok(DryRun {
        ruleset: ruleset.reference(),
        case,
        steps,
        events_read: events.len(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use redress_domain::clock::WINDOW_CLOSED;

    #[test]
    fn the_triggers_are_the_events_the_service_asks_the_rules_about() {
        let clock = |change| EventKind::Clock {
            name: "acceptance".into(),
            change,
        };
        assert_eq!(
            trigger_of(&clock(ClockChange::Warned)),
            Some(Trigger::ClockWarning {
                clock: "acceptance".into()
            })
        );
        assert_eq!(
            trigger_of(&clock(ClockChange::Breached { escalated_to: None })),
            Some(Trigger::ClockBreach {
                clock: "acceptance".into()
            })
        );
        // A window closing is asked about as a breach, as the scheduler does; a clock met is not.
        assert_eq!(
            trigger_of(&clock(ClockChange::Stopped {
                met: false,
                reason: Some(WINDOW_CLOSED.into())
            })),
            Some(Trigger::ClockBreach {
                clock: "acceptance".into()
            })
        );
        assert_eq!(
            trigger_of(&clock(ClockChange::Stopped {
                met: true,
                reason: None
            })),
            None
        );
    }

    #[test]
    fn no_history_is_no_case() {
        let engine = super::super::rhai_engine::RhaiEngine::new(Default::default());
        let package = super::super::registry::Package {
            origin: "test".into(),
            files: [
                (
                    "ruleset.toml".to_owned(),
                    "id = \"t\"\nversion = \"1.0.0\"\nname = \"t\"\nsector = \"banking\"\neffective_from = 2020-01-01\nengine = \"rhai\"\n".to_owned(),
                ),
                (
                    "rules.rhai".to_owned(),
                    "fn decide(trigger, the_case, ctx) { [] }\n".to_owned(),
                ),
            ]
            .into(),
            binaries: Default::default(),
        };
        let Ok((loaded, _)) = LoadedRuleset::compile(&engine, &package) else {
            panic!("the test package compiles");
        };
        assert!(matches!(
            dry_run(&loaded, &CalendarSet::default(), None, &[]),
            Err(DryRunError::NoCase)
        ));
    }
}

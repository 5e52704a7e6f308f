//! Fixture cases: each an input (a case, its history, a trigger, a time) and the decision the
//! rules must reach. A package's fixtures run before it may become active; `redress ruleset
//! test` runs them for rule authors with a readable diff.
//!
//! ```yaml
//! description: A complaint without the complainant's address is not accepted (art. 9, 15(5))
//! now: 2026-02-13T10:00:00+08:00
//! case:
//!   intake: { sector: market_supervision, channel: hotline, ... }
//!   history:                                 # optional, applied before the trigger
//!     - { at: 2026-02-14T09:00:00+08:00, action: { type: accept } }
//!     - { at: 2026-02-20T09:00:00+08:00, clock: { type: pause, name: mediation, reason: 检测 } }
//!   repeat_of:                               # optional: earlier cases the host found
//!     - { case_id: 01KGEKE2R0000000000000000A, received_at: 2026-01-10T02:00:00Z, status: accepted,
//!         basis: [ { kind: same_complainant, identifier: phone }, { kind: same_respondent } ] }
//! trigger: { type: case_received }
//! expect:
//!   actions: [ { type: reject, ground: missing_materials, article: "...", reason: "..." } ]
//!   status: rejected                         # optional
//!   clocks: { acceptance: { due_date: 2026-03-02, state: running } }   # optional; also
//!                                            # provisional_years: [2027]
//!   failure: "too many operations"           # optional: the rule must fail with this
//!   explanation: [ "art. 15(5)" ]            # optional: substrings of the explanation
//! ```

use std::collections::BTreeMap;

use jiff::{Timestamp, civil::Date};
use redress_calendar::CalendarSet;
use redress_domain::{
    Actor, Case, CaseId, CaseIntake, EventKind, HandlerAction, Status, TrackingCode,
    clock::{ClockAction, ClockChange},
    contract::{Action, Trigger},
};
use serde::{Deserialize, Serialize};

use super::{LoadedRuleset, RuleContext, RuleError, apply::decision_events};
use crate::deadlines;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fixture {
    #[serde(skip)]
    pub name: String,
    pub description: String,
    pub now: Timestamp,
    #[serde(default = "default_tenant")]
    pub tenant: redress_domain::TenantId,
    pub case: FixtureCase,
    pub trigger: Trigger,
    pub expect: Expect,
}

fn default_tenant() -> redress_domain::TenantId {
    redress_domain::TenantId::default_tenant()
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FixtureCase {
    pub intake: CaseIntake,
    #[serde(default)]
    pub history: Vec<HistoryStep>,
    /// The earlier cases the host would have found (`the_case.repeat_of`), as recorded on the
    /// `received` event.
    #[serde(default)]
    pub repeat_of: Vec<redress_domain::repeat::RepeatCandidate>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HistoryStep {
    pub at: Timestamp,
    pub action: Option<HandlerAction>,
    pub clock: Option<ClockAction>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub actions: Option<Vec<Action>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<Status>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub clocks: BTreeMap<String, ExpectClock>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub explanation: Vec<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ExpectClock {
    /// The local date on which the clock is due (the last day of the period).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub due_date: Option<Date>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    /// The years without a published schedule that the due time relies on (`[]`: none).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provisional_years: Option<Vec<i16>>,
}

/// What a decision came to: its actions and reasoning, or the rule failure.
struct Decided {
    actions: Vec<Action>,
    explanation: Vec<String>,
    failure: Option<String>,
}

impl Decided {
    fn of(evaluation: &Evaluation) -> Decided {
        let mut decided = Decided {
            actions: Vec::new(),
            explanation: Vec::new(),
            failure: None,
        };
        for event in &evaluation.events {
            match event {
                EventKind::Decision {
                    actions,
                    explanation,
                    ..
                } => {
                    decided.actions = actions.clone();
                    decided.explanation = explanation.clone();
                }
                EventKind::RuleFailure { reason, .. } => decided.failure = Some(reason.clone()),
                _ => {}
            }
        }
        decided
    }
}

/// The local date a clock is due on (the last day of its period), if it has a due time.
fn due_date(case: &Case, clock: &redress_domain::clock::CaseClock) -> Option<Date> {
    clock.due_at.map(|due| {
        (due - jiff::SignedDuration::from_nanos(1))
            .to_zoned(case.time_zone())
            .date()
    })
}

/// What running one fixture found.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct FixtureReport {
    pub name: String,
    pub description: String,
    /// Empty when the fixture passed; otherwise each difference, as text (with a diff of the
    /// actions where they differ).
    pub differences: Vec<String>,
}

impl FixtureReport {
    pub fn passed(&self) -> bool {
        self.differences.is_empty()
    }
}

/// The outcome of a fixture run, for `redress ruleset explain`.
#[derive(Debug)]
pub struct Evaluation {
    pub case_before: Case,
    pub events: Vec<EventKind>,
    pub case_after: Case,
}

impl Fixture {
    pub fn parse(text: &str, origin: &str, name: &str) -> Result<Fixture, RuleError> {
        let mut fixture: Fixture =
            crate::yaml::from_str(text, origin).map_err(|e| RuleError::Fixture {
                origin: match e.line {
                    Some(line) => format!("{origin}:{line}"),
                    None => origin.to_owned(),
                },
                message: if e.path.is_empty() || e.path == "." {
                    e.message
                } else {
                    format!("at `{}`: {}", e.path, e.message)
                },
            })?;
        fixture.name = name
            .trim_end_matches(".yaml")
            .trim_end_matches(".yml")
            .to_owned();
        for (i, step) in fixture.case.history.iter().enumerate() {
            if step.action.is_some() == step.clock.is_some() {
                return Err(RuleError::Fixture {
                    origin: origin.to_owned(),
                    message: format!("case.history[{i}]: give exactly one of `action` or `clock`"),
                });
            }
        }
        Ok(fixture)
    }

    /// Builds the case, applies its history and the trigger, and asks the ruleset, through the
    /// same code path the server uses.
    pub fn evaluate(
        &self,
        ruleset: &LoadedRuleset,
        calendars: &CalendarSet,
    ) -> Result<Evaluation, String> {
        let mut intake = self.intake_with_receipt();
        intake.received_at.get_or_insert(self.now);
        let registered_at = intake.received_at.unwrap_or(self.now);
        let (mut case, _) = Case::register_with(
            CaseId::from_parts(registered_at.as_millisecond().max(0) as u64, 0),
            TrackingCode::from_random(0),
            self.tenant.clone(),
            intake,
            redress_domain::repeat::RepeatFacts {
                complainant_key: None,
                repeat_of: self.case.repeat_of.clone(),
            },
            Actor::api("fixture"),
            registered_at,
        )
        .map_err(|e| format!("the case cannot be registered: {e}"))?;
        // The server selects a package only for cases received within its effective dates; a
        // fixture outside them would test a decision that never happens.
        let received = case.received_at.to_zoned(case.time_zone()).date();
        let manifest = &ruleset.manifest;
        if !manifest.applies_on(received) {
            return Err(format!(
                "the case is received on {received}, outside the package's effective dates ({} to {}): the server never decides such a case with this package",
                manifest.effective_from,
                manifest
                    .effective_until
                    .map_or_else(|| "open-ended".to_owned(), |d| d.to_string())
            ));
        }
        // Intake refuses attributes the package does not declare; so does a fixture.
        let faults = manifest.check_attributes(&case.intake.attributes);
        if !faults.is_empty() {
            let faults: Vec<String> = faults
                .iter()
                .map(|(name, why)| format!("attributes.{name} {why}"))
                .collect();
            return Err(format!("the intake is refused: {}", faults.join("; ")));
        }
        let apply = |case: &mut Case, kind: EventKind, at: Timestamp| -> Result<(), String> {
            let record = case.seal(kind, Actor::api("fixture"), at);
            case.apply(&record).map_err(|e| e.to_string())
        };
        // A handler action, and the clocks it meets by their declaration, as `Redress::act`
        // records them.
        let act = |case: &mut Case, action: &HandlerAction, at: Timestamp| {
            let met = case.clocks_met_by(action);
            apply(
                case,
                EventKind::Handler {
                    action: action.clone(),
                },
                at,
            )?;
            met.into_iter().try_for_each(|kind| apply(case, kind, at))
        };
        for (i, step) in self.case.history.iter().enumerate() {
            let result = match (&step.action, &step.clock) {
                (Some(action), _) => act(&mut case, action, step.at),
                (_, Some(request)) => {
                    // A clock the rules started carries its declaration from the manifest.
                    let mut request = request.clone();
                    if let ClockAction::Start { clock, .. } = &mut request {
                        if clock.met_by.is_empty() {
                            clock.met_by = ruleset.manifest.met_by(&clock.name).to_vec();
                        }
                        clock.window |= ruleset.manifest.is_window(&clock.name);
                    }
                    let change = deadlines::change_for(calendars, &case, &request, step.at)
                        .map_err(|e| format!("case.history[{i}]: {e}"))?;
                    apply(
                        &mut case,
                        EventKind::Clock {
                            name: request.clock_name().to_owned(),
                            change,
                        },
                        step.at,
                    )
                }
                (None, None) => continue,
            };
            result.map_err(|e| format!("case.history[{i}]: {e}"))?;
        }
        match &self.trigger {
            Trigger::CaseReceived => {}
            Trigger::HandlerEvent { action } => {
                act(&mut case, action, self.now).map_err(|e| format!("trigger: {e}"))?
            }
            Trigger::ClockWarning { clock } => apply(
                &mut case,
                EventKind::Clock {
                    name: clock.clone(),
                    change: ClockChange::Warned,
                },
                self.now,
            )
            .map_err(|e| format!("trigger: {e}"))?,
            Trigger::ClockBreach { clock } => {
                let window = case.clocks.get(clock).is_some_and(|c| c.spec.window);
                apply(
                    &mut case,
                    EventKind::Clock {
                        name: clock.clone(),
                        // As the scheduler records it: a window closes, a duty breaches.
                        change: if window {
                            ClockChange::Stopped {
                                met: false,
                                reason: Some(redress_domain::clock::WINDOW_CLOSED.to_owned()),
                            }
                        } else {
                            ClockChange::Breached { escalated_to: None }
                        },
                    },
                    self.now,
                )
            }
            .map_err(|e| format!("trigger: {e}"))?,
        }
        let ctx = RuleContext {
            now: self.now,
            calendars,
        };
        let events = decision_events(ruleset, self.trigger.clone(), &case, &ctx);
        let mut after = case.clone();
        for kind in &events {
            apply(&mut after, kind.clone(), self.now)
                .map_err(|e| format!("applying the decision: {e}"))?;
        }
        Ok(Evaluation {
            case_before: case,
            events,
            case_after: after,
        })
    }

    fn intake_with_receipt(&self) -> CaseIntake {
        self.case.intake.clone()
    }

    pub fn run(&self, ruleset: &LoadedRuleset, calendars: &CalendarSet) -> FixtureReport {
        let mut differences = Vec::new();
        match self.evaluate(ruleset, calendars) {
            Err(e) => differences.push(e),
            Ok(evaluation) => self.compare(&evaluation, &mut differences),
        }
        FixtureReport {
            name: self.name.clone(),
            description: self.description.clone(),
            differences,
        }
    }

    /// What the decision came to, in the terms of this fixture's `expect`: the same keys, with
    /// the values observed (an explanation needle kept only while the reasoning still has it).
    /// What `redress ruleset test --update` writes for an extension whose settings change the
    /// decision.
    pub fn observed(&self, evaluation: &Evaluation) -> Expect {
        let decided = Decided::of(evaluation);
        let after = &evaluation.case_after;
        if let Some(actual) = decided.failure {
            let failure = match &self.expect.failure {
                Some(expected) if actual.contains(expected.as_str()) => expected.clone(),
                _ => actual,
            };
            return Expect {
                failure: Some(failure),
                ..Expect::default()
            };
        }
        let clocks = self
            .expect
            .clocks
            .iter()
            .filter_map(|(name, wanted)| {
                let clock = after.clocks.get(name)?;
                let observed = ExpectClock {
                    due_date: wanted.due_date.and(due_date(after, clock)),
                    state: wanted
                        .state
                        .as_ref()
                        .map(|_| clock.state.as_str().to_owned()),
                    provisional_years: wanted
                        .provisional_years
                        .as_ref()
                        .map(|_| clock.provisional_years.clone()),
                };
                Some((name.clone(), observed))
            })
            .collect();
        Expect {
            actions: self
                .expect
                .actions
                .as_ref()
                .map(|_| decided.actions.clone()),
            status: self.expect.status.map(|_| after.status),
            clocks,
            failure: None,
            explanation: self
                .expect
                .explanation
                .iter()
                .filter(|needle| {
                    decided
                        .explanation
                        .iter()
                        .any(|line| line.contains(needle.as_str()))
                })
                .cloned()
                .collect(),
        }
    }

    fn compare(&self, evaluation: &Evaluation, differences: &mut Vec<String>) {
        let Decided {
            actions,
            explanation,
            failure,
        } = Decided::of(evaluation);
        match (&self.expect.failure, &failure) {
            (Some(expected), Some(actual)) if !actual.contains(expected.as_str()) => differences
                .push(format!(
                    "expected a rule failure containing `{expected}`, got: {actual}"
                )),
            (Some(expected), None) => differences.push(format!(
                "expected a rule failure containing `{expected}`, but the rule decided"
            )),
            (None, Some(actual)) => differences.push(format!("the rule failed: {actual}")),
            _ => {}
        }
        if let Some(expected) = &self.expect.actions
            && failure.is_none()
            && expected != &actions
        {
            let render = |a: &Vec<Action>| crate::yaml::to_string(a);
            let (want, got) = (render(expected), render(&actions));
            let diff = similar::TextDiff::from_lines(&want, &got)
                .unified_diff()
                .header("expected actions", "actual actions")
                .to_string();
            differences.push(format!("actions differ:\n{diff}"));
        }
        if let Some(status) = self.expect.status
            && evaluation.case_after.status != status
        {
            differences.push(format!(
                "expected status `{status}`, got `{}`",
                evaluation.case_after.status
            ));
        }
        for (name, expected) in &self.expect.clocks {
            let Some(clock) = evaluation.case_after.clocks.get(name) else {
                differences.push(format!("expected a clock `{name}`, but the case has none"));
                continue;
            };
            if let Some(state) = &expected.state
                && clock.state.as_str() != state
            {
                differences.push(format!(
                    "clock `{name}`: expected state `{state}`, got `{}`",
                    clock.state.as_str()
                ));
            }
            if let Some(years) = &expected.provisional_years
                && &clock.provisional_years != years
            {
                differences.push(format!(
                    "clock `{name}`: expected provisional years {years:?}, got {:?}",
                    clock.provisional_years
                ));
            }
            if let Some(due_date) = expected.due_date {
                let actual = self::due_date(&evaluation.case_after, clock);
                if actual != Some(due_date) {
                    let shown =
                        actual.map_or("none (paused or ended)".to_owned(), |d| d.to_string());
                    differences.push(format!(
                        "clock `{name}`: expected due date {due_date}, got {shown}"
                    ));
                }
            }
        }
        for needle in &self.expect.explanation {
            if !explanation
                .iter()
                .any(|line| line.contains(needle.as_str()))
            {
                differences.push(format!(
                    "the explanation does not mention `{needle}`: {explanation:?}"
                ));
            }
        }
    }
}

/// A fixture file's text with its top-level `expect:` block replaced by `expect`; every other
/// line (comments included) is kept. `None` when the text has no top-level `expect:`.
pub fn with_expect(text: &str, expect: &Expect) -> Option<String> {
    let lines: Vec<&str> = text.lines().collect();
    let start = lines.iter().position(|l| l.starts_with("expect:"))?;
    let end = lines[start + 1..]
        .iter()
        .position(|l| {
            !l.is_empty() && !l.starts_with(' ') && !l.starts_with('#') && !l.starts_with('-')
        })
        .map_or(lines.len(), |i| start + 1 + i);
    let block = crate::yaml::to_string(&serde_json::json!({ "expect": expect }));
    let mut out: Vec<String> = lines[..start].iter().map(|l| (*l).to_owned()).collect();
    out.extend(block.lines().map(str::to_owned));
    out.extend(lines[end..].iter().map(|l| (*l).to_owned()));
    Some(out.join("\n") + "\n")
}

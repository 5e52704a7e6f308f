//! From a decision to events. The decision is recorded first; then each lifecycle or clock
//! action becomes its own event, checked by previewing it on a scratch copy of the case. If any
//! action is refused (the lifecycle does not allow it, a clock is in the wrong state, a date is
//! not covered by the calendar), none of them is applied: the decision becomes a recorded rule
//! failure and the case goes to manual handling, as if the rule had crashed.

use redress_domain::{
    Actor, Case, EventKind,
    clock::ClockAction,
    contract::{Action, RulesetRef, Trigger},
    event::ActorKind,
};

use super::{LoadedRuleset, RuleContext};
use crate::deadlines;

pub fn ruleset_actor(reference: &RulesetRef) -> Actor {
    Actor {
        kind: ActorKind::Ruleset,
        id: format!("{}@{}", reference.id, reference.version),
    }
}

/// The events that record `ruleset`'s decision on `trigger` for `case` (the case as it stands
/// after the triggering event).
pub fn decision_events(
    ruleset: &LoadedRuleset,
    trigger: Trigger,
    case: &Case,
    ctx: &RuleContext<'_>,
) -> Vec<EventKind> {
    let reference = ruleset.reference();
    let failure = |reason: String| {
        vec![EventKind::RuleFailure {
            ruleset: Some(reference.clone()),
            trigger: trigger.clone(),
            reason,
        }]
    };
    let decision = match ruleset.decide(&trigger, case, ctx) {
        Ok(decision) => decision,
        // The reason is the `RuleError`'s text: what failed, or that the version is suspended.
        Err(e) => return failure(e.to_string()),
    };
    // Nothing to do and nothing to say about a case already pinned: no event. The first
    // decision is always recorded, because it pins the ruleset version.
    if decision.actions.is_empty() && decision.explanation.is_empty() && case.ruleset.is_some() {
        return Vec::new();
    }
    if let Err(reason) = check_merges(&decision.actions, case) {
        return failure(reason);
    }
    let mut scratch = case.clone();
    let mut events = Vec::with_capacity(decision.actions.len() + 1);
    let record = EventKind::Decision {
        ruleset: reference.clone(),
        engine: ruleset.engine_version().into(),
        trigger: trigger.clone(),
        actions: decision.actions.clone(),
        explanation: decision.explanation.clone(),
    };
    let mut push = |scratch: &mut Case, kind: EventKind| -> Result<(), String> {
        scratch.preview(&kind, ctx.now).map_err(|e| e.to_string())?;
        events.push(kind);
        Ok(())
    };
    if let Err(e) = push(&mut scratch, record) {
        return failure(e);
    }
    for (i, action) in decision.actions.iter().enumerate() {
        let kind = if let Some(lifecycle) = action.lifecycle() {
            EventKind::Handler { action: lifecycle }
        } else if let Some(mut request) = action.clock(scratch.received_at) {
            if let ClockAction::Start { clock, .. } = &mut request {
                if clock.met_by.is_empty() {
                    clock.met_by = ruleset.manifest.met_by(&clock.name).to_vec();
                }
                clock.window |= ruleset.manifest.is_window(&clock.name);
            }
            match deadlines::change_for(ctx.calendars, &scratch, &request, ctx.now) {
                Ok(change) => EventKind::Clock {
                    name: request.clock_name().to_owned(),
                    change,
                },
                Err(e) => return failure(format!("action {i} (`{}`): {e}", action.kind())),
            }
        } else {
            continue;
        };
        if let Err(e) = push(&mut scratch, kind) {
            return failure(format!("action {i} (`{}`): {e}", action.kind()));
        }
    }
    events
}

/// A decision may merge the case (`merge_into`) only into one of the earlier cases the host
/// found at intake (`repeat_of`: same tenant, same complainant and respondent), once in the
/// case's life and once per decision. The host writes the link on the earlier case after the
/// decision; a rule that could name any case id could link cases the host never matched.
fn check_merges(actions: &[Action], case: &Case) -> Result<(), String> {
    let mut merges = actions.iter().enumerate().filter_map(|(i, a)| match a {
        Action::MergeInto { case_id, .. } => Some((i, *case_id)),
        _ => None,
    });
    let Some((i, target)) = merges.next() else {
        return Ok(());
    };
    if let Some((j, _)) = merges.next() {
        return Err(format!(
            "action {j} (`merge_into`): a decision merges the case into one case at most (action {i} already does)"
        ));
    }
    if let Some(earlier) = &case.merged_into {
        return Err(format!(
            "action {i} (`merge_into`): the case is already merged into {}",
            earlier.case_id
        ));
    }
    if !case.repeat_of.iter().any(|c| c.case_id == target) {
        return Err(format!(
            "action {i} (`merge_into`): {target} is not one of the case's repeat candidates (`repeat_of`)"
        ));
    }
    Ok(())
}

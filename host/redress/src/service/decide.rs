//! The rules' decisions: which ruleset decides a case, and plans that append an event and the
//! decision it triggers in one write.

use std::sync::Arc;

use jiff::Timestamp;
use redress_calendar::CalendarSet;
use redress_domain::{Case, EventKind, case::ApplyError, contract::Trigger};

use super::Redress;
use crate::{
    routing::resolve_route_actions,
    rules::{LoadedRuleset, Registry, RuleContext, apply::decision_events},
    store::Plan,
};

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

/// Applies `events` to a copy of `case`, to see the case the rules will be asked about.
fn after(case: &Case, events: &[EventKind], now: Timestamp) -> Result<Case, ApplyError> {
    let mut scratch = case.clone();
    for kind in events {
        scratch.preview(kind, now)?;
    }
    Ok(scratch)
}

impl Redress {
    /// A plan that appends what `first` decides and then the rules' decision on the trigger
    /// `trigger_of` names (given those events), about the case as it stands after them, all in
    /// one write.
    pub(super) fn with_decision(
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
}

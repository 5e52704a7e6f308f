//! Firing due clocks: the scheduler's pass.

use std::sync::Arc;

use jiff::Timestamp;
use redress_domain::{Actor, Case, EventKind, EventRecord, clock::ClockChange, contract::Trigger};

use super::{Redress, ServiceError};
use crate::store::{DueClock, DueKind, Plan};

/// How many due firings one scheduler pass takes on.
const SCHEDULER_BATCH: usize = 256;

impl Redress {
    /// Fires every warning and breach due by now, each exactly once: the firing event and the
    /// removal of its due-index entry are one write, and a firing that is no longer owed (the
    /// clock was paused, stopped or already fired) appends nothing. Returns the events written.
    pub async fn fire_due(&self) -> Result<Vec<EventRecord>, ServiceError> {
        let now = self.time.now();
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
                    EventKind::Clock { name, change } if change.closes_window() => {
                        Some(Trigger::ClockBreach {
                            clock: name.clone(),
                        })
                    }
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
        DueKind::Breach
            if clock.breach_pending().is_some_and(|at| at <= now) && clock.spec.window =>
        {
            ClockChange::Stopped {
                met: false,
                reason: Some(redress_domain::clock::WINDOW_CLOSED.to_owned()),
            }
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

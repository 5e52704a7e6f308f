//! Recomputing due times when a calendar changes: the State Council publishes next year's
//! schedule (a provisional year becomes a published one) or amends a published year.
//!
//! A clock's due time is computed once and recorded (replay never consults a calendar), so a
//! changed calendar moves nothing by itself. Here every clock that still owes something
//! (running or breached) on a calendar whose version changed is computed again from its
//! recorded start, pauses and extensions; where the result differs, one `schedule_revised`
//! event per clock records the old and new due and warning times, the calendar version and the
//! notices it relies on, in the same write as the due-index.
//!
//! Rules (tested in `tests/integration/clocks.rs` and the domain's clock tests):
//! - a warning already fired is not fired again, even if the warning point moved later;
//! - a breach already fired stays in the history; if the revised due time is still ahead, the
//!   revision carries `breach_corrected` and the clock runs again (the next breach escalates
//!   one tier further, as escalation already made is not undone); if the revised due time has
//!   passed too, the clock stays breached;
//! - a running clock whose revised due time (or warning point) has already passed is fired by
//!   the scheduler's next pass, as any due firing;
//! - a paused clock has no due time; it is computed with the calendar in force when it resumes.
//!
//! Exactly once, across crashes: the versions of the calendars the open clocks were last
//! reconciled with are kept in `<data>/calendar-versions.json`, written only after a pass has
//! finished. A pass killed half-way leaves every case either old or revised (each case is one
//! write) and the file unchanged, so the next start runs the pass again; a clock already
//! revised computes to the same schedule and gets no second event.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use jiff::Timestamp;
use redress_calendar::CalendarSet;
use redress_domain::{
    Case, EventKind,
    clock::{ClockChange, ClockState, Schedule},
};

use crate::{
    deadlines,
    service::{Redress, ServiceError},
    store::Plan,
};

/// The calendar versions the open clocks were last reconciled with.
#[derive(Debug, Default)]
pub struct CalendarRecord {
    /// `None`: kept in memory only (tests, `simulate`).
    path: Option<PathBuf>,
    applied: tokio::sync::Mutex<Option<BTreeMap<String, String>>>,
    /// Waited after each case revised, so a revision of a large store leaves room for live
    /// requests (every revision is a durable write).
    pause: std::time::Duration,
}

impl CalendarRecord {
    pub fn in_memory() -> Self {
        CalendarRecord::default()
    }

    /// Kept in `path` (normally `<data>/calendar-versions.json`).
    pub fn at(path: PathBuf, pause: std::time::Duration) -> Self {
        CalendarRecord {
            path: Some(path),
            applied: tokio::sync::Mutex::new(None),
            pause,
        }
    }

    fn read(&self) -> Result<BTreeMap<String, String>, String> {
        let Some(path) = &self.path else {
            return Ok(BTreeMap::new());
        };
        match std::fs::read(path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map_err(|e| format!("{}: not a calendar version record: {e}", path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(BTreeMap::new()),
            Err(e) => Err(format!("{}: {e}", path.display())),
        }
    }

    fn write(&self, versions: &BTreeMap<String, String>) -> Result<(), String> {
        let Some(path) = &self.path else {
            return Ok(());
        };
        let bytes = serde_json::to_vec_pretty(versions).map_err(|e| e.to_string())?;
        crate::durable::write_file(path, &bytes, false)
            .map_err(|e| format!("{}: {e}", path.display()))
    }
}

/// What a reconciliation pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct RevisionReport {
    /// Calendars whose version differed from the one recorded.
    pub calendars: Vec<String>,
    /// Cases with an open clock on one of them.
    pub cases_checked: u64,
    /// `schedule_revised` events written.
    pub clocks_revised: u64,
    /// Of those, breaches withdrawn because the revised due time is still ahead.
    pub breaches_corrected: u64,
}

/// The schedule `clock` gets from the calendars in force, if it differs from the one recorded.
fn revision(
    calendars: &CalendarSet,
    name: &str,
    case: &Case,
    now: Timestamp,
) -> Option<ClockChange> {
    let clock = case.clocks.get(name)?;
    if !matches!(clock.state, ClockState::Running | ClockState::Breached) {
        return None;
    }
    let cal = calendars.get(&clock.spec.calendar)?;
    let schedule: Schedule = match deadlines::schedule(
        calendars,
        &clock.spec,
        clock.started_at,
        &clock.pauses,
        &clock.extensions,
    ) {
        Ok(schedule) => schedule,
        Err(reason) => {
            // A calendar that now refuses the clock's years: the recorded schedule stands, and
            // the operator hears of it (the case is not silently left on a stale due time).
            tracing::warn!(case_id = %case.id, clock = name, %reason, "a clock's due time could not be recomputed with the changed calendar; its recorded due time stands");
            return None;
        }
    };
    let unchanged = schedule.due_at == clock.due_at
        && schedule.warning_at == clock.warning_at
        && schedule.provisional == clock.provisional
        && schedule.provisional_years == clock.provisional_years;
    if unchanged {
        return None;
    }
    let breach_corrected = match (clock.state, schedule.due_at) {
        (ClockState::Breached, Some(due)) if due > now => clock.breached_at,
        _ => None,
    };
    let (first, last) = (
        clock.started_at.to_zoned(cal.time_zone().clone()).year(),
        schedule
            .due_at
            .unwrap_or(now)
            .to_zoned(cal.time_zone().clone())
            .year(),
    );
    let sources = cal
        .covered_years()
        .filter(|y| (first..=last).contains(&y.year))
        .map(|y| format!("{}: {}", y.year, y.source))
        .collect();
    Some(ClockChange::ScheduleRevised {
        previous_due_at: clock.due_at,
        previous_warning_at: clock.warning_at,
        previous_provisional: clock.provisional,
        calendar: cal.id().to_owned(),
        calendar_version: cal.version(),
        sources,
        breach_corrected,
        schedule,
    })
}

/// The revisions a case needs for its open clocks on `calendar`: one event per clock.
pub fn revisions(
    calendars: &CalendarSet,
    calendar: &str,
    case: &Case,
    now: Timestamp,
) -> Vec<EventKind> {
    case.clocks
        .iter()
        .filter(|(_, clock)| clock.spec.calendar == calendar)
        .filter_map(|(name, _)| {
            revision(calendars, name, case, now).map(|change| EventKind::Clock {
                name: name.clone(),
                change,
            })
        })
        .collect()
}

impl Redress {
    /// Brings every open clock in line with the calendars in force, if they changed since the
    /// last pass (at start-up, after a hot reload). Passes never overlap.
    pub async fn reconcile_calendars(&self) -> Result<RevisionReport, ServiceError> {
        let record = Arc::clone(self.calendar_record());
        let mut applied = record.applied.lock().await;
        if applied.is_none() {
            *applied = Some(record.read().map_err(ServiceError::Task)?);
        }
        let calendars = self.calendars().current();
        let current: BTreeMap<String, String> = calendars
            .iter()
            .map(|c| (c.id().to_owned(), c.version()))
            .collect();
        let previous = applied.clone().unwrap_or_default();
        let changed: Vec<String> = current
            .iter()
            .filter(|(id, version)| previous.get(*id) != Some(version))
            .map(|(id, _)| id.clone())
            .collect();
        let mut report = RevisionReport {
            calendars: changed.clone(),
            ..RevisionReport::default()
        };
        for calendar in changed {
            let name = calendar.clone();
            let ids = self
                .blocking(move |store| store.cases_with_open_clocks(&name))
                .await?;
            if !ids.is_empty() {
                tracing::info!(calendar = %calendar, cases = ids.len(), "calendar changed: recomputing the due times of its open clocks");
            }
            for id in ids {
                report.cases_checked += 1;
                let (set, name) = (Arc::clone(&calendars), calendar.clone());
                let plan: Plan =
                    Arc::new(move |case: &Case, now| Ok(revisions(&set, &name, case, now)));
                let events = self.append_system(id, plan).await?;
                if !record.pause.is_zero() {
                    tokio::time::sleep(record.pause).await;
                }
                for event in &events {
                    if let EventKind::Clock {
                        change:
                            ClockChange::ScheduleRevised {
                                breach_corrected, ..
                            },
                        ..
                    } = &event.event
                    {
                        report.clocks_revised += 1;
                        report.breaches_corrected += u64::from(breach_corrected.is_some());
                    }
                }
            }
        }
        record.write(&current).map_err(ServiceError::Task)?;
        *applied = Some(current);
        if report.clocks_revised > 0 {
            tracing::warn!(
                calendars = ?report.calendars,
                clocks_revised = report.clocks_revised,
                breaches_corrected = report.breaches_corrected,
                "due times recomputed with the changed calendars (schedule_revised events)"
            );
        }
        Ok(report)
    }
}

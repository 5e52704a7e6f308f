//! The bridge between a case's clocks (`redress_domain::clock`) and the calendar arithmetic
//! (`redress_calendar`): it turns a clock request into a recorded clock change with its
//! computed due time, warning point and explanation.

use jiff::Timestamp;
use redress_calendar::{
    Calendar, CalendarSet, Deadline, DeadlineOptions, EndOfDay, Extension, Pause, Period,
};
use redress_domain::{
    Case,
    case::ApplyError,
    clock::{
        CaseClock, ClockAction, ClockChange, ClockError, ClockSpec, ClockState, ClockUnit, DayEnd,
        ExtensionRecord, PauseRecord, Schedule, WarnBefore,
    },
};

fn calendar<'a>(calendars: &'a CalendarSet, id: &str) -> Result<&'a Calendar, String> {
    calendars.get(id).ok_or_else(|| {
        format!(
            "unknown calendar `{id}` (available: {})",
            calendars.ids().collect::<Vec<_>>().join(", ")
        )
    })
}

fn period(unit: ClockUnit, amount: u32, roll_forward: bool) -> Period {
    match unit {
        ClockUnit::WorkingDays => Period::WorkingDays { amount },
        ClockUnit::CalendarDays => Period::CalendarDays {
            amount,
            roll_forward,
        },
        ClockUnit::Hours => Period::Hours { amount },
    }
}

fn warn_period(warn: WarnBefore) -> Period {
    period(warn.unit, warn.amount, false)
}

/// The deadline of a clock as specified, started at `started_at`, with its pauses and
/// extensions so far.
pub fn compute(
    calendars: &CalendarSet,
    spec: &ClockSpec,
    started_at: Timestamp,
    pauses: &[PauseRecord],
    extensions: &[ExtensionRecord],
) -> Result<Deadline, String> {
    let cal = calendar(calendars, &spec.calendar)?;
    let options = DeadlineOptions {
        end_of_day: match spec.day_end {
            DayEnd::Midnight => EndOfDay::Midnight,
            DayEnd::CloseOfBusiness => EndOfDay::CloseOfBusiness,
        },
        pauses: pauses
            .iter()
            .map(|p| Pause {
                from: p.from,
                until: p.until,
                reason: p.reason.clone(),
            })
            .collect(),
        extensions: extensions
            .iter()
            .map(|e| Extension {
                amount: e.amount,
                reason: e.reason.clone(),
                approved_by: e.approved_by.clone(),
            })
            .collect(),
        deemed_received_next_working_day: None,
    };
    redress_calendar::deadline(
        cal,
        started_at,
        &period(spec.unit, spec.amount, spec.roll_forward),
        &options,
    )
    .map_err(|e| e.to_string())
}

/// The deadline and its warning point, as recorded in a clock event.
pub fn schedule(
    calendars: &CalendarSet,
    spec: &ClockSpec,
    started_at: Timestamp,
    pauses: &[PauseRecord],
    extensions: &[ExtensionRecord],
) -> Result<Schedule, String> {
    let deadline = compute(calendars, spec, started_at, pauses, extensions)?;
    let warning_at = match spec.warn_before {
        Some(warn) => redress_calendar::warning_at(
            calendar(calendars, &spec.calendar)?,
            &deadline,
            &warn_period(warn),
        )
        .map_err(|e| e.to_string())?
        .map(|point| point.at),
        None => None,
    };
    let explanation = serde_json::to_value(&deadline.explanation).map_err(|e| e.to_string())?;
    Ok(Schedule {
        due_at: deadline.due_at,
        warning_at,
        provisional: deadline.provisional,
        provisional_years: deadline.provisional_years.clone(),
        explanation: std::sync::Arc::new(explanation),
    })
}

/// The clock change a request calls for, with every due time computed now.
pub fn change_for(
    calendars: &CalendarSet,
    case: &Case,
    action: &ClockAction,
    now: Timestamp,
) -> Result<ClockChange, ApplyError> {
    let existing = |name: &str| {
        case.clocks
            .get(name)
            .ok_or_else(|| ApplyError::Clock(ClockError::NoSuchClock(name.to_owned())))
    };
    let wrong = |clock: &CaseClock, name: &str, change: &'static str| {
        ApplyError::Clock(ClockError::WrongState {
            name: name.to_owned(),
            state: clock.state.as_str(),
            change,
        })
    };
    let computed = |r: Result<Schedule, String>| r.map_err(ApplyError::Deadline);
    Ok(match action {
        ClockAction::Start { clock, starts_at } => {
            let started_at = starts_at.unwrap_or(now);
            if started_at > now {
                return Err(ApplyError::Deadline(format!(
                    "a clock cannot start in the future ({started_at} is after {now})"
                )));
            }
            let schedule = computed(schedule(calendars, clock, started_at, &[], &[]))?;
            ClockChange::Started {
                spec: clock.clone(),
                started_at,
                schedule,
            }
        }
        ClockAction::Pause { name, reason } => {
            let clock = existing(name)?;
            match clock.state {
                ClockState::Running => {
                    if clock.due_at.is_some_and(|due| due <= now) {
                        return Err(ApplyError::Deadline(format!(
                            "clock `{name}` is past its due time; a breached clock cannot be paused"
                        )));
                    }
                }
                // A second ground while paused: the pauses overlap.
                ClockState::Paused => {
                    if clock.open_pauses().contains(&reason.as_str()) {
                        return Err(ApplyError::Clock(ClockError::AlreadyPausedOn {
                            name: name.clone(),
                            ground: reason.clone(),
                        }));
                    }
                }
                _ => return Err(wrong(clock, name, "pause")),
            }
            ClockChange::Paused {
                reason: reason.clone(),
            }
        }
        ClockAction::Resume { name, pause } => {
            let clock = existing(name)?;
            if clock.state != ClockState::Paused {
                return Err(wrong(clock, name, "resume"));
            }
            let open = clock.open_pauses();
            let listed = || open.join(", ");
            let ending = match pause {
                Some(asked) => clock.open_pause_named(asked).ok_or_else(|| {
                    ApplyError::Clock(ClockError::NoSuchPause {
                        name: name.clone(),
                        asked: asked.clone(),
                        open: listed(),
                    })
                })?,
                None if open.len() > 1 => {
                    return Err(ApplyError::Clock(ClockError::WhichPause {
                        name: name.clone(),
                        open: listed(),
                    }));
                }
                None => open.first().copied().unwrap_or_default(),
            };
            if open.len() > 1 {
                return Ok(ClockChange::PauseEnded {
                    ground: ending.to_owned(),
                });
            }
            let mut pauses = clock.pauses.clone();
            if let Some(open) = pauses.last_mut() {
                open.until = Some(now);
            }
            let schedule = computed(schedule(
                calendars,
                &clock.spec,
                clock.started_at,
                &pauses,
                &clock.extensions,
            ))?;
            ClockChange::Resumed { schedule }
        }
        ClockAction::Extend {
            name,
            amount,
            reason,
            approved_by,
            complainant_notified,
        } => {
            let clock = existing(name)?;
            if !matches!(
                clock.state,
                ClockState::Running | ClockState::Paused | ClockState::Breached
            ) {
                return Err(wrong(clock, name, "extend"));
            }
            let extension = ExtensionRecord {
                amount: *amount,
                reason: reason.clone(),
                approved_by: approved_by.clone(),
                complainant_notified: *complainant_notified,
                at: now,
            };
            let mut extensions = clock.extensions.clone();
            extensions.push(extension.clone());
            let schedule = computed(schedule(
                calendars,
                &clock.spec,
                clock.started_at,
                &clock.pauses,
                &extensions,
            ))?;
            ClockChange::Extended {
                extension,
                schedule,
            }
        }
        ClockAction::Restart { name, reason } => {
            let clock = existing(name)?;
            if !matches!(
                clock.state,
                ClockState::Running | ClockState::Paused | ClockState::Breached
            ) {
                return Err(wrong(clock, name, "restart"));
            }
            let schedule = computed(schedule(
                calendars,
                &clock.spec,
                now,
                &[],
                &clock.extensions,
            ))?;
            ClockChange::Restarted {
                reason: reason.clone(),
                schedule,
            }
        }
        ClockAction::Stop { name, met, reason } => {
            let clock = existing(name)?;
            if !matches!(
                clock.state,
                ClockState::Running | ClockState::Paused | ClockState::Breached
            ) {
                return Err(wrong(clock, name, "stop"));
            }
            ClockChange::Stopped {
                met: *met,
                reason: reason.clone(),
            }
        }
    })
}

/// What is left of a clock, in its own unit, as of `now`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, schemars::JsonSchema)]
pub struct RemainingTime {
    /// Whole units left after today until the due date (working days, calendar days) or
    /// whole hours left (hours); negative once the clock is past its due time. While paused,
    /// the units still to count after it resumes.
    pub amount: i64,
    pub unit: ClockUnit,
    /// False while the clock is paused: the amount does not decrease until it resumes.
    pub counting: bool,
}

/// What is left of a clock that still owes something (running, paused or breached); `None`
/// for a clock that was met or stopped: nothing is owed any more.
pub fn remaining(
    calendars: &CalendarSet,
    clock: &CaseClock,
    now: Timestamp,
) -> Option<RemainingTime> {
    let unit = clock.spec.unit;
    match clock.state {
        ClockState::Met | ClockState::Stopped => None,
        ClockState::Paused => {
            let left = compute(
                calendars,
                &clock.spec,
                clock.started_at,
                &clock.pauses,
                &clock.extensions,
            )
            .ok()?
            .remaining?;
            let amount = match left {
                redress_calendar::Remaining::WorkingDays { amount }
                | redress_calendar::Remaining::CalendarDays { amount } => i64::from(amount),
                redress_calendar::Remaining::Duration { seconds } => seconds / 3_600,
            };
            Some(RemainingTime {
                amount,
                unit,
                counting: false,
            })
        }
        ClockState::Running | ClockState::Breached => {
            let due = clock.due_at?;
            let amount = match unit {
                ClockUnit::Hours => (due.as_second() - now.as_second()).div_euclid(3_600),
                ClockUnit::WorkingDays | ClockUnit::CalendarDays => {
                    let cal = calendars.get(&clock.spec.calendar)?;
                    let tz = cal.time_zone().clone();
                    let today = now.to_zoned(tz.clone()).date();
                    // The breach instant is the end of the due day.
                    let due_date = (due - jiff::SignedDuration::from_nanos(1))
                        .to_zoned(tz)
                        .date();
                    let (from, to, sign) = if due_date >= today {
                        (today, due_date, 1)
                    } else {
                        (due_date, today, -1)
                    };
                    let days = if unit == ClockUnit::WorkingDays {
                        i64::from(cal.working_days_between(from, to).ok()?)
                    } else {
                        i64::from(from.until(to).ok()?.get_days())
                    };
                    sign * days
                }
            };
            Some(RemainingTime {
                amount,
                unit,
                counting: true,
            })
        }
    }
}

/// Whole working days left after today until the due date, for a running working-day clock.
pub fn remaining_working_days(
    calendars: &CalendarSet,
    clock: &CaseClock,
    now: Timestamp,
) -> Option<i64> {
    if clock.spec.unit != ClockUnit::WorkingDays {
        return None;
    }
    let due = clock.breach_pending()?;
    let cal = calendars.get(&clock.spec.calendar)?;
    let tz = cal.time_zone().clone();
    let today = now.to_zoned(tz.clone()).date();
    // The breach instant is the end of the due day: the due date is the day before it at 00:00.
    let due_date = (due - jiff::SignedDuration::from_nanos(1))
        .to_zoned(tz)
        .date();
    if due_date < today {
        return Some(0);
    }
    cal.working_days_between(today, due_date)
        .ok()
        .map(i64::from)
}

/// Reads a start given on the command line: a date (midnight local), a local date-time (in the
/// calendar's time zone) or an instant with an offset.
pub fn parse_start(
    calendars: &CalendarSet,
    calendar_id: &str,
    text: &str,
) -> Result<Timestamp, String> {
    if let Ok(instant) = text.parse::<Timestamp>() {
        return Ok(instant);
    }
    let tz = calendar(calendars, calendar_id)?.time_zone().clone();
    if let Ok(datetime) = text.parse::<jiff::civil::DateTime>() {
        return datetime
            .to_zoned(tz)
            .map(|z| z.timestamp())
            .map_err(|e| e.to_string());
    }
    if let Ok(date) = text.parse::<jiff::civil::Date>() {
        return date
            .to_zoned(tz)
            .map(|z| z.timestamp())
            .map_err(|e| e.to_string());
    }
    Err(format!(
        "`{text}` is not a date (2026-02-13), a local date-time (2026-02-13T10:00) or an instant (2026-02-13T10:00:00+08:00)"
    ))
}

/// What a provisional due time means, for people who read it (the complainant's tracking
/// page, listings): Chinese first, English beside it.
pub fn provisional_note(years: &[i16]) -> String {
    let years: Vec<String> = years.iter().map(ToString::to_string).collect();
    let (zh, en) = (years.join("、"), years.join(", "));
    format!(
        "暂定期限：{zh}年的节假日安排国务院尚未公布，本期限仅按法定节假日计算，公布后将重新计算。\
         Provisional: the State Council has not yet published the {en} holiday schedule; \
         this deadline counts statutory holidays only and will be recomputed when it is published."
    )
}

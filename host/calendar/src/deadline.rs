//! Statutory deadline arithmetic (regulations digest §1, "Counting deadlines").
//!
//! # Counting rules
//!
//! * **The start day is not counted** (民法典 art. 201). The start day is the local date
//!   (in the calendar's time zone) of the start instant.
//! * **N working days**: the deadline is the end of the Nth working day after the start
//!   date. Weekend days count only when they are make-up working days (调休上班日); holidays
//!   and in-lieu rest days never count. A receipt on a rest day therefore makes the first
//!   working day after it working day 1. The deadline always falls on a working day.
//! * **N calendar days**: the deadline is start date + N days; with `roll_forward` (the
//!   default, 民法典 art. 203), a deadline falling on a rest day moves to the next working
//!   day.
//! * **N hours**: start instant + N hours of elapsed time (not wall-clock time), without
//!   regard to the calendar.
//! * **N = 0** means "the same day": for working days the end of the start date if it is
//!   a working day, otherwise the end of the next working day (so the result still lands
//!   on a working day); for calendar days the start date, rolled forward if it is a rest
//!   day and roll-forward is on; for hours the start instant itself.
//! * **End of day** is 24:00 local time, represented as the instant 00:00 of the next day
//!   (`due_at`), with the due date itself in `due_date`; or, when
//!   [`EndOfDay::CloseOfBusiness`] is requested and the calendar defines a close of
//!   business, that time on the due date. If the calendar defines none, 24:00 applies and
//!   the explanation says so. End of day does not apply to hour periods.
//! * **Extensions** add to the amount, counted from the same start (a 15-calendar-day
//!   period extended by 15 is 30 days from receipt).
//! * **Deemed receipt**: when the calendar (or [`DeadlineOptions`]) says so, a start on a
//!   rest day is moved to 00:00 of the next working day, which then is the (uncounted)
//!   start day. Default off.
//!
//! # Pauses
//!
//! Time for testing, inspection, appraisal and (in banking) mediation is not counted: the
//! clock stops when a pause starts and, when it ends, the remaining time continues in the
//! same unit.
//!
//! * **Day units**: the day the pause starts still counts; the day it ends is treated like a
//!   new start day (not counted). The days excluded are therefore (pause date, resume
//!   date], in local dates. Equivalently: remaining = N − days counted in (start date,
//!   pause date], counted on from the resume date. A pause that starts and ends on the same
//!   date excludes nothing; a pause that starts on the due date itself does not move the
//!   deadline, because that day is counted in full.
//! * **Hours**: remaining = N h − elapsed time before the pause; the due instant moves by
//!   the length of the pause. Overlapping pauses are counted once.
//! * A pause that starts at or after the current due instant is ignored: the clock was
//!   already breached and stays breached at the original due time.
//! * A pause that began before the start instant counts from the start instant; one that
//!   ended before it is ignored.
//! * An **open** pause (`until: None`) leaves the clock without a due time:
//!   [`Deadline::state`] is [`ClockState::Paused`], `due_at`/`due_date` are `None` and
//!   [`Deadline::remaining`] says what will be left when it resumes. Pauses starting after
//!   an open pause are inside it and change nothing.
//!
//! # Dates outside the covered years
//!
//! Only days whose status decides the result are consulted: every day of a working-day
//! count; for calendar days only the last day and, when rolling forward, the days after
//! it (a 31-day count from 2026-12-29 without roll-forward needs no 2027 schedule); for
//! hours none (unless deemed receipt asks about the receipt day). Those days are never
//! guessed: with `uncovered = "refuse"` the computation fails with
//! [`CalendarError::NotCovered`]; with `uncovered = "provisional"` such days are classified
//! by the weekly pattern and the calendar's statute (statutory holidays rest, no make-up
//! days), listed in [`Explanation::provisional_days`], their years in
//! [`Deadline::provisional_years`], and the deadline is marked `provisional`: it is to be
//! recomputed once the year's schedule is added.

use std::collections::BTreeSet;
use std::fmt;

use jiff::civil::{Date, DateTime, Time};
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Span, Timestamp};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::calendar::{Calendar, Day, DayKind};
use crate::error::CalendarError;
use crate::statute::StatutoryDay;

/// Largest accepted amount (extensions included) for day units: about ten years.
pub const MAX_DAYS: u32 = 3660;
/// Largest accepted amount (extensions included) for hours: ten years.
pub const MAX_HOURS: u32 = 87_840;

/// A statutory period. On the wire: `{"unit": "working_days", "amount": 7}`,
/// `{"unit": "calendar_days", "amount": 15, "roll_forward": true}` (roll_forward defaults
/// to true), `{"unit": "hours", "amount": 24}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "unit", rename_all = "snake_case", deny_unknown_fields)]
pub enum Period {
    /// N official working days.
    WorkingDays {
        /// N.
        amount: u32,
    },
    /// N calendar days.
    CalendarDays {
        /// N.
        amount: u32,
        /// Move a deadline that falls on a rest day to the next working day.
        #[serde(default = "default_true")]
        roll_forward: bool,
    },
    /// N hours of elapsed time.
    Hours {
        /// N.
        amount: u32,
    },
}

fn default_true() -> bool {
    true
}

impl Period {
    /// N working days.
    pub fn working_days(amount: u32) -> Self {
        Period::WorkingDays { amount }
    }

    /// N calendar days, rolled forward off rest days (the default).
    pub fn calendar_days(amount: u32) -> Self {
        Period::CalendarDays {
            amount,
            roll_forward: true,
        }
    }

    /// N calendar days, never rolled forward.
    pub fn calendar_days_exact(amount: u32) -> Self {
        Period::CalendarDays {
            amount,
            roll_forward: false,
        }
    }

    /// N hours.
    pub fn hours(amount: u32) -> Self {
        Period::Hours { amount }
    }

    /// The unit.
    pub fn unit(&self) -> Unit {
        match self {
            Period::WorkingDays { .. } => Unit::WorkingDays,
            Period::CalendarDays { .. } => Unit::CalendarDays,
            Period::Hours { .. } => Unit::Hours,
        }
    }

    /// The amount.
    pub fn amount(&self) -> u32 {
        match self {
            Period::WorkingDays { amount }
            | Period::CalendarDays { amount, .. }
            | Period::Hours { amount } => *amount,
        }
    }
}

/// The unit of a period.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Unit {
    /// Official working days.
    WorkingDays,
    /// Calendar days.
    CalendarDays,
    /// Elapsed hours.
    Hours,
}

impl fmt::Display for Unit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Unit::WorkingDays => "working days",
            Unit::CalendarDays => "calendar days",
            Unit::Hours => "hours",
        })
    }
}

/// Where a day ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum EndOfDay {
    /// 24:00 local time.
    #[default]
    Midnight,
    /// The calendar's close of business (falls back to 24:00 if it defines none).
    CloseOfBusiness,
}

/// A period during which the clock does not run (testing, appraisal, mediation...).
/// See the module documentation for the exact semantics.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Pause {
    /// When the clock stopped.
    pub from: Timestamp,
    /// When it resumed; `None` while the pause is still open.
    #[serde(default)]
    pub until: Option<Timestamp>,
    /// Why (shown in the explanation).
    #[serde(default)]
    pub reason: String,
}

/// An extension of the period, counted from the same start.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Extension {
    /// Added amount, in the period's unit.
    pub amount: u32,
    /// Why (shown in the explanation).
    pub reason: String,
    /// Who approved it, if recorded.
    #[serde(default)]
    pub approved_by: Option<String>,
}

/// Options of one deadline computation.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DeadlineOptions {
    /// Where the due day ends.
    #[serde(default)]
    pub end_of_day: EndOfDay,
    /// Pauses, in any order.
    #[serde(default)]
    pub pauses: Vec<Pause>,
    /// Extensions, added to the amount.
    #[serde(default)]
    pub extensions: Vec<Extension>,
    /// Override the calendar's "deemed received on the next working day" option.
    #[serde(default)]
    pub deemed_received_next_working_day: Option<bool>,
}

/// Whether the clock is running.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ClockState {
    /// The clock runs and has a due time.
    Running,
    /// An open pause: no due time until it ends.
    Paused,
}

/// What is left of the period while it is paused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "unit", rename_all = "snake_case")]
pub enum Remaining {
    /// Working days still to count after the resume date.
    WorkingDays {
        /// How many.
        amount: u32,
    },
    /// Calendar days still to count after the resume date.
    CalendarDays {
        /// How many.
        amount: u32,
    },
    /// Elapsed time still to run after the resume instant.
    Duration {
        /// Seconds.
        seconds: i64,
    },
}

/// The result of [`deadline`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Deadline {
    /// Running or paused.
    pub state: ClockState,
    /// The breach instant: the clock is overdue from this instant on. `None` while paused.
    pub due_at: Option<Timestamp>,
    /// The local due date (for day units the last day of the period; for hours the local
    /// date of `due_at`). `None` while paused.
    pub due_date: Option<Date>,
    /// True if any day that decided the result lies outside the calendar's covered years.
    pub provisional: bool,
    /// The years of those days, ascending.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub provisional_years: Vec<i16>,
    /// While paused: what is left of the period.
    pub remaining: Option<Remaining>,
    /// How the result was reached.
    pub explanation: Explanation,
}

impl Deadline {
    /// See [`Explanation::render_text`].
    pub fn render_text(&self) -> String {
        self.explanation.render_text()
    }
}

/// A step-by-step account of a deadline that a compliance officer can check by hand.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Explanation {
    /// Calendar id.
    pub calendar: String,
    /// IANA time zone used for dates and ends of day.
    pub time_zone: String,
    /// The start instant as given.
    pub received_at: Timestamp,
    /// The start instant in local time.
    pub received_local: DateTime,
    /// Its local date.
    pub received_date: Date,
    /// Set when the receipt was deemed to happen on the next working day.
    pub deemed_receipt: Option<DeemedReceipt>,
    /// The instant the clock starts (= `received_at` unless deemed receipt moved it).
    pub start_at: Timestamp,
    /// The start day, which is not counted.
    pub start_date: Date,
    /// The period as asked.
    pub period: Period,
    /// Extensions applied.
    pub extensions: Vec<Extension>,
    /// Period amount plus extensions.
    pub total_amount: u32,
    /// Day by day, from the start day to the due date (day units only; for hours just the
    /// start day). While paused, up to the pause date.
    pub days: Vec<ExplainedDay>,
    /// Every pause given, with what it did.
    pub pauses: Vec<PauseRecord>,
    /// Set when a calendar-day deadline (or a 0-working-day one) was moved off a rest day.
    pub roll_forward: Option<RollForward>,
    /// The end-of-day rule (not for hours).
    pub end_of_day: Option<EndOfDayApplied>,
    /// Days outside the covered years that were classified by the weekly pattern and the
    /// statutory holidays.
    pub provisional_days: Vec<Date>,
    /// The years of [`Self::provisional_days`], ascending.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub provisional_years: Vec<i16>,
    /// The statutory holidays between the first and the last provisional day, which were
    /// treated as rest days.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub statutory_days: Vec<StatutoryDay>,
    /// Same as [`Deadline::state`].
    pub state: ClockState,
    /// Same as [`Deadline::due_at`].
    pub due_at: Option<Timestamp>,
    /// Same as [`Deadline::due_date`].
    pub due_date: Option<Date>,
    /// Same as [`Deadline::remaining`].
    pub remaining: Option<Remaining>,
}

/// The receipt was on a rest day and is deemed to happen on the next working day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct DeemedReceipt {
    /// Actual receipt date.
    pub received_date: Date,
    /// Why it is a rest day.
    pub received_kind: DayKind,
    /// The date receipt is deemed to happen (the new, uncounted, start day).
    pub deemed_date: Date,
}

/// One day of the count.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ExplainedDay {
    /// The date.
    pub date: Date,
    /// Its weekday, abbreviated (Mon, Tue...).
    pub weekday: String,
    /// What the count did with it.
    pub status: DayStatus,
}

/// What the count did with a day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum DayStatus {
    /// The start day: never counted. `kind` is `None` outside the covered years (its kind
    /// does not matter for the count).
    Start {
        /// What the day is.
        kind: Option<DayKind>,
    },
    /// Counted as day `n`.
    Counted {
        /// Position in the count, from 1.
        n: u32,
        /// What the day is (a make-up working day, or for calendar days a rest day).
        /// `None` for a calendar day outside the covered years: every calendar day counts,
        /// so its kind is not needed.
        kind: Option<DayKind>,
    },
    /// Not counted: a rest day in a working-day count, or a rest day passed over while
    /// rolling forward.
    Skipped {
        /// Why.
        kind: DayKind,
    },
    /// Not counted: inside a pause.
    Paused {
        /// The pause's reason.
        reason: String,
    },
    /// The working day a deadline was rolled forward to.
    RolledForwardTo {
        /// What the day is.
        kind: DayKind,
    },
}

/// A deadline moved off a rest day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct RollForward {
    /// The date the count reached.
    pub from: Date,
    /// Why that date is a rest day.
    pub from_kind: DayKind,
    /// The working day it moved to.
    pub to: Date,
}

/// The end-of-day rule that was applied.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct EndOfDayApplied {
    /// What the rule asked for.
    pub requested: EndOfDay,
    /// What was applied.
    pub applied: EndOfDay,
    /// Local time of the breach: 00:00 (of the next day) or the close of business.
    pub local_time: Time,
    /// Set when the request could not be honoured as asked.
    pub note: Option<String>,
}

/// One pause and its effect.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct PauseRecord {
    /// When it started.
    pub from: Timestamp,
    /// When it ended, if it has.
    pub until: Option<Timestamp>,
    /// Why.
    pub reason: String,
    /// What it did.
    pub effect: PauseEffect,
}

/// What a pause did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "effect", rename_all = "snake_case")]
pub enum PauseEffect {
    /// Day units: the dates in (pause_date, resume_date] after the start day were excluded.
    ExcludedDays {
        /// Local date the pause started (still counted).
        pause_date: Date,
        /// Local date it ended (treated as a new start day).
        resume_date: Date,
        /// The excluded dates (empty when both dates are the same).
        dates: Vec<Date>,
    },
    /// Hours: the due instant moved by this much.
    ExcludedTime {
        /// Seconds added (overlap with an earlier pause counted once).
        seconds: i64,
    },
    /// Still open: the clock has no due time.
    Open,
    /// Started at or after the due instant: the clock stays breached at that instant.
    IgnoredAfterDue {
        /// The due instant it came after.
        due_at: Timestamp,
    },
    /// Ended before the clock started.
    IgnoredBeforeStart,
    /// Started while an earlier open pause was running.
    WithinOpenPause,
}

/// A warning point computed by [`warning_at`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct WarningPoint {
    /// When to warn.
    pub at: Timestamp,
    /// True when the requested lead time reached back before the clock's start, so the
    /// warning was moved to the start instant (warn immediately).
    pub clamped_to_start: bool,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum DayUnit {
    Working,
    Calendar { roll_forward: bool },
}

struct Excluded<'a> {
    after: Date,
    through: Date,
    reason: &'a str,
}

struct Walk {
    due_date: Date,
    days: Vec<ExplainedDay>,
    roll_forward: Option<RollForward>,
    provisional: BTreeSet<Date>,
}

fn explained(date: Date, status: DayStatus) -> ExplainedDay {
    ExplainedDay {
        date,
        weekday: date.strftime("%a").to_string(),
        status,
    }
}

fn excluded_by<'a>(excluded: &'a [Excluded<'a>], d: Date) -> Option<&'a Excluded<'a>> {
    excluded.iter().find(|x| x.after < d && d <= x.through)
}

fn lookup(cal: &Calendar, d: Date, prov: &mut BTreeSet<Date>) -> Result<Day, CalendarError> {
    let day = cal.day(d)?;
    if day.provisional {
        prov.insert(d);
    }
    Ok(day)
}

/// Count `n` units after `start_date`, skipping excluded (paused) dates, then roll forward
/// if the unit asks for it.
fn walk(
    cal: &Calendar,
    start_date: Date,
    unit: DayUnit,
    n: u32,
    excluded: &[Excluded<'_>],
) -> Result<Walk, CalendarError> {
    let mut w = Walk {
        due_date: start_date,
        days: vec![explained(
            start_date,
            DayStatus::Start {
                kind: cal.known_kind(start_date),
            },
        )],
        roll_forward: None,
        provisional: BTreeSet::new(),
    };
    let mut d = start_date;
    let mut counted = 0u32;
    while counted < n {
        d = d.tomorrow()?;
        if let Some(x) = excluded_by(excluded, d) {
            w.days.push(explained(
                d,
                DayStatus::Paused {
                    reason: x.reason.to_owned(),
                },
            ));
            continue;
        }
        let status = match unit {
            DayUnit::Working => {
                let day = lookup(cal, d, &mut w.provisional)?;
                if day.is_working() {
                    counted += 1;
                    DayStatus::Counted {
                        n: counted,
                        kind: Some(day.kind),
                    }
                } else {
                    DayStatus::Skipped { kind: day.kind }
                }
            }
            // Every day counts, so its kind is shown where known but never required: a
            // calendar-day count through an uncovered year is not a guess.
            DayUnit::Calendar { .. } => {
                counted += 1;
                DayStatus::Counted {
                    n: counted,
                    kind: cal.known_kind(d),
                }
            }
        };
        w.days.push(explained(d, status));
    }
    let roll = match unit {
        DayUnit::Working => n == 0,
        DayUnit::Calendar { roll_forward } => roll_forward,
    };
    if roll {
        let day = lookup(cal, d, &mut w.provisional)?;
        if !day.is_working() {
            let from = d;
            loop {
                d = d.tomorrow()?;
                if let Some(x) = excluded_by(excluded, d) {
                    w.days.push(explained(
                        d,
                        DayStatus::Paused {
                            reason: x.reason.to_owned(),
                        },
                    ));
                    continue;
                }
                let next = lookup(cal, d, &mut w.provisional)?;
                if next.is_working() {
                    w.days
                        .push(explained(d, DayStatus::RolledForwardTo { kind: next.kind }));
                    break;
                }
                w.days
                    .push(explained(d, DayStatus::Skipped { kind: next.kind }));
            }
            w.roll_forward = Some(RollForward {
                from,
                from_kind: day.kind,
                to: d,
            });
        }
    }
    w.due_date = d;
    Ok(w)
}

/// Units counted in (start_date, through], excluded dates left out.
fn counted_through(
    cal: &Calendar,
    start_date: Date,
    unit: DayUnit,
    through: Date,
    excluded: &[Excluded<'_>],
    prov: &mut BTreeSet<Date>,
) -> Result<u32, CalendarError> {
    let mut n = 0u32;
    let mut d = start_date;
    while d < through {
        d = d.tomorrow()?;
        if excluded_by(excluded, d).is_some() {
            continue;
        }
        let counts = match unit {
            DayUnit::Working => lookup(cal, d, prov)?.is_working(),
            DayUnit::Calendar { .. } => true,
        };
        if counts {
            n = n.saturating_add(1);
        }
    }
    Ok(n)
}

fn end_of(
    cal: &Calendar,
    date: Date,
    requested: EndOfDay,
) -> Result<(Timestamp, EndOfDayApplied), CalendarError> {
    let tz = cal.time_zone().clone();
    if requested == EndOfDay::CloseOfBusiness
        && let Some(cob) = cal.close_of_business()
    {
        let at = date.to_datetime(cob).to_zoned(tz)?.timestamp();
        return Ok((
            at,
            EndOfDayApplied {
                requested,
                applied: EndOfDay::CloseOfBusiness,
                local_time: cob,
                note: None,
            },
        ));
    }
    let at = date.tomorrow()?.to_zoned(tz)?.timestamp();
    let note = (requested == EndOfDay::CloseOfBusiness).then(|| {
        format!(
            "close of business was requested, but calendar {} defines none: 24:00 applies",
            cal.id()
        )
    });
    Ok((
        at,
        EndOfDayApplied {
            requested,
            applied: EndOfDay::Midnight,
            local_time: Time::midnight(),
            note,
        },
    ))
}

fn total_amount(period: &Period, extensions: &[Extension]) -> Result<u32, CalendarError> {
    let total: u64 =
        u64::from(period.amount()) + extensions.iter().map(|e| u64::from(e.amount)).sum::<u64>();
    let max = match period.unit() {
        Unit::Hours => MAX_HOURS,
        Unit::WorkingDays | Unit::CalendarDays => MAX_DAYS,
    };
    match u32::try_from(total) {
        Ok(t) if t <= max => Ok(t),
        _ => Err(CalendarError::PeriodTooLong {
            unit: period.unit(),
            amount: total,
            max,
        }),
    }
}

fn local_date(ts: Timestamp, tz: &TimeZone) -> Date {
    ts.to_zoned(tz.clone()).date()
}

/// Compute the deadline of `period` started at `start` (the receipt, acceptance or other
/// triggering instant) on `calendar`. See the module documentation for the rules.
pub fn deadline(
    calendar: &Calendar,
    start: Timestamp,
    period: &Period,
    opts: &DeadlineOptions,
) -> Result<Deadline, CalendarError> {
    let total = total_amount(period, &opts.extensions)?;
    for p in &opts.pauses {
        if let Some(until) = p.until
            && until < p.from
        {
            return Err(CalendarError::PauseEndsBeforeStart {
                reason: p.reason.clone(),
                from: p.from,
                until,
            });
        }
    }
    let tz = calendar.time_zone().clone();
    let received = start.to_zoned(tz.clone());
    let received_date = received.date();
    let mut provisional = BTreeSet::new();

    let mut start_at = start;
    let mut start_date = received_date;
    let mut deemed_receipt = None;
    let deemed = opts
        .deemed_received_next_working_day
        .unwrap_or(calendar.deemed_received_next_working_day());
    if deemed {
        let day = lookup(calendar, received_date, &mut provisional)?;
        if !day.is_working() {
            let mut d = received_date.tomorrow()?;
            while !lookup(calendar, d, &mut provisional)?.is_working() {
                d = d.tomorrow()?;
            }
            start_date = d;
            start_at = d.to_zoned(tz.clone())?.timestamp();
            deemed_receipt = Some(DeemedReceipt {
                received_date,
                received_kind: day.kind,
                deemed_date: d,
            });
        }
    }

    // Stable sort: pauses with the same start keep the caller's order in the explanation.
    let mut pauses: Vec<&Pause> = opts.pauses.iter().collect();
    pauses.sort_by_key(|p| p.from);

    let mut ex = Explanation {
        calendar: calendar.id().to_owned(),
        time_zone: calendar.time_zone_name().to_owned(),
        received_at: start,
        received_local: received.datetime(),
        received_date,
        deemed_receipt,
        start_at,
        start_date,
        period: *period,
        extensions: opts.extensions.clone(),
        total_amount: total,
        days: Vec::new(),
        pauses: Vec::new(),
        roll_forward: None,
        end_of_day: None,
        provisional_days: Vec::new(),
        provisional_years: Vec::new(),
        statutory_days: Vec::new(),
        state: ClockState::Running,
        due_at: None,
        due_date: None,
        remaining: None,
    };

    match *period {
        Period::Hours { .. } => hours(calendar, total, &pauses, &mut ex)?,
        Period::WorkingDays { .. } => days(
            calendar,
            DayUnit::Working,
            total,
            opts.end_of_day,
            &pauses,
            &mut ex,
            &mut provisional,
        )?,
        Period::CalendarDays { roll_forward, .. } => days(
            calendar,
            DayUnit::Calendar { roll_forward },
            total,
            opts.end_of_day,
            &pauses,
            &mut ex,
            &mut provisional,
        )?,
    }
    ex.provisional_days = provisional.into_iter().collect();
    let years: BTreeSet<i16> = ex.provisional_days.iter().map(|d| d.year()).collect();
    ex.provisional_years = years.into_iter().collect();
    if let (Some(statute), Some(first), Some(last)) = (
        calendar.statute(),
        ex.provisional_days.first(),
        ex.provisional_days.last(),
    ) {
        for y in &ex.provisional_years {
            ex.statutory_days.extend(
                statute
                    .holidays(*y)?
                    .into_iter()
                    .filter(|s| *first <= s.date && s.date <= *last),
            );
        }
    }
    Ok(Deadline {
        state: ex.state,
        due_at: ex.due_at,
        due_date: ex.due_date,
        provisional: !ex.provisional_days.is_empty(),
        provisional_years: ex.provisional_years.clone(),
        remaining: ex.remaining,
        explanation: ex,
    })
}

/// A date counted from another date on a calendar: what a rule asks the calendar
/// (`add_working_days`, `add_calendar_days`), without instants, pauses, extensions or deemed
/// receipt. The count is [`deadline`]'s own, so the date is the due date of the same period
/// started on `start` (any time of that day).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DayCount {
    /// The date reached.
    pub date: Date,
    /// The years of the days that decided the result and lie outside the calendar's covered
    /// years (classified from the statute, policy `provisional`), ascending. Empty: the
    /// result rests on published schedules only.
    pub provisional_years: Vec<i16>,
    /// Days classified on the way (the start day included), for a caller that charges for
    /// the work.
    pub days_examined: u32,
}

impl DayCount {
    /// Whether any day that decided the result was classified provisionally.
    pub fn is_provisional(&self) -> bool {
        !self.provisional_years.is_empty()
    }
}

/// The `n`th working day after `start` (the start day is not counted, 民法典 art. 201): the
/// due date of `n` working days started on `start`. `n = 0` is `start` itself if it is a
/// working day, else the next working day. At most [`MAX_DAYS`].
pub fn add_working_days(
    calendar: &Calendar,
    start: Date,
    n: u32,
) -> Result<DayCount, CalendarError> {
    count_days(calendar, start, DayUnit::Working, n)
}

/// `start` + `n` days; with `roll_forward`, a result that is a rest day moves to the next
/// working day (民法典 art. 203 ¶1: a period whose last day is a holiday ends on the day after
/// it). Only the days that decide the result are classified: none without roll-forward,
/// the last day and those after it with it. At most [`MAX_DAYS`].
pub fn add_calendar_days(
    calendar: &Calendar,
    start: Date,
    n: u32,
    roll_forward: bool,
) -> Result<DayCount, CalendarError> {
    count_days(calendar, start, DayUnit::Calendar { roll_forward }, n)
}

fn count_days(
    cal: &Calendar,
    start: Date,
    unit: DayUnit,
    n: u32,
) -> Result<DayCount, CalendarError> {
    let period = match unit {
        DayUnit::Working => Period::working_days(n),
        DayUnit::Calendar { roll_forward } => Period::CalendarDays {
            amount: n,
            roll_forward,
        },
    };
    total_amount(&period, &[])?;
    let w = walk(cal, start, unit, n, &[])?;
    let years: BTreeSet<i16> = w.provisional.iter().map(|d| d.year()).collect();
    Ok(DayCount {
        date: w.due_date,
        provisional_years: years.into_iter().collect(),
        days_examined: u32::try_from(w.days.len()).unwrap_or(u32::MAX),
    })
}

fn record(p: &Pause, effect: PauseEffect) -> PauseRecord {
    PauseRecord {
        from: p.from,
        until: p.until,
        reason: p.reason.clone(),
        effect,
    }
}

fn days(
    cal: &Calendar,
    unit: DayUnit,
    n: u32,
    eod: EndOfDay,
    pauses: &[&Pause],
    ex: &mut Explanation,
    provisional: &mut BTreeSet<Date>,
) -> Result<(), CalendarError> {
    let tz = cal.time_zone();
    let start_at = ex.start_at;
    let start_date = ex.start_date;
    let mut excluded: Vec<Excluded<'_>> = Vec::new();
    let mut w = walk(cal, start_date, unit, n, &excluded)?;
    let (mut due_at, mut eod_applied) = end_of(cal, w.due_date, eod)?;
    let mut open: Option<(Date, u32)> = None;
    for p in pauses {
        if open.is_some() {
            ex.pauses.push(record(p, PauseEffect::WithinOpenPause));
            continue;
        }
        if p.until.is_some_and(|u| u <= start_at) {
            ex.pauses.push(record(p, PauseEffect::IgnoredBeforeStart));
            continue;
        }
        if p.from >= due_at {
            ex.pauses
                .push(record(p, PauseEffect::IgnoredAfterDue { due_at }));
            continue;
        }
        let pause_date = local_date(p.from.max(start_at), tz);
        match p.until {
            None => {
                let done =
                    counted_through(cal, start_date, unit, pause_date, &excluded, provisional)?;
                open = Some((pause_date, n.saturating_sub(done)));
                ex.pauses.push(record(p, PauseEffect::Open));
            }
            Some(until) => {
                let resume_date = local_date(until, tz);
                let mut dates = Vec::new();
                let mut d = pause_date.max(start_date);
                while d < resume_date {
                    d = d.tomorrow()?;
                    dates.push(d);
                }
                excluded.push(Excluded {
                    after: pause_date,
                    through: resume_date,
                    reason: &p.reason,
                });
                w = walk(cal, start_date, unit, n, &excluded)?;
                (due_at, eod_applied) = end_of(cal, w.due_date, eod)?;
                ex.pauses.push(record(
                    p,
                    PauseEffect::ExcludedDays {
                        pause_date,
                        resume_date,
                        dates,
                    },
                ));
            }
        }
    }
    ex.end_of_day = Some(eod_applied);
    match open {
        Some((pause_date, left)) => {
            // Only the part of the count before the pause is settled; the rest depends on
            // when it ends.
            w.days.retain(|d| d.date <= pause_date);
            provisional.extend(w.provisional.iter().copied().filter(|d| *d <= pause_date));
            ex.days = w.days;
            ex.state = ClockState::Paused;
            ex.remaining = Some(match unit {
                DayUnit::Working => Remaining::WorkingDays { amount: left },
                DayUnit::Calendar { .. } => Remaining::CalendarDays { amount: left },
            });
        }
        None => {
            provisional.extend(w.provisional.iter().copied());
            ex.days = w.days;
            ex.roll_forward = w.roll_forward;
            ex.due_at = Some(due_at);
            ex.due_date = Some(w.due_date);
        }
    }
    Ok(())
}

fn hours(
    cal: &Calendar,
    n: u32,
    pauses: &[&Pause],
    ex: &mut Explanation,
) -> Result<(), CalendarError> {
    let start_at = ex.start_at;
    ex.days = vec![explained(
        ex.start_date,
        DayStatus::Start {
            kind: cal.known_kind(ex.start_date),
        },
    )];
    let mut due = start_at.checked_add(SignedDuration::from_hours(i64::from(n)))?;
    // Everything before `high` is already excluded or before the start, so overlapping
    // pauses are counted once.
    let mut high = start_at;
    let mut open: Option<i64> = None;
    for p in pauses {
        if open.is_some() {
            ex.pauses.push(record(p, PauseEffect::WithinOpenPause));
            continue;
        }
        if p.until.is_some_and(|u| u <= start_at) {
            ex.pauses.push(record(p, PauseEffect::IgnoredBeforeStart));
            continue;
        }
        if p.from >= due {
            ex.pauses
                .push(record(p, PauseEffect::IgnoredAfterDue { due_at: due }));
            continue;
        }
        let stopped = p.from.max(high);
        match p.until {
            None => {
                open = Some(due.duration_since(stopped).as_secs().max(0));
                ex.pauses.push(record(p, PauseEffect::Open));
            }
            Some(until) => {
                let added = if until > stopped {
                    until.duration_since(stopped)
                } else {
                    SignedDuration::ZERO
                };
                due = due.checked_add(added)?;
                high = high.max(until);
                ex.pauses.push(record(
                    p,
                    PauseEffect::ExcludedTime {
                        seconds: added.as_secs(),
                    },
                ));
            }
        }
    }
    match open {
        Some(seconds) => {
            ex.state = ClockState::Paused;
            ex.remaining = Some(Remaining::Duration { seconds });
        }
        None => {
            ex.due_at = Some(due);
            ex.due_date = Some(local_date(due, cal.time_zone()));
        }
    }
    Ok(())
}

/// When to warn that `deadline` is approaching, `before` ahead of it:
///
/// * working days: when only `amount` working days are left, the due day included, i.e.
///   at the end (same end-of-day rule as the deadline) of the `amount`th working day
///   before the due date. "2 working days before" a deadline due at the end of Wednesday
///   (Mon–Fri weeks) warns at the end of Monday.
/// * calendar days: the due instant minus `amount` days of local civil time;
///   `roll_forward` is ignored.
/// * hours: the due instant minus `amount` hours.
///
/// Pauses are not re-applied: the warning is counted back from the (already paused) due
/// instant. A warning point before the clock's start is moved to the start and flagged.
/// Returns `None` for a paused clock, which has no due time.
pub fn warning_at(
    calendar: &Calendar,
    deadline: &Deadline,
    before: &Period,
) -> Result<Option<WarningPoint>, CalendarError> {
    let (Some(due_at), Some(due_date)) = (deadline.due_at, deadline.due_date) else {
        return Ok(None);
    };
    let at = match *before {
        Period::Hours { amount } => {
            due_at.checked_sub(SignedDuration::from_hours(i64::from(amount)))?
        }
        Period::CalendarDays { amount, .. } => due_at
            .to_zoned(calendar.time_zone().clone())
            .checked_sub(Span::new().try_days(i64::from(amount))?)?
            .timestamp(),
        Period::WorkingDays { amount: 0 } => due_at,
        Period::WorkingDays { amount } => {
            let mut d = due_date;
            let mut k = 0u32;
            while k < amount {
                d = d.yesterday()?;
                if calendar.is_working_day(d)? {
                    k += 1;
                }
            }
            let eod = deadline
                .explanation
                .end_of_day
                .as_ref()
                .map_or(EndOfDay::Midnight, |e| e.applied);
            end_of(calendar, d, eod)?.0
        }
    };
    let start = deadline.explanation.start_at;
    Ok(Some(if at < start {
        WarningPoint {
            at: start,
            clamped_to_start: true,
        }
    } else {
        WarningPoint {
            at,
            clamped_to_start: false,
        }
    }))
}

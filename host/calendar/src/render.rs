//! Plain-text rendering of an [`Explanation`], meant to be checked by hand against a
//! printed calendar.

use std::fmt::Write as _;

use jiff::Timestamp;
use jiff::tz::TimeZone;

use crate::deadline::{
    ClockState, DayStatus, EndOfDay, ExplainedDay, Explanation, PauseEffect, Period, Remaining,
    Unit,
};

fn local(ts: Timestamp, tz: &TimeZone) -> String {
    ts.to_zoned(tz.clone())
        .strftime("%a %Y-%m-%d %H:%M (UTC%:z)")
        .to_string()
}

fn day_label(d: &ExplainedDay) -> String {
    format!("{} {}", d.weekday, d.date)
}

/// A run of consecutive days with the same "not counted" reason, to keep a 9-day Spring
/// Festival block on one line.
fn skip_reason(d: &ExplainedDay) -> Option<String> {
    match &d.status {
        DayStatus::Skipped { kind } => Some(format!("not counted: {}", kind.describe())),
        DayStatus::Paused { reason } => Some(format!("not counted: paused ({reason})")),
        _ => None,
    }
}

impl Explanation {
    /// A multi-line English account: the start, each day counted or skipped (with holiday
    /// names as in the calendar file), pauses, extensions, roll-forward, the end-of-day rule
    /// and the result.
    pub fn render_text(&self) -> String {
        // The zone name was valid when the explanation was made; a hand-edited one falls
        // back to UTC rather than failing to explain.
        let tz = TimeZone::get(&self.time_zone).unwrap_or(TimeZone::UTC);
        let unit = self.period.unit();
        let mut o = String::new();
        let _ = writeln!(
            o,
            "Period: {} {} on calendar {} (time zone {}).",
            self.total_amount, unit, self.calendar, self.time_zone
        );
        if !self.extensions.is_empty() {
            let _ = writeln!(o, "  base period: {} {}", self.period.amount(), unit);
            for e in &self.extensions {
                let by = e
                    .approved_by
                    .as_deref()
                    .map(|a| format!(", approved by {a}"))
                    .unwrap_or_default();
                let _ = writeln!(o, "  extension: +{} {} ({}{by})", e.amount, unit, e.reason);
            }
            let _ = writeln!(o, "  all counted from the same start.");
        }
        if let Period::CalendarDays { roll_forward, .. } = self.period {
            let _ = writeln!(
                o,
                "Roll-forward off rest days: {}.",
                if roll_forward { "on" } else { "off" }
            );
        }
        // `received_at` is the clock's start: the receipt for an acceptance clock, the event
        // that started it (an acceptance, an application) for the others.
        let _ = writeln!(o, "Counted from: {}.", local(self.received_at, &tz));
        if let Some(d) = &self.deemed_receipt {
            let _ = writeln!(
                o,
                "That is a rest day ({}): deemed to start on the next working day, {} {}.",
                d.received_kind.describe(),
                d.deemed_date.strftime("%a"),
                d.deemed_date
            );
        }
        if unit == Unit::Hours {
            let _ = writeln!(
                o,
                "Hours run as elapsed time from {}; the calendar's days do not matter.",
                local(self.start_at, &tz)
            );
        } else {
            let _ = writeln!(
                o,
                "The start day {} {} is not counted; counting begins the next day.",
                self.start_date.strftime("%a"),
                self.start_date
            );
            let _ = writeln!(o, "Days:");
            self.render_days(&mut o);
        }
        for p in &self.pauses {
            let until = p
                .until
                .map_or_else(|| "(still open)".to_owned(), |u| local(u, &tz));
            let _ = write!(
                o,
                "Pause \"{}\" from {} until {}: ",
                p.reason,
                local(p.from, &tz),
                until
            );
            let _ = match &p.effect {
                PauseEffect::ExcludedDays {
                    pause_date,
                    resume_date,
                    dates,
                } => {
                    if dates.is_empty() {
                        writeln!(o, "starts and ends on {pause_date}, so no day is excluded.")
                    } else {
                        writeln!(
                            o,
                            "{pause_date} still counts; {} day(s) excluded ({}..{}); counting resumes after {resume_date}.",
                            dates.len(),
                            dates.first().map(ToString::to_string).unwrap_or_default(),
                            dates.last().map(ToString::to_string).unwrap_or_default(),
                        )
                    }
                }
                PauseEffect::ExcludedTime { seconds } => writeln!(
                    o,
                    "the due time moves by {}h{:02}m.",
                    seconds / 3600,
                    (seconds % 3600) / 60
                ),
                PauseEffect::Open => writeln!(o, "the clock is stopped."),
                PauseEffect::IgnoredAfterDue { due_at } => writeln!(
                    o,
                    "ignored: it started after the due time {}, so the clock stays breached then.",
                    local(*due_at, &tz)
                ),
                PauseEffect::IgnoredBeforeStart => {
                    writeln!(o, "ignored: it ended before the clock started.")
                }
                PauseEffect::WithinOpenPause => {
                    writeln!(o, "inside an earlier open pause; no further effect.")
                }
            };
        }
        if let Some(r) = &self.roll_forward {
            let _ = writeln!(
                o,
                "Roll-forward: the count ends on {} {}, a rest day ({}); moved to the next working day, {} {}.",
                r.from.strftime("%a"),
                r.from,
                r.from_kind.describe(),
                r.to.strftime("%a"),
                r.to
            );
        }
        match (self.state, self.due_at, self.due_date) {
            (ClockState::Running, Some(due_at), Some(due_date)) => match (&self.end_of_day, unit) {
                (Some(e), Unit::WorkingDays | Unit::CalendarDays) => {
                    if let Some(note) = &e.note {
                        let _ = writeln!(o, "End of day: {note}.");
                    }
                    let _ = match e.applied {
                        EndOfDay::Midnight => writeln!(
                            o,
                            "Due: end of {} {} (24:00 {}); overdue from {}.",
                            due_date.strftime("%a"),
                            due_date,
                            self.time_zone,
                            local(due_at, &tz)
                        ),
                        EndOfDay::CloseOfBusiness => writeln!(
                            o,
                            "Due: {} {} at close of business {}; overdue from {}.",
                            due_date.strftime("%a"),
                            due_date,
                            e.local_time.strftime("%H:%M"),
                            local(due_at, &tz)
                        ),
                    };
                }
                _ => {
                    let _ = writeln!(o, "Due: {}.", local(due_at, &tz));
                }
            },
            _ => {
                let left = match self.remaining {
                    Some(Remaining::WorkingDays { amount }) => format!("{amount} working days"),
                    Some(Remaining::CalendarDays { amount }) => {
                        format!("{amount} calendar days")
                    }
                    Some(Remaining::Duration { seconds }) => {
                        format!("{}h{:02}m", seconds / 3600, (seconds % 3600) / 60)
                    }
                    None => "unknown".to_owned(),
                };
                let _ = writeln!(
                    o,
                    "Paused: no due time while the pause is open; {left} remain, counted from the resume date."
                );
            }
        }
        for year in &self.provisional_years {
            let used: Vec<_> = self
                .provisional_days
                .iter()
                .filter(|d| d.year() == *year)
                .collect();
            let (Some(first), Some(last)) = (used.first(), used.last()) else {
                continue;
            };
            let rest = self.statutory_in(**first, **last);
            let rest = if rest.is_empty() {
                "no statutory holiday among the days used".to_owned()
            } else {
                format!("{rest} treated as rest days")
            };
            let _ = writeln!(
                o,
                "PROVISIONAL {year}: no published schedule in calendar {}; statutory holidays only, no make-up working days; will be recomputed when the schedule is added ({} day(s) {first}..{last} used; {rest}).",
                self.calendar,
                used.len(),
            );
            let _ = writeln!(
                o,
                "  {year}年：国务院尚未公布放假安排；仅按法定节假日计算，公布后将重新计算。"
            );
        }
        o
    }

    /// The statutory days in `first..=last`, runs of one holiday joined:
    /// `2027-01-01 元旦, 2027-02-05..02-08 春节`.
    fn statutory_in(&self, first: jiff::civil::Date, last: jiff::civil::Date) -> String {
        let mut runs: Vec<(jiff::civil::Date, jiff::civil::Date, &str)> = Vec::new();
        for s in self
            .statutory_days
            .iter()
            .filter(|s| first <= s.date && s.date <= last)
        {
            match runs.last_mut() {
                Some((_, end, name))
                    if *name == s.holiday && end.tomorrow().ok() == Some(s.date) =>
                {
                    *end = s.date;
                }
                _ => runs.push((s.date, s.date, &s.holiday)),
            }
        }
        runs.iter()
            .map(|(a, b, name)| {
                if a == b {
                    format!("{a} {name}")
                } else {
                    format!("{a}..{} {name}", b.strftime("%m-%d"))
                }
            })
            .collect::<Vec<_>>()
            .join(", ")
    }

    fn render_days(&self, o: &mut String) {
        let mut i = 0;
        while let Some(d) = self.days.get(i) {
            if let Some(reason) = skip_reason(d) {
                let mut j = i;
                while self
                    .days
                    .get(j + 1)
                    .and_then(skip_reason)
                    .is_some_and(|r| r == reason)
                {
                    j += 1;
                }
                let last = self.days.get(j).unwrap_or(d);
                if j == i {
                    let _ = writeln!(o, "  {}  {}", day_label(d), reason);
                } else {
                    let _ = writeln!(
                        o,
                        "  {} .. {}  {} ({} days)",
                        day_label(d),
                        day_label(last),
                        reason,
                        j - i + 1
                    );
                }
                i = j + 1;
                continue;
            }
            let line = match &d.status {
                DayStatus::Start { kind } => format!(
                    "start day, not counted{}",
                    kind.as_ref()
                        .map(|k| format!(" ({})", k.describe()))
                        .unwrap_or_default()
                ),
                DayStatus::Counted { n, kind } => {
                    let unit = if self.period.unit() == Unit::WorkingDays {
                        "working day"
                    } else {
                        "day"
                    };
                    match kind {
                        Some(crate::DayKind::Working) => format!("{unit} {n}"),
                        Some(k) => format!("{unit} {n} ({})", k.describe()),
                        None => format!(
                            "{unit} {n} (year without published schedule; not needed for a calendar-day count)"
                        ),
                    }
                }
                DayStatus::RolledForwardTo { kind } => {
                    format!("due date after roll-forward ({})", kind.describe())
                }
                DayStatus::Skipped { .. } | DayStatus::Paused { .. } => String::new(),
            };
            let _ = writeln!(o, "  {}  {}", day_label(d), line);
            i += 1;
        }
    }
}

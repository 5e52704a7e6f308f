//! The calendar questions a rule may ask, for both engines (Rhai functions, and the
//! `redress:ruleset/calendar` import of interface 1.1.0): is a date a working day, the next
//! working day, N working days after a date, N calendar days after a date with or without the
//! roll-forward of 民法典 art. 203.
//!
//! **Invariants:** the answers come from the calendar set in force for the decision (the one
//! in `RuleContext`, which the clocks use) and from `redress-calendar`'s own counting, so a
//! date a rule computes is the due date a clock of the same period started that day gets;
//! a date in a year without a published schedule is never answered silently: the answer
//! carries its provisional years (or, for the plain Rhai functions, is refused); every
//! failure is an error value with a message, never a panic.

use jiff::civil::Date;
use redress_calendar::{Calendar, CalendarError, CalendarSet, Day, DayCount, DayKind, MAX_DAYS};

/// The calendars a decision's rules ask, and which one an empty id names.
#[derive(Debug, Clone, Default)]
pub struct CalendarQuestions {
    calendars: CalendarSet,
    /// The ruleset's calendar (`calendar` in `ruleset.toml`), for an empty id.
    default: String,
}

/// Why a calendar question has no answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QuestionError {
    #[error("{0}")]
    UnknownCalendar(String),
    /// The calendar has no schedule for a year it needs and refuses to guess.
    #[error("{0}")]
    NotCovered(String),
    #[error("{0}")]
    BadDate(String),
    #[error("{0}")]
    OutOfRange(String),
}

/// Characters of a calendar id or a date read from a rule; anything longer is refused without
/// being copied (a calendar id is at most a few dozen characters, a date ten).
pub const MAX_ARGUMENT_CHARS: usize = 64;

impl CalendarQuestions {
    /// The questions over `calendars`, with `default` for an empty id.
    pub fn new(calendars: &CalendarSet, default: &str) -> CalendarQuestions {
        CalendarQuestions {
            calendars: calendars.clone(),
            default: default.to_owned(),
        }
    }

    /// The calendar named `id` (empty: the ruleset's).
    pub fn calendar(&self, id: &str) -> Result<&Calendar, QuestionError> {
        let id = if id.is_empty() {
            self.default.as_str()
        } else {
            id
        };
        self.calendars.get(id).ok_or_else(|| {
            let shown: String = id.chars().take(MAX_ARGUMENT_CHARS).collect();
            let known: Vec<&str> = self.calendars.ids().collect();
            QuestionError::UnknownCalendar(format!(
                "unknown calendar `{shown}` (in force: {})",
                if known.is_empty() {
                    "none".to_owned()
                } else {
                    known.join(", ")
                }
            ))
        })
    }

    /// How `date` is classified by calendar `id`.
    pub fn day(&self, id: &str, date: &str) -> Result<Day, QuestionError> {
        let calendar = self.calendar(id)?;
        calendar.day(parse_date(date)?).map_err(from_calendar)
    }

    /// The first working day after `date` (= 1 working day after it).
    pub fn next_working_day(&self, id: &str, date: &str) -> Result<DayCount, QuestionError> {
        self.add_working_days(id, date, 1)
    }

    /// The `n`th working day after `date`, the start day not counted; `n = 0`: `date` if it is
    /// a working day, else the next one.
    pub fn add_working_days(
        &self,
        id: &str,
        date: &str,
        n: i64,
    ) -> Result<DayCount, QuestionError> {
        let calendar = self.calendar(id)?;
        let (date, n) = (parse_date(date)?, amount(n)?);
        redress_calendar::add_working_days(calendar, date, n).map_err(from_calendar)
    }

    /// `date` + `n` days; with `roll_forward`, a rest day moves to the next working day.
    pub fn add_calendar_days(
        &self,
        id: &str,
        date: &str,
        n: i64,
        roll_forward: bool,
    ) -> Result<DayCount, QuestionError> {
        let calendar = self.calendar(id)?;
        let (date, n) = (parse_date(date)?, amount(n)?);
        redress_calendar::add_calendar_days(calendar, date, n, roll_forward).map_err(from_calendar)
    }
}

/// A date as rules write it: exactly `YYYY-MM-DD` (as `received_date` and `today` are given).
/// An instant is refused: its date depends on a time zone the rule did not name.
pub fn parse_date(text: &str) -> Result<Date, QuestionError> {
    let bad = || {
        let shown: String = text.chars().take(MAX_ARGUMENT_CHARS).collect();
        QuestionError::BadDate(format!("`{shown}` is not a date (YYYY-MM-DD)"))
    };
    let shape = text.len() == 10
        && text.bytes().enumerate().all(|(i, b)| match i {
            4 | 7 => b == b'-',
            _ => b.is_ascii_digit(),
        });
    if !shape {
        return Err(bad());
    }
    text.parse().map_err(|_| bad())
}

/// What a count that failed is charged, in days classified: the host may have walked most of
/// the way before a year it refuses stopped it, so `2n + 31` (more than a count of `n` days
/// classifies with five working days a week and holiday blocks of at most nine days); one when
/// `n` itself was refused, before any work.
pub fn failed_work(n: i64) -> u32 {
    amount(n).map_or(1, |n| n.saturating_mul(2).saturating_add(31))
}

/// An answer and the days classified to reach it (or, for a failure, [`failed_work`]).
pub fn with_work<T>(
    answer: Result<DayCount, QuestionError>,
    n: i64,
    then: impl FnOnce(DayCount) -> Result<T, QuestionError>,
) -> (Result<T, QuestionError>, u32) {
    match answer {
        Ok(count) => {
            let days = count.days_examined;
            (then(count), days)
        }
        Err(error) => (Err(error), failed_work(n)),
    }
}

fn amount(n: i64) -> Result<u32, QuestionError> {
    u32::try_from(n)
        .ok()
        .filter(|n| *n <= MAX_DAYS)
        .ok_or_else(|| {
            QuestionError::OutOfRange(format!("n = {n} is out of range (0 to {MAX_DAYS} days)"))
        })
}

fn from_calendar(error: CalendarError) -> QuestionError {
    match error {
        CalendarError::NotCovered { .. } | CalendarError::NoStatuteVersion { .. } => {
            QuestionError::NotCovered(error.to_string())
        }
        other => QuestionError::OutOfRange(other.to_string()),
    }
}

/// A day kind's snake_case name, as in the JSON schemas (`working`, `make_up_workday`,
/// `weekend`, `holiday`, `in_lieu_rest`, `statutory_holiday`, `override`).
pub fn kind_name(kind: &DayKind) -> &'static str {
    match kind {
        DayKind::Working => "working",
        DayKind::MakeUpWorkday { .. } => "make_up_workday",
        DayKind::Weekend => "weekend",
        DayKind::Holiday { .. } => "holiday",
        DayKind::InLieuRest { .. } => "in_lieu_rest",
        DayKind::StatutoryHoliday { .. } => "statutory_holiday",
        DayKind::Override { .. } => "override",
    }
}

/// Why a plain question refuses a provisional answer: the years, the calendar, and the
/// question (`instead`) that accepts such an answer and says so.
pub fn provisional_refusal(calendar: &str, years: &[i16], instead: &str) -> String {
    let years: Vec<String> = years.iter().map(i16::to_string).collect();
    format!(
        "the answer depends on {}, for which calendar {calendar} has no published schedule \
         (it would be computed from the statute alone, without make-up working days); \
         `{instead}` accepts a provisional answer and says so",
        years.join(", ")
    )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// A failed count is charged more than a count of `n` classifies; a refused `n` little.
    #[test]
    fn failed_counts_are_charged_their_work() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../rulesets/calendars");
        let calendars = CalendarSet::load_dir(dir).unwrap();
        let questions = CalendarQuestions::new(&calendars, "cn-mainland");
        for n in [0, 1, 7, 30, 365, 3660] {
            let count = questions.add_working_days("", "2025-01-20", n).unwrap();
            assert!(count.days_examined <= failed_work(n), "{n}: {count:?}");
        }
        assert_eq!(failed_work(-1), 1);
        assert_eq!(failed_work(i64::MAX), 1);
    }

    #[test]
    fn dates_are_exactly_yyyy_mm_dd() {
        for good in ["2026-10-01", "2024-02-29"] {
            assert_eq!(parse_date(good).unwrap().to_string(), good);
        }
        for bad in [
            "",
            "2026-13-01",
            "2025-02-29",
            "2026-1-01",
            "20261001",
            "2026-10-01T00:00:00+08:00",
            "+2026-10-01",
            "２０２６-10-01",
            "2026/10/01",
        ] {
            let error = parse_date(bad).unwrap_err();
            assert!(
                matches!(&error, QuestionError::BadDate(m) if m.contains("is not a date (YYYY-MM-DD)")),
                "{bad}: {error}"
            );
        }
        let long = "9".repeat(100_000);
        assert!(parse_date(&long).unwrap_err().to_string().len() < 200);
    }
}

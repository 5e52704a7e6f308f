//! Working-day calendars and statutory deadline arithmetic for Redress.
//!
//! * [`Calendar`] / [`CalendarSet`]: the official working-day schedule of each covered
//!   year, loaded from versioned TOML files (`rulesets/calendars/`, format in its
//!   README.md), with named variants (`extends`) and per-date overrides.
//! * [`deadline()`]: N working days, N calendar days (with roll-forward) or N hours from a
//!   start instant, with pauses, extensions and an [`Explanation`] of every day counted or
//!   skipped. The counting rules are documented in the [`deadline`](mod@deadline) module.
//! * [`warning_at`]: a warning point before a deadline.
//!
//! The crate is pure: the only I/O is [`CalendarSet::load_dir`] reading calendar files.

mod calendar;
pub mod deadline;
mod error;
mod file;
pub mod notice;
mod render;
mod statute;

pub use calendar::{Calendar, CalendarInfo, Day, DayKind, UncoveredPolicy, YearSource};
pub use deadline::{
    ClockState, DayCount, DayStatus, Deadline, DeadlineOptions, DeemedReceipt, EndOfDay,
    EndOfDayApplied, ExplainedDay, Explanation, Extension, MAX_DAYS, Pause, PauseEffect,
    PauseRecord, Period, Remaining, RollForward, Unit, WarningPoint, add_calendar_days,
    add_working_days, deadline, warning_at,
};
pub use error::{CalendarError, FileError, FileProblem, LoadError};
pub use file::CalendarSet;
pub use statute::{Statute, StatuteVersion, StatutoryDay};

#[cfg(test)]
mod tests;

//! Error types. Two families: [`LoadError`] for calendar files (every problem names the
//! file and, where the TOML parser can tell, the line) and [`CalendarError`] for the
//! arithmetic (a date the calendar does not cover, a period that is too long, bad pauses).

use jiff::Timestamp;
use jiff::civil::Date;

use crate::deadline::Unit;

/// Something the arithmetic cannot do. Every message is meant to be shown to a compliance
/// officer as is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CalendarError {
    /// The date falls in a year for which the calendar has no published schedule and the
    /// calendar's policy is `uncovered = "refuse"`.
    #[error(
        "calendar {calendar} has no official holiday schedule for {date} (it covers {covered} only); \
         working days in a year without a published State Council schedule are never guessed: \
         add that year to the calendar file, or name a statute and use uncovered = \"provisional\""
    )]
    NotCovered {
        /// Calendar id.
        calendar: String,
        /// The first date that could not be classified.
        date: Date,
        /// Human summary of the covered years, e.g. `2024–2026`.
        covered: String,
    },
    /// The period (with its extensions) is longer than the arithmetic accepts.
    #[error("period of {amount} {unit} is too long: at most {max} {unit} are supported")]
    PeriodTooLong {
        /// Unit of the period.
        unit: Unit,
        /// Requested amount, extensions included.
        amount: u64,
        /// Largest accepted amount for this unit.
        max: u32,
    },
    /// A pause whose end is before its start.
    #[error("pause \"{reason}\" ends at {until}, before it starts at {from}")]
    PauseEndsBeforeStart {
        /// The pause's reason, to find it.
        reason: String,
        /// Start of the pause.
        from: Timestamp,
        /// End of the pause.
        until: Timestamp,
    },
    /// A statutory-holiday computation for a year no version of the statute is in force for
    /// (before the oldest known version, or past the horizon the file states).
    #[error(
        "statute {statute} has no version in force in {year} (known: {known}); statutory \
         holidays of that year are not guessed"
    )]
    NoStatuteVersion {
        /// Statute id.
        statute: String,
        /// The year asked for.
        year: i16,
        /// Human summary of the years the statute's versions cover.
        known: String,
    },
    /// A date or instant outside what jiff can represent (year 9999 and beyond).
    #[error("date or time out of range: {0}")]
    OutOfRange(String),
}

impl From<jiff::Error> for CalendarError {
    fn from(e: jiff::Error) -> Self {
        CalendarError::OutOfRange(e.to_string())
    }
}

/// One problem in one calendar file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.render())]
pub struct FileError {
    /// The file (as given to the loader, e.g. `rulesets/calendars/cn-mainland.toml`).
    pub file: String,
    /// 1-based line, when the problem can be pinned to one.
    pub line: Option<usize>,
    /// What is wrong.
    pub problem: FileProblem,
}

impl FileError {
    pub(crate) fn new(file: &str, line: Option<usize>, problem: FileProblem) -> Self {
        FileError {
            file: file.to_owned(),
            line,
            problem,
        }
    }

    fn render(&self) -> String {
        match self.line {
            Some(line) => format!("{}:{}: {}", self.file, line, self.problem),
            None => format!("{}: {}", self.file, self.problem),
        }
    }
}

/// What is wrong in a calendar file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FileProblem {
    /// The folder or file could not be read.
    #[error("cannot read: {0}")]
    Io(String),
    /// The folder holds no `*.toml` file.
    #[error("no *.toml calendar file in this folder")]
    NoCalendarFiles,
    /// TOML syntax, a wrong type, an unknown key or a date TOML itself rejects.
    #[error("{0}")]
    Toml(String),
    /// A TOML date-time where a plain date is required.
    #[error("{what}: expected a plain date like 2026-02-15, found {value}")]
    NotADate {
        /// Which field.
        what: String,
        /// What was written.
        value: String,
    },
    /// A required text field is empty.
    #[error("{field} must not be empty")]
    Empty {
        /// Which field.
        field: String,
    },
    /// `id` is not made of lowercase letters, digits and dashes.
    #[error("id {0:?} must use only a-z, 0-9 and '-'")]
    BadId(String),
    /// Unknown IANA time zone.
    #[error("unknown time zone {name:?}: {reason}")]
    BadTimeZone {
        /// What was written.
        name: String,
        /// jiff's reason.
        reason: String,
    },
    /// `close_of_business` is not a time of day.
    #[error("close_of_business {0:?} is not a time of day like \"17:30\"")]
    BadTime(String),
    /// A weekday name that is not one of mon..sun.
    #[error("unknown weekday {0:?}: use mon, tue, wed, thu, fri, sat, sun")]
    BadWeekday(String),
    /// The same weekday listed twice.
    #[error("weekday {0} is listed twice in working_weekdays")]
    DuplicateWeekday(String),
    /// No working weekday at all.
    #[error("working_weekdays must list at least one weekday")]
    NoWorkingWeekdays,
    /// A year outside 1900..=2999 (a typo, almost certainly).
    #[error("year {0} is out of range (1900..=2999)")]
    BadYear(i64),
    /// The same year defined twice.
    #[error("year {year} is defined twice (first at line {first_line})")]
    DuplicateYear {
        /// The year.
        year: i64,
        /// Line of the first definition.
        first_line: usize,
    },
    /// A year or date defined in two files (the calendar's file and a year file, or two
    /// year files).
    #[error("{what} is defined twice (first at {first_file}:{first_line})")]
    DefinedInTwoFiles {
        /// What, e.g. `year 2027` or `make-up working day 2027-01-02`.
        what: String,
        /// The file of the first definition.
        first_file: String,
        /// Its line.
        first_line: usize,
    },
    /// `years_for` names no calendar of the folder.
    #[error("years_for {id:?}: there is no calendar with that id in this folder (known: {known})")]
    UnknownYearsFor {
        /// The id written.
        id: String,
        /// Ids that exist.
        known: String,
    },
    /// `years_for` names a variant.
    #[error(
        "years_for {id:?} names a variant (extends = {parent:?}): years are added to the \
         calendar that defines them, never to a variant, which changes days only through \
         [[override]] entries"
    )]
    YearsForVariant {
        /// The variant's id.
        id: String,
        /// The calendar it extends.
        parent: String,
    },
    /// A year file without any `[[years]]` table.
    #[error("a year file (years_for = {0:?}) must define at least one [[years]] table")]
    YearFileWithoutYears(String),
    /// `Calendar::from_toml_str` on a year file.
    #[error(
        "years_for {0:?}: a year file adds years to a calendar of its folder; load it with \
         CalendarSet::load_dir or CalendarSet::from_sources"
    )]
    YearFileNeedsCalendar(String),
    /// `published` is not `YYYY-MM` or `YYYY-MM-DD`.
    #[error("published {0:?} must look like \"2025-11\" or \"2025-11-04\"")]
    BadPublished(String),
    /// A rest block whose last date is before its first.
    #[error("rest block {name} ends ({last}) before it starts ({first})")]
    BlockReversed {
        /// Block name.
        name: String,
        /// First date.
        first: Date,
        /// Last date.
        last: Date,
    },
    /// A date in a year the file does not cover.
    #[error("{what} {date} is outside the years the calendar covers ({covered})")]
    OutsideCoveredYears {
        /// What the date belongs to, e.g. `rest block 春节`.
        what: String,
        /// The date.
        date: Date,
        /// The covered years.
        covered: String,
    },
    /// Two rest blocks share a day.
    #[error("rest block {name} {first}..{last} overlaps {other} {other_first}..{other_last}")]
    Overlap {
        /// The later block (in file order).
        name: String,
        /// Its first date.
        first: Date,
        /// Its last date.
        last: Date,
        /// The earlier block.
        other: String,
        /// Its first date.
        other_first: Date,
        /// Its last date.
        other_last: Date,
    },
    /// An in-lieu date not inside its block.
    #[error("in-lieu rest day {date} is not inside rest block {name} {first}..{last}")]
    InLieuOutsideBlock {
        /// The date.
        date: Date,
        /// Block name.
        name: String,
        /// Block first date.
        first: Date,
        /// Block last date.
        last: Date,
    },
    /// An in-lieu date on a day that is not a working weekday anyway.
    #[error(
        "in-lieu rest day {date} is a {weekday}, which is not a working weekday: \
         only a day that would otherwise be worked can be taken in lieu"
    )]
    InLieuNotWorkingWeekday {
        /// The date.
        date: Date,
        /// Its weekday.
        weekday: String,
    },
    /// A make-up day on a day that is already a working weekday.
    #[error(
        "make-up working day {date} is a {weekday}, already a working day in the weekly \
         pattern: make-up days (调休上班日) are weekend days that are worked"
    )]
    MakeUpOnWorkingWeekday {
        /// The date.
        date: Date,
        /// Its weekday.
        weekday: String,
    },
    /// A date that is both a make-up working day and inside a rest block.
    #[error(
        "{date} is both a make-up working day (for {holiday}) and a rest day \
         (rest block {block} {first}..{last})"
    )]
    RestAndMakeUp {
        /// The date.
        date: Date,
        /// The holiday the make-up day is for.
        holiday: String,
        /// The rest block containing the date.
        block: String,
        /// Block first date.
        first: Date,
        /// Block last date.
        last: Date,
    },
    /// The same date listed twice.
    #[error("{what} {date} is listed twice (first at line {first_line})")]
    DuplicateDate {
        /// What kind of entry.
        what: String,
        /// The date.
        date: Date,
        /// Line of the first listing.
        first_line: usize,
    },
    /// A make-up day for a holiday that is not a rest block of its year.
    #[error(
        "make-up working day {date} is for {holiday:?}, which is not a rest block of {year} \
         (rest blocks: {known})"
    )]
    UnknownHoliday {
        /// The date.
        date: Date,
        /// What was written in `for`.
        holiday: String,
        /// The year section.
        year: i64,
        /// Block names of that year.
        known: String,
    },
    /// An override that does not change the day.
    #[error("override of {date} to {status} has no effect: it is already {current}")]
    OverrideNoEffect {
        /// The date.
        date: Date,
        /// Requested status.
        status: String,
        /// What the day already is.
        current: String,
    },
    /// Two files with the same id.
    #[error("calendar id {id} is already defined in {other_file}")]
    DuplicateId {
        /// The id.
        id: String,
        /// The file that defined it first.
        other_file: String,
    },
    /// `extends` names a calendar that does not exist.
    #[error("extends {parent:?}, but there is no calendar with that id (known: {known})")]
    UnknownParent {
        /// The parent id.
        parent: String,
        /// Ids that exist.
        known: String,
    },
    /// `extends` chains loop.
    #[error("extends cycle: {0}")]
    Cycle(String),
    /// The parent calendar has errors of its own.
    #[error("extends {0}, which has errors (see above)")]
    ParentInvalid(String),
    /// A key a variant may not set.
    #[error(
        "a variant (extends = {parent:?}) may not set {field}: it inherits it; change days \
         with [[override]] entries"
    )]
    VariantCannotSet {
        /// The key.
        field: String,
        /// The parent id.
        parent: String,
    },
    /// `Calendar::from_toml_str` on a variant.
    #[error(
        "extends {0:?}: a variant needs its parent; load it with CalendarSet::load_dir or \
         CalendarSet::from_sources"
    )]
    VariantNeedsParent(String),
    /// `statute = "..."` names no statute file of the folder's `statutes/`.
    #[error("unknown statute {id:?} (known: {known})")]
    UnknownStatute {
        /// The id written.
        id: String,
        /// The statute ids loaded.
        known: String,
    },
    /// `uncovered = "provisional"` on a calendar without a statute.
    #[error(
        "uncovered = \"provisional\" needs statute = \"...\": a year without a published \
         schedule is computed from the statutory holidays, never from weekends alone"
    )]
    ProvisionalNeedsStatute,
    /// A problem in a statute file (rule shape, version dates, a date the rule cannot
    /// produce).
    #[error("{0}")]
    Statute(String),
}

/// Every problem found while loading calendar files; `Display` prints one per line, each as
/// `file:line: problem`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.errors.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
pub struct LoadError {
    /// The problems, in file order.
    pub errors: Vec<FileError>,
}

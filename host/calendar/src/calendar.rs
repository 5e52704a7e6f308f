//! The resolved calendar: which day is a working day, and why.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Arc;

use jiff::civil::{Date, Time, Weekday};
use jiff::tz::TimeZone;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::error::CalendarError;
use crate::statute::Statute;

/// What to do with a date in a year the calendar has no published schedule for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum UncoveredPolicy {
    /// Refuse with [`CalendarError::NotCovered`]. The default for a calendar without a
    /// statute: the schedule is published a year at a time. `"error"` is the old spelling.
    #[default]
    #[serde(alias = "error")]
    Refuse,
    /// Rest on weekends and on the statutory holidays the calendar's statute computes for
    /// the year (no make-up working days, no in-lieu rest), and mark every result that used
    /// such a day `provisional`. The default for a calendar with a statute.
    Provisional,
}

/// Why a day is (or is not) a working day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum DayKind {
    /// An ordinary working weekday.
    Working,
    /// A weekend day that the schedule makes a working day (调休上班日).
    MakeUpWorkday {
        /// The holiday it makes up for.
        holiday: String,
    },
    /// A weekday outside the weekly working pattern (Saturday, Sunday).
    Weekend,
    /// A day inside a rest block: a statutory holiday, or a weekend day within the block.
    Holiday {
        /// The block's name as written in the calendar file (e.g. 春节).
        name: String,
    },
    /// A weekday inside a rest block given in exchange for a make-up working day (调休放假).
    InLieuRest {
        /// The holiday block it belongs to.
        holiday: String,
    },
    /// A statutory holiday in a year without a published schedule (policy `provisional`),
    /// computed from the calendar's statute.
    StatutoryHoliday {
        /// The holiday's name as written in the statute file (e.g. 春节).
        name: String,
        /// The article it comes from, e.g. `全国年节及纪念日放假办法 art. 2 (国务院令第795号)`.
        article: String,
    },
    /// A per-date override from the calendar file (typically a variant).
    Override {
        /// Whether the override makes the day a working day.
        working: bool,
        /// The reason written in the file.
        reason: String,
        /// What the day would be without the override.
        replaces: Box<DayKind>,
    },
}

impl DayKind {
    /// Whether deadlines count this day as a working day.
    pub fn is_working(&self) -> bool {
        match self {
            DayKind::Working | DayKind::MakeUpWorkday { .. } => true,
            DayKind::Weekend
            | DayKind::Holiday { .. }
            | DayKind::InLieuRest { .. }
            | DayKind::StatutoryHoliday { .. } => false,
            DayKind::Override { working, .. } => *working,
        }
    }

    /// A short English description, with the holiday name as in the calendar file.
    pub fn describe(&self) -> String {
        match self {
            DayKind::Working => "working day".to_owned(),
            DayKind::MakeUpWorkday { holiday } => {
                format!("make-up working day (调休上班) for {holiday}")
            }
            DayKind::Weekend => "weekend".to_owned(),
            DayKind::Holiday { name } => format!("holiday: {name}"),
            DayKind::InLieuRest { holiday } => {
                format!("in-lieu rest day (调休放假) of {holiday}")
            }
            DayKind::StatutoryHoliday { name, article } => {
                format!("statutory holiday: {name} ({article}; provisional, no published schedule)")
            }
            DayKind::Override {
                working,
                reason,
                replaces,
            } => {
                let status = if *working { "working day" } else { "rest day" };
                format!(
                    "{status} by override: {reason} (otherwise {})",
                    replaces.describe()
                )
            }
        }
    }
}

/// One date as the calendar sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Day {
    /// The date.
    pub date: Date,
    /// Its kind.
    pub kind: DayKind,
    /// True when the date lies outside the covered years and was classified by the weekly
    /// pattern and the statutory holidays alone (policy `provisional`).
    pub provisional: bool,
}

impl Day {
    /// Whether deadlines count this day as a working day.
    pub fn is_working(&self) -> bool {
        self.kind.is_working()
    }
}

/// Where a covered year's schedule comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct YearSource {
    /// The year.
    pub year: i16,
    /// The notice that published the schedule.
    pub source: String,
    /// When it was published (`YYYY-MM` or `YYYY-MM-DD`), if recorded.
    pub published: Option<String>,
    /// The year file (`years_for = "<id>"`) the year was added by; absent for a year of the
    /// calendar's own file ([`Calendar::source_file`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
}

/// A summary of a calendar for the wire (API listings, decision contexts).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct CalendarInfo {
    /// Calendar id.
    pub id: String,
    /// Human name.
    pub name: String,
    /// The calendar it extends, for a variant.
    pub extends: Option<String>,
    /// The file it was loaded from.
    pub source_file: String,
    /// IANA time zone.
    pub time_zone: String,
    /// Close of business, if the calendar defines one.
    pub close_of_business: Option<Time>,
    /// Policy for dates outside the covered years.
    pub uncovered: UncoveredPolicy,
    /// Whether receipt on a rest day is deemed to happen on the next working day.
    pub deemed_received_next_working_day: bool,
    /// The covered years and their sources.
    pub years: Vec<YearSource>,
}

/// A working-day calendar: weekly pattern plus the official schedule of each covered year.
///
/// Built by [`Calendar::from_toml_str`] or [`crate::CalendarSet`]; immutable afterwards.
#[derive(Debug, Clone)]
pub struct Calendar {
    pub(crate) id: String,
    pub(crate) name: String,
    pub(crate) extends: Option<String>,
    pub(crate) source_file: String,
    pub(crate) tz_name: String,
    pub(crate) tz: TimeZone,
    /// Indexed by `Weekday::to_monday_zero_offset`.
    pub(crate) working_weekdays: [bool; 7],
    pub(crate) close_of_business: Option<Time>,
    pub(crate) uncovered: UncoveredPolicy,
    /// Consulted only for years without a published schedule.
    pub(crate) statute: Option<Arc<Statute>>,
    pub(crate) deemed_received_next_working_day: bool,
    pub(crate) years: BTreeMap<i16, YearSource>,
    /// Only the dates that differ from the weekly pattern.
    pub(crate) days: BTreeMap<Date, DayKind>,
}

impl Calendar {
    /// Calendar id (e.g. `cn-mainland`).
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Human name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The calendar this one extends, for a variant.
    pub fn extends(&self) -> Option<&str> {
        self.extends.as_deref()
    }

    /// The time zone in which dates and ends of day are reckoned.
    pub fn time_zone(&self) -> &TimeZone {
        &self.tz
    }

    /// The IANA name of [`Self::time_zone`].
    pub fn time_zone_name(&self) -> &str {
        &self.tz_name
    }

    /// Close of business, if the calendar defines one.
    pub fn close_of_business(&self) -> Option<Time> {
        self.close_of_business
    }

    /// Policy for dates outside the covered years.
    pub fn uncovered_policy(&self) -> UncoveredPolicy {
        self.uncovered
    }

    /// Whether receipt on a rest day is deemed to happen on the next working day.
    pub fn deemed_received_next_working_day(&self) -> bool {
        self.deemed_received_next_working_day
    }

    /// The covered years, ascending.
    pub fn covered_years(&self) -> impl Iterator<Item = &YearSource> {
        self.years.values()
    }

    /// The statute that names the statutory holidays, if the calendar has one.
    pub fn statute(&self) -> Option<&Statute> {
        self.statute.as_deref()
    }

    /// The published schedule's source for `year`, if the year is covered.
    pub fn year_source(&self, year: i16) -> Option<&YearSource> {
        self.years.get(&year)
    }

    /// A digest of everything that decides how a day is classified: id, time zone, weekly
    /// pattern, policy, the statute (id and file text), each covered year's source and
    /// every day that differs from the weekly pattern. The first 16 hex digits of a SHA-256,
    /// so a recorded deadline can say which calendar data it was computed with.
    pub fn version(&self) -> String {
        use sha2::{Digest, Sha256};
        // One field per line, each prefixed by its name, and free text escaped with {:?} so
        // no value can imitate a line boundary.
        let mut c = String::new();
        let _ = writeln!(c, "redress-calendar-version 1");
        let _ = writeln!(c, "id {:?}", self.id);
        let _ = writeln!(c, "time_zone {:?}", self.tz_name);
        let _ = writeln!(c, "working_weekdays {:?}", self.working_weekdays);
        let _ = writeln!(c, "uncovered {:?}", self.uncovered);
        match &self.statute {
            Some(st) => {
                let _ = writeln!(c, "statute {:?} {:?}", st.id(), st.text());
            }
            None => {
                let _ = writeln!(c, "statute none");
            }
        }
        for y in self.years.values() {
            let _ = writeln!(c, "year {} {:?} {:?}", y.year, y.source, y.published);
        }
        for (date, kind) in &self.days {
            let json = serde_json::to_string(kind).unwrap_or_else(|_| format!("{kind:?}"));
            let _ = writeln!(c, "day {date} {json}");
        }
        let digest = Sha256::digest(c.as_bytes());
        digest
            .iter()
            .take(8)
            .fold(String::with_capacity(16), |mut s, b| {
                let _ = write!(s, "{b:02x}");
                s
            })
    }

    /// Whether `year` has a published schedule in this calendar.
    pub fn covers(&self, year: i16) -> bool {
        self.years.contains_key(&year)
    }

    /// The file the calendar was loaded from.
    pub fn source_file(&self) -> &str {
        &self.source_file
    }

    /// The year files (`years_for = "<id>"`) that added years to this calendar (or, for a
    /// variant, to the calendar it extends), in file-name order.
    pub fn year_files(&self) -> Vec<String> {
        let mut files: Vec<String> = self.years.values().filter_map(|y| y.file.clone()).collect();
        files.sort();
        files.dedup();
        files
    }

    /// The last day with a published schedule: 31 December of the last covered year.
    /// Deadlines that run past it fail closed (`refuse`) or are provisional.
    pub fn covered_until(&self) -> Option<Date> {
        let year = *self.years.keys().next_back()?;
        Date::new(year, 12, 31).ok()
    }

    /// Covered years as a short human string, e.g. `2024–2026` or `2019, 2024–2026`.
    pub fn covered_summary(&self) -> String {
        years_summary(self.years.keys().copied())
    }

    /// A serialisable summary.
    pub fn info(&self) -> CalendarInfo {
        CalendarInfo {
            id: self.id.clone(),
            name: self.name.clone(),
            extends: self.extends.clone(),
            source_file: self.source_file.clone(),
            time_zone: self.tz_name.clone(),
            close_of_business: self.close_of_business,
            uncovered: self.uncovered,
            deemed_received_next_working_day: self.deemed_received_next_working_day,
            years: self.years.values().cloned().collect(),
        }
    }

    /// Classify `date`. Outside the covered years this is an error, or a provisional answer
    /// from the weekly pattern and the statute, depending on the calendar's policy.
    pub fn day(&self, date: Date) -> Result<Day, CalendarError> {
        if self.covers(date.year()) {
            return Ok(Day {
                date,
                kind: self.covered_kind(date),
                provisional: false,
            });
        }
        let refuse = || CalendarError::NotCovered {
            calendar: self.id.clone(),
            date,
            covered: self.covered_summary(),
        };
        match (self.uncovered, &self.statute) {
            (UncoveredPolicy::Provisional, Some(statute)) => {
                let kind = match statute.day_ref(date)? {
                    Some(s) => DayKind::StatutoryHoliday {
                        name: s.holiday.clone(),
                        article: s.article.clone(),
                    },
                    None => self.pattern_kind(date.weekday()),
                };
                Ok(Day {
                    date,
                    kind,
                    provisional: true,
                })
            }
            // Loading refuses `provisional` without a statute; refusing here too keeps a
            // hand-built calendar from falling back to weekends only.
            (UncoveredPolicy::Provisional, None) | (UncoveredPolicy::Refuse, _) => Err(refuse()),
        }
    }

    /// Whether `date` is a working day (see [`Self::day`] for uncovered dates).
    pub fn is_working_day(&self, date: Date) -> Result<bool, CalendarError> {
        Ok(self.day(date)?.is_working())
    }

    /// Working days in `(from, to]`: `from` excluded, `to` included, as deadlines count
    /// them; 0 when `to <= from`. `working_days_between(start, due_date)` of an unpaused
    /// N-working-day deadline is N.
    pub fn working_days_between(&self, from: Date, to: Date) -> Result<u32, CalendarError> {
        let mut n = 0u32;
        let mut d = from;
        while d < to {
            d = d.tomorrow()?;
            if self.is_working_day(d)? {
                n = n.saturating_add(1);
            }
        }
        Ok(n)
    }

    /// The first working day strictly after `date`.
    pub fn next_working_day(&self, date: Date) -> Result<Date, CalendarError> {
        let mut d = date.tomorrow()?;
        while !self.is_working_day(d)? {
            d = d.tomorrow()?;
        }
        Ok(d)
    }

    pub(crate) fn is_working_weekday(&self, wd: Weekday) -> bool {
        self.working_weekdays
            .get(usize::from(wd.to_monday_zero_offset().unsigned_abs()))
            .copied()
            .unwrap_or(false)
    }

    fn pattern_kind(&self, wd: Weekday) -> DayKind {
        if self.is_working_weekday(wd) {
            DayKind::Working
        } else {
            DayKind::Weekend
        }
    }

    pub(crate) fn covered_kind(&self, date: Date) -> DayKind {
        match self.days.get(&date) {
            Some(kind) => kind.clone(),
            None => self.pattern_kind(date.weekday()),
        }
    }

    /// Classification for display only: `None` outside the covered years instead of an
    /// error, because a receipt day's status never changes the count.
    pub(crate) fn known_kind(&self, date: Date) -> Option<DayKind> {
        self.covers(date.year()).then(|| self.covered_kind(date))
    }
}

pub(crate) fn years_summary(years: impl Iterator<Item = i16>) -> String {
    let mut runs: Vec<(i16, i16)> = Vec::new();
    for y in years {
        match runs.last_mut() {
            Some((_, end)) if *end + 1 == y => *end = y,
            _ => runs.push((y, y)),
        }
    }
    if runs.is_empty() {
        return "no year".to_owned();
    }
    runs.iter()
        .map(|(a, b)| {
            if a == b {
                a.to_string()
            } else {
                format!("{a}–{b}")
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

pub(crate) fn weekday_name(wd: Weekday) -> &'static str {
    match wd {
        Weekday::Monday => "Monday",
        Weekday::Tuesday => "Tuesday",
        Weekday::Wednesday => "Wednesday",
        Weekday::Thursday => "Thursday",
        Weekday::Friday => "Friday",
        Weekday::Saturday => "Saturday",
        Weekday::Sunday => "Sunday",
    }
}

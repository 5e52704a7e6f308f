//! The statute that names the public holidays (全国年节及纪念日放假办法), as data: which
//! holidays each version grants and how their dates are found (fixed Gregorian date,
//! lunar date, solar term). Used for years the State Council has not published a schedule
//! for yet (`uncovered = "provisional"`): such a year rests on weekends and statutory days
//! only, with no make-up working days and no in-lieu rest, until the schedule is added.
//!
//! Every day of every year a version is in force for is computed when the file is loaded,
//! so a rule that cannot produce a date (a lunar 30th in a 29-day month) is a file:line
//! error rather than a failure in the middle of a deadline, and `Calendar::day` is a map
//! lookup.

use std::collections::BTreeMap;

use jiff::civil::Date;
use serde::{Deserialize, Serialize};
use toml::Spanned;
use toml::value::Datetime;
use tyme4rs::tyme::lunar::LunarDay;
use tyme4rs::tyme::solar::{SOLAR_TERM_NAMES, SolarDay, SolarTerm};

use crate::calendar::years_summary;
use crate::error::{CalendarError, FileError, FileProblem};
use crate::file::{LineIndex, to_date};

/// The years any version may cover. tyme4rs handles far more, but the independent oracle
/// (scripts/oracle/statute_oracle.py) checks only what a file can plausibly need.
const YEARS: std::ops::RangeInclusive<i16> = 1900..=2999;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStatute {
    id: Spanned<String>,
    name: Spanned<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    versions: Vec<RawVersion>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawVersion {
    effective_from: Spanned<Datetime>,
    effective_until: Spanned<Datetime>,
    title: Spanned<String>,
    order: Spanned<String>,
    article: Spanned<String>,
    text: Spanned<String>,
    #[serde(default)]
    holidays: Vec<RawHoliday>,
}

// One flat struct rather than an enum tagged by `rule`: serde's internally tagged enums
// buffer their content, which loses the spans every error needs for its line.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHoliday {
    name: Spanned<String>,
    rule: Spanned<RuleKind>,
    month: Option<Spanned<i64>>,
    day: Option<Spanned<i64>>,
    from: Option<Spanned<String>>,
    term: Option<Spanned<String>>,
    days: Option<Spanned<i64>>,
}

#[derive(Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
enum RuleKind {
    Fixed,
    Lunar,
    SolarTerm,
}

/// How a holiday's first day is found in a Gregorian year.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Rule {
    /// The same Gregorian month and day every year.
    Fixed { month: i8, day: i8 },
    /// A day of the lunar year that begins in the Gregorian year.
    Lunar { month: i8, day: i8 },
    /// The last day of the previous lunar year (除夕): the day before lunar 01-01, because
    /// the twelfth month has 29 or 30 days.
    LunarEve,
    /// The day a solar term begins, in China time (tyme4rs computes terms in UTC+8).
    SolarTerm { term: String },
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Holiday {
    name: String,
    rule: Rule,
    days: u8,
    line: usize,
}

/// One version of the statute, in force for whole years.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatuteVersion {
    /// First day in force (always 1 January).
    pub effective_from: Date,
    /// Last day in force (always 31 December).
    pub effective_until: Date,
    /// Title as published, e.g. 全国年节及纪念日放假办法.
    pub title: String,
    /// The order that enacted this version, e.g. 国务院令第795号.
    pub order: String,
    /// The article that lists the holidays, e.g. `art. 2`.
    pub article: String,
    /// The article's text.
    pub text: String,
    #[serde(skip)]
    holidays: Vec<Holiday>,
}

impl StatuteVersion {
    /// How a day of this version cites its source.
    fn citation(&self) -> String {
        format!("{} {} ({})", self.title, self.article, self.order)
    }
}

/// A statutory holiday day in one year.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct StatutoryDay {
    /// The date.
    pub date: Date,
    /// The holiday's name as written in the statute file; two holidays falling on the same
    /// day (中秋节 on 10-01) are joined with 、.
    pub holiday: String,
    /// Where the day comes from, e.g. `全国年节及纪念日放假办法 art. 2 (国务院令第795号)`.
    pub article: String,
}

/// A statute loaded from `statutes/<id>.toml`, with every statutory day of every year a
/// version is in force for.
#[derive(Debug, Clone)]
pub struct Statute {
    id: String,
    name: String,
    source_file: String,
    /// The file as read, for [`crate::Calendar::version`].
    text: String,
    versions: Vec<StatuteVersion>,
    by_year: BTreeMap<i16, Vec<StatutoryDay>>,
}

impl Statute {
    /// Statute id (the file's `id`, e.g. `cn-national-holidays`).
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Human name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The file it was loaded from.
    pub fn source_file(&self) -> &str {
        &self.source_file
    }

    /// The file's text as loaded.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The versions, oldest first.
    pub fn versions(&self) -> &[StatuteVersion] {
        &self.versions
    }

    /// The version in force in `year`, if any.
    pub fn version_for(&self, year: i16) -> Option<&StatuteVersion> {
        self.versions
            .iter()
            .find(|v| v.effective_from.year() <= year && year <= v.effective_until.year())
    }

    /// The years some version is in force for, as a short human string.
    pub fn known_years(&self) -> String {
        years_summary(self.by_year.keys().copied())
    }

    /// Every statutory day of `year`, sorted by date; an error for a year no version of the
    /// statute is in force for.
    pub fn holidays(&self, year: i16) -> Result<Vec<StatutoryDay>, CalendarError> {
        self.by_year
            .get(&year)
            .cloned()
            .ok_or_else(|| self.no_version(year))
    }

    /// The statutory day at `date`, `None` for an ordinary day; an error for a year no
    /// version of the statute is in force for.
    pub fn is_statutory(&self, date: Date) -> Result<Option<StatutoryDay>, CalendarError> {
        Ok(self.day_ref(date)?.cloned())
    }

    pub(crate) fn day_ref(&self, date: Date) -> Result<Option<&StatutoryDay>, CalendarError> {
        let days = self
            .by_year
            .get(&date.year())
            .ok_or_else(|| self.no_version(date.year()))?;
        Ok(days
            .binary_search_by_key(&date, |d| d.date)
            .ok()
            .and_then(|i| days.get(i)))
    }

    fn no_version(&self, year: i16) -> CalendarError {
        CalendarError::NoStatuteVersion {
            statute: self.id.clone(),
            year,
            known: self.known_years(),
        }
    }

    /// Parse, validate and compute a statute file. `source_name` is used in error messages.
    pub fn from_toml_str(text: &str, source_name: &str) -> Result<Statute, Vec<FileError>> {
        let file = source_name;
        let lines = LineIndex { text };
        let raw: RawStatute = toml::from_str(text).map_err(|e| {
            let line = e.span().map(|s| lines.line(s.start));
            vec![FileError::new(
                file,
                line,
                FileProblem::Toml(e.message().trim().to_owned()),
            )]
        })?;
        let mut errs = Vec::new();
        let problem = |errs: &mut Vec<FileError>, line: usize, msg: String| {
            errs.push(FileError::new(file, Some(line), FileProblem::Statute(msg)));
        };

        let id_line = lines.of(&raw.id);
        let id = raw.id.into_inner();
        if id.is_empty()
            || !id
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        {
            errs.push(FileError::new(
                file,
                Some(id_line),
                FileProblem::BadId(id.clone()),
            ));
        }
        let name_line = lines.of(&raw.name);
        let name = raw.name.into_inner();
        if name.trim().is_empty() {
            errs.push(FileError::new(
                file,
                Some(name_line),
                FileProblem::Empty {
                    field: "name".into(),
                },
            ));
        }
        let _ = raw.description;
        if raw.versions.is_empty() {
            problem(
                &mut errs,
                id_line,
                "a statute needs at least one [[versions]] table".into(),
            );
        }

        let mut versions: Vec<(StatuteVersion, usize)> = Vec::new();
        for v in raw.versions {
            let line = lines.of(&v.effective_from);
            let from = to_date(&v.effective_from, "effective_from", &lines, file, &mut errs);
            let until = to_date(
                &v.effective_until,
                "effective_until",
                &lines,
                file,
                &mut errs,
            );
            let mut texts = Vec::new();
            for (field, value) in [
                ("title", v.title),
                ("order", v.order),
                ("article", v.article),
                ("text", v.text),
            ] {
                let l = lines.of(&value);
                let s = value.into_inner();
                if s.trim().is_empty() {
                    errs.push(FileError::new(
                        file,
                        Some(l),
                        FileProblem::Empty {
                            field: field.into(),
                        },
                    ));
                }
                texts.push(s);
            }
            let [title, order, article, text] = <[String; 4]>::try_from(texts).unwrap_or_default();
            let mut holidays = Vec::new();
            for h in v.holidays {
                if let Some(h) = parse_holiday(h, &lines, file, &mut errs) {
                    holidays.push(h);
                }
            }
            if holidays.is_empty() {
                problem(
                    &mut errs,
                    line,
                    "a version needs at least one holiday".into(),
                );
            }
            let (Some(from), Some(until)) = (from, until) else {
                continue;
            };
            // Holidays are computed per Gregorian year; a version starting mid-year would
            // need a rule for the year it changes in, which no version so far has needed.
            if (from.month(), from.day()) != (1, 1) || (until.month(), until.day()) != (12, 31) {
                problem(
                    &mut errs,
                    line,
                    format!(
                        "a version must be in force for whole years: effective_from 1 January, \
                         effective_until 31 December (found {from}..{until})"
                    ),
                );
                continue;
            }
            if until < from {
                problem(
                    &mut errs,
                    line,
                    format!("effective_until {until} is before effective_from {from}"),
                );
                continue;
            }
            if !YEARS.contains(&from.year()) || !YEARS.contains(&until.year()) {
                problem(
                    &mut errs,
                    line,
                    format!(
                        "a version must lie within the years 1900–2999 (found {from}..{until})"
                    ),
                );
                continue;
            }
            if let Some((other, other_line)) = versions
                .iter()
                .find(|(o, _)| o.effective_from <= until && from <= o.effective_until)
            {
                problem(
                    &mut errs,
                    line,
                    format!(
                        "version {from}..{until} overlaps the version of line {other_line} \
                         ({}..{})",
                        other.effective_from, other.effective_until
                    ),
                );
                continue;
            }
            versions.push((
                StatuteVersion {
                    effective_from: from,
                    effective_until: until,
                    title,
                    order,
                    article,
                    text,
                    holidays,
                },
                line,
            ));
        }
        if !errs.is_empty() {
            return Err(errs);
        }
        versions.sort_by_key(|(v, _)| v.effective_from);

        let mut by_year = BTreeMap::new();
        for (v, _) in &versions {
            let citation = v.citation();
            for year in v.effective_from.year()..=v.effective_until.year() {
                let mut days: BTreeMap<Date, StatutoryDay> = BTreeMap::new();
                for h in &v.holidays {
                    let first = match first_day(&h.rule, year) {
                        Ok(d) => d,
                        Err(msg) => {
                            problem(&mut errs, h.line, format!("{} in {year}: {msg}", h.name));
                            continue;
                        }
                    };
                    let mut d = first;
                    for i in 0..h.days {
                        if i > 0 {
                            match d.tomorrow() {
                                Ok(n) => d = n,
                                Err(e) => {
                                    problem(&mut errs, h.line, e.to_string());
                                    break;
                                }
                            }
                        }
                        // Only days of `year` belong to it: lookups go by the date's year.
                        if d.year() != year {
                            problem(
                                &mut errs,
                                h.line,
                                format!(
                                    "{} in {year} falls on {d}, outside that year; a holiday \
                                     crossing New Year is not supported",
                                    h.name
                                ),
                            );
                            break;
                        }
                        days.entry(d)
                            .and_modify(|s| {
                                s.holiday.push('、');
                                s.holiday.push_str(&h.name);
                            })
                            .or_insert_with(|| StatutoryDay {
                                date: d,
                                holiday: h.name.clone(),
                                article: citation.clone(),
                            });
                    }
                }
                by_year.insert(year, days.into_values().collect::<Vec<_>>());
            }
        }
        if !errs.is_empty() {
            // One year's failure usually repeats for many: keep the first per line.
            let mut seen = std::collections::BTreeSet::new();
            errs.retain(|e| seen.insert(e.line));
            return Err(errs);
        }
        Ok(Statute {
            id,
            name,
            source_file: file.to_owned(),
            text: text.to_owned(),
            versions: versions.into_iter().map(|(v, _)| v).collect(),
            by_year,
        })
    }
}

fn parse_holiday(
    h: RawHoliday,
    lines: &LineIndex<'_>,
    file: &str,
    errs: &mut Vec<FileError>,
) -> Option<Holiday> {
    let line = lines.of(&h.name);
    let name = h.name.into_inner();
    let start = errs.len();
    let mut problem = |msg: String| {
        errs.push(FileError::new(file, Some(line), FileProblem::Statute(msg)));
    };
    if name.trim().is_empty() {
        problem("holiday name must not be empty".into());
    }
    let kind = h.rule.into_inner();
    let allowed: &[&str] = match kind {
        RuleKind::Fixed => &["month", "day", "days"],
        RuleKind::Lunar => &["from", "days"],
        RuleKind::SolarTerm => &["term", "days"],
    };
    let rule_name = match kind {
        RuleKind::Fixed => "fixed",
        RuleKind::Lunar => "lunar",
        RuleKind::SolarTerm => "solar_term",
    };
    for (key, present) in [
        ("month", h.month.is_some()),
        ("day", h.day.is_some()),
        ("from", h.from.is_some()),
        ("term", h.term.is_some()),
    ] {
        if present && !allowed.contains(&key) {
            problem(format!("{name}: rule {rule_name:?} does not take {key:?}"));
        } else if !present && allowed.contains(&key) {
            problem(format!("{name}: rule {rule_name:?} needs {key:?}"));
        }
    }
    let days = match h.days.map(Spanned::into_inner) {
        None => 1,
        Some(n) => match u8::try_from(n) {
            Ok(n @ 1..=10) => n,
            _ => {
                problem(format!("{name}: days = {n}: expected 1 to 10"));
                1
            }
        },
    };
    let rule = match kind {
        RuleKind::Fixed => {
            let month = h.month.map_or(0, Spanned::into_inner);
            let day = h.day.map_or(0, Spanned::into_inner);
            match (i8::try_from(month), i8::try_from(day)) {
                (Ok(m), Ok(d)) if Date::new(2000, m, d).is_ok() => Rule::Fixed { month: m, day: d },
                _ => {
                    problem(format!(
                        "{name}: month = {month}, day = {day} is not a date"
                    ));
                    Rule::Fixed { month: 1, day: 1 }
                }
            }
        }
        RuleKind::Lunar => {
            let from = h.from.map(Spanned::into_inner).unwrap_or_default();
            match parse_lunar(&from) {
                Some(r) => r,
                None => {
                    problem(format!(
                        "{name}: from = {from:?}: expected a lunar \"MM-DD\" (month 01–12, day \
                         01–30) or \"12-last\" (除夕)"
                    ));
                    Rule::LunarEve
                }
            }
        }
        RuleKind::SolarTerm => {
            let term = h.term.map(Spanned::into_inner).unwrap_or_default();
            if !SOLAR_TERM_NAMES.contains(&term.as_str()) {
                problem(format!(
                    "{name}: unknown solar term {term:?} (known: {})",
                    SOLAR_TERM_NAMES.join(", ")
                ));
            }
            Rule::SolarTerm { term }
        }
    };
    (errs.len() == start).then_some(Holiday {
        name,
        rule,
        days,
        line,
    })
}

fn parse_lunar(s: &str) -> Option<Rule> {
    if s == "12-last" {
        return Some(Rule::LunarEve);
    }
    let (m, d) = s.split_once('-')?;
    if m.len() != 2 || d.len() != 2 {
        return None;
    }
    let month: i8 = m.parse().ok()?;
    let day: i8 = d.parse().ok()?;
    ((1..=12).contains(&month) && (1..=30).contains(&day)).then_some(Rule::Lunar { month, day })
}

fn from_solar(s: &SolarDay) -> Result<Date, String> {
    let y = i16::try_from(s.get_year()).map_err(|e| e.to_string())?;
    let m = i8::try_from(s.get_month()).map_err(|e| e.to_string())?;
    let d = i8::try_from(s.get_day()).map_err(|e| e.to_string())?;
    Date::new(y, m, d).map_err(|e| e.to_string())
}

/// The first day of a holiday in Gregorian `year`. Lunar dates are taken in the lunar year
/// that begins in `year` (its 正月初一 is always between 21 January and 20 February), and
/// in its ordinary, not its leap, month.
fn first_day(rule: &Rule, year: i16) -> Result<Date, String> {
    let y = isize::from(year);
    match rule {
        Rule::Fixed { month, day } => Date::new(year, *month, *day).map_err(|e| e.to_string()),
        Rule::Lunar { month, day } => {
            let day = usize::try_from(*day).map_err(|e| e.to_string())?;
            let l = LunarDay::new(y, isize::from(*month), day)?;
            from_solar(&l.get_solar_day())
        }
        Rule::LunarEve => {
            let l = LunarDay::new(y, 1, 1)?;
            from_solar(&l.get_solar_day())?
                .yesterday()
                .map_err(|e| e.to_string())
        }
        Rule::SolarTerm { term } => {
            let t = SolarTerm::new(y, term)?;
            from_solar(&t.get_solar_day())
        }
    }
}

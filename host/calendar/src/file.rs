//! The calendar file format (documented in `rulesets/calendars/README.md`), its loader and
//! its validation. Every problem is reported with the file and line it comes from, and all
//! problems of a file are reported at once so an author can fix them in one pass.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;

use jiff::civil::{Date, Time, Weekday};
use jiff::tz::TimeZone;
use serde::Deserialize;
use toml::Spanned;
use toml::value::Datetime;

use crate::calendar::{
    Calendar, DayKind, UncoveredPolicy, YearSource, weekday_name, years_summary,
};
use crate::error::{FileError, FileProblem, LoadError};
use crate::statute::Statute;

const DEFAULT_TIME_ZONE: &str = "Asia/Shanghai";
const DEFAULT_WEEKDAYS: [bool; 7] = [true, true, true, true, true, false, false];

// ---------------------------------------------------------------------------------------
// Raw TOML shape. `deny_unknown_fields` everywhere: a misspelt key must not be ignored
// silently, since it would change which days count.

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    id: Spanned<String>,
    name: Spanned<String>,
    #[serde(default)]
    description: Option<String>,
    extends: Option<Spanned<String>>,
    time_zone: Option<Spanned<String>>,
    working_weekdays: Option<Spanned<Vec<Spanned<String>>>>,
    close_of_business: Option<Spanned<String>>,
    uncovered: Option<Spanned<UncoveredPolicy>>,
    statute: Option<Spanned<String>>,
    deemed_received_next_working_day: Option<Spanned<bool>>,
    #[serde(default)]
    years: Vec<RawYear>,
    #[serde(default, rename = "override")]
    overrides: Vec<RawOverride>,
}

/// A year file: `[[years]]` tables added to the calendar `years_for` names, so a new year is
/// published by dropping a file into the folder.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawYearFile {
    years_for: Spanned<String>,
    #[serde(default)]
    years: Vec<RawYear>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawYear {
    year: Spanned<i64>,
    source: Spanned<String>,
    published: Option<Spanned<String>>,
    #[serde(default)]
    rest: Vec<RawRest>,
    #[serde(default)]
    make_up: Vec<RawMakeUp>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRest {
    name: Spanned<String>,
    first: Spanned<Datetime>,
    last: Spanned<Datetime>,
    #[serde(default)]
    in_lieu: Vec<Spanned<Datetime>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMakeUp {
    date: Spanned<Datetime>,
    #[serde(rename = "for")]
    holiday: Spanned<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawOverride {
    dates: Vec<Spanned<Datetime>>,
    status: Spanned<OverrideStatus>,
    reason: Spanned<String>,
}

#[derive(Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
enum OverrideStatus {
    Rest,
    Working,
}

// ---------------------------------------------------------------------------------------
// Parsed (typed, with line numbers) but not yet validated against each other.

struct Parsed {
    file: String,
    id: String,
    id_line: usize,
    name: String,
    extends: Option<(String, usize)>,
    time_zone: Option<(String, TimeZone)>,
    working_weekdays: Option<([bool; 7], usize)>,
    close_of_business: Option<Time>,
    uncovered: Option<(UncoveredPolicy, usize)>,
    statute: Option<(String, usize)>,
    deemed: Option<bool>,
    years: Vec<PYear>,
    rests: Vec<PRest>,
    make_ups: Vec<PMakeUp>,
    overrides: Vec<POverride>,
}

/// A parsed year file, before it is merged into the calendar it names.
struct YearFile {
    file: String,
    years_for: String,
    line: usize,
    years: Vec<PYear>,
    rests: Vec<PRest>,
    make_ups: Vec<PMakeUp>,
}

enum Source {
    Calendar(Parsed),
    Years(YearFile),
}

/// The file each of these comes from: the calendar's own, or a year file merged into it.
struct PYear {
    file: String,
    year: i64,
    line: usize,
    source: String,
    published: Option<String>,
}

struct PRest {
    file: String,
    year: i64,
    name: String,
    first: Date,
    last: Date,
    line: usize,
    in_lieu: Vec<(Date, usize)>,
}

struct PMakeUp {
    file: String,
    year: i64,
    date: Date,
    holiday: String,
    line: usize,
}

struct POverride {
    date: Date,
    working: bool,
    reason: String,
    line: usize,
}

pub(crate) struct LineIndex<'a> {
    pub(crate) text: &'a str,
}

impl LineIndex<'_> {
    pub(crate) fn line(&self, offset: usize) -> usize {
        let end = offset.min(self.text.len());
        self.text
            .as_bytes()
            .get(..end)
            .map_or(0, |b| b.iter().filter(|&&c| c == b'\n').count())
            + 1
    }

    pub(crate) fn of<T>(&self, s: &Spanned<T>) -> usize {
        self.line(s.span().start)
    }
}

fn parse(text: &str, file: &str) -> Result<Parsed, Vec<FileError>> {
    let lines = LineIndex { text };
    let raw: RawFile = toml::from_str(text).map_err(|e| {
        let line = e.span().map(|s| lines.line(s.start));
        vec![FileError::new(
            file,
            line,
            FileProblem::Toml(e.message().trim().to_owned()),
        )]
    })?;
    let mut errs = Vec::new();
    let err = |errs: &mut Vec<FileError>, line: usize, p: FileProblem| {
        errs.push(FileError::new(file, Some(line), p));
    };

    let id_line = lines.of(&raw.id);
    let id = raw.id.into_inner();
    if id.is_empty() {
        err(
            &mut errs,
            id_line,
            FileProblem::Empty { field: "id".into() },
        );
    } else if !id
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    {
        err(&mut errs, id_line, FileProblem::BadId(id.clone()));
    }
    let name_line = lines.of(&raw.name);
    let name = raw.name.into_inner();
    if name.trim().is_empty() {
        err(
            &mut errs,
            name_line,
            FileProblem::Empty {
                field: "name".into(),
            },
        );
    }
    let _ = raw.description;
    let extends = raw.extends.map(|e| (lines.of(&e), e.into_inner()));
    let extends = extends.map(|(l, e)| (e, l));

    let time_zone = match raw.time_zone {
        Some(tz) => {
            let line = lines.of(&tz);
            let tz_name = tz.into_inner();
            match TimeZone::get(&tz_name) {
                Ok(z) => Some((tz_name, z)),
                Err(e) => {
                    err(
                        &mut errs,
                        line,
                        FileProblem::BadTimeZone {
                            name: tz_name,
                            reason: e.to_string(),
                        },
                    );
                    None
                }
            }
        }
        None => None,
    };

    let working_weekdays = match raw.working_weekdays {
        Some(list) => {
            let line = lines.of(&list);
            let mut mask = [false; 7];
            for wd in list.into_inner() {
                let l = lines.of(&wd);
                let s = wd.into_inner();
                match parse_weekday(&s) {
                    Some(w) => {
                        let i = usize::from(w.to_monday_zero_offset().unsigned_abs());
                        if let Some(slot) = mask.get_mut(i) {
                            if *slot {
                                err(&mut errs, l, FileProblem::DuplicateWeekday(s));
                            }
                            *slot = true;
                        }
                    }
                    None => err(&mut errs, l, FileProblem::BadWeekday(s)),
                }
            }
            if !mask.contains(&true) {
                err(&mut errs, line, FileProblem::NoWorkingWeekdays);
            }
            Some((mask, line))
        }
        None => None,
    };

    let close_of_business = match raw.close_of_business {
        Some(cob) => {
            let line = lines.of(&cob);
            let s = cob.into_inner();
            match parse_hhmm(&s) {
                Some(t) => Some(t),
                None => {
                    err(&mut errs, line, FileProblem::BadTime(s));
                    None
                }
            }
        }
        None => None,
    };

    let (years, rests, make_ups) = parse_years(raw.years, file, &lines, &mut errs);

    let mut overrides = Vec::new();
    for o in raw.overrides {
        let reason_line = lines.of(&o.reason);
        let reason = o.reason.into_inner();
        if reason.trim().is_empty() {
            err(
                &mut errs,
                reason_line,
                FileProblem::Empty {
                    field: "override reason".into(),
                },
            );
        }
        let working = o.status.into_inner() == OverrideStatus::Working;
        for d in &o.dates {
            if let Some(date) = to_date(d, "override date", &lines, file, &mut errs) {
                overrides.push(POverride {
                    date,
                    working,
                    reason: reason.clone(),
                    line: lines.of(d),
                });
            }
        }
    }

    if !errs.is_empty() {
        return Err(errs);
    }
    Ok(Parsed {
        file: file.to_owned(),
        id,
        id_line,
        name,
        extends,
        time_zone,
        working_weekdays,
        close_of_business,
        uncovered: raw
            .uncovered
            .map(|u| (lines.of(&u), u.into_inner()))
            .map(|(l, u)| (u, l)),
        statute: raw
            .statute
            .map(|s| (lines.of(&s), s.into_inner()))
            .map(|(l, s)| (s, l)),
        deemed: raw
            .deemed_received_next_working_day
            .map(Spanned::into_inner),
        years,
        rests,
        make_ups,
        overrides,
    })
}

/// Whether `text` is a year file: a TOML table with a `years_for` key.
fn is_year_file(text: &str) -> bool {
    toml::from_str::<toml::Table>(text).is_ok_and(|t| t.contains_key("years_for"))
}

/// A calendar file or a year file.
fn parse_source(text: &str, file: &str) -> Result<Source, Vec<FileError>> {
    if is_year_file(text) {
        parse_year_file(text, file).map(Source::Years)
    } else {
        parse(text, file).map(Source::Calendar)
    }
}

fn parse_year_file(text: &str, file: &str) -> Result<YearFile, Vec<FileError>> {
    let lines = LineIndex { text };
    let raw: RawYearFile = toml::from_str(text).map_err(|e| {
        let line = e.span().map(|s| lines.line(s.start));
        let mut message = e.message().trim().to_owned();
        if message.starts_with("unknown field") {
            message.push_str(
                "; a year file (years_for = \"...\") holds only years_for and [[years]] tables: \
                 the calendar's settings stay in its own file",
            );
        }
        vec![FileError::new(file, line, FileProblem::Toml(message))]
    })?;
    let mut errs = Vec::new();
    let line = lines.of(&raw.years_for);
    let years_for = raw.years_for.into_inner();
    if raw.years.is_empty() {
        errs.push(FileError::new(
            file,
            Some(line),
            FileProblem::YearFileWithoutYears(years_for.clone()),
        ));
    }
    let (years, rests, make_ups) = parse_years(raw.years, file, &lines, &mut errs);
    if !errs.is_empty() {
        return Err(errs);
    }
    Ok(YearFile {
        file: file.to_owned(),
        years_for,
        line,
        years,
        rests,
        make_ups,
    })
}

type ParsedYears = (Vec<PYear>, Vec<PRest>, Vec<PMakeUp>);

/// The `[[years]]` tables of a calendar file or a year file.
fn parse_years(
    raw_years: Vec<RawYear>,
    file: &str,
    lines: &LineIndex<'_>,
    errs: &mut Vec<FileError>,
) -> ParsedYears {
    let err = |errs: &mut Vec<FileError>, line: usize, p: FileProblem| {
        errs.push(FileError::new(file, Some(line), p));
    };
    let mut years = Vec::new();
    let mut rests = Vec::new();
    let mut make_ups = Vec::new();
    for y in raw_years {
        let line = lines.of(&y.year);
        let year = y.year.into_inner();
        if !(1900..=2999).contains(&year) {
            err(errs, line, FileProblem::BadYear(year));
        }
        let source_line = lines.of(&y.source);
        let source = y.source.into_inner();
        if source.trim().is_empty() {
            err(
                errs,
                source_line,
                FileProblem::Empty {
                    field: "source".into(),
                },
            );
        }
        let published = match y.published {
            Some(p) => {
                let l = lines.of(&p);
                let s = p.into_inner();
                if !valid_published(&s) {
                    err(errs, l, FileProblem::BadPublished(s.clone()));
                }
                Some(s)
            }
            None => None,
        };
        years.push(PYear {
            file: file.to_owned(),
            year,
            line,
            source,
            published,
        });
        for r in y.rest {
            let line = lines.of(&r.name);
            let name = r.name.into_inner();
            if name.trim().is_empty() {
                err(
                    errs,
                    line,
                    FileProblem::Empty {
                        field: "rest block name".into(),
                    },
                );
            }
            let first = to_date(&r.first, "first", lines, file, errs);
            let last = to_date(&r.last, "last", lines, file, errs);
            let in_lieu = r
                .in_lieu
                .iter()
                .filter_map(|d| to_date(d, "in_lieu", lines, file, errs).map(|x| (x, lines.of(d))))
                .collect();
            if let (Some(first), Some(last)) = (first, last) {
                rests.push(PRest {
                    file: file.to_owned(),
                    year,
                    name,
                    first,
                    last,
                    line,
                    in_lieu,
                });
            }
        }
        for m in y.make_up {
            let line = lines.of(&m.date);
            let holiday = m.holiday.into_inner();
            if let Some(date) = to_date(&m.date, "date", lines, file, errs) {
                make_ups.push(PMakeUp {
                    file: file.to_owned(),
                    year,
                    date,
                    holiday,
                    line,
                });
            }
        }
    }
    (years, rests, make_ups)
}

pub(crate) fn to_date(
    d: &Spanned<Datetime>,
    what: &str,
    lines: &LineIndex<'_>,
    file: &str,
    errs: &mut Vec<FileError>,
) -> Option<Date> {
    let v = d.get_ref();
    let converted = match (v.date, v.time, v.offset) {
        (Some(dt), None, None) => Date::new(
            i16::try_from(dt.year).unwrap_or(i16::MAX),
            i8::try_from(dt.month).unwrap_or(i8::MAX),
            i8::try_from(dt.day).unwrap_or(i8::MAX),
        )
        .ok(),
        _ => None,
    };
    if converted.is_none() {
        errs.push(FileError::new(
            file,
            Some(lines.of(d)),
            FileProblem::NotADate {
                what: what.to_owned(),
                value: v.to_string(),
            },
        ));
    }
    converted
}

fn parse_weekday(s: &str) -> Option<Weekday> {
    Some(match s {
        "mon" => Weekday::Monday,
        "tue" => Weekday::Tuesday,
        "wed" => Weekday::Wednesday,
        "thu" => Weekday::Thursday,
        "fri" => Weekday::Friday,
        "sat" => Weekday::Saturday,
        "sun" => Weekday::Sunday,
        _ => return None,
    })
}

fn parse_hhmm(s: &str) -> Option<Time> {
    let (h, m) = s.split_once(':')?;
    if h.len() != 2 || m.len() != 2 {
        return None;
    }
    Time::new(h.parse().ok()?, m.parse().ok()?, 0, 0).ok()
}

fn valid_published(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    let digits = |p: &str, n: usize| p.len() == n && p.bytes().all(|b| b.is_ascii_digit());
    match parts.as_slice() {
        [y, m] => digits(y, 4) && digits(m, 2),
        [y, m, d] => digits(y, 4) && digits(m, 2) && digits(d, 2) && s.parse::<Date>().is_ok(),
        _ => false,
    }
}

fn weekday_index(date: Date) -> usize {
    usize::from(date.weekday().to_monday_zero_offset().unsigned_abs())
}

// ---------------------------------------------------------------------------------------
// Validation and resolution.

type Statutes = BTreeMap<String, Arc<Statute>>;

/// The statute a calendar names and the policy that follows: absent `uncovered` means
/// provisional with a statute and refuse without one.
fn statute_and_policy(
    p: &Parsed,
    statutes: &Statutes,
    errs: &mut Vec<FileError>,
) -> (Option<Arc<Statute>>, UncoveredPolicy) {
    let statute = p.statute.as_ref().and_then(|(id, line)| {
        let found = statutes.get(id).cloned();
        if found.is_none() {
            errs.push(FileError::new(
                &p.file,
                Some(*line),
                FileProblem::UnknownStatute {
                    id: id.clone(),
                    known: if statutes.is_empty() {
                        "none: no statutes/*.toml loaded".to_owned()
                    } else {
                        statutes.keys().cloned().collect::<Vec<_>>().join(", ")
                    },
                },
            ));
        }
        found
    });
    let policy = match p.uncovered {
        Some((u, _)) => u,
        None if p.statute.is_some() => UncoveredPolicy::Provisional,
        None => UncoveredPolicy::Refuse,
    };
    if let (UncoveredPolicy::Provisional, None, Some((_, line))) = (policy, &p.statute, p.uncovered)
    {
        errs.push(FileError::new(
            &p.file,
            Some(line),
            FileProblem::ProvisionalNeedsStatute,
        ));
    }
    (statute, policy)
}

fn build_base(p: &Parsed, statutes: &Statutes) -> Result<Calendar, Vec<FileError>> {
    let file = p.file.as_str();
    let mut errs = Vec::new();
    // Years, rest blocks and make-up days may come from year files: each names its own.
    let err = |errs: &mut Vec<FileError>, file: &str, line: usize, prob: FileProblem| {
        errs.push(FileError::new(file, Some(line), prob));
    };
    let weekdays = p.working_weekdays.map_or(DEFAULT_WEEKDAYS, |(m, _)| m);
    let is_working_wd = |d: Date| weekdays.get(weekday_index(d)).copied().unwrap_or(false);

    let mut years: BTreeMap<i16, YearSource> = BTreeMap::new();
    let mut year_lines: BTreeMap<i64, (&str, usize)> = BTreeMap::new();
    // A year another file already defines: its blocks and days are left out rather than
    // reported again as overlaps and duplicates.
    let mut refused: BTreeSet<(&str, i64)> = BTreeSet::new();
    for y in &p.years {
        if let Some((first_file, first_line)) = year_lines.get(&y.year) {
            let prob = if *first_file == y.file {
                FileProblem::DuplicateYear {
                    year: y.year,
                    first_line: *first_line,
                }
            } else {
                refused.insert((&y.file, y.year));
                FileProblem::DefinedInTwoFiles {
                    what: format!("year {}", y.year),
                    first_file: (*first_file).to_owned(),
                    first_line: *first_line,
                }
            };
            err(&mut errs, &y.file, y.line, prob);
            continue;
        }
        year_lines.insert(y.year, (&y.file, y.line));
        if let Ok(year) = i16::try_from(y.year) {
            years.insert(
                year,
                YearSource {
                    year,
                    source: y.source.clone(),
                    published: y.published.clone(),
                    file: (y.file != p.file).then(|| y.file.clone()),
                },
            );
        }
    }
    let covered = years_summary(years.keys().copied());
    let in_covered = |d: Date| years.contains_key(&d.year());

    let mut days: BTreeMap<Date, DayKind> = BTreeMap::new();
    // Which block (index into p.rests) a date belongs to, to word contradictions.
    let mut block_of: BTreeMap<Date, usize> = BTreeMap::new();
    let kept = |file: &str, year: i64| !refused.contains(&(file, year));
    for (i, r) in p.rests.iter().enumerate() {
        if !kept(&r.file, r.year) {
            continue;
        }
        if r.last < r.first {
            err(
                &mut errs,
                &r.file,
                r.line,
                FileProblem::BlockReversed {
                    name: r.name.clone(),
                    first: r.first,
                    last: r.last,
                },
            );
            continue;
        }
        for d in [r.first, r.last] {
            if !in_covered(d) {
                err(
                    &mut errs,
                    &r.file,
                    r.line,
                    FileProblem::OutsideCoveredYears {
                        what: format!("rest block {}", r.name),
                        date: d,
                        covered: covered.clone(),
                    },
                );
            }
        }
        if let Some(other) = p
            .rests
            .iter()
            .take(i)
            .filter(|o| kept(&o.file, o.year))
            .find(|o| o.first <= o.last && o.first <= r.last && r.first <= o.last)
        {
            err(
                &mut errs,
                &r.file,
                r.line,
                FileProblem::Overlap {
                    name: r.name.clone(),
                    first: r.first,
                    last: r.last,
                    other: other.name.clone(),
                    other_first: other.first,
                    other_last: other.last,
                },
            );
            continue;
        }
        let mut seen_lieu: BTreeMap<Date, usize> = BTreeMap::new();
        for (d, line) in &r.in_lieu {
            if let Some(first_line) = seen_lieu.insert(*d, *line) {
                err(
                    &mut errs,
                    &r.file,
                    *line,
                    FileProblem::DuplicateDate {
                        what: "in-lieu rest day".into(),
                        date: *d,
                        first_line,
                    },
                );
            } else if *d < r.first || *d > r.last {
                err(
                    &mut errs,
                    &r.file,
                    *line,
                    FileProblem::InLieuOutsideBlock {
                        date: *d,
                        name: r.name.clone(),
                        first: r.first,
                        last: r.last,
                    },
                );
            } else if !is_working_wd(*d) {
                err(
                    &mut errs,
                    &r.file,
                    *line,
                    FileProblem::InLieuNotWorkingWeekday {
                        date: *d,
                        weekday: weekday_name(d.weekday()).into(),
                    },
                );
            }
        }
        let mut d = r.first;
        loop {
            let kind = if seen_lieu.contains_key(&d) {
                DayKind::InLieuRest {
                    holiday: r.name.clone(),
                }
            } else {
                DayKind::Holiday {
                    name: r.name.clone(),
                }
            };
            days.insert(d, kind);
            block_of.insert(d, i);
            if d >= r.last {
                break;
            }
            match d.tomorrow() {
                Ok(n) => d = n,
                Err(_) => break,
            }
        }
    }

    let mut make_up_lines: BTreeMap<Date, (&str, usize)> = BTreeMap::new();
    for m in p.make_ups.iter().filter(|m| kept(&m.file, m.year)) {
        if let Some((first_file, first_line)) = make_up_lines.get(&m.date) {
            let prob = if *first_file == m.file {
                FileProblem::DuplicateDate {
                    what: "make-up working day".into(),
                    date: m.date,
                    first_line: *first_line,
                }
            } else {
                FileProblem::DefinedInTwoFiles {
                    what: format!("make-up working day {}", m.date),
                    first_file: (*first_file).to_owned(),
                    first_line: *first_line,
                }
            };
            err(&mut errs, &m.file, m.line, prob);
            continue;
        }
        make_up_lines.insert(m.date, (&m.file, m.line));
        if !in_covered(m.date) {
            err(
                &mut errs,
                &m.file,
                m.line,
                FileProblem::OutsideCoveredYears {
                    what: "make-up working day".into(),
                    date: m.date,
                    covered: covered.clone(),
                },
            );
        }
        let year_blocks: Vec<&PRest> = p.rests.iter().filter(|r| r.year == m.year).collect();
        if !year_blocks.iter().any(|r| r.name == m.holiday) {
            err(
                &mut errs,
                &m.file,
                m.line,
                FileProblem::UnknownHoliday {
                    date: m.date,
                    holiday: m.holiday.clone(),
                    year: m.year,
                    known: year_blocks
                        .iter()
                        .map(|r| r.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", "),
                },
            );
        }
        if let Some(b) = block_of.get(&m.date).and_then(|i| p.rests.get(*i)) {
            err(
                &mut errs,
                &m.file,
                m.line,
                FileProblem::RestAndMakeUp {
                    date: m.date,
                    holiday: m.holiday.clone(),
                    block: b.name.clone(),
                    first: b.first,
                    last: b.last,
                },
            );
            continue;
        }
        // A make-up day on a day already worked would make the schedule say nothing, which
        // is almost always a typo in the date: refuse it rather than warn.
        if is_working_wd(m.date) {
            err(
                &mut errs,
                &m.file,
                m.line,
                FileProblem::MakeUpOnWorkingWeekday {
                    date: m.date,
                    weekday: weekday_name(m.date.weekday()).into(),
                },
            );
            continue;
        }
        days.insert(
            m.date,
            DayKind::MakeUpWorkday {
                holiday: m.holiday.clone(),
            },
        );
    }

    let (tz_name, tz) = match &p.time_zone {
        Some((n, z)) => (n.clone(), z.clone()),
        None => match TimeZone::get(DEFAULT_TIME_ZONE) {
            Ok(z) => (DEFAULT_TIME_ZONE.to_owned(), z),
            Err(e) => {
                errs.push(FileError::new(
                    file,
                    None,
                    FileProblem::BadTimeZone {
                        name: DEFAULT_TIME_ZONE.into(),
                        reason: e.to_string(),
                    },
                ));
                (DEFAULT_TIME_ZONE.to_owned(), TimeZone::UTC)
            }
        },
    };

    let (statute, uncovered) = statute_and_policy(p, statutes, &mut errs);
    let mut cal = Calendar {
        id: p.id.clone(),
        name: p.name.clone(),
        extends: None,
        source_file: p.file.clone(),
        tz_name,
        tz,
        working_weekdays: weekdays,
        close_of_business: p.close_of_business,
        uncovered,
        statute,
        deemed_received_next_working_day: p.deemed.unwrap_or(false),
        years,
        days,
    };
    apply_overrides(&mut cal, p, &mut errs);
    if errs.is_empty() { Ok(cal) } else { Err(errs) }
}

fn apply_overrides(cal: &mut Calendar, p: &Parsed, errs: &mut Vec<FileError>) {
    let covered = cal.covered_summary();
    let mut seen: BTreeMap<Date, usize> = BTreeMap::new();
    for o in &p.overrides {
        let e = |prob| FileError::new(&p.file, Some(o.line), prob);
        if let Some(first_line) = seen.insert(o.date, o.line) {
            errs.push(e(FileProblem::DuplicateDate {
                what: "override".into(),
                date: o.date,
                first_line,
            }));
            continue;
        }
        if !cal.covers(o.date.year()) {
            errs.push(e(FileProblem::OutsideCoveredYears {
                what: "override".into(),
                date: o.date,
                covered: covered.clone(),
            }));
            continue;
        }
        let current = cal.covered_kind(o.date);
        if current.is_working() == o.working {
            errs.push(e(FileProblem::OverrideNoEffect {
                date: o.date,
                status: if o.working { "working" } else { "rest" }.into(),
                current: current.describe(),
            }));
            continue;
        }
        cal.days.insert(
            o.date,
            DayKind::Override {
                working: o.working,
                reason: o.reason.clone(),
                replaces: Box::new(current),
            },
        );
    }
}

fn build_variant(p: &Parsed, parent: &Calendar) -> Result<Calendar, Vec<FileError>> {
    let mut errs = Vec::new();
    let line = p.extends.as_ref().map(|(_, l)| *l);
    let refuse = |errs: &mut Vec<FileError>, field: &str| {
        errs.push(FileError::new(
            &p.file,
            line,
            FileProblem::VariantCannotSet {
                field: field.to_owned(),
                parent: parent.id.clone(),
            },
        ));
    };
    if !p.years.is_empty() {
        refuse(&mut errs, "[[years]]");
    }
    if let Some((_, l)) = p.working_weekdays {
        errs.push(FileError::new(
            &p.file,
            Some(l),
            FileProblem::VariantCannotSet {
                field: "working_weekdays".into(),
                parent: parent.id.clone(),
            },
        ));
    }
    let mut cal = parent.clone();
    cal.id = p.id.clone();
    cal.name = p.name.clone();
    cal.extends = Some(parent.id.clone());
    cal.source_file = p.file.clone();
    if let Some((n, z)) = &p.time_zone {
        cal.tz_name = n.clone();
        cal.tz = z.clone();
    }
    if p.close_of_business.is_some() {
        cal.close_of_business = p.close_of_business;
    }
    if let Some((_, l)) = p.statute {
        errs.push(FileError::new(
            &p.file,
            Some(l),
            FileProblem::VariantCannotSet {
                field: "statute".into(),
                parent: parent.id.clone(),
            },
        ));
    }
    if let Some((u, l)) = p.uncovered {
        if u == UncoveredPolicy::Provisional && cal.statute.is_none() {
            errs.push(FileError::new(
                &p.file,
                Some(l),
                FileProblem::ProvisionalNeedsStatute,
            ));
        }
        cal.uncovered = u;
    }
    if let Some(d) = p.deemed {
        cal.deemed_received_next_working_day = d;
    }
    apply_overrides(&mut cal, p, &mut errs);
    if errs.is_empty() { Ok(cal) } else { Err(errs) }
}

impl Calendar {
    /// Parse and validate one calendar file that does not `extends` another.
    /// `source_name` is used in error messages (give the path as the user knows it).
    /// A year file (`years_for = "..."`) is refused: it needs the folder it belongs to.
    pub fn from_toml_str(text: &str, source_name: &str) -> Result<Calendar, LoadError> {
        let p = match parse_source(text, source_name).map_err(|errors| LoadError { errors })? {
            Source::Calendar(p) => p,
            Source::Years(y) => {
                return Err(LoadError {
                    errors: vec![FileError::new(
                        source_name,
                        Some(y.line),
                        FileProblem::YearFileNeedsCalendar(y.years_for),
                    )],
                });
            }
        };
        if let Some((parent, line)) = &p.extends {
            return Err(LoadError {
                errors: vec![FileError::new(
                    source_name,
                    Some(*line),
                    FileProblem::VariantNeedsParent(parent.clone()),
                )],
            });
        }
        build_base(&p, &Statutes::new()).map_err(|errors| LoadError { errors })
    }
}

/// A set of calendars by id, variants resolved. Immutable once loaded, and cheap to clone
/// (the calendars are shared): a decision's rules hold a clone of the set in force for as long
/// as they run.
#[derive(Debug, Clone, Default)]
pub struct CalendarSet {
    calendars: Arc<BTreeMap<String, Calendar>>,
}

impl CalendarSet {
    /// Load every `*.toml` file of `dir` (not recursive; other files such as README.md are
    /// ignored), add the years of year files (`years_for = "<id>"`) to their calendars,
    /// resolve `extends` and validate. Files are read in name order so that error
    /// lists are stable. This is the crate's only I/O.
    pub fn load_dir(dir: impl AsRef<Path>) -> Result<CalendarSet, LoadError> {
        let dir = dir.as_ref();
        let shown = dir.display().to_string();
        let io = |e: std::io::Error| LoadError {
            errors: vec![FileError::new(&shown, None, FileProblem::Io(e.to_string()))],
        };
        let mut paths = Vec::new();
        for entry in std::fs::read_dir(dir).map_err(io)? {
            let path = entry.map_err(io)?.path();
            if path.extension().is_some_and(|e| e == "toml") && path.is_file() {
                paths.push(path);
            }
        }
        paths.sort();
        if paths.is_empty() {
            return Err(LoadError {
                errors: vec![FileError::new(&shown, None, FileProblem::NoCalendarFiles)],
            });
        }
        let mut errors = Vec::new();
        let statute_dir = dir.join("statutes");
        let mut statute_sources = Vec::new();
        // No statutes/ folder simply means no statutes; calendars naming one then fail.
        if statute_dir.is_dir() {
            let sio = |e: std::io::Error| {
                FileError::new(
                    &statute_dir.display().to_string(),
                    None,
                    FileProblem::Io(e.to_string()),
                )
            };
            match std::fs::read_dir(&statute_dir) {
                Ok(entries) => {
                    let mut spaths = Vec::new();
                    for entry in entries {
                        match entry {
                            Ok(e) => {
                                let path = e.path();
                                if path.extension().is_some_and(|x| x == "toml") && path.is_file() {
                                    spaths.push(path);
                                }
                            }
                            Err(e) => errors.push(sio(e)),
                        }
                    }
                    spaths.sort();
                    for path in spaths {
                        let name = path.display().to_string();
                        match std::fs::read_to_string(&path) {
                            Ok(text) => statute_sources.push((name, text)),
                            Err(e) => errors.push(FileError::new(
                                &name,
                                None,
                                FileProblem::Io(e.to_string()),
                            )),
                        }
                    }
                }
                Err(e) => errors.push(sio(e)),
            }
        }
        let mut sources = Vec::new();
        for path in paths {
            let name = path.display().to_string();
            match std::fs::read_to_string(&path) {
                Ok(text) => sources.push((name, text)),
                Err(e) => errors.push(FileError::new(&name, None, FileProblem::Io(e.to_string()))),
            }
        }
        match CalendarSet::from_sources_with_statutes(statute_sources, sources) {
            Ok(set) if errors.is_empty() => Ok(set),
            Ok(_) => Err(LoadError { errors }),
            Err(mut e) => {
                errors.append(&mut e.errors);
                Err(LoadError { errors })
            }
        }
    }

    /// Like [`Self::load_dir`] on in-memory `(source name, TOML text)` pairs, without
    /// statutes.
    pub fn from_sources<N, T>(
        sources: impl IntoIterator<Item = (N, T)>,
    ) -> Result<CalendarSet, LoadError>
    where
        N: AsRef<str>,
        T: AsRef<str>,
    {
        CalendarSet::from_sources_with_statutes(Vec::<(&str, &str)>::new(), sources)
    }

    /// Like [`Self::load_dir`] on in-memory `(source name, TOML text)` pairs: first the
    /// statute files, then the calendar files.
    pub fn from_sources_with_statutes<SN, ST, N, T>(
        statute_sources: impl IntoIterator<Item = (SN, ST)>,
        sources: impl IntoIterator<Item = (N, T)>,
    ) -> Result<CalendarSet, LoadError>
    where
        SN: AsRef<str>,
        ST: AsRef<str>,
        N: AsRef<str>,
        T: AsRef<str>,
    {
        let mut errors = Vec::new();
        let mut statutes = Statutes::new();
        let mut statute_files: BTreeMap<String, String> = BTreeMap::new();
        for (name, text) in statute_sources {
            match Statute::from_toml_str(text.as_ref(), name.as_ref()) {
                Ok(st) => {
                    if let Some(other) = statute_files.get(st.id()) {
                        errors.push(FileError::new(
                            name.as_ref(),
                            None,
                            FileProblem::DuplicateId {
                                id: st.id().to_owned(),
                                other_file: other.clone(),
                            },
                        ));
                    } else {
                        statute_files.insert(st.id().to_owned(), name.as_ref().to_owned());
                        statutes.insert(st.id().to_owned(), Arc::new(st));
                    }
                }
                Err(mut e) => errors.append(&mut e),
            }
        }
        let mut parsed: BTreeMap<String, Parsed> = BTreeMap::new();
        let mut order: Vec<String> = Vec::new();
        let mut year_files: Vec<YearFile> = Vec::new();
        // A calendar file that does not parse has no id: its year files then say nothing.
        let mut calendar_unreadable = false;
        for (name, text) in sources {
            match parse_source(text.as_ref(), name.as_ref()) {
                Ok(Source::Years(y)) => year_files.push(y),
                Ok(Source::Calendar(p)) => {
                    if let Some(other) = parsed.get(&p.id) {
                        errors.push(FileError::new(
                            &p.file,
                            Some(p.id_line),
                            FileProblem::DuplicateId {
                                id: p.id.clone(),
                                other_file: other.file.clone(),
                            },
                        ));
                    } else {
                        order.push(p.id.clone());
                        parsed.insert(p.id.clone(), p);
                    }
                }
                Err(mut e) => {
                    calendar_unreadable |= !is_year_file(text.as_ref());
                    errors.append(&mut e);
                }
            }
        }
        for y in year_files {
            merge_year_file(y, &mut parsed, calendar_unreadable, &mut errors);
        }

        let mut done: BTreeMap<String, Option<Calendar>> = BTreeMap::new();
        for id in &order {
            resolve(
                id,
                &parsed,
                &statutes,
                &mut done,
                &mut Vec::new(),
                &mut errors,
            );
        }
        if !errors.is_empty() {
            return Err(LoadError { errors });
        }
        Ok(CalendarSet {
            calendars: Arc::new(
                done.into_iter()
                    .filter_map(|(id, c)| c.map(|c| (id, c)))
                    .collect(),
            ),
        })
    }

    /// The calendar with this id.
    pub fn get(&self, id: &str) -> Option<&Calendar> {
        self.calendars.get(id)
    }

    /// All ids, sorted.
    pub fn ids(&self) -> impl Iterator<Item = &str> {
        self.calendars.keys().map(String::as_str)
    }

    /// All calendars, by id.
    pub fn iter(&self) -> impl Iterator<Item = &Calendar> {
        self.calendars.values()
    }

    /// Number of calendars.
    pub fn len(&self) -> usize {
        self.calendars.len()
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.calendars.is_empty()
    }

    /// One line per calendar whose published schedules end within `within_days` of `today`.
    /// The State Council publishes the next year's schedule around November; until someone
    /// adds it, every deadline that runs into that year is provisional (computed from the
    /// statute, without the schedule's make-up days) or, without a statute, fails closed,
    /// so operators need to hear about it before it happens.
    pub fn horizon_warnings(&self, today: Date, within_days: i32) -> Vec<String> {
        self.iter()
            .filter_map(|calendar| {
                let until = calendar.covered_until()?;
                let left = today.until(until).ok()?.get_days();
                (left <= within_days).then(|| {
                    format!(
                        "calendar `{}` has published schedules up to {until} ({left} days from {today}); {} until the next year's schedule is added (a year file beside {}, see `redress calendar import-notice`)",
                        calendar.id(),
                        match (calendar.uncovered_policy(), calendar.statute()) {
                            (UncoveredPolicy::Provisional, Some(_)) => "deadlines running past it are provisional (weekends and statutory holidays only, no make-up days) and will be recomputed",
                            _ => "deadlines running past it cannot be computed and their cases go to manual handling",
                        },
                        calendar.source_file(),
                    )
                })
            })
            .collect()
    }
}

/// Add a year file's years to the calendar it names, which must be a base calendar of the
/// same folder. Duplicate years, overlaps and the rest are checked with the calendar's own
/// years when it is built.
fn merge_year_file(
    y: YearFile,
    parsed: &mut BTreeMap<String, Parsed>,
    calendar_unreadable: bool,
    errors: &mut Vec<FileError>,
) {
    let known = parsed.keys().cloned().collect::<Vec<_>>().join(", ");
    let Some(p) = parsed.get_mut(&y.years_for) else {
        if !calendar_unreadable {
            errors.push(FileError::new(
                &y.file,
                Some(y.line),
                FileProblem::UnknownYearsFor {
                    id: y.years_for,
                    known,
                },
            ));
        }
        return;
    };
    if let Some((parent, _)) = &p.extends {
        errors.push(FileError::new(
            &y.file,
            Some(y.line),
            FileProblem::YearsForVariant {
                id: y.years_for,
                parent: parent.clone(),
            },
        ));
        return;
    }
    p.years.extend(y.years);
    p.rests.extend(y.rests);
    p.make_ups.extend(y.make_ups);
}

/// Resolve `id` (and its ancestors first). `None` in `done` marks a calendar that failed,
/// so its variants report "parent has errors" once instead of repeating the parent's.
fn resolve(
    id: &str,
    parsed: &BTreeMap<String, Parsed>,
    statutes: &Statutes,
    done: &mut BTreeMap<String, Option<Calendar>>,
    stack: &mut Vec<String>,
    errors: &mut Vec<FileError>,
) -> Option<Calendar> {
    if let Some(c) = done.get(id) {
        return c.clone();
    }
    let p = parsed.get(id)?;
    let result = match &p.extends {
        None => build_base(p, statutes),
        Some((parent_id, line)) => {
            let fail = |prob| Err(vec![FileError::new(&p.file, Some(*line), prob)]);
            if stack.iter().any(|s| s == parent_id) || parent_id == id {
                let mut chain: Vec<String> = stack.clone();
                chain.push(id.to_owned());
                chain.push(parent_id.clone());
                fail(FileProblem::Cycle(chain.join(" -> ")))
            } else if !parsed.contains_key(parent_id) {
                fail(FileProblem::UnknownParent {
                    parent: parent_id.clone(),
                    known: parsed.keys().cloned().collect::<Vec<_>>().join(", "),
                })
            } else {
                stack.push(id.to_owned());
                let parent = resolve(parent_id, parsed, statutes, done, stack, errors);
                stack.pop();
                match parent {
                    Some(parent) => build_variant(p, &parent),
                    None => fail(FileProblem::ParentInvalid(parent_id.clone())),
                }
            }
        }
    };
    let cal = match result {
        Ok(c) => Some(c),
        Err(mut e) => {
            errors.append(&mut e);
            None
        }
    };
    done.insert(id.to_owned(), cal.clone());
    cal
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn published_formats() {
        assert!(valid_published("2025-11"));
        assert!(valid_published("2025-11-04"));
        assert!(!valid_published("2025-13-40"));
        assert!(!valid_published("Nov 2025"));
    }

    #[test]
    fn hhmm() {
        assert_eq!(parse_hhmm("17:30"), Some(Time::constant(17, 30, 0, 0)));
        assert_eq!(parse_hhmm("25:00"), None);
        assert_eq!(parse_hhmm("5:30"), None);
    }

    #[test]
    fn default_set_is_empty() {
        assert!(CalendarSet::default().is_empty());
    }
}

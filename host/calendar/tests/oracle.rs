//! Compares the shipped calendars and the deadline arithmetic with the independent Python
//! oracle (`scripts/oracle/calendar_oracle.py`, built on the PyPI packages chinesecalendar
//! and holidays), and the statutory holidays with `scripts/oracle/statute_oracle.py`
//! (built on the PyPI package cnlunar, independent of tyme4rs). Regenerate the fixtures with
//! those scripts; `--check` tells if they are stale.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;

use jiff::Timestamp;
use jiff::civil::{Date, Weekday};
use redress_calendar::{CalendarError, CalendarSet, DeadlineOptions, Pause, Period, deadline};
use serde::Deserialize;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn fixture(name: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn shipped() -> CalendarSet {
    CalendarSet::load_dir(root().join("rulesets/calendars")).unwrap()
}

#[derive(Deserialize)]
struct Workdays {
    first: Date,
    last: Date,
    days: Vec<DayRow>,
}

#[derive(Deserialize)]
struct DayRow {
    date: Date,
    working: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Vector {
    id: String,
    note: String,
    calendar: String,
    start: Timestamp,
    period: Period,
    #[serde(default)]
    deemed_received_next_working_day: bool,
    #[serde(default)]
    pauses: Vec<Pause>,
    expect: Expect,
}

#[derive(Deserialize, Debug, PartialEq)]
#[serde(rename_all = "snake_case")]
enum Expect {
    DueDate(Date),
    NotCovered(Date),
}

#[test]
fn every_day_matches_the_oracle() {
    let set = shipped();
    let cn = set.get("cn-mainland").unwrap();
    let fin = set.get("cn-financial").unwrap();
    let w: Workdays = serde_json::from_str(&fixture("workdays_2024_2026.json")).unwrap();
    assert_eq!(w.days.len(), 1096);
    assert_eq!(w.days.first().map(|d| d.date), Some(w.first));
    assert_eq!(w.days.last().map(|d| d.date), Some(w.last));
    let mut mismatches = Vec::new();
    for row in &w.days {
        let ours = cn.is_working_day(row.date).unwrap();
        if ours != row.working {
            mismatches.push(format!(
                "{} cn-mainland: ours {ours}, oracle {}",
                row.date, row.working
            ));
        }
        let weekend = matches!(row.date.weekday(), Weekday::Saturday | Weekday::Sunday);
        let fin_oracle = row.working && !weekend;
        let fin_ours = fin.is_working_day(row.date).unwrap();
        if fin_ours != fin_oracle {
            mismatches.push(format!(
                "{} cn-financial: ours {fin_ours}, oracle {fin_oracle}",
                row.date
            ));
        }
    }
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
    for year in [2025, 2026] {
        let n = w
            .days
            .iter()
            .filter(|d| d.date.year() == year && d.working)
            .count();
        assert_eq!(n, 248, "oracle working days in {year}");
    }
}

#[test]
fn every_vector_matches_the_oracle() {
    let set = shipped();
    let vectors: Vec<Vector> = serde_json::from_str(&fixture("deadline_vectors.json")).unwrap();
    assert!(vectors.len() >= 300, "only {} vectors", vectors.len());
    let mut failures = Vec::new();
    for v in &vectors {
        let cal = set.get(&v.calendar).unwrap();
        let opts = DeadlineOptions {
            pauses: v.pauses.clone(),
            deemed_received_next_working_day: Some(v.deemed_received_next_working_day),
            ..DeadlineOptions::default()
        };
        let got = match deadline(cal, v.start, &v.period, &opts) {
            Ok(d) => {
                // The breach instant is 00:00 local after the due date.
                let due = d.due_date.unwrap();
                let breach = due
                    .tomorrow()
                    .unwrap()
                    .in_tz("Asia/Shanghai")
                    .unwrap()
                    .timestamp();
                assert_eq!(d.due_at, Some(breach), "{}", v.id);
                // The oracle models `refuse`: a provisional result must have been provisional
                // from the very day the oracle says the schedule ran out.
                match d.explanation.provisional_days.first() {
                    Some(first) => Expect::NotCovered(*first),
                    None => Expect::DueDate(due),
                }
            }
            Err(CalendarError::NotCovered { date, .. }) => Expect::NotCovered(date),
            Err(e) => panic!("{} ({}): {e}", v.id, v.note),
        };
        if got != v.expect {
            failures.push(format!(
                "{} ({}): {} + {:?} on {}: ours {:?}, oracle {:?}",
                v.id, v.note, v.start, v.period, v.calendar, got, v.expect
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} vectors differ:\n{}",
        failures.len(),
        vectors.len(),
        failures.join("\n")
    );
    eprintln!("{} oracle vectors match", vectors.len());
}

#[test]
fn a_year_without_data_fails_clearly() {
    // cn-mainland as shipped, but refusing uncovered years.
    let text = std::fs::read_to_string(root().join("rulesets/calendars/cn-mainland.toml"))
        .unwrap()
        .replace("statute = \"cn-national-holidays\"", "")
        .replace("uncovered = \"provisional\"", "uncovered = \"refuse\"");
    let set = CalendarSet::from_sources([("cn-mainland.toml", text)]).unwrap();
    let cn = set.get("cn-mainland").unwrap();
    let err = cn.day("2027-03-01".parse().unwrap()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "calendar cn-mainland has no official holiday schedule for 2027-03-01 (it covers 2024–2026 only); \
         working days in a year without a published State Council schedule are never guessed: \
         add that year to the calendar file, or name a statute and use uncovered = \"provisional\""
    );
    let start: Timestamp = "2027-02-01T09:00:00+08:00".parse().unwrap();
    let err = deadline(
        cn,
        start,
        &Period::working_days(7),
        &DeadlineOptions::default(),
    )
    .unwrap_err();
    assert!(matches!(err, CalendarError::NotCovered { .. }), "{err}");
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StatutoryFixture {
    source: String,
    first_year: i16,
    last_year: i16,
    days: Vec<StatutoryRow>,
}

#[derive(Deserialize, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
struct StatutoryRow {
    date: Date,
    holiday: String,
}

#[test]
fn every_statutory_day_matches_the_oracle() {
    let fx: StatutoryFixture =
        serde_json::from_str(&fixture("statutory_days_2014_2100.json")).unwrap();
    let set = shipped();
    let statute = set.get("cn-mainland").unwrap().statute().unwrap();
    let mut compared = 0usize;
    for year in fx.first_year..=fx.last_year {
        let ours: Vec<StatutoryRow> = statute
            .holidays(year)
            .unwrap_or_else(|e| panic!("{year}: {e}"))
            .into_iter()
            .map(|d| StatutoryRow {
                date: d.date,
                holiday: d.holiday,
            })
            .collect();
        let theirs: Vec<&StatutoryRow> = fx.days.iter().filter(|d| d.date.year() == year).collect();
        let first_difference =
            (0..ours.len().max(theirs.len())).find(|i| ours.get(*i) != theirs.get(*i).copied());
        if let Some(i) = first_difference {
            panic!(
                "{year}: first differing statutory day: ours {:?}, oracle ({}) {:?}",
                ours.get(i),
                fx.source,
                theirs.get(i)
            );
        }
        compared += ours.len();
    }
    assert_eq!(compared, fx.days.len());
    // Beyond the oracle's last year the statute refuses rather than computes unchecked.
    assert!(statute.holidays(fx.last_year + 1).is_err());
    assert!(statute.holidays(fx.first_year - 1).is_err());
    eprintln!(
        "{} statutory days of {} years match the oracle",
        compared,
        fx.last_year - fx.first_year + 1
    );
}

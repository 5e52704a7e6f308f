//! The statute: known statutory days, agreement with the published schedules, provisional
//! years in deadlines, validation of statute files and of the calendar keys that use them.

use super::{cn, date, shipped};
use crate::{CalendarError, Statute};

fn statute() -> &'static Statute {
    cn().statute().unwrap()
}

/// `(date, holiday)` of every statutory day of `year`, as `"MM-DD name"`.
fn days_of(year: i16) -> Vec<String> {
    statute()
        .holidays(year)
        .unwrap()
        .iter()
        .map(|d| format!("{} {}", d.date.strftime("%m-%d"), d.holiday))
        .collect()
}

#[test]
fn known_statutory_days() {
    let cases: &[(i16, &[&str])] = &[
        // 2024 amendment: 除夕 (2027-02-05; lunar new year 2027-02-06) to 初三, 5-01/02.
        (
            2027,
            &[
                "01-01 元旦",
                "02-05 春节",
                "02-06 春节",
                "02-07 春节",
                "02-08 春节",
                "04-05 清明节",
                "05-01 劳动节",
                "05-02 劳动节",
                "06-09 端午节",
                "09-15 中秋节",
                "10-01 国庆节",
                "10-02 国庆节",
                "10-03 国庆节",
            ],
        ),
        // 2013 version: 初一 to 初三 only (lunar new year 2020-01-25), 5-01 only; 中秋 on
        // 10-01 shares the day with 国庆.
        (
            2020,
            &[
                "01-01 元旦",
                "01-25 春节",
                "01-26 春节",
                "01-27 春节",
                "04-04 清明节",
                "05-01 劳动节",
                "06-25 端午节",
                "10-01 中秋节、国庆节",
                "10-02 国庆节",
                "10-03 国庆节",
            ],
        ),
    ];
    for (year, want) in cases {
        assert_eq!(days_of(*year), *want, "{year}");
    }
}

#[test]
fn lunar_new_year_2027_per_tyme4rs() {
    let s = tyme4rs::tyme::lunar::LunarDay::new(2027, 1, 1)
        .unwrap()
        .get_solar_day();
    assert_eq!((s.get_year(), s.get_month(), s.get_day()), (2027, 2, 6));
}

#[test]
fn outside_the_statute_is_refused() {
    for year in [2013, 2101] {
        let e = statute().holidays(year).unwrap_err();
        assert!(
            matches!(e, CalendarError::NoStatuteVersion { year: y, .. } if y == year),
            "{e}"
        );
        assert!(e.to_string().contains(&year.to_string()), "{e}");
        assert!(statute().is_statutory(date(&format!("{year}-01-01"))).is_err());
    }
    assert!(statute().holidays(2014).is_ok());
    assert!(statute().holidays(2100).is_ok());
}

#[test]
fn every_statutory_day_is_a_rest_day_in_the_published_schedule() {
    for year in 2024..=2026 {
        let days = statute().holidays(year).unwrap();
        assert!(days.len() >= 10, "{year}");
        for s in days {
            let d = cn().day(s.date).unwrap();
            assert!(!d.provisional);
            assert!(
                !d.is_working(),
                "{} ({}) is a working day in cn-mainland: {}",
                s.date,
                s.holiday,
                d.kind.describe()
            );
        }
    }
    assert!(shipped().get("cn-financial").unwrap().statute().is_some());
}

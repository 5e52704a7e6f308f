//! `add_working_days` and `add_calendar_days`: the date-only counts rules ask for, which must
//! be exactly the due dates the clocks compute.

use jiff::civil::Date;
use jiff::tz::TimeZone;

use super::{cn, cn_refusing, date, fin};
use crate::{
    CalendarError, DeadlineOptions, MAX_DAYS, Period, add_calendar_days, add_working_days, deadline,
};

#[test]
fn table_of_counts_on_real_holidays() {
    #[rustfmt::skip]
    let cases: &[(&str, &str, u32, Option<bool>, &str)] = &[
        // (why, start, n, None = working days / Some(roll_forward) = calendar days, expected)
        ("regulations.md §1 worked example", "2026-02-13", 7, None, "2026-03-02"),
        ("National Day 2026: receipt on the eve", "2026-09-30", 7, None, "2026-10-15"),
        ("the next working day after National Day 2026", "2026-09-30", 1, None, "2026-10-08"),
        ("make-up Saturday 2026-10-10 counts", "2026-10-09", 1, None, "2026-10-10"),
        ("n = 0 on a working day is the day itself", "2026-02-13", 0, None, "2026-02-13"),
        ("n = 0 on a holiday is the next working day", "2026-10-01", 0, None, "2026-10-08"),
        ("民法典 art. 203: last day 2026-10-01 rolls to 2026-10-08", "2026-09-01", 30, Some(true), "2026-10-08"),
        ("without roll-forward the last day stays", "2026-09-01", 30, Some(false), "2026-10-01"),
        ("National Day 2025 ends 10-08: rolls to Thu 10-09", "2025-09-01", 30, Some(true), "2025-10-09"),
        ("Spring Festival 2025 (01-28..02-04) rolls to 02-05", "2025-01-01", 30, Some(true), "2025-02-05"),
        ("a working last day is not moved", "2025-09-01", 29, Some(true), "2025-09-30"),
        ("make-up Sunday 2025-09-28 is a working last day", "2025-09-01", 27, Some(true), "2025-09-28"),
        ("an ordinary Saturday rolls to Monday", "2026-03-01", 6, Some(true), "2026-03-09"),
        ("three years to the day (1096 days: 2024 is a leap year)", "2023-05-01", 1096, Some(true), "2026-05-06"),
        ("n = 0 calendar days rolled: a holiday moves", "2026-10-01", 0, Some(true), "2026-10-08"),
    ];
    for (why, start, n, roll, expected) in cases {
        let got = match roll {
            None => add_working_days(cn(), date(start), *n),
            Some(roll_forward) => add_calendar_days(cn(), date(start), *n, *roll_forward),
        }
        .unwrap_or_else(|e| panic!("{why}: {e}"));
        assert_eq!(got.date, date(expected), "{why}");
        assert!(!got.is_provisional(), "{why}: {got:?}");
    }
}

/// The count a rule gets is the due date of the same period as a clock computes it, for
/// every start date of the covered years, on both shipped calendars.
#[test]
fn counts_equal_the_clocks_due_dates() {
    let tz = TimeZone::get("Asia/Shanghai").unwrap();
    let no_deemed = DeadlineOptions {
        deemed_received_next_working_day: Some(false),
        ..DeadlineOptions::default()
    };
    for cal in [cn(), fin()] {
        let mut start = date("2024-01-01");
        while start < date("2026-10-01") {
            let at = start
                .at(15, 30, 0, 0)
                .to_zoned(tz.clone())
                .unwrap()
                .timestamp();
            for n in [0, 1, 3, 7, 15, 30, 60] {
                for (period, counted) in [
                    (Period::working_days(n), add_working_days(cal, start, n)),
                    (
                        Period::calendar_days(n),
                        add_calendar_days(cal, start, n, true),
                    ),
                    (
                        Period::calendar_days_exact(n),
                        add_calendar_days(cal, start, n, false),
                    ),
                ] {
                    let clock = deadline(cal, at, &period, &no_deemed).unwrap();
                    let counted = counted.unwrap();
                    assert_eq!(
                        Some(counted.date),
                        clock.due_date,
                        "{} {start} {period:?}",
                        cal.id()
                    );
                    assert_eq!(counted.provisional_years, clock.provisional_years);
                }
            }
            start = start.tomorrow().unwrap();
        }
    }
}

#[test]
fn uncovered_years_are_marked_or_refused_never_guessed() {
    // Into 2027, which has no published schedule: computed from the statute and marked.
    let counted = add_working_days(cn(), date("2026-12-28"), 5).unwrap();
    assert_eq!(counted.provisional_years, vec![2027]);
    assert!(counted.is_provisional());
    // 2027-01-01 is a statutory holiday; Sat 01-02 and Sun 01-03 rest.
    assert_eq!(counted.date, date("2027-01-05"));
    // A calendar-day count without roll-forward classifies no day at all.
    let counted = add_calendar_days(cn(), date("2026-12-29"), 31, false).unwrap();
    assert_eq!(counted.date, date("2027-01-29"));
    assert!(!counted.is_provisional());
    // With roll-forward only the last day (and the days after it) decide.
    let counted = add_calendar_days(cn(), date("2026-12-02"), 30, true).unwrap();
    assert_eq!(counted.date, date("2027-01-04"));
    assert_eq!(counted.provisional_years, vec![2027]);
    // A calendar that refuses uncovered years refuses.
    let error = add_working_days(&cn_refusing(), date("2026-12-28"), 5).unwrap_err();
    assert!(matches!(error, CalendarError::NotCovered { .. }), "{error}");
}

#[test]
fn counts_are_bounded() {
    let error = add_working_days(cn(), date("2026-01-01"), MAX_DAYS + 1).unwrap_err();
    assert!(
        matches!(error, CalendarError::PeriodTooLong { .. }),
        "{error}"
    );
    let error = add_calendar_days(cn(), date("2026-01-01"), MAX_DAYS + 1, false).unwrap_err();
    assert!(
        matches!(error, CalendarError::PeriodTooLong { .. }),
        "{error}"
    );
    // The end of representable dates is an error, not a panic.
    let error = add_calendar_days(cn(), Date::MAX, 1, false).unwrap_err();
    assert!(matches!(error, CalendarError::OutOfRange(_)), "{error}");
    // The work done is reported, for callers that charge for it.
    let counted = add_working_days(cn(), date("2026-09-30"), 1).unwrap();
    assert_eq!(counted.days_examined, 9, "{counted:?}");
}

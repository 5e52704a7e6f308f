//! Property tests over the shipped calendars (2024–2026).

use jiff::civil::Date;
use jiff::{SignedDuration, Timestamp};
use proptest::prelude::*;

use super::{cn, fin};
use crate::{Calendar, DeadlineOptions, Extension, Pause, Period, deadline};

const FIRST: &str = "2024-01-01";

fn day(offset: i64) -> Date {
    FIRST
        .parse::<Date>()
        .unwrap()
        .checked_add(jiff::Span::new().days(offset))
        .unwrap()
}

fn instant(day_offset: i64, minute: i64) -> Timestamp {
    day(day_offset)
        .to_zoned(jiff::tz::TimeZone::get("Asia/Shanghai").unwrap())
        .unwrap()
        .timestamp()
        .checked_add(SignedDuration::from_mins(minute))
        .unwrap()
}

/// The counting rules restated naively: walk the dates after the start, leave out the
/// paused (pause date, resume date] ranges, count the Nth (working) day, roll forward.
fn by_hand(cal: &Calendar, start: Date, period: &Period, excluded: &[(Date, Date)]) -> Date {
    let skip = |d: Date| excluded.iter().any(|(a, b)| *a < d && d <= *b);
    let working = |d: Date| cal.is_working_day(d).unwrap();
    let mut d = start;
    let mut left = period.amount();
    while left > 0 {
        d = d.tomorrow().unwrap();
        if skip(d) {
            continue;
        }
        if matches!(period, Period::CalendarDays { .. }) || working(d) {
            left -= 1;
        }
    }
    let roll = match period {
        Period::WorkingDays { amount } => *amount == 0,
        Period::CalendarDays { roll_forward, .. } => *roll_forward,
        Period::Hours { .. } => false,
    };
    if roll && !working(d) {
        d = d.tomorrow().unwrap();
        while skip(d) || !working(d) {
            d = d.tomorrow().unwrap();
        }
    }
    d
}

fn period_strategy() -> impl Strategy<Value = Period> {
    prop_oneof![
        (0u32..60).prop_map(Period::working_days),
        (0u32..60).prop_map(Period::calendar_days),
        (0u32..60).prop_map(Period::calendar_days_exact),
    ]
}

fn cal_strategy() -> impl Strategy<Value = &'static Calendar> {
    prop_oneof![Just(cn()), Just(fin())]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn pauses_equal_counting_by_hand(
        cal in cal_strategy(),
        start_day in 0i64..900,
        start_min in 0i64..1440,
        period in period_strategy(),
        raw_pauses in proptest::collection::vec((0i64..40, 0i64..1440, 0i64..10, 0i64..1440), 0..3),
    ) {
        let start = instant(start_day, start_min);
        let start_date = day(start_day);
        let pauses: Vec<Pause> = raw_pauses
            .iter()
            .map(|(off, m, len, m2)| Pause {
                from: instant(start_day + off, *m),
                until: Some(instant(start_day + off + len, *m2).max(instant(start_day + off, *m))),
                reason: "p".into(),
            })
            .collect();
        let opts = DeadlineOptions { pauses: pauses.clone(), ..DeadlineOptions::default() };
        let got = deadline(cal, start, &period, &opts).unwrap();

        // Apply the pauses one by one in start order, as the rules say: a pause counts only
        // if it starts before the due time reached so far.
        let mut sorted = pauses.clone();
        sorted.sort_by_key(|p| p.from);
        let tz = cal.time_zone().clone();
        let mut excluded: Vec<(Date, Date)> = Vec::new();
        let mut due = by_hand(cal, start_date, &period, &excluded);
        for p in &sorted {
            let due_at = due.tomorrow().unwrap().to_zoned(tz.clone()).unwrap().timestamp();
            let until = p.until.unwrap();
            if until <= start || p.from >= due_at {
                continue;
            }
            let from = p.from.max(start);
            excluded.push((from.to_zoned(tz.clone()).date(), until.to_zoned(tz.clone()).date()));
            due = by_hand(cal, start_date, &period, &excluded);
        }
        prop_assert_eq!(got.due_date, Some(due));
    }

    #[test]
    fn invariants(
        cal in cal_strategy(),
        start_day in 0i64..900,
        start_min in 0i64..1440,
        period in period_strategy(),
        ext in 0u32..40,
    ) {
        let start = instant(start_day, start_min);
        let d = deadline(cal, start, &period, &DeadlineOptions::default()).unwrap();
        let due_at = d.due_at.unwrap();
        let due_date = d.due_date.unwrap();
        prop_assert!(due_at >= start);
        match period {
            Period::WorkingDays { amount } => {
                prop_assert!(cal.is_working_day(due_date).unwrap());
                if amount > 0 {
                    prop_assert_eq!(cal.working_days_between(day(start_day), due_date).unwrap(), amount);
                }
            }
            Period::CalendarDays { roll_forward: true, .. } => {
                prop_assert!(cal.is_working_day(due_date).unwrap());
            }
            _ => {}
        }
        let opts = DeadlineOptions {
            extensions: vec![Extension { amount: ext, reason: "x".into(), approved_by: None }],
            ..DeadlineOptions::default()
        };
        if let Ok(longer) = deadline(cal, start, &period, &opts) {
            prop_assert!(longer.due_at.unwrap() >= due_at);
        }
    }

    #[test]
    fn hours_invariants(start_day in 0i64..900, start_min in 0i64..1440, h in 0u32..500, pause_len in 0i64..600) {
        let start = instant(start_day, start_min);
        let plain = deadline(cn(), start, &Period::hours(h), &DeadlineOptions::default()).unwrap();
        prop_assert_eq!(plain.due_at.unwrap(), start.checked_add(SignedDuration::from_hours(i64::from(h))).unwrap());
        let from = start.checked_add(SignedDuration::from_mins(1)).unwrap();
        let opts = DeadlineOptions {
            pauses: vec![Pause { from, until: Some(from.checked_add(SignedDuration::from_mins(pause_len)).unwrap()), reason: "p".into() }],
            ..DeadlineOptions::default()
        };
        let paused = deadline(cn(), start, &Period::hours(h), &opts).unwrap();
        let expect = if h == 0 { 0 } else { pause_len };
        prop_assert_eq!(
            paused.due_at.unwrap(),
            plain.due_at.unwrap().checked_add(SignedDuration::from_mins(expect)).unwrap()
        );
    }
}

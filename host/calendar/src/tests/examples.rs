use jiff::civil::Date;

use super::{at, cn, date, fin, shipped};
use crate::{
    CalendarError, CalendarSet, ClockState, DayKind, DayStatus, DeadlineOptions, EndOfDay,
    Extension, Pause, PauseEffect, Period, Remaining, deadline, warning_at,
};

fn due(cal: &crate::Calendar, start: &str, period: Period) -> Date {
    deadline(cal, at(start), &period, &DeadlineOptions::default())
        .unwrap()
        .due_date
        .unwrap()
}

#[test]
fn working_days_per_year() {
    // 2025 and 2026: 248 each (regulations.md); 2024: 251 (chinesecalendar agrees).
    for (year, expected) in [(2024, 251), (2025, 248), (2026, 248)] {
        let jan1 = Date::new(year, 1, 1).unwrap();
        let dec31 = Date::new(year, 12, 31).unwrap();
        let n = cn()
            .working_days_between(jan1.yesterday().unwrap(), dec31)
            .unwrap();
        assert_eq!(n, expected, "{year}");
    }
}

#[test]
fn table_of_worked_examples() {
    let wd = Period::working_days;
    let cd = Period::calendar_days;
    let cdx = Period::calendar_days_exact;
    #[rustfmt::skip]
    let cases: &[(&str, Period, &str, &str)] = &[
        // regulations.md §1 worked example: make-up Saturdays 02-14 and 02-28 count.
        ("2026-02-13 09:00", wd(7), "2026-03-02", "worked example, Spring Festival 2026"),
        // Receipt on the eve of National Day and during it give the same deadline.
        ("2026-09-30 10:00", wd(7), "2026-10-15", "receipt Wed before National Day"),
        ("2026-10-03 10:00", wd(7), "2026-10-15", "receipt on a holiday Saturday"),
        ("2026-10-01 00:00", wd(1), "2026-10-08", "start on a holiday: first working day is day 1"),
        // Start on a make-up Saturday: it is the (uncounted) start day.
        ("2026-02-14 10:00", wd(1), "2026-02-24", "start on make-up Saturday"),
        ("2026-02-27 16:00", wd(1), "2026-02-28", "make-up Saturday counts as day 1"),
        // Year end 2025 -> 2026: 01-01..01-03 rest, 01-04 Sunday is a make-up day.
        ("2025-12-31 12:00", wd(1), "2026-01-04", "year end, make-up Sunday"),
        ("2025-12-30 12:00", wd(3), "2026-01-05", "year end, three working days"),
        // N = 0: same day, moved to a working day if needed.
        ("2026-03-03 10:00", wd(0), "2026-03-03", "0 working days on a working day"),
        ("2026-10-03 10:00", wd(0), "2026-10-08", "0 working days on a holiday"),
        ("2026-10-03 10:00", cd(0), "2026-10-08", "0 calendar days on a holiday, rolled"),
        ("2026-10-03 10:00", cdx(0), "2026-10-03", "0 calendar days, no roll"),
        // Calendar days with roll-forward across the National Day block.
        ("2026-09-16 10:00", cd(15), "2026-10-08", "15 days lands on 10-01, rolls to 10-08"),
        ("2026-09-16 10:00", cdx(15), "2026-10-01", "same without roll-forward"),
        ("2026-09-15 10:00", cd(5), "2026-09-20", "lands on make-up Sunday 09-20: working, no roll"),
        ("2026-03-03 10:00", cd(4), "2026-03-09", "lands on Saturday, rolls to Monday"),
        ("2025-09-20 10:00", cd(15), "2025-10-09", "2025 National Day block 10-01..10-08"),
        ("2025-12-20 10:00", cd(12), "2026-01-04", "01-01 + roll to make-up Sunday 01-04"),
        // Half-day holidays are not rest days.
        ("2026-03-06 10:00", wd(1), "2026-03-09", "Women's Day is Sunday anyway"),
        ("2025-03-07 10:00", wd(1), "2025-03-10", "Women's Day 2025-03-08 Saturday"),
        ("2026-05-03 10:00", wd(1), "2026-05-06", "Youth Day 05-04 is in the Labour Day block in 2026"),
        ("2025-05-03 10:00", wd(1), "2025-05-06", "Labour Day block 2025"),
        ("2024-05-31 10:00", wd(1), "2024-06-03", "Children's Day 2024-06-01 is a Saturday"),
        ("2025-05-30 10:00", wd(1), "2025-06-03", "Dragon Boat 2025 05-31..06-02"),
        ("2025-07-31 10:00", wd(1), "2025-08-01", "Army Day is a working day"),
        // 2024 schedule.
        ("2024-02-08 10:00", wd(2), "2024-02-18", "2024 Spring Festival, make-up Sunday 02-18"),
        ("2024-09-27 10:00", wd(3), "2024-10-08", "2024 make-up Sunday 09-29 counts"),
    ];
    for (start, period, want, why) in cases {
        assert_eq!(
            due(cn(), start, *period),
            date(want),
            "{why}: {start} + {period:?}"
        );
    }
}

#[test]
fn worked_example_explanation() {
    let d = deadline(
        cn(),
        at("2026-02-13 09:00"),
        &Period::working_days(7),
        &DeadlineOptions::default(),
    )
    .unwrap();
    assert_eq!(d.state, ClockState::Running);
    assert_eq!(d.due_at, Some(at("2026-03-03 00:00")));
    assert!(!d.provisional);
    let counted: Vec<(u32, Date)> = d
        .explanation
        .days
        .iter()
        .filter_map(|x| match x.status {
            DayStatus::Counted { n, .. } => Some((n, x.date)),
            _ => None,
        })
        .collect();
    assert_eq!(counted.first(), Some(&(1, date("2026-02-14"))));
    assert_eq!(counted.get(1), Some(&(2, date("2026-02-24"))));
    assert_eq!(counted.last(), Some(&(7, date("2026-03-02"))));
    assert!(counted.contains(&(6, date("2026-02-28"))));
    let skipped_20 = d
        .explanation
        .days
        .iter()
        .find(|x| x.date == date("2026-02-20"));
    assert_eq!(
        skipped_20.map(|x| &x.status),
        Some(&DayStatus::Skipped {
            kind: DayKind::InLieuRest {
                holiday: "春节".into()
            }
        })
    );
    let text = d.render_text();
    assert!(
        text.contains("Sat 2026-02-14  working day 1 (make-up working day (调休上班) for 春节)"),
        "{text}"
    );
    assert!(
        text.contains("Sun 2026-02-15 .. Thu 2026-02-19  not counted: holiday: 春节 (5 days)"),
        "{text}"
    );
    assert!(
        text.contains("Due: end of Mon 2026-03-02 (24:00 Asia/Shanghai)"),
        "{text}"
    );
}

#[test]
fn roll_forward_is_explained() {
    let d = deadline(
        cn(),
        at("2026-09-16 10:00"),
        &Period::calendar_days(15),
        &DeadlineOptions::default(),
    )
    .unwrap();
    let r = d.explanation.roll_forward.clone().unwrap();
    assert_eq!((r.from, r.to), (date("2026-10-01"), date("2026-10-08")));
    assert_eq!(
        r.from_kind,
        DayKind::Holiday {
            name: "国庆节".into()
        }
    );
    let text = d.render_text();
    assert!(text.contains("Roll-forward: the count ends on Thu 2026-10-01, a rest day (holiday: 国庆节); moved to the next working day, Thu 2026-10-08."), "{text}");
}

#[test]
fn close_of_business() {
    let opts = DeadlineOptions {
        end_of_day: EndOfDay::CloseOfBusiness,
        ..DeadlineOptions::default()
    };
    let d = deadline(
        cn(),
        at("2026-02-13 09:00"),
        &Period::working_days(7),
        &opts,
    )
    .unwrap();
    assert_eq!(d.due_date, Some(date("2026-03-02")));
    assert_eq!(d.due_at, Some(at("2026-03-02 17:30")));
    assert!(d.render_text().contains("at close of business 17:30"));

    // A calendar without close of business falls back to 24:00 and says so.
    let text = super::cn_text_refusing().replace("close_of_business = \"17:30\"", "");
    let no_cob = crate::Calendar::from_toml_str(&text, "no-cob.toml").unwrap();
    let d = deadline(
        &no_cob,
        at("2026-02-13 09:00"),
        &Period::working_days(7),
        &opts,
    )
    .unwrap();
    assert_eq!(d.due_at, Some(at("2026-03-03 00:00")));
    let eod = d.explanation.end_of_day.unwrap();
    assert_eq!(eod.applied, EndOfDay::Midnight);
    assert!(eod.note.unwrap().contains("defines none"));
}

#[test]
fn hours_across_midnight_and_holidays() {
    let none = DeadlineOptions::default();
    let d = deadline(cn(), at("2026-09-30 22:30"), &Period::hours(24), &none).unwrap();
    assert_eq!(d.due_at, Some(at("2026-10-01 22:30")));
    assert_eq!(d.due_date, Some(date("2026-10-01")));
    let d = deadline(cn(), at("2026-03-03 20:00"), &Period::hours(5), &none).unwrap();
    assert_eq!(d.due_at, Some(at("2026-03-04 01:00")));
    // Hours never consult the schedule, so an uncovered year is fine.
    let d = deadline(cn(), at("2027-03-03 20:00"), &Period::hours(5), &none).unwrap();
    assert_eq!(d.due_at, Some(at("2027-03-04 01:00")));
    // A pause of 2h moves the due time by 2h; a pause after the due time does nothing.
    let opts = DeadlineOptions {
        pauses: vec![
            Pause {
                from: at("2026-03-03 21:00"),
                until: Some(at("2026-03-03 23:00")),
                reason: "test".into(),
            },
            Pause {
                from: at("2026-03-04 05:00"),
                until: Some(at("2026-03-04 06:00")),
                reason: "late".into(),
            },
        ],
        ..DeadlineOptions::default()
    };
    let d = deadline(cn(), at("2026-03-03 20:00"), &Period::hours(5), &opts).unwrap();
    assert_eq!(d.due_at, Some(at("2026-03-04 03:00")));
    assert!(matches!(
        d.explanation.pauses.get(1).map(|p| &p.effect),
        Some(PauseEffect::IgnoredAfterDue { .. })
    ));
}

#[test]
fn variant_financial() {
    // Make-up Saturdays do not count on the financial calendar.
    assert_eq!(
        due(fin(), "2026-02-13 09:00", Period::working_days(7)),
        date("2026-03-04")
    );
    assert!(!fin().is_working_day(date("2026-02-14")).unwrap());
    assert_eq!(fin().extends(), Some("cn-mainland"));
    assert_eq!(fin().time_zone_name(), "Asia/Shanghai");
    // Every make-up working day of the parent is a rest day in the variant, so a year added
    // to cn-mainland without its overrides here is caught.
    let mut d = date("2024-01-01");
    while d <= date("2026-12-31") {
        let parent = cn().day(d).unwrap();
        let variant = fin().day(d).unwrap();
        if matches!(parent.kind, DayKind::MakeUpWorkday { .. }) {
            assert!(!variant.is_working(), "{d}");
        } else {
            assert_eq!(parent, variant, "{d}");
        }
        d = d.tomorrow().unwrap();
    }
}

#[test]
fn uncovered_year_is_an_error_not_a_guess() {
    let refusing = super::cn_refusing();
    let err = deadline(
        &refusing,
        at("2026-12-25 10:00"),
        &Period::working_days(7),
        &DeadlineOptions::default(),
    )
    .unwrap_err();
    assert_eq!(
        err,
        CalendarError::NotCovered {
            calendar: "cn-mainland".into(),
            date: date("2027-01-01"),
            covered: "2024–2026".into(),
        }
    );
    let msg = err.to_string();
    assert!(
        msg.contains("no official holiday schedule for 2027-01-01"),
        "{msg}"
    );
    assert!(msg.contains("covers 2024–2026 only"), "{msg}");
}

#[test]
fn calendar_days_need_only_the_days_that_decide() {
    // Without roll-forward, no day's status matters, so crossing into 2027 is fine.
    let d = due(cn(), "2026-12-29 10:00", Period::calendar_days_exact(31));
    assert_eq!(d, date("2027-01-29"));
    // With roll-forward the last day's status matters and 2027 has no schedule: refused,
    // or provisional from the statute (2027-01-29 is an ordinary Friday).
    let d = deadline(
        cn(),
        at("2026-12-29 10:00"),
        &Period::calendar_days(31),
        &DeadlineOptions::default(),
    )
    .unwrap();
    assert_eq!(d.due_date, Some(date("2027-01-29")));
    assert_eq!(d.provisional_years, vec![2027]);
    assert_eq!(d.explanation.provisional_days, vec![date("2027-01-29")]);
    let e = deadline(
        &super::cn_refusing(),
        at("2026-12-29 10:00"),
        &Period::calendar_days(31),
        &DeadlineOptions::default(),
    )
    .unwrap_err();
    assert!(
        matches!(e, CalendarError::NotCovered { date, .. } if date == super::date("2027-01-29"))
    );
}

#[test]
fn deemed_received_option() {
    let opts = DeadlineOptions {
        deemed_received_next_working_day: Some(true),
        ..DeadlineOptions::default()
    };
    // Sat 10-03 (holiday) deemed received Thu 10-08; day 1 = Fri 10-09, day 2 = Sat 10-10
    // (make-up), ... day 7 = Fri 10-16.
    let d = deadline(
        cn(),
        at("2026-10-03 10:00"),
        &Period::working_days(7),
        &opts,
    )
    .unwrap();
    assert_eq!(d.due_date, Some(date("2026-10-16")));
    let deemed = d.explanation.deemed_receipt.clone().unwrap();
    assert_eq!(deemed.deemed_date, date("2026-10-08"));
    assert!(
        d.render_text()
            .contains("deemed to start on the next working day, Thu 2026-10-08")
    );
    // A receipt on a working day is unaffected.
    let d = deadline(
        cn(),
        at("2026-09-30 10:00"),
        &Period::working_days(7),
        &opts,
    )
    .unwrap();
    assert_eq!(d.due_date, Some(date("2026-10-15")));
}

#[test]
fn extensions_count_from_the_same_start() {
    let opts = DeadlineOptions {
        extensions: vec![Extension {
            amount: 15,
            reason: "complex case (art. 18)".into(),
            approved_by: Some("head of complaints".into()),
        }],
        ..DeadlineOptions::default()
    };
    let base = due(cn(), "2026-03-02 10:00", Period::calendar_days(30));
    let d = deadline(
        cn(),
        at("2026-03-02 10:00"),
        &Period::calendar_days(15),
        &opts,
    )
    .unwrap();
    assert_eq!(d.due_date, Some(base));
    assert_eq!(d.explanation.total_amount, 30);
    assert!(d.render_text().contains(
        "extension: +15 calendar days (complex case (art. 18), approved by head of complaints)"
    ));
}

#[test]
fn pauses_in_days() {
    // Mediation paused Tue 03-10 10:00 .. Fri 03-13 15:00: 03-11, 03-12, 03-13 excluded.
    let pause = |until| Pause {
        from: at("2026-03-10 10:00"),
        until,
        reason: "appraisal".into(),
    };
    let opts = DeadlineOptions {
        pauses: vec![pause(Some(at("2026-03-13 15:00")))],
        ..DeadlineOptions::default()
    };
    // Start Mon 03-02; unpaused 7 wd = Wed 03-11. Counted before the pause: 03-03..03-10
    // = 6, remaining 1 after resume date 03-13 (Fri) -> Mon 03-16.
    assert_eq!(
        due(cn(), "2026-03-02 10:00", Period::working_days(7)),
        date("2026-03-11")
    );
    let d = deadline(
        cn(),
        at("2026-03-02 10:00"),
        &Period::working_days(7),
        &opts,
    )
    .unwrap();
    assert_eq!(d.due_date, Some(date("2026-03-16")));
    match &d.explanation.pauses.first().unwrap().effect {
        PauseEffect::ExcludedDays { dates, .. } => {
            assert_eq!(
                dates,
                &vec![date("2026-03-11"), date("2026-03-12"), date("2026-03-13")]
            );
        }
        other => panic!("{other:?}"),
    }
    // Open pause: no due time, 1 working day remaining.
    let opts = DeadlineOptions {
        pauses: vec![pause(None)],
        ..DeadlineOptions::default()
    };
    let d = deadline(
        cn(),
        at("2026-03-02 10:00"),
        &Period::working_days(7),
        &opts,
    )
    .unwrap();
    assert_eq!(d.state, ClockState::Paused);
    assert_eq!((d.due_at, d.due_date), (None, None));
    assert_eq!(d.remaining, Some(Remaining::WorkingDays { amount: 1 }));
    assert!(d.render_text().contains("Paused: no due time"));
    // Pause after the due time: breached at the original time.
    let opts = DeadlineOptions {
        pauses: vec![Pause {
            from: at("2026-03-12 00:00"),
            until: Some(at("2026-03-20 00:00")),
            reason: "late".into(),
        }],
        ..DeadlineOptions::default()
    };
    let d = deadline(
        cn(),
        at("2026-03-02 10:00"),
        &Period::working_days(7),
        &opts,
    )
    .unwrap();
    assert_eq!(d.due_date, Some(date("2026-03-11")));
    // A pause that ends before its start is refused.
    let opts = DeadlineOptions {
        pauses: vec![Pause {
            from: at("2026-03-12 00:00"),
            until: Some(at("2026-03-11 00:00")),
            reason: "typo".into(),
        }],
        ..DeadlineOptions::default()
    };
    assert!(matches!(
        deadline(
            cn(),
            at("2026-03-02 10:00"),
            &Period::working_days(7),
            &opts
        ),
        Err(CalendarError::PauseEndsBeforeStart { .. })
    ));
}

#[test]
fn warnings() {
    let none = DeadlineOptions::default();
    let d = deadline(
        cn(),
        at("2026-02-13 09:00"),
        &Period::working_days(7),
        &none,
    )
    .unwrap();
    // Due end of Mon 03-02. 1 working day before: end of Sat 02-28 (make-up day).
    let w = warning_at(cn(), &d, &Period::working_days(1))
        .unwrap()
        .unwrap();
    assert_eq!(w.at, at("2026-03-01 00:00"));
    let w = warning_at(cn(), &d, &Period::working_days(2))
        .unwrap()
        .unwrap();
    assert_eq!(w.at, at("2026-02-28 00:00"));
    let w = warning_at(cn(), &d, &Period::hours(24)).unwrap().unwrap();
    assert_eq!(w.at, at("2026-03-02 00:00"));
    let w = warning_at(cn(), &d, &Period::calendar_days(3))
        .unwrap()
        .unwrap();
    assert_eq!(w.at, at("2026-02-28 00:00"));
    let w = warning_at(cn(), &d, &Period::working_days(30))
        .unwrap()
        .unwrap();
    assert!(w.clamped_to_start);
    assert_eq!(w.at, at("2026-02-13 09:00"));
}

#[test]
fn too_long_periods_are_refused() {
    let e = deadline(
        cn(),
        at("2026-02-13 09:00"),
        &Period::working_days(u32::MAX),
        &DeadlineOptions::default(),
    )
    .unwrap_err();
    assert!(matches!(e, CalendarError::PeriodTooLong { .. }), "{e}");
}

#[test]
fn period_wire_format() {
    let p: Period = serde_json::from_str(r#"{"unit":"working_days","amount":7}"#).unwrap();
    assert_eq!(p, Period::working_days(7));
    let p: Period = serde_json::from_str(r#"{"unit":"calendar_days","amount":15}"#).unwrap();
    assert_eq!(p, Period::calendar_days(15));
    let p: Period =
        serde_json::from_str(r#"{"unit":"calendar_days","amount":15,"roll_forward":false}"#)
            .unwrap();
    assert_eq!(p, Period::calendar_days_exact(15));
    assert!(serde_json::from_str::<Period>(r#"{"unit":"weeks","amount":1}"#).is_err());
    assert!(serde_json::from_str::<Period>(r#"{"unit":"hours","amount":1,"x":2}"#).is_err());
    let d = deadline(
        cn(),
        at("2026-02-13 09:00"),
        &Period::working_days(7),
        &DeadlineOptions::default(),
    )
    .unwrap();
    let back: crate::Deadline = serde_json::from_str(&serde_json::to_string(&d).unwrap()).unwrap();
    assert_eq!(back, d);
    for schema in [
        schemars::schema_for!(crate::DeadlineOptions),
        schemars::schema_for!(crate::CalendarInfo),
        schemars::schema_for!(crate::Day),
        schemars::schema_for!(crate::WarningPoint),
    ] {
        assert!(serde_json::to_string(&schema).unwrap().len() > 50);
    }
    let opts: DeadlineOptions = serde_json::from_str(
        r#"{"end_of_day":"close_of_business","pauses":[{"from":"2026-03-10T02:00:00Z","until":null,"reason":"appraisal"}],"extensions":[{"amount":15,"reason":"complex"}]}"#,
    )
    .unwrap();
    assert_eq!(opts.end_of_day, EndOfDay::CloseOfBusiness);
    assert_eq!(opts.pauses.len(), 1);
    let schema = schemars::schema_for!(crate::Deadline);
    assert!(
        serde_json::to_string(&schema)
            .unwrap()
            .contains("working_days")
    );
}

#[test]
fn day_helpers() {
    assert_eq!(cn().id(), "cn-mainland");
    assert_eq!(cn().time_zone_name(), "Asia/Shanghai");
    assert_eq!(
        cn().day(date("2026-02-14")).unwrap().kind,
        DayKind::MakeUpWorkday {
            holiday: "春节".into()
        }
    );
    assert_eq!(cn().day(date("2026-03-07")).unwrap().kind, DayKind::Weekend);
    assert_eq!(cn().day(date("2026-03-09")).unwrap().kind, DayKind::Working);
    assert_eq!(
        cn().working_days_between(date("2026-02-13"), date("2026-03-02"))
            .unwrap(),
        7
    );
    assert_eq!(
        cn().working_days_between(date("2026-03-02"), date("2026-02-13"))
            .unwrap(),
        0
    );
    assert_eq!(
        cn().next_working_day(date("2026-09-30")).unwrap(),
        date("2026-10-08")
    );
    assert_eq!(
        shipped().ids().collect::<Vec<_>>(),
        vec!["cn-financial", "cn-mainland"]
    );
    let info = cn().info();
    assert_eq!(info.years.len(), 3);
    assert!(info.years.iter().all(|y| y.source.contains("国务院办公厅")));
    let _ = CalendarSet::default();
}

#[test]
fn pause_and_extension_explained() {
    let opts = DeadlineOptions {
        pauses: vec![Pause {
            from: at("2026-09-24 10:00"),
            until: Some(at("2026-09-29 15:00")),
            reason: "appraisal".into(),
        }],
        extensions: vec![Extension {
            amount: 2,
            reason: "complex".into(),
            approved_by: None,
        }],
        ..DeadlineOptions::default()
    };
    let d = deadline(
        cn(),
        at("2026-09-21 10:00"),
        &Period::working_days(5),
        &opts,
    )
    .unwrap();
    assert_eq!(d.due_date, Some(date("2026-10-10")));
    let text = d.render_text();
    for line in [
        "  base period: 5 working days",
        "  extension: +2 working days (complex)",
        "  Fri 2026-09-25 .. Tue 2026-09-29  not counted: paused (appraisal) (5 days)",
        "  Sat 2026-10-10  working day 7 (make-up working day (调休上班) for 国庆节)",
        "2026-09-24 still counts; 5 day(s) excluded (2026-09-25..2026-09-29); counting resumes after 2026-09-29.",
        "Due: end of Sat 2026-10-10 (24:00 Asia/Shanghai); overdue from Sun 2026-10-11 00:00 (UTC+08:00).",
    ] {
        assert!(text.contains(line), "missing {line:?} in\n{text}");
    }
}

/// The operator is warned while there is still time to add next year's schedule.
#[test]
fn the_horizon_warning_fires_within_the_window_only() {
    let set = shipped();
    let last_year = set.get("cn-mainland").unwrap().covered_until().unwrap();
    let early = last_year.checked_sub(jiff::Span::new().days(61)).unwrap();
    assert!(set.horizon_warnings(early, 60).is_empty());
    let late = last_year.checked_sub(jiff::Span::new().days(39)).unwrap();
    let warnings = set.horizon_warnings(late, 60);
    assert_eq!(warnings.len(), set.len(), "{warnings:?}");
    assert!(
        warnings.iter().any(|w| w
            .starts_with("calendar `cn-mainland` has published schedules up to")
            && w.contains("(39 days from")),
        "{warnings:?}"
    );
}

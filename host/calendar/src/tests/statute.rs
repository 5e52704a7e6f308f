//! The statute: known statutory days, agreement with the published schedules, provisional
//! years in deadlines, validation of statute files and of the calendar keys that use them.

use super::{at, cn, date, shipped};
use crate::{
    CalendarError, CalendarSet, DayStatus, DeadlineOptions, Period, Statute, UncoveredPolicy,
    deadline,
};

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
        assert!(
            statute()
                .is_statutory(date(&format!("{year}-01-01")))
                .is_err()
        );
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

#[test]
fn provisional_days_in_a_calendar() {
    let cases = [
        ("2027-01-01", "statutory holiday: 元旦", false),
        ("2027-02-05", "statutory holiday: 春节", false),
        ("2027-02-09", "working day", true),
        ("2027-01-02", "weekend", false),
    ];
    for (d, describes, working) in cases {
        let day = cn().day(date(d)).unwrap();
        assert!(day.provisional, "{d}");
        assert_eq!(day.is_working(), working, "{d}");
        assert!(
            day.kind.describe().starts_with(describes),
            "{d}: {:?}",
            day.kind
        );
    }
    let day = cn().day(date("2027-02-05")).unwrap();
    assert_eq!(
        day.kind.describe(),
        "statutory holiday: 春节 (全国年节及纪念日放假办法 art. 2 (国务院令第795号); provisional, no published schedule)"
    );
    // The variant inherits the statute and the policy.
    let fin = shipped().get("cn-financial").unwrap();
    assert!(!fin.day(date("2027-10-01")).unwrap().is_working());
    // Past the statute's horizon even a provisional calendar refuses, naming the year.
    let e = cn().day(date("2101-03-01")).unwrap_err();
    assert!(e.to_string().contains("2101"), "{e}");
}

#[test]
fn provisional_deadlines() {
    // (start, working days, due date, provisional years)
    let cases: &[(&str, u32, &str, &[i16])] = &[
        // 12-29, 12-30, 12-31 = 3; 2027-01-01 元旦 (statutory), 01-02/03 weekend; 01-04..01-07
        // = 4..7.
        ("2026-12-28 10:00", 7, "2027-01-07", &[2027]),
        // 2026-12-02..12-31 has 22 working days; January 2027 has 21 weekdays, less 元旦 = 20
        // (42 at Fri 01-29); 02-01, 02-02, 02-03 = 43..45. By weekends alone it would be
        // 02-02.
        ("2026-12-01 10:00", 45, "2027-02-03", &[2027]),
        // Inside the published years: not provisional.
        ("2026-03-02 10:00", 3, "2026-03-05", &[]),
    ];
    for (start, n, due, years) in cases {
        let d = deadline(
            cn(),
            at(start),
            &Period::working_days(*n),
            &DeadlineOptions::default(),
        )
        .unwrap();
        assert_eq!(d.due_date, Some(date(due)), "{start} + {n}");
        assert_eq!(d.provisional, !years.is_empty(), "{start} + {n}");
        assert_eq!(d.provisional_years, *years, "{start} + {n}");
        assert_eq!(d.explanation.provisional_years, *years, "{start} + {n}");
    }
    let d = deadline(
        cn(),
        at("2026-12-01 10:00"),
        &Period::working_days(45),
        &DeadlineOptions::default(),
    )
    .unwrap();
    assert!(
        d.explanation
            .days
            .iter()
            .any(|e| e.date == date("2027-01-01") && matches!(e.status, DayStatus::Skipped { .. }))
    );
    let text = d.render_text();
    assert!(
        text.contains("PROVISIONAL 2027: no published schedule in calendar cn-mainland; statutory holidays only"),
        "{text}"
    );
    assert!(text.contains("will be recomputed"), "{text}");
    assert!(
        text.contains("2027-01-01 元旦 treated as rest days"),
        "{text}"
    );
    assert!(
        text.contains("2027年：国务院尚未公布放假安排；仅按法定节假日计算，公布后将重新计算"),
        "{text}"
    );
    assert!(!text.contains("weekly pattern"), "{text}");
    // The provisional fields are on the wire only when set.
    let json = serde_json::to_value(&d).unwrap();
    assert_eq!(json["provisional_years"], serde_json::json!([2027]));
    let inside = deadline(
        cn(),
        at("2026-03-02 10:00"),
        &Period::working_days(3),
        &DeadlineOptions::default(),
    )
    .unwrap();
    let json = serde_json::to_value(&inside).unwrap();
    assert!(json.get("provisional_years").is_none());
    assert!(json["explanation"].get("statutory_days").is_none());
}

#[test]
fn a_deadline_across_spring_festival_2027() {
    // 2027-02-04 Thu start; 02-05 Fri..02-08 Mon 春节 (除夕..初三), 02-06/07 also weekend;
    // working day 1 is Tue 02-09.
    let d = deadline(
        cn(),
        at("2027-02-04 10:00"),
        &Period::working_days(1),
        &DeadlineOptions::default(),
    )
    .unwrap();
    assert_eq!(d.due_date, Some(date("2027-02-09")));
    assert!(
        d.render_text()
            .contains("2027-02-05..02-08 春节 treated as rest days"),
        "{}",
        d.render_text()
    );
}

#[test]
fn horizon_warning_says_provisional() {
    let w = shipped().horizon_warnings(date("2026-12-01"), 60);
    let cn = w.iter().find(|l| l.contains("`cn-mainland`")).unwrap();
    assert!(cn.contains("provisional"), "{cn}");
    assert!(cn.contains("recomputed"), "{cn}");
    assert!(!cn.contains("cannot be computed"), "{cn}");
    let refusing = CalendarSet::from_sources([("r.toml", super::cn_text_refusing())]).unwrap();
    let w = refusing.horizon_warnings(date("2026-12-01"), 60);
    assert!(w.iter().any(|l| l.contains("cannot be computed")), "{w:?}");
}

fn statute_text() -> String {
    std::fs::read_to_string(super::calendars_dir().join("statutes/cn-national-holidays.toml"))
        .unwrap()
}

fn load(calendar: &str) -> Result<CalendarSet, String> {
    CalendarSet::from_sources_with_statutes(
        [("statutes/cn-national-holidays.toml", statute_text())],
        [("c.toml", calendar.to_owned())],
    )
    .map_err(|e| e.to_string())
}

const CAL: &str = "id = \"c\"\nname = \"c\"\n[[years]]\nyear = 2026\nsource = \"notice\"\n";

#[test]
fn calendar_keys() {
    // (extra keys, Ok(policy) or Err(message))
    let cases: &[(&str, Result<UncoveredPolicy, &str>)] = &[
        ("", Ok(UncoveredPolicy::Refuse)),
        ("uncovered = \"error\"\n", Ok(UncoveredPolicy::Refuse)),
        ("uncovered = \"refuse\"\n", Ok(UncoveredPolicy::Refuse)),
        (
            "statute = \"cn-national-holidays\"\n",
            Ok(UncoveredPolicy::Provisional),
        ),
        (
            "statute = \"cn-national-holidays\"\nuncovered = \"refuse\"\n",
            Ok(UncoveredPolicy::Refuse),
        ),
        (
            "uncovered = \"provisional\"\n",
            Err("c.toml:3: uncovered = \"provisional\" needs statute = \"...\""),
        ),
        (
            "statute = \"cn-holidays\"\n",
            Err("c.toml:3: unknown statute \"cn-holidays\" (known: cn-national-holidays)"),
        ),
    ];
    for (extra, want) in cases {
        let text = format!(
            "id = \"c\"\nname = \"c\"\n{extra}[[years]]\nyear = 2026\nsource = \"notice\"\n"
        );
        match (load(&text), want) {
            (Ok(set), Ok(policy)) => {
                assert_eq!(set.get("c").unwrap().uncovered_policy(), *policy, "{extra}");
            }
            (Err(e), Err(msg)) => assert!(e.starts_with(msg), "{extra}: {e}"),
            (got, want) => panic!("{extra}: got {got:?}, want {want:?}"),
        }
    }
    // Without a statutes folder, naming a statute is an error too.
    let e = CalendarSet::from_sources([(
        "c.toml",
        CAL.replace("name = \"c\"\n", "name = \"c\"\nstatute = \"x\"\n"),
    )])
    .unwrap_err();
    assert!(
        e.to_string().contains("c.toml:3: unknown statute \"x\""),
        "{e}"
    );
    // A variant inherits the statute and may not name another.
    let e = CalendarSet::from_sources_with_statutes(
        [("s.toml", statute_text())],
        [
            ("c.toml", CAL.to_owned()),
            (
                "v.toml",
                "id = \"v\"\nname = \"v\"\nextends = \"c\"\nuncovered = \"provisional\"\n"
                    .to_owned(),
            ),
        ],
    )
    .unwrap_err();
    assert!(
        e.to_string()
            .contains("v.toml:4: uncovered = \"provisional\" needs statute"),
        "{e}"
    );
}

#[test]
fn refuse_still_refuses() {
    let e = super::cn_refusing().day(date("2027-01-04")).unwrap_err();
    assert!(matches!(e, CalendarError::NotCovered { .. }), "{e}");
}

#[test]
fn statute_file_validation() {
    let base = statute_text();
    let line_of = |needle: &str| base.lines().position(|l| l.contains(needle)).unwrap() + 1;
    let eve = line_of("from = \"12-last\"");
    let qm = line_of("term = \"清明\"");
    let first = line_of("effective_from = 2025-01-01");
    let cases: Vec<(String, String)> = vec![
        (
            base.replace("from = \"12-last\"", "from = \"13-01\""),
            format!("s.toml:{eve}: 春节: from = \"13-01\": expected a lunar"),
        ),
        (
            base.replace("term = \"清明\"", "term = \"清明节\""),
            format!("s.toml:{qm}: 清明节: unknown solar term \"清明节\""),
        ),
        (
            base.replace("term = \"清明\"", "month = 4"),
            format!("s.toml:{qm}: 清明节: rule \"solar_term\" does not take \"month\""),
        ),
        (
            base.replace("effective_from = 2025-01-01", "effective_from = 2025-03-01"),
            format!("s.toml:{first}: a version must be in force for whole years"),
        ),
        (
            base.replace("effective_from = 2025-01-01", "effective_from = 2024-01-01"),
            format!("s.toml:{first}: version 2024-01-01..2100-12-31 overlaps"),
        ),
        (
            base.replacen("from = \"05-05\" }", "from = \"05-05\", day = 3 }", 1),
            format!(
                "s.toml:{}: 端午节: rule \"lunar\" does not take \"day\"",
                line_of("from = \"05-05\"")
            ),
        ),
        (
            base.replace("holidays = [", "holiday = ["),
            "s.toml:".to_owned(),
        ),
    ];
    for (text, want) in cases {
        let Err(e) = Statute::from_toml_str(&text, "s.toml") else {
            panic!("accepted; want {want}");
        };
        let msg = e
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("\n");
        assert!(msg.starts_with(&want), "want {want}\ngot {msg}");
    }
    // A rule that yields a day outside its year is caught at load, naming year and line.
    let text = base.replace(
        "{ name = \"国庆节\", rule = \"fixed\", month = 10, day = 1, days = 3 }",
        "{ name = \"国庆节\", rule = \"fixed\", month = 12, day = 31, days = 3 }",
    );
    let Err(e) = Statute::from_toml_str(&text, "s.toml") else {
        panic!("a holiday crossing New Year was accepted");
    };
    assert!(e.iter().all(|e| e.line.is_some()), "{e:?}");
    assert!(
        e.first()
            .unwrap()
            .to_string()
            .contains("国庆节 in 2014 falls on 2015-01-01"),
        "{e:?}"
    );
}

#[test]
fn version_digest() {
    let v = cn().version();
    assert_eq!(v.len(), 16);
    assert!(v.bytes().all(|b| b.is_ascii_hexdigit()));
    // Two loads of the same files agree; the variant differs from its parent.
    let again = CalendarSet::load_dir(super::calendars_dir()).unwrap();
    assert_eq!(again.get("cn-mainland").unwrap().version(), v);
    assert_ne!(shipped().get("cn-financial").unwrap().version(), v);
    let text = std::fs::read_to_string(super::calendars_dir().join("cn-mainland.toml")).unwrap();
    let with = |cal: String, statute: String| {
        CalendarSet::from_sources_with_statutes([("s.toml", statute)], [("c.toml", cal)])
            .unwrap()
            .get("cn-mainland")
            .unwrap()
            .version()
    };
    assert_eq!(with(text.clone(), statute_text()), v);
    let changes = [
        // A day moves.
        (
            text.replace("date = 2026-02-14", "date = 2026-03-07"),
            statute_text(),
        ),
        // A source changes.
        (
            text.replacen("source = \"国务院办公厅", "source = \"国务院", 1),
            statute_text(),
        ),
        // The policy changes.
        (
            text.replace("uncovered = \"provisional\"", "uncovered = \"refuse\""),
            statute_text(),
        ),
        // The statute changes.
        (text.clone(), statute_text().replace("days = 4", "days = 5")),
    ];
    for (i, (cal, st)) in changes.into_iter().enumerate() {
        assert_ne!(with(cal, st), v, "change {i}");
    }
    assert_eq!(cn().year_source(2026).unwrap().year, 2026);
    assert!(cn().year_source(2027).is_none());
}

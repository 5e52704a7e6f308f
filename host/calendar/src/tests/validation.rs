//! Each validation error names the file and line, and says what is wrong.

use crate::{Calendar, CalendarSet, FileProblem, LoadError};

const BASE: &str = r#"id = "t"
name = "test"

[[years]]
year = 2026
source = "notice"

[[years.rest]]
name = "中秋节"
first = 2026-09-25
last = 2026-10-02

[[years.rest]]
name = "国庆节"
first = 2026-10-01
last = 2026-10-07

[[years.make_up]]
date = 2026-09-20
for = "国庆节"
"#;

fn one(text: &str) -> String {
    let e = Calendar::from_toml_str(text, "rulesets/calendars/t.toml").unwrap_err();
    e.to_string()
}

fn set(files: &[(&str, &str)]) -> LoadError {
    CalendarSet::from_sources(files.iter().copied()).unwrap_err()
}

#[test]
fn overlap() {
    assert_eq!(
        one(BASE),
        "rulesets/calendars/t.toml:14: rest block 国庆节 2026-10-01..2026-10-07 overlaps 中秋节 2026-09-25..2026-10-02"
    );
}

#[test]
fn rest_and_make_up_contradiction() {
    let text = BASE
        .replace("last = 2026-10-02", "last = 2026-09-27")
        .replace("date = 2026-09-20", "date = 2026-09-26");
    assert_eq!(
        one(&text),
        "rulesets/calendars/t.toml:19: 2026-09-26 is both a make-up working day (for 国庆节) and a rest day (rest block 中秋节 2026-09-25..2026-09-27)"
    );
}

#[test]
fn make_up_on_a_weekday() {
    let text = BASE
        .replace("last = 2026-10-02", "last = 2026-09-27")
        .replace("date = 2026-09-20", "date = 2026-09-22");
    let msg = one(&text);
    assert!(
        msg.starts_with(
            "rulesets/calendars/t.toml:19: make-up working day 2026-09-22 is a Tuesday"
        ),
        "{msg}"
    );
}

#[test]
fn outside_covered_years() {
    let text = BASE
        .replace("last = 2026-10-02", "last = 2026-09-27")
        .replace("date = 2026-09-20", "date = 2027-01-02");
    let msg = one(&text);
    assert!(
        msg.contains(
            "t.toml:19: make-up working day 2027-01-02 is outside the years the calendar covers (2026)"
        ),
        "{msg}"
    );
    let text = BASE
        .replace("last = 2026-10-02", "last = 2026-09-27")
        .replace("first = 2026-10-01", "first = 2025-12-31");
    let msg = one(&text);
    assert!(
        msg.contains(
            "t.toml:14: rest block 国庆节 2025-12-31 is outside the years the calendar covers (2026)"
        ),
        "{msg}"
    );
}

#[test]
fn unknown_key() {
    let text = BASE.replace("for = \"国庆节\"", "for = \"国庆节\"\nholiday = \"x\"");
    let msg = one(&text);
    assert!(
        msg.starts_with("rulesets/calendars/t.toml:21: unknown field `holiday`"),
        "{msg}"
    );
}

#[test]
fn bad_date() {
    let text = BASE.replace("first = 2026-10-01", "first = 2026-02-30");
    let msg = one(&text);
    assert!(msg.starts_with("rulesets/calendars/t.toml:15: "), "{msg}");
    let text = BASE.replace("first = 2026-10-01", "first = 2026-10-01T10:00:00");
    let msg = one(&text);
    assert!(
        msg.contains(
            "t.toml:15: first: expected a plain date like 2026-02-15, found 2026-10-01T10:00:00"
        ),
        "{msg}"
    );
    let text = BASE.replace("first = 2026-10-01", "first = \"2026-10-01\"");
    let msg = one(&text);
    assert!(msg.starts_with("rulesets/calendars/t.toml:15: "), "{msg}");
}

#[test]
fn duplicates_and_unknown_holiday() {
    let text = BASE.replace("last = 2026-10-02", "last = 2026-09-27")
        + "\n[[years.make_up]]\ndate = 2026-09-20\nfor = \"国庆节\"\n\n[[years.make_up]]\ndate = 2026-10-10\nfor = \"国庆\"\n";
    let msg = one(&text);
    assert!(
        msg.contains(
            "t.toml:23: make-up working day 2026-09-20 is listed twice (first at line 19)"
        ),
        "{msg}"
    );
    assert!(msg.contains("t.toml:27: make-up working day 2026-10-10 is for \"国庆\", which is not a rest block of 2026 (rest blocks: 中秋节, 国庆节)"), "{msg}");
    let text = BASE.replace("last = 2026-10-02", "last = 2026-09-27")
        + "\n[[years]]\nyear = 2026\nsource = \"again\"\n";
    let msg = one(&text);
    assert!(
        msg.contains("t.toml:23: year 2026 is defined twice (first at line 5)"),
        "{msg}"
    );
}

#[test]
fn bad_settings() {
    let text = BASE
        .replace("last = 2026-10-02", "last = 2026-09-27")
        .replace("name = \"test\"", "name = \"test\"\ntime_zone = \"Mars/Olympus\"\nclose_of_business = \"5pm\"\nworking_weekdays = [\"mon\", \"funday\"]");
    let msg = one(&text);
    assert!(
        msg.contains("t.toml:3: unknown time zone \"Mars/Olympus\""),
        "{msg}"
    );
    assert!(
        msg.contains("t.toml:4: close_of_business \"5pm\" is not a time of day"),
        "{msg}"
    );
    assert!(
        msg.contains("t.toml:5: unknown weekday \"funday\""),
        "{msg}"
    );
    let text = BASE.replace("name = \"test\"", "name = \"test\"\nuncovered = \"guess\"");
    assert!(one(&text).starts_with("rulesets/calendars/t.toml:3: unknown variant `guess`"));
}

const PARENT: &str = r#"id = "p"
name = "parent"

[[years]]
year = 2026
source = "notice"

[[years.make_up]]
date = 2026-02-14
for = "春节"

[[years.rest]]
name = "春节"
first = 2026-02-15
last = 2026-02-23
"#;

#[test]
fn unknown_parent() {
    let child = "id = \"c\"\nname = \"child\"\nextends = \"nope\"\n";
    let e = set(&[("p.toml", PARENT), ("c.toml", child)]);
    assert_eq!(
        e.to_string(),
        "c.toml:3: extends \"nope\", but there is no calendar with that id (known: c, p)"
    );
}

#[test]
fn cycle() {
    let a = "id = \"a\"\nname = \"a\"\nextends = \"b\"\n";
    let b = "id = \"b\"\nname = \"b\"\nextends = \"a\"\n";
    let e = set(&[("a.toml", a), ("b.toml", b)]);
    let msg = e.to_string();
    assert!(
        msg.contains("b.toml:3: extends cycle: a -> b -> a"),
        "{msg}"
    );
    assert!(
        msg.contains("a.toml:3: extends b, which has errors"),
        "{msg}"
    );
    let selfref = "id = \"s\"\nname = \"s\"\nextends = \"s\"\n";
    assert!(
        set(&[("s.toml", selfref)])
            .to_string()
            .contains("s.toml:3: extends cycle: s -> s")
    );
}

#[test]
fn variant_overrides() {
    let child = "id = \"c\"\nname = \"child\"\nextends = \"p\"\nclose_of_business = \"16:00\"\n\n[[override]]\ndates = [2026-02-14]\nstatus = \"rest\"\nreason = \"closed\"\n";
    let s = CalendarSet::from_sources([("p.toml", PARENT), ("c.toml", child)]).unwrap();
    let c = s.get("c").unwrap();
    assert!(!c.is_working_day("2026-02-14".parse().unwrap()).unwrap());
    assert!(
        s.get("p")
            .unwrap()
            .is_working_day("2026-02-14".parse().unwrap())
            .unwrap()
    );
    assert_eq!(
        c.close_of_business(),
        Some(jiff::civil::Time::constant(16, 0, 0, 0))
    );

    // An override that changes nothing is refused, as is a duplicate and one outside the
    // covered years.
    let child = "id = \"c\"\nname = \"child\"\nextends = \"p\"\n\n[[override]]\ndates = [2026-02-16, 2026-02-16, 2027-01-04]\nstatus = \"rest\"\nreason = \"closed\"\n";
    let msg = set(&[("p.toml", PARENT), ("c.toml", child)]).to_string();
    assert!(
        msg.contains(
            "c.toml:6: override of 2026-02-16 to rest has no effect: it is already holiday: 春节"
        ),
        "{msg}"
    );
    assert!(
        msg.contains("c.toml:6: override 2026-02-16 is listed twice"),
        "{msg}"
    );
    assert!(
        msg.contains(
            "c.toml:6: override 2027-01-04 is outside the years the calendar covers (2026)"
        ),
        "{msg}"
    );

    // A variant may not redefine years or the weekly pattern.
    let child = "id = \"c\"\nname = \"child\"\nextends = \"p\"\nworking_weekdays = [\"mon\"]\n";
    let msg = set(&[("p.toml", PARENT), ("c.toml", child)]).to_string();
    assert!(
        msg.contains("c.toml:4: a variant (extends = \"p\") may not set working_weekdays"),
        "{msg}"
    );

    // A variant of a broken parent reports once, pointing at its extends line.
    let broken = PARENT.replace("date = 2026-02-14", "date = 2026-02-15");
    let child = "id = \"c\"\nname = \"child\"\nextends = \"p\"\n";
    let e = set(&[("p.toml", &broken), ("c.toml", child)]);
    assert_eq!(e.errors.len(), 2, "{e}");
    assert!(
        e.to_string()
            .contains("c.toml:3: extends p, which has errors")
    );

    // from_toml_str cannot resolve a parent.
    let e = Calendar::from_toml_str(child, "c.toml").unwrap_err();
    assert!(matches!(
        e.errors.first().map(|x| &x.problem),
        Some(FileProblem::VariantNeedsParent(_))
    ));
}

#[test]
fn duplicate_id_and_empty_dir() {
    let e = set(&[("p.toml", PARENT), ("q.toml", PARENT)]);
    assert_eq!(
        e.to_string(),
        "q.toml:1: calendar id p is already defined in p.toml"
    );
    let dir = std::env::temp_dir().join(format!("redress-cal-empty-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let e = CalendarSet::load_dir(&dir).unwrap_err();
    assert!(
        e.to_string()
            .ends_with("no *.toml calendar file in this folder")
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn shipped_files_load_with_paths_in_errors() {
    let set = CalendarSet::load_dir(super::calendars_dir()).unwrap();
    assert_eq!(set.len(), 2);
    assert!(
        set.get("cn-mainland")
            .unwrap()
            .info()
            .source_file
            .ends_with("cn-mainland.toml")
    );
}

//! Year files: `years_for = "<id>"` and `[[years]]` tables dropped into the folder add years
//! to a base calendar; their variants inherit them and may override their days.

use crate::{Calendar, CalendarSet, FileProblem};

use super::{calendars_dir, date};

const BASE: &str = r#"id = "p"
name = "parent"

[[years]]
year = 2026
source = "notice 2026"

[[years.rest]]
name = "国庆节"
first = 2026-10-01
last = 2026-10-07

[[years.make_up]]
date = 2026-09-20
for = "国庆节"
"#;

/// 2027 (not the real schedule): 元旦 Fri–Sun, 国庆节 Fri–Thu with two make-up days.
const Y2027: &str = r#"# test notice for 2027
years_for = "p"

[[years]]
year = 2027
source = "notice 2027"
published = "2026-11"

[[years.rest]]
name = "元旦"
first = 2027-01-01
last = 2027-01-03

[[years.rest]]
name = "国庆节"
first = 2027-10-01
last = 2027-10-07

[[years.make_up]]
date = 2027-09-26
for = "国庆节"

[[years.make_up]]
date = 2027-10-09
for = "国庆节"
"#;

const VARIANT: &str = "id = \"c\"\nname = \"child\"\nextends = \"p\"\n";

/// A variant closing on 2027's make-up day, which only the year file makes a working day.
const VARIANT_2027: &str = "id = \"c\"\nname = \"child\"\nextends = \"p\"\n\n[[override]]\ndates = [2027-09-26]\nstatus = \"rest\"\nreason = \"closed\"\n";

/// A case's name, the folder's `(file, text)` pairs, and the exact error lines.
type Case<'a> = (&'a str, Vec<(&'a str, &'a str)>, Vec<&'a str>);

fn load(files: &[(&str, &str)]) -> Result<CalendarSet, String> {
    CalendarSet::from_sources(files.iter().copied()).map_err(|e| e.to_string())
}

/// Every case: the folder's files, and the exact error lines (none: it loads).
#[test]
fn year_file_cases() {
    let y2026 = Y2027
        .replace("year = 2027", "year = 2026")
        .replace("2027-", "2026-")
        .replace("date = 2026-09-26", "date = 2026-09-27")
        .replace("date = 2026-10-09", "date = 2026-10-10");
    let y2027_again = Y2027.replace("notice 2027", "notice 2027, again");
    let unknown = Y2027.replace("years_for = \"p\"", "years_for = \"nope\"");
    let for_variant = Y2027.replace("years_for = \"p\"", "years_for = \"c\"");
    let with_id = Y2027.replace("years_for = \"p\"", "id = \"p-2027\"\nyears_for = \"p\"");
    let with_name = Y2027.replace("years_for = \"p\"", "years_for = \"p\"\nname = \"2027\"");
    let with_setting = Y2027.replace(
        "years_for = \"p\"",
        "years_for = \"p\"\ntime_zone = \"Asia/Shanghai\"",
    );
    let with_override = Y2027.to_owned()
        + "\n[[override]]\ndates = [2027-09-26]\nstatus = \"rest\"\nreason = \"x\"\n";
    let bad_make_up = Y2027.replace(
        "for = \"国庆节\"\n\n[[years.make_up]]",
        "for = \"国庆\"\n\n[[years.make_up]]",
    );
    let outside = Y2027.replace("date = 2027-10-09", "date = 2028-01-08");
    let no_years = "years_for = \"p\"\n";
    // A 2027 block starting on 2026-12-31 overlaps nothing unless 2026 has a block there.
    let across_new_year = Y2027.replace("first = 2027-01-01", "first = 2026-12-31");
    let base_with_new_year_eve = BASE.to_owned()
        + "\n[[years.rest]]\nname = \"除夕\"\nfirst = 2026-12-31\nlast = 2026-12-31\n";

    let base_with_2027_make_up =
        BASE.to_owned() + "\n[[years.make_up]]\ndate = 2027-01-09\nfor = \"国庆节\"\n";
    let y2027_same_make_up = Y2027.replace(
        "date = 2027-10-09\nfor = \"国庆节\"",
        "date = 2027-01-09\nfor = \"元旦\"",
    );
    let cases: Vec<Case<'_>> = vec![
        (
            "a year file adds a year",
            vec![("p.toml", BASE), ("p-2027.toml", Y2027)],
            vec![],
        ),
        (
            "a year file sorted before its calendar",
            vec![("a-2027.toml", Y2027), ("p.toml", BASE)],
            vec![],
        ),
        (
            "a variant overrides a day of a year only a year file adds",
            vec![
                ("c.toml", VARIANT_2027),
                ("p.toml", BASE),
                ("p-2027.toml", Y2027),
            ],
            vec![],
        ),
        (
            "the same override without the year file",
            vec![("c.toml", VARIANT_2027), ("p.toml", BASE)],
            vec!["c.toml:6: override 2027-09-26 is outside the years the calendar covers (2026)"],
        ),
        (
            "a year of the calendar file defined again in a year file",
            vec![("p.toml", BASE), ("p-2026.toml", &y2026)],
            vec!["p-2026.toml:5: year 2026 is defined twice (first at p.toml:5)"],
        ),
        (
            "a year defined in two year files",
            vec![
                ("p.toml", BASE),
                ("p-2027.toml", Y2027),
                ("p-2027b.toml", &y2027_again),
            ],
            vec!["p-2027b.toml:5: year 2027 is defined twice (first at p-2027.toml:5)"],
        ),
        (
            "a make-up day listed in the calendar file and a year file",
            vec![
                ("p.toml", &base_with_2027_make_up),
                ("p-2027.toml", &y2027_same_make_up),
            ],
            vec![
                "p-2027.toml:24: make-up working day 2027-01-09 is defined twice (first at p.toml:18)",
            ],
        ),
        (
            "an unknown years_for",
            vec![("p.toml", BASE), ("c.toml", VARIANT), ("x.toml", &unknown)],
            vec![
                "x.toml:2: years_for \"nope\": there is no calendar with that id in this folder (known: c, p)",
            ],
        ),
        (
            "years_for naming a variant",
            vec![
                ("p.toml", BASE),
                ("c.toml", VARIANT),
                ("c-2027.toml", &for_variant),
            ],
            vec![
                "c-2027.toml:2: years_for \"c\" names a variant (extends = \"p\"): years are added to the calendar that defines them, never to a variant, which changes days only through [[override]] entries",
            ],
        ),
        (
            "a year file with an id",
            vec![("p.toml", BASE), ("p-2027.toml", &with_id)],
            vec![
                "p-2027.toml:2: unknown field `id`, expected `years_for` or `years`; a year file (years_for = \"...\") holds only years_for and [[years]] tables: the calendar's settings stay in its own file",
            ],
        ),
        (
            "a year file with a name",
            vec![("p.toml", BASE), ("p-2027.toml", &with_name)],
            vec![
                "p-2027.toml:3: unknown field `name`, expected `years_for` or `years`; a year file (years_for = \"...\") holds only years_for and [[years]] tables: the calendar's settings stay in its own file",
            ],
        ),
        (
            "a year file with a calendar setting",
            vec![("p.toml", BASE), ("p-2027.toml", &with_setting)],
            vec![
                "p-2027.toml:3: unknown field `time_zone`, expected `years_for` or `years`; a year file (years_for = \"...\") holds only years_for and [[years]] tables: the calendar's settings stay in its own file",
            ],
        ),
        (
            "a year file with an override",
            vec![("p.toml", BASE), ("p-2027.toml", &with_override)],
            vec![
                "p-2027.toml:27: unknown field `override`, expected `years_for` or `years`; a year file (years_for = \"...\") holds only years_for and [[years]] tables: the calendar's settings stay in its own file",
            ],
        ),
        (
            "a year file's own errors name it",
            vec![("p.toml", BASE), ("p-2027.toml", &bad_make_up)],
            vec![
                "p-2027.toml:20: make-up working day 2027-09-26 is for \"国庆\", which is not a rest block of 2027 (rest blocks: 元旦, 国庆节)",
            ],
        ),
        (
            "a year file's date outside every covered year",
            vec![("p.toml", BASE), ("p-2027.toml", &outside)],
            vec![
                "p-2027.toml:24: make-up working day 2028-01-08 is outside the years the calendar covers (2026–2027)",
            ],
        ),
        (
            "a year file without years",
            vec![("p.toml", BASE), ("p-2027.toml", no_years)],
            vec![
                "p-2027.toml:1: a year file (years_for = \"p\") must define at least one [[years]] table",
            ],
        ),
        (
            "a block across New Year, checked against the calendar file's blocks",
            vec![
                ("p.toml", &base_with_new_year_eve),
                ("p-2027.toml", &across_new_year),
            ],
            vec![
                "p-2027.toml:10: rest block 元旦 2026-12-31..2027-01-03 overlaps 除夕 2026-12-31..2026-12-31",
            ],
        ),
        (
            "a block across New Year into a covered year",
            vec![("p.toml", BASE), ("p-2027.toml", &across_new_year)],
            vec![],
        ),
    ];
    for (name, files, expected) in cases {
        match load(&files) {
            Ok(_) => assert!(expected.is_empty(), "{name}: loaded, expected {expected:?}"),
            Err(e) => assert_eq!(e.lines().collect::<Vec<_>>(), expected, "{name}"),
        }
    }
}

#[test]
fn added_years_are_covered_and_traced_to_their_file() {
    let set = load(&[
        ("c.toml", VARIANT_2027),
        ("p.toml", BASE),
        ("p-2027.toml", Y2027),
    ])
    .unwrap();
    let p = set.get("p").unwrap();
    let c = set.get("c").unwrap();
    for (day, in_p, in_c) in [
        ("2027-01-01", false, false), // 元旦 from the year file
        ("2027-09-26", true, false),  // make-up Sunday; the variant closes it
        ("2027-10-09", true, true),   // make-up Saturday
        ("2026-09-20", true, true),   // the calendar file's own year is unchanged
        ("2027-10-08", true, true),   // an ordinary Friday
    ] {
        assert_eq!(p.is_working_day(date(day)).unwrap(), in_p, "p {day}");
        assert_eq!(c.is_working_day(date(day)).unwrap(), in_c, "c {day}");
    }
    assert_eq!(p.covered_summary(), "2026–2027");
    assert_eq!(p.source_file(), "p.toml");
    assert_eq!(c.source_file(), "c.toml");
    for cal in [p, c] {
        let info = cal.info();
        let years: Vec<(i16, &str, Option<&str>)> = info
            .years
            .iter()
            .map(|y| (y.year, y.source.as_str(), y.file.as_deref()))
            .collect();
        assert_eq!(
            years,
            [
                (2026, "notice 2026", None),
                (2027, "notice 2027", Some("p-2027.toml"))
            ]
        );
        assert_eq!(cal.year_files(), ["p-2027.toml"]);
        assert_eq!(
            cal.year_source(2027).unwrap().published.as_deref(),
            Some("2026-11")
        );
    }
    // `file` is left out of the JSON when the year is the calendar file's own.
    let json = serde_json::to_value(p.info()).unwrap();
    assert!(json["years"][0].get("file").is_none(), "{json}");
    assert_eq!(json["years"][1]["file"], "p-2027.toml");
    let back: crate::CalendarInfo = serde_json::from_value(json).unwrap();
    assert_eq!(back, p.info());
    // Without year files there are none to list.
    assert!(
        load(&[("p.toml", BASE)])
            .unwrap()
            .get("p")
            .unwrap()
            .year_files()
            .is_empty()
    );
}

#[test]
fn a_year_file_alone_is_not_a_calendar() {
    let e = Calendar::from_toml_str(Y2027, "p-2027.toml").unwrap_err();
    assert!(matches!(
        e.errors.first().map(|x| &x.problem),
        Some(FileProblem::YearFileNeedsCalendar(id)) if id == "p"
    ));
    assert!(
        e.to_string()
            .starts_with("p-2027.toml:2: years_for \"p\": a year file adds years")
    );
    // Only year files in a folder: nothing to add them to.
    let msg = load(&[("p-2027.toml", Y2027)]).unwrap_err();
    assert_eq!(
        msg,
        "p-2027.toml:2: years_for \"p\": there is no calendar with that id in this folder (known: )"
    );
    // A calendar file that does not parse has no id: its year files do not add noise.
    let msg = load(&[("p.toml", "id = \"p\"\nname = "), ("p-2027.toml", Y2027)]).unwrap_err();
    assert_eq!(msg.lines().count(), 1, "{msg}");
    assert!(msg.starts_with("p.toml:2: "), "{msg}");
}

/// The shipped calendars with a 2027 year file, as the folder would load them.
fn shipped_with(extra: &[(&str, String)], financial_extra: &str) -> Result<CalendarSet, String> {
    let read = |f: &str| std::fs::read_to_string(calendars_dir().join(f)).unwrap();
    let financial = read("cn-financial.toml") + financial_extra;
    let mut sources = vec![
        ("cn-financial.toml".to_owned(), financial),
        ("cn-mainland.toml".to_owned(), read("cn-mainland.toml")),
    ];
    sources.extend(extra.iter().map(|(n, t)| ((*n).to_owned(), t.clone())));
    CalendarSet::from_sources_with_statutes(
        [(
            "statutes/cn-national-holidays.toml",
            read("statutes/cn-national-holidays.toml"),
        )],
        sources,
    )
    .map_err(|e| e.to_string())
}

fn cn_2027() -> String {
    Y2027.replace("years_for = \"p\"", "years_for = \"cn-mainland\"")
}

#[test]
fn shipped_financial_override_for_a_year_file_year() {
    let close = "\n[[override]]\ndates = [2027-09-26, 2027-10-09]\nstatus = \"rest\"\nreason = \"exchanges closed on make-up weekend day\"\n";
    let set = shipped_with(&[("cn-mainland-2027.toml", cn_2027())], close).unwrap();
    let cn = set.get("cn-mainland").unwrap();
    let fin = set.get("cn-financial").unwrap();
    let d = date("2027-09-26");
    assert!(cn.is_working_day(d).unwrap());
    assert!(!fin.is_working_day(d).unwrap());
    assert!(!fin.day(d).unwrap().provisional);
    assert_eq!(cn.source_file(), "cn-mainland.toml");
    assert_eq!(fin.year_files(), ["cn-mainland-2027.toml"]);

    let msg = shipped_with(&[], close).unwrap_err();
    assert_eq!(
        msg.lines().collect::<Vec<_>>(),
        [
            "cn-financial.toml:29: override 2027-09-26 is outside the years the calendar covers (2024–2026)",
            "cn-financial.toml:29: override 2027-10-09 is outside the years the calendar covers (2024–2026)",
        ]
    );
}

#[test]
fn version_changes_with_a_year_file() {
    let without = shipped_with(&[], "").unwrap();
    let with = shipped_with(&[("cn-mainland-2027.toml", cn_2027())], "").unwrap();
    for id in ["cn-mainland", "cn-financial"] {
        let (a, b) = (without.get(id).unwrap(), with.get(id).unwrap());
        assert_ne!(a.version(), b.version(), "{id}");
    }
    // The same year under another file name is the same data: the version stays.
    let renamed = shipped_with(&[("zz-2027.toml", cn_2027())], "").unwrap();
    assert_eq!(
        renamed.get("cn-mainland").unwrap().version(),
        with.get("cn-mainland").unwrap().version()
    );
    // As is the shipped folder without a year file.
    assert_eq!(
        without.get("cn-mainland").unwrap().version(),
        super::cn().version()
    );
}

#[test]
fn load_dir_reads_year_files() {
    let dir = std::env::temp_dir().join(format!("redress-cal-yearfile-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("statutes")).unwrap();
    for f in [
        "cn-mainland.toml",
        "cn-financial.toml",
        "statutes/cn-national-holidays.toml",
    ] {
        std::fs::copy(calendars_dir().join(f), dir.join(f)).unwrap();
    }
    std::fs::write(dir.join("cn-mainland-2027.toml"), cn_2027()).unwrap();
    let set = CalendarSet::load_dir(&dir).unwrap();
    assert_eq!(set.len(), 2);
    let cn = set.get("cn-mainland").unwrap();
    assert!(cn.covers(2027));
    assert!(cn.source_file().ends_with("cn-mainland.toml"));
    let file = cn.year_source(2027).unwrap().file.clone().unwrap();
    assert!(file.ends_with("cn-mainland-2027.toml"), "{file}");
    assert_eq!(cn.year_files(), [file]);
    std::fs::remove_dir_all(&dir).unwrap();
}

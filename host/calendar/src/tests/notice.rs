//! Reading State Council notices (`notice.rs`).
//!
//! The 2025 and 2026 fixtures (`tests/fixtures/notices/`) were transcribed from the notices
//! and cross-checked against the schedule table in `shared/domain/regulations.md` §1; the
//! tests below also compare them day by day with the shipped `cn-mainland.toml`.

use std::path::{Path, PathBuf};

use jiff::civil::Date;

use super::{calendars_dir, cn, date};
use crate::notice::{
    NoticeError, ParsedNotice, diff_against, parse_notice, parse_notice_for, to_toml,
};
use crate::{Calendar, CalendarSet, DayKind};

fn fixture(year: i16) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join(format!("tests/fixtures/notices/{year}.txt"));
    std::fs::read_to_string(path).unwrap()
}

/// The calendar file's text without the `[[years]]` table of `year` (and its separator
/// comment), so a parsed notice can stand in for it.
pub(crate) fn without_year(text: &str, year: i16) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let is_start = |i: usize| {
        lines[i] == "[[years]]" && lines.get(i + 1) == Some(&format!("year = {year}").as_str())
    };
    let start = (0..lines.len()).find(|&i| is_start(i)).unwrap();
    let start = if start > 0 && lines[start - 1].starts_with("# ---") {
        start - 1
    } else {
        start
    };
    let end = (start + 2..lines.len())
        .find(|&i| lines[i] == "[[years]]" || lines[i].starts_with("[[override]]"))
        .map(|i| {
            if lines[i - 1].starts_with("# ---") {
                i - 1
            } else {
                i
            }
        })
        .unwrap_or(lines.len());
    let mut out: Vec<&str> = lines[..start].to_vec();
    out.extend_from_slice(&lines[end..]);
    out.join("\n") + "\n"
}

/// A copy of the shipped calendars folder (statutes included) in a fresh temp dir.
fn temp_copy(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("redress-notice-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    copy_dir(&calendars_dir(), &dir);
    dir
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let path = entry.unwrap().path();
        let target = to.join(path.file_name().unwrap());
        if path.is_dir() {
            copy_dir(&path, &target);
        } else {
            std::fs::copy(&path, &target).unwrap();
        }
    }
}

/// The shipped folder with `year` replaced by the notice's `to_toml` output, loaded.
fn with_notice_year(notice: &ParsedNotice, name: &str) -> CalendarSet {
    let dir = temp_copy(name);
    let file = dir.join("cn-mainland.toml");
    let text = std::fs::read_to_string(&file).unwrap();
    let replaced = without_year(&text, notice.year) + "\n" + &to_toml(notice);
    std::fs::write(&file, replaced).unwrap();
    let set = CalendarSet::load_dir(&dir).unwrap_or_else(|e| panic!("{e}\n{}", to_toml(notice)));
    let _ = std::fs::remove_dir_all(&dir);
    set
}

fn days_of(year: i16) -> impl Iterator<Item = Date> {
    let first = Date::new(year, 1, 1).unwrap();
    (0..366)
        .map(move |i| first.checked_add(jiff::Span::new().days(i)).unwrap())
        .filter(move |d| d.year() == year)
}

#[test]
fn published_notices_give_the_shipped_schedule_day_by_day() {
    for year in [2025i16, 2026] {
        let notice = parse_notice_for(&fixture(year), cn()).unwrap();
        assert_eq!(notice.year, year);
        let set = with_notice_year(&notice, &format!("shipped-{year}"));
        let from_notice = set.get("cn-mainland").unwrap();
        for d in days_of(year) {
            assert_eq!(
                from_notice.is_working_day(d).unwrap(),
                cn().is_working_day(d).unwrap(),
                "{d}: notice {:?}, shipped {:?}",
                from_notice.day(d).unwrap().kind,
                cn().day(d).unwrap().kind
            );
        }
        // Nothing to amend: the shipped year already says what the notice says.
        assert_eq!(diff_against(cn(), &notice), vec![], "{year}");
        // The stated totals, make-up weekdays and statute all agree with the notice.
        let real: Vec<&String> = notice
            .warnings
            .iter()
            .filter(|w| {
                !w.contains("not checked against the statute") && !w.contains("has no statute")
            })
            .collect();
        assert!(real.is_empty(), "{year}: {real:?}");
    }
}

#[test]
fn in_lieu_days_follow_the_statute_or_only_bu_xiu() {
    for year in [2025i16, 2026] {
        let notice = parse_notice_for(&fixture(year), cn()).unwrap();
        let set = with_notice_year(&notice, &format!("in-lieu-{year}"));
        let from_notice = set.get("cn-mainland").unwrap();
        let kinds = |c: &Calendar| {
            days_of(year)
                .map(|d| c.day(d).unwrap().kind)
                .collect::<Vec<_>>()
        };
        if cn().statute().is_some() {
            // With the statute the in-lieu days are exactly the shipped ones.
            assert_eq!(kinds(from_notice), kinds(cn()), "{year}");
        } else {
            assert!(notice.rests.iter().all(|r| r.in_lieu.is_empty()));
            assert!(notice.warnings.iter().any(|w| w.contains("no statute")));
        }
    }
}

#[test]
fn header_fields_and_names_as_written() {
    let n = parse_notice(&fixture(2025)).unwrap();
    assert_eq!(
        n.source,
        "国务院办公厅关于2025年部分节假日安排的通知 (国办发明电〔2024〕12号)"
    );
    assert_eq!(n.published.as_deref(), Some("2024-11-12"));
    let names: Vec<&str> = n.rests.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "元旦",
            "春节",
            "清明节",
            "劳动节",
            "端午节",
            "国庆节、中秋节"
        ]
    );
    let r = &n.rests[1];
    assert_eq!(
        (r.first, r.last, r.stated_days),
        (date("2025-01-28"), date("2025-02-04"), Some(8))
    );
    assert_eq!(n.rests[0].stated_days, Some(1));
    let mk: Vec<(Date, &str, usize)> = n
        .make_ups
        .iter()
        .map(|m| (m.date, m.for_holiday.as_str(), m.line))
        .collect();
    assert_eq!(
        mk,
        [
            (date("2025-01-26"), "春节", 6),
            (date("2025-02-08"), "春节", 6),
            (date("2025-04-27"), "劳动节", 8),
            (date("2025-09-28"), "国庆节、中秋节", 10),
            (date("2025-10-11"), "国庆节、中秋节", 10),
        ]
    );

    let n = parse_notice(&fixture(2026)).unwrap();
    assert_eq!(n.source, "国务院办公厅关于2026年部分节假日安排的通知");
    assert_eq!(n.published.as_deref(), Some("2025-11"));
    assert_eq!(n.rests.len(), 7);
}

#[test]
fn to_toml_has_the_calendar_file_style() {
    let n = parse_notice(&fixture(2025)).unwrap();
    let t = to_toml(&n);
    assert!(t.starts_with("# ----"), "{t}");
    for expected in [
        "[[years]]\nyear = 2025\nsource = \"国务院办公厅关于2025年部分节假日安排的通知 (国办发明电〔2024〕12号)\"\npublished = \"2024-11-12\"\n",
        "\n[[years.rest]]\nname = \"元旦\"\nfirst = 2025-01-01\nlast = 2025-01-01\n",
        "\n[[years.make_up]]\ndate = 2025-10-11\nfor = \"国庆节、中秋节\"\n",
    ] {
        assert!(t.contains(expected), "{expected:?} not in\n{t}");
    }
}

#[test]
fn diff_against_a_calendar_without_the_year() {
    let notice = parse_notice_for(&fixture(2026), cn()).unwrap();
    let text = std::fs::read_to_string(calendars_dir().join("cn-mainland.toml")).unwrap();
    let base = Calendar::from_toml_str(&without_year(&text, 2026), "cn-mainland.toml");
    // Without its statute folder a calendar naming a statute does not load alone; the diff
    // is then checked against the folder copy instead.
    let set;
    let cal = match &base {
        Ok(c) => c,
        Err(_) => {
            let dir = temp_copy("diff");
            // The variant overrides 2026 days, which a calendar without 2026 refuses.
            std::fs::remove_file(dir.join("cn-financial.toml")).unwrap();
            std::fs::write(dir.join("cn-mainland.toml"), without_year(&text, 2026)).unwrap();
            set = CalendarSet::load_dir(&dir).unwrap();
            let _ = std::fs::remove_dir_all(&dir);
            set.get("cn-mainland").unwrap()
        }
    };
    let changes = diff_against(cal, &notice);
    let lines: Vec<String> = changes.iter().map(|c| c.describe()).collect();
    let sun = lines
        .iter()
        .find(|l| l.starts_with("2026-01-04 Sun: "))
        .unwrap_or_else(|| panic!("{lines:#?}"));
    assert!(
        sun.ends_with("provisional rest (weekend) → working (make-up day for 元旦)"),
        "{sun}"
    );
    // Every make-up day is a change (a weekend becomes working) and every weekday of a
    // rest block that the provisional answer works is a change.
    for m in &notice.make_ups {
        assert!(changes.iter().any(|c| c.date == m.date), "{}", m.date);
    }
    assert!(changes.iter().any(|c| c.date == date("2026-02-23")
        && c.before == DayKind::Working
        && !c.after.is_working()));
    assert!(changes.iter().all(|c| c.before_provisional));
}

#[test]
fn the_2017_style_parses() {
    let text = "国务院办公厅关于2017年部分节假日安排的通知\n\
        国办发明电〔2016〕17号\n\
        各省、自治区、直辖市人民政府，国务院各部委、各直属机构：\n\
        经国务院批准，现将2017年元旦、春节、清明节、劳动节、端午节、中秋节和国庆节放假调休日期的具体安排通知如下。\n\
        一、元旦：1月1日放假，1月2日（星期一）补休。\n\
        二、春节：1月27日至2月2日放假调休，共7天。1月22日（星期日）、2月4日（星期六）上班。\n\
        三、清明节：4月2日至4日放假调休，共3天。4月1日（星期六）上班。\n\
        四、劳动节：5月1日放假，与周末连休。\n\
        五、端午节：5月28日至30日放假调休，共3天。5月27日（星期六）上班。\n\
        六、中秋节、国庆节：10月1日至8日放假调休，共8天。9月30日（星期六）上班。\n\
        国务院办公厅\n\
        2016年11月30日\n";
    let n = parse_notice(text).unwrap();
    assert_eq!(n.year, 2017);
    assert_eq!(n.published.as_deref(), Some("2016-11-30"));
    let blocks: Vec<(&str, Date, Date)> = n
        .rests
        .iter()
        .map(|r| (r.name.as_str(), r.first, r.last))
        .collect();
    assert_eq!(
        blocks,
        [
            ("元旦", date("2017-01-01"), date("2017-01-02")),
            ("春节", date("2017-01-27"), date("2017-02-02")),
            ("清明节", date("2017-04-02"), date("2017-04-04")),
            ("劳动节", date("2017-04-29"), date("2017-05-01")),
            ("端午节", date("2017-05-28"), date("2017-05-30")),
            ("中秋节、国庆节", date("2017-10-01"), date("2017-10-08")),
        ]
    );
    assert!(n.rests[0].in_lieu.contains(&date("2017-01-02")));
    assert_eq!(n.make_ups.len(), 5);
    assert!(
        n.warnings.iter().all(|w| !w.contains("共")),
        "{:?}",
        n.warnings
    );
}

#[test]
fn written_forms() {
    let head = "国务院办公厅关于2016年部分节假日安排的通知\n";
    let table: &[(&str, &str, &str, &[&str])] = &[
        // Full-width digits and half-width punctuation.
        (
            "一、元旦：１月１日（周五）至３日（周日）放假，共３天。",
            "2016-01-01",
            "2016-01-03",
            &[],
        ),
        (
            "一、元旦:1月1日(周五)至3日(周日)放假,共3天.",
            "2016-01-01",
            "2016-01-03",
            &[],
        ),
        // No annotations, 日 omitted after the range end, spaces.
        ("一、元旦： 1月1日至3 放假", "2016-01-01", "2016-01-03", &[]),
        // A range across the year boundary with the end's year written.
        (
            "一、元旦：12月30日至2016年1月1日放假调休，共3天。",
            "2015-12-30",
            "2016-01-01",
            &[],
        ),
        // Across months, two make-up days.
        (
            "二、春节：2月7日（农历除夕、星期日）至13日（星期六）放假调休，共7天。2月6日（星期六）、2月14日（星期日）上班。",
            "2016-02-07",
            "2016-02-13",
            &["2016-02-06", "2016-02-14"],
        ),
        (
            "六、国庆节：9月30日至10月2日放假",
            "2016-09-30",
            "2016-10-02",
            &[],
        ),
    ];
    for (line, first, last, make_ups) in table {
        let n = parse_notice(&format!("{head}{line}\n")).unwrap_or_else(|e| panic!("{line}: {e}"));
        assert_eq!(
            (n.rests[0].first, n.rests[0].last),
            (date(first), date(last)),
            "{line}"
        );
        let got: Vec<Date> = n.make_ups.iter().map(|m| m.date).collect();
        let want: Vec<Date> = make_ups.iter().map(|d| date(d)).collect();
        assert_eq!(got, want, "{line}");
    }
}

#[test]
fn stated_total_mismatch_is_a_warning() {
    let n = parse_notice(
        "国务院办公厅关于2026年部分节假日安排的通知\n三、清明节：4月4日至6日放假，共4天。\n",
    )
    .unwrap();
    assert!(
        n.warnings
            .iter()
            .any(|w| w.contains("line 2: 清明节 says 共4天 but 2026-04-04..2026-04-06 is 3 days")),
        "{:?}",
        n.warnings
    );
}

#[test]
fn malformed_notices_name_the_line() {
    let head = "国务院办公厅关于2026年部分节假日安排的通知\n各省、自治区、直辖市人民政府，国务院各部委、各直属机构：\n";
    let table: &[(&str, usize, &str)] = &[
        (
            "一、元旦：放假调休，共3天。",
            3,
            "expected a date such as 1月1日",
        ),
        (
            "一、元旦：1月1日（周四）至3日（周六）放假调休，共3天。1月4日（周一）上班。",
            3,
            "1月4日 is a Sunday, the notice says 周一",
        ),
        (
            "一、元旦：1月3日至1日放假。",
            3,
            "the range 1月3日至1月1日 ends before it starts",
        ),
        (
            "一、元旦：1月1日至3日放假调休。1月2日上班。",
            3,
            "make-up working day 1月2日 is inside the rest block 元旦",
        ),
        (
            "一、元旦：1月1日至3日放假。\n二、春节：2月15日至23日休息。",
            4,
            "expected 放假, 上班 or 补休 after the dates",
        ),
        (
            "一、元旦1月1日放假。",
            3,
            "expected the holiday name followed by ：",
        ),
        (
            "一、元旦：1月1日（周四）放假。\n二、春节：2月30日放假。",
            4,
            "2026年2月30日 is not a date",
        ),
        ("一、元旦：1月1日放假，另行通知。", 3, "found \"另行通知\""),
        (
            "一、元旦：1月1日至3日放假。\n二、春节：1月3日至5日放假。",
            4,
            "overlaps 元旦",
        ),
    ];
    for (body, line, message) in table {
        let e: NoticeError = parse_notice(&format!("{head}{body}\n")).unwrap_err();
        assert_eq!(e.line, *line, "{body}: {e}");
        assert!(e.message.contains(message), "{body}: {e}");
        assert!(
            e.to_string()
                .starts_with(&format!("line {line}: cannot read \"")),
            "{e}"
        );
    }
    // The year is missing from the title.
    let e = parse_notice("国务院办公厅关于部分节假日安排的通知\n\n一、元旦：1月1日放假。\n")
        .unwrap_err();
    assert_eq!(e.line, 1, "{e}");
    assert!(e.message.contains("expected the year in the title"), "{e}");
    // No title at all.
    let e = parse_notice("\n一、元旦：1月1日放假。\n").unwrap_err();
    assert_eq!(e.line, 2, "{e}");
}

//! Unit tests: worked examples and tricky cases, calendar-file validation, property tests.
//! The oracle comparison lives in `tests/oracle.rs`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod counting;
mod examples;
mod notice;
mod props;
mod statute;
mod validation;
mod year_files;

use std::path::PathBuf;
use std::sync::OnceLock;

use jiff::Timestamp;
use jiff::civil::Date;

use crate::{Calendar, CalendarSet};

pub(crate) fn calendars_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../rulesets/calendars")
}

pub(crate) fn shipped() -> &'static CalendarSet {
    static SET: OnceLock<CalendarSet> = OnceLock::new();
    SET.get_or_init(|| CalendarSet::load_dir(calendars_dir()).unwrap())
}

pub(crate) fn cn() -> &'static Calendar {
    shipped().get("cn-mainland").unwrap()
}

pub(crate) fn fin() -> &'static Calendar {
    shipped().get("cn-financial").unwrap()
}

/// cn-mainland.toml as shipped, without its statute and with `uncovered = "refuse"`.
pub(crate) fn cn_text_refusing() -> String {
    let text = std::fs::read_to_string(calendars_dir().join("cn-mainland.toml")).unwrap();
    let out: String = text
        .lines()
        .filter(|l| !l.starts_with("statute = "))
        .map(|l| {
            if l.starts_with("uncovered = ") {
                "uncovered = \"refuse\"\n".to_owned()
            } else {
                format!("{l}\n")
            }
        })
        .collect();
    assert!(out.contains("uncovered = \"refuse\""));
    out
}

pub(crate) fn cn_refusing() -> Calendar {
    Calendar::from_toml_str(&cn_text_refusing(), "cn-refusing.toml").unwrap()
}

pub(crate) fn date(s: &str) -> Date {
    s.parse().unwrap()
}

/// A local Asia/Shanghai instant, `"2026-02-13 09:00"`.
pub(crate) fn at(s: &str) -> Timestamp {
    let dt: jiff::civil::DateTime = s.replace(' ', "T").parse().unwrap();
    dt.in_tz("Asia/Shanghai").unwrap().timestamp()
}

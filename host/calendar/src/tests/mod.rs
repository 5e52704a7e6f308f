//! Unit tests: worked examples and tricky cases, calendar-file validation, property tests.
//! The oracle comparison lives in `tests/oracle.rs`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod examples;
mod notice;
mod props;
mod statute;
mod validation;

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

pub(crate) fn date(s: &str) -> Date {
    s.parse().unwrap()
}

/// A local Asia/Shanghai instant, `"2026-02-13 09:00"`.
pub(crate) fn at(s: &str) -> Timestamp {
    let dt: jiff::civil::DateTime = s.replace(' ', "T").parse().unwrap();
    dt.in_tz("Asia/Shanghai").unwrap().timestamp()
}

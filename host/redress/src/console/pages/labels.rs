//! What the console's pages say about a case, the same way on every page: labels of statuses,
//! sectors, clocks and actions from the catalogues, dates in the calendars' time zone, what is
//! left of a clock, and the refusals every page may give.

use axum::http::StatusCode;
use jiff::Timestamp;
use redress_domain::{
    Case,
    clock::{CaseClock, ClockState, ClockUnit},
    lifecycle::Status,
};

use crate::{
    access::Role,
    console::{PageError, Texts, Viewer},
    server::AppState,
};

pub(super) fn may(viewer: &Viewer, roles: &[Role]) -> bool {
    viewer.principal.has_any(roles)
}

pub(super) fn forbidden(viewer: &Viewer) -> PageError {
    PageError {
        status: StatusCode::FORBIDDEN,
        texts: viewer.texts,
        heading_key: "error.forbidden_title",
        message: viewer.texts.t("error.forbidden").to_owned(),
        path: viewer.path.clone(),
    }
}

pub(super) fn server_error(viewer: &Viewer, error: impl std::fmt::Display) -> PageError {
    tracing::error!(error = %error, path = %viewer.path, "a console page failed");
    PageError::server(viewer.texts, &viewer.path)
}

/// The next thing a case owes: its overdue clock, else its soonest running one.
#[derive(Debug, Clone)]
pub(super) struct NextClock {
    pub(super) label: String,
    pub(super) due: String,
    pub(super) remaining: String,
    pub(super) overdue: bool,
}

pub(super) fn local_date(t: Timestamp) -> String {
    t.to_zoned(jiff::tz::TimeZone::get("Asia/Shanghai").unwrap_or(jiff::tz::TimeZone::UTC))
        .strftime("%Y-%m-%d")
        .to_string()
}

pub(super) fn local_time(t: Timestamp) -> String {
    t.to_zoned(jiff::tz::TimeZone::get("Asia/Shanghai").unwrap_or(jiff::tz::TimeZone::UTC))
        .strftime("%Y-%m-%d %H:%M")
        .to_string()
}

/// The due date (the last day of the period) of a clock.
pub(super) fn due_date(clock: &CaseClock) -> Option<String> {
    clock
        .due_at
        .map(|due| local_date(due - jiff::SignedDuration::from_nanos(1)))
}

pub(super) fn unit_key(unit: ClockUnit) -> &'static str {
    match unit {
        ClockUnit::WorkingDays => "clock.unit.working_days",
        ClockUnit::CalendarDays => "clock.unit.calendar_days",
        ClockUnit::Hours => "clock.unit.hours",
    }
}

/// "还剩 3 个工作日" / "已超期 2 个工作日" / "暂停中，还剩 4 个工作日".
pub(super) fn remaining_text(
    t: Texts,
    state: &AppState,
    clock: &CaseClock,
    now: Timestamp,
) -> String {
    let calendars = state.app.calendars().current();
    let Some(left) = crate::deadlines::remaining(&calendars, clock, now) else {
        return String::new();
    };
    let unit = t.t(unit_key(left.unit));
    let amount = left.amount.abs().to_string();
    let key = match (left.counting, left.amount < 0) {
        (false, _) => "clock.paused_left",
        (true, true) => "clock.overdue_by",
        (true, false) => "clock.left",
    };
    t.fill(key, &[("amount", &amount), ("unit", unit)])
}

pub(super) fn next_clock(
    t: Texts,
    state: &AppState,
    case: &Case,
    now: Timestamp,
) -> Option<NextClock> {
    let owing = case
        .clocks
        .iter()
        .filter(|(_, c)| matches!(c.state, ClockState::Running | ClockState::Breached));
    let (name, clock) = owing.min_by_key(|(_, c)| {
        (
            c.state != ClockState::Breached,
            c.due_at.unwrap_or(Timestamp::MAX),
        )
    })?;
    Some(NextClock {
        label: clock_label(t, name),
        due: due_date(clock).unwrap_or_default(),
        remaining: remaining_text(t, state, clock, now),
        overdue: clock.state == ClockState::Breached || clock.due_at.is_some_and(|due| due <= now),
    })
}

/// A clock's name in words where the catalogue has it (`clock.name.acceptance`), else as is.
pub(super) fn clock_label(t: Texts, name: &str) -> String {
    let key = format!("clock.name.{name}");
    match t.lookup(&key) {
        Some(label) => format!("{label} ({name})"),
        None => name.to_owned(),
    }
}

pub(super) fn status_label(t: Texts, status: Status) -> String {
    t.lookup(&format!("status.{}", status.as_str()))
        .unwrap_or(status.as_str())
        .to_owned()
}

pub(super) fn sector_label(t: Texts, sector: redress_domain::case::Sector) -> String {
    t.lookup(&format!("sector.{}", sector.as_str()))
        .unwrap_or(sector.as_str())
        .to_owned()
}

pub(super) fn action_label(t: Texts, action: &str) -> String {
    t.lookup(&format!("action.{action}"))
        .unwrap_or(action)
        .to_owned()
}

pub(super) fn short(text: &str, chars: usize) -> String {
    let mut out: String = text.chars().take(chars).collect();
    if text.chars().count() > chars {
        out.push('…');
    }
    out
}

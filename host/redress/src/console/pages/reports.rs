//! Volumes and timeliness: `/console/reports` (supervisor, auditor: `allowed::ReadReports`),
//! for the tenant or one office (`?office=`, a supervisor of an office sees their own by
//! default), with server-side SVG charts and the same numbers in tables.
//!
//! - Volume: cases received per week (Monday to Sunday, China Standard Time) for the last 12
//!   weeks, by sector.
//! - Timeliness: per clock kind and month (the last 6), the clocks met on time (stopped as
//!   met and never breached, counted in the month they stopped) and those breached (counted
//!   in the month of the breach, whether or not met later). Windows (`window = true`: a
//!   period the law gives a party) are neither.
//! - Due soon: the open cases with a running clock due within the next 3 days.
//!
//! Cost, bounded: the volume and timeliness read the snapshots of the cases *received* in
//! the last 6 months only, walking the store's received-time index from that instant
//! (`ListQuery::received_from`, as `GET /v1/cases?received_from=` does) in pages of
//! [`PAGE`], at most [`SCAN_LIMIT`] (the page says when it stopped there); "due soon" walks
//! the due index up to now + 3 days. A report made is kept 5 minutes per tenant and office
//! ([`KEPT_FOR`]) and shown with the time it was made, so reloading it costs nothing. Nothing older is read, whatever the store holds. So a
//! clock of a case received earlier than 6 months ago is not in the timeliness table even
//! if it ended within it: with statutory periods of days to a few months, a small share.

use std::collections::BTreeMap;

use askama::Template;
use axum::{
    Router,
    extract::{RawQuery, State},
    http::StatusCode,
    response::Response,
    routing::get,
};
use jiff::{SignedDuration, Timestamp, ToSpan, civil::Date, tz::TimeZone};
use redress_domain::{
    Case,
    case::Sector,
    clock::{CaseClock, ClockState},
};

use super::{
    labels::{forbidden, may, sector_label, server_error},
    query_value,
    report_charts::{Svg, paired, stacked},
};
use crate::{
    console::{Layout, PageError, Texts, Viewer, render},
    server::{AppState, extract::RoleSet, routes::allowed},
    store::ListQuery,
};

pub(super) fn routes() -> Router<AppState> {
    Router::new().route("/console/reports", get(reports))
}

/// Weeks of volume and months of timeliness shown.
const WEEKS: usize = 12;
const MONTHS: usize = 6;
/// "Due soon": within this long from now.
const DUE_SOON: SignedDuration = SignedDuration::from_hours(72);
/// Snapshots read per page, and at most in all: measured on a store of 98,267 cases all
/// received within the window (the worst case), reading them all took 26–32 s in a debug
/// build, about 0.3 ms a case; 20,000 bounds a report to a fifth of that.
const PAGE: usize = 1_000;
const SCAN_LIMIT: usize = 20_000;
/// A report is kept this long and shown again (with the time it was made) instead of being
/// read again: it looks back over weeks and months, and a reload should not cost a scan.
const KEPT_FOR: SignedDuration = SignedDuration::from_mins(5);
/// Reports kept at most (one per tenant and office asked for); a full cache starts afresh.
const KEPT_MAX: usize = 256;

/// A report as made, with when.
#[derive(Debug, Clone)]
struct Made {
    at: Timestamp,
    tally: Tally,
    partial: Option<usize>,
    due: usize,
}

/// The reports made in the last [`KEPT_FOR`], by tenant and office. In this process only:
/// a restart, or another server, makes its own.
static KEPT: std::sync::LazyLock<std::sync::Mutex<std::collections::HashMap<Scope, Made>>> =
    std::sync::LazyLock::new(Default::default);

/// A report's tenant and office.
type Scope = (String, Option<String>);

fn kept(key: &Scope, now: Timestamp) -> Option<Made> {
    let kept = KEPT
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    kept.get(key)
        .filter(|made| made.at <= now && now.duration_since(made.at) < KEPT_FOR)
        .cloned()
}

fn keep(key: Scope, made: Made) {
    let mut kept = KEPT
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if kept.len() >= KEPT_MAX {
        kept.clear();
    }
    kept.insert(key, made);
}

fn zone() -> TimeZone {
    TimeZone::get("Asia/Shanghai").unwrap_or(TimeZone::UTC)
}

fn local(t: Timestamp) -> Date {
    t.to_zoned(zone()).date()
}

fn start_of(date: Date) -> Option<Timestamp> {
    date.to_zoned(zone()).ok().map(|z| z.timestamp())
}

/// The Monday of `date`'s week.
fn monday(date: Date) -> Date {
    let back = i64::from(date.weekday().to_monday_zero_offset());
    date.checked_sub(back.days()).unwrap_or(date)
}

/// The counts of one office or of the tenant.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct Tally {
    /// The first day of each week shown, oldest first.
    pub(super) weeks: Vec<Date>,
    /// Per week, per sector (`Sector::ALL`'s order).
    pub(super) volume: Vec<[usize; 5]>,
    /// The first day of each month shown, oldest first.
    pub(super) months: Vec<Date>,
    /// Per clock kind, per month: (met on time, breached).
    pub(super) timeliness: BTreeMap<String, Vec<(usize, usize)>>,
}

impl Tally {
    pub(super) fn new(now: Timestamp) -> Tally {
        let today = local(now);
        let this_week = monday(today);
        let weeks = (0..WEEKS)
            .rev()
            .filter_map(|i| this_week.checked_sub((7 * i as i64).days()).ok())
            .collect();
        let this_month = today.first_of_month();
        let months = (0..MONTHS)
            .rev()
            .filter_map(|i| this_month.checked_sub((i as i64).months()).ok())
            .collect();
        Tally {
            weeks,
            volume: vec![[0; 5]; WEEKS],
            months,
            timeliness: BTreeMap::new(),
        }
    }

    /// The earliest receipt read: the first day of the oldest month or week shown.
    pub(super) fn since(&self) -> Option<Timestamp> {
        let first = match (self.weeks.first(), self.months.first()) {
            (Some(w), Some(m)) => (*w).min(*m),
            (Some(d), None) | (None, Some(d)) => *d,
            (None, None) => return None,
        };
        start_of(first)
    }

    fn month_of(&self, t: Timestamp) -> Option<usize> {
        let first = local(t).first_of_month();
        self.months.iter().position(|m| *m == first)
    }

    pub(super) fn add(&mut self, case: &Case) {
        let week = monday(local(case.received_at));
        if let Some(w) = self.weeks.iter().position(|d| *d == week)
            && let Some(s) = Sector::ALL.iter().position(|s| *s == case.sector)
        {
            self.volume[w][s] += 1;
        }
        for (name, clock) in &case.clocks {
            if let Some((month, breached)) = self.outcome(clock) {
                let row = self
                    .timeliness
                    .entry(name.clone())
                    .or_insert_with(|| vec![(0, 0); MONTHS]);
                if breached {
                    row[month].1 += 1;
                } else {
                    row[month].0 += 1;
                }
            }
        }
    }

    /// The month a clock counts in and whether it was breached; `None`: still running, a
    /// window, or stopped without being met.
    fn outcome(&self, clock: &CaseClock) -> Option<(usize, bool)> {
        if clock.spec.window {
            return None;
        }
        if clock.state == ClockState::Breached || clock.breached_at.is_some() {
            let at = clock.breached_at.or(clock.due_at)?;
            return Some((self.month_of(at)?, true));
        }
        if clock.state == ClockState::Met {
            return Some((self.month_of(clock.ended_at?)?, false));
        }
        None
    }
}

/// Whether `case` has a running clock (not a window) due in `[now, until)`.
fn due_soon(case: &Case, now: Timestamp, until: Timestamp) -> bool {
    case.is_open()
        && case.clocks.values().any(|c| {
            !c.spec.window
                && c.state == ClockState::Running
                && c.due_at.is_some_and(|due| due >= now && due < until)
        })
}

#[derive(Debug, Clone)]
struct VolumeRow {
    week: String,
    counts: Vec<usize>,
    total: usize,
}

#[derive(Debug, Clone)]
struct TimelinessRow {
    clock: String,
    month: String,
    met: usize,
    breached: usize,
}

#[derive(Template)]
#[template(path = "reports.html")]
struct ReportsPage {
    layout: Layout,
    heading: String,
    office: String,
    scope: String,
    partial: Option<String>,
    sectors: Vec<String>,
    volume_chart: Svg,
    volume: Vec<VolumeRow>,
    timeliness_chart: Svg,
    timeliness: Vec<TimelinessRow>,
    due_soon: String,
    /// "Counted at 10:05": a report is kept a few minutes.
    made_at: String,
}

fn clock_label(t: Texts, name: &str) -> String {
    t.lookup(&format!("clock.name.{name}"))
        .map(|label| format!("{label} ({name})"))
        .unwrap_or_else(|| name.to_owned())
}

fn page(
    t: Texts,
    layout: Layout,
    office: Option<String>,
    tally: &Tally,
    partial: Option<usize>,
    due: usize,
) -> ReportsPage {
    let place = office
        .clone()
        .unwrap_or_else(|| t.t("board.all_offices").to_owned());
    let sectors: Vec<String> = Sector::ALL.iter().map(|s| sector_label(t, *s)).collect();
    let week_label = |d: &Date| d.strftime("%m-%d").to_string();
    let volume: Vec<VolumeRow> = tally
        .weeks
        .iter()
        .zip(&tally.volume)
        .map(|(week, counts)| VolumeRow {
            week: week.to_string(),
            counts: counts.to_vec(),
            total: counts.iter().sum(),
        })
        .collect();
    let received: usize = volume.iter().map(|r| r.total).sum();
    let volume_chart = stacked(
        t.fill("reports.volume_chart", &[("office", &place)]),
        t.fill(
            "reports.volume_desc",
            &[
                ("weeks", &WEEKS.to_string()),
                ("count", &received.to_string()),
            ],
        ),
        &tally
            .weeks
            .iter()
            .zip(&tally.volume)
            .map(|(w, counts)| (week_label(w), counts.to_vec()))
            .collect::<Vec<_>>(),
        &sectors
            .iter()
            .enumerate()
            .map(|(i, s)| (s.clone(), format!("bar sector-{i}")))
            .collect::<Vec<_>>(),
    );
    let month_label = |d: &Date| d.strftime("%Y-%m").to_string();
    let mut per_month = vec![(0usize, 0usize); tally.months.len()];
    let mut timeliness = Vec::new();
    for (clock, months) in &tally.timeliness {
        for (i, (met, breached)) in months.iter().enumerate() {
            if let Some(total) = per_month.get_mut(i) {
                total.0 += met;
                total.1 += breached;
            }
            timeliness.push(TimelinessRow {
                clock: clock_label(t, clock),
                month: tally.months.get(i).map(month_label).unwrap_or_default(),
                met: *met,
                breached: *breached,
            });
        }
    }
    let (met, breached) = per_month
        .iter()
        .fold((0, 0), |(m, b), (m2, b2)| (m + m2, b + b2));
    let timeliness_chart = paired(
        t,
        t.fill("reports.timeliness_chart", &[("office", &place)]),
        t.fill(
            "reports.timeliness_desc",
            &[
                ("months", &MONTHS.to_string()),
                ("met", &met.to_string()),
                ("breached", &breached.to_string()),
            ],
        ),
        &tally
            .months
            .iter()
            .zip(&per_month)
            .map(|(m, (met, breached))| (month_label(m), *met, *breached))
            .collect::<Vec<_>>(),
    );
    ReportsPage {
        layout,
        heading: t.fill("reports.heading", &[("office", &place)]),
        scope: t.t("reports.scope").to_owned(),
        office: office.unwrap_or_default(),
        partial: partial.map(|n| t.fill("reports.partial", &[("count", &n.to_string())])),
        sectors,
        volume_chart,
        volume,
        timeliness_chart,
        timeliness,
        due_soon: t.fill("reports.due_soon", &[("count", &due.to_string())]),
        made_at: String::new(),
    }
}

async fn reports(
    State(state): State<AppState>,
    viewer: Viewer,
    RawQuery(raw): RawQuery,
) -> Result<Response, PageError> {
    if !may(&viewer, allowed::ReadReports::ROLES) {
        return Err(forbidden(&viewer));
    }
    let office = query_value(raw.as_deref(), "office")
        .map(|o| o.trim().to_owned())
        .filter(|o| !o.is_empty())
        .or_else(|| viewer.office().map(str::to_owned));
    let now = state.app.time().now();
    let key = (viewer.principal.tenant.as_str().to_owned(), office.clone());
    let made = match kept(&key, now) {
        Some(made) => made,
        None => {
            let made = make(&state, &viewer, office.as_deref(), now).await?;
            keep(key, made.clone());
            made
        }
    };
    let layout = viewer.layout("reports.title");
    let mut page = page(
        viewer.texts,
        layout,
        office,
        &made.tally,
        made.partial,
        made.due,
    );
    page.made_at = viewer.texts.fill(
        "reports.made_at",
        &[("at", &super::labels::local_time(made.at))],
    );
    Ok(render(StatusCode::OK, &page))
}

/// Reads the cases and counts them (the cost is in the module's documentation).
async fn make(
    state: &AppState,
    viewer: &Viewer,
    office: Option<&str>,
    now: Timestamp,
) -> Result<Made, PageError> {
    let in_scope = |case: &Case| office.is_none_or(|o| case.current_office() == Some(o));
    let tenant = &viewer.principal.tenant;
    let mut tally = Tally::new(now);
    let mut walked = 0;
    let mut cursor = None;
    loop {
        let mut query = ListQuery::tenant(tenant);
        query.received_from = tally.since();
        query.limit = PAGE;
        query.cursor = cursor;
        let page = state
            .app
            .list(query)
            .await
            .map_err(|e| server_error(viewer, e))?;
        walked += page.cases.len();
        for case in page.cases.iter().filter(|c| in_scope(c)) {
            tally.add(case);
        }
        cursor = page.next_cursor;
        if cursor.is_none() || walked >= SCAN_LIMIT {
            break;
        }
    }
    let partial = cursor.is_some().then_some(walked);
    let until = now.saturating_add(DUE_SOON).unwrap_or(now);
    let mut due = 0;
    let mut cursor = None;
    loop {
        let mut query = ListQuery::tenant(tenant);
        query.due_before = Some(until);
        query.limit = PAGE;
        query.cursor = cursor;
        let page = state
            .app
            .list(query)
            .await
            .map_err(|e| server_error(viewer, e))?;
        due += page
            .cases
            .iter()
            .filter(|c| in_scope(c) && due_soon(c, now, until))
            .count();
        cursor = page.next_cursor;
        if cursor.is_none() {
            break;
        }
    }
    Ok(Made {
        at: now,
        tally,
        partial,
        due,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn weeks_start_on_monday_and_months_on_the_first() {
        // 2026-12-02 is a Wednesday, in China Standard Time.
        let tally = Tally::new("2026-12-02T02:00:00Z".parse().unwrap());
        assert_eq!(tally.weeks.len(), WEEKS);
        assert_eq!(
            tally.weeks[WEEKS - 1],
            "2026-11-30".parse::<Date>().unwrap()
        );
        assert_eq!(tally.weeks[0], "2026-09-14".parse::<Date>().unwrap());
        assert_eq!(
            tally.months[MONTHS - 1],
            "2026-12-01".parse::<Date>().unwrap()
        );
        assert_eq!(tally.months[0], "2026-07-01".parse::<Date>().unwrap());
        assert_eq!(
            tally.since(),
            Some("2026-06-30T16:00:00Z".parse().unwrap()),
            "the first of July, Beijing time"
        );
    }
}

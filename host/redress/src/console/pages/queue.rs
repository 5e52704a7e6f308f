//! The work queue (`/console/queue`): my cases, my office's (overdue first, then soonest due,
//! from the store's queue indexes), and for a supervisor the overdue and manual-handling ones.

use askama::Template;
use axum::{
    Router,
    extract::{RawQuery, State},
    http::StatusCode,
    response::Response,
    routing::get,
};

use super::{
    labels::{
        NextClock, forbidden, may, next_clock, sector_label, server_error, short, status_label,
    },
    query_value,
};
use crate::{
    access::Role,
    console::{Layout, PageError, Viewer, render},
    server::{AppState, extract::RoleSet, routes::allowed},
    store::ListQuery,
};

pub(super) fn routes() -> Router<AppState> {
    Router::new().route("/console/queue", get(queue))
}

/// How many cases one queue page shows.
const QUEUE_PAGE: usize = 50;

#[derive(Debug, Clone)]
struct QueueRow {
    href: String,
    reference: String,
    status: String,
    sector: String,
    claim: String,
    respondent: String,
    assignee: String,
    office: String,
    next: Option<NextClock>,
    manual: bool,
}

#[derive(Debug, Clone)]
struct Tab {
    href: String,
    label: String,
    current: bool,
}

#[derive(Template)]
#[template(path = "queue.html")]
struct QueuePage {
    layout: Layout,
    tabs: Vec<Tab>,
    heading: String,
    rows: Vec<QueueRow>,
    next_href: Option<String>,
    empty: String,
}

/// Which queue: `mine` (assigned to me), `office` (my office's, or `office=` for a
/// supervisor), `overdue`, `manual` (the tenant's; supervisors).
async fn queue(
    State(state): State<AppState>,
    viewer: Viewer,
    RawQuery(raw): RawQuery,
) -> Result<Response, PageError> {
    if !may(&viewer, allowed::WorkCases::ROLES) {
        return Err(forbidden(&viewer));
    }
    let t = viewer.texts;
    let supervisor = viewer.account.role == Role::Supervisor;
    let asked_office = query_value(raw.as_deref(), "office").filter(|o| !o.trim().is_empty());
    // A person scoped to an office sees that office only (the service lists no other for
    // them); a supervisor of the whole tenant may name one.
    let office = match (viewer.office(), supervisor) {
        (Some(own), _) => Some(own.to_owned()),
        (None, true) => asked_office,
        (None, false) => None,
    };
    let default_view = if supervisor { "office" } else { "mine" };
    let view = query_value(raw.as_deref(), "view").unwrap_or_else(|| default_view.to_owned());
    let mut query = ListQuery::tenant(&viewer.principal.tenant);
    query.limit = QUEUE_PAGE;
    query.cursor = query_value(raw.as_deref(), "cursor");
    let view = match view.as_str() {
        "office" if office.is_some() => {
            query.office.clone_from(&office);
            "office"
        }
        "overdue" if supervisor => {
            query.overdue = true;
            query.office.clone_from(&office);
            "overdue"
        }
        "manual" if supervisor => {
            query.manual = true;
            "manual"
        }
        _ => {
            query.assignee = Some(viewer.account.username.clone());
            "mine"
        }
    };
    let page = state
        .app
        .list_as(&viewer.principal, query)
        .await
        .map_err(|e| server_error(&viewer, e))?;
    let now = state.app.time().now();
    let rows = page
        .cases
        .iter()
        .map(|case| QueueRow {
            href: format!("/console/cases/{}", case.id),
            reference: case.tracking_code.as_str().to_owned(),
            status: status_label(t, case.status),
            sector: sector_label(t, case.sector),
            claim: short(&case.intake.claim, 40),
            respondent: short(&case.intake.respondent.name, 24),
            assignee: case.assignee().unwrap_or("—").to_owned(),
            office: case.current_office().unwrap_or("—").to_owned(),
            next: next_clock(t, &state, case, now),
            manual: case.manual_handling.is_some(),
        })
        .collect();
    let office_param = office
        .as_deref()
        .map(|o| {
            let o: String = form_urlencoded::byte_serialize(o.as_bytes()).collect();
            format!("&office={o}")
        })
        .unwrap_or_default();
    let mut tabs = vec![Tab {
        href: "/console/queue?view=mine".into(),
        label: t.t("queue.mine").to_owned(),
        current: view == "mine",
    }];
    if let Some(office) = &office {
        tabs.push(Tab {
            href: format!("/console/queue?view=office{office_param}"),
            label: t.fill("queue.office", &[("office", office)]),
            current: view == "office",
        });
    }
    if supervisor {
        tabs.push(Tab {
            href: format!("/console/queue?view=overdue{office_param}"),
            label: t.t("queue.overdue").to_owned(),
            current: view == "overdue",
        });
        tabs.push(Tab {
            href: "/console/queue?view=manual".into(),
            label: t.t("queue.manual").to_owned(),
            current: view == "manual",
        });
    }
    let heading = tabs
        .iter()
        .find(|tab| tab.current)
        .map(|tab| tab.label.clone())
        .unwrap_or_default();
    let next_href = page
        .next_cursor
        .map(|cursor| format!("/console/queue?view={view}{office_param}&cursor={cursor}"));
    let page = QueuePage {
        layout: viewer.layout("queue.title"),
        tabs,
        heading,
        rows,
        next_href,
        empty: t.t("queue.empty").to_owned(),
    };
    Ok(render(StatusCode::OK, &page))
}

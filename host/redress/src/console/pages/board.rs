//! The supervisor's office board: `/console/board` (role Supervisor, `allowed::Supervise`).
//!
//! The office's open cases nobody is assigned to (each with an assign form), its overdue
//! cases, the tenant's cases in manual handling, and the backlog by age as a server-side SVG
//! bar chart. The office is the supervisor's own, or `?office=` (a supervisor may look at
//! another); without either, the tenant's. All of it from `Redress::list` with the store's
//! indexes (`ListQuery::office`, `overdue`, `manual`), as the API's `GET /v1/cases` lists,
//! and `Redress::open_cases` (the backlog and the unassigned, from index keys alone).
//!
//! `POST /console/board/assign` records `assign` through `Redress::act` exactly as the case
//! page does: CSRF first, the role, the case as the viewer may see it, the lifecycle, the
//! form read through the API's types, the version the board showed.

use askama::Template;
use axum::{
    Router,
    extract::{RawQuery, State},
    http::StatusCode,
    response::Response,
    routing::{get, post},
};
use jiff::Timestamp;
use redress_domain::Case;

use super::{
    backlog::{Chart, age_days, bucket, chart},
    cases::{allowed_actions, field_label, load, parse_id},
    labels::{
        NextClock, forbidden, may, next_clock, sector_label, server_error, short, status_label,
    },
    query_value,
};
use crate::{
    console::{Layout, PageError, PageForm, Texts, Viewer, render, see_other},
    forms::{self, FormFaults},
    server::{AppState, extract::RoleSet, problem::ApiError, routes::allowed},
    service::Acting,
    store::ListQuery,
};

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/console/board", get(board))
        .route("/console/board/assign", post(assign))
}

/// Cases shown in each list.
const LIST: usize = 50;

#[derive(Debug, Clone)]
struct AssignForm {
    assignee: String,
    office: String,
    error: Option<String>,
}

#[derive(Debug, Clone)]
struct Row {
    id: String,
    href: String,
    reference: String,
    status: String,
    sector: String,
    claim: String,
    age: String,
    assignee: String,
    office: String,
    next: Option<NextClock>,
    version: u64,
    assign: Option<AssignForm>,
}

/// A list of cases under its heading (overdue, manual handling).
#[derive(Debug, Clone)]
struct List {
    id: &'static str,
    heading: String,
    rows: Vec<Row>,
}

#[derive(Template)]
#[template(path = "board.html")]
struct BoardPage {
    layout: Layout,
    heading: String,
    office: String,
    notice: Option<String>,
    errors: Vec<String>,
    unassigned: Vec<Row>,
    unassigned_more: bool,
    lists: Vec<List>,
    chart: Chart,
    open_total: String,
    csrf: String,
}

/// The submitted assign form that was refused, shown again on its case with its faults.
struct Refused {
    case: String,
    assignee: String,
    office: String,
    faults: FormFaults,
}

/// The office the board shows: a supervisor's own when the account has one (its scope: the
/// service lists no other office for it), else the one asked for, else the tenant's.
fn office_of(viewer: &Viewer, asked: Option<String>) -> Option<String> {
    viewer
        .office()
        .map(str::to_owned)
        .or_else(|| asked.map(|o| o.trim().to_owned()).filter(|o| !o.is_empty()))
}

fn row(t: Texts, state: &AppState, case: &Case, now: Timestamp) -> Row {
    Row {
        id: case.id.to_string(),
        href: format!("/console/cases/{}", case.id),
        reference: case.tracking_code.as_str().to_owned(),
        status: status_label(t, case.status),
        sector: sector_label(t, case.sector),
        claim: short(&case.intake.claim, 40),
        age: t.fill(
            "board.days",
            &[("days", &age_days(case.received_at, now).to_string())],
        ),
        assignee: case.assignee().unwrap_or("—").to_owned(),
        office: case.current_office().unwrap_or("—").to_owned(),
        next: next_clock(t, state, case, now),
        version: case.version,
        assign: None,
    }
}

async fn build(
    state: &AppState,
    viewer: &Viewer,
    office: Option<String>,
    notice: Option<String>,
    refused: Option<Refused>,
) -> Result<BoardPage, PageError> {
    let t = viewer.texts;
    let now = state.app.time().now();
    let tenant = &viewer.principal.tenant;
    // The open cases of the office (its queue), else of the tenant, for the unassigned list
    // and the backlog: from the store's indexes, then the snapshots of the first unassigned.
    let open = state
        .app
        .open_cases(tenant.clone(), office.clone())
        .await
        .map_err(|e| server_error(viewer, e))?;
    let mut counts = [0usize; 5];
    for received in &open.received {
        counts[bucket(age_days(*received, now))] += 1;
    }
    let open_total = open.received.len();
    let unassigned_more = open.unassigned.len() > LIST;
    let mut unassigned = Vec::new();
    for id in open.unassigned.iter().take(LIST) {
        let Some(case) = state
            .app
            .get_as(&viewer.principal, *id)
            .await
            .map_err(|e| server_error(viewer, e))?
        else {
            continue;
        };
        let mut r = row(t, state, &case, now);
        // The case page's scope: a supervisor of an office assigns its cases.
        let in_scope = viewer.principal.may_see(&case);
        r.assign =
            (in_scope && allowed_actions(viewer, &case).contains(&"assign")).then(|| AssignForm {
                assignee: String::new(),
                office: office
                    .clone()
                    .or_else(|| case.current_office().map(str::to_owned))
                    .unwrap_or_default(),
                error: None,
            });
        unassigned.push(r);
    }
    let mut errors = Vec::new();
    if let Some(refused) = refused {
        errors = refused
            .faults
            .iter()
            .map(|(field, why)| {
                if field.is_empty() {
                    why.clone()
                } else {
                    format!("{}: {why}", field_label(t, "assign", field))
                }
            })
            .collect();
        if let Some(r) = unassigned.iter_mut().find(|r| r.id == refused.case)
            && let Some(form) = &mut r.assign
        {
            form.assignee = refused.assignee;
            form.office = refused.office;
            form.error = Some(errors.join("; "));
        }
    }
    let mut overdue_query = ListQuery::tenant(tenant);
    overdue_query.overdue = true;
    overdue_query.office.clone_from(&office);
    overdue_query.limit = LIST;
    let overdue = state
        .app
        .list_as(&viewer.principal, overdue_query)
        .await
        .map_err(|e| server_error(viewer, e))?;
    let mut manual_query = ListQuery::tenant(tenant);
    manual_query.manual = true;
    manual_query.limit = LIST;
    let manual = state
        .app
        .list_as(&viewer.principal, manual_query)
        .await
        .map_err(|e| server_error(viewer, e))?;
    let place = office
        .clone()
        .unwrap_or_else(|| t.t("board.all_offices").to_owned());
    Ok(BoardPage {
        layout: viewer.layout("board.title"),
        heading: t.fill("board.heading", &[("office", &place)]),
        office: office.unwrap_or_default(),
        notice,
        errors,
        unassigned,
        unassigned_more,
        lists: vec![
            List {
                id: "overdue",
                heading: t.t("board.overdue").to_owned(),
                rows: overdue
                    .cases
                    .iter()
                    .map(|c| row(t, state, c, now))
                    .collect(),
            },
            List {
                id: "manual",
                heading: t.t("board.manual").to_owned(),
                rows: manual.cases.iter().map(|c| row(t, state, c, now)).collect(),
            },
        ],
        chart: chart(t, &counts, &place),
        open_total: t.fill("board.open_total", &[("count", &open_total.to_string())]),
        csrf: viewer.csrf().to_owned(),
    })
}

async fn board(
    State(state): State<AppState>,
    viewer: Viewer,
    RawQuery(raw): RawQuery,
) -> Result<Response, PageError> {
    if !may(&viewer, allowed::Supervise::ROLES) {
        return Err(forbidden(&viewer));
    }
    let office = office_of(&viewer, query_value(raw.as_deref(), "office"));
    let notice = query_value(raw.as_deref(), "done").map(|reference| {
        let to = query_value(raw.as_deref(), "to").unwrap_or_default();
        viewer.texts.fill(
            "board.assigned",
            &[("reference", &reference), ("assignee", &to)],
        )
    });
    let page = build(&state, &viewer, office, notice, None).await?;
    Ok(render(StatusCode::OK, &page))
}

#[derive(Debug, serde::Deserialize)]
struct AssignSubmitted {
    #[serde(default)]
    csrf: Option<String>,
    #[serde(default)]
    case: String,
    #[serde(default)]
    version: Option<String>,
    #[serde(default)]
    assignee: String,
    #[serde(default)]
    office: String,
    /// The office the board was showing, to go back to.
    #[serde(default)]
    board: String,
}

/// Records `assign` from a board row: CSRF first, then the same checks and the same call as
/// the case page's `act`. Refused: the board again, the row's form with its fault; nothing
/// changed.
async fn assign(
    State(state): State<AppState>,
    viewer: Viewer,
    PageForm(form): PageForm<AssignSubmitted>,
) -> Result<Response, PageError> {
    viewer.check_csrf(form.csrf.as_deref())?;
    if !may(&viewer, allowed::Supervise::ROLES) {
        return Err(forbidden(&viewer));
    }
    let id = parse_id(&viewer, form.case.trim())?;
    let case = load(&state, &viewer, id).await?;
    let board_office = office_of(&viewer, Some(form.board.clone()));
    let refuse = |faults: FormFaults| Refused {
        case: id.to_string(),
        assignee: form.assignee.clone(),
        office: form.office.clone(),
        faults,
    };
    let t = viewer.texts;
    if !allowed_actions(&viewer, &case).contains(&"assign") {
        let why = t.fill(
            "case.not_allowed",
            &[("action", t.lookup("action.assign").unwrap_or("assign"))],
        );
        let page = build(
            &state,
            &viewer,
            board_office,
            None,
            Some(refuse(vec![(String::new(), why)])),
        )
        .await?;
        return Ok(render(StatusCode::CONFLICT, &page));
    }
    let values = vec![
        ("assignee".to_owned(), form.assignee.trim().to_owned()),
        ("office".to_owned(), form.office.trim().to_owned()),
    ];
    let action = match forms::read_action("assign", &values) {
        Ok(action) => action,
        Err(faults) => {
            let page = build(&state, &viewer, board_office, None, Some(refuse(faults))).await?;
            return Ok(render(StatusCode::UNPROCESSABLE_ENTITY, &page));
        }
    };
    let version = form.version.as_deref().and_then(|v| v.parse::<u64>().ok());
    let recorded = state
        .app
        .act(
            viewer.principal.tenant.clone(),
            id,
            action,
            redress_domain::Actor::api(viewer.principal.actor_id()),
            Acting::of(&viewer.principal),
            version,
        )
        .await;
    match recorded {
        Ok(_) => {
            let enc = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
            let office = board_office
                .as_deref()
                .map(|o| format!("office={}&", enc(o)))
                .unwrap_or_default();
            Ok(see_other(&format!(
                "/console/board?{office}done={}&to={}",
                enc(case.tracking_code.as_str()),
                enc(form.assignee.trim())
            )))
        }
        Err(error) => {
            let problem = ApiError::from(error);
            let status =
                StatusCode::from_u16(problem.0.status).unwrap_or(StatusCode::UNPROCESSABLE_ENTITY);
            if status.is_server_error() {
                return Err(server_error(&viewer, &problem.0.detail));
            }
            let mut faults = forms::problem_faults(&problem);
            if status == StatusCode::PRECONDITION_FAILED {
                faults = vec![(String::new(), t.t("board.changed").to_owned())];
            }
            let page = build(&state, &viewer, board_office, None, Some(refuse(faults))).await?;
            Ok(render(status, &page))
        }
    }
}

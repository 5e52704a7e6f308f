//! The auditor's page: `/console/audit` (the roles of `allowed::Audit`). Verifies one case's
//! history (by id or tracking code) or all the tenant's (every tenant's for the operator) with
//! the very call `POST /v1/audit/verify` makes (`server::routes::audit_verify`: one audit at a
//! time, the report narrowed to what the viewer may see), and says the result in words. What
//! it shows of a case has the complainant's identity masked for roles that do not see it.
//! `GET /console/audit/export` gives the same report as a JSON file.

use askama::Template;
use axum::{
    Router,
    extract::{RawQuery, State},
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
    routing::get,
};
use redress_domain::{Case, CaseId, TrackingCode};
use serde::Deserialize;

use super::{
    labels::{forbidden, local_time, may, server_error, status_label},
    query_value,
};
use crate::{
    console::{Layout, PageError, PageForm, Texts, Viewer, render},
    server::{
        AppState,
        extract::RoleSet,
        routes::{allowed, audit_verify},
    },
    store::AuditReport,
};

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/console/audit", get(show).post(verify))
        .route("/console/audit/export", get(export))
}

#[derive(Debug, Clone)]
struct Problem {
    case: String,
    problem: String,
}

#[derive(Debug, Clone)]
struct Outcome {
    heading: String,
    clean: bool,
    summary: String,
    problems: Vec<Problem>,
    facts: Vec<(String, String)>,
    export_href: String,
}

#[derive(Template)]
#[template(path = "audit.html")]
struct AuditPage {
    layout: Layout,
    csrf: String,
    case: String,
    scope: String,
    error: Option<String>,
    outcome: Option<Outcome>,
}

fn page(
    viewer: &Viewer,
    case: String,
    error: Option<String>,
    outcome: Option<Outcome>,
) -> AuditPage {
    let t = viewer.texts;
    AuditPage {
        layout: viewer.layout("audit.title"),
        csrf: viewer.csrf().to_owned(),
        case,
        scope: if viewer.principal.is_operator() {
            t.t("audit.scope_all").to_owned()
        } else {
            t.fill(
                "audit.scope_tenant",
                &[("tenant", viewer.principal.tenant.as_ref())],
            )
        },
        error,
        outcome,
    }
}

async fn show(viewer: Viewer) -> Result<Response, PageError> {
    if !may(&viewer, allowed::Audit::ROLES) {
        return Err(forbidden(&viewer));
    }
    Ok(render(
        StatusCode::OK,
        &page(&viewer, String::new(), None, None),
    ))
}

/// Why a verification was not made.
enum Refusal {
    NoSuchCase,
    Busy,
}

/// The case named by `typed` (an id or a tracking code) as the viewer may see it: one of the
/// tenant's (any tenant's for the operator), masked for roles that do not see identities.
async fn find_case(
    state: &AppState,
    viewer: &Viewer,
    typed: &str,
) -> Result<Option<Case>, PageError> {
    let found = if let Ok(id) = typed.parse::<CaseId>() {
        state
            .app
            .get(viewer.principal.tenant.clone(), id)
            .await
            .map_err(|e| server_error(viewer, e))?
    } else if let Some(code) = TrackingCode::normalise(typed) {
        state
            .app
            .get_by_tracking_code(code.as_str().to_owned())
            .await
            .map_err(|e| server_error(viewer, e))?
            .filter(|case| viewer.principal.is_operator() || case.tenant == viewer.principal.tenant)
    } else {
        None
    };
    Ok(found.map(|mut case| {
        if !viewer.principal.sees_identity() {
            case.intake.complainant.mask_identity();
        }
        case
    }))
}

/// Runs the audit for the case typed (none: the tenant's).
async fn run(
    state: &AppState,
    viewer: &Viewer,
    typed: &str,
) -> Result<Result<(AuditReport, Option<Case>, Option<CaseId>), Refusal>, PageError> {
    let (case, id) = if typed.is_empty() {
        (None, None)
    } else {
        let case = find_case(state, viewer, typed).await?;
        // The operator may name another tenant's case by its id.
        let id = case.as_ref().map(|c| c.id).or_else(|| {
            typed
                .parse::<CaseId>()
                .ok()
                .filter(|_| viewer.principal.is_operator())
        });
        match id {
            Some(id) => (case, Some(id)),
            None => return Ok(Err(Refusal::NoSuchCase)),
        }
    };
    match audit_verify(state, &viewer.principal, id).await {
        Ok(report) => Ok(Ok((report, case, id))),
        Err(problem) if problem.0.status == 404 => Ok(Err(Refusal::NoSuchCase)),
        Err(problem) if problem.0.status == 429 => Ok(Err(Refusal::Busy)),
        Err(problem) => Err(server_error(viewer, &problem.0.detail)),
    }
}

fn outcome(t: Texts, report: &AuditReport, case: Option<&Case>, id: Option<CaseId>) -> Outcome {
    let cases = report.cases_checked.to_string();
    let events = report.events_checked.to_string();
    let problems = report.problems.len().to_string();
    let args = [
        ("cases", cases.as_str()),
        ("events", events.as_str()),
        ("problems", problems.as_str()),
    ];
    let summary = if report.is_clean() {
        t.fill("audit.clean", &args)
    } else {
        t.fill("audit.problems", &args)
    };
    let mut facts = Vec::new();
    if let Some(case) = case {
        let masked = |v: &Option<redress_domain::Sensitive<String>>| {
            v.as_ref()
                .map_or_else(|| "—".to_owned(), |v| v.expose().clone())
        };
        facts = vec![
            (
                t.t("case.reference").to_owned(),
                case.tracking_code.as_str().to_owned(),
            ),
            (t.t("audit.case_id").to_owned(), case.id.to_string()),
            (
                t.t("queue.col_status").to_owned(),
                status_label(t, case.status),
            ),
            (
                t.t("case.received").to_owned(),
                local_time(case.received_at),
            ),
            (t.t("audit.version").to_owned(), case.version.to_string()),
            (t.t("audit.head").to_owned(), case.head_hash.to_string()),
            (
                t.t("case.complainant").to_owned(),
                format!(
                    "{} · {}",
                    masked(&case.intake.complainant.name),
                    masked(&case.intake.complainant.phone)
                ),
            ),
        ];
    }
    Outcome {
        heading: match (case, id) {
            (Some(case), _) => t.fill(
                "audit.case_heading",
                &[("reference", case.tracking_code.as_str())],
            ),
            (None, Some(id)) => t.fill("audit.case_heading", &[("reference", &id.to_string())]),
            (None, None) => t.t("audit.tenant_heading").to_owned(),
        },
        clean: report.is_clean(),
        summary,
        problems: report
            .problems
            .iter()
            .map(|p| Problem {
                case: if p.case_id.is_empty() {
                    t.t("audit.store_wide").to_owned()
                } else {
                    p.case_id.clone()
                },
                problem: p.problem.clone(),
            })
            .collect(),
        facts,
        export_href: match id {
            Some(id) => format!("/console/audit/export?case={id}"),
            None => "/console/audit/export".to_owned(),
        },
    }
}

#[derive(Debug, Deserialize)]
struct VerifyForm {
    #[serde(default)]
    csrf: Option<String>,
    #[serde(default)]
    case: String,
}

async fn verify(
    State(state): State<AppState>,
    viewer: Viewer,
    PageForm(form): PageForm<VerifyForm>,
) -> Result<Response, PageError> {
    viewer.check_csrf(form.csrf.as_deref())?;
    if !may(&viewer, allowed::Audit::ROLES) {
        return Err(forbidden(&viewer));
    }
    let t = viewer.texts;
    let typed: String = form.case.trim().chars().take(64).collect();
    match run(&state, &viewer, &typed).await? {
        Ok((report, case, id)) => {
            let outcome = outcome(t, &report, case.as_ref(), id);
            Ok(render(
                StatusCode::OK,
                &page(&viewer, typed, None, Some(outcome)),
            ))
        }
        Err(Refusal::NoSuchCase) => Ok(render(
            StatusCode::NOT_FOUND,
            &page(
                &viewer,
                typed.clone(),
                Some(t.fill("audit.no_case", &[("case", &typed)])),
                None,
            ),
        )),
        Err(Refusal::Busy) => Ok(render(
            StatusCode::TOO_MANY_REQUESTS,
            &page(&viewer, typed, Some(t.t("audit.busy").to_owned()), None),
        )),
    }
}

/// The report as a JSON file: what was verified, when, for whom, and the report itself.
async fn export(
    State(state): State<AppState>,
    viewer: Viewer,
    RawQuery(raw): RawQuery,
) -> Result<Response, PageError> {
    if !may(&viewer, allowed::Audit::ROLES) {
        return Err(forbidden(&viewer));
    }
    let typed: String = query_value(raw.as_deref(), "case")
        .unwrap_or_default()
        .trim()
        .chars()
        .take(64)
        .collect();
    let t = viewer.texts;
    let (report, id) = match run(&state, &viewer, &typed).await? {
        Ok((report, _, id)) => (report, id),
        Err(Refusal::NoSuchCase) => {
            return Err(PageError {
                status: StatusCode::NOT_FOUND,
                texts: t,
                heading_key: "error.not_found_title",
                message: t.fill("audit.no_case", &[("case", &typed)]),
                path: viewer.path.clone(),
            });
        }
        Err(Refusal::Busy) => {
            return Err(PageError {
                status: StatusCode::TOO_MANY_REQUESTS,
                texts: t,
                heading_key: "audit.title",
                message: t.t("audit.busy").to_owned(),
                path: viewer.path.clone(),
            });
        }
    };
    let body = serde_json::json!({
        "tenant": if viewer.principal.is_operator() { None } else { Some(viewer.principal.tenant.to_string()) },
        "case_id": id.map(|id| id.to_string()),
        "verified_at": state.app.time().now().to_string(),
        "verified_by": viewer.account.username,
        "report": report,
    });
    let name = match id {
        Some(id) => format!("redress-audit-{id}.json"),
        None => format!("redress-audit-{}.json", viewer.principal.tenant),
    };
    let mut response = (
        StatusCode::OK,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        serde_json::to_string_pretty(&body).unwrap_or_default(),
    )
        .into_response();
    if let Ok(value) = HeaderValue::from_str(&format!("attachment; filename=\"{name}\"")) {
        response
            .headers_mut()
            .insert(header::CONTENT_DISPOSITION, value);
    }
    Ok(response)
}

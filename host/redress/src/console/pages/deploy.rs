//! Deploying a ruleset package from the console: `GET|POST /console/rulesets/deploy` (the
//! roles of `allowed::ManageRulesets`). The upload is the very document `POST /v1/rulesets`
//! takes (`{"files": {...}, "binaries": {...}}`, JSON), read within the same 16 MiB limit,
//! checked by the same function (`routes::package_from_request`) and deployed by the same
//! service call (`Redress::deploy`: compiled, its fixtures run, stored, then activated). The
//! result is said in words: the version deployed, or each failing fixture case with its
//! difference, the signature refused, or the validation error. A refused package changes
//! nothing (the service's promise).
//!
//! The form is `multipart/form-data` with the session's CSRF token in a hidden field, checked
//! before anything in the package is looked at (`console::multipart`).

use askama::Template;
use axum::{Router, extract::State, http::StatusCode, response::Response, routing::get};

use super::labels::{forbidden, may, server_error};
use crate::{
    console::{Layout, PageError, Viewer, multipart::PageMultipart, render},
    rules::registry::PackageError,
    server::{
        AppState,
        extract::RoleSet,
        problem::ApiError,
        routes::{allowed, package_from_request},
        wire::DeployRequest,
    },
    service::DeployError,
};

pub(super) fn routes() -> Router<AppState> {
    Router::new().route("/console/rulesets/deploy", get(show).post(upload))
}

#[derive(Debug, Clone)]
struct Failing {
    name: String,
    description: String,
    differences: Vec<String>,
}

#[derive(Template)]
#[template(path = "deploy.html")]
struct DeployPage {
    layout: Layout,
    csrf: String,
    done: Option<String>,
    error: Option<String>,
    failing: Vec<Failing>,
}

fn page(viewer: &Viewer) -> DeployPage {
    DeployPage {
        layout: viewer.layout("deploy.title"),
        csrf: viewer.csrf().to_owned(),
        done: None,
        error: None,
        failing: Vec::new(),
    }
}

async fn show(viewer: Viewer) -> Result<Response, PageError> {
    if !may(&viewer, allowed::ManageRulesets::ROLES) {
        return Err(forbidden(&viewer));
    }
    Ok(render(StatusCode::OK, &page(&viewer)))
}

/// A JSON error's place in the file, for the person who will open it in an editor.
fn json_fault(viewer: &Viewer, e: &serde_json::Error) -> String {
    viewer.texts.fill(
        "deploy.not_json",
        &[
            ("line", &e.line().to_string()),
            ("column", &e.column().to_string()),
            ("error", &e.to_string()),
        ],
    )
}

async fn upload(
    State(state): State<AppState>,
    viewer: Viewer,
    PageMultipart(parts): PageMultipart,
) -> Result<Response, PageError> {
    let csrf = parts
        .iter()
        .find(|p| p.name == "csrf")
        .and_then(|p| std::str::from_utf8(&p.data).ok());
    viewer.check_csrf(csrf)?;
    if !may(&viewer, allowed::ManageRulesets::ROLES) {
        return Err(forbidden(&viewer));
    }
    let t = viewer.texts;
    let mut shown = page(&viewer);
    let refuse = |mut shown: DeployPage, status: StatusCode, message: String| {
        shown.error = Some(message);
        Ok(render(status, &shown))
    };
    let Some(file) = parts
        .iter()
        .find(|p| p.name == "package")
        .filter(|p| !p.data.is_empty())
    else {
        return refuse(
            shown,
            StatusCode::UNPROCESSABLE_ENTITY,
            t.t("deploy.no_file").to_owned(),
        );
    };
    let request: DeployRequest = match serde_json::from_slice(&file.data) {
        Ok(request) => request,
        Err(e) => {
            let message = json_fault(&viewer, &e);
            return refuse(shown, StatusCode::UNPROCESSABLE_ENTITY, message);
        }
    };
    // The origin the API gives an uploaded package (listed in `GET /v1/rulesets`), not the
    // file's name on someone's computer.
    let package = match package_from_request(request, "upload") {
        Ok(package) => package,
        Err(problem) => {
            let faults = crate::forms::problem_faults(&problem);
            let message = faults
                .iter()
                .map(|(field, why)| {
                    if field.is_empty() {
                        why.clone()
                    } else {
                        format!("{field}: {why}")
                    }
                })
                .collect::<Vec<_>>()
                .join("; ");
            return refuse(shown, StatusCode::UNPROCESSABLE_ENTITY, message);
        }
    };
    let deployed = state
        .app
        .deploy(
            viewer.principal.tenant.clone(),
            viewer.principal.is_operator(),
            package,
        )
        .await;
    match deployed {
        Ok((summary, created)) => {
            tracing::info!(username = %viewer.account.username, id = %summary.id, version = %summary.version, created, "ruleset package deployed from the console");
            let key = if created {
                "deploy.deployed"
            } else {
                "deploy.already"
            };
            shown.done = Some(t.fill(
                key,
                &[
                    ("ruleset", &format!("{} {}", summary.name, summary.id)),
                    ("version", &summary.version),
                    ("from", &summary.effective_from.to_string()),
                    ("fixtures", &summary.fixture_cases.to_string()),
                ],
            ));
            Ok(render(
                if created {
                    StatusCode::CREATED
                } else {
                    StatusCode::OK
                },
                &shown,
            ))
        }
        Err(DeployError::Package(PackageError::FixturesFail {
            failed,
            total,
            reports,
            ..
        })) => {
            shown.failing = reports
                .into_iter()
                .filter(|r| !r.passed())
                .map(|r| Failing {
                    name: r.name,
                    description: r.description,
                    differences: r.differences,
                })
                .collect();
            let message = t.fill(
                "deploy.fixtures_fail",
                &[
                    ("failed", &failed.to_string()),
                    ("total", &total.to_string()),
                ],
            );
            refuse(shown, StatusCode::UNPROCESSABLE_ENTITY, message)
        }
        Err(DeployError::Package(PackageError::Signature { source, .. })) => {
            let message = t.fill("deploy.signature", &[("reason", &source.to_string())]);
            refuse(shown, StatusCode::UNPROCESSABLE_ENTITY, message)
        }
        Err(e @ (DeployError::Storage(_) | DeployError::TaskFailed { .. })) => {
            Err(server_error(&viewer, ApiError::from(e).0.detail))
        }
        Err(DeployError::Forbidden(reason)) => refuse(
            shown,
            StatusCode::FORBIDDEN,
            t.fill("deploy.forbidden", &[("reason", &reason)]),
        ),
        Err(e) => {
            let status = match &e {
                DeployError::Package(PackageError::VersionExists { .. }) => StatusCode::CONFLICT,
                DeployError::NotFound(_) => StatusCode::NOT_FOUND,
                _ => StatusCode::UNPROCESSABLE_ENTITY,
            };
            refuse(
                shown,
                status,
                t.fill("deploy.invalid", &[("reason", &e.to_string())]),
            )
        }
    }
}

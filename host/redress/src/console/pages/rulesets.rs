//! The compliance admin's rulesets page: `/console/rulesets` (the roles of
//! `allowed::ReadRulesets`), every version of each ruleset side by side (owner, effective
//! dates, state, fixtures, what it extends, its basis), from the registry's summaries exactly
//! as `GET /v1/rulesets` lists them.
//!
//! For the roles of `allowed::ManageRulesets`, a suspend form (with its reason) or a resume
//! button on each version the service lets them change: a tenant's own versions; every version
//! for the operator. `POST /console/rulesets/{id}/{version}/suspend|resume` check the CSRF
//! token first, then the role, the reason as the API checks it (`suspend_reason`), then call
//! `Redress::set_ruleset_state` as `POST /v1/rulesets/{id}/{version}/suspend|resume` do.

use askama::Template;
use axum::{
    Router,
    extract::{Path, RawQuery, State},
    http::StatusCode,
    response::Response,
    routing::{get, post},
};
use serde::Deserialize;

use super::{
    labels::{forbidden, may, server_error},
    query_value,
};
use crate::{
    console::{Layout, PageError, PageForm, Texts, Viewer, render, see_other},
    rules::{loaded::RulesetState, registry::RulesetSummary},
    server::{
        AppState,
        extract::RoleSet,
        problem::ApiError,
        routes::{allowed, suspend_reason},
    },
};

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/console/rulesets", get(list))
        .route("/console/rulesets/{id}/{version}/suspend", post(suspend))
        .route("/console/rulesets/{id}/{version}/resume", post(resume))
}

#[derive(Debug, Clone)]
struct Version {
    id: String,
    version: String,
    owner: String,
    effective: String,
    state: String,
    state_class: &'static str,
    reason: Option<String>,
    fixtures: String,
    extends: String,
    basis: Vec<String>,
    engine: &'static str,
    /// `suspend`, `resume` or none: what this viewer may do to it.
    form: Option<&'static str>,
    action_href: String,
    /// The form refused: its reason as typed and the fault.
    error: Option<String>,
    typed_reason: String,
}

#[derive(Debug, Clone)]
struct Group {
    id: String,
    heading: String,
    versions: Vec<Version>,
}

#[derive(Template)]
#[template(path = "rulesets.html")]
struct RulesetsPage {
    layout: Layout,
    groups: Vec<Group>,
    notice: Option<String>,
    error: Option<String>,
    csrf: String,
    /// Links to "explain a case under another version" and to the deploy form.
    explain: bool,
    deploy: bool,
}

fn state_words(t: Texts, summary: &RulesetSummary) -> (String, &'static str, Option<String>) {
    if summary.retired {
        return (t.t("rulesets.retired").to_owned(), "retired", None);
    }
    match &summary.state {
        RulesetState::Active => (t.t("rulesets.active").to_owned(), "active", None),
        RulesetState::Suspended { reason } => (
            t.t("rulesets.suspended").to_owned(),
            "suspended",
            Some(reason.clone()),
        ),
    }
}

/// What the viewer may do to this version: the service's own rule (`set_ruleset_state`): a
/// tenant's versions by its compliance admin, any by the operator; nothing to a retired one.
fn form_for(viewer: &Viewer, summary: &RulesetSummary) -> Option<&'static str> {
    let manages = may(viewer, allowed::ManageRulesets::ROLES)
        && (viewer.principal.is_operator()
            || summary.tenant.as_ref() == Some(&viewer.principal.tenant));
    if !manages || summary.retired {
        return None;
    }
    Some(match summary.state {
        RulesetState::Active => "suspend",
        RulesetState::Suspended { .. } => "resume",
    })
}

/// The refused form: which version, what was typed, why.
struct Refused {
    id: String,
    version: String,
    reason: String,
    fault: String,
}

fn build(
    state: &AppState,
    viewer: &Viewer,
    notice: Option<String>,
    refused: Option<&Refused>,
) -> RulesetsPage {
    let t = viewer.texts;
    let mut summaries = state.app.rules().summaries(Some(&viewer.principal.tenant));
    summaries.sort_by(|a, b| {
        (
            a.tenant.is_none(),
            &a.id,
            &a.tenant,
            &a.effective_from,
            &a.version,
        )
            .cmp(&(
                b.tenant.is_none(),
                &b.id,
                &b.tenant,
                &b.effective_from,
                &b.version,
            ))
    });
    let mut groups: Vec<Group> = Vec::new();
    for summary in &summaries {
        let (state_label, state_class, reason) = state_words(t, summary);
        let owner = match &summary.tenant {
            Some(tenant) => t.fill("rulesets.tenant", &[("tenant", tenant.as_ref())]),
            None => t.t("rulesets.builtin").to_owned(),
        };
        let until = summary
            .effective_until
            .map_or_else(|| t.t("rulesets.open_ended").to_owned(), |d| d.to_string());
        let this_refused = refused.filter(|r| r.id == summary.id && r.version == summary.version);
        let version = Version {
            id: summary.id.clone(),
            version: summary.version.clone(),
            owner,
            effective: t.fill(
                "rulesets.effective_range",
                &[
                    ("from", &summary.effective_from.to_string()),
                    ("until", &until),
                ],
            ),
            state: state_label,
            state_class,
            reason,
            fixtures: t.fill(
                "rulesets.fixture_count",
                &[("count", &summary.fixture_cases.to_string())],
            ),
            extends: summary.extends.clone().unwrap_or_else(|| "—".to_owned()),
            basis: summary.basis.clone(),
            engine: match summary.engine {
                crate::rules::manifest::EngineKind::Rhai => "Rhai",
                crate::rules::manifest::EngineKind::Wasm => "WebAssembly",
            },
            form: form_for(viewer, summary),
            action_href: format!(
                "/console/rulesets/{}/{}/",
                enc(&summary.id),
                enc(&summary.version)
            ),
            error: this_refused.map(|r| r.fault.clone()),
            typed_reason: this_refused.map(|r| r.reason.clone()).unwrap_or_default(),
        };
        let key = format!(
            "{}/{}",
            summary.tenant.as_ref().map_or("", |t| t.as_ref()),
            summary.id
        );
        match groups.last_mut() {
            Some(group) if group.id == key => group.versions.push(version),
            _ => groups.push(Group {
                id: key,
                heading: format!("{} ({})", summary.name, summary.id),
                versions: vec![version],
            }),
        }
    }
    RulesetsPage {
        layout: viewer.layout("rulesets.title"),
        groups,
        notice,
        error: refused.map(|r| format!("{} {}: {}", r.id, r.version, r.fault)),
        csrf: viewer.csrf().to_owned(),
        explain: may(viewer, allowed::ExplainCases::ROLES),
        deploy: may(viewer, allowed::ManageRulesets::ROLES),
    }
}

fn enc(text: &str) -> String {
    form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

async fn list(
    State(state): State<AppState>,
    viewer: Viewer,
    RawQuery(raw): RawQuery,
) -> Result<Response, PageError> {
    if !may(&viewer, allowed::ReadRulesets::ROLES) {
        return Err(forbidden(&viewer));
    }
    let t = viewer.texts;
    let notice = match (
        query_value(raw.as_deref(), "done").as_deref(),
        query_value(raw.as_deref(), "r"),
    ) {
        (Some("suspend"), Some(r)) => Some(t.fill("rulesets.suspended_done", &[("ruleset", &r)])),
        (Some("resume"), Some(r)) => Some(t.fill("rulesets.resumed_done", &[("ruleset", &r)])),
        _ => None,
    };
    Ok(render(
        StatusCode::OK,
        &build(&state, &viewer, notice, None),
    ))
}

#[derive(Debug, Deserialize)]
struct StateForm {
    #[serde(default)]
    csrf: Option<String>,
    #[serde(default)]
    reason: String,
}

async fn suspend(
    State(state): State<AppState>,
    viewer: Viewer,
    Path((id, version)): Path<(String, String)>,
    PageForm(form): PageForm<StateForm>,
) -> Result<Response, PageError> {
    change(state, viewer, id, version, form, true).await
}

async fn resume(
    State(state): State<AppState>,
    viewer: Viewer,
    Path((id, version)): Path<(String, String)>,
    PageForm(form): PageForm<StateForm>,
) -> Result<Response, PageError> {
    change(state, viewer, id, version, form, false).await
}

/// Suspends or resumes a version: CSRF first, the role, the reason, then the service. A
/// refusal is the page again with the fault at the version's form; nothing changed.
async fn change(
    state: AppState,
    viewer: Viewer,
    id: String,
    version: String,
    form: StateForm,
    suspending: bool,
) -> Result<Response, PageError> {
    viewer.check_csrf(form.csrf.as_deref())?;
    if !may(&viewer, allowed::ManageRulesets::ROLES) {
        return Err(forbidden(&viewer));
    }
    let t = viewer.texts;
    let refuse = |status: StatusCode, fault: String| {
        let refused = Refused {
            id: id.clone(),
            version: version.clone(),
            reason: form.reason.clone(),
            fault,
        };
        Ok(render(
            status,
            &build(&state, &viewer, None, Some(&refused)),
        ))
    };
    let reason = if suspending {
        match suspend_reason(&form.reason) {
            Ok(reason) => Some(reason),
            Err(_) => {
                return refuse(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    t.t("rulesets.reason_needed").to_owned(),
                );
            }
        }
    } else {
        None
    };
    let changed = state
        .app
        .set_ruleset_state(
            &viewer.principal.tenant,
            viewer.principal.is_operator(),
            &id,
            &version,
            reason,
        )
        .await;
    match changed {
        Ok(summary) => {
            tracing::info!(username = %viewer.account.username, %id, %version, suspending, "ruleset state changed from the console");
            let done = if suspending { "suspend" } else { "resume" };
            Ok(see_other(&format!(
                "/console/rulesets?done={done}&r={}",
                enc(&format!("{}@{}", summary.id, summary.version))
            )))
        }
        Err(error) => {
            let problem = ApiError::from(error);
            let status = StatusCode::from_u16(problem.0.status).unwrap_or(StatusCode::CONFLICT);
            if status.is_server_error() {
                return Err(server_error(&viewer, &problem.0.detail));
            }
            let fault = match status {
                StatusCode::NOT_FOUND => t.t("rulesets.no_such").to_owned(),
                StatusCode::FORBIDDEN => t.t("rulesets.not_yours").to_owned(),
                _ => problem.0.detail.clone(),
            };
            refuse(status, fault)
        }
    }
}

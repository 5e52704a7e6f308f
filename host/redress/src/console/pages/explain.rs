//! "Explain this case under that version": `GET /console/rulesets/explain?case=<id>&ruleset=
//! <id>@<version>` (the roles of `allowed::ExplainCases`). The viewer names a case of their
//! tenant and a version of a ruleset of the case's sector; the page shows, at each decision
//! point of the case's recorded history, what was recorded and what that version would decide,
//! the differences marked in words.
//!
//! A GET, and a dry run: `Redress::explain_under` reads the events and hands them to
//! `rules::dry_run`, which has no store to write to. Identity values of the complainant are
//! replaced by the mask in every text shown to roles that do not see identities (a rule's
//! reasoning may quote them).

use askama::Template;
use axum::{
    Router,
    extract::{RawQuery, State},
    http::StatusCode,
    response::Response,
    routing::get,
};
use redress_domain::CaseId;

use super::{
    cases::{action_summary, trigger_label},
    labels::{forbidden, local_time, may, sector_label, status_label},
    query_value,
};
use crate::{
    console::{Layout, PageError, Texts, Viewer, render},
    rules::dry_run::{DryRun, DryRunError, Outcome},
    server::{AppState, extract::RoleSet, routes::allowed},
};

pub(super) fn routes() -> Router<AppState> {
    Router::new().route("/console/rulesets/explain", get(show))
}

#[derive(Debug, Clone)]
struct VersionOption {
    value: String,
    label: String,
    selected: bool,
}

#[derive(Debug, Clone)]
struct Side {
    by: String,
    actions: Vec<String>,
    reasons: Vec<String>,
    status: String,
    clocks: Vec<String>,
}

#[derive(Debug, Clone)]
struct Row {
    label: &'static str,
    differs: bool,
    recorded: Vec<String>,
    proposed: Vec<String>,
}

#[derive(Debug, Clone)]
struct StepView {
    number: usize,
    at: String,
    trigger: String,
    differs: bool,
    recorded_by: String,
    proposed_by: String,
    rows: Vec<Row>,
}

#[derive(Debug, Clone)]
struct Result {
    summary: String,
    facts: Vec<(String, String)>,
    steps: Vec<StepView>,
    case_href: Option<String>,
}

#[derive(Template)]
#[template(path = "explain.html")]
struct ExplainPage {
    layout: Layout,
    case: String,
    options: Vec<VersionOption>,
    /// Why the request was refused, and the field at fault (`case`, `ruleset`).
    error: Option<String>,
    error_field: &'static str,
    result: Option<Result>,
}

/// The complainant's identifying values, as given: what masking replaces. The rules are
/// shown only whether each was given (`rules::view`), so their reasoning should never quote
/// one; this keeps the page right even if a rule or a failure's text did.
fn identity_values(complainant: &redress_domain::case::Complainant) -> Vec<String> {
    let given = serde_json::to_value(complainant).unwrap_or_default();
    let mut masked_complainant = complainant.clone();
    masked_complainant.mask_identity();
    let masked = serde_json::to_value(&masked_complainant).unwrap_or_default();
    let mut values = Vec::new();
    collect_changed(&given, &masked, &mut values);
    // The longest first, so that a value containing another is replaced whole.
    values.sort_by_key(|v| std::cmp::Reverse(v.len()));
    values
}

fn collect_changed(given: &serde_json::Value, masked: &serde_json::Value, out: &mut Vec<String>) {
    use serde_json::Value;
    match (given, masked) {
        (Value::String(a), Value::String(b)) if a != b && !a.trim().is_empty() => {
            out.push(a.clone())
        }
        (Value::Object(a), Value::Object(b)) => {
            for (key, value) in a {
                if let Some(other) = b.get(key) {
                    collect_changed(value, other, out);
                }
            }
        }
        (Value::Array(a), Value::Array(b)) => {
            for (value, other) in a.iter().zip(b) {
                collect_changed(value, other, out);
            }
        }
        _ => {}
    }
}

fn redact(text: &str, identities: &[String]) -> String {
    identities.iter().fold(text.to_owned(), |text, value| {
        text.replace(value.as_str(), redress_domain::case::MASK)
    })
}

/// The case page's summary of an action, with what a version may change that the summary
/// leaves out (a classification's severity).
fn describe_action(t: Texts, action: &redress_domain::contract::Action) -> String {
    let summary = action_summary(t, action);
    match action {
        redress_domain::contract::Action::Classify {
            severity: Some(severity),
            ..
        } => {
            let name = crate::rules::view::enum_name(severity).unwrap_or_default();
            let label = t.fill("explain.severity", &[("severity", &name)]);
            format!("{summary} · {label}")
        }
        _ => summary,
    }
}

fn side(t: Texts, outcome: &Outcome, identities: &[String]) -> Side {
    let by = match (&outcome.ruleset, outcome.decided) {
        (Some(r), _) => format!("{}@{}", r.id, r.version),
        (None, true) => t.t("explain.no_ruleset").to_owned(),
        (None, false) => t.t("explain.no_decision").to_owned(),
    };
    let mut actions: Vec<String> = outcome
        .actions
        .iter()
        .map(|a| redact(&describe_action(t, a), identities))
        .collect();
    if let Some(failure) = &outcome.failure {
        actions.push(t.fill(
            "explain.failure",
            &[("reason", &redact(failure, identities))],
        ));
    }
    if actions.is_empty() {
        actions.push(t.t("explain.nothing").to_owned());
    }
    Side {
        by,
        actions,
        reasons: outcome
            .explanation
            .iter()
            .map(|r| redact(r, identities))
            .collect(),
        status: outcome
            .status
            .map_or_else(String::new, |s| status_label(t, s)),
        clocks: outcome
            .clocks
            .iter()
            .map(|(name, clock)| {
                let state = t
                    .lookup(&format!("clock.state.{}", clock.state))
                    .unwrap_or(clock.state);
                match clock.due_date {
                    Some(due) => t.fill(
                        "explain.clock_due",
                        &[
                            ("clock", &super::labels::clock_label(t, name)),
                            ("state", state),
                            ("due", &due.to_string()),
                        ],
                    ),
                    None => t.fill(
                        "explain.clock",
                        &[
                            ("clock", &super::labels::clock_label(t, name)),
                            ("state", state),
                        ],
                    ),
                }
            })
            .collect(),
    }
}

fn view(t: Texts, run: &DryRun, identities: &[String], case_href: Option<String>) -> Result {
    let steps = run
        .steps
        .iter()
        .enumerate()
        .map(|(i, step)| {
            let (recorded, proposed) = (
                side(t, &step.recorded, identities),
                side(t, &step.proposed, identities),
            );
            let row = |label, recorded: Vec<String>, proposed: Vec<String>| Row {
                label,
                differs: recorded != proposed,
                recorded,
                proposed,
            };
            let rows = vec![
                row(
                    "explain.row_actions",
                    recorded.actions.clone(),
                    proposed.actions.clone(),
                ),
                row(
                    "explain.row_reasons",
                    recorded.reasons.clone(),
                    proposed.reasons.clone(),
                ),
                row(
                    "explain.row_status",
                    vec![recorded.status.clone()],
                    vec![proposed.status.clone()],
                ),
                row(
                    "explain.row_clocks",
                    recorded.clocks.clone(),
                    proposed.clocks.clone(),
                ),
            ];
            StepView {
                number: i + 1,
                at: local_time(step.at),
                trigger: trigger_label(t, &step.trigger),
                differs: step.differs,
                recorded_by: recorded.by,
                proposed_by: proposed.by,
                rows,
            }
        })
        .collect();
    let case = &run.case;
    Result {
        summary: t.fill(
            "explain.summary",
            &[
                ("steps", &run.steps.len().to_string()),
                ("differences", &run.differences().to_string()),
                ("events", &run.events_read.to_string()),
            ],
        ),
        facts: vec![
            (t.t("explain.case_id").to_owned(), case.id.to_string()),
            (
                t.t("explain.sector").to_owned(),
                sector_label(t, case.sector),
            ),
            (
                t.t("explain.status").to_owned(),
                status_label(t, case.status),
            ),
            (
                t.t("explain.pinned").to_owned(),
                case.ruleset
                    .as_ref()
                    .map_or_else(|| "—".to_owned(), |r| format!("{}@{}", r.id, r.version)),
            ),
            (
                t.t("explain.version").to_owned(),
                format!("{}@{}", run.ruleset.id, run.ruleset.version),
            ),
        ],
        steps,
        case_href,
    }
}

/// The versions the viewer may pick: the tenant's and the built-in ones, of `sector` when the
/// case is known.
fn options(
    state: &AppState,
    viewer: &Viewer,
    sector: Option<redress_domain::case::Sector>,
    chosen: &str,
) -> Vec<VersionOption> {
    let t = viewer.texts;
    let mut summaries = state.app.rules().summaries(Some(&viewer.principal.tenant));
    summaries.retain(|s| sector.is_none_or(|sector| s.sector == sector));
    summaries.sort_by(|a, b| {
        (&a.id, &a.effective_from, &a.version).cmp(&(&b.id, &b.effective_from, &b.version))
    });
    summaries
        .into_iter()
        .map(|s| {
            let value = format!("{}@{}", s.id, s.version);
            VersionOption {
                selected: value == chosen,
                label: format!(
                    "{} {} ({}, {})",
                    s.name,
                    s.version,
                    sector_label(t, s.sector),
                    s.tenant
                        .as_ref()
                        .map_or_else(|| t.t("rulesets.builtin").to_owned(), |x| x.to_string())
                ),
                value,
            }
        })
        .collect()
}

async fn show(
    State(state): State<AppState>,
    viewer: Viewer,
    RawQuery(raw): RawQuery,
) -> std::result::Result<Response, PageError> {
    if !may(&viewer, allowed::ExplainCases::ROLES) {
        return Err(forbidden(&viewer));
    }
    let t = viewer.texts;
    let case_text = query_value(raw.as_deref(), "case")
        .unwrap_or_default()
        .trim()
        .to_owned();
    let chosen = query_value(raw.as_deref(), "ruleset").unwrap_or_default();
    let mut page = ExplainPage {
        layout: viewer.layout("explain.title"),
        case: case_text.clone(),
        options: Vec::new(),
        error: None,
        error_field: "",
        result: None,
    };
    let refuse = |mut page: ExplainPage, status, field, message: String| {
        page.error = Some(message);
        page.error_field = field;
        Ok(render(status, &page))
    };
    if case_text.is_empty() {
        page.options = options(&state, &viewer, None, &chosen);
        return Ok(render(StatusCode::OK, &page));
    }
    let Ok(case_id) = case_text.parse::<CaseId>() else {
        page.options = options(&state, &viewer, None, &chosen);
        let message = t.fill("explain.bad_case", &[("case", &case_text)]);
        return refuse(page, StatusCode::UNPROCESSABLE_ENTITY, "case", message);
    };
    let case = state
        .app
        .get(viewer.principal.tenant.clone(), case_id)
        .await
        .map_err(|e| super::labels::server_error(&viewer, e))?;
    let Some(case) = case else {
        page.options = options(&state, &viewer, None, &chosen);
        let message = t.fill("explain.no_case", &[("case", &case_text)]);
        return refuse(page, StatusCode::NOT_FOUND, "case", message);
    };
    page.options = options(&state, &viewer, Some(case.sector), &chosen);
    let Some((id, version)) = chosen.rsplit_once('@') else {
        if !chosen.is_empty() {
            let message = t.t("explain.pick").to_owned();
            return refuse(page, StatusCode::UNPROCESSABLE_ENTITY, "ruleset", message);
        }
        // The case is known: the page offers its sector's versions to choose from.
        return Ok(render(StatusCode::OK, &page));
    };
    match state
        .app
        .explain_under(&viewer.principal.tenant, case_id, id, version)
        .await
    {
        Ok(run) => {
            let identities = if viewer.principal.sees_identity() {
                Vec::new()
            } else {
                identity_values(&run.case.intake.complainant)
            };
            let case_href = may(&viewer, allowed::ReadCases::ROLES)
                .then(|| format!("/console/cases/{case_id}"));
            page.result = Some(view(t, &run, &identities, case_href));
            Ok(render(StatusCode::OK, &page))
        }
        Err(DryRunError::NoCase) => {
            let message = t.fill("explain.no_case", &[("case", &case_text)]);
            refuse(page, StatusCode::NOT_FOUND, "case", message)
        }
        Err(DryRunError::NoRuleset { .. }) => {
            let message = t.fill("explain.no_ruleset_version", &[("ruleset", &chosen)]);
            refuse(page, StatusCode::NOT_FOUND, "ruleset", message)
        }
        Err(DryRunError::OtherSector { ruleset_sector, .. }) => {
            let message = t.fill(
                "explain.other_sector",
                &[
                    ("ruleset", &chosen),
                    ("sector", &sector_label(t, case.sector)),
                    ("other", &ruleset_sector),
                ],
            );
            refuse(page, StatusCode::UNPROCESSABLE_ENTITY, "ruleset", message)
        }
        Err(e @ (DryRunError::Replay(_) | DryRunError::Read(_))) => {
            Err(super::labels::server_error(&viewer, e))
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn identities_are_masked_in_every_text_shown() {
        let complainant: redress_domain::case::Complainant = serde_json::from_value(
            serde_json::json!({"name": "张三", "phone": "13800138000", "address": "文三路1号"}),
        )
        .unwrap();
        let values = identity_values(&complainant);
        assert_eq!(values.len(), 3, "{values:?}");
        assert_eq!(
            redact("张三 (13800138000) 住文三路1号，投诉某某公司", &values),
            "*** (***) 住***，投诉某某公司"
        );
    }
}

//! The intake desk: `/console/intake` registers a complaint, report or inquiry and shows the
//! decision at once (accepted with its clock, or not accepted with the ground, the article and
//! the missing materials), with the tracking code and secret to hand to the complainant,
//! printable.
//!
//! Two steps: the sector first (it decides which ruleset applies and so which intake
//! attributes that ruleset declares), then the form. The form's fields are the intake's JSON
//! Schema (`forms::intake_fields`) and the ruleset's `[attributes.<name>]`; it is read back
//! through `CaseIntake`'s serde, schema and `validate`, then registered with
//! `Redress::create_case` exactly as `POST /v1/cases` does (the attribute check, repeat
//! detection and the first decision included). A hidden one-time key makes a double submit
//! register one case (the API's `Idempotency-Key`).

use askama::Template;
use axum::{
    Router,
    extract::{RawQuery, State},
    http::StatusCode,
    response::Response,
    routing::get,
};
use redress_domain::{Case, EventKind, case::Sector};

use super::{
    fields::{self, FieldView},
    query_value,
};
use crate::{
    console::{Layout, PageError, PageForm, Texts, Viewer, render},
    forms::{self, FieldKind, FormFaults, FormField},
    rules::manifest::{AttributeType, Manifest},
    server::{AppState, extract::RoleSet, problem::ApiError, routes::allowed},
    store::Created,
};

pub(super) fn routes() -> Router<AppState> {
    Router::new().route("/console/intake", get(intake_form).post(register))
}

/// Fields the page sets itself (`sector`, from the first step) or that a form cannot express
/// (`handled_elsewhere`, a list of proceedings: recorded by a handler's note for now;
/// `attributes`, shown one input each from the ruleset).
fn hidden(name: &str) -> bool {
    name == "sector"
        || name == "time_zone"
        || name.starts_with("handled_elsewhere")
        || name.starts_with("attributes")
}

#[derive(Debug, Clone)]
struct SectorLink {
    href: String,
    label: String,
}

#[derive(Debug, Clone)]
struct Group {
    legend: String,
    fields: Vec<FieldView>,
}

#[derive(Template)]
#[template(path = "intake.html")]
struct IntakePage {
    layout: Layout,
    sectors: Vec<SectorLink>,
    sector: Option<String>,
    sector_label: String,
    ruleset: Option<String>,
    groups: Vec<Group>,
    csrf: String,
    once: String,
    errors: Vec<String>,
}

#[derive(Debug, Clone)]
struct ClockLine {
    label: String,
    due: String,
    article: String,
}

#[derive(Template)]
#[template(path = "intake_done.html")]
struct IntakeDone {
    layout: Layout,
    reference: String,
    secret: String,
    case_href: String,
    status: String,
    accepted: bool,
    reasons: Vec<String>,
    ground: Option<String>,
    article: Option<String>,
    missing: Vec<String>,
    clocks: Vec<ClockLine>,
}

fn sector_label(t: Texts, sector: Sector) -> String {
    t.lookup(&format!("sector.{}", sector.as_str()))
        .unwrap_or(sector.as_str())
        .to_owned()
}

fn field_label(t: Texts, name: &str) -> String {
    t.lookup(&format!("intake.field.{name}"))
        .unwrap_or(name)
        .to_owned()
}

/// The ruleset that would decide a case of `sector` received today for the viewer's tenant,
/// for its declared attributes.
fn deciding(state: &AppState, viewer: &Viewer, sector: Sector) -> Option<Manifest> {
    let today = state
        .app
        .time()
        .now()
        .to_zoned(jiff::tz::TimeZone::get("Asia/Shanghai").unwrap_or(jiff::tz::TimeZone::UTC))
        .date();
    state
        .app
        .rules()
        .select(viewer.principal.tenant.as_str(), sector, today)
        .map(|r| r.manifest.clone())
}

/// The declared attributes of `manifest` as form fields named `attributes.<name>`.
fn attribute_fields(manifest: &Manifest) -> Vec<(FormField, String)> {
    manifest
        .attributes
        .iter()
        .map(|(name, declared)| {
            let kind = match declared.kind {
                AttributeType::Boolean => FieldKind::Bool,
                AttributeType::Text if !declared.values.is_empty() => {
                    FieldKind::Choice(declared.values.clone())
                }
                AttributeType::Date => FieldKind::Date,
                AttributeType::TextList => FieldKind::Lines,
                AttributeType::Text | AttributeType::Number => FieldKind::Text,
            };
            (
                FormField {
                    name: format!("attributes.{name}"),
                    kind,
                    required: false,
                    description: Some(declared.meaning.clone()),
                },
                declared.meaning.clone(),
            )
        })
        .collect()
}

fn parse_sector(value: Option<&str>) -> Option<Sector> {
    let value = value?;
    Sector::ALL.into_iter().find(|s| s.as_str() == value)
}

/// A random single-use key for the form (the API's `Idempotency-Key`).
fn once_key() -> String {
    // Without randomness a double submit may register twice; the page still works.
    crate::console::sessions::random_token()
        .map(|token| format!("console-{}", &token[..32]))
        .unwrap_or_default()
}

fn page(
    state: &AppState,
    viewer: &Viewer,
    sector: Option<Sector>,
    submitted: &[(String, String)],
    faults: &FormFaults,
) -> IntakePage {
    let t = viewer.texts;
    let sectors = Sector::ALL
        .into_iter()
        .map(|s| SectorLink {
            href: format!("/console/intake?sector={}", s.as_str()),
            label: sector_label(t, s),
        })
        .collect();
    let error_of = |name: &str| {
        faults
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, why)| why.clone())
    };
    let mut groups = Vec::new();
    let mut ruleset = None;
    if let Some(sector) = sector {
        let mut by_group: Vec<(&str, Vec<FieldView>)> = vec![
            ("case", Vec::new()),
            ("complainant", Vec::new()),
            ("respondent", Vec::new()),
        ];
        for field in forms::intake_fields().iter().filter(|f| !hidden(&f.name)) {
            if field.kind == FieldKind::Unsupported {
                continue;
            }
            let group = match field.name.split_once('.') {
                Some(("complainant", _)) => 1,
                Some(("respondent", _)) => 2,
                _ => 0,
            };
            by_group[group].1.push(fields::view(
                t,
                "intake",
                field_label(t, &field.name),
                field,
                submitted,
                error_of(&field.name),
            ));
        }
        if let Some(manifest) = deciding(state, viewer, sector) {
            ruleset = Some(format!("{} {}", manifest.name, manifest.version));
            let declared: Vec<FieldView> = attribute_fields(&manifest)
                .iter()
                .map(|(field, meaning)| {
                    fields::view(
                        t,
                        "intake",
                        meaning.clone(),
                        field,
                        submitted,
                        error_of(&field.name),
                    )
                })
                .collect();
            if !declared.is_empty() {
                by_group.push(("attributes", declared));
            }
        }
        groups = by_group
            .into_iter()
            .filter(|(_, fields)| !fields.is_empty())
            .map(|(key, fields)| Group {
                legend: t.t(&format!("intake.group.{key}")).to_owned(),
                fields,
            })
            .collect();
    }
    let errors = faults
        .iter()
        .map(|(field, why)| {
            if field.is_empty() {
                why.clone()
            } else {
                format!("{}: {why}", field_label(t, field))
            }
        })
        .collect();
    IntakePage {
        layout: viewer.layout("intake.title"),
        sectors,
        sector: sector.map(|s| s.as_str().to_owned()),
        sector_label: sector.map(|s| sector_label(t, s)).unwrap_or_default(),
        ruleset,
        groups,
        csrf: viewer.csrf().to_owned(),
        once: once_key(),
        errors,
    }
}

fn may_register(viewer: &Viewer) -> Result<(), PageError> {
    if viewer.principal.has_any(allowed::Register::ROLES) {
        Ok(())
    } else {
        Err(PageError {
            status: StatusCode::FORBIDDEN,
            texts: viewer.texts,
            heading_key: "error.forbidden_title",
            message: viewer.texts.t("error.forbidden").to_owned(),
            path: viewer.path.clone(),
        })
    }
}

async fn intake_form(
    State(state): State<AppState>,
    viewer: Viewer,
    RawQuery(raw): RawQuery,
) -> Result<Response, PageError> {
    may_register(&viewer)?;
    let sector = parse_sector(query_value(raw.as_deref(), "sector").as_deref());
    Ok(render(
        StatusCode::OK,
        &page(&state, &viewer, sector, &[], &Vec::new()),
    ))
}

/// The declared attributes, typed as the ruleset declares them (a checkbox sends `on`).
fn attributes_of(
    manifest: Option<&Manifest>,
    submitted: &[(String, String)],
) -> Result<serde_json::Map<String, serde_json::Value>, FormFaults> {
    let mut attributes = serde_json::Map::new();
    let mut faults = Vec::new();
    let Some(manifest) = manifest else {
        return Ok(attributes);
    };
    for (name, declared) in &manifest.attributes {
        let field = format!("attributes.{name}");
        let Some(raw) = submitted
            .iter()
            .find(|(n, _)| *n == field)
            .map(|(_, v)| v.trim())
        else {
            continue;
        };
        let value = match declared.kind {
            AttributeType::Boolean => serde_json::Value::Bool(true),
            _ if raw.is_empty() => continue,
            AttributeType::Number => match (raw.parse::<i64>(), raw.parse::<f64>()) {
                (Ok(n), _) => serde_json::Value::from(n),
                (_, Ok(n)) => serde_json::Value::from(n),
                _ => {
                    faults.push((field, "must be a number".to_owned()));
                    continue;
                }
            },
            AttributeType::TextList => serde_json::Value::Array(
                raw.lines()
                    .map(str::trim)
                    .filter(|l| !l.is_empty())
                    .map(serde_json::Value::from)
                    .collect(),
            ),
            AttributeType::Text | AttributeType::Date => serde_json::Value::from(raw),
        };
        attributes.insert(name.clone(), value);
    }
    if faults.is_empty() {
        Ok(attributes)
    } else {
        Err(faults)
    }
}

async fn register(
    State(state): State<AppState>,
    viewer: Viewer,
    PageForm(submitted): PageForm<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    let field = |name: &str| {
        submitted
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
    };
    viewer.check_csrf(field("csrf").as_deref())?;
    may_register(&viewer)?;
    let sector = parse_sector(field("sector").as_deref());
    let Some(sector) = sector else {
        return Ok(render(
            StatusCode::UNPROCESSABLE_ENTITY,
            &page(
                &state,
                &viewer,
                None,
                &submitted,
                &vec![(
                    String::new(),
                    viewer.texts.t("intake.choose_sector").to_owned(),
                )],
            ),
        ));
    };
    let manifest = deciding(&state, &viewer, sector);
    let plain: Vec<(String, String)> = submitted
        .iter()
        .filter(|(n, _)| !n.starts_with("attributes.") && !matches!(n.as_str(), "csrf" | "once"))
        .cloned()
        .collect();
    let now = state.app.time().now();
    let read = forms::read_intake(&plain, now).and_then(|mut intake| {
        intake.attributes = attributes_of(manifest.as_ref(), &submitted)?
            .into_iter()
            .collect();
        Ok(intake)
    });
    let intake = match read {
        Ok(intake) => intake,
        Err(faults) => {
            return Ok(render(
                StatusCode::UNPROCESSABLE_ENTITY,
                &page(&state, &viewer, Some(sector), &submitted, &faults),
            ));
        }
    };
    let once = field("once").filter(|k| !k.is_empty());
    let created = state
        .app
        .create_case(
            viewer.principal.tenant.clone(),
            intake,
            redress_domain::Actor::api(viewer.principal.actor_id()),
            once,
        )
        .await;
    let case = match created {
        Ok(Created::New(case) | Created::Existing(case)) => case,
        Err(error) => {
            let problem = ApiError::from(error);
            if problem.0.status >= 500 {
                tracing::error!(error = %problem.0.detail, "console intake failed");
                return Err(PageError::server(viewer.texts, &viewer.path));
            }
            let faults = forms::problem_faults(&problem);
            return Ok(render(
                StatusCode::UNPROCESSABLE_ENTITY,
                &page(&state, &viewer, Some(sector), &submitted, &faults),
            ));
        }
    };
    Ok(render(
        StatusCode::CREATED,
        &done(&state, &viewer, &case).await,
    ))
}

async fn done(state: &AppState, viewer: &Viewer, case: &Case) -> IntakeDone {
    let t = viewer.texts;
    let events = state
        .app
        .events(viewer.principal.tenant.clone(), case.id)
        .await
        .ok()
        .flatten()
        .unwrap_or_default();
    let reasons = events
        .iter()
        .find_map(|e| match &e.event {
            EventKind::Decision { explanation, .. } => Some(explanation.clone()),
            EventKind::RuleFailure { reason, .. } => Some(vec![reason.clone()]),
            _ => None,
        })
        .unwrap_or_default();
    let clocks = case
        .clocks
        .iter()
        .map(|(name, clock)| ClockLine {
            label: t
                .lookup(&format!("clock.name.{name}"))
                .map(|l| format!("{l} ({name})"))
                .unwrap_or_else(|| name.clone()),
            due: clock
                .due_at
                .map(|due| {
                    (due - jiff::SignedDuration::from_nanos(1))
                        .to_zoned(case.time_zone())
                        .date()
                        .to_string()
                })
                .unwrap_or_else(|| "—".to_owned()),
            article: clock.spec.article.clone().unwrap_or_default(),
        })
        .collect();
    let outcome = case.outcome.as_ref();
    IntakeDone {
        layout: viewer.layout("intake.done_title"),
        reference: case.tracking_code.as_str().to_owned(),
        secret: state.tracking.secret_for(case.tracking_code.as_str()),
        case_href: format!("/console/cases/{}", case.id),
        status: t
            .lookup(&format!("status.{}", case.status.as_str()))
            .unwrap_or(case.status.as_str())
            .to_owned(),
        accepted: case.status == redress_domain::lifecycle::Status::Accepted,
        reasons,
        ground: outcome.and_then(|o| o.ground.clone()),
        article: outcome.and_then(|o| o.article.clone()),
        missing: case.ruling.information_requested.clone(),
        clocks,
    }
}

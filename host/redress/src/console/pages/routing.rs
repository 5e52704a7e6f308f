//! The routing table page: `/console/routing` (readers: `allowed::ReadRouting`; the edit form
//! for `allowed::ManageRouting`).
//!
//! - The tenant's table as an office tree (each office under its `parent`, with its division
//!   code and level), the routing rules under the office they send cases to, in words, and the
//!   default.
//! - Edit: the table's TOML (the document `PUT /v1/routing` takes) in a textarea, checked by
//!   the same parser (`RoutingTable::parse`); an error names the entry and the line. The form
//!   carries the SHA-256 of the text it was opened on, and `RoutingTables::put_if_unchanged`
//!   refuses it if the table was replaced meanwhile. A refused edit changes nothing.
//! - Test a case: a few facts of a case (sector, category, the respondent's place, online
//!   role, the platform's place, the office it was filed with, channel) become an intake, and
//!   `RouteQuery::for_intake` then `RoutingTable::resolve` say which office and why, as
//!   `redress routing test` does.

use askama::Template;
use axum::{
    Router,
    extract::{RawQuery, State},
    http::StatusCode,
    response::Response,
    routing::{get, post},
};
use redress_domain::case::Sector;
use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::{
    labels::{forbidden, may, sector_label, server_error},
    query_value,
};
use crate::{
    console::{Layout, PageError, PageForm, Texts, Viewer, render, see_other},
    routing::{Matched, RouteQuery, RoutingError, RoutingTable},
    server::{AppState, extract::RoleSet, routes::allowed},
};

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/console/routing", get(show).post(edit))
        .route("/console/routing/test", post(test_case))
}

#[derive(Debug, Clone)]
struct OfficeNode {
    depth: usize,
    id: String,
    name: String,
    division: String,
    level: String,
    scope: String,
    rules: Vec<String>,
    is_default: bool,
}

#[derive(Debug, Clone, Default)]
struct TestForm {
    sector: String,
    category: String,
    division: String,
    online: String,
    platform_division: String,
    receiving: String,
    channel: String,
}

#[derive(Debug, Clone)]
struct TestResult {
    office: Option<String>,
    why: Vec<String>,
    escalation: Option<String>,
}

#[derive(Template)]
#[template(path = "routing.html")]
struct RoutingPage {
    layout: Layout,
    csrf: String,
    offices: Vec<OfficeNode>,
    has_table: bool,
    editor: bool,
    text: String,
    base: String,
    notice: Option<String>,
    edit_error: Option<String>,
    /// The table in force when a stale edit was refused.
    current: Option<String>,
    test: TestForm,
    test_error: Option<String>,
    result: Option<TestResult>,
    sectors: Vec<(String, String)>,
    channels: Vec<(String, String)>,
    online_roles: Vec<(String, String)>,
}

fn digest(text: Option<&str>) -> String {
    text.map_or_else(String::new, |t| hex::encode(Sha256::digest(t.as_bytes())))
}

fn level_label(t: Texts, level: crate::routing::Level) -> String {
    let key = crate::rules::view::enum_name(&level).unwrap_or_default();
    t.lookup(&format!("routing_page.level_{key}"))
        .map_or(key, str::to_owned)
}

fn rule_words(t: Texts, n: usize, rule: &crate::routing::Rule) -> String {
    let mut conditions = Vec::new();
    if let Some(sector) = rule.sector {
        conditions.push(sector_label(t, sector));
    }
    if let Some(category) = &rule.category {
        conditions.push(t.fill("routing_page.when_category", &[("category", category)]));
    }
    if let Some(division) = &rule.division {
        conditions.push(t.fill("routing_page.when_division", &[("division", division)]));
    }
    if let Some(online) = rule.online {
        conditions.push(
            t.t(if online {
                "routing_page.when_online"
            } else {
                "routing_page.when_offline"
            })
            .to_owned(),
        );
    }
    if let Some(channel) = rule.channel {
        let name = crate::rules::view::enum_name(&channel).unwrap_or_default();
        conditions.push(t.fill(
            "routing_page.when_channel",
            &[(
                "channel",
                t.lookup(&format!("value.{name}")).unwrap_or(&name),
            )],
        ));
    }
    let when = if conditions.is_empty() {
        t.t("routing_page.when_any").to_owned()
    } else {
        conditions.join(t.t("routing_page.and"))
    };
    let mut words = t.fill(
        "routing_page.rule",
        &[("n", &n.to_string()), ("when", &when)],
    );
    if let Some(basis) = &rule.basis {
        words.push_str(&t.fill("routing_page.basis", &[("basis", basis)]));
    }
    words
}

/// The offices depth-first under their parents, each with the rules that send cases to it.
fn tree(t: Texts, table: &RoutingTable) -> Vec<OfficeNode> {
    let offices: Vec<&crate::routing::Office> = table.offices().collect();
    let mut nodes = Vec::new();
    fn visit(
        t: Texts,
        table: &RoutingTable,
        offices: &[&crate::routing::Office],
        parent: Option<&str>,
        depth: usize,
        nodes: &mut Vec<OfficeNode>,
    ) {
        for office in offices.iter().filter(|o| o.parent.as_deref() == parent) {
            let mut scope: Vec<String> =
                office.sectors.iter().map(|s| sector_label(t, *s)).collect();
            scope.extend(office.categories.iter().cloned());
            nodes.push(OfficeNode {
                depth,
                id: office.id.clone(),
                name: office.name.clone(),
                division: office.division.clone(),
                level: level_label(t, office.level),
                scope: if scope.is_empty() {
                    t.t("routing_page.all_cases").to_owned()
                } else {
                    scope.join("、")
                },
                rules: table
                    .rules()
                    .iter()
                    .enumerate()
                    .filter(|(_, r)| r.office == office.id)
                    .map(|(i, r)| rule_words(t, i + 1, r))
                    .collect(),
                is_default: table.default_office() == Some(office.id.as_str()),
            });
            // The parser refuses loops, so this ends.
            visit(t, table, offices, Some(&office.id), depth + 1, nodes);
        }
    }
    visit(t, table, &offices, None, 0, &mut nodes);
    nodes
}

fn choices<T: serde::Serialize + Copy>(
    t: Texts,
    values: &[T],
    prefix: &str,
) -> Vec<(String, String)> {
    values
        .iter()
        .filter_map(|v| {
            let name = crate::rules::view::enum_name(v)?;
            let label = t
                .lookup(&format!("{prefix}{name}"))
                .map_or_else(|| name.clone(), str::to_owned);
            Some((name, label))
        })
        .collect()
}

fn page(state: &AppState, viewer: &Viewer) -> RoutingPage {
    let t = viewer.texts;
    let tenant = viewer.principal.tenant.as_str();
    let text = state.app.routing().text(tenant);
    let table = state.app.routing().get(tenant);
    use redress_domain::case::{Channel, OnlineRole};
    RoutingPage {
        layout: viewer.layout("routing_page.title"),
        csrf: viewer.csrf().to_owned(),
        offices: table
            .as_deref()
            .map(|table| tree(t, table))
            .unwrap_or_default(),
        has_table: table.is_some(),
        editor: may(viewer, allowed::ManageRouting::ROLES),
        base: digest(text.as_deref()),
        text: text.unwrap_or_default(),
        notice: None,
        edit_error: None,
        current: None,
        test: TestForm::default(),
        test_error: None,
        result: None,
        sectors: Sector::ALL
            .iter()
            .map(|s| (s.as_str().to_owned(), sector_label(t, *s)))
            .collect(),
        channels: choices(
            t,
            &[
                Channel::Hotline,
                Channel::Web,
                Channel::Email,
                Channel::Letter,
                Channel::WalkIn,
                Channel::Transfer,
            ],
            "value.",
        ),
        online_roles: choices(
            t,
            &[
                OnlineRole::PlatformOperator,
                OnlineRole::PlatformSeller,
                OnlineRole::OwnWebsite,
            ],
            "value.",
        ),
    }
}

async fn show(
    State(state): State<AppState>,
    viewer: Viewer,
    RawQuery(raw): RawQuery,
) -> Result<Response, PageError> {
    if !may(&viewer, allowed::ReadRouting::ROLES) {
        return Err(forbidden(&viewer));
    }
    let mut shown = page(&state, &viewer);
    if query_value(raw.as_deref(), "done").as_deref() == Some("saved") {
        shown.notice = Some(viewer.texts.t("routing_page.saved").to_owned());
    }
    Ok(render(StatusCode::OK, &shown))
}

#[derive(Debug, Deserialize)]
struct EditForm {
    #[serde(default)]
    csrf: Option<String>,
    #[serde(default)]
    toml: String,
    #[serde(default)]
    base: String,
}

/// The line of the entry a routing error names (`table:12`, `table: [[rule]] #2`,
/// `table: [[office]] `id``, `table: [default]`), to point the person at it.
fn fault_line(text: &str, origin: &str) -> Option<usize> {
    let at = origin.strip_prefix("table")?;
    if let Some(line) = at.strip_prefix(':').and_then(|l| l.trim().parse().ok()) {
        return Some(line);
    }
    let at = at.trim_start_matches(':').trim();
    let nth = |header: &str, n: usize| {
        text.lines()
            .enumerate()
            .filter(|(_, l)| l.trim() == header)
            .nth(n.checked_sub(1)?)
            .map(|(i, _)| i + 1)
    };
    let number = |rest: &str| {
        rest.trim()
            .strip_prefix('#')?
            .split(|c: char| !c.is_ascii_digit())
            .next()?
            .parse::<usize>()
            .ok()
    };
    if let Some(rest) = at.strip_prefix("[[rule]]") {
        return nth("[[rule]]", number(rest)?);
    }
    if let Some(rest) = at.strip_prefix("[[office]]") {
        if let Some(n) = number(rest) {
            return nth("[[office]]", n);
        }
        let id = rest.trim().trim_matches('`');
        return text
            .lines()
            .position(|l| {
                l.split_once('=')
                    .is_some_and(|(k, v)| k.trim() == "id" && v.trim().trim_matches('"') == id)
            })
            .map(|i| i + 1);
    }
    if at.starts_with("[default]") {
        return nth("[default]", 1);
    }
    None
}

fn edit_fault(t: Texts, text: &str, error: &RoutingError) -> String {
    let entry = error
        .origin
        .strip_prefix("table")
        .map(|rest| rest.trim_start_matches(':').trim())
        .filter(|rest| !rest.is_empty() && !rest.bytes().all(|b| b.is_ascii_digit()))
        .unwrap_or_default();
    match fault_line(text, &error.origin) {
        Some(line) => t.fill(
            "routing_page.fault_line",
            &[
                ("line", &line.to_string()),
                ("entry", entry),
                ("message", &error.message),
            ],
        ),
        None => t.fill(
            "routing_page.fault",
            &[("entry", entry), ("message", &error.message)],
        ),
    }
}

async fn edit(
    State(state): State<AppState>,
    viewer: Viewer,
    PageForm(form): PageForm<EditForm>,
) -> Result<Response, PageError> {
    viewer.check_csrf(form.csrf.as_deref())?;
    if !may(&viewer, allowed::ManageRouting::ROLES) {
        return Err(forbidden(&viewer));
    }
    let t = viewer.texts;
    let routing = std::sync::Arc::clone(state.app.routing());
    let tenant = viewer.principal.tenant.to_string();
    let (text, base) = (form.toml.replace("\r\n", "\n"), form.base.clone());
    let put = {
        let text = text.clone();
        tokio::task::spawn_blocking(move || {
            routing.put_if_unchanged(&tenant, |current| digest(current) == base, &text)
        })
        .await
        .map_err(|e| server_error(&viewer, e))?
    };
    let mut shown = page(&state, &viewer);
    match put {
        Ok(Ok(_)) => {
            tracing::info!(username = %viewer.account.username, tenant = %viewer.principal.tenant, "routing table replaced from the console");
            Ok(see_other("/console/routing?done=saved"))
        }
        Ok(Err(current)) => {
            shown.edit_error = Some(t.t("routing_page.stale").to_owned());
            shown.current = Some(current.unwrap_or_default());
            shown.text = text;
            Ok(render(StatusCode::CONFLICT, &shown))
        }
        Err(error) if error.origin.starts_with("table") => {
            shown.edit_error = Some(edit_fault(t, &text, &error));
            shown.text = text;
            shown.base = form.base;
            Ok(render(StatusCode::UNPROCESSABLE_ENTITY, &shown))
        }
        Err(error) => Err(server_error(&viewer, error)),
    }
}

#[derive(Debug, Deserialize, Default)]
struct TestFields {
    #[serde(default)]
    csrf: Option<String>,
    #[serde(default)]
    sector: String,
    #[serde(default)]
    category: String,
    #[serde(default)]
    division: String,
    #[serde(default)]
    online: String,
    #[serde(default)]
    platform_division: String,
    #[serde(default)]
    receiving: String,
    #[serde(default)]
    channel: String,
}

/// The intake `redress routing test --case` would read for these facts; the rest of it does
/// not matter to routing.
fn intake_of(f: &TestFields) -> Result<redress_domain::CaseIntake, String> {
    let some = |s: &str| {
        let s = s.trim();
        (!s.is_empty()).then(|| serde_json::Value::String(s.to_owned()))
    };
    let mut respondent = serde_json::json!({ "name": "—" });
    if let Some(code) = some(&f.division) {
        respondent["division_code"] = code;
    }
    if let Some(role) = some(&f.online) {
        respondent["online"] = serde_json::json!({ "role": role });
        if let Some(code) = some(&f.platform_division) {
            respondent["online"]["platform_division_code"] = code;
        }
    }
    let mut intake = serde_json::json!({
        "sector": f.sector.trim(),
        "channel": if f.channel.trim().is_empty() { "hotline" } else { f.channel.trim() },
        "respondent": respondent,
        "claim": "—",
    });
    if let Some(category) = some(&f.category) {
        intake["category"] = category;
    }
    if let Some(code) = some(&f.receiving) {
        intake["attributes"] = serde_json::json!({ "receiving_office_division": code });
    }
    serde_json::from_value(intake).map_err(|e| e.to_string())
}

async fn test_case(
    State(state): State<AppState>,
    viewer: Viewer,
    PageForm(fields): PageForm<TestFields>,
) -> Result<Response, PageError> {
    viewer.check_csrf(fields.csrf.as_deref())?;
    if !may(&viewer, allowed::ReadRouting::ROLES) {
        return Err(forbidden(&viewer));
    }
    let t = viewer.texts;
    let mut shown = page(&state, &viewer);
    shown.test = TestForm {
        sector: fields.sector.clone(),
        category: fields.category.clone(),
        division: fields.division.clone(),
        online: fields.online.clone(),
        platform_division: fields.platform_division.clone(),
        receiving: fields.receiving.clone(),
        channel: fields.channel.clone(),
    };
    let Some(table) = state.app.routing().get(viewer.principal.tenant.as_str()) else {
        shown.test_error = Some(t.t("routing_page.no_table").to_owned());
        return Ok(render(StatusCode::NOT_FOUND, &shown));
    };
    let intake = match intake_of(&fields) {
        Ok(intake) => intake,
        Err(e) => {
            shown.test_error = Some(t.fill("routing_page.test_invalid", &[("error", &e)]));
            return Ok(render(StatusCode::UNPROCESSABLE_ENTITY, &shown));
        }
    };
    let query = RouteQuery::for_intake(&intake);
    shown.result = Some(match table.resolve(&query) {
        Some(resolution) => {
            let mut why = resolution.why.clone();
            why.push(match resolution.matched {
                Matched::Rule(n) => t.fill("routing_page.matched_rule", &[("n", &n.to_string())]),
                Matched::Default => t.t("routing_page.matched_default").to_owned(),
            });
            if !resolution.less_specific.is_empty() {
                let others: Vec<String> = resolution
                    .less_specific
                    .iter()
                    .map(|n| format!("#{n}"))
                    .collect();
                why.push(t.fill(
                    "routing_page.less_specific",
                    &[("rules", &others.join(", "))],
                ));
            }
            let above: Vec<String> = table
                .ancestors(&resolution.office.id)
                .iter()
                .map(|o| format!("{} ({})", o.name, o.id))
                .collect();
            TestResult {
                office: Some(t.fill(
                    "routing_page.office_is",
                    &[
                        ("name", &resolution.office.name),
                        ("id", &resolution.office.id),
                        ("division", &resolution.office.division),
                        ("level", &level_label(t, resolution.office.level)),
                    ],
                )),
                why,
                escalation: (!above.is_empty()).then(|| above.join(" → ")),
            }
        }
        None => TestResult {
            office: None,
            why: vec![t.t("routing_page.no_office").to_owned()],
            escalation: None,
        },
    });
    Ok(render(StatusCode::OK, &shown))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_routing_error_points_at_its_line() {
        let text = "[[office]]\nid = \"a\"\n\n[[rule]]\noffice = \"a\"\n\n[[rule]]\noffice = \"b\"\n\n[default]\noffice = \"x\"\n";
        assert_eq!(fault_line(text, "table:3"), Some(3));
        assert_eq!(fault_line(text, "table: [[rule]] #2"), Some(7));
        assert_eq!(fault_line(text, "table: [[office]] #1 (`a`)"), Some(1));
        assert_eq!(fault_line(text, "table: [[office]] `a`"), Some(2));
        assert_eq!(fault_line(text, "table: [default]"), Some(10));
        assert_eq!(fault_line(text, "/data/routing/x.toml"), None);
    }
}

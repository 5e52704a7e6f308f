//! The plugin-vendor keys page: `/console/plugin-keys` (readers: `allowed::ReadPluginKeys`;
//! adding and removing for `allowed::ManagePluginKeys`).
//!
//! The tenant's own trusted keys (vendor and fingerprint, the key id: a SHA-256 of the key)
//! and the server-wide ones, read-only. Adding takes a `[[key]]` entry as `redress plugin
//! keygen` prints it (vendor, algorithm, key_id, public_key: the format `PUT /v1/plugin-keys`
//! takes), checked alone first (`TrustStore::parse`: an ed25519 key whose id matches it), then
//! with the others; removing drops one entry by its id. Both write the whole list through
//! `Redress::set_plugin_keys`, as the API does, and are refused (nothing changed) if the list
//! changed since the page was opened (a SHA-256 of the list in a hidden field).

use askama::Template;
use axum::{
    Router,
    extract::{RawQuery, State},
    http::StatusCode,
    response::Response,
    routing::{get, post},
};
use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::{
    labels::{forbidden, may, server_error},
    query_value,
};
use crate::{
    console::{Layout, PageError, PageForm, Texts, Viewer, render, see_other},
    rules::signing::TrustStore,
    server::{AppState, extract::RoleSet, routes::allowed},
    service::DeployError,
};

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/console/plugin-keys", get(show))
        .route("/console/plugin-keys/add", post(add))
        .route("/console/plugin-keys/remove", post(remove))
}

#[derive(Debug, Clone)]
struct KeyRow {
    vendor: String,
    key_id: String,
}

#[derive(Template)]
#[template(path = "plugin_keys.html")]
struct KeysPage {
    layout: Layout,
    csrf: String,
    base: String,
    own: Vec<KeyRow>,
    server: Vec<KeyRow>,
    editor: bool,
    notice: Option<String>,
    error: Option<String>,
    entry: String,
}

fn rows(store: &TrustStore) -> Vec<KeyRow> {
    store
        .keys()
        .map(|k| KeyRow {
            vendor: k.vendor.clone(),
            key_id: k.key_id.clone(),
        })
        .collect()
}

fn digest(text: Option<&str>) -> String {
    text.map_or_else(String::new, |t| hex::encode(Sha256::digest(t.as_bytes())))
}

fn page(state: &AppState, viewer: &Viewer) -> KeysPage {
    let text = state.app.plugin_keys(&viewer.principal.tenant);
    let own = text
        .as_deref()
        .and_then(|t| TrustStore::parse(t, "keys").ok())
        .map(|s| rows(&s))
        .unwrap_or_default();
    KeysPage {
        layout: viewer.layout("plugin_keys.title"),
        csrf: viewer.csrf().to_owned(),
        base: digest(text.as_deref()),
        own,
        server: rows(state.app.rules().trust()),
        editor: may(viewer, allowed::ManagePluginKeys::ROLES),
        notice: None,
        error: None,
        entry: String::new(),
    }
}

async fn show(
    State(state): State<AppState>,
    viewer: Viewer,
    RawQuery(raw): RawQuery,
) -> Result<Response, PageError> {
    if !may(&viewer, allowed::ReadPluginKeys::ROLES) {
        return Err(forbidden(&viewer));
    }
    let t = viewer.texts;
    let mut shown = page(&state, &viewer);
    let key = query_value(raw.as_deref(), "k").unwrap_or_default();
    shown.notice = match query_value(raw.as_deref(), "done").as_deref() {
        Some("added") => Some(t.fill("plugin_keys.added", &[("key", &key)])),
        Some("removed") => Some(t.fill("plugin_keys.removed", &[("key", &key)])),
        _ => None,
    };
    Ok(render(StatusCode::OK, &shown))
}

#[derive(Debug, Deserialize)]
struct AddForm {
    #[serde(default)]
    csrf: Option<String>,
    #[serde(default)]
    entry: String,
    #[serde(default)]
    base: String,
}

#[derive(Debug, Deserialize)]
struct RemoveForm {
    #[serde(default)]
    csrf: Option<String>,
    #[serde(default)]
    key_id: String,
    #[serde(default)]
    base: String,
}

/// The `key` entries of a trusted-keys text (empty for none).
fn entries(text: Option<&str>) -> Result<Vec<toml::Value>, String> {
    let Some(text) = text else {
        return Ok(Vec::new());
    };
    let table: toml::Table = toml::from_str(text).map_err(|e| e.message().to_owned())?;
    Ok(table
        .get("key")
        .and_then(toml::Value::as_array)
        .cloned()
        .unwrap_or_default())
}

/// One pasted entry: a `[[key]]` block, or its fields alone.
fn pasted_entry(t: Texts, text: &str) -> Result<toml::Value, String> {
    let table: toml::Table = toml::from_str(text)
        .map_err(|e| t.fill("plugin_keys.not_toml", &[("error", e.message())]))?;
    let entry = match table.get("key").and_then(toml::Value::as_array) {
        Some(keys) if keys.len() == 1 => keys[0].clone(),
        Some(_) => return Err(t.t("plugin_keys.one_key").to_owned()),
        None => toml::Value::Table(table),
    };
    // Checked alone, so that the error names this entry's fields, not a place in the list.
    let alone = render_keys(std::slice::from_ref(&entry))?;
    TrustStore::parse(&alone, "entry")
        .map_err(|e| t.fill("plugin_keys.invalid", &[("error", &e.to_string())]))?;
    Ok(entry)
}

fn render_keys(keys: &[toml::Value]) -> Result<String, String> {
    let mut table = toml::Table::new();
    table.insert("key".into(), toml::Value::Array(keys.to_vec()));
    toml::to_string(&table).map_err(|e| e.to_string())
}

fn key_id_of(entry: &toml::Value) -> Option<&str> {
    entry.get("key_id").and_then(toml::Value::as_str)
}

/// Writes `keys` as the tenant's list if it is still the one the form was opened on.
async fn store(
    state: &AppState,
    viewer: &Viewer,
    base: &str,
    keys: &[toml::Value],
) -> Result<Result<(), (StatusCode, String)>, PageError> {
    let t = viewer.texts;
    if digest(state.app.plugin_keys(&viewer.principal.tenant).as_deref()) != base {
        return Ok(Err((
            StatusCode::CONFLICT,
            t.t("plugin_keys.stale").to_owned(),
        )));
    }
    let text = render_keys(keys).map_err(|e| server_error(viewer, e))?;
    match state
        .app
        .set_plugin_keys(viewer.principal.tenant.clone(), text)
        .await
    {
        Ok(()) => Ok(Ok(())),
        Err(DeployError::Package(e)) => Ok(Err((
            StatusCode::UNPROCESSABLE_ENTITY,
            t.fill("plugin_keys.invalid", &[("error", &e.to_string())]),
        ))),
        Err(e) => Err(server_error(viewer, e)),
    }
}

fn refused(mut shown: KeysPage, status: StatusCode, error: String) -> Result<Response, PageError> {
    shown.error = Some(error);
    Ok(render(status, &shown))
}

async fn add(
    State(state): State<AppState>,
    viewer: Viewer,
    PageForm(form): PageForm<AddForm>,
) -> Result<Response, PageError> {
    viewer.check_csrf(form.csrf.as_deref())?;
    if !may(&viewer, allowed::ManagePluginKeys::ROLES) {
        return Err(forbidden(&viewer));
    }
    let t = viewer.texts;
    let mut shown = page(&state, &viewer);
    shown.entry = form.entry.clone();
    let entry = match pasted_entry(t, &form.entry) {
        Ok(entry) => entry,
        Err(error) => return refused(shown, StatusCode::UNPROCESSABLE_ENTITY, error),
    };
    let mut keys = entries(state.app.plugin_keys(&viewer.principal.tenant).as_deref())
        .map_err(|e| server_error(&viewer, e))?;
    let id = key_id_of(&entry).unwrap_or_default().to_owned();
    if keys.iter().any(|k| key_id_of(k) == Some(id.as_str())) {
        let error = t.fill("plugin_keys.duplicate", &[("key", &id)]);
        return refused(shown, StatusCode::CONFLICT, error);
    }
    keys.push(entry);
    match store(&state, &viewer, &form.base, &keys).await? {
        Ok(()) => {
            tracing::info!(username = %viewer.account.username, key_id = %id, "trusted plugin key added from the console");
            let id: String = form_urlencoded::byte_serialize(id.as_bytes()).collect();
            Ok(see_other(&format!(
                "/console/plugin-keys?done=added&k={id}"
            )))
        }
        Err((status, error)) => refused(shown, status, error),
    }
}

async fn remove(
    State(state): State<AppState>,
    viewer: Viewer,
    PageForm(form): PageForm<RemoveForm>,
) -> Result<Response, PageError> {
    viewer.check_csrf(form.csrf.as_deref())?;
    if !may(&viewer, allowed::ManagePluginKeys::ROLES) {
        return Err(forbidden(&viewer));
    }
    let t = viewer.texts;
    let shown = page(&state, &viewer);
    let mut keys = entries(state.app.plugin_keys(&viewer.principal.tenant).as_deref())
        .map_err(|e| server_error(&viewer, e))?;
    let before = keys.len();
    keys.retain(|k| key_id_of(k) != Some(form.key_id.as_str()));
    if keys.len() == before {
        let error = t.fill("plugin_keys.no_such", &[("key", &form.key_id)]);
        return refused(shown, StatusCode::NOT_FOUND, error);
    }
    match store(&state, &viewer, &form.base, &keys).await? {
        Ok(()) => {
            tracing::info!(username = %viewer.account.username, key_id = %form.key_id, "trusted plugin key removed from the console");
            let id: String = form_urlencoded::byte_serialize(form.key_id.as_bytes()).collect();
            Ok(see_other(&format!(
                "/console/plugin-keys?done=removed&k={id}"
            )))
        }
        Err((status, error)) => refused(shown, status, error),
    }
}

//! The console's pages, one file per page group. Each file has a `routes()` merged here; the
//! paths are written out in full (`/console/...`).

mod accounts;
mod audit;
mod backlog;
mod board;
mod cases;
mod deploy;
mod explain;
mod fields;
mod home;
mod intake;
mod labels;
mod plugin_keys;
mod public_form;
mod queue;
mod report_charts;
mod reports;
mod routing;
mod rulesets;
mod sign_in;
mod track;

use axum::{
    Router,
    extract::{Path, RawQuery},
    http::{HeaderValue, header},
    response::{IntoResponse, Response},
    routing::get,
};

use super::{Lang, i18n::LANG_COOKIE, safe_next, see_other};
use crate::server::AppState;

/// Every page route.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(root))
        .route("/console/lang/{code}", get(switch_language))
        .merge(sign_in::routes())
        .merge(home::routes())
        .merge(cases::routes())
        .merge(queue::routes())
        .merge(intake::routes())
        .merge(board::routes())
        .merge(rulesets::routes())
        .merge(explain::routes())
        .merge(deploy::routes())
        .merge(routing::routes())
        .merge(plugin_keys::routes())
        .merge(audit::routes())
        .merge(track::routes())
        .merge(accounts::routes())
        .merge(public_form::routes())
        .merge(reports::routes())
}

/// `/`: the console, or its sign-in page for someone not signed in.
async fn root(
    axum::extract::State(state): axum::extract::State<AppState>,
    request: axum::extract::Request,
) -> Response {
    let (parts, _) = request.into_parts();
    match super::viewer::current(&state, &parts, state.app.time().now()) {
        Ok(_) => see_other("/console"),
        Err(_) => see_other("/console/sign-in"),
    }
}

/// One query parameter's value.
pub(crate) fn query_value(query: Option<&str>, name: &str) -> Option<String> {
    form_urlencoded::parse(query?.as_bytes())
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.into_owned())
}

/// The language link: sets the `redress_lang` cookie (a year) and goes back to the page.
async fn switch_language(Path(code): Path<String>, RawQuery(query): RawQuery) -> Response {
    let next = query_value(query.as_deref(), "next");
    let next = safe_next(next.as_deref()).to_owned();
    let Some(lang) = Lang::from_code(&code) else {
        return see_other(&next);
    };
    let mut response = see_other(&next);
    let cookie = format!(
        "{LANG_COOKIE}={}; Path=/; Max-Age=31536000; HttpOnly; SameSite=Lax",
        lang.code()
    );
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    response.into_response()
}

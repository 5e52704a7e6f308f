//! `/console`: who is signed in (name, tenant, role, office) and the pages their role may use.

use askama::Template;
use axum::{Router, http::StatusCode, response::Response, routing::get};

use crate::console::{Layout, NavLink, Viewer, nav_links, render, role_label};
use crate::server::AppState;

pub(super) fn routes() -> Router<AppState> {
    Router::new().route("/console", get(home))
}

#[derive(Template)]
#[template(path = "home.html")]
struct HomePage {
    layout: Layout,
    heading: String,
    display_name: String,
    username: String,
    tenant: String,
    role: &'static str,
    office: Option<String>,
    links: Vec<NavLink>,
}

async fn home(viewer: Viewer) -> Response {
    let t = viewer.texts;
    let page = HomePage {
        layout: viewer.layout("home.title"),
        heading: t.fill("home.heading", &[("name", &viewer.account.display_name)]),
        display_name: viewer.account.display_name.clone(),
        username: viewer.account.username.clone(),
        tenant: viewer.account.tenant.to_string(),
        role: role_label(t, viewer.account.role),
        office: viewer.office().map(str::to_owned),
        links: nav_links(t, viewer.account.role, &viewer.path),
    };
    render(StatusCode::OK, &page)
}

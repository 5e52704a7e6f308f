//! The console: the web pages people work cases in, served by the same server on the same
//! service layer as the API (`AppState`, `service::Redress`), with the same role checks
//! (`access::Principal`, `access::Role`). ARCHITECTURE.md has the map and the invariants.
//!
//! - `accounts.rs`: people's accounts (`<data>/accounts.json`), argon2id, lock-out, TOTP.
//! - `sessions.rs`: server-side sessions, their cookie, CSRF tokens.
//! - `sled_sessions.rs`: the sessions of a server with a data directory, kept on disk.
//! - `viewer.rs`: the signed-in person of a request ([`Viewer`]).
//! - `throttle.rs`: events counted per client: failed sign-ins (20 in 10 minutes block it),
//!   public complaints (5 an hour).
//! - `security.rs`: the headers on every console response (strict CSP).
//! - `i18n.rs`: the message catalogues (zh-CN first, English beside).
//! - `pages/`: one file per page group.
//! - here: the router, the embedded assets, the layout every page renders in ([`Layout`]),
//!   the navigation by role ([`PAGES`]), error pages ([`PageError`]) and the form extractor
//!   ([`PageForm`]).
//!
//! Invariants: every console response carries the security headers (one layer over the whole
//! router); every POST checks the session's CSRF token before anything else it does
//! ([`Viewer::check_csrf`]); no template has an inline script or style.

pub mod accounts;
pub mod i18n;
pub mod multipart;
pub mod pages;
pub mod security;
pub mod sessions;
pub mod sled_sessions;
pub mod throttle;
pub mod viewer;

use std::sync::{Arc, LazyLock};

use askama::Template;
use axum::{
    Router,
    body::Body,
    extract::{FromRequest, Path, Request},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
    routing::get,
};
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};

use crate::{access::Role, server::AppState};
pub use i18n::{Lang, Texts};
pub use viewer::Viewer;

use accounts::{AccountStore, MemoryAccounts};
use sessions::{MemorySessions, SessionStore};

/// What the console keeps beside the API's state.
#[derive(Debug, Clone)]
pub struct Console {
    pub accounts: Arc<dyn AccountStore>,
    pub sessions: Arc<dyn SessionStore>,
    /// `serve --secure-cookies`: mark every cookie Secure (the server is reached over HTTPS
    /// through a proxy that does not say so).
    pub secure_cookies: bool,
    /// Password checks running at once: each takes 19 MiB and tens of milliseconds by design,
    /// so a flood of sign-ins waits here instead of filling memory with blocking threads.
    pub password_checks: Arc<tokio::sync::Semaphore>,
    /// Failed sign-ins per client (`throttle.rs`).
    pub throttle: Arc<throttle::SignInThrottle>,
    /// Complaints filed through the public form per client (`pages/public_form.rs`).
    pub public_forms: Arc<throttle::Throttle>,
}

/// How many password checks run at once.
pub const CONCURRENT_PASSWORD_CHECKS: usize = 4;

impl Console {
    pub fn new(accounts: Arc<dyn AccountStore>, secure_cookies: bool) -> Console {
        Console {
            accounts,
            sessions: Arc::new(MemorySessions::new()),
            secure_cookies,
            password_checks: Arc::new(tokio::sync::Semaphore::new(CONCURRENT_PASSWORD_CHECKS)),
            throttle: Arc::new(throttle::SignInThrottle::new()),
            public_forms: Arc::new(throttle::Throttle::with_limit(
                throttle::PUBLIC_FORM_MAX,
                throttle::PUBLIC_FORM_WINDOW,
            )),
        }
    }

    /// No accounts, sessions in memory (tests, benchmarks, an in-memory application).
    pub fn in_memory() -> Console {
        Console::new(Arc::new(MemoryAccounts::default()), false)
    }

    /// Whether cookies are to be marked Secure for this request: always with
    /// `--secure-cookies`, else when a proxy on this host (a loopback peer, the only one
    /// trusted) says the request came over HTTPS (`X-Forwarded-Proto: https`). The server
    /// itself does not terminate TLS.
    pub fn secure(&self, headers: &HeaderMap, peer: Option<std::net::IpAddr>) -> bool {
        self.secure_cookies
            || (peer.is_some_and(|ip| ip.is_loopback())
                && headers
                    .get("x-forwarded-proto")
                    .and_then(|v| v.to_str().ok())
                    .is_some_and(|proto| proto.trim().eq_ignore_ascii_case("https")))
    }
}

/// The console's pages, in the navigation and on the home page, with the roles that may use
/// each: the API's role sets (`server::routes::allowed`), so a link is shown exactly to those
/// the page's actions will admit. The pages are built in their own files under `pages/`.
pub const PAGES: &[(&str, &str, &[Role])] = {
    use crate::server::{extract::RoleSet, routes::allowed};
    &[
        ("/console/queue", "queue", allowed::WorkCases::ROLES),
        ("/console/intake", "intake", allowed::Register::ROLES),
        ("/console/board", "board", allowed::Supervise::ROLES),
        ("/console/reports", "reports", allowed::ReadReports::ROLES),
        (
            "/console/rulesets",
            "rulesets",
            allowed::ReadRulesets::ROLES,
        ),
        ("/console/audit", "audit", allowed::Audit::ROLES),
        ("/console/routing", "routing", allowed::ReadRouting::ROLES),
        (
            "/console/plugin-keys",
            "plugin_keys",
            allowed::ReadPluginKeys::ROLES,
        ),
        (
            "/console/accounts",
            "accounts",
            allowed::ManageAccounts::ROLES,
        ),
    ]
};

/// A link of the navigation.
#[derive(Debug, Clone)]
pub struct NavLink {
    pub href: &'static str,
    pub label: &'static str,
    pub description: &'static str,
    /// The page being shown (`aria-current="page"`).
    pub current: bool,
}

/// The pages `role` may use, in navigation order.
pub fn nav_links(texts: Texts, role: Role, current_path: &str) -> Vec<NavLink> {
    PAGES
        .iter()
        .filter(|(_, _, roles)| roles.contains(&role))
        .map(|(href, key, _)| NavLink {
            href,
            label: texts.t(nav_key(key, false)),
            description: texts.t(nav_key(key, true)),
            current: current_path == *href || current_path.starts_with(&format!("{href}/")),
        })
        .collect()
}

fn nav_key(key: &str, description: bool) -> &'static str {
    match (key, description) {
        ("queue", false) => "nav.queue",
        ("queue", true) => "nav.queue_desc",
        ("intake", false) => "nav.intake",
        ("intake", true) => "nav.intake_desc",
        ("board", false) => "nav.board",
        ("board", true) => "nav.board_desc",
        ("rulesets", false) => "nav.rulesets",
        ("rulesets", true) => "nav.rulesets_desc",
        ("audit", false) => "nav.audit",
        ("audit", true) => "nav.audit_desc",
        ("accounts", false) => "nav.accounts",
        ("accounts", true) => "nav.accounts_desc",
        ("routing", false) => "routing_page.nav",
        ("routing", true) => "routing_page.nav_desc",
        ("plugin_keys", false) => "plugin_keys.nav",
        ("plugin_keys", true) => "plugin_keys.nav_desc",
        ("reports", false) => "nav.reports",
        ("reports", true) => "nav.reports_desc",
        _ => "nav.home",
    }
}

/// A role's name in the reader's language.
pub fn role_label(texts: Texts, role: Role) -> &'static str {
    texts.t(match role {
        Role::Intake => "role.intake",
        Role::Handler => "role.handler",
        Role::Supervisor => "role.supervisor",
        Role::ComplianceAdmin => "role.compliance_admin",
        Role::Auditor => "role.auditor",
        Role::Operator => "role.operator",
    })
}

/// The signed-in part of the layout.
#[derive(Debug, Clone)]
pub struct LayoutUser {
    /// "Signed in: 李四 (承办人)".
    pub signed_in_as: String,
    pub nav: Vec<NavLink>,
    /// For the sign-out form.
    pub csrf: String,
}

/// What `templates/base.html` needs: every page template has a field `layout` of this type.
#[derive(Debug, Clone)]
pub struct Layout {
    pub t: Texts,
    /// The page's title (before " · Redress").
    pub title: String,
    /// `/console/lang/<other>?next=<this page>`.
    pub switch_href: String,
    pub css: &'static str,
    pub htmx: &'static str,
    pub user: Option<LayoutUser>,
    /// The home link is the current page.
    pub home_current: bool,
    /// Where the brand in the header leads: the console, or for a complainant's page that
    /// page itself (a complainant has no console to go to).
    pub brand_href: &'static str,
}

impl Layout {
    /// The layout of a page shown to nobody in particular (sign-in, errors before sign-in).
    pub fn anonymous(t: Texts, title_key: &str, path: &str) -> Layout {
        Layout {
            t,
            title: t.t(title_key).to_owned(),
            switch_href: switch_href(t.lang, path),
            css: asset_url("console.css"),
            htmx: asset_url("htmx.min.js"),
            user: None,
            home_current: false,
            brand_href: "/console",
        }
    }
}

/// The language switch's link: it sets the cookie and comes back to `path`.
fn switch_href(lang: Lang, path: &str) -> String {
    let next: String = form_urlencoded::byte_serialize(path.as_bytes()).collect();
    format!("/console/lang/{}?next={next}", lang.other().code())
}

/// A place inside the console to go back to after signing in or switching language: a path
/// under `/console` of this origin, never another site (`//evil`, `/\evil`).
pub fn safe_next(next: Option<&str>) -> &str {
    match next {
        Some(path)
            if (path == "/console"
                || path == "/track"
                || path == "/complain"
                || path.starts_with("/complain/")
                || path.starts_with("/console/")
                || path.starts_with("/console?"))
                && !path.contains("//")
                && !path.contains('\\')
                && !path.chars().any(char::is_control) =>
        {
            path
        }
        _ => "/console",
    }
}

/// An HTML page with its status.
pub fn render(status: StatusCode, template: &impl Template) -> Response {
    match template.render() {
        Ok(html) => (
            status,
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            )],
            html,
        )
            .into_response(),
        Err(e) => {
            tracing::error!(error = %e, "a console template failed to render");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "the page could not be rendered",
            )
                .into_response()
        }
    }
}

/// A `303 See Other` to `location` (after a POST, and for pages that moved).
pub fn see_other(location: &str) -> Response {
    let mut response = StatusCode::SEE_OTHER.into_response();
    if let Ok(value) = HeaderValue::from_str(location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage {
    layout: Layout,
    heading: String,
    message: String,
}

/// A refusal or failure shown as a page in words (never JSON): its status, a heading and a
/// sentence from the catalogue. A refused action has changed nothing.
#[derive(Debug, Clone)]
pub struct PageError {
    pub status: StatusCode,
    pub texts: Texts,
    pub heading_key: &'static str,
    pub message: String,
    pub path: String,
}

impl PageError {
    /// 403: the form's CSRF token is missing or wrong.
    pub fn csrf(texts: Texts, path: &str) -> PageError {
        PageError {
            status: StatusCode::FORBIDDEN,
            texts,
            heading_key: "error.csrf_title",
            message: texts.t("error.csrf").to_owned(),
            path: path.to_owned(),
        }
    }

    /// 400: a form body that cannot be read.
    pub fn bad_form(texts: Texts, path: &str) -> PageError {
        PageError {
            status: StatusCode::BAD_REQUEST,
            texts,
            heading_key: "error.bad_form_title",
            message: texts.t("error.bad_form").to_owned(),
            path: path.to_owned(),
        }
    }

    /// 404: no such page.
    pub fn not_found(texts: Texts, path: &str) -> PageError {
        PageError {
            status: StatusCode::NOT_FOUND,
            texts,
            heading_key: "error.not_found_title",
            message: texts.fill("error.not_found", &[("path", path)]),
            path: path.to_owned(),
        }
    }

    /// 500: the server failed (logged by the caller).
    pub fn server(texts: Texts, path: &str) -> PageError {
        PageError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            texts,
            heading_key: "error.server_title",
            message: texts.t("error.server").to_owned(),
            path: path.to_owned(),
        }
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let layout = Layout::anonymous(self.texts, self.heading_key, &self.path);
        render(
            self.status,
            &ErrorPage {
                heading: layout.title.clone(),
                layout,
                message: self.message,
            },
        )
    }
}

/// The console's 404 page for an unknown path under `/console` (the server's fallback calls
/// it), with the security headers.
pub fn not_found(headers: &HeaderMap, path: &str) -> Response {
    let mut response =
        PageError::not_found(Texts::new(Lang::from_headers(headers)), path).into_response();
    security::apply(response.headers_mut());
    response
}

/// The console's 405 page (the server's method fallback calls it for console paths), with the
/// security headers.
pub fn method_not_allowed(headers: &HeaderMap, path: &str) -> Response {
    let texts = Texts::new(Lang::from_headers(headers));
    let mut response = PageError {
        status: StatusCode::METHOD_NOT_ALLOWED,
        texts,
        heading_key: "error.method_title",
        message: texts.t("error.method").to_owned(),
        path: path.to_owned(),
    }
    .into_response();
    security::apply(response.headers_mut());
    response
}

/// The largest form the console reads.
pub const FORM_LIMIT: usize = 64 * 1024;

/// A form body (`application/x-www-form-urlencoded`), read within the server's body timeout
/// and 64 KiB; anything else is a 400 page in words.
#[derive(Debug)]
pub struct PageForm<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for PageForm<T> {
    type Rejection = PageError;

    async fn from_request(request: Request, _state: &S) -> Result<Self, Self::Rejection> {
        read_form(request, FORM_LIMIT).await.map(PageForm)
    }
}

/// Reads a form body of at most `limit` bytes as `T` (see [`PageForm`]); a page with a
/// smaller cap (the public form) calls it with its own.
pub async fn read_form<T: DeserializeOwned>(
    request: Request,
    limit: usize,
) -> Result<T, PageError> {
    {
        let texts = Texts::new(Lang::from_headers(request.headers()));
        let path = request.uri().path().to_owned();
        let refused = || PageError::bad_form(texts, &path);
        let is_form = request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|m| {
                m.trim()
                    .eq_ignore_ascii_case("application/x-www-form-urlencoded")
            });
        if !is_form {
            return Err(refused());
        }
        let timeout = request
            .extensions()
            .get::<crate::server::extract::BodyReadTimeout>()
            .map_or(crate::server::connections::DEFAULT_READ_TIMEOUT, |t| t.0);
        let body = tokio::time::timeout(timeout, axum::body::to_bytes(request.into_body(), limit))
            .await
            .map_err(|_| refused())?
            .map_err(|_| refused())?;
        serde_urlencoded::from_bytes(&body).map_err(|_| refused())
    }
}

/// A file under `assets/`, embedded in the binary.
struct Asset {
    name: &'static str,
    content_type: &'static str,
    bytes: &'static [u8],
}

const ASSETS: [Asset; 2] = [
    Asset {
        name: "console.css",
        content_type: "text/css; charset=utf-8",
        bytes: include_bytes!("../../assets/console.css"),
    },
    Asset {
        name: "htmx.min.js",
        content_type: "text/javascript; charset=utf-8",
        bytes: include_bytes!("../../assets/htmx.min.js"),
    },
];

/// Each asset's URL, with the first 16 hex digits of its SHA-256: a changed file has a new URL,
/// so it can be cached for a year.
static ASSET_URLS: LazyLock<Vec<(&'static str, String)>> = LazyLock::new(|| {
    ASSETS
        .iter()
        .map(|asset| {
            let hash = hex::encode(Sha256::digest(asset.bytes));
            let url = format!("/console/assets/{}/{}", &hash[..16], asset.name);
            (asset.name, url)
        })
        .collect()
});

/// The URL of an embedded asset (`console.css`, `htmx.min.js`).
pub fn asset_url(name: &str) -> &'static str {
    ASSET_URLS
        .iter()
        .find(|(n, _)| *n == name)
        .map_or("/console/assets/missing", |(_, url)| url.as_str())
}

async fn serve_asset(Path((hash, name)): Path<(String, String)>, headers: HeaderMap) -> Response {
    let found = ASSETS.iter().find(|asset| {
        asset.name == name && asset_url(asset.name) == format!("/console/assets/{hash}/{name}")
    });
    match found {
        Some(asset) => {
            let mut response = Response::new(Body::from(asset.bytes));
            let headers = response.headers_mut();
            headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static(asset.content_type),
            );
            headers.insert(
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=31536000, immutable"),
            );
            response
        }
        None => PageError::not_found(
            Texts::new(Lang::from_headers(&headers)),
            &format!("/console/assets/{hash}/{name}"),
        )
        .into_response(),
    }
}

/// Every console route, with the security headers on each response. Mounted beside the API in
/// `server::router`.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/console/assets/{hash}/{name}", get(serve_asset))
        .merge(pages::routes())
        .layer(axum::middleware::from_fn(security::headers))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_stays_inside_the_console() {
        assert_eq!(
            safe_next(Some("/console/queue?page=2")),
            "/console/queue?page=2"
        );
        assert_eq!(safe_next(Some("/console")), "/console");
        assert_eq!(safe_next(Some("/track")), "/track");
        assert_eq!(safe_next(Some("/complain/acme")), "/complain/acme");
        for bad in [
            "//evil.example/console",
            "/console//evil",
            "/\\evil",
            "https://evil.example/console",
            "/consoleevil",
            "/trackevil",
            "/complainevil",
            "/complain//evil",
            "/v1/cases",
            "/console/\nx",
        ] {
            assert_eq!(safe_next(Some(bad)), "/console", "{bad}");
        }
        assert_eq!(safe_next(None), "/console");
    }

    #[test]
    fn assets_have_hashed_urls_and_navigation_follows_the_roles() {
        let css = asset_url("console.css");
        assert!(
            css.starts_with("/console/assets/") && css.ends_with("/console.css"),
            "{css}"
        );
        assert_eq!(
            asset_url("htmx.min.js").len(),
            "/console/assets//htmx.min.js".len() + 16
        );
        let texts = Texts::new(Lang::En);
        let hrefs = |role| {
            nav_links(texts, role, "/console/queue")
                .into_iter()
                .map(|l| l.href)
                .collect::<Vec<_>>()
        };
        assert_eq!(hrefs(Role::Handler), ["/console/queue"]);
        assert_eq!(hrefs(Role::Intake), ["/console/intake"]);
        assert_eq!(
            hrefs(Role::Supervisor),
            [
                "/console/queue",
                "/console/intake",
                "/console/board",
                "/console/reports",
                "/console/rulesets",
                "/console/routing"
            ]
        );
        assert_eq!(
            hrefs(Role::ComplianceAdmin),
            [
                "/console/rulesets",
                "/console/routing",
                "/console/plugin-keys",
                "/console/accounts"
            ]
        );
        assert_eq!(
            hrefs(Role::Auditor),
            [
                "/console/reports",
                "/console/rulesets",
                "/console/audit",
                "/console/routing",
                "/console/plugin-keys"
            ]
        );
        assert_eq!(
            hrefs(Role::Operator),
            ["/console/rulesets", "/console/audit", "/console/accounts"]
        );
        assert!(nav_links(texts, Role::Handler, "/console/queue")[0].current);
        for role in Role::ALL {
            assert_ne!(role_label(texts, role), "role.intake");
            for link in nav_links(texts, role, "/") {
                assert!(!link.label.starts_with("nav."), "{}", link.label);
            }
        }
    }
}

//! The signed-in person of a console request: [`Viewer`], an extractor. Page handlers take it
//! and call the service with `viewer.principal`, exactly as the API's handlers do with a key's
//! principal, so the console has no powers the API would not grant the same role.
//!
//! Invariants:
//! - the session comes from the `redress_session` cookie and the server-side store only;
//! - the account is read again on every request: a disabled account, a changed password
//!   (sessions begun before it) or a removed account ends the session at once;
//! - without a valid session a page answers `303` to `/console/sign-in?next=<the page>`
//!   (with `ended=1` when a session cookie was sent but no longer works).

use axum::{
    extract::{ConnectInfo, FromRequestParts},
    http::{HeaderValue, header, request::Parts},
    response::{IntoResponse, Response},
};
use jiff::Timestamp;

use super::{
    Layout, LayoutUser, PageError, Texts,
    accounts::Account,
    i18n::Lang,
    nav_links, role_label,
    sessions::{SESSION_COOKIE, Session, clear_cookie, cookie, same_token},
};
use crate::{
    access::{Principal, Via},
    server::AppState,
};

/// A signed-in person.
#[derive(Debug, Clone)]
pub struct Viewer {
    pub account: Account,
    /// Who the service is asked as: the account's tenant, role and office; the username as the
    /// name ([`principal_of`]).
    pub principal: Principal,
    pub session: Session,
    /// The reader's language.
    pub texts: Texts,
    /// The path of this request (for the navigation and the language switch).
    pub path: String,
}

impl Viewer {
    /// The office this person's case views are scoped to, if any: the principal's, so that the
    /// pages and the API share one rule (`access::OfficeScope`).
    pub fn office(&self) -> Option<&str> {
        self.principal.office.as_deref()
    }

    /// The session's CSRF token, for the hidden field `csrf` of every form.
    pub fn csrf(&self) -> &str {
        &self.session.csrf
    }

    /// Checks a form's `csrf` field against the session's token: the first thing every POST
    /// handler does. A missing or wrong token is a 403 page, and nothing is changed.
    pub fn check_csrf(&self, token: Option<&str>) -> Result<(), PageError> {
        if token.is_some_and(|token| same_token(token, &self.session.csrf)) {
            Ok(())
        } else {
            tracing::warn!(username = %self.account.username, path = %self.path, "console POST refused: CSRF token missing or wrong");
            Err(PageError::csrf(self.texts, &self.path))
        }
    }

    /// The layout of a page this person sees, titled with the catalogue's `title_key`.
    pub fn layout(&self, title_key: &str) -> Layout {
        let mut layout = Layout::anonymous(self.texts, title_key, &self.path);
        layout.user = Some(LayoutUser {
            signed_in_as: self.texts.fill(
                "layout.signed_in_as",
                &[
                    ("name", &self.account.display_name),
                    ("role", role_label(self.texts, self.account.role)),
                ],
            ),
            nav: nav_links(self.texts, self.account.role, &self.path),
            csrf: self.session.csrf.clone(),
        });
        layout.home_current = self.path == "/console";
        layout
    }
}

/// No valid session: the way to the sign-in page.
#[derive(Debug)]
pub struct SignInFirst {
    next: String,
    /// A session cookie was sent that no longer works (ended, signed out elsewhere).
    ended: bool,
    secure: bool,
}

impl IntoResponse for SignInFirst {
    fn into_response(self) -> Response {
        let next: String = form_urlencoded::byte_serialize(self.next.as_bytes()).collect();
        let ended = if self.ended { "&ended=1" } else { "" };
        let mut response = super::see_other(&format!("/console/sign-in?next={next}{ended}"));
        if self.ended
            && let Ok(value) = HeaderValue::from_str(&clear_cookie(SESSION_COOKIE, self.secure))
        {
            response.headers_mut().append(header::SET_COOKIE, value);
        }
        response
    }
}

/// Who the service is asked as for `account`: its tenant, role and office, the username as the
/// name (assignments name usernames), and the display name for the actor label.
pub fn principal_of(account: &Account) -> Principal {
    Principal {
        tenant: account.tenant.clone(),
        role: Some(account.role),
        via: Via::Console {
            display_name: account.display_name.clone(),
        },
        name: account.username.clone(),
        office: account.office.clone(),
    }
}

/// The peer address of the connection, if the server recorded it.
pub(crate) fn peer(parts: &Parts) -> Option<std::net::IpAddr> {
    parts
        .extensions
        .get::<ConnectInfo<std::net::SocketAddr>>()
        .map(|info| info.0.ip())
}

/// The viewer of a request, if it carries a valid session; ends a session whose account no
/// longer admits it.
pub fn current(state: &AppState, parts: &Parts, now: Timestamp) -> Result<Viewer, bool> {
    let Some(id) = cookie(&parts.headers, SESSION_COOKIE) else {
        return Err(false);
    };
    let sessions = &state.console.sessions;
    let session = sessions.touch(id, now).ok_or(true)?;
    let account = match state.console.accounts.find(&session.username) {
        Ok(Some(account))
            if !account.is_disabled() && session.password_stamp == account.password_changed_at =>
        {
            account
        }
        Ok(_) => {
            sessions.remove(id);
            return Err(true);
        }
        Err(e) => {
            tracing::error!(error = %e, "console accounts cannot be read");
            return Err(true);
        }
    };
    Ok(Viewer {
        principal: principal_of(&account),
        account,
        session,
        texts: Texts::new(Lang::from_headers(&parts.headers)),
        path: parts.uri.path().to_owned(),
    })
}

impl FromRequestParts<AppState> for Viewer {
    type Rejection = SignInFirst;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        current(state, parts, state.app.time().now()).map_err(|ended| SignInFirst {
            // Back to the page after signing in; a form's target is no page to come back to.
            next: if parts.method == axum::http::Method::GET {
                parts
                    .uri
                    .path_and_query()
                    .map_or("/console", |p| p.as_str())
                    .to_owned()
            } else {
                "/console".to_owned()
            },
            ended,
            secure: state.console.secure(&parts.headers, peer(parts)),
        })
    }
}

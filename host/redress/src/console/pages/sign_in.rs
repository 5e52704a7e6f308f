//! Signing in and out.
//!
//! - `GET /console/sign-in`: the form (username, password, optional verification code). The
//!   form's CSRF token is a random value in the cookie `redress_sign_in`, repeated in the
//!   hidden field (there is no session yet).
//! - `POST /console/sign-in`: checks that token, then the account (`accounts::sign_in`, on a
//!   blocking thread: argon2 takes tens of milliseconds); a success begins a new session (a
//!   session cookie sent before is ended, never reused) and goes to `next`. A failure says so
//!   in words without telling which part was wrong; a locked account says until when. A client
//!   with too many failures is refused before any password is checked (`throttle.rs`).
//! - `POST /console/sign-out`: with the session's CSRF token; ends the session.

use std::sync::Arc;

use askama::Template;
use axum::{
    Router,
    extract::{RawQuery, State},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use jiff::Timestamp;
use serde::Deserialize;

use super::query_value;
use crate::console::{
    Lang, Layout, PageError, PageForm, Texts, Viewer,
    accounts::{self, SignInError},
    render, safe_next, see_other,
    sessions::{
        SESSION_COOKIE, SIGN_IN_COOKIE, clear_cookie, cookie, random_token, same_token, set_cookie,
    },
};
use crate::server::{AppState, extract::PeerAddr};

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/console/sign-in", get(show).post(submit))
        .route("/console/sign-out", post(sign_out))
}

#[derive(Template)]
#[template(path = "sign_in.html")]
struct SignInPage {
    layout: Layout,
    csrf: String,
    next: String,
    username: String,
    notice: Option<String>,
    error: Option<String>,
}

fn page(
    texts: Texts,
    csrf: String,
    next: &str,
    username: String,
    notice: Option<String>,
    error: Option<String>,
) -> SignInPage {
    SignInPage {
        layout: Layout::anonymous(texts, "sign_in.title", "/console/sign-in"),
        csrf,
        next: next.to_owned(),
        username,
        notice,
        error,
    }
}

fn append_cookie(response: &mut Response, value: &str) {
    if let Ok(value) = HeaderValue::from_str(value) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
}

/// The sign-in form's token: the one this browser already holds (so two open tabs both work),
/// else a new one.
fn form_token(headers: &HeaderMap) -> Result<String, crate::console::sessions::SessionError> {
    match cookie(headers, SIGN_IN_COOKIE) {
        Some(token) if token.len() == 64 && token.bytes().all(|b| b.is_ascii_hexdigit()) => {
            Ok(token.to_owned())
        }
        _ => random_token(),
    }
}

async fn show(
    State(state): State<AppState>,
    PeerAddr(peer): PeerAddr,
    RawQuery(query): RawQuery,
    request: axum::extract::Request,
) -> Response {
    let (parts, _) = request.into_parts();
    let texts = Texts::new(Lang::from_headers(&parts.headers));
    let next = query_value(query.as_deref(), "next");
    let next = safe_next(next.as_deref());
    if crate::console::viewer::current(&state, &parts, state.app.time().now()).is_ok() {
        return see_other(next);
    }
    let notice = if query_value(query.as_deref(), "out").is_some() {
        Some(texts.t("sign_in.signed_out").to_owned())
    } else if query_value(query.as_deref(), "ended").is_some() {
        Some(texts.t("sign_in.session_ended").to_owned())
    } else {
        None
    };
    let token = match form_token(&parts.headers) {
        Ok(token) => token,
        Err(e) => {
            tracing::error!(error = %e, "no sign-in form token");
            return PageError::server(texts, "/console/sign-in").into_response();
        }
    };
    let secure = state.console.secure(&parts.headers, peer);
    let mut response = render(
        StatusCode::OK,
        &page(texts, token.clone(), next, String::new(), notice, None),
    );
    append_cookie(&mut response, &set_cookie(SIGN_IN_COOKIE, &token, secure));
    response
}

#[derive(Debug, Deserialize)]
struct SignInForm {
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    csrf: Option<String>,
    #[serde(default)]
    next: Option<String>,
}

/// China Standard Time, as people reading a lock-out message count.
fn in_china(at: Timestamp) -> String {
    at.to_zoned(jiff::tz::TimeZone::fixed(jiff::tz::offset(8)))
        .strftime("%Y-%m-%d %H:%M")
        .to_string()
}

async fn submit(
    State(state): State<AppState>,
    PeerAddr(peer): PeerAddr,
    headers: HeaderMap,
    PageForm(form): PageForm<SignInForm>,
) -> Response {
    let texts = Texts::new(Lang::from_headers(&headers));
    let path = "/console/sign-in";
    let Some(expected) = cookie(&headers, SIGN_IN_COOKIE) else {
        return PageError::csrf(texts, path).into_response();
    };
    if !form
        .csrf
        .as_deref()
        .is_some_and(|token| same_token(token, expected))
    {
        return PageError::csrf(texts, path).into_response();
    }
    let next = safe_next(form.next.as_deref()).to_owned();
    let username = form.username.trim().to_owned();
    let code = form.code.filter(|code| !code.trim().is_empty());
    let now = state.app.time().now();
    if let Some(until) = state.console.throttle.blocked_until(peer, now) {
        tracing::warn!(client = ?peer, "console sign-in refused: too many failures from this client");
        return render(
            StatusCode::TOO_MANY_REQUESTS,
            &page(
                texts,
                expected.to_owned(),
                &next,
                username,
                None,
                Some(texts.fill("sign_in.throttled", &[("until", &in_china(until))])),
            ),
        );
    }
    let accounts = Arc::clone(&state.console.accounts);
    let Ok(_permit) = state.console.password_checks.acquire().await else {
        return PageError::server(texts, path).into_response();
    };
    let outcome = {
        let username = username.clone();
        tokio::task::spawn_blocking(move || {
            accounts::sign_in(
                accounts.as_ref(),
                &username,
                &form.password,
                code.as_deref(),
                now,
                // A code comes from the person's authenticator, which keeps real time.
                jiff::Timestamp::now(),
            )
        })
        .await
    };
    let secure = state.console.secure(&headers, peer);
    let refused = |status: StatusCode, message: String| {
        render(
            status,
            &page(
                texts,
                expected.to_owned(),
                &next,
                username.clone(),
                None,
                Some(message),
            ),
        )
    };
    let account = match outcome {
        Ok(Ok(account)) => account,
        Ok(Err(SignInError::WrongCredentials)) => {
            state.console.throttle.failed(peer, now);
            tracing::info!(username = %username, "console sign-in refused");
            return refused(
                StatusCode::UNAUTHORIZED,
                texts.t("sign_in.wrong").to_owned(),
            );
        }
        Ok(Err(SignInError::Locked { until })) => {
            state.console.throttle.failed(peer, now);
            tracing::info!(username = %username, %until, "console sign-in refused: account locked");
            return refused(
                StatusCode::TOO_MANY_REQUESTS,
                texts.fill("sign_in.locked", &[("until", &in_china(until))]),
            );
        }
        Ok(Err(SignInError::Disabled)) => {
            tracing::info!(username = %username, "console sign-in refused: account disabled");
            return refused(
                StatusCode::FORBIDDEN,
                texts.t("sign_in.disabled").to_owned(),
            );
        }
        Ok(Err(SignInError::Store(e))) => {
            tracing::error!(error = %e, "console sign-in failed: the accounts cannot be used");
            return refused(
                StatusCode::SERVICE_UNAVAILABLE,
                texts.t("sign_in.unavailable").to_owned(),
            );
        }
        Err(e) => {
            tracing::error!(error = %e, "console sign-in task failed");
            return PageError::server(texts, path).into_response();
        }
    };
    // A new session every time: a session id the browser held before (perhaps planted) is
    // never promoted to a signed-in one.
    if let Some(old) = cookie(&headers, SESSION_COOKIE) {
        state.console.sessions.remove(old);
    }
    let session =
        match state
            .console
            .sessions
            .create(&account.username, account.password_changed_at, now)
        {
            Ok(session) => session,
            Err(e) => {
                tracing::error!(error = %e, "no console session");
                return PageError::server(texts, path).into_response();
            }
        };
    tracing::info!(username = %account.username, tenant = %account.tenant, role = account.role.as_str(), "console sign-in");
    let mut response = see_other(&next);
    append_cookie(
        &mut response,
        &set_cookie(SESSION_COOKIE, &session.id, secure),
    );
    append_cookie(&mut response, &clear_cookie(SIGN_IN_COOKIE, secure));
    response
}

#[derive(Debug, Deserialize)]
struct CsrfForm {
    #[serde(default)]
    csrf: Option<String>,
}

async fn sign_out(
    State(state): State<AppState>,
    PeerAddr(peer): PeerAddr,
    viewer: Viewer,
    headers: HeaderMap,
    PageForm(form): PageForm<CsrfForm>,
) -> Response {
    if let Err(refused) = viewer.check_csrf(form.csrf.as_deref()) {
        return refused.into_response();
    }
    state.console.sessions.remove(&viewer.session.id);
    tracing::info!(username = %viewer.account.username, "console sign-out");
    let mut response = see_other("/console/sign-in?out=1");
    append_cookie(
        &mut response,
        &clear_cookie(SESSION_COOKIE, state.console.secure(&headers, peer)),
    );
    response
}

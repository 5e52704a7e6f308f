//! The complainant's tracking page, no account: `/track`.
//!
//! - `GET /track`: the form (tracking code and secret, both from the slip given at intake).
//!   Its CSRF token is a random value in the cookie `redress_track`, repeated in a hidden field
//!   (there is no session), as on the sign-in page.
//! - `POST /track`: checks that token first, then asks exactly what `GET /v1/track/{code}`
//!   answers (`server::routes::tracking_view`: the secret checked and wrong ones counted per
//!   client address, no personal data) and says it in words: what happened, what comes next
//!   and by when, the outcome. A wrong secret reads exactly like an unknown code.

use askama::Template;
use axum::{
    Router,
    extract::State,
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
    routing::get,
};
use serde::Deserialize;

use super::labels::{local_date, local_time};
use crate::console::{
    Lang, Layout, PageError, PageForm, Texts, render,
    sessions::{cookie, random_token, same_token, set_cookie},
};
use crate::server::{AppState, extract::PeerAddr, routes::tracking_view, wire::TrackingView};

/// The tracking form's CSRF cookie.
pub const TRACK_COOKIE: &str = "redress_track";
const PATH: &str = "/track";

pub(super) fn routes() -> Router<AppState> {
    Router::new().route(PATH, get(show).post(submit))
}

/// The case in words.
#[derive(Debug, Clone)]
struct Told {
    code: String,
    status: String,
    happened: String,
    next: String,
    next_article: Option<String>,
    provisional: Option<String>,
    outcome: Option<String>,
    outcome_article: Option<String>,
    updated: String,
}

#[derive(Template)]
#[template(path = "track.html")]
struct TrackPage {
    layout: Layout,
    csrf: String,
    code: String,
    error: Option<String>,
    told: Option<Told>,
}

fn page_layout(texts: Texts) -> Layout {
    let mut layout = Layout::anonymous(texts, "track.title", PATH);
    layout.brand_href = PATH;
    layout
}

fn page(
    texts: Texts,
    csrf: String,
    code: String,
    error: Option<String>,
    told: Option<Told>,
) -> TrackPage {
    TrackPage {
        layout: page_layout(texts),
        csrf,
        code,
        error,
        told,
    }
}

/// The token this browser already holds (two tabs both work), else a new one.
fn form_token(headers: &HeaderMap) -> Option<String> {
    match cookie(headers, TRACK_COOKIE) {
        Some(token) if token.len() == 64 && token.bytes().all(|b| b.is_ascii_hexdigit()) => {
            Some(token.to_owned())
        }
        _ => random_token().ok(),
    }
}

async fn show(
    State(state): State<AppState>,
    PeerAddr(peer): PeerAddr,
    headers: HeaderMap,
) -> Response {
    let texts = Texts::new(Lang::from_headers(&headers));
    let Some(token) = form_token(&headers) else {
        tracing::error!("no tracking form token");
        return PageError::server(texts, PATH).into_response();
    };
    let secure = state.console.secure(&headers, peer);
    let mut response = render(
        StatusCode::OK,
        &page(texts, token.clone(), String::new(), None, None),
    );
    if let Ok(value) = HeaderValue::from_str(&set_cookie(TRACK_COOKIE, &token, secure)) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    response
}

#[derive(Debug, Deserialize)]
struct TrackForm {
    #[serde(default)]
    csrf: Option<String>,
    #[serde(default)]
    code: String,
    #[serde(default)]
    secret: String,
}

async fn submit(
    State(state): State<AppState>,
    PeerAddr(peer): PeerAddr,
    headers: HeaderMap,
    PageForm(form): PageForm<TrackForm>,
) -> Response {
    let texts = Texts::new(Lang::from_headers(&headers));
    let Some(expected) = cookie(&headers, TRACK_COOKIE) else {
        return PageError::csrf(texts, PATH).into_response();
    };
    if !form
        .csrf
        .as_deref()
        .is_some_and(|token| same_token(token, expected))
    {
        return PageError::csrf(texts, PATH).into_response();
    }
    let code: String = form.code.trim().chars().take(64).collect();
    let refused = |status: StatusCode, key: &str| {
        render(
            status,
            &page(
                texts,
                expected.to_owned(),
                code.clone(),
                Some(texts.t(key).to_owned()),
                None,
            ),
        )
    };
    if code.is_empty() || form.secret.trim().is_empty() {
        return refused(StatusCode::UNPROCESSABLE_ENTITY, "track.missing");
    }
    match tracking_view(&state, peer, &code, form.secret.trim()).await {
        Ok(view) => {
            let told = tell(texts, &view);
            render(
                StatusCode::OK,
                &page(texts, expected.to_owned(), String::new(), None, Some(told)),
            )
        }
        Err(problem) => match problem.0.status {
            404 => refused(StatusCode::NOT_FOUND, "track.not_found"),
            429 => refused(StatusCode::TOO_MANY_REQUESTS, "track.too_many"),
            _ => {
                tracing::error!(error = %problem.0.detail, "the tracking page failed");
                PageError::server(texts, PATH).into_response()
            }
        },
    }
}

/// The view in plain words.
fn tell(t: Texts, view: &TrackingView) -> Told {
    let status = view.status.as_str();
    let received = local_date(view.received_at);
    let happened = t
        .lookup(&format!("track.happened.{status}"))
        .map(|text| text.replace("{received}", &received))
        .unwrap_or_else(|| status.to_owned());
    let (next, next_article, provisional) = match &view.next_deadline {
        Some(deadline) => {
            let what = t
                .lookup(&format!("track.step.{}", deadline.clock))
                .or_else(|| t.lookup(&format!("clock.name.{}", deadline.clock)))
                .unwrap_or(deadline.clock.as_str());
            let due = local_date(deadline.due_at - jiff::SignedDuration::from_nanos(1));
            (
                t.fill("track.next", &[("what", what), ("due", &due)]),
                deadline
                    .article
                    .as_deref()
                    .map(|article| t.fill("track.under", &[("article", article)])),
                deadline
                    .provisional
                    .then(|| t.t("track.provisional").to_owned()),
            )
        }
        None if view.outcome.is_some() => (t.t("track.next_none_closed").to_owned(), None, None),
        None => (t.t("track.next_none").to_owned(), None, None),
    };
    let outcome = view.outcome.as_ref().map(|outcome| {
        let kind = serde_json::to_value(outcome.kind)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        let mut text = t.fill(
            &format!("track.outcome.{kind}"),
            &[("date", &local_date(outcome.at))],
        );
        if let Some(ground) = &outcome.ground {
            text.push_str(&t.fill("track.ground", &[("ground", ground)]));
        }
        text
    });
    Told {
        code: view.tracking_code.as_str().to_owned(),
        status: t
            .lookup(&format!("status.{status}"))
            .unwrap_or(status)
            .to_owned(),
        happened,
        next,
        next_article,
        provisional,
        outcome_article: view
            .outcome
            .as_ref()
            .and_then(|o| o.article.as_deref())
            .map(|article| t.fill("track.under", &[("article", article)])),
        outcome,
        updated: local_time(view.updated_at),
    }
}

//! Complainants' self-service: no API key, the tracking code and secret.

use aide::axum::{ApiRouter, routing::get_with};
use axum::{extract::State, http::HeaderMap};
use redress_domain::TrackingCode;

use super::Reply;
use crate::server::{
    AppState,
    extract::PeerAddr,
    problem::{ApiError, ProblemKind},
    wire::{NextDeadline, OutcomeView, TrackPath, TrackingView},
};

async fn track(
    State(state): State<AppState>,
    PeerAddr(peer): PeerAddr,
    axum::extract::Path(path): axum::extract::Path<TrackPath>,
    headers: HeaderMap,
) -> Result<Reply<TrackingView, 200>, ApiError> {
    let secret = headers
        .get("x-tracking-secret")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    Ok(Reply::new(view(&state, peer, &path.code, secret).await?))
}

/// What a complainant may see of the case with tracking code `code` (as typed), given its
/// `secret`, asked from `peer`: the secret checked and wrong ones counted against the peer
/// (`crate::tracking`), then the status, the next deadline and the outcome, never personal
/// data. A wrong secret and an unknown code are the same 404; too many wrong secrets a 429.
/// The API's `GET /v1/track/{code}` and the console's `/track` page both answer with this.
pub(crate) async fn view(
    state: &AppState,
    peer: Option<std::net::IpAddr>,
    code: &str,
    secret: &str,
) -> Result<TrackingView, ApiError> {
    let not_found = || ApiError::not_found(crate::tracking::TrackError::NotFound.to_string());
    let code = TrackingCode::normalise(code).ok_or_else(not_found)?;
    state
        .tracking
        .check(
            peer.unwrap_or(std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED)),
            code.as_str(),
            secret,
        )
        .map_err(|e| match e {
            crate::tracking::TrackError::NotFound => ApiError::not_found(e.to_string()),
            crate::tracking::TrackError::TooMany(_) => {
                ApiError::new(ProblemKind::TooManyRequests, e.to_string())
            }
        })?;
    let case = state
        .app
        .get_by_tracking_code(code.as_str().to_owned())
        .await?
        .ok_or_else(not_found)?;
    let next_deadline = case
        .clocks
        .iter()
        .filter_map(|(name, clock)| clock.breach_pending().map(|due| (due, name, clock)))
        .min_by_key(|(due, _, _)| *due)
        .map(|(due_at, name, clock)| NextDeadline {
            clock: name.clone(),
            due_at,
            article: clock.spec.article.clone(),
            provisional: clock.provisional,
            provisional_note: clock
                .provisional
                .then(|| crate::deadlines::provisional_note(&clock.provisional_years)),
        });
    Ok(TrackingView {
        tracking_code: case.tracking_code,
        sector: case.sector,
        status: case.status,
        received_at: case.received_at,
        updated_at: case.updated_at,
        next_deadline,
        outcome: case.outcome.map(|o| OutcomeView {
            kind: o.kind,
            ground: o.ground,
            article: o.article,
            at: o.at,
        }),
    })
}

pub(super) fn routes() -> ApiRouter<AppState> {
    ApiRouter::new()
        .api_route(
            "/v1/track/{code}",
            get_with(track, |op| {
                op.id("trackCase")
                    .tag("tracking")
                    .summary("A complainant's view of their case")
                    .description(
                        "No API key: the tracking code and the secret given at intake (the \
                         `Tracking-Secret` header of the response to `POST /v1/cases`), sent as the \
                         `X-Tracking-Secret` header. Shows the status, the next deadline and the \
                         outcome, never personal data. A wrong secret and an unknown code get the \
                         same 404. Wrong secrets are counted per client address: after 10 within \
                         10 minutes (a wrong secret on a code many have guessed at counts 5), \
                         every tracking request from that address gets 429 until the 10 minutes \
                         end. A code is never locked: the right secret works from any other \
                         address.",
                    )
                    .response_with::<404, ApiError, _>(|r| r.description("No case with this code and secret"))
                    .response_with::<429, ApiError, _>(|r| r.description("Too many wrong secrets from this client address"))
            }),
        )
}

//! Liveness and readiness.

use aide::axum::{ApiRouter, routing::get_with};
use axum::extract::State;
use redress_domain::CaseId;

use super::Reply;
use crate::server::{
    AppState,
    problem::{ApiError, ProblemKind},
    wire::Health,
};

async fn healthz() -> Reply<Health, 200> {
    Reply::new(Health {
        status: "ok".into(),
        warnings: Vec::new(),
        manual_handling: None,
        provisional_clocks: None,
        acknowledged_writes_lost: None,
    })
}

/// Ready when the store answers a read.
async fn readyz(State(state): State<AppState>) -> Result<Reply<Health, 200>, ApiError> {
    let probe = CaseId::from_parts(0, 0);
    state
        .app
        .get(redress_domain::TenantId::default_tenant(), probe)
        .await
        .map_err(|e| {
            tracing::warn!(error = %e, "readiness probe failed");
            ApiError::new(ProblemKind::StorageUnavailable, "the store does not answer")
        })?;
    let today = state
        .app
        .time()
        .now()
        .to_zoned(jiff::tz::TimeZone::UTC)
        .date();
    let counts = state.app.health_counts().await?;
    let mut warnings = state
        .app
        .calendars()
        .current()
        .horizon_warnings(today, crate::CALENDAR_HORIZON_WARNING_DAYS);
    if counts.provisional_clocks > 0 {
        warnings.push(format!(
            "{} open clock(s) have provisional due times (a year without a published holiday schedule: statutory holidays only); they are recomputed when the schedule is added to the calendar",
            counts.provisional_clocks
        ));
    }
    if counts.manual_handling > 0 {
        warnings.push(format!(
            "{} case(s) are in manual handling: the rules could not decide them (list them with GET /v1/cases?manual=true)",
            counts.manual_handling
        ));
    }
    let losses = state.app.store().acknowledged_losses();
    if !losses.is_empty() {
        warnings.insert(
            0,
            format!(
                "the store lost {} acknowledged write(s) (found at start-up; the server was started with --allow-data-loss): {}",
                losses.len(),
                losses
                    .iter()
                    .take(10)
                    .map(|p| p.case_id.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        );
    }
    Ok(Reply::new(Health {
        // Degraded, not down: the server serves, but people are needed.
        status: if counts.manual_handling > 0 || !losses.is_empty() {
            "degraded".into()
        } else {
            "ready".into()
        },
        manual_handling: Some(counts.manual_handling),
        provisional_clocks: Some(counts.provisional_clocks),
        acknowledged_writes_lost: (!losses.is_empty()).then_some(losses.len() as u64),
        warnings,
    }))
}

pub(super) fn routes() -> ApiRouter<AppState> {
    ApiRouter::new()
        .api_route(
            "/healthz",
            get_with(healthz, |op| {
                op.id("healthz").tag("operations").summary("Liveness")
            }),
        )
        .api_route(
            "/readyz",
            get_with(readyz, |op| {
                op.id("readyz")
                    .tag("operations")
                    .summary("Readiness: the store answers; warnings an operator must act on soon")
            }),
        )
}

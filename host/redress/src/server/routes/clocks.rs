//! A case's statutory clocks: changing one, listing them.

use aide::axum::{ApiRouter, routing::post_with};
use axum::{extract::State, http::header};
use redress_domain::clock::ClockAction;

use super::{Reply, allowed, etag, visible};
use crate::{
    server::{
        AppState,
        extract::{ApiJson, Authorized, CaseIdPath, IfMatch, RoleSet},
        problem::ApiError,
        wire::{ActionResult, ClockList, ClockView},
    },
    service::Acting,
};

async fn clock_action(
    State(state): State<AppState>,
    Authorized(ctx, _): Authorized<allowed::WorkCases>,
    CaseIdPath(id): CaseIdPath,
    IfMatch(expected): IfMatch,
    ApiJson(action): ApiJson<ClockAction>,
) -> Result<Reply<ActionResult, 201>, ApiError> {
    if matches!(action, ClockAction::Extend { .. }) {
        // An extension is a supervisor's approval.
        ctx.require(allowed::Supervise::ROLES)?;
    }
    let viewer = ctx.clone();
    let (case, events) = state
        .app
        .clock_action(
            ctx.tenant,
            id,
            action,
            ctx.actor,
            Acting::of(&ctx.principal),
            expected,
        )
        .await?;
    tracing::info!(case_id = %case.id, version = case.version, "clock changed");
    let tag = etag(&case);
    let case = visible(&viewer, case);
    Ok(Reply::new(ActionResult { case, events }).header(header::ETAG, &tag))
}

async fn list_clocks(
    State(state): State<AppState>,
    Authorized(ctx, _): Authorized<allowed::ReadCases>,
    CaseIdPath(id): CaseIdPath,
) -> Result<Reply<ClockList, 200>, ApiError> {
    let case = state
        .app
        .get_as(&ctx.principal, id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no case {id}")))?;
    let now = state.app.time().now();
    let calendars = state.app.calendars().current();
    let clocks = case
        .clocks
        .into_iter()
        .map(|(name, clock)| {
            let remaining_seconds = clock
                .breach_pending()
                .map(|due| due.as_second() - now.as_second());
            let remaining_working_days =
                crate::deadlines::remaining_working_days(&calendars, &clock, now);
            let remaining = crate::deadlines::remaining(&calendars, &clock, now);
            ClockView {
                name,
                clock,
                remaining_seconds,
                remaining_working_days,
                remaining,
            }
        })
        .collect();
    Ok(Reply::new(ClockList {
        case_id: id,
        now,
        clocks,
    }))
}

pub(super) fn routes() -> ApiRouter<AppState> {
    ApiRouter::new()
        .api_route(
            "/v1/cases/{id}/clocks",
            post_with(clock_action, |op| {
                op.id("changeClock")
                    .tag("clocks")
                    .summary("Start, pause, resume, extend, restart or stop a statutory clock")
                    .description(
                        "The due time is computed with the clock's calendar (start day excluded, working \
                         days with make-up workdays, calendar days rolled off rest days) and recorded \
                         with its explanation. A change the clock's state does not allow is refused \
                         with 409; a date the calendar does not cover, with 422. A handler changes \
                         only the clocks of cases assigned to them; an extension is a supervisor's \
                         approval.",
                    )
                    .response_with::<409, ApiError, _>(|r| r.description("The clock's state does not allow this change"))
            })
            .get_with(list_clocks, |op| {
                op.id("listClocks").tag("clocks").summary("A case's clocks with due times, remaining time and explanations")
            }),
        )
}

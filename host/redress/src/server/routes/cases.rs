//! Cases: registration, reading, listing, handler actions and the timeline.

use aide::{
    axum::{
        ApiRouter,
        routing::{get_with, post_with},
    },
    transform::TransformOperation,
};
use axum::{
    Json,
    extract::State,
    http::header,
    response::{IntoResponse, Response},
};
use redress_domain::{Case, CaseIntake, HandlerAction};

use super::{Reply, allowed, etag, visible};
use crate::{
    server::{
        AppState,
        extract::{ApiJson, ApiQuery, Authorized, CaseIdPath, IdempotencyKey, IfMatch, RoleSet},
        problem::{ApiError, Location, ProblemKind},
        wire::{ActionResult, CaseList, ListParams, Timeline},
    },
    service::Acting,
    store::{Created, ListQuery},
};

async fn create_case(
    State(state): State<AppState>,
    Authorized(ctx, _): Authorized<allowed::Register>,
    IdempotencyKey(key): IdempotencyKey,
    ApiJson(intake): ApiJson<CaseIntake>,
) -> Result<Response, ApiError> {
    let viewer = ctx.clone();
    let created = state
        .app
        .create_case(ctx.tenant, intake, ctx.actor, key)
        .await?;
    Ok(match created {
        Created::New(case) => {
            let location = format!("/v1/cases/{}", case.id);
            let tag = etag(&case);
            let secret = state.tracking.secret_for(case.tracking_code.as_str());
            let case = visible(&viewer, case);
            tracing::info!(case_id = %case.id, sector = case.sector.as_str(), "case registered");
            Reply::<_, 201>::new(case)
                .header(header::LOCATION, &location)
                .header(header::ETAG, &tag)
                .header(TRACKING_SECRET, &secret)
                .into_response()
        }
        Created::Existing(case) => {
            let tag = etag(&case);
            let secret = state.tracking.secret_for(case.tracking_code.as_str());
            let case = visible(&viewer, case);
            Reply::<_, 200>::new(case)
                .header(header::ETAG, &tag)
                .header(TRACKING_SECRET, &secret)
                .into_response()
        }
    })
}

/// The response header with the complainant's tracking secret (see `GET /v1/track/{code}`).
const TRACKING_SECRET: header::HeaderName = header::HeaderName::from_static("tracking-secret");

fn create_case_docs(op: TransformOperation<'_>) -> TransformOperation<'_> {
    op.id("createCase")
        .tag("cases")
        .summary("Register a complaint, report or inquiry")
        .description(
            "Validates the intake, registers the case with its `received` event and returns it once \
             it is durable. With an `Idempotency-Key` seen before, returns the case the first \
             request created (200) and registers nothing.",
        )
        .response::<201, Json<Case>>()
        .response_with::<200, Json<Case>, _>(|r| r.description("The case an earlier request with the same Idempotency-Key created"))
}

async fn get_case(
    State(state): State<AppState>,
    Authorized(ctx, _): Authorized<allowed::ReadCases>,
    CaseIdPath(id): CaseIdPath,
) -> Result<Reply<Case, 200>, ApiError> {
    let case = state
        .app
        .get_as(&ctx.principal, id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no case {id}")))?;
    let tag = etag(&case);
    Ok(Reply::new(visible(&ctx, case)).header(header::ETAG, &tag))
}

async fn list_cases(
    State(state): State<AppState>,
    Authorized(ctx, _): Authorized<allowed::ReadCases>,
    ApiQuery(params): ApiQuery<ListParams>,
) -> Result<Reply<CaseList, 200>, ApiError> {
    let limit = params.limit.unwrap_or(50);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(ApiError::field(
            ProblemKind::BadParameter,
            Location::Query,
            "/limit",
            format!("must be between 1 and {MAX_PAGE}"),
        ));
    }
    let query = ListQuery {
        tenant: ctx.tenant.clone(),
        status: params.status,
        sector: params.sector,
        received_from: params.received_from,
        received_before: params.received_before,
        due_before: params.due_before,
        overdue: params.overdue.unwrap_or(false),
        clock: params.clock,
        manual: params.manual.unwrap_or(false),
        office: params.office,
        assignee: params.assignee,
        scope: None,
        cursor: params.cursor,
        limit: limit as usize,
    };
    let page = state.app.list_as(&ctx.principal, query).await?;
    Ok(Reply::new(CaseList {
        items: page.cases.into_iter().map(|c| visible(&ctx, c)).collect(),
        next_cursor: page.next_cursor,
    }))
}

async fn record_action(
    State(state): State<AppState>,
    Authorized(ctx, _): Authorized<allowed::WorkCases>,
    CaseIdPath(id): CaseIdPath,
    IfMatch(expected): IfMatch,
    ApiJson(action): ApiJson<HandlerAction>,
) -> Result<Reply<ActionResult, 201>, ApiError> {
    let assigning = matches!(
        action,
        HandlerAction::Assign { .. }
            | HandlerAction::ReferUp { .. }
            | HandlerAction::TakeOver { .. }
            | HandlerAction::Transfer {
                supervisor_approved: true,
                ..
            }
    );
    if assigning {
        // Assigning, moving a case up the hierarchy and approving a transfer are a
        // supervisor's, whoever else may act.
        ctx.require(allowed::Supervise::ROLES)?;
    }
    let viewer = ctx.clone();
    let (case, events) = state
        .app
        .act(
            ctx.tenant,
            id,
            action,
            ctx.actor,
            Acting::of(&ctx.principal),
            expected,
        )
        .await?;
    tracing::info!(case_id = %case.id, version = case.version, status = case.status.as_str(), "action recorded");
    let tag = etag(&case);
    let case = visible(&viewer, case);
    Ok(Reply::new(ActionResult { case, events }).header(header::ETAG, &tag))
}

fn record_action_docs(op: TransformOperation<'_>) -> TransformOperation<'_> {
    op.id("recordAction")
        .tag("cases")
        .summary("Record a handler action on a case")
        .description(
            "Checks the action against the case lifecycle and appends it to the case's hash-chained \
             history. An action the current state does not allow is refused with 409, naming the \
             state and the allowed actions; nothing is recorded. A handler acts only on the cases \
             assigned to them; `assign` is a supervisor's.",
        )
        .response_with::<409, ApiError, _>(|r| r.description("The lifecycle does not allow this action in the case's current state"))
}

async fn timeline(
    State(state): State<AppState>,
    Authorized(ctx, _): Authorized<allowed::ReadCases>,
    CaseIdPath(id): CaseIdPath,
) -> Result<Reply<Timeline, 200>, ApiError> {
    let mut events = state
        .app
        .events_as(&ctx.principal, id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no case {id}")))?;
    if !ctx.principal.sees_identity() {
        // The hashes stay those of the recorded events; `redress audit verify` checks the
        // chain on the server, over the unmasked records.
        for record in &mut events {
            if let redress_domain::EventKind::Received { intake, .. } = &mut record.event {
                intake.complainant.mask_identity();
            }
        }
    }
    let tracking_code = match events.first().map(|e| &e.event) {
        Some(redress_domain::EventKind::Received { tracking_code, .. }) => tracking_code.clone(),
        _ => {
            return Err(ApiError::new(
                ProblemKind::Internal,
                "the case history has no `received` event",
            ));
        }
    };
    Ok(Reply::new(Timeline {
        case_id: id,
        tracking_code,
        events,
    }))
}

const MAX_PAGE: u32 = 500;

pub(super) fn routes() -> ApiRouter<AppState> {
    ApiRouter::new()
        .api_route(
            "/v1/cases",
            post_with(create_case, create_case_docs).get_with(list_cases, |op| {
                op.id("listCases")
                    .tag("cases")
                    .summary(
                        "List the tenant's cases, newest first, with filters and cursor pagination",
                    )
                    .description(
                        "A key scoped to an office (`redress key create --office`) lists only the \
                         cases whose current office is that office and those assigned to its \
                         holder; naming another office in `office` is refused with 403.",
                    )
            }),
        )
        .api_route(
            "/v1/cases/{id}",
            get_with(get_case, |op| {
                op.id("getCase")
                    .tag("cases")
                    .summary("Get a case; its ETag is its version")
                    .description(
                        "A case of another tenant, or outside the office scope of a scoped key, \
                         is absent (404) alike.",
                    )
            }),
        )
        .api_route(
            "/v1/cases/{id}/events",
            post_with(record_action, record_action_docs),
        )
        .api_route(
            "/v1/cases/{id}/timeline",
            get_with(timeline, |op| {
                op.id("getTimeline")
                    .tag("cases")
                    .summary("A case's hash-chained history, oldest first")
            }),
        )
}

//! A tenant's routing table.

use aide::axum::{ApiRouter, routing::get_with};
use axum::extract::State;

use super::{Reply, allowed};
use crate::server::{
    AppState,
    extract::{ApiJson, Authorized},
    problem::{ApiError, Location, ProblemKind},
    wire::RoutingDocument,
};

async fn get_routing(
    State(state): State<AppState>,
    Authorized(ctx, _): Authorized<allowed::ReadRouting>,
) -> Result<Reply<RoutingDocument, 200>, ApiError> {
    let toml = state
        .app
        .routing()
        .text(&ctx.tenant)
        .ok_or_else(|| ApiError::not_found("this tenant has no routing table"))?;
    Ok(Reply::new(RoutingDocument { toml }))
}

async fn put_routing(
    State(state): State<AppState>,
    Authorized(ctx, _): Authorized<allowed::ManageRouting>,
    ApiJson(document): ApiJson<RoutingDocument>,
) -> Result<Reply<RoutingDocument, 200>, ApiError> {
    let routing = std::sync::Arc::clone(state.app.routing());
    let tenant = ctx.tenant.clone();
    let text = document.toml.clone();
    tokio::task::spawn_blocking(move || routing.put(&tenant, &text))
        .await
        .map_err(|e| ApiError::from(crate::service::ServiceError::Task(e.to_string())))?
        .map_err(|e| {
            ApiError::field(
                ProblemKind::ValidationFailed,
                Location::Body,
                "/toml",
                e.to_string(),
            )
        })?;
    tracing::info!(tenant = %ctx.tenant, "routing table replaced");
    Ok(Reply::new(document))
}

pub(super) fn routes() -> ApiRouter<AppState> {
    ApiRouter::new()
        .api_route(
            "/v1/routing",
            get_with(get_routing, |op| {
                op.id("getRouting")
                    .tag("routing")
                    .summary("The tenant's routing table")
                    .response_with::<404, ApiError, _>(|r| r.description("This tenant has no routing table"))
            })
            .put_with(put_routing, |op| {
                op.id("putRouting")
                    .tag("routing")
                    .summary("Replace the tenant's routing table")
                    .description(
                        "The table is checked (offices, levels, parents, rules, default) before it is \
                         stored and put in force; a table that does not load is refused with 422 naming \
                         the entry, and the table in force stays. From then on the rulesets' `route` \
                         actions that name no office are resolved through it, and the office and the \
                         reason are recorded with the decision.",
                    )
            }),
        )
}

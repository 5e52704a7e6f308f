//! The plugin-vendor keys a tenant trusts for its own plugins.

use aide::axum::{ApiRouter, routing::get_with};
use axum::extract::State;

use super::{Reply, allowed};
use crate::server::{
    AppState,
    extract::{ApiJson, Authorized},
    problem::{ApiError, Location, ProblemKind},
    wire::PluginKeysDocument,
};

async fn get_plugin_keys(
    State(state): State<AppState>,
    Authorized(ctx, _): Authorized<allowed::ReadPluginKeys>,
) -> Result<Reply<PluginKeysDocument, 200>, ApiError> {
    let toml = state
        .app
        .plugin_keys(&ctx.tenant)
        .ok_or_else(|| ApiError::not_found("this tenant trusts no plugin keys of its own"))?;
    Ok(Reply::new(PluginKeysDocument { toml }))
}

async fn put_plugin_keys(
    State(state): State<AppState>,
    Authorized(ctx, _): Authorized<allowed::ManagePluginKeys>,
    ApiJson(document): ApiJson<PluginKeysDocument>,
) -> Result<Reply<PluginKeysDocument, 200>, ApiError> {
    state
        .app
        .set_plugin_keys(ctx.tenant.clone(), document.toml.clone())
        .await
        .map_err(|e| match e {
            crate::service::DeployError::Package(e) => ApiError::field(
                ProblemKind::ValidationFailed,
                Location::Body,
                "/toml",
                e.to_string(),
            ),
            other => other.into(),
        })?;
    tracing::info!(tenant = %ctx.tenant, "trusted plugin keys replaced");
    Ok(Reply::new(document))
}

pub(super) fn routes() -> ApiRouter<AppState> {
    ApiRouter::new()
        .api_route(
            "/v1/plugin-keys",
            get_with(get_plugin_keys, |op| {
                op.id("getPluginKeys")
                    .tag("rulesets")
                    .summary("The plugin-vendor keys this tenant trusts")
            })
            .put_with(put_plugin_keys, |op| {
                op.id("putPluginKeys")
                    .tag("rulesets")
                    .summary("Replace the plugin-vendor keys this tenant trusts")
                    .description(
                        "`[[key]]` entries as `redress plugin keygen` writes them. They count beside \
                         the server's trusted keys, for this tenant's own plugins only (packages whose \
                         manifest names the tenant); once any key applies, such a package deploys only \
                         with a valid signature by one of them.",
                    )
            }),
        )
}

//! Ruleset versions: listing, deploying, suspending and resuming.

use aide::axum::{
    ApiRouter,
    routing::{get_with, post_with},
};
use axum::{
    Json,
    extract::State,
    response::{IntoResponse, Response},
};

use super::{Reply, allowed};
use crate::{
    rules::registry::{Package, RulesetSummary},
    server::{
        AppState,
        extract::{ApiJson, Authorized, RulesetPath},
        problem::{ApiError, Location, ProblemKind},
        wire::{DeployRequest, RulesetList, SuspendRequest},
    },
};

/// Most files a package may have.
const MAX_PACKAGE_FILES: usize = 500;

async fn list_rulesets(
    State(state): State<AppState>,
    Authorized(ctx, _): Authorized<allowed::ReadRulesets>,
) -> Result<Reply<RulesetList, 200>, ApiError> {
    Ok(Reply::new(RulesetList {
        items: state.app.rules().summaries(Some(&ctx.tenant)),
    }))
}

async fn deploy_ruleset(
    State(state): State<AppState>,
    Authorized(ctx, _): Authorized<allowed::ManageRulesets>,
    ApiJson(request): ApiJson<DeployRequest>,
) -> Result<Response, ApiError> {
    let package = package_from_request(request, "upload")?;
    let operator = ctx.principal.is_operator();
    let (summary, created) = state.app.deploy(ctx.tenant, operator, package).await?;
    Ok(if created {
        Reply::<_, 201>::new(summary).into_response()
    } else {
        Reply::<_, 200>::new(summary).into_response()
    })
}

/// A package from a deploy request's files, each path checked and the binaries decoded; the
/// console's upload form reads the same document and goes through here too.
pub(crate) fn package_from_request(
    request: DeployRequest,
    origin: &str,
) -> Result<Package, ApiError> {
    use base64::Engine as _;
    let invalid = |pointer: String, message: String| {
        ApiError::field(
            ProblemKind::ValidationFailed,
            Location::Body,
            pointer,
            message,
        )
    };
    if request.files.len() + request.binaries.len() > MAX_PACKAGE_FILES {
        return Err(invalid(
            "/files".into(),
            format!("at most {MAX_PACKAGE_FILES} files (text and binary together)"),
        ));
    }
    for (member, path) in request
        .files
        .keys()
        .map(|p| ("files", p))
        .chain(request.binaries.keys().map(|p| ("binaries", p)))
    {
        // A JSON pointer escapes `~` and `/` in a key.
        let pointer = format!("/{member}/{}", path.replace('~', "~0").replace('/', "~1"));
        crate::rules::registry::check_package_path(path)
            .map_err(|e| invalid(pointer.clone(), e))?;
        if member == "binaries" && !path.ends_with(".wasm") {
            return Err(invalid(
                pointer,
                "only WebAssembly plugins (`.wasm`) are binary files".into(),
            ));
        }
        if member == "binaries" && request.files.contains_key(path) {
            return Err(invalid(
                pointer,
                "the same path is also given as a text file".into(),
            ));
        }
    }
    let mut binaries = std::collections::BTreeMap::new();
    for (path, text) in request.binaries {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(text.as_bytes())
            .map_err(|e| {
                invalid(
                    format!("/binaries/{}", path.replace('~', "~0").replace('/', "~1")),
                    format!("not base64 (standard alphabet, padded): {e}"),
                )
            })?;
        binaries.insert(path, bytes);
    }
    Ok(Package {
        origin: origin.to_owned(),
        files: request.files,
        binaries,
    })
}

async fn suspend_ruleset(
    State(state): State<AppState>,
    Authorized(ctx, _): Authorized<allowed::ManageRulesets>,
    path: RulesetPath,
    ApiJson(request): ApiJson<SuspendRequest>,
) -> Result<Reply<RulesetSummary, 200>, ApiError> {
    let reason = suspend_reason(&request.reason)?;
    let summary = state
        .app
        .set_ruleset_state(
            &ctx.tenant,
            ctx.principal.is_operator(),
            &path.id,
            &path.version,
            Some(reason),
        )
        .await?;
    Ok(Reply::new(summary))
}

/// A suspension's reason as given (trimmed), if it is one: 1 to 500 characters. The console's
/// suspend form is checked with this too.
pub(crate) fn suspend_reason(reason: &str) -> Result<&str, ApiError> {
    let reason = reason.trim();
    if reason.is_empty() || reason.chars().count() > 500 {
        return Err(ApiError::field(
            ProblemKind::ValidationFailed,
            Location::Body,
            "/reason",
            "between 1 and 500 characters",
        ));
    }
    Ok(reason)
}

async fn resume_ruleset(
    State(state): State<AppState>,
    Authorized(ctx, _): Authorized<allowed::ManageRulesets>,
    path: RulesetPath,
) -> Result<Reply<RulesetSummary, 200>, ApiError> {
    let summary = state
        .app
        .set_ruleset_state(
            &ctx.tenant,
            ctx.principal.is_operator(),
            &path.id,
            &path.version,
            None,
        )
        .await?;
    Ok(Reply::new(summary))
}

pub(super) fn routes() -> ApiRouter<AppState> {
    ApiRouter::new()
        .api_route(
            "/v1/rulesets",
            get_with(list_rulesets, |op| {
                op.id("listRulesets").tag("rulesets").summary("Ruleset versions and their state (active, suspended)")
            })
            .post_with(deploy_ruleset, |op| {
                op.id("deployRuleset")
                    .tag("rulesets")
                    .summary("Deploy a ruleset package without a restart")
                    .description(
                        "The package is compiled and its own fixture cases are run before it becomes active; a \
                         failing package is refused with each failing case and its difference, and the versions \
                         in force stay. A case keeps the version that first decided it.",
                    )
                    .response::<201, Json<RulesetSummary>>()
                    .response_with::<200, Json<RulesetSummary>, _>(|r| {
                        r.description("The same version with the same content was already active")
                    })
                    .response_with::<409, ApiError, _>(|r| r.description("This version is already active with other content"))
                    .response_with::<403, ApiError, _>(|r| r.description("The package is for another tenant"))
            }),
        )
        .api_route(
            "/v1/rulesets/{id}/{version}/suspend",
            post_with(suspend_ruleset, |op| {
                op.id("suspendRuleset")
                    .tag("rulesets")
                    .summary("Suspend a ruleset version")
                    .description(
                        "New cases no longer get this version; cases pinned to it go to manual handling with \
                         the reason. Recorded durably: a suspension outlasts a restart. A plugin that fails \
                         5 decisions in a row is suspended this way by the server itself (quarantine).",
                    )
                    .response_with::<403, ApiError, _>(|r| r.description("A built-in ruleset can only be suspended by the operator"))
            }),
        )
        .api_route(
            "/v1/rulesets/{id}/{version}/resume",
            post_with(resume_ruleset, |op| {
                op.id("resumeRuleset")
                    .tag("rulesets")
                    .summary("Resume a suspended (or quarantined) ruleset version")
                    .response_with::<403, ApiError, _>(|r| r.description("A built-in ruleset can only be resumed by the operator"))
            }),
        )
}

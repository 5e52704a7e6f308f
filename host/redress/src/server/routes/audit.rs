//! The audit of the running server: verification and signed checkpoints.

use std::sync::Arc;

use aide::axum::{
    ApiRouter,
    routing::{get_with, post_with},
};
use axum::extract::State;

use super::{Reply, allowed};
use crate::server::{
    AppState,
    extract::Authorized,
    problem::{ApiError, ProblemKind},
};

/// `POST /v1/audit/verify`: the audit of the running server (its data directory is locked, so
/// `redress audit verify --data` cannot open it): every hash chain, every snapshot against its
/// replay, every acknowledged write still there. An auditor sees the problems of the tenant's
/// cases and of the store as a whole; the operator sees all.
async fn audit_verify(
    State(state): State<AppState>,
    Authorized(ctx, _): Authorized<allowed::Audit>,
) -> Result<Reply<crate::store::AuditReport, 200>, ApiError> {
    let report = verify(&state, &ctx.principal, None).await?;
    Ok(Reply::new(report))
}

/// The audit `POST /v1/audit/verify` answers (and the console's audit page shows): the whole
/// store verified (one audit at a time on a server), then the report narrowed to what
/// `principal` may see: the tenant's cases and the store-wide problems, every tenant's for the
/// operator; with `case`, that one case only (absent, 404, when it is not the principal's).
pub(crate) async fn verify(
    state: &AppState,
    principal: &crate::access::Principal,
    case: Option<redress_domain::CaseId>,
) -> Result<crate::store::AuditReport, ApiError> {
    let _running = state
        .audit_running
        .clone()
        .try_acquire_owned()
        .map_err(|_| {
            ApiError::new(
                ProblemKind::TooManyRequests,
                "an audit is already running on this server; ask again when it has finished",
            )
        })?;
    let store = Arc::clone(state.app.store());
    let tenant = (!principal.is_operator()).then(|| principal.tenant.clone());
    let narrowed = tenant.is_some() || case.is_some();
    let report = tokio::task::spawn_blocking(move || -> Result<_, crate::store::StoreError> {
        let mut report = store.verify()?;
        if narrowed {
            let mut heads = store.heads(tenant.as_ref())?;
            if let Some(id) = case {
                heads.retain(|(head, _, _)| *head == id);
                if heads.is_empty() {
                    return Ok(None);
                }
            }
            let own: std::collections::BTreeSet<String> =
                heads.iter().map(|(id, _, _)| id.to_string()).collect();
            report.problems.retain(|p| {
                if case.is_some() {
                    own.contains(&p.case_id)
                } else {
                    p.case_id.is_empty() || own.contains(&p.case_id)
                }
            });
            report.cases_checked = heads.len() as u64;
            report.events_checked = heads.iter().map(|(_, version, _)| version).sum();
        }
        Ok(Some(report))
    })
    .await
    .map_err(|e| ApiError::from(crate::service::ServiceError::Task(e.to_string())))??
    .ok_or_else(|| ApiError::not_found("no such case"))?;
    tracing::info!(tenant = %principal.tenant, case = ?case, problems = report.problems.len(), "audit verified on request");
    Ok(report)
}

/// `GET /v1/audit/checkpoint`: a checkpoint of the tenant's cases (every tenant's for the
/// operator), signed with the server's audit key, for the auditor to keep: a later
/// `redress audit verify --checkpoint` shows whether any of those histories was rewritten.
async fn audit_checkpoint(
    State(state): State<AppState>,
    Authorized(ctx, _): Authorized<allowed::Audit>,
) -> Result<Reply<crate::audit::Checkpoint, 200>, ApiError> {
    let key = state.audit_key.clone().ok_or_else(|| {
        ApiError::not_found(
            "this server signs no checkpoints: start it with --audit-key (a key kept outside the data directory)",
        )
    })?;
    let store = Arc::clone(state.app.store());
    let tenant = (!ctx.principal.is_operator()).then(|| ctx.tenant.clone());
    let now = state.app.time().now();
    let checkpoint = tokio::task::spawn_blocking(move || {
        crate::audit::checkpoint(store.as_ref(), tenant.as_ref(), now, &key)
    })
    .await
    .map_err(|e| ApiError::from(crate::service::ServiceError::Task(e.to_string())))?
    .map_err(|e| match e {
        crate::audit::AuditError::Store(e) => ApiError::from(e),
        other => ApiError::new(ProblemKind::Internal, other.to_string()),
    })?;
    Ok(Reply::new(checkpoint))
}

pub(super) fn routes() -> ApiRouter<AppState> {
    ApiRouter::new()
        .api_route(
            "/v1/audit/verify",
            post_with(audit_verify, |op| {
                op.id("auditVerify").tag("audit").summary(
                    "Verify the histories on the running server: chains, snapshots, acknowledged writes",
                )
            }),
        )
        .api_route(
            "/v1/audit/checkpoint",
            get_with(audit_checkpoint, |op| {
                op.id("auditCheckpoint").tag("audit").summary(
                    "A checkpoint of every case's chain head, signed with the server's audit key, for the auditor to keep",
                )
            }),
        )
}

//! The `/v1` routes, one file per resource, each registering its routes with their OpenAPI
//! docs; this module assembles them and holds what they share: [`Reply`], the role sets
//! ([`allowed`]) and `visible`. Handlers only translate between HTTP and the service; the
//! request and response shapes are in `server/wire.rs`.

mod audit;
mod cases;
mod clocks;
mod health;
mod plugin_keys;
mod routing;
mod rulesets;
mod tracking;

#[cfg(test)]
mod tests;

/// Shared with the console's pages, which answer from the same computations.
pub(crate) use audit::verify as audit_verify;
pub(crate) use rulesets::{package_from_request, suspend_reason};
pub(crate) use tracking::view as tracking_view;

use aide::{
    OperationOutput,
    axum::ApiRouter,
    generate::GenContext,
    openapi::{Operation, Response as DocResponse, StatusCode as DocStatus},
};
use axum::{
    Json,
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use redress_domain::Case;
use schemars::JsonSchema;
use serde::Serialize;

use super::{AppState, extract::RequestContext};

/// A response with a status, headers and a JSON body, documented with its status code.
#[derive(Debug)]
pub struct Reply<T, const CODE: u16> {
    headers: HeaderMap,
    body: T,
}

impl<T, const CODE: u16> Reply<T, CODE> {
    fn new(body: T) -> Self {
        Reply {
            headers: HeaderMap::new(),
            body,
        }
    }

    fn header(mut self, name: header::HeaderName, value: &str) -> Self {
        if let Ok(v) = HeaderValue::from_str(value) {
            self.headers.insert(name, v);
        }
        self
    }
}

impl<T: Serialize, const CODE: u16> IntoResponse for Reply<T, CODE> {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(CODE).unwrap_or(StatusCode::OK);
        (status, self.headers, Json(self.body)).into_response()
    }
}

impl<T: JsonSchema, const CODE: u16> OperationOutput for Reply<T, CODE> {
    type Inner = T;

    fn operation_response(ctx: &mut GenContext, operation: &mut Operation) -> Option<DocResponse> {
        Json::<T>::operation_response(ctx, operation)
    }

    fn inferred_responses(
        ctx: &mut GenContext,
        operation: &mut Operation,
    ) -> Vec<(Option<DocStatus>, DocResponse)> {
        Json::<T>::operation_response(ctx, operation)
            .map(|r| vec![(Some(DocStatus::Code(CODE)), r)])
            .unwrap_or_default()
    }
}

/// A case's ETag: its version.
fn etag(case: &Case) -> String {
    format!("\"{}\"", case.version)
}

/// Who may do what: each handler names one of these role sets in its signature
/// (`Authorized<allowed::...>`), which is both the check (made before any body is read) and the
/// operation's `x-required-roles` in the OpenAPI document. `tests/integration/access.rs` checks
/// the whole table with a key of each role.
pub mod allowed {
    use super::super::extract::RoleSet;
    use crate::access::Role::{self, *};

    macro_rules! role_sets {
        ($($(#[$doc:meta])* $name:ident = [$($role:ident),* $(,)?];)*) => {$(
            $(#[$doc])*
            #[derive(Debug)]
            pub struct $name;
            impl RoleSet for $name {
                const ROLES: &'static [Role] = &[$($role),*];
            }
        )*};
    }

    role_sets! {
        Register = [Intake, Supervisor];
        ReadCases = [Intake, Handler, Supervisor, Auditor];
        WorkCases = [Handler, Supervisor];
        /// Assigning and approving (clock extensions, transfers) are a supervisor's; checked in
        /// the handler, once the body says what is asked.
        Supervise = [Supervisor];
        ReadRulesets = [Supervisor, ComplianceAdmin, Auditor, Operator];
        /// A compliance admin acts on the tenant's own rulesets; the operator on those that
        /// apply to every tenant (and on any tenant's, see `Redress::set_ruleset_state`).
        ManageRulesets = [ComplianceAdmin, Operator];
        ReadRouting = [Supervisor, ComplianceAdmin, Auditor];
        ManageRouting = [ComplianceAdmin];
        ReadPluginKeys = [ComplianceAdmin, Auditor];
        ManagePluginKeys = [ComplianceAdmin];
        /// What another ruleset version would have decided about a recorded case (a dry run,
        /// the console's "explain this case under that version"): those who look after the
        /// rules and those who check the decisions.
        ExplainCases = [Supervisor, ComplianceAdmin, Auditor];
        /// Verifying the histories and taking signed checkpoints: an auditor for the tenant's
        /// cases, the operator for every tenant's.
        Audit = [Auditor, Operator];
        /// People's console accounts (`/console/accounts`; no API route): the operator for
        /// every tenant, a compliance admin for its own tenant and never the operator's.
        ManageAccounts = [ComplianceAdmin, Operator];
        /// Volumes and timeliness over the tenant's cases (the console's reports): counts,
        /// no case's content.
        ReadReports = [Supervisor, Auditor];
    }
}

/// A case as the caller may see it: identity fields masked for the roles that do not need them.
fn visible(ctx: &RequestContext, mut case: Case) -> Case {
    if !ctx.principal.sees_identity() {
        case.intake.complainant.mask_identity();
    }
    case
}

/// Every route, by resource.
pub(crate) fn routes() -> ApiRouter<AppState> {
    ApiRouter::new()
        .merge(cases::routes())
        .merge(clocks::routes())
        .merge(rulesets::routes().layer(axum::Extension(super::extract::PackageBody)))
        .merge(plugin_keys::routes())
        .merge(routing::routes())
        .merge(tracking::routes())
        .merge(health::routes())
        .merge(audit::routes())
}

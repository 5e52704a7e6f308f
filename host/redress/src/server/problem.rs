//! RFC 9457 problem details: every error the API returns has this shape and the media type
//! `application/problem+json`.

use aide::{
    OperationOutput,
    generate::GenContext,
    openapi::{MediaType, Operation, Response, SchemaObject, StatusCode as DocStatus},
};
use axum::{
    http::{HeaderValue, StatusCode, header},
    response::IntoResponse,
};
use indexmap::IndexMap;
use redress_domain::{LifecycleError, ValidationErrors, case::ApplyError};
use schemars::JsonSchema;
use serde::Serialize;

use crate::{service::ServiceError, store::StoreError};

pub const PROBLEM_JSON: &str = "application/problem+json";

/// Where an invalid value was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Location {
    Body,
    Query,
    Path,
    Header,
}

/// One invalid value in a request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct InvalidField {
    #[serde(rename = "in")]
    pub location: Location,
    /// For the body a JSON Pointer (RFC 6901) such as `/respondent/division_code`; for a
    /// parameter or header, `/` and its name.
    pub pointer: String,
    pub detail: String,
}

/// An error response (RFC 9457).
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Problem {
    /// A stable identifier of the kind of problem; clients branch on it.
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    /// The invalid values, for 400 and 422 responses.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub errors: Vec<InvalidField>,
    /// For lifecycle conflicts: the case's current state.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current_status: Option<String>,
    /// For lifecycle conflicts: the actions allowed in that state.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allowed_actions: Option<Vec<String>>,
    /// For a refused ruleset package: each failing fixture case and how it differs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fixtures: Option<Vec<crate::rules::fixtures::FixtureReport>>,
}

/// The problem types, each with its HTTP status. Their `type` URIs are part of the API: never
/// rename one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProblemKind {
    MalformedJson,
    BadParameter,
    UnsupportedMediaType,
    PayloadTooLarge,
    RequestTimeout,
    ValidationFailed,
    NotFound,
    MethodNotAllowed,
    IllegalTransition,
    VersionConflict,
    DeadlineNotComputable,
    RulesetInvalid,
    RulesetFixturesFail,
    RulesetVersionExists,
    PluginSignatureRefused,
    Unauthorized,
    TooManyRequests,
    Forbidden,
    StorageUnavailable,
    /// A task doing the request's work failed (it panicked): whether the request took effect is
    /// not known, so the client reads the state back before it retries. Unlike
    /// `storage-unavailable`, it does not promise that nothing changed.
    TaskFailed,
    Internal,
}

impl ProblemKind {
    pub fn status(self) -> StatusCode {
        match self {
            ProblemKind::MalformedJson | ProblemKind::BadParameter => StatusCode::BAD_REQUEST,
            ProblemKind::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ProblemKind::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ProblemKind::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
            ProblemKind::ValidationFailed => StatusCode::UNPROCESSABLE_ENTITY,
            ProblemKind::NotFound => StatusCode::NOT_FOUND,
            ProblemKind::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ProblemKind::IllegalTransition => StatusCode::CONFLICT,
            ProblemKind::VersionConflict => StatusCode::PRECONDITION_FAILED,
            ProblemKind::DeadlineNotComputable => StatusCode::UNPROCESSABLE_ENTITY,
            ProblemKind::RulesetInvalid | ProblemKind::RulesetFixturesFail => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
            ProblemKind::RulesetVersionExists => StatusCode::CONFLICT,
            ProblemKind::PluginSignatureRefused => StatusCode::UNPROCESSABLE_ENTITY,
            ProblemKind::Unauthorized => StatusCode::UNAUTHORIZED,
            ProblemKind::TooManyRequests => StatusCode::TOO_MANY_REQUESTS,
            ProblemKind::Forbidden => StatusCode::FORBIDDEN,
            ProblemKind::StorageUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            ProblemKind::TaskFailed | ProblemKind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn slug(self) -> &'static str {
        match self {
            ProblemKind::MalformedJson => "malformed-json",
            ProblemKind::BadParameter => "bad-parameter",
            ProblemKind::UnsupportedMediaType => "unsupported-media-type",
            ProblemKind::PayloadTooLarge => "payload-too-large",
            ProblemKind::RequestTimeout => "request-timeout",
            ProblemKind::ValidationFailed => "validation-failed",
            ProblemKind::NotFound => "not-found",
            ProblemKind::MethodNotAllowed => "method-not-allowed",
            ProblemKind::IllegalTransition => "illegal-transition",
            ProblemKind::VersionConflict => "version-conflict",
            ProblemKind::DeadlineNotComputable => "deadline-not-computable",
            ProblemKind::RulesetInvalid => "ruleset-invalid",
            ProblemKind::RulesetFixturesFail => "ruleset-fixtures-fail",
            ProblemKind::RulesetVersionExists => "ruleset-version-exists",
            ProblemKind::PluginSignatureRefused => "plugin-signature-refused",
            ProblemKind::Unauthorized => "unauthorized",
            ProblemKind::TooManyRequests => "too-many-requests",
            ProblemKind::Forbidden => "forbidden",
            ProblemKind::StorageUnavailable => "storage-unavailable",
            ProblemKind::TaskFailed => "task-failed",
            ProblemKind::Internal => "internal",
        }
    }

    fn title(self) -> &'static str {
        match self {
            ProblemKind::MalformedJson => "The request body is not valid JSON",
            ProblemKind::BadParameter => "A request parameter is invalid",
            ProblemKind::UnsupportedMediaType => "The request body must be application/json",
            ProblemKind::PayloadTooLarge => "The request body is too large",
            ProblemKind::RequestTimeout => "The request body did not arrive in time",
            ProblemKind::ValidationFailed => "The request is not valid",
            ProblemKind::NotFound => "Not found",
            ProblemKind::MethodNotAllowed => "Method not allowed",
            ProblemKind::IllegalTransition => "The case lifecycle does not allow this action now",
            ProblemKind::VersionConflict => "The case changed since it was read",
            ProblemKind::DeadlineNotComputable => {
                "The deadline cannot be computed with the calendars in force"
            }
            ProblemKind::RulesetInvalid => {
                "The ruleset package is not valid; nothing was activated"
            }
            ProblemKind::RulesetFixturesFail => {
                "The ruleset package fails its own fixture cases; nothing was activated"
            }
            ProblemKind::RulesetVersionExists => {
                "This ruleset version is already active with other content"
            }
            ProblemKind::PluginSignatureRefused => {
                "The plugin package is not signed by a trusted vendor key; nothing was activated"
            }
            ProblemKind::Unauthorized => "No valid API key",
            ProblemKind::TooManyRequests => "Too many attempts; try again later",
            ProblemKind::Forbidden => "Not allowed for this key's role or tenant",
            ProblemKind::StorageUnavailable => {
                "Storage is unavailable; nothing was changed or acknowledged"
            }
            ProblemKind::TaskFailed => {
                "An internal task failed; whether the request took effect is not known"
            }
            ProblemKind::Internal => "Internal error",
        }
    }
}

/// An error on its way to becoming a problem response.
#[derive(Debug)]
pub struct ApiError(pub Box<Problem>);

impl ApiError {
    pub fn new(kind: ProblemKind, detail: impl Into<String>) -> Self {
        ApiError(Box::new(Problem {
            kind: format!("urn:redress:problem:{}", kind.slug()),
            title: kind.title().into(),
            status: kind.status().as_u16(),
            detail: detail.into(),
            errors: Vec::new(),
            current_status: None,
            allowed_actions: None,
            fixtures: None,
        }))
    }

    pub fn with_fields(mut self, errors: Vec<InvalidField>) -> Self {
        self.0.errors = errors;
        self
    }

    pub fn field(
        kind: ProblemKind,
        location: Location,
        pointer: impl Into<String>,
        detail: impl Into<String>,
    ) -> Self {
        let detail = detail.into();
        let pointer = pointer.into();
        ApiError::new(kind, format!("{pointer}: {detail}")).with_fields(vec![InvalidField {
            location,
            pointer,
            detail,
        }])
    }

    /// Every field at fault, the detail listing them all.
    pub fn fields(kind: ProblemKind, fields: Vec<InvalidField>) -> Self {
        let detail = fields
            .iter()
            .map(|f| format!("{}: {}", f.pointer, f.detail))
            .collect::<Vec<_>>()
            .join("; ");
        ApiError::new(kind, detail).with_fields(fields)
    }

    pub fn validation(errors: ValidationErrors) -> Self {
        let fields: Vec<InvalidField> = errors
            .0
            .into_iter()
            .map(|e| InvalidField {
                location: Location::Body,
                pointer: e.pointer,
                detail: e.detail,
            })
            .collect();
        let detail = fields
            .iter()
            .map(|f| format!("{}: {}", f.pointer, f.detail))
            .collect::<Vec<_>>()
            .join("; ");
        ApiError::new(ProblemKind::ValidationFailed, detail).with_fields(fields)
    }

    pub fn not_found(detail: impl Into<String>) -> Self {
        ApiError::new(ProblemKind::NotFound, detail)
    }

    fn lifecycle(e: LifecycleError) -> Self {
        let mut err = ApiError::new(ProblemKind::IllegalTransition, e.to_string());
        err.0.current_status = Some(e.from.as_str().into());
        err.0.allowed_actions = Some(e.allowed.iter().map(|a| (*a).to_owned()).collect());
        err
    }
}

impl From<crate::service::DeployError> for ApiError {
    fn from(e: crate::service::DeployError) -> Self {
        use crate::{rules::registry::PackageError, service::DeployError};
        match e {
            DeployError::Package(PackageError::FixturesFail {
                origin: _,
                failed,
                total,
                reports,
            }) => {
                let first = reports
                    .first()
                    .map(|r| format!("; first: {} — {}", r.name, r.differences.join(" / ")))
                    .unwrap_or_default();
                let mut err = ApiError::new(
                    ProblemKind::RulesetFixturesFail,
                    format!("{failed} of {total} fixture cases fail{first}"),
                );
                err.0.fixtures = Some(reports);
                err
            }
            DeployError::Package(e @ PackageError::VersionExists { .. }) => {
                ApiError::new(ProblemKind::RulesetVersionExists, e.to_string())
            }
            DeployError::Package(PackageError::Signature { source, .. }) => {
                ApiError::new(ProblemKind::PluginSignatureRefused, source.to_string())
            }
            DeployError::Package(e) => ApiError::new(ProblemKind::RulesetInvalid, e.to_string()),
            DeployError::Forbidden(reason) => ApiError::new(ProblemKind::Forbidden, reason),
            DeployError::NotFound(reason) => ApiError::not_found(reason),
            DeployError::Storage(reason) => {
                tracing::error!(%reason, "storing a ruleset package failed");
                ApiError::new(
                    ProblemKind::StorageUnavailable,
                    "the package could not be stored; nothing was activated",
                )
            }
            DeployError::TaskFailed { doing, reason } => {
                tracing::error!(%reason, doing, "a ruleset task failed");
                ApiError::new(
                    ProblemKind::TaskFailed,
                    format!(
                        "{doing} failed inside the server and may or may not have taken effect; \
                         read the state back before retrying (the server log has the cause)"
                    ),
                )
            }
        }
    }
}

impl From<ServiceError> for ApiError {
    fn from(e: ServiceError) -> Self {
        match e {
            ServiceError::Invalid(errors) => ApiError::validation(errors),
            ServiceError::Store(e) => e.into(),
            ServiceError::Task(reason) => {
                tracing::error!(%reason, "a request task failed");
                ApiError::new(
                    ProblemKind::TaskFailed,
                    "the request failed inside the server and may or may not have taken effect; \
                     read the state back before retrying (the server log has the cause)",
                )
            }
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound(id) => ApiError::not_found(format!("no case {id}")),
            StoreError::VersionConflict { .. } => {
                ApiError::new(ProblemKind::VersionConflict, e.to_string())
            }
            StoreError::Refused(ApplyError::Lifecycle(l)) => ApiError::lifecycle(l),
            StoreError::Refused(ApplyError::Clock(c)) => {
                ApiError::new(ProblemKind::IllegalTransition, c.to_string())
            }
            StoreError::Refused(ApplyError::Jurisdiction(reason)) => {
                ApiError::new(ProblemKind::IllegalTransition, reason)
            }
            StoreError::Refused(e @ ApplyError::AlreadyTransferred { .. }) => {
                ApiError::new(ProblemKind::IllegalTransition, e.to_string())
            }
            StoreError::Refused(e @ ApplyError::NotInManualHandling) => {
                ApiError::new(ProblemKind::IllegalTransition, e.to_string())
            }
            StoreError::Refused(ApplyError::ClosedCase) => ApiError::new(
                ProblemKind::IllegalTransition,
                ApplyError::ClosedCase.to_string(),
            ),
            StoreError::Refused(ApplyError::Deadline(reason)) => {
                ApiError::new(ProblemKind::DeadlineNotComputable, reason)
            }
            StoreError::Forbidden(reason) => ApiError::new(ProblemKind::Forbidden, reason),
            StoreError::BadCursor => ApiError::field(
                ProblemKind::BadParameter,
                Location::Query,
                "/cursor",
                "is not a cursor returned by this listing",
            ),
            StoreError::Backend(reason) => {
                tracing::error!(%reason, "storage failure");
                ApiError::new(
                    ProblemKind::StorageUnavailable,
                    "the store could not complete the write; retry with the same Idempotency-Key",
                )
            }
            other => {
                tracing::error!(error = %other, "internal error");
                ApiError::new(ProblemKind::Internal, "the request could not be completed")
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> axum::response::Response {
        let status =
            StatusCode::from_u16(self.0.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = serde_json::to_vec(&self.0).unwrap_or_default();
        let mut response = (status, body).into_response();
        response
            .headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        if status == StatusCode::UNAUTHORIZED {
            // RFC 9110 §11.6.1: a 401 carries the challenge, so a client knows to send
            // `Authorization: Bearer <key>`.
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"redress\""),
            );
        }
        // These are answered before the body has been read to its end, so the connection cannot
        // carry another request: saying so keeps a client from reusing it and failing its next
        // request with a reset (seen in the error-class test once a declared length over the
        // limit was refused at once).
        if matches!(
            status,
            StatusCode::PAYLOAD_TOO_LARGE | StatusCode::REQUEST_TIMEOUT
        ) {
            response
                .headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        response
    }
}

/// A documented problem response.
pub(crate) fn problem_response(ctx: &mut GenContext, description: &str) -> Response {
    let schema = ctx.schema.subschema_for::<Problem>();
    Response {
        description: description.into(),
        content: IndexMap::from_iter([(
            PROBLEM_JSON.into(),
            MediaType {
                schema: Some(SchemaObject {
                    json_schema: schema,
                    example: None,
                    external_docs: None,
                }),
                ..Default::default()
            },
        )]),
        ..Default::default()
    }
}

impl OperationOutput for ApiError {
    type Inner = Problem;

    fn operation_response(ctx: &mut GenContext, _operation: &mut Operation) -> Option<Response> {
        Some(problem_response(ctx, "A problem (RFC 9457)"))
    }

    fn inferred_responses(
        ctx: &mut GenContext,
        _operation: &mut Operation,
    ) -> Vec<(Option<DocStatus>, Response)> {
        // Every route may fail in these ways; route-specific ones are added by the extractors
        // and by each route's documentation.
        [
            (500, "Internal error"),
            (503, "Storage unavailable: nothing was changed"),
        ]
        .into_iter()
        .map(|(code, text)| (Some(DocStatus::Code(code)), problem_response(ctx, text)))
        .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::service::DeployError;

    /// A panicked task says that its outcome is unknown (500 `task-failed`), never the 503
    /// that promises nothing changed; its cause goes to the log, not to the client.
    #[test]
    fn a_failed_task_is_task_failed_not_storage_unavailable() {
        let deploy = ApiError::from(DeployError::TaskFailed {
            doing: "the deployment",
            reason: "panicked at registry.rs:1".into(),
        });
        let service = ApiError::from(ServiceError::Task("panicked at store.rs:1".into()));
        for problem in [&deploy.0, &service.0] {
            assert_eq!(problem.status, 500);
            assert_eq!(problem.kind, "urn:redress:problem:task-failed");
            assert!(!problem.detail.contains("panicked"), "{}", problem.detail);
            assert!(
                problem.detail.contains("may or may not"),
                "{}",
                problem.detail
            );
        }
        assert!(deploy.0.detail.starts_with("the deployment failed"));
        let storage = ApiError::from(DeployError::Storage("disk full".into()));
        assert_eq!(storage.0.status, 503);
        assert_eq!(storage.0.kind, "urn:redress:problem:storage-unavailable");
    }
}

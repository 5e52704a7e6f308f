//! Request extractors that turn every kind of bad input into a precise problem response, and
//! document themselves in the OpenAPI description.

use aide::{
    OperationInput,
    generate::GenContext,
    openapi::{
        HeaderStyle, Operation, Parameter, ParameterData, ParameterSchemaOrContent, ReferenceOr,
        Response, SchemaObject, StatusCode as DocStatus,
    },
};
use axum::{
    extract::{FromRequest, FromRequestParts, Request},
    http::{header, request::Parts},
};
use redress_domain::TenantId;
use redress_domain::{Actor, CaseId};
use schemars::JsonSchema;
use serde::de::DeserializeOwned;

use super::{
    AppState,
    problem::{ApiError, InvalidField, Location, ProblemKind, problem_response},
};
use crate::access::{Principal, Role};

/// The largest request body accepted, unless configured otherwise.
pub const DEFAULT_BODY_LIMIT: usize = 256 * 1024;

/// The largest ruleset package accepted for deployment (its rules, fixture cases and a
/// plugin's component), or the configured body limit if that is larger. A plugin with its
/// fixtures is several hundred KiB, past what any other request needs.
pub const PACKAGE_BODY_LIMIT: usize = 16 * 1024 * 1024;

/// Marks the routes whose bodies are ruleset packages (`PACKAGE_BODY_LIMIT`).
#[derive(Debug, Clone, Copy)]
pub struct PackageBody;

/// Server-wide request settings the extractors read from the request extensions.
#[derive(Debug, Clone, Copy)]
pub struct BodyLimit(pub usize);

/// How long a body may take to arrive. A per-read timeout would not do: a client that sends
/// one byte just inside it would hold the request open indefinitely.
#[derive(Debug, Clone, Copy)]
pub struct BodyReadTimeout(pub std::time::Duration);

/// Converts serde's path (`respondent.division_code`, `evidence[0].kind`) into a JSON Pointer.
fn json_pointer(path: &serde_path_to_error::Path) -> String {
    use serde_path_to_error::Segment;
    let mut pointer = String::new();
    for segment in path.iter() {
        pointer.push('/');
        match segment {
            Segment::Seq { index } => pointer.push_str(&index.to_string()),
            Segment::Map { key } => pointer.push_str(&key.replace('~', "~0").replace('/', "~1")),
            Segment::Enum { variant } => pointer.push_str(variant),
            Segment::Unknown => pointer.push('?'),
        }
    }
    if pointer.is_empty() {
        "/".into()
    } else {
        pointer
    }
}

/// A JSON body: 415 without a JSON media type, 413 over the size limit, 400 when it is not
/// JSON, 422 with the JSON Pointer of the field when it does not fit the schema.
#[derive(Debug)]
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + JsonSchema + 'static> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, _state: &S) -> Result<Self, Self::Rejection> {
        let is_json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .map(|m| {
                let m = m.trim().to_ascii_lowercase();
                m == "application/json" || (m.starts_with("application/") && m.ends_with("+json"))
            })
            .unwrap_or(false);
        if !is_json {
            return Err(ApiError::field(
                ProblemKind::UnsupportedMediaType,
                Location::Header,
                "/content-type",
                "must be application/json",
            ));
        }
        let configured = req
            .extensions()
            .get::<BodyLimit>()
            .map_or(DEFAULT_BODY_LIMIT, |l| l.0);
        let limit = if req.extensions().get::<PackageBody>().is_some() {
            configured.max(PACKAGE_BODY_LIMIT)
        } else {
            configured
        };
        // A declared length over the limit is refused before any of the body is read, so that a
        // client waiting for `100 Continue` (or sending slowly) hears at once.
        let declared = req
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok());
        if declared.is_some_and(|length| length > limit as u64) {
            return Err(ApiError::new(
                ProblemKind::PayloadTooLarge,
                format!("the body exceeds {limit} bytes"),
            ));
        }
        let timeout = req
            .extensions()
            .get::<BodyReadTimeout>()
            .map_or(super::connections::DEFAULT_READ_TIMEOUT, |t| t.0);
        let body = tokio::time::timeout(timeout, axum::body::to_bytes(req.into_body(), limit))
            .await
            .map_err(|_| {
                ApiError::new(
                    ProblemKind::RequestTimeout,
                    format!("the body did not arrive within {} s", timeout.as_secs_f64()),
                )
            })?
            .map_err(|e| {
                // axum reports an exceeded limit only through the error's text and source chain.
                let mut too_large = false;
                let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&e);
                while let Some(err) = source {
                    too_large |= err.to_string().contains("length limit");
                    source = err.source();
                }
                if too_large {
                    ApiError::new(
                        ProblemKind::PayloadTooLarge,
                        format!("the body exceeds {limit} bytes"),
                    )
                } else {
                    ApiError::new(
                        ProblemKind::MalformedJson,
                        format!("the body could not be read: {e}"),
                    )
                }
            })?;
        parse_json(&body).map(ApiJson)
    }
}

/// Parses in two steps so that "not JSON at all" (400) and "JSON of the wrong shape" (422,
/// naming every field at fault, `body_errors.rs`) are told apart.
pub fn parse_json<T: DeserializeOwned + JsonSchema + 'static>(body: &[u8]) -> Result<T, ApiError> {
    let value: serde_json::Value = serde_json::from_slice(body).map_err(|e| {
        ApiError::new(
            ProblemKind::MalformedJson,
            format!("line {}, column {}: {e}", e.line(), e.column()),
        )
    })?;
    serde_path_to_error::deserialize(&value).map_err(|e| {
        let mut pointer = json_pointer(e.path());
        let detail = e.inner().to_string();
        // serde reports a missing field at its parent object; point at the field itself.
        let detail = match detail
            .strip_prefix("missing field `")
            .and_then(|rest| rest.split('`').next())
        {
            Some(field) => {
                if !pointer.ends_with('/') {
                    pointer.push('/');
                }
                pointer.push_str(field);
                "is required".to_owned()
            }
            None => super::body_errors::plain_words(&detail),
        };
        let faults = super::body_errors::with_schema_faults::<T>(pointer, detail, &value);
        ApiError::fields(
            ProblemKind::ValidationFailed,
            faults
                .into_iter()
                .map(|(pointer, detail)| InvalidField {
                    location: Location::Body,
                    pointer,
                    detail,
                })
                .collect(),
        )
    })
}

impl<T: JsonSchema> OperationInput for ApiJson<T> {
    fn operation_input(ctx: &mut GenContext, operation: &mut Operation) {
        axum::Json::<T>::operation_input(ctx, operation);
    }

    fn inferred_early_responses(
        ctx: &mut GenContext,
        _operation: &mut Operation,
    ) -> Vec<(Option<DocStatus>, Response)> {
        [
            (400, "The body is not valid JSON"),
            (408, "The body did not arrive in time"),
            (413, "The body is too large"),
            (415, "The body is not application/json"),
            (
                422,
                "The body does not fit the schema; `errors` names each field",
            ),
        ]
        .into_iter()
        .map(|(code, text)| (Some(DocStatus::Code(code)), problem_response(ctx, text)))
        .collect()
    }
}

/// Query parameters, with the parameter at fault named on error.
#[derive(Debug)]
pub struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().unwrap_or("");
        let deserializer =
            serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
        serde_path_to_error::deserialize(deserializer)
            .map(ApiQuery)
            .map_err(|e| {
                let pointer = json_pointer(e.path());
                let detail = e.inner().to_string();
                ApiError::field(ProblemKind::BadParameter, Location::Query, pointer, detail)
            })
    }
}

impl<T: JsonSchema> OperationInput for ApiQuery<T> {
    fn operation_input(ctx: &mut GenContext, operation: &mut Operation) {
        axum::extract::Query::<T>::operation_input(ctx, operation);
    }

    fn inferred_early_responses(
        ctx: &mut GenContext,
        _operation: &mut Operation,
    ) -> Vec<(Option<DocStatus>, Response)> {
        vec![(
            Some(DocStatus::Code(400)),
            problem_response(ctx, "A query parameter is invalid"),
        )]
    }
}

/// The case id in the path.
#[derive(Debug, Clone, Copy)]
pub struct CaseIdPath(pub CaseId);

#[derive(serde::Deserialize, JsonSchema)]
#[allow(dead_code)]
struct CaseIdParam {
    /// The case id (a ULID).
    id: CaseId,
}

impl<S: Send + Sync> FromRequestParts<S> for CaseIdPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let axum::extract::Path(raw): axum::extract::Path<String> =
            axum::extract::Path::from_request_parts(parts, state)
                .await
                .map_err(|e| {
                    ApiError::field(
                        ProblemKind::BadParameter,
                        Location::Path,
                        "/id",
                        e.body_text(),
                    )
                })?;
        raw.parse()
            .map(CaseIdPath)
            .map_err(|e: redress_domain::ids::BadCaseId| {
                ApiError::field(
                    ProblemKind::BadParameter,
                    Location::Path,
                    "/id",
                    e.to_string(),
                )
            })
    }
}

impl OperationInput for CaseIdPath {
    fn operation_input(ctx: &mut GenContext, operation: &mut Operation) {
        axum::extract::Path::<CaseIdParam>::operation_input(ctx, operation);
    }

    fn inferred_early_responses(
        ctx: &mut GenContext,
        _operation: &mut Operation,
    ) -> Vec<(Option<DocStatus>, Response)> {
        vec![
            (
                Some(DocStatus::Code(400)),
                problem_response(ctx, "The case id is malformed"),
            ),
            (
                Some(DocStatus::Code(404)),
                problem_response(ctx, "No such case for this tenant"),
            ),
        ]
    }
}

/// A ruleset version in the path: `/v1/rulesets/{id}/{version}/...`.
#[derive(Debug, Clone, serde::Deserialize, JsonSchema)]
pub struct RulesetPath {
    /// The ruleset id, e.g. `banking-insurance`.
    pub id: String,
    /// The version, e.g. `1.0.0`.
    pub version: String,
}

impl<S: Send + Sync> FromRequestParts<S> for RulesetPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let axum::extract::Path(path): axum::extract::Path<RulesetPath> =
            axum::extract::Path::from_request_parts(parts, state)
                .await
                .map_err(|e| {
                    ApiError::field(
                        ProblemKind::BadParameter,
                        Location::Path,
                        "/id",
                        e.body_text(),
                    )
                })?;
        Ok(path)
    }
}

impl OperationInput for RulesetPath {
    fn operation_input(ctx: &mut GenContext, operation: &mut Operation) {
        axum::extract::Path::<RulesetPath>::operation_input(ctx, operation);
    }

    fn inferred_early_responses(
        ctx: &mut GenContext,
        _operation: &mut Operation,
    ) -> Vec<(Option<DocStatus>, Response)> {
        vec![(
            Some(DocStatus::Code(404)),
            problem_response(ctx, "No such ruleset version for this tenant"),
        )]
    }
}

/// The peer address of the connection (set by `connections::serve`), which the tracking
/// endpoint counts wrong secrets by. Never a header: `X-Forwarded-For` is whatever the client
/// writes. `None` only when the router is served some other way (then all such requests are
/// counted as one client).
#[derive(Debug, Clone, Copy)]
pub struct PeerAddr(pub Option<std::net::IpAddr>);

impl<S: Send + Sync> FromRequestParts<S> for PeerAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(PeerAddr(
            parts
                .extensions
                .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
                .map(|info| info.0.ip()),
        ))
    }
}

impl OperationInput for PeerAddr {}

pub const TENANT_HEADER: &str = "x-redress-tenant";
pub const ACTOR_HEADER: &str = "x-redress-actor";
pub const IDEMPOTENCY_HEADER: &str = "idempotency-key";

/// Who is asking, for which organisation, in which role: from the API key
/// (`Authorization: Bearer rdk_...`), or on an open-access development server from the
/// `X-Redress-Tenant` and `X-Redress-Actor` headers.
#[derive(Debug, Clone)]
pub struct RequestContext {
    pub tenant: TenantId,
    pub actor: Actor,
    pub principal: Principal,
}

impl RequestContext {
    /// Refuses (403) unless the principal has one of `roles`.
    pub fn require(&self, roles: &[Role]) -> Result<(), ApiError> {
        if self.principal.has_any(roles) {
            return Ok(());
        }
        let role = self.principal.role.map_or("none", Role::as_str);
        Err(ApiError::new(
            ProblemKind::Forbidden,
            format!(
                "the key's role `{role}` does not allow this; allowed: {}",
                roles
                    .iter()
                    .map(|r| r.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ))
    }
}

/// A set of roles a route admits (declared in `routes::allowed`).
pub trait RoleSet: Send + Sync + 'static {
    const ROLES: &'static [Role];
}

/// A request authenticated and authorised for one of `R`'s roles. Extracted before any body
/// (axum runs the body extractor last), so a role that may not act hears 403 whatever it sent,
/// without the body being read or validated; and the same type writes `x-required-roles` into
/// the OpenAPI document, so the check and the documentation cannot disagree.
#[derive(Debug)]
pub struct Authorized<R>(pub RequestContext, pub std::marker::PhantomData<fn() -> R>);

/// The OpenAPI extension naming an operation's roles.
pub const REQUIRED_ROLES: &str = "x-required-roles";

impl<R: RoleSet> FromRequestParts<AppState> for Authorized<R> {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let ctx = RequestContext::from_request_parts(parts, state).await?;
        ctx.require(R::ROLES)?;
        Ok(Authorized(ctx, std::marker::PhantomData))
    }
}

impl<R: RoleSet> OperationInput for Authorized<R> {
    fn operation_input(ctx: &mut GenContext, operation: &mut Operation) {
        RequestContext::operation_input(ctx, operation);
        let names: Vec<&str> = R::ROLES.iter().map(|r| r.as_str()).collect();
        operation
            .extensions
            .insert(REQUIRED_ROLES.into(), serde_json::json!(names));
    }

    fn inferred_early_responses(
        ctx: &mut GenContext,
        operation: &mut Operation,
    ) -> Vec<(Option<DocStatus>, Response)> {
        RequestContext::inferred_early_responses(ctx, operation)
    }
}

fn header_text<'a>(parts: &'a Parts, name: &'static str) -> Result<Option<&'a str>, ApiError> {
    match parts.headers.get(name) {
        None => Ok(None),
        Some(v) => v.to_str().map(Some).map_err(|_| {
            ApiError::field(
                ProblemKind::BadParameter,
                Location::Header,
                format!("/{name}"),
                "must be visible ASCII",
            )
        }),
    }
}

impl FromRequestParts<AppState> for RequestContext {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let unauthorized = |message: String| {
            ApiError::field(
                ProblemKind::Unauthorized,
                Location::Header,
                "/authorization",
                message,
            )
        };
        let tenant_header = header_text(parts, TENANT_HEADER)?
            .map(TenantId::parse)
            .transpose()
            .map_err(|e| {
                ApiError::field(
                    ProblemKind::BadParameter,
                    Location::Header,
                    format!("/{TENANT_HEADER}"),
                    e,
                )
            })?;
        let actor = header_text(parts, ACTOR_HEADER)?
            .unwrap_or("anonymous")
            .trim()
            .to_owned();
        if actor.is_empty() || actor.len() > 100 {
            return Err(ApiError::field(
                ProblemKind::BadParameter,
                Location::Header,
                format!("/{ACTOR_HEADER}"),
                "must be 1 to 100 characters",
            ));
        }
        let authorization = header_text(parts, "authorization")
            .map_err(|_| unauthorized("the Authorization header must be visible ASCII".into()))?;
        let principal = state
            .access
            .authenticate(
                authorization,
                &tenant_header
                    .clone()
                    .unwrap_or_else(TenantId::default_tenant),
                &actor,
                state.app.time().now(),
            )
            .map_err(|e| unauthorized(e.to_string()))?;
        // With a key, the key decides the tenant; a header naming another one is a client
        // that believes it acts for someone else.
        if let Some(tenant) = &tenant_header
            && *tenant != principal.tenant
        {
            return Err(ApiError::field(
                ProblemKind::Forbidden,
                Location::Header,
                format!("/{TENANT_HEADER}"),
                format!(
                    "the API key acts for tenant `{}`, not `{tenant}`",
                    principal.tenant
                ),
            ));
        }
        Ok(RequestContext {
            tenant: principal.tenant.clone(),
            actor: Actor::api(principal.actor_id()),
            principal,
        })
    }
}

fn header_parameter(name: &str, description: &str, example: &str) -> ReferenceOr<Parameter> {
    ReferenceOr::Item(Parameter::Header {
        parameter_data: ParameterData {
            name: name.into(),
            description: Some(description.into()),
            required: false,
            deprecated: None,
            format: ParameterSchemaOrContent::Schema(SchemaObject {
                json_schema: schemars::json_schema!({"type": "string"}),
                example: Some(serde_json::Value::String(example.into())),
                external_docs: None,
            }),
            example: None,
            examples: Default::default(),
            explode: None,
            extensions: Default::default(),
        },
        style: HeaderStyle::Simple,
    })
}

impl OperationInput for RequestContext {
    fn operation_input(_ctx: &mut GenContext, operation: &mut Operation) {
        operation.parameters.push(header_parameter(
            "X-Redress-Tenant",
            "Open-access (development) servers only: the tenant the request acts for; `default` \
             when absent. With API keys the key decides the tenant, and a header naming another \
             tenant is refused (403).",
            "default",
        ));
        operation.parameters.push(header_parameter(
            "X-Redress-Actor",
            "Open-access (development) servers only: who acts, recorded in the case history. With \
             API keys the key's holder, role and id are recorded.",
            "li.si",
        ));
        operation.security.push(
            [(SECURITY_SCHEME.to_owned(), Vec::new())]
                .into_iter()
                .collect(),
        );
    }

    fn inferred_early_responses(
        ctx: &mut GenContext,
        _operation: &mut Operation,
    ) -> Vec<(Option<DocStatus>, Response)> {
        vec![
            (
                Some(DocStatus::Code(400)),
                problem_response(ctx, "A header is invalid"),
            ),
            (
                Some(DocStatus::Code(401)),
                problem_response(
                    ctx,
                    "No valid API key: missing, malformed, unknown, revoked or expired",
                ),
            ),
            (
                Some(DocStatus::Code(403)),
                problem_response(
                    ctx,
                    "The key's role does not allow this, or X-Redress-Tenant names another tenant",
                ),
            ),
        ]
    }
}

/// The name of the API-key security scheme in the OpenAPI document.
pub const SECURITY_SCHEME: &str = "apiKey";

/// `Idempotency-Key`: a retried create with the same key returns the first case.
#[derive(Debug, Clone)]
pub struct IdempotencyKey(pub Option<String>);

impl<S: Send + Sync> FromRequestParts<S> for IdempotencyKey {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let Some(key) = header_text(parts, IDEMPOTENCY_HEADER)? else {
            return Ok(IdempotencyKey(None));
        };
        if key.is_empty() || key.len() > 200 {
            return Err(ApiError::field(
                ProblemKind::BadParameter,
                Location::Header,
                "/idempotency-key",
                "must be 1 to 200 characters",
            ));
        }
        Ok(IdempotencyKey(Some(key.to_owned())))
    }
}

impl OperationInput for IdempotencyKey {
    fn operation_input(_ctx: &mut GenContext, operation: &mut Operation) {
        operation.parameters.push(header_parameter(
            "Idempotency-Key",
            "A client-chosen key; retrying a create with the same key returns the case the first attempt created (200) instead of registering another.",
            "ticket-2026-000123",
        ));
    }
}

/// `If-Match: "<version>"`: refuse the write (412) unless the case is still at that version.
#[derive(Debug, Clone, Copy)]
pub struct IfMatch(pub Option<u64>);

impl<S: Send + Sync> FromRequestParts<S> for IfMatch {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let Some(raw) = header_text(parts, "if-match")? else {
            return Ok(IfMatch(None));
        };
        let trimmed = raw.trim().trim_start_matches("W/").trim_matches('"');
        trimmed.parse().map(|v| IfMatch(Some(v))).map_err(|_| {
            ApiError::field(
                ProblemKind::BadParameter,
                Location::Header,
                "/if-match",
                "must be a case version as returned in ETag, e.g. \"3\"",
            )
        })
    }
}

impl OperationInput for IfMatch {
    fn operation_input(_ctx: &mut GenContext, operation: &mut Operation) {
        operation.parameters.push(header_parameter(
            "If-Match",
            "The case version (its ETag) the action was decided on; the action is refused with 412 if the case has changed since.",
            "\"3\"",
        ));
    }

    fn inferred_early_responses(
        ctx: &mut GenContext,
        _operation: &mut Operation,
    ) -> Vec<(Option<DocStatus>, Response)> {
        vec![(
            Some(DocStatus::Code(412)),
            problem_response(ctx, "The case changed since that version"),
        )]
    }
}

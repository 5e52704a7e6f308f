//! The HTTP API: axum routes under `/v1`, problem-details errors, and an OpenAPI 3.1 document
//! generated from the same types the handlers use.

pub mod body_errors;
pub mod connections;
pub mod extract;
pub mod problem;
pub mod routes;
pub mod wire;

use std::{future::Future, sync::Arc, time::Duration};

use aide::openapi::{Info, OpenApi, Tag};
use axum::{
    Extension, Router,
    body::Body,
    http::{HeaderValue, Request, header},
    response::{IntoResponse, Response},
};
use tower_http::{
    request_id::{MakeRequestUuid, PropagateRequestIdLayer, RequestId, SetRequestIdLayer},
    trace::{DefaultOnResponse, TraceLayer},
};

use crate::{access::AccessControl, service::Redress, tracking::Tracking};
pub use connections::ConnectionLimits;
use extract::{BodyLimit, BodyReadTimeout};
use problem::{ApiError, ProblemKind};

#[derive(Debug, Clone)]
pub struct AppState {
    pub app: Redress,
    pub access: Arc<AccessControl>,
    pub tracking: Arc<Tracking>,
    /// Signs the audit checkpoints `GET /v1/audit/checkpoint` hands out (`serve --audit-key`).
    pub audit_key: Option<Arc<crate::rules::signing::VendorKey>>,
    /// One audit verification at a time: it reads the whole store.
    pub audit_running: Arc<tokio::sync::Semaphore>,
    /// The console's accounts and sessions.
    pub console: Arc<crate::console::Console>,
    openapi: Arc<Vec<u8>>,
}

#[derive(Debug, Clone)]
pub struct HttpOptions {
    pub max_body_bytes: usize,
    /// How long a client has to send a request body once its headers are in.
    pub body_read_timeout: Duration,
    /// Who may do what.
    pub access: Arc<AccessControl>,
    /// The key behind complainants' tracking secrets.
    pub tracking: Arc<Tracking>,
    /// The key that signs audit checkpoints, kept outside the data directory.
    pub audit_key: Option<Arc<crate::rules::signing::VendorKey>>,
    /// People's accounts and sessions for the console.
    pub console: Arc<crate::console::Console>,
}

impl HttpOptions {
    /// An open-access (development) server with a tracking key for this process only, for
    /// benchmarks and tests.
    pub fn development() -> std::io::Result<HttpOptions> {
        Ok(HttpOptions {
            max_body_bytes: extract::DEFAULT_BODY_LIMIT,
            body_read_timeout: connections::DEFAULT_READ_TIMEOUT,
            access: Arc::new(AccessControl::open_access()),
            tracking: Arc::new(Tracking::ephemeral()?),
            audit_key: None,
            console: Arc::new(crate::console::Console::in_memory()),
        })
    }
}

/// The routes and their OpenAPI description, built together so they cannot drift apart.
fn api() -> (Router<AppState>, OpenApi) {
    aide::generate::infer_responses(true);
    aide::generate::extract_schemas(true);
    let mut openapi = OpenApi {
        info: Info {
            title: "Redress API".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: Some(
                "Complaint cases for regulated sectors: registration, lifecycle, hash-chained history. \
                 Errors are application/problem+json (RFC 9457); invalid input names each field."
                    .into(),
            ),
            ..Info::default()
        },
        tags: vec![
            Tag { name: "cases".into(), ..Tag::default() },
            Tag { name: "clocks".into(), ..Tag::default() },
            Tag { name: "rulesets".into(), ..Tag::default() },
            Tag { name: "routing".into(), ..Tag::default() },
            Tag { name: "tracking".into(), ..Tag::default() },
            Tag { name: "audit".into(), ..Tag::default() },
            Tag { name: "operations".into(), ..Tag::default() },
        ],
        ..OpenApi::default()
    };
    let router = routes::routes().finish_api(&mut openapi);
    openapi
        .components
        .get_or_insert_with(Default::default)
        .security_schemes
        .insert(
            extract::SECURITY_SCHEME.into(),
            aide::openapi::ReferenceOr::Item(aide::openapi::SecurityScheme::Http {
                scheme: "bearer".into(),
                bearer_format: Some("rdk_<id>_<secret>".into()),
                description: Some(
                    "An API key from `redress key create --tenant T --role R --name WHO`: it decides \
                     the tenant and the role. Each operation lists the roles it accepts in \
                     `x-required-roles`. An open-access development server (`--open-access`) \
                     needs none."
                        .into(),
                ),
                extensions: Default::default(),
            }),
        );
    (router, openapi)
}

/// Adds a sentence naming each operation's roles to its description, from the
/// `x-required-roles` that its `Authorized<...>` extractor wrote (after aide has applied the
/// route's own description, which would otherwise replace it).
fn annotate_roles(document: &mut serde_json::Value) {
    let Some(paths) = document
        .get_mut("paths")
        .and_then(serde_json::Value::as_object_mut)
    else {
        return;
    };
    for operation in paths
        .values_mut()
        .filter_map(serde_json::Value::as_object_mut)
        .flat_map(|item| item.values_mut())
        .filter_map(serde_json::Value::as_object_mut)
    {
        let Some(names) = operation
            .get(extract::REQUIRED_ROLES)
            .and_then(serde_json::Value::as_array)
            .map(|roles| {
                roles
                    .iter()
                    .filter_map(serde_json::Value::as_str)
                    .collect::<Vec<_>>()
                    .join(", ")
            })
        else {
            continue;
        };
        let sentence = format!("Roles: {names}.");
        let description = match operation.get("description").and_then(|d| d.as_str()) {
            Some(text) => format!("{text}\n\n{sentence}"),
            None => sentence,
        };
        operation.insert("description".into(), description.into());
    }
}

/// The OpenAPI document served at `/v1/openapi.json` and committed under `schemas/`.
pub fn openapi_document() -> serde_json::Value {
    let (_, openapi) = api();
    let mut document = serde_json::to_value(&openapi).unwrap_or(serde_json::Value::Null);
    annotate_roles(&mut document);
    document
}

async fn serve_openapi(axum::extract::State(state): axum::extract::State<AppState>) -> Response {
    let mut response = state.openapi.as_ref().clone().into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

async fn unknown_route(request: Request<Body>) -> Response {
    let path = request.uri().path();
    // The console's pages answer in words (HTML), with the console's security headers.
    if path == "/console" || path.starts_with("/console/") {
        return crate::console::not_found(request.headers(), path);
    }
    ApiError::not_found(format!("no route for {path}")).into_response()
}

async fn method_not_allowed(request: Request<Body>) -> Response {
    let path = request.uri().path();
    if path == "/" || path == "/console" || path.starts_with("/console/") {
        return crate::console::method_not_allowed(request.headers(), path);
    }
    ApiError::new(
        ProblemKind::MethodNotAllowed,
        format!("{} is not allowed on {path}", request.method()),
    )
    .into_response()
}

/// The whole HTTP application.
pub fn router(app: Redress, options: &HttpOptions) -> Router {
    let (api_router, openapi) = api();
    let mut document = serde_json::to_value(&openapi).unwrap_or(serde_json::Value::Null);
    annotate_roles(&mut document);
    let openapi = Arc::new(serde_json::to_vec_pretty(&document).unwrap_or_default());
    let state = AppState {
        app,
        access: Arc::clone(&options.access),
        tracking: Arc::clone(&options.tracking),
        audit_key: options.audit_key.clone(),
        audit_running: Arc::new(tokio::sync::Semaphore::new(1)),
        console: Arc::clone(&options.console),
        openapi,
    };
    api_router
        .route("/v1/openapi.json", axum::routing::get(serve_openapi))
        .merge(crate::console::routes())
        .fallback(unknown_route)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state)
        .layer(Extension(BodyLimit(options.max_body_bytes)))
        .layer(Extension(BodyReadTimeout(options.body_read_timeout)))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(|request: &Request<Body>| {
                    let request_id = request
                        .extensions()
                        .get::<RequestId>()
                        .and_then(|id| id.header_value().to_str().ok())
                        .unwrap_or("-");
                    // Only the method and the path: bodies and query strings may carry personal data.
                    tracing::info_span!(
                        "request",
                        method = %request.method(),
                        path = %request.uri().path(),
                        request_id = %request_id,
                    )
                })
                .on_response(DefaultOnResponse::new().level(tracing::Level::INFO)),
        )
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
}

/// Serves until `shutdown` completes, then finishes the requests in flight, with the default
/// [`ConnectionLimits`].
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    connections::serve(listener, router, ConnectionLimits::default(), shutdown).await
}

#[cfg(test)]
mod tests {
    /// A route that needs a key must say which roles it admits, so that a new route cannot
    /// take a bare `RequestContext` (it would admit every role) instead of `Authorized<...>`.
    #[test]
    fn every_secured_operation_names_its_roles() {
        let document = super::openapi_document();
        let mut checked = 0;
        for (path, item) in document["paths"].as_object().into_iter().flatten() {
            for (method, operation) in item.as_object().into_iter().flatten() {
                let secured = operation["security"]
                    .as_array()
                    .is_some_and(|s| !s.is_empty());
                let roles = operation["x-required-roles"].as_array();
                assert_eq!(
                    secured,
                    roles.is_some_and(|r| !r.is_empty()),
                    "{method} {path}"
                );
                checked += usize::from(secured);
            }
        }
        assert!(checked >= 11, "{checked}");
    }
}

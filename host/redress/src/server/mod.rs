//! The HTTP API: axum routes under `/v1`, problem-details errors, and an OpenAPI 3.1 document
//! generated from the same types the handlers use.

pub mod extract;
pub mod problem;
pub mod routes;

use std::{future::Future, net::SocketAddr, sync::Arc};

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

use crate::service::Redress;
use extract::BodyLimit;
use problem::{ApiError, ProblemKind};

#[derive(Debug, Clone)]
pub struct AppState {
    pub app: Redress,
    openapi: Arc<Vec<u8>>,
}

#[derive(Debug, Clone)]
pub struct HttpOptions {
    pub max_body_bytes: usize,
}

impl Default for HttpOptions {
    fn default() -> Self {
        HttpOptions {
            max_body_bytes: extract::DEFAULT_BODY_LIMIT,
        }
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
            Tag { name: "operations".into(), ..Tag::default() },
        ],
        ..OpenApi::default()
    };
    let router = routes::routes().finish_api(&mut openapi);
    (router, openapi)
}

/// The OpenAPI document served at `/v1/openapi.json` and committed under `schemas/`.
pub fn openapi_document() -> serde_json::Value {
    let (_, openapi) = api();
    serde_json::to_value(&openapi).unwrap_or(serde_json::Value::Null)
}

async fn serve_openapi(axum::extract::State(state): axum::extract::State<AppState>) -> Response {
    let mut response = state.openapi.as_ref().clone().into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

async fn unknown_route(request: Request<Body>) -> ApiError {
    ApiError::not_found(format!("no route for {}", request.uri().path()))
}

async fn method_not_allowed(request: Request<Body>) -> ApiError {
    ApiError::new(
        ProblemKind::MethodNotAllowed,
        format!(
            "{} is not allowed on {}",
            request.method(),
            request.uri().path()
        ),
    )
}

/// The whole HTTP application.
pub fn router(app: Redress, options: &HttpOptions) -> Router {
    let (api_router, openapi) = api();
    let openapi = Arc::new(serde_json::to_vec_pretty(&openapi).unwrap_or_default());
    let state = AppState { app, openapi };
    api_router
        .route("/v1/openapi.json", axum::routing::get(serve_openapi))
        .fallback(unknown_route)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state)
        .layer(Extension(BodyLimit(options.max_body_bytes)))
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

/// Serves until `shutdown` completes, then finishes the requests in flight.
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(
        listener,
        router.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
}

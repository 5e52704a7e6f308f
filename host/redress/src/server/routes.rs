//! The `/v1` routes. Handlers only translate between HTTP and the service.

use std::sync::Arc;

use aide::{
    OperationOutput,
    axum::{
        ApiRouter,
        routing::{get_with, post_with},
    },
    generate::GenContext,
    openapi::{Operation, Response as DocResponse, StatusCode as DocStatus},
    transform::TransformOperation,
};
use axum::{
    Json,
    extract::State,
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use jiff::Timestamp;
use redress_domain::{
    Case, CaseId, CaseIntake, EventRecord, HandlerAction, Status, TrackingCode,
    case::Sector,
    clock::{CaseClock, ClockAction},
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{
    AppState,
    extract::{
        ApiJson, ApiQuery, Authorized, CaseIdPath, IdempotencyKey, IfMatch, PeerAddr,
        RequestContext, RoleSet, RulesetPath,
    },
    problem::{ApiError, Location, ProblemKind},
};
use crate::{
    rules::registry::{Package, RulesetSummary},
    store::{Created, ListQuery},
};

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

fn etag(case: &Case) -> String {
    format!("\"{}\"", case.version)
}

/// A page of cases, newest first.
#[derive(Debug, Serialize, JsonSchema)]
pub struct CaseList {
    pub items: Vec<Case>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// A case and the events an action just recorded on it (an action that ends a case also stops
/// its clocks, in the same write).
#[derive(Debug, Serialize, JsonSchema)]
pub struct ActionResult {
    pub case: Case,
    pub events: Vec<EventRecord>,
}

/// A clock with what is left of it.
#[derive(Debug, Serialize, JsonSchema)]
pub struct ClockView {
    pub name: String,
    #[serde(flatten)]
    pub clock: CaseClock,
    /// Seconds until `due_at` (negative once past); absent while paused or ended.
    pub remaining_seconds: Option<i64>,
    /// For working-day clocks: whole working days left after today, by the clock's calendar.
    pub remaining_working_days: Option<i64>,
    /// What is left in the clock's own unit: for every clock that still owes something
    /// (running, paused, breached); absent only once it was met or stopped.
    pub remaining: Option<crate::deadlines::RemainingTime>,
}

/// A case's clocks, as of `now`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct ClockList {
    pub case_id: CaseId,
    pub now: Timestamp,
    pub clocks: Vec<ClockView>,
}

/// A case's whole history, oldest first.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Timeline {
    pub case_id: CaseId,
    pub tracking_code: TrackingCode,
    pub events: Vec<EventRecord>,
}

/// Listing filters.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListParams {
    pub status: Option<Status>,
    pub sector: Option<Sector>,
    /// Only cases received at or after this instant (RFC 3339).
    pub received_from: Option<Timestamp>,
    /// Only cases received before this instant (RFC 3339).
    pub received_before: Option<Timestamp>,
    /// Only cases with a running clock due before this instant; listed soonest first.
    pub due_before: Option<Timestamp>,
    /// Only cases with a breached clock.
    pub overdue: Option<bool>,
    /// Only cases with this clock; with `due_before` or `overdue`, only this clock counts.
    pub clock: Option<String>,
    /// Only cases in manual handling (the rules could not decide), newest first.
    pub manual: Option<bool>,
    /// From a previous page's `next_cursor`.
    pub cursor: Option<String>,
    /// Page size, 1 to 500 (default 50).
    pub limit: Option<u32>,
}

const MAX_PAGE: u32 = 500;

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
        /// Verifying the histories and taking signed checkpoints: an auditor for the tenant's
        /// cases, the operator for every tenant's.
        Audit = [Auditor, Operator];
    }
}

/// A case as the caller may see it: identity fields masked for the roles that do not need them.
fn visible(ctx: &RequestContext, mut case: Case) -> Case {
    if !ctx.principal.sees_identity() {
        case.intake.complainant.mask_identity();
    }
    case
}

/// A handler works only the cases assigned to them.
async fn check_handler_may_work(
    state: &AppState,
    ctx: &RequestContext,
    id: CaseId,
) -> Result<(), ApiError> {
    if ctx.principal.role != Some(crate::access::Role::Handler) {
        return Ok(());
    }
    let case = state
        .app
        .get(ctx.tenant.clone(), id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no case {id}")))?;
    match &case.assignment {
        Some(assignment) if assignment.assignee == ctx.principal.name => Ok(()),
        Some(assignment) => Err(ApiError::new(
            ProblemKind::Forbidden,
            format!(
                "the case is assigned to `{}`; a handler works only the cases assigned to them",
                assignment.assignee
            ),
        )),
        None => Err(ApiError::new(
            ProblemKind::Forbidden,
            "the case is not assigned; a supervisor assigns it first",
        )),
    }
}

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

/// What a complainant sees with the tracking code and secret: where the case stands, the next
/// deadline and the outcome. No personal data, no handlers, no notes.
#[derive(Debug, Serialize, JsonSchema)]
pub struct TrackingView {
    pub tracking_code: TrackingCode,
    pub sector: Sector,
    pub status: Status,
    pub received_at: Timestamp,
    pub updated_at: Timestamp,
    /// The earliest statutory deadline still running.
    pub next_deadline: Option<NextDeadline>,
    pub outcome: Option<OutcomeView>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct NextDeadline {
    /// The clock, e.g. `acceptance`.
    pub clock: String,
    pub due_at: Timestamp,
    /// The provision that sets it.
    pub article: Option<String>,
    /// The due time was computed for a year whose holiday schedule the State Council has not
    /// published yet (statutory holidays only); it will be recomputed when it is.
    pub provisional: bool,
    /// For a provisional due time: what that means, in Chinese and in English.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provisional_note: Option<String>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct OutcomeView {
    pub kind: redress_domain::case::OutcomeKind,
    pub ground: Option<String>,
    pub article: Option<String>,
    pub at: Timestamp,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct TrackPath {
    /// The tracking code given at intake, as typed: any case, hyphens and `RD` optional.
    pub code: String,
}

async fn track(
    State(state): State<AppState>,
    PeerAddr(peer): PeerAddr,
    axum::extract::Path(path): axum::extract::Path<TrackPath>,
    headers: HeaderMap,
) -> Result<Reply<TrackingView, 200>, ApiError> {
    let secret = headers
        .get("x-tracking-secret")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let not_found = || ApiError::not_found(crate::tracking::TrackError::NotFound.to_string());
    let code = TrackingCode::normalise(&path.code).ok_or_else(not_found)?;
    state
        .tracking
        .check(
            peer.unwrap_or(std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED)),
            code.as_str(),
            secret,
        )
        .map_err(|e| match e {
            crate::tracking::TrackError::NotFound => ApiError::not_found(e.to_string()),
            crate::tracking::TrackError::TooMany(_) => {
                ApiError::new(ProblemKind::TooManyRequests, e.to_string())
            }
        })?;
    let case = state
        .app
        .get_by_tracking_code(code.as_str().to_owned())
        .await?
        .ok_or_else(not_found)?;
    let next_deadline = case
        .clocks
        .iter()
        .filter_map(|(name, clock)| clock.breach_pending().map(|due| (due, name, clock)))
        .min_by_key(|(due, _, _)| *due)
        .map(|(due_at, name, clock)| NextDeadline {
            clock: name.clone(),
            due_at,
            article: clock.spec.article.clone(),
            provisional: clock.provisional,
            provisional_note: clock
                .provisional
                .then(|| crate::deadlines::provisional_note(&clock.provisional_years)),
        });
    Ok(Reply::new(TrackingView {
        tracking_code: case.tracking_code,
        sector: case.sector,
        status: case.status,
        received_at: case.received_at,
        updated_at: case.updated_at,
        next_deadline,
        outcome: case.outcome.map(|o| OutcomeView {
            kind: o.kind,
            ground: o.ground,
            article: o.article,
            at: o.at,
        }),
    }))
}

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
        .get(ctx.tenant.clone(), id)
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
            super::problem::Location::Query,
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
        cursor: params.cursor,
        limit: limit as usize,
    };
    let page = state.app.list(query).await?;
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
    check_handler_may_work(&state, &ctx, id).await?;
    let viewer = ctx.clone();
    let (case, events) = state
        .app
        .act(ctx.tenant, id, action, ctx.actor, expected)
        .await?;
    tracing::info!(case_id = %case.id, version = case.version, status = case.status.as_str(), "action recorded");
    let tag = etag(&case);
    let case = visible(&viewer, case);
    Ok(Reply::new(ActionResult { case, events }).header(header::ETAG, &tag))
}

async fn clock_action(
    State(state): State<AppState>,
    Authorized(ctx, _): Authorized<allowed::WorkCases>,
    CaseIdPath(id): CaseIdPath,
    IfMatch(expected): IfMatch,
    ApiJson(action): ApiJson<ClockAction>,
) -> Result<Reply<ActionResult, 201>, ApiError> {
    if matches!(action, ClockAction::Extend { .. }) {
        // An extension is a supervisor's approval.
        ctx.require(allowed::Supervise::ROLES)?;
    }
    check_handler_may_work(&state, &ctx, id).await?;
    let viewer = ctx.clone();
    let (case, events) = state
        .app
        .clock_action(ctx.tenant, id, action, ctx.actor, expected)
        .await?;
    tracing::info!(case_id = %case.id, version = case.version, "clock changed");
    let tag = etag(&case);
    let case = visible(&viewer, case);
    Ok(Reply::new(ActionResult { case, events }).header(header::ETAG, &tag))
}

async fn list_clocks(
    State(state): State<AppState>,
    Authorized(ctx, _): Authorized<allowed::ReadCases>,
    CaseIdPath(id): CaseIdPath,
) -> Result<Reply<ClockList, 200>, ApiError> {
    let case = state
        .app
        .get(ctx.tenant, id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no case {id}")))?;
    let now = state.app.clock().now();
    let calendars = state.app.calendars().current();
    let clocks = case
        .clocks
        .into_iter()
        .map(|(name, clock)| {
            let remaining_seconds = clock
                .breach_pending()
                .map(|due| due.as_second() - now.as_second());
            let remaining_working_days =
                crate::deadlines::remaining_working_days(&calendars, &clock, now);
            let remaining = crate::deadlines::remaining(&calendars, &clock, now);
            ClockView {
                name,
                clock,
                remaining_seconds,
                remaining_working_days,
                remaining,
            }
        })
        .collect();
    Ok(Reply::new(ClockList {
        case_id: id,
        now,
        clocks,
    }))
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
        .events(ctx.tenant.clone(), id)
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

/// The ruleset versions this tenant can see (its own and the built-in ones).
#[derive(Debug, Serialize, JsonSchema)]
pub struct RulesetList {
    pub items: Vec<RulesetSummary>,
}

/// A ruleset package: `ruleset.toml`, the rules file, and `cases/*.yaml` fixture cases.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DeployRequest {
    /// File path inside the package → content (UTF-8 text): `ruleset.toml`, the rules,
    /// `cases/*.yaml`, a plugin's `signature.toml`.
    pub files: std::collections::BTreeMap<String, String>,
    /// File path → content in base64 (standard alphabet, padded): a plugin's `.wasm`.
    #[serde(default)]
    pub binaries: std::collections::BTreeMap<String, String>,
}

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
    let package = Package {
        origin: "upload".into(),
        files: request.files,
        binaries,
    };
    let operator = ctx.principal.is_operator();
    let (summary, created) = state.app.deploy(ctx.tenant, operator, package).await?;
    Ok(if created {
        Reply::<_, 201>::new(summary).into_response()
    } else {
        Reply::<_, 200>::new(summary).into_response()
    })
}

/// Suspending a ruleset version: new cases no longer get it, and cases pinned to it go to
/// manual handling, until it is resumed.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SuspendRequest {
    /// Why, shown in listings and in the rule failure of every case it would have decided.
    pub reason: String,
}

async fn suspend_ruleset(
    State(state): State<AppState>,
    Authorized(ctx, _): Authorized<allowed::ManageRulesets>,
    path: RulesetPath,
    ApiJson(request): ApiJson<SuspendRequest>,
) -> Result<Reply<RulesetSummary, 200>, ApiError> {
    let reason = request.reason.trim();
    if reason.is_empty() || reason.chars().count() > 500 {
        return Err(ApiError::field(
            ProblemKind::ValidationFailed,
            Location::Body,
            "/reason",
            "between 1 and 500 characters",
        ));
    }
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

/// A tenant's routing table: offices, rules and a default, as TOML (see `redress routing test`
/// and tests/routing/zhejiang-msa.toml for the format).
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RoutingDocument {
    pub toml: String,
}

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
        .map_err(|e| ApiError::new(ProblemKind::Internal, e.to_string()))?
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

/// The plugin-vendor keys a tenant trusts for its own plugins: `[[key]]` entries as
/// `redress plugin keygen` writes them in `<vendor>.public.toml`.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PluginKeysDocument {
    pub toml: String,
}

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

#[derive(Debug, Serialize, JsonSchema)]
pub struct Health {
    pub status: String,
    /// Conditions that do not stop the server from serving but need an operator soon (for
    /// example a calendar whose published schedules end within 60 days).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// Readiness only: cases the rules could not decide, across tenants. Any makes the status
    /// `degraded`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manual_handling: Option<u64>,
    /// Readiness only: running or breached clocks with a provisional due time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provisional_clocks: Option<u64>,
    /// Readiness only, and only when it happened: acknowledged writes the store had lost when
    /// it was opened (`--allow-data-loss`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acknowledged_writes_lost: Option<u64>,
}

async fn healthz() -> Reply<Health, 200> {
    Reply::new(Health {
        status: "ok".into(),
        warnings: Vec::new(),
        manual_handling: None,
        provisional_clocks: None,
        acknowledged_writes_lost: None,
    })
}

/// Ready when the store answers a read.
async fn readyz(State(state): State<AppState>) -> Result<Reply<Health, 200>, ApiError> {
    let probe = CaseId::from_parts(0, 0);
    state.app.get("default".into(), probe).await.map_err(|e| {
        tracing::warn!(error = %e, "readiness probe failed");
        ApiError::new(ProblemKind::StorageUnavailable, "the store does not answer")
    })?;
    let today = state
        .app
        .clock()
        .now()
        .to_zoned(jiff::tz::TimeZone::UTC)
        .date();
    let counts = state.app.health_counts().await?;
    let mut warnings = state
        .app
        .calendars()
        .current()
        .horizon_warnings(today, crate::CALENDAR_HORIZON_WARNING_DAYS);
    if counts.provisional_clocks > 0 {
        warnings.push(format!(
            "{} open clock(s) have provisional due times (a year without a published holiday schedule: statutory holidays only); they are recomputed when the schedule is added to the calendar",
            counts.provisional_clocks
        ));
    }
    if counts.manual_handling > 0 {
        warnings.push(format!(
            "{} case(s) are in manual handling: the rules could not decide them (list them with GET /v1/cases?manual=true)",
            counts.manual_handling
        ));
    }
    let losses = state.app.store().acknowledged_losses();
    if !losses.is_empty() {
        warnings.insert(
            0,
            format!(
                "the store lost {} acknowledged write(s) (found at start-up; the server was started with --allow-data-loss): {}",
                losses.len(),
                losses
                    .iter()
                    .take(10)
                    .map(|p| p.case_id.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        );
    }
    Ok(Reply::new(Health {
        // Degraded, not down: the server serves, but people are needed.
        status: if counts.manual_handling > 0 || !losses.is_empty() {
            "degraded".into()
        } else {
            "ready".into()
        },
        manual_handling: Some(counts.manual_handling),
        provisional_clocks: Some(counts.provisional_clocks),
        acknowledged_writes_lost: (!losses.is_empty()).then_some(losses.len() as u64),
        warnings,
    }))
}

/// `POST /v1/audit/verify`: the audit of the running server (its data directory is locked, so
/// `redress audit verify --data` cannot open it): every hash chain, every snapshot against its
/// replay, every acknowledged write still there. An auditor sees the problems of the tenant's
/// cases and of the store as a whole; the operator sees all.
async fn audit_verify(
    State(state): State<AppState>,
    Authorized(ctx, _): Authorized<allowed::Audit>,
) -> Result<Reply<crate::store::AuditReport, 200>, ApiError> {
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
    let tenant = (!ctx.principal.is_operator()).then(|| ctx.tenant.clone());
    let report = tokio::task::spawn_blocking(move || -> Result<_, crate::store::StoreError> {
        let mut report = store.verify()?;
        if let Some(tenant) = &tenant {
            let heads = store.heads(Some(tenant))?;
            let own: std::collections::BTreeSet<String> =
                heads.iter().map(|(id, _, _)| id.to_string()).collect();
            report
                .problems
                .retain(|p| p.case_id.is_empty() || own.contains(&p.case_id));
            report.cases_checked = heads.len() as u64;
            report.events_checked = heads.iter().map(|(_, version, _)| version).sum();
        }
        Ok(report)
    })
    .await
    .map_err(|e| ApiError::from(crate::service::ServiceError::Task(e.to_string())))??;
    tracing::info!(tenant = %ctx.tenant, problems = report.problems.len(), "audit verified on request");
    Ok(Reply::new(report))
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
    let now = state.app.clock().now();
    let checkpoint = tokio::task::spawn_blocking(move || {
        crate::audit::checkpoint(store.as_ref(), tenant.as_deref(), now, &key)
    })
    .await
    .map_err(|e| ApiError::from(crate::service::ServiceError::Task(e.to_string())))?
    .map_err(|e| match e {
        crate::audit::AuditError::Store(e) => ApiError::from(e),
        other => ApiError::new(ProblemKind::Internal, other.to_string()),
    })?;
    Ok(Reply::new(checkpoint))
}

pub(crate) fn routes() -> ApiRouter<AppState> {
    ApiRouter::new()
        .api_route(
            "/v1/cases",
            post_with(create_case, create_case_docs).get_with(list_cases, |op| {
                op.id("listCases").tag("cases").summary(
                    "List the tenant's cases, newest first, with filters and cursor pagination",
                )
            }),
        )
        .api_route(
            "/v1/cases/{id}",
            get_with(get_case, |op| {
                op.id("getCase")
                    .tag("cases")
                    .summary("Get a case; its ETag is its version")
            }),
        )
        .api_route(
            "/v1/cases/{id}/events",
            post_with(record_action, record_action_docs),
        )
        .api_route(
            "/v1/cases/{id}/clocks",
            post_with(clock_action, |op| {
                op.id("changeClock")
                    .tag("clocks")
                    .summary("Start, pause, resume, extend, restart or stop a statutory clock")
                    .description(
                        "The due time is computed with the clock's calendar (start day excluded, working \
                         days with make-up workdays, calendar days rolled off rest days) and recorded \
                         with its explanation. A change the clock's state does not allow is refused \
                         with 409; a date the calendar does not cover, with 422. A handler changes \
                         only the clocks of cases assigned to them; an extension is a supervisor's \
                         approval.",
                    )
                    .response_with::<409, ApiError, _>(|r| r.description("The clock's state does not allow this change"))
            })
            .get_with(list_clocks, |op| {
                op.id("listClocks").tag("clocks").summary("A case's clocks with due times, remaining time and explanations")
            }),
        )
        .api_route(
            "/v1/cases/{id}/timeline",
            get_with(timeline, |op| {
                op.id("getTimeline")
                    .tag("cases")
                    .summary("A case's hash-chained history, oldest first")
            }),
        )
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
        .api_route(
            "/v1/track/{code}",
            get_with(track, |op| {
                op.id("trackCase")
                    .tag("tracking")
                    .summary("A complainant's view of their case")
                    .description(
                        "No API key: the tracking code and the secret given at intake (the \
                         `Tracking-Secret` header of the response to `POST /v1/cases`), sent as the \
                         `X-Tracking-Secret` header. Shows the status, the next deadline and the \
                         outcome, never personal data. A wrong secret and an unknown code get the \
                         same 404. Wrong secrets are counted per client address: after 10 within \
                         10 minutes (a wrong secret on a code many have guessed at counts 5), \
                         every tracking request from that address gets 429 until the 10 minutes \
                         end. A code is never locked: the right secret works from any other \
                         address.",
                    )
                    .response_with::<404, ApiError, _>(|r| r.description("No case with this code and secret"))
                    .response_with::<429, ApiError, _>(|r| r.description("Too many wrong secrets from this client address"))
            }),
        )
        .api_route(
            "/healthz",
            get_with(healthz, |op| {
                op.id("healthz").tag("operations").summary("Liveness")
            }),
        )
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
        .api_route(
            "/readyz",
            get_with(readyz, |op| {
                op.id("readyz")
                    .tag("operations")
                    .summary("Readiness: the store answers; warnings an operator must act on soon")
            }),
        )
}

//! The public complaint form, no account and no key: `/complain` (the `default` tenant) and
//! `/complain/{tenant}`, open only for the tenants that enabled it
//! (`redress tenant public-form`, `access/public_forms.rs`); any other address is the same
//! "not found" page, so the form says nothing about which tenants exist.
//!
//! - `GET`: the sectors the tenant offers, then the fields a member of the public fills (what
//!   happened, what they want, whom it is about, how to reach them) and the consent to the
//!   processing of their personal information. Its CSRF token is a signed double submit: a
//!   cookie `redress_complain` and a hidden field with the same value, which is
//!   `<issued>.<nonce>.<HMAC>` under a key derived from the server's tracking key, bound to
//!   the tenant and valid for 4 hours (there is no session to bind it to).
//! - `POST`: the token first; then the fields, read through `forms::read_intake` (the API's
//!   serde, schema and checks) with `channel = web` set here and every other field of
//!   `CaseIntake` out of the public's reach; then the client's allowance (5 complaints an
//!   hour per address, `throttle.rs`); then `Redress::create_case`, exactly as
//!   `POST /v1/cases`, as the actor `public-form`, with the form's one-time key as the
//!   idempotency key (a double submit registers one case and shows it again). The answer is
//!   the decision in plain words and the tracking code and secret, with the way to `/track`.

use askama::Template;
use axum::{
    Router,
    extract::{FromRequest, Path, Request, State},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
    routing::get,
};
use hmac::{Hmac, Mac};
use jiff::{SignedDuration, Timestamp};
use redress_domain::{Case, TenantId, case::Sector, clock::ClockState, lifecycle::Status};
use sha2::Sha256;

use super::{
    fields::{self, FieldView},
    labels::local_date,
};
use crate::{
    console::{
        Lang, Layout, PageError, Texts, read_form, render,
        sessions::{cookie, random_token, same_token, set_cookie},
    },
    forms::{self, FormFaults},
    server::{AppState, extract::PeerAddr, problem::ApiError},
    store::Created,
};

/// The form's CSRF cookie.
pub const COOKIE: &str = "redress_complain";
/// The largest form body read: a complaint is a few paragraphs.
pub const BODY_LIMIT: usize = 16 * 1024;
/// How long a form's token is good for.
const TOKEN_LIFETIME: SignedDuration = SignedDuration::from_hours(4);
/// Recorded as who registered the case.
pub const ACTOR: &str = "public-form";

/// The fields shown, in order, by group; `true`: the page requires it (a complaint needs
/// what happened, what is asked, whom it is about and how to reach the complainant).
const SHOWN: &[(&str, &[(&str, bool)])] = &[
    (
        "case",
        &[
            ("facts", true),
            ("claim", true),
            ("amount.value", false),
            ("harm_known_on", false),
        ],
    ),
    (
        "respondent",
        &[("respondent.name", true), ("respondent.address", false)],
    ),
    (
        "complainant",
        &[
            ("complainant.name", true),
            ("complainant.phone", true),
            ("complainant.address", false),
        ],
    ),
];

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/complain", get(show_default).post(submit_default))
        .route("/complain/{tenant}", get(show).post(submit))
}

#[derive(Debug, Clone)]
struct SectorChoice {
    value: String,
    label: String,
    checked: bool,
}

#[derive(Debug, Clone)]
struct Group {
    legend: String,
    fields: Vec<FieldView>,
}

#[derive(Template)]
#[template(path = "complain.html")]
struct ComplainPage {
    layout: Layout,
    action: String,
    sectors: Vec<SectorChoice>,
    sector_error: Option<String>,
    groups: Vec<Group>,
    consent_checked: bool,
    consent_error: Option<String>,
    csrf: String,
    once: String,
    errors: Vec<String>,
}

#[derive(Template)]
#[template(path = "complain_done.html")]
struct ComplainDone {
    layout: Layout,
    code: String,
    secret: String,
    accepted: bool,
    status: String,
    happened: String,
    answer_by: Vec<String>,
    ground: Option<String>,
    article: Option<String>,
    missing: Vec<String>,
}

/// Where a tenant's form lives.
fn path_of(tenant: &TenantId) -> String {
    if tenant.is_default() {
        "/complain".to_owned()
    } else {
        format!("/complain/{tenant}")
    }
}

fn layout(texts: Texts, title_key: &str, tenant: &TenantId) -> Layout {
    let mut layout = Layout::anonymous(texts, title_key, &path_of(tenant));
    // A complainant has no console: the brand leads to this form (the default tenant's) or
    // to the tracking page.
    layout.brand_href = if tenant.is_default() {
        "/complain"
    } else {
        "/track"
    };
    layout
}

/// The tenant whose form is asked for, with its sectors, if its form is open; anything else
/// (no such tenant, an id that is not one, a closed form) is one and the same 404.
fn open_form(
    state: &AppState,
    texts: Texts,
    tenant: Option<&str>,
) -> Result<(TenantId, Vec<Sector>), PageError> {
    let not_found = || PageError {
        status: StatusCode::NOT_FOUND,
        texts,
        heading_key: "complain.closed_title",
        message: texts.t("complain.closed").to_owned(),
        path: "/complain".to_owned(),
    };
    let tenant = match tenant {
        None => TenantId::default_tenant(),
        Some(id) => TenantId::parse(id).map_err(|_| not_found())?,
    };
    match state.access.public_form(&tenant) {
        Some(sectors) if !sectors.is_empty() => Ok((tenant, sectors)),
        _ => Err(not_found()),
    }
}

fn mac(state: &AppState, tenant: &TenantId, issued: i64, nonce: &str) -> Hmac<Sha256> {
    let key = state.tracking.derived_key("public-form-csrf");
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&key)
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    mac.update(format!("redress-public-form/1\n{tenant}\n{issued}\n{nonce}").as_bytes());
    mac
}

/// A new token for `tenant`'s form.
fn new_token(state: &AppState, tenant: &TenantId, now: Timestamp) -> Option<String> {
    let nonce = random_token().ok()?[..32].to_owned();
    let issued = now.as_second();
    let signature = hex::encode(mac(state, tenant, issued, &nonce).finalize().into_bytes());
    Some(format!("{issued}.{nonce}.{signature}"))
}

/// Whether `token` was made by this server for `tenant`'s form, within its lifetime.
fn token_valid(state: &AppState, tenant: &TenantId, token: &str, now: Timestamp) -> bool {
    let mut parts = token.splitn(3, '.');
    let (Some(issued), Some(nonce), Some(signature)) = (parts.next(), parts.next(), parts.next())
    else {
        return false;
    };
    let (Ok(issued), Ok(signature)) = (issued.parse::<i64>(), hex::decode(signature)) else {
        return false;
    };
    let age = now.as_second().saturating_sub(issued);
    if !(0..=TOKEN_LIFETIME.as_secs()).contains(&age) {
        return false;
    }
    // `verify_slice` compares in constant time.
    mac(state, tenant, issued, nonce)
        .verify_slice(&signature)
        .is_ok()
}

/// A random single-use key for the form (the API's `Idempotency-Key`).
fn once_key() -> String {
    random_token()
        .map(|token| format!("public-{}", &token[..32]))
        .unwrap_or_default()
}

fn sector_label(t: Texts, sector: Sector) -> String {
    t.lookup(&format!("sector.{}", sector.as_str()))
        .unwrap_or(sector.as_str())
        .to_owned()
}

fn field_label(t: Texts, name: &str) -> String {
    t.lookup(&format!("complain.field.{name}"))
        .or_else(|| t.lookup(&format!("intake.field.{name}")))
        .unwrap_or(name)
        .to_owned()
}

struct Filled<'a> {
    submitted: &'a [(String, String)],
    faults: &'a FormFaults,
    csrf: String,
    once: String,
}

fn page(t: Texts, tenant: &TenantId, sectors: &[Sector], filled: Filled<'_>) -> ComplainPage {
    let Filled {
        submitted,
        faults,
        csrf,
        once,
    } = filled;
    let error_of = |name: &str| {
        faults
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, why)| why.clone())
    };
    let picked = submitted
        .iter()
        .find(|(n, _)| n == "sector")
        .map(|(_, v)| v.as_str());
    let sectors = sectors
        .iter()
        .map(|sector| SectorChoice {
            value: sector.as_str().to_owned(),
            label: sector_label(t, *sector),
            checked: picked == Some(sector.as_str()) || sectors.len() == 1,
        })
        .collect();
    let all = forms::intake_fields();
    let groups = SHOWN
        .iter()
        .map(|(group, names)| Group {
            legend: t.t(&format!("complain.group.{group}")).to_owned(),
            fields: names
                .iter()
                .filter_map(|(name, required)| {
                    let mut field = all.iter().find(|f| f.name == *name)?.clone();
                    field.required = *required;
                    // A few lines to tell what happened: shown as a text area, read back as
                    // the one string the intake takes (`read_intake` goes by its own kinds).
                    if matches!(*name, "facts" | "claim") {
                        field.kind = forms::FieldKind::Lines;
                    }
                    Some(fields::view(
                        t,
                        "complain",
                        field_label(t, name),
                        &field,
                        submitted,
                        error_of(name),
                    ))
                })
                .collect(),
        })
        .collect();
    let errors = faults
        .iter()
        .map(|(field, why)| {
            if field.is_empty() {
                why.clone()
            } else {
                format!("{}: {why}", field_label(t, field))
            }
        })
        .collect();
    ComplainPage {
        layout: layout(t, "complain.title", tenant),
        action: path_of(tenant),
        sectors,
        sector_error: error_of("sector"),
        groups,
        consent_checked: submitted.iter().any(|(n, _)| n == "consent"),
        consent_error: error_of("consent"),
        csrf,
        once,
        errors,
    }
}

async fn show_default(
    state: State<AppState>,
    peer: PeerAddr,
    headers: HeaderMap,
) -> Result<Response, PageError> {
    show_form(state, peer, headers, None).await
}

async fn show(
    state: State<AppState>,
    peer: PeerAddr,
    headers: HeaderMap,
    Path(tenant): Path<String>,
) -> Result<Response, PageError> {
    show_form(state, peer, headers, Some(tenant)).await
}

async fn show_form(
    State(state): State<AppState>,
    PeerAddr(peer): PeerAddr,
    headers: HeaderMap,
    tenant: Option<String>,
) -> Result<Response, PageError> {
    let texts = Texts::new(Lang::from_headers(&headers));
    let (tenant, sectors) = open_form(&state, texts, tenant.as_deref())?;
    let now = state.app.time().now();
    // The token this browser already holds for this form (two tabs both work), else a new one.
    let token = match cookie(&headers, COOKIE) {
        Some(token) if token_valid(&state, &tenant, token, now) => Some(token.to_owned()),
        _ => new_token(&state, &tenant, now),
    };
    let Some(token) = token else {
        tracing::error!("no public form token");
        return Err(PageError::server(texts, &path_of(&tenant)));
    };
    let mut response = render(
        StatusCode::OK,
        &page(
            texts,
            &tenant,
            &sectors,
            Filled {
                submitted: &[],
                faults: &Vec::new(),
                csrf: token.clone(),
                once: once_key(),
            },
        ),
    );
    let secure = state.console.secure(&headers, peer);
    if let Ok(value) = HeaderValue::from_str(&set_cookie(COOKIE, &token, secure)) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    Ok(response)
}

/// The form body, capped at [`BODY_LIMIT`].
struct PublicBody(Vec<(String, String)>);

impl<S: Send + Sync> FromRequest<S> for PublicBody {
    type Rejection = PageError;

    async fn from_request(request: Request, _state: &S) -> Result<Self, Self::Rejection> {
        read_form(request, BODY_LIMIT).await.map(PublicBody)
    }
}

async fn submit_default(
    state: State<AppState>,
    peer: PeerAddr,
    headers: HeaderMap,
    body: PublicBody,
) -> Result<Response, PageError> {
    file(state, peer, headers, None, body).await
}

async fn submit(
    state: State<AppState>,
    peer: PeerAddr,
    headers: HeaderMap,
    Path(tenant): Path<String>,
    body: PublicBody,
) -> Result<Response, PageError> {
    file(state, peer, headers, Some(tenant), body).await
}

/// The page that says when the client may file again.
fn too_many(texts: Texts, tenant: &TenantId, until: Timestamp) -> PageError {
    PageError {
        status: StatusCode::TOO_MANY_REQUESTS,
        texts,
        heading_key: "complain.too_many_title",
        message: texts.fill(
            "complain.too_many",
            &[("until", &super::labels::local_time(until))],
        ),
        path: path_of(tenant),
    }
}

/// What the page checks before the API's own checks: a sector the tenant offers, the fields
/// the page requires, the consent.
fn page_faults(t: Texts, sectors: &[Sector], submitted: &[(String, String)]) -> FormFaults {
    let value = |name: &str| {
        submitted
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.trim())
            .filter(|v| !v.is_empty())
    };
    let mut faults = Vec::new();
    if !value("sector").is_some_and(|s| sectors.iter().any(|x| x.as_str() == s)) {
        faults.push((
            "sector".to_owned(),
            t.t("complain.choose_sector").to_owned(),
        ));
    }
    for (_, names) in SHOWN {
        for (name, required) in *names {
            if *required && value(name).is_none() {
                faults.push(((*name).to_owned(), t.t("complain.required").to_owned()));
            }
        }
    }
    if value("consent").is_none() {
        faults.push((
            "consent".to_owned(),
            t.t("complain.consent_required").to_owned(),
        ));
    }
    faults
}

/// The API's checks say what is wrong in English, for the developers who call it: a member
/// of the public reads first that the field is not right, in their language, then the detail.
fn in_words(t: Texts, faults: FormFaults) -> FormFaults {
    faults
        .into_iter()
        .map(|(field, why)| {
            let said = t.fill("complain.invalid", &[("detail", &why)]);
            (field, said)
        })
        .collect()
}

async fn file(
    State(state): State<AppState>,
    PeerAddr(peer): PeerAddr,
    headers: HeaderMap,
    tenant: Option<String>,
    PublicBody(submitted): PublicBody,
) -> Result<Response, PageError> {
    let texts = Texts::new(Lang::from_headers(&headers));
    let (tenant, sectors) = open_form(&state, texts, tenant.as_deref())?;
    let now = state.app.time().now();
    let field = |name: &str| {
        submitted
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
    };
    // CSRF first: the cookie and the field the same, and a token this server signed.
    let token = field("csrf").unwrap_or_default();
    let csrf_ok = cookie(&headers, COOKIE).is_some_and(|c| same_token(c, &token))
        && token_valid(&state, &tenant, &token, now);
    if !csrf_ok {
        tracing::warn!(tenant = %tenant, "public form POST refused: CSRF token missing or wrong");
        return Err(PageError::csrf(texts, &path_of(&tenant)));
    }
    let console = &state.console;
    if let Some(until) = console.public_forms.blocked_until(peer, now) {
        return Err(too_many(texts, &tenant, until));
    }
    let once = field("once")
        .filter(|k| !k.is_empty())
        .unwrap_or_else(once_key);
    let refused = |faults: &FormFaults| {
        render(
            StatusCode::UNPROCESSABLE_ENTITY,
            &page(
                texts,
                &tenant,
                &sectors,
                Filled {
                    submitted: &submitted,
                    faults,
                    csrf: token.clone(),
                    once: once.clone(),
                },
            ),
        )
    };
    let faults = page_faults(texts, &sectors, &submitted);
    if !faults.is_empty() {
        return Ok(refused(&faults));
    }
    // Only the shown fields reach the intake: the public sets no channel, office, attribute.
    let mut plain: Vec<(String, String)> = submitted
        .iter()
        .filter(|(n, _)| {
            n == "sector"
                || SHOWN
                    .iter()
                    .any(|(_, names)| names.iter().any(|(shown, _)| shown == n))
        })
        .cloned()
        .collect();
    plain.push(("channel".to_owned(), "web".to_owned()));
    let intake = match forms::read_intake(&plain, now) {
        Ok(intake) => intake,
        Err(faults) => return Ok(refused(&in_words(texts, faults))),
    };
    if let Err(until) = console.public_forms.take(peer, now) {
        return Err(too_many(texts, &tenant, until));
    }
    let created = state
        .app
        .create_case(
            tenant.clone(),
            intake,
            redress_domain::Actor::api(ACTOR),
            Some(once.clone()),
        )
        .await;
    let case = match created {
        Ok(Created::New(case)) => case,
        Ok(Created::Existing(case)) => {
            // The same form sent twice: one case, counted once.
            console.public_forms.give_back(peer);
            case
        }
        Err(error) => {
            console.public_forms.give_back(peer);
            let problem = ApiError::from(error);
            if problem.0.status >= 500 {
                tracing::error!(error = %problem.0.detail, "the public form failed");
                return Err(PageError::server(texts, &path_of(&tenant)));
            }
            return Ok(refused(&in_words(texts, forms::problem_faults(&problem))));
        }
    };
    Ok(render(StatusCode::CREATED, &done(&state, texts, &tenant, &case)).into_response())
}

/// The decision in plain words.
fn done(state: &AppState, t: Texts, tenant: &TenantId, case: &Case) -> ComplainDone {
    let status = case.status.as_str();
    let happened = t
        .lookup(&format!("track.happened.{status}"))
        .map(|text| text.replace("{received}", &local_date(case.received_at)))
        .unwrap_or_else(|| status.to_owned());
    let answer_by = case
        .clocks
        .iter()
        .filter(|(_, clock)| {
            !clock.spec.window && matches!(clock.state, ClockState::Running | ClockState::Paused)
        })
        .filter_map(|(name, clock)| {
            let due = clock.due_at?;
            let what = t
                .lookup(&format!("track.step.{name}"))
                .or_else(|| t.lookup(&format!("clock.name.{name}")))
                .unwrap_or(name.as_str());
            let mut line = t.fill(
                "track.next",
                &[
                    ("what", what),
                    ("due", &local_date(due - SignedDuration::from_nanos(1))),
                ],
            );
            if let Some(article) = &clock.spec.article {
                line.push(' ');
                line.push_str(&t.fill("track.under", &[("article", article)]));
            }
            Some(line)
        })
        .collect();
    let outcome = case.outcome.as_ref();
    ComplainDone {
        layout: layout(t, "complain.done_title", tenant),
        code: case.tracking_code.as_str().to_owned(),
        secret: state.tracking.secret_for(case.tracking_code.as_str()),
        accepted: matches!(case.status, Status::Received | Status::Accepted),
        status: t
            .lookup(&format!("status.{status}"))
            .unwrap_or(status)
            .to_owned(),
        happened,
        answer_by,
        ground: outcome.and_then(|o| o.ground.clone()),
        article: outcome
            .and_then(|o| o.article.as_deref())
            .map(|article| t.fill("track.under", &[("article", article)])),
        missing: case.ruling.information_requested.clone(),
    }
}

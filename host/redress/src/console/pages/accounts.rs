//! The accounts admin page: `/console/accounts` (`allowed::ManageAccounts`: the operator for
//! every tenant, a compliance admin for its own tenant only).
//!
//! It lists the accounts the viewer may manage (with a filter), creates one, disables and
//! enables (which also ends a lock-out), resets a password and turns the second factor on (a
//! new secret) or off. Every change goes through `AccountStore::edit` with the `AccountsFile`
//! methods `redress user` uses, so the page and the command line cannot disagree.
//!
//! Invariants:
//! - a compliance admin sees and touches only its tenant's accounts, never an operator's, and
//!   cannot create an operator (nor anyone of another tenant): who may be managed is
//!   [`manages`], asked for the list and again for every change;
//! - passwords are made by the server (`accounts::generate_password`) and shown once, on the
//!   response to the change: an administrator never chooses, so never reuses or weakens one,
//!   and no password travels in a form. A reset ends the account's sessions;
//! - nobody acts on their own account here (disable, reset, TOTP): that is how an admin would
//!   lock themselves out, or the last admin out; the row shows no action for them;
//! - CSRF is checked first on every POST; a refusal names the field and changes nothing.

use askama::Template;
use axum::{
    Router,
    extract::{Path, RawQuery, State},
    http::StatusCode,
    response::Response,
    routing::{get, post},
};
use redress_domain::TenantId;

use super::{
    fields::{Choice, FieldView},
    labels::{forbidden, local_time, may, server_error},
    query_value,
};
use crate::{
    access::{OFFICE_ROLES, Role},
    console::{
        Layout, PageError, PageForm, Viewer,
        accounts::{
            Account, AccountError, NewAccount, check_username, generate_password, totp_uri,
        },
        render, role_label,
    },
    server::{AppState, extract::RoleSet, routes::allowed},
};

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/console/accounts", get(page).post(create))
        .route("/console/accounts/{username}/{change}", post(change))
}

/// Whether `viewer` may see and change `account`: the operator any account; a compliance admin
/// those of its tenant that are not the operator's.
fn manages(viewer: &Viewer, account: &Account) -> bool {
    if viewer.principal.is_operator() {
        return true;
    }
    viewer.account.role == Role::ComplianceAdmin
        && account.tenant == viewer.principal.tenant
        && account.role != Role::Operator
}

/// The roles `viewer` may give.
fn grantable(viewer: &Viewer) -> Vec<Role> {
    Role::ALL
        .into_iter()
        .filter(|role| *role != Role::Operator || viewer.principal.is_operator())
        .collect()
}

#[derive(Debug, Clone)]
struct Row {
    username: String,
    display_name: String,
    tenant: String,
    role: String,
    office: String,
    state: String,
    state_class: &'static str,
    totp: String,
    last_sign_in: String,
    is_self: bool,
    /// (path segment, button label).
    actions: Vec<(&'static str, String)>,
}

/// A password or TOTP secret, shown once.
#[derive(Debug, Clone)]
struct Shown {
    heading: String,
    username: String,
    label: String,
    secret: String,
    uri: Option<String>,
}

#[derive(Template)]
#[template(path = "accounts.html")]
struct AccountsPage {
    layout: Layout,
    scope: String,
    csrf: String,
    q: String,
    count: String,
    rows: Vec<Row>,
    fields: Vec<FieldView>,
    notice: Option<String>,
    errors: Vec<String>,
    shown: Option<Shown>,
}

/// What the create form held (kept when it is refused).
#[derive(Debug, Default, serde::Deserialize)]
struct CreateSubmitted {
    #[serde(default)]
    csrf: Option<String>,
    #[serde(default)]
    username: String,
    #[serde(default)]
    display_name: String,
    #[serde(default)]
    tenant: String,
    #[serde(default)]
    role: String,
    #[serde(default)]
    office: String,
}

fn row(viewer: &Viewer, account: &Account, now: jiff::Timestamp) -> Row {
    let t = viewer.texts;
    let (state, state_class) = if account.is_disabled() {
        (t.t("accounts.disabled"), "disabled")
    } else if account.is_locked(now) {
        (t.t("accounts.locked"), "locked")
    } else {
        (t.t("accounts.active"), "active")
    };
    let mut actions = Vec::new();
    if account.is_disabled() || account.is_locked(now) {
        actions.push(("enable", t.t("accounts.enable").to_owned()));
    }
    if !account.is_disabled() {
        actions.push(("disable", t.t("accounts.disable").to_owned()));
    }
    actions.push(("password", t.t("accounts.reset_password").to_owned()));
    actions.push(("totp-on", t.t("accounts.totp_on").to_owned()));
    if account.totp_secret.is_some() {
        actions.push(("totp-off", t.t("accounts.totp_off").to_owned()));
    }
    Row {
        username: account.username.clone(),
        display_name: account.display_name.clone(),
        tenant: account.tenant.to_string(),
        role: role_label(t, account.role).to_owned(),
        office: account.office.clone().unwrap_or_else(|| "—".into()),
        state: state.to_owned(),
        state_class,
        totp: t
            .t(if account.totp_secret.is_some() {
                "accounts.totp_yes"
            } else {
                "accounts.totp_no"
            })
            .to_owned(),
        last_sign_in: account
            .last_sign_in_at
            .map_or_else(|| "—".to_owned(), local_time),
        is_self: account.username == viewer.account.username,
        actions,
    }
}

fn matches(account: &Account, q: &str) -> bool {
    let q = q.trim().to_lowercase();
    q.is_empty()
        || [
            account.username.as_str(),
            account.display_name.as_str(),
            account.tenant.as_str(),
            account.role.as_str(),
            account.office.as_deref().unwrap_or(""),
        ]
        .iter()
        .any(|field| field.to_lowercase().contains(&q))
}

fn text_field(
    viewer: &Viewer,
    name: &str,
    value: &str,
    required: bool,
    faults: &[(&'static str, String)],
) -> FieldView {
    FieldView {
        id: format!("account-{name}"),
        name: name.to_owned(),
        label: viewer
            .texts
            .lookup(&format!("accounts.{name}"))
            .unwrap_or(name)
            .to_owned(),
        input: "text",
        required,
        value: value.to_owned(),
        checked: false,
        choices: Vec::new(),
        error: fault(faults, name),
    }
}

fn fault(faults: &[(&'static str, String)], name: &str) -> Option<String> {
    faults
        .iter()
        .find(|(field, _)| *field == name)
        .map(|(_, message)| message.clone())
}

/// The page: the accounts, the create form (with what was typed and its faults), a notice and
/// a secret shown once.
async fn build(
    state: &AppState,
    viewer: &Viewer,
    q: &str,
    form: &CreateSubmitted,
    faults: &[(&'static str, String)],
    notice: Option<String>,
    shown: Option<Shown>,
) -> Result<AccountsPage, PageError> {
    let t = viewer.texts;
    let now = state.app.time().now();
    let mut accounts = state
        .console
        .accounts
        .list()
        .map_err(|e| server_error(viewer, e))?;
    accounts.retain(|a| manages(viewer, a));
    accounts.sort_by(|a, b| (&a.tenant, &a.username).cmp(&(&b.tenant, &b.username)));
    let total = accounts.len();
    let rows: Vec<Row> = accounts
        .iter()
        .filter(|a| matches(a, q))
        .map(|a| row(viewer, a, now))
        .collect();
    let count = t.fill(
        "accounts.count",
        &[
            ("shown", &rows.len().to_string()),
            ("total", &total.to_string()),
        ],
    );
    let mut fields = vec![
        text_field(viewer, "username", &form.username, true, faults),
        text_field(viewer, "display_name", &form.display_name, false, faults),
    ];
    if viewer.principal.is_operator() {
        fields.push(text_field(viewer, "tenant", &form.tenant, true, faults));
    }
    fields.push(FieldView {
        id: "account-role".into(),
        name: "role".into(),
        label: t.t("accounts.role").to_owned(),
        input: "select",
        required: true,
        value: form.role.clone(),
        checked: false,
        choices: grantable(viewer)
            .into_iter()
            .map(|role| Choice {
                value: role.as_str().to_owned(),
                label: role_label(t, role).to_owned(),
                selected: form.role == role.as_str(),
            })
            .collect(),
        error: fault(faults, "role"),
    });
    fields.push(text_field(viewer, "office", &form.office, false, faults));
    let mut errors: Vec<String> = faults.iter().map(|(_, m)| m.clone()).collect();
    errors.dedup();
    Ok(AccountsPage {
        layout: viewer.layout("accounts.title"),
        scope: if viewer.principal.is_operator() {
            t.t("accounts.scope_all").to_owned()
        } else {
            t.fill(
                "accounts.scope_tenant",
                &[("tenant", viewer.principal.tenant.as_str())],
            )
        },
        csrf: viewer.csrf().to_owned(),
        q: q.to_owned(),
        count,
        rows,
        fields,
        notice,
        errors,
        shown,
    })
}

async fn page(
    State(state): State<AppState>,
    viewer: Viewer,
    RawQuery(raw): RawQuery,
) -> Result<Response, PageError> {
    if !may(&viewer, allowed::ManageAccounts::ROLES) {
        return Err(forbidden(&viewer));
    }
    let q = query_value(raw.as_deref(), "q").unwrap_or_default();
    let page = build(
        &state,
        &viewer,
        &q,
        &CreateSubmitted::default(),
        &[],
        None,
        None,
    )
    .await?;
    Ok(render(StatusCode::OK, &page))
}

/// Checks the form field by field, before anything is written, with the same rules as
/// `AccountsFile::create` (which checks again when it writes), in the reader's words.
fn check_new(
    state: &AppState,
    viewer: &Viewer,
    form: &CreateSubmitted,
) -> Result<NewAccount, Vec<(&'static str, String)>> {
    let t = viewer.texts;
    let mut faults = Vec::new();
    let username = form.username.trim().to_owned();
    if check_username(&username).is_err() {
        faults.push(("username", t.t("accounts.fault_username").to_owned()));
    } else if matches!(state.console.accounts.find(&username), Ok(Some(_))) {
        faults.push((
            "username",
            t.fill("accounts.fault_taken", &[("username", &username)]),
        ));
    }
    if form.display_name.trim().chars().count() > 100 {
        faults.push((
            "display_name",
            t.t("accounts.fault_display_name").to_owned(),
        ));
    }
    let tenant = if viewer.principal.is_operator() {
        match TenantId::parse(form.tenant.trim()) {
            Ok(tenant) if state.access.file().tenant_exists(&tenant) => Some(tenant),
            _ => {
                faults.push((
                    "tenant",
                    t.fill("accounts.fault_tenant", &[("tenant", form.tenant.trim())]),
                ));
                None
            }
        }
    } else {
        Some(viewer.principal.tenant.clone())
    };
    let role = grantable(viewer)
        .into_iter()
        .find(|role| role.as_str() == form.role.trim())
        .filter(|role| *role != Role::Operator || tenant.as_ref().is_none_or(TenantId::is_default));
    if role.is_none() {
        faults.push(("role", t.t("accounts.fault_role").to_owned()));
    }
    let office = Some(form.office.trim().to_owned()).filter(|o| !o.is_empty());
    if let Some(office) = &office {
        if crate::access::check_office_id(office).is_err() {
            faults.push(("office", t.t("accounts.fault_office_id").to_owned()));
        } else if role.is_some_and(|role| !OFFICE_ROLES.contains(&role)) {
            faults.push(("office", t.t("accounts.fault_office_role").to_owned()));
        } else if let Some(tenant) = &tenant {
            let table = state.app.routing().get(tenant);
            if crate::access::check_office_routed(table.as_deref(), tenant, office).is_err() {
                faults.push((
                    "office",
                    t.fill("accounts.fault_office_routed", &[("office", office)]),
                ));
            }
        }
    }
    match (tenant, role) {
        (Some(tenant), Some(role)) if faults.is_empty() => Ok(NewAccount {
            username,
            display_name: Some(form.display_name.trim().to_owned()),
            tenant,
            role,
            office,
        }),
        _ => Err(faults),
    }
}

/// `POST /console/accounts`: creates the account with a password made by the server, shown
/// once on the answer.
async fn create(
    State(state): State<AppState>,
    viewer: Viewer,
    PageForm(form): PageForm<CreateSubmitted>,
) -> Result<Response, PageError> {
    viewer.check_csrf(form.csrf.as_deref())?;
    if !may(&viewer, allowed::ManageAccounts::ROLES) {
        return Err(forbidden(&viewer));
    }
    let (state_ref, viewer_ref, form_ref) = (&state, &viewer, &form);
    let refused = move |faults: Vec<(&'static str, String)>| async move {
        let page = build(state_ref, viewer_ref, "", form_ref, &faults, None, None).await?;
        Ok::<_, PageError>(render(StatusCode::UNPROCESSABLE_ENTITY, &page))
    };
    let new = match check_new(&state, &viewer, &form) {
        Ok(new) => new,
        Err(faults) => return refused(faults).await,
    };
    let password = generate_password().map_err(|e| server_error(&viewer, e))?;
    let access = state.access.file();
    let now = state.app.time().now();
    let username = new.username.clone();
    let stored = state.console.accounts.edit(&mut |file| {
        file.create(new.clone(), &password, &access, now)
            .map(|_| ())
    });
    match stored {
        Ok(()) => {}
        Err(AccountError::Field { field, message }) => {
            return refused(vec![(field, message)]).await;
        }
        Err(e) => return Err(server_error(&viewer, e)),
    }
    tracing::info!(by = %viewer.account.username, %username, "console account created on the accounts page");
    let t = viewer.texts;
    let shown = Shown {
        heading: t.fill("accounts.created", &[("username", &username)]),
        username,
        label: t.t("accounts.password").to_owned(),
        secret: password,
        uri: None,
    };
    let page = build(
        &state,
        &viewer,
        "",
        &CreateSubmitted::default(),
        &[],
        None,
        Some(shown),
    )
    .await?;
    Ok(render(StatusCode::CREATED, &page))
}

#[derive(Debug, serde::Deserialize)]
struct ChangeSubmitted {
    #[serde(default)]
    csrf: Option<String>,
}

/// `POST /console/accounts/{username}/{change}`: disable, enable, password, totp-on, totp-off.
async fn change(
    State(state): State<AppState>,
    viewer: Viewer,
    Path((username, change)): Path<(String, String)>,
    PageForm(form): PageForm<ChangeSubmitted>,
) -> Result<Response, PageError> {
    viewer.check_csrf(form.csrf.as_deref())?;
    if !may(&viewer, allowed::ManageAccounts::ROLES) {
        return Err(forbidden(&viewer));
    }
    let t = viewer.texts;
    // Another tenant's account, or the operator's for a compliance admin, is no account here.
    let account = state
        .console
        .accounts
        .find(&username)
        .map_err(|e| server_error(&viewer, e))?
        .filter(|account| manages(&viewer, account))
        .ok_or_else(|| PageError::not_found(t, &viewer.path))?;
    let (state_ref, viewer_ref) = (&state, &viewer);
    let refuse = move |message: String| async move {
        let page = build(
            state_ref,
            viewer_ref,
            "",
            &CreateSubmitted::default(),
            &[("", message)],
            None,
            None,
        )
        .await?;
        Ok::<_, PageError>(render(StatusCode::CONFLICT, &page))
    };
    if account.username == viewer.account.username {
        return refuse(t.t("accounts.not_yourself").to_owned()).await;
    }
    let now = state.app.time().now();
    let store = &state.console.accounts;
    let mut shown = None;
    let stored = match change.as_str() {
        "disable" => store.edit(&mut |file| file.disable(&username, now)),
        "enable" => store.edit(&mut |file| file.enable(&username)),
        "password" => {
            let password = generate_password().map_err(|e| server_error(&viewer, e))?;
            let stored = store.edit(&mut |file| file.set_password(&username, &password, now));
            shown = Some(Shown {
                heading: t.fill("accounts.password_reset", &[("username", &username)]),
                username: username.clone(),
                label: t.t("accounts.password").to_owned(),
                secret: password,
                uri: None,
            });
            stored
        }
        "totp-on" => {
            let mut secret = String::new();
            let stored = store.edit(&mut |file| {
                secret = file.enable_totp(&username)?;
                Ok(())
            });
            shown = Some(Shown {
                heading: t.fill("accounts.totp_reset", &[("username", &username)]),
                username: username.clone(),
                label: t.t("accounts.totp_secret").to_owned(),
                uri: Some(totp_uri(&secret, &username, &account.tenant)),
                secret,
            });
            stored
        }
        "totp-off" => store.edit(&mut |file| file.disable_totp(&username)),
        _ => return Err(PageError::not_found(t, &viewer.path)),
    };
    stored.map_err(|e| server_error(&viewer, e))?;
    tracing::info!(by = %viewer.account.username, %username, %change, "console account changed on the accounts page");
    let notice = shown.is_none().then(|| {
        t.fill(
            &format!("accounts.done_{}", change.replace('-', "_")),
            &[("username", &username)],
        )
    });
    let page = build(
        &state,
        &viewer,
        "",
        &CreateSubmitted::default(),
        &[],
        notice,
        shown,
    )
    .await?;
    Ok(render(StatusCode::OK, &page))
}

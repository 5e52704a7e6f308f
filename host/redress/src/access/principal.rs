//! Roles, the principal a request acts as, and the office scope: the one rule deciding which
//! of the tenant's cases a principal with an office may see and act on.

use redress_domain::{Case, TenantId, case::DEFAULT_TENANT};
use serde::{Deserialize, Serialize};

/// What a key may do. Every route names the roles it accepts (see `allowed` in
/// `server/routes/mod.rs`).
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
    clap::ValueEnum,
)]
#[serde(rename_all = "snake_case")]
#[value(rename_all = "snake_case")]
pub enum Role {
    /// Registers cases (a hotline operator, an intake desk, a web form's back end).
    Intake,
    /// Works the cases assigned to them.
    Handler,
    /// Every case of the tenant; assigns cases and approves clock extensions.
    Supervisor,
    /// Deploys rulesets and plugins, suspends and resumes them.
    ComplianceAdmin,
    /// Reads everything, changes nothing; complainants' identities are masked.
    Auditor,
    /// Runs the server for every tenant: deploys the rulesets and plugins that apply to all
    /// tenants, suspends and resumes any ruleset (the built-in ones included). Only keys of
    /// the `default` tenant carry it; no case data.
    Operator,
}

impl Role {
    pub const ALL: [Role; 6] = [
        Role::Intake,
        Role::Handler,
        Role::Supervisor,
        Role::ComplianceAdmin,
        Role::Auditor,
        Role::Operator,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Intake => "intake",
            Role::Handler => "handler",
            Role::Supervisor => "supervisor",
            Role::ComplianceAdmin => "compliance_admin",
            Role::Auditor => "auditor",
            Role::Operator => "operator",
        }
    }

    /// Whether the role sees complainants' and agents' identifying fields. Those who take the
    /// complaint and work it do; those who audit or configure do not need to.
    pub fn sees_identity(self) -> bool {
        matches!(self, Role::Intake | Role::Handler | Role::Supervisor)
    }
}

/// How a principal came to act: what its actor label records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Via {
    /// An open-access (development) server: the `X-Redress-Actor` header names whoever acts.
    Open,
    /// An API key, by its id.
    Key(String),
    /// A person signed in to the console, with the display name their account gives.
    Console { display_name: String },
}

/// Who a request acts as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub tenant: TenantId,
    /// `None` on an open-access (development) server: every role.
    pub role: Option<Role>,
    pub via: Via,
    /// The key's holder, the console account's username, or the `X-Redress-Actor` header when
    /// open: what assignments name (a handler works the cases assigned to this name).
    pub name: String,
    /// The office the principal is scoped to, if any (see [`OfficeScope`]).
    pub office: Option<String>,
}

/// The cases a principal with an office may see and act on: those whose current office
/// (`Case::current_office`) is that office, and those assigned to the principal by name,
/// wherever they are. Every other case of the tenant reads as absent (404), exactly as another
/// tenant's does, so a scoped principal learns nothing of it, not even that it exists.
///
/// This is the only place the rule is written: the service's scoped reads, listings and
/// actions (`Redress::get_as`, `events_as`, `list_as`, `Acting`) and the console's pages all
/// ask it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OfficeScope {
    pub office: String,
    /// The principal's name, as assignments record it.
    pub person: String,
}

impl OfficeScope {
    pub fn admits(&self, case: &Case) -> bool {
        case.current_office() == Some(self.office.as_str())
            || case.assignee() == Some(self.person.as_str())
    }
}

/// The roles that may carry an office: those who register and work cases. The others read
/// (auditor) or configure (compliance admin, operator) the tenant as a whole; an office on them
/// would hide nothing they need hidden and is refused, so that nobody believes it does.
pub const OFFICE_ROLES: [Role; 3] = [Role::Intake, Role::Handler, Role::Supervisor];

impl Principal {
    pub fn has_any(&self, roles: &[Role]) -> bool {
        self.role.is_none_or(|role| roles.contains(&role))
    }

    pub fn sees_identity(&self) -> bool {
        self.role.is_none_or(Role::sees_identity)
    }

    /// Whether the principal holds the operator's powers across tenants. Its tenant alone never
    /// does (a `default` compliance admin acts on the `default` tenant's own things); the
    /// `operator` role does, and only on a `default` key, whatever a hand-edited file says.
    /// An open-access (development) server acting for `default` has every role, this one too.
    pub fn is_operator(&self) -> bool {
        self.tenant == DEFAULT_TENANT && self.role.is_none_or(|role| role == Role::Operator)
    }

    /// The principal's office scope, if it has an office.
    pub fn scope(&self) -> Option<OfficeScope> {
        self.office.as_ref().map(|office| OfficeScope {
            office: office.clone(),
            person: self.name.clone(),
        })
    }

    /// Whether the principal may see `case` (of its tenant; the tenant is checked by the store).
    pub fn may_see(&self, case: &Case) -> bool {
        self.scope().is_none_or(|scope| scope.admits(case))
    }

    /// How the principal appears in a case's history. Stable, because auditors read and
    /// search it:
    /// - an API key: `<holder> (<role>, key <id>)`;
    /// - the console: `<display name> (<username>, <role>, console)`;
    /// - an open-access server: the `X-Redress-Actor` header as sent.
    pub fn actor_id(&self) -> String {
        match (&self.via, self.role) {
            (Via::Key(key), Some(role)) => format!("{} ({}, key {key})", self.name, role.as_str()),
            (Via::Console { display_name }, Some(role)) => {
                format!("{display_name} ({}, {}, console)", self.name, role.as_str())
            }
            _ => self.name.clone(),
        }
    }
}

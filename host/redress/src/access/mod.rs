//! Who may do what: tenants, API keys and roles.
//!
//! The tenants and keys live in `<data>/access.json`, a small file written atomically by the
//! `redress tenant` and `redress key` commands and re-read by the server when it changes (so a
//! key can be created or revoked while the server runs, without sled's one-process lock in the
//! way). A key is shown once, at creation; the file keeps only the SHA-256 of its secret (the
//! secret is 32 random bytes, so a fast hash is enough: there is nothing to guess).
//!
//! A key reads `rdk_<id>_<secret>`: the id is public (it names the key in the file, the logs and
//! the case history), the secret is not. Requests carry it as `Authorization: Bearer <key>`.
//!
//! Without any key (a development server started with `--open-access`) requests act for the
//! tenant in `X-Redress-Tenant` with every role; the server refuses to start without keys
//! otherwise, so that no deployment is open by accident.

mod principal;
mod public_forms;

pub use principal::{OFFICE_ROLES, OfficeScope, Principal, Role, Via};
pub use public_forms::PublicForm;

use redress_domain::TenantId;
use std::{
    path::{Path, PathBuf},
    sync::{PoisonError, RwLock},
    time::SystemTime,
};

use jiff::Timestamp;
use redress_domain::case::DEFAULT_TENANT;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

const FORMAT: &str = "redress-access/1";
const KEY_PREFIX: &str = "rdk_";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TenantRecord {
    pub id: TenantId,
    pub name: String,
    pub created_at: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyRecord {
    pub id: String,
    pub tenant: TenantId,
    pub role: Role,
    /// Who holds it (a person or a system); recorded as the actor of what the key does.
    pub name: String,
    pub secret_sha256: String,
    pub created_at: Timestamp,
    pub expires_at: Option<Timestamp>,
    pub revoked_at: Option<Timestamp>,
    /// The office the key is scoped to (`OfficeScope`); absent in files written before
    /// offices existed, which load as unscoped keys.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub office: Option<String>,
}

/// The contents of `access.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccessFile {
    pub format: String,
    #[serde(default)]
    pub tenants: Vec<TenantRecord>,
    #[serde(default)]
    pub keys: Vec<KeyRecord>,
    /// The tenants whose public complaint form (`/complain`) is open, and its sectors
    /// (`public_forms.rs`). Left out of the file when empty, so files stay as they were.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub public_forms: Vec<public_forms::PublicForm>,
}

impl Default for AccessFile {
    fn default() -> Self {
        AccessFile {
            format: FORMAT.into(),
            tenants: Vec::new(),
            keys: Vec::new(),
            public_forms: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AccessError {
    #[error("{path}: {message}")]
    File { path: String, message: String },
    #[error("{0}")]
    Invalid(String),
}

/// Why a request is not authenticated (each a 401 with this text).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("an API key is required: `Authorization: Bearer rdk_<id>_<secret>`")]
    Missing,
    #[error("the Authorization header is malformed: {0}")]
    Malformed(String),
    #[error("the API key is not known")]
    Unknown,
    #[error("the API key {0} was revoked")]
    Revoked(String),
    #[error("the API key {id} expired at {at}")]
    Expired { id: String, at: Timestamp },
}

/// An office id as routing tables name them: 1 to 64 letters, digits, `.`, `-`, `_`.
pub fn check_office_id(office: &str) -> Result<(), String> {
    let valid = !office.is_empty()
        && office.len() <= 64
        && office
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'));
    if valid {
        Ok(())
    } else {
        Err(format!(
            "office `{office}` is not an office id: 1 to 64 letters, digits, `.`, `-` or `_`"
        ))
    }
}

/// Whether `role` may carry `office` (a key's or an account's): a well-formed id, on one of
/// [`OFFICE_ROLES`].
pub fn check_office_for(role: Role, office: &str) -> Result<(), String> {
    check_office_id(office)?;
    if OFFICE_ROLES.contains(&role) {
        Ok(())
    } else {
        Err(format!(
            "the `{}` role is not scoped to an office (only {} are); leave the office out",
            role.as_str(),
            OFFICE_ROLES.map(Role::as_str).join(", ")
        ))
    }
}

/// Refuses an office the tenant's routing table does not name, when the tenant has one (a
/// tenant without a table routes nothing, and any well-formed office id is accepted).
pub fn check_office_routed(
    routing: Option<&crate::routing::RoutingTable>,
    tenant: &TenantId,
    office: &str,
) -> Result<(), String> {
    match routing {
        Some(table) if table.office(office).is_none() => Err(format!(
            "office `{office}` is not in tenant `{tenant}`'s routing table"
        )),
        _ => Ok(()),
    }
}

fn secret_hash(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

fn random_hex(bytes: usize) -> Result<String, AccessError> {
    use rand::TryRngCore;
    let mut buffer = vec![0u8; bytes];
    rand::rngs::OsRng.try_fill_bytes(&mut buffer).map_err(|e| {
        AccessError::Invalid(format!("no randomness from the operating system: {e}"))
    })?;
    Ok(hex::encode(buffer))
}

impl AccessFile {
    /// Reads the file; an absent file is an empty one.
    pub fn load(path: &Path) -> Result<AccessFile, AccessError> {
        crate::durable::read_json_file(path, FORMAT, |file: &AccessFile| &file.format).map_err(
            |message| AccessError::File {
                path: path.display().to_string(),
                message,
            },
        )
    }

    /// Writes the file durably: a temporary file, synced, renamed over the old one.
    pub fn save(&self, path: &Path) -> Result<(), AccessError> {
        let text =
            serde_json::to_vec_pretty(self).map_err(|e| AccessError::Invalid(e.to_string()))?;
        crate::durable::write_file(path, &text, true).map_err(|e| AccessError::File {
            path: path.display().to_string(),
            message: e.to_string(),
        })
    }

    pub fn tenant_exists(&self, id: &str) -> bool {
        id == DEFAULT_TENANT || self.tenants.iter().any(|t| *t.id == *id)
    }

    pub fn create_tenant(
        &mut self,
        id: &TenantId,
        name: &str,
        now: Timestamp,
    ) -> Result<(), AccessError> {
        if self.tenant_exists(id) {
            return Err(AccessError::Invalid(format!(
                "tenant `{id}` already exists"
            )));
        }
        self.tenants.push(TenantRecord {
            id: id.to_owned(),
            name: name.to_owned(),
            created_at: now,
        });
        Ok(())
    }

    /// Creates a key; returns its record and the key itself, which is not stored.
    pub fn create_key(
        &mut self,
        tenant: &TenantId,
        role: Role,
        name: &str,
        office: Option<&str>,
        expires_at: Option<Timestamp>,
        now: Timestamp,
    ) -> Result<(KeyRecord, String), AccessError> {
        if !self.tenant_exists(tenant) {
            return Err(AccessError::Invalid(format!(
                "tenant `{tenant}` does not exist (create it with `redress tenant create {tenant}`)"
            )));
        }
        if role == Role::Operator && !tenant.is_default() {
            return Err(AccessError::Invalid(format!(
                "the `operator` role acts across tenants and is given only to keys of the \
                 `{DEFAULT_TENANT}` tenant, not `{tenant}`"
            )));
        }
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 100 {
            return Err(AccessError::Invalid(
                "the key's name (its holder) must be 1 to 100 characters".into(),
            ));
        }
        if let Some(office) = office {
            check_office_for(role, office).map_err(AccessError::Invalid)?;
        }
        if expires_at.is_some_and(|at| at <= now) {
            return Err(AccessError::Invalid("the expiry is in the past".into()));
        }
        let id = random_hex(6)?;
        let secret = random_hex(32)?;
        let record = KeyRecord {
            id: id.clone(),
            tenant: tenant.clone(),
            role,
            name: name.to_owned(),
            secret_sha256: secret_hash(&secret),
            created_at: now,
            expires_at,
            revoked_at: None,
            office: office.map(str::to_owned),
        };
        self.keys.push(record.clone());
        Ok((record, format!("{KEY_PREFIX}{id}_{secret}")))
    }

    pub fn revoke_key(&mut self, id: &str, now: Timestamp) -> Result<&KeyRecord, AccessError> {
        let key = self
            .keys
            .iter_mut()
            .find(|k| k.id == id)
            .ok_or_else(|| AccessError::Invalid(format!("no key `{id}`")))?;
        if key.revoked_at.is_none() {
            key.revoked_at = Some(now);
        }
        Ok(key)
    }

    /// The principal a bearer token stands for.
    pub fn authenticate(&self, token: &str, now: Timestamp) -> Result<Principal, AuthError> {
        let malformed =
            || AuthError::Malformed("not a Redress API key (`rdk_<id>_<secret>`)".into());
        let (id, secret) = token
            .strip_prefix(KEY_PREFIX)
            .and_then(|rest| rest.split_once('_'))
            .ok_or_else(malformed)?;
        if id.is_empty() || secret.is_empty() {
            return Err(malformed());
        }
        let key = self
            .keys
            .iter()
            .find(|k| k.id == id)
            .ok_or(AuthError::Unknown)?;
        // Compared as hashes: the comparison's timing says nothing about the secret.
        if key.secret_sha256 != secret_hash(secret) {
            return Err(AuthError::Unknown);
        }
        if key.revoked_at.is_some() {
            return Err(AuthError::Revoked(key.id.clone()));
        }
        if let Some(at) = key.expires_at
            && at <= now
        {
            return Err(AuthError::Expired {
                id: key.id.clone(),
                at,
            });
        }
        Ok(Principal {
            tenant: key.tenant.clone(),
            role: Some(key.role),
            via: Via::Key(key.id.clone()),
            name: key.name.clone(),
            office: key.office.clone(),
        })
    }
}

/// The server's view of `access.json`, re-read when the file changes.
#[derive(Debug)]
pub struct AccessControl {
    path: Option<PathBuf>,
    /// No keys checked (`--open-access`); the file, if any, is read for its settings only.
    open: bool,
    current: RwLock<(AccessFile, Option<SystemTime>)>,
}

fn modified(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

impl AccessControl {
    /// A development server: no keys; the tenant and actor come from headers.
    pub fn open_access() -> AccessControl {
        AccessControl {
            path: None,
            open: true,
            current: RwLock::new((AccessFile::default(), None)),
        }
    }

    /// Keys from `path`. Refused when it lists no key: a server that is not meant to be open
    /// is started with keys, or explicitly with `open_access`.
    pub fn from_file(path: &Path) -> Result<AccessControl, AccessError> {
        let control = AccessControl::from_file_allowing_none(path)?;
        if control
            .current
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .0
            .keys
            .is_empty()
        {
            return Err(AccessError::File {
                path: path.display().to_string(),
                message: "no API key exists: create one with `redress key create --tenant default \
                          --role compliance_admin --name <who>` (or a console account with \
                          `redress user create`), or start a development server with --open-access"
                    .into(),
            });
        }
        Ok(control)
    }

    /// Keys from `path`, which may list none: for a server that people use through the console
    /// (their accounts are `redress user`'s). The API then refuses every request (401) until a
    /// key is created, which the server picks up when it re-reads the file. Nothing is open.
    pub fn from_file_allowing_none(path: &Path) -> Result<AccessControl, AccessError> {
        let file = AccessFile::load(path)?;
        Ok(AccessControl {
            path: Some(path.to_owned()),
            open: false,
            current: RwLock::new((file, modified(path))),
        })
    }

    /// The tenants and keys in force (re-read first if the file changed).
    pub fn file(&self) -> AccessFile {
        if let Err(e) = self.reload_if_changed() {
            tracing::error!(error = %e, "access file change refused; the keys in force stay");
        }
        self.current
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .0
            .clone()
    }

    pub fn is_open(&self) -> bool {
        self.open
    }

    /// Re-reads the file if it changed. A file that does not parse is refused and the keys in
    /// force stay (a broken edit must not lock everyone out, nor let anyone in).
    pub fn reload_if_changed(&self) -> Result<bool, AccessError> {
        let Some(path) = &self.path else {
            return Ok(false);
        };
        let stamp = modified(path);
        if stamp
            == self
                .current
                .read()
                .unwrap_or_else(PoisonError::into_inner)
                .1
        {
            return Ok(false);
        }
        let file = AccessFile::load(path)?;
        *self.current.write().unwrap_or_else(PoisonError::into_inner) = (file, stamp);
        Ok(true)
    }

    /// Authenticates a request from its `Authorization` header (or, on an open server, its
    /// tenant and actor headers).
    pub fn authenticate(
        &self,
        authorization: Option<&str>,
        open_tenant: &TenantId,
        open_actor: &str,
        now: Timestamp,
    ) -> Result<Principal, AuthError> {
        if self.is_open() {
            return Ok(Principal {
                tenant: open_tenant.clone(),
                role: None,
                via: Via::Open,
                name: open_actor.to_owned(),
                office: None,
            });
        }
        let header = authorization.ok_or(AuthError::Missing)?;
        let (scheme, token) = header
            .trim()
            .split_once(' ')
            .ok_or_else(|| AuthError::Malformed("expected `Bearer <key>`".into()))?;
        if !scheme.eq_ignore_ascii_case("bearer") {
            return Err(AuthError::Malformed(format!(
                "scheme `{scheme}`; expected `Bearer`"
            )));
        }
        self.current
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .0
            .authenticate(token.trim(), now)
    }
}

#[cfg(test)]
mod tests;

//! People's accounts for the console: username, display name, tenant, role, optional office,
//! an argon2id password hash (PHC string), an optional TOTP secret, failed attempts and
//! lock-out, disabled.
//!
//! They live in `<data>/accounts.json` (format `redress-accounts/1`), written atomically
//! (`durable::write_file`, mode 0600) by `redress user` and by the server (failed attempts,
//! lock-out, the last TOTP step used), and re-read by the server whenever the file changed, so
//! the command line can edit it while the server runs. [`AccountStore`] is what the console
//! uses, so that a shared database can replace the file later. The server and `redress user`
//! both read, change and replace the whole file; the server reads it again just before each
//! of its writes, so an edit can be lost only to a write made in the same instant.
//!
//! Invariants:
//! - only the argon2id hash of a password is stored, never the password;
//! - a locked account verifies no password until its lock ends: 5 failures in a row (a wrong
//!   password or a wrong second-factor code) lock it for 15 minutes;
//! - a disabled account signs nobody in, and its open sessions stop working at their next
//!   request (the viewer re-reads the account on every request);
//! - sign-in says "wrong username or password" for an unknown username, a wrong password and
//!   a wrong code alike (an unknown username still costs one hash, so timing tells little);
//! - a TOTP code is accepted once: its time step must be later than the last one used.

use std::path::Path;

use argon2::{
    Argon2,
    password_hash::{PasswordHasher, PasswordVerifier},
};
use jiff::{SignedDuration, Timestamp};
use redress_domain::TenantId;
use serde::{Deserialize, Serialize};

use crate::access::{AccessFile, Role};

const FORMAT: &str = "redress-accounts/1";
/// Failures in a row that lock an account.
pub const MAX_FAILURES: u32 = 5;
/// How long a lock lasts.
pub const LOCK_DURATION: SignedDuration = SignedDuration::from_mins(15);
/// Passwords shorter than this are refused.
pub const MIN_PASSWORD_CHARS: usize = 10;
/// Longer input is refused before it is hashed (argon2 would take it, but nobody types this).
pub const MAX_PASSWORD_BYTES: usize = 1024;
/// The issuer shown by authenticator apps.
const TOTP_ISSUER: &str = "Redress";

/// One person's account.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Account {
    /// What the person types to sign in; unique across tenants.
    pub username: String,
    /// How the console greets them and how their actions are recorded.
    pub display_name: String,
    pub tenant: TenantId,
    pub role: Role,
    /// The office whose cases a handler (or supervisor) is scoped to, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub office: Option<String>,
    /// argon2id, as a PHC string.
    pub password_hash: String,
    /// Base32 (RFC 4648), when a second factor is enabled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub totp_secret: Option<String>,
    /// The last TOTP time step accepted: a code is accepted once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub totp_last_step: Option<u64>,
    /// Failures since the last success or lock.
    #[serde(default)]
    pub failed_attempts: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locked_until: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disabled_at: Option<Timestamp>,
    pub created_at: Timestamp,
    /// Sessions begun before this are ended (a changed password signs everyone out).
    pub password_changed_at: Timestamp,
    /// The last successful sign-in (absent in files written before it was kept).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_sign_in_at: Option<Timestamp>,
}

impl std::fmt::Debug for Account {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Account")
            .field("username", &self.username)
            .field("tenant", &self.tenant)
            .field("role", &self.role)
            .field("office", &self.office)
            .field("totp", &self.totp_secret.is_some())
            .field("failed_attempts", &self.failed_attempts)
            .field("locked_until", &self.locked_until)
            .field("disabled_at", &self.disabled_at)
            .finish_non_exhaustive()
    }
}

impl Account {
    pub fn is_locked(&self, now: Timestamp) -> bool {
        self.locked_until.is_some_and(|until| until > now)
    }

    pub fn is_disabled(&self) -> bool {
        self.disabled_at.is_some()
    }
}

/// The contents of `accounts.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountsFile {
    pub format: String,
    #[serde(default)]
    pub accounts: Vec<Account>,
}

impl Default for AccountsFile {
    fn default() -> Self {
        AccountsFile {
            format: FORMAT.into(),
            accounts: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AccountError {
    #[error("{path}: {message}")]
    File { path: String, message: String },
    #[error("{0}")]
    Invalid(String),
    #[error("no account `{0}`")]
    Unknown(String),
    /// What a form field holds is refused (the console names the field; the CLI says the
    /// message).
    #[error("{message}")]
    Field {
        field: &'static str,
        message: String,
    },
}

impl AccountError {
    fn field(field: &'static str, error: AccountError) -> AccountError {
        match error {
            AccountError::Invalid(message) => AccountError::Field { field, message },
            other => other,
        }
    }
}

/// Why a sign-in failed. Only [`SignInError::WrongCredentials`] is said for an unknown
/// username, a wrong password and a wrong or missing code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignInError {
    #[error("wrong username or password")]
    WrongCredentials,
    #[error("the account is locked until {until}")]
    Locked { until: Timestamp },
    #[error("the account is disabled")]
    Disabled,
    #[error("the accounts cannot be read or written: {0}")]
    Store(String),
}

/// Hashes a password with argon2id and the crate's recommended parameters (19 MiB, 2 passes,
/// 1 lane: OWASP's first choice), a random 16-byte salt.
pub fn hash_password(password: &str) -> Result<String, AccountError> {
    check_password(password)?;
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|hash| hash.to_string())
        .map_err(|e| AccountError::Invalid(format!("the password cannot be hashed: {e}")))
}

/// Whether `password` matches the PHC string `hash` (its own parameters are used).
pub fn verify_password(password: &str, hash: &str) -> bool {
    if password.len() > MAX_PASSWORD_BYTES {
        return false;
    }
    Argon2::default()
        .verify_password(password.as_bytes(), hash)
        .is_ok()
}

/// Spends about the time of one verification, for a username that does not exist.
fn verify_nothing(password: &str) {
    static DUMMY: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    if let Some(hash) = DUMMY.get_or_init(|| hash_password("not a password of anyone").ok()) {
        let _ = verify_password(password, hash);
    }
}

/// A password made by the server for an account an administrator creates or resets: 20
/// characters from 54 that cannot be mistaken for one another when read aloud or copied from
/// a screen (no 0/O, 1/l/I), in groups of five (about 115 bits).
pub fn generate_password() -> Result<String, AccountError> {
    use rand::TryRngCore;
    const ALPHABET: &[u8] = b"abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut password = String::with_capacity(23);
    let mut bytes = [0u8; 1];
    while password.chars().filter(|c| *c != '-').count() < 20 {
        rand::rngs::OsRng
            .try_fill_bytes(&mut bytes)
            .map_err(|e| AccountError::Invalid(format!("no randomness from the system: {e}")))?;
        // Rejection sampling: only bytes below the largest multiple of the alphabet's size,
        // so that every character is equally likely.
        let limit = 256 - 256 % ALPHABET.len();
        if usize::from(bytes[0]) >= limit {
            continue;
        }
        let count = password.chars().filter(|c| *c != '-').count();
        if count > 0 && count % 5 == 0 {
            password.push('-');
        }
        password.push(char::from(ALPHABET[usize::from(bytes[0]) % ALPHABET.len()]));
    }
    Ok(password)
}

/// The password rules: 10 characters or more, at most 1024 bytes, not only spaces.
pub fn check_password(password: &str) -> Result<(), AccountError> {
    if password.chars().count() < MIN_PASSWORD_CHARS || password.trim().is_empty() {
        return Err(AccountError::Invalid(format!(
            "the password is too short: at least {MIN_PASSWORD_CHARS} characters"
        )));
    }
    if password.len() > MAX_PASSWORD_BYTES {
        return Err(AccountError::Invalid(format!(
            "the password is too long: at most {MAX_PASSWORD_BYTES} bytes"
        )));
    }
    Ok(())
}

/// A username: 1 to 64 of lowercase letters, digits, `.`, `-`, `_` and `@`, starting with a
/// letter or digit.
pub fn check_username(username: &str) -> Result<(), AccountError> {
    let valid = !username.is_empty()
        && username.len() <= 64
        && username
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        && username.chars().all(|c| {
            c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '-' | '_' | '@')
        });
    if valid {
        Ok(())
    } else {
        Err(AccountError::Invalid(format!(
            "username `{username}` is not allowed: 1 to 64 lowercase letters, digits, `.`, `-`, \
             `_` or `@`, starting with a letter or digit"
        )))
    }
}

/// What `redress user create` asks for.
#[derive(Debug, Clone)]
pub struct NewAccount {
    pub username: String,
    pub display_name: Option<String>,
    pub tenant: TenantId,
    pub role: Role,
    pub office: Option<String>,
}

/// A new TOTP secret: 20 random bytes (160 bits, RFC 4226's recommendation), in base32.
fn new_totp_secret() -> Result<String, AccountError> {
    use rand::TryRngCore;
    let mut bytes = [0u8; 20];
    rand::rngs::OsRng
        .try_fill_bytes(&mut bytes)
        .map_err(|e| AccountError::Invalid(format!("no randomness from the system: {e}")))?;
    Ok(totp_rs::Secret::from(bytes.to_vec()).to_base32())
}

fn totp(secret: &str) -> Option<totp_rs::Totp> {
    let secret = totp_rs::Secret::try_from_base32(secret).ok()?;
    // SHA-1, 6 digits, 30 s steps, one step of skew either side: what every authenticator app
    // does by default.
    totp_rs::Builder::new().with_secret(secret).build().ok()
}

/// The time step a code matches (within one step of skew), if it does.
pub fn check_totp(secret: &str, code: &str, unix_seconds: u64) -> Option<u64> {
    let code: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    if code.len() != 6 || !code.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let totp = totp(secret)?;
    let time = totp.check(&code, unix_seconds)?;
    Some(time)
}

/// The code an authenticator would show at `unix_seconds` (tests and `user totp enable`'s
/// confirmation).
pub fn totp_code(secret: &str, unix_seconds: u64) -> Option<String> {
    Some(totp(secret)?.generate(unix_seconds).to_string())
}

/// The `otpauth://` URI an authenticator app reads (typed in, or as a QR code made elsewhere).
pub fn totp_uri(secret: &str, username: &str, tenant: &TenantId) -> String {
    let label: String =
        form_urlencoded::byte_serialize(format!("{TOTP_ISSUER}:{username}@{tenant}").as_bytes())
            .collect::<String>()
            .replace('+', "%20");
    format!(
        "otpauth://totp/{label}?secret={secret}&issuer={TOTP_ISSUER}&algorithm=SHA1&digits=6&period=30"
    )
}

impl AccountsFile {
    /// Reads the file; an absent file is an empty one.
    pub fn load(path: &Path) -> Result<AccountsFile, AccountError> {
        crate::durable::read_json_file(path, FORMAT, |file: &AccountsFile| &file.format).map_err(
            |message| AccountError::File {
                path: path.display().to_string(),
                message,
            },
        )
    }

    /// Writes the file durably and privately (owner only): a temporary file, synced, renamed.
    pub fn save(&self, path: &Path) -> Result<(), AccountError> {
        let text =
            serde_json::to_vec_pretty(self).map_err(|e| AccountError::Invalid(e.to_string()))?;
        crate::durable::write_file(path, &text, true).map_err(|e| AccountError::File {
            path: path.display().to_string(),
            message: e.to_string(),
        })
    }

    pub fn find(&self, username: &str) -> Option<&Account> {
        self.accounts.iter().find(|a| a.username == username)
    }

    fn find_mut(&mut self, username: &str) -> Result<&mut Account, AccountError> {
        self.accounts
            .iter_mut()
            .find(|a| a.username == username)
            .ok_or_else(|| AccountError::Unknown(username.to_owned()))
    }

    /// Adds an account. The tenant must exist in `access` (`redress tenant create`); the
    /// `operator` role is only for the `default` tenant, as for API keys.
    pub fn create(
        &mut self,
        new: NewAccount,
        password: &str,
        access: &AccessFile,
        now: Timestamp,
    ) -> Result<&Account, AccountError> {
        check_username(&new.username).map_err(|e| AccountError::field("username", e))?;
        if self.find(&new.username).is_some() {
            return Err(AccountError::Field {
                field: "username",
                message: format!("username `{}` is taken", new.username),
            });
        }
        if !access.tenant_exists(&new.tenant) {
            return Err(AccountError::Field {
                field: "tenant",
                message: format!(
                    "tenant `{0}` does not exist (create it with `redress tenant create {0}`)",
                    new.tenant
                ),
            });
        }
        if new.role == Role::Operator && !new.tenant.is_default() {
            return Err(AccountError::Field {
                field: "role",
                message: format!(
                    "the `operator` role acts across tenants and is given only to accounts of \
                     the `default` tenant, not `{}`",
                    new.tenant
                ),
            });
        }
        if let Some(office) = &new.office {
            crate::access::check_office_for(new.role, office).map_err(|message| {
                AccountError::Field {
                    field: "office",
                    message,
                }
            })?;
        }
        let display_name = new
            .display_name
            .as_deref()
            .map(str::trim)
            .filter(|name| !name.is_empty())
            .unwrap_or(&new.username)
            .to_owned();
        if display_name.chars().count() > 100 {
            return Err(AccountError::Field {
                field: "display_name",
                message: "the display name must be at most 100 characters".into(),
            });
        }
        let password_hash =
            hash_password(password).map_err(|e| AccountError::field("password", e))?;
        self.accounts.push(Account {
            username: new.username,
            display_name,
            tenant: new.tenant,
            role: new.role,
            office: new.office,
            password_hash,
            totp_secret: None,
            totp_last_step: None,
            failed_attempts: 0,
            locked_until: None,
            disabled_at: None,
            created_at: now,
            password_changed_at: now,
            last_sign_in_at: None,
        });
        self.accounts
            .last()
            .ok_or_else(|| AccountError::Invalid("the account was not added".into()))
    }

    /// Sets a new password; ends the lock-out and every session begun before.
    pub fn set_password(
        &mut self,
        username: &str,
        password: &str,
        now: Timestamp,
    ) -> Result<(), AccountError> {
        let hash = hash_password(password)?;
        let account = self.find_mut(username)?;
        account.password_hash = hash;
        account.password_changed_at = now;
        account.failed_attempts = 0;
        account.locked_until = None;
        Ok(())
    }

    /// Disables the account: no sign-in, and its sessions end at their next request.
    pub fn disable(&mut self, username: &str, now: Timestamp) -> Result<(), AccountError> {
        let account = self.find_mut(username)?;
        account.disabled_at.get_or_insert(now);
        Ok(())
    }

    /// Enables a disabled account and ends its lock-out.
    pub fn enable(&mut self, username: &str) -> Result<(), AccountError> {
        let account = self.find_mut(username)?;
        account.disabled_at = None;
        account.failed_attempts = 0;
        account.locked_until = None;
        Ok(())
    }

    /// Gives the account a new TOTP secret and returns it (base32); codes are asked for from the
    /// next sign-in.
    pub fn enable_totp(&mut self, username: &str) -> Result<String, AccountError> {
        let secret = new_totp_secret()?;
        let account = self.find_mut(username)?;
        account.totp_secret = Some(secret.clone());
        account.totp_last_step = None;
        Ok(secret)
    }

    /// Enabled accounts of `tenant` with `role` (who is left to manage accounts).
    pub fn enabled_with(&self, tenant: &TenantId, role: Role) -> usize {
        self.accounts
            .iter()
            .filter(|a| a.tenant == *tenant && a.role == role && !a.is_disabled())
            .count()
    }

    pub fn disable_totp(&mut self, username: &str) -> Result<(), AccountError> {
        let account = self.find_mut(username)?;
        account.totp_secret = None;
        account.totp_last_step = None;
        Ok(())
    }
}

mod store;

pub use store::{AccountStore, FileAccounts, MemoryAccounts, sign_in};

#[cfg(test)]
mod tests;

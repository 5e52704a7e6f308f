//! Where accounts are kept ([`AccountStore`]): the file (`<data>/accounts.json`) or memory; and
//! the sign-in check that records its outcome there.

use std::{
    path::{Path, PathBuf},
    sync::{Mutex, PoisonError, RwLock},
    time::SystemTime,
};

use jiff::Timestamp;

use super::{
    Account, AccountError, AccountsFile, LOCK_DURATION, MAX_FAILURES, SignInError, check_totp,
    verify_nothing, verify_password,
};

/// Where accounts are kept. The file store is the only one now; a shared database can take
/// its place behind this trait.
pub trait AccountStore: Send + Sync + std::fmt::Debug {
    /// The account, as it is now (re-read if it changed).
    fn find(&self, username: &str) -> Result<Option<Account>, AccountError>;

    /// Changes one account and stores the change; `None` if there is no such account.
    fn update(
        &self,
        username: &str,
        change: &mut dyn FnMut(&mut Account),
    ) -> Result<Option<Account>, AccountError>;

    /// Every account, as they are now.
    fn list(&self) -> Result<Vec<Account>, AccountError>;

    /// Changes the accounts with one of [`AccountsFile`]'s methods (create, disable, enable, set
    /// a password, TOTP: those `redress user` uses) and stores the change; a change that fails
    /// stores nothing.
    fn edit(
        &self,
        change: &mut dyn FnMut(&mut AccountsFile) -> Result<(), AccountError>,
    ) -> Result<(), AccountError>;
}

/// Checks a sign-in and records its outcome (failures, lock-out, the TOTP step). Blocking: the
/// password hash takes tens of milliseconds by design; call it from a blocking task.
///
/// `now` is the server's time (lock-out, the record); `code_time` the time a TOTP code is
/// checked at: the person's authenticator keeps real time, so the caller passes the wall clock
/// even when the server runs on a simulated one.
pub fn sign_in(
    store: &dyn AccountStore,
    username: &str,
    password: &str,
    code: Option<&str>,
    now: Timestamp,
    code_time: Timestamp,
) -> Result<Account, SignInError> {
    let store_error = |e: AccountError| SignInError::Store(e.to_string());
    let username = username.trim();
    let Some(account) = store.find(username).map_err(store_error)? else {
        verify_nothing(password);
        return Err(SignInError::WrongCredentials);
    };
    if let Some(until) = account.locked_until.filter(|until| *until > now) {
        return Err(SignInError::Locked { until });
    }
    let password_ok = verify_password(password, &account.password_hash);
    let second_factor = match (&account.totp_secret, password_ok) {
        (None, _) => Ok(None),
        (Some(_), false) => Err(()),
        (Some(secret), true) => {
            let seconds = u64::try_from(code_time.as_second()).unwrap_or(0);
            match code.and_then(|code| check_totp(secret, code, seconds)) {
                Some(step) if account.totp_last_step.is_none_or(|last| step > last) => {
                    Ok(Some(step))
                }
                _ => Err(()),
            }
        }
    };
    let succeeded = password_ok && second_factor.is_ok();
    let mut locked = None;
    let updated = store
        .update(username, &mut |account| {
            if succeeded {
                account.failed_attempts = 0;
                account.locked_until = None;
                account.last_sign_in_at = Some(now);
                if let Ok(Some(step)) = second_factor {
                    account.totp_last_step = Some(step);
                }
            } else {
                account.failed_attempts = account.failed_attempts.saturating_add(1);
                if account.failed_attempts >= MAX_FAILURES {
                    account.failed_attempts = 0;
                    let until = now.saturating_add(LOCK_DURATION).unwrap_or(now);
                    account.locked_until = Some(until);
                    locked = Some(until);
                }
            }
        })
        .map_err(store_error)?
        .ok_or(SignInError::WrongCredentials)?;
    if let Some(until) = locked {
        tracing::warn!(username, %until, "console account locked after {MAX_FAILURES} failed sign-ins");
        return Err(SignInError::Locked { until });
    }
    if !succeeded {
        return Err(SignInError::WrongCredentials);
    }
    if updated.is_disabled() {
        return Err(SignInError::Disabled);
    }
    Ok(updated)
}

/// Accounts in `<data>/accounts.json`, re-read when the file's modification time changes.
#[derive(Debug)]
pub struct FileAccounts {
    path: PathBuf,
    current: RwLock<(AccountsFile, Option<SystemTime>)>,
    /// One read-modify-write at a time in this process.
    writing: Mutex<()>,
}

fn modified(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

impl FileAccounts {
    /// Opens the file (absent: no accounts yet); a file that does not parse is an error.
    pub fn open(path: &Path) -> Result<FileAccounts, AccountError> {
        let stamp = modified(path);
        let file = AccountsFile::load(path)?;
        Ok(FileAccounts {
            path: path.to_owned(),
            current: RwLock::new((file, stamp)),
            writing: Mutex::new(()),
        })
    }

    /// Re-reads the file if it changed. A file that does not parse is refused (logged) and the
    /// accounts in force stay.
    fn refresh(&self) {
        let stamp = modified(&self.path);
        if stamp
            == self
                .current
                .read()
                .unwrap_or_else(PoisonError::into_inner)
                .1
        {
            return;
        }
        match AccountsFile::load(&self.path) {
            Ok(file) => {
                *self.current.write().unwrap_or_else(PoisonError::into_inner) = (file, stamp);
                tracing::info!(path = %self.path.display(), "console accounts reloaded");
            }
            Err(e) => {
                tracing::error!(error = %e, "console accounts change refused; the accounts in force stay");
            }
        }
    }

    pub fn len(&self) -> usize {
        self.refresh();
        self.current
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .0
            .accounts
            .len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl AccountStore for FileAccounts {
    fn find(&self, username: &str) -> Result<Option<Account>, AccountError> {
        self.refresh();
        Ok(self
            .current
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .0
            .find(username)
            .cloned())
    }

    fn update(
        &self,
        username: &str,
        change: &mut dyn FnMut(&mut Account),
    ) -> Result<Option<Account>, AccountError> {
        let _writing = self.writing.lock().unwrap_or_else(PoisonError::into_inner);
        // From the file as it is now, so that an edit by `redress user` is not written over.
        let mut file = AccountsFile::load(&self.path)?;
        let Some(account) = file.accounts.iter_mut().find(|a| a.username == username) else {
            return Ok(None);
        };
        let before = account.clone();
        change(account);
        let after = account.clone();
        if after != before {
            file.save(&self.path)?;
        }
        *self.current.write().unwrap_or_else(PoisonError::into_inner) =
            (file, modified(&self.path));
        Ok(Some(after))
    }

    fn list(&self) -> Result<Vec<Account>, AccountError> {
        self.refresh();
        Ok(self
            .current
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .0
            .accounts
            .clone())
    }

    fn edit(
        &self,
        change: &mut dyn FnMut(&mut AccountsFile) -> Result<(), AccountError>,
    ) -> Result<(), AccountError> {
        let _writing = self.writing.lock().unwrap_or_else(PoisonError::into_inner);
        let mut file = AccountsFile::load(&self.path)?;
        change(&mut file)?;
        file.save(&self.path)?;
        *self.current.write().unwrap_or_else(PoisonError::into_inner) =
            (file, modified(&self.path));
        Ok(())
    }
}

/// Accounts in memory (tests, an in-memory application).
#[derive(Debug, Default)]
pub struct MemoryAccounts {
    pub(super) file: RwLock<AccountsFile>,
}

impl MemoryAccounts {
    pub fn new(file: AccountsFile) -> MemoryAccounts {
        MemoryAccounts {
            file: RwLock::new(file),
        }
    }
}

impl AccountStore for MemoryAccounts {
    fn find(&self, username: &str) -> Result<Option<Account>, AccountError> {
        Ok(self
            .file
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .find(username)
            .cloned())
    }

    fn update(
        &self,
        username: &str,
        change: &mut dyn FnMut(&mut Account),
    ) -> Result<Option<Account>, AccountError> {
        let mut file = self.file.write().unwrap_or_else(PoisonError::into_inner);
        Ok(file
            .accounts
            .iter_mut()
            .find(|a| a.username == username)
            .map(|account| {
                change(account);
                account.clone()
            }))
    }

    fn list(&self) -> Result<Vec<Account>, AccountError> {
        Ok(self
            .file
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .accounts
            .clone())
    }

    fn edit(
        &self,
        change: &mut dyn FnMut(&mut AccountsFile) -> Result<(), AccountError>,
    ) -> Result<(), AccountError> {
        let mut file = self.file.write().unwrap_or_else(PoisonError::into_inner);
        let mut next = file.clone();
        change(&mut next)?;
        *file = next;
        Ok(())
    }
}

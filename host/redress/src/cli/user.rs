//! `redress user`: people's console accounts in a data directory (`<data>/accounts.json`,
//! re-read by a running server at the next sign-in or page).
//!
//! A password is never a command-line argument (it would sit in the shell's history and in
//! `ps`): it is read from standard input with `--password-stdin`, or asked for twice on the
//! terminal without echo.

use std::{io::IsTerminal, process::ExitCode};

use anyhow::{Context, bail};
use clap::Subcommand;
use jiff::Timestamp;

use super::{DataArg, Settings};
use crate::access::{AccessFile, Role};
use crate::console::accounts::{
    AccountStore, AccountsFile, FileAccounts, NewAccount, check_password, totp_uri,
};
use crate::data_dir::DataDir;
use crate::time_source::{SystemTimeSource, TimeSource};
use redress_domain::TenantId;

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create an account for a person (the password is asked for, or read with
    /// --password-stdin).
    Create {
        #[arg(long)]
        tenant: TenantId,
        #[arg(long, value_enum)]
        role: Role,
        /// What the person types to sign in: lowercase letters, digits, `.`, `-`, `_`, `@`.
        #[arg(long)]
        username: String,
        /// How the console names them (default: the username), e.g. "李四".
        #[arg(long)]
        name: Option<String>,
        /// The office whose cases they see and work (a routing table's office id, checked
        /// against the tenant's table if it has one): that office's cases and those assigned
        /// to them. Intake, handler and supervisor accounts only.
        #[arg(long)]
        office: Option<String>,
        /// Read the password from standard input (the whole input, less one final newline)
        /// instead of asking on the terminal.
        #[arg(long)]
        password_stdin: bool,
        #[command(flatten)]
        data: DataArg,
    },
    /// The accounts (never their passwords or secrets).
    List {
        /// Only this tenant's.
        #[arg(long)]
        tenant: Option<TenantId>,
        #[command(flatten)]
        data: DataArg,
    },
    /// Disable an account: no sign-in, and its open sessions end at their next request.
    Disable {
        username: String,
        #[command(flatten)]
        data: DataArg,
    },
    /// Enable a disabled account again (also ends a lock-out).
    Enable {
        username: String,
        #[command(flatten)]
        data: DataArg,
    },
    /// Set a new password (ends the lock-out and every open session of the account).
    Passwd {
        username: String,
        #[arg(long)]
        password_stdin: bool,
        #[command(flatten)]
        data: DataArg,
    },
    /// Two-step verification (TOTP, RFC 6238) for an account.
    Totp {
        #[command(subcommand)]
        command: TotpCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum TotpCommand {
    /// Give the account a new secret and print it (once) for an authenticator app; from the
    /// next sign-in, its 6-digit code is asked for.
    Enable {
        username: String,
        #[command(flatten)]
        data: DataArg,
    },
    /// Stop asking for a code.
    Disable {
        username: String,
        #[command(flatten)]
        data: DataArg,
    },
}

fn load(data: &DataDir) -> anyhow::Result<AccountsFile> {
    Ok(AccountsFile::load(&data.accounts_file())?)
}

/// The accounts as the server keeps them: every change goes through [`AccountStore::edit`] with
/// the same `AccountsFile` methods the console's accounts page uses.
fn store(data: &DataDir) -> anyhow::Result<FileAccounts> {
    Ok(FileAccounts::open(&data.accounts_file())?)
}

/// The password from standard input (`--password-stdin`) or asked twice on the terminal.
fn read_password(from_stdin: bool, username: &str) -> anyhow::Result<String> {
    if from_stdin {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut text)
            .context("--password-stdin: standard input is not readable text")?;
        let password = text
            .strip_suffix('\n')
            .map(|rest| rest.strip_suffix('\r').unwrap_or(rest))
            .unwrap_or(&text)
            .to_owned();
        if password.is_empty() {
            bail!("--password-stdin: standard input was empty; pipe the password in");
        }
        check_password(&password).context("--password-stdin")?;
        return Ok(password);
    }
    if !std::io::stdin().is_terminal() {
        bail!(
            "no terminal to ask for the password on: give it on standard input with --password-stdin"
        );
    }
    let password = rpassword::prompt_password(format!("password for {username}: "))
        .context("reading the password from the terminal")?;
    check_password(&password)?;
    let again = rpassword::prompt_password("the same password again: ")
        .context("reading the password from the terminal")?;
    if again != password {
        bail!("the two passwords differ; nothing was changed");
    }
    Ok(password)
}

fn state(account: &crate::console::accounts::Account, now: Timestamp) -> String {
    match (account.disabled_at, account.locked_until) {
        (Some(at), _) => format!("disabled {at}"),
        (None, Some(until)) if until > now => format!("locked until {until}"),
        _ => "active".into(),
    }
}

pub fn run(command: UserCommand, settings: &Settings) -> anyhow::Result<ExitCode> {
    let now = SystemTimeSource.now();
    match command {
        UserCommand::Create {
            tenant,
            role,
            username,
            name,
            office,
            password_stdin,
            data,
        } => {
            let data = settings.data_to_write(&data)?;
            let access = AccessFile::load(&data.access_file())?;
            if let Some(office) = &office {
                let table = crate::routing::RoutingTables::load_one(&data.routing(), &tenant)?;
                crate::access::check_office_routed(table.as_ref(), &tenant, office)
                    .map_err(anyhow::Error::msg)?;
            }
            let file = load(&data)?;
            // Checked before the password is asked for: a mistake is named at once.
            let new = NewAccount {
                username,
                display_name: name,
                tenant,
                role,
                office,
            };
            let mut dry_run = file.clone();
            if let Err(e) = dry_run.create(new.clone(), "a placeholder password", &access, now) {
                return Err(e.into());
            }
            let password = read_password(password_stdin, &new.username)?;
            let username = new.username.clone();
            store(&data)?.edit(&mut |file| {
                file.create(new.clone(), &password, &access, now)
                    .map(|_| ())
            })?;
            let account = store(&data)?
                .find(&username)?
                .ok_or_else(|| anyhow::anyhow!("account {username} was not stored"))?;
            println!(
                "account {} ({}) created for tenant {} as {}{} ({})",
                account.username,
                account.display_name,
                account.tenant,
                account.role.as_str(),
                account
                    .office
                    .as_deref()
                    .map(|o| format!(", office {o}"))
                    .unwrap_or_default(),
                data.accounts_file().display()
            );
        }
        UserCommand::List { tenant, data } => {
            let file = load(&settings.data_to_read(&data)?)?;
            for account in file
                .accounts
                .iter()
                .filter(|a| tenant.as_ref().is_none_or(|t| a.tenant == *t))
            {
                println!(
                    "{}\t{}\t{}\t{}\t{}\t{}\t{}",
                    account.username,
                    account.tenant,
                    account.role.as_str(),
                    account.office.as_deref().unwrap_or("-"),
                    account.display_name,
                    state(account, now),
                    if account.totp_secret.is_some() {
                        "totp"
                    } else {
                        "password only"
                    }
                );
            }
        }
        UserCommand::Disable { username, data } => {
            let data = settings.data_to_read(&data)?;
            store(&data)?
                .edit(&mut |file| file.disable(&username, now))
                .map_err(unknown_hint)?;
            println!("account {username} disabled; its open sessions end at their next request");
        }
        UserCommand::Enable { username, data } => {
            let data = settings.data_to_read(&data)?;
            store(&data)?
                .edit(&mut |file| file.enable(&username))
                .map_err(unknown_hint)?;
            println!("account {username} enabled");
        }
        UserCommand::Passwd {
            username,
            password_stdin,
            data,
        } => {
            let data = settings.data_to_read(&data)?;
            let store = store(&data)?;
            if store.find(&username)?.is_none() {
                return Err(unknown_hint(
                    crate::console::accounts::AccountError::Unknown(username),
                ));
            }
            let password = read_password(password_stdin, &username)?;
            store
                .edit(&mut |file| file.set_password(&username, &password, now))
                .map_err(unknown_hint)?;
            println!("password of {username} changed; its open sessions have ended");
        }
        UserCommand::Totp { command } => match command {
            TotpCommand::Enable { username, data } => {
                let data = settings.data_to_read(&data)?;
                let store = store(&data)?;
                let mut secret = String::new();
                store
                    .edit(&mut |file| {
                        secret = file.enable_totp(&username)?;
                        Ok(())
                    })
                    .map_err(unknown_hint)?;
                let tenant = store
                    .find(&username)?
                    .map(|a| a.tenant.clone())
                    .unwrap_or_else(|| TenantId::from_static("default"));
                eprintln!(
                    "two-step verification enabled for {username}; enter this secret in an \
                     authenticator app (shown once), or open the URI below with one:"
                );
                println!("{secret}");
                println!("{}", totp_uri(&secret, &username, &tenant));
            }
            TotpCommand::Disable { username, data } => {
                let data = settings.data_to_read(&data)?;
                store(&data)?
                    .edit(&mut |file| file.disable_totp(&username))
                    .map_err(unknown_hint)?;
                println!("two-step verification disabled for {username}");
            }
        },
    }
    Ok(ExitCode::SUCCESS)
}

fn unknown_hint(error: crate::console::accounts::AccountError) -> anyhow::Error {
    match error {
        crate::console::accounts::AccountError::Unknown(name) => {
            anyhow::anyhow!("no account `{name}` (see `redress user list`)")
        }
        other => other.into(),
    }
}

//! `redress tenant` and `redress key`: the tenants and API keys of a data directory
//! (`<data>/access.json`, re-read by a running server within two seconds).

use std::process::ExitCode;

use clap::Subcommand;
use jiff::Timestamp;

use super::{DataArg, Settings};
use crate::access::{AccessFile, Role, check_office_routed};
use crate::data_dir::DataDir;
use crate::routing::RoutingTables;
use crate::time_source::{SystemTimeSource, TimeSource};
use redress_domain::{TenantId, case::Sector};

#[derive(Debug, Subcommand)]
pub enum TenantCommand {
    /// Add a tenant (`default`, the operator, always exists).
    Create {
        /// Lowercase letters, digits, `-` and `_`, e.g. `acme-bank`.
        id: TenantId,
        #[arg(long)]
        name: Option<String>,
        #[command(flatten)]
        data: DataArg,
    },
    List {
        #[command(flatten)]
        data: DataArg,
    },
    /// Open or close the tenant's public complaint form (`/complain` for `default`,
    /// `/complain/<tenant>` for the others): no account or key, rate-limited per client.
    /// A running server follows within 2 s.
    PublicForm {
        tenant: TenantId,
        /// Open it, offering the sectors given with --sector.
        #[arg(long, conflicts_with = "disable", required_unless_present = "disable")]
        enable: bool,
        /// Close it: its address answers "not found".
        #[arg(long)]
        disable: bool,
        /// A sector the form offers (repeat for more): market_supervision, banking,
        /// healthcare, property, government_hotline.
        #[arg(long = "sector", value_parser = parse_sector, required_if_eq("enable", "true"))]
        sectors: Vec<Sector>,
        #[command(flatten)]
        data: DataArg,
    },
}

fn parse_sector(text: &str) -> Result<Sector, String> {
    Sector::ALL
        .into_iter()
        .find(|s| s.as_str() == text)
        .ok_or_else(|| {
            let known: Vec<&str> = Sector::ALL.iter().map(|s| s.as_str()).collect();
            format!("`{text}` is not a sector ({})", known.join(", "))
        })
}

#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// Create a key and print it (once).
    Create {
        #[arg(long)]
        tenant: TenantId,
        #[arg(long, value_enum)]
        role: Role,
        /// Who holds it; recorded as the actor of everything the key does.
        #[arg(long)]
        name: String,
        /// Scope the key to an office (a routing table's office id): it lists, reads and acts
        /// on that office's cases and those assigned to its holder only. Intake, handler and
        /// supervisor keys only.
        #[arg(long)]
        office: Option<String>,
        /// When it stops working: an instant (2027-06-30T18:00:00+08:00) or a date
        /// (2027-06-30: the key works through that day, China Standard Time).
        #[arg(long, value_parser = parse_expiry)]
        expires: Option<Timestamp>,
        #[command(flatten)]
        data: DataArg,
    },
    /// The keys (ids, tenants, roles, offices, holders, state; never the secrets).
    List {
        #[command(flatten)]
        data: DataArg,
    },
    /// Revoke a key by id; the server refuses it from its next reload (within 2 s).
    Revoke {
        id: String,
        #[command(flatten)]
        data: DataArg,
    },
}

/// An instant, or a date meaning "through the end of that day" in China Standard Time.
fn parse_expiry(text: &str) -> Result<Timestamp, String> {
    if let Ok(instant) = text.parse::<Timestamp>() {
        return Ok(instant);
    }
    let date: jiff::civil::Date = text.parse().map_err(|_| {
        format!("`{text}` is neither a date (2027-06-30) nor an instant with offset (2027-06-30T18:00:00+08:00)")
    })?;
    let next_day = date.tomorrow().map_err(|e| format!("`{text}`: {e}"))?;
    next_day
        .to_zoned(jiff::tz::TimeZone::fixed(jiff::tz::offset(8)))
        .map(|z| z.timestamp())
        .map_err(|e| format!("`{text}`: {e}"))
}

fn office_label(office: Option<&str>) -> String {
    office.map(|o| format!(", office {o}")).unwrap_or_default()
}

fn open(data: &DataDir) -> anyhow::Result<AccessFile> {
    Ok(AccessFile::load(&data.access_file())?)
}

pub fn tenant(command: TenantCommand, settings: &Settings) -> anyhow::Result<ExitCode> {
    let now = SystemTimeSource.now();
    match command {
        TenantCommand::Create { id, name, data } => {
            let data = settings.data_to_write(&data)?;
            let mut file = open(&data)?;
            file.create_tenant(&id, name.as_deref().unwrap_or(&id), now)?;
            file.save(&data.access_file())?;
            println!("tenant {id} created ({})", data.access_file().display());
        }
        TenantCommand::List { data } => {
            let file = open(&settings.data_to_read(&data)?)?;
            println!("default\t(the operator)");
            for tenant in &file.tenants {
                println!("{}\t{}\t{}", tenant.id, tenant.name, tenant.created_at);
            }
            for form in &file.public_forms {
                let sectors: Vec<&str> = form.sectors.iter().map(|s| s.as_str()).collect();
                println!("{}\tpublic form open: {}", form.tenant, sectors.join(", "));
            }
        }
        TenantCommand::PublicForm {
            tenant,
            enable,
            disable: _,
            sectors,
            data,
        } => {
            let data = settings.data_to_write(&data)?;
            let mut file = open(&data)?;
            let path = if tenant.is_default() {
                "/complain".to_owned()
            } else {
                format!("/complain/{tenant}")
            };
            if enable {
                let form = file.enable_public_form(&tenant, &sectors, now)?;
                let sectors: Vec<&str> = form.sectors.iter().map(|s| s.as_str()).collect();
                println!(
                    "public complaint form of {tenant} open at {path} ({})",
                    sectors.join(", ")
                );
            } else if file.disable_public_form(&tenant) {
                println!("public complaint form of {tenant} closed ({path} answers not found)");
            } else {
                println!("public complaint form of {tenant} was not open");
            }
            file.save(&data.access_file())?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub fn key(command: KeyCommand, settings: &Settings) -> anyhow::Result<ExitCode> {
    let now = SystemTimeSource.now();
    match command {
        KeyCommand::Create {
            tenant,
            role,
            name,
            office,
            expires,
            data,
        } => {
            let data = settings.data_to_write(&data)?;
            let mut file = open(&data)?;
            if let Some(office) = &office {
                let table = RoutingTables::load_one(&data.routing(), &tenant)?;
                check_office_routed(table.as_ref(), &tenant, office).map_err(anyhow::Error::msg)?;
            }
            let (record, key) =
                file.create_key(&tenant, role, &name, office.as_deref(), expires, now)?;
            file.save(&data.access_file())?;
            eprintln!(
                "key {} for tenant {} as {}{} ({}); shown once, keep it:",
                record.id,
                record.tenant,
                record.role.as_str(),
                office_label(record.office.as_deref()),
                record.name
            );
            println!("{key}");
        }
        KeyCommand::List { data } => {
            let file = open(&settings.data_to_read(&data)?)?;
            for key in &file.keys {
                let state = match (key.revoked_at, key.expires_at) {
                    (Some(at), _) => format!("revoked {at}"),
                    (None, Some(at)) if at <= now => format!("expired {at}"),
                    (None, Some(at)) => format!("active until {at}"),
                    (None, None) => "active".into(),
                };
                println!(
                    "{}\t{}\t{}\t{}\t{}\t{state}",
                    key.id,
                    key.tenant,
                    key.role.as_str(),
                    key.office.as_deref().unwrap_or("-"),
                    key.name
                );
            }
        }
        KeyCommand::Revoke { id, data } => {
            let data = settings.data_to_read(&data)?;
            let mut file = open(&data)?;
            let revoked = file.revoke_key(&id, now)?.clone();
            file.save(&data.access_file())?;
            println!(
                "key {} ({}, {}) revoked; a running server refuses it within 2 s",
                revoked.id, revoked.tenant, revoked.name
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn an_expiry_is_an_instant_or_the_end_of_a_day_in_china() {
        assert_eq!(
            parse_expiry("2027-06-30T00:00:00+08:00")
                .unwrap()
                .to_string(),
            "2027-06-29T16:00:00Z"
        );
        assert_eq!(
            parse_expiry("2027-06-30").unwrap().to_string(),
            "2027-06-30T16:00:00Z"
        );
        let err = parse_expiry("next week").unwrap_err();
        assert!(err.contains("neither a date"), "{err}");
    }
}

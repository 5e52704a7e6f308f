//! `redress audit …`: checking the histories, and the signed checkpoints an auditor keeps.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::Subcommand;

use crate::audit::{self, Checkpoint};
use crate::data_dir::DataDir;
use crate::rules::signing::{TrustStore, VendorKey};
use crate::store::{AuditReport, CaseStore, SledOptions, SledStore};

/// The `audit` subcommands.
#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Re-check every case's hash chain and snapshot, and that every acknowledged write is
    /// still there; with --checkpoint, also that no history was rewritten since that
    /// checkpoint. Exit 0 when clean, 1 when anything is wrong. On a running server, use
    /// --server with an auditor's key.
    Verify {
        #[command(flatten)]
        data: super::DataArg,
        /// A checkpoint an auditor kept (`redress audit checkpoint`, `GET /v1/audit/checkpoint`).
        #[arg(long, requires = "public_key")]
        checkpoint: Option<PathBuf>,
        /// The public key the checkpoint was signed with (`<prefix>.public.toml`).
        #[arg(long, requires = "checkpoint")]
        public_key: Option<PathBuf>,
        /// Ask a running server (its data directory is locked while it runs), e.g.
        /// http://127.0.0.1:8080.
        #[arg(long, conflicts_with = "data")]
        server: Option<String>,
        /// The API key for --server (an auditor's).
        #[arg(long, env = "REDRESS_API_KEY", requires = "server")]
        api_key: Option<String>,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Write a checkpoint of every case's version and chain head, signed with the audit key
    /// (kept outside the data directory). Give it to the auditor, who keeps it.
    Checkpoint {
        #[command(flatten)]
        data: super::DataArg,
        /// The secret audit key (`redress audit keygen`).
        #[arg(long, env = "REDRESS_AUDIT_KEY")]
        key: PathBuf,
        /// Only this tenant's cases.
        #[arg(long)]
        tenant: Option<redress_domain::TenantId>,
        /// Where to write it (default: standard output).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Make an audit signing key: `<out>.secret.toml` (keep it outside the data directory) and
    /// `<out>.public.toml` (for auditors).
    Keygen {
        #[arg(long)]
        out: PathBuf,
    },
}

fn open_store(data: &DataDir) -> anyhow::Result<SledStore> {
    SledStore::open(data.store(), &SledOptions::default())
        .with_context(|| format!("{}: cannot open the store", data.root().display()))
}

fn print(report: &AuditReport, json: bool) -> anyhow::Result<ExitCode> {
    if json {
        println!("{}", serde_json::to_string_pretty(report)?);
    } else {
        for problem in &report.problems {
            if problem.case_id.is_empty() {
                println!("{}", problem.problem);
            } else {
                println!("case {}: {}", problem.case_id, problem.problem);
            }
        }
        println!(
            "{}: {} cases, {} events checked, {} problem(s)",
            if report.is_clean() { "ok" } else { "FAILED" },
            report.cases_checked,
            report.events_checked,
            report.problems.len()
        );
    }
    Ok(if report.is_clean() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn read_checkpoint(path: &Path) -> anyhow::Result<Checkpoint> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("{}: cannot read", path.display()))?;
    serde_json::from_str(&text)
        .map_err(|e| anyhow::anyhow!("{}:{}: not a checkpoint: {e}", path.display(), e.line()))
}

/// Runs an `audit` subcommand.
pub fn run(command: AuditCommand, settings: &super::Settings) -> anyhow::Result<ExitCode> {
    match command {
        AuditCommand::Verify {
            data,
            checkpoint,
            public_key,
            server,
            api_key,
            json,
        } => {
            if let Some(server) = server {
                let report = crate::cli::remote::verify(&server, api_key.as_deref())?;
                return print(&report, json);
            }
            let data = settings.data_to_read(&data)?;
            let store = open_store(&data)?;
            let mut report = store.verify()?;
            if let (Some(checkpoint), Some(public_key)) = (checkpoint, public_key) {
                let trusted = TrustStore::load(&public_key)?;
                let kept = read_checkpoint(&checkpoint)?;
                let origin = checkpoint.display().to_string();
                report
                    .problems
                    .extend(audit::verify_against(&store, &kept, &trusted, &origin)?);
            }
            print(&report, json)
        }
        AuditCommand::Checkpoint {
            data,
            key,
            tenant,
            out,
        } => {
            let data = settings.data_to_read(&data)?;
            let key = audit::load_key(&key, data.root())?;
            let store = open_store(&data)?;
            let checkpoint = audit::checkpoint(
                &store,
                tenant.as_ref(),
                crate::time_source::TimeSource::now(&crate::time_source::SystemTimeSource),
                &key,
            )?;
            let text = serde_json::to_string_pretty(&checkpoint)?;
            match out {
                Some(path) => {
                    crate::durable::write_file(&path, text.as_bytes(), false)
                        .with_context(|| format!("{}: cannot write", path.display()))?;
                    eprintln!(
                        "checkpoint of {} case(s), root {}, written to {}",
                        checkpoint.checkpoint.cases,
                        checkpoint.checkpoint.root,
                        path.display()
                    );
                }
                None => println!("{text}"),
            }
            Ok(ExitCode::SUCCESS)
        }
        AuditCommand::Keygen { out } => {
            let key = VendorKey::generate("redress-audit")?;
            let secret = PathBuf::from(format!("{}.secret.toml", out.display()));
            let public = PathBuf::from(format!("{}.public.toml", out.display()));
            for path in [&secret, &public] {
                if path.exists() {
                    anyhow::bail!("{}: already exists; not overwritten", path.display());
                }
            }
            crate::durable::write_file(&secret, key.secret_toml().as_bytes(), true)
                .with_context(|| format!("{}: cannot write", secret.display()))?;
            crate::durable::write_file(&public, key.public_toml().as_bytes(), false)
                .with_context(|| format!("{}: cannot write", public.display()))?;
            println!(
                "audit key {}: {} (secret: keep it outside the data directory), {} (for auditors)",
                key.key_id(),
                secret.display(),
                public.display()
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}

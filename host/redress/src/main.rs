//! The `redress` command: the server and the tools around it.

use std::{path::PathBuf, process::ExitCode, sync::Arc};

use anyhow::Context;
use clap::{Parser, Subcommand};
use redress::{
    clock::SystemClock,
    config::{FileConfig, LogFormat, ServeConfig, ServeOverrides},
    server::{self, HttpOptions},
    service::Redress,
    store::{CaseStore, SledStore, sled_store::SledOptions},
    telemetry,
};

#[derive(Debug, Parser)]
#[command(
    name = "redress",
    version,
    about = "Rules-engine host for complaint handling in regulated sectors"
)]
struct Cli {
    /// Optional TOML configuration file (flags and environment variables take precedence).
    #[arg(long, global = true, env = "REDRESS_CONFIG")]
    config: Option<PathBuf>,
    /// Log output format.
    #[arg(long, global = true, env = "REDRESS_LOG_FORMAT", value_enum)]
    log_format: Option<LogFormat>,
    /// Log filter, e.g. `info` or `redress=debug,info`.
    #[arg(long, global = true, env = "REDRESS_LOG")]
    log: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the HTTP server.
    Serve {
        /// Data directory (created if missing).
        #[arg(long, env = "REDRESS_DATA")]
        data: Option<PathBuf>,
        /// Address to listen on; port 0 picks a free port.
        #[arg(long, env = "REDRESS_LISTEN")]
        listen: Option<String>,
        /// Ruleset directory (the rule engines arrive with issue #4; until then it is only checked).
        #[arg(long, env = "REDRESS_RULESETS")]
        rulesets: Option<PathBuf>,
        /// Largest accepted request body, in bytes.
        #[arg(long, env = "REDRESS_MAX_BODY_BYTES")]
        max_body_bytes: Option<usize>,
    },
    /// Write the JSON Schemas and the OpenAPI document generated from the server's types.
    Schemas {
        #[arg(long, default_value = "schemas")]
        out: PathBuf,
        /// Only check that the files in `--out` are current; exit 1 if not.
        #[arg(long)]
        check: bool,
    },
    /// Audit tools.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
}

#[derive(Debug, Subcommand)]
enum AuditCommand {
    /// Re-check every case's hash chain and snapshot. Exit 0 when clean, 1 when anything is wrong.
    Verify {
        #[arg(long, env = "REDRESS_DATA")]
        data: Option<PathBuf>,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("redress: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn load_file_config(path: Option<&PathBuf>) -> anyhow::Result<(FileConfig, String)> {
    match path {
        Some(path) => Ok((FileConfig::load(path)?, path.display().to_string())),
        None => Ok((FileConfig::default(), "(no config file)".into())),
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let (file, origin) = load_file_config(cli.config.as_ref())?;
    let log_format = cli
        .log_format
        .or(file.log.format)
        .unwrap_or(LogFormat::Human);
    telemetry::init(
        log_format,
        cli.log.as_deref().or(file.log.filter.as_deref()),
    );
    match cli.command {
        Command::Serve {
            data,
            listen,
            rulesets,
            max_body_bytes,
        } => {
            let config = ServeConfig::resolve(
                ServeOverrides {
                    listen,
                    data,
                    rulesets,
                    max_body_bytes,
                },
                &file,
                &origin,
            )?;
            serve(config)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Schemas { out, check } => {
            if check {
                let stale = redress::schemas::stale(&out);
                if stale.is_empty() {
                    println!("{}: up to date", out.display());
                    return Ok(ExitCode::SUCCESS);
                }
                eprintln!(
                    "{}: stale: {} (run `redress schemas --out {}`)",
                    out.display(),
                    stale.join(", "),
                    out.display()
                );
                return Ok(ExitCode::from(1));
            }
            for path in redress::schemas::write(&out)
                .with_context(|| format!("writing {}", out.display()))?
            {
                println!("wrote {path}");
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Audit {
            command: AuditCommand::Verify { data, json },
        } => {
            let data = data
                .or(file.server.data)
                .unwrap_or_else(|| redress::config::DEFAULT_DATA.into());
            if !data.exists() {
                anyhow::bail!("{}: no such data directory", data.display());
            }
            let store = SledStore::open(&data, &SledOptions::default()).with_context(|| {
                format!(
                    "{}: cannot open the store (is a server using it?)",
                    data.display()
                )
            })?;
            let report = store.verify()?;
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                for problem in &report.problems {
                    println!("case {}: {}", problem.case_id, problem.problem);
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
    }
}

fn serve(config: ServeConfig) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the runtime")?;
    runtime.block_on(async move {
        std::fs::create_dir_all(&config.data)
            .with_context(|| format!("creating {}", config.data.display()))?;
        let store = SledStore::open(
            &config.data,
            &SledOptions {
                cache_capacity: config.cache_capacity_bytes,
            },
        )
        .with_context(|| format!("{}: cannot open the store", config.data.display()))?;
        if !config.rulesets.is_dir() {
            tracing::warn!(path = %config.rulesets.display(), "ruleset directory not found");
        }
        let app = Redress::new(Arc::new(store), Arc::new(SystemClock));
        let router = server::router(
            app,
            &HttpOptions {
                max_body_bytes: config.max_body_bytes,
            },
        );
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .with_context(|| format!("cannot listen on {}", config.listen))?;
        let address = listener.local_addr()?;
        tracing::info!(%address, data = %config.data.display(), "redress listening");
        // Scripts and tests read this line to learn the port when `--listen` ends in `:0`.
        println!("redress listening on http://{address}");
        server::serve(listener, router, shutdown_signal())
            .await
            .context("serving")?;
        tracing::info!("stopped");
        Ok(())
    })
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}

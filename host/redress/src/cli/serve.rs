//! `redress serve`: the HTTP server.

use std::{path::PathBuf, process::ExitCode, sync::Arc, time::Duration};

use anyhow::Context;
use clap::Args;

use super::{DataArg, RulesetsArg, Settings};
use crate::{
    app::{App, AppConfig},
    config::{ServeConfig, ServeOverrides},
    data_dir::DataDir,
    time_source::{FileTimeSource, SystemTimeSource, TimeSource},
};

#[derive(Debug, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub data: DataArg,
    #[command(flatten)]
    pub rulesets: RulesetsArg,
    /// Address to listen on; port 0 picks a free port.
    #[arg(long, env = "REDRESS_LISTEN")]
    pub listen: Option<String>,
    /// A second package directory, for plugins built outside the ruleset tree
    /// (`scripts/serve` passes target/plugins).
    #[arg(long, env = "REDRESS_PLUGINS")]
    pub plugins: Option<PathBuf>,
    /// Trusted vendor keys (`[[key]]` entries from `redress plugin keygen`). With any key
    /// listed, a plugin package is accepted only with a valid signature by one of them.
    #[arg(long, env = "REDRESS_TRUSTED_KEYS")]
    pub trusted_keys: Option<PathBuf>,
    /// Development only: serve without API keys; requests act for the tenant in
    /// `X-Redress-Tenant` with every role. Without this flag the server needs at least one
    /// key in <data>/access.json (`redress key create`).
    #[arg(long, env = "REDRESS_OPEN_ACCESS")]
    pub open_access: bool,
    /// Largest accepted request body, in bytes.
    #[arg(long, env = "REDRESS_MAX_BODY_BYTES")]
    pub max_body_bytes: Option<usize>,
    /// How long a client has to send a request's headers (from when it connects or got
    /// its previous response), and again to send its body, in milliseconds. A slower
    /// client is cut off (408 for a body), so it cannot hold a connection indefinitely.
    /// Default 30000.
    #[arg(long, env = "REDRESS_READ_TIMEOUT_MS")]
    pub read_timeout_ms: Option<u64>,
    /// Connections served at once; more wait to be accepted until one closes. Default 4096.
    #[arg(long, env = "REDRESS_MAX_CONNECTIONS")]
    pub max_connections: Option<usize>,
    /// Simulated time: read "now" from this file (one RFC 3339 instant) instead of the
    /// system clock. For tests and demonstrations of the scheduler only.
    #[arg(long, env = "REDRESS_CLOCK_FILE")]
    pub clock_file: Option<PathBuf>,
    /// How often the scheduler looks for due clocks, in milliseconds.
    #[arg(long, env = "REDRESS_SCHEDULER_INTERVAL_MS", default_value_t = 500)]
    pub scheduler_interval_ms: u64,
    /// When a calendar changes, pause this long (milliseconds) after recomputing each
    /// case's clocks, so that a revision of a large store leaves room for live requests.
    #[arg(long, env = "REDRESS_REVISION_PAUSE_MS", default_value_t = 0)]
    pub revision_pause_ms: u64,
    /// Start although the store has lost writes it acknowledged (found by comparing it with
    /// the acknowledgement ledger). The losses are then reported in the log and on
    /// /readyz until the data directory is restored.
    #[arg(long, env = "REDRESS_ALLOW_DATA_LOSS")]
    pub allow_data_loss: bool,
    /// The secret key (`redress audit keygen`) with which `GET /v1/audit/checkpoint` signs
    /// checkpoints; refused inside the data directory.
    #[arg(long, env = "REDRESS_AUDIT_KEY")]
    pub audit_key: Option<PathBuf>,
    /// Mark the console's cookies Secure (sent over HTTPS only): for a server reached through
    /// an HTTPS proxy. Without it they are Secure when a proxy on this host sends
    /// `X-Forwarded-Proto: https`. Also `[server] secure_cookies = true` in --config.
    #[arg(long, env = "REDRESS_SECURE_COOKIES")]
    pub secure_cookies: bool,
}

pub fn run(args: ServeArgs, settings: &Settings) -> anyhow::Result<ExitCode> {
    let data = DataDir::create(settings.data_path(&args.data))?;
    let rulesets = settings.rulesets_or_builtin(&args.rulesets, &data.builtin_rulesets())?;
    let config = ServeConfig::resolve(
        ServeOverrides {
            listen: args.listen,
            data: Some(data.root().to_owned()),
            rulesets: Some(rulesets),
            plugins: args.plugins,
            trusted_keys: args.trusted_keys,
            max_body_bytes: args.max_body_bytes,
            read_timeout_ms: args.read_timeout_ms,
            max_connections: args.max_connections,
        },
        &settings.file,
        &settings.origin,
    )?;
    let time: Arc<dyn TimeSource> = match &args.clock_file {
        Some(path) => {
            tracing::warn!(path = %path.display(), "simulated time: now is read from a file");
            Arc::new(FileTimeSource::open(path)?)
        }
        None => Arc::new(SystemTimeSource),
    };
    let audit_key = args
        .audit_key
        .map(|path| crate::audit::load_key(&path, data.root()).map(Arc::new))
        .transpose()
        .context("--audit-key")?;
    let app_config = AppConfig {
        plugins: config.plugins.clone(),
        trusted_keys: config.trusted_keys.clone(),
        rule_timeout: config.rule_timeout,
        cache_capacity_bytes: config.cache_capacity_bytes,
        allow_data_loss: args.allow_data_loss,
        revision_pause: Duration::from_millis(args.revision_pause_ms),
        open_access: args.open_access,
        secure_cookies: args.secure_cookies || settings.file.server.secure_cookies.unwrap_or(false),
        ..AppConfig::new(Some(data.clone()), config.rulesets.clone(), time)
    };
    let app = App::open(app_config)?;
    crate::watch::warn_about_horizon(&app.service.calendars().current());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the runtime")?;
    runtime.block_on(async move {
        app.start_background(Duration::from_millis(args.scheduler_interval_ms.max(10)));
        let router = app.router(
            config.max_body_bytes,
            config.connections.read_timeout,
            audit_key,
        );
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .with_context(|| format!("cannot listen on {}", config.listen))?;
        let address = listener.local_addr()?;
        tracing::info!(%address, data = %data.root().display(), "redress listening");
        // Scripts and tests read this line to learn the port when `--listen` ends in `:0`.
        // Both lines in one write, and a closed stdout (a reader that took the first line and
        // went away) is no reason to stop serving: `println!` would panic on it.
        {
            use std::io::Write as _;
            let mut out = std::io::stdout().lock();
            let _ = out
                .write_all(
                    format!(
                        "redress listening on http://{address}\nconsole: http://{address}/console\n"
                    )
                    .as_bytes(),
                )
                .and_then(|()| out.flush());
        }
        crate::server::connections::serve(listener, router, config.connections, shutdown_signal())
            .await
            .context("serving")?;
        tracing::info!("stopped");
        Ok(ExitCode::SUCCESS)
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

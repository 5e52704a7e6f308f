//! The `redress` command: the server and the tools around it.

use std::{
    path::{Path, PathBuf},
    process::ExitCode,
    sync::Arc,
    time::Duration,
};

use anyhow::Context;
use clap::{Parser, Subcommand};
use redress::deadlines;
use redress::rules::{
    Registry,
    artifact_cache::ArtifactCache,
    registry::Suspensions,
    rhai_engine::{Limits, RhaiEngine},
    signing::TrustStore,
};
use redress::{
    access::AccessControl,
    clock::{Clock, FileClock, SystemClock},
    config::{FileConfig, LogFormat, ServeConfig, ServeOverrides},
    scheduler,
    server::{self, HttpOptions},
    service::{Calendars, Redress},
    store::{CaseStore, SledStore, sled_store::SledOptions},
    telemetry,
};
use redress_calendar::CalendarSet;
use redress_domain::clock::{ClockSpec, ClockUnit, DayEnd};

/// The intake path allocates many small, short-lived objects across threads (JSON values,
/// events, sled nodes); glibc's malloc spent about a fifth of the server's CPU under load on
/// them (`scripts/load` with perf), mimalloc much less.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
        /// Ruleset directory: calendars/ and one folder per package.
        #[arg(long, env = "REDRESS_RULESETS")]
        rulesets: Option<PathBuf>,
        /// A second package directory, for plugins built outside the ruleset tree
        /// (`scripts/serve` passes target/plugins).
        #[arg(long, env = "REDRESS_PLUGINS")]
        plugins: Option<PathBuf>,
        /// Trusted vendor keys (`[[key]]` entries from `redress plugin keygen`). With any key
        /// listed, a plugin package is accepted only with a valid signature by one of them.
        #[arg(long, env = "REDRESS_TRUSTED_KEYS")]
        trusted_keys: Option<PathBuf>,
        /// Development only: serve without API keys; requests act for the tenant in
        /// `X-Redress-Tenant` with every role. Without this flag the server needs at least one
        /// key in <data>/access.json (`redress key create`).
        #[arg(long, env = "REDRESS_OPEN_ACCESS")]
        open_access: bool,
        /// Largest accepted request body, in bytes.
        #[arg(long, env = "REDRESS_MAX_BODY_BYTES")]
        max_body_bytes: Option<usize>,
        /// How long a client has to send a request's headers (from when it connects or got
        /// its previous response), and again to send its body, in milliseconds. A slower
        /// client is cut off (408 for a body), so it cannot hold a connection indefinitely.
        /// Default 30000.
        #[arg(long, env = "REDRESS_READ_TIMEOUT_MS")]
        read_timeout_ms: Option<u64>,
        /// Connections served at once; more wait to be accepted until one closes. Default 4096.
        #[arg(long, env = "REDRESS_MAX_CONNECTIONS")]
        max_connections: Option<usize>,
        /// Simulated time: read "now" from this file (one RFC 3339 instant) instead of the
        /// system clock. For tests and demonstrations of the scheduler only.
        #[arg(long, env = "REDRESS_CLOCK_FILE")]
        clock_file: Option<PathBuf>,
        /// How often the scheduler looks for due clocks, in milliseconds.
        #[arg(long, env = "REDRESS_SCHEDULER_INTERVAL_MS", default_value_t = 500)]
        scheduler_interval_ms: u64,
        /// When a calendar changes, pause this long (milliseconds) after recomputing each
        /// case's clocks, so that a revision of a large store leaves room for live requests.
        #[arg(long, env = "REDRESS_REVISION_PAUSE_MS", default_value_t = 0)]
        revision_pause_ms: u64,
        /// Start although the store has lost writes it acknowledged (found by comparing it with
        /// the acknowledgement ledger). The losses are then reported in the log and on
        /// /readyz until the data directory is restored.
        #[arg(long, env = "REDRESS_ALLOW_DATA_LOSS")]
        allow_data_loss: bool,
        /// The secret key (`redress audit keygen`) with which `GET /v1/audit/checkpoint` signs
        /// checkpoints; refused inside the data directory.
        #[arg(long, env = "REDRESS_AUDIT_KEY")]
        audit_key: Option<PathBuf>,
    },
    /// Write the JSON Schemas and the OpenAPI document generated from the server's types.
    Schemas {
        #[arg(long, default_value = "schemas")]
        out: PathBuf,
        /// Only check that the files in `--out` are current; exit 1 if not.
        #[arg(long)]
        check: bool,
    },
    /// Compute a statutory deadline and explain it, as a rule would (for checking rules by hand).
    Deadline {
        /// Calendar id (a file in <rulesets>/calendars).
        #[arg(long, default_value = "cn-mainland")]
        calendar: String,
        /// Start: a date (2026-02-13), a local date-time (2026-02-13T10:00) or an instant with offset.
        #[arg(long)]
        from: String,
        #[arg(long, group = "period")]
        working_days: Option<u32>,
        #[arg(long, group = "period")]
        calendar_days: Option<u32>,
        #[arg(long, group = "period")]
        hours: Option<u32>,
        /// With --calendar-days: move a due date on a rest day to the next working day.
        #[arg(long)]
        roll_forward: bool,
        /// End the due day at close of business instead of 24:00.
        #[arg(long)]
        close_of_business: bool,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
        #[arg(long, env = "REDRESS_RULESETS", default_value = "rulesets")]
        rulesets: PathBuf,
    },
    /// Working-day calendars: import a State Council holiday notice.
    Calendar {
        #[command(subcommand)]
        command: redress::cli::calendar::CalendarCommand,
        #[arg(
            long,
            global = true,
            env = "REDRESS_RULESETS",
            default_value = "rulesets"
        )]
        rulesets: PathBuf,
    },
    /// Run a scenario file through simulated time and print the timeline.
    Simulate {
        scenario: PathBuf,
        #[arg(long, env = "REDRESS_RULESETS", default_value = "rulesets")]
        rulesets: PathBuf,
    },
    /// Tools for rule authors.
    Ruleset {
        #[command(subcommand)]
        command: RulesetCommand,
    },
    /// Audit tools.
    Audit {
        #[command(subcommand)]
        command: redress::cli::audit::AuditCommand,
    },
    /// Signing tools for plugin vendors.
    Plugin {
        #[command(subcommand)]
        command: PluginCommand,
    },
    /// Tenants (organisations) of a data directory. Works while the server runs: it re-reads
    /// <data>/access.json when it changes.
    Tenant {
        #[command(subcommand)]
        command: TenantCommand,
    },
    /// API keys: each for one tenant and one role; the key is shown once, only its hash is kept.
    Key {
        #[command(subcommand)]
        command: KeyCommand,
    },
    /// Jurisdiction routing tables.
    Routing {
        #[command(subcommand)]
        command: RoutingCommand,
    },
    /// Measure raw durable inserts into a fresh store on this disk: the ceiling for intake
    /// over HTTP (`scripts/load` prints the ratio of the two).
    StoreBench {
        /// A data directory that does not exist yet (the benchmark fills it).
        #[arg(long)]
        data: PathBuf,
        /// The case inserted, again and again (YAML or JSON, as for `POST /v1/cases`).
        #[arg(long)]
        case: PathBuf,
        #[arg(long, default_value_t = 10.0)]
        seconds: f64,
        /// Concurrent writer threads.
        #[arg(long, default_value_t = 64)]
        writers: usize,
        /// The rulesets whose decision on the case is written with it, as the server would
        /// (decided once, then the same events written with every insert).
        #[arg(long, env = "REDRESS_RULESETS", default_value = "rulesets")]
        rulesets: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
enum RoutingCommand {
    /// Show which office a case goes to under a routing table, which rule matched and why.
    Test {
        table: PathBuf,
        /// A case intake (YAML or JSON, as for `POST /v1/cases`).
        #[arg(long)]
        case: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
enum TenantCommand {
    /// Add a tenant (`default`, the operator, always exists).
    Create {
        /// Lowercase letters, digits and `-`, e.g. `acme-bank`.
        id: String,
        #[arg(long)]
        name: Option<String>,
        #[arg(long, env = "REDRESS_DATA")]
        data: Option<PathBuf>,
    },
    List {
        #[arg(long, env = "REDRESS_DATA")]
        data: Option<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
enum KeyCommand {
    /// Create a key and print it (once).
    Create {
        #[arg(long)]
        tenant: String,
        #[arg(long, value_enum)]
        role: redress::access::Role,
        /// Who holds it; recorded as the actor of everything the key does.
        #[arg(long)]
        name: String,
        /// When it stops working (RFC 3339, e.g. 2027-06-30T00:00:00+08:00).
        #[arg(long)]
        expires: Option<jiff::Timestamp>,
        #[arg(long, env = "REDRESS_DATA")]
        data: Option<PathBuf>,
    },
    /// The keys (ids, tenants, roles, holders, state; never the secrets).
    List {
        #[arg(long, env = "REDRESS_DATA")]
        data: Option<PathBuf>,
    },
    /// Revoke a key by id; the server refuses it from its next reload (within 2 s).
    Revoke {
        id: String,
        #[arg(long, env = "REDRESS_DATA")]
        data: Option<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
enum PluginCommand {
    /// Create a vendor signing key: `<out>.secret.toml` (keep it) and `<out>.public.toml` (a
    /// `[[key]]` entry for the servers' trusted-keys files).
    Keygen {
        #[arg(long)]
        vendor: String,
        /// Path prefix of the two files, e.g. `keys/acme`.
        #[arg(long)]
        out: PathBuf,
    },
    /// Sign a plugin package: writes `<dir>/signature.toml` over every file of the package.
    Sign {
        dir: PathBuf,
        /// The vendor's `.secret.toml`.
        #[arg(long)]
        key: PathBuf,
    },
    /// Check a package's signature against trusted keys; exit 1 if it does not verify.
    Verify {
        dir: PathBuf,
        /// A trusted-keys file (or a single `.public.toml`).
        #[arg(long)]
        trusted_keys: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
enum RulesetCommand {
    /// Run the fixture cases of one or more ruleset packages; exit 1 if any fails.
    Test {
        #[arg(required = true)]
        dirs: Vec<PathBuf>,
        #[arg(long, env = "REDRESS_RULESETS", default_value = "rulesets")]
        rulesets: PathBuf,
    },
    /// Show the decision for one case and how it was reached.
    Explain {
        dir: PathBuf,
        /// A fixture-format file (case, trigger, now); `expect` is optional.
        #[arg(long)]
        case: PathBuf,
        #[arg(long, env = "REDRESS_RULESETS", default_value = "rulesets")]
        rulesets: PathBuf,
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
    // The tools print their results on stdout; only the server logs its progress by default.
    let default_filter = if matches!(cli.command, Command::Serve { .. }) {
        None
    } else {
        Some("warn")
    };
    telemetry::init(
        log_format,
        cli.log
            .as_deref()
            .or(file.log.filter.as_deref())
            .or(default_filter),
    );
    match cli.command {
        Command::Serve {
            data,
            listen,
            rulesets,
            plugins,
            trusted_keys,
            open_access,
            max_body_bytes,
            read_timeout_ms,
            max_connections,
            clock_file,
            scheduler_interval_ms,
            revision_pause_ms,
            allow_data_loss,
            audit_key,
        } => {
            let config = ServeConfig::resolve(
                ServeOverrides {
                    listen,
                    data,
                    rulesets,
                    plugins,
                    trusted_keys,
                    max_body_bytes,
                    read_timeout_ms,
                    max_connections,
                },
                &file,
                &origin,
            )?;
            let clock: Arc<dyn Clock> = match clock_file {
                Some(path) => {
                    tracing::warn!(path = %path.display(), "simulated time: now is read from a file");
                    Arc::new(FileClock::open(&path)?)
                }
                None => Arc::new(SystemClock),
            };
            serve(
                config,
                clock,
                Duration::from_millis(scheduler_interval_ms.max(10)),
                Duration::from_millis(revision_pause_ms),
                open_access,
                allow_data_loss,
                audit_key,
            )?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Deadline {
            calendar,
            from,
            working_days,
            calendar_days,
            hours,
            roll_forward,
            close_of_business,
            json,
            rulesets,
        } => {
            let calendars = load_calendars(&rulesets.join("calendars"))?;
            let (amount, unit) = match (working_days, calendar_days, hours) {
                (Some(n), _, _) => (n, ClockUnit::WorkingDays),
                (_, Some(n), _) => (n, ClockUnit::CalendarDays),
                (_, _, Some(n)) => (n, ClockUnit::Hours),
                _ => anyhow::bail!("give one of --working-days, --calendar-days or --hours"),
            };
            let start = deadlines::parse_start(&calendars, &calendar, &from)
                .map_err(|e| anyhow::anyhow!("--from: {e}"))?;
            let spec = ClockSpec {
                name: "deadline".into(),
                amount,
                unit,
                calendar,
                roll_forward,
                day_end: if close_of_business {
                    DayEnd::CloseOfBusiness
                } else {
                    DayEnd::Midnight
                },
                warn_before: None,
                article: None,
                escalation: Vec::new(),
                met_by: Vec::new(),
            };
            let deadline = deadlines::compute(&calendars, &spec, start, &[], &[])
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            if json {
                println!("{}", serde_json::to_string_pretty(&deadline)?);
            } else {
                print!("{}", deadline.render_text());
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Calendar { command, rulesets } => redress::cli::calendar::run(command, &rulesets),
        Command::Simulate { scenario, rulesets } => {
            let calendars = load_calendars(&rulesets.join("calendars"))?;
            let name = scenario.display().to_string();
            let text = std::fs::read_to_string(&scenario)
                .with_context(|| format!("{name}: cannot read"))?;
            let parsed = redress::simulate::Scenario::parse(&text, &name)?;
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            let rules = load_rules(
                std::slice::from_ref(&rulesets),
                &calendars,
                Registry::new(RhaiEngine::new(Limits::default())),
            );
            let lines =
                runtime.block_on(redress::simulate::run(parsed, calendars, rules, &name))?;
            let shanghai =
                jiff::tz::TimeZone::get("Asia/Shanghai").unwrap_or(jiff::tz::TimeZone::UTC);
            for line in lines {
                let local = line.at.to_zoned(shanghai.clone());
                println!(
                    "{}  {:<8} {}",
                    local.strftime("%Y-%m-%d %a %H:%M"),
                    line.case,
                    line.what
                );
            }
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
        Command::Ruleset { command } => ruleset_command(command),
        Command::Plugin { command } => plugin_command(command),
        Command::Tenant { command } => access_command(AccessCommand::Tenant(command), &file),
        Command::Key { command } => access_command(AccessCommand::Key(command), &file),
        Command::Routing {
            command: RoutingCommand::Test { table, case },
        } => routing_test(&table, &case),
        Command::StoreBench {
            data,
            case,
            seconds,
            writers,
            rulesets,
        } => store_bench(&data, &case, seconds, writers, &rulesets),
        Command::Audit { command } => redress::cli::audit::run(
            command,
            &file
                .server
                .data
                .clone()
                .unwrap_or_else(|| redress::config::DEFAULT_DATA.into()),
        ),
    }
}

fn serve(
    config: ServeConfig,
    clock: Arc<dyn Clock>,
    scheduler_interval: Duration,
    revision_pause: Duration,
    open_access: bool,
    allow_data_loss: bool,
    audit_key: Option<PathBuf>,
) -> anyhow::Result<()> {
    let audit_key = audit_key
        .map(|path| redress::audit::load_key(&path, &config.data).map(Arc::new))
        .transpose()
        .map_err(|e| anyhow::anyhow!("--audit-key: {e}"))?;
    let limits = config.connections;
    let calendar_dir = config.rulesets.join("calendars");
    let calendar_set = load_calendars(&calendar_dir)?;
    warn_about_horizon(&calendar_set);
    let calendars = Calendars::new(calendar_set);
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
                durable_writes: true,
            },
        )
        .with_context(|| format!("{}: cannot open the store", config.data.display()))?;
        let losses = store.acknowledged_losses();
        if !losses.is_empty() {
            let named: Vec<String> = losses
                .iter()
                .take(20)
                .map(|p| format!("  {} {}", p.case_id, p.problem))
                .collect();
            let more = losses.len().saturating_sub(20);
            let summary = format!(
                "{}: the store has lost {} acknowledged write(s) (compared with {}):\n{}{}",
                config.data.display(),
                losses.len(),
                redress::store::sled_store::LEDGER_FILE,
                named.join("\n"),
                if more > 0 { format!("\n  … and {more} more") } else { String::new() }
            );
            if !allow_data_loss {
                anyhow::bail!(
                    "{summary}\nRestore the data directory from a backup, or start with --allow-data-loss to serve what is left (the losses stay reported on /readyz)."
                );
            }
            for problem in &losses {
                tracing::error!(case_id = %problem.case_id, problem = %problem.problem, "acknowledged data lost");
            }
            tracing::error!("{summary}\nserving what is left because --allow-data-loss was given");
        }
        let access_path = config.data.join(ACCESS_FILE);
        let access = if open_access {
            tracing::warn!("open access: no API keys are checked; requests act for the tenant in X-Redress-Tenant with every role (development only)");
            Arc::new(AccessControl::open_access())
        } else {
            Arc::new(AccessControl::from_file(&access_path).map_err(|e| anyhow::anyhow!("{e}"))?)
        };
        watch_access(Arc::clone(&access));
        let trust = match &config.trusted_keys {
            Some(path) => TrustStore::load(path).map_err(|e| anyhow::anyhow!("{e}"))?,
            None => TrustStore::default(),
        };
        if trust.is_enforced() {
            for key in trust.keys() {
                tracing::info!(vendor = %key.vendor, key_id = %key.key_id, "trusted plugin key");
            }
        } else {
            tracing::warn!("no trusted plugin keys configured (--trusted-keys): unsigned plugins are accepted; configure keys for production");
        }
        let package_dirs: Vec<PathBuf> = std::iter::once(config.rulesets.clone())
            .chain(config.plugins.clone())
            .collect();
        let suspensions = Suspensions::load(&config.data.join("suspended-rulesets.json"))
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let cache_dir = config.data.join("plugin-cache");
        let plugin_cache = ArtifactCache::open(&cache_dir).map_err(|e| anyhow::anyhow!("{e}"))?;
        // The configured time bound, before any plugin is loaded (which creates the engine).
        if let Err(e) = redress::rules::wasm::WasmEngine::shared_with(
            redress::rules::wasm::WasmLimits {
                timeout: config.rule_timeout,
                ..Default::default()
            },
        ) {
            tracing::error!(error = %e, "plugins cannot run");
        }
        let rhai_limits = Limits {
            timeout: config.rule_timeout,
            ..Limits::default()
        };
        let registry = Registry::with_trust(RhaiEngine::new(rhai_limits), trust)
            .with_suspensions(suspensions)
            .with_plugin_cache(plugin_cache);
        // Each tenant's own trusted vendor keys, before any package of theirs is installed.
        let plugin_keys_dir = config.data.join("plugin-keys");
        registry
            .load_tenant_trust(&plugin_keys_dir)
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let rules = load_rules(&package_dirs, &calendars.current(), registry);
        if let Some(cache) = rules.plugin_cache() {
            tracing::info!(
                hits = cache.stats.hits.load(std::sync::atomic::Ordering::Relaxed),
                compiled = cache.stats.misses.load(std::sync::atomic::Ordering::Relaxed)
                    + cache.stats.refused.load(std::sync::atomic::Ordering::Relaxed),
                "plugins loaded (hits: from the compiled-artifact cache)"
            );
        }
        let deployed_dir = config.data.join("rulesets");
        for (path, error) in rules.install_dir(&deployed_dir, &calendars.current()) {
            tracing::error!(package = %path.display(), error = %error, "deployed ruleset refused");
        }
        // Every package is installed: compiled code that none of them uses goes.
        let evicted = rules.evict_unused_artifacts();
        if evicted > 0 {
            tracing::info!(evicted, "unused compiled plugins deleted from the artifact cache");
        }
        let app = Redress::new(
            Arc::new(store),
            clock,
            calendars.clone(),
            Arc::clone(&rules),
        )
        .with_deployed_dir(deployed_dir)
        .with_plugin_keys_dir(plugin_keys_dir)
        .with_calendar_record(config.data.join("calendar-versions.json"), revision_pause)
        .with_routing(Arc::new(
            redress::routing::RoutingTables::load_dir(&config.data.join("routing"))
                .map_err(|e| anyhow::anyhow!("{e}"))?,
        ));
        for dir in package_dirs {
            watch_rulesets(dir, Arc::clone(&rules), calendars.clone());
        }
        watch_calendars(calendar_dir, app.clone());
        // Due times first, firings after: a calendar published while the server was down must
        // not let the scheduler fire breaches on the due times it replaces.
        let starting = app.clone();
        tokio::spawn(async move {
            reconcile_calendars(&starting).await;
            scheduler::spawn(starting, scheduler_interval);
        });
        let router = server::router(
            app,
            &HttpOptions {
                max_body_bytes: config.max_body_bytes,
                body_read_timeout: limits.read_timeout,
                access,
                tracking: Arc::new(
                    redress::tracking::Tracking::open(&config.data.join("tracking.key"))
                        .with_context(|| format!("{}: the tracking key", config.data.display()))?,
                ),
                audit_key,
            },
        );
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .with_context(|| format!("cannot listen on {}", config.listen))?;
        let address = listener.local_addr()?;
        tracing::info!(%address, data = %config.data.display(), "redress listening");
        // Scripts and tests read this line to learn the port when `--listen` ends in `:0`.
        println!("redress listening on http://{address}");
        server::connections::serve(listener, router, limits, shutdown_signal())
            .await
            .context("serving")?;
        tracing::info!("stopped");
        Ok(())
    })
}

/// The built-in rulesets under `dirs` (every folder with a `ruleset.toml`). A package whose
/// fixtures fail, or a plugin whose signature does not verify, is refused and logged; the
/// others serve, and cases of a sector left without a ruleset go to manual handling.
fn load_rules(dirs: &[PathBuf], calendars: &CalendarSet, registry: Registry) -> Arc<Registry> {
    let refused = dirs
        .iter()
        .flat_map(|dir| registry.install_dir(dir, calendars));
    for (path, error) in refused {
        tracing::error!(package = %path.display(), error = %error, "ruleset refused");
        if let redress::rules::registry::PackageError::FixturesFail { reports, .. } = &error {
            for report in reports {
                tracing::error!(fixture = %report.name, differences = %report.differences.join("; "), "failing fixture case");
            }
        }
    }
    Arc::new(registry)
}

fn load_calendars(dir: &Path) -> anyhow::Result<CalendarSet> {
    let set = CalendarSet::load_dir(dir).map_err(|e| anyhow::anyhow!("{e}"))?;
    tracing::info!(dir = %dir.display(), calendars = ?set.ids().collect::<Vec<_>>(), "calendars loaded");
    Ok(set)
}

/// For the server only: the command-line tools compute one answer and say so if a date is
/// not covered.
fn warn_about_horizon(set: &CalendarSet) {
    let today = jiff::Zoned::now().date();
    for warning in set.horizon_warnings(today, redress::CALENDAR_HORIZON_WARNING_DAYS) {
        tracing::warn!("{warning}");
    }
}

fn read_text(path: &Path) -> anyhow::Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("{}: cannot read", path.display()))
}

/// A case intake from a YAML or JSON file (JSON is YAML), with the file, line and field of
/// any error.
fn read_intake(path: &Path) -> anyhow::Result<redress_domain::CaseIntake> {
    let text = read_text(path)?;
    Ok(redress::yaml::from_str(&text, &path.display().to_string())?)
}

fn store_bench(
    data: &Path,
    case: &Path,
    seconds: f64,
    writers: usize,
    rulesets: &Path,
) -> anyhow::Result<ExitCode> {
    let intake = read_intake(case)?;
    let now = jiff::Timestamp::now();
    if let Err(errors) = intake.validate(now) {
        anyhow::bail!("{}: not a valid case: {errors}", case.display());
    }
    // The rules decide once, outside the measurement: the benchmark is of the store writing
    // the same records as intake, not of the rules (`cargo bench --bench rules` has those).
    let calendars = load_calendars(&rulesets.join("calendars"))?;
    let rules = load_rules(
        &[rulesets.to_path_buf()],
        &calendars,
        Registry::new(RhaiEngine::new(Limits::default())),
    );
    let (registered, _) = redress_domain::Case::register(
        redress_domain::CaseId::from_parts(0, 0),
        redress_domain::TrackingCode::from_random(0),
        "default".into(),
        intake.clone(),
        redress_domain::Actor::api("store-bench"),
        now,
    )?;
    let decided = redress::service::decide(
        &rules,
        &calendars,
        redress_domain::contract::Trigger::CaseReceived,
        &registered,
        now,
    );
    let decided: redress::store::Plan = Arc::new(move |_, _| Ok(decided.clone()));
    if data.exists() {
        anyhow::bail!(
            "{}: already exists; the benchmark needs a fresh directory",
            data.display()
        );
    }
    let duration = Duration::try_from_secs_f64(seconds)
        .ok()
        .filter(|d| !d.is_zero())
        .with_context(|| format!("--seconds {seconds}: must be a positive number"))?;
    let figures =
        redress::store::load::insert_for(data, &intake, Some(decided), writers, duration)?;
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    // One line of JSON, for scripts/load to read.
    println!(
        "{}",
        serde_json::json!({
            "inserts": figures.inserts,
            "seconds": figures.elapsed.as_secs_f64(),
            "per_second": figures.per_second(),
            "p50_ms": ms(figures.p50),
            "p99_ms": ms(figures.p99),
            "max_ms": ms(figures.max),
            "writers": writers,
        })
    );
    Ok(ExitCode::SUCCESS)
}

fn routing_test(table_path: &Path, case_path: &Path) -> anyhow::Result<ExitCode> {
    use redress::routing::{Matched, RouteQuery, RoutingTable};
    let table = RoutingTable::parse(&read_text(table_path)?, &table_path.display().to_string())?;
    let intake = read_intake(case_path)?;
    let query = RouteQuery::for_intake(&intake);
    let Some(resolution) = table.resolve(&query) else {
        println!(
            "no office: no rule matches and the table has no default; the case stays with intake"
        );
        return Ok(ExitCode::from(1));
    };
    println!(
        "office {} ({}, {:?} level)",
        resolution.office.id, resolution.office.name, resolution.office.level
    );
    println!(
        "matched: {}",
        match resolution.matched {
            Matched::Rule(n) => format!("rule #{n}"),
            Matched::Default => "the default".into(),
        }
    );
    for line in &resolution.why {
        println!("  - {line}");
    }
    if !resolution.less_specific.is_empty() {
        let others: Vec<String> = resolution
            .less_specific
            .iter()
            .map(|n| format!("#{n}"))
            .collect();
        println!("  - also matching, less specific: {}", others.join(", "));
    }
    let parents: Vec<String> = std::iter::successors(table.parent_of(&resolution.office.id), |o| {
        table.parent_of(&o.id)
    })
    .map(|o| o.id.clone())
    .collect();
    if !parents.is_empty() {
        println!("escalation: {}", parents.join(" → "));
    }
    Ok(ExitCode::SUCCESS)
}

/// The tenants and keys of a data directory.
const ACCESS_FILE: &str = "access.json";

/// Re-reads the keys when `redress key` changes them, so that a new key works and a revoked
/// one stops working without a restart. A broken file is refused and the keys in force stay.
fn watch_access(access: Arc<AccessControl>) {
    if access.is_open() {
        return;
    }
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_secs(2)).await;
            match access.reload_if_changed() {
                Ok(true) => tracing::info!("API keys reloaded"),
                Ok(false) => {}
                Err(e) => {
                    tracing::error!(error = %e, "API key change refused; the keys in force stay")
                }
            }
        }
    });
}

enum AccessCommand {
    Tenant(TenantCommand),
    Key(KeyCommand),
}

fn access_command(command: AccessCommand, file_config: &FileConfig) -> anyhow::Result<ExitCode> {
    use redress::access::AccessFile;
    let data_of = |data: Option<PathBuf>| {
        data.or_else(|| file_config.server.data.clone())
            .unwrap_or_else(|| redress::config::DEFAULT_DATA.into())
    };
    let now = SystemClock.now();
    let open = |data: &Path| -> anyhow::Result<(PathBuf, AccessFile)> {
        std::fs::create_dir_all(data).with_context(|| format!("creating {}", data.display()))?;
        let path = data.join(ACCESS_FILE);
        let file = AccessFile::load(&path)?;
        Ok((path, file))
    };
    match command {
        AccessCommand::Tenant(TenantCommand::Create { id, name, data }) => {
            let (path, mut file) = open(&data_of(data))?;
            file.create_tenant(&id, name.as_deref().unwrap_or(&id), now)?;
            file.save(&path)?;
            println!("tenant {id} created ({})", path.display());
        }
        AccessCommand::Tenant(TenantCommand::List { data }) => {
            let (_, file) = open(&data_of(data))?;
            println!("default\t(the operator)");
            for tenant in &file.tenants {
                println!("{}\t{}\t{}", tenant.id, tenant.name, tenant.created_at);
            }
        }
        AccessCommand::Key(KeyCommand::Create {
            tenant,
            role,
            name,
            expires,
            data,
        }) => {
            let (path, mut file) = open(&data_of(data))?;
            let (record, key) = file.create_key(&tenant, role, &name, expires, now)?;
            file.save(&path)?;
            eprintln!(
                "key {} for tenant {} as {} ({}); shown once, keep it:",
                record.id,
                record.tenant,
                record.role.as_str(),
                record.name
            );
            println!("{key}");
        }
        AccessCommand::Key(KeyCommand::List { data }) => {
            let (_, file) = open(&data_of(data))?;
            for key in &file.keys {
                let state = match (key.revoked_at, key.expires_at) {
                    (Some(at), _) => format!("revoked {at}"),
                    (None, Some(at)) if at <= now => format!("expired {at}"),
                    (None, Some(at)) => format!("active until {at}"),
                    (None, None) => "active".into(),
                };
                println!(
                    "{}\t{}\t{}\t{}\t{state}",
                    key.id,
                    key.tenant,
                    key.role.as_str(),
                    key.name
                );
            }
        }
        AccessCommand::Key(KeyCommand::Revoke { id, data }) => {
            let (path, mut file) = open(&data_of(data))?;
            let revoked = file.revoke_key(&id, now)?.clone();
            file.save(&path)?;
            println!(
                "key {} ({}, {}) revoked; a running server refuses it within 2 s",
                revoked.id, revoked.tenant, revoked.name
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The newest modification time of any file under `dir` (two levels: packages and their cases).
fn tree_stamp(dir: &Path) -> Option<std::time::SystemTime> {
    fn newest(dir: &Path, depth: u32) -> Option<std::time::SystemTime> {
        std::fs::read_dir(dir)
            .ok()?
            .filter_map(Result::ok)
            .filter_map(|entry| {
                let path = entry.path();
                let own = entry.metadata().ok()?.modified().ok();
                let inner = if path.is_dir() && depth > 0 {
                    newest(&path, depth - 1)
                } else {
                    None
                };
                own.max(inner)
            })
            .max()
    }
    newest(dir, 2)
}

/// Installs new ruleset packages dropped into the ruleset directory, without a restart. A new
/// version is compiled and its fixtures run before it becomes active; a changed package that
/// keeps its version is refused (a version's content never changes once active).
fn watch_rulesets(dir: PathBuf, rules: Arc<Registry>, calendars: Calendars) {
    tokio::spawn(async move {
        let mut seen = tree_stamp(&dir);
        loop {
            tokio::time::sleep(Duration::from_secs(2)).await;
            let stamp = tree_stamp(&dir);
            if stamp == seen {
                continue;
            }
            seen = stamp;
            let (rules, dir, calendars) = (Arc::clone(&rules), dir.clone(), calendars.current());
            let refused = tokio::task::spawn_blocking(move || rules.install_dir(&dir, &calendars))
                .await
                .unwrap_or_default();
            for (path, error) in refused {
                tracing::error!(package = %path.display(), error = %error, "ruleset change refused; the active versions stay");
            }
        }
    });
}

/// The newest modification time among the calendar files: a change means "reload".
/// Every calendar file and statute with its modification time, so that a file added, changed
/// or removed (a year file withdrawn) is noticed.
fn calendar_stamp(dir: &Path) -> Vec<(PathBuf, Option<std::time::SystemTime>)> {
    let mut files: Vec<_> = [dir.to_path_buf(), dir.join("statutes")]
        .iter()
        .filter_map(|d| std::fs::read_dir(d).ok())
        .flatten()
        .filter_map(Result::ok)
        .filter(|entry| entry.path().extension().is_some_and(|e| e == "toml"))
        .map(|entry| {
            let modified = entry.metadata().ok().and_then(|m| m.modified().ok());
            (entry.path(), modified)
        })
        .collect();
    files.sort();
    files
}

/// Recomputes open clocks on calendars that changed, then says how many clocks are still
/// provisional and how many cases wait for a person.
async fn reconcile_calendars(app: &Redress) {
    if let Err(e) = app.reconcile_calendars().await {
        tracing::error!(error = %e, "due times could not be recomputed with the calendars in force; the next start or calendar change retries");
    }
    match app.health_counts().await {
        Ok(counts) => {
            if counts.provisional_clocks > 0 {
                tracing::warn!(
                    provisional_clocks = counts.provisional_clocks,
                    "open clocks have provisional due times (a year without a published holiday schedule: statutory holidays only); they are recomputed when the schedule is added"
                );
            }
            if counts.manual_handling > 0 {
                tracing::warn!(
                    manual_handling = counts.manual_handling,
                    "cases are in manual handling: the rules could not decide them"
                );
            }
        }
        Err(e) => tracing::error!(error = %e, "health counts could not be read"),
    }
}

/// Reloads the calendars when their files change, then recomputes the open clocks they move.
/// A set that fails validation is refused with the file and line, and the calendars in force
/// stay.
fn watch_calendars(dir: PathBuf, app: Redress) {
    tokio::spawn(async move {
        let mut seen = calendar_stamp(&dir);
        loop {
            tokio::time::sleep(Duration::from_secs(2)).await;
            let stamp = calendar_stamp(&dir);
            if stamp == seen {
                continue;
            }
            seen = stamp;
            match CalendarSet::load_dir(&dir) {
                Ok(set) => {
                    tracing::info!(calendars = ?set.ids().collect::<Vec<_>>(), "calendars reloaded");
                    warn_about_horizon(&set);
                    app.calendars().replace(set);
                    reconcile_calendars(&app).await;
                }
                Err(e) => {
                    tracing::error!(error = %e, "calendar change refused; the previous calendars stay in force")
                }
            }
        }
    });
}

fn ruleset_command(command: RulesetCommand) -> anyhow::Result<ExitCode> {
    use redress::rules::{
        fixtures::Fixture,
        registry::{LoadedRuleset, Package},
        rhai_engine::{Limits, RhaiEngine},
    };
    let engine = RhaiEngine::new(Limits::default());
    match command {
        RulesetCommand::Test { dirs, rulesets } => {
            let calendars = load_calendars(&rulesets.join("calendars"))?;
            let (mut passed, mut failed) = (0usize, 0usize);
            for dir in dirs {
                let package = Package::read_dir(&dir)?;
                let (loaded, fixtures) = LoadedRuleset::compile(&engine, &package)?;
                println!(
                    "{} {} ({} fixture cases)",
                    loaded.manifest.id,
                    loaded.manifest.version,
                    fixtures.len()
                );
                for fixture in &fixtures {
                    let report = fixture.run(&loaded, &calendars);
                    if report.passed() {
                        passed += 1;
                        println!("  pass  {}", report.name);
                    } else {
                        failed += 1;
                        println!("  FAIL  {}: {}", report.name, report.description);
                        for difference in &report.differences {
                            for line in difference.lines() {
                                println!("        {line}");
                            }
                        }
                    }
                }
            }
            println!("{passed} passed, {failed} failed");
            Ok(if failed == 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
        RulesetCommand::Explain {
            dir,
            case,
            rulesets,
        } => {
            let calendars = load_calendars(&rulesets.join("calendars"))?;
            let package = Package::read_dir(&dir)?;
            let (loaded, _) = LoadedRuleset::compile(&engine, &package)?;
            let name = case.display().to_string();
            let text =
                std::fs::read_to_string(&case).with_context(|| format!("{name}: cannot read"))?;
            let fixture = Fixture::parse(&text, &name, &name)?;
            let evaluation = fixture
                .evaluate(&loaded, &calendars)
                .map_err(|e| anyhow::anyhow!("{name}: {e}"))?;
            println!(
                "ruleset {} {} on {}",
                loaded.manifest.id,
                loaded.manifest.version,
                fixture.trigger.describe()
            );
            for event in &evaluation.events {
                match event {
                    redress_domain::EventKind::Decision {
                        actions,
                        explanation,
                        ..
                    } => {
                        println!("reasoning:");
                        for line in explanation {
                            println!("  - {line}");
                        }
                        println!("actions:");
                        for action in actions {
                            println!("  - {}", serde_json::to_string(action)?);
                        }
                    }
                    redress_domain::EventKind::RuleFailure { reason, .. } => {
                        println!("rule failure: {reason}")
                    }
                    _ => {}
                }
            }
            println!(
                "status: {} → {}",
                evaluation.case_before.status, evaluation.case_after.status
            );
            for (clock_name, clock) in &evaluation.case_after.clocks {
                if evaluation.case_before.clocks.get(clock_name) == Some(clock) {
                    continue;
                }
                println!("clock {clock_name}: {}", clock.state.as_str());
                if let Ok(explanation) =
                    <redress_calendar::Explanation as serde::Deserialize>::deserialize(
                        clock.explanation.as_ref(),
                    )
                {
                    for line in explanation.render_text().lines() {
                        println!("  {line}");
                    }
                }
            }
            if fixture.expect.actions.is_some() || !fixture.expect.clocks.is_empty() {
                let report = fixture.run(&loaded, &calendars);
                println!(
                    "{}",
                    if report.passed() {
                        "matches the expected decision".to_owned()
                    } else {
                        report.differences.join("\n")
                    }
                );
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn plugin_command(command: PluginCommand) -> anyhow::Result<ExitCode> {
    use redress::rules::{
        registry::{LoadedRuleset, Package},
        signing::{SIGNATURE_FILE, VendorKey},
    };
    // A plugin is compiled to learn its interface version and sector, as the server will.
    let compiled = |dir: &Path| -> anyhow::Result<(Package, LoadedRuleset)> {
        let package = Package::read_dir(dir)?;
        let (loaded, _) = LoadedRuleset::compile(&RhaiEngine::new(Limits::default()), &package)?;
        if loaded.plugin_descriptor().is_none() {
            anyhow::bail!(
                "{}/ruleset.toml: engine = \"{}\"; only WebAssembly plugin packages (engine = \"wasm\") are signed",
                dir.display(),
                serde_json::to_value(loaded.manifest.engine)?
                    .as_str()
                    .unwrap_or_default()
            );
        }
        Ok((package, loaded))
    };
    match command {
        PluginCommand::Keygen { vendor, out } => {
            let key = VendorKey::generate(&vendor)?;
            let with_suffix = |suffix: &str| {
                let mut path = out.clone().into_os_string();
                path.push(suffix);
                PathBuf::from(path)
            };
            let (secret, public) = (with_suffix(".secret.toml"), with_suffix(".public.toml"));
            for path in [&secret, &public] {
                if path.exists() {
                    anyhow::bail!("{}: already exists; not overwritten", path.display());
                }
            }
            if let Some(parent) = secret.parent().filter(|p| !p.as_os_str().is_empty()) {
                std::fs::create_dir_all(parent)
                    .with_context(|| format!("{}: cannot create", parent.display()))?;
            }
            write_secret(&secret, &key.secret_toml())?;
            std::fs::write(&public, key.public_toml())
                .with_context(|| format!("{}: cannot write", public.display()))?;
            println!(
                "key {} of vendor `{vendor}`\n  secret: {} (keep it safe)\n  public: {} (give it to the servers that should trust you)",
                key.key_id(),
                secret.display(),
                public.display()
            );
            Ok(ExitCode::SUCCESS)
        }
        PluginCommand::Sign { dir, key } => {
            let name = key.display().to_string();
            let text =
                std::fs::read_to_string(&key).with_context(|| format!("{name}: cannot read"))?;
            let key = VendorKey::parse(&text, &name)?;
            let (package, loaded) = compiled(&dir)?;
            let expected = loaded
                .expected_statement()
                .context("not a plugin package")?;
            let signature = key.sign(&package, &expected);
            let path = dir.join(SIGNATURE_FILE);
            std::fs::write(&path, signature)
                .with_context(|| format!("{}: cannot write", path.display()))?;
            println!(
                "signed {} {} (interface {}) as `{}` with key {}: {}",
                expected.id,
                expected.version,
                expected.interface,
                key.vendor,
                key.key_id(),
                path.display()
            );
            Ok(ExitCode::SUCCESS)
        }
        PluginCommand::Verify { dir, trusted_keys } => {
            let trust = TrustStore::load(&trusted_keys)?;
            if !trust.is_enforced() {
                anyhow::bail!("{}: lists no key", trusted_keys.display());
            }
            let (package, loaded) = compiled(&dir)?;
            let expected = loaded
                .expected_statement()
                .context("not a plugin package")?;
            match trust.verify(&package, &expected) {
                Ok(signer) => {
                    println!(
                        "ok: {} {} signed by `{}` (key {})",
                        expected.id, expected.version, signer.vendor, signer.key_id
                    );
                    Ok(ExitCode::SUCCESS)
                }
                Err(e) => {
                    eprintln!("{}: refused: {e}", dir.display());
                    Ok(ExitCode::from(1))
                }
            }
        }
    }
}

/// Writes a secret key readable by its owner only.
fn write_secret(path: &Path, text: &str) -> anyhow::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options
        .open(path)
        .with_context(|| format!("{}: cannot create", path.display()))?;
    file.write_all(text.as_bytes())
        .and_then(|()| file.sync_all())
        .with_context(|| format!("{}: cannot write", path.display()))
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

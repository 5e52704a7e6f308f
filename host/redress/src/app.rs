//! The composition root: the one place the application is assembled from its configuration.
//! `redress serve`, `redress simulate`, the benchmarks and (through the binary) the integration
//! tests all build it here, so none of them runs with a different set of parts (routing tables,
//! trusted keys, suspensions, the plugin artifact cache) than production.
//!
//! Invariants:
//! - the store is opened, and refused when it has lost acknowledged writes, before any rule,
//!   key or route is loaded;
//! - every package is installed before unused compiled plugins are evicted;
//! - due times are reconciled with the calendars in force before the scheduler fires anything
//!   (`start_background`): a calendar published while the server was down must not let the
//!   scheduler fire breaches on the due times it replaces.

use std::{path::PathBuf, sync::Arc, time::Duration};

use redress_calendar::CalendarSet;

use crate::{
    access::{AccessControl, AccessError},
    console::{Console, accounts::FileAccounts, sled_sessions::SledSessions},
    data_dir::DataDir,
    repeat::RepeatKey,
    routing::{RoutingError, RoutingTables},
    rules::{
        Registry,
        artifact_cache::{ArtifactCache, CacheError},
        registry::{PackageError, Suspensions},
        rhai_engine::{Limits, RhaiEngine},
        signing::{SignatureError, TrustStore},
        wasm::{WasmEngine, WasmLimits},
    },
    scheduler,
    server::{self, HttpOptions},
    service::{Calendars, Redress},
    store::{AuditProblem, CaseStore, MemoryStore, SledOptions, SledStore, StoreError},
    time_source::TimeSource,
    tracking::Tracking,
    watch,
};

/// What the application is built from.
#[derive(Debug, Clone)]
pub struct AppConfig {
    /// Where cases, keys, deployed packages and routing tables are kept. `None`: everything
    /// in memory and gone at exit (simulations, tools); nothing is read from or written to disk
    /// but the rulesets.
    pub data: Option<DataDir>,
    /// The ruleset directory: `calendars/` and one folder per package.
    pub rulesets: PathBuf,
    /// A second package directory, e.g. built plugins (`target/plugins`).
    pub plugins: Option<PathBuf>,
    /// Vendor keys whose signatures plugins must carry (none: unsigned plugins are accepted).
    pub trusted_keys: Option<PathBuf>,
    /// Wall-clock bound on one rule decision, both engines.
    pub rule_timeout: Duration,
    pub cache_capacity_bytes: u64,
    /// Whether every acknowledged write is on disk first (always, for the server).
    pub durable_writes: bool,
    /// Serve although the store lost writes it acknowledged.
    pub allow_data_loss: bool,
    /// Pause between cases when a calendar change revises clocks.
    pub revision_pause: Duration,
    /// Development only: no API keys; the `X-Redress-Tenant` header picks the tenant.
    pub open_access: bool,
    /// Mark the console's cookies Secure on every response (`serve --secure-cookies`).
    pub secure_cookies: bool,
    pub time: Arc<dyn TimeSource>,
}

impl AppConfig {
    /// A configuration with the defaults of `redress serve` for everything but the two
    /// directories.
    pub fn new(data: Option<DataDir>, rulesets: PathBuf, time: Arc<dyn TimeSource>) -> AppConfig {
        AppConfig {
            data,
            rulesets,
            plugins: None,
            trusted_keys: None,
            rule_timeout: Duration::from_millis(2_000),
            cache_capacity_bytes: 256 * 1024 * 1024,
            durable_writes: true,
            allow_data_loss: false,
            revision_pause: Duration::ZERO,
            open_access: false,
            secure_cookies: false,
            time,
        }
    }
}

/// Why the application could not be assembled. Each names the file or directory at fault.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("{dir}: the calendars do not load")]
    Calendars {
        dir: String,
        #[source]
        source: redress_calendar::LoadError,
    },
    #[error("{dir}: cannot open the store")]
    Store {
        dir: String,
        #[source]
        source: StoreError,
    },
    #[error(
        "{dir}: the store has lost {count} acknowledged write(s) (compared with {ledger}):\n{named}\nRestore the data directory from a backup, or start with --allow-data-loss to serve what is left (the losses stay reported on /readyz)."
    )]
    DataLoss {
        dir: String,
        count: usize,
        ledger: &'static str,
        named: String,
    },
    #[error("the API keys cannot be read")]
    Access(#[source] AccessError),
    #[error("the console accounts cannot be read")]
    Accounts(#[source] crate::console::accounts::AccountError),
    #[error("the console's sessions cannot be opened")]
    Sessions(#[source] crate::console::sessions::SessionError),
    #[error("the trusted plugin keys cannot be read")]
    TrustedKeys(#[source] SignatureError),
    #[error("the tenants' trusted plugin keys cannot be read")]
    TenantKeys(#[source] SignatureError),
    #[error("the suspended rulesets cannot be read")]
    Suspensions(#[source] PackageError),
    #[error("the compiled-plugin cache cannot be opened")]
    PluginCache(#[source] CacheError),
    #[error("the routing tables do not load")]
    Routing(#[source] RoutingError),
    #[error("{path}: the tracking key cannot be read or created")]
    TrackingKey {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: the repeat-detection key cannot be read or created")]
    RepeatKey {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

/// The assembled application: the service, and what the HTTP layer needs beside it.
#[derive(Debug, Clone)]
pub struct App {
    pub service: Redress,
    pub access: Arc<AccessControl>,
    pub tracking: Arc<Tracking>,
    /// People's accounts and sessions for the console.
    pub console: Arc<Console>,
    /// Every directory packages are installed from, the ruleset directory first.
    pub package_dirs: Vec<PathBuf>,
    pub calendar_dir: PathBuf,
}

/// The calendars of `<rulesets>/calendars`.
pub fn load_calendars(rulesets: &std::path::Path) -> Result<CalendarSet, AppError> {
    let dir = rulesets.join("calendars");
    let set = CalendarSet::load_dir(&dir).map_err(|source| AppError::Calendars {
        dir: dir.display().to_string(),
        source,
    })?;
    tracing::info!(dir = %dir.display(), calendars = ?set.ids().collect::<Vec<_>>(), "calendars loaded");
    Ok(set)
}

/// Installs the packages under `dirs` (every folder with a `ruleset.toml`). A package whose
/// fixtures fail, or a plugin whose signature does not verify, is refused and logged; the
/// others serve, and cases of a sector left without a ruleset go to manual handling.
pub fn install_packages(registry: &Registry, dirs: &[PathBuf], calendars: &CalendarSet) {
    for (path, error) in dirs
        .iter()
        .flat_map(|dir| registry.install_dir(dir, calendars))
    {
        tracing::error!(package = %path.display(), error = %error, "ruleset refused");
        if let PackageError::FixturesFail { reports, .. } = &error {
            for report in reports {
                tracing::error!(fixture = %report.name, differences = %report.differences.join("; "), "failing fixture case");
            }
        }
    }
}

impl App {
    /// Assembles the application. Blocking (it opens the store and compiles every package):
    /// call it before the runtime starts serving, or from a blocking task.
    pub fn open(config: AppConfig) -> Result<App, AppError> {
        let calendar_dir = config.rulesets.join("calendars");
        let calendars = Calendars::new(load_calendars(&config.rulesets)?);
        let store: Arc<dyn CaseStore> = match &config.data {
            Some(data) => Arc::new(open_store(data, &config)?),
            None => Arc::new(MemoryStore::new()),
        };
        let accounts = match &config.data {
            Some(data) => Some(Arc::new(
                FileAccounts::open(&data.accounts_file()).map_err(AppError::Accounts)?,
            )),
            None => None,
        };
        let has_accounts = accounts.as_ref().is_some_and(|a| !a.is_empty());
        let console = match (accounts, &config.data) {
            (Some(accounts), Some(data)) => Console {
                sessions: Arc::new(
                    SledSessions::open(&data.sessions(), config.time.now())
                        .map_err(AppError::Sessions)?,
                ),
                ..Console::new(accounts, config.secure_cookies)
            },
            _ => Console {
                secure_cookies: config.secure_cookies,
                ..Console::in_memory()
            },
        };
        let access = if config.open_access {
            tracing::warn!(
                "open access: no API keys are checked; requests act for the tenant in X-Redress-Tenant with every role (development only)"
            );
            match &config.data {
                // Keys are not checked, but the public forms' setting is read from the file.
                Some(data) => Arc::new(
                    AccessControl::open_access_reading(&data.access_file())
                        .map_err(AppError::Access)?,
                ),
                None => Arc::new(AccessControl::open_access()),
            }
        } else {
            match &config.data {
                // A server without API keys starts when people have console accounts: the API
                // then answers 401 to everyone until a key is made, so nothing is open.
                Some(data) if has_accounts => Arc::new(
                    AccessControl::from_file_allowing_none(&data.access_file())
                        .map_err(AppError::Access)?,
                ),
                Some(data) => Arc::new(
                    AccessControl::from_file(&data.access_file()).map_err(AppError::Access)?,
                ),
                None => Arc::new(AccessControl::open_access()),
            }
        };
        let trust = match &config.trusted_keys {
            Some(path) => TrustStore::load(path).map_err(AppError::TrustedKeys)?,
            None => TrustStore::default(),
        };
        if trust.is_enforced() {
            for key in trust.keys() {
                tracing::info!(vendor = %key.vendor, key_id = %key.key_id, "trusted plugin key");
            }
        } else if config.data.is_some() {
            tracing::warn!(
                "no trusted plugin keys configured (--trusted-keys): unsigned plugins are accepted; configure keys for production"
            );
        }
        // The configured time bound, before any plugin is loaded (which creates the engine).
        if let Err(e) = WasmEngine::shared_with(WasmLimits {
            timeout: config.rule_timeout,
            ..Default::default()
        }) {
            tracing::error!(error = %e, "plugins cannot run");
        }
        let mut registry = Registry::with_trust(
            RhaiEngine::new(Limits {
                timeout: config.rule_timeout,
                ..Limits::default()
            }),
            trust,
        );
        if let Some(data) = &config.data {
            registry = registry
                .with_suspensions(
                    Suspensions::load(&data.suspended_rulesets()).map_err(AppError::Suspensions)?,
                )
                .with_plugin_cache(
                    ArtifactCache::open(&data.plugin_cache()).map_err(AppError::PluginCache)?,
                );
            // Each tenant's own trusted vendor keys, before any package of theirs is installed.
            registry
                .load_tenant_trust(&data.plugin_keys())
                .map_err(AppError::TenantKeys)?;
        }
        let package_dirs: Vec<PathBuf> = std::iter::once(config.rulesets.clone())
            .chain(config.plugins.clone())
            .collect();
        install_packages(&registry, &package_dirs, &calendars.current());
        let rules = Arc::new(registry);
        if let Some(cache) = rules.plugin_cache() {
            tracing::info!(
                hits = cache.stats.hits.load(std::sync::atomic::Ordering::Relaxed),
                compiled = cache
                    .stats
                    .misses
                    .load(std::sync::atomic::Ordering::Relaxed)
                    + cache
                        .stats
                        .refused
                        .load(std::sync::atomic::Ordering::Relaxed),
                "plugins loaded (hits: from the compiled-artifact cache)"
            );
        }
        let mut service = Redress::new(
            store,
            Arc::clone(&config.time),
            calendars.clone(),
            Arc::clone(&rules),
        )
        .with_base_rulesets(config.rulesets.clone());
        let tracking = match &config.data {
            Some(data) => {
                let kept = crate::rules::kept::keep_and_restore(
                    &rules,
                    &config.rulesets,
                    &data.kept_rulesets(),
                    &calendars.current(),
                );
                for reference in &kept.restored {
                    tracing::info!(ruleset = %reference, "an earlier built-in version, kept for the cases pinned to it (retired: never chosen for a new case)");
                }
                for (path, why) in &kept.refused {
                    tracing::error!(package = %path.display(), error = %why, "a kept built-in version cannot be installed");
                }
                for (path, error) in
                    rules.install_dir(&data.deployed_rulesets(), &calendars.current())
                {
                    tracing::error!(package = %path.display(), error = %error, "deployed ruleset refused");
                }
                // Every package is installed: compiled code that none of them uses goes.
                let evicted = rules.evict_unused_artifacts();
                if evicted > 0 {
                    tracing::info!(
                        evicted,
                        "unused compiled plugins deleted from the artifact cache"
                    );
                }
                service = service
                    .with_deployed_dir(data.deployed_rulesets())
                    .with_plugin_keys_dir(data.plugin_keys())
                    .with_calendar_record(data.calendar_versions(), config.revision_pause)
                    .with_routing(Arc::new(
                        RoutingTables::load_dir(&data.routing()).map_err(AppError::Routing)?,
                    ));
                let path = data.repeat_key();
                service = service.with_repeat_key(RepeatKey::open(&path).map_err(|source| {
                    AppError::RepeatKey {
                        path: path.display().to_string(),
                        source,
                    }
                })?);
                let path = data.tracking_key();
                Tracking::open(&path).map_err(|source| AppError::TrackingKey {
                    path: path.display().to_string(),
                    source,
                })?
            }
            None => {
                service = service.with_repeat_key(RepeatKey::ephemeral().map_err(|source| {
                    AppError::RepeatKey {
                        path: "(in memory)".into(),
                        source,
                    }
                })?);
                Tracking::ephemeral().map_err(|source| AppError::TrackingKey {
                    path: "(in memory)".into(),
                    source,
                })?
            }
        };
        Ok(App {
            service,
            access,
            tracking: Arc::new(tracking),
            console: Arc::new(console),
            package_dirs,
            calendar_dir,
        })
    }

    /// The HTTP routes over this application.
    pub fn router(
        &self,
        max_body_bytes: usize,
        body_read_timeout: Duration,
        audit_key: Option<Arc<crate::rules::signing::VendorKey>>,
    ) -> axum::Router {
        server::router(
            self.service.clone(),
            &HttpOptions {
                max_body_bytes,
                body_read_timeout,
                access: Arc::clone(&self.access),
                tracking: Arc::clone(&self.tracking),
                audit_key,
                console: Arc::clone(&self.console),
            },
        )
    }

    /// Starts the background work on the current runtime: the watcher (keys, packages,
    /// calendars), then, once due times are reconciled with the calendars in force, the
    /// scheduler.
    pub fn start_background(&self, scheduler_interval: Duration) {
        watch::spawn(self.clone());
        let service = self.service.clone();
        tokio::spawn(async move {
            watch::reconcile_calendars(&service).await;
            scheduler::spawn(service, scheduler_interval);
        });
    }
}

fn open_store(data: &DataDir, config: &AppConfig) -> Result<SledStore, AppError> {
    let dir = data.store().display().to_string();
    let store = SledStore::open(
        data.store(),
        &SledOptions {
            cache_capacity: config.cache_capacity_bytes,
            durable_writes: config.durable_writes,
        },
    )
    .map_err(|source| AppError::Store {
        dir: dir.clone(),
        source,
    })?;
    let losses = store.acknowledged_losses();
    if losses.is_empty() {
        return Ok(store);
    }
    let named = name_losses(&losses);
    if !config.allow_data_loss {
        return Err(AppError::DataLoss {
            dir,
            count: losses.len(),
            ledger: crate::store::sled_store::LEDGER_FILE,
            named,
        });
    }
    for problem in &losses {
        tracing::error!(case_id = %problem.case_id, problem = %problem.problem, "acknowledged data lost");
    }
    tracing::error!(
        "{dir}: the store has lost {} acknowledged write(s):\n{named}\nserving what is left because --allow-data-loss was given",
        losses.len()
    );
    Ok(store)
}

/// The first twenty losses, one a line, and how many more.
fn name_losses(losses: &[AuditProblem]) -> String {
    let mut named: Vec<String> = losses
        .iter()
        .take(20)
        .map(|p| format!("  {} {}", p.case_id, p.problem))
        .collect();
    let more = losses.len().saturating_sub(20);
    if more > 0 {
        named.push(format!("  … and {more} more"));
    }
    named.join("\n")
}

//! The rulesets in force: every version side by side, selected per case by tenant, sector and
//! receipt date, and pinned on the case by its first decision.

use std::{
    collections::{BTreeMap, HashSet, VecDeque},
    path::{Path, PathBuf},
    sync::{Arc, Mutex, PoisonError, RwLock},
};

use jiff::civil::Date;
use redress_calendar::CalendarSet;
use redress_domain::{
    Case,
    case::Sector,
    contract::{Decision, RulesetRef, Trigger},
};
use rhai::{AST, Dynamic};
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::{
    RuleContext, RuleError,
    artifact_cache::ArtifactCache,
    fixtures::{Fixture, FixtureReport},
    manifest::{EngineKind, Manifest},
    rhai_engine::RhaiEngine,
    signing::{Expected, SIGNATURE_FILE, SignatureError, Signer, Statement, TrustStore},
    wasm::{Descriptor, PluginSettings, WasmEngine, WasmPlugin},
};

/// A package as files: `ruleset.toml`, the rules (`*.rhai`, or a plugin's `*.wasm`),
/// `cases/*.yaml`.
#[derive(Debug, Clone)]
pub struct Package {
    /// Where it came from, for messages (a directory, or `upload`).
    pub origin: String,
    /// Path inside the package → content, for the text files.
    pub files: BTreeMap<String, String>,
    /// Path inside the package → bytes, for WebAssembly plugins.
    pub binaries: BTreeMap<String, Vec<u8>>,
}

#[derive(Debug, thiserror::Error)]
pub enum PackageError {
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Manifest(#[from] super::manifest::ManifestError),
    #[error(transparent)]
    Rules(#[from] RuleError),
    #[error("{origin}: {failed} of {total} fixture cases fail; the package was not activated")]
    FixturesFail {
        origin: String,
        failed: usize,
        total: usize,
        reports: Vec<FixtureReport>,
    },
    #[error("{origin}: refused: {source}")]
    Signature {
        origin: String,
        source: SignatureError,
    },
    #[error(
        "ruleset {id} {version} is already installed with different content; deploy a new version"
    )]
    VersionExists { id: String, version: String },
}

/// A path inside a package: one of the files a package is made of (`ruleset.toml` and other
/// `.toml` files, `.rhai` rules and `.wasm` plugins at the top, fixture cases under `cases/`),
/// with plain characters only. Anything else would be stored on deployment but not read back
/// after a restart, so it is refused.
pub fn check_package_path(path: &str) -> Result<(), String> {
    let plain = !path.is_empty()
        && path.len() <= 200
        && path
            .split('/')
            .all(|part| !part.is_empty() && !part.starts_with('.'))
        && path
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'/'));
    if !plain {
        return Err(format!(
            "`{path}` is not a valid file name inside a package"
        ));
    }
    let has = |ext: &str| {
        std::path::Path::new(path)
            .extension()
            .is_some_and(|e| e == ext)
    };
    let at_top = !path.contains('/');
    let known = match path.strip_prefix("cases/") {
        Some(name) => !name.contains('/') && (has("yaml") || has("yml")),
        None => at_top && (has("toml") || has("rhai") || has("wasm")),
    };
    if known {
        Ok(())
    } else {
        Err(format!(
            "`{path}` is not part of a package: expected `*.toml`, `*.rhai` or `*.wasm` at the top, or `cases/*.yaml`"
        ))
    }
}

fn read_text(path: &Path) -> Result<String, PackageError> {
    std::fs::read_to_string(path)
        .map_err(|e| PackageError::Invalid(format!("{}: {e}", path.display())))
}

/// The regular files of `dir` with one of `extensions`: (file name, path).
fn files_in(dir: &Path, extensions: &[&str]) -> Result<Vec<(String, PathBuf)>, PackageError> {
    let entries = std::fs::read_dir(dir)
        .map_err(|e| PackageError::Invalid(format!("{}: {e}", dir.display())))?;
    let mut found = Vec::new();
    for entry in entries {
        let path = entry
            .map_err(|e| PackageError::Invalid(format!("{}: {e}", dir.display())))?
            .path();
        let wanted = path
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| extensions.contains(&e));
        if path.is_file() && wanted {
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            found.push((name, path));
        }
    }
    Ok(found)
}

impl Package {
    pub fn read_dir(dir: &Path) -> Result<Package, PackageError> {
        let mut files = BTreeMap::new();
        for (name, path) in files_in(dir, &["toml", "rhai"])? {
            files.insert(name, read_text(&path)?);
        }
        let cases = dir.join("cases");
        if cases.is_dir() {
            for (name, path) in files_in(&cases, &["yaml", "yml"])? {
                files.insert(format!("cases/{name}"), read_text(&path)?);
            }
        }
        let mut binaries = BTreeMap::new();
        for (name, path) in files_in(dir, &["wasm"])? {
            let bytes = std::fs::read(&path)
                .map_err(|e| PackageError::Invalid(format!("{}: {e}", path.display())))?;
            binaries.insert(name, bytes);
        }
        Ok(Package {
            origin: dir.display().to_string(),
            files,
            binaries,
        })
    }

    /// The package's `ruleset.toml`, parsed.
    pub fn manifest(&self) -> Result<Manifest, PackageError> {
        let text = self
            .files
            .get("ruleset.toml")
            .ok_or_else(|| PackageError::Invalid(format!("{}: no ruleset.toml", self.origin)))?;
        Ok(Manifest::parse(
            text,
            &format!("{}/ruleset.toml", self.origin),
        )?)
    }

    /// SHA-256 over every file but the signature (which signs this hash).
    pub fn content_hash(&self) -> String {
        let mut hasher = Sha256::new();
        let entries = self
            .files
            .iter()
            .filter(|(path, _)| path.as_str() != SIGNATURE_FILE)
            .map(|(path, text)| (path, text.as_bytes()))
            .chain(
                self.binaries
                    .iter()
                    .map(|(path, bytes)| (path, bytes.as_slice())),
            );
        for (path, content) in entries {
            hasher.update((path.len() as u64).to_be_bytes());
            hasher.update(path.as_bytes());
            hasher.update((content.len() as u64).to_be_bytes());
            hasher.update(content);
        }
        hex::encode(hasher.finalize())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum RulesetState {
    Active,
    /// Not selected for new cases; pinned cases fall back to manual handling.
    Suspended {
        reason: String,
    },
}

/// Quarantine: a ruleset version (plugin or Rhai) whose decisions keep failing is suspended
/// until an operator resumes it, when either
/// - its last `QUARANTINE_AFTER_FAILURES` (5) decisions failed, or
/// - at least `QUARANTINE_WINDOW_FAILURES` (10) of its last `QUARANTINE_WINDOW` (20) decisions
///   failed, and they are at least half of the decisions in the window (a ruleset that fails
///   4 cases in 5 never fails 5 in a row, and must not escape).
///
/// Counted are the ruleset's own failures in `decide` (an error, a limit, a timeout, an
/// invalid or oversized decision, a plugin's trap or refusal). Not counted: the host at
/// capacity (`RuleError::Capacity`: every pooled instance or the tenant's share busy), which
/// is not the ruleset's fault, and a decision whose actions the case's lifecycle or calendar
/// refuses afterwards (`rules::apply`), which is an outcome of the data.
pub const QUARANTINE_AFTER_FAILURES: u32 = 5;
/// Decisions in the window of the failure-rate rule; see `QUARANTINE_AFTER_FAILURES`.
pub const QUARANTINE_WINDOW: usize = 20;
/// Failures within the window that quarantine; see `QUARANTINE_AFTER_FAILURES`.
pub const QUARANTINE_WINDOW_FAILURES: usize = 10;

/// A ruleset's recent outcomes, for the quarantine rule.
#[derive(Debug, Default)]
struct Outcomes {
    /// The last `QUARANTINE_WINDOW` outcomes, newest last; `true` is a failure.
    recent: VecDeque<bool>,
    in_a_row: u32,
    /// Set once a quarantine has been decided, so that decisions running concurrently with
    /// the one that decided it do not record it again.
    quarantined: bool,
}

impl Outcomes {
    /// Records an outcome; returns why the ruleset is to be quarantined, the first time the
    /// rule says so.
    fn record(&mut self, failed: bool) -> Option<String> {
        if self.recent.len() == QUARANTINE_WINDOW {
            self.recent.pop_front();
        }
        self.recent.push_back(failed);
        self.in_a_row = if failed { self.in_a_row + 1 } else { 0 };
        if self.quarantined || !failed {
            return None;
        }
        let failures = self.recent.iter().filter(|f| **f).count();
        let why = if self.in_a_row >= QUARANTINE_AFTER_FAILURES {
            format!("{} failures in a row", self.in_a_row)
        } else if failures >= QUARANTINE_WINDOW_FAILURES && failures * 2 >= self.recent.len() {
            format!(
                "{failures} failures in the last {} decisions",
                self.recent.len()
            )
        } else {
            return None;
        };
        self.quarantined = true;
        Some(why)
    }
}

/// A compiled, validated package.
#[derive(Debug)]
pub struct LoadedRuleset {
    pub manifest: Manifest,
    pub origin: String,
    pub content_hash: String,
    pub fixture_count: usize,
    state: RwLock<RulesetState>,
    outcomes: Mutex<Outcomes>,
    /// Where a quarantine is recorded; set when the ruleset is activated in a registry (the
    /// failures of fixture runs before activation do not count).
    suspensions: Option<Arc<Suspensions>>,
    /// The vendor whose signature was verified, for a plugin on a server that trusts keys.
    pub signed_by: Option<Signer>,
    compiled: Compiled,
}

/// The rules in runnable form, per engine.
#[derive(Debug)]
enum Compiled {
    Rhai {
        engine: RhaiEngine,
        ast: AST,
        settings: Dynamic,
    },
    Wasm {
        engine: &'static WasmEngine,
        plugin: WasmPlugin,
        settings: PluginSettings,
        /// The `.wasm`, to store its compiled code once the package is accepted.
        wasm: Vec<u8>,
    },
}

/// The manifest's sector as plugins and signatures name it (`banking`).
fn sector_name(manifest: &Manifest) -> String {
    serde_json::to_value(manifest.sector)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// A plugin must be what its package says it is.
fn check_descriptor(
    plugin: &WasmPlugin,
    manifest: &Manifest,
    origin: &str,
) -> Result<(), PackageError> {
    let d = &plugin.descriptor;
    let sector = sector_name(manifest);
    let mut differences = Vec::new();
    for (what, plugin_says, manifest_says) in [
        ("id", d.id.as_str(), manifest.id.as_str()),
        ("version", d.version.as_str(), manifest.version.as_str()),
        ("sector", d.sector.as_str(), sector.as_str()),
    ] {
        if plugin_says != manifest_says {
            differences.push(format!(
                "{what}: the plugin says `{plugin_says}`, ruleset.toml says `{manifest_says}`"
            ));
        }
    }
    if differences.is_empty() {
        Ok(())
    } else {
        Err(PackageError::Invalid(format!(
            "{origin}: the plugin does not match its manifest: {}",
            differences.join("; ")
        )))
    }
}

impl LoadedRuleset {
    /// Compiles a package (without running its fixtures).
    pub fn compile(
        engine: &RhaiEngine,
        package: &Package,
    ) -> Result<(LoadedRuleset, Vec<Fixture>), PackageError> {
        Self::compile_cached(engine, package, None)
    }

    /// `compile`, with a plugin's compiled code kept in `cache`.
    pub fn compile_cached(
        engine: &RhaiEngine,
        package: &Package,
        cache: Option<&ArtifactCache>,
    ) -> Result<(LoadedRuleset, Vec<Fixture>), PackageError> {
        for path in package.files.keys().chain(package.binaries.keys()) {
            check_package_path(path).map_err(PackageError::Invalid)?;
        }
        let manifest_text = package
            .files
            .get("ruleset.toml")
            .ok_or_else(|| PackageError::Invalid(format!("{}: no ruleset.toml", package.origin)))?;
        let manifest = Manifest::parse(manifest_text, &format!("{}/ruleset.toml", package.origin))?;
        let missing_entry = || {
            PackageError::Invalid(format!(
                "{}: the entry file `{}` is missing",
                package.origin, manifest.entry
            ))
        };
        let entry_origin = format!("{}/{}", package.origin, manifest.entry);
        let compiled = match manifest.engine {
            EngineKind::Rhai => {
                let source = package
                    .files
                    .get(&manifest.entry)
                    .ok_or_else(missing_entry)?;
                Compiled::Rhai {
                    engine: engine.clone(),
                    ast: engine.compile(source, &entry_origin)?,
                    settings: RhaiEngine::settings(&manifest)?,
                }
            }
            EngineKind::Wasm => {
                let bytes = package
                    .binaries
                    .get(&manifest.entry)
                    .ok_or_else(missing_entry)?;
                let wasm = WasmEngine::shared()?;
                let plugin = wasm.load_cached(bytes, &entry_origin, cache)?;
                check_descriptor(&plugin, &manifest, &entry_origin)?;
                Compiled::Wasm {
                    engine: wasm,
                    plugin,
                    settings: PluginSettings::of(&manifest),
                    wasm: bytes.clone(),
                }
            }
        };
        let mut fixtures = Vec::new();
        for (path, text) in &package.files {
            if let Some(name) = path.strip_prefix("cases/") {
                fixtures.push(Fixture::parse(
                    text,
                    &format!("{}/{path}", package.origin),
                    name,
                )?);
            }
        }
        let loaded = LoadedRuleset {
            manifest,
            origin: package.origin.clone(),
            content_hash: package.content_hash(),
            fixture_count: fixtures.len(),
            state: RwLock::new(RulesetState::Active),
            outcomes: Mutex::new(Outcomes::default()),
            suspensions: None,
            signed_by: None,
            compiled,
        };
        Ok((loaded, fixtures))
    }

    /// What a case it decides is pinned to: namespace, id, version and content hash.
    pub fn reference(&self) -> RulesetRef {
        RulesetRef {
            content_hash: Some(self.content_hash.clone()),
            ..self.manifest.reference()
        }
    }

    pub fn decide(
        &self,
        trigger: &Trigger,
        case: &Case,
        ctx: &RuleContext<'_>,
    ) -> Result<Decision, RuleError> {
        if let RulesetState::Suspended { reason } = self.state() {
            return Err(RuleError::Script(format!(
                "the ruleset is suspended: {reason}"
            )));
        }
        let decided = match &self.compiled {
            Compiled::Rhai {
                engine,
                ast,
                settings,
            } => engine.decide(ast, &self.manifest, settings, trigger, case, ctx),
            Compiled::Wasm {
                engine,
                plugin,
                settings,
                ..
            } => engine.decide(plugin, &self.manifest, settings, trigger, case, ctx),
        }
        .and_then(|decision| {
            super::check_decision(&decision)?;
            Ok(decision)
        });
        self.count_outcome(&decided);
        decided
    }

    pub fn state(&self) -> RulesetState {
        self.state
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    pub fn is_active(&self) -> bool {
        self.state() == RulesetState::Active
    }

    /// Applies the quarantine rule (see `QUARANTINE_AFTER_FAILURES`). The recorded reason names
    /// the kind of the last failure only (`RuleError::kind`): it is shown to whoever may list
    /// rulesets, and a failure's own text (a plugin's refusal, a script's error) may quote the
    /// case; that text stays in the case's `rule_failure` event.
    fn count_outcome(&self, decided: &Result<Decision, RuleError>) {
        let Some(suspensions) = &self.suspensions else {
            return;
        };
        let error = match decided {
            Ok(_) => None,
            Err(RuleError::Capacity(_)) => return,
            Err(error) => Some(error),
        };
        let why = self
            .outcomes
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .record(error.is_some());
        let (Some(why), Some(error)) = (why, error) else {
            return;
        };
        let reason = format!("quarantined after {why}; the last: {}", error.kind());
        tracing::error!(id = %self.manifest.id, version = %self.manifest.version, %reason, "ruleset quarantined");
        if let Err(e) = suspensions.record(&self.reference(), Some(&reason)) {
            tracing::error!(error = %e, "the quarantine could not be recorded; it lasts until a restart");
        }
        self.set_state(RulesetState::Suspended { reason });
    }

    fn set_state(&self, state: RulesetState) {
        if state == RulesetState::Active {
            *self.outcomes.lock().unwrap_or_else(PoisonError::into_inner) = Outcomes::default();
        }
        *self.state.write().unwrap_or_else(PoisonError::into_inner) = state;
    }

    /// The compiled plugin and its settings; `None` for a Rhai ruleset.
    pub fn plugin(&self) -> Option<(&WasmPlugin, &PluginSettings)> {
        match &self.compiled {
            Compiled::Rhai { .. } => None,
            Compiled::Wasm {
                plugin, settings, ..
            } => Some((plugin, settings)),
        }
    }

    /// What a plugin says of itself; `None` for a Rhai ruleset.
    pub fn plugin_descriptor(&self) -> Option<&Descriptor> {
        self.plugin().map(|(plugin, _)| &plugin.descriptor)
    }

    /// The statement a vendor signs for this package, as the host read it.
    pub fn expected_statement(&self) -> Option<Expected<'_>> {
        let descriptor = self.plugin_descriptor()?;
        Some(Expected {
            id: &self.manifest.id,
            version: &self.manifest.version,
            sector: &descriptor.sector,
            interface: &descriptor.interface_version,
        })
    }

    /// The engine and its version, recorded with every decision.
    pub fn engine_version(&self) -> &'static str {
        match &self.compiled {
            Compiled::Rhai { .. } => super::rhai_engine::ENGINE_VERSION,
            Compiled::Wasm { .. } => super::wasm::ENGINE_VERSION,
        }
    }
}

/// A package that passed every check.
#[derive(Debug)]
pub enum Prepared {
    /// The same id, version and content is already active.
    AlreadyActive(Arc<LoadedRuleset>),
    Ready(Box<LoadedRuleset>),
}

/// A line of `GET /v1/rulesets`.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct RulesetSummary {
    pub id: String,
    pub version: String,
    pub name: String,
    pub sector: Sector,
    pub tenant: Option<String>,
    pub effective_from: Date,
    pub effective_until: Option<Date>,
    pub engine: super::manifest::EngineKind,
    pub calendar: String,
    pub origin: String,
    pub content_hash: String,
    pub fixture_cases: usize,
    #[serde(flatten)]
    pub state: RulesetState,
    /// The vendor key whose signature was verified (plugins, on a server that trusts keys).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signed_by: Option<Signer>,
    pub basis: Vec<String>,
}

/// A suspension's key: a tenant's package is written `<tenant>/<id>`, a built-in one by its id
/// alone (as before packages had namespaces, so older files still apply).
fn suspension_key(reference: &RulesetRef) -> (String, String) {
    let id = match &reference.tenant {
        Some(tenant) => format!("{tenant}/{}", reference.id),
        None => reference.id.clone(),
    };
    (id, reference.version.clone())
}

/// The suspended ruleset versions, kept in a file so that a quarantine outlasts a restart
/// until an operator resumes the version.
#[derive(Debug, Default)]
pub struct Suspensions {
    path: Option<PathBuf>,
    entries: std::sync::Mutex<BTreeMap<(String, String), String>>,
}

#[derive(Debug, Serialize, serde::Deserialize)]
struct SuspensionEntry {
    id: String,
    version: String,
    reason: String,
}

impl Suspensions {
    /// Reads `path` (absent: none suspended).
    pub fn load(path: &Path) -> Result<Suspensions, PackageError> {
        let invalid = |e: String| PackageError::Invalid(format!("{}: {e}", path.display()));
        let entries: Vec<SuspensionEntry> = match std::fs::read(path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| invalid(e.to_string()))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(invalid(e.to_string())),
        };
        Ok(Suspensions {
            path: Some(path.to_owned()),
            entries: std::sync::Mutex::new(
                entries
                    .into_iter()
                    .map(|e| ((e.id, e.version), e.reason))
                    .collect(),
            ),
        })
    }

    fn reason(&self, reference: &RulesetRef) -> Option<String> {
        self.entries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&suspension_key(reference))
            .cloned()
    }

    /// Records a suspension (`Some(reason)`) or its end (`None`), durably: a temporary file,
    /// synced, renamed over the old one.
    fn record(&self, reference: &RulesetRef, reason: Option<&str>) -> std::io::Result<()> {
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        let key = suspension_key(reference);
        match reason {
            Some(reason) => entries.insert(key, reason.to_owned()),
            None => entries.remove(&key),
        };
        let Some(path) = &self.path else {
            return Ok(());
        };
        let list: Vec<SuspensionEntry> = entries
            .iter()
            .map(|((id, version), reason)| SuspensionEntry {
                id: id.clone(),
                version: version.clone(),
                reason: reason.clone(),
            })
            .collect();
        let bytes = serde_json::to_vec_pretty(&list).map_err(std::io::Error::other)?;
        crate::durable::write_file(path, &bytes, false)?;
        Ok(())
    }
}

#[derive(Debug)]
pub struct Registry {
    engine: RhaiEngine,
    trust: TrustStore,
    /// Vendor keys a tenant trusts for its own plugins, beside the server's.
    tenant_trust: RwLock<BTreeMap<String, TrustStore>>,
    suspensions: Arc<Suspensions>,
    plugin_cache: Option<ArtifactCache>,
    rulesets: RwLock<Vec<Arc<LoadedRuleset>>>,
}

/// Why an operator's change of a ruleset's state was refused.
#[derive(Debug, thiserror::Error)]
pub enum StateChangeError {
    #[error("no ruleset {id} {version}")]
    NotFound { id: String, version: String },
    #[error("the change could not be stored: {0}")]
    Storage(String),
}

impl Registry {
    /// A registry that accepts unsigned plugins (no trusted keys).
    pub fn new(engine: RhaiEngine) -> Self {
        Self::with_trust(engine, TrustStore::default())
    }

    /// A registry that accepts a plugin only with a valid signature by one of `trust`'s keys
    /// (unless `trust` is empty).
    pub fn with_trust(engine: RhaiEngine, trust: TrustStore) -> Self {
        Registry {
            engine,
            trust,
            tenant_trust: RwLock::new(BTreeMap::new()),
            suspensions: Arc::new(Suspensions::default()),
            plugin_cache: None,
            rulesets: RwLock::new(Vec::new()),
        }
    }

    /// Keeps compiled plugins in `cache`, so that a restart does not compile them again.
    pub fn with_plugin_cache(mut self, cache: ArtifactCache) -> Self {
        self.plugin_cache = Some(cache);
        self
    }

    pub fn plugin_cache(&self) -> Option<&ArtifactCache> {
        self.plugin_cache.as_ref()
    }

    /// Keeps suspensions (quarantines and an operator's) in `suspensions`' file. Call before
    /// installing packages, so that a suspended version comes back suspended.
    pub fn with_suspensions(mut self, suspensions: Suspensions) -> Self {
        self.suspensions = Arc::new(suspensions);
        self
    }

    /// An operator suspends a version (`Some(reason)`) or resumes it (`None`). Recorded before
    /// it takes effect.
    pub fn set_state(
        &self,
        reference: &RulesetRef,
        suspend: Option<&str>,
    ) -> Result<Arc<LoadedRuleset>, StateChangeError> {
        let ruleset = self
            .find(reference)
            .ok_or_else(|| StateChangeError::NotFound {
                id: reference.id.clone(),
                version: reference.version.clone(),
            })?;
        self.suspensions
            .record(reference, suspend)
            .map_err(|e| StateChangeError::Storage(e.to_string()))?;
        ruleset.set_state(match suspend {
            Some(reason) => RulesetState::Suspended {
                reason: reason.to_owned(),
            },
            None => RulesetState::Active,
        });
        Ok(ruleset)
    }

    pub fn trust(&self) -> &TrustStore {
        &self.trust
    }

    /// Sets the vendor keys `tenant` trusts for its own plugins (packages with `tenant` in
    /// their manifest); they count beside the server's keys, never for another tenant.
    pub fn set_tenant_trust(&self, tenant: &str, keys: TrustStore) {
        self.tenant_trust
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(tenant.to_owned(), keys);
    }

    /// Reads every tenant's trusted keys from `dir` (`<tenant>.toml`), before any package is
    /// installed, so that a tenant's plugins are verified against them at start-up too.
    pub fn load_tenant_trust(&self, dir: &Path) -> Result<(), SignatureError> {
        let files = crate::durable::tenant_files(dir).map_err(|e| SignatureError::Malformed {
            origin: dir.display().to_string(),
            message: e.to_string(),
        })?;
        for (tenant, path) in files {
            self.set_tenant_trust(&tenant, TrustStore::load(&path)?);
        }
        Ok(())
    }

    /// The keys a package for `tenant` (or a built-in one, `None`) is checked against.
    fn trust_for(&self, tenant: Option<&str>) -> TrustStore {
        let own = tenant.and_then(|t| {
            self.tenant_trust
                .read()
                .unwrap_or_else(PoisonError::into_inner)
                .get(t)
                .cloned()
        });
        match own {
            Some(own) => self.trust.union(&own),
            None => self.trust.clone(),
        }
    }

    pub fn engine(&self) -> &RhaiEngine {
        &self.engine
    }

    fn all(&self) -> Vec<Arc<LoadedRuleset>> {
        self.rulesets
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The ruleset for a new case: the tenant's own before the built-in ones, then the highest
    /// version whose effective dates include the receipt date.
    pub fn select(
        &self,
        tenant: &str,
        sector: Sector,
        received: Date,
    ) -> Option<Arc<LoadedRuleset>> {
        self.all()
            .into_iter()
            .filter(|r| r.is_active())
            .filter(|r| r.manifest.sector == sector && r.manifest.applies_on(received))
            .filter(|r| r.manifest.tenant.as_deref().is_none_or(|t| t == tenant))
            // The id last, so that two packages alike in all else are chosen the same way every
            // time.
            .max_by_key(|r| {
                (
                    r.manifest.tenant.is_some(),
                    r.manifest.semver(),
                    r.manifest.id.clone(),
                )
            })
    }

    /// The package a case is pinned to: the same namespace, id and version, and, when the pin
    /// names one, the same content. Never another tenant's package.
    pub fn find(&self, reference: &RulesetRef) -> Option<Arc<LoadedRuleset>> {
        self.all().into_iter().find(|r| {
            r.manifest.tenant == reference.tenant
                && r.manifest.id == reference.id
                && r.manifest.version == reference.version
                && reference
                    .content_hash
                    .as_ref()
                    .is_none_or(|hash| *hash == r.content_hash)
        })
    }

    /// Every package of that id and version, whatever its namespace (for the operator).
    pub fn named_in_any_namespace(&self, id: &str, version: &str) -> Vec<Arc<LoadedRuleset>> {
        self.all()
            .into_iter()
            .filter(|r| r.manifest.id == id && r.manifest.version == version)
            .collect()
    }

    pub fn summaries(&self, tenant: Option<&str>) -> Vec<RulesetSummary> {
        let mut list: Vec<RulesetSummary> = self
            .all()
            .iter()
            .filter(|r| {
                tenant.is_none_or(|t| r.manifest.tenant.as_deref().is_none_or(|own| own == t))
            })
            .map(|r| r.summary())
            .collect();
        list.sort_by(|a, b| (&a.id, &a.version).cmp(&(&b.id, &b.version)));
        list
    }
}

impl LoadedRuleset {
    pub fn summary(&self) -> RulesetSummary {
        let r = self;
        RulesetSummary {
            id: r.manifest.id.clone(),
            version: r.manifest.version.clone(),
            name: r.manifest.name.clone(),
            sector: r.manifest.sector,
            tenant: r.manifest.tenant.clone(),
            effective_from: r.manifest.effective_from,
            effective_until: r.manifest.effective_until,
            engine: r.manifest.engine,
            calendar: r.manifest.calendar.clone(),
            origin: r.origin.clone(),
            content_hash: r.content_hash.clone(),
            fixture_cases: r.fixture_count,
            state: r.state(),
            signed_by: r.signed_by.clone(),
            basis: r.manifest.basis.clone(),
        }
    }
}

impl Registry {
    /// Compiles a package and runs its fixture cases; only if every one passes does it become
    /// active. Installing the same id and version again is accepted only with identical content.
    pub fn install(
        &self,
        package: &Package,
        calendars: &CalendarSet,
    ) -> Result<Arc<LoadedRuleset>, PackageError> {
        match self.prepare(package, calendars)? {
            Prepared::AlreadyActive(existing) => Ok(existing),
            Prepared::Ready(loaded) => Ok(self.activate(*loaded)),
        }
    }

    /// Everything `install` checks, without activating: the caller may persist the package
    /// first, so that nothing is acknowledged that a restart would lose.
    pub fn prepare(
        &self,
        package: &Package,
        calendars: &CalendarSet,
    ) -> Result<Prepared, PackageError> {
        // The signature first: no code of a package a trusted vendor did not sign is compiled
        // or run (compiling and `describe` can take seconds and leave artifacts behind).
        let signed = self.verify_signature(package)?;
        let (mut loaded, fixtures) =
            LoadedRuleset::compile_cached(&self.engine, package, self.plugin_cache.as_ref())?;
        if let Some((signer, statement)) = signed {
            // What only the compiled component can tell: the interface version it exports.
            let expected = loaded.expected_statement().ok_or_else(|| {
                PackageError::Invalid(format!("{}: not a plugin", package.origin))
            })?;
            expected
                .matches(&statement)
                .map_err(|source| PackageError::Signature {
                    origin: package.origin.clone(),
                    source,
                })?;
            loaded.signed_by = Some(signer);
        }
        // Only the package's own namespace is looked at: another tenant's packages are never
        // compared with it, so a deployment tells nothing about them.
        if let Some(existing) = self.find(&loaded.manifest.reference()) {
            if existing.content_hash == loaded.content_hash {
                return Ok(Prepared::AlreadyActive(existing));
            }
            return Err(PackageError::VersionExists {
                id: loaded.manifest.id.clone(),
                version: loaded.manifest.version.clone(),
            });
        }
        let reports: Vec<FixtureReport> =
            fixtures.iter().map(|f| f.run(&loaded, calendars)).collect();
        let failed = reports.iter().filter(|r| !r.passed()).count();
        if failed > 0 {
            return Err(PackageError::FixturesFail {
                origin: package.origin.clone(),
                failed,
                total: reports.len(),
                reports: reports.into_iter().filter(|r| !r.passed()).collect(),
            });
        }
        Ok(Prepared::Ready(Box::new(loaded)))
    }

    /// With trusted keys, a plugin package's signature, checked against what its manifest
    /// says before any of its code is compiled: `Some` for a plugin on a server that trusts
    /// keys. The interface version, which only the compiled component tells, is compared after.
    fn verify_signature(
        &self,
        package: &Package,
    ) -> Result<Option<(Signer, Statement)>, PackageError> {
        let manifest_text = package
            .files
            .get("ruleset.toml")
            .ok_or_else(|| PackageError::Invalid(format!("{}: no ruleset.toml", package.origin)))?;
        let manifest = Manifest::parse(manifest_text, &format!("{}/ruleset.toml", package.origin))?;
        let trust = self.trust_for(manifest.tenant.as_deref());
        if manifest.engine != EngineKind::Wasm || !trust.is_enforced() {
            return Ok(None);
        }
        let refused = |source| PackageError::Signature {
            origin: package.origin.clone(),
            source,
        };
        let (signer, statement) = trust.verify_signed(package).map_err(refused)?;
        let sector = sector_name(&manifest);
        Expected {
            id: &manifest.id,
            version: &manifest.version,
            sector: &sector,
            // Checked once the component is compiled (`prepare`).
            interface: &statement.interface,
        }
        .matches(&statement)
        .map_err(refused)?;
        Ok(Some((signer, statement)))
    }

    /// Deletes the compiled plugin code that no installed package uses (at start-up, after
    /// every package is installed). Returns how many artifacts were deleted.
    pub fn evict_unused_artifacts(&self) -> usize {
        let Some(cache) = &self.plugin_cache else {
            return 0;
        };
        let used: HashSet<String> = self
            .all()
            .iter()
            .filter_map(|r| match &r.compiled {
                Compiled::Wasm { engine, wasm, .. } => Some(engine.artifact_name(wasm)),
                Compiled::Rhai { .. } => None,
            })
            .collect();
        cache.evict_except(&used)
    }

    pub fn activate(&self, mut loaded: LoadedRuleset) -> Arc<LoadedRuleset> {
        if let Some(reason) = self.suspensions.reason(&loaded.reference()) {
            loaded.set_state(RulesetState::Suspended { reason });
        }
        if let (
            Some(cache),
            Compiled::Wasm {
                engine,
                plugin,
                wasm,
                ..
            },
        ) = (&self.plugin_cache, &loaded.compiled)
        {
            engine.keep_artifact(plugin, wasm, cache);
        }
        loaded.outcomes = Mutex::new(Outcomes::default());
        loaded.suspensions = Some(Arc::clone(&self.suspensions));
        let loaded = Arc::new(loaded);
        self.rulesets
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .push(Arc::clone(&loaded));
        loaded
    }

    /// Installs every package directory under `dir` (each with a `ruleset.toml`). Returns the
    /// refusals; the packages that pass are installed.
    pub fn install_dir(&self, dir: &Path, calendars: &CalendarSet) -> Vec<(PathBuf, PackageError)> {
        let mut refused = Vec::new();
        let mut dirs: Vec<PathBuf> = std::fs::read_dir(dir)
            .map(|entries| entries.filter_map(Result::ok).map(|e| e.path()).collect())
            .unwrap_or_default();
        // Deployed packages live deeper: `<namespace>/<id>/<version>/` (and, from before
        // namespaces, `<id>/<version>/`).
        let mut frontier = dirs.clone();
        for _ in 0..2 {
            let nested: Vec<PathBuf> = frontier
                .iter()
                .filter(|p| p.is_dir() && !p.join("ruleset.toml").is_file())
                .flat_map(|p| {
                    std::fs::read_dir(p)
                        .map(|e| {
                            e.filter_map(Result::ok)
                                .map(|e| e.path())
                                .collect::<Vec<_>>()
                        })
                        .unwrap_or_default()
                })
                .collect();
            dirs.extend(nested.iter().cloned());
            frontier = nested;
        }
        dirs.sort();
        for path in dirs
            .into_iter()
            .filter(|p| p.join("ruleset.toml").is_file())
        {
            let prepared =
                Package::read_dir(&path).and_then(|package| self.prepare(&package, calendars));
            match prepared {
                // Already active: a rescan after some other file changed; nothing to say.
                Ok(Prepared::AlreadyActive(_)) => {}
                Ok(Prepared::Ready(loaded)) => {
                    let loaded = self.activate(*loaded);
                    tracing::info!(
                        id = %loaded.manifest.id, version = %loaded.manifest.version, fixtures = loaded.fixture_count,
                        "ruleset active"
                    );
                }
                Err(e) => refused.push((path, e)),
            }
        }
        refused
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::rules::{fixtures::Fixture, rhai_engine::Limits};

    /// Finding 3 of the sandbox review: 16 failures in 20 decisions, never 5 in a row, were
    /// never quarantined.
    #[test]
    fn quarantine_looks_at_a_failure_rate_over_a_window() {
        let mut outcomes = Outcomes::default();
        let mut quarantined = None;
        for i in 0..20 {
            // Four failures, one success, over and over.
            if let Some(why) = outcomes.record(i % 5 != 4) {
                quarantined = Some((i, why));
                break;
            }
        }
        let (at, why) = quarantined.unwrap();
        assert_eq!(why, "10 failures in the last 12 decisions");
        assert_eq!(at, 11);
        // Once: the decisions still running do not quarantine again.
        assert_eq!(outcomes.record(true), None);

        let mut outcomes = Outcomes::default();
        let whys: Vec<Option<String>> = (0..5).map(|_| outcomes.record(true)).collect();
        assert_eq!(whys[4].as_deref(), Some("5 failures in a row"));
        // Occasional failures are no reason.
        let mut outcomes = Outcomes::default();
        assert!((0..200).all(|i| outcomes.record(i % 3 == 0).is_none()));
    }

    fn banking_case() -> (Case, jiff::Timestamp, CalendarSet) {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let calendars = CalendarSet::load_dir(root.join("rulesets/calendars")).unwrap();
        let package = Package::read_dir(&root.join("rulesets/banking-insurance")).unwrap();
        let (banking, fixtures) =
            LoadedRuleset::compile(&RhaiEngine::new(Limits::default()), &package).unwrap();
        let fixture: &Fixture = fixtures.iter().min_by_key(|f| f.name.clone()).unwrap();
        let case = fixture.evaluate(&banking, &calendars).unwrap().case_before;
        (case, fixture.now, calendars)
    }

    /// Finding 2 of the sandbox review: Rhai rulesets were never quarantined, however often
    /// they failed. The reason shown names the kind of failure, not the script's words (which
    /// may quote the case: finding 8).
    #[test]
    fn rhai_rulesets_that_keep_failing_are_quarantined() {
        let (case, now, calendars) = banking_case();
        let mut package = Package {
            origin: "failing".into(),
            files: BTreeMap::new(),
            binaries: BTreeMap::new(),
        };
        package.files.insert(
            "ruleset.toml".into(),
            "id = \"failing\"\nversion = \"1.0.0\"\nname = \"Failing\"\nsector = \"banking\"\n\
             effective_from = 2020-01-01\nengine = \"rhai\"\nentry = \"rules.rhai\"\n"
                .into(),
        );
        package.files.insert(
            "rules.rhai".into(),
            "fn decide(trigger, the_case, ctx) { throw `secret: ${the_case.claim}`; }".into(),
        );
        let registry = Registry::new(RhaiEngine::new(Limits::default()));
        let ruleset = registry.install(&package, &calendars).unwrap();
        let ctx = RuleContext {
            now,
            calendars: &calendars,
        };
        for _ in 0..QUARANTINE_AFTER_FAILURES {
            let error = ruleset
                .decide(&Trigger::CaseReceived, &case, &ctx)
                .unwrap_err();
            assert!(error.to_string().contains("secret"), "{error}");
        }
        let RulesetState::Suspended { reason } = ruleset.state() else {
            panic!("not quarantined: {:?}", ruleset.state());
        };
        assert_eq!(
            reason,
            "quarantined after 5 failures in a row; the last: the rules failed (a script error)"
        );
    }
}

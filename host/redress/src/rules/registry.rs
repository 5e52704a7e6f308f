//! The rulesets in force: every version side by side, selected per case by tenant, sector and
//! receipt date, and pinned on the case by its first decision.
//!
//! **Invariants:** packages are namespaced: a tenant's (`tenant = "…"` in the manifest) and the
//! operator's built-in ones (no tenant) never share an identity, so two tenants may deploy the
//! same id and version and neither blocks the operator's release. A deployment is compared
//! only within its own namespace, and a version's content never changes once active (a
//! different package with the same namespace, id and version is refused). A case is pinned to
//! namespace, id, version and content hash, and `find` never returns any other package for a
//! pin.

use std::{
    collections::{BTreeMap, HashSet},
    path::{Path, PathBuf},
    sync::{Arc, Mutex, PoisonError, RwLock},
};

use jiff::civil::Date;
use redress_calendar::CalendarSet;
use redress_domain::{case::Sector, contract::RulesetRef};

// The types callers knew as `rules::registry::*` before the registry was split.
use super::{
    artifact_cache::ArtifactCache,
    engine::rhai::RhaiEngine,
    fixtures::FixtureReport,
    loaded::Compiled,
    manifest::{EngineKind, Manifest},
    package::sector_name,
    signing::{Expected, SignatureError, Signer, Statement, TrustStore},
    suspensions::Outcomes,
};
pub use super::{
    loaded::{LoadedRuleset, RulesetState, RulesetSummary},
    package::{Package, PackageError, check_package_path},
    suspensions::{
        QUARANTINE_AFTER_FAILURES, QUARANTINE_WINDOW, QUARANTINE_WINDOW_FAILURES, Suspensions,
    },
};

/// A package that passed every check.
#[derive(Debug)]
pub enum Prepared {
    /// The same id, version and content is already active.
    AlreadyActive(Arc<LoadedRuleset>),
    Ready(Box<LoadedRuleset>),
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

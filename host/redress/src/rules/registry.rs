//! The rulesets in force: every version side by side, selected per case by tenant, sector and
//! receipt date, and pinned on the case by its first decision.
//!
//! **Invariants:** packages are namespaced: a tenant's (`tenant = "…"` in the manifest) and the
//! operator's built-in ones (no tenant) never share an identity, so two tenants may deploy the
//! same id and version and neither blocks the operator's release. A deployment is compared
//! only within its own namespace, and a version's content never changes once active (a
//! different package with the same namespace, id and version is refused); a version is active
//! at most once, however many deployments of it run at once (`activate`). A case is pinned to
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
    manifest::EngineKind,
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

/// The package of `loaded`'s namespace, id and version among `rulesets`, if there is one with
/// the same content; an error if there is one with another content (a version's content never
/// changes once active). Only the package's own namespace is looked at: another tenant's
/// packages are never compared with it, so a deployment tells nothing about them.
fn same_version(
    rulesets: &[Arc<LoadedRuleset>],
    loaded: &LoadedRuleset,
) -> Result<Option<Arc<LoadedRuleset>>, PackageError> {
    let Some(existing) = rulesets
        .iter()
        .find(|r| installed_as(r, &loaded.manifest.reference()))
    else {
        return Ok(None);
    };
    if existing.content_hash != loaded.content_hash {
        return Err(PackageError::VersionExists {
            id: loaded.manifest.id.clone(),
            version: loaded.manifest.version.clone(),
        });
    }
    Ok(Some(Arc::clone(existing)))
}

/// Whether `ruleset` is the package `reference` names: the same namespace, id and version,
/// and, when the reference names one, the same content. Never another tenant's package.
fn installed_as(ruleset: &LoadedRuleset, reference: &RulesetRef) -> bool {
    ruleset.manifest.tenant == reference.tenant
        && ruleset.manifest.id == reference.id
        && ruleset.manifest.version == reference.version
        && reference
            .content_hash
            .as_ref()
            .is_none_or(|hash| *hash == ruleset.content_hash)
}

/// What `activate` did with a prepared package.
#[derive(Debug)]
pub enum Activated {
    /// The package is active now.
    New(Arc<LoadedRuleset>),
    /// The same namespace, id, version and content became active after the package was
    /// prepared (a concurrent deployment); that one stays, and this one was not activated.
    AlreadyActive(Arc<LoadedRuleset>),
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
    /// Held from the last duplicate check through the package's write to disk to its
    /// activation (`begin_activation`), so that of two deployments of one version only the one
    /// that is activated is ever written: without it the loser could overwrite the winner's
    /// files after the winner was checked, and a restart would install content no case was
    /// decided with. Decisions never take it.
    activating: Mutex<()>,
}

/// One activation at a time (see `Registry::activating`): check, write, activate.
#[derive(Debug)]
pub struct Activation<'a> {
    registry: &'a Registry,
    _turn: std::sync::MutexGuard<'a, ()>,
}

impl Activation<'_> {
    /// The active package with `loaded`'s namespace, id and version and the same content, if
    /// any; `VersionExists` if one has another content. Nothing can be activated between this
    /// check and `activate` on the same `Activation`.
    pub fn existing(
        &self,
        loaded: &LoadedRuleset,
    ) -> Result<Option<Arc<LoadedRuleset>>, PackageError> {
        same_version(
            &self
                .registry
                .rulesets
                .read()
                .unwrap_or_else(PoisonError::into_inner),
            loaded,
        )
    }

    pub fn activate(self, loaded: LoadedRuleset) -> Result<Activated, PackageError> {
        self.registry.activate_in_turn(loaded)
    }
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
            activating: Mutex::new(()),
        }
    }

    /// Waits for the activation turn: a caller that writes a package before activating it
    /// holds it across both (`Activation`).
    pub fn begin_activation(&self) -> Activation<'_> {
        Activation {
            registry: self,
            _turn: self
                .activating
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
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
            .filter(|r| r.is_active() && !r.retired)
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
        self.all().into_iter().find(|r| installed_as(r, reference))
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
            Prepared::Ready(loaded) => match self.activate(*loaded)? {
                Activated::New(active) | Activated::AlreadyActive(active) => Ok(active),
            },
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
        // An early answer, before the fixtures run; `activate` asks again.
        if let Some(existing) = same_version(
            &self.rulesets.read().unwrap_or_else(PoisonError::into_inner),
            &loaded,
        )? {
            return Ok(Prepared::AlreadyActive(existing));
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
        let manifest = package.manifest()?;
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

    /// Makes a prepared package active (and stores a plugin's compiled code). Whether a package
    /// of the same namespace, id and version is active is asked again here, under the same
    /// write lock as the activation: two deployments of one version can both pass `prepare`'s
    /// check, and a version must never be active twice, nor in two contents. Of the two, the
    /// first to get here is activated; the other gets `AlreadyActive` for the same content,
    /// `VersionExists` for another.
    pub fn activate(&self, loaded: LoadedRuleset) -> Result<Activated, PackageError> {
        self.begin_activation().activate(loaded)
    }

    fn activate_in_turn(&self, mut loaded: LoadedRuleset) -> Result<Activated, PackageError> {
        if let Some(reason) = self.suspensions.reason(&loaded.reference()) {
            loaded.set_state(RulesetState::Suspended { reason });
        }
        loaded.outcomes = Mutex::new(Outcomes::default());
        loaded.suspensions = Some(Arc::clone(&self.suspensions));
        let loaded = {
            let mut rulesets = self
                .rulesets
                .write()
                .unwrap_or_else(PoisonError::into_inner);
            if let Some(existing) = same_version(&rulesets, &loaded)? {
                return Ok(Activated::AlreadyActive(existing));
            }
            let loaded = Arc::new(loaded);
            rulesets.push(Arc::clone(&loaded));
            loaded
        };
        // Once accepted, outside the lock (it writes a file): a refused package leaves
        // nothing on disk.
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
        Ok(Activated::New(loaded))
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
                Ok(Prepared::Ready(loaded)) => match self.activate(*loaded) {
                    Ok(Activated::New(loaded)) => tracing::info!(
                        id = %loaded.manifest.id, version = %loaded.manifest.version, fixtures = loaded.fixture_count,
                        "ruleset active"
                    ),
                    Ok(Activated::AlreadyActive(_)) => {}
                    Err(e) => refused.push((path, e)),
                },
                Err(e) => refused.push((path, e)),
            }
        }
        refused
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::sync::Barrier;

    use super::*;
    use crate::rules::engine::rhai::Limits;

    /// A Rhai package `race` 1.0.0, for `tenant` (`None`: a built-in one), whose rules differ
    /// by `variant` (so does its content hash).
    fn race_package(tenant: Option<&str>, variant: u8) -> Package {
        let tenant = tenant.map_or_else(String::new, |t| format!("tenant = \"{t}\"\n"));
        let files = BTreeMap::from([
            (
                "ruleset.toml".to_owned(),
                format!(
                    "id = \"race\"\nversion = \"1.0.0\"\nname = \"Race\"\nsector = \"banking\"\n\
                     effective_from = 2020-01-01\nengine = \"rhai\"\nentry = \"rules.rhai\"\n{tenant}"
                ),
            ),
            (
                "rules.rhai".to_owned(),
                format!("// variant {variant}\nfn decide(trigger, the_case, ctx) {{ [] }}\n"),
            ),
        ]);
        Package {
            origin: format!("race-{variant}"),
            files,
            binaries: BTreeMap::new(),
        }
    }

    /// What one deployment came to.
    #[derive(Debug, Clone, PartialEq, Eq)]
    enum Outcome {
        Activated(String),
        AlreadyActive(String),
        VersionExists,
    }

    /// Issue 14: two deployments of one version could both pass `prepare` (which checks under
    /// the registry's read lock) and both be activated (under its write lock), leaving two
    /// packages of the same namespace, id and version, even of different content. Threads
    /// deploy `race` 1.0.0 at once, in two contents and two namespaces; on every other round
    /// they all finish `prepare` before any activates, which is the window itself.
    #[test]
    fn concurrent_deploys_of_one_version_activate_exactly_one() {
        let calendars = CalendarSet::default();
        let packages = [
            (None, race_package(None, 1)),
            (None, race_package(None, 1)),
            (None, race_package(None, 2)),
            (None, race_package(None, 1)),
            (Some("acme"), race_package(Some("acme"), 1)),
            (Some("acme"), race_package(Some("acme"), 3)),
        ];
        for round in 0..100 {
            let registry = Registry::new(RhaiEngine::new(Limits::default()));
            let start = Barrier::new(packages.len());
            let prepared_all = Barrier::new(packages.len());
            let outcomes: Vec<(Option<&str>, String, Outcome)> = std::thread::scope(|scope| {
                let threads: Vec<_> = packages
                    .iter()
                    .map(|(tenant, package)| {
                        let (registry, start, prepared_all) = (&registry, &start, &prepared_all);
                        let calendars = &calendars;
                        scope.spawn(move || {
                            start.wait();
                            let prepared = registry.prepare(package, calendars);
                            if round % 2 == 0 {
                                prepared_all.wait();
                            }
                            let outcome = match prepared {
                                Ok(Prepared::Ready(loaded)) => {
                                    registry.activate(*loaded).map(|activated| match activated {
                                        Activated::New(r) => {
                                            Outcome::Activated(r.content_hash.clone())
                                        }
                                        Activated::AlreadyActive(r) => {
                                            Outcome::AlreadyActive(r.content_hash.clone())
                                        }
                                    })
                                }
                                Ok(Prepared::AlreadyActive(r)) => {
                                    Ok(Outcome::AlreadyActive(r.content_hash.clone()))
                                }
                                Err(e) => Err(e),
                            };
                            let outcome = match outcome {
                                Ok(outcome) => outcome,
                                Err(PackageError::VersionExists { .. }) => Outcome::VersionExists,
                                Err(e) => panic!("round {round}: unexpected refusal: {e}"),
                            };
                            (*tenant, package.content_hash(), outcome)
                        })
                    })
                    .collect();
                threads.into_iter().map(|t| t.join().unwrap()).collect()
            });
            for namespace in [None, Some("acme")] {
                let installed: Vec<Arc<LoadedRuleset>> = registry
                    .named_in_any_namespace("race", "1.0.0")
                    .into_iter()
                    .filter(|r| r.manifest.tenant.as_deref() == namespace)
                    .collect();
                assert_eq!(
                    installed.len(),
                    1,
                    "round {round}, namespace {namespace:?}: {outcomes:?}"
                );
                let winner = &installed[0].content_hash;
                let mine = outcomes.iter().filter(|(tenant, ..)| *tenant == namespace);
                let activated = mine
                    .clone()
                    .filter(|(.., outcome)| matches!(outcome, Outcome::Activated(_)))
                    .count();
                assert_eq!(activated, 1, "round {round}: {outcomes:?}");
                for (_, hash, outcome) in mine {
                    let expected = if hash != winner {
                        vec![Outcome::VersionExists]
                    } else {
                        vec![
                            Outcome::Activated(hash.clone()),
                            Outcome::AlreadyActive(hash.clone()),
                        ]
                    };
                    assert!(
                        expected.contains(outcome),
                        "round {round}: {outcome:?} for {hash}, {winner} won: {outcomes:?}"
                    );
                }
            }
        }
    }
}

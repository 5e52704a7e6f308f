//! A loaded ruleset: a package compiled for its engine, its state (active or suspended), and
//! `decide`, the one door both engines sit behind, so that the rest of the host does not know
//! which engine decided.

use std::sync::{Arc, Mutex, PoisonError, RwLock};

use jiff::civil::Date;
use redress_domain::{
    Case,
    case::Sector,
    contract::{Decision, RulesetRef, Trigger},
};
use rhai::{AST, Dynamic};
use serde::Serialize;

use super::{
    RuleContext, RuleError,
    artifact_cache::ArtifactCache,
    engine::{
        rhai::RhaiEngine,
        wasm::{Descriptor, PluginSettings, WasmEngine, WasmPlugin},
    },
    fixtures::Fixture,
    manifest::{EngineKind, Manifest},
    package::{Package, PackageError, check_package_path, sector_name},
    signing::{Expected, Signer},
    suspensions::{Outcomes, Suspensions},
};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum RulesetState {
    Active,
    /// Not selected for new cases; pinned cases fall back to manual handling.
    Suspended {
        reason: String,
    },
}

/// A compiled, validated package.
#[derive(Debug)]
pub struct LoadedRuleset {
    pub manifest: Manifest,
    pub origin: String,
    pub content_hash: String,
    pub fixture_count: usize,
    state: RwLock<RulesetState>,
    pub(super) outcomes: Mutex<Outcomes>,
    /// Where a quarantine is recorded; set when the ruleset is activated in a registry (the
    /// failures of fixture runs before activation do not count).
    pub(super) suspensions: Option<Arc<Suspensions>>,
    /// The vendor whose signature was verified, for a plugin on a server that trusts keys.
    pub signed_by: Option<Signer>,
    /// An earlier built-in version kept for the cases pinned to it (`rules::kept`): it goes on
    /// deciding them, and is never chosen for a new case.
    pub retired: bool,
    pub(super) compiled: Compiled,
}

/// The rules in runnable form, per engine.
#[derive(Debug)]
pub(super) enum Compiled {
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
        let manifest = package.manifest()?;
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
            retired: false,
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
        // Before the engine and before the outcome is counted: a suspended version decides
        // nothing, and asking it is no failure of its rules.
        if let RulesetState::Suspended { reason } = self.state() {
            return Err(RuleError::Suspended { reason });
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

    pub(super) fn set_state(&self, state: RulesetState) {
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
            Compiled::Rhai { .. } => super::engine::rhai::ENGINE_VERSION,
            Compiled::Wasm { .. } => super::engine::wasm::ENGINE_VERSION,
        }
    }
}

/// A line of `GET /v1/rulesets`.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct RulesetSummary {
    pub id: String,
    pub version: String,
    pub name: String,
    pub sector: Sector,
    pub tenant: Option<redress_domain::TenantId>,
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
    /// `<id>@<version>` of the built-in ruleset it tailors, for a package that `extends` one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub extends: Option<String>,
    /// An earlier built-in version, kept only for the cases pinned to it. Absent when false,
    /// and so not required in the schema.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub retired: bool,
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
            extends: r.manifest.extends.clone(),
            retired: r.retired,
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::{collections::BTreeMap, path::Path};

    use redress_calendar::CalendarSet;

    use super::*;
    use crate::rules::{Registry, engine::rhai::Limits, suspensions::QUARANTINE_AFTER_FAILURES};

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

    /// Issue 14: a case decided by a suspended ruleset recorded "the rule failed: the ruleset
    /// is suspended: …", as if its script had failed. It is its own failure now, not counted
    /// towards quarantine, and the case's rule failure says the ruleset is suspended.
    #[test]
    fn a_suspended_ruleset_records_that_it_is_suspended_not_a_script_error() {
        use redress_domain::EventKind;

        let (case, now, calendars) = banking_case();
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let package = Package::read_dir(&root.join("rulesets/banking-insurance")).unwrap();
        let registry = Registry::new(RhaiEngine::new(Limits::default()));
        let ruleset = registry.install(&package, &calendars).unwrap();
        let ctx = RuleContext {
            now,
            calendars: &calendars,
        };
        registry
            .set_state(&ruleset.reference(), Some("under review"))
            .unwrap();
        for _ in 0..=QUARANTINE_AFTER_FAILURES {
            let error = ruleset
                .decide(&Trigger::CaseReceived, &case, &ctx)
                .unwrap_err();
            assert_eq!(
                error,
                RuleError::Suspended {
                    reason: "under review".into()
                }
            );
        }
        // Asked while suspended is no failure of its rules: not quarantined over the operator's
        // reason.
        assert_eq!(
            ruleset.state(),
            RulesetState::Suspended {
                reason: "under review".into()
            }
        );
        let events =
            crate::rules::apply::decision_events(&ruleset, Trigger::CaseReceived, &case, &ctx);
        let [EventKind::RuleFailure { reason, .. }] = events.as_slice() else {
            panic!("not one rule failure: {events:?}");
        };
        assert_eq!(reason, "the ruleset is suspended: under review");

        // Resumed, it decides again.
        registry.set_state(&ruleset.reference(), None).unwrap();
        ruleset.decide(&Trigger::CaseReceived, &case, &ctx).unwrap();
        assert!(ruleset.is_active());
    }
}

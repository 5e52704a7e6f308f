//! Deploying ruleset packages, suspending and resuming ruleset versions, and the plugin-vendor
//! keys each tenant trusts.

use redress_domain::TenantId;
use std::sync::Arc;

use super::Redress;
use crate::rules::registry::{
    Activated, Package, PackageError, Prepared, RulesetSummary, StateChangeError,
};

/// Why a deployment was refused.
#[derive(Debug, thiserror::Error)]
pub enum DeployError {
    #[error(transparent)]
    Package(#[from] PackageError),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("the package could not be stored: {0}")]
    Storage(String),
    /// The blocking task doing the work failed (it panicked), so whether it took effect is not
    /// known: unlike `Storage`, this does not promise that nothing changed.
    #[error("{doing} failed inside the server: {reason}")]
    TaskFailed {
        /// What the task was doing, for the requester ("the deployment").
        doing: &'static str,
        reason: String,
    },
}

impl DeployError {
    /// For a blocking task's `JoinError`: the task failed doing `doing`.
    fn task_failed(doing: &'static str) -> impl FnOnce(tokio::task::JoinError) -> DeployError {
        move |e| DeployError::TaskFailed {
            doing,
            reason: e.to_string(),
        }
    }
}

/// The folder of deployed packages that apply to every tenant (deployed with an operator key);
/// a tenant's are under the tenant's id.
const OPERATOR_NAMESPACE: &str = "_operator";

impl Redress {
    /// Keeps each tenant's trusted plugin-vendor keys under `dir`.
    pub fn with_plugin_keys_dir(mut self, dir: std::path::PathBuf) -> Self {
        self.plugin_keys_dir = Some(dir);
        self
    }

    /// The vendor keys `tenant` trusts for its own plugins, as stored (`None`: none set).
    pub fn plugin_keys(&self, tenant: &TenantId) -> Option<String> {
        let dir = self.plugin_keys_dir.as_ref()?;
        std::fs::read_to_string(dir.join(format!("{tenant}.toml"))).ok()
    }

    /// Replaces the vendor keys `tenant` trusts for its own plugins: checked, stored durably,
    /// then in force for the next deployment. Packages already active stay active.
    pub async fn set_plugin_keys(&self, tenant: TenantId, text: String) -> Result<(), DeployError> {
        let keys = crate::rules::signing::TrustStore::parse(&text, "toml")
            .map_err(|e| DeployError::Package(PackageError::Invalid(e.to_string())))?;
        let rules = Arc::clone(&self.rules);
        let dir = self.plugin_keys_dir.clone();
        tokio::task::spawn_blocking(move || {
            if let Some(dir) = dir {
                std::fs::create_dir_all(&dir)
                    .and_then(|()| {
                        crate::durable::write_file(
                            &dir.join(format!("{tenant}.toml")),
                            text.as_bytes(),
                            false,
                        )
                    })
                    .map_err(|e| DeployError::Storage(e.to_string()))?;
            }
            rules.set_tenant_trust(&tenant, keys);
            Ok(())
        })
        .await
        .map_err(DeployError::task_failed("storing the plugin keys"))?
    }

    /// Resolves packages that `extend` a built-in ruleset against the packages in `dir` (the
    /// built-in rulesets' folder).
    pub fn with_base_rulesets(mut self, dir: std::path::PathBuf) -> Self {
        self.base_rulesets = Some(dir);
        self
    }

    /// Keeps deployed packages under `dir` (normally `<data>/rulesets`).
    pub fn with_deployed_dir(mut self, dir: std::path::PathBuf) -> Self {
        self.deployed_dir = Some(dir);
        self
    }

    /// Validates a package (compiles it, runs its fixture cases), stores it durably, then
    /// activates it. Returns the summary and whether it is new (false: the same version with
    /// the same content was already active). A refused package changes nothing.
    ///
    /// A package naming a tenant is deployed by that tenant; one without (it applies to every
    /// tenant) only by the operator (`operator`: the request carries the operator role, see
    /// `Principal::is_operator`), never merely by a key of the `default` tenant.
    pub async fn deploy(
        &self,
        tenant: TenantId,
        operator: bool,
        package: Package,
    ) -> Result<(RulesetSummary, bool), DeployError> {
        let rules = Arc::clone(&self.rules);
        let calendars = self.calendars.current();
        let deployed_dir = self.deployed_dir.clone();
        let base_rulesets = self.base_rulesets.clone();
        tokio::task::spawn_blocking(move || {
            // An extension becomes a complete package (the base's files and its settings)
            // before anything looks at it: what is checked is what is stored and pinned.
            let bases = base_rulesets
                .as_deref()
                .map(crate::rules::extension::bases_in)
                .unwrap_or_default();
            let package = crate::rules::extension::resolve(package, &bases)?;
            // Who may deploy it is decided from the manifest before anything is compiled or
            // compared: a package for another tenant is refused without looking at that
            // tenant's packages.
            let manifest = package.manifest()?;
            match (&manifest.tenant, tenant.as_str()) {
                (Some(own), requester) if own == requester => {}
                (None, _) if operator => {}
                (Some(own), requester) => {
                    return Err(DeployError::Forbidden(format!(
                        "the package is for tenant `{own}`; the request acts for `{requester}`"
                    )));
                }
                (None, _) => {
                    return Err(DeployError::Forbidden(
                        "a package without `tenant` applies to every tenant and can only be deployed with an `operator` key".into(),
                    ));
                }
            }
            let prepared = rules.prepare(&package, &calendars)?;
            let loaded = match prepared {
                Prepared::AlreadyActive(existing) => return Ok((existing.summary(), false)),
                Prepared::Ready(loaded) => loaded,
            };
            // Checked, written and activated in one turn: a concurrent deployment of the same
            // version cannot write its files between this one's check and its activation.
            let activation = rules.begin_activation();
            if let Some(existing) = activation.existing(&loaded)? {
                return Ok((existing.summary(), false));
            }
            if let Some(dir) = &deployed_dir {
                let namespace = loaded.manifest.tenant.as_deref().unwrap_or(OPERATOR_NAMESPACE);
                crate::rules::package::persist_package(
                    &dir.join(namespace),
                    &loaded.manifest.id,
                    &loaded.manifest.version,
                    &package,
                )
                .map_err(|e| DeployError::Storage(e.to_string()))?;
            }
            let active = match activation.activate(*loaded)? {
                Activated::New(active) => active,
                Activated::AlreadyActive(existing) => return Ok((existing.summary(), false)),
            };
            tracing::info!(id = %active.manifest.id, version = %active.manifest.version, "ruleset deployed");
            Ok((active.summary(), true))
        })
        .await
        .map_err(DeployError::task_failed("the deployment"))?
    }

    /// Suspends (`Some(reason)`) or resumes (`None`) a ruleset version. A tenant acts on its
    /// own versions; the built-in ones belong to the operator (`operator`: the request carries
    /// the operator role), who may act on any version. Another tenant's version is reported as
    /// absent.
    pub async fn set_ruleset_state(
        &self,
        tenant: &TenantId,
        operator: bool,
        id: &str,
        version: &str,
        suspend: Option<&str>,
    ) -> Result<RulesetSummary, DeployError> {
        use redress_domain::contract::RulesetRef;
        let absent = || DeployError::NotFound(format!("no ruleset {id} {version}"));
        // The tenant's own package of that id and version, else the built-in one: ids are per
        // tenant, and another tenant's packages are not addressed at all.
        let own = RulesetRef::named(Some(tenant), id, version);
        let builtin = RulesetRef::named(None, id, version);
        let (reference, ruleset) = match (self.rules.find(&own), self.rules.find(&builtin)) {
            (Some(ruleset), _) => (own, ruleset),
            (None, Some(ruleset)) => (builtin, ruleset),
            // The operator may act on any tenant's package, found by id and version when only
            // one tenant has it.
            (None, None) if operator => {
                let mut found = self.rules.named_in_any_namespace(id, version);
                if found.len() > 1 {
                    return Err(DeployError::Forbidden(format!(
                        "{} tenants have a ruleset {id} {version} ({}); act with a key of the tenant whose version it is",
                        found.len(),
                        found
                            .iter()
                            .filter_map(|r| r.manifest.tenant.clone())
                            .collect::<Vec<_>>()
                            .join(", ")
                    )));
                }
                let ruleset = found.pop().ok_or_else(absent)?;
                (ruleset.manifest.reference(), ruleset)
            }
            (None, None) => return Err(absent()),
        };
        match (ruleset.manifest.tenant.as_deref(), tenant) {
            (Some(own), requester) if own == requester => {}
            _ if operator => {}
            (Some(_), _) => return Err(absent()),
            (None, requester) => {
                return Err(DeployError::Forbidden(format!(
                    "{id} {version} applies to every tenant; only an `operator` key changes its state, not a key of `{requester}` without that role"
                )));
            }
        }
        let rules = Arc::clone(&self.rules);
        let suspend = suspend.map(str::to_owned);
        let changed =
            tokio::task::spawn_blocking(move || rules.set_state(&reference, suspend.as_deref()))
                .await
                .map_err(DeployError::task_failed("changing the ruleset's state"))?
                .map_err(|e| match e {
                    StateChangeError::NotFound { .. } => absent(),
                    StateChangeError::Storage(reason) => DeployError::Storage(reason),
                })?;
        tracing::warn!(%id, %version, state = ?changed.state(), %tenant, "ruleset state changed by an operator");
        Ok(changed.summary())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use std::{collections::BTreeMap, sync::Arc};

    use redress_calendar::CalendarSet;

    use super::*;
    use crate::{
        rules::{
            Registry,
            rhai_engine::{Limits, RhaiEngine},
        },
        service::Calendars,
        store::MemoryStore,
    };

    fn package(id: &str, variant: usize) -> Package {
        Package {
            origin: format!("upload-{variant}"),
            files: BTreeMap::from([
                (
                    "ruleset.toml".to_owned(),
                    format!(
                        "id = \"{id}\"\nversion = \"1.0.0\"\nname = \"Race\"\nsector = \"banking\"\n\
                         effective_from = 2020-01-01\nengine = \"rhai\"\n"
                    ),
                ),
                (
                    "rules.rhai".to_owned(),
                    format!("// variant {variant}\nfn decide(trigger, the_case, ctx) {{ [] }}\n"),
                ),
            ]),
            binaries: BTreeMap::new(),
        }
    }

    /// Issue 14 (the disk half of the concurrent-deploy race): two deployments of one version
    /// with different content both wrote the package before one of them was activated, so the
    /// loser could leave its files on disk and a restart would install content no case was
    /// decided with. Whatever the interleaving, what is on disk is what is active.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn what_is_written_is_what_is_activated_however_deploys_race() {
        let dir = tempfile::tempdir().unwrap();
        let app = Redress::new(
            Arc::new(MemoryStore::new()),
            Arc::new(crate::time_source::SystemTimeSource),
            Calendars::new(CalendarSet::default()),
            Arc::new(Registry::new(RhaiEngine::new(Limits::default()))),
        )
        .with_deployed_dir(dir.path().to_owned());
        for round in 0..20 {
            let id = format!("race-{round}");
            let deploys: Vec<_> = (0..6)
                .map(|n| {
                    let (app, package) = (app.clone(), package(&id, n % 3));
                    tokio::spawn(async move {
                        app.deploy(TenantId::default_tenant(), true, package).await
                    })
                })
                .collect();
            let mut activated = 0;
            for deploy in deploys {
                match deploy.await.unwrap() {
                    Ok((_, true)) => activated += 1,
                    Ok((_, false))
                    | Err(DeployError::Package(PackageError::VersionExists { .. })) => {}
                    Err(e) => panic!("round {round}: {e}"),
                }
            }
            assert_eq!(activated, 1, "round {round}");
            let active = app
                .rules()
                .named_in_any_namespace(&id, "1.0.0")
                .pop()
                .unwrap();
            let on_disk =
                Package::read_dir(&dir.path().join(OPERATOR_NAMESPACE).join(&id).join("1.0.0"))
                    .unwrap();
            assert_eq!(on_disk.content_hash(), active.content_hash, "round {round}");
        }
    }
}

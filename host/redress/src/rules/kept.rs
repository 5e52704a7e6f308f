//! Built-in ruleset versions kept across upgrades.
//!
//! A case is pinned to the package that first decided it (id, version and content hash), and
//! the built-in rulesets ship inside the binary, current versions only. Without this module an
//! upgrade that brings `banking-insurance` 1.1.0 would leave every open case pinned to 1.0.0
//! without its rules (manual handling). So every built-in version a server has run is copied
//! into `<data>/kept-rulesets/<id>/<version>-<hash>/`, and at start the kept versions the
//! binary no longer ships are installed again as **retired**: they go on deciding the cases
//! pinned to them and are never chosen for a new case.
//!
//! **Invariant:** a built-in package changed without a new version cannot be kept beside its
//! successor (one id and version is one content); that is reported at start, naming it, and
//! the cases pinned to the earlier content go to manual handling. The rule for rule authors:
//! change the rules, change the version.

use std::path::{Path, PathBuf};

use redress_calendar::CalendarSet;

use super::{
    package::{Package, PackageError, persist_package},
    registry::{Prepared, Registry},
};

/// What `keep_and_restore` did, for the log and the tests.
#[derive(Debug, Default)]
pub struct KeptReport {
    /// Versions copied into the kept folder this time (`id@version`).
    pub kept: Vec<String>,
    /// Earlier versions installed again, retired.
    pub restored: Vec<String>,
    /// Kept versions that could not be installed, with why.
    pub refused: Vec<(PathBuf, String)>,
}

fn short(hash: &str) -> &str {
    hash.get(..12).unwrap_or(hash)
}

/// Copies the built-in packages of `builtin_dir` that are installed into `kept_dir`, then
/// installs, retired, every kept version that is not installed.
pub fn keep_and_restore(
    registry: &Registry,
    builtin_dir: &Path,
    kept_dir: &Path,
    calendars: &CalendarSet,
) -> KeptReport {
    let mut report = KeptReport::default();
    for package in super::extension::bases_in(builtin_dir) {
        let Ok(manifest) = package.manifest() else {
            continue;
        };
        let hash = package.content_hash();
        let installed = registry
            .named_in_any_namespace(&manifest.id, &manifest.version)
            .iter()
            .any(|r| r.manifest.tenant.is_none() && r.content_hash == hash);
        let folder = format!("{}-{}", manifest.version, short(&hash));
        if manifest.tenant.is_some()
            || !installed
            || kept_dir.join(&manifest.id).join(&folder).is_dir()
        {
            continue;
        }
        match persist_package(kept_dir, &manifest.id, &folder, &package) {
            Ok(()) => report
                .kept
                .push(format!("{}@{}", manifest.id, manifest.version)),
            Err(e) => report
                .refused
                .push((kept_dir.join(&manifest.id).join(folder), e.to_string())),
        }
    }
    let mut folders: Vec<PathBuf> = std::fs::read_dir(kept_dir)
        .map(|ids| {
            ids.filter_map(Result::ok)
                .flat_map(|id| std::fs::read_dir(id.path()).into_iter().flatten())
                .filter_map(Result::ok)
                .map(|version| version.path())
                .filter(|p| p.join("ruleset.toml").is_file())
                .collect()
        })
        .unwrap_or_default();
    folders.sort();
    for folder in folders {
        match restore(registry, &folder, calendars) {
            Ok(Some(reference)) => report.restored.push(reference),
            Ok(None) => {}
            Err(why) => report.refused.push((folder, why)),
        }
    }
    report
}

/// Installs the kept package in `folder`, retired, unless its version is installed.
fn restore(
    registry: &Registry,
    folder: &Path,
    calendars: &CalendarSet,
) -> Result<Option<String>, String> {
    let package = Package::read_dir(folder).map_err(|e| e.to_string())?;
    let manifest = package.manifest().map_err(|e| e.to_string())?;
    let reference = format!("{}@{}", manifest.id, manifest.version);
    let hash = package.content_hash();
    let same_version: Vec<_> = registry
        .named_in_any_namespace(&manifest.id, &manifest.version)
        .into_iter()
        .filter(|r| r.manifest.tenant.is_none())
        .collect();
    if same_version.iter().any(|r| r.content_hash == hash) {
        return Ok(None);
    }
    if !same_version.is_empty() {
        return Err(format!(
            "{reference} was changed without a new version: the earlier content (kept in {}) cannot be installed beside it, so the cases pinned to it go to manual handling; change the version when the rules change",
            folder.display()
        ));
    }
    let loaded = match registry.prepare(&package, calendars) {
        Ok(Prepared::Ready(loaded)) => loaded,
        Ok(Prepared::AlreadyActive(_)) => return Ok(None),
        Err(PackageError::FixturesFail { failed, total, .. }) => {
            return Err(format!(
                "{reference}: {failed} of its {total} fixture cases fail with today's calendars; its pinned cases go to manual handling"
            ));
        }
        Err(e) => return Err(e.to_string()),
    };
    let mut loaded = *loaded;
    loaded.retired = true;
    registry.activate(loaded).map_err(|e| e.to_string())?;
    Ok(Some(reference))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::rules::engine::rhai::{Limits, RhaiEngine};

    fn write(dir: &Path, version: &str, mark: &str) {
        std::fs::create_dir_all(dir).unwrap();
        std::fs::write(
            dir.join("ruleset.toml"),
            format!("id = \"kept-test\"\nversion = \"{version}\"\nname = \"t\"\nsector = \"banking\"\neffective_from = 2020-01-01\nengine = \"rhai\"\n"),
        )
        .unwrap();
        std::fs::write(
            dir.join("rules.rhai"),
            format!("// {mark}\nfn decide(trigger, the_case, ctx) {{ [] }}\n"),
        )
        .unwrap();
    }

    fn registry() -> Registry {
        Registry::new(RhaiEngine::new(Limits::default()))
    }

    #[test]
    fn an_upgrade_keeps_the_earlier_version_retired_and_a_changed_one_is_reported() {
        let calendars = CalendarSet::default();
        let kept = tempfile::tempdir().unwrap();
        let old_binary = tempfile::tempdir().unwrap();
        write(&old_binary.path().join("kept-test"), "1.0.0", "old");

        // The server on the old binary keeps what it runs.
        let before = registry();
        before.install_dir(old_binary.path(), &calendars);
        let report = keep_and_restore(&before, old_binary.path(), kept.path(), &calendars);
        assert_eq!(report.kept, ["kept-test@1.0.0"]);
        assert!(report.restored.is_empty() && report.refused.is_empty());

        // Upgraded: 1.1.0 is the built-in one, 1.0.0 is back, retired, for its pinned cases.
        let new_binary = tempfile::tempdir().unwrap();
        write(&new_binary.path().join("kept-test"), "1.1.0", "new");
        let after = registry();
        after.install_dir(new_binary.path(), &calendars);
        let report = keep_and_restore(&after, new_binary.path(), kept.path(), &calendars);
        assert_eq!(report.restored, ["kept-test@1.0.0"]);
        let old = after.named_in_any_namespace("kept-test", "1.0.0");
        assert!(old[0].retired);
        let chosen = after
            .select(
                "default",
                redress_domain::case::Sector::Banking,
                jiff::civil::date(2026, 12, 1),
            )
            .unwrap();
        assert_eq!(
            chosen.manifest.version, "1.1.0",
            "a new case gets the current version"
        );
        // Restarting restores it again, and keeps nothing twice.
        let again = registry();
        again.install_dir(new_binary.path(), &calendars);
        let report = keep_and_restore(&again, new_binary.path(), kept.path(), &calendars);
        assert_eq!(report.restored, ["kept-test@1.0.0"]);
        assert!(report.kept.is_empty(), "{:?}", report.kept);

        // 1.1.0 changed without a new version: reported, not installed beside it.
        let changed = tempfile::tempdir().unwrap();
        write(&changed.path().join("kept-test"), "1.1.0", "changed");
        let later = registry();
        later.install_dir(changed.path(), &calendars);
        let report = keep_and_restore(&later, changed.path(), kept.path(), &calendars);
        assert_eq!(report.refused.len(), 1, "{:?}", report.refused);
        assert!(
            report.refused[0]
                .1
                .contains("kept-test@1.1.0 was changed without a new version")
        );
    }
}

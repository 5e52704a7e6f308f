//! Tailoring without forking: a package whose `ruleset.toml` says `extends = "<id>@<version>"`
//! of a built-in ruleset and overrides its settings, nothing else.
//!
//! A tenant writes only the overrides:
//!
//! ```toml
//! id = "acme-banking"
//! version = "1.0.0"
//! name = "Acme Bank: banking rules with a 10-day internal target"
//! tenant = "acme-bank"
//! extends = "banking-insurance@1.0.0"
//! [settings]
//! decision_days = 10
//! ```
//!
//! **Resolution** makes it a complete package before anything else looks at it: the base's
//! rules and fixture cases, the base's manifest kept verbatim as `base.toml`, the tenant's
//! manifest as `ruleset.toml`, and the tenant's own `cases/*.yaml`, which replace the base's
//! of the same name (what `redress ruleset test --update` writes) or add to them. The resolved
//! package is what is checked, stored and pinned: a later change of the base does not change
//! a deployed extension, whose content hash covers the base files it was resolved with.
//!
//! **Invariants:** an override names a setting the base has, with a value of the same type;
//! the effective dates, engine, entry, calendar, clocks and attributes are the base's.

use std::{collections::BTreeMap, path::Path};

use serde::Deserialize;

use super::{
    manifest::{Manifest, ManifestError},
    package::{Package, PackageError},
};

/// Where a resolved extension keeps its base's manifest.
pub const BASE_MANIFEST: &str = "base.toml";

/// An extension's `ruleset.toml`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct ExtensionManifest {
    id: String,
    version: String,
    name: String,
    tenant: Option<redress_domain::TenantId>,
    /// `<id>@<version>` of the ruleset it tailors.
    extends: String,
    #[serde(default)]
    settings: BTreeMap<String, toml::Value>,
}

/// Whether a manifest's text declares an extension (a top-level `extends`). Text that is not
/// TOML is no extension: the ordinary parser then says what is wrong with it.
pub fn declares_extends(manifest_text: &str) -> Option<String> {
    let table: toml::Table = toml::from_str(manifest_text).ok()?;
    match table.get("extends") {
        Some(toml::Value::String(base)) => Some(base.clone()),
        // Not a string: the extension parser names it.
        Some(other) => Some(other.to_string()),
        None => None,
    }
}

fn parse_error(text: &str, origin: &str, e: &toml::de::Error) -> ManifestError {
    let line = e
        .span()
        .map(|span| text[..span.start.min(text.len())].matches('\n').count() + 1);
    ManifestError {
        origin: match line {
            Some(line) => format!("{origin}:{line}"),
            None => origin.to_owned(),
        },
        message: e.message().to_owned(),
    }
}

/// The `(id, version)` an `extends` value names.
fn base_reference(extends: &str, origin: &str) -> Result<(String, String), ManifestError> {
    extends
        .split_once('@')
        .filter(|(id, version)| !id.is_empty() && semver::Version::parse(version).is_ok())
        .map(|(id, version)| (id.to_owned(), version.to_owned()))
        .ok_or_else(|| ManifestError {
            origin: origin.to_owned(),
            message: format!(
                "extends `{extends}`: name the ruleset as <id>@<version>, e.g. banking-insurance@1.0.0"
            ),
        })
}

/// The manifest of a resolved extension: the base's, with the extension's id, version, name
/// and tenant, and its settings overridden.
pub fn merged_manifest(
    extension_text: &str,
    base_text: &str,
    origin: &str,
) -> Result<Manifest, ManifestError> {
    let extension: ExtensionManifest =
        toml::from_str(extension_text).map_err(|e| parse_error(extension_text, origin, &e))?;
    let (base_id, base_version) = base_reference(&extension.extends, origin)?;
    let base_origin = format!("{origin} (its base, {BASE_MANIFEST})");
    let base = Manifest::parse(base_text, &base_origin)?;
    let bad = |message: String| ManifestError {
        origin: origin.to_owned(),
        message,
    };
    if base.id != base_id || base.version != base_version {
        return Err(bad(format!(
            "extends `{}`, but the base it carries is {}@{}",
            extension.extends, base.id, base.version
        )));
    }
    if base.tenant.is_some() {
        return Err(bad(format!(
            "extends `{}`, a tenant's ruleset: only a built-in ruleset can be extended",
            extension.extends
        )));
    }
    // The id and version are checked by the ordinary rules, on the merged manifest.
    let mut merged = base.clone();
    merged.id = extension.id;
    merged.version = extension.version;
    merged.name = extension.name;
    merged.tenant = extension.tenant;
    for (key, value) in extension.settings {
        let Some(current) = base.settings.get(&key) else {
            let known: Vec<&str> = base.settings.keys().map(String::as_str).collect();
            return Err(bad(format!(
                "settings.{key}: {} has no such setting (it has: {})",
                extension.extends,
                known.join(", ")
            )));
        };
        if std::mem::discriminant(current) != std::mem::discriminant(&value) {
            return Err(bad(format!(
                "settings.{key}: {} has a {} here ({current}); {value} is a {}",
                extension.extends,
                current.type_str(),
                value.type_str()
            )));
        }
        merged.settings.insert(key, value);
    }
    // The same checks as any manifest (id, version, repeat window...), through its parser.
    let rendered = toml::to_string(&merged).map_err(|e| bad(e.to_string()))?;
    let mut checked = Manifest::parse(&rendered, origin)?;
    checked.extends = Some(extension.extends);
    Ok(checked)
}

/// Whether `package` is an extension not yet resolved (it has no base manifest).
pub fn needs_resolving(package: &Package) -> bool {
    !package.files.contains_key(BASE_MANIFEST)
        && package
            .files
            .get("ruleset.toml")
            .is_some_and(|text| declares_extends(text).is_some())
}

/// Resolves an extension against `bases` (the built-in packages): see the module's
/// documentation. A package that is not an extension is returned unchanged.
pub fn resolve(package: Package, bases: &[Package]) -> Result<Package, PackageError> {
    if !needs_resolving(&package) {
        return Ok(package);
    }
    let origin = format!("{}/ruleset.toml", package.origin);
    let extension_text = package
        .files
        .get("ruleset.toml")
        .cloned()
        .unwrap_or_default();
    let extends = declares_extends(&extension_text).unwrap_or_default();
    let (id, version) = base_reference(&extends, &origin)?;
    let base = bases
        .iter()
        .find(|base| {
            base.manifest()
                .is_ok_and(|m| m.id == id && m.version == version && m.tenant.is_none())
        })
        .ok_or_else(|| {
            let mut known: Vec<String> = bases
                .iter()
                .filter_map(|b| b.manifest().ok())
                .filter(|m| m.tenant.is_none())
                .map(|m| format!("{}@{}", m.id, m.version))
                .collect();
            known.sort();
            PackageError::Invalid(format!(
                "{origin}: extends `{extends}`, which is not a built-in ruleset (built-in: {})",
                known.join(", ")
            ))
        })?;
    if !base.binaries.is_empty() {
        return Err(PackageError::Invalid(format!(
            "{origin}: extends `{extends}`, a plugin: only a Rhai ruleset can be extended (a plugin's settings are its vendor's)"
        )));
    }
    let base_manifest = base.files.get("ruleset.toml").cloned().unwrap_or_default();
    let mut files: BTreeMap<String, String> = base
        .files
        .iter()
        .filter(|(path, _)| {
            path.as_str() != "ruleset.toml" && path.as_str() != super::signing::SIGNATURE_FILE
        })
        .map(|(path, text)| (path.clone(), text.clone()))
        .collect();
    for (path, text) in &package.files {
        if path.starts_with("cases/") {
            files.insert(path.clone(), text.clone());
        } else if path != "ruleset.toml" {
            return Err(PackageError::Invalid(format!(
                "{}/{path}: an extension overrides settings only: it holds ruleset.toml and cases/*.yaml, nothing else",
                package.origin
            )));
        }
    }
    if !package.binaries.is_empty() {
        return Err(PackageError::Invalid(format!(
            "{}: an extension overrides settings only: it holds ruleset.toml and cases/*.yaml, nothing else",
            package.origin
        )));
    }
    files.insert(BASE_MANIFEST.to_owned(), base_manifest);
    files.insert("ruleset.toml".to_owned(), extension_text);
    let resolved = Package {
        origin: package.origin,
        files,
        binaries: BTreeMap::new(),
    };
    // Refused here, with the extension's own words, rather than later as a bad package.
    resolved.manifest()?;
    Ok(resolved)
}

/// The packages directly inside `dir` (the built-in rulesets folder): the bases an extension
/// may name. Folders that are not packages (calendars) are skipped.
pub fn bases_in(dir: &Path) -> Vec<Package> {
    let mut dirs: Vec<_> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.join("ruleset.toml").is_file())
                .collect()
        })
        .unwrap_or_default();
    dirs.sort();
    dirs.iter()
        .filter_map(|d| Package::read_dir(d).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn package(files: &[(&str, &str)]) -> Package {
        Package {
            origin: "test".into(),
            files: files
                .iter()
                .map(|(p, t)| ((*p).to_owned(), (*t).to_owned()))
                .collect(),
            binaries: BTreeMap::new(),
        }
    }

    const BASE: &str = "# the base\nid = \"base\"\nversion = \"1.0.0\"\nname = \"Base\"\nsector = \"banking\"\neffective_from = 2020-03-01\nengine = \"rhai\"\n[settings]\ndecision_days = 15\nroll_forward = true\n";

    fn base() -> Package {
        package(&[
            ("ruleset.toml", BASE),
            ("rules.rhai", "fn decide(t, c, ctx) { [] }"),
            ("cases/01-a.yaml", "a"),
            ("cases/02-b.yaml", "b"),
        ])
    }

    fn extension(settings: &str) -> Package {
        package(&[
            (
                "ruleset.toml",
                &format!(
                    "id = \"mine\"\nversion = \"2.0.0\"\nname = \"Mine\"\ntenant = \"acme\"\nextends = \"base@1.0.0\"\n[settings]\n{settings}"
                ),
            ),
            ("cases/02-b.yaml", "mine"),
        ])
    }

    #[test]
    fn an_extension_gets_the_base_files_its_own_cases_and_its_settings() {
        let resolved = resolve(extension("decision_days = 10\n"), &[base()]).unwrap();
        assert_eq!(resolved.files["base.toml"], BASE, "kept verbatim");
        assert_eq!(resolved.files["cases/01-a.yaml"], "a");
        assert_eq!(
            resolved.files["cases/02-b.yaml"], "mine",
            "its own replaces the base's"
        );
        let manifest = resolved.manifest().unwrap();
        assert_eq!(
            (manifest.id.as_str(), manifest.version.as_str()),
            ("mine", "2.0.0")
        );
        assert_eq!(manifest.tenant.as_deref(), Some("acme"));
        assert_eq!(manifest.extends.as_deref(), Some("base@1.0.0"));
        assert_eq!(manifest.settings["decision_days"].as_integer(), Some(10));
        assert_eq!(manifest.settings["roll_forward"].as_bool(), Some(true));
        assert_eq!(manifest.effective_from.to_string(), "2020-03-01");
        // Resolving again changes nothing.
        let again = resolve(resolved.clone(), &[base()]).unwrap();
        assert_eq!(again.content_hash(), resolved.content_hash());
    }

    #[test]
    fn what_an_extension_may_not_do_is_refused_in_words() {
        let refused = |p: Package, bases: &[Package]| resolve(p, bases).unwrap_err().to_string();
        assert!(
            refused(extension("decision_dayz = 10\n"), &[base()])
                .contains("settings.decision_dayz: base@1.0.0 has no such setting (it has: decision_days, roll_forward)"),
        );
        assert!(
            refused(extension("decision_days = \"10\"\n"), &[base()]).contains(
                "settings.decision_days: base@1.0.0 has a integer here (15); \"10\" is a string"
            ),
        );
        assert!(refused(extension(""), &[]).contains("not a built-in ruleset"));
        let mut with_rules = extension("");
        with_rules
            .files
            .insert("rules.rhai".into(), "fn decide(t, c, ctx) { [] }".into());
        assert!(refused(with_rules, &[base()]).contains("overrides settings only"));
        let mut engine = extension("");
        let text =
            engine.files["ruleset.toml"].replace("[settings]", "engine = \"wasm\"\n[settings]");
        engine.files.insert("ruleset.toml".into(), text);
        assert!(refused(engine, &[base()]).contains("unknown field `engine`"));
        let mut unversioned = extension("");
        let text = unversioned.files["ruleset.toml"].replace("base@1.0.0", "base");
        unversioned.files.insert("ruleset.toml".into(), text);
        assert!(refused(unversioned, &[base()]).contains("<id>@<version>"));
    }
}

//! A package: the files of one ruleset version, as a directory on disk or the body of a
//! deployment request; its manifest and the content hash that pins it.
//!
//! **Invariant:** a package consists only of files that are read back after a restart
//! (`check_package_path`), and its content hash covers every one of them but the signature,
//! which signs that hash.

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
};

use sha2::{Digest, Sha256};

use super::{
    RuleError,
    fixtures::FixtureReport,
    manifest::Manifest,
    signing::{SIGNATURE_FILE, SignatureError},
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
        let origin = format!("{}/ruleset.toml", self.origin);
        if let Some(extends) = super::extension::declares_extends(text) {
            let Some(base) = self.files.get(super::extension::BASE_MANIFEST) else {
                return Err(PackageError::Invalid(format!(
                    "{origin}: extends `{extends}` but was not resolved against it (deploy it to a server, or test it with `redress ruleset test`, which resolve it)"
                )));
            };
            return Ok(super::extension::merged_manifest(text, base, &origin)?);
        }
        Ok(Manifest::parse(text, &origin)?)
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

/// The manifest's sector as plugins and signatures name it (`banking`).
pub(super) fn sector_name(manifest: &Manifest) -> String {
    serde_json::to_value(manifest.sector)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// Writes a package under `<dir>/<id>/<version>/`, durably: files are written to a temporary
/// folder, synced, and renamed into place, so a crash leaves either the whole package or none.
pub fn persist_package(
    dir: &std::path::Path,
    id: &str,
    version: &str,
    package: &Package,
) -> std::io::Result<()> {
    use std::io::Write;
    let target = dir.join(id).join(version);
    let staging = dir.join(format!(".staging-{id}-{version}"));
    if staging.exists() {
        std::fs::remove_dir_all(&staging)?;
    }
    let contents = package
        .files
        .iter()
        .map(|(path, text)| (path, text.as_bytes()))
        .chain(
            package
                .binaries
                .iter()
                .map(|(path, bytes)| (path, bytes.as_slice())),
        );
    for (path, content) in contents {
        // Paths were checked by `check_package_path`: relative, no `..`.
        let file_path = staging.join(path);
        if let Some(parent) = file_path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        let mut file = std::fs::File::create(&file_path)?;
        file.write_all(content)?;
        file.sync_all()?;
    }
    if let Some(parent) = target.parent() {
        std::fs::create_dir_all(parent)?;
    }
    if target.exists() {
        std::fs::remove_dir_all(&target)?;
    }
    std::fs::rename(&staging, &target)?;
    std::fs::File::open(target.parent().unwrap_or(dir))?.sync_all()?;
    Ok(())
}

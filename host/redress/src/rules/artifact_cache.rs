//! Compiled plugins kept on disk, so that a restart does not compile every plugin again
//! (compiling the banking plugin takes hundreds of milliseconds; loading its artifact, about
//! one).
//!
//! Loading precompiled code is `unsafe` in wasmtime: the artifact is native code that runs as
//! is, so a forged artifact is arbitrary code execution. The cache therefore only loads what
//! this host wrote itself: each artifact is stored with an HMAC-SHA-256 under a key that only
//! this host holds (`host.key`, created with mode 0600 in the cache directory) over the
//! artifact's name (the SHA-256 of the plugin's `.wasm` and the engine's compatibility hash)
//! and its bytes. An artifact whose tag does not verify (edited, truncated, copied from
//! another host, or filed under another plugin's name) is not loaded: the plugin is compiled
//! again and the artifact replaced. Whoever can read the key can forge artifacts; that is the
//! account the server runs as, which could replace the server binary anyway.
//!
//! An artifact is written only once its package is accepted (`keep`, at activation), so a
//! refused upload leaves nothing here; at start-up every artifact that no installed package
//! uses is deleted (`evict_except`).

use std::{
    hash::{Hash, Hasher},
    path::{Path, PathBuf},
    sync::atomic::{AtomicU64, Ordering},
};

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use wasmtime::{Engine, component::Component};

type Tag = Hmac<Sha256>;

const TAG_BYTES: usize = 32;
const KEY_FILE: &str = "host.key";

/// How loads went, for tests and the log.
#[derive(Debug, Default)]
pub struct CacheStats {
    pub hits: AtomicU64,
    pub misses: AtomicU64,
    /// Artifacts present but refused (tag did not verify, or wasmtime refused them).
    pub refused: AtomicU64,
}

#[derive(Debug, thiserror::Error)]
#[error("{path}: {message}")]
pub struct CacheError {
    pub path: String,
    pub message: String,
}

/// A directory of compiled plugins and the key that vouches for them.
pub struct ArtifactCache {
    dir: PathBuf,
    key: [u8; 32],
    pub stats: CacheStats,
}

impl std::fmt::Debug for ArtifactCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ArtifactCache")
            .field("dir", &self.dir)
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

/// The result of a lookup.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Hit,
    Miss,
    Refused,
}

impl ArtifactCache {
    /// Opens (creating if needed) the cache in `dir` and its host key.
    pub fn open(dir: &Path) -> Result<ArtifactCache, CacheError> {
        let failed = |path: &Path, message: String| CacheError {
            path: path.display().to_string(),
            message,
        };
        std::fs::create_dir_all(dir).map_err(|e| failed(dir, e.to_string()))?;
        let key_path = dir.join(KEY_FILE);
        let key = crate::secret_key::load_or_create(&key_path).map_err(|e| {
            failed(
                &key_path,
                format!("{e}; delete the cache directory to start afresh"),
            )
        })?;
        Ok(ArtifactCache {
            dir: dir.to_owned(),
            key,
            stats: CacheStats::default(),
        })
    }

    /// The artifact's name: the plugin's content and the engine configuration that compiled it.
    pub(crate) fn name(engine: &Engine, wasm: &[u8]) -> String {
        let mut compatibility = std::hash::DefaultHasher::new();
        engine
            .precompile_compatibility_hash()
            .hash(&mut compatibility);
        format!(
            "{}-{:016x}",
            hex::encode(Sha256::digest(wasm)),
            compatibility.finish()
        )
    }

    fn tag(&self, name: &str, artifact: &[u8]) -> Tag {
        // A 32-byte key is always a valid HMAC key.
        let mut mac = <Tag as Mac>::new_from_slice(&self.key)
            .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
        mac.update(&(name.len() as u64).to_be_bytes());
        mac.update(name.as_bytes());
        mac.update(artifact);
        mac
    }

    /// The compiled component for `wasm`: from the cache if this host wrote it, else compiled
    /// with `compile` (and not stored: see `keep`).
    pub fn get_or_compile(
        &self,
        engine: &Engine,
        wasm: &[u8],
        compile: impl FnOnce() -> Result<Component, super::RuleError>,
    ) -> Result<(Component, Outcome), super::RuleError> {
        let name = Self::name(engine, wasm);
        let path = self.dir.join(format!("{name}.cwasm"));
        let outcome = match std::fs::read(&path) {
            Ok(stored) => match self.verified(engine, &name, &stored) {
                Some(component) => {
                    self.stats.hits.fetch_add(1, Ordering::Relaxed);
                    return Ok((component, Outcome::Hit));
                }
                None => {
                    tracing::warn!(path = %path.display(), "a cached plugin artifact was refused (not written by this host, or changed); compiling again");
                    self.stats.refused.fetch_add(1, Ordering::Relaxed);
                    Outcome::Refused
                }
            },
            Err(_) => {
                self.stats.misses.fetch_add(1, Ordering::Relaxed);
                Outcome::Miss
            }
        };
        let component = compile()?;
        Ok((component, outcome))
    }

    /// Stores `component`, compiled from `wasm`, unless an artifact this host wrote is already
    /// there. Called once the package is accepted.
    pub fn keep(&self, engine: &Engine, wasm: &[u8], component: &Component) {
        let name = Self::name(engine, wasm);
        let path = self.dir.join(format!("{name}.cwasm"));
        let present = std::fs::read(&path)
            .ok()
            .is_some_and(|stored| self.tag_verifies(&name, &stored));
        if present {
            return;
        }
        if let Err(e) = self.store(&name, &path, component) {
            tracing::warn!(path = %path.display(), error = %e, "the compiled plugin could not be cached; it will be compiled again after a restart");
        }
    }

    /// Deletes every artifact (and leftover temporary file) whose name is not in `used`: code
    /// compiled for packages that are no longer installed, or were refused by an older host.
    /// Returns how many files were deleted.
    pub fn evict_except(&self, used: &std::collections::HashSet<String>) -> usize {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return 0;
        };
        let mut evicted = 0;
        for path in entries.filter_map(Result::ok).map(|e| e.path()) {
            let Some(file) = path.file_name().and_then(|n| n.to_str()) else {
                continue;
            };
            let name = file
                .strip_suffix(".cwasm")
                .or_else(|| file.strip_suffix(".cwasm.tmp"));
            let unused = match name {
                Some(name) => file.ends_with(".tmp") || !used.contains(name),
                None => false,
            };
            if unused {
                match std::fs::remove_file(&path) {
                    Ok(()) => evicted += 1,
                    Err(e) => {
                        tracing::warn!(path = %path.display(), error = %e, "an unused plugin artifact could not be deleted");
                    }
                }
            }
        }
        evicted
    }

    fn tag_verifies(&self, name: &str, stored: &[u8]) -> bool {
        stored.len() >= TAG_BYTES && {
            let (tag, artifact) = stored.split_at(TAG_BYTES);
            self.tag(name, artifact).verify_slice(tag).is_ok()
        }
    }

    /// Checks the tag, then deserialises.
    fn verified(&self, engine: &Engine, name: &str, stored: &[u8]) -> Option<Component> {
        if !self.tag_verifies(name, stored) {
            return None;
        }
        Self::deserialize(engine, stored.get(TAG_BYTES..)?)
    }

    #[allow(unsafe_code)]
    fn deserialize(engine: &Engine, artifact: &[u8]) -> Option<Component> {
        // SAFETY: wasmtime requires that the bytes be an artifact produced by
        // `Component::serialize` of a compatible engine and not changed since. `verified` has
        // just checked the HMAC under this host's secret key over the artifact and its name
        // (which includes the engine's compatibility hash), so these are the exact bytes this
        // host serialised for this plugin; wasmtime itself also checks the engine version and
        // configuration recorded in the artifact and refuses a mismatch.
        unsafe { Component::deserialize(engine, artifact) }.ok()
    }

    fn store(&self, name: &str, path: &Path, component: &Component) -> std::io::Result<()> {
        use std::io::Write;
        let artifact = component.serialize().map_err(std::io::Error::other)?;
        let tag = self.tag(name, &artifact).finalize().into_bytes();
        let staging = path.with_extension("cwasm.tmp");
        let mut file = std::fs::File::create(&staging)?;
        file.write_all(&tag)?;
        file.write_all(&artifact)?;
        file.sync_all()?;
        std::fs::rename(&staging, path)
    }
}

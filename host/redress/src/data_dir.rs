//! The data directory (`--data`): the one place that knows what lives where under it.
//!
//! Invariants:
//! - every path under the data directory is named here and nowhere else;
//! - a command that only reads (`key list`, `tenant list`, `audit verify`) never creates the
//!   directory: a mistyped `--data` is an error naming it, not an empty answer;
//! - a path that exists but is not a directory is refused with that said, before anything is
//!   opened.

use std::path::{Path, PathBuf};

/// The store's own files (sled's `db`, `conf`, `blobs/`, the acknowledgement ledger) live at the
/// top of the directory, beside the files below, for compatibility with the stores already
/// written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataDir {
    root: PathBuf,
}

#[derive(Debug, thiserror::Error)]
pub enum DataDirError {
    #[error("{path}: not a directory (--data names the data directory, e.g. `data`)")]
    NotADirectory { path: String },
    #[error(
        "{path}: no such data directory (check --data; `redress serve --data {path}` or `redress tenant create --data {path}` makes one)"
    )]
    Missing { path: String },
    #[error("{path}: cannot create the data directory")]
    Create {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

impl DataDir {
    /// The data directory at `root`, created if missing (the server, and the commands that
    /// write into it).
    pub fn create(root: impl Into<PathBuf>) -> Result<DataDir, DataDirError> {
        let root = root.into();
        refuse_non_directory(&root)?;
        std::fs::create_dir_all(&root).map_err(|source| DataDirError::Create {
            path: root.display().to_string(),
            source,
        })?;
        Ok(DataDir { root })
    }

    /// The data directory at `root`, which must exist (the commands that only read it).
    pub fn existing(root: impl Into<PathBuf>) -> Result<DataDir, DataDirError> {
        let root = root.into();
        refuse_non_directory(&root)?;
        if !root.is_dir() {
            return Err(DataDirError::Missing {
                path: root.display().to_string(),
            });
        }
        Ok(DataDir { root })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The case store (sled) and its acknowledgement ledger.
    pub fn store(&self) -> &Path {
        &self.root
    }

    /// Tenants and API keys (`redress tenant`, `redress key`), re-read by a running server.
    pub fn access_file(&self) -> PathBuf {
        self.root.join("access.json")
    }

    /// People's console accounts (`redress user`), re-read by a running server.
    pub fn accounts_file(&self) -> PathBuf {
        self.root.join("accounts.json")
    }

    /// The console's sessions (a sled database of their own), so a restart signs no one out.
    pub fn sessions(&self) -> PathBuf {
        self.root.join("sessions")
    }

    /// The key the complainants' tracking secrets are derived with.
    pub fn tracking_key(&self) -> PathBuf {
        self.root.join("tracking.key")
    }

    /// The key complainant keys (repeat detection) are computed with. Replacing it makes new
    /// cases stop matching the cases keyed before.
    pub fn repeat_key(&self) -> PathBuf {
        self.root.join("repeat.key")
    }

    /// The suspended and quarantined ruleset versions, so that a suspension outlasts a restart.
    pub fn suspended_rulesets(&self) -> PathBuf {
        self.root.join("suspended-rulesets.json")
    }

    /// Compiled plugin code, keyed by the plugin's hash and the engine's configuration.
    pub fn plugin_cache(&self) -> PathBuf {
        self.root.join("plugin-cache")
    }

    /// Each tenant's trusted plugin-vendor keys (`<tenant>.toml`).
    pub fn plugin_keys(&self) -> PathBuf {
        self.root.join("plugin-keys")
    }

    /// Packages deployed over the API (`<tenant|_operator>/<id>/<version>/`), reinstalled at
    /// start.
    pub fn deployed_rulesets(&self) -> PathBuf {
        self.root.join("rulesets")
    }

    /// A copy of every built-in ruleset version this server has run (`rules::kept`), so that an
    /// upgrade that brings new versions leaves the cases pinned to the old ones decided by them.
    pub fn kept_rulesets(&self) -> PathBuf {
        self.root.join("kept-rulesets")
    }

    /// Each tenant's jurisdiction routing table.
    pub fn routing(&self) -> PathBuf {
        self.root.join("routing")
    }

    /// The calendar versions the open clocks were last reconciled with (`revision.rs`).
    pub fn calendar_versions(&self) -> PathBuf {
        self.root.join("calendar-versions.json")
    }

    /// The built-in rulesets and calendars, written out from the binary when no ruleset
    /// directory is given (`builtin.rs`), one folder per content hash.
    pub fn builtin_rulesets(&self) -> PathBuf {
        self.root.join("builtin")
    }
}

fn refuse_non_directory(root: &Path) -> Result<(), DataDirError> {
    if root.exists() && !root.is_dir() {
        return Err(DataDirError::NotADirectory {
            path: root.display().to_string(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn a_reading_command_never_creates_the_directory() {
        let dir = tempfile::tempdir().unwrap();
        let typo = dir.path().join("dta");
        let err = DataDir::existing(&typo).unwrap_err();
        assert!(err.to_string().contains("no such data directory"), "{err}");
        assert!(!typo.exists());
        DataDir::create(&typo).unwrap();
        assert!(DataDir::existing(&typo).is_ok());
    }

    #[test]
    fn a_file_is_not_a_data_directory() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("notes.txt");
        std::fs::write(&file, "x").unwrap();
        for err in [
            DataDir::create(&file).unwrap_err(),
            DataDir::existing(&file).unwrap_err(),
        ] {
            assert!(err.to_string().contains("not a directory"), "{err}");
        }
    }
}

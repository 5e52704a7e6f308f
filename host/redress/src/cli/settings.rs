//! Where each command finds its directories: the flag (or its `REDRESS_*` variable), else the
//! configuration file given with `--config`, else the default.

use std::path::{Path, PathBuf};

use anyhow::Context;

use super::{DataArg, RulesetsArg};
use crate::config::{DEFAULT_DATA, DEFAULT_RULESETS, FileConfig};
use crate::data_dir::DataDir;

/// The configuration file (or its absence) every command resolves its settings against.
#[derive(Debug, Clone, Default)]
pub struct Settings {
    pub file: FileConfig,
    /// The file's path, for errors that name where a value came from.
    pub origin: String,
}

impl Settings {
    pub fn load(path: Option<&Path>) -> anyhow::Result<Settings> {
        Ok(match path {
            Some(path) => Settings {
                file: FileConfig::load(path)?,
                origin: path.display().to_string(),
            },
            None => Settings {
                file: FileConfig::default(),
                origin: "(no config file)".into(),
            },
        })
    }

    /// The data directory's path, not opened.
    pub fn data_path(&self, arg: &DataArg) -> PathBuf {
        arg.data
            .clone()
            .or_else(|| self.file.server.data.clone())
            .unwrap_or_else(|| DEFAULT_DATA.into())
    }

    /// The data directory, created if missing (commands that write into it).
    pub fn data_to_write(&self, arg: &DataArg) -> anyhow::Result<DataDir> {
        Ok(DataDir::create(self.data_path(arg))?)
    }

    /// The data directory, which must exist (commands that only read it).
    pub fn data_to_read(&self, arg: &DataArg) -> anyhow::Result<DataDir> {
        Ok(DataDir::existing(self.data_path(arg))?)
    }

    /// The ruleset directory given (flag, then file), if any.
    pub fn rulesets_given(&self, arg: &RulesetsArg) -> Option<PathBuf> {
        arg.rulesets
            .clone()
            .or_else(|| self.file.server.rulesets.clone())
    }

    /// The ruleset directory: the one given, else `./rulesets` when it holds calendars (a
    /// checkout), else the built-in rulesets written out under the system's temporary folder.
    pub fn rulesets(&self, arg: &RulesetsArg) -> anyhow::Result<PathBuf> {
        let parent = std::env::temp_dir().join("redress-builtin");
        self.rulesets_or_builtin(arg, &parent)
    }

    /// As `rulesets`, with the built-in ones written under `builtin_parent`.
    pub fn rulesets_or_builtin(
        &self,
        arg: &RulesetsArg,
        builtin_parent: &Path,
    ) -> anyhow::Result<PathBuf> {
        if let Some(dir) = self.rulesets_given(arg) {
            if !dir.join("calendars").is_dir() {
                anyhow::bail!(
                    "{}: not a ruleset directory (it has no calendars/ folder; check --rulesets or [server] rulesets in {})",
                    dir.display(),
                    self.origin
                );
            }
            return Ok(dir);
        }
        let checkout = PathBuf::from(DEFAULT_RULESETS);
        if checkout.join("calendars").is_dir() {
            return Ok(checkout);
        }
        let dir = crate::builtin::write_under(builtin_parent).with_context(|| {
            format!(
                "{}: cannot write out the built-in rulesets",
                builtin_parent.display()
            )
        })?;
        tracing::info!(dir = %dir.display(), "using the built-in rulesets and calendars");
        Ok(dir)
    }
}

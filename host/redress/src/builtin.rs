//! The built-in rulesets and calendars, compiled into the binary (`build.rs`) so that
//! `redress serve` and the tools work outside a checkout. A ruleset directory given with
//! `--rulesets` (or found at `./rulesets`) always wins over them.
//!
//! Invariants:
//! - what is served is always read from a directory, the same way as a given one: the embedded
//!   files are written out once under a folder named after their content hash, so a binary
//!   never reads another binary's rulesets and the loaders have one code path;
//! - a folder is published by renaming a complete copy into place: a crash mid-way leaves no
//!   half-written ruleset behind that a later start would trust.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

mod embedded {
    include!(concat!(env!("OUT_DIR"), "/builtin_rulesets.rs"));
}

/// The embedded files: paths relative to the ruleset directory, and contents.
pub fn files() -> &'static [(&'static str, &'static [u8])] {
    embedded::FILES
}

/// A short hash of every embedded path and content.
pub fn content_hash() -> String {
    let mut hasher = Sha256::new();
    for (name, bytes) in files() {
        hasher.update((name.len() as u64).to_le_bytes());
        hasher.update(name.as_bytes());
        hasher.update((bytes.len() as u64).to_le_bytes());
        hasher.update(bytes);
    }
    hex::encode(&hasher.finalize()[..8])
}

/// Whether `dir` holds exactly the embedded files, byte for byte, and nothing else: a folder
/// under a shared temporary directory could have been planted or damaged by someone else, and
/// every package in it would be installed.
fn holds_exactly_the_embedded_files(dir: &Path) -> bool {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(folder) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&folder) else {
            return false;
        };
        for entry in entries.filter_map(Result::ok) {
            let path = entry.path();
            match entry.file_type() {
                Ok(kind) if kind.is_dir() => stack.push(path),
                Ok(kind) if kind.is_file() => found.push(path),
                // A symlink or anything else is not what was written.
                _ => return false,
            }
        }
    }
    found.len() == files().len()
        && files().iter().all(|(name, bytes)| {
            std::fs::read(dir.join(name)).is_ok_and(|on_disk| on_disk == *bytes)
        })
}

/// Writes the built-in rulesets under `parent/<hash>/` (once) and returns that directory. A
/// folder already there is used only if it holds exactly the embedded files; otherwise it is
/// written again.
pub fn write_under(parent: &Path) -> std::io::Result<PathBuf> {
    let target = parent.join(content_hash());
    if holds_exactly_the_embedded_files(&target) {
        return Ok(target);
    }
    if target.exists() {
        std::fs::remove_dir_all(&target)?;
    }
    std::fs::create_dir_all(parent)?;
    let staging = parent.join(format!(
        ".partial-{}-{}",
        std::process::id(),
        content_hash()
    ));
    if staging.exists() {
        std::fs::remove_dir_all(&staging)?;
    }
    for (name, bytes) in files() {
        let path = staging.join(name);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(&path, bytes)?;
    }
    match std::fs::rename(&staging, &target) {
        Ok(()) => Ok(target),
        // Another process published the same content first: theirs is as good as ours.
        Err(_) if holds_exactly_the_embedded_files(&target) => {
            let _ = std::fs::remove_dir_all(&staging);
            Ok(target)
        }
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn every_file_of_the_ruleset_directory_is_embedded_as_it_is() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../rulesets");
        let mut on_disk = Vec::new();
        let mut stack = vec![root.clone()];
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    stack.push(path);
                } else {
                    on_disk.push(path);
                }
            }
        }
        assert_eq!(on_disk.len(), files().len());
        for path in on_disk {
            let name = path
                .strip_prefix(&root)
                .unwrap()
                .to_string_lossy()
                .replace('\\', "/");
            let embedded = files().iter().find(|(n, _)| *n == name).map(|(_, b)| *b);
            assert_eq!(
                embedded,
                Some(std::fs::read(&path).unwrap().as_slice()),
                "{name}"
            );
        }
    }

    #[test]
    fn written_once_and_loadable() {
        let dir = tempfile::tempdir().unwrap();
        let first = write_under(dir.path()).unwrap();
        let again = write_under(dir.path()).unwrap();
        assert_eq!(first, again);
        // A package planted beside them (or a changed file) is not trusted: written again.
        std::fs::create_dir_all(first.join("planted")).unwrap();
        std::fs::write(first.join("planted/ruleset.toml"), "x").unwrap();
        std::fs::write(first.join("calendars/cn-mainland.toml"), "changed").unwrap();
        let rewritten = write_under(dir.path()).unwrap();
        assert!(!rewritten.join("planted").exists());
        assert!(holds_exactly_the_embedded_files(&rewritten));
        redress_calendar::CalendarSet::load_dir(first.join("calendars")).unwrap();
        assert!(
            first
                .join("market-supervision-order20/ruleset.toml")
                .is_file()
        );
    }
}

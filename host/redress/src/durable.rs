//! Small files that must be whole or absent after a crash: written to a temporary file beside
//! the target, synced, renamed over it, and the directory synced; and the per-tenant files
//! kept that way (`<tenant>.toml`: routing tables, trusted plugin keys).

use std::{io::Write, path::Path};

/// Replaces `path` with `bytes` atomically and durably. `private` makes the file readable by
/// its owner only (keys, access lists).
pub fn write_file(path: &Path, bytes: &[u8], private: bool) -> std::io::Result<()> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let staging = path.with_file_name(format!(".{name}.tmp"));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    if private {
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    }
    #[cfg(not(unix))]
    let _ = private;
    let mut file = options.open(&staging)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    std::fs::rename(&staging, path)?;
    sync_parent(path)
}

/// Syncs the directory holding `path`, so that a file just created or renamed there is still
/// there after a crash.
pub fn sync_parent(path: &Path) -> std::io::Result<()> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::File::open(parent)?.sync_all()?;
    }
    Ok(())
}

/// The `<tenant>.toml` files of `dir`, as (tenant, path), in tenant order; none when `dir` does
/// not exist. Any other error is returned: a directory that cannot be read must not look empty
/// (an unread key list would make a tenant's plugins look unsigned-and-allowed).
pub fn tenant_files(dir: &Path) -> std::io::Result<Vec<(String, std::path::PathBuf)>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut files = Vec::new();
    for entry in entries {
        let path = entry?.path();
        // Temporary files (`.<tenant>.toml.tmp`) do not end in `.toml`.
        if let Some(tenant) = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_suffix(".toml"))
        {
            files.push((tenant.to_owned(), path));
        }
    }
    files.sort();
    Ok(files)
}

/// Reads a JSON file that names its own format: an absent file is `T::default()`; a file that
/// does not parse says the line; one of another format (`format_of` its value) is refused. The
/// error is the message only: the caller's error type adds the path.
pub fn read_json_file<T: serde::de::DeserializeOwned + Default>(
    path: &Path,
    format: &str,
    format_of: impl Fn(&T) -> &str,
) -> Result<T, String> {
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(T::default()),
        Err(e) => return Err(e.to_string()),
    };
    let file: T = serde_json::from_slice(&bytes).map_err(|e| format!("line {}: {e}", e.line()))?;
    let found = format_of(&file);
    if found != format {
        return Err(format!("format `{found}` is not `{format}`"));
    }
    Ok(file)
}

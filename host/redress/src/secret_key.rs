//! 32-byte keys only this server holds (the plugin-artifact HMAC, tracking secrets), in files
//! readable by their owner only.

use std::path::Path;

/// 32 bytes from the operating system's random source.
pub fn random() -> std::io::Result<[u8; 32]> {
    use rand::TryRngCore;
    let mut key = [0u8; 32];
    rand::rngs::OsRng
        .try_fill_bytes(&mut key)
        .map_err(std::io::Error::other)?;
    Ok(key)
}

/// The key in `path`, created (mode 0600, synced) if the file does not exist. A file of
/// another size is an error rather than a silently replaced key.
pub fn load_or_create(path: &Path) -> std::io::Result<[u8; 32]> {
    use std::io::Write;
    match std::fs::read(path) {
        Ok(bytes) => <[u8; 32]>::try_from(bytes.as_slice()).map_err(|_| {
            std::io::Error::other(format!(
                "{}: the key is {} bytes, not 32",
                path.display(),
                bytes.len()
            ))
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let key = random()?;
            let mut options = std::fs::OpenOptions::new();
            options.write(true).create_new(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            let mut file = options.open(path)?;
            file.write_all(&key)?;
            file.sync_all()?;
            Ok(key)
        }
        Err(e) => Err(e),
    }
}

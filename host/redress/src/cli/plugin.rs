//! `redress plugin`: signing tools for plugin vendors.

use std::{
    path::{Path, PathBuf},
    process::ExitCode,
};

use anyhow::Context;
use clap::Subcommand;

use crate::rules::{
    rhai_engine::{Limits, RhaiEngine},
    signing::TrustStore,
};

#[derive(Debug, Subcommand)]
pub enum PluginCommand {
    /// Create a vendor signing key: `<out>.secret.toml` (keep it) and `<out>.public.toml` (a
    /// `[[key]]` entry for the servers' trusted-keys files).
    Keygen {
        #[arg(long)]
        vendor: String,
        /// Path prefix of the two files, e.g. `keys/acme`.
        #[arg(long)]
        out: PathBuf,
    },
    /// Sign a plugin package: writes `<dir>/signature.toml` over every file of the package.
    Sign {
        dir: PathBuf,
        /// The vendor's `.secret.toml`.
        #[arg(long)]
        key: PathBuf,
    },
    /// Check a package's signature against trusted keys; exit 1 if it does not verify.
    Verify {
        dir: PathBuf,
        /// A trusted-keys file (or a single `.public.toml`).
        #[arg(long)]
        trusted_keys: PathBuf,
    },
}

pub fn run(command: PluginCommand) -> anyhow::Result<ExitCode> {
    use crate::rules::{
        registry::{LoadedRuleset, Package},
        signing::{SIGNATURE_FILE, VendorKey},
    };
    // A plugin is compiled to learn its interface version and sector, as the server will.
    let compiled = |dir: &Path| -> anyhow::Result<(Package, LoadedRuleset)> {
        let package = Package::read_dir(dir)?;
        let (loaded, _) = LoadedRuleset::compile(&RhaiEngine::new(Limits::default()), &package)?;
        if loaded.plugin_descriptor().is_none() {
            anyhow::bail!(
                "{}/ruleset.toml: engine = \"{}\"; only WebAssembly plugin packages (engine = \"wasm\") are signed",
                dir.display(),
                serde_json::to_value(loaded.manifest.engine)?
                    .as_str()
                    .unwrap_or_default()
            );
        }
        Ok((package, loaded))
    };
    match command {
        PluginCommand::Keygen { vendor, out } => {
            let key = VendorKey::generate(&vendor)?;
            let with_suffix = |suffix: &str| {
                let mut path = out.clone().into_os_string();
                path.push(suffix);
                PathBuf::from(path)
            };
            let (secret, public) = (with_suffix(".secret.toml"), with_suffix(".public.toml"));
            for path in [&secret, &public] {
                if path.exists() {
                    anyhow::bail!("{}: already exists; not overwritten", path.display());
                }
            }
            if let Some(parent) = secret.parent().filter(|p| !p.as_os_str().is_empty()) {
                std::fs::create_dir_all(parent)
                    .with_context(|| format!("{}: cannot create", parent.display()))?;
            }
            write_secret(&secret, &key.secret_toml())?;
            std::fs::write(&public, key.public_toml())
                .with_context(|| format!("{}: cannot write", public.display()))?;
            println!(
                "key {} of vendor `{vendor}`\n  secret: {} (keep it safe)\n  public: {} (give it to the servers that should trust you)",
                key.key_id(),
                secret.display(),
                public.display()
            );
            Ok(ExitCode::SUCCESS)
        }
        PluginCommand::Sign { dir, key } => {
            let name = key.display().to_string();
            let text =
                std::fs::read_to_string(&key).with_context(|| format!("{name}: cannot read"))?;
            let key = VendorKey::parse(&text, &name)?;
            let (package, loaded) = compiled(&dir)?;
            let expected = loaded
                .expected_statement()
                .context("not a plugin package")?;
            let signature = key.sign(&package, &expected);
            let path = dir.join(SIGNATURE_FILE);
            std::fs::write(&path, signature)
                .with_context(|| format!("{}: cannot write", path.display()))?;
            println!(
                "signed {} {} (interface {}) as `{}` with key {}: {}",
                expected.id,
                expected.version,
                expected.interface,
                key.vendor,
                key.key_id(),
                path.display()
            );
            Ok(ExitCode::SUCCESS)
        }
        PluginCommand::Verify { dir, trusted_keys } => {
            let trust = TrustStore::load(&trusted_keys)?;
            if !trust.is_enforced() {
                anyhow::bail!("{}: lists no key", trusted_keys.display());
            }
            let (package, loaded) = compiled(&dir)?;
            let expected = loaded
                .expected_statement()
                .context("not a plugin package")?;
            match trust.verify(&package, &expected) {
                Ok(signer) => {
                    println!(
                        "ok: {} {} signed by `{}` (key {})",
                        expected.id, expected.version, signer.vendor, signer.key_id
                    );
                    Ok(ExitCode::SUCCESS)
                }
                Err(e) => {
                    eprintln!("{}: refused: {e}", dir.display());
                    Ok(ExitCode::from(1))
                }
            }
        }
    }
}

/// Writes a secret key readable by its owner only.
fn write_secret(path: &Path, text: &str) -> anyhow::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options
        .open(path)
        .with_context(|| format!("{}: cannot create", path.display()))?;
    file.write_all(text.as_bytes())
        .and_then(|()| file.sync_all())
        .with_context(|| format!("{}: cannot write", path.display()))
}

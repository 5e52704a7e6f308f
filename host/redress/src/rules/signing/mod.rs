//! Signed plugin packages: a vendor signs what its package is (id, version, sector, interface
//! version, vendor and the hash of every file) with an ed25519 key; a server that lists trusted
//! vendor keys accepts a plugin only with a valid signature by one of them.
//!
//! Files:
//! - `signature.toml`, inside the package, written by `redress plugin sign`: a `[package]`
//!   statement and a `[signature]` over it. The content hash covers every other file of the
//!   package (rules, `.wasm`, fixture cases), so changing any byte of them breaks the signature.
//! - the trusted-keys file of the server (`[[key]]` entries, as `redress plugin keygen` writes
//!   them into `<name>.public.toml`).
//! - the secret key, `<name>.secret.toml`, which stays with the vendor.
//!
//! Fail closed: every field is checked before the signature, and each way a signature can be
//! missing, empty, of an unknown algorithm, by an unknown key or for other content is a refusal
//! with its own reason. There is no "unsigned but accepted" path once a key is trusted.
//!
//! The signed bytes are a domain-separation line followed by the statement as JSON in the
//! field order of [`Statement`], so the signature cannot be replayed as a signature of
//! anything else, and re-serialising a parsed file gives the same bytes.

use std::collections::BTreeMap;

use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::package::Package;

/// The signature's file name inside a package. It is left out of the package's content hash.
pub const SIGNATURE_FILE: &str = "signature.toml";

/// The only algorithm accepted.
pub const ALGORITHM: &str = "ed25519";

const STATEMENT_DOMAIN: &[u8] = b"redress-plugin-package/1\n";
const KEY_ID_DOMAIN: &[u8] = b"redress-plugin-key/1\n";

/// What a vendor signs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Statement {
    pub id: String,
    pub version: String,
    pub sector: String,
    /// The `redress:ruleset` interface version the plugin was built for.
    pub interface: String,
    pub vendor: String,
    /// `sha256:<hex>` over every file of the package but `signature.toml`.
    pub content_hash: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct SignatureBlock {
    algorithm: String,
    // Missing fields read as empty, so that they are refused with their own reason.
    #[serde(default)]
    key_id: String,
    #[serde(default)]
    value: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct SignatureFile {
    package: Statement,
    signature: SignatureBlock,
}

/// Who signed a package that verified.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct Signer {
    pub vendor: String,
    pub key_id: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error(
        "the package is not signed (no {SIGNATURE_FILE}); this server accepts plugins only from trusted vendors"
    )]
    Unsigned,
    #[error("{origin}: {message}")]
    Malformed { origin: String, message: String },
    #[error("the signature uses algorithm `{0}`; only `{ALGORITHM}` is accepted")]
    UnknownAlgorithm(String),
    #[error("the signature names no key (`key_id` is empty)")]
    MissingKeyId,
    #[error("the signature is empty")]
    EmptySignature,
    #[error("the signature is not 64 bytes of hex: {0}")]
    MalformedSignature(String),
    #[error(
        "the package is signed by key `{key_id}` (vendor `{vendor}`), which this server does not trust"
    )]
    UntrustedKey { key_id: String, vendor: String },
    #[error(
        "the package says it is from vendor `{claimed}`, but key `{key_id}` is trusted for vendor `{trusted}`"
    )]
    VendorMismatch {
        claimed: String,
        trusted: String,
        key_id: String,
    },
    #[error(
        "the signature does not verify with key `{key_id}`: the signed statement was changed or signed with another key"
    )]
    BadSignature { key_id: String },
    #[error(
        "the package was changed after it was signed: its files hash to {actual}, the signature covers {signed}"
    )]
    Tampered { signed: String, actual: String },
    #[error("the signed statement does not match the package: {0}")]
    StatementMismatch(String),
}

/// The key id of a public key: a fingerprint, so that an id can only name one key.
pub fn key_id(key: &VerifyingKey) -> String {
    let mut hasher = Sha256::new();
    hasher.update(KEY_ID_DOMAIN);
    hasher.update(key.as_bytes());
    hex::encode(&hasher.finalize()[..16])
}

/// `sha256:<hex>` of the package without its signature.
pub fn content_hash(package: &Package) -> String {
    format!("sha256:{}", package.content_hash())
}

fn signed_bytes(statement: &Statement) -> Vec<u8> {
    let mut bytes = STATEMENT_DOMAIN.to_vec();
    // Serialising a struct of strings cannot fail; an empty statement would not verify anyway.
    bytes.extend(serde_json::to_vec(statement).unwrap_or_default());
    bytes
}

fn line_of(text: &str, error: &toml::de::Error, origin: &str) -> String {
    match error.span() {
        Some(span) => format!(
            "{origin}:{}",
            text[..span.start.min(text.len())].matches('\n').count() + 1
        ),
        None => origin.to_owned(),
    }
}

fn decode_key_bytes<const N: usize>(text: &str, what: &str) -> Result<[u8; N], String> {
    let bytes = hex::decode(text.trim()).map_err(|e| format!("{what} is not hex: {e}"))?;
    <[u8; N]>::try_from(bytes.as_slice())
        .map_err(|_| format!("{what} is {} bytes; {N} expected", bytes.len()))
}

/// A vendor key the server trusts.
#[derive(Debug, Clone)]
pub struct TrustedKey {
    pub vendor: String,
    pub key_id: String,
    key: VerifyingKey,
}

impl TrustedKey {
    /// Whether `signature` (hex) is this key's signature over `domain ‖ bytes`
    /// (`VendorKey::sign_document`).
    pub fn verify_document(&self, domain: &[u8], bytes: &[u8], signature: &str) -> bool {
        let Ok(raw) = decode_key_bytes::<64>(signature, "signature") else {
            return false;
        };
        let mut message = domain.to_vec();
        message.extend_from_slice(bytes);
        self.key
            .verify_strict(&message, &Signature::from_bytes(&raw))
            .is_ok()
    }
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct PublicKeyEntry {
    vendor: String,
    algorithm: String,
    key_id: String,
    public_key: String,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct TrustFile {
    #[serde(default)]
    key: Vec<PublicKeyEntry>,
}

/// The trusted vendor keys. Empty: signatures are not required (a development server); with
/// any key: every plugin package must carry a valid signature by one of them.
#[derive(Debug, Clone, Default)]
pub struct TrustStore {
    keys: BTreeMap<String, TrustedKey>,
}

impl TrustStore {
    /// The keys of both stores (a tenant's own beside the server's).
    pub fn union(&self, other: &TrustStore) -> TrustStore {
        let mut keys = self.keys.clone();
        keys.extend(other.keys.iter().map(|(id, key)| (id.clone(), key.clone())));
        TrustStore { keys }
    }

    pub fn is_enforced(&self) -> bool {
        !self.keys.is_empty()
    }

    pub fn keys(&self) -> impl Iterator<Item = &TrustedKey> {
        self.keys.values()
    }

    pub fn load(path: &std::path::Path) -> Result<TrustStore, SignatureError> {
        let origin = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| SignatureError::Malformed {
            origin: origin.clone(),
            message: format!("cannot read the trusted keys: {e}"),
        })?;
        Self::parse(&text, &origin)
    }

    /// Parses a trusted-keys file; a key that is not a valid ed25519 key, whose id does not
    /// match it, or that appears twice is refused with its line.
    pub fn parse(text: &str, origin: &str) -> Result<TrustStore, SignatureError> {
        let file: TrustFile = toml::from_str(text).map_err(|e| SignatureError::Malformed {
            origin: line_of(text, &e, origin),
            message: e.message().to_owned(),
        })?;
        let mut keys = BTreeMap::new();
        for (index, entry) in file.key.into_iter().enumerate() {
            let at = format!(
                "{origin}: [[key]] #{} (vendor `{}`)",
                index + 1,
                entry.vendor
            );
            let refuse = |message: String| SignatureError::Malformed {
                origin: at.clone(),
                message,
            };
            if entry.algorithm != ALGORITHM {
                return Err(refuse(format!(
                    "algorithm `{}` is not supported; only `{ALGORITHM}`",
                    entry.algorithm
                )));
            }
            if entry.vendor.trim().is_empty() {
                return Err(refuse("`vendor` is empty".into()));
            }
            let bytes = decode_key_bytes::<32>(&entry.public_key, "public_key").map_err(refuse)?;
            let key = VerifyingKey::from_bytes(&bytes)
                .map_err(|e| refuse(format!("public_key is not an ed25519 key: {e}")))?;
            let id = key_id(&key);
            if entry.key_id != id {
                return Err(refuse(format!(
                    "key_id `{}` does not match the public key (its id is `{id}`)",
                    entry.key_id
                )));
            }
            if keys.contains_key(&id) {
                return Err(refuse(format!("key `{id}` is listed twice")));
            }
            keys.insert(
                id.clone(),
                TrustedKey {
                    vendor: entry.vendor,
                    key_id: id,
                    key,
                },
            );
        }
        Ok(TrustStore { keys })
    }

    /// Checks a package's signature against the trusted keys, and its statement against what
    /// the package is (`expected`: id, version, sector and interface as the host read them).
    pub fn verify(
        &self,
        package: &Package,
        expected: &Expected<'_>,
    ) -> Result<Signer, SignatureError> {
        let (signer, statement) = self.verify_signed(package)?;
        expected.matches(&statement)?;
        Ok(signer)
    }

    /// Everything `verify` checks but what the package is (`Expected`): that a trusted key
    /// signed the statement and the statement's hash is the package's. It reads no code, so
    /// the host runs it before compiling a plugin, and checks the returned statement against
    /// the package after.
    pub fn verify_signed(&self, package: &Package) -> Result<(Signer, Statement), SignatureError> {
        let origin = format!("{}/{SIGNATURE_FILE}", package.origin);
        let text = package
            .files
            .get(SIGNATURE_FILE)
            .ok_or(SignatureError::Unsigned)?;
        let file: SignatureFile = toml::from_str(text).map_err(|e| SignatureError::Malformed {
            origin: line_of(text, &e, &origin),
            message: e.message().to_owned(),
        })?;
        let signature = &file.signature;
        if signature.algorithm != ALGORITHM {
            return Err(SignatureError::UnknownAlgorithm(
                signature.algorithm.clone(),
            ));
        }
        if signature.key_id.trim().is_empty() {
            return Err(SignatureError::MissingKeyId);
        }
        if signature.value.trim().is_empty() {
            return Err(SignatureError::EmptySignature);
        }
        let value = decode_key_bytes::<64>(&signature.value, "the signature")
            .map_err(SignatureError::MalformedSignature)?;
        let trusted =
            self.keys
                .get(&signature.key_id)
                .ok_or_else(|| SignatureError::UntrustedKey {
                    key_id: signature.key_id.clone(),
                    vendor: file.package.vendor.clone(),
                })?;
        if trusted.vendor != file.package.vendor {
            return Err(SignatureError::VendorMismatch {
                claimed: file.package.vendor.clone(),
                trusted: trusted.vendor.clone(),
                key_id: trusted.key_id.clone(),
            });
        }
        trusted
            .key
            .verify_strict(&signed_bytes(&file.package), &Signature::from_bytes(&value))
            .map_err(|_| SignatureError::BadSignature {
                key_id: trusted.key_id.clone(),
            })?;
        let actual = content_hash(package);
        if file.package.content_hash != actual {
            return Err(SignatureError::Tampered {
                signed: file.package.content_hash.clone(),
                actual,
            });
        }
        let signer = Signer {
            vendor: trusted.vendor.clone(),
            key_id: trusted.key_id.clone(),
        };
        Ok((signer, file.package))
    }
}

/// What the host read from the package itself, which the signed statement must repeat.
#[derive(Debug, Clone, Copy)]
pub struct Expected<'a> {
    pub id: &'a str,
    pub version: &'a str,
    pub sector: &'a str,
    pub interface: &'a str,
}

impl Expected<'_> {
    pub fn matches(&self, statement: &Statement) -> Result<(), SignatureError> {
        let differences: Vec<String> = [
            ("id", self.id, statement.id.as_str()),
            ("version", self.version, statement.version.as_str()),
            ("sector", self.sector, statement.sector.as_str()),
            ("interface", self.interface, statement.interface.as_str()),
        ]
        .into_iter()
        .filter(|(_, package, signed)| package != signed)
        .map(|(what, package, signed)| {
            format!("{what}: signed `{signed}`, the package is `{package}`")
        })
        .collect();
        if differences.is_empty() {
            Ok(())
        } else {
            Err(SignatureError::StatementMismatch(differences.join("; ")))
        }
    }
}

/// A vendor's secret signing key, as `redress plugin keygen` writes it.
#[derive(Debug)]
pub struct VendorKey {
    pub vendor: String,
    key: SigningKey,
}

#[derive(Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct SecretKeyFile {
    vendor: String,
    algorithm: String,
    key_id: String,
    secret_key: String,
}

impl VendorKey {
    /// A new key from the operating system's random source.
    pub fn generate(vendor: &str) -> Result<VendorKey, SignatureError> {
        use rand::TryRngCore;
        let malformed = |message: String| SignatureError::Malformed {
            origin: "keygen".into(),
            message,
        };
        if vendor.trim().is_empty() {
            return Err(malformed("the vendor name is empty".into()));
        }
        let mut seed = [0u8; 32];
        rand::rngs::OsRng
            .try_fill_bytes(&mut seed)
            .map_err(|e| malformed(format!("no randomness from the operating system: {e}")))?;
        Ok(VendorKey {
            vendor: vendor.to_owned(),
            key: SigningKey::from_bytes(&seed),
        })
    }

    pub fn key_id(&self) -> String {
        key_id(&self.key.verifying_key())
    }

    pub fn parse(text: &str, origin: &str) -> Result<VendorKey, SignatureError> {
        let file: SecretKeyFile = toml::from_str(text).map_err(|e| SignatureError::Malformed {
            origin: line_of(text, &e, origin),
            message: e.message().to_owned(),
        })?;
        let refuse = |message: String| SignatureError::Malformed {
            origin: origin.to_owned(),
            message,
        };
        if file.algorithm != ALGORITHM {
            return Err(SignatureError::UnknownAlgorithm(file.algorithm));
        }
        let seed = decode_key_bytes::<32>(&file.secret_key, "secret_key").map_err(refuse)?;
        let key = VendorKey {
            vendor: file.vendor,
            key: SigningKey::from_bytes(&seed),
        };
        if key.key_id() != file.key_id {
            return Err(refuse(format!(
                "key_id `{}` does not match the secret key (its id is `{}`)",
                file.key_id,
                key.key_id()
            )));
        }
        Ok(key)
    }

    /// The secret key file's text. Whoever holds it can sign as the vendor.
    pub fn secret_toml(&self) -> String {
        let file = SecretKeyFile {
            vendor: self.vendor.clone(),
            algorithm: ALGORITHM.into(),
            key_id: self.key_id(),
            secret_key: hex::encode(self.key.to_bytes()),
        };
        format!(
            "# Redress plugin signing key of `{}`. Keep it secret: whoever holds it signs as this vendor.\n{}",
            self.vendor,
            toml::to_string(&file).unwrap_or_default()
        )
    }

    /// A `[[key]]` entry for a server's trusted-keys file.
    pub fn public_toml(&self) -> String {
        let file = TrustFile {
            key: vec![PublicKeyEntry {
                vendor: self.vendor.clone(),
                algorithm: ALGORITHM.into(),
                key_id: self.key_id(),
                public_key: hex::encode(self.key.verifying_key().as_bytes()),
            }],
        };
        format!(
            "# Public key of `{}`: append to a server's trusted-keys file to accept its plugins.\n{}",
            self.vendor,
            toml::to_string(&file).unwrap_or_default()
        )
    }

    /// An ed25519 signature (hex) over `domain ‖ bytes`, for documents other than packages
    /// (audit checkpoints); the domain keeps a signature of one kind from passing as another.
    pub fn sign_document(&self, domain: &[u8], bytes: &[u8]) -> String {
        let mut message = domain.to_vec();
        message.extend_from_slice(bytes);
        hex::encode(self.key.sign(&message).to_bytes())
    }

    /// The `signature.toml` for `package`, stating `expected` and this key's vendor.
    pub fn sign(&self, package: &Package, expected: &Expected<'_>) -> String {
        let statement = Statement {
            id: expected.id.to_owned(),
            version: expected.version.to_owned(),
            sector: expected.sector.to_owned(),
            interface: expected.interface.to_owned(),
            vendor: self.vendor.clone(),
            content_hash: content_hash(package),
        };
        let signature = self.key.sign(&signed_bytes(&statement));
        let file = SignatureFile {
            package: statement,
            signature: SignatureBlock {
                algorithm: ALGORITHM.into(),
                key_id: self.key_id(),
                value: hex::encode(signature.to_bytes()),
            },
        };
        format!(
            "# Written by `redress plugin sign`; any change to the package's files breaks it.\n{}",
            toml::to_string(&file).unwrap_or_default()
        )
    }
}

#[cfg(test)]
mod tests;

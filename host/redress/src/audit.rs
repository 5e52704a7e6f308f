//! Audit checkpoints: signed anchors of the case histories that an auditor keeps outside the
//! operator's reach.
//!
//! The hash chain proves that a history was not edited *unless the whole history was
//! rewritten with recomputed hashes*: SHA-256 has no key, so whoever can write the data
//! directory can forge a consistent chain. A checkpoint lists every case's version and chain
//! head at a moment and is signed with an ed25519 key kept outside the data directory
//! (`redress audit keygen`). An auditor who holds a checkpoint can later check
//! (`redress audit verify --checkpoint`) that each case still has, at that version, the event
//! with that hash: a rewritten history cannot match, whatever hashes it was given, and a
//! checkpoint cannot be forged without the key.
//!
//! What it does not do: protect writes made after the last checkpoint the auditor holds, or
//! stop someone who holds both the data directory and the signing key from signing a forged
//! checkpoint (the auditor's copies of earlier checkpoints still expose the rewrite).

use std::path::Path;

use jiff::Timestamp;
use redress_domain::{CaseId, Hash};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::rules::signing::{TrustStore, VendorKey};
use crate::store::{AuditProblem, CaseStore, StoreError};

/// The format and signature domain of a checkpoint.
pub const FORMAT: &str = "redress-checkpoint/1";
const DOMAIN: &[u8] = b"redress/checkpoint/v1\0";

/// One case's position in the chain at the checkpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct CheckpointHead {
    pub case_id: CaseId,
    pub version: u64,
    pub head: Hash,
}

/// What is signed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckpointBody {
    pub format: String,
    pub at: Timestamp,
    /// The tenant whose cases it covers; absent: every tenant's (the operator's checkpoint).
    pub tenant: Option<String>,
    pub cases: u64,
    /// The number of events the heads stand for (the sum of the versions).
    pub events: u64,
    /// SHA-256 over the heads in case-id order, so two parties can compare checkpoints by one
    /// value.
    pub root: String,
    pub heads: Vec<CheckpointHead>,
}

/// A signed checkpoint, as exported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Checkpoint {
    pub checkpoint: CheckpointBody,
    pub signature: CheckpointSignature,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckpointSignature {
    pub algorithm: String,
    pub key_id: String,
    /// Hex ed25519 signature over the domain `redress/checkpoint/v1\0` and the compact JSON of
    /// `checkpoint`.
    pub signature: String,
}

#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{0}")]
    Key(String),
    #[error("{origin}: {message}")]
    Checkpoint { origin: String, message: String },
}

fn root(heads: &[CheckpointHead]) -> String {
    let mut hasher = Sha256::new();
    hasher.update(DOMAIN);
    for head in heads {
        hasher.update(head.case_id.to_bytes());
        hasher.update(head.version.to_be_bytes());
        hasher.update(head.head.0);
    }
    hex::encode(hasher.finalize())
}

fn signed_bytes(body: &CheckpointBody) -> Vec<u8> {
    // A struct of strings, numbers and ids: serialising it cannot fail.
    serde_json::to_vec(body).unwrap_or_default()
}

/// The key that signs checkpoints, read from `path`; refused inside the data directory,
/// where it would protect nothing.
pub fn load_key(path: &Path, data: &Path) -> Result<VendorKey, AuditError> {
    let inside = match (path.canonicalize(), data.canonicalize()) {
        (Ok(key), Ok(data)) => key.starts_with(data),
        _ => false,
    };
    if inside {
        return Err(AuditError::Key(format!(
            "{}: the audit key must be kept outside the data directory {}, or whoever can rewrite the histories can also re-sign them",
            path.display(),
            data.display()
        )));
    }
    let text = std::fs::read_to_string(path)
        .map_err(|e| AuditError::Key(format!("{}: {e}", path.display())))?;
    VendorKey::parse(&text, &path.display().to_string()).map_err(|e| AuditError::Key(e.to_string()))
}

/// A checkpoint of `tenant`'s cases (every case with `None`) as they stand, signed by `key`.
pub fn checkpoint(
    store: &dyn CaseStore,
    tenant: Option<&redress_domain::TenantId>,
    at: Timestamp,
    key: &VendorKey,
) -> Result<Checkpoint, AuditError> {
    let mut heads: Vec<CheckpointHead> = store
        .heads(tenant)?
        .into_iter()
        .map(|(case_id, version, head)| CheckpointHead {
            case_id,
            version,
            head,
        })
        .collect();
    heads.sort_by_key(|h| h.case_id);
    let body = CheckpointBody {
        format: FORMAT.into(),
        at,
        tenant: tenant.map(ToString::to_string),
        cases: heads.len() as u64,
        events: heads.iter().map(|h| h.version).sum(),
        root: root(&heads),
        heads,
    };
    let signature = key.sign_document(DOMAIN, &signed_bytes(&body));
    Ok(Checkpoint {
        checkpoint: body,
        signature: CheckpointSignature {
            algorithm: "ed25519".into(),
            key_id: key.key_id(),
            signature,
        },
    })
}

/// Checks a checkpoint's signature with the auditor's copy of the public key, then that every
/// case it lists still has, at the listed version, the event with the listed hash.
pub fn verify_against(
    store: &dyn CaseStore,
    checkpoint: &Checkpoint,
    trusted: &TrustStore,
    origin: &str,
) -> Result<Vec<AuditProblem>, AuditError> {
    let refuse = |message: String| AuditError::Checkpoint {
        origin: origin.to_owned(),
        message,
    };
    let body = &checkpoint.checkpoint;
    if body.format != FORMAT {
        return Err(refuse(format!(
            "format `{}`; this build reads `{FORMAT}`",
            body.format
        )));
    }
    let key = trusted
        .keys()
        .find(|k| k.key_id == checkpoint.signature.key_id)
        .ok_or_else(|| {
            refuse(format!(
                "signed with key `{}`, which is not among the public keys given",
                checkpoint.signature.key_id
            ))
        })?;
    if !key.verify_document(DOMAIN, &signed_bytes(body), &checkpoint.signature.signature) {
        return Err(refuse(
            "the signature does not verify: the checkpoint was changed or signed with another key"
                .into(),
        ));
    }
    if root(&body.heads) != body.root || body.cases != body.heads.len() as u64 {
        return Err(refuse(
            "the listed heads do not give the checkpoint's root".into(),
        ));
    }
    let mut problems = Vec::new();
    for head in &body.heads {
        let problem = match store.event_hash(head.case_id, head.version)? {
            None => format!(
                "the checkpoint of {} lists version {}, which the store no longer has",
                body.at, head.version
            ),
            Some(hash) if hash != head.head => format!(
                "event {} differs from the one in the checkpoint of {} ({hash} now, {} then): the history was rewritten",
                head.version, body.at, head.head
            ),
            Some(_) => continue,
        };
        problems.push(AuditProblem {
            case_id: head.case_id.to_string(),
            problem,
        });
    }
    Ok(problems)
}

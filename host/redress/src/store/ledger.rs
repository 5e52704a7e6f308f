//! The acknowledgement ledger: an independent, append-only, checksummed record of every write
//! the store acknowledged, kept in a file of its own beside sled's.
//!
//! Why: sled treats the first log message whose checksum fails as the end of its log, so one
//! changed byte in its data file silently drops that write and every write after it; the store
//! then opens and serves what is left, and a check of what is left finds nothing wrong. The
//! ledger remembers, for every case, the version and chain head of its last acknowledged write,
//! written by the group-commit flusher after sled's flush and before any of the batch is
//! acknowledged. Comparing it with the store (at open and in `audit verify`) names every case
//! that is missing, shorter than acknowledged, or different at an acknowledged version.
//!
//! Format (`redress-ledger/1`): a 16-byte header, then fixed 64-byte records: case id (16),
//! version (u64 BE), head hash (32), and an 8-byte chained checksum: the first 8 bytes of
//! SHA-256(previous checksum ‖ the 56 bytes before it). A record cut short at the end (a crash
//! while appending, so never acknowledged) is dropped; any other damage is reported, never
//! skipped. At open, once the store matches it, the ledger is compacted to one record per case.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use redress_domain::{CaseId, Hash};
use sha2::{Digest, Sha256};

const MAGIC: &[u8; 16] = b"redress-ledger/1";
const RECORD: usize = 64;

/// One acknowledged write: the case's version and chain head after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Acknowledged {
    pub case_id: CaseId,
    pub version: u64,
    pub head: Hash,
}

/// The last acknowledged version and head of every case.
pub type Heads = BTreeMap<CaseId, (u64, Hash)>;

/// What reading the ledger found besides its records.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LedgerRead {
    pub heads: Heads,
    /// Set when a record's checksum does not match: the records from there on are not
    /// trusted (and are not in `heads`).
    pub damaged_at: Option<u64>,
    /// Bytes of a record cut short at the end (a crash while appending: never acknowledged).
    pub torn_tail: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    #[error("{path}: the acknowledgement ledger cannot be read or written")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}: not an acknowledgement ledger (expected the header `redress-ledger/1`)")]
    NotALedger(PathBuf),
}

fn checksum(previous: &[u8; 8], body: &[u8]) -> [u8; 8] {
    let digest = Sha256::new()
        .chain_update(b"redress/ledger/v1\0")
        .chain_update(previous)
        .chain_update(body)
        .finalize();
    let mut out = [0u8; 8];
    out.copy_from_slice(&digest[..8]);
    out
}

fn encode(entry: &Acknowledged, previous: &[u8; 8]) -> [u8; RECORD] {
    let mut record = [0u8; RECORD];
    record[..16].copy_from_slice(&entry.case_id.to_bytes());
    record[16..24].copy_from_slice(&entry.version.to_be_bytes());
    record[24..56].copy_from_slice(&entry.head.0);
    let sum = checksum(previous, &record[..56]);
    record[56..].copy_from_slice(&sum);
    record
}

/// Reads the ledger at `path` (an absent file is an empty ledger).
pub fn read(path: &Path) -> Result<(LedgerRead, [u8; 8]), LedgerError> {
    let io = |source| LedgerError::Io {
        path: path.to_owned(),
        source,
    };
    let mut bytes = Vec::new();
    match File::open(path) {
        Ok(mut file) => {
            file.read_to_end(&mut bytes).map_err(io)?;
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok((LedgerRead::default(), [0; 8]));
        }
        Err(e) => return Err(io(e)),
    }
    if bytes.len() < MAGIC.len() || &bytes[..MAGIC.len()] != MAGIC {
        return Err(LedgerError::NotALedger(path.to_owned()));
    }
    let mut out = LedgerRead::default();
    let mut previous = [0u8; 8];
    let body = &bytes[MAGIC.len()..];
    let whole = body.len() / RECORD * RECORD;
    out.torn_tail = body.len() - whole;
    for (n, record) in body[..whole].chunks_exact(RECORD).enumerate() {
        if checksum(&previous, &record[..56]) != record[56..] {
            out.damaged_at = Some(n as u64);
            break;
        }
        previous.copy_from_slice(&record[56..]);
        let mut id = [0u8; 16];
        id.copy_from_slice(&record[..16]);
        let mut version = [0u8; 8];
        version.copy_from_slice(&record[16..24]);
        let mut head = [0u8; 32];
        head.copy_from_slice(&record[24..56]);
        let version = u64::from_be_bytes(version);
        let entry = out
            .heads
            .entry(CaseId::from_bytes(id))
            .or_insert((version, Hash(head)));
        // Writes of one batch may be recorded out of order; the highest version is the last.
        if version >= entry.0 {
            *entry = (version, Hash(head));
        }
    }
    Ok((out, previous))
}

/// The open ledger, appended to by the group-commit flusher.
#[derive(Debug)]
pub struct Ledger {
    path: PathBuf,
    file: File,
    previous: [u8; 8],
}

impl Ledger {
    /// Opens the ledger for appending after `read` has checked it; `previous` is the checksum
    /// of its last whole record. A torn tail is cut off first.
    pub fn open(path: &Path, read: &LedgerRead, previous: [u8; 8]) -> Result<Ledger, LedgerError> {
        let io = |source| LedgerError::Io {
            path: path.to_owned(),
            source,
        };
        let mut file = OpenOptions::new()
            .create(true)
            .read(true)
            .append(true)
            .open(path)
            .map_err(io)?;
        let len = file.metadata().map_err(io)?.len();
        if len == 0 {
            file.write_all(MAGIC).map_err(io)?;
            file.sync_all().map_err(io)?;
            crate::durable::sync_parent(path).map_err(io)?;
        } else if read.torn_tail > 0 {
            file.set_len(len - read.torn_tail as u64).map_err(io)?;
            file.sync_all().map_err(io)?;
        }
        Ok(Ledger {
            path: path.to_owned(),
            file,
            previous,
        })
    }

    /// Appends `entries` and makes them durable before returning.
    pub fn append(&mut self, entries: &[Acknowledged]) -> Result<(), LedgerError> {
        if entries.is_empty() {
            return Ok(());
        }
        let mut buffer = Vec::with_capacity(entries.len() * RECORD);
        let mut previous = self.previous;
        for entry in entries {
            let record = encode(entry, &previous);
            previous.copy_from_slice(&record[56..]);
            buffer.extend_from_slice(&record);
        }
        let io = |source| LedgerError::Io {
            path: self.path.clone(),
            source,
        };
        self.file.write_all(&buffer).map_err(io)?;
        self.file.sync_data().map_err(io)?;
        self.previous = previous;
        Ok(())
    }

    /// Replaces the ledger with one record per case (written whole or not at all), so it does
    /// not grow with every write for ever.
    pub fn compact(&mut self, heads: &Heads) -> Result<(), LedgerError> {
        let mut bytes = Vec::with_capacity(MAGIC.len() + heads.len() * RECORD);
        bytes.extend_from_slice(MAGIC);
        let mut previous = [0u8; 8];
        for (case_id, (version, head)) in heads {
            let record = encode(
                &Acknowledged {
                    case_id: *case_id,
                    version: *version,
                    head: *head,
                },
                &previous,
            );
            previous.copy_from_slice(&record[56..]);
            bytes.extend_from_slice(&record);
        }
        let io = |source| LedgerError::Io {
            path: self.path.clone(),
            source,
        };
        crate::durable::write_file(&self.path, &bytes, false).map_err(io)?;
        self.file = OpenOptions::new()
            .append(true)
            .open(&self.path)
            .map_err(io)?;
        self.previous = previous;
        Ok(())
    }
}

/// How a store's cases compare with what the ledger says was acknowledged.
pub fn compare(
    acknowledged: &Heads,
    stored: impl Fn(CaseId, u64) -> Result<Option<(u64, Option<Hash>)>, crate::store::StoreError>,
) -> Result<Vec<crate::store::AuditProblem>, crate::store::StoreError> {
    let mut problems = Vec::new();
    for (id, (version, head)) in acknowledged {
        let problem = match stored(*id, *version)? {
            None => Some(format!(
                "acknowledged at version {version} but missing from the store"
            )),
            Some((found, _)) if found < *version => Some(format!(
                "acknowledged at version {version} but the store has only {found} event(s): acknowledged events are lost"
            )),
            Some((_, Some(hash))) if hash != *head => Some(format!(
                "event {version} differs from the one acknowledged (head {hash}, acknowledged {head})"
            )),
            Some((_, None)) => Some(format!(
                "acknowledged event {version} is missing from the store"
            )),
            Some(_) => None,
        };
        if let Some(problem) = problem {
            problems.push(crate::store::AuditProblem {
                case_id: id.to_string(),
                problem,
            });
        }
    }
    Ok(problems)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn entry(n: u8, version: u64) -> Acknowledged {
        Acknowledged {
            case_id: CaseId::from_parts(u64::from(n), u128::from(n)),
            version,
            head: Hash([n; 32]),
        }
    }

    #[test]
    fn records_survive_a_reopen_and_a_torn_tail_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ledger");
        let (read0, prev) = read(&path).unwrap();
        let mut ledger = Ledger::open(&path, &read0, prev).unwrap();
        ledger
            .append(&[entry(1, 1), entry(2, 3), entry(1, 2)])
            .unwrap();
        drop(ledger);
        // A crash while appending: half a record.
        let mut file = OpenOptions::new().append(true).open(&path).unwrap();
        file.write_all(&[7u8; 30]).unwrap();
        let (read1, prev) = read(&path).unwrap();
        assert_eq!(read1.torn_tail, 30);
        assert_eq!(read1.damaged_at, None);
        assert_eq!(read1.heads.len(), 2);
        assert_eq!(read1.heads[&entry(1, 0).case_id], (2, Hash([1; 32])));
        let mut ledger = Ledger::open(&path, &read1, prev).unwrap();
        ledger.append(&[entry(3, 1)]).unwrap();
        let (read2, _) = read(&path).unwrap();
        assert_eq!((read2.torn_tail, read2.heads.len()), (0, 3));
        ledger.compact(&read2.heads).unwrap();
        ledger.append(&[entry(3, 2)]).unwrap();
        let (read3, _) = read(&path).unwrap();
        assert_eq!(read3.heads[&entry(3, 0).case_id].0, 2);
        assert_eq!(read3.damaged_at, None);
    }

    #[test]
    fn a_changed_byte_is_reported_not_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ledger");
        let (read0, prev) = read(&path).unwrap();
        let mut ledger = Ledger::open(&path, &read0, prev).unwrap();
        ledger
            .append(&[entry(1, 1), entry(2, 1), entry(3, 1)])
            .unwrap();
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[16 + RECORD + 20] ^= 1;
        std::fs::write(&path, bytes).unwrap();
        let (damaged, _) = read(&path).unwrap();
        assert_eq!(damaged.damaged_at, Some(1));
        assert_eq!(damaged.heads.len(), 1);
    }
}

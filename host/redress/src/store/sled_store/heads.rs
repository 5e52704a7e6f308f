//! The `heads` tree (case id → version ‖ chain head) and what it is checked against: the index
//! rebuilt from the snapshots, and the acknowledgement ledger compared at open.

use super::*;

/// Rewrites the listing index and the heads from the snapshots. Not one transaction (it may
/// be large), but safe to interrupt: the layout key is written only after it, so the next open
/// starts again.
pub(super) fn rebuild_index(cases: &Tree, index: &Tree, heads: &Tree) -> Result<(), StoreError> {
    index.clear().map_err(backend)?;
    heads.clear().map_err(backend)?;
    for item in cases.iter() {
        let (id, bytes) = item.map_err(backend)?;
        let case = parse_case(&bytes)?;
        for key in index_keys(&case) {
            index.insert(key, &[]).map_err(backend)?;
        }
        heads
            .insert(id, head_value(&case).as_slice())
            .map_err(backend)?;
    }
    index.flush().map_err(backend)?;
    heads.flush().map_err(backend)?;
    Ok(())
}

pub(crate) fn head_value(case: &Case) -> [u8; 40] {
    let mut value = [0u8; 40];
    value[..8].copy_from_slice(&case.version.to_be_bytes());
    value[8..].copy_from_slice(&case.head_hash.0);
    value
}

pub(super) fn parse_head(value: &[u8]) -> Result<(u64, redress_domain::Hash), StoreError> {
    let corrupt = || StoreError::Corrupt("malformed head entry".into());
    let version = value
        .get(..8)
        .and_then(|v| v.try_into().ok())
        .map(u64::from_be_bytes)
        .ok_or_else(corrupt)?;
    let hash = value
        .get(8..40)
        .and_then(|v| <[u8; 32]>::try_from(v).ok())
        .ok_or_else(corrupt)?;
    Ok((version, redress_domain::Hash(hash)))
}

pub(super) fn acknowledged(case: &Case) -> crate::store::ledger::Acknowledged {
    crate::store::ledger::Acknowledged {
        case_id: case.id,
        version: case.version,
        head: case.head_hash,
    }
}

/// Every case the ledger says was acknowledged, against the store's heads: missing, shorter
/// than acknowledged, or a different event at an acknowledged version. A damaged ledger is a
/// problem of its own (its later records are not trusted).
pub(super) fn compare_with_ledger(
    read: &crate::store::ledger::LedgerRead,
    heads: &Tree,
    events: &Tree,
) -> Result<Vec<AuditProblem>, StoreError> {
    let mut problems = crate::store::ledger::compare(&read.heads, |id, version| {
        let Some(value) = heads.get(id.to_bytes()).map_err(backend)? else {
            return Ok(None);
        };
        let (stored, head) = parse_head(&value)?;
        if stored == version {
            return Ok(Some((stored, Some(head))));
        }
        if stored < version {
            return Ok(Some((stored, None)));
        }
        let event = events.get(event_key(id, version)).map_err(backend)?;
        let hash = match event {
            Some(bytes) => Some(
                redress_domain::event::parse_stored(version, &bytes)?
                    .record
                    .hash,
            ),
            None => None,
        };
        Ok(Some((stored, hash)))
    })?;
    if let Some(at) = read.damaged_at {
        problems.push(AuditProblem {
            case_id: String::new(),
            problem: format!(
                "the acknowledgement ledger is damaged at record {at}: the writes it records from there on cannot be checked"
            ),
        });
    }
    Ok(problems)
}

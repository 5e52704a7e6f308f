//! Keys of the `events`, `index` and `due` trees. Every index key is a pure function of a case
//! snapshot; a write applies the difference between the old and new snapshot's keys.

use super::*;

pub(super) fn event_key(id: CaseId, seq: u64) -> [u8; 24] {
    let mut key = [0u8; 24];
    key[..16].copy_from_slice(&id.to_bytes());
    key[16..].copy_from_slice(&seq.to_be_bytes());
    key
}

pub(super) fn id_from_suffix(key: &[u8]) -> Result<CaseId, StoreError> {
    let start = key
        .len()
        .checked_sub(16)
        .ok_or_else(|| StoreError::Corrupt("short index key".into()))?;
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&key[start..]);
    Ok(CaseId::from_bytes(bytes))
}

/// Index keys. Each listing filter has its own prefix; the case id comes last so that, within a
/// prefix, keys sort by id, which for ULIDs is registration order.
pub(super) enum IndexKey<'a> {
    All {
        tenant: &'a str,
    },
    Status {
        tenant: &'a str,
        status: Status,
    },
    Sector {
        tenant: &'a str,
        sector: Sector,
    },
    Received {
        tenant: &'a str,
    },
    Due {
        tenant: &'a str,
    },
    Overdue {
        tenant: &'a str,
    },
    /// Cases in manual handling.
    Manual {
        tenant: &'a str,
    },
    /// One key per running or breached provisional clock (the field is the clock's name), so
    /// `/readyz` counts clocks, not cases.
    Provisional {
        tenant: &'a str,
        clock: &'a str,
    },
    /// Across tenants, by calendar: cases with a running or breached clock on it, which a
    /// changed calendar may have to revise. Never listed to a client.
    OpenClocks {
        calendar: &'a str,
    },
    /// By complainant key (its digest in hex), then received time: the earlier cases repeat
    /// detection looks for. The key is a keyed hash, never the phone or number itself.
    Complainant {
        tenant: &'a str,
        digest: &'a str,
    },
    /// An office's work queue: its open cases, in queue order (`store::queue_position`).
    OfficeQueue {
        tenant: &'a str,
        office: &'a str,
    },
    /// A person's work queue: the open cases assigned to them, in queue order.
    AssigneeQueue {
        tenant: &'a str,
        assignee: &'a str,
    },
}

impl IndexKey<'_> {
    pub(super) fn prefix(&self) -> Vec<u8> {
        let (tag, tenant, field): (u8, &str, &str) = match self {
            IndexKey::All { tenant } => (b'a', tenant, ""),
            IndexKey::Status { tenant, status } => (b's', tenant, status.as_str()),
            IndexKey::Sector { tenant, sector } => (b'c', tenant, sector.as_str()),
            IndexKey::Received { tenant } => (b'r', tenant, ""),
            IndexKey::Due { tenant } => (b'd', tenant, ""),
            IndexKey::Overdue { tenant } => (b'o', tenant, ""),
            IndexKey::Manual { tenant } => (b'm', tenant, ""),
            IndexKey::Provisional { tenant, clock } => (b'p', tenant, clock),
            IndexKey::OpenClocks { calendar } => (b'k', calendar, ""),
            IndexKey::Complainant { tenant, digest } => (b'i', tenant, digest),
            IndexKey::OfficeQueue { tenant, office } => (b'f', tenant, office),
            IndexKey::AssigneeQueue { tenant, assignee } => (b'h', tenant, assignee),
        };
        let mut key = Vec::with_capacity(2 + tenant.len() + field.len() + 26);
        key.push(tag);
        key.extend_from_slice(tenant.as_bytes());
        key.push(0);
        if !field.is_empty() {
            key.extend_from_slice(field.as_bytes());
            key.push(0);
        }
        key
    }
}

/// Milliseconds since the epoch with the sign bit flipped, so byte order is time order.
pub(super) fn time_bytes(t: jiff::Timestamp) -> [u8; 8] {
    ((t.as_millisecond() as u64) ^ (1 << 63)).to_be_bytes()
}

pub(super) fn index_keys(case: &Case) -> BTreeSet<Vec<u8>> {
    let id = case.id.to_bytes();
    let tenant = case.tenant.as_str();
    let mut keys = vec![
        IndexKey::All { tenant }.prefix(),
        IndexKey::Status {
            tenant,
            status: case.status,
        }
        .prefix(),
        IndexKey::Sector {
            tenant,
            sector: case.sector,
        }
        .prefix(),
    ];
    let mut received = IndexKey::Received { tenant }.prefix();
    received.extend_from_slice(&time_bytes(case.received_at));
    keys.push(received);
    if let Some(due) = earliest_due(case) {
        let mut key = IndexKey::Due { tenant }.prefix();
        key.extend_from_slice(&time_bytes(due));
        keys.push(key);
    }
    if is_overdue(case) {
        keys.push(IndexKey::Overdue { tenant }.prefix());
    }
    if case.manual_handling.is_some() {
        keys.push(IndexKey::Manual { tenant }.prefix());
    }
    for clock in provisional_clocks(case) {
        keys.push(IndexKey::Provisional { tenant, clock }.prefix());
    }
    for calendar in open_clock_calendars(case) {
        keys.push(IndexKey::OpenClocks { calendar }.prefix());
    }
    if let Some(complainant) = &case.complainant_key {
        let digest = complainant.digest.to_hex();
        let mut key = IndexKey::Complainant {
            tenant,
            digest: &digest,
        }
        .prefix();
        key.extend_from_slice(&time_bytes(case.received_at));
        keys.push(key);
    }
    if case.is_open() {
        let (rank, at) = queue_position(case);
        let position = |mut key: Vec<u8>| {
            key.push(rank);
            key.extend_from_slice(&time_bytes(at));
            key
        };
        if let Some(office) = case.current_office() {
            keys.push(position(IndexKey::OfficeQueue { tenant, office }.prefix()));
        }
        if let Some(assignee) = case.assignee() {
            keys.push(position(
                IndexKey::AssigneeQueue { tenant, assignee }.prefix(),
            ));
        }
    }
    keys.into_iter()
        .map(|mut key| {
            key.extend_from_slice(&id);
            key
        })
        .collect()
}

pub(super) fn due_key(due: &DueClock) -> Vec<u8> {
    let mut key = Vec::with_capacity(8 + 16 + 1 + due.clock.len());
    key.extend_from_slice(&time_bytes(due.at));
    key.extend_from_slice(&due.case_id.to_bytes());
    key.push(match due.kind {
        DueKind::Warning => b'w',
        DueKind::Breach => b'b',
    });
    key.extend_from_slice(due.clock.as_bytes());
    key
}

pub(super) fn due_keys(case: &Case) -> BTreeSet<Vec<u8>> {
    due_clocks(case).iter().map(due_key).collect()
}

pub(super) fn parse_due_key(key: &[u8]) -> Result<DueClock, StoreError> {
    let corrupt = || StoreError::Corrupt("malformed due-index key".into());
    if key.len() < 25 {
        return Err(corrupt());
    }
    let millis = u64::from_be_bytes(key[..8].try_into().map_err(|_| corrupt())?) ^ (1 << 63);
    let at = jiff::Timestamp::from_millisecond(millis as i64).map_err(|_| corrupt())?;
    let mut id = [0u8; 16];
    id.copy_from_slice(&key[8..24]);
    let kind = match key[24] {
        b'w' => DueKind::Warning,
        b'b' => DueKind::Breach,
        _ => return Err(corrupt()),
    };
    let clock = String::from_utf8(key[25..].to_vec()).map_err(|_| corrupt())?;
    Ok(DueClock {
        at,
        case_id: CaseId::from_bytes(id),
        clock,
        kind,
    })
}

/// Moves a tree from the keys of one snapshot to those of the next.
pub(super) fn apply_key_diff(
    tree: &sled::transaction::TransactionalTree,
    old: &BTreeSet<Vec<u8>>,
    new: &BTreeSet<Vec<u8>>,
) -> Result<(), sled::transaction::UnabortableTransactionError> {
    for gone in old.difference(new) {
        tree.remove(gone.as_slice())?;
    }
    for added in new.difference(old) {
        tree.insert(added.as_slice(), &[])?;
    }
    Ok(())
}

/// The smallest key greater than every key starting with `prefix`.
pub(super) fn prefix_end(prefix: &[u8]) -> Vec<u8> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return end;
        }
    }
    vec![0xff; prefix.len() + 1]
}

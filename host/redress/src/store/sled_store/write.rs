//! The write path's pure half: a new case or an append prepared (decided, sealed, serialised,
//! indexed) before the transaction, which then only checks and writes bytes.

use super::*;

/// A new case with its first events, serialised and indexed, ready to be written.
pub(super) struct PreparedCase {
    pub(super) case: Case,
    pub(super) case_json: Vec<u8>,
    pub(super) events: Vec<([u8; 24], Vec<u8>)>,
    pub(super) index_keys: BTreeSet<Vec<u8>>,
    pub(super) due_keys: BTreeSet<Vec<u8>>,
}

pub(super) fn prepare_new_case(
    mut case: Case,
    received: EventRecord,
    then: Option<&Plan>,
    actor: &Actor,
    now: Timestamp,
) -> Result<PreparedCase, StoreError> {
    let mut records = vec![received];
    if let Some(plan) = then {
        records.extend(run_plan(&mut case, plan, actor, now)?);
    }
    let events = records
        .iter()
        .map(|record| Ok((event_key(case.id, record.seq), to_json(record)?)))
        .collect::<Result<_, StoreError>>()?;
    Ok(PreparedCase {
        case_json: to_json(&case)?,
        events,
        index_keys: index_keys(&case),
        due_keys: due_keys(&case),
        case,
    })
}

/// What appending to one stored case comes to: the events, the new snapshot, the index changes.
pub(super) struct AppendOutcome {
    pub(super) after: Case,
    pub(super) records: Vec<EventRecord>,
    pub(super) events: Vec<([u8; 24], Vec<u8>)>,
    /// None when the plan produced no event: nothing is written.
    pub(super) case_json: Option<Vec<u8>>,
    pub(super) index_before: BTreeSet<Vec<u8>>,
    pub(super) index_after: BTreeSet<Vec<u8>>,
    pub(super) due_before: BTreeSet<Vec<u8>>,
    pub(super) due_after: BTreeSet<Vec<u8>>,
}

pub(super) fn decide_append(stored: &[u8], append: &Append) -> Result<AppendOutcome, StoreError> {
    let before = parse_case(stored)?;
    if append.tenant.as_ref().is_some_and(|t| *t != before.tenant) {
        return Err(StoreError::NotFound(append.id));
    }
    if let Some(expected) = append.expected_version
        && expected != before.version
    {
        return Err(StoreError::VersionConflict {
            expected,
            actual: before.version,
        });
    }
    let mut after = before.clone();
    let records = run_plan(&mut after, &append.plan, &append.actor, append.now)?;
    if records.is_empty() {
        return Ok(AppendOutcome {
            after,
            records,
            events: Vec::new(),
            case_json: None,
            index_before: BTreeSet::new(),
            index_after: BTreeSet::new(),
            due_before: BTreeSet::new(),
            due_after: BTreeSet::new(),
        });
    }
    let events = records
        .iter()
        .map(|record| Ok((event_key(after.id, record.seq), to_json(record)?)))
        .collect::<Result<_, StoreError>>()?;
    Ok(AppendOutcome {
        case_json: Some(to_json(&after)?),
        events,
        index_before: index_keys(&before),
        index_after: index_keys(&after),
        due_before: due_keys(&before),
        due_after: due_keys(&after),
        after,
        records,
    })
}

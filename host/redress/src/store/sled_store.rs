//! The embedded default backend: sled, one data directory, no external service.
//!
//! Trees:
//! - default tree: `format` → the on-disk format version;
//! - `cases`: case id (16 bytes) → snapshot JSON;
//! - `events`: case id ‖ seq (u64 BE) → event JSON, so a case's history is one ordered range;
//! - `tracking`: tracking code → case id;
//! - `idempotency`: tenant ‖ 0 ‖ key → case id;
//! - `index`: the listing indexes, one key prefix each (see `IndexKey`), value empty;
//! - `due`: the scheduler's due-index: time ‖ case id ‖ kind ‖ clock name, for every warning
//!   and breach still owed, so finding what is due is a range scan, not a scan of all cases.
//!
//! Every index key is a pure function of a case snapshot (`index_keys`, `due_keys`); a write
//! removes the keys of the old snapshot that the new one lacks and inserts the new ones, in the
//! same transaction as the events.
//!
//! Every write is one sled transaction over the trees it touches, then a group-commit wait, so a
//! crash can lose only writes that were never acknowledged.

use std::path::Path;

use jiff::Timestamp;
use redress_domain::{Actor, Case, CaseId, EventRecord, Status, case::Sector};
use sled::{
    Transactional, Tree,
    transaction::{ConflictableTransactionError, TransactionError},
};

use std::collections::BTreeSet;

use super::{
    Append, AuditProblem, AuditReport, CaseStore, Created, DueClock, DueKind, HealthCounts,
    ListOrder, ListQuery, NewCase, Page, Plan, StoreError, audit_case, due_clocks, earliest_due,
    group_commit::GroupCommit, is_overdue, open_clock_calendars, provisional_clocks, run_plan,
};

/// Written into a new data directory and checked on every open. Bump it (and write a
/// migration) whenever the layout or the meaning of a stored value changes.
pub const FORMAT: &str = "redress-sled/1";
const FORMAT_KEY: &[u8] = b"format";
/// The layout of the `index` tree. The index is derived data (a pure function of the
/// snapshots), so a new layout is not a new format: opening a directory indexed under another
/// layout rebuilds the tree from the snapshots.
const INDEX_LAYOUT: &[u8] = b"3: manual, provisional, open clocks by calendar; heads";
const INDEX_LAYOUT_KEY: &[u8] = b"index-layout";
/// Set once the store has an acknowledgement ledger.
const LEDGER_KEY: &[u8] = b"ledger";
/// How often an append decides again when other writes to the same case keep getting in
/// first. Each attempt is one decision; contention on one case is rare and short.
const APPEND_ATTEMPTS: usize = 64;

#[derive(Debug, Clone)]
pub struct SledOptions {
    /// sled's page cache, in bytes.
    pub cache_capacity: u64,
    /// Wait for each write to be on disk before returning (the server always does). Turning it
    /// off is only for bulk loads (benchmarks, imports) that call [`SledStore::flush`] at the
    /// end: a crash before that loses writes.
    pub durable_writes: bool,
}

impl Default for SledOptions {
    fn default() -> Self {
        SledOptions {
            cache_capacity: 256 * 1024 * 1024,
            durable_writes: true,
        }
    }
}

#[derive(Debug)]
pub struct SledStore {
    cases: Tree,
    events: Tree,
    tracking: Tree,
    idempotency: Tree,
    index: Tree,
    due: Tree,
    /// Case id → version (u64 BE) ‖ head hash: what the acknowledgement ledger is compared
    /// with, without reading every snapshot.
    heads: Tree,
    durable_writes: bool,
    ledger_path: std::path::PathBuf,
    /// What the store had lost of the acknowledged writes when it was opened.
    losses: Vec<AuditProblem>,
    // Declared last: dropped after the trees, it joins the flush thread, which holds the last
    // handle on the database, so that reopening the same directory works once this is dropped.
    commit: GroupCommit,
}

fn backend(e: sled::Error) -> StoreError {
    StoreError::Backend(e.to_string())
}

fn from_tx(e: TransactionError<StoreError>) -> StoreError {
    match e {
        TransactionError::Abort(e) => e,
        TransactionError::Storage(e) => backend(e),
    }
}

fn abort<T>(e: StoreError) -> Result<T, ConflictableTransactionError<StoreError>> {
    Err(ConflictableTransactionError::Abort(e))
}

fn to_json<T: serde::Serialize>(value: &T) -> Result<Vec<u8>, StoreError> {
    serde_json::to_vec(value).map_err(|e| StoreError::Corrupt(format!("cannot encode: {e}")))
}

fn parse_case(bytes: &[u8]) -> Result<Case, StoreError> {
    serde_json::from_slice(bytes)
        .map_err(|e| StoreError::Corrupt(format!("unreadable case snapshot: {e}")))
}

/// How long an open waits for the previous holder of the data directory to let go of it.
const LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(3);

/// sled releases its file lock only when the last of its background threads lets go of the
/// database, a moment after the `Db` is dropped: a reopen right after a close (a restart in the
/// same process, `redress audit verify` right after a server stopped) could find it still held
/// (the intermittent failure of `sled_store_matches_the_in_memory_model`). A second server on
/// the same directory still fails, after `LOCK_WAIT`.
/// sled reports another process's lock on the directory only in its message.
fn is_lock_error(e: &std::io::Error) -> bool {
    e.to_string().contains("could not acquire lock")
}

fn open_waiting_for_lock(config: &sled::Config) -> sled::Result<sled::Db> {
    let deadline = std::time::Instant::now() + LOCK_WAIT;
    loop {
        match config.open() {
            Err(sled::Error::Io(e))
                if is_lock_error(&e) && std::time::Instant::now() < deadline =>
            {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            other => return other,
        }
    }
}

/// A new case with its first events, serialised and indexed, ready to be written.
struct PreparedCase {
    case: Case,
    case_json: Vec<u8>,
    events: Vec<([u8; 24], Vec<u8>)>,
    index_keys: BTreeSet<Vec<u8>>,
    due_keys: BTreeSet<Vec<u8>>,
}

fn prepare_new_case(
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
struct AppendOutcome {
    after: Case,
    records: Vec<EventRecord>,
    events: Vec<([u8; 24], Vec<u8>)>,
    /// None when the plan produced no event: nothing is written.
    case_json: Option<Vec<u8>>,
    index_before: BTreeSet<Vec<u8>>,
    index_after: BTreeSet<Vec<u8>>,
    due_before: BTreeSet<Vec<u8>>,
    due_after: BTreeSet<Vec<u8>>,
}

fn decide_append(stored: &[u8], append: &Append) -> Result<AppendOutcome, StoreError> {
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

fn event_key(id: CaseId, seq: u64) -> [u8; 24] {
    let mut key = [0u8; 24];
    key[..16].copy_from_slice(&id.to_bytes());
    key[16..].copy_from_slice(&seq.to_be_bytes());
    key
}

fn id_from_suffix(key: &[u8]) -> Result<CaseId, StoreError> {
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
enum IndexKey<'a> {
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
}

impl IndexKey<'_> {
    fn prefix(&self) -> Vec<u8> {
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
fn time_bytes(t: jiff::Timestamp) -> [u8; 8] {
    ((t.as_millisecond() as u64) ^ (1 << 63)).to_be_bytes()
}

fn index_keys(case: &Case) -> BTreeSet<Vec<u8>> {
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
    keys.into_iter()
        .map(|mut key| {
            key.extend_from_slice(&id);
            key
        })
        .collect()
}

fn due_key(due: &DueClock) -> Vec<u8> {
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

fn due_keys(case: &Case) -> BTreeSet<Vec<u8>> {
    due_clocks(case).iter().map(due_key).collect()
}

fn parse_due_key(key: &[u8]) -> Result<DueClock, StoreError> {
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
fn apply_key_diff(
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

/// Rewrites the listing index and the heads from the snapshots. Not one transaction (it may
/// be large), but safe to interrupt: the layout key is written only after it, so the next open
/// starts again.
fn rebuild_index(cases: &Tree, index: &Tree, heads: &Tree) -> Result<(), StoreError> {
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

pub(super) fn head_value(case: &Case) -> [u8; 40] {
    let mut value = [0u8; 40];
    value[..8].copy_from_slice(&case.version.to_be_bytes());
    value[8..].copy_from_slice(&case.head_hash.0);
    value
}

fn parse_head(value: &[u8]) -> Result<(u64, redress_domain::Hash), StoreError> {
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

fn acknowledged(case: &Case) -> super::ledger::Acknowledged {
    super::ledger::Acknowledged {
        case_id: case.id,
        version: case.version,
        head: case.head_hash,
    }
}

/// Every case the ledger says was acknowledged, against the store's heads: missing, shorter
/// than acknowledged, or a different event at an acknowledged version. A damaged ledger is a
/// problem of its own (its later records are not trusted).
fn compare_with_ledger(
    read: &super::ledger::LedgerRead,
    heads: &Tree,
    events: &Tree,
) -> Result<Vec<AuditProblem>, StoreError> {
    let mut problems = super::ledger::compare(&read.heads, |id, version| {
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

/// The acknowledgement ledger's file in a data directory.
pub const LEDGER_FILE: &str = "acknowledged.ledger";

/// The smallest key greater than every key starting with `prefix`.
fn prefix_end(prefix: &[u8]) -> Vec<u8> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return end;
        }
    }
    vec![0xff; prefix.len() + 1]
}

impl SledStore {
    pub fn open(path: &Path, options: &SledOptions) -> Result<Self, StoreError> {
        let config = sled::Config::new()
            .path(path)
            .cache_capacity(options.cache_capacity)
            .mode(sled::Mode::HighThroughput);
        let db = open_waiting_for_lock(&config).map_err(|e| match e {
            sled::Error::Io(e) if is_lock_error(&e) => StoreError::Locked {
                path: path.display().to_string(),
            },
            e => StoreError::Backend(format!("cannot open {}: {e}", path.display())),
        })?;
        match db.get(FORMAT_KEY).map_err(backend)? {
            Some(found) if found.as_ref() != FORMAT.as_bytes() => {
                return Err(StoreError::UnsupportedFormat {
                    found: String::from_utf8_lossy(&found).into_owned(),
                    supported: FORMAT,
                });
            }
            Some(_) => {}
            None => {
                if db.tree_names().len() > 1 && !db.open_tree("cases").map_err(backend)?.is_empty()
                {
                    return Err(StoreError::UnsupportedFormat {
                        found: "(none)".into(),
                        supported: FORMAT,
                    });
                }
                db.insert(FORMAT_KEY, FORMAT.as_bytes()).map_err(backend)?;
                db.flush().map_err(backend)?;
            }
        }
        let open = |name: &str| db.open_tree(name).map_err(backend);
        let cases = open("cases")?;
        let index = open("index")?;
        let heads = open("heads")?;
        let events = open("events")?;
        if db.get(INDEX_LAYOUT_KEY).map_err(backend)?.as_deref() != Some(INDEX_LAYOUT) {
            rebuild_index(&cases, &index, &heads)?;
            db.insert(INDEX_LAYOUT_KEY, INDEX_LAYOUT).map_err(backend)?;
            db.flush().map_err(backend)?;
        }
        let ledger_path = path.join(LEDGER_FILE);
        let ledger_error = |e: super::ledger::LedgerError| StoreError::Backend(e.to_string());
        let (read, previous) = super::ledger::read(&ledger_path).map_err(ledger_error)?;
        let mut losses = compare_with_ledger(&read, &heads, &events)?;
        // Once a store has a ledger, a missing one is not "nothing acknowledged yet": it is the
        // record that would show a loss, gone.
        if db.get(LEDGER_KEY).map_err(backend)?.is_some() && !ledger_path.exists() {
            losses.push(AuditProblem {
                case_id: String::new(),
                problem: format!(
                    "the acknowledgement ledger {} is missing: what this store acknowledged cannot be checked",
                    ledger_path.display()
                ),
            });
        }
        let mut ledger =
            super::ledger::Ledger::open(&ledger_path, &read, previous).map_err(ledger_error)?;
        if losses.is_empty() {
            // Everything acknowledged is here (and what survived unacknowledged is durable
            // now): one record per case from here on.
            let mut current = super::ledger::Heads::new();
            for item in heads.iter() {
                let (id, value) = item.map_err(backend)?;
                current.insert(id_from_suffix(&id)?, parse_head(&value)?);
            }
            ledger.compact(&current).map_err(ledger_error)?;
            db.insert(LEDGER_KEY, b"1").map_err(backend)?;
            db.flush().map_err(backend)?;
        } else {
            // Kept as it is: it is the evidence of what was lost.
            losses.sort_by(|a, b| a.case_id.cmp(&b.case_id));
        }
        Ok(SledStore {
            cases,
            events,
            tracking: open("tracking")?,
            idempotency: open("idempotency")?,
            index,
            due: open("due")?,
            heads,
            durable_writes: options.durable_writes,
            ledger_path,
            losses,
            commit: GroupCommit::start(db, Some(ledger))?,
        })
    }

    fn load(&self, id: CaseId) -> Result<Option<Case>, StoreError> {
        #[cfg(test)]
        read_counts::SNAPSHOT_READS.with(|n| n.set(n.get() + 1));
        match self.cases.get(id.to_bytes()).map_err(backend)? {
            Some(bytes) => parse_case(&bytes).map(Some),
            None => Ok(None),
        }
    }

    /// Whether `id` is a case of `tenant`: its `a` index key exists (written in the same
    /// transaction as the case, never removed, and a case's tenant never changes).
    fn belongs_to(&self, tenant: &str, id: CaseId) -> Result<bool, StoreError> {
        #[cfg(test)]
        read_counts::OWNERSHIP_PROBES.with(|n| n.set(n.get() + 1));
        let mut key = IndexKey::All { tenant }.prefix();
        key.extend_from_slice(&id.to_bytes());
        self.index.contains_key(key).map_err(backend)
    }

    /// Makes every write so far durable (after a bulk load without `durable_writes`).
    pub fn flush(&self) -> Result<(), StoreError> {
        self.commit.wait_durable(None)
    }

    /// Makes `case` (as just written) durable and recorded in the ledger before returning, or,
    /// for a bulk load, notes it for the next flush.
    fn acknowledge(&self, case: &Case) -> Result<(), StoreError> {
        if self.durable_writes {
            self.commit.wait_durable(Some(acknowledged(case)))
        } else {
            self.commit.note(acknowledged(case));
            Ok(())
        }
    }

    /// Raw access for tests that damage the heads (as lost writes would).
    #[doc(hidden)]
    pub fn heads_tree(&self) -> &Tree {
        &self.heads
    }

    /// Raw access for tests that tamper with stored events.
    #[doc(hidden)]
    pub fn events_tree(&self) -> &Tree {
        &self.events
    }

    /// Raw access for tests that lose cases, as a damaged sled log would.
    #[doc(hidden)]
    pub fn cases_tree(&self) -> &Tree {
        &self.cases
    }
}

impl CaseStore for SledStore {
    fn create(&self, new: NewCase) -> Result<Created, StoreError> {
        let NewCase {
            id,
            tracking_code,
            tenant,
            intake,
            actor,
            now,
            idempotency_key,
            then,
        } = new;
        let idem_key = idempotency_key.map(|k| {
            let mut key = tenant.as_bytes().to_vec();
            key.push(0);
            key.extend_from_slice(k.as_bytes());
            key
        });
        let (registered, record) = redress_domain::Case::register(
            id,
            tracking_code.clone(),
            tenant,
            intake,
            actor.clone(),
            now,
        )?;
        let id_bytes = id.to_bytes();
        // Everything that does not read the store is done before the transaction: a sled
        // transaction holds sled's process-wide write lock while its closure runs, so the rules'
        // decision and the serialisation, done inside, serialised every intake (and stalled
        // every read) behind them. A new case's decision depends on the case alone.
        let (prepared, failure) =
            match prepare_new_case(registered, record, then.as_ref(), &actor, now) {
                Ok(prepared) => (Some(prepared), None),
                Err(e) => (None, Some(e)),
            };
        // Taken by the one attempt that aborts with it (the closure must be `Fn`).
        let failure = std::cell::Cell::new(failure);

        let created = (
            &self.cases,
            &self.events,
            &self.tracking,
            &self.idempotency,
            &self.index,
            &self.due,
            &self.heads,
        )
            .transaction(
                |(cases, events, tracking, idempotency, index, due, heads)| {
                    if let Some(key) = &idem_key
                        && let Some(existing) = idempotency.get(key)?
                    {
                        let existing = match cases.get(existing)? {
                            Some(bytes) => parse_case(&bytes),
                            None => Err(StoreError::Corrupt(
                                "idempotency key names a missing case".into(),
                            )),
                        };
                        return match existing {
                            Ok(case) => Ok(Created::Existing(case)),
                            Err(e) => abort(e),
                        };
                    }
                    let Some(prepared) = &prepared else {
                        return abort(failure.take().unwrap_or_else(|| {
                            StoreError::Backend("the case could not be prepared".into())
                        }));
                    };
                    if cases.get(id_bytes)?.is_some() {
                        return abort(StoreError::IdTaken(id));
                    }
                    if tracking.get(tracking_code.as_str())?.is_some() {
                        return abort(StoreError::TrackingCodeTaken(tracking_code.clone()));
                    }
                    for (key, json) in &prepared.events {
                        events.insert(key.as_slice(), json.as_slice())?;
                    }
                    cases.insert(&id_bytes, prepared.case_json.as_slice())?;
                    tracking.insert(tracking_code.as_str(), &id_bytes)?;
                    if let Some(key) = &idem_key {
                        idempotency.insert(key.as_slice(), &id_bytes)?;
                    }
                    apply_key_diff(index, &BTreeSet::new(), &prepared.index_keys)?;
                    apply_key_diff(due, &BTreeSet::new(), &prepared.due_keys)?;
                    heads.insert(&id_bytes, head_value(&prepared.case).as_slice())?;
                    Ok(Created::New(prepared.case.clone()))
                },
            )
            .map_err(from_tx)?;
        if let Created::New(case) = &created {
            self.acknowledge(case)?;
        }
        Ok(created)
    }

    fn append(&self, append: Append) -> Result<(Case, Vec<EventRecord>), StoreError> {
        let id = append.id;
        let id_bytes = id.to_bytes();
        // The plan (the rules' decision, a plugin's run) never runs inside a transaction: sled
        // runs a transaction's closure under its process-wide lock, which every other write and
        // read waits for, so one tenant's slow rule stalled every tenant (issue #13). Decide on
        // the case as read, then write only if the stored case is still exactly those bytes;
        // if another write got in between, read and decide again, outside.
        for _ in 0..APPEND_ATTEMPTS {
            let Some(seen) = self.cases.get(id_bytes).map_err(backend)? else {
                return Err(StoreError::NotFound(id));
            };
            // A refusal writes nothing: it holds as of the read, like any read.
            let outcome = decide_append(&seen, &append)?;
            if outcome.records.is_empty() {
                return Ok((outcome.after, outcome.records));
            }
            let result = (
                &self.cases,
                &self.events,
                &self.index,
                &self.due,
                &self.heads,
            )
                .transaction(|(cases, events, index, due, heads)| {
                    match cases.get(id_bytes)? {
                        Some(now) if now == seen => {}
                        Some(_) => return abort(StoreError::Stale),
                        None => return abort(StoreError::NotFound(id)),
                    }
                    for (key, json) in &outcome.events {
                        events.insert(key.as_slice(), json.as_slice())?;
                    }
                    if let Some(json) = &outcome.case_json {
                        cases.insert(&id_bytes, json.as_slice())?;
                    }
                    apply_key_diff(index, &outcome.index_before, &outcome.index_after)?;
                    apply_key_diff(due, &outcome.due_before, &outcome.due_after)?;
                    heads.insert(&id_bytes, head_value(&outcome.after).as_slice())?;
                    Ok(())
                });
            match result.map_err(from_tx) {
                Ok(()) => {}
                Err(StoreError::Stale) => continue,
                Err(e) => return Err(e),
            }
            self.acknowledge(&outcome.after)?;
            return Ok((outcome.after, outcome.records));
        }
        Err(StoreError::Backend(format!(
            "case {id} kept changing while this write was decided ({APPEND_ATTEMPTS} attempts); retry"
        )))
    }

    fn due(&self, until: jiff::Timestamp, limit: usize) -> Result<Vec<DueClock>, StoreError> {
        let mut upper = time_bytes(until).to_vec();
        upper.push(0xff);
        let mut due = Vec::new();
        for item in self.due.range(..upper).take(limit) {
            let (key, _) = item.map_err(backend)?;
            let entry = parse_due_key(&key)?;
            if entry.at <= until {
                due.push(entry);
            }
        }
        Ok(due)
    }

    fn get(&self, tenant: &str, id: CaseId) -> Result<Option<Case>, StoreError> {
        // The tenant is checked first, on the listing key that exists exactly for each case of
        // the tenant: another tenant's case and an id never issued are then the same miss in
        // the same tree, and neither reads a snapshot. (Parsing the other tenant's snapshot
        // before comparing its tenant made that answer measurably slower, which told a
        // guesser that the id exists.)
        if !self.belongs_to(tenant, id)? {
            return Ok(None);
        }
        Ok(self.load(id)?.filter(|case| case.tenant == tenant))
    }

    fn get_by_tracking_code(&self, code: &str) -> Result<Option<Case>, StoreError> {
        match self.tracking.get(code).map_err(backend)? {
            Some(id) => self.load(id_from_suffix(&id)?),
            None => Ok(None),
        }
    }

    fn events(&self, tenant: &str, id: CaseId) -> Result<Option<Vec<EventRecord>>, StoreError> {
        if self.get(tenant, id)?.is_none() {
            return Ok(None);
        }
        let mut events = Vec::new();
        for item in self.events.scan_prefix(id.to_bytes()) {
            let (key, value) = item.map_err(backend)?;
            let seq = key
                .get(16..24)
                .and_then(|s| s.try_into().ok())
                .map(u64::from_be_bytes)
                .unwrap_or(0);
            events.push(redress_domain::event::parse_stored(seq, &value)?.record);
        }
        Ok(Some(events))
    }

    fn list(&self, query: &ListQuery) -> Result<Page, StoreError> {
        let tenant = query.tenant.as_str();
        // Narrow with the most selective index the query names; the other filters are checked
        // on each snapshot.
        let whole = |p: Vec<u8>| (p.clone(), p.clone(), prefix_end(&p));
        let (prefix, mut lower, mut upper) = match query.order() {
            ListOrder::Overdue => whole(IndexKey::Overdue { tenant }.prefix()),
            ListOrder::Manual => whole(IndexKey::Manual { tenant }.prefix()),
            ListOrder::DueSoonest => {
                let p = IndexKey::Due { tenant }.prefix();
                let mut upper = p.clone();
                if let Some(before) = query.due_before {
                    upper.extend_from_slice(&time_bytes(before));
                }
                (p.clone(), p, upper)
            }
            ListOrder::Received => {
                let p = IndexKey::Received { tenant }.prefix();
                let mut lower = p.clone();
                let mut upper = prefix_end(&p);
                if let Some(from) = query.received_from {
                    lower.extend_from_slice(&time_bytes(from));
                }
                if let Some(before) = query.received_before {
                    upper = p.clone();
                    upper.extend_from_slice(&time_bytes(before));
                }
                (p, lower, upper)
            }
            ListOrder::Registered => match (query.status, query.sector) {
                (Some(status), _) => whole(IndexKey::Status { tenant, status }.prefix()),
                (None, Some(sector)) => whole(IndexKey::Sector { tenant, sector }.prefix()),
                (None, None) => whole(IndexKey::All { tenant }.prefix()),
            },
        };
        let ascending = query.order() == ListOrder::DueSoonest;
        if let Some(cursor) = &query.cursor {
            let key = hex::decode(cursor).map_err(|_| StoreError::BadCursor)?;
            if !key.starts_with(&prefix) || key.len() < prefix.len() + 16 {
                return Err(StoreError::BadCursor);
            }
            if ascending {
                // Resume after the cursor key: the smallest key greater than it.
                let mut after = key;
                after.push(0);
                if after > lower {
                    lower = after;
                }
            } else if key < upper {
                upper = key;
            }
        }
        if lower > upper {
            lower.clone_from(&upper);
        }
        let limit = query.limit.max(1);
        let mut cases = Vec::with_capacity(limit.min(512));
        let mut last_key = None;
        let mut more = false;
        let range = self.index.range(lower..upper);
        let keys: Box<dyn Iterator<Item = sled::Result<(sled::IVec, sled::IVec)>>> = if ascending {
            Box::new(range)
        } else {
            Box::new(range.rev())
        };
        for item in keys {
            let (key, _) = item.map_err(backend)?;
            let Some(case) = self.load(id_from_suffix(&key)?)? else {
                return Err(StoreError::Corrupt(format!(
                    "index entry names missing case {}",
                    id_from_suffix(&key)?
                )));
            };
            if !query.matches(&case) {
                continue;
            }
            if cases.len() == limit {
                more = true;
                break;
            }
            last_key = Some(key);
            cases.push(case);
        }
        let next_cursor = if more {
            last_key.map(hex::encode)
        } else {
            None
        };
        Ok(Page { cases, next_cursor })
    }

    fn cases_with_open_clocks(&self, calendar: &str) -> Result<Vec<CaseId>, StoreError> {
        self.index
            .scan_prefix(IndexKey::OpenClocks { calendar }.prefix())
            .map(|item| id_from_suffix(&item.map_err(backend)?.0))
            .collect()
    }

    fn health_counts(&self) -> Result<HealthCounts, StoreError> {
        // The tags alone: these keys are counted across tenants.
        let count = |tag: u8| -> Result<u64, StoreError> {
            let mut n = 0u64;
            for item in self.index.scan_prefix([tag]) {
                item.map_err(backend)?;
                n += 1;
            }
            Ok(n)
        };
        Ok(HealthCounts {
            manual_handling: count(b'm')?,
            provisional_clocks: count(b'p')?,
        })
    }

    fn verify(&self) -> Result<AuditReport, StoreError> {
        let mut report = AuditReport::default();
        let mut with_history = std::collections::BTreeSet::new();
        let mut group: Option<HistoryGroup> = None;
        for item in self.events.iter() {
            let (key, value) = item.map_err(backend)?;
            if key.len() != 24 {
                return Err(StoreError::Corrupt("an event key is not 24 bytes".into()));
            }
            let id = id_from_suffix(&key[..16])?;
            let seq = key
                .get(16..24)
                .and_then(|s| s.try_into().ok())
                .map(u64::from_be_bytes)
                .unwrap_or(0);
            if group.as_ref().is_some_and(|g| g.id != id)
                && let Some(done) = group.take()
            {
                with_history.insert(done.id);
                self.audit_group(done, &mut report);
            }
            let current = group.get_or_insert_with(|| HistoryGroup {
                id,
                events: Vec::new(),
                unreadable: None,
            });
            match redress_domain::event::parse_stored(seq, &value) {
                Ok(record) => current.events.push(record),
                Err(e) => {
                    current.unreadable.get_or_insert(e.to_string());
                }
            }
        }
        if let Some(done) = group.take() {
            with_history.insert(done.id);
            self.audit_group(done, &mut report);
        }
        for item in self.cases.iter() {
            let (key, _) = item.map_err(backend)?;
            let id = id_from_suffix(&key)?;
            if !with_history.contains(&id) {
                report.cases_checked += 1;
                report.problems.push(AuditProblem {
                    case_id: id.to_string(),
                    problem: "the case snapshot exists but its history is missing".into(),
                });
            }
        }
        // What was acknowledged must still be here. The ledger is read before the heads, so
        // writes acknowledged meanwhile only make the store ahead of it.
        let (read, _) = super::ledger::read(&self.ledger_path)
            .map_err(|e| StoreError::Backend(e.to_string()))?;
        report
            .problems
            .extend(compare_with_ledger(&read, &self.heads, &self.events)?);
        Ok(report)
    }

    fn acknowledged_losses(&self) -> Vec<AuditProblem> {
        self.losses.clone()
    }

    fn heads(
        &self,
        tenant: Option<&str>,
    ) -> Result<Vec<(CaseId, u64, redress_domain::Hash)>, StoreError> {
        let mut out = Vec::new();
        match tenant {
            None => {
                for item in self.heads.iter() {
                    let (id, value) = item.map_err(backend)?;
                    let (version, head) = parse_head(&value)?;
                    out.push((id_from_suffix(&id)?, version, head));
                }
            }
            Some(tenant) => {
                for item in self.index.scan_prefix(IndexKey::All { tenant }.prefix()) {
                    let id = id_from_suffix(&item.map_err(backend)?.0)?;
                    if let Some(value) = self.heads.get(id.to_bytes()).map_err(backend)? {
                        let (version, head) = parse_head(&value)?;
                        out.push((id, version, head));
                    }
                }
            }
        }
        Ok(out)
    }

    fn event_hash(&self, id: CaseId, seq: u64) -> Result<Option<redress_domain::Hash>, StoreError> {
        match self.events.get(event_key(id, seq)).map_err(backend)? {
            Some(bytes) => Ok(Some(
                redress_domain::event::parse_stored(seq, &bytes)?
                    .record
                    .hash,
            )),
            None => Ok(None),
        }
    }
}

/// One case's stored events, as read in key order during verification.
struct HistoryGroup {
    id: CaseId,
    events: Vec<redress_domain::event::StoredEvent>,
    unreadable: Option<String>,
}

impl SledStore {
    fn audit_group(&self, group: HistoryGroup, report: &mut AuditReport) {
        if let Some(problem) = group.unreadable {
            report.cases_checked += 1;
            report.problems.push(AuditProblem {
                case_id: group.id.to_string(),
                problem,
            });
            return;
        }
        match self.load(group.id) {
            Ok(snapshot) => audit_case(group.id, snapshot.as_ref(), &group.events, report),
            Err(e) => {
                report.cases_checked += 1;
                report.problems.push(AuditProblem {
                    case_id: group.id.to_string(),
                    problem: e.to_string(),
                });
            }
        }
    }
}

/// What a read did, per thread, so that tests can check that two answers took the same path.
#[cfg(test)]
pub(crate) mod read_counts {
    use std::cell::Cell;

    thread_local! {
        pub static SNAPSHOT_READS: Cell<u64> = const { Cell::new(0) };
        pub static OWNERSHIP_PROBES: Cell<u64> = const { Cell::new(0) };
    }

    /// (ownership probes, snapshot reads) made by `work` on this thread.
    pub fn during<T>(work: impl FnOnce() -> T) -> (T, u64, u64) {
        let probes = OWNERSHIP_PROBES.with(Cell::get);
        let reads = SNAPSHOT_READS.with(Cell::get);
        let result = work();
        (
            result,
            OWNERSHIP_PROBES.with(Cell::get) - probes,
            SNAPSHOT_READS.with(Cell::get) - reads,
        )
    }
}

//! `CaseStore` over sled: the transactions of every read and write.

use super::*;
use redress_domain::TenantId;

/// The statuses of a case still being worked (`Case::is_open`).
const OPEN_STATUSES: [Status; 5] = [
    Status::Received,
    Status::Accepted,
    Status::Transferred,
    Status::InProgress,
    Status::Reopened,
];

impl CaseStore for SledStore {
    fn create(&self, new: NewCase) -> Result<Created, StoreError> {
        let NewCase {
            id,
            tracking_code,
            tenant,
            intake,
            repeat,
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
        let (registered, record) = redress_domain::Case::register_with(
            id,
            tracking_code.clone(),
            tenant,
            intake,
            repeat,
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

    fn get(&self, tenant: &TenantId, id: CaseId) -> Result<Option<Case>, StoreError> {
        // The tenant is checked first, on the listing key that exists exactly for each case of
        // the tenant: another tenant's case and an id never issued are then the same miss in
        // the same tree, and neither reads a snapshot. (Parsing the other tenant's snapshot
        // before comparing its tenant made that answer measurably slower, which told a
        // guesser that the id exists.)
        if !self.belongs_to(tenant, id)? {
            return Ok(None);
        }
        Ok(self.load(id)?.filter(|case| case.tenant == *tenant))
    }

    fn get_by_tracking_code(&self, code: &str) -> Result<Option<Case>, StoreError> {
        match self.tracking.get(code).map_err(backend)? {
            Some(id) => self.load(id_from_suffix(&id)?),
            None => Ok(None),
        }
    }

    fn events(
        &self,
        tenant: &TenantId,
        id: CaseId,
    ) -> Result<Option<Vec<EventRecord>>, StoreError> {
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
            // The person's queue when both are given: the narrower of the two.
            ListOrder::Queue => match (&query.assignee, &query.office) {
                (Some(assignee), _) => whole(IndexKey::AssigneeQueue { tenant, assignee }.prefix()),
                (None, Some(office)) => whole(IndexKey::OfficeQueue { tenant, office }.prefix()),
                (None, None) => whole(IndexKey::All { tenant }.prefix()),
            },
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
        let ascending = matches!(query.order(), ListOrder::DueSoonest | ListOrder::Queue);
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

    /// From the index keys alone, never a snapshot: the open cases are the office's queue
    /// (or the tenant's open statuses), the assigned ones are in the assignee queues, and the
    /// received times are in the received index's keys. A board at 100,000 cases read up to
    /// 5,000 snapshots per view before (README, Performance).
    fn open_cases(
        &self,
        tenant: &TenantId,
        office: Option<&str>,
    ) -> Result<crate::store::OpenCases, StoreError> {
        let tenant = tenant.as_str();
        let ids = |prefix: Vec<u8>| -> Result<Vec<CaseId>, StoreError> {
            self.index
                .scan_prefix(prefix)
                .keys()
                .map(|key| id_from_suffix(&key.map_err(backend)?))
                .collect()
        };
        let open = match office {
            Some(office) => ids(IndexKey::OfficeQueue { tenant, office }.prefix())?,
            None => {
                let mut open = Vec::new();
                for status in OPEN_STATUSES {
                    open.extend(ids(IndexKey::Status { tenant, status }.prefix())?);
                }
                // Newest registered first, as the tenant's listing has them.
                open.sort_unstable_by(|a, b| b.cmp(a));
                open
            }
        };
        let wanted: std::collections::HashSet<CaseId> = open.iter().copied().collect();
        // Every assignee's queue of the tenant: an empty field leaves the prefix of them all.
        let assigned: std::collections::HashSet<CaseId> = ids(IndexKey::AssigneeQueue {
            tenant,
            assignee: "",
        }
        .prefix())?
        .into_iter()
        .collect();
        let received_prefix = IndexKey::Received { tenant }.prefix();
        let mut received = Vec::with_capacity(open.len());
        for key in self.index.scan_prefix(&received_prefix).keys() {
            let key = key.map_err(backend)?;
            if !wanted.contains(&id_from_suffix(&key)?) {
                continue;
            }
            let corrupt = || StoreError::Corrupt("malformed received-index key".into());
            let start = received_prefix.len();
            let bytes: [u8; 8] = key
                .get(start..start + 8)
                .and_then(|b| b.try_into().ok())
                .ok_or_else(corrupt)?;
            let millis = (u64::from_be_bytes(bytes) ^ (1 << 63)) as i64;
            received.push(jiff::Timestamp::from_millisecond(millis).map_err(|_| corrupt())?);
        }
        let unassigned = open
            .into_iter()
            .filter(|id| !assigned.contains(id))
            .collect();
        Ok(crate::store::OpenCases {
            received,
            unassigned,
        })
    }

    fn same_complainant(&self, query: &ComplainantQuery) -> Result<Vec<Case>, StoreError> {
        let digest = query.digest.to_hex();
        let prefix = IndexKey::Complainant {
            tenant: &query.tenant,
            digest: &digest,
        }
        .prefix();
        let mut lower = prefix.clone();
        lower.extend_from_slice(&time_bytes(query.received_from));
        let mut upper = prefix;
        upper.extend_from_slice(&time_bytes(query.received_until));
        upper.extend_from_slice(&[0xff; 16]);
        let mut found = Vec::new();
        for item in self.index.range(lower..=upper).rev() {
            if found.len() == query.limit {
                break;
            }
            let (key, _) = item.map_err(backend)?;
            let id = id_from_suffix(&key)?;
            let Some(case) = self.load(id)? else {
                return Err(StoreError::Corrupt(format!(
                    "index entry names missing case {id}"
                )));
            };
            // The key says so; the snapshot is the truth.
            if query.matches(&case) {
                found.push(case);
            }
        }
        Ok(found)
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
        let (read, _) = crate::store::ledger::read(&self.ledger_path)
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
        tenant: Option<&TenantId>,
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

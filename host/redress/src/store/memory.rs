//! An in-memory backend: the reference model the sled store is checked against in property
//! tests, and a store for tests that need no disk. Nothing here is durable.

use redress_domain::TenantId;
use std::{
    collections::BTreeMap,
    sync::{Mutex, MutexGuard, PoisonError},
};

use redress_domain::{Case, CaseId, EventRecord};

use super::{
    Append, AuditReport, CaseStore, ComplainantQuery, Created, DueClock, DueKind, HealthCounts,
    ListOrder, ListQuery, NewCase, Page, StoreError, audit_case, due_clocks, earliest_due,
    open_clock_calendars, provisional_clocks, run_plan,
};

#[derive(Debug, Default)]
struct Inner {
    cases: BTreeMap<CaseId, Case>,
    events: BTreeMap<CaseId, Vec<EventRecord>>,
    tracking: BTreeMap<String, CaseId>,
    idempotency: BTreeMap<(TenantId, String), CaseId>,
}

#[derive(Debug, Default)]
pub struct MemoryStore {
    inner: Mutex<Inner>,
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The listing order shared with the sled backend (see `ListOrder`), as a key sorted
/// ascending; descending orders are handled by the caller.
fn sort_key(query: &ListQuery, case: &Case) -> (i64, CaseId) {
    let millis = match query.order() {
        ListOrder::DueSoonest => earliest_due(case).map_or(i64::MAX, |t| t.as_millisecond()),
        ListOrder::Received => case.received_at.as_millisecond(),
        // The rank before the time, in one number (times stay below 10^15 ms, year 33658).
        ListOrder::Queue => {
            let (rank, at) = super::queue_position(case);
            i64::from(rank) * 1_000_000_000_000_000 + at.as_millisecond()
        }
        ListOrder::Overdue | ListOrder::Manual | ListOrder::Registered => 0,
    };
    (millis, case.id)
}

fn encode_cursor(key: (i64, CaseId)) -> String {
    format!("{}.{}", key.0, key.1)
}

fn decode_cursor(cursor: &str) -> Result<(i64, CaseId), StoreError> {
    let (ms, id) = cursor.split_once('.').ok_or(StoreError::BadCursor)?;
    Ok((
        ms.parse().map_err(|_| StoreError::BadCursor)?,
        id.parse().map_err(|_| StoreError::BadCursor)?,
    ))
}

impl CaseStore for MemoryStore {
    fn create(&self, new: NewCase) -> Result<Created, StoreError> {
        let mut inner = self.lock();
        let idem = new
            .idempotency_key
            .as_ref()
            .map(|k| (new.tenant.clone(), k.clone()));
        if let Some(existing) = idem.as_ref().and_then(|k| inner.idempotency.get(k)) {
            let case = inner
                .cases
                .get(existing)
                .cloned()
                .ok_or_else(|| StoreError::Corrupt("dangling key".into()))?;
            return Ok(Created::Existing(case));
        }
        if inner.cases.contains_key(&new.id) {
            return Err(StoreError::IdTaken(new.id));
        }
        if inner.tracking.contains_key(new.tracking_code.as_str()) {
            return Err(StoreError::TrackingCodeTaken(new.tracking_code));
        }
        let (mut case, record) = Case::register_with(
            new.id,
            new.tracking_code.clone(),
            new.tenant,
            new.intake,
            new.repeat,
            new.actor.clone(),
            new.now,
        )?;
        let mut records = vec![record];
        if let Some(plan) = &new.then {
            records.extend(run_plan(&mut case, plan, &new.actor, new.now)?);
        }
        inner
            .tracking
            .insert(new.tracking_code.as_str().to_owned(), new.id);
        if let Some(key) = idem {
            inner.idempotency.insert(key, new.id);
        }
        inner.events.insert(new.id, records);
        inner.cases.insert(new.id, case.clone());
        Ok(Created::New(case))
    }

    fn append(&self, append: Append) -> Result<(Case, Vec<EventRecord>), StoreError> {
        let mut inner = self.lock();
        let case = inner
            .cases
            .get(&append.id)
            .filter(|c| append.tenant.as_ref().is_none_or(|t| *t == c.tenant))
            .ok_or(StoreError::NotFound(append.id))?;
        if let Some(expected) = append.expected_version
            && expected != case.version
        {
            return Err(StoreError::VersionConflict {
                expected,
                actual: case.version,
            });
        }
        let mut next = case.clone();
        let records = run_plan(&mut next, &append.plan, &append.actor, append.now)?;
        if !records.is_empty() {
            inner
                .events
                .entry(append.id)
                .or_default()
                .extend(records.iter().cloned());
            inner.cases.insert(append.id, next.clone());
        }
        Ok((next, records))
    }

    fn due(&self, until: jiff::Timestamp, limit: usize) -> Result<Vec<DueClock>, StoreError> {
        let inner = self.lock();
        let mut due: Vec<DueClock> = inner
            .cases
            .values()
            .flat_map(due_clocks)
            .filter(|d| d.at <= until)
            .collect();
        // The sled due-index's key order: time, case, then the kind's tag (`b`reach before
        // `w`arning), then the clock's name.
        let tag = |kind: DueKind| match kind {
            DueKind::Breach => b'b',
            DueKind::Warning => b'w',
        };
        due.sort_by(|a, b| {
            (a.at, a.case_id, tag(a.kind), &a.clock).cmp(&(b.at, b.case_id, tag(b.kind), &b.clock))
        });
        due.truncate(limit);
        Ok(due)
    }

    fn get(&self, tenant: &TenantId, id: CaseId) -> Result<Option<Case>, StoreError> {
        Ok(self
            .lock()
            .cases
            .get(&id)
            .filter(|c| c.tenant == *tenant)
            .cloned())
    }

    fn get_by_tracking_code(&self, code: &str) -> Result<Option<Case>, StoreError> {
        let inner = self.lock();
        Ok(inner
            .tracking
            .get(code)
            .and_then(|id| inner.cases.get(id))
            .cloned())
    }

    fn events(
        &self,
        tenant: &TenantId,
        id: CaseId,
    ) -> Result<Option<Vec<EventRecord>>, StoreError> {
        let inner = self.lock();
        if inner.cases.get(&id).is_none_or(|c| c.tenant != *tenant) {
            return Ok(None);
        }
        Ok(inner.events.get(&id).cloned())
    }

    fn list(&self, query: &ListQuery) -> Result<Page, StoreError> {
        let inner = self.lock();
        let after = query.cursor.as_deref().map(decode_cursor).transpose()?;
        let ascending = matches!(query.order(), ListOrder::DueSoonest | ListOrder::Queue);
        let mut matching: Vec<&Case> = inner
            .cases
            .values()
            .filter(|c| query.matches(c))
            .filter(|c| {
                after.is_none_or(|a| {
                    if ascending {
                        sort_key(query, c) > a
                    } else {
                        sort_key(query, c) < a
                    }
                })
            })
            .collect();
        matching.sort_by_key(|c| sort_key(query, c));
        if !ascending {
            matching.reverse();
        }
        let limit = query.limit.max(1);
        let more = matching.len() > limit;
        matching.truncate(limit);
        let next_cursor = if more {
            matching.last().map(|c| encode_cursor(sort_key(query, c)))
        } else {
            None
        };
        Ok(Page {
            cases: matching.into_iter().cloned().collect(),
            next_cursor,
        })
    }

    fn same_complainant(&self, query: &ComplainantQuery) -> Result<Vec<Case>, StoreError> {
        let inner = self.lock();
        let mut found: Vec<&Case> = inner.cases.values().filter(|c| query.matches(c)).collect();
        found.sort_by_key(|c| std::cmp::Reverse((c.received_at.as_millisecond(), c.id)));
        found.truncate(query.limit);
        Ok(found.into_iter().cloned().collect())
    }

    fn cases_with_open_clocks(&self, calendar: &str) -> Result<Vec<CaseId>, StoreError> {
        Ok(self
            .lock()
            .cases
            .values()
            .filter(|case| open_clock_calendars(case).contains(calendar))
            .map(|case| case.id)
            .collect())
    }

    fn health_counts(&self) -> Result<HealthCounts, StoreError> {
        let inner = self.lock();
        Ok(HealthCounts {
            manual_handling: inner
                .cases
                .values()
                .filter(|c| c.manual_handling.is_some())
                .count() as u64,
            provisional_clocks: inner
                .cases
                .values()
                .map(|c| provisional_clocks(c).count() as u64)
                .sum(),
        })
    }

    fn heads(
        &self,
        tenant: Option<&TenantId>,
    ) -> Result<Vec<(CaseId, u64, redress_domain::Hash)>, StoreError> {
        Ok(self
            .lock()
            .cases
            .values()
            .filter(|c| tenant.is_none_or(|t| c.tenant == *t))
            .map(|c| (c.id, c.version, c.head_hash))
            .collect())
    }

    fn event_hash(&self, id: CaseId, seq: u64) -> Result<Option<redress_domain::Hash>, StoreError> {
        Ok(self
            .lock()
            .events
            .get(&id)
            .and_then(|events| events.iter().find(|e| e.seq == seq))
            .map(|e| e.hash))
    }

    fn verify(&self) -> Result<AuditReport, StoreError> {
        let inner = self.lock();
        let mut report = AuditReport::default();
        for (id, events) in &inner.events {
            // As a store on disk would read them back.
            let stored = redress_domain::event::as_stored(events)
                .map_err(|e| StoreError::Corrupt(e.to_string()))?;
            audit_case(*id, inner.cases.get(id), &stored, &mut report);
        }
        Ok(report)
    }
}

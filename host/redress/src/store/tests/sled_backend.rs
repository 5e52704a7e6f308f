//! The sled backend's own promises: format and cursor checks, tenant-blind reads, tamper and
//! loss detection, concurrency without deciding inside a transaction, the directory lock.

use super::*;
use redress_domain::TenantId;

#[test]
fn a_data_directory_of_another_format_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    {
        let db = ::sled::open(dir.path()).unwrap();
        db.insert(b"format", b"redress-sled/99".as_slice()).unwrap();
        db.flush().unwrap();
    }
    let err = SledStore::open(dir.path(), &SledOptions::default()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "the data directory holds on-disk format `redress-sled/99`; this build reads `redress-sled/1`"
    );
}

#[test]
fn a_cursor_from_another_query_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let store = SledStore::open(dir.path(), &SledOptions::default()).unwrap();
    let mut query = ListQuery::tenant(&TenantId::from_static("default"));
    query.cursor = Some("zz".into());
    assert!(matches!(store.list(&query), Err(StoreError::BadCursor)));
    query.cursor = Some(hex::encode(b"sdefault\0accepted\0"));
    assert!(matches!(store.list(&query), Err(StoreError::BadCursor)));
}

/// Registers one banking case in a fresh store.
fn one_banking_case(store: &SledStore, now: Timestamp) -> redress_domain::Case {
    let Created::New(case) = store
        .create(NewCase {
            id: CaseId::from_parts(1, 1),
            tracking_code: TrackingCode::from_random(1),
            tenant: TenantId::default_tenant(),
            intake: intake(Sector::Banking, 0),
            repeat: Default::default(),
            actor: Actor::api("intake"),
            now,
            idempotency_key: None,
            then: None,
        })
        .unwrap()
    else {
        panic!("not new")
    };
    case
}

/// Security review: reading another tenant's existing case was measurably slower than an id
/// never issued (its snapshot was parsed before its tenant was compared). Both now take the
/// same path: one ownership probe, no snapshot read. (The timing itself is measured by the
/// `store/get` group of `benches/intake.rs`, not here.)
#[test]
fn another_tenants_case_reads_like_a_never_issued_id() {
    use super::sled_store::read_counts::during;
    let dir = tempfile::tempdir().unwrap();
    let store = SledStore::open(dir.path(), &SledOptions::default()).unwrap();
    let case = one_banking_case(&store, Timestamp::from_second(1_770_000_000).unwrap());
    let never_issued = CaseId::from_parts(2, 2);
    let (other, other_probes, other_reads) = during(|| {
        store
            .get(&TenantId::from_static("acme-bank"), case.id)
            .unwrap()
    });
    let (missing, missing_probes, missing_reads) = during(|| {
        store
            .get(&TenantId::from_static("acme-bank"), never_issued)
            .unwrap()
    });
    assert_eq!((other, missing), (None, None));
    assert_eq!((other_probes, other_reads), (1, 0), "another tenant's case");
    assert_eq!(
        (missing_probes, missing_reads),
        (other_probes, other_reads),
        "an id never issued"
    );
    // The events of another tenant's case are as absent, by the same path.
    let (events, probes, reads) = during(|| {
        store
            .events(&TenantId::from_static("acme-bank"), case.id)
            .unwrap()
    });
    assert_eq!((events.is_none(), probes, reads), (true, 1, 0));
    // Its own tenant reads it.
    let (own, probes, reads) = during(|| {
        store
            .get(&TenantId::from_static("default"), case.id)
            .unwrap()
    });
    assert_eq!((own.map(|c| c.id), probes, reads), (Some(case.id), 1, 1));
}

#[test]
fn editing_a_stored_event_is_detected() {
    let dir = tempfile::tempdir().unwrap();
    let store = SledStore::open(dir.path(), &SledOptions::default()).unwrap();
    let now: Timestamp = "2026-02-14T00:00:00Z".parse().unwrap();
    let case = one_banking_case(&store, now);
    store
        .append(Append::action(
            &TenantId::from_static("default"),
            case.id,
            action(0),
            Actor::api("h"),
            now,
        ))
        .unwrap();
    assert!(store.verify().unwrap().is_clean());
    let key = [case.id.to_bytes().as_slice(), &1u64.to_be_bytes()].concat();
    let original = store.events_tree().get(&key).unwrap().unwrap();
    let edited = String::from_utf8(original.to_vec())
        .unwrap()
        .replace("撤销不当扣费", "撤销扣费");
    store.events_tree().insert(&key, edited.as_bytes()).unwrap();
    let report = store.verify().unwrap();
    assert_eq!(report.problems.len(), 1, "{report:?}");
    assert_eq!(report.problems[0].case_id, case.id.to_string());
    assert!(
        report.problems[0]
            .problem
            .contains("does not match its content"),
        "{report:?}"
    );
}

/// Appends decide outside the transaction on the case as read, and must decide again when
/// another write got in between: concurrent writers on one case lose nothing and the chain
/// stays whole (a stale decision would reuse a sequence number or a previous hash).
#[test]
fn concurrent_appends_to_one_case_are_all_kept_in_one_chain() {
    let dir = tempfile::tempdir().unwrap();
    let store = SledStore::open(dir.path(), &SledOptions::default()).unwrap();
    let now: Timestamp = "2026-02-14T00:00:00Z".parse().unwrap();
    let case = one_banking_case(&store, now);
    let (writers, notes) = (4, 25);
    std::thread::scope(|scope| {
        for writer in 0..writers {
            let store = &store;
            scope.spawn(move || {
                for n in 0..notes {
                    store
                        .append(Append::action(
                            &TenantId::from_static("default"),
                            case.id,
                            HandlerAction::Note {
                                text: format!("writer {writer}, note {n}"),
                            },
                            Actor::api("h"),
                            now,
                        ))
                        .unwrap();
                }
            });
        }
    });
    let events = store
        .events(&TenantId::from_static("default"), case.id)
        .unwrap()
        .unwrap();
    assert_eq!(events.len(), 1 + writers * notes);
    assert_eq!(
        store
            .get(&TenantId::from_static("default"), case.id)
            .unwrap()
            .unwrap()
            .version,
        (1 + writers * notes) as u64
    );
    assert!(store.verify().unwrap().is_clean());
}

/// Regression (issue #13, "one tenant's slow rule stalls every tenant"): when a write got in
/// between the read and the write, the plan used to be run again *inside* sled's transaction,
/// under its process-wide lock, so a slow rule held up every other tenant's reads and writes.
/// Here the plan's first run lets another write in (forcing the conflict), and its second run
/// asks another thread to read another case: inside the lock that read would wait for the plan
/// itself, and the plan would give up after 5 s.
#[test]
fn append_never_decides_inside_a_transaction() {
    use std::sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
        mpsc,
    };
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SledStore::open(dir.path(), &SledOptions::default()).unwrap());
    let now: Timestamp = "2026-02-14T00:00:00Z".parse().unwrap();
    let case = one_banking_case(&store, now);
    let other = store
        .create(NewCase {
            id: CaseId::from_parts(2, 2),
            tracking_code: TrackingCode::from_random(2),
            tenant: TenantId::from_static("another"),
            intake: intake(Sector::Banking, 0),
            repeat: Default::default(),
            actor: Actor::api("intake"),
            now,
            idempotency_key: None,
            then: None,
        })
        .unwrap();
    let other_id = match other {
        Created::New(c) | Created::Existing(c) => c.id,
    };
    let runs = Arc::new(AtomicUsize::new(0));
    let read_blocked = Arc::new(AtomicUsize::new(0));
    let plan: Plan = {
        let (store, runs, read_blocked) = (
            Arc::clone(&store),
            Arc::clone(&runs),
            Arc::clone(&read_blocked),
        );
        Arc::new(move |_case, _now| {
            let run = runs.fetch_add(1, Ordering::SeqCst);
            if run == 0 {
                // Another writer gets in first (from another thread, so no lock of ours is held).
                let store = Arc::clone(&store);
                std::thread::spawn(move || {
                    store
                        .append(Append::action(
                            &TenantId::from_static("default"),
                            case.id,
                            HandlerAction::Note {
                                text: "first".into(),
                            },
                            Actor::api("h"),
                            now,
                        ))
                        .unwrap();
                })
                .join()
                .unwrap();
            } else {
                // The slow rule: meanwhile another tenant reads its own case.
                let (done, waited) = mpsc::channel();
                let store = Arc::clone(&store);
                std::thread::spawn(move || {
                    let _ = store.get(&TenantId::from_static("another"), other_id);
                    let _ = done.send(());
                });
                if waited
                    .recv_timeout(std::time::Duration::from_secs(5))
                    .is_err()
                {
                    read_blocked.fetch_add(1, Ordering::SeqCst);
                }
            }
            Ok(vec![redress_domain::EventKind::Handler {
                action: HandlerAction::Note {
                    text: "second".into(),
                },
            }])
        })
    };
    store
        .append(Append {
            tenant: Some(TenantId::default_tenant()),
            id: case.id,
            plan,
            actor: Actor::api("h"),
            now,
            expected_version: None,
        })
        .unwrap();
    assert_eq!(
        runs.load(Ordering::SeqCst),
        2,
        "decided again after the conflict"
    );
    assert_eq!(
        read_blocked.load(Ordering::SeqCst),
        0,
        "another tenant's read waited for the rule: the plan ran inside the transaction"
    );
    assert_eq!(
        store
            .get(&TenantId::from_static("default"), case.id)
            .unwrap()
            .unwrap()
            .version,
        3
    );
    assert!(store.verify().unwrap().is_clean());
}

/// Regression (issue #13, "one changed byte in sled's data file silently loses cases"): sled
/// treats a damaged log message as the end of its log, so the acknowledged writes after it
/// vanish and the rest verified clean. Here the loss is made by hand (sled's own trees
/// edited the way a cut-short log leaves them): one case gone, one case back at an earlier
/// version; the acknowledgement ledger names both, at open and in `verify`.
#[test]
fn acknowledged_writes_lost_by_the_store_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let now: Timestamp = "2026-02-14T00:00:00Z".parse().unwrap();
    let (kept, shortened, gone) = {
        let store = SledStore::open(dir.path(), &SledOptions::default()).unwrap();
        let mut ids = Vec::new();
        for n in 0..3u8 {
            let Created::New(case) = store
                .create(NewCase {
                    id: CaseId::from_parts(10, u128::from(n)),
                    tracking_code: TrackingCode::from_random(u64::from(n) + 10),
                    tenant: TenantId::default_tenant(),
                    intake: intake(Sector::Banking, 0),
                    repeat: Default::default(),
                    actor: Actor::api("intake"),
                    now,
                    idempotency_key: None,
                    then: None,
                })
                .unwrap()
            else {
                panic!("not new")
            };
            ids.push(case);
        }
        let before = ids[1].clone();
        store
            .append(Append::action(
                &TenantId::from_static("default"),
                before.id,
                action(11),
                Actor::api("h"),
                now,
            ))
            .unwrap();
        assert!(store.acknowledged_losses().is_empty());
        assert!(store.verify().unwrap().is_clean());
        // What a log cut short after the first writes leaves: the second case's note and the
        // third case are not there.
        let key = [before.id.to_bytes().as_slice(), &2u64.to_be_bytes()].concat();
        store.events_tree().remove(&key).unwrap();
        store
            .cases_tree()
            .insert(before.id.to_bytes(), serde_json::to_vec(&before).unwrap())
            .unwrap();
        store
            .heads_tree()
            .insert(
                before.id.to_bytes(),
                sled_store::head_value(&before).as_slice(),
            )
            .unwrap();
        let gone = ids[2].id;
        store.cases_tree().remove(gone.to_bytes()).unwrap();
        store.heads_tree().remove(gone.to_bytes()).unwrap();
        let first = [gone.to_bytes().as_slice(), &1u64.to_be_bytes()].concat();
        store.events_tree().remove(&first).unwrap();
        store.flush().unwrap();
        (ids[0].id, before.id, gone)
    };
    let store = SledStore::open(dir.path(), &SledOptions::default()).unwrap();
    let losses = store.acknowledged_losses();
    let named: Vec<&str> = losses.iter().map(|p| p.case_id.as_str()).collect();
    assert_eq!(losses.len(), 2, "{losses:?}");
    assert!(!named.contains(&kept.to_string().as_str()));
    let shortened_problem = losses
        .iter()
        .find(|p| p.case_id == shortened.to_string())
        .unwrap();
    assert!(
        shortened_problem
            .problem
            .contains("acknowledged at version 2"),
        "{losses:?}"
    );
    let gone_problem = losses
        .iter()
        .find(|p| p.case_id == gone.to_string())
        .unwrap();
    assert!(gone_problem.problem.contains("missing"), "{losses:?}");
    // What remains verifies on its own; only the ledger knows better.
    let report = store.verify().unwrap();
    assert_eq!(report.problems.len(), 2, "{report:?}");
    // The ledger is kept as evidence: a second open names them again.
    drop(store);
    let store = SledStore::open(dir.path(), &SledOptions::default()).unwrap();
    assert_eq!(store.acknowledged_losses().len(), 2);
}

/// A restart reopens the directory at once, even while sled's threads still hold its lock for
/// a moment; a directory another store really holds is still refused, saying so in words.
#[test]
fn a_reopen_waits_for_the_lock_but_a_held_directory_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    for _ in 0..20 {
        let store = SledStore::open(dir.path(), &SledOptions::default()).unwrap();
        drop(store);
    }
    let _held = SledStore::open(dir.path(), &SledOptions::default()).unwrap();
    let err = SledStore::open(dir.path(), &SledOptions::default()).unwrap_err();
    assert!(matches!(err, StoreError::Locked { .. }), "{err:?}");
    assert!(
        err.to_string().contains("in use by another process"),
        "{err}"
    );
}

/// Not a test: `scripts/golden-store` runs it to write a data directory's stored bytes (every
/// event and snapshot, exactly as kept) for the domain's golden-store test.
#[test]
#[ignore]
fn dump_golden_store() {
    use std::io::Write;
    let (Ok(data), Ok(out)) = (
        std::env::var("REDRESS_GOLDEN_DATA"),
        std::env::var("REDRESS_GOLDEN_OUT"),
    ) else {
        return;
    };
    let db = ::sled::open(&data).unwrap();
    let mut events = std::fs::File::create(format!("{out}.events.jsonl")).unwrap();
    for item in db.open_tree("events").unwrap().iter() {
        let (_, value) = item.unwrap();
        events.write_all(&value).unwrap();
        events.write_all(b"\n").unwrap();
    }
    let mut cases = std::fs::File::create(format!("{out}.cases.jsonl")).unwrap();
    for item in db.open_tree("cases").unwrap().iter() {
        let (_, value) = item.unwrap();
        cases.write_all(&value).unwrap();
        cases.write_all(b"\n").unwrap();
    }
}

/// Repeat detection reads an index range: the snapshots it parses are the cases it returns (at
/// most the limit), however many other cases the tenant has, and a directory indexed under the
/// previous layout gets the complainant index when it is opened.
#[test]
fn earlier_cases_of_a_complainant_come_from_an_index_range() {
    use super::sled_store::read_counts::during;
    use redress_domain::repeat::{ComplainantIdentifier, ComplainantKey, RepeatFacts};
    let key = |i: u8| ComplainantKey {
        identifier: ComplainantIdentifier::Phone,
        digest: redress_domain::Hash([i; 32]),
    };
    let dir = tempfile::tempdir().unwrap();
    let now = Timestamp::from_second(1_770_000_000).unwrap();
    let mut ids = Vec::new();
    {
        let store = SledStore::open(dir.path(), &SledOptions::default()).unwrap();
        // 200 cases: every tenth of complainant 1, received an hour apart; the rest of others.
        for n in 0..200u64 {
            let complainant = if n % 10 == 0 { 1 } else { 2 + (n % 7) as u8 };
            let mut intake = intake(Sector::Banking, 0);
            intake.received_at = Some(now + SignedDuration::from_hours(n as i64));
            let Created::New(case) = store
                .create(NewCase {
                    id: CaseId::from_parts(n + 1, u128::from(n)),
                    tracking_code: TrackingCode::from_random(n * 7919 + 1),
                    tenant: redress_domain::TenantId::default_tenant(),
                    intake,
                    repeat: RepeatFacts {
                        complainant_key: Some(key(complainant)),
                        repeat_of: Vec::new(),
                    },
                    actor: Actor::api("intake"),
                    now,
                    idempotency_key: None,
                    then: None,
                })
                .unwrap()
            else {
                panic!("not new")
            };
            if complainant == 1 {
                ids.push(case.id);
            }
        }
    }
    let store = SledStore::open(dir.path(), &SledOptions::default()).unwrap();
    let query = |from_h: i64, until_h: i64, limit: usize| ComplainantQuery {
        tenant: redress_domain::TenantId::default_tenant(),
        digest: key(1).digest,
        received_from: now + SignedDuration::from_hours(from_h),
        received_until: now + SignedDuration::from_hours(until_h),
        limit,
    };
    let (found, _, reads) = during(|| store.same_complainant(&query(0, 1_000, 50)).unwrap());
    let newest_first: Vec<CaseId> = ids.iter().rev().copied().collect();
    assert_eq!(found.iter().map(|c| c.id).collect::<Vec<_>>(), newest_first);
    assert_eq!(reads, 20, "one snapshot per case returned");
    // Both ends of the range are included; the limit keeps the newest.
    let (found, _, reads) = during(|| store.same_complainant(&query(50, 150, 3)).unwrap());
    assert_eq!(
        found.iter().map(|c| c.id).collect::<Vec<_>>(),
        newest_first[4..7]
    );
    assert_eq!(reads, 3);
    // Another tenant sees none of them.
    let mut other = query(0, 1_000, 50);
    other.tenant = redress_domain::TenantId::from_static("acme-bank");
    assert!(store.same_complainant(&other).unwrap().is_empty());
}

/// A store indexed under the previous layout (no complainant keys) is re-indexed when opened.
#[test]
fn an_index_of_the_previous_layout_is_rebuilt_with_complainant_keys() {
    use redress_domain::repeat::{ComplainantIdentifier, ComplainantKey, RepeatFacts};
    let dir = tempfile::tempdir().unwrap();
    let now = Timestamp::from_second(1_770_000_000).unwrap();
    let digest = redress_domain::Hash([9; 32]);
    {
        let store = SledStore::open(dir.path(), &SledOptions::default()).unwrap();
        store
            .create(NewCase {
                id: CaseId::from_parts(1, 1),
                tracking_code: TrackingCode::from_random(1),
                tenant: redress_domain::TenantId::default_tenant(),
                intake: intake(Sector::Banking, 0),
                repeat: RepeatFacts {
                    complainant_key: Some(ComplainantKey {
                        identifier: ComplainantIdentifier::IdentityNumber,
                        digest,
                    }),
                    repeat_of: Vec::new(),
                },
                actor: Actor::api("intake"),
                now,
                idempotency_key: None,
                then: None,
            })
            .unwrap();
    }
    {
        // What a build of layout 3 left: no complainant keys, its own layout mark.
        let db = ::sled::open(dir.path()).unwrap();
        let index = db.open_tree("index").unwrap();
        for key in index.scan_prefix(b"i").keys() {
            index.remove(key.unwrap()).unwrap();
        }
        db.insert(
            b"index-layout",
            b"3: manual, provisional, open clocks by calendar; heads".as_slice(),
        )
        .unwrap();
        db.flush().unwrap();
    }
    let store = SledStore::open(dir.path(), &SledOptions::default()).unwrap();
    let found = store
        .same_complainant(&ComplainantQuery {
            tenant: redress_domain::TenantId::default_tenant(),
            digest,
            received_from: Timestamp::MIN,
            received_until: Timestamp::MAX,
            limit: 50,
        })
        .unwrap();
    assert_eq!(found.len(), 1);
}

/// A work queue (`ListQuery::office` / `assignee`): the open cases the office has, overdue
/// first, then soonest due, then without a running clock (oldest received first); a case that
/// leaves the office or ends leaves the queue. Both stores agree.
#[test]
fn an_office_queue_lists_overdue_then_due_soonest_then_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let sled = SledStore::open(dir.path(), &SledOptions::default()).unwrap();
    let model = MemoryStore::new();
    let tenant = TenantId::default_tenant();
    let base: Timestamp = "2026-02-14T00:00:00Z".parse().unwrap();
    let stores: [&dyn CaseStore; 2] = [&sled, &model];
    let mut ids = Vec::new();
    for n in 0..5u64 {
        let new = NewCase {
            id: CaseId::from_parts(n + 1, 1),
            tracking_code: TrackingCode::from_random(n),
            tenant: tenant.clone(),
            intake: intake(Sector::Banking, n as i64),
            repeat: Default::default(),
            actor: Actor::api("intake"),
            now: base,
            idempotency_key: None,
            then: None,
        };
        for store in stores {
            store.create(new.clone()).unwrap();
        }
        ids.push(new.id);
    }
    let act = |id: CaseId, action: HandlerAction| {
        for store in stores {
            store
                .append(Append::action(
                    &tenant,
                    id,
                    action.clone(),
                    Actor::api("s"),
                    base,
                ))
                .unwrap();
        }
    };
    let clock = |id: CaseId, change: ClockChange| {
        for store in stores {
            let change = change.clone();
            let plan: Plan = std::sync::Arc::new(move |_, _| {
                Ok(vec![EventKind::Clock {
                    name: "x".into(),
                    change: change.clone(),
                }])
            });
            store
                .append(Append {
                    tenant: None,
                    id,
                    plan,
                    actor: Actor::system(),
                    now: base,
                    expected_version: None,
                })
                .unwrap();
        }
    };
    let assign = |office: &str| HandlerAction::Assign {
        assignee: "li.si".into(),
        office: Some(office.into()),
    };
    // 0: no clock; 1: due in 100 h; 2: due in 10 h; 3: breached; 4: another office.
    for (i, office) in [(0, "A"), (1, "A"), (2, "A"), (3, "A"), (4, "B")] {
        act(ids[i], HandlerAction::Accept { note: None });
        act(ids[i], assign(office));
    }
    clock(
        ids[1],
        clock_change(0, base + SignedDuration::from_hours(100), base),
    );
    clock(
        ids[2],
        clock_change(0, base + SignedDuration::from_hours(10), base),
    );
    clock(
        ids[3],
        clock_change(0, base + SignedDuration::from_hours(5), base),
    );
    clock(ids[3], clock_change(5, base, base));
    let queue = |office: &str| {
        let mut query = ListQuery::tenant(&tenant);
        query.office = Some(office.into());
        query.limit = 2;
        let pages: Vec<_> = stores
            .iter()
            .map(|s| all_pages(*s, query.clone()).unwrap().concat())
            .collect();
        assert_eq!(pages[0], pages[1], "sled and the model agree");
        pages[0].clone()
    };
    assert_eq!(queue("A"), [ids[3], ids[2], ids[1], ids[0]]);
    assert_eq!(queue("B"), [ids[4]]);
    // Resolved, it leaves the queue; reassigned to B, it moves there.
    act(
        ids[2],
        HandlerAction::Resolve {
            outcome: "refund".into(),
        },
    );
    act(ids[1], assign("B"));
    assert_eq!(queue("A"), [ids[3], ids[0]]);
    assert_eq!(queue("B"), [ids[1], ids[4]]);
    let mut mine = ListQuery::tenant(&tenant);
    mine.assignee = Some("li.si".into());
    assert_eq!(all_pages(&sled, mine).unwrap().concat().len(), 4);
}

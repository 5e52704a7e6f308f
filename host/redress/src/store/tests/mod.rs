//! The sled store checked against the in-memory model: random sequences of operations,
//! including restarts (close and reopen the data directory), must give identical results.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use jiff::{SignedDuration, Timestamp};
use proptest::prelude::*;
use redress_domain::TenantId;
use redress_domain::{
    Actor, CaseId, CaseIntake, EventKind, HandlerAction, Status, TrackingCode,
    case::Sector,
    clock::{ClockChange, Schedule},
};

use super::*;

fn intake(sector: Sector, received_offset_h: i64) -> CaseIntake {
    let received: Timestamp = "2026-02-13T02:00:00Z".parse().unwrap();
    let mut intake: CaseIntake = serde_json::from_value(serde_json::json!({
        "sector": "banking",
        "channel": "web",
        "complainant": {"name": "王五", "phone": "13900000000"},
        "respondent": {"name": "某银行", "division_code": "110105"},
        "claim": "撤销不当扣费"
    }))
    .unwrap();
    intake.sector = sector;
    intake.received_at = Some(received + SignedDuration::from_hours(received_offset_h));
    intake
}

fn action(index: u8) -> HandlerAction {
    match index % 12 {
        0 => HandlerAction::Accept { note: None },
        1 => HandlerAction::Reject {
            reason: "no jurisdiction".into(),
            ground: Some("no_jurisdiction".into()),
            article: Some("art. 15(1)".into()),
        },
        2 => HandlerAction::Transfer {
            to_office: "330106-amr".into(),
            reason: "respondent's domicile".into(),
            supervisor_approved: false,
        },
        3 => HandlerAction::Assign {
            assignee: "li.si".into(),
            office: Some("330102-amr".into()),
        },
        4 => HandlerAction::StartInvestigation { note: None },
        5 => HandlerAction::StartMediation { note: None },
        6 => HandlerAction::Resolve {
            outcome: "refund".into(),
        },
        7 => HandlerAction::Terminate {
            reason: "no agreement".into(),
            ground: None,
        },
        8 => HandlerAction::Withdraw { reason: None },
        9 => HandlerAction::Close { note: None },
        10 => HandlerAction::Reopen {
            reason: "review requested".into(),
        },
        _ => HandlerAction::Note {
            text: "called back".into(),
        },
    }
}

fn clock_change(index: u8, due_at: Timestamp, now: Timestamp) -> ClockChange {
    let schedule = Schedule {
        due_at: Some(due_at),
        warning_at: Some(due_at - SignedDuration::from_hours(24)).filter(|w| *w > now),
        provisional: false,
        provisional_years: Vec::new(),
        explanation: std::sync::Arc::new(serde_json::json!({"test": true})),
    };
    match index {
        0 | 6 => ClockChange::Started {
            spec: serde_json::from_value(
                serde_json::json!({"name": "x", "amount": 7, "unit": "working_days"}),
            )
            .unwrap(),
            started_at: now,
            schedule,
        },
        1 => ClockChange::Paused {
            reason: "appraisal".into(),
        },
        2 => ClockChange::Resumed { schedule },
        3 => ClockChange::Stopped {
            met: true,
            reason: None,
        },
        4 => ClockChange::Warned,
        _ => ClockChange::Breached {
            escalated_to: Some("supervisor".into()),
        },
    }
}

#[derive(Debug, Clone)]
enum Op {
    Create {
        tenant: u8,
        sector: u8,
        offset_h: i64,
        idem: Option<u8>,
        complainant: Option<u8>,
    },
    Act {
        case: usize,
        action: u8,
        tenant: u8,
        stale_version: bool,
    },
    Clock {
        case: usize,
        clock: u8,
        change: u8,
        due_h: i64,
    },
    Due {
        until_h: i64,
    },
    Get {
        case: usize,
        tenant: u8,
    },
    List {
        tenant: u8,
        status: Option<u8>,
        sector: Option<u8>,
        received_window: bool,
        due_before_h: Option<i64>,
        overdue: bool,
        clock: Option<u8>,
        /// 0: none; 1, 2: an office's queue; 3: a person's queue.
        queue: u8,
        limit: usize,
    },
    /// Earlier cases by complainant key.
    SameComplainant {
        tenant: u8,
        complainant: u8,
        from_h: i64,
        until_h: i64,
        limit: usize,
    },
    Restart,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (0..2u8, 0..5u8, -48..48i64, proptest::option::weighted(0.3, 0..4u8), proptest::option::weighted(0.7, 0..3u8))
            .prop_map(|(tenant, sector, offset_h, idem, complainant)| Op::Create { tenant, sector, offset_h, idem, complainant }),
        2 => (0..2u8, 0..3u8, -60..48i64, 0..60i64, 1..4usize)
            .prop_map(|(tenant, complainant, from_h, span_h, limit)| Op::SameComplainant {
                tenant, complainant, from_h, until_h: from_h + span_h, limit
            }),
        6 => (0..16usize, 0..12u8, 0..5u8, proptest::bool::weighted(0.1))
            .prop_map(|(case, action, tenant, stale_version)| Op::Act { case, action, tenant: tenant.min(1), stale_version }),
        4 => (0..16usize, 0..2u8, 0..7u8, 1..400i64)
            .prop_map(|(case, clock, change, due_h)| Op::Clock { case, clock, change, due_h }),
        1 => (0..400i64).prop_map(|until_h| Op::Due { until_h }),
        1 => (0..16usize, 0..2u8).prop_map(|(case, tenant)| Op::Get { case, tenant }),
        3 => (
            (0..2u8, proptest::option::of(0..10u8), proptest::option::of(0..5u8), any::<bool>()),
            (proptest::option::weighted(0.3, 0..400i64), proptest::bool::weighted(0.2), proptest::option::weighted(0.2, 0..2u8), 1..5usize, 0..4u8),
        )
            .prop_map(|((tenant, status, sector, received_window), (due_before_h, overdue, clock, limit, queue))| Op::List {
                tenant,
                status,
                sector,
                received_window,
                due_before_h,
                overdue,
                clock,
                queue,
                limit,
            }),
        1 => Just(Op::Restart),
    ]
}

/// One of three complainants' keys (a test digest; the store only compares them).
fn complainant_key(i: u8) -> redress_domain::repeat::ComplainantKey {
    redress_domain::repeat::ComplainantKey {
        identifier: redress_domain::repeat::ComplainantIdentifier::Phone,
        digest: redress_domain::Hash([i; 32]),
    }
}

fn tenant(i: u8) -> TenantId {
    TenantId::from_static(["default", "acme-bank"][usize::from(i % 2)])
}

/// Errors compared by kind: the two backends word some of them differently.
fn kind(e: &StoreError) -> String {
    match e {
        StoreError::Refused(r) => format!("refused: {r}"),
        StoreError::NotFound(id) => format!("not found {id}"),
        StoreError::VersionConflict { expected, actual } => format!("conflict {expected} {actual}"),
        other => format!("other: {other}"),
    }
}

/// Follows cursors to the end and returns every page's case ids.
fn all_pages(store: &dyn CaseStore, mut query: ListQuery) -> Result<Vec<Vec<CaseId>>, String> {
    let mut pages = Vec::new();
    loop {
        let page = store.list(&query).map_err(|e| kind(&e))?;
        pages.push(page.cases.iter().map(|c| c.id).collect());
        match page.next_cursor {
            Some(cursor) if pages.len() < 100 => query.cursor = Some(cursor),
            _ => return Ok(pages),
        }
    }
}

fn run(ops: Vec<Op>) {
    let dir = tempfile::tempdir().unwrap();
    let mut sled = Some(SledStore::open(dir.path(), &SledOptions::default()).unwrap());
    let model = MemoryStore::new();
    let mut ids: Vec<CaseId> = Vec::new();
    let base: Timestamp = "2026-02-14T00:00:00Z".parse().unwrap();
    for (step, op) in ops.into_iter().enumerate() {
        let now = base + SignedDuration::from_secs(step as i64 * 60);
        let store = sled.as_ref().unwrap();
        match op {
            Op::Create {
                tenant: t,
                sector,
                offset_h,
                idem,
                complainant,
            } => {
                let new = NewCase {
                    id: CaseId::from_parts(now.as_millisecond() as u64, step as u128),
                    tracking_code: TrackingCode::from_random(step as u64 * 7919),
                    tenant: tenant(t),
                    intake: intake(Sector::ALL[usize::from(sector)], offset_h),
                    repeat: redress_domain::repeat::RepeatFacts {
                        complainant_key: complainant.map(complainant_key),
                        repeat_of: Vec::new(),
                    },
                    actor: Actor::api("intake"),
                    now,
                    idempotency_key: idem.map(|k| format!("key-{k}")),
                    then: None,
                };
                let a = store.create(new.clone()).map_err(|e| kind(&e));
                let b = model.create(new).map_err(|e| kind(&e));
                assert_eq!(a, b, "step {step}: create");
                if let Ok(Created::New(case)) = a {
                    ids.push(case.id);
                }
            }
            Op::Act {
                case,
                action: a,
                tenant: t,
                stale_version,
            } => {
                let Some(id) = ids.get(case % ids.len().max(1)).copied() else {
                    continue;
                };
                let expected_version = if stale_version { Some(0) } else { None };
                let mut append =
                    Append::action(&tenant(t), id, action(a), Actor::api("handler"), now);
                append.expected_version = expected_version;
                let x = store.append(append.clone()).map_err(|e| kind(&e));
                let y = model.append(append).map_err(|e| kind(&e));
                assert_eq!(x, y, "step {step}: append");
            }
            Op::Get { case, tenant: t } => {
                let Some(id) = ids.get(case % ids.len().max(1)).copied() else {
                    continue;
                };
                assert_eq!(
                    store.get(&tenant(t), id).unwrap(),
                    model.get(&tenant(t), id).unwrap(),
                    "step {step}: get"
                );
                assert_eq!(
                    store.events(&tenant(t), id).unwrap(),
                    model.events(&tenant(t), id).unwrap(),
                    "step {step}: events"
                );
            }
            Op::Clock {
                case,
                clock,
                change,
                due_h,
            } => {
                let Some(id) = ids.get(case % ids.len().max(1)).copied() else {
                    continue;
                };
                let name = ["acceptance", "mediation"][usize::from(clock % 2)].to_owned();
                let change = clock_change(change, base + SignedDuration::from_hours(due_h), now);
                let plan: Plan = std::sync::Arc::new(move |_, _| {
                    Ok(vec![EventKind::Clock {
                        name: name.clone(),
                        change: change.clone(),
                    }])
                });
                let append = Append {
                    tenant: None,
                    id,
                    plan,
                    actor: Actor::system(),
                    now,
                    expected_version: None,
                };
                let x = store.append(append.clone()).map_err(|e| kind(&e));
                let y = model.append(append).map_err(|e| kind(&e));
                assert_eq!(x, y, "step {step}: clock");
            }
            Op::Due { until_h } => {
                let until = base + SignedDuration::from_hours(until_h);
                assert_eq!(
                    store.due(until, 5).unwrap(),
                    model.due(until, 5).unwrap(),
                    "step {step}: due"
                );
            }
            Op::List {
                tenant: t,
                status,
                sector,
                received_window,
                due_before_h,
                overdue,
                clock,
                queue,
                limit,
            } => {
                let mut query = ListQuery::tenant(&tenant(t));
                match queue {
                    1 => query.office = Some("330106-amr".into()),
                    2 => query.office = Some("330102-amr".into()),
                    3 => query.assignee = Some("li.si".into()),
                    _ => {}
                }
                query.status = status.map(|s| Status::ALL[usize::from(s)]);
                query.sector = sector.map(|s| Sector::ALL[usize::from(s)]);
                if received_window {
                    query.received_from = Some("2026-02-12T00:00:00Z".parse().unwrap());
                    query.received_before = Some("2026-02-14T00:00:00Z".parse().unwrap());
                }
                query.due_before = due_before_h.map(|h| base + SignedDuration::from_hours(h));
                query.overdue = overdue;
                query.clock = clock.map(|c| ["acceptance", "mediation"][usize::from(c)].to_owned());
                query.limit = limit;
                // The board's open cases: from the index keys (sled) and from the listing
                // (the trait's default, which the model uses) alike.
                let open = |s: &dyn CaseStore| {
                    let mut open = s
                        .open_cases(&query.tenant, query.office.as_deref())
                        .unwrap();
                    open.received.sort();
                    open
                };
                assert_eq!(open(store), open(&model), "step {step}: open cases");
                assert_eq!(
                    all_pages(store, query.clone()),
                    all_pages(&model, query),
                    "step {step}: list"
                );
            }
            Op::SameComplainant {
                tenant: t,
                complainant,
                from_h,
                until_h,
                limit,
            } => {
                // Cases are received around 2026-02-13T02:00Z (± 48 h).
                let received: Timestamp = "2026-02-13T02:00:00Z".parse().unwrap();
                let query = ComplainantQuery {
                    tenant: tenant(t),
                    digest: complainant_key(complainant).digest,
                    received_from: received + SignedDuration::from_hours(from_h),
                    received_until: received + SignedDuration::from_hours(until_h),
                    limit,
                };
                let found = store.same_complainant(&query).unwrap();
                assert!(found.iter().all(|c| query.matches(c)), "step {step}");
                assert_eq!(
                    found,
                    model.same_complainant(&query).unwrap(),
                    "step {step}: same complainant"
                );
            }
            Op::Restart => {
                drop(sled.take());
                sled = Some(SledStore::open(dir.path(), &SledOptions::default()).unwrap());
            }
        }
    }
    let store = sled.as_ref().unwrap();
    let report = store.verify().unwrap();
    assert!(report.is_clean(), "{report:?}");
    assert_eq!(report.cases_checked, ids.len() as u64);
    assert_eq!(report, model.verify().unwrap());
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, max_shrink_iters: 200, ..ProptestConfig::default() })]

    #[test]
    fn sled_store_matches_the_in_memory_model(ops in proptest::collection::vec(op(), 1..40)) {
        run(ops);
    }
}

mod sled_backend;

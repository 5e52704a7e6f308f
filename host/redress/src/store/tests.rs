//! The sled store checked against the in-memory model: random sequences of operations,
//! including restarts (close and reopen the data directory), must give identical results.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use jiff::{SignedDuration, Timestamp};
use proptest::prelude::*;
use redress_domain::{
    Actor, CaseId, CaseIntake, HandlerAction, Status, TrackingCode, case::Sector,
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
        },
        3 => HandlerAction::Assign {
            assignee: "li.si".into(),
            office: None,
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

#[derive(Debug, Clone)]
enum Op {
    Create {
        tenant: u8,
        sector: u8,
        offset_h: i64,
        idem: Option<u8>,
    },
    Act {
        case: usize,
        action: u8,
        tenant: u8,
        stale_version: bool,
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
        limit: usize,
    },
    Restart,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (0..2u8, 0..5u8, -48..48i64, proptest::option::weighted(0.3, 0..4u8))
            .prop_map(|(tenant, sector, offset_h, idem)| Op::Create { tenant, sector, offset_h, idem }),
        6 => (0..16usize, 0..12u8, 0..5u8, proptest::bool::weighted(0.1))
            .prop_map(|(case, action, tenant, stale_version)| Op::Act { case, action, tenant: tenant.min(1), stale_version }),
        1 => (0..16usize, 0..2u8).prop_map(|(case, tenant)| Op::Get { case, tenant }),
        2 => (0..2u8, proptest::option::of(0..10u8), proptest::option::of(0..5u8), any::<bool>(), 1..5usize)
            .prop_map(|(tenant, status, sector, received_window, limit)| Op::List { tenant, status, sector, received_window, limit }),
        1 => Just(Op::Restart),
    ]
}

fn tenant(i: u8) -> String {
    ["default", "acme-bank"][usize::from(i % 2)].to_owned()
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
            } => {
                let new = NewCase {
                    id: CaseId::from_parts(now.as_millisecond() as u64, step as u128),
                    tracking_code: TrackingCode::from_random(step as u64 * 7919),
                    tenant: tenant(t),
                    intake: intake(Sector::ALL[usize::from(sector)], offset_h),
                    actor: Actor::api("intake"),
                    now,
                    idempotency_key: idem.map(|k| format!("key-{k}")),
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
                let append = Append {
                    tenant: tenant(t),
                    id,
                    action: action(a),
                    actor: Actor::api("handler"),
                    now,
                    expected_version,
                };
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
            Op::List {
                tenant: t,
                status,
                sector,
                received_window,
                limit,
            } => {
                let mut query = ListQuery::tenant(&tenant(t));
                query.status = status.map(|s| Status::ALL[usize::from(s)]);
                query.sector = sector.map(|s| Sector::ALL[usize::from(s)]);
                if received_window {
                    query.received_from = Some("2026-02-12T00:00:00Z".parse().unwrap());
                    query.received_before = Some("2026-02-14T00:00:00Z".parse().unwrap());
                }
                query.limit = limit;
                assert_eq!(
                    all_pages(store, query.clone()),
                    all_pages(&model, query),
                    "step {step}: list"
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

#[test]
fn a_data_directory_of_another_format_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    {
        let db = sled::open(dir.path()).unwrap();
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
    let mut query = ListQuery::tenant("default");
    query.cursor = Some("zz".into());
    assert!(matches!(store.list(&query), Err(StoreError::BadCursor)));
    query.cursor = Some(hex::encode(b"sdefault\0accepted\0"));
    assert!(matches!(store.list(&query), Err(StoreError::BadCursor)));
}

#[test]
fn editing_a_stored_event_is_detected() {
    let dir = tempfile::tempdir().unwrap();
    let store = SledStore::open(dir.path(), &SledOptions::default()).unwrap();
    let now: Timestamp = "2026-02-14T00:00:00Z".parse().unwrap();
    let Created::New(case) = store
        .create(NewCase {
            id: CaseId::from_parts(1, 1),
            tracking_code: TrackingCode::from_random(1),
            tenant: "default".into(),
            intake: intake(Sector::Banking, 0),
            actor: Actor::api("intake"),
            now,
            idempotency_key: None,
        })
        .unwrap()
    else {
        panic!("not new")
    };
    store
        .append(Append {
            tenant: "default".into(),
            id: case.id,
            action: action(0),
            actor: Actor::api("h"),
            now,
            expected_version: None,
        })
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

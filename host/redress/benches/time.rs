//! Statutory time: one deadline computation, and the scheduler's cost to find what is due.
//!
//! The scheduler part fills a store with N open cases, each with a running 7-working-day clock
//! (through the real write path: transactions, index maintenance; flushed once at the end), and
//! measures `CaseStore::due` — what one scheduler pass does — with a handful of clocks due, and
//! the listings a supervisor asks for (newest, filtered on a rare sector, due soonest). It runs
//! for N = 1,000 and N = 1,000,000 (`REDRESS_BENCH_OPEN_CLOCKS` overrides the large N) and
//! prints the data directory size per case.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{path::Path, sync::Arc, time::Instant};

use criterion::{BenchmarkId, Criterion};
use jiff::{SignedDuration, Timestamp};
use redress::store::{Append, CaseStore, ListQuery, NewCase, Plan, SledOptions, SledStore};
use redress_calendar::{CalendarSet, DeadlineOptions, Period};
use redress_domain::{
    Actor, CaseId, CaseIntake, EventKind, TrackingCode,
    clock::{ClockChange, ClockSpec, Schedule},
};

fn calendars() -> CalendarSet {
    CalendarSet::load_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../rulesets/calendars"))
        .unwrap()
}

fn bench_deadline(c: &mut Criterion) {
    let set = calendars();
    let calendar = set.get("cn-mainland").unwrap();
    let received: Timestamp = "2026-02-13T10:00:00+08:00".parse().unwrap();
    let mut group = c.benchmark_group("deadline");
    for (label, period) in [
        (
            "7 working days over Spring Festival",
            Period::working_days(7),
        ),
        ("45 working days", Period::working_days(45)),
        ("15 calendar days, roll forward", Period::calendar_days(15)),
    ] {
        group.bench_function(label, |b| {
            b.iter(|| {
                redress_calendar::deadline(calendar, received, &period, &DeadlineOptions::default())
                    .unwrap()
            })
        });
    }
    group.finish();
}

/// One case in a thousand is a property complaint: a rare value, so a listing filtered on it
/// shows whether the filter walks an index or scans.
fn intake(n: u64) -> CaseIntake {
    let sector = if n % 1000 == 999 {
        "property"
    } else {
        "market_supervision"
    };
    serde_json::from_value(serde_json::json!({
        "sector": sector,
        "channel": "web",
        "respondent": {"name": "某某电器有限公司", "division_code": "330106"},
        "claim": "退货退款"
    }))
    .unwrap()
}

/// A store with `open` cases, each running a clock due at a different minute after `base`.
fn populate(dir: &Path, open: u64, base: Timestamp) -> (SledStore, std::time::Duration) {
    let store = SledStore::open(
        dir,
        &SledOptions {
            durable_writes: false,
            ..SledOptions::default()
        },
    )
    .unwrap();
    let spec: ClockSpec = serde_json::from_value(
        serde_json::json!({"name": "acceptance", "amount": 7, "unit": "working_days"}),
    )
    .unwrap();
    let started = Instant::now();
    for n in 0..open {
        let id = CaseId::from_parts(base.as_millisecond() as u64, u128::from(n));
        store
            .create(NewCase {
                id,
                tracking_code: TrackingCode::from_random(n),
                tenant: "default".into(),
                intake: intake(n),
                actor: Actor::system(),
                now: base,
                idempotency_key: None,
                then: None,
            })
            .unwrap();
        // Due times spread over the following weeks, one clock a minute.
        let due = base + SignedDuration::from_mins(60 + n as i64);
        let spec = spec.clone();
        let plan: Plan = Arc::new(move |_, now| {
            Ok(vec![EventKind::Clock {
                name: "acceptance".into(),
                change: ClockChange::Started {
                    spec: spec.clone(),
                    started_at: now,
                    schedule: Schedule {
                        due_at: Some(due),
                        warning_at: None,
                        provisional: false,
                        provisional_years: Vec::new(),
                        explanation: std::sync::Arc::new(serde_json::json!({})),
                    },
                },
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
    store.flush().unwrap();
    (store, started.elapsed())
}

fn dir_size(path: &Path) -> u64 {
    std::fs::read_dir(path)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|e| {
                    if e.path().is_dir() {
                        dir_size(&e.path())
                    } else {
                        e.metadata().map(|m| m.len()).unwrap_or(0)
                    }
                })
                .sum()
        })
        .unwrap_or(0)
}

fn bench_scheduler(c: &mut Criterion) {
    let large: u64 = std::env::var("REDRESS_BENCH_OPEN_CLOCKS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let base: Timestamp = "2026-03-02T00:00:00Z".parse().unwrap();
    let mut group = c.benchmark_group("scale");
    for open in [1_000, large] {
        let dir = tempfile::tempdir().unwrap();
        let (store, took) = populate(dir.path(), open, base);
        eprintln!(
            "  {open} open clocks loaded in {:.1} s; data directory {:.1} MiB ({:.0} bytes per case)",
            took.as_secs_f64(),
            dir_size(dir.path()) as f64 / 1_048_576.0,
            dir_size(dir.path()) as f64 / open as f64
        );
        // Ten clocks due (their due minutes have passed), the rest not yet.
        let now = base + SignedDuration::from_mins(60 + 9);
        assert_eq!(store.due(now, 256).unwrap().len(), 10);
        group.bench_with_input(BenchmarkId::new("find due clocks", open), &open, |b, _| {
            b.iter(|| store.due(now, 256).unwrap())
        });
        // The listings a supervisor's screen asks for, one page of 20 each.
        let query = |edit: &dyn Fn(&mut ListQuery)| {
            let mut query = ListQuery::tenant("default");
            query.limit = 20;
            edit(&mut query);
            query
        };
        let listings = [
            ("list: newest", query(&|_| {})),
            (
                "list: one sector in a thousand",
                query(&|q| q.sector = Some(redress_domain::case::Sector::Property)),
            ),
            (
                "list: due within a day, soonest first",
                query(&|q| q.due_before = Some(base + SignedDuration::from_hours(24))),
            ),
        ];
        for (label, query) in &listings {
            assert!(!store.list(query).unwrap().cases.is_empty(), "{label}");
            group.bench_with_input(BenchmarkId::new(*label, open), &open, |b, _| {
                b.iter(|| store.list(query).unwrap())
            });
        }
    }
    group.finish();
}

fn main() {
    let mut criterion = Criterion::default().configure_from_args();
    bench_deadline(&mut criterion);
    bench_scheduler(&mut criterion);
    criterion.final_summary();
}

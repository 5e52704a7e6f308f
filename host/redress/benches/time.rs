//! Statutory time: one deadline computation, and the scheduler's cost to find what is due.
//!
//! The scheduler part fills a store with N open cases, each with a running 7-working-day clock
//! (through the real write path: transactions, index maintenance; flushed once at the end), and
//! measures `CaseStore::due` — what one scheduler pass does — with a handful of clocks due, and
//! the listings a supervisor asks for (newest, filtered on a rare sector, due soonest). It runs
//! for N = 1,000 and N = 1,000,000 (`REDRESS_BENCH_OPEN_CLOCKS` overrides the large N) and
//! prints the data directory size per case.
//!
//! The revision part (issue #12) creates N cases (`REDRESS_BENCH_REVISION_CLOCKS`, default
//! 100,000), each with a running provisional clock that runs into 2027, through the service and
//! a durable sled store, then publishes a 2027 schedule that moves every one of them and times
//! the pass that records a `schedule_revised` event per clock, against the time it took to
//! create them. `cargo bench --bench time -- revision` runs only that part.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use redress_domain::TenantId;
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
                tenant: TenantId::default_tenant(),
                intake: intake(n),
                repeat: Default::default(),
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
            let mut query = ListQuery::tenant(&TenantId::default_tenant());
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

/// A hypothetical 2027 schedule (not the State Council's): 2027-01-04 is an in-lieu rest day,
/// which moves every provisional 7-working-day clock started on 2026-12-24 by a day.
const YEAR_2027: &str = r#"
years_for = "cn-mainland"

[[years]]
year = 2027
source = "BENCHMARK ONLY: a hypothetical 2027 schedule"

[[years.rest]]
name = "元旦"
first = 2027-01-01
last = 2027-01-04
in_lieu = [2027-01-04]

[[years.rest]]
name = "春节"
first = 2027-02-05
last = 2027-02-11

[[years.make_up]]
date = 2027-02-20
for = "春节"
"#;

fn bench_revision() {
    use redress::time_source::ManualTimeSource;
    let clocks: u64 = std::env::var("REDRESS_BENCH_REVISION_CLOCKS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let calendar_dir = dir.path().join("calendars");
    std::fs::create_dir_all(calendar_dir.join("statutes")).unwrap();
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../rulesets/calendars");
    for name in [
        "cn-mainland.toml",
        "cn-financial.toml",
        "statutes/cn-national-holidays.toml",
    ] {
        std::fs::copy(source.join(name), calendar_dir.join(name)).unwrap();
    }
    let now: Timestamp = "2026-12-24T02:00:00Z".parse().unwrap();
    // The application as the server assembles it, on a ruleset directory with calendars only.
    let data = redress::data_dir::DataDir::create(dir.path().join("data")).unwrap();
    let app = redress::app::App::open(redress::app::AppConfig::new(
        Some(data),
        dir.path().to_owned(),
        Arc::new(ManualTimeSource::new(now)),
    ))
    .unwrap()
    .service;
    let calendars = app.calendars().clone();
    let spec: ClockSpec = serde_json::from_value(
        serde_json::json!({"name": "acceptance", "amount": 7, "unit": "working_days"}),
    )
    .unwrap();
    let set = calendars.current();
    let schedule = redress::deadlines::schedule(&set, &spec, now, &[], &[]).unwrap();
    assert!(schedule.provisional);
    runtime.block_on(async {
        // The versions in force are recorded first (nothing to revise yet).
        app.reconcile_calendars().await.unwrap();
        let started = Instant::now();
        for n in 0..clocks {
            let id = CaseId::from_parts(now.as_millisecond() as u64, u128::from(n));
            let (spec, schedule) = (spec.clone(), schedule.clone());
            let then: Plan = Arc::new(move |_, now| {
                Ok(vec![EventKind::Clock {
                    name: "acceptance".into(),
                    change: ClockChange::Started {
                        spec: spec.clone(),
                        started_at: now,
                        schedule: schedule.clone(),
                    },
                }])
            });
            let store = Arc::clone(app.store());
            let new = NewCase {
                id,
                tracking_code: TrackingCode::from_random(n),
                tenant: TenantId::default_tenant(),
                intake: intake(n),
                repeat: Default::default(),
                actor: Actor::system(),
                now,
                idempotency_key: None,
                then: Some(then),
            };
            tokio::task::spawn_blocking(move || store.create(new))
                .await
                .unwrap()
                .unwrap();
        }
        let created = started.elapsed();
        let unchanged = Instant::now();
        // A pass with nothing changed in the calendars costs nothing: it reads one file.
        let idle = app.reconcile_calendars().await.unwrap();
        assert_eq!(idle.cases_checked, 0);
        let idle_took = unchanged.elapsed();
        std::fs::write(calendar_dir.join("cn-mainland-2027.toml"), YEAR_2027).unwrap();
        calendars.replace(CalendarSet::load_dir(&calendar_dir).unwrap());
        let started = Instant::now();
        let report = app.reconcile_calendars().await.unwrap();
        let revised = started.elapsed();
        assert_eq!(report.clocks_revised, clocks);
        eprintln!(
            "revision: {clocks} provisional clocks created (each case with its clock, one durable write) in {:.1} s ({:.0}/s); \
             the 2027 schedule revised all of them in {:.1} s ({:.0}/s): ratio revision / creation {:.2}; \
             a pass with no calendar change {:.1} ms",
            created.as_secs_f64(),
            clocks as f64 / created.as_secs_f64(),
            revised.as_secs_f64(),
            clocks as f64 / revised.as_secs_f64(),
            revised.as_secs_f64() / created.as_secs_f64(),
            idle_took.as_secs_f64() * 1e3,
        );
    });
}

fn main() {
    // `cargo bench --bench time -- revision`: the one-shot revision measurement alone.
    if std::env::args().any(|a| a == "revision") {
        bench_revision();
        return;
    }
    let mut criterion = Criterion::default().configure_from_args();
    bench_deadline(&mut criterion);
    bench_scheduler(&mut criterion);
    criterion.final_summary();
}

//! Case intake: through the store (durable) and through HTTP on loopback.
//!
//! Two parts in one run, so the ratio compares like with like on a noisy machine:
//! 1. criterion: the latency of one create, one at a time (`store/create`, `http/create`), and
//!    of a tenant-scoped read (`store/get`: another tenant's case must cost what an id never
//!    issued costs, or the time tells a guesser that the id exists);
//! 2. a concurrent load phase: N writers for a few seconds each way, printing cases per
//!    second, p50 / p99 latency and the ratio HTTP / store.
//!
//! `REDRESS_BENCH_SECONDS` (default 3) and `REDRESS_BENCH_CONCURRENCY` (default 16) tune part 2.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use criterion::Criterion;
use redress::{
    app::{App, AppConfig},
    clock::SystemClock,
    data_dir::DataDir,
    server,
    store::{CaseStore, Created, NewCase, SledOptions, SledStore, load::LoadFigures},
};
use redress_domain::{Actor, CaseId, CaseIntake, TrackingCode};

fn intake_json() -> serde_json::Value {
    serde_json::json!({
        "sector": "market_supervision",
        "channel": "hotline",
        "received_at": "2026-02-13T10:00:00+08:00",
        "complainant": {"name": "张三", "phone": "13800138000", "address": "杭州市西湖区文三路1号"},
        "respondent": {"name": "某某电器有限公司", "address": "杭州市西湖区", "division_code": "330106"},
        "claim": "退货退款",
        "facts": "空调安装后无法制冷，商家拒绝退货",
        "amount": {"value": "3999.00"},
        "evidence": [{"kind": "invoice", "reference": "INV-2026-0001"}]
    })
}

fn new_case(intake: &CaseIntake, n: u64) -> NewCase {
    let now = jiff::Timestamp::now();
    NewCase {
        id: CaseId::from_parts(
            now.as_millisecond() as u64,
            u128::from(n) << 32 | u128::from(rand_u32()),
        ),
        tracking_code: TrackingCode::from_random(u64::from(rand_u32()) << 8 | (n & 0xff)),
        tenant: "default".into(),
        intake: intake.clone(),
        repeat: Default::default(),
        actor: Actor::api("bench"),
        now,
        idempotency_key: None,
        then: None,
    }
}

fn rand_u32() -> u32 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0),
    );
    h.finish() as u32
}

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn print(figures: &LoadFigures, label: &str) {
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!(
        "{label:<28} {:>8.0} cases/s   p50 {:>8.2} ms   p99 {:>8.2} ms   max {:>8.2} ms   ({} cases)",
        figures.per_second(),
        ms(figures.p50),
        ms(figures.p99),
        ms(figures.max),
        figures.inserts
    );
}

fn bench_store(c: &mut Criterion, store: &Arc<SledStore>, intake: &CaseIntake) {
    let mut n = 0u64;
    c.bench_function("store/create (durable)", |b| {
        b.iter(|| {
            n += 1;
            store.create(new_case(intake, n)).unwrap()
        })
    });
}

fn bench_get(c: &mut Criterion, store: &Arc<SledStore>, intake: &CaseIntake) {
    let mut foreign = new_case(intake, 1);
    foreign.tenant = "acme-bank".into();
    let Created::New(foreign) = store.create(foreign).unwrap() else {
        panic!("not new")
    };
    // Drawn like a real id, beside the existing ones, so that both reads look in the same part
    // of the tree and differ only in whether the case exists.
    let never_issued = CaseId::from_parts(
        jiff::Timestamp::now().as_millisecond() as u64,
        u128::from(rand_u32()) << 64 | u128::from(rand_u32()),
    );
    let mut group = c.benchmark_group("store/get");
    group.bench_function("another tenant's case", |b| {
        b.iter(|| assert!(store.get("default", foreign.id).unwrap().is_none()))
    });
    group.bench_function("an id never issued", |b| {
        b.iter(|| assert!(store.get("default", never_issued).unwrap().is_none()))
    });
    group.bench_function("own case", |b| {
        b.iter(|| assert!(store.get("acme-bank", foreign.id).unwrap().is_some()))
    });
    group.finish();
}

fn bench_http(
    c: &mut Criterion,
    runtime: &tokio::runtime::Runtime,
    base: &str,
    body: &serde_json::Value,
) {
    let client = reqwest::Client::new();
    let url = format!("{base}/v1/cases");
    c.bench_function("http/create (durable)", |b| {
        b.to_async(runtime).iter(|| async {
            let response = client.post(&url).json(body).send().await.unwrap();
            assert_eq!(response.status(), 201);
            response.bytes().await.unwrap()
        })
    });
}

fn load_store(
    store: &Arc<SledStore>,
    intake: &CaseIntake,
    concurrency: u64,
    seconds: u64,
) -> LoadFigures {
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let handles: Vec<_> = (0..concurrency)
        .map(|worker| {
            let store = Arc::clone(store);
            let intake = intake.clone();
            std::thread::spawn(move || {
                let mut latencies = Vec::new();
                let mut n = worker << 40;
                while Instant::now() < deadline {
                    n += 1;
                    let t = Instant::now();
                    store.create(new_case(&intake, n)).unwrap();
                    latencies.push(t.elapsed());
                }
                latencies
            })
        })
        .collect();
    let latencies = handles
        .into_iter()
        .flat_map(|h| h.join().unwrap())
        .collect();
    LoadFigures::from_latencies(latencies, started.elapsed())
}

fn load_http(
    runtime: &tokio::runtime::Runtime,
    base: &str,
    body: &serde_json::Value,
    concurrency: u64,
    seconds: u64,
) -> LoadFigures {
    runtime.block_on(async {
        let client = reqwest::Client::new();
        let url = format!("{base}/v1/cases");
        let deadline = Instant::now() + Duration::from_secs(seconds);
        let started = Instant::now();
        let tasks: Vec<_> = (0..concurrency)
            .map(|_| {
                let client = client.clone();
                let url = url.clone();
                let body = body.clone();
                tokio::spawn(async move {
                    let mut latencies = Vec::new();
                    while Instant::now() < deadline {
                        let t = Instant::now();
                        let response = client.post(&url).json(&body).send().await.unwrap();
                        assert_eq!(response.status(), 201);
                        response.bytes().await.unwrap();
                        latencies.push(t.elapsed());
                    }
                    latencies
                })
            })
            .collect();
        let mut latencies = Vec::new();
        for task in tasks {
            latencies.extend(task.await.unwrap());
        }
        LoadFigures::from_latencies(latencies, started.elapsed())
    })
}

fn main() {
    let body = intake_json();
    let intake: CaseIntake = serde_json::from_value(body.clone()).unwrap();
    let store_dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SledStore::open(store_dir.path(), &SledOptions::default()).unwrap());

    let http_dir = tempfile::tempdir().unwrap();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let base = runtime.block_on(async {
        // The application as `redress serve` assembles it (open access, as `scripts/serve`):
        // every create below is decided by the built-in market-supervision ruleset, route and
        // acceptance clock in the same write as the registration.
        let rulesets = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../rulesets");
        let app = App::open(AppConfig {
            open_access: true,
            ..AppConfig::new(
                Some(DataDir::create(http_dir.path()).unwrap()),
                rulesets,
                Arc::new(SystemClock),
            )
        })
        .unwrap();
        assert!(
            !app.service.rules().summaries(None).is_empty(),
            "the built-in rulesets did not install"
        );
        let router = app.router(
            redress::server::extract::DEFAULT_BODY_LIMIT,
            redress::server::connections::DEFAULT_READ_TIMEOUT,
            None,
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(server::serve(listener, router, std::future::pending()));
        format!("http://{address}")
    });

    let mut criterion = Criterion::default().configure_from_args();
    bench_store(&mut criterion, &store, &intake);
    bench_get(&mut criterion, &store, &intake);
    bench_http(&mut criterion, &runtime, &base, &body);
    criterion.final_summary();

    if std::env::args().any(|a| a == "--list" || a == "--test") {
        return;
    }
    let seconds = env_number("REDRESS_BENCH_SECONDS", 3);
    let concurrency = env_number("REDRESS_BENCH_CONCURRENCY", 16);
    println!(
        "\nconcurrent intake, {concurrency} writers, {seconds} s each, every case durable before it is acknowledged:"
    );
    let store_figures = load_store(&store, &intake, concurrency, seconds);
    print(&store_figures, "store (group commit)");
    let http_figures = load_http(&runtime, &base, &body, concurrency, seconds);
    print(&http_figures, "http on loopback");
    println!(
        "ratio http/store: throughput {:.2}, p99 latency {:.2}",
        http_figures.per_second() / store_figures.per_second(),
        http_figures.p99.as_secs_f64() / store_figures.p99.as_secs_f64()
    );
}

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
//!
//! `cargo bench --bench intake -- repeat` runs only the repeat-detection part (issue 15): the
//! lookup the service makes before registering a case (complainant key, the store's index range
//! for that key within a year, the match basis of each case found) in a store of 1,000 and of
//! 1,000,000 cases (`REDRESS_BENCH_REPEAT_CASES` overrides the large size), and the ratio. The
//! stores are filled through `SledStore::create` with durable writes off (flushed once), each
//! case a registration with its complainant key and nothing else: see `populate_repeat`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use criterion::Criterion;
use redress::{
    app::{App, AppConfig},
    data_dir::DataDir,
    server,
    store::{CaseStore, Created, NewCase, SledOptions, SledStore, load::LoadFigures},
    time_source::SystemTimeSource,
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
        tenant: redress_domain::TenantId::default_tenant(),
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
    foreign.tenant = redress_domain::TenantId::from_static("acme-bank");
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
        b.iter(|| {
            assert!(
                store
                    .get(
                        &redress_domain::TenantId::from_static("default"),
                        foreign.id
                    )
                    .unwrap()
                    .is_none()
            )
        })
    });
    group.bench_function("an id never issued", |b| {
        b.iter(|| {
            assert!(
                store
                    .get(
                        &redress_domain::TenantId::from_static("default"),
                        never_issued
                    )
                    .unwrap()
                    .is_none()
            )
        })
    });
    group.bench_function("own case", |b| {
        b.iter(|| {
            assert!(
                store
                    .get(
                        &redress_domain::TenantId::from_static("acme-bank"),
                        foreign.id
                    )
                    .unwrap()
                    .is_some()
            )
        })
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

/// The respondents of the benchmark's cases: a pool of a thousand.
fn respondent(n: u64) -> String {
    format!("某某{}银行股份有限公司", n % 1000)
}

/// Issues of the benchmark's cases, a few variants.
const CLAIMS: [(&str, &str); 4] = [
    ("撤销不当扣费", "信用卡年费未经同意扣收"),
    ("退还保险费", "退保时被扣除高额手续费"),
    ("更正征信记录", "未逾期却被报送逾期记录"),
    ("赔偿理财损失", "销售时未揭示产品风险"),
];

fn repeat_intake(
    phone: u64,
    respondent: &str,
    claim: usize,
    received: jiff::Timestamp,
) -> CaseIntake {
    let (claim, facts) = CLAIMS[claim % CLAIMS.len()];
    serde_json::from_value(serde_json::json!({
        "sector": "banking",
        "channel": "web",
        "received_at": received.to_string(),
        "complainant": {"name": "王五", "phone": format!("+86 {phone}")},
        "respondent": {"name": respondent},
        "claim": claim,
        "facts": facts
    }))
    .unwrap()
}

/// The phone the lookups probe for, with `PROBE_CASES` earlier cases in every store.
const PROBE_PHONE: u64 = 19_999_999_999;
const PROBE_CASES: u64 = 5;

/// Fills a store with `cases` banking cases received over the 300 days before `now`, through
/// `SledStore::create` (durable writes off, one flush at the end): each is a registration
/// (the `received` event and the snapshot, with every index, the complainant index included)
/// with its complainant key and no decision. Complainant `n / 2` (two cases each, phones
/// 13000000000 + n / 2) about respondent `n % 1000`; besides, `PROBE_CASES` cases of the probe
/// phone about respondent 0, spread evenly through the population.
fn populate_repeat(
    dir: &std::path::Path,
    cases: u64,
    key: &redress::repeat::RepeatKey,
    now: jiff::Timestamp,
) -> (SledStore, Duration) {
    let store = SledStore::open(
        dir,
        &SledOptions {
            durable_writes: false,
            ..SledOptions::default()
        },
    )
    .unwrap();
    let span = jiff::SignedDuration::from_hours(24 * 300);
    let step = span / (cases as i32).max(1);
    let started = Instant::now();
    let probe_every = cases / PROBE_CASES;
    for n in 0..cases {
        let received = now - span + step * (n as i32);
        let (phone, respondent_name) = if n % probe_every == probe_every / 2 {
            (PROBE_PHONE, respondent(0))
        } else {
            (13_000_000_000 + n / 2, respondent(n))
        };
        let intake = repeat_intake(phone, &respondent_name, n as usize, received);
        let complainant_key = key.complainant_key(&intake.complainant);
        store
            .create(NewCase {
                id: CaseId::from_parts(received.as_millisecond() as u64, u128::from(n)),
                tracking_code: TrackingCode::from_random(n),
                tenant: redress_domain::TenantId::default_tenant(),
                intake,
                repeat: redress_domain::repeat::RepeatFacts {
                    complainant_key,
                    repeat_of: Vec::new(),
                },
                actor: Actor::system(),
                now: received,
                idempotency_key: None,
                then: None,
            })
            .unwrap();
    }
    store.flush().unwrap();
    (store, started.elapsed())
}

/// What the service does before it registers a case (`Redress::repeat_facts`): the key, the
/// index range of a year, the basis of each case found.
fn find_candidates(
    store: &SledStore,
    key: &redress::repeat::RepeatKey,
    intake: &CaseIntake,
    now: jiff::Timestamp,
) -> usize {
    let Some(complainant) = key.complainant_key(&intake.complainant) else {
        return 0;
    };
    let query = redress::store::ComplainantQuery {
        tenant: redress_domain::TenantId::default_tenant(),
        digest: complainant.digest,
        received_from: now
            - jiff::SignedDuration::from_hours(24 * redress::repeat::DEFAULT_WINDOW_DAYS),
        received_until: now,
        limit: redress::repeat::MAX_CANDIDATES,
    };
    let earlier = store.same_complainant(&query).unwrap();
    redress::repeat::candidates(intake, &complainant, &earlier).len()
}

/// Mean, p50 and p99 of `rounds` lookups made by `lookup(i)`, after as many to warm up
/// (`lookup(rounds + i)`: where the lookups differ, the warm-up does not read the same pages).
fn time_lookups(rounds: usize, mut lookup: impl FnMut(usize)) -> (Duration, Duration, Duration) {
    for i in 0..rounds {
        lookup(rounds + i);
    }
    let mut took: Vec<Duration> = (0..rounds)
        .map(|i| {
            let started = Instant::now();
            lookup(i);
            started.elapsed()
        })
        .collect();
    took.sort();
    let mean = took.iter().sum::<Duration>() / rounds as u32;
    (mean, took[rounds / 2], took[rounds * 99 / 100])
}

fn dir_size(path: &std::path::Path) -> u64 {
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

fn bench_repeat() {
    let large = env_number("REDRESS_BENCH_REPEAT_CASES", 1_000_000);
    let rounds = env_number("REDRESS_BENCH_REPEAT_ROUNDS", 20_000) as usize;
    let key = redress::repeat::RepeatKey::from_bytes([7; 32]);
    let now: jiff::Timestamp = "2026-12-01T02:00:00Z".parse().unwrap();
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    let mut means = Vec::new();
    println!(
        "repeat detection: the lookup before a registration, {rounds} lookups each after as many to warm up"
    );
    for cases in [1_000, large] {
        let dir = tempfile::tempdir().unwrap();
        let (store, took) = populate_repeat(dir.path(), cases, &key, now);
        println!(
            "  {cases} cases registered in {:.1} s ({:.0}/s); data directory {:.1} MiB",
            took.as_secs_f64(),
            cases as f64 / took.as_secs_f64(),
            dir_size(dir.path()) as f64 / 1_048_576.0
        );
        // The probe: a repeat of the probe phone's complaints (5 earlier cases in the window).
        let probe = repeat_intake(PROBE_PHONE, &respondent(0), 0, now);
        assert_eq!(
            find_candidates(&store, &key, &probe, now),
            PROBE_CASES as usize
        );
        let (mean, p50, p99) = time_lookups(rounds, |_| {
            find_candidates(&store, &key, &probe, now);
        });
        println!(
            "  {cases:>9} cases, one complainant with {PROBE_CASES} earlier cases:   mean {:>6.1} µs   p50 {:>6.1} µs   p99 {:>6.1} µs",
            us(mean),
            us(p50),
            us(p99)
        );
        let probe_mean = mean;
        // Complainants spread over the whole store (two cases each; the one about the same
        // respondent is a candidate), a different one every lookup.
        let pairs = (cases / 2).max(1);
        let intakes: Vec<CaseIntake> = (0..2 * rounds as u64)
            .map(|i| {
                let pair = (i * 7_919) % pairs;
                repeat_intake(13_000_000_000 + pair, &respondent(pair * 2), 0, now)
            })
            .collect();
        let (mean, p50, p99) = time_lookups(rounds, |i| {
            find_candidates(&store, &key, &intakes[i], now);
        });
        let spread_mean = mean;
        println!(
            "  {cases:>9} cases, a different complainant every lookup:      mean {:>6.1} µs   p50 {:>6.1} µs   p99 {:>6.1} µs",
            us(mean),
            us(p50),
            us(p99)
        );
        // Someone who never complained before: the index probe alone.
        let newcomer = repeat_intake(18_888_888_888, &respondent(0), 0, now);
        let (mean, p50, p99) = time_lookups(rounds, |_| {
            find_candidates(&store, &key, &newcomer, now);
        });
        println!(
            "  {cases:>9} cases, a first-time complainant:                  mean {:>6.1} µs   p50 {:>6.1} µs   p99 {:>6.1} µs",
            us(mean),
            us(p50),
            us(p99)
        );
        means.push([probe_mean, spread_mean, mean]);
    }
    let ratio = |i: usize| means[1][i].as_secs_f64() / means[0][i].as_secs_f64();
    println!(
        "ratio {large} / 1000 cases (mean): {:.2}x with {PROBE_CASES} earlier cases, {:.2}x for a different complainant every lookup, {:.2}x for a first-time complainant",
        ratio(0),
        ratio(1),
        ratio(2)
    );
}

fn main() {
    // `cargo bench --bench intake -- repeat`: the repeat-detection lookup alone.
    if std::env::args().any(|a| a == "repeat") {
        bench_repeat();
        return;
    }
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
                Arc::new(SystemTimeSource),
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

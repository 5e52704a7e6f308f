//! The console at 100,000 cases (issue #16): server time of its busiest pages, and the weight
//! of a page with its assets.
//!
//! The store is filled straight through `CaseStore::create` (durable writes off, flushed once),
//! each case written as intake writes it: the `received` event, the built-in ruleset's decision
//! on receipt (decided once per sector and day of receipt, then reused, since the rules are not
//! what is measured), and the handler actions of its life so far, in one write. Cases are
//! spread over `OFFICES` offices and `HANDLERS` handlers per office: most open and assigned,
//! some open and waiting in an office without an assignee, the rest resolved and closed. The
//! scheduler then fires every clock past due at "now" (`Redress::fire_due`, the real path: its
//! warnings, breaches and the rules' answers to them), so the overdue lists are real too.
//!
//! Then the application as `redress serve` assembles it (`App::open`, `App::router`), with a
//! handler, an office supervisor and a tenant supervisor signed in (accounts in memory,
//! sessions from the session store), and each page is asked for through the router with
//! `tower::ServiceExt::oneshot` (no network): server time only. Printed per page: p50, p95,
//! p99 and max over `REDRESS_BENCH_SAMPLES` requests (default 200, after 5 to warm up), and the
//! page's weight: the HTML and each asset it references, raw and gzipped (`gzip -6`, as a
//! proxy in front would send it; the server itself does not compress).
//!
//! `cargo bench --bench console`: on the 2-core development machine, about 4 minutes to fill
//! the store and 3½ for the scheduler's firings (7 and more when other builds share it), then
//! a few minutes of requests. `REDRESS_BENCH_CONSOLE_CASES` changes the size (default
//! 100,000).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{
    collections::HashMap,
    io::Write as _,
    process::{Command, Stdio},
    sync::Arc,
    time::{Duration, Instant},
};

use axum::{
    Router,
    body::Body,
    http::{Request, StatusCode, header},
};
use jiff::{SignedDuration, Timestamp};
use redress::{
    access::{AccessFile, Role},
    app::{App, AppConfig},
    console::{
        Console,
        accounts::{AccountsFile, MemoryAccounts, NewAccount},
        sessions::SESSION_COOKIE,
    },
    data_dir::DataDir,
    store::{Created, NewCase, Plan},
    time_source::ManualTimeSource,
};
use redress_domain::{
    Actor, Case, CaseId, CaseIntake, EventKind, HandlerAction, Status, TenantId, TrackingCode,
    case::Sector, clock::ClockChange, contract::Trigger,
};
use tower::ServiceExt as _;

const OFFICES: usize = 8;
const HANDLERS: usize = 6;
const PASSWORD: &str = "a long enough benchmark password";
/// "Now" for the whole benchmark: a Monday morning in Beijing.
const NOW: &str = "2026-11-30T01:30:00Z";

fn env_number(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn office(n: usize) -> String {
    format!("office-{:02}", n % OFFICES)
}

fn handler(office: usize, n: usize) -> String {
    format!("handler.{:02}.{}", office % OFFICES, n % HANDLERS)
}

/// A complaint of `sector`, received at `received`, with a little variety in its text.
fn intake(sector: Sector, n: usize, received: Timestamp) -> CaseIntake {
    let received = received.strftime("%Y-%m-%dT%H:%M:%SZ").to_string();
    let value = match sector {
        Sector::Banking => serde_json::json!({
            "sector": "banking",
            "channel": "web",
            "received_at": received,
            "complainant": {"name": format!("赵六{n}"), "phone": format!("139{:08}", n),
                            "address": "北京市朝阳区建国路88号"},
            "respondent": {"name": "某银行股份有限公司北京分行"},
            "claim": "撤销不当收取的信用卡年费并退还已扣款项",
            "facts": "未经本人同意，银行于上月扣收信用卡年费三百元，客服拒绝退还。",
        }),
        _ => serde_json::json!({
            "sector": "market_supervision",
            "channel": "hotline",
            "received_at": received,
            "complainant": {"name": format!("张三{n}"), "phone": format!("138{:08}", n),
                            "address": "杭州市西湖区文三路1号"},
            "respondent": {"name": "某某电器有限公司", "address": "杭州市西湖区",
                           "division_code": "330106"},
            "claim": "退货退款",
            "facts": "空调安装后无法制冷，商家拒绝退货",
            "amount": {"value": "3999.00"},
            "evidence": [{"kind": "invoice", "reference": format!("INV-2026-{n:06}")}]
        }),
    };
    serde_json::from_value(value).unwrap()
}

/// What a case went through after it was received.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Life {
    /// Assigned to a handler of its office, being worked.
    Assigned,
    /// Transferred to an office, waiting for a supervisor to assign it.
    Waiting,
    /// Assigned, resolved and closed.
    Closed,
}

/// The events a case of one sector received on one day goes through: the rules' decision on
/// receipt, and the handler's acceptance with the rules' answer when the rules left it to a
/// person (`open`); and after its assignment, resolving it with the rules' answer, stopping
/// the clocks still running and closing it (`closing`). Worked out once on a case in memory.
struct Template {
    open: Vec<EventKind>,
    closing: Vec<EventKind>,
}

impl Template {
    fn new(
        rules: &redress::rules::Registry,
        calendars: &redress_calendar::CalendarSet,
        intake: &CaseIntake,
        received: Timestamp,
    ) -> Template {
        let (mut case, _) = Case::register(
            CaseId::from_parts(0, 0),
            TrackingCode::from_random(0),
            TenantId::default_tenant(),
            intake.clone(),
            Actor::api("bench"),
            received,
        )
        .unwrap();
        let step = |case: &mut Case, kinds: Vec<EventKind>, into: &mut Vec<EventKind>| {
            for kind in kinds {
                let record = case.seal(kind.clone(), Actor::api("bench"), received);
                case.apply(&record).unwrap();
                into.push(kind);
            }
        };
        let decide = |case: &Case, trigger| {
            redress::service::decide(rules, calendars, trigger, case, received)
        };
        let act = |case: &mut Case, action: HandlerAction, into: &mut Vec<EventKind>| {
            step(
                case,
                vec![EventKind::Handler {
                    action: action.clone(),
                }],
                into,
            );
            let answer = decide(case, Trigger::HandlerEvent { action });
            step(case, answer, into);
        };
        let mut open = Vec::new();
        let answer = decide(&case, Trigger::CaseReceived);
        step(&mut case, answer, &mut open);
        if case.status == Status::Received {
            act(&mut case, HandlerAction::Accept { note: None }, &mut open);
        }
        let mut closing = Vec::new();
        let assign = HandlerAction::Assign {
            assignee: "someone".into(),
            office: None,
        };
        step(
            &mut case,
            vec![EventKind::Handler { action: assign }],
            &mut Vec::new(),
        );
        act(
            &mut case,
            HandlerAction::Resolve {
                outcome: "经调解，商家同意退款".into(),
            },
            &mut closing,
        );
        let running: Vec<String> = case
            .clocks
            .iter()
            .filter(|(_, c)| c.state == redress_domain::clock::ClockState::Running)
            .map(|(name, _)| name.clone())
            .collect();
        for name in running {
            step(
                &mut case,
                vec![EventKind::Clock {
                    name,
                    change: ClockChange::Stopped {
                        met: true,
                        reason: None,
                    },
                }],
                &mut closing,
            );
        }
        act(&mut case, HandlerAction::Close { note: None }, &mut closing);
        Template { open, closing }
    }
}

/// The store, filled; returns how many cases of each kind.
fn populate(app: &App, cases: usize, now: Timestamp) -> (Duration, [usize; 3]) {
    let started = Instant::now();
    let store = Arc::clone(app.service.store());
    let rulesets = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../rulesets");
    let calendars = redress::app::load_calendars(&rulesets).unwrap();
    let rules = Arc::clone(app.service.rules());
    // The events of a case's life, per sector and day received: the clocks the rules start
    // depend on the day (working days, holidays), not on the rest of the complaint.
    let mut templates: HashMap<(u8, i64), Template> = HashMap::new();
    let mut counts = [0usize; 3];
    let day = SignedDuration::from_hours(24);
    for n in 0..cases {
        // Open cases were received in the last 45 days; closed ones over the last year.
        let life = match n % 10 {
            0..=5 => Life::Assigned,
            6 => Life::Waiting,
            _ => Life::Closed,
        };
        let span_days: i64 = if life == Life::Closed { 365 } else { 45 };
        let mix = (n as i64).wrapping_mul(2_654_435_761) & 0x7fff_ffff;
        let age_minutes = mix % (span_days * 24 * 60);
        let received = now - SignedDuration::from_mins(age_minutes);
        let sector = if n % 3 == 0 {
            Sector::Banking
        } else {
            Sector::MarketSupervision
        };
        let intake = intake(sector, n, received);
        let day_index = received.as_second().div_euclid(day.as_secs());
        let template = templates
            .entry((u8::from(sector == Sector::Banking), day_index))
            .or_insert_with(|| Template::new(&rules, &calendars, &intake, received));
        let office_n = n / 7 % OFFICES;
        let mut then = template.open.clone();
        let assign = HandlerAction::Assign {
            assignee: handler(office_n, n / 11),
            office: Some(office(office_n)),
        };
        match life {
            Life::Assigned => then.push(EventKind::Handler { action: assign }),
            Life::Waiting => then.push(EventKind::Handler {
                action: HandlerAction::Transfer {
                    to_office: office(office_n),
                    reason: "属地管辖".into(),
                    supervisor_approved: false,
                },
            }),
            Life::Closed => {
                then.push(EventKind::Handler { action: assign });
                then.extend(template.closing.iter().cloned());
            }
        }
        let plan: Plan = Arc::new(move |_, _| Ok(then.clone()));
        let created = store
            .create(NewCase {
                id: CaseId::from_parts(received.as_millisecond() as u64, n as u128),
                tracking_code: TrackingCode::from_random(n as u64),
                tenant: TenantId::default_tenant(),
                intake,
                repeat: Default::default(),
                actor: Actor::api("intake.desk"),
                now: received,
                idempotency_key: None,
                then: Some(plan),
            })
            .unwrap_or_else(|e| panic!("case {n}: {e}"));
        assert!(matches!(created, Created::New(_)));
        counts[match life {
            Life::Assigned => 0,
            Life::Waiting => 1,
            Life::Closed => 2,
        }] += 1;
    }
    (started.elapsed(), counts)
}

/// The accounts the pages are looked at by, each with a session begun now.
fn sign_in(app: &mut App, now: Timestamp) -> HashMap<&'static str, String> {
    let people: [(&str, Role, Option<String>); 3] = [
        ("handler", Role::Handler, Some(office(0))),
        ("office-supervisor", Role::Supervisor, Some(office(0))),
        ("tenant-supervisor", Role::Supervisor, None),
    ];
    let mut file = AccountsFile::default();
    for (who, role, office) in &people {
        let username = if *who == "handler" {
            handler(0, 0)
        } else {
            (*who).to_owned()
        };
        file.create(
            NewAccount {
                username,
                display_name: None,
                tenant: TenantId::default_tenant(),
                role: *role,
                office: office.clone(),
            },
            PASSWORD,
            &AccessFile::default(),
            now,
        )
        .unwrap();
    }
    let console = Console::new(Arc::new(MemoryAccounts::new(file)), false);
    let mut cookies = HashMap::new();
    for (who, _, _) in &people {
        let username = if *who == "handler" {
            handler(0, 0)
        } else {
            (*who).to_owned()
        };
        let session = console.sessions.create(&username, now, now).unwrap();
        cookies.insert(*who, format!("{SESSION_COOKIE}={}", session.id));
    }
    app.console = Arc::new(console);
    cookies
}

async fn get(router: &Router, path: &str, cookie: &str) -> (StatusCode, Vec<u8>) {
    let request = Request::get(path)
        .header(header::COOKIE, cookie)
        .body(Body::empty())
        .unwrap();
    let response = router.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let body = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    (status, body.to_vec())
}

/// Latency percentiles by rank over every sample.
fn percentiles(mut samples: Vec<Duration>) -> [Duration; 4] {
    samples.sort_unstable();
    let rank = |q: f64| {
        let index = ((samples.len() as f64 * q).ceil() as usize).saturating_sub(1);
        samples[index.min(samples.len() - 1)]
    };
    [
        rank(0.50),
        rank(0.95),
        rank(0.99),
        samples[samples.len() - 1],
    ]
}

fn gzipped(bytes: &[u8]) -> usize {
    let mut child = Command::new("gzip")
        .arg("-6")
        .arg("-c")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("gzip");
    let mut stdin = child.stdin.take().unwrap();
    let input = bytes.to_vec();
    let writer = std::thread::spawn(move || stdin.write_all(&input));
    let output = child.wait_with_output().unwrap();
    writer.join().unwrap().unwrap();
    output.stdout.len()
}

/// The `href`/`src` of every asset a page references.
fn assets(html: &str) -> Vec<String> {
    let mut found = Vec::new();
    for attribute in ["href=\"", "src=\""] {
        for (at, _) in html.match_indices(attribute) {
            let rest = &html[at + attribute.len()..];
            if let Some(end) = rest.find('"')
                && rest[..end].starts_with("/console/assets/")
            {
                found.push(rest[..end].to_owned());
            }
        }
    }
    found.sort();
    found.dedup();
    found
}

/// The board's read of the open cases, before and after `CaseStore::open_cases`: the listing
/// walked page by page, every snapshot read, at most 5,000 cases (what the board did), against
/// the index keys (what it does).
fn compare_board_reads(app: &App, runtime: &tokio::runtime::Runtime, samples: usize) {
    let tenant = TenantId::default_tenant();
    let store = app.service.store();
    let walk = |office: Option<&str>| {
        let (mut open, mut walked, mut cursor) = (0usize, 0usize, None);
        loop {
            let mut query = redress::store::ListQuery::tenant(&tenant);
            query.office = office.map(str::to_owned);
            query.limit = 500;
            query.cursor = cursor;
            let page = store.list(&query).unwrap();
            walked += page.cases.len();
            open += page.cases.iter().filter(|c| c.is_open()).count();
            cursor = page.next_cursor;
            if cursor.is_none() || walked >= 5_000 {
                return open;
            }
        }
    };
    let rounds = (samples / 4).max(5);
    println!("\nthe board's read of the open cases ({rounds} rounds; p50 / p95 ms)");
    for office in [Some(office(0)), None] {
        let time = |f: &dyn Fn() -> usize| {
            let mut times = Vec::new();
            let mut found = 0;
            for _ in 0..rounds {
                let started = Instant::now();
                found = f();
                times.push(started.elapsed());
            }
            let [p50, p95, _, _] = percentiles(times);
            (p50.as_secs_f64() * 1e3, p95.as_secs_f64() * 1e3, found)
        };
        let before = time(&|| walk(office.as_deref()));
        let after = time(&|| {
            runtime
                .block_on(app.service.open_cases(tenant.clone(), office.clone()))
                .unwrap()
                .received
                .len()
        });
        println!(
            "{}: listing walk {:.1} / {:.1} ({} open cases seen); index keys {:.1} / {:.1} ({} open cases); p50 ratio {:.1}x",
            office.as_deref().unwrap_or("tenant-wide"),
            before.0,
            before.1,
            before.2,
            after.0,
            after.1,
            after.2,
            before.0 / after.0
        );
    }
}

fn main() {
    if std::env::args().any(|a| a == "--list" || a == "--test") {
        return;
    }
    let cases = env_number("REDRESS_BENCH_CONSOLE_CASES", 100_000);
    let samples = env_number("REDRESS_BENCH_SAMPLES", 200).max(1);
    let now: Timestamp = NOW.parse().unwrap();
    let time = Arc::new(ManualTimeSource::new(now));
    let dir = tempfile::tempdir().unwrap();
    let rulesets = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../rulesets");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let mut app = App::open(AppConfig {
        open_access: true,
        durable_writes: false,
        ..AppConfig::new(
            Some(DataDir::create(dir.path()).unwrap()),
            rulesets,
            time.clone(),
        )
    })
    .unwrap();
    let (filled, counts) = populate(&app, cases, now);
    println!(
        "filled a store of {cases} cases ({} assigned, {} waiting in an office, {} closed) in {:.1} s",
        counts[0],
        counts[1],
        counts[2],
        filled.as_secs_f64()
    );
    let started = Instant::now();
    let mut fired = 0;
    runtime.block_on(async {
        loop {
            let events = app.service.fire_due().await.unwrap();
            if events.is_empty() {
                break;
            }
            fired += events.len();
        }
    });
    let overdue = {
        let mut query = redress::store::ListQuery::tenant(&TenantId::default_tenant());
        query.overdue = true;
        query.limit = 200_000;
        app.service.store().list(&query).unwrap().cases.len()
    };
    println!(
        "the scheduler fired the clocks past due ({fired} events, {overdue} cases overdue) in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let cookies = sign_in(&mut app, now);
    let router = app.router(
        redress::server::extract::DEFAULT_BODY_LIMIT,
        redress::server::connections::DEFAULT_READ_TIMEOUT,
        None,
    );
    // A case of the handler's office, assigned to them.
    let case = {
        let mut query = redress::store::ListQuery::tenant(&TenantId::default_tenant());
        query.assignee = Some(handler(0, 0));
        query.limit = 1;
        app.service.store().list(&query).unwrap().cases[0].id
    };
    compare_board_reads(&app, &runtime, samples);
    let pages: Vec<(&str, &str, String)> = vec![
        ("handler", "my queue", "/console/queue".into()),
        (
            "handler",
            "office queue",
            "/console/queue?view=office".into(),
        ),
        ("handler", "case page", format!("/console/cases/{case}")),
        ("office-supervisor", "office board", "/console/board".into()),
        (
            "tenant-supervisor",
            "tenant-wide board",
            "/console/board".into(),
        ),
        (
            "office-supervisor",
            "overdue queue",
            "/console/queue?view=overdue".into(),
        ),
    ];
    let filter: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    println!(
        "\n{:<42} {:>9} {:>9} {:>9} {:>9} {:>9}",
        "page (who)", "p50 ms", "p95 ms", "p99 ms", "max ms", "HTML KiB"
    );
    let mut weighed = Vec::new();
    runtime.block_on(async {
        for (who, name, path) in &pages {
            if !filter.is_empty() && !filter.iter().any(|f| name.contains(f.as_str())) {
                continue;
            }
            let cookie = &cookies[who];
            let (status, html) = get(&router, path, cookie).await;
            assert_eq!(
                status,
                StatusCode::OK,
                "{path}: {}",
                String::from_utf8_lossy(&html)
            );
            for _ in 0..5 {
                get(&router, path, cookie).await;
            }
            let mut times = Vec::with_capacity(samples);
            for _ in 0..samples {
                let started = Instant::now();
                let (status, _) = get(&router, path, cookie).await;
                times.push(started.elapsed());
                assert_eq!(status, StatusCode::OK);
            }
            let [p50, p95, p99, max] = percentiles(times);
            let ms = |d: Duration| d.as_secs_f64() * 1e3;
            println!(
                "{:<42} {:>9.2} {:>9.2} {:>9.2} {:>9.2} {:>9.1}",
                format!("{path} ({name}, {who})"),
                ms(p50),
                ms(p95),
                ms(p99),
                ms(max),
                html.len() as f64 / 1024.0
            );
            weighed.push((name.to_string(), html, cookie.clone()));
        }
        println!("\npage weight (bytes; gzip -6 as a compressing proxy would send it)");
        for (name, html, cookie) in &weighed {
            let mut raw = html.len();
            let mut zipped = gzipped(html);
            println!("{name}: HTML {raw} raw, {zipped} gzip");
            for asset in assets(&String::from_utf8_lossy(html)) {
                let (status, bytes) = get(&router, &asset, cookie).await;
                assert_eq!(status, StatusCode::OK, "{asset}");
                let z = gzipped(&bytes);
                println!("  + {asset}: {} raw, {z} gzip", bytes.len());
                raw += bytes.len();
                zipped += z;
            }
            println!(
                "  = {raw} raw, {zipped} gzip (first visit; assets are cached for a year after)"
            );
        }
    });
}

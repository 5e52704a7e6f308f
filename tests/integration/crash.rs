//! Crash test: intake under load (cases decided by the built-in rulesets, so acceptance clocks
//! start, and handler notes appended to some of them), SIGKILL at a random moment, restart on the
//! same data directory, and check after every restart that nothing acknowledged is lost, every
//! clock keeps its due time, no scheduler firing is duplicated and the audit chain verifies.
//! Simulated time moves past warning and breach points during the load, so the scheduler is
//! firing when the kills land.
//!
//! `REDRESS_CRASH_KILLS` (default 5) sets the number of kills, `REDRESS_CRASH_SEED` replays a
//! run (the seed is printed at the start).

use std::{
    collections::BTreeMap,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use jiff::{SignedDuration, Timestamp};
use serde_json::{Value, json};

use crate::support::{Server, audit, complaint};

const WORKERS: usize = 4;
/// Requests in flight while the cases are checked after a restart.
const CHECKERS: usize = 8;
/// Simulated time at the start: a Monday outside the Spring Festival block.
const START: &str = "2026-03-02T01:00:00Z";

/// SplitMix64: a few lines, and a run is replayed from its seed without another dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `low..high` (`high > low`).
    fn between(&mut self, low: u64, high: u64) -> u64 {
        low + self.next() % (high - low)
    }
}

/// What the server acknowledged for one case: its version and its clocks' warning and due times.
#[derive(Debug, Clone, Default)]
struct Acked {
    version: u64,
    clocks: BTreeMap<String, ClockTimes>,
}

#[derive(Debug, Clone, PartialEq)]
struct ClockTimes {
    warning_at: Option<String>,
    due_at: Option<String>,
}

type Ledger = Arc<Mutex<BTreeMap<String, Acked>>>;

/// Records an acknowledged snapshot; an older reply arriving late never lowers what is known.
fn acknowledge(ledger: &Ledger, case: &Value) {
    let id = case["id"].as_str().unwrap().to_owned();
    let version = case["version"].as_u64().unwrap();
    let clocks = case["clocks"]
        .as_object()
        .map(|clocks| {
            clocks
                .iter()
                .map(|(name, clock)| {
                    let time = |field: &str| clock[field].as_str().map(str::to_owned);
                    let times = ClockTimes {
                        warning_at: time("warning_at"),
                        due_at: time("due_at"),
                    };
                    (name.clone(), times)
                })
                .collect()
        })
        .unwrap_or_default();
    let mut ledger = ledger.lock().unwrap();
    let entry = ledger.entry(id).or_default();
    if version >= entry.version {
        *entry = Acked { version, clocks };
    }
}

/// One client: creates cases (received up to a day before simulated "now") and adds notes to
/// its own, until the server goes away or `stop` is set. A reply other than 201 is a failure.
async fn client_loop(
    base: String,
    mut rng: Rng,
    now: Timestamp,
    worker: usize,
    ledger: Ledger,
    stop: Arc<AtomicBool>,
) -> Result<(u64, u64), String> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let (mut created, mut noted) = (0, 0);
    let mut own: Vec<String> = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        let note = !own.is_empty() && rng.between(0, 3) == 0;
        let request = if note {
            let id = &own[rng.between(0, own.len() as u64) as usize];
            client
                .post(format!("{base}/v1/cases/{id}/events"))
                .json(&json!({"type": "note", "text": format!("w{worker} note {noted}")}))
        } else {
            let mut body = complaint();
            let received = now - SignedDuration::from_secs(rng.between(0, 86_400) as i64);
            body["received_at"] = json!(received.to_string());
            body["external_ref"] = json!(format!("w{worker}-{created}"));
            client.post(format!("{base}/v1/cases")).json(&body)
        };
        // A refused connection or a reset is the kill; what it interrupted was not acknowledged.
        let Ok(response) = request.send().await else {
            break;
        };
        let status = response.status().as_u16();
        let Ok(text) = response.text().await else {
            break;
        };
        if status != 201 {
            return Err(format!("status {status}: {text}"));
        }
        let reply: Value = serde_json::from_str(&text).map_err(|e| format!("{e}: {text}"))?;
        if note {
            acknowledge(&ledger, &reply["case"]);
            noted += 1;
        } else {
            acknowledge(&ledger, &reply);
            own.push(reply["id"].as_str().unwrap().to_owned());
            created += 1;
        }
    }
    Ok((created, noted))
}

/// What a check of one case found.
enum Verdict {
    /// Every firing owed by `now` is there, once.
    Settled { firings: u64 },
    /// A firing owed by `now` is not recorded yet (the scheduler may still be catching up).
    Waiting(String),
}

/// Checks one case against what was acknowledged; an error is a broken guarantee.
async fn check_case(
    client: &reqwest::Client,
    base: &str,
    id: &str,
    acked: &Acked,
    now: Timestamp,
) -> Result<Verdict, String> {
    let get = |path: String| async move {
        let response = client.get(format!("{base}{path}")).send().await.unwrap();
        let status = response.status().as_u16();
        (status, response.json::<Value>().await.unwrap())
    };
    let (status, case) = get(format!("/v1/cases/{id}")).await;
    if status != 200 {
        return Err(format!(
            "acknowledged case {id} is missing: {status} {case}"
        ));
    }
    let version = case["version"].as_u64().unwrap();
    if version < acked.version {
        return Err(format!(
            "case {id} is at version {version}, {} was acknowledged",
            acked.version
        ));
    }
    for (name, times) in &acked.clocks {
        let clock = &case["clocks"][name];
        let found = ClockTimes {
            warning_at: clock["warning_at"].as_str().map(str::to_owned),
            due_at: clock["due_at"].as_str().map(str::to_owned),
        };
        if found != *times {
            return Err(format!(
                "case {id}: clock `{name}` was acknowledged as {times:?}, now {found:?} ({clock})"
            ));
        }
    }

    let (status, timeline) = get(format!("/v1/cases/{id}/timeline")).await;
    if status != 200 {
        return Err(format!("case {id}: timeline {status} {timeline}"));
    }
    let events = timeline["events"].as_array().unwrap();
    for (i, event) in events.iter().enumerate() {
        if event["seq"].as_u64() != Some(i as u64 + 1) {
            return Err(format!("case {id}: event {i} has seq {}", event["seq"]));
        }
    }
    if (events.len() as u64) < acked.version {
        return Err(format!(
            "case {id}: {} events, version {} was acknowledged",
            events.len(),
            acked.version
        ));
    }
    let mut firings = 0;
    for (name, times) in &acked.clocks {
        for (change, at) in [("warned", &times.warning_at), ("breached", &times.due_at)] {
            let recorded = events
                .iter()
                .filter(|e| {
                    e["event"]["type"] == "clock"
                        && e["event"]["name"] == name.as_str()
                        && e["event"]["change"] == change
                })
                .count();
            let owed = at
                .as_ref()
                .is_some_and(|at| at.parse::<Timestamp>().unwrap() <= now);
            match (recorded, owed) {
                (0, false) => {}
                (1, true) => firings += 1,
                (0, true) => {
                    return Ok(Verdict::Waiting(format!(
                        "case {id}: clock `{name}` not {change} yet (due {at:?}, now {now})"
                    )));
                }
                _ => {
                    return Err(format!(
                        "case {id}: clock `{name}` {change} {recorded} times (due {at:?}, now {now})"
                    ));
                }
            }
        }
    }
    Ok(Verdict::Settled { firings })
}

/// Checks every acknowledged case, waiting for the scheduler to record every firing owed by
/// `now` (it fails after 30 s without progress: the catch-up after a long jump in time takes a
/// while in a debug build); returns the number of firings seen exactly once.
async fn check_all(server: &Server, ledger: &BTreeMap<String, Acked>, now: Timestamp) -> u64 {
    let mut pending: Vec<(String, Acked)> = ledger
        .iter()
        .map(|(id, acked)| (id.clone(), acked.clone()))
        .collect();
    let mut progress = Instant::now();
    let mut firings = 0;
    loop {
        let chunk = pending.len().div_ceil(CHECKERS).max(1);
        let mut checkers = tokio::task::JoinSet::new();
        for part in pending.chunks(chunk) {
            let part = part.to_vec();
            let client = server.client.clone();
            let base = server.base.clone();
            checkers.spawn(async move {
                let mut waiting = Vec::new();
                let mut firings = 0;
                for (id, acked) in part {
                    match check_case(&client, &base, &id, &acked, now).await {
                        Ok(Verdict::Settled { firings: n }) => firings += n,
                        Ok(Verdict::Waiting(why)) => waiting.push((id, acked, why)),
                        Err(broken) => return Err(broken),
                    }
                }
                Ok((firings, waiting))
            });
        }
        let mut waiting = Vec::new();
        while let Some(result) = checkers.join_next().await {
            match result.unwrap() {
                Ok((n, more)) => {
                    firings += n;
                    waiting.extend(more);
                }
                Err(broken) => panic!(
                    "{broken}\nserver warnings and errors: {}",
                    tail(&server.log_text())
                ),
            }
        }
        if waiting.is_empty() {
            return firings;
        }
        if waiting.len() < pending.len() {
            progress = Instant::now();
        }
        assert!(
            progress.elapsed() < Duration::from_secs(30),
            "{} firing(s) never recorded, e.g. {}",
            waiting.len(),
            waiting[0].2
        );
        pending = waiting
            .into_iter()
            .map(|(id, acked, _)| (id, acked))
            .collect();
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The server's last warnings and errors (its debug log is mostly request traces).
fn tail(log: &str) -> String {
    let lines: Vec<&str> = log
        .lines()
        .filter(|line| line.contains("\"WARN\"") || line.contains("\"ERROR\""))
        .collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name)
        .ok()
        .map(|v| v.parse().unwrap_or_else(|e| panic!("{name}={v}: {e}")))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn intake_under_load_survives_random_kill_9s() {
    let kills = env_u64("REDRESS_CRASH_KILLS").unwrap_or(5).max(1);
    let seed = env_u64("REDRESS_CRASH_SEED").unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64
    });
    println!("crash test: seed {seed} (REDRESS_CRASH_SEED={seed} replays), {kills} kills");
    let mut rng = Rng(seed);
    let started = Instant::now();

    let mut now: Timestamp = START.parse().unwrap();
    // Each round moves time on by a few days, so earlier rounds' clocks warn and breach during
    // later rounds' load; never so far that receipts leave the years the calendars cover.
    let step = SignedDuration::from_hours((24 * 200 / kills as i64).clamp(1, 72));
    let mut server = Server::start_with_clock_and_rulesets(&now.to_string());
    let ledger: Ledger = Arc::default();
    let (mut created, mut noted, mut firings) = (0, 0, 0);

    for round in 1..=kills {
        let stop = Arc::new(AtomicBool::new(false));
        let mut clients = tokio::task::JoinSet::new();
        for worker in 0..WORKERS {
            clients.spawn(client_loop(
                server.base.clone(),
                Rng(rng.next()),
                now,
                worker,
                Arc::clone(&ledger),
                Arc::clone(&stop),
            ));
        }
        let run = Duration::from_millis(rng.between(200, 1500));
        let advance_after = run.mul_f64(rng.between(0, 100) as f64 / 100.0);
        tokio::time::sleep(advance_after).await;
        now += step;
        server.set_time(&now.to_string());
        tokio::time::sleep(run - advance_after).await;
        server.kill9();
        stop.store(true, Ordering::Relaxed);
        while let Some(result) = clients.join_next().await {
            match result.unwrap() {
                Ok((c, n)) => (created, noted) = (created + c, noted + n),
                Err(e) => panic!(
                    "round {round}: {e}\nserver warnings and errors: {}",
                    tail(&server.log_text())
                ),
            }
        }

        let (code, report) = audit(&server.data);
        assert_eq!(code, 0, "round {round}: audit after the kill: {report}");
        server.restart();
        let snapshot = ledger.lock().unwrap().clone();
        firings = check_all(&server, &snapshot, now).await;
        println!(
            "round {round}/{kills}: killed after {run:?}, {} cases acknowledged, {firings} firings settled ({:?} so far)",
            snapshot.len(),
            started.elapsed()
        );
    }

    // Time passes every due point; the scheduler settles everything once, and a last crash
    // and restart repeat none of it.
    let snapshot = ledger.lock().unwrap().clone();
    let last_due = snapshot
        .values()
        .flat_map(|acked| acked.clocks.values())
        .filter_map(|times| times.due_at.as_ref())
        .map(|at| at.parse::<Timestamp>().unwrap())
        .max()
        .expect("no acknowledged case has a clock");
    now = now.max(last_due) + SignedDuration::from_secs(1);
    server.set_time(&now.to_string());
    check_all(&server, &snapshot, now).await;
    server.restart();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let final_firings = check_all(&server, &snapshot, now).await;
    let clocks: u64 = snapshot.values().map(|a| a.clocks.len() as u64).sum();
    assert_eq!(
        final_firings,
        2 * clocks,
        "every clock warned and breached exactly once"
    );
    server.kill9();
    let (code, report) = audit(&server.data);
    assert_eq!(code, 0, "final audit: {report}");

    assert!(created >= kills, "only {created} cases acknowledged");
    assert!(firings > 0, "no firing happened between the kills");
    println!(
        "crash test summary: seed {seed}, {kills} kills, {} cases acknowledged, {noted} notes acknowledged, \
         {clocks} clocks, {final_firings} firings checked exactly once (last kill round: {firings}), {:?}",
        snapshot.len(),
        started.elapsed()
    );
}

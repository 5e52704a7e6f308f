//! Statutory time never stops (issue #12): provisional years computed from the statute, the
//! revision of every open clock when a schedule is published (exactly once, across a restart
//! and a SIGKILL in the middle), loud manual handling, and clocks met by their declaration
//! even when the rules' decision on the meeting event fails.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::{Server, audit, bare_rulesets, complaint, rulesets_copy};

/// A hypothetical 2027 schedule, for these tests only: NOT the State Council's (unpublished on
/// the day this was written). It differs from the provisional year where the tests need it
/// to: 2027-01-04 (Mon) is an in-lieu rest day with no make-up day before February, and the
/// Spring Festival block runs 02-05..02-12 with make-up Saturday 02-20.
const TEST_2027: &str = r#"
years_for = "cn-mainland"

[[years]]
year = 2027
source = "TEST ONLY: a hypothetical 2027 schedule (tests/integration/provisional.rs)"
published = "2026-12"

[[years.rest]]
name = "元旦"
first = 2027-01-01
last = 2027-01-04
in_lieu = [2027-01-04]

[[years.rest]]
name = "春节"
first = 2027-02-05
last = 2027-02-12
in_lieu = [2027-02-09, 2027-02-10, 2027-02-11, 2027-02-12]

[[years.rest]]
name = "清明节"
first = 2027-04-03
last = 2027-04-05

[[years.rest]]
name = "劳动节"
first = 2027-05-01
last = 2027-05-05
in_lieu = [2027-05-04, 2027-05-05]

[[years.rest]]
name = "端午节"
first = 2027-06-09
last = 2027-06-09

[[years.rest]]
name = "中秋节"
first = 2027-09-15
last = 2027-09-15

[[years.rest]]
name = "国庆节"
first = 2027-10-01
last = 2027-10-07
in_lieu = [2027-10-04, 2027-10-05, 2027-10-06, 2027-10-07]

[[years.make_up]]
date = 2027-02-20
for = "春节"

[[years.make_up]]
date = 2027-04-25
for = "劳动节"

[[years.make_up]]
date = 2027-09-26
for = "国庆节"

[[years.make_up]]
date = 2027-10-09
for = "国庆节"
"#;

/// Publishes the test 2027 schedule the way an operator does: a year file dropped into the
/// server's calendar folder.
fn publish_2027(server: &Server) {
    std::fs::write(
        server.rulesets.join("calendars/cn-mainland-2027.toml"),
        TEST_2027,
    )
    .unwrap();
}

fn complaint_received(at: &str) -> Value {
    let mut body = complaint();
    body["received_at"] = json!(at);
    body
}

async fn events(server: &Server, id: &str) -> Vec<Value> {
    let (status, timeline) = server.get(&format!("/v1/cases/{id}/timeline")).await;
    assert_eq!(status, 200, "{timeline}");
    timeline["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event"].clone())
        .collect()
}

fn clock_changes<'a>(events: &'a [Value], clock: &'a str, change: &'a str) -> Vec<&'a Value> {
    events
        .iter()
        .filter(|e| e["type"] == "clock" && e["name"] == clock && e["change"] == change)
        .collect()
}

async fn wait_until<F: std::future::Future<Output = bool>>(
    what: &str,
    mut done: impl FnMut() -> F,
) {
    let started = Instant::now();
    while !done().await {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn a_case_accepted_in_december_gets_its_mediation_clock_marked_provisional() {
    // The date this was written: the 2027 schedule is not published, and 45 working days of
    // mediation from today run into 2027. Before issue #12 the decision failed closed and the
    // case silently went to manual handling.
    let server = Server::start_with_clock_and_rulesets("2026-12-01T02:00:00Z");
    let response = server
        .client
        .post(server.url("/v1/cases"))
        .json(&complaint_received("2026-12-01T10:00:00+08:00"))
        .send()
        .await
        .unwrap();
    let secret = response.headers()["tracking-secret"]
        .to_str()
        .unwrap()
        .to_owned();
    let (status, case) = crate::support::read(response).await;
    assert_eq!(status, 201, "{case}");
    assert!(case["manual_handling"].is_null(), "{case}");
    let id = case["id"].as_str().unwrap().to_owned();
    let (status, accepted) = server.act(&id, json!({"type": "accept"})).await;
    assert_eq!(status, 201, "{accepted}");
    let mediation = &accepted["case"]["clocks"]["mediation"];
    assert_eq!(mediation["state"], "running", "{accepted}");
    assert_eq!(mediation["provisional"], true, "{mediation}");
    assert_eq!(mediation["provisional_years"], json!([2027]), "{mediation}");
    assert!(accepted["case"]["manual_handling"].is_null());
    // 45 working days from Tue 2026-12-01: 22 in December, then 2027-01-01 (元旦, statutory)
    // is skipped and the 45th is Wed 2027-02-03 (before the statutory Spring Festival days).
    assert_eq!(mediation["due_at"], "2027-02-03T16:00:00Z", "{mediation}");
    let explanation = mediation["explanation"].to_string();
    assert!(explanation.contains("2027"), "{explanation}");

    // Marked in the listing, the clock listing (with remaining time for every clock that owes
    // something), the tracking view and /readyz.
    let (_, list) = server.get("/v1/cases").await;
    assert_eq!(list["items"][0]["clocks"]["mediation"]["provisional"], true);
    let (_, clocks) = server.get(&format!("/v1/cases/{id}/clocks")).await;
    for clock in clocks["clocks"].as_array().unwrap() {
        let owes = clock["state"] == "running";
        assert_eq!(clock["remaining"].is_null(), !owes, "{clock}");
    }
    let code = case["tracking_code"].as_str().unwrap();
    let track = server
        .client
        .get(server.url(&format!("/v1/track/{code}")))
        .header("x-tracking-secret", &secret)
        .send()
        .await
        .unwrap();
    let (status, view) = crate::support::read(track).await;
    assert_eq!(status, 200, "{view}");
    assert_eq!(view["next_deadline"]["provisional"], true, "{view}");
    assert!(
        view["next_deadline"]["provisional_note"]
            .as_str()
            .unwrap()
            .contains("2027年"),
        "{view}"
    );
    let (status, ready) = server.get("/readyz").await;
    assert_eq!(status, 200);
    assert_eq!(ready["provisional_clocks"], 1, "{ready}");
    assert!(
        ready["warnings"].to_string().contains("provisional"),
        "{ready}"
    );
}

#[tokio::test]
async fn a_published_schedule_revises_every_open_clock_exactly_once() {
    let rulesets = rulesets_copy();
    let mut server = Server::start_with_clock_and_ruleset_dir("2026-12-21T02:00:00Z", rulesets);
    // Three accepted complaints: their 45-working-day mediation runs into 2027.
    let mut ids = Vec::new();
    // Three complainants: one complainant's second complaint on the same matter, once the
    // first is accepted, is not accepted again (Order 20 art. 15(2); the repeat is found by the
    // host).
    for n in 0..3 {
        let mut body = complaint_received("2026-12-21T10:00:00+08:00");
        body["complainant"]["phone"] = json!(format!("1380013800{n}"));
        let case = server.create(&body).await;
        let id = case["id"].as_str().unwrap().to_owned();
        let (status, accepted) = server.act(&id, json!({"type": "accept"})).await;
        assert_eq!(status, 201, "{accepted}");
        assert_eq!(accepted["case"]["clocks"]["mediation"]["provisional"], true);
        ids.push(id);
    }
    // A clock that breaches on its provisional due time, which the published schedule moves a
    // day later: 20 working days from Sun 2026-12-20 end on Mon 2027-01-18 provisionally, and
    // on Tue 01-19 once 01-04 is a rest day.
    let breaching = server
        .create(&complaint_received("2026-12-21T10:00:00+08:00"))
        .await;
    let breaching = breaching["id"].as_str().unwrap().to_owned();
    let (status, started) = server
        .post(
            &format!("/v1/cases/{breaching}/clocks"),
            &json!({"type": "start", "starts_at": "2026-12-20T10:00:00+08:00",
                    "clock": {"name": "reply", "amount": 20, "unit": "working_days",
                              "escalation": ["supervisor", "department_head"]}}),
        )
        .await;
    assert_eq!(status, 201, "{started}");
    assert_eq!(
        started["case"]["clocks"]["reply"]["due_at"],
        "2027-01-18T16:00:00Z"
    );
    server.set_time("2027-01-19T02:00:00Z");
    let (s, b) = (&server, breaching.as_str());
    wait_until("the provisional breach", move || async move {
        clock_changes(&events(s, b).await, "reply", "breached").len() == 1
    })
    .await;

    publish_2027(&server);
    let (s, b, all) = (&server, breaching.as_str(), &ids);
    wait_until("every mediation clock revised", move || async move {
        for id in all {
            if clock_changes(&events(s, id).await, "mediation", "schedule_revised").is_empty() {
                return false;
            }
        }
        !clock_changes(&events(s, b).await, "reply", "schedule_revised").is_empty()
    })
    .await;
    for id in &ids {
        let events = events(&server, id).await;
        let revised = clock_changes(&events, "mediation", "schedule_revised");
        assert_eq!(revised.len(), 1, "{revised:?}");
        let change = revised[0];
        assert_eq!(change["previous_provisional"], true, "{change}");
        assert_eq!(change["schedule"]["provisional"], false, "{change}");
        assert_ne!(
            change["previous_due_at"], change["schedule"]["due_at"],
            "{change}"
        );
        assert_eq!(change["calendar"], "cn-mainland");
        assert_eq!(change["calendar_version"].as_str().unwrap().len(), 16);
        assert!(
            change["sources"].to_string().contains("TEST ONLY"),
            "{change}"
        );
    }
    // The premature breach is corrected, not undone: it stays in the history, the clock runs
    // again to its revised due time and breaches then.
    let events_now = events(&server, &breaching).await;
    let revised = clock_changes(&events_now, "reply", "schedule_revised");
    assert_eq!(revised.len(), 1);
    assert_eq!(revised[0]["schedule"]["due_at"], "2027-01-19T16:00:00Z");
    assert!(
        !revised[0]["breach_corrected"].is_null(),
        "{:?}",
        revised[0]
    );
    assert_eq!(clock_changes(&events_now, "reply", "breached").len(), 1);
    let (_, case) = server.get(&format!("/v1/cases/{breaching}")).await;
    assert_eq!(case["clocks"]["reply"]["state"], "running", "{case}");
    server.set_time("2027-01-20T00:00:00Z");
    let (s, b) = (&server, breaching.as_str());
    wait_until("the breach at the revised due time", move || async move {
        clock_changes(&events(s, b).await, "reply", "breached").len() == 2
    })
    .await;
    let (_, ready) = server.get("/readyz").await;
    assert_eq!(ready["provisional_clocks"], 0, "{ready}");

    // Exactly once across a restart: the versions the clocks were reconciled with are on disk.
    let before = server.log_text().len();
    server.restart();
    tokio::time::sleep(Duration::from_millis(600)).await;
    let log = server.log_text();
    assert!(
        !log[before..].contains("calendar changed: recomputing"),
        "the second start found nothing to recompute: {}",
        &log[before..]
    );
    for id in ids.iter().chain([&breaching]) {
        let events = events(&server, id).await;
        let revisions = events
            .iter()
            .filter(|e| e["change"] == "schedule_revised")
            .count();
        assert_eq!(revisions, 1, "case {id}");
    }
    server.kill9();
    let (code, report) = audit(&server.data);
    assert_eq!(code, 0, "{report}");
}

#[tokio::test]
async fn a_revision_killed_half_way_is_finished_by_the_next_start() {
    // Paced, so that the pass over 300 cases takes about 3 s and the kill lands in it.
    let mut server = Server::start_with_clock_rulesets_and_args(
        "2026-12-24T02:00:00Z",
        rulesets_copy(),
        ["--revision-pause-ms", "10"],
    );
    // Received Thu 2026-12-24: 7 working days end on 2027-01-05 provisionally (01-01 is
    // statutory), on 01-06 once 01-04 is a rest day.
    const CASES: usize = 300;
    let mut ids = Vec::with_capacity(CASES);
    let body = complaint_received("2026-12-24T10:00:00+08:00");
    for _ in 0..CASES {
        let case = server.create(&body).await;
        assert_eq!(case["clocks"]["acceptance"]["provisional"], true, "{case}");
        ids.push(case["id"].as_str().unwrap().to_owned());
    }
    ids.sort();
    // Stopped, the schedule published, started again: the revision runs at start-up, over
    // the cases in id order. Killed a third of the way through.
    server.kill9();
    publish_2027(&server);
    server.launch();
    // A read may see a write a moment before it is durable, so wait for a third of the way.
    let (s, third) = (&server, ids[CASES / 3].as_str());
    wait_until("a third of the revisions", move || async move {
        !clock_changes(&events(s, third).await, "acceptance", "schedule_revised").is_empty()
    })
    .await;
    server.kill9();

    server.launch();
    let (s, last) = (&server, ids[CASES - 1].as_str());
    wait_until("the last revision", move || async move {
        !clock_changes(&events(s, last).await, "acceptance", "schedule_revised").is_empty()
    })
    .await;
    // The second start found the record of reconciled versions unchanged (the first pass never
    // finished) and revised only what the first had not.
    let s = &server;
    wait_until("the end of the second pass", move || async move {
        s.log_text()
            .contains("due times recomputed with the changed calendars")
    })
    .await;
    let log = server.log_text();
    let runs: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("due times recomputed with the changed calendars"))
        .collect();
    assert_eq!(runs.len(), 1, "only the second pass finished: {runs:?}");
    let revised_by_second: u64 = serde_json::from_str::<Value>(runs[0]).unwrap()["clocks_revised"]
        .as_u64()
        .unwrap();
    assert!(
        revised_by_second > 0 && revised_by_second < CASES as u64,
        "the kill came half-way: the second pass revised {revised_by_second} of {CASES}"
    );
    for id in &ids {
        let events = events(&server, id).await;
        let revised = clock_changes(&events, "acceptance", "schedule_revised");
        assert_eq!(revised.len(), 1, "case {id}: {revised:?}");
        assert_eq!(revised[0]["schedule"]["due_at"], "2027-01-06T16:00:00Z");
    }
    server.kill9();
    let (code, report) = audit(&server.data);
    assert_eq!(code, 0, "{report}");
}

/// A ruleset whose decision on every handler event fails, but whose acceptance clock declares
/// that `accept` and `reject` meet it.
fn failing_ruleset() -> tempfile::TempDir {
    let rulesets = bare_rulesets();
    let package = rulesets.path().join("failing");
    std::fs::create_dir_all(&package).unwrap();
    std::fs::write(
        package.join("ruleset.toml"),
        r#"id = "failing-on-handler-events"
version = "1.0.0"
name = "Test: decides on receipt, fails on every handler event"
sector = "market_supervision"
effective_from = 2020-01-01
engine = "rhai"

[clocks.acceptance]
met_by = ["accept", "reject"]
"#,
    )
    .unwrap();
    std::fs::write(
        package.join("rules.rhai"),
        r#"fn decide(trigger, the_case, ctx) {
    switch trigger.type {
        "case_received" => [start_clock("acceptance", working_days(7), "test art. 14")],
        "handler_event" => throw "this rule fails on every handler event",
        _ => [],
    }
}
"#,
    )
    .unwrap();
    rulesets
}

#[tokio::test]
async fn a_clock_is_met_although_the_decision_on_the_meeting_event_failed() {
    let server =
        Server::start_with_clock_and_ruleset_dir("2026-02-13T03:00:00Z", failing_ruleset());
    let case = server.create(&complaint()).await;
    let id = case["id"].as_str().unwrap().to_owned();
    assert_eq!(case["clocks"]["acceptance"]["state"], "running", "{case}");
    let (status, accepted) = server.act(&id, json!({"type": "accept"})).await;
    assert_eq!(status, 201, "{accepted}");
    assert_eq!(accepted["case"]["status"], "accepted");
    assert_eq!(
        accepted["case"]["clocks"]["acceptance"]["state"], "met",
        "{accepted}"
    );
    assert!(
        !accepted["case"]["manual_handling"].is_null(),
        "the failed decision is loud: {accepted}"
    );
    // Past the due date (Mon 2026-03-02): nothing breaches.
    server.set_time("2026-03-10T00:00:00Z");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let events = events(&server, &id).await;
    assert!(
        clock_changes(&events, "acceptance", "breached").is_empty(),
        "{events:?}"
    );
}

#[tokio::test]
async fn a_case_the_rules_could_not_decide_stays_in_manual_handling_until_cleared() {
    // No ruleset at all: every case is a recorded rule failure.
    let server = Server::start();
    let quiet = server.create(&complaint()).await;
    let case = server.create(&complaint()).await;
    let id = case["id"].as_str().unwrap().to_owned();
    let manual = &case["manual_handling"];
    assert!(
        manual["reason"]
            .as_str()
            .unwrap()
            .contains("no active ruleset"),
        "{case}"
    );
    assert!(manual["ruleset"].is_null());
    assert!(!manual["since"].is_null());
    // Loud: a WARN line naming the case (and nothing personal), the listing, /readyz.
    let log = server.log_text();
    let warning = log
        .lines()
        .find(|l| l.contains("\"WARN\"") && l.contains(&id) && l.contains("manual handling"))
        .unwrap_or_else(|| panic!("no WARN line for {id}: {log}"));
    assert!(
        !warning.contains("张三") && !warning.contains("13800138000"),
        "{warning}"
    );
    let (_, listed) = server.get("/v1/cases?manual=true").await;
    assert_eq!(listed["items"].as_array().unwrap().len(), 2, "{listed}");
    let (status, ready) = server.get("/readyz").await;
    assert_eq!(status, 200);
    assert_eq!(ready["status"], "degraded", "{ready}");
    assert_eq!(ready["manual_handling"], 2, "{ready}");

    // A note is not a decision: the mark stays (it used to be cleared by any person's action).
    let (status, noted) = server
        .act(
            &id,
            json!({"type": "note", "text": "called the complainant"}),
        )
        .await;
    assert_eq!(status, 201, "{noted}");
    assert!(!noted["case"]["manual_handling"].is_null(), "{noted}");
    let (status, problem) = server
        .act(&id, json!({"type": "clear_manual_handling"}))
        .await;
    assert_eq!(status, 422, "a reason is required: {problem}");
    let (status, cleared) = server
        .act(
            &id,
            json!({"type": "clear_manual_handling", "reason": "accepted by hand under art. 14"}),
        )
        .await;
    assert_eq!(status, 201, "{cleared}");
    assert!(cleared["case"]["manual_handling"].is_null(), "{cleared}");
    let (status, problem) = server
        .act(
            &id,
            json!({"type": "clear_manual_handling", "reason": "again"}),
        )
        .await;
    assert_eq!(status, 409, "nothing left to clear: {problem}");
    let (_, listed) = server.get("/v1/cases?manual=true").await;
    let items = listed["items"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["id"], quiet["id"]);
    let (_, ready) = server.get("/readyz").await;
    assert_eq!(ready["manual_handling"], 1, "{ready}");
}

//! Statutory clocks end to end: computed due times with explanations, pause and resume, and the
//! scheduler firing warnings and breaches exactly once across a kill -9, on simulated time.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::{Server, complaint};

/// Market supervision art. 14: decide acceptance within 7 working days of receipt.
fn acceptance_clock() -> Value {
    json!({
        "type": "start",
        "starts_at": "2026-02-13T10:00:00+08:00",
        "clock": {
            "name": "acceptance",
            "amount": 7,
            "unit": "working_days",
            "calendar": "cn-mainland",
            "warn_before": {"amount": 2, "unit": "working_days"},
            "article": "市场监督管理投诉举报处理暂行办法 art. 14",
            "escalation": ["supervisor", "department_head"]
        }
    })
}

async fn clock_events(server: &Server, id: &str) -> Vec<Value> {
    let (status, timeline) = server.get(&format!("/v1/cases/{id}/timeline")).await;
    assert_eq!(status, 200, "{timeline}");
    timeline["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["event"]["type"] == "clock")
        .map(|e| e["event"].clone())
        .collect()
}

fn count(events: &[Value], change: &str) -> usize {
    events.iter().filter(|e| e["change"] == change).count()
}

/// Polls until `done` holds for the case's clock events, or fails after 15 s.
async fn wait_for(
    server: &Server,
    id: &str,
    what: &str,
    done: impl Fn(&[Value]) -> bool,
) -> Vec<Value> {
    let started = Instant::now();
    loop {
        let events = clock_events(server, id).await;
        if done(&events) {
            return events;
        }
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "timed out waiting for {what}: {events:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_clock_is_computed_explained_paused_and_resumed() {
    let server = Server::start_with_clock("2026-02-13T03:00:00Z");
    let id = server.create(&complaint()).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, started) = server
        .post(&format!("/v1/cases/{id}/clocks"), &acceptance_clock())
        .await;
    assert_eq!(status, 201, "{started}");
    let clock = &started["case"]["clocks"]["acceptance"];
    // Received Fri 2026-02-13: the make-up Saturdays 02-14 and 02-28 count, the Spring Festival
    // block 02-15..02-23 does not; the 7th working day is Mon 03-02, which ends at 24:00 local.
    assert_eq!(clock["due_at"], "2026-03-02T16:00:00Z", "{clock}");
    assert_eq!(clock["state"], "running");
    assert!(clock["warning_at"].as_str().unwrap() < clock["due_at"].as_str().unwrap());
    let explanation = clock["explanation"].to_string();
    assert!(
        explanation.contains("2026-02-14"),
        "the make-up Saturday is in the explanation: {explanation}"
    );

    let (status, listed) = server.get(&format!("/v1/cases/{id}/clocks")).await;
    assert_eq!(status, 200);
    assert_eq!(listed["clocks"][0]["name"], "acceptance");
    assert!(listed["clocks"][0]["remaining_seconds"].as_i64().unwrap() > 0);

    // Appraisal from Tue 02-24 to Thu 02-26: the days excluded are 02-25 and 02-26, so the due
    // date moves two working days later, to Wed 03-04.
    server.set_time("2026-02-24T02:00:00Z");
    let (status, paused) = server
        .post(
            &format!("/v1/cases/{id}/clocks"),
            &json!({"type": "pause", "name": "acceptance", "reason": "检测"}),
        )
        .await;
    assert_eq!(status, 201, "{paused}");
    assert_eq!(paused["case"]["clocks"]["acceptance"]["state"], "paused");
    assert!(paused["case"]["clocks"]["acceptance"]["due_at"].is_null());
    server.set_time("2026-02-26T02:00:00Z");
    let (status, resumed) = server
        .post(
            &format!("/v1/cases/{id}/clocks"),
            &json!({"type": "resume", "name": "acceptance"}),
        )
        .await;
    assert_eq!(status, 201, "{resumed}");
    assert_eq!(
        resumed["case"]["clocks"]["acceptance"]["due_at"],
        "2026-03-04T16:00:00Z"
    );

    // A second start of a running clock, or a resume of a running one, is refused and changes nothing.
    let (status, problem) = server
        .post(&format!("/v1/cases/{id}/clocks"), &acceptance_clock())
        .await;
    assert_eq!(status, 409, "{problem}");
    let (status, _) = server
        .post(
            &format!("/v1/cases/{id}/clocks"),
            &json!({"type": "resume", "name": "acceptance"}),
        )
        .await;
    assert_eq!(status, 409);
    let (status, _) = server
        .post(
            &format!("/v1/cases/{id}/clocks"),
            &json!({"type": "pause", "name": "nothing", "reason": "x"}),
        )
        .await;
    assert_eq!(status, 409);

    // A year without a published schedule is never guessed.
    let mut late = acceptance_clock();
    late["clock"]["name"] = json!("review");
    late["starts_at"] = json!("2027-06-01T10:00:00+08:00");
    let (status, problem) = server.post(&format!("/v1/cases/{id}/clocks"), &late).await;
    assert_eq!(status, 422, "{problem}");
    assert_eq!(
        problem["type"],
        "urn:redress:problem:deadline-not-computable"
    );
    assert_eq!(
        clock_events(&server, &id).await.len(),
        3,
        "only start, pause, resume were recorded"
    );
}

#[tokio::test]
async fn two_overlapping_pauses_stop_the_count_from_the_first_start_to_the_last_end() {
    let server = Server::start_with_clock("2026-02-13T03:00:00Z");
    let id = server.create(&complaint()).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let clocks = format!("/v1/cases/{id}/clocks");
    let (status, _) = server.post(&clocks, &acceptance_clock()).await;
    assert_eq!(status, 201);
    // Appraisal from Tue 02-24, mediation from Wed 02-25 (banking arts. 18 and 23 both exclude
    // their time): one interval of not counting.
    server.set_time("2026-02-24T02:00:00Z");
    let pause = |reason: &str| json!({"type": "pause", "name": "acceptance", "reason": reason});
    let resume = |ground: Option<&str>| match ground {
        Some(g) => json!({"type": "resume", "name": "acceptance", "pause": g}),
        None => json!({"type": "resume", "name": "acceptance"}),
    };
    assert_eq!(server.post(&clocks, &pause("appraisal: 检测")).await.0, 201);
    server.set_time("2026-02-25T02:00:00Z");
    let (status, both) = server.post(&clocks, &pause("mediation")).await;
    assert_eq!(status, 201, "{both}");
    assert_eq!(
        both["case"]["clocks"]["acceptance"]["open_pauses"],
        json!(["appraisal: 检测", "mediation"])
    );
    // The same ground twice, or a resume that does not say which pause ended, is refused.
    let (status, problem) = server.post(&clocks, &pause("mediation")).await;
    assert_eq!(status, 409, "{problem}");
    server.set_time("2026-02-26T02:00:00Z");
    let (status, problem) = server.post(&clocks, &resume(None)).await;
    assert_eq!(status, 409, "{problem}");
    assert!(
        problem["detail"]
            .to_string()
            .contains("name the one that ended"),
        "{problem}"
    );
    let (status, problem) = server.post(&clocks, &resume(Some("inspection"))).await;
    assert_eq!(status, 409, "{problem}");
    // The appraisal ends on Thu 02-26: mediation still holds the clock.
    let (status, one_left) = server.post(&clocks, &resume(Some("appraisal"))).await;
    assert_eq!(status, 201, "{one_left}");
    let clock = &one_left["case"]["clocks"]["acceptance"];
    assert_eq!(clock["state"], "paused", "{clock}");
    assert!(clock["due_at"].is_null());
    assert_eq!(clock["open_pauses"], json!(["mediation"]));
    // Mediation ends on Fri 02-27. Not counted: 02-25, 02-26, 02-27 (the day a pause starts
    // counts, as in the test above), so the due date moves three working days past Mon 03-02,
    // to Thu 03-05.
    server.set_time("2026-02-27T02:00:00Z");
    let (status, resumed) = server.post(&clocks, &resume(Some("mediation"))).await;
    assert_eq!(status, 201, "{resumed}");
    let clock = &resumed["case"]["clocks"]["acceptance"];
    assert_eq!(clock["state"], "running");
    assert_eq!(clock["due_at"], "2026-03-05T16:00:00Z", "{clock}");
    assert_eq!(clock["pauses"].as_array().unwrap().len(), 1, "{clock}");
    assert_eq!(clock["pauses"][0]["reason"], "appraisal: 检测; mediation");
    assert!(clock.get("open_pauses").is_none(), "{clock}");
    assert_eq!(
        clock_events(&server, &id).await.len(),
        5,
        "start, pause, pause, end of one pause, resume; nothing for the refusals"
    );
}

#[tokio::test]
async fn the_scheduler_warns_then_breaches_exactly_once_across_a_kill_9() {
    let mut server = Server::start_with_clock("2026-02-13T03:00:00Z");
    let id = server.create(&complaint()).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, started) = server
        .post(&format!("/v1/cases/{id}/clocks"), &acceptance_clock())
        .await;
    assert_eq!(status, 201, "{started}");
    let warning_at = started["case"]["clocks"]["acceptance"]["warning_at"]
        .as_str()
        .unwrap()
        .to_owned();
    let due_at = started["case"]["clocks"]["acceptance"]["due_at"]
        .as_str()
        .unwrap()
        .to_owned();

    // Just before the warning point nothing fires.
    let just_before: jiff::Timestamp =
        warning_at.parse::<jiff::Timestamp>().unwrap() - jiff::SignedDuration::from_secs(1);
    server.set_time(&just_before.to_string());
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert!(
        clock_events(&server, &id)
            .await
            .iter()
            .all(|e| e["change"] == "started")
    );

    server.set_time(&warning_at);
    let events = wait_for(&server, &id, "the warning", |e| count(e, "warned") == 1).await;
    assert_eq!(count(&events, "breached"), 0);

    // Crash between the warning and the breach; time passes the due point while the server is down.
    server.kill9();
    server.set_time("2026-03-05T00:00:00Z");
    server.restart();
    let events = wait_for(&server, &id, "the breach", |e| count(e, "breached") == 1).await;
    assert_eq!(count(&events, "warned"), 1, "the warning was not repeated");
    let breach = events.iter().find(|e| e["change"] == "breached").unwrap();
    assert_eq!(
        breach["escalated_to"], "supervisor",
        "the first escalation tier"
    );

    // More passes, another crash and restart: nothing fires again.
    tokio::time::sleep(Duration::from_millis(300)).await;
    server.restart();
    tokio::time::sleep(Duration::from_millis(400)).await;
    let events = clock_events(&server, &id).await;
    assert_eq!(
        (count(&events, "warned"), count(&events, "breached")),
        (1, 1),
        "{events:?}"
    );

    let (_, case) = server.get(&format!("/v1/cases/{id}")).await;
    assert_eq!(case["clocks"]["acceptance"]["state"], "breached");
    assert_eq!(case["clocks"]["acceptance"]["due_at"], due_at.as_str());
    let (_, overdue) = server.get("/v1/cases?overdue=true").await;
    assert_eq!(overdue["items"][0]["id"], id.as_str());
    let (_, due_soon) = server
        .get("/v1/cases?due_before=2026-03-10T00:00:00Z")
        .await;
    assert!(
        due_soon["items"].as_array().unwrap().is_empty(),
        "a breached clock is no longer 'due'"
    );
    server.kill9();
    let (code, report) = crate::support::audit(&server.data);
    assert_eq!(code, 0, "{report}");
}

#[tokio::test]
async fn closing_a_case_stops_its_clocks_in_the_same_write() {
    let server = Server::start_with_clock("2026-02-13T03:00:00Z");
    let id = server.create(&complaint()).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    server
        .post(&format!("/v1/cases/{id}/clocks"), &acceptance_clock())
        .await;
    let (status, result) = server
        .act(
            &id,
            json!({"type": "withdraw", "reason": "settled privately"}),
        )
        .await;
    assert_eq!(status, 201, "{result}");
    assert_eq!(
        result["events"].as_array().unwrap().len(),
        2,
        "the action and the clock stop"
    );
    assert_eq!(result["case"]["clocks"]["acceptance"]["state"], "stopped");
    server.set_time("2026-04-01T00:00:00Z");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let events = clock_events(&server, &id).await;
    assert_eq!(
        count(&events, "breached"),
        0,
        "a stopped clock never breaches"
    );
}

#[tokio::test]
async fn calendars_reload_on_change_and_a_broken_file_is_refused() {
    let server = Server::start_with_own_calendars();
    let id = server.create(&complaint()).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let calendars = server.rulesets.join("calendars");
    let start = |name: &str, calendar: &str| {
        let mut body = acceptance_clock();
        body["clock"]["name"] = json!(name);
        body["clock"]["calendar"] = json!(calendar);
        body
    };
    let (status, problem) = server
        .post(
            &format!("/v1/cases/{id}/clocks"),
            &start("a", "cn-shenzhen"),
        )
        .await;
    assert_eq!(status, 422, "{problem}");
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("unknown calendar `cn-shenzhen`"),
        "{problem}"
    );

    // A broken file: the server refuses the change, logs file and line, and keeps serving.
    std::fs::write(
        calendars.join("broken.toml"),
        "id = \"broken\"\nextends = \"cn-mainland\"\nshoe_size = 42\n",
    )
    .unwrap();
    let started = Instant::now();
    while !server.log_text().contains("calendar change refused") {
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "no refusal logged: {}",
            server.log_text()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(
        server.log_text().contains("broken.toml:3"),
        "the refusal names the file and line"
    );
    let (status, _) = server
        .post(
            &format!("/v1/cases/{id}/clocks"),
            &start("b", "cn-mainland"),
        )
        .await;
    assert_eq!(status, 201, "the calendars in force still work");

    // A good new variant takes effect without a restart.
    std::fs::remove_file(calendars.join("broken.toml")).unwrap();
    std::fs::write(
        calendars.join("cn-shenzhen.toml"),
        "id = \"cn-shenzhen\"\nname = \"Shenzhen offices\"\nextends = \"cn-mainland\"\n",
    )
    .unwrap();
    let started = Instant::now();
    loop {
        let (status, body) = server
            .post(
                &format!("/v1/cases/{id}/clocks"),
                &start("c", "cn-shenzhen"),
            )
            .await;
        if status == 201 {
            assert_eq!(
                body["case"]["clocks"]["c"]["due_at"],
                "2026-03-02T16:00:00Z"
            );
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "the new calendar never loaded: {body}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The ruleset decides what a breach means: here Order 20 escalates an overdue acceptance to the
/// supervisor. Its decision is applied exactly once, across a crash between warning and breach.
#[tokio::test]
async fn the_rulesets_escalation_on_breach_is_applied_once_across_a_kill_9() {
    let mut server = Server::start_with_clock_and_rulesets("2026-02-13T03:00:00Z");
    let case = server.create(&complaint()).await;
    let id = case["id"].as_str().unwrap().to_owned();
    let warning_at = case["clocks"]["acceptance"]["warning_at"]
        .as_str()
        .unwrap()
        .to_owned();
    server.set_time(&warning_at);
    wait_for(&server, &id, "the warning", |e| count(e, "warned") == 1).await;
    server.kill9();
    server.set_time("2026-03-04T00:00:00Z");
    server.restart();
    wait_for(&server, &id, "the breach", |e| count(e, "breached") == 1).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    server.restart();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (_, case) = server.get(&format!("/v1/cases/{id}")).await;
    let escalations = case["ruling"]["escalations"].as_array().unwrap();
    assert_eq!(escalations.len(), 1, "{case}");
    assert_eq!(escalations[0]["to"], "supervisor");
    assert!(
        escalations[0]["reason"]
            .as_str()
            .unwrap()
            .contains("art. 14")
    );
    let (_, timeline) = server.get(&format!("/v1/cases/{id}/timeline")).await;
    let breach_decisions = timeline["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| {
            e["event"]["type"] == "decision" && e["event"]["trigger"]["type"] == "clock_breach"
        })
        .count();
    assert_eq!(breach_decisions, 1);
}

/// A window the law gives a party (banking art. 20: 30 days to ask for a review) is closed at
/// its end, not breached: no escalation, and the rules are still asked (`clock_breach`).
#[tokio::test]
async fn a_window_closes_at_its_end_and_is_never_breached() {
    let server = Server::start_with_clock_and_rulesets("2026-03-02T02:00:00Z");
    let case = server
        .create(&json!({"sector": "banking", "channel": "web", "received_at": "2026-03-02T10:00:00+08:00",
            "complainant": {"name": "王五", "phone": "13900000000", "address": "北京市朝阳区"},
            "respondent": {"name": "某银行股份有限公司", "division_code": "110105"},
            "claim": "撤销不当收取的年费", "filed_by": "complainant"}))
        .await;
    let id = case["id"].as_str().unwrap().to_owned();
    server.set_time("2026-03-05T02:00:00Z");
    let (status, resolved) = server
        .act(&id, json!({"type": "resolve", "outcome": "退还年费"}))
        .await;
    assert_eq!(status, 201, "{resolved}");
    let window = &resolved["case"]["clocks"]["review_request_window"];
    assert_eq!(window["state"], "running", "{resolved}");
    assert_eq!(window["spec"]["window"], true, "{window}");
    server.set_time("2026-05-01T00:00:00Z");
    wait_for(&server, &id, "the window to close", |events| {
        events
            .iter()
            .any(|e| e["name"] == "review_request_window" && e["change"] == "stopped")
    })
    .await;
    let (_, case) = server.get(&format!("/v1/cases/{id}")).await;
    assert_eq!(
        case["clocks"]["review_request_window"]["state"], "stopped",
        "{case}"
    );
    assert!(case["clocks"]["review_request_window"]["breached_at"].is_null());
    let events = clock_events(&server, &id).await;
    assert_eq!(count(&events, "breached"), 0, "{events:?}");
    let closed: Vec<_> = events
        .iter()
        .filter(|e| e["name"] == "review_request_window" && e["change"] == "stopped")
        .collect();
    assert_eq!(closed.len(), 1);
    assert!(
        closed[0]["reason"]
            .as_str()
            .unwrap()
            .starts_with("the window closed")
    );
    assert!(
        case["ruling"]["escalations"]
            .as_array()
            .is_none_or(|e| e.is_empty()),
        "{case}"
    );
}

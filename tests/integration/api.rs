//! The API as a client uses it: create, read, list, advance.

use serde_json::{Value, json};

use crate::support::{Server, complaint};

#[tokio::test]
async fn create_read_list_and_advance_a_case() {
    let server = Server::start();
    let case = server.create(&complaint()).await;
    let id = case["id"].as_str().unwrap();
    assert_eq!(case["status"], "received");
    // Registered, then the rules asked: no ruleset is installed on this server, so the case
    // carries a recorded rule failure and is marked for manual handling (fail closed).
    assert_eq!(case["version"], 2);
    assert!(
        case["manual_handling"]["reason"]
            .as_str()
            .unwrap()
            .contains("no active ruleset")
    );
    assert!(case["tracking_code"].as_str().unwrap().starts_with("RD-"));
    assert_eq!(case["received_at"], "2026-02-13T02:00:00Z");

    let (status, fetched) = server.get(&format!("/v1/cases/{id}")).await;
    assert_eq!((status, &fetched), (200, &case));

    for (action, expected) in [
        (json!({"type": "accept"}), "accepted"),
        (json!({"type": "assign", "assignee": "li.si"}), "accepted"),
        (json!({"type": "start_mediation"}), "in_progress"),
        (
            json!({"type": "resolve", "outcome": "商家同意退货退款"}),
            "resolved",
        ),
        (json!({"type": "close"}), "closed"),
    ] {
        let (status, body) = server.act(id, action.clone()).await;
        assert_eq!(status, 201, "{action}: {body}");
        assert_eq!(body["case"]["status"], expected, "{action}");
    }
    let (_, closed) = server.get(&format!("/v1/cases/{id}")).await;
    assert_eq!(closed["version"], 7);
    // No ruleset decided this case: the mark stays until a person clears it with a reason,
    // whatever else they do (issue #12; it used to vanish with the first action).
    assert!(
        !closed["manual_handling"].is_null(),
        "only clear_manual_handling ends manual handling"
    );
    assert_eq!(closed["assignment"]["assignee"], "li.si");
    assert_eq!(closed["outcome"]["kind"], "resolved");

    let (status, timeline) = server.get(&format!("/v1/cases/{id}/timeline")).await;
    assert_eq!(status, 200);
    let events = timeline["events"].as_array().unwrap();
    assert_eq!(events.len(), 7);
    assert_eq!(events[0]["event"]["type"], "received");
    assert_eq!(events[1]["event"]["type"], "rule_failure");
    for pair in events.windows(2) {
        assert_eq!(
            pair[1]["prev_hash"], pair[0]["hash"],
            "the chain links each event to the previous"
        );
    }

    let (status, list) = server.get("/v1/cases?status=closed").await;
    assert_eq!(status, 200);
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    let (_, list) = server.get("/v1/cases?status=received").await;
    assert!(list["items"].as_array().unwrap().is_empty());
}

#[tokio::test]
async fn listing_filters_and_pages_with_a_cursor() {
    let server = Server::start();
    let mut ids = Vec::new();
    for (i, sector) in [
        "market_supervision",
        "banking",
        "banking",
        "healthcare",
        "banking",
    ]
    .iter()
    .enumerate()
    {
        let mut body = complaint();
        body["sector"] = json!(sector);
        body["received_at"] = json!(format!("2026-03-0{}T09:00:00+08:00", i + 1));
        ids.push(
            server.create(&body).await["id"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    // Another tenant's case never shows up.
    let other = server
        .client
        .post(server.url("/v1/cases"))
        .header("x-redress-tenant", "acme-bank")
        .json(&complaint())
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), 201);

    let mut seen = Vec::new();
    let mut path = "/v1/cases?sector=banking&limit=2".to_owned();
    loop {
        let (status, page) = server.get(&path).await;
        assert_eq!(status, 200, "{page}");
        seen.extend(
            page["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c["id"].as_str().unwrap().to_owned()),
        );
        match page["next_cursor"].as_str() {
            Some(cursor) => path = format!("/v1/cases?sector=banking&limit=2&cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!(
        seen,
        vec![ids[4].clone(), ids[2].clone(), ids[1].clone()],
        "newest first, banking only"
    );

    let (_, window) = server
        .get("/v1/cases?received_from=2026-03-02T00:00:00%2B08:00&received_before=2026-03-04T00:00:00%2B08:00")
        .await;
    let window: Vec<&str> = window["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(window, vec![ids[2].as_str(), ids[1].as_str()]);

    let (_, all) = server.get("/v1/cases?limit=500").await;
    assert_eq!(all["items"].as_array().unwrap().len(), 5);
}

#[tokio::test]
async fn idempotent_create_and_optimistic_concurrency() {
    let server = Server::start();
    let send = || {
        server
            .client
            .post(server.url("/v1/cases"))
            .header("idempotency-key", "hotline-ticket-42")
            .json(&complaint())
            .send()
    };
    let first = send().await.unwrap();
    assert_eq!(first.status(), 201);
    let first: Value = first.json().await.unwrap();
    let again = send().await.unwrap();
    assert_eq!(again.status(), 200, "a retry returns the first case");
    let again: Value = again.json().await.unwrap();
    assert_eq!(first["id"], again["id"]);
    let (_, list) = server.get("/v1/cases").await;
    assert_eq!(
        list["items"].as_array().unwrap().len(),
        1,
        "nothing registered twice"
    );

    let id = first["id"].as_str().unwrap();
    let stale = server
        .client
        .post(server.url(&format!("/v1/cases/{id}/events")))
        .header("if-match", "\"7\"")
        .json(&json!({"type": "accept"}))
        .send()
        .await
        .unwrap();
    let (status, problem) = crate::support::read(stale).await;
    assert_eq!(status, 412, "{problem}");
    assert_eq!(problem["type"], "urn:redress:problem:version-conflict");
    let current = server
        .client
        .post(server.url(&format!("/v1/cases/{id}/events")))
        .header("if-match", "\"2\"")
        .json(&json!({"type": "accept"}))
        .send()
        .await
        .unwrap();
    assert_eq!(current.status(), 201);
    assert_eq!(current.headers()["etag"], "\"3\"");
}

#[tokio::test]
async fn the_openapi_document_is_served_and_matches_the_committed_one() {
    let server = Server::start();
    let (status, served) = server.get("/v1/openapi.json").await;
    assert_eq!(status, 200);
    assert_eq!(served["openapi"], "3.1.0");
    let committed: Value = serde_json::from_str(
        &std::fs::read_to_string(crate::support::repo_root().join("schemas/openapi.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(served, committed);
    let (status, health) = server.get("/healthz").await;
    assert_eq!((status, health), (200, json!({"status": "ok"})));
    let (status, _) = server.get("/readyz").await;
    assert_eq!(status, 200);
}

/// The State Council publishes next year's schedule around November; until it is added,
/// deadlines running into that year fail closed. Readiness says so in time, and not earlier.
#[tokio::test]
async fn readiness_warns_when_a_calendar_is_about_to_run_out() {
    let server = Server::start_with_clock("2026-06-01T00:00:00Z");
    let (status, ready) = server.get("/readyz").await;
    assert_eq!(
        (status, ready),
        (
            200,
            json!({"status": "ready", "manual_handling": 0, "provisional_clocks": 0})
        )
    );

    let server = Server::start_with_clock("2026-11-30T00:00:00Z");
    let (status, ready) = server.get("/readyz").await;
    assert_eq!(status, 200);
    assert_eq!(ready["status"], "ready");
    let warnings = ready["warnings"].as_array().unwrap();
    assert!(
        warnings.iter().any(|w| {
            let w = w.as_str().unwrap();
            w.contains("`cn-mainland` has published schedules up to 2026-12-31 (31 days")
        }),
        "{warnings:?}"
    );
}

/// Found by schemathesis (issue #7): `GET /v1/routing` answered 404 for a tenant without a
/// table, a status the OpenAPI document did not list.
#[tokio::test]
async fn getting_a_missing_routing_table_is_a_documented_404() {
    let server = Server::start();
    let (status, problem) = server.get("/v1/routing").await;
    assert_eq!(status, 404, "{problem}");
    let (_, openapi) = server.get("/v1/openapi.json").await;
    let documented = &openapi["paths"]["/v1/routing"]["get"]["responses"];
    assert!(documented.get("404").is_some(), "{documented}");
}

/// Issue 15: what the law counts from and what meets a duty is posted like any other action,
/// checked by the lifecycle and kept in the timeline field for field; an action out of place is
/// a 409 that changes nothing; a clock met by a notice about one thing
/// (`give_notice:decision_notice`) is met by that notice and by no other.
#[tokio::test]
async fn the_facts_of_issue_15_are_recorded_checked_and_meet_their_clocks() {
    let server = Server::start_with_clock("2026-02-13T03:00:00Z");
    let id = server.create(&complaint()).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, started) = server
        .post(
            &format!("/v1/cases/{id}/clocks"),
            &json!({"type": "start", "clock": {
                "name": "decision_notice", "amount": 15, "unit": "calendar_days",
                "article": "银行业保险业消费投诉处理管理办法 art. 18",
                "met_by": ["give_notice:decision_notice"]
            }}),
        )
        .await;
    assert_eq!(status, 201, "{started}");

    let notice = |about: &str, means: &str| json!({"type": "give_notice", "recipient": "complainant", "means": means, "about": about});
    let steps = [
        (
            json!({"type": "competent_office_received", "office": "330106-msa", "note": "上级交办"}),
            "received",
        ),
        (
            json!({"type": "request_documents", "documents": ["授权委托书原件", "代理人身份证件"], "reason": "代理投诉"}),
            "received",
        ),
        (
            json!({"type": "record_violation_clue", "description": "涉嫌虚假宣传"}),
            "received",
        ),
        (json!({"type": "accept"}), "accepted"),
        (notice("acceptance_notice", "letter"), "accepted"),
        (json!({"type": "start_mediation"}), "in_progress"),
        (
            json!({"type": "request_recusal", "reason": "调解员与被投诉人有利害关系"}),
            "in_progress",
        ),
        (
            json!({"type": "decide_recusal", "granted": false, "note": "无利害关系"}),
            "in_progress",
        ),
        (
            json!({"type": "agree_mediation_extension", "amount": 10, "unit": "working_days", "reason": "双方同意", "agreed_by": "双方当事人"}),
            "in_progress",
        ),
        (notice("extension_notice", "phone"), "in_progress"),
        (
            json!({"type": "resolve", "outcome": "商家同意退款"}),
            "resolved",
        ),
        (
            json!({"type": "record_callback", "satisfied": false, "note": "未收到退款"}),
            "resolved",
        ),
        (
            json!({"type": "return_for_rework", "reason": "回访不满意"}),
            "in_progress",
        ),
        (json!({"type": "resolve", "outcome": "已退款"}), "resolved"),
        (notice("decision_notice", "email"), "resolved"),
        (
            json!({"type": "record_callback", "satisfied": true}),
            "resolved",
        ),
        (json!({"type": "close"}), "closed"),
        (
            json!({"type": "request_review", "requested_on": "2026-02-20", "reason": "对处理结果不服"}),
            "closed",
        ),
    ];
    let mut met = false;
    for (action, expected) in &steps {
        let (status, body) = server.act(&id, action.clone()).await;
        assert_eq!(status, 201, "{action}: {body}");
        assert_eq!(body["case"]["status"], *expected, "{action}");
        let clock = &body["case"]["clocks"]["decision_notice"];
        met |= action["about"] == "decision_notice";
        assert_eq!(
            clock["state"],
            if met { "met" } else { "running" },
            "after {action}: only the decision notice meets the clock: {clock}"
        );
    }

    let (_, before) = server.get(&format!("/v1/cases/{id}")).await;
    for illegal in [
        notice("decision_notice", "sms"),
        json!({"type": "return_for_rework", "reason": "x"}),
        json!({"type": "record_callback", "satisfied": true}),
        json!({"type": "request_recusal", "reason": "x"}),
    ] {
        let (status, problem) = server.act(&id, illegal.clone()).await;
        assert_eq!(status, 409, "{illegal}: {problem}");
        assert!(
            problem["type"]
                .as_str()
                .unwrap()
                .ends_with("illegal-transition"),
            "{problem}"
        );
        assert!(
            problem["detail"]
                .as_str()
                .unwrap()
                .contains("the case is `closed`"),
            "{problem}"
        );
    }
    let (_, after) = server.get(&format!("/v1/cases/{id}")).await;
    assert_eq!(
        after["version"], before["version"],
        "a refusal changes nothing"
    );

    let (status, timeline) = server.get(&format!("/v1/cases/{id}/timeline")).await;
    assert_eq!(status, 200);
    let recorded: Vec<Value> = timeline["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["event"]["type"] == "handler")
        .map(|e| {
            let mut action = e["event"]["action"].clone();
            // Absent optional fields are recorded as null.
            action.as_object_mut().unwrap().retain(|_, v| !v.is_null());
            action
        })
        .collect();
    let posted: Vec<Value> = steps.iter().map(|(action, _)| action.clone()).collect();
    assert_eq!(recorded, posted);
    let met: Vec<&Value> = timeline["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["event"]["type"] == "clock" && e["event"]["change"] == "stopped")
        .collect();
    assert_eq!(met.len(), 1, "{met:?}");
    assert_eq!(met[0]["event"]["met"], true);
    assert_eq!(
        met[0]["event"]["reason"],
        "met by `give_notice:decision_notice`"
    );
}

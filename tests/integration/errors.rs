//! Every error class: its status, its problem body, and that it changed nothing.

use serde_json::{Value, json};

use crate::support::{Server, complaint, read};

/// The tenant's listing and one case's version: what a failed request must leave untouched.
async fn state(server: &Server, id: &str) -> (usize, Value) {
    let (_, list) = server.get("/v1/cases?limit=500").await;
    let (_, case) = server.get(&format!("/v1/cases/{id}")).await;
    (
        list["items"].as_array().unwrap().len(),
        case["version"].clone(),
    )
}

/// (method, path, content type, body, status, problem type, pointers that must be named)
type Row<'a> = (&'a str, String, &'a str, String, u16, &'a str, Vec<&'a str>);

#[tokio::test]
async fn each_error_class_has_its_status_and_problem_and_changes_nothing() {
    let server = Server::start();
    let case = server.create(&complaint()).await;
    let id = case["id"].as_str().unwrap().to_owned();
    let before = state(&server, &id).await;

    let mut missing_claim = complaint();
    missing_claim.as_object_mut().unwrap().remove("claim");
    let mut wrong_type = complaint();
    wrong_type["complainant_count"] = json!("many");
    let mut unknown_field = complaint();
    unknown_field["respondent"]["nickname"] = json!("x");
    let mut several = complaint();
    several["respondent"]["division_code"] = json!("12");
    several["complainant"]["phone"] = json!("none");
    several["amount"] = json!({"value": "1.999"});
    let mut bad_evidence = complaint();
    bad_evidence["evidence"][0]["kind"] = json!("photo");

    let cases: Vec<Row> = vec![
        (
            "POST",
            "/v1/cases".into(),
            "application/json",
            "{\"sector\": ".into(),
            400,
            "malformed-json",
            vec![],
        ),
        (
            "POST",
            "/v1/cases".into(),
            "application/json",
            "\u{0}\u{ff}".into(),
            400,
            "malformed-json",
            vec![],
        ),
        (
            "POST",
            "/v1/cases".into(),
            "text/plain",
            complaint().to_string(),
            415,
            "unsupported-media-type",
            vec!["/content-type"],
        ),
        (
            "POST",
            "/v1/cases".into(),
            "application/json",
            format!("{{\"claim\": \"{}\"}}", "x".repeat(300 * 1024)),
            413,
            "payload-too-large",
            vec![],
        ),
        (
            "POST",
            "/v1/cases".into(),
            "application/json",
            missing_claim.to_string(),
            422,
            "validation-failed",
            vec!["/claim"],
        ),
        (
            "POST",
            "/v1/cases".into(),
            "application/json",
            wrong_type.to_string(),
            422,
            "validation-failed",
            vec!["/complainant_count"],
        ),
        (
            "POST",
            "/v1/cases".into(),
            "application/json",
            unknown_field.to_string(),
            422,
            "validation-failed",
            vec!["/respondent/nickname"],
        ),
        (
            "POST",
            "/v1/cases".into(),
            "application/json",
            bad_evidence.to_string(),
            422,
            "validation-failed",
            vec!["/evidence/0/kind"],
        ),
        (
            "POST",
            "/v1/cases".into(),
            "application/json",
            several.to_string(),
            422,
            "validation-failed",
            vec![
                "/respondent/division_code",
                "/complainant/phone",
                "/amount/value",
            ],
        ),
        (
            "POST",
            format!("/v1/cases/{id}/events"),
            "application/json",
            "{\"type\": \"resolve\", \"outcome\": \"x\"}".into(),
            409,
            "illegal-transition",
            vec![],
        ),
        (
            "POST",
            format!("/v1/cases/{id}/events"),
            "application/json",
            "{\"type\": \"fly\"}".into(),
            422,
            "validation-failed",
            vec![],
        ),
        (
            "POST",
            format!("/v1/cases/{id}/events"),
            "application/json",
            "{\"type\": \"reject\", \"reason\": \"  \"}".into(),
            422,
            "validation-failed",
            vec!["/reason"],
        ),
        (
            "POST",
            "/v1/cases/01KAAAAAAAAAAAAAAAAAAAAAAA/events".into(),
            "application/json",
            "{\"type\": \"accept\"}".into(),
            404,
            "not-found",
            vec![],
        ),
        (
            "GET",
            "/v1/cases/01KAAAAAAAAAAAAAAAAAAAAAAA".into(),
            "",
            String::new(),
            404,
            "not-found",
            vec![],
        ),
        (
            "GET",
            "/v1/cases/not-a-ulid".into(),
            "",
            String::new(),
            400,
            "bad-parameter",
            vec!["/id"],
        ),
        (
            "GET",
            "/v1/cases?status=lost".into(),
            "",
            String::new(),
            400,
            "bad-parameter",
            vec!["/status"],
        ),
        (
            "GET",
            "/v1/cases?limit=0".into(),
            "",
            String::new(),
            400,
            "bad-parameter",
            vec!["/limit"],
        ),
        (
            "GET",
            "/v1/cases?colour=red".into(),
            "",
            String::new(),
            400,
            "bad-parameter",
            vec![],
        ),
        (
            "GET",
            "/v1/cases?cursor=abc".into(),
            "",
            String::new(),
            400,
            "bad-parameter",
            vec!["/cursor"],
        ),
        (
            "GET",
            "/v1/cases?received_from=yesterday".into(),
            "",
            String::new(),
            400,
            "bad-parameter",
            vec!["/received_from"],
        ),
        (
            "GET",
            "/v2/cases".into(),
            "",
            String::new(),
            404,
            "not-found",
            vec![],
        ),
        (
            "DELETE",
            format!("/v1/cases/{id}"),
            "",
            String::new(),
            405,
            "method-not-allowed",
            vec![],
        ),
    ];
    for (method, path, content_type, body, status, kind, pointers) in cases {
        let mut request = server
            .client
            .request(method.parse().unwrap(), server.url(&path));
        if !content_type.is_empty() {
            request = request
                .header("content-type", content_type)
                .body(body.clone());
        }
        let (got, problem) = read(request.send().await.unwrap()).await;
        let label = format!(
            "{method} {path} {}",
            body.chars().take(80).collect::<String>()
        );
        assert_eq!(got, status, "{label}: {problem}");
        assert_eq!(
            problem["type"],
            format!("urn:redress:problem:{kind}"),
            "{label}"
        );
        assert_eq!(problem["status"], status, "{label}");
        assert!(!problem["detail"].as_str().unwrap().is_empty(), "{label}");
        let named: Vec<&str> = problem["errors"]
            .as_array()
            .map(|a| a.iter().map(|e| e["pointer"].as_str().unwrap()).collect())
            .unwrap_or_default();
        for pointer in pointers {
            assert!(
                named.contains(&pointer),
                "{label}: expected {pointer} in {named:?}"
            );
        }
        assert_eq!(
            state(&server, &id).await,
            before,
            "{label} changed something"
        );
    }
}

#[tokio::test]
async fn a_lifecycle_conflict_names_the_state_and_the_allowed_actions() {
    let server = Server::start();
    let id = server.create(&complaint()).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, problem) = server.act(&id, json!({"type": "close"})).await;
    assert_eq!(status, 409);
    assert_eq!(problem["current_status"], "received");
    assert_eq!(
        problem["allowed_actions"],
        json!([
            "accept",
            "reject",
            "transfer",
            "assign",
            "withdraw",
            "note",
            "record_new_facts",
            "return_to_intake",
            "refer_up",
            "take_over",
            "clear_manual_handling",
            "give_notice",
            "competent_office_received",
            "record_violation_clue",
            "request_documents"
        ])
    );
    assert_eq!(
        problem["detail"],
        "the case is `received`, where `close` is not allowed; allowed actions: accept, reject, transfer, assign, withdraw, note, record_new_facts, return_to_intake, refer_up, take_over, clear_manual_handling, give_notice, competent_office_received, record_violation_clue, request_documents"
    );
}

#[tokio::test]
async fn another_tenants_case_is_not_found_rather_than_forbidden() {
    let server = Server::start();
    let id = server.create(&complaint()).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    for path in [
        format!("/v1/cases/{id}"),
        format!("/v1/cases/{id}/timeline"),
    ] {
        let response = server
            .client
            .get(server.url(&path))
            .header("x-redress-tenant", "acme-bank")
            .send()
            .await
            .unwrap();
        let (status, problem) = read(response).await;
        assert_eq!(status, 404, "{path}: {problem}");
    }
    let response = server
        .client
        .post(server.url(&format!("/v1/cases/{id}/events")))
        .header("x-redress-tenant", "acme-bank")
        .json(&json!({"type": "accept"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
    let response = server
        .client
        .get(server.url("/v1/cases"))
        .header("x-redress-tenant", "Not A Tenant")
        .send()
        .await
        .unwrap();
    let (status, problem) = read(response).await;
    assert_eq!(status, 400);
    assert_eq!(problem["errors"][0]["pointer"], "/x-redress-tenant");
    let (_, case) = server.get(&format!("/v1/cases/{id}")).await;
    assert_eq!(
        case["status"], "received",
        "the other tenant's accept did not land"
    );
}

/// Regression: the lifecycle table looks only at the status, so a case transferred and then
/// accepted by the receiving office (status `accepted` again), or one that arrived by transfer,
/// could be transferred a second time.
#[tokio::test]
async fn a_case_transferred_once_is_not_transferred_again() {
    let server = Server::start();
    let transfer =
        |to: &str| json!({"type": "transfer", "to_office": to, "reason": "不属本单位管辖"});

    let case = server.create(&complaint()).await;
    let id = case["id"].as_str().unwrap();
    let (status, body) = server.act(id, transfer("330106-msa")).await;
    assert_eq!(status, 201, "{body}");
    let (status, body) = server.act(id, json!({"type": "accept"})).await;
    assert_eq!(status, 201, "{body}");
    let before = state(&server, id).await;
    let (status, problem) = server.act(id, transfer("330108-msa")).await;
    assert_eq!(status, 409, "{problem}");
    assert_eq!(problem["type"], "urn:redress:problem:illegal-transition");
    let detail = problem["detail"].as_str().unwrap();
    assert!(
        detail.contains("already transferred once (to 330106-msa"),
        "{detail}"
    );
    assert_eq!(
        state(&server, id).await,
        before,
        "a refused transfer changes nothing"
    );

    let mut received_by_transfer = complaint();
    received_by_transfer["channel"] = json!("transfer");
    received_by_transfer["transferred_from"] = json!("12345-hotline");
    let case = server.create(&received_by_transfer).await;
    let id = case["id"].as_str().unwrap();
    let (status, problem) = server.act(id, transfer("330108-msa")).await;
    assert_eq!(status, 409, "{problem}");
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("received by transfer from 12345-hotline")
    );
}

/// A body of the wrong shape names every field at fault, in JSON's words (never Rust's type
/// names), without echoing what was sent, and changes nothing.
#[tokio::test]
async fn a_wrongly_shaped_body_names_every_field_in_plain_words() {
    let server = Server::start();
    let mut body = complaint();
    body["amount"] = json!(3999);
    body["channel"] = json!("fax");
    body["evidence"] = json!({"kind": "invoice"});
    body["complainant"]["phone"] = json!(13800138000u64);
    body["nickname"] = json!("x");
    let (status, problem) = server.post("/v1/cases", &body).await;
    assert_eq!(status, 422, "{problem}");
    let faults: Vec<(String, String)> = problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["pointer"].as_str().unwrap().to_owned(),
                e["detail"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    for (pointer, expected) in [
        ("/amount", "must be an object"),
        ("/channel", "allowed values"),
        ("/evidence", "must be an array"),
        ("/complainant/phone", "a string"),
        ("/nickname", "is not a field here"),
    ] {
        assert!(
            faults
                .iter()
                .any(|(p, d)| p == pointer && d.contains(expected)),
            "{pointer}: {expected:?} not in {faults:?}"
        );
    }
    let text = problem.to_string();
    for rust in ["struct", "u32", "sequence", "Amount", "13800138000"] {
        assert!(!text.contains(rust), "{rust} in {text}");
    }
    let (_, list) = server.get("/v1/cases").await;
    assert!(list["items"].as_array().unwrap().is_empty());

    // A handler action is a tagged union: the fields of the action named by `type` are
    // checked, not "no variant fits" at the root.
    let id = server.create(&complaint()).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, problem) = server
        .act(
            &id,
            json!({"type": "give_notice", "recipient": "complainant", "means": "carrier_pigeon"}),
        )
        .await;
    assert_eq!(status, 422, "{problem}");
    let pointers: Vec<&str> = problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["pointer"].as_str().unwrap())
        .collect();
    assert!(pointers.contains(&"/means"), "{problem}");
    assert!(pointers.contains(&"/about"), "{problem}");
    assert!(!pointers.contains(&"/"), "{problem}");
}

/// Issue 15: an intake attribute the deciding ruleset does not declare (a typo) used to read
/// silently as "not given"; now it is refused, naming it and what the ruleset reads, and
/// nothing is written. A declared attribute of the wrong type is refused too.
#[tokio::test]
async fn an_undeclared_or_mistyped_intake_attribute_is_refused() {
    let server = Server::start_with_rulesets();
    let mut typo = complaint();
    typo["attributes"] = json!({"include_report": true});
    let (status, problem) = server.post("/v1/cases", &typo).await;
    assert_eq!(status, 422, "{problem}");
    assert_eq!(
        problem["errors"][0]["pointer"],
        "/attributes/include_report"
    );
    let detail = problem["errors"][0]["detail"].as_str().unwrap();
    assert!(
        detail.contains("is not an attribute the ruleset market-supervision-order"),
        "{detail}"
    );
    assert!(detail.contains("includes_report"), "{detail}");
    let mut mistyped = complaint();
    mistyped["attributes"] = json!({"includes_report": "yes"});
    let (status, problem) = server.post("/v1/cases", &mistyped).await;
    assert_eq!(status, 422, "{problem}");
    assert_eq!(
        problem["errors"][0]["pointer"],
        "/attributes/includes_report"
    );
    assert_eq!(problem["errors"][0]["detail"], "must be true or false");
    let (_, list) = server.get("/v1/cases").await;
    assert!(list["items"].as_array().unwrap().is_empty());
    let mut fine = complaint();
    fine["attributes"] = json!({"includes_report": true});
    let (status, case) = server.post("/v1/cases", &fine).await;
    assert_eq!(status, 201, "{case}");
}

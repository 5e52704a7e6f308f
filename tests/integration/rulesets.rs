//! Rulesets through the real server: decisions on receipt, deployment without a restart,
//! version pinning, and hostile rules contained.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::support::{BIN, Server, complaint, read, repo_root};

fn events_of(timeline: &Value, kind: &str) -> Vec<Value> {
    timeline["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["event"]["type"] == kind)
        .map(|e| e["event"].clone())
        .collect()
}

#[tokio::test]
async fn a_complaint_before_the_spring_festival_gets_its_acceptance_deadline_from_the_ruleset() {
    // Simulated time just after the receipt: on the real clock the scheduler would fire the
    // long-past warning and breach (and their decisions) while the test reads the timeline.
    let server = Server::start_with_clock_and_rulesets("2026-02-13T10:05:00+08:00");
    let case = server.create(&complaint()).await;
    // Pinned to the built-in package (no tenant) and to its exact content.
    let pin = &case["ruleset"];
    assert_eq!(pin["id"], "market-supervision-order20", "{pin}");
    assert_eq!(pin["version"], "1.1.0");
    assert!(pin.get("tenant").is_none(), "{pin}");
    assert_eq!(pin["content_hash"].as_str().unwrap().len(), 64, "{pin}");
    let clock = &case["clocks"]["acceptance"];
    // Fri 2026-02-13 + 7 working days = Mon 2026-03-02, ending 24:00 Beijing time.
    assert_eq!(clock["due_at"], "2026-03-02T16:00:00Z", "{case}");
    assert!(
        clock["spec"]["article"]
            .as_str()
            .unwrap()
            .contains("art. 14")
    );
    let (_, timeline) = server
        .get(&format!(
            "/v1/cases/{}/timeline",
            case["id"].as_str().unwrap()
        ))
        .await;
    let decisions = events_of(&timeline, "decision");
    assert_eq!(decisions.len(), 1);
    assert!(decisions[0]["explanation"].to_string().contains("art. 14"));
    let clock_event = timeline["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["event"]["type"] == "clock")
        .unwrap();
    assert_eq!(
        clock_event["actor"],
        json!({"kind": "ruleset", "id": "market-supervision-order20@1.1.0"})
    );
}

#[tokio::test]
async fn a_complaint_with_missing_materials_is_rejected_with_ground_and_article() {
    let server = Server::start_with_rulesets();
    let mut body = complaint();
    body["complainant"]
        .as_object_mut()
        .unwrap()
        .remove("address");
    let case = server.create(&body).await;
    assert_eq!(case["status"], "rejected", "{case}");
    assert_eq!(case["outcome"]["ground"], "missing_materials");
    let article = case["outcome"]["article"].as_str().unwrap();
    assert!(
        article.contains("15(5)") && article.contains("art. 9"),
        "{article}"
    );
    assert!(
        case["outcome"]["text"]
            .as_str()
            .unwrap()
            .contains("complainant_address"),
        "{case}"
    );
    assert!(
        case["clocks"].as_object().unwrap().is_empty(),
        "no acceptance clock for a rejected complaint"
    );
}

#[tokio::test]
async fn the_rulesets_in_force_are_listed() {
    let server = Server::start_with_rulesets();
    let (status, list) = server.get("/v1/rulesets").await;
    assert_eq!(status, 200);
    let ids: Vec<&str> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert!(ids.contains(&"market-supervision-order20"), "{ids:?}");
    for ruleset in list["items"].as_array().unwrap() {
        assert_eq!(ruleset["state"], "active");
        assert!(ruleset["fixture_cases"].as_u64().unwrap() >= 1);
    }
}

/// A small package for the government-hotline sector (no built-in ruleset), version `version`,
/// whose rules are `rules` and whose one fixture expects `expected_actions` on receipt.
fn package(version: &str, rules: &str, expected_actions: Value) -> Value {
    let manifest = format!(
        "id = \"hotline-test\"\nversion = \"{version}\"\nname = \"test\"\nsector = \"government_hotline\"\neffective_from = 2020-01-01\nengine = \"rhai\"\n"
    );
    let fixture = redress::yaml::to_string(&json!({
        "description": "an ordinary hotline case",
        "now": "2026-02-13T10:00:00+08:00",
        "case": {"intake": {"sector": "government_hotline", "channel": "hotline", "respondent": {"name": "某街道办"}, "claim": "路灯不亮"}},
        "trigger": {"type": "case_received"},
        "expect": {"actions": expected_actions}
    }));
    let files: BTreeMap<&str, String> = [
        ("ruleset.toml", manifest),
        ("rules.rhai", rules.to_owned()),
        ("cases/01-ordinary.yaml", fixture),
    ]
    .into();
    json!({"files": files})
}

fn hotline_case(claim: &str) -> Value {
    json!({"sector": "government_hotline", "channel": "hotline", "received_at": "2026-02-13T10:00:00+08:00",
           "respondent": {"name": "某街道办"}, "claim": claim})
}

const V1: &str = r#"fn decide(trigger, the_case, ctx) {
    if trigger.type != "case_received" { return []; }
    [because("12345: reply within 5 working days"), classify("street_lighting")]
}"#;

const V2: &str = r#"fn decide(trigger, the_case, ctx) {
    if trigger.type != "case_received" { return []; }
    [because("12345: reply within 5 working days"), classify("street_lighting", "high")]
}"#;

#[tokio::test]
async fn deployment_refuses_a_broken_package_and_activates_a_good_one_without_restart() {
    let server = Server::start();
    let v1 = package(
        "1.0.0",
        V1,
        json!([{"type": "classify", "category": "street_lighting"}]),
    );
    let (status, deployed) = server.post("/v1/rulesets", &v1).await;
    assert_eq!(status, 201, "{deployed}");
    let old = server.create(&hotline_case("路灯不亮")).await;
    assert_eq!(old["ruleset"]["version"], "1.0.0");
    assert_eq!(old["ruling"]["category"], "street_lighting");

    // A package that does not compile, one that fails its own fixture: both refused, v1 serves.
    let (status, problem) = server
        .post("/v1/rulesets", &package("1.1.0", "fn decide(", json!([])))
        .await;
    assert_eq!(status, 422, "{problem}");
    assert_eq!(problem["type"], "urn:redress:problem:ruleset-invalid");
    let wrong = package(
        "1.1.0",
        V2,
        json!([{"type": "classify", "category": "street_lighting"}]),
    );
    let (status, problem) = server.post("/v1/rulesets", &wrong).await;
    assert_eq!(status, 422, "{problem}");
    assert_eq!(problem["type"], "urn:redress:problem:ruleset-fixtures-fail");
    assert_eq!(problem["fixtures"][0]["name"], "01-ordinary");
    // A fixture received before the package is in force tests a decision the server never
    // makes: refused, naming the dates.
    let mut not_yet = package(
        "1.1.0",
        V1,
        json!([{"type": "classify", "category": "street_lighting"}]),
    );
    not_yet["files"]["ruleset.toml"] = json!(
        not_yet["files"]["ruleset.toml"]
            .as_str()
            .unwrap()
            .replace("effective_from = 2020-01-01", "effective_from = 2027-01-01")
    );
    let (status, refused) = server.post("/v1/rulesets", &not_yet).await;
    assert_eq!(status, 422, "{refused}");
    let outside = refused["fixtures"][0]["differences"][0].as_str().unwrap();
    assert!(
        outside.contains("received on 2026-02-13, outside the package's effective dates (2027-01-01 to open-ended)"),
        "{outside}"
    );
    let difference = problem["fixtures"][0]["differences"][0].as_str().unwrap();
    assert!(
        difference.contains("+  severity: high"),
        "the refusal shows the difference: {difference}"
    );
    let still_v1 = server.create(&hotline_case("路灯不亮")).await;
    assert_eq!(
        still_v1["ruleset"]["version"], "1.0.0",
        "the active version stays"
    );

    // A path that climbs out of the package is refused before anything is read.
    let mut escape = v1.clone();
    escape["files"]["../../etc/passwd"] = json!("x");
    let (status, problem) = server.post("/v1/rulesets", &escape).await;
    assert_eq!(status, 422, "{problem}");
    // RFC 6901: `/` inside a key is written `~1`.
    assert_eq!(
        problem["errors"][0]["pointer"],
        "/files/..~1..~1etc~1passwd"
    );
    // A file a package does not consist of would be stored but never read back: refused.
    let mut stray = v1.clone();
    stray["files"]["docs/notes.md"] = json!("x");
    let (status, problem) = server.post("/v1/rulesets", &stray).await;
    assert_eq!(status, 422, "{problem}");
    assert_eq!(problem["errors"][0]["pointer"], "/files/docs~1notes.md");
    assert!(
        problem["errors"][0]["detail"]
            .as_str()
            .unwrap()
            .contains("is not part of a package"),
        "{problem}"
    );

    // The same version with other content is a conflict; the same content is idempotent.
    let (status, _) = server
        .post(
            "/v1/rulesets",
            &package(
                "1.0.0",
                V2,
                json!([{"type": "classify", "category": "street_lighting", "severity": "high"}]),
            ),
        )
        .await;
    assert_eq!(status, 409);
    let (status, _) = server.post("/v1/rulesets", &v1).await;
    assert_eq!(status, 200);

    // A good new version takes effect at once; the old case keeps its version.
    let v2 = package(
        "2.0.0",
        V2,
        json!([{"type": "classify", "category": "street_lighting", "severity": "high"}]),
    );
    let (status, deployed) = server.post("/v1/rulesets", &v2).await;
    assert_eq!(status, 201, "{deployed}");
    let new = server.create(&hotline_case("路灯不亮")).await;
    assert_eq!(new["ruleset"]["version"], "2.0.0");
    assert_eq!(new["ruling"]["severity"], "high");
    let id = old["id"].as_str().unwrap();
    let (status, acted) = server.act(id, json!({"type": "accept"})).await;
    assert_eq!(status, 201, "{acted}");
    assert_eq!(
        acted["case"]["ruleset"]["version"], "1.0.0",
        "an old case keeps its version"
    );

    // Deployed packages survive a restart.
    let mut server = server;
    server.restart();
    let (_, list) = server.get("/v1/rulesets").await;
    let versions: Vec<&str> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["version"].as_str().unwrap())
        .collect();
    assert_eq!(versions, vec!["1.0.0", "2.0.0"]);
}

#[tokio::test]
async fn hostile_rules_are_stopped_recorded_and_the_server_keeps_serving() {
    let server = Server::start();
    let hostile = r#"
fn forever() { loop { } }
fn deeper(n) { deeper(n + 1) }
fn decide(trigger, the_case, ctx) {
    if the_case.claim == "loop" { forever(); }
    if the_case.claim == "recurse" { deeper(0); }
    if the_case.claim == "grow" { let s = "x"; loop { s += s; } }
    if the_case.claim == "garbage" { return [#{ type: "launch_missiles" }]; }
    if the_case.claim == "illegal" { return [close("done")]; }
    if the_case.claim == "not-an-array" { return 42; }
    [classify("ok")]
}"#;
    let (status, deployed) = server
        .post(
            "/v1/rulesets",
            &package(
                "1.0.0",
                hostile,
                json!([{"type": "classify", "category": "ok"}]),
            ),
        )
        .await;
    assert_eq!(status, 201, "{deployed}");
    for (claim, reason) in [
        ("loop", "too many operations"),
        ("recurse", "nested too deeply"),
        ("grow", "grew beyond its limit"),
        ("garbage", "not a decision"),
        ("illegal", "`close` is not allowed"),
        ("not-an-array", "must return an array"),
    ] {
        let response = server
            .client
            .post(server.url("/v1/cases"))
            .json(&hotline_case(claim))
            .send()
            .await
            .unwrap();
        let (status, case) = read(response).await;
        assert_eq!(
            status, 201,
            "{claim}: the case is registered all the same: {case}"
        );
        assert_eq!(
            case["status"], "received",
            "{claim}: the case is left as it was"
        );
        let manual = case["manual_handling"]["reason"]
            .as_str()
            .unwrap_or_default();
        assert!(
            manual.contains(reason),
            "{claim}: expected `{reason}` in `{manual}`"
        );
        let (_, timeline) = server
            .get(&format!(
                "/v1/cases/{}/timeline",
                case["id"].as_str().unwrap()
            ))
            .await;
        assert_eq!(
            events_of(&timeline, "rule_failure").len(),
            1,
            "{claim}: the failure is recorded"
        );
        let (status, _) = server.get("/healthz").await;
        assert_eq!(status, 200, "{claim}: the server answers the next request");
    }
    let fine = server.create(&hotline_case("路灯不亮")).await;
    assert_eq!(fine["ruling"]["category"], "ok");
}

#[test]
fn every_built_in_ruleset_passes_its_fixture_cases() {
    let dirs: Vec<_> = std::fs::read_dir(repo_root().join("rulesets"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("ruleset.toml").is_file())
        .collect();
    assert!(!dirs.is_empty());
    let output = std::process::Command::new(crate::support::BIN)
        .arg("ruleset")
        .arg("test")
        .args(&dirs)
        .current_dir(repo_root())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// The discretionary settings' other values (`tests/extensions/`: packages that extend a
/// built-in ruleset), resolved against the built-in rulesets of the checkout.
#[test]
fn every_setting_variant_in_tests_extensions_passes_its_fixture_cases() {
    let output = std::process::Command::new(crate::support::BIN)
        .args([
            "ruleset",
            "test",
            "tests/extensions",
            "--rulesets",
            "rulesets",
        ])
        .current_dir(repo_root())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.contains("banking-third-party-handled 1.0.0"),
        "{stdout}"
    );
    assert!(stdout.contains(" 0 failed"), "{stdout}");
}

#[tokio::test]
async fn a_package_dropped_into_the_ruleset_directory_becomes_active_without_restart() {
    let server = Server::start_with_own_calendars();
    let package_dir = server.rulesets.join("hotline-test");
    std::fs::create_dir_all(package_dir.join("cases")).unwrap();
    let files = package(
        "1.0.0",
        V1,
        json!([{"type": "classify", "category": "street_lighting"}]),
    );
    for (path, content) in files["files"].as_object().unwrap() {
        std::fs::write(package_dir.join(path), content.as_str().unwrap()).unwrap();
    }
    let started = std::time::Instant::now();
    loop {
        let (_, list) = server.get("/v1/rulesets").await;
        if list["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["id"] == "hotline-test")
        {
            break;
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(15),
            "the package was never picked up"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    let case = server.create(&hotline_case("路灯不亮")).await;
    assert_eq!(case["ruling"]["category"], "street_lighting");
}

/// Banking art. 18: 15 calendar days, extended to 30 for a complex case, with the complainant
/// told. The extension is a handler's note (`extend:complex`, the banking ruleset's convention).
#[tokio::test]
async fn a_bank_complaint_is_extended_to_30_days_with_the_notice() {
    // The server's clock on the day of receipt: on the real clock the scheduler could breach
    // the March clock before the extension lands, and the test would fail under load.
    let server = Server::start_with_clock_and_rulesets("2026-03-02T10:05:00+08:00");
    let body = json!({
        "sector": "banking", "channel": "web", "received_at": "2026-03-02T10:00:00+08:00",
        "complainant": {"name": "王五", "phone": "13900000000", "address": "北京市朝阳区"},
        "respondent": {"name": "某银行股份有限公司", "division_code": "110105"},
        "claim": "撤销不当收取的年费", "facts": "未经同意扣收信用卡年费", "filed_by": "complainant"
    });
    let case = server.create(&body).await;
    assert_eq!(case["status"], "accepted", "{case}");
    // Mon 03-02 + 15 calendar days = Tue 03-17, a working day: due at its end.
    assert_eq!(
        case["clocks"]["decision"]["due_at"], "2026-03-17T16:00:00Z",
        "{case}"
    );
    let id = case["id"].as_str().unwrap();
    let (status, extended) = server
        .act(id, json!({"type": "note", "text": "extend:complex"}))
        .await;
    assert_eq!(status, 201, "{extended}");
    let clock = &extended["case"]["clocks"]["decision"];
    // 30 calendar days from Mon 03-02 = Wed 04-01.
    assert_eq!(clock["due_at"], "2026-04-01T16:00:00Z", "{clock}");
    assert_eq!(clock["extensions"][0]["complainant_notified"], true);
    let notices: Vec<&str> = extended["case"]["ruling"]["notifications"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["template"].as_str().unwrap())
        .collect();
    assert!(notices.contains(&"extension_notice"), "{notices:?}");
}

#[tokio::test]
async fn route_actions_are_resolved_through_the_tenants_routing_table() {
    let mut server = Server::start_with_rulesets();
    let table =
        std::fs::read_to_string(repo_root().join("tests/routing/zhejiang-msa.toml")).unwrap();
    // Without a table the rules' division code is recorded and no office.
    let case = server.create(&complaint()).await;
    assert_eq!(
        case["ruling"]["routed_to"]["division_code"], "330106",
        "{case}"
    );
    assert!(case["ruling"]["routed_to"]["office"].is_null());

    let (status, _) = server.put("/v1/routing", &json!({"toml": table})).await;
    assert_eq!(status, 200);
    let case = server.create(&complaint()).await;
    assert_eq!(
        case["ruling"]["routed_to"]["office"], "330106-msa",
        "{case}"
    );
    let id = case["id"].as_str().unwrap();
    let (_, timeline) = server.get(&format!("/v1/cases/{id}/timeline")).await;
    let explanation = timeline["events"][1]["event"]["explanation"].to_string();
    assert!(
        explanation.contains("routing table: office 330106-msa") && explanation.contains("rule #4"),
        "{explanation}"
    );

    // A broken table is refused at its entry and the table in force stays.
    let (status, problem) = server
        .put(
            "/v1/routing",
            &json!({"toml": "[[rule]]
office = \"nowhere\"
"}),
        )
        .await;
    assert_eq!(status, 422);
    assert_eq!(problem["errors"][0]["pointer"], "/toml");
    assert!(
        problem["errors"][0]["detail"]
            .as_str()
            .unwrap()
            .contains("[[rule]] #1"),
        "{problem}"
    );
    let (_, stored) = server.get("/v1/routing").await;
    assert_eq!(stored["toml"], table);

    // The table outlasts a restart.
    server.restart();
    let case = server.create(&complaint()).await;
    assert_eq!(case["ruling"]["routed_to"]["office"], "330106-msa");
}

#[tokio::test]
async fn cases_move_between_offices_only_as_the_hierarchy_allows() {
    let server = Server::start_with_rulesets();
    let table =
        std::fs::read_to_string(repo_root().join("tests/routing/zhejiang-msa.toml")).unwrap();
    let (status, _) = server.put("/v1/routing", &json!({"toml": table})).await;
    assert_eq!(status, 200);
    let case = server.create(&complaint()).await;
    assert_eq!(
        case["ruling"]["routed_to"]["office"], "330106-msa",
        "{case}"
    );
    let id = case["id"].as_str().unwrap().to_owned();
    let step = |body: Value| server.act(&id, body);
    let refuses = |problem: &Value, text: &str| {
        problem["detail"]
            .as_str()
            .is_some_and(|detail| detail.contains(text))
    };

    // The office that received a case it can handle keeps it.
    let (status, problem) =
        step(json!({"type": "transfer", "to_office": "330108-ecommerce", "reason": "平台所在地"}))
            .await;
    assert_eq!(status, 409);
    assert!(
        refuses(&problem, "the first office to receive a case"),
        "{problem}"
    );
    // Upward referral goes to the office directly above.
    let (status, problem) =
        step(json!({"type": "refer_up", "to_office": "33-msa", "reason": "重大案件"})).await;
    assert_eq!(status, 409);
    assert!(
        refuses(&problem, "the office above `330106-msa` is `3301-msa`"),
        "{problem}"
    );
    let (status, acted) =
        step(json!({"type": "refer_up", "to_office": "3301-msa", "reason": "重大案件"})).await;
    assert_eq!(status, 201, "{acted}");
    assert_eq!(acted["case"]["status"], "transferred");
    assert_eq!(acted["case"]["ruling"]["routed_to"]["office"], "3301-msa");
    // A takeover comes from above.
    let (status, problem) =
        step(json!({"type": "take_over", "office": "330106-msa", "reason": "x"})).await;
    assert_eq!(status, 409);
    assert!(refuses(&problem, "is not above `3301-msa`"), "{problem}");
    let (status, acted) =
        step(json!({"type": "take_over", "office": "33-msa", "reason": "省局提级办理"})).await;
    assert_eq!(status, 201, "{acted}");
    assert_eq!(acted["case"]["ruling"]["routed_to"]["office"], "33-msa");
    // An office without jurisdiction returns the case to intake.
    let (status, acted) = step(json!({"type": "return_to_intake", "reason": "不属本局管辖"})).await;
    assert_eq!(status, 201, "{acted}");
    assert_eq!(acted["case"]["status"], "received");
    assert!(acted["case"]["ruling"]["routed_to"]["office"].is_null());

    // Without a routing table there is nothing to check a referral against: refused.
    let response = server
        .client
        .post(server.url("/v1/cases"))
        .header("x-redress-tenant", "no-table")
        .json(&complaint())
        .send()
        .await
        .unwrap();
    let (_, other) = read(response).await;
    let other_id = other["id"].as_str().unwrap();
    let response = server
        .client
        .post(server.url(&format!("/v1/cases/{other_id}/events")))
        .header("x-redress-tenant", "no-table")
        .json(&json!({"type": "refer_up", "to_office": "3301-msa", "reason": "x"}))
        .send()
        .await
        .unwrap();
    let (status, problem) = read(response).await;
    assert_eq!(status, 409);
    assert!(
        refuses(&problem, "need the tenant's routing table"),
        "{problem}"
    );
}

/// Tailoring without forking (#15): a tenant's package that `extends` the built-in banking
/// ruleset and overrides one setting. The base's fixtures run with the override and refuse it
/// until `ruleset test --update` has written the decisions the override leads to; deployed,
/// it decides the tenant's cases, and only theirs, with its setting.
#[tokio::test]
async fn a_tenant_extends_a_built_in_ruleset_overriding_a_setting() {
    let server = Server::start_with_clock_and_rulesets("2026-03-02T02:00:00Z");
    let dir = tempfile::tempdir().unwrap();
    let manifest = "id = \"acme-banking\"\nversion = \"1.0.0\"\nname = \"Acme Bank: decided within 10 days\"\n\
                    tenant = \"acme-bank\"\nextends = \"banking-insurance@1.1.0\"\n[settings]\ndecision_days = 10\n";
    std::fs::write(dir.path().join("ruleset.toml"), manifest).unwrap();
    let files = |dir: &std::path::Path| {
        let mut files = BTreeMap::new();
        files.insert(
            "ruleset.toml".to_owned(),
            std::fs::read_to_string(dir.join("ruleset.toml")).unwrap(),
        );
        if let Ok(entries) = std::fs::read_dir(dir.join("cases")) {
            for entry in entries {
                let path = entry.unwrap().path();
                let name = format!("cases/{}", path.file_name().unwrap().to_string_lossy());
                files.insert(name, std::fs::read_to_string(&path).unwrap());
            }
        }
        json!({ "files": files })
    };

    // The base's fixtures expect 15 days: with 10 they fail, and the package is refused.
    let (status, problem) = server
        .post_as("acme-bank", "/v1/rulesets", &files(dir.path()))
        .await;
    assert_eq!(status, 422, "{problem}");
    assert_eq!(problem["type"], "urn:redress:problem:ruleset-fixtures-fail");
    let rulesets_dir = repo_root().join("rulesets");
    let cli = |extra: &[&str]| {
        let out = std::process::Command::new(BIN)
            .args(["ruleset", "test"])
            .arg(dir.path())
            .arg("--rulesets")
            .arg(&rulesets_dir)
            .args(extra)
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    };
    let (code, out) = cli(&[]);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("FAIL  01-decision-clock-2026-03-17"), "{out}");
    let (code, out) = cli(&["--update"]);
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains("UPDATED  01-decision-clock-2026-03-17"),
        "{out}"
    );
    assert!(
        out.contains("-    due_date: \"2026-03-17\"\n")
            || out.contains("-    due_date: \"2026-03-17\""),
        "{out}"
    );
    assert!(out.contains("+    due_date: \"2026-03-12\""), "{out}");
    let rewritten =
        std::fs::read_to_string(dir.path().join("cases/01-decision-clock-2026-03-17.yaml"))
            .unwrap();
    assert!(
        rewritten.starts_with("# Rewritten by `redress ruleset test --update`"),
        "{rewritten}"
    );
    assert!(
        !dir.path()
            .join("cases/07-third-party-declined.yaml")
            .exists(),
        "a fixture the override does not change is not copied"
    );
    let (code, out) = cli(&[]);
    assert_eq!(code, Some(0), "{out}");

    // Deployed with its updated cases: active, naming its base.
    let (status, deployed) = server
        .post_as("acme-bank", "/v1/rulesets", &files(dir.path()))
        .await;
    assert_eq!(status, 201, "{deployed}");
    assert_eq!(deployed["extends"], "banking-insurance@1.1.0");
    assert_eq!(deployed["tenant"], "acme-bank");
    let case = json!({"sector": "banking", "channel": "web", "received_at": "2026-03-02T10:00:00+08:00",
        "complainant": {"name": "王五", "phone": "13900000000", "address": "北京市朝阳区"},
        "respondent": {"name": "某银行股份有限公司", "division_code": "110105"},
        "claim": "撤销不当收取的年费", "filed_by": "complainant"});
    let mine = server.create_as("acme-bank", &case).await;
    assert_eq!(mine["ruleset"]["id"], "acme-banking", "{mine}");
    assert_eq!(
        mine["clocks"]["decision"]["due_at"], "2026-03-12T16:00:00Z",
        "{mine}"
    );
    let theirs = server.create_as("other-bank", &case).await;
    assert_eq!(theirs["ruleset"]["id"], "banking-insurance", "{theirs}");
    assert_eq!(
        theirs["clocks"]["decision"]["due_at"], "2026-03-17T16:00:00Z",
        "{theirs}"
    );

    // Anything but settings, or a setting the base does not have, is refused in words.
    let mut typo = files(dir.path());
    typo["files"]["ruleset.toml"] = json!(
        manifest
            .replace("decision_days", "decision_dayz")
            .replace("1.0.0\"\nname", "1.0.1\"\nname")
    );
    let (status, problem) = server.post_as("acme-bank", "/v1/rulesets", &typo).await;
    assert_eq!(status, 422, "{problem}");
    assert!(
        problem
            .to_string()
            .contains("settings.decision_dayz: banking-insurance@1.1.0 has no such setting"),
        "{problem}"
    );
    let mut rules = files(dir.path());
    rules["files"]["rules.rhai"] = json!("fn decide(t, c, ctx) { [] }");
    let (status, problem) = server.post_as("acme-bank", "/v1/rulesets", &rules).await;
    assert_eq!(status, 422, "{problem}");
    assert!(
        problem.to_string().contains("overrides settings only"),
        "{problem}"
    );
}

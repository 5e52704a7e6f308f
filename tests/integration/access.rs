//! Tenants, API keys and roles against the real server: a key of each role on every route, no
//! cross-tenant access, masked identities, revoked and expired keys, malformed headers.

mod office;

use std::{collections::BTreeMap, path::Path, process::Command, time::Duration};

use serde_json::{Value, json};

use crate::support::{BIN, Server, complaint};

/// Runs `redress <args> --data <data>`; returns stdout, failing the test on a non-zero exit.
fn cli(data: &Path, args: &[&str]) -> String {
    let output = Command::new(BIN)
        .args(args)
        .arg("--data")
        .arg(data)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap().trim().to_owned()
}

fn create_key(data: &Path, tenant: &str, role: &str, name: &str, expires: Option<&str>) -> String {
    let mut args = vec![
        "key", "create", "--tenant", tenant, "--role", role, "--name", name,
    ];
    if let Some(at) = expires {
        args.extend(["--expires", at]);
    }
    cli(data, &args)
}

/// The roles a tenant's keys may have.
const TENANT_ROLES: [&str; 5] = [
    "intake",
    "handler",
    "supervisor",
    "compliance_admin",
    "auditor",
];

/// Every role: the tenant roles and the operator's (a `default` key only).
const ROLES: [&str; 6] = [
    "intake",
    "handler",
    "supervisor",
    "compliance_admin",
    "auditor",
    "operator",
];

struct Keys {
    /// acme-bank's key of each role; the handler's holder is `handler-1`.
    acme: BTreeMap<&'static str, String>,
    /// The operator (`default`, role `operator`).
    operator: String,
    /// A compliance admin of the `default` tenant: no operator.
    default_admin: String,
    /// A supervisor of another tenant.
    other: String,
    /// A compliance admin of another tenant.
    other_admin: String,
    /// Expires a few seconds after the server starts.
    short_lived: String,
}

fn secured_server() -> (Server, Keys) {
    Server::start_with_data(|data| {
        cli(
            data,
            &["tenant", "create", "acme-bank", "--name", "Acme Bank"],
        );
        cli(data, &["tenant", "create", "other-bank"]);
        let acme = TENANT_ROLES
            .iter()
            .map(|role| {
                let name = if *role == "handler" {
                    "handler-1"
                } else {
                    role
                };
                (*role, create_key(data, "acme-bank", role, name, None))
            })
            .collect();
        let other = create_key(data, "other-bank", "supervisor", "other-supervisor", None);
        let other_admin = create_key(data, "other-bank", "compliance_admin", "other-admin", None);
        let operator = create_key(data, "default", "operator", "operator", None);
        let default_admin = create_key(data, "default", "compliance_admin", "default-admin", None);
        let soon = jiff::Timestamp::now() + jiff::SignedDuration::from_secs(4);
        let short_lived = create_key(
            data,
            "acme-bank",
            "auditor",
            "temp",
            Some(&soon.to_string()),
        );
        Keys {
            acme,
            operator,
            default_admin,
            other,
            other_admin,
            short_lived,
        }
    })
}

impl Keys {
    /// The key of `role`: acme-bank's, or the operator's.
    fn of(&self, role: &str) -> &str {
        match role {
            "operator" => &self.operator,
            _ => &self.acme[role],
        }
    }
}

async fn call(
    server: &Server,
    key: Option<&str>,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut request = match method {
        "GET" => server.client.get(server.url(path)),
        "PUT" => server.client.put(server.url(path)),
        _ => server.client.post(server.url(path)),
    };
    if let Some(key) = key {
        request = request.bearer_auth(key);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    crate::support::read(request.send().await.unwrap()).await
}

#[tokio::test]
async fn every_route_admits_exactly_the_roles_it_names() {
    let (server, keys) = secured_server();
    let supervisor = keys.acme["supervisor"].as_str();
    let (status, case) = call(
        &server,
        Some(supervisor),
        "POST",
        "/v1/cases",
        Some(complaint()),
    )
    .await;
    assert_eq!(status, 201, "{case}");
    let id = case["id"].as_str().unwrap().to_owned();
    let (status, _) = call(
        &server,
        Some(supervisor),
        "POST",
        &format!("/v1/cases/{id}/events"),
        Some(json!({"type": "accept"})),
    )
    .await;
    assert_eq!(status, 201);
    let (status, _) = call(
        &server,
        Some(supervisor),
        "POST",
        &format!("/v1/cases/{id}/events"),
        Some(json!({"type": "assign", "assignee": "handler-1"})),
    )
    .await;
    assert_eq!(status, 201);

    let note = json!({"type": "note", "text": "called the complainant"});
    let pause = json!({"type": "pause", "name": "nothing", "reason": "appraisal"});
    // (method, path, body, roles admitted). An admitted role may still get 404/409/422 for
    // reasons of its own; a refused one always gets 403 and changes nothing.
    let table: Vec<(&str, String, Option<Value>, &[&str])> = vec![
        (
            "POST",
            "/v1/cases".into(),
            Some(complaint()),
            &["intake", "supervisor"],
        ),
        (
            "GET",
            "/v1/cases".into(),
            None,
            &["intake", "handler", "supervisor", "auditor"],
        ),
        (
            "GET",
            format!("/v1/cases/{id}"),
            None,
            &["intake", "handler", "supervisor", "auditor"],
        ),
        (
            "GET",
            format!("/v1/cases/{id}/timeline"),
            None,
            &["intake", "handler", "supervisor", "auditor"],
        ),
        (
            "GET",
            format!("/v1/cases/{id}/clocks"),
            None,
            &["intake", "handler", "supervisor", "auditor"],
        ),
        (
            "POST",
            format!("/v1/cases/{id}/events"),
            Some(note),
            &["handler", "supervisor"],
        ),
        (
            "POST",
            format!("/v1/cases/{id}/clocks"),
            Some(pause),
            &["handler", "supervisor"],
        ),
        (
            "GET",
            "/v1/rulesets".into(),
            None,
            &["supervisor", "compliance_admin", "auditor", "operator"],
        ),
        (
            "POST",
            "/v1/rulesets".into(),
            Some(json!({"files": {}})),
            &["compliance_admin", "operator"],
        ),
        (
            "POST",
            "/v1/rulesets/none/1.0.0/suspend".into(),
            Some(json!({"reason": "x"})),
            &["compliance_admin", "operator"],
        ),
        (
            "POST",
            "/v1/rulesets/none/1.0.0/resume".into(),
            Some(json!({})),
            &["compliance_admin", "operator"],
        ),
        (
            "GET",
            "/v1/routing".into(),
            None,
            &["supervisor", "compliance_admin", "auditor"],
        ),
        (
            "PUT",
            "/v1/routing".into(),
            Some(json!({"toml": ""})),
            &["compliance_admin"],
        ),
        (
            "GET",
            "/v1/plugin-keys".into(),
            None,
            &["compliance_admin", "auditor"],
        ),
        (
            "PUT",
            "/v1/plugin-keys".into(),
            Some(json!({"toml": ""})),
            &["compliance_admin"],
        ),
        (
            "POST",
            "/v1/audit/verify".into(),
            Some(json!({})),
            &["auditor", "operator"],
        ),
        (
            "GET",
            "/v1/audit/checkpoint".into(),
            None,
            &["auditor", "operator"],
        ),
    ];
    for (method, path, body, admitted) in &table {
        for role in ROLES {
            let (status, problem) =
                call(&server, Some(keys.of(role)), method, path, body.clone()).await;
            if admitted.contains(&role) {
                assert_ne!(status, 403, "{role} {method} {path}: {problem}");
                assert_ne!(status, 401, "{role} {method} {path}: {problem}");
            } else {
                assert_eq!(status, 403, "{role} {method} {path}: {problem}");
                assert_eq!(problem["type"], "urn:redress:problem:forbidden");
                assert!(
                    problem["detail"]
                        .as_str()
                        .unwrap()
                        .contains(&format!("`{role}`")),
                    "{problem}"
                );
            }
            // Without a key, nothing but 401.
            let (status, _) = call(&server, None, method, path, body.clone()).await;
            assert_eq!(status, 401, "{method} {path} without a key");
        }
    }
    // The public routes need no key.
    for path in ["/healthz", "/readyz", "/v1/openapi.json"] {
        let (status, _) = call(&server, None, "GET", path, None).await;
        assert_eq!(status, 200, "{path}");
    }

    // A handler works only the cases assigned to them, and neither assigns nor extends.
    let handler = keys.acme["handler"].as_str();
    let (_, other_case) = call(
        &server,
        Some(supervisor),
        "POST",
        "/v1/cases",
        Some(complaint()),
    )
    .await;
    let other_id = other_case["id"].as_str().unwrap();
    let (status, problem) = call(
        &server,
        Some(handler),
        "POST",
        &format!("/v1/cases/{other_id}/events"),
        Some(json!({"type": "note", "text": "x"})),
    )
    .await;
    assert_eq!(status, 403);
    assert!(
        problem["detail"].as_str().unwrap().contains("not assigned"),
        "{problem}"
    );
    let (status, _) = call(
        &server,
        Some(handler),
        "POST",
        &format!("/v1/cases/{id}/events"),
        Some(json!({"type": "assign", "assignee": "handler-1"})),
    )
    .await;
    assert_eq!(status, 403, "assigning is a supervisor's");
    let extend = json!({"type": "extend", "name": "acceptance", "amount": 5, "reason": "complex"});
    let (status, _) = call(
        &server,
        Some(handler),
        "POST",
        &format!("/v1/cases/{id}/clocks"),
        Some(extend),
    )
    .await;
    assert_eq!(status, 403, "approving an extension is a supervisor's");

    // A transferred case is not transferred again unless a supervisor approves.
    let events = format!("/v1/cases/{id}/events");
    let transfer = |approved: bool| json!({"type": "transfer", "to_office": "3301-msa", "reason": "不属本单位管辖", "supervisor_approved": approved});
    for (key, body, expected) in [
        (handler, transfer(false), 201),
        (supervisor, json!({"type": "accept"}), 201),
        (handler, transfer(false), 409),
        (handler, transfer(true), 403),
        (supervisor, transfer(true), 201),
    ] {
        let (status, problem) = call(&server, Some(key), "POST", &events, Some(body.clone())).await;
        assert_eq!(status, expected, "{body}: {problem}");
    }

    // Every action is attributed to the key that made it.
    let (_, timeline) = call(
        &server,
        Some(supervisor),
        "GET",
        &format!("/v1/cases/{id}/timeline"),
        None,
    )
    .await;
    let actors: Vec<&str> = timeline["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["actor"]["id"].as_str())
        .collect();
    assert!(
        actors
            .iter()
            .any(|a| a.starts_with("handler-1 (handler, key ")),
        "{actors:?}"
    );
    assert!(
        actors
            .iter()
            .any(|a| a.starts_with("supervisor (supervisor, key ")),
        "{actors:?}"
    );
}

#[tokio::test]
async fn tenants_are_isolated_identities_masked_and_bad_keys_refused() {
    let (server, keys) = secured_server();
    let supervisor = keys.acme["supervisor"].as_str();
    let (_, case) = call(
        &server,
        Some(&keys.acme["intake"]),
        "POST",
        "/v1/cases",
        Some(complaint()),
    )
    .await;
    let id = case["id"].as_str().unwrap().to_owned();
    assert_eq!(
        case["intake"]["complainant"]["name"], "张三",
        "intake sees what it entered"
    );

    // Another tenant's case does not exist for them: 404, never 403.
    for (method, path, body) in [
        ("GET", format!("/v1/cases/{id}"), None),
        ("GET", format!("/v1/cases/{id}/timeline"), None),
        ("GET", format!("/v1/cases/{id}/clocks"), None),
        (
            "POST",
            format!("/v1/cases/{id}/events"),
            Some(json!({"type": "note", "text": "x"})),
        ),
    ] {
        let (status, problem) = call(&server, Some(&keys.other), method, &path, body).await;
        assert_eq!(status, 404, "{method} {path}: {problem}");
    }
    let (_, listed) = call(&server, Some(&keys.other), "GET", "/v1/cases", None).await;
    assert_eq!(listed["items"], json!([]));
    // A key acts for its own tenant; a header naming another is refused.
    let response = server
        .client
        .get(server.url("/v1/cases"))
        .bearer_auth(&keys.other)
        .header("x-redress-tenant", "acme-bank")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);

    // Identity: the supervisor sees it, the auditor sees that it was given, masked.
    let (_, seen) = call(
        &server,
        Some(supervisor),
        "GET",
        &format!("/v1/cases/{id}"),
        None,
    )
    .await;
    assert_eq!(seen["intake"]["complainant"]["phone"], "13800138000");
    let auditor = keys.acme["auditor"].as_str();
    let (_, masked) = call(
        &server,
        Some(auditor),
        "GET",
        &format!("/v1/cases/{id}"),
        None,
    )
    .await;
    for field in ["name", "phone", "address"] {
        assert_eq!(
            masked["intake"]["complainant"][field], "***",
            "{field}: {masked}"
        );
    }
    let (_, listed) = call(&server, Some(auditor), "GET", "/v1/cases", None).await;
    assert_eq!(listed["items"][0]["intake"]["complainant"]["name"], "***");
    let (_, timeline) = call(
        &server,
        Some(auditor),
        "GET",
        &format!("/v1/cases/{id}/timeline"),
        None,
    )
    .await;
    let text = timeline.to_string();
    for secret in ["张三", "13800138000", "文三路"] {
        assert!(!text.contains(secret), "{secret} in the auditor's timeline");
    }

    // Malformed, unknown, revoked and expired keys: 401 with the reason, at the header.
    let (_, listed) = call(&server, Some(supervisor), "GET", "/v1/cases", None).await;
    assert_eq!(listed["items"].as_array().unwrap().len(), 1);
    for (header, reason) in [
        ("Basic dXNlcjpwYXNz", "scheme `Basic`"),
        ("Bearer", "expected `Bearer <key>`"),
        ("Bearer not-a-key", "not a Redress API key"),
        ("Bearer rdk_000000000000_0000", "not known"),
    ] {
        let response = server
            .client
            .get(server.url("/v1/cases"))
            .header("authorization", header)
            .send()
            .await
            .unwrap();
        // RFC 9110 §11.6.1: a 401 names the scheme that would work.
        assert_eq!(
            response.headers()["www-authenticate"],
            "Bearer realm=\"redress\"",
            "{header}"
        );
        let (status, problem) = crate::support::read(response).await;
        assert_eq!(status, 401, "{header}");
        assert_eq!(problem["type"], "urn:redress:problem:unauthorized");
        assert_eq!(problem["errors"][0]["pointer"], "/authorization");
        assert!(
            problem["errors"][0]["detail"]
                .as_str()
                .unwrap()
                .contains(reason),
            "{problem}"
        );
    }
    let key_id = |key: &str| key.split('_').nth(1).unwrap().to_owned();
    let output = Command::new(BIN)
        .args(["key", "revoke", &key_id(&keys.acme["auditor"]), "--data"])
        .arg(&server.data)
        .output()
        .unwrap();
    assert!(output.status.success());
    let mut refused = None;
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let (status, problem) = call(&server, Some(auditor), "GET", "/v1/cases", None).await;
        if status == 401 {
            refused = Some(problem);
            break;
        }
    }
    let problem = refused.expect("a revoked key is refused within seconds, without a restart");
    assert!(
        problem["errors"][0]["detail"]
            .as_str()
            .unwrap()
            .contains("revoked"),
        "{problem}"
    );
    let mut expired = None;
    for _ in 0..50 {
        let (status, problem) =
            call(&server, Some(&keys.short_lived), "GET", "/v1/cases", None).await;
        if status == 401 {
            expired = Some(problem);
            break;
        }
        assert_eq!(status, 200);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let problem = expired.expect("the key expires");
    assert!(
        problem["errors"][0]["detail"]
            .as_str()
            .unwrap()
            .contains("expired"),
        "{problem}"
    );
}

#[test]
fn a_server_without_keys_does_not_start_unless_told_it_is_for_development() {
    let data = tempfile::tempdir().unwrap();
    let output = Command::new(BIN)
        .args(["serve", "--listen", "127.0.0.1:0", "--data"])
        .arg(data.path())
        .arg("--rulesets")
        .arg(crate::support::repo_root().join("rulesets"))
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("access.json") && stderr.contains("no API key exists"),
        "{stderr}"
    );
    // The key tools refuse bad input with the reason and a non-zero exit.
    let output = Command::new(BIN)
        .args([
            "key", "create", "--tenant", "nobody", "--role", "auditor", "--name", "x", "--data",
        ])
        .arg(data.path())
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("tenant `nobody` does not exist"));
}

#[tokio::test]
async fn a_complainant_follows_the_case_with_the_tracking_code_and_secret_only() {
    let (server, keys) = secured_server();
    let response = server
        .client
        .post(server.url("/v1/cases"))
        .bearer_auth(&keys.acme["intake"])
        .json(&complaint())
        .send()
        .await
        .unwrap();
    let secret = response.headers()["tracking-secret"]
        .to_str()
        .unwrap()
        .to_owned();
    let (status, case) = crate::support::read(response).await;
    assert_eq!(status, 201);
    let code = case["tracking_code"].as_str().unwrap().to_owned();
    let track = |secret: &str| {
        server
            .client
            .get(server.url(&format!("/v1/track/{code}")))
            .header("x-tracking-secret", secret)
            .send()
    };
    // No API key needed; the view has the state of things and nothing personal.
    let (status, view) = crate::support::read(track(&secret).await.unwrap()).await;
    assert_eq!(status, 200, "{view}");
    assert_eq!(view["status"], case["status"]);
    assert_eq!(view["tracking_code"], code.as_str());
    let text = view.to_string();
    for private in [
        "张三",
        "13800138000",
        "文三路",
        "某某电器",
        "intake",
        "actor",
    ] {
        assert!(!text.contains(private), "{private} in {view}");
    }
    // The code as read over the phone works too.
    let spoken = code.to_lowercase().replace('-', " ");
    let response = server
        .client
        .get(server.url(&format!("/v1/track/{spoken}")))
        .header("x-tracking-secret", &secret)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    // A wrong secret and an unknown code look the same; repeated guessing is cut off.
    let (status, wrong) = crate::support::read(track("0000000000000000").await.unwrap()).await;
    assert_eq!(status, 404);
    let unknown = server
        .client
        .get(server.url("/v1/track/RD-ZZZZ-ZZZZ"))
        .header("x-tracking-secret", &secret)
        .send()
        .await
        .unwrap();
    let (status, unknown) = crate::support::read(unknown).await;
    assert_eq!(status, 404);
    assert_eq!(wrong["detail"], unknown["detail"]);
    for _ in 1..redress::tracking::CLIENT_MAX_FAILURES {
        let _ = track("0000000000000000").await.unwrap();
    }
    let (status, problem) = crate::support::read(track(&secret).await.unwrap()).await;
    assert_eq!(status, 429, "{problem}");
    // Another address is another client: the same code, asked about by many, still opens with
    // the right secret there (see `tracking_wrong_guesses_from_one_client_do_not_lock_out_the_complainant`).
    let (status, _) = crate::support::read(
        elsewhere()
            .get(server.url(&format!("/v1/track/{code}")))
            .header("x-tracking-secret", &secret)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 200);
}

/// An HTTP client connecting from 127.0.0.2 (another loopback address: another client).
fn elsewhere() -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(std::net::IpAddr::from([127, 0, 0, 2]))
        .build()
        .unwrap()
}

/// Security review: anyone who knew a tracking code could lock its complainant out for 10
/// minutes with wrong secrets. Wrong secrets now cut off the client that sends them; the
/// complainant, elsewhere, gets in with the right one.
#[tokio::test]
async fn tracking_wrong_guesses_from_one_client_do_not_lock_out_the_complainant() {
    let (server, keys) = secured_server();
    let response = server
        .client
        .post(server.url("/v1/cases"))
        .bearer_auth(&keys.acme["intake"])
        .json(&complaint())
        .send()
        .await
        .unwrap();
    let secret = response.headers()["tracking-secret"]
        .to_str()
        .unwrap()
        .to_owned();
    let (_, case) = crate::support::read(response).await;
    let url = server.url(&format!(
        "/v1/track/{}",
        case["tracking_code"].as_str().unwrap()
    ));
    // The attacker (127.0.0.1) knows the code and guesses well past every limit.
    let mut statuses = Vec::new();
    for _ in 0..3 * redress::tracking::CLIENT_MAX_FAILURES {
        let response = server
            .client
            .get(&url)
            .header("x-tracking-secret", "0123456789abcdef")
            .send()
            .await
            .unwrap();
        statuses.push(response.status().as_u16());
    }
    assert_eq!(statuses.first(), Some(&404));
    assert_eq!(statuses.last(), Some(&429), "{statuses:?}");
    // The complainant, from another address, is not locked out.
    let (status, view) = crate::support::read(
        elsewhere()
            .get(&url)
            .header("x-tracking-secret", &secret)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 200, "{view}");
    // And guessing across many codes is cut off per client as well.
    let guesser = reqwest::Client::builder()
        .local_address(std::net::IpAddr::from([127, 0, 0, 3]))
        .build()
        .unwrap();
    let mut last = 0;
    for n in 0..=redress::tracking::CLIENT_MAX_FAILURES {
        let response = guesser
            .get(server.url(&format!("/v1/track/RD-{n:04}-ZZZZ")))
            .header("x-tracking-secret", "0123456789abcdef")
            .send()
            .await
            .unwrap();
        last = response.status().as_u16();
    }
    assert_eq!(last, 429, "the eleventh wrong guess, on eleven codes");
}

/// Security review: an extractor validated the JSON body before the handler checked the role,
/// so a role that may not act learnt the body's schema (422) instead of hearing 403. Every
/// secured POST and PUT route of the served OpenAPI document, with an invalid body, for every
/// role it does not admit.
#[tokio::test]
async fn a_role_that_may_not_act_gets_403_before_its_body_is_validated() {
    let (server, keys) = secured_server();
    let (status, document) = call(&server, None, "GET", "/v1/openapi.json", None).await;
    assert_eq!(status, 200);
    let never_issued = "01KB0000000000000000000000";
    let mut checked = 0;
    for (path, item) in document["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            if !["post", "put"].contains(&method.as_str())
                || operation["security"].as_array().is_none_or(Vec::is_empty)
            {
                continue;
            }
            let admitted: Vec<&str> = operation["x-required-roles"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r.as_str().unwrap())
                .collect();
            let concrete = path
                .replace("{id}/{version}", "banking-insurance/1.1.0")
                .replace("{id}", never_issued);
            for role in ROLES.iter().filter(|r| !admitted.contains(*r)) {
                for body in [
                    json!({"unexpected": ["not", "the", "schema"]}),
                    json!("not even an object"),
                ] {
                    let (status, problem) = call(
                        &server,
                        Some(keys.of(role)),
                        &method.to_uppercase(),
                        &concrete,
                        Some(body),
                    )
                    .await;
                    assert_eq!(status, 403, "{role} {method} {concrete}: {problem}");
                    assert_eq!(problem["type"], "urn:redress:problem:forbidden");
                }
                checked += 1;
            }
        }
    }
    assert!(checked >= 30, "{checked} (role, route) pairs");
}

/// Security review: the `default` tenant's keys acted on every tenant (its compliance admin
/// suspended another tenant's ruleset and deployed a plugin for all tenants). Those are the
/// `operator` role's powers now; a `default` compliance admin acts on `default`'s own things.
#[tokio::test]
async fn default_tenant_keys_act_on_other_tenants_only_with_the_operator_role() {
    let (server, keys) = secured_server();
    let (status, deployed) = call(
        &server,
        Some(&keys.acme["compliance_admin"]),
        "POST",
        "/v1/rulesets",
        Some(acme_package()),
    )
    .await;
    assert_eq!(status, 201, "{deployed}");
    let acme_suspend = "/v1/rulesets/acme-property/1.0.0/suspend";
    let reason = json!({"reason": "incident 42"});
    let mut global = acme_package();
    global["files"]["ruleset.toml"] = global["files"]["ruleset.toml"]
        .as_str()
        .unwrap()
        .replace(
            "id = \"acme-property\"\ntenant = \"acme-bank\"",
            "id = \"global-property\"",
        )
        .into();
    // A `default` compliance admin: another tenant's ruleset is absent, a package for every
    // tenant is the operator's.
    let admin = keys.default_admin.as_str();
    let (status, problem) = call(
        &server,
        Some(admin),
        "POST",
        acme_suspend,
        Some(reason.clone()),
    )
    .await;
    assert_eq!(status, 404, "{problem}");
    let (status, problem) = call(
        &server,
        Some(admin),
        "POST",
        "/v1/rulesets",
        Some(global.clone()),
    )
    .await;
    assert_eq!(status, 403, "{problem}");
    assert!(
        problem["detail"].as_str().unwrap().contains("operator"),
        "{problem}"
    );
    // The operator may do both.
    let operator = keys.operator.as_str();
    let (status, problem) = call(
        &server,
        Some(operator),
        "POST",
        acme_suspend,
        Some(reason.clone()),
    )
    .await;
    assert_eq!(status, 200, "{problem}");
    let (status, problem) = call(
        &server,
        Some(operator),
        "POST",
        "/v1/rulesets/acme-property/1.0.0/resume",
        None,
    )
    .await;
    assert_eq!(status, 200, "{problem}");
    let (status, problem) = call(
        &server,
        Some(operator),
        "POST",
        "/v1/rulesets",
        Some(global),
    )
    .await;
    assert_eq!(status, 201, "{problem}");
    // A version for every tenant (like the built-in ones) changes state by the operator only.
    let global_suspend = "/v1/rulesets/global-property/1.0.0/suspend";
    for (key, expected) in [(admin, 403), (operator, 200)] {
        let (status, problem) = call(
            &server,
            Some(key),
            "POST",
            global_suspend,
            Some(reason.clone()),
        )
        .await;
        assert_eq!(status, expected, "{problem}");
    }
    // The role is the `default` tenant's only.
    let output = Command::new(BIN)
        .args([
            "key",
            "create",
            "--tenant",
            "acme-bank",
            "--role",
            "operator",
            "--name",
            "x",
            "--data",
        ])
        .arg(&server.data)
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("only to keys of the `default` tenant"),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// The property ruleset of the repository, as a package of `acme-bank`'s own.
fn acme_package() -> Value {
    let dir = crate::support::repo_root().join("rulesets/property");
    let mut files = serde_json::Map::new();
    let manifest = std::fs::read_to_string(dir.join("ruleset.toml"))
        .unwrap()
        .replacen(
            "id = \"property\"",
            "id = \"acme-property\"\ntenant = \"acme-bank\"",
            1,
        )
        .replacen("version = \"1.1.0\"", "version = \"1.0.0\"", 1);
    files.insert("ruleset.toml".into(), manifest.into());
    files.insert(
        "rules.rhai".into(),
        std::fs::read_to_string(dir.join("rules.rhai"))
            .unwrap()
            .into(),
    );
    for entry in std::fs::read_dir(dir.join("cases")).unwrap() {
        let path = entry.unwrap().path();
        let name = format!("cases/{}", path.file_name().unwrap().to_str().unwrap());
        files.insert(name, std::fs::read_to_string(&path).unwrap().into());
    }
    json!({ "files": files })
}

#[tokio::test]
async fn no_tenant_reads_or_changes_another_tenants_rulesets_or_routing() {
    let (server, keys) = secured_server();
    let admin = keys.acme["compliance_admin"].as_str();
    let (status, deployed) = call(
        &server,
        Some(admin),
        "POST",
        "/v1/rulesets",
        Some(acme_package()),
    )
    .await;
    assert_eq!(status, 201, "{deployed}");
    let table = std::fs::read_to_string(
        crate::support::repo_root().join("tests/routing/zhejiang-msa.toml"),
    )
    .unwrap();
    let (status, _) = call(
        &server,
        Some(admin),
        "PUT",
        "/v1/routing",
        Some(json!({"toml": table})),
    )
    .await;
    assert_eq!(status, 200);

    // acme's own ruleset and table are invisible to the other bank ...
    let (_, listed) = call(&server, Some(&keys.other), "GET", "/v1/rulesets", None).await;
    assert!(!listed.to_string().contains("acme-property"), "{listed}");
    let (_, own) = call(
        &server,
        Some(keys.acme["supervisor"].as_str()),
        "GET",
        "/v1/rulesets",
        None,
    )
    .await;
    assert!(own.to_string().contains("acme-property"));
    let (status, _) = call(&server, Some(&keys.other), "GET", "/v1/routing", None).await;
    assert_eq!(status, 404);
    // ... and out of its reach: its admin cannot suspend it, deploy for acme, or replace
    // acme's table (a PUT changes its own tenant's only).
    let (status, _) = call(
        &server,
        Some(&keys.other_admin),
        "POST",
        "/v1/rulesets/acme-property/1.0.0/suspend",
        Some(json!({"reason": "x"})),
    )
    .await;
    assert_eq!(status, 404);
    let mut foreign = acme_package();
    foreign["files"]["ruleset.toml"] = foreign["files"]["ruleset.toml"]
        .as_str()
        .unwrap()
        .replace("1.0.0", "1.0.1")
        .into();
    let (status, problem) = call(
        &server,
        Some(&keys.other_admin),
        "POST",
        "/v1/rulesets",
        Some(foreign),
    )
    .await;
    assert_eq!(status, 403, "{problem}");
    let (status, _) = call(
        &server,
        Some(&keys.other_admin),
        "PUT",
        "/v1/routing",
        Some(json!({"toml": ""})),
    )
    .await;
    assert_eq!(status, 200);
    let (_, still) = call(
        &server,
        Some(keys.acme["auditor"].as_str()),
        "GET",
        "/v1/routing",
        None,
    )
    .await;
    assert_eq!(still["toml"], table);
}

/// Regression (issue #13, "`audit verify` works on a running server"): the CLI needed the
/// server stopped (sled locks its directory). An auditor now asks the server, over HTTP or with
/// `redress audit verify --server`, and sees the tenant's cases; a checkpoint signed with the
/// server's audit key covers the tenant's cases only and verifies later against the store.
#[tokio::test]
async fn an_auditor_verifies_a_running_server_and_keeps_a_signed_checkpoint() {
    let keys_dir = tempfile::tempdir().unwrap();
    let prefix = keys_dir.path().join("audit");
    let output = std::process::Command::new(crate::support::BIN)
        .args(["audit", "keygen", "--out"])
        .arg(&prefix)
        .output()
        .unwrap();
    assert!(output.status.success());
    let (mut server, keys) = secured_server();
    let auditor = keys.acme["auditor"].clone();
    let supervisor = keys.acme["supervisor"].clone();
    for key in [&supervisor, &keys.other] {
        let (status, case) = call(&server, Some(key), "POST", "/v1/cases", Some(complaint())).await;
        assert_eq!(status, 201, "{case}");
    }
    let (status, report) = call(
        &server,
        Some(&auditor),
        "POST",
        "/v1/audit/verify",
        Some(json!({})),
    )
    .await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(
        report["cases_checked"], 1,
        "only the tenant's own: {report}"
    );
    assert_eq!(report["problems"], json!([]));
    // The command line asks the running server instead of opening its (locked) directory.
    let output = std::process::Command::new(crate::support::BIN)
        .args([
            "audit",
            "verify",
            "--server",
            &server.base,
            "--api-key",
            &auditor,
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(text.starts_with("ok: 1 cases"), "{text}");
    // Without an audit key the server signs nothing, and says how to make it.
    let (status, problem) =
        call(&server, Some(&auditor), "GET", "/v1/audit/checkpoint", None).await;
    assert_eq!(status, 404, "{problem}");
    assert!(problem["detail"].as_str().unwrap().contains("--audit-key"));
    server.kill9();
    let secret = keys_dir.path().join("audit.secret.toml");
    server.set_extra_args(["--audit-key".into(), secret.into_os_string()]);
    server.launch();
    let (status, checkpoint) =
        call(&server, Some(&auditor), "GET", "/v1/audit/checkpoint", None).await;
    assert_eq!(status, 200, "{checkpoint}");
    assert_eq!(checkpoint["checkpoint"]["tenant"], "acme-bank");
    assert_eq!(checkpoint["checkpoint"]["cases"], 1);
    let (_, everything) = call(
        &server,
        Some(&keys.operator),
        "GET",
        "/v1/audit/checkpoint",
        None,
    )
    .await;
    assert_eq!(everything["checkpoint"]["cases"], 2, "{everything}");
    server.kill9();
    let kept = keys_dir.path().join("checkpoint.json");
    std::fs::write(&kept, checkpoint.to_string()).unwrap();
    let output = std::process::Command::new(crate::support::BIN)
        .args(["audit", "verify", "--data"])
        .arg(&server.data)
        .arg("--checkpoint")
        .arg(&kept)
        .arg("--public-key")
        .arg(keys_dir.path().join("audit.public.toml"))
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// The property ruleset as a package of `tenant` (none: for every tenant) at `version`, its
/// rules marked with `mark` so that packages differ in content.
fn property_package(tenant: Option<&str>, version: &str, mark: &str) -> Value {
    let mut package = acme_package();
    let files = package["files"].as_object_mut().unwrap();
    let dir = crate::support::repo_root().join("rulesets/property");
    let mut manifest = std::fs::read_to_string(dir.join("ruleset.toml"))
        .unwrap()
        .replacen(
            "version = \"1.1.0\"",
            &format!("version = \"{version}\""),
            1,
        );
    if let Some(tenant) = tenant {
        manifest = manifest.replacen(
            "id = \"property\"",
            &format!("id = \"property\"\ntenant = \"{tenant}\""),
            1,
        );
    }
    files.insert("ruleset.toml".into(), manifest.into());
    let rules = format!("// {mark}\n{}", files["rules.rhai"].as_str().unwrap());
    files.insert("rules.rhai".into(), rules.into());
    package
}

/// Regression (issue #13, "ruleset ids and versions are global, and a case pins `id@version`
/// without its tenant"): a tenant's package with a built-in id and a future version blocked the
/// operator's release (409) and, with the same id and version, could decide another tenant's
/// pinned cases; re-uploading another tenant's package answered with its summary. Packages
/// now live in their tenant's namespace, a case pins namespace, id, version and content hash,
/// and another tenant's package is refused before anything is compared.
#[tokio::test]
async fn packages_are_namespaced_per_tenant_and_a_pin_names_the_exact_package() {
    let (server, keys) = secured_server();
    let acme_admin = keys.acme["compliance_admin"].clone();
    let deploy = |key: String, package: Value| {
        let server = &server;
        async move { call(server, Some(&key), "POST", "/v1/rulesets", Some(package)).await }
    };
    let (status, acme) = deploy(
        acme_admin.clone(),
        property_package(Some("acme-bank"), "9.0.0", "acme"),
    )
    .await;
    assert_eq!(status, 201, "{acme}");
    // The same id and version, for another tenant, with other content: its own namespace.
    let (status, other) = deploy(
        keys.other_admin.clone(),
        property_package(Some("other-bank"), "9.0.0", "other"),
    )
    .await;
    assert_eq!(status, 201, "{other}");
    assert_ne!(acme["content_hash"], other["content_hash"]);
    // Nor does a tenant's package block the operator's release of that id and version.
    let (status, operators) = deploy(
        keys.operator.clone(),
        property_package(None, "9.0.0", "operator"),
    )
    .await;
    assert_eq!(status, 201, "{operators}");
    // Another tenant's package is refused before anything is compared: no summary, no
    // "already installed".
    let (status, problem) = deploy(
        keys.other_admin.clone(),
        property_package(Some("acme-bank"), "9.0.0", "acme"),
    )
    .await;
    assert_eq!(status, 403, "{problem}");
    assert!(!problem.to_string().contains("content_hash"), "{problem}");

    // Each tenant's case is decided, and pinned, by its own package.
    let mut case = complaint();
    case["sector"] = json!("property");
    case["attributes"] = json!({"handled_by": "company"});
    for (key, tenant, hash) in [
        (
            keys.acme["supervisor"].clone(),
            "acme-bank",
            &acme["content_hash"],
        ),
        (keys.other.clone(), "other-bank", &other["content_hash"]),
    ] {
        let (status, created) =
            call(&server, Some(&key), "POST", "/v1/cases", Some(case.clone())).await;
        assert_eq!(status, 201, "{created}");
        let pin = &created["ruleset"];
        assert_eq!(pin["id"], "property", "{created}");
        assert_eq!(pin["version"], "9.0.0");
        assert_eq!(pin["tenant"], tenant);
        assert_eq!(&pin["content_hash"], hash);
    }
    // One tenant suspending its package touches nothing of another's.
    let (status, suspended) = call(
        &server,
        Some(&acme_admin),
        "POST",
        "/v1/rulesets/property/9.0.0/suspend",
        Some(json!({"reason": "review"})),
    )
    .await;
    assert_eq!(status, 200, "{suspended}");
    assert_eq!(suspended["tenant"], "acme-bank");
    let (_, listed) = call(&server, Some(&keys.other), "GET", "/v1/rulesets", None).await;
    let mine = listed["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == "property" && r["version"] == "9.0.0" && r["tenant"] == "other-bank")
        .unwrap_or_else(|| panic!("{listed}"));
    assert_eq!(mine["state"], "active", "{mine}");
}

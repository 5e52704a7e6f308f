//! Office-scoped API keys (`redress key create --office`): a key of office A lists, reads and
//! acts on office A's cases and those assigned to its holder; office B's read as absent (404),
//! like another tenant's; an unscoped key sees both; an `access.json` written before offices
//! existed still loads.

use serde_json::{Value, json};

use super::{call, cli};
use crate::support::{Server, complaint};

struct Scoped {
    supervisor: String,
    /// `li.si`, office `xihu`.
    xihu: String,
    /// `zhao.qi`, office `binjiang`.
    binjiang: String,
    /// An intake desk of office `xihu`.
    xihu_intake: String,
}

fn key(data: &std::path::Path, role: &str, name: &str, office: Option<&str>) -> String {
    let mut args = vec![
        "key", "create", "--tenant", "default", "--role", role, "--name", name,
    ];
    if let Some(office) = office {
        args.extend(["--office", office]);
    }
    cli(data, &args)
}

/// Registers a case and has the supervisor assign it to `assignee` in `office`.
async fn case_in(server: &Server, keys: &Scoped, office: &str, assignee: &str) -> String {
    let (status, case) = call(
        server,
        Some(&keys.supervisor),
        "POST",
        "/v1/cases",
        Some(complaint()),
    )
    .await;
    assert_eq!(status, 201, "{case}");
    let id = case["id"].as_str().unwrap().to_owned();
    let (status, body) = call(
        server,
        Some(&keys.supervisor),
        "POST",
        &format!("/v1/cases/{id}/events"),
        Some(json!({"type": "assign", "assignee": assignee, "office": office})),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    id
}

fn ids(list: &Value) -> Vec<String> {
    list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn an_office_key_sees_and_works_its_office_only_and_the_rest_is_absent() {
    let (server, keys) = Server::start_with_rulesets_and_data(|data| {
        // The key's holder is also who the case is assigned to.
        let out = Scoped {
            supervisor: key(data, "supervisor", "wang.wu", None),
            xihu: key(data, "handler", "li.si", Some("xihu")),
            binjiang: key(data, "handler", "zhao.qi", Some("binjiang")),
            xihu_intake: key(data, "intake", "desk", Some("xihu")),
        };
        let listed = cli(data, &["key", "list"]);
        assert!(
            listed.contains("\thandler\txihu\tli.si\t") && listed.contains("\tsupervisor\t-\t"),
            "{listed}"
        );
        out
    });
    let a = case_in(&server, &keys, "xihu", "li.si").await;
    let b = case_in(&server, &keys, "binjiang", "zhao.qi").await;
    // A case of binjiang assigned to li.si by name: in li.si's scope wherever it is.
    let lent = case_in(&server, &keys, "binjiang", "li.si").await;

    // Listing: own office and own cases; never the other office's.
    let (status, list) = call(&server, Some(&keys.xihu), "GET", "/v1/cases", None).await;
    assert_eq!(status, 200, "{list}");
    let seen = ids(&list);
    assert!(seen.contains(&a) && seen.contains(&lent), "{list}");
    assert!(
        !seen.contains(&b),
        "office B's case listed to office A: {list}"
    );
    // Naming another office: 403, said in words; its own office: its queue.
    let (status, refused) = call(
        &server,
        Some(&keys.xihu),
        "GET",
        "/v1/cases?office=binjiang",
        None,
    )
    .await;
    assert_eq!(status, 403, "{refused}");
    assert!(
        refused["detail"]
            .as_str()
            .unwrap()
            .contains("scoped to office `xihu`"),
        "{refused}"
    );
    let (status, own) = call(
        &server,
        Some(&keys.xihu),
        "GET",
        "/v1/cases?office=xihu",
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(ids(&own), vec![a.clone()], "{own}");
    // Another assignee's name does not widen the scope.
    let (_, theirs) = call(
        &server,
        Some(&keys.xihu),
        "GET",
        "/v1/cases?assignee=zhao.qi",
        None,
    )
    .await;
    assert!(ids(&theirs).is_empty(), "{theirs}");

    // Reading: office B's case is absent on every path, exactly as an unknown case is.
    let unknown = "01JDZ5V7N3Q8R2T4W6Y8A0C2E4";
    for path in ["", "/timeline", "/clocks"] {
        let (status, body) = call(
            &server,
            Some(&keys.xihu),
            "GET",
            &format!("/v1/cases/{b}{path}"),
            None,
        )
        .await;
        assert_eq!(status, 404, "{path}: {body}");
        assert_eq!(body["detail"], format!("no case {b}"), "{path}");
        let (status, _) = call(
            &server,
            Some(&keys.xihu),
            "GET",
            &format!("/v1/cases/{a}{path}"),
            None,
        )
        .await;
        assert_eq!(status, 200, "own case {path}");
    }
    let (status, _) = call(
        &server,
        Some(&keys.xihu),
        "GET",
        &format!("/v1/cases/{unknown}"),
        None,
    )
    .await;
    assert_eq!(status, 404);

    // Acting: office B's case is absent too, whatever version is named; nothing is recorded.
    let note = json!({"type": "note", "text": "from the wrong office"});
    for if_match in [None, Some("\"999\"")] {
        let mut request = server
            .client
            .post(server.url(&format!("/v1/cases/{b}/events")))
            .bearer_auth(&keys.xihu)
            .json(&note);
        if let Some(tag) = if_match {
            request = request.header("if-match", tag);
        }
        let (status, body) = crate::support::read(request.send().await.unwrap()).await;
        assert_eq!(status, 404, "{if_match:?}: {body}");
    }
    let (status, body) = call(
        &server,
        Some(&keys.xihu),
        "POST",
        &format!("/v1/cases/{b}/clocks"),
        Some(json!({"type": "pause", "name": "acceptance", "reason": "x"})),
    )
    .await;
    assert_eq!(status, 404, "{body}");
    let (_, timeline) = call(
        &server,
        Some(&keys.supervisor),
        "GET",
        &format!("/v1/cases/{b}/timeline"),
        None,
    )
    .await;
    assert!(
        !timeline.to_string().contains("from the wrong office"),
        "{timeline}"
    );
    // Its own case: it acts.
    let (status, body) = call(
        &server,
        Some(&keys.xihu),
        "POST",
        &format!("/v1/cases/{a}/events"),
        Some(json!({"type": "note", "text": "called back"})),
    )
    .await;
    assert_eq!(status, 201, "{body}");

    // The other office's key sees its own and not A's.
    let (_, list) = call(&server, Some(&keys.binjiang), "GET", "/v1/cases", None).await;
    let seen = ids(&list);
    assert!(seen.contains(&b) && !seen.contains(&a), "{list}");
    // An intake desk of xihu: xihu's cases only.
    let (_, list) = call(&server, Some(&keys.xihu_intake), "GET", "/v1/cases", None).await;
    assert_eq!(ids(&list), vec![a.clone()], "{list}");
    // The unscoped supervisor sees all three.
    let (_, list) = call(&server, Some(&keys.supervisor), "GET", "/v1/cases", None).await;
    let seen = ids(&list);
    for id in [&a, &b, &lent] {
        assert!(seen.contains(id), "{list}");
    }
}

#[test]
fn an_office_is_checked_when_the_key_is_made_and_old_files_still_load() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    let run = |args: &[&str]| {
        std::process::Command::new(crate::support::BIN)
            .args(args)
            .arg("--data")
            .arg(data)
            .output()
            .unwrap()
    };
    // An access.json written before offices existed: it loads, its key listed unscoped.
    std::fs::write(
        data.join("access.json"),
        r#"{"format":"redress-access/1","tenants":[],"keys":[{"id":"0a0b0c0d0e0f",
        "tenant":"default","role":"handler","name":"old","secret_sha256":"00",
        "created_at":"2026-01-01T00:00:00Z","expires_at":null,"revoked_at":null}]}"#,
    )
    .unwrap();
    let listed = run(&["key", "list"]);
    assert!(listed.status.success());
    assert!(
        String::from_utf8_lossy(&listed.stdout).contains("0a0b0c0d0e0f\tdefault\thandler\t-\told"),
        "{}",
        String::from_utf8_lossy(&listed.stdout)
    );
    // An auditor is not scoped to an office.
    let refused = run(&[
        "key", "create", "--tenant", "default", "--role", "auditor", "--name", "a", "--office",
        "xihu",
    ]);
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("not scoped to an office"), "{stderr}");
    // With a routing table, an office it does not name is refused, one it names is taken.
    std::fs::create_dir_all(data.join("routing")).unwrap();
    std::fs::copy(
        crate::support::repo_root().join("tests/routing/zhejiang-msa.toml"),
        data.join("routing/default.toml"),
    )
    .unwrap();
    let refused = run(&[
        "key", "create", "--tenant", "default", "--role", "handler", "--name", "h", "--office",
        "nowhere",
    ]);
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("office `nowhere` is not in tenant `default`'s routing table"),
        "{stderr}"
    );
    let listed = String::from_utf8_lossy(&run(&["key", "list"]).stdout).into_owned();
    assert_eq!(listed.lines().count(), 1, "nothing was added: {listed}");
    let made = run(&[
        "key",
        "create",
        "--tenant",
        "default",
        "--role",
        "handler",
        "--name",
        "h",
        "--office",
        "330106-msa",
    ]);
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    let listed = String::from_utf8_lossy(&run(&["key", "list"]).stdout).into_owned();
    assert!(listed.contains("\thandler\t330106-msa\th\t"), "{listed}");
}

/// The console shares the rule: a supervisor account of office `xihu` sees its office's queue
/// whatever office it asks for, and another office's case page is absent.
#[tokio::test]
async fn a_console_account_with_an_office_is_held_to_it_like_a_key() {
    use crate::console::{Browser, PASSWORD, create_user};
    let (server, keys) = Server::start_with_rulesets_and_data(|data| {
        create_user(data, "xihu.sup", "supervisor", Some("xihu"));
        Scoped {
            supervisor: key(data, "supervisor", "wang.wu", None),
            xihu: key(data, "handler", "li.si", Some("xihu")),
            binjiang: key(data, "handler", "zhao.qi", Some("binjiang")),
            xihu_intake: key(data, "intake", "desk", Some("xihu")),
        }
    });
    let a = case_in(&server, &keys, "xihu", "li.si").await;
    let b = case_in(&server, &keys, "binjiang", "zhao.qi").await;
    let mut browser = Browser::new(&server);
    assert_eq!(
        browser.sign_in("xihu.sup", PASSWORD, None).await.status,
        303
    );
    let queue = browser
        .get("/console/queue?view=office&office=binjiang")
        .await;
    assert_eq!(queue.status, 200, "{}", queue.body);
    assert!(
        queue.body.contains(&format!("/console/cases/{a}")),
        "{}",
        queue.body
    );
    assert!(!queue.body.contains(&format!("/console/cases/{b}")));
    let board = browser.get("/console/board?office=binjiang").await;
    assert!(board.body.contains("看板：xihu"), "{}", board.body);
    assert_eq!(
        browser.get(&format!("/console/cases/{b}")).await.status,
        404
    );
    assert_eq!(
        browser.get(&format!("/console/cases/{a}")).await.status,
        200
    );
}

//! The compliance admin's pages: "explain this case under that version" (a dry run), deploying
//! a package from the rulesets page, the routing table (`/console/routing`) and the plugin
//! keys (`/console/plugin-keys`), each for its roles and forbidden to the others, CSRF first,
//! refusals in words that change nothing.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::*;

/// A government-hotline package (no built-in ruleset decides that sector): `tenant` in its
/// manifest if given, rules `rules`, one fixture expecting `expected` on receipt.
fn package(version: &str, tenant: Option<&str>, rules: &str, expected: Value) -> Value {
    let tenant = tenant.map_or_else(String::new, |t| format!("tenant = \"{t}\"\n"));
    let manifest = format!(
        "id = \"hotline-test\"\nversion = \"{version}\"\nname = \"热线测试\"\nsector = \"government_hotline\"\neffective_from = 2020-01-01\nengine = \"rhai\"\n{tenant}"
    );
    let fixture = redress::yaml::to_string(&json!({
        "description": "an ordinary hotline case",
        "now": "2026-02-13T10:00:00+08:00",
        "case": {"intake": {"sector": "government_hotline", "channel": "hotline", "respondent": {"name": "某街道办"}, "claim": "路灯不亮"}},
        "trigger": {"type": "case_received"},
        "expect": {"actions": expected}
    }));
    let files: BTreeMap<&str, String> = [
        ("ruleset.toml", manifest),
        ("rules.rhai", rules.to_owned()),
        ("cases/01-ordinary.yaml", fixture),
    ]
    .into();
    json!({ "files": files })
}

const V1: &str = r#"fn decide(trigger, the_case, ctx) {
    if trigger.type != "case_received" { return []; }
    [because("12345: reply within 5 working days"), classify("street_lighting")]
}"#;

const V2: &str = r#"fn decide(trigger, the_case, ctx) {
    if trigger.type == "handler_event" { return [because("v2: every handler event is noted")]; }
    if trigger.type != "case_received" { return []; }
    [because("12345: urgent, reply within 2 working days"), classify("street_lighting", "high")]
}"#;

/// Posts `file` as the upload form's package, with `csrf` if given.
async fn upload(browser: &mut Browser, csrf: Option<&str>, file: &[u8]) -> Page {
    let boundary = "----redress-test-7d1";
    let mut body = Vec::new();
    if let Some(csrf) = csrf {
        body.extend(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\n{csrf}\r\n"
            )
            .as_bytes(),
        );
    }
    body.extend(
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"package\"; filename=\"package.json\"\r\nContent-Type: application/json\r\n\r\n"
        )
        .as_bytes(),
    );
    body.extend(file);
    body.extend(format!("\r\n--{boundary}--\r\n").as_bytes());
    let request = browser
        .client
        .post(format!("{}/console/rulesets/deploy", browser.base))
        .header(
            "content-type",
            format!("multipart/form-data; boundary={boundary}"),
        )
        .body(body);
    browser.send(request).await
}

fn versions(list: &Value) -> Vec<String> {
    list["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["id"] == "hotline-test")
        .map(|r| r["version"].as_str().unwrap().to_owned())
        .collect()
}

/// A package is deployed from the page (fixtures first); one whose fixture fails is refused
/// with the fixture named, and nothing changes; then a case decided by 1.0.0 is explained
/// under 1.1.0: the difference is shown and the case's history is untouched.
#[tokio::test]
async fn a_package_is_deployed_from_the_page_and_a_case_explained_under_it() {
    let server = Server::start();
    create_user(&server.data, "admin", "compliance_admin", None);
    create_user(&server.data, "sup", "supervisor", None);
    create_user(&server.data, "audit", "auditor", None);
    create_user(&server.data, "li.si", "handler", None);
    let v1 = package(
        "1.0.0",
        None,
        V1,
        json!([{"type": "classify", "category": "street_lighting"}]),
    );
    let (status, deployed) = server.post("/v1/rulesets", &v1).await;
    assert_eq!(status, 201, "{deployed}");
    let case = server
        .create(
            &json!({"sector": "government_hotline", "channel": "hotline",
            "received_at": "2026-02-13T10:00:00+08:00",
            "complainant": {"name": "王五", "phone": "13900139000"},
            "respondent": {"name": "某街道办"}, "claim": "路灯不亮"}),
        )
        .await;
    let id = case["id"].as_str().unwrap().to_owned();
    assert_eq!(case["ruleset"]["version"], "1.0.0");
    // 1.0.0 says nothing on a handler's event: no decision recorded for it.
    let (status, accepted) = server.act(&id, json!({"type": "accept"})).await;
    assert!(status < 300, "{accepted}");

    let mut admin = signed_in(&server, "admin").await;
    let rulesets = admin.get("/console/rulesets").await;
    assert!(
        rulesets.body.contains("/console/rulesets/deploy")
            && rulesets.body.contains("/console/rulesets/explain"),
        "{}",
        rulesets.body
    );
    let form = admin.get("/console/rulesets/deploy").await;
    assert_eq!(form.status, 200, "{}", form.body);
    form.assert_secured();
    assert_no_inline(&form);
    assert!(form.body.contains("enctype=\"multipart/form-data\""));
    let csrf = form.field("csrf");

    // CSRF first: without the token, nothing is looked at.
    let good = package(
        "1.1.0",
        Some("default"),
        V2,
        json!([{"type": "classify", "category": "street_lighting", "severity": "high"}]),
    );
    let good_bytes = serde_json::to_vec(&good).unwrap();
    let forged = upload(&mut admin, None, &good_bytes).await;
    assert_eq!(forged.status, 403, "{}", forged.body);
    assert_eq!(versions(&server.get("/v1/rulesets").await.1), ["1.0.0"]);

    // A fixture that fails: refused in words, the fixture named, nothing deployed.
    let failing = package(
        "1.2.0",
        Some("default"),
        V2,
        json!([{"type": "classify", "category": "street_lighting"}]),
    );
    let refused = upload(
        &mut admin,
        Some(&csrf),
        &serde_json::to_vec(&failing).unwrap(),
    )
    .await;
    assert_eq!(refused.status, 422, "{}", refused.body);
    assert!(
        refused.body.contains("1 个样例案件中有 1 个未通过")
            && refused.body.contains("01-ordinary")
            && refused.body.contains("未做任何更改"),
        "{}",
        refused.body
    );
    // Not JSON: the place in the file is named.
    let broken = upload(&mut admin, Some(&csrf), b"{\n  \"files\": {\n}").await;
    assert_eq!(broken.status, 422, "{}", broken.body);
    assert!(broken.body.contains("第 3 行"), "{}", broken.body);
    assert_eq!(versions(&server.get("/v1/rulesets").await.1), ["1.0.0"]);

    let done = upload(&mut admin, Some(&csrf), &good_bytes).await;
    assert_eq!(done.status, 201, "{}", done.body);
    assert!(
        done.body.contains("已部署") && done.body.contains("1.1.0"),
        "{}",
        done.body
    );
    let mut now = versions(&server.get("/v1/rulesets").await.1);
    now.sort();
    assert_eq!(now, ["1.0.0", "1.1.0"]);

    // The case explained under 1.1.0: a dry run; the difference marked, nothing written.
    let before = server.get(&format!("/v1/cases/{id}")).await.1;
    let mut sup = signed_in(&server, "sup").await;
    let case_page = sup.get(&format!("/console/cases/{id}")).await;
    assert!(
        case_page
            .body
            .contains(&format!("/console/rulesets/explain?case={id}")),
        "{}",
        case_page.body
    );
    let explain = format!("/console/rulesets/explain?case={id}&ruleset=hotline-test%401.1.0");
    let page = sup.get(&explain).await;
    assert_eq!(page.status, 200, "{}", page.body);
    page.assert_secured();
    assert_no_inline(&page);
    assert!(
        page.body.contains("共 2 个决定点，其中 2 处与记录不同")
            && page.body.contains("未写入任何数据"),
        "{}",
        page.body
    );
    assert!(
        page.body.contains("hotline-test@1.0.0") && page.body.contains("hotline-test@1.1.0"),
        "{}",
        page.body
    );
    assert!(
        page.body.contains("严重程度：high") && page.body.contains("urgent, reply within 2"),
        "{}",
        page.body
    );
    assert!(page.body.contains("≠"), "{}", page.body);
    // Where 1.0.0 recorded nothing, 1.1.0 would have said something.
    assert!(
        page.body.contains("未作决定") && page.body.contains("v2: every handler event is noted"),
        "{}",
        page.body
    );
    let after = server.get(&format!("/v1/cases/{id}")).await.1;
    assert_eq!(
        after["version"], before["version"],
        "the dry run wrote nothing"
    );
    assert_eq!(after["ruleset"]["version"], "1.0.0");

    // Under its own version: nothing differs.
    let same = sup
        .get(&format!(
            "/console/rulesets/explain?case={id}&ruleset=hotline-test%401.0.0"
        ))
        .await;
    assert!(same.body.contains("其中 0 处与记录不同"), "{}", same.body);
    // A case id that is not one, and a version of another sector: the field named.
    let bad = sup
        .get("/console/rulesets/explain?case=nope&ruleset=hotline-test%401.0.0")
        .await;
    assert_eq!(bad.status, 422, "{}", bad.body);
    assert!(bad.body.contains("“nope”不是案件编号"), "{}", bad.body);
    let unknown = sup
        .get(&format!(
            "/console/rulesets/explain?case={id}&ruleset=hotline-test%409.9.9"
        ))
        .await;
    assert_eq!(unknown.status, 404, "{}", unknown.body);

    // The auditor and the admin may explain too; the handler may not, nor upload.
    let mut audit = signed_in(&server, "audit").await;
    assert_eq!(audit.get(&explain).await.status, 200);
    assert_eq!(admin.get(&explain).await.status, 200);
    let mut handler = signed_in(&server, "li.si").await;
    assert_eq!(handler.get(&explain).await.status, 403);
    assert_eq!(handler.get("/console/rulesets/deploy").await.status, 403);
    assert_eq!(sup.get("/console/rulesets/deploy").await.status, 403);
    assert_eq!(
        server.get(&format!("/v1/cases/{id}")).await.1["version"],
        before["version"]
    );
}

const TABLE: &str = include_str!("../../routing/zhejiang-msa.toml");

/// The routing table: refused with the line and entry at fault (nothing changes), saved when
/// valid, shown as an office tree, a stale edit refused, a case tested; read-only for a
/// supervisor, forbidden to a handler.
#[tokio::test]
async fn the_routing_table_is_edited_with_its_faults_named_and_a_case_tested() {
    let server = Server::start();
    create_user(&server.data, "admin", "compliance_admin", None);
    create_user(&server.data, "sup", "supervisor", None);
    create_user(&server.data, "li.si", "handler", None);
    let mut admin = signed_in(&server, "admin").await;
    let page = admin.get("/console/routing").await;
    assert_eq!(page.status, 200, "{}", page.body);
    page.assert_secured();
    assert_no_inline(&page);
    assert!(page.body.contains("还没有分办规则表"), "{}", page.body);
    assert!(
        page.body.contains("href=\"/console/routing\""),
        "in the navigation"
    );
    let csrf = page.field("csrf");
    let base = page.field("base");

    let no_token = admin
        .post(
            "/console/routing",
            &[("toml", TABLE), ("base", base.as_str())],
        )
        .await;
    assert_eq!(no_token.status, 403, "{}", no_token.body);
    let wrong = TABLE.replace("office = \"3301-food\"", "office = \"3301-fod\"");
    let refused = admin
        .post(
            "/console/routing",
            &[
                ("csrf", csrf.as_str()),
                ("toml", wrong.as_str()),
                ("base", base.as_str()),
            ],
        )
        .await;
    assert_eq!(refused.status, 422, "{}", refused.body);
    let line = wrong
        .lines()
        .enumerate()
        .filter(|(_, l)| l.trim() == "[[rule]]")
        .nth(2)
        .unwrap()
        .0
        + 1;
    assert!(
        refused.body.contains(&format!("第 {line} 行 [[rule]] #3"))
            && refused.body.contains("3301-fod"),
        "{}",
        refused.body
    );
    assert_eq!(server.get("/v1/routing").await.0, 404, "nothing changed");

    let saved = admin
        .post(
            "/console/routing",
            &[
                ("csrf", csrf.as_str()),
                ("toml", TABLE),
                ("base", base.as_str()),
            ],
        )
        .await;
    assert_eq!(saved.status, 303, "{}", saved.body);
    let (status, doc) = server.get("/v1/routing").await;
    assert_eq!(status, 200);
    assert_eq!(doc["toml"], TABLE);
    let tree = admin.get(saved.location()).await;
    assert!(
        tree.body.contains("分办规则已保存")
            && tree.body.contains("杭州市西湖区市场监督管理局")
            && tree.body.contains("depth-2")
            && tree.body.contains("行政区划 330106")
            && tree.body.contains("规则 #4"),
        "{}",
        tree.body
    );

    // An edit from the page as it was before the save: refused, the table in force stays.
    let stale = admin
        .post(
            "/console/routing",
            &[
                ("csrf", csrf.as_str()),
                ("toml", "# empty\n"),
                ("base", base.as_str()),
            ],
        )
        .await;
    assert_eq!(stale.status, 409, "{}", stale.body);
    assert!(stale.body.contains("已被他人修改"), "{}", stale.body);
    assert_eq!(server.get("/v1/routing").await.1["toml"], TABLE);

    // Test a case: the office and why.
    let tested = admin
        .post(
            "/console/routing/test",
            &[
                ("csrf", csrf.as_str()),
                ("sector", "market_supervision"),
                ("division", "330106"),
                ("channel", "hotline"),
            ],
        )
        .await;
    assert_eq!(tested.status, 200, "{}", tested.body);
    assert!(
        tested
            .body
            .contains("分给：杭州市西湖区市场监督管理局（330106-msa")
            && tested.body.contains("生效的是规则 #4"),
        "{}",
        tested.body
    );

    let mut sup = signed_in(&server, "sup").await;
    let read = sup.get("/console/routing").await;
    assert_eq!(read.status, 200);
    assert!(
        !read.body.contains("routing-toml"),
        "no edit form for a reader"
    );
    let csrf = read.field("csrf");
    let forbidden = sup
        .post(
            "/console/routing",
            &[("csrf", csrf.as_str()), ("toml", "# x\n"), ("base", "")],
        )
        .await;
    assert_eq!(forbidden.status, 403);
    assert_eq!(server.get("/v1/routing").await.1["toml"], TABLE);
    let mut handler = signed_in(&server, "li.si").await;
    assert_eq!(handler.get("/console/routing").await.status, 403);
}

/// Plugin keys: listed with fingerprints, one added (checked), a bad one refused with nothing
/// changed, one removed; read-only for an auditor, forbidden to a handler.
#[tokio::test]
async fn plugin_keys_are_listed_added_and_removed() {
    let server = Server::start();
    create_user(&server.data, "admin", "compliance_admin", None);
    create_user(&server.data, "audit", "auditor", None);
    create_user(&server.data, "li.si", "handler", None);
    let key = redress::rules::signing::VendorKey::generate("某插件厂商").unwrap();
    let entry = key.public_toml();
    let id = key.key_id();

    let mut admin = signed_in(&server, "admin").await;
    let page = admin.get("/console/plugin-keys").await;
    assert_eq!(page.status, 200, "{}", page.body);
    page.assert_secured();
    assert_no_inline(&page);
    assert!(page.body.contains("尚未添加"), "{}", page.body);
    let csrf = page.field("csrf");
    let base = page.field("base");

    let no_token = admin
        .post(
            "/console/plugin-keys/add",
            &[("entry", entry.as_str()), ("base", base.as_str())],
        )
        .await;
    assert_eq!(no_token.status, 403);
    // A public key that is not the one its id names.
    let other = redress::rules::signing::VendorKey::generate("x").unwrap();
    let other_hex = other
        .public_toml()
        .lines()
        .find(|l| l.starts_with("public_key"))
        .unwrap()
        .to_owned();
    let bad = entry
        .lines()
        .map(|l| {
            if l.starts_with("public_key") {
                other_hex.as_str()
            } else {
                l
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    let refused = admin
        .post(
            "/console/plugin-keys/add",
            &[
                ("csrf", csrf.as_str()),
                ("entry", bad.as_str()),
                ("base", base.as_str()),
            ],
        )
        .await;
    assert_eq!(refused.status, 422, "{}", refused.body);
    assert!(
        refused.body.contains("密钥无效") && refused.body.contains("does not match"),
        "{}",
        refused.body
    );
    assert_eq!(
        server.get("/v1/plugin-keys").await.0,
        404,
        "nothing changed"
    );

    let added = admin
        .post(
            "/console/plugin-keys/add",
            &[
                ("csrf", csrf.as_str()),
                ("entry", entry.as_str()),
                ("base", base.as_str()),
            ],
        )
        .await;
    assert_eq!(added.status, 303, "{}", added.body);
    let listed = admin.get(added.location()).await;
    assert!(
        listed.body.contains(&id)
            && listed.body.contains("某插件厂商")
            && listed.body.contains("已添加"),
        "{}",
        listed.body
    );
    let (status, doc) = server.get("/v1/plugin-keys").await;
    assert_eq!(status, 200);
    assert!(doc["toml"].as_str().unwrap().contains(&id), "{doc}");

    let mut audit = signed_in(&server, "audit").await;
    let read = audit.get("/console/plugin-keys").await;
    assert_eq!(read.status, 200);
    assert!(read.body.contains(&id) && !read.body.contains("/console/plugin-keys/add"));
    let mut handler = signed_in(&server, "li.si").await;
    assert_eq!(handler.get("/console/plugin-keys").await.status, 403);

    let base = listed.field("base");
    let removed = admin
        .post(
            "/console/plugin-keys/remove",
            &[
                ("csrf", csrf.as_str()),
                ("key_id", id.as_str()),
                ("base", base.as_str()),
            ],
        )
        .await;
    assert_eq!(removed.status, 303, "{}", removed.body);
    let (_, doc) = server.get("/v1/plugin-keys").await;
    assert!(!doc["toml"].as_str().unwrap_or("").contains(&id), "{doc}");
    assert!(
        admin
            .get("/console/plugin-keys")
            .await
            .body
            .contains("尚未添加")
    );
}

//! `/console/rulesets`: the versions side by side, suspend and resume.

use super::*;

/// The rulesets side by side; the operator suspends (with a reason) and resumes a built-in
/// version; a compliance admin sees it read-only and a forged form is refused, nothing
/// changed; a handler is refused the page.
#[tokio::test]
async fn rulesets_side_by_side_suspended_and_resumed_by_who_may() {
    let server = Server::start_with_rulesets();
    // Accounts made while it runs (the server re-reads the file).
    create_user(&server.data, "ops", "operator", None);
    create_user(&server.data, "admin", "compliance_admin", None);
    create_user(&server.data, "li.si", "handler", None);
    let (_, rulesets) = server.get("/v1/rulesets").await;
    let first = rulesets["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["state"] == "active" && r.get("retired").is_none())
        .unwrap()
        .clone();
    let (rid, rversion) = (
        first["id"].as_str().unwrap(),
        first["version"].as_str().unwrap(),
    );
    let state_of = |list: &Value| {
        list["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["id"] == rid && r["version"] == rversion && r["tenant"].is_null())
            .unwrap()["state"]
            .clone()
    };
    let suspend = format!("/console/rulesets/{rid}/{rversion}/suspend");
    let resume = format!("/console/rulesets/{rid}/{rversion}/resume");

    let mut admin = signed_in(&server, "admin").await;
    let page = admin.get("/console/rulesets").await;
    assert_eq!(page.status, 200, "{}", page.body);
    page.assert_secured();
    assert_no_inline(&page);
    assert!(
        page.body.contains("内置（所有单位）") && page.body.contains(rversion),
        "{}",
        page.body
    );
    assert!(
        page.body.contains("样例案件") && page.body.contains("生效日期"),
        "{}",
        page.body
    );
    assert!(
        !page.body.contains(&suspend),
        "no suspend form on a built-in for an admin"
    );
    let csrf = page.field("csrf");
    let forged = admin
        .post(&suspend, &[("csrf", csrf.as_str()), ("reason", "x")])
        .await;
    assert_eq!(forged.status, 403, "{}", forged.body);
    assert!(forged.body.contains("只能由运维人员"), "{}", forged.body);
    assert_eq!(state_of(&server.get("/v1/rulesets").await.1), "active");

    let mut ops = signed_in(&server, "ops").await;
    let page = ops.get("/console/rulesets").await;
    assert!(page.body.contains(&suspend), "{}", page.body);
    let csrf = page.field("csrf");
    let no_token = ops.post(&suspend, &[("reason", "法规修订")]).await;
    assert_eq!(no_token.status, 403);
    let no_reason = ops
        .post(&suspend, &[("csrf", csrf.as_str()), ("reason", "  ")])
        .await;
    assert_eq!(no_reason.status, 422, "{}", no_reason.body);
    assert!(
        no_reason.body.contains("请填写暂停理由"),
        "{}",
        no_reason.body
    );
    assert_eq!(state_of(&server.get("/v1/rulesets").await.1), "active");

    let done = ops
        .post(
            &suspend,
            &[("csrf", csrf.as_str()), ("reason", "法规修订，待复核")],
        )
        .await;
    assert_eq!(done.status, 303, "{}", done.body);
    let after = ops.get(done.location()).await;
    assert!(
        after.body.contains("已暂停") && after.body.contains("法规修订，待复核"),
        "{}",
        after.body
    );
    assert!(after.body.contains(&resume), "{}", after.body);
    assert_eq!(state_of(&server.get("/v1/rulesets").await.1), "suspended");

    let resumed = ops.post(&resume, &[("csrf", csrf.as_str())]).await;
    assert_eq!(resumed.status, 303, "{}", resumed.body);
    assert!(ops.get(resumed.location()).await.body.contains("已恢复"));
    assert_eq!(state_of(&server.get("/v1/rulesets").await.1), "active");

    let mut handler = signed_in(&server, "li.si").await;
    assert_eq!(handler.get("/console/rulesets").await.status, 403);
}

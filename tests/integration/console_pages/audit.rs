//! `/console/audit`: the auditor's verification.

use super::*;

/// The auditor verifies one case and the tenant, reads the result in words with identities
/// masked, exports it as JSON; other roles are refused.
#[tokio::test]
async fn an_auditor_verifies_a_case_and_the_tenant_and_exports_the_report() {
    let (server, intake) = office_server();
    let (case, _) = register(&server, &intake).await;
    register(&server, &intake).await;
    let id = case["id"].as_str().unwrap();
    let reference = case["tracking_code"].as_str().unwrap();
    let mut auditor = signed_in(&server, "audit").await;

    let form = auditor.get("/console/audit").await;
    assert_eq!(form.status, 200, "{}", form.body);
    form.assert_secured();
    assert_no_inline(&form);
    let csrf = form.field("csrf");

    let forged = auditor.post("/console/audit", &[("case", "")]).await;
    assert_eq!(forged.status, 403, "{}", forged.body);

    let tenant = auditor
        .post("/console/audit", &[("csrf", csrf.as_str()), ("case", "")])
        .await;
    assert_eq!(tenant.status, 200, "{}", tenant.body);
    assert!(tenant.body.contains("已核验 2 件案件"), "{}", tenant.body);
    assert!(tenant.body.contains("未发现问题"), "{}", tenant.body);

    for typed in [id.to_owned(), reference.to_lowercase()] {
        let one = auditor
            .post(
                "/console/audit",
                &[("csrf", csrf.as_str()), ("case", typed.as_str())],
            )
            .await;
        assert_eq!(one.status, 200, "{}", one.body);
        assert_no_inline(&one);
        assert!(
            one.body.contains(&format!("案件 {reference} 的核验结果")),
            "{}",
            one.body
        );
        assert!(one.body.contains("已核验 1 件案件"), "{}", one.body);
        // Identities masked for the auditor.
        assert!(
            !one.body.contains("张三") && !one.body.contains("13800138000"),
            "{}",
            one.body
        );
        assert!(
            one.body
                .contains(&format!("/console/audit/export?case={id}")),
            "{}",
            one.body
        );
    }

    let unknown = auditor
        .post(
            "/console/audit",
            &[("csrf", csrf.as_str()), ("case", "RD-AAAA-AAAA")],
        )
        .await;
    assert_eq!(unknown.status, 404, "{}", unknown.body);
    assert!(unknown.body.contains("没有找到案件"), "{}", unknown.body);

    let export = auditor
        .get(&format!("/console/audit/export?case={id}"))
        .await;
    assert_eq!(export.status, 200, "{}", export.body);
    assert_eq!(export.headers["content-type"], "application/json");
    assert!(
        export.headers["content-disposition"]
            .to_str()
            .unwrap()
            .starts_with("attachment;")
    );
    let report: Value = serde_json::from_str(&export.body).unwrap();
    assert_eq!(report["case_id"], id);
    assert_eq!(report["report"]["cases_checked"], 1);
    assert_eq!(report["report"]["problems"], serde_json::json!([]));
    let whole: Value =
        serde_json::from_str(&auditor.get("/console/audit/export").await.body).unwrap();
    assert_eq!(whole["report"]["cases_checked"], 2, "{whole}");

    for username in ["sup", "li.si"] {
        let mut other = signed_in(&server, username).await;
        assert_eq!(other.get("/console/audit").await.status, 403, "{username}");
        assert_eq!(
            other.get("/console/audit/export").await.status,
            403,
            "{username}"
        );
    }
}

//! The compliance admin's pages in a real browser: each page checked with axe; the routing
//! table saved and a case tested through the forms, a case explained under its version.

use super::harness::{Viewport, browser_or_skip};
use super::{PASSWORD, create_user, sign_in};
use crate::support::{BIN, Server, complaint};

const TABLE: &str = include_str!("../../routing/zhejiang-msa.toml");

#[tokio::test]
async fn the_compliance_admins_pages_work_and_are_accessible() {
    let (server, key) = Server::start_with_rulesets_and_data(|data| {
        let key = std::process::Command::new(BIN)
            .args(["key", "create", "--tenant", "default", "--role", "intake"])
            .args(["--name", "browser-tests", "--data"])
            .arg(data)
            .output()
            .unwrap();
        assert!(key.status.success(), "{key:?}");
        create_user(data, "compliance_admin", "zhao.liu", "赵六", PASSWORD);
        String::from_utf8(key.stdout).unwrap().trim().to_owned()
    });
    let response = server
        .client
        .post(server.url("/v1/cases"))
        .bearer_auth(&key)
        .json(&complaint())
        .send()
        .await
        .unwrap();
    let (status, case) = crate::support::read(response).await;
    assert_eq!(status, 201, "{case}");
    let browser = browser_or_skip!(Viewport::Desktop);
    sign_in(&browser, &server, "zhao.liu", "赵六").await;
    for (path, text, shot) in [
        ("/console/rulesets", "规则集版本", "rulesets"),
        ("/console/rulesets/deploy", "部署规则集包", "deploy"),
        ("/console/plugin-keys", "信任的插件厂商密钥", "plugin-keys"),
        (
            "/console/routing",
            "分办规则（管辖机构表）",
            "routing-empty",
        ),
    ] {
        browser.goto(&server.url(path)).await;
        browser.wait_for_text(text).await;
        browser.screenshot(&format!("{shot}.desktop")).await;
        browser.assert_accessible(path).await;
    }

    browser.fill("toml", TABLE).await;
    browser.submit_form_of("toml").await;
    browser.wait_for_text("分办规则已保存").await;
    assert!(browser.text().await.contains("杭州市西湖区市场监督管理局"));
    browser.fill("division", "330106").await;
    browser.submit_form_of("division").await;
    browser.wait_for_text("分给：").await;
    assert!(
        browser.text().await.contains("330106-msa"),
        "{}",
        browser.text().await
    );
    browser.screenshot("routing.desktop").await;
    browser
        .assert_accessible("the routing page with a tested case")
        .await;

    let (id, ruleset) = (
        case["id"].as_str().unwrap(),
        format!(
            "{}@{}",
            case["ruleset"]["id"].as_str().unwrap(),
            case["ruleset"]["version"].as_str().unwrap()
        ),
    );
    browser.goto(&server.url("/console/rulesets/explain")).await;
    browser.fill("case", id).await;
    browser.fill("ruleset", &ruleset).await;
    browser.submit_form_of("case").await;
    browser.wait_for_text("试算结果").await;
    let text = browser.text().await;
    assert!(text.contains("其中 0 处与记录不同"), "{text}");
    assert!(
        !text.contains("张三"),
        "identities masked for a compliance admin"
    );
    browser.screenshot("explain.desktop").await;
    browser.assert_accessible("the explanation of a case").await;
    browser.close().await;
}

//! The accounts admin page in the browser: a compliance admin creates an account at
//! 1366×768 and reads its password once; the page and its answer checked with axe.

use super::{PASSWORD, create_user, harness::Viewport, sign_in};
use crate::support::{BIN, Server};

#[tokio::test]
async fn a_compliance_admin_creates_an_account_on_the_accounts_page() {
    let server = Server::start_with_data(|data| {
        let key = std::process::Command::new(BIN)
            .args(["key", "create", "--tenant", "default", "--role", "auditor"])
            .args(["--name", "browser-tests", "--data"])
            .arg(data)
            .output()
            .unwrap();
        assert!(key.status.success(), "{key:?}");
        create_user(data, "compliance_admin", "qian.ba", "钱八", PASSWORD);
        create_user(data, "handler", "li.si", "李四", PASSWORD);
    })
    .0;
    let browser = super::harness::browser_or_skip!(Viewport::Desktop);
    sign_in(&browser, &server, "qian.ba", "钱八").await;
    browser.click("账户管理").await;
    browser.wait_for_text("控制台账户").await;
    browser.assert_accessible("the accounts page").await;
    browser.fill("account-username", "sun.jiu").await;
    browser.fill("account-display_name", "孙九").await;
    browser.fill("account-role", "承办人").await;
    browser.fill("account-office", "xihu").await;
    browser.submit_form_of("account-username").await;
    browser.wait_for_text("已新建账户 sun.jiu").await;
    let password = browser.text_of("#shown-secret").await;
    assert_eq!(password.len(), 23, "{password}");
    browser.screenshot("accounts.desktop").await;
    browser
        .assert_accessible("the accounts page with a new account")
        .await;
    browser.close().await;
}

//! Every role's pages in the browser (issue #16, "each role's pages, the forbidden pages for
//! each role, CSRF and session expiry"): what a person of each role sees, not the status codes
//! (the HTTP tests in `console_pages` check those).
//!
//! One server (simulated time, so that the session's idle timeout can pass) and one browser
//! for all of it, in one test: a browser session costs seconds, and the sub-cases run in order
//! (the last one moves the server's clock).

use serde_json::{Value, json};

use super::{
    PASSWORD, create_user,
    harness::{Browser, Viewport, browser_or_skip},
};
use crate::support::Server;

/// The console's pages (`console::PAGES`), as a person finds them in the navigation.
const PAGES: [&str; 5] = [
    "/console/queue",
    "/console/intake",
    "/console/board",
    "/console/rulesets",
    "/console/audit",
];

/// Each role's account and the pages its navigation offers (besides the home page).
const PEOPLE: [(&str, &str, &str, &[&str]); 6] = [
    ("intake", "zhou.jie", "周杰", &["/console/intake"]),
    ("handler", "li.si", "李四", &["/console/queue"]),
    (
        "supervisor",
        "wang.wu",
        "王五",
        &[
            "/console/queue",
            "/console/intake",
            "/console/board",
            "/console/reports",
            "/console/rulesets",
            "/console/routing",
        ],
    ),
    (
        "compliance_admin",
        "chen.hong",
        "陈红",
        &[
            "/console/rulesets",
            "/console/routing",
            "/console/plugin-keys",
            "/console/accounts",
        ],
    ),
    (
        "auditor",
        "sun.li",
        "孙丽",
        &[
            "/console/reports",
            "/console/rulesets",
            "/console/audit",
            "/console/routing",
            "/console/plugin-keys",
        ],
    ),
    (
        "operator",
        "zhao.yun",
        "赵云",
        &["/console/rulesets", "/console/audit", "/console/accounts"],
    ),
];

const FORBIDDEN_TITLE: &str = "无权访问";
const FORBIDDEN: &str = "您的角色不能使用这个页面或执行这个操作，未做任何更改。";
const CSRF_TITLE: &str = "请求被拒绝";
const CSRF: &str = "表单缺少有效的安全令牌";
const SESSION_ENDED: &str = "登录已过期或已失效，请重新登录。";

async fn sign_in(browser: &Browser, server: &Server, username: &str, name: &str) {
    browser.goto(&server.url("/console/sign-in")).await;
    browser.fill("username", username).await;
    browser.fill("password", PASSWORD).await;
    browser.submit_form_of("password").await;
    browser.wait_for_text(name).await;
}

/// The links of the page's navigation, in order.
async fn nav(browser: &Browser) -> Vec<String> {
    let links = browser
        .script(
            "return [...document.querySelectorAll('nav.site-nav a')]\
             .map((a) => a.getAttribute('href'));",
            vec![],
        )
        .await;
    serde_json::from_value(links).unwrap()
}

/// The short name of a page for screenshots: `/console/board` → `board`.
fn short(path: &str) -> &str {
    path.trim_start_matches("/console").trim_start_matches('/')
}

/// A bank complaint received an hour before the server's `now`, through the API.
async fn register_case(server: &Server, now: jiff::Timestamp) -> (String, u64) {
    let received = (now - jiff::SignedDuration::from_hours(1))
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string();
    let (status, case) = server
        .post(
            "/v1/cases",
            &json!({
                "sector": "banking",
                "channel": "web",
                "received_at": received,
                "complainant": {"name": "赵六", "phone": "13900000000", "address": "北京市朝阳区"},
                "respondent": {"name": "某银行股份有限公司"},
                "claim": "撤销不当收取的年费",
                "facts": "未经同意扣收信用卡年费"
            }),
        )
        .await;
    assert_eq!(status, 201, "{case}");
    (
        case["id"].as_str().unwrap().to_owned(),
        case["version"].as_u64().unwrap(),
    )
}

/// The case as the API has it: its assignment and version.
async fn case_state(server: &Server, id: &str) -> (Value, u64) {
    let (status, case) = server.get(&format!("/v1/cases/{id}")).await;
    assert_eq!(status, 200, "{case}");
    (
        case["assignment"].clone(),
        case["version"].as_u64().unwrap(),
    )
}

#[tokio::test]
async fn each_role_uses_its_pages_is_refused_the_others_and_forms_and_sessions_hold() {
    // The server's clock is a file the test moves (session expiry, below). The accounts' CLI
    // dates their passwords by the real clock; sessions do not compare the two clocks.
    let start = jiff::Timestamp::now().round(jiff::Unit::Second).unwrap();
    let (server, ()) = Server::start_with_clock_rulesets_and_data(&start.to_string(), |data| {
        for (role, username, name, _) in PEOPLE {
            create_user(data, role, username, name, PASSWORD);
        }
    });
    let browser = browser_or_skip!(Viewport::Desktop);

    // --- Each role: its navigation, each page of it, and the pages it may not use. ---------
    for (role, username, name, pages) in PEOPLE {
        sign_in(&browser, &server, username, name).await;
        assert_eq!(browser.path().await, "/console", "{role}");
        let mut expected = vec!["/console".to_owned()];
        expected.extend(pages.iter().map(|p| (*p).to_owned()));
        assert_eq!(nav(&browser).await, expected, "{role}'s navigation");
        browser
            .assert_accessible(&format!("the home page of {role}"))
            .await;
        for page in pages {
            browser.goto(&server.url(page)).await;
            assert_eq!(browser.path().await, *page, "{role}");
            let text = browser.text().await;
            assert!(
                !text.contains(FORBIDDEN_TITLE),
                "{role} is refused {page}, in the navigation:\n{text}"
            );
            let current = browser
                .script(
                    "const a = document.querySelector('nav.site-nav a[aria-current=page]');\
                     return a ? a.getAttribute('href') : null;",
                    vec![],
                )
                .await;
            assert_eq!(current, json!(page), "{role} on {page}");
            browser
                .screenshot(&format!("role-{role}-{}.desktop", short(page)))
                .await;
            browser
                .assert_accessible(&format!("{page} for {role}"))
                .await;
        }
        for (n, page) in PAGES.iter().filter(|p| !pages.contains(p)).enumerate() {
            browser.goto(&server.url(page)).await;
            assert_eq!(
                browser.text_of("h1").await,
                FORBIDDEN_TITLE,
                "{role} on {page}"
            );
            let text = browser.text().await;
            assert!(text.contains(FORBIDDEN), "{role} on {page}:\n{text}");
            // A way back to the console.
            assert!(text.contains("返回"), "{role} on {page}:\n{text}");
            if n == 0 {
                browser
                    .screenshot(&format!("role-{role}-forbidden.desktop"))
                    .await;
                browser
                    .assert_accessible(&format!("the forbidden page for {role}"))
                    .await;
            }
        }
        browser.goto(&server.url("/console")).await;
        browser.click("退出登录").await;
        browser.wait_for_text("您已退出登录。").await;
    }

    // --- CSRF: a form whose token was tampered with, or removed, is refused and changes
    // nothing. A supervisor assigns an unassigned case from the board. ------------------------
    let (case, version) = register_case(&server, start).await;
    sign_in(&browser, &server, "wang.wu", "王五").await;
    for tamper in [
        "form.querySelector('input[name=csrf]').value = 'f'.repeat(64);",
        "form.querySelector('input[name=csrf]').remove();",
    ] {
        browser.goto(&server.url("/console/board")).await;
        let field = format!("assignee-{case}");
        browser.fill(&field, "li.si").await;
        let element = serde_json::to_value(browser.field(&field).await).unwrap();
        browser
            .script(
                &format!("const form = arguments[0].form; {tamper}"),
                vec![element],
            )
            .await;
        browser.submit_form_of(&field).await;
        browser.wait_for_text(CSRF_TITLE).await;
        assert_eq!(browser.text_of("h1").await, CSRF_TITLE);
        assert!(browser.text().await.contains(CSRF), "{tamper}");
        assert_eq!(
            case_state(&server, &case).await,
            (Value::Null, version),
            "a refused form changed the case ({tamper})"
        );
    }
    browser.screenshot("csrf-refused.desktop").await;
    browser.assert_accessible("the CSRF refusal").await;
    // The same form with its token is recorded: the refusals were the token's doing.
    browser.goto(&server.url("/console/board")).await;
    let field = format!("assignee-{case}");
    browser.fill(&field, "li.si").await;
    browser.submit_form_of(&field).await;
    browser.wait_for_text("li.si").await;
    let (assignment, _) = case_state(&server, &case).await;
    assert_eq!(assignment["assignee"], "li.si");
    browser.click("退出登录").await;
    browser.wait_for_text("您已退出登录。").await;

    // --- Session expiry: 30 idle minutes on the server's clock end the session; signing in
    // again leads back to the page asked for. -------------------------------------------------
    sign_in(&browser, &server, "li.si", "李四").await;
    browser.goto(&server.url("/console/queue")).await;
    assert_eq!(browser.path().await, "/console/queue");
    // 29 minutes idle: still signed in (and the request counts as activity).
    let later = start + jiff::SignedDuration::from_mins(29);
    server.set_time(&later.to_string());
    browser.goto(&server.url("/console/queue")).await;
    assert_eq!(browser.path().await, "/console/queue");
    // 31 more: over.
    server.set_time(&(later + jiff::SignedDuration::from_mins(31)).to_string());
    browser
        .goto(&server.url(&format!("/console/cases/{case}")))
        .await;
    assert_eq!(browser.path().await, "/console/sign-in");
    browser.wait_for_text(SESSION_ENDED).await;
    browser.screenshot("session-ended.desktop").await;
    browser
        .assert_accessible("the sign-in page after the session ended")
        .await;
    browser.fill("username", "li.si").await;
    browser.fill("password", PASSWORD).await;
    browser.submit_form_of("password").await;
    browser.wait_for_text("李四").await;
    assert_eq!(browser.path().await, format!("/console/cases/{case}"));
    assert!(browser.text().await.contains("可执行的操作"));
    browser.close().await;
}

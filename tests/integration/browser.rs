//! Browser tests (issue #16): the console in a real headless Chromium, driven over WebDriver
//! (Debian's `chromium` and `chromium-driver`, installed by `./scripts/browser-deps`), against
//! the real server on loopback; every page checked with axe-core; screenshots in
//! `target/screenshots/`. Run them alone with `cargo test --test integration browser::`.
//!
//! Without a chromedriver they skip with a note, except in CI, where they fail.

mod admin;
pub mod harness;
mod roles;

mod accounts;

use std::{io::Write as _, path::Path, process::Stdio};

use harness::{Viewport, accessibility_report, browser_or_skip, screenshot_dir};

use crate::support::{BIN, Server};

// --- The harness itself ---------------------------------------------------------------------

/// A page with known violations: an image without a text alternative (critical), a page
/// without a language (serious), a field without a label (critical). Under the console's
/// Content-Security-Policy, so that axe is known to run under it.
const INACCESSIBLE: &str = r#"<!doctype html>
<html><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:">
<title>inaccessible</title></head>
<body><main><h1>Inaccessible</h1>
<img src="data:image/gif;base64,R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7">
<form><input type="text" name="unlabelled"></form>
</main></body></html>"#;

/// The same content, as it should be.
const ACCESSIBLE: &str = r#"<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>无障碍</title></head>
<body><main><h1>投诉登记</h1>
<img src="data:image/gif;base64,R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7" alt="标志">
<form><label for="name">姓名</label> <input type="text" id="name" name="name">
<label>电话 <input type="tel" name="phone"></label>
<button type="submit">提交</button></form>
</main></body></html>"#;

#[tokio::test]
async fn axe_reports_serious_violations_with_their_rules_and_elements() {
    let browser = browser_or_skip!(Viewport::Desktop);
    browser.show_html(INACCESSIBLE).await;
    let violations = browser.axe().await;
    let ids: Vec<&str> = violations.iter().map(|v| v.id.as_str()).collect();
    for expected in ["image-alt", "html-has-lang", "label"] {
        assert!(ids.contains(&expected), "{expected} not in {ids:?}");
    }
    let failing: Vec<_> = violations.iter().collect();
    let report = accessibility_report(&failing).expect("serious violations reported");
    assert!(report.contains("image-alt"), "{report}");
    assert!(report.contains("<img src="), "{report}");
    assert!(
        report.contains(r#"<input type="text" name="unlabelled">"#),
        "{report}"
    );

    // And a page without them passes.
    browser.show_html(ACCESSIBLE).await;
    let violations = browser.axe().await;
    assert!(
        violations.iter().all(|v| !v.is_serious()),
        "{:?}",
        violations
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
    );
    browser.assert_accessible("the accessible example").await;
    browser.close().await;
}

#[tokio::test]
async fn viewports_are_the_sizes_asked_for_and_fields_are_found_by_label_or_name() {
    for viewport in Viewport::ALL.into_iter().chain([Viewport::NarrowPhone]) {
        let browser = browser_or_skip!(viewport);
        browser.show_html(ACCESSIBLE).await;
        let size = browser
            .script("return [window.innerWidth, window.innerHeight];", vec![])
            .await;
        let (width, height) = viewport.size();
        match viewport {
            // A 1366×768 window, as maximised on such a screen: the page gets its full width
            // and what the window's frame leaves of the height.
            Viewport::Desktop => {
                assert_eq!(size[0], width, "{viewport:?}");
                let inner = size[1].as_u64().unwrap();
                assert!((560..=u64::from(height)).contains(&inner), "{size}");
            }
            Viewport::Phone | Viewport::NarrowPhone => {
                assert_eq!(size, serde_json::json!([width, height]))
            }
        }

        assert_eq!(browser.viewport(), viewport);
        assert_eq!(browser.title().await, "无障碍");
        if viewport == Viewport::Desktop {
            let window = browser.client().get_window_size().await.unwrap();
            assert_eq!(window, (u64::from(width), u64::from(height)));
        }

        browser.fill("姓名", "张三").await;
        browser.fill("phone", "13800138000").await;
        browser.fill("电话", "13900139000").await;
        let values = browser
            .script(
                "return [...document.querySelectorAll('input')].map((i) => i.value);",
                vec![],
            )
            .await;
        assert_eq!(values, serde_json::json!(["张三", "13900139000"]));
        assert_eq!(browser.text_of("h1").await, "投诉登记");
        assert!(browser.text().await.contains("投诉登记"));
        browser.click("提交").await;
        browser.close().await;
    }
}

/// Chinese text is drawn in a CJK font, not in boxes ("tofu"): a Noto CJK font is installed
/// (fontconfig lists it for Chinese), and in the browser two different Han characters are drawn
/// differently from each other and from a character no font has.
#[tokio::test]
async fn chinese_text_is_drawn_in_a_cjk_font_not_tofu() {
    let browser = browser_or_skip!(Viewport::Desktop);
    let fonts = std::process::Command::new("fc-list")
        .args([":lang=zh", "family"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    assert!(
        fonts.contains("Noto Sans CJK SC"),
        "no Noto Sans CJK SC for Chinese in fontconfig (`fc-list :lang=zh`); \
         ./scripts/browser-deps installs fonts-noto-cjk. Found:\n{fonts}"
    );

    browser
        .show_html(
            r#"<!doctype html><html lang="zh-CN"><head><meta charset="utf-8"><title>字体</title>
            </head><body style="font-family: 'Noto Sans CJK SC', 'PingFang SC', 'Microsoft YaHei', sans-serif; font-size: 32px">
            <h1>投诉受理通知书</h1><p>您的投诉已于二〇二六年二月十三日受理，我们将在七个工作日内答复。</p>
            <canvas id="c" width="64" height="64"></canvas></body></html>"#,
        )
        .await;
    // Each character drawn alone on a canvas in the page's font; its pixels as a string.
    const DRAW: &str = r#"
        const canvas = document.getElementById('c');
        const context = canvas.getContext('2d');
        context.font = getComputedStyle(document.body).fontSize + ' '
            + getComputedStyle(document.body).fontFamily;
        const drawn = arguments[0].map((ch) => {
            context.clearRect(0, 0, 64, 64);
            context.fillText(ch, 8, 48);
            return Array.from(context.getImageData(0, 0, 64, 64).data).join(',');
        });
        context.clearRect(0, 0, 64, 64);
        return drawn;
    "#;
    // U+10FFFD: a private-use character no font draws, so it is drawn as the missing glyph.
    let drawn = browser
        .script(DRAW, vec![serde_json::json!(["投", "诉", "\u{10FFFD}"])])
        .await;
    let drawn: Vec<&str> = drawn
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_ne!(drawn[0], drawn[1], "投 and 诉 are drawn alike: tofu");
    assert_ne!(drawn[0], drawn[2], "投 is drawn as a missing glyph: tofu");
    let shot = browser.screenshot("harness-cjk.desktop").await;
    assert!(shot.starts_with(screenshot_dir()));
    assert!(std::fs::metadata(&shot).unwrap().len() > 1000);
    browser.close().await;
}

// --- The console's sign-in (issue16-console) ------------------------------------------------
//
// Written against the sign-in page of CONSOLE.md: `/console/sign-in`, a form with `username`,
// `password`, an optional `totp`, a hidden `csrf` and a submit button; once signed in,
// `/console` shows the signed-in name (`redress user create --name`, else the username).

const USERNAME: &str = "zhang.wei";
const NAME: &str = "张伟";
const PASSWORD: &str = "correct horse battery staple 马";

/// An account made with `redress user create`, the password on stdin.
fn create_user(data: &Path, role: &str, username: &str, name: &str, password: &str) {
    let mut child = std::process::Command::new(BIN)
        .args(["user", "create", "--tenant", "default", "--role", role])
        .args([
            "--username",
            username,
            "--name",
            name,
            "--password-stdin",
            "--data",
        ])
        .arg(data)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    writeln!(stdin, "{password}").unwrap();
    drop(stdin);
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "redress user create: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A server with real access control (an API key, as a server in use has, and no
/// `--open-access`) and a handler's account.
fn server_with_a_handler() -> Server {
    Server::start_with_data(|data| {
        let key = std::process::Command::new(BIN)
            .args([
                "key",
                "create",
                "--tenant",
                "default",
                "--role",
                "compliance_admin",
            ])
            .args(["--name", "browser-tests", "--data"])
            .arg(data)
            .output()
            .unwrap();
        assert!(key.status.success(), "{key:?}");
        create_user(data, "handler", USERNAME, NAME, PASSWORD);
    })
    .0
}

#[tokio::test]
async fn sign_in_with_the_right_password_shows_the_signed_in_name() {
    let server = server_with_a_handler();
    for viewport in Viewport::ALL {
        let browser = browser_or_skip!(viewport);
        browser.goto(&server.url("/console/sign-in")).await;
        browser.fill("username", USERNAME).await;
        browser.fill("password", PASSWORD).await;
        browser.submit_form_of("password").await;
        browser.wait_for_text(NAME).await;
        assert_eq!(browser.path().await, "/console", "{viewport:?}");
        assert!(browser.text().await.contains(USERNAME));
        browser
            .screenshot(&format!("console.{}", viewport.name()))
            .await;
        browser.assert_accessible("the console after sign-in").await;
        browser.close().await;
    }
}

#[tokio::test]
async fn sign_in_with_a_wrong_password_is_refused_in_words() {
    let server = server_with_a_handler();
    for viewport in Viewport::ALL {
        let browser = browser_or_skip!(viewport);
        browser.goto(&server.url("/console/sign-in")).await;
        browser.fill("username", USERNAME).await;
        browser.fill("password", "not the password").await;
        browser.submit_form_of("password").await;
        // Still the sign-in form, not signed in, and the refusal is a page people can read.
        browser.field("password").await;
        let text = browser.text().await;
        assert_ne!(browser.path().await, "/console", "{viewport:?}: {text}");
        browser
            .screenshot(&format!("sign-in-refused.{}", viewport.name()))
            .await;
        browser
            .assert_accessible("the sign-in page after a wrong password")
            .await;
        // No session: the console sends us back to sign in.
        browser.goto(&server.url("/console")).await;
        assert_eq!(browser.path().await, "/console/sign-in", "{viewport:?}");
        browser.close().await;
    }
}

#[tokio::test]
async fn the_sign_in_page_has_no_serious_accessibility_violations() {
    let server = server_with_a_handler();
    for viewport in Viewport::ALL {
        let browser = browser_or_skip!(viewport);
        browser.goto(&server.url("/console/sign-in")).await;
        // Every field it should have, with a label a person (and a screen reader) reads.
        for name in ["username", "password", "csrf"] {
            browser.field(name).await;
        }
        browser
            .screenshot(&format!("sign-in.{}", viewport.name()))
            .await;
        browser.assert_accessible("the sign-in page").await;
        browser.close().await;
    }
}

// --- Working a case in the console, from intake to closing ---------------------------------

async fn sign_in(browser: &harness::Browser, server: &Server, username: &str, name: &str) {
    browser.goto(&server.url("/console/sign-in")).await;
    browser.fill("username", username).await;
    browser.fill("password", PASSWORD).await;
    browser.submit_form_of("password").await;
    browser.wait_for_text(name).await;
}

/// The complainant files on the public form, from a phone.
async fn file_on_the_public_form(server: &Server, phone: harness::Browser) -> (String, String) {
    phone.goto(&server.url("/complain")).await;
    phone.wait_for_text("网上提交投诉").await;
    phone.screenshot("public-form.phone").await;
    phone.assert_accessible("the public form (phone)").await;
    // Sent without consent: refused in words, the field named, nothing registered.
    phone.field("银行保险").await.click().await.unwrap();
    phone.fill("complain-facts", "未经同意扣收信用卡年费").await;
    phone.fill("complain-claim", "撤销不当收取的年费").await;
    phone
        .fill("complain-respondent-name", "某银行股份有限公司")
        .await;
    phone.fill("complain-complainant-name", "赵六").await;
    phone
        .fill("complain-complainant-phone", "13900000000")
        .await;
    phone
        .fill("complain-complainant-address", "北京市朝阳区")
        .await;
    // The browser's own check stops a form without the required box: remove it, as an
    // old browser would send it, to see the server's refusal.
    phone
        .script(
            "document.getElementById('complain-consent').removeAttribute('required');",
            vec![],
        )
        .await;
    phone.submit_form_of("complain-facts").await;
    phone
        .wait_for_text("请阅读个人信息处理说明并勾选同意")
        .await;
    phone.assert_accessible("the public form, refused").await;
    phone.field("complain-consent").await.click().await.unwrap();
    phone.submit_form_of("complain-facts").await;
    phone.wait_for_text("您的投诉已提交").await;
    let code = phone.text_of("#tracking-code").await;
    let secret = phone.text_of("#tracking-secret").await;
    assert_eq!(phone.text_of("#complain-status").await, "已受理");
    assert!(
        phone.text().await.contains("最迟在"),
        "by when the office must answer"
    );
    phone.screenshot("public-form-done.phone").await;
    phone.assert_accessible("the public form's result").await;
    phone.close().await;
    (code, secret)
}

/// The whole path (issue #16, "done when"): a complainant files a bank complaint on the public
/// form (no account) and gets the decision, the tracking code and the secret; a supervisor
/// finds it on the board, opens it and assigns it to a handler; the handler finds it in the
/// queue, starts mediation, resolves it and closes it; the complainant reads the outcome on
/// `/track`. The intake desk registers one too. No curl: every step is a page and a form,
/// each page checked with axe.
#[tokio::test]
async fn a_complaint_is_worked_from_the_public_form_to_closing_in_the_console() {
    let server = Server::start_with_rulesets_and_data(|data| {
        let key = std::process::Command::new(BIN)
            .args(["key", "create", "--tenant", "default", "--role", "auditor"])
            .args(["--name", "browser-tests", "--data"])
            .arg(data)
            .output()
            .unwrap();
        assert!(key.status.success(), "{key:?}");
        let form = std::process::Command::new(BIN)
            .args(["tenant", "public-form", "default", "--enable"])
            .args([
                "--sector",
                "banking",
                "--sector",
                "market_supervision",
                "--data",
            ])
            .arg(data)
            .output()
            .unwrap();
        assert!(form.status.success(), "{form:?}");
        create_user(data, "supervisor", "wang.wu", "王五", PASSWORD);
        create_user(data, "handler", "li.si", "李四", PASSWORD);
    })
    .0;
    // The narrowest phone: nothing wider than the screen, nothing to scroll sideways.
    let narrow = browser_or_skip!(Viewport::NarrowPhone);
    narrow.goto(&server.url("/complain")).await;
    narrow.wait_for_text("网上提交投诉").await;
    let overflow = narrow
        .script(
            "return document.documentElement.scrollWidth - window.innerWidth;",
            vec![],
        )
        .await;
    assert!(
        overflow.as_i64().is_some_and(|o| o <= 0),
        "the form is wider than a 320 px phone by {overflow}"
    );
    narrow.screenshot("public-form.phone-320").await;
    narrow.assert_accessible("the public form (320 px)").await;
    narrow.close().await;
    let phone = browser_or_skip!(Viewport::Phone);
    let (code, secret) = file_on_the_public_form(&server, phone).await;
    let browser = browser_or_skip!(Viewport::Desktop);
    browser.goto(&server.url("/complain")).await;
    browser.wait_for_text("网上提交投诉").await;
    browser.screenshot("public-form.desktop").await;
    browser.assert_accessible("the public form (desktop)").await;
    sign_in(&browser, &server, "wang.wu", "王五").await;

    // The intake desk still registers complaints that come by phone or letter.
    browser.goto(&server.url("/console/intake")).await;
    browser.click("银行保险").await;
    browser.wait_for_text("投诉事项").await;
    browser.assert_accessible("the intake form").await;
    browser.fill("intake-channel", "web").await;
    browser.fill("intake-complainant-name", "孙七").await;
    browser
        .fill("intake-complainant-phone", "13900000001")
        .await;
    browser
        .fill("intake-complainant-address", "北京市海淀区")
        .await;
    browser
        .fill("intake-respondent-name", "某银行股份有限公司")
        .await;
    browser.fill("intake-claim", "撤销不当收取的年费").await;
    browser.fill("intake-facts", "未经同意扣收信用卡年费").await;
    browser.screenshot("intake.desktop").await;
    browser.submit_form_of("intake-claim").await;
    browser.wait_for_text("查询密码").await;
    assert_eq!(browser.text_of("#decision-status").await, "已受理");
    assert!(!browser.text_of("#tracking-secret").await.is_empty());
    assert!(
        browser.text().await.contains("art. 18"),
        "the decision cites its article"
    );
    browser.screenshot("intake-done.desktop").await;
    browser.assert_accessible("the intake result").await;

    // The complaint from the public form, on the board: the supervisor opens and assigns it.
    browser.goto(&server.url("/console/board")).await;
    browser.wait_for_text(&code).await;
    browser.click(&code).await;
    browser.wait_for_text("逐日计算说明").await;
    browser.assert_accessible("the case page").await;
    browser.click("分派").await;
    browser.fill("assign-assignee", "li.si").await;
    browser.submit_form_of("assign-assignee").await;
    browser.wait_for_text("已记录：分派").await;
    // The reports count it.
    browser.goto(&server.url("/console/reports")).await;
    browser.wait_for_text("每周收到的案件").await;
    browser.screenshot("reports.desktop").await;
    browser.assert_accessible("the reports").await;
    browser.click("退出登录").await;

    // The handler's queue has it; the handler mediates, resolves it, then closes it.
    sign_in(&browser, &server, "li.si", "李四").await;
    browser.goto(&server.url("/console/queue")).await;
    browser.wait_for_text(&code).await;
    browser.screenshot("queue.desktop").await;
    browser.assert_accessible("the queue").await;
    browser.click(&code).await;
    browser.wait_for_text("可执行的操作").await;
    browser.screenshot("case.desktop").await;
    browser.click("开始调解").await;
    browser.submit_form_of("start_mediation-note").await;
    browser.wait_for_text("已记录：开始调解").await;
    browser.click("办结").await;
    browser
        .fill("resolve-outcome", "调解成功，已退还年费")
        .await;
    browser.submit_form_of("resolve-outcome").await;
    browser.wait_for_text("已记录：办结").await;
    assert!(browser.text().await.contains("已办结"));
    browser.click("归档").await;
    browser.submit_form_of("close-note").await;
    browser.wait_for_text("已记录：归档").await;
    assert!(browser.text().await.contains("已归档"));
    browser.assert_accessible("the closed case").await;
    browser.click("退出登录").await;

    // The complainant reads the outcome with the code and secret from the form.
    browser.goto(&server.url("/track")).await;
    browser.fill("code", &code).await;
    browser.fill("secret", &secret).await;
    browser.submit_form_of("secret").await;
    browser.wait_for_text("您的投诉办理进度").await;
    let told = browser.text().await;
    assert!(told.contains("办结"), "{told}");
    assert!(
        !told.contains("赵六") && !told.contains("13900000000"),
        "{told}"
    );
    browser.screenshot("track-closed.desktop").await;
    browser
        .assert_accessible("the tracking page with the outcome")
        .await;
    browser.close().await;
}

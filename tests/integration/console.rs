//! The console's sign-in against the real server: accounts made with `redress user` in the
//! data directory, a browser-like client that keeps cookies and does not follow redirects,
//! wrong passwords, lock-out, CSRF, sign-out, the security headers, `/`.

use std::{
    collections::BTreeMap,
    io::Write,
    path::Path,
    process::{Command, Stdio},
    time::Duration,
};

use crate::support::{BIN, Server};

pub(crate) const PASSWORD: &str = "correct horse battery";
pub(crate) const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                   connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// Runs `redress <args> --data <data>` with `stdin` on standard input.
pub(crate) fn redress(data: &Path, args: &[&str], stdin: &str) -> std::process::Output {
    let mut child = Command::new(BIN)
        .args(args)
        .arg("--data")
        .arg(data)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

pub(crate) fn ok(output: &std::process::Output) -> String {
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

pub(crate) fn create_user(data: &Path, username: &str, role: &str, office: Option<&str>) {
    let mut args = vec![
        "user",
        "create",
        "--tenant",
        "default",
        "--role",
        role,
        "--username",
        username,
        "--name",
        "李四",
        "--password-stdin",
    ];
    if let Some(office) = office {
        args.extend(["--office", office]);
    }
    ok(&redress(data, &args, &format!("{PASSWORD}\n")));
}

/// A server with an API key (so it starts without --open-access) and a handler account
/// `li.si` of office `xihu`.
pub(crate) fn server() -> Server {
    Server::start_with_data(|data| {
        ok(&redress(
            data,
            &[
                "key", "create", "--tenant", "default", "--role", "auditor", "--name", "ops",
            ],
            "",
        ));
        create_user(data, "li.si", "handler", Some("xihu"));
    })
    .0
}

/// A client that keeps cookies like a browser and shows each redirect.
pub(crate) struct Browser {
    pub(crate) client: reqwest::Client,
    pub(crate) base: String,
    pub(crate) cookies: BTreeMap<String, String>,
}

pub(crate) struct Page {
    pub(crate) status: u16,
    pub(crate) headers: reqwest::header::HeaderMap,
    pub(crate) body: String,
}

impl Page {
    pub(crate) fn location(&self) -> &str {
        self.headers
            .get("location")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    /// The value of the hidden field `name`.
    pub(crate) fn field(&self, name: &str) -> String {
        let marker = format!("name=\"{name}\" value=\"");
        let start = self
            .body
            .find(&marker)
            .unwrap_or_else(|| panic!("no field {name} in {}", self.body))
            + marker.len();
        self.body[start..].split('"').next().unwrap().to_owned()
    }

    pub(crate) fn set_cookies(&self) -> Vec<String> {
        self.headers
            .get_all("set-cookie")
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .collect()
    }

    /// Every console response carries the security headers.
    pub(crate) fn assert_secured(&self) {
        assert_eq!(
            self.headers
                .get("content-security-policy")
                .map(|v| v.to_str().unwrap()),
            Some(CSP),
            "status {}: {}",
            self.status,
            self.body
        );
        assert_eq!(self.headers["x-content-type-options"], "nosniff");
        assert_eq!(self.headers["referrer-policy"], "same-origin");
    }
}

impl Browser {
    pub(crate) fn new(server: &Server) -> Browser {
        Browser {
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .timeout(Duration::from_secs(30))
                .build()
                .unwrap(),
            base: server.base.clone(),
            cookies: BTreeMap::new(),
        }
    }

    pub(crate) fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    pub(crate) async fn send(&mut self, request: reqwest::RequestBuilder) -> Page {
        let request = if self.cookies.is_empty() {
            request
        } else {
            request.header("cookie", self.cookie_header())
        };
        let response = request.send().await.unwrap();
        let page = Page {
            status: response.status().as_u16(),
            headers: response.headers().clone(),
            body: response.text().await.unwrap(),
        };
        for set in page.set_cookies() {
            let pair = set.split(';').next().unwrap();
            let (name, value) = pair.split_once('=').unwrap();
            if set.contains("Max-Age=0") {
                self.cookies.remove(name);
            } else {
                self.cookies.insert(name.to_owned(), value.to_owned());
            }
        }
        page
    }

    pub(crate) async fn get(&mut self, path: &str) -> Page {
        let request = self.client.get(format!("{}{path}", self.base));
        self.send(request).await
    }

    pub(crate) async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Page {
        let body: String = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form)
            .finish();
        let request = self
            .client
            .post(format!("{}{path}", self.base))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body);
        self.send(request).await
    }

    /// Opens the sign-in page and submits it.
    pub(crate) async fn sign_in(
        &mut self,
        username: &str,
        password: &str,
        code: Option<&str>,
    ) -> Page {
        let form = self.get("/console/sign-in").await;
        assert_eq!(form.status, 200, "{}", form.body);
        let csrf = form.field("csrf");
        self.post(
            "/console/sign-in",
            &[
                ("csrf", csrf.as_str()),
                ("next", "/console"),
                ("username", username),
                ("password", password),
                ("code", code.unwrap_or("")),
            ],
        )
        .await
    }
}

#[tokio::test]
async fn a_person_signs_in_sees_who_they_are_and_signs_out() {
    let mut server = server();
    let mut browser = Browser::new(&server);

    let root = browser.get("/").await;
    assert_eq!(root.status, 303);
    assert_eq!(root.location(), "/console/sign-in");
    root.assert_secured();
    let home = browser.get("/console").await;
    assert_eq!(home.status, 303);
    assert_eq!(home.location(), "/console/sign-in?next=%2Fconsole");
    home.assert_secured();

    let form = browser.get("/console/sign-in").await;
    form.assert_secured();
    assert_eq!(form.headers["cache-control"], "no-store");
    assert!(form.body.contains("<html lang=\"zh-CN\">"), "{}", form.body);
    assert!(form.body.contains("登录"));
    assert!(!form.body.contains("<script>") && !form.body.contains("style="));

    let signed_in = browser.sign_in("li.si", PASSWORD, None).await;
    assert_eq!(signed_in.status, 303, "{}", signed_in.body);
    assert_eq!(signed_in.location(), "/console");
    signed_in.assert_secured();
    let session_cookie = signed_in
        .set_cookies()
        .into_iter()
        .find(|c| c.starts_with("redress_session="))
        .unwrap();
    assert!(
        session_cookie.ends_with("; Path=/; HttpOnly; SameSite=Strict"),
        "{session_cookie}"
    );
    assert_eq!(browser.cookies["redress_session"].len(), 64);

    let home = browser.get("/console").await;
    assert_eq!(home.status, 200, "{}", home.body);
    home.assert_secured();
    for text in [
        "李四",
        "li.si",
        "default",
        "承办人",
        "xihu",
        "/console/queue",
    ] {
        assert!(home.body.contains(text), "{text}: {}", home.body);
    }
    for other in ["/console/board", "/console/rulesets", "/console/audit"] {
        assert!(
            !home.body.contains(&format!("href=\"{other}\"")),
            "a handler is not offered {other}"
        );
    }
    assert_eq!(browser.get("/").await.location(), "/console");

    // The stylesheet and htmx: hashed URLs, cached for a year, with the headers.
    let css = home
        .body
        .split("href=\"")
        .find_map(|rest| rest.split('"').next().filter(|u| u.ends_with(".css")))
        .unwrap()
        .to_owned();
    let asset = browser.get(&css).await;
    assert_eq!(asset.status, 200);
    assert_eq!(
        asset.headers["cache-control"],
        "public, max-age=31536000, immutable"
    );
    assert!(
        asset.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/css")
    );
    asset.assert_secured();
    let js = home
        .body
        .split("src=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap()
        .to_owned();
    assert!(js.ends_with("/htmx.min.js"), "{js}");
    assert_eq!(browser.get(&js).await.status, 200);
    let stale = browser
        .get("/console/assets/0000000000000000/console.css")
        .await;
    assert_eq!(stale.status, 404);
    let missing = browser.get("/console/no-such-page").await;
    assert_eq!(missing.status, 404);
    missing.assert_secured();
    assert!(missing.body.contains("/console/no-such-page"));
    let wrong_method = browser.get("/console/sign-out").await;
    assert_eq!(wrong_method.status, 405);
    wrong_method.assert_secured();
    assert!(
        wrong_method.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );

    // Sessions are kept on disk: a restart, even a SIGKILL, signs no one out, and the forms
    // of the pages open before it still carry a good token.
    server.restart();
    browser.base = server.base.clone();
    assert_eq!(
        browser.get("/console").await.status,
        200,
        "signed in after a restart"
    );

    // Sign-out without the CSRF token, or with a wrong one: 403 in words, still signed in.
    let csrf = home.field("csrf");
    for form in [vec![], vec![("csrf", "0".repeat(64))]] {
        let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let refused = browser.post("/console/sign-out", &form).await;
        assert_eq!(refused.status, 403, "{}", refused.body);
        refused.assert_secured();
        assert!(refused.body.contains("未做任何更改"), "{}", refused.body);
        assert_eq!(browser.get("/console").await.status, 200, "nothing changed");
    }

    let session = browser.cookies["redress_session"].clone();
    let out = browser.post("/console/sign-out", &[("csrf", &csrf)]).await;
    assert_eq!(out.status, 303);
    assert_eq!(out.location(), "/console/sign-in?out=1");
    out.assert_secured();
    assert!(!browser.cookies.contains_key("redress_session"));
    // The old cookie is worthless: the session is gone from the server.
    browser
        .cookies
        .insert("redress_session".into(), session.clone());
    let after = browser.get("/console").await;
    assert_eq!(after.status, 303);
    assert_eq!(after.location(), "/console/sign-in?next=%2Fconsole&ended=1");
}

#[tokio::test]
async fn wrong_credentials_are_refused_in_words_and_five_lock_the_account() {
    let server = server();
    let mut browser = Browser::new(&server);
    let wrong = "用户名、密码或验证码不正确";

    // A wrong password and an unknown username read alike.
    for (username, password) in [("li.si", "not the password"), ("nobody", PASSWORD)] {
        let refused = browser.sign_in(username, password, None).await;
        assert_eq!(refused.status, 401, "{}", refused.body);
        refused.assert_secured();
        assert!(refused.body.contains(wrong), "{}", refused.body);
        assert!(!browser.cookies.contains_key("redress_session"));
    }
    // Four more failures (five in a row on li.si) lock it.
    for _ in 0..3 {
        assert_eq!(
            browser
                .sign_in("li.si", "nope nope nope", None)
                .await
                .status,
            401
        );
    }
    let locked = browser.sign_in("li.si", "nope nope nope", None).await;
    assert_eq!(locked.status, 429, "{}", locked.body);
    assert!(locked.body.contains("已锁定至"), "{}", locked.body);
    let still = browser.sign_in("li.si", PASSWORD, None).await;
    assert_eq!(
        still.status, 429,
        "locked: the right password does not help"
    );
    assert!(!browser.cookies.contains_key("redress_session"));

    // An administrator unlocks it; the running server sees the file change.
    ok(&redress(&server.data, &["user", "enable", "li.si"], ""));
    let signed_in = browser.sign_in("li.si", PASSWORD, None).await;
    assert_eq!(signed_in.status, 303, "{}", signed_in.body);

    // Disabled while signed in: the session ends at the next request.
    ok(&redress(&server.data, &["user", "disable", "li.si"], ""));
    assert_eq!(browser.get("/console").await.status, 303);
    let disabled = browser.sign_in("li.si", PASSWORD, None).await;
    assert_eq!(disabled.status, 403);
    assert!(disabled.body.contains("已停用"), "{}", disabled.body);

    // Seven failures so far from this client; at twenty it is refused whatever it sends.
    for n in 0..13 {
        let refused = browser.sign_in(&format!("guess{n}"), PASSWORD, None).await;
        assert_eq!(refused.status, 401, "{n}");
    }
    ok(&redress(&server.data, &["user", "enable", "li.si"], ""));
    let throttled = browser.sign_in("li.si", PASSWORD, None).await;
    assert_eq!(throttled.status, 429, "{}", throttled.body);
    assert!(
        throttled.body.contains("登录失败次数过多"),
        "{}",
        throttled.body
    );
}

#[tokio::test]
async fn a_sign_in_without_its_form_token_is_refused_and_english_is_a_link_away() {
    let server = server();
    let mut browser = Browser::new(&server);
    // Straight to the POST, as a page on another site would: no form cookie, no token.
    let forged = browser
        .post(
            "/console/sign-in",
            &[("username", "li.si"), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(forged.status, 403, "{}", forged.body);
    forged.assert_secured();
    assert!(
        forged
            .set_cookies()
            .iter()
            .all(|c| !c.starts_with("redress_session"))
    );
    // With the form's cookie but another token.
    browser.get("/console/sign-in").await;
    let wrong = browser
        .post(
            "/console/sign-in",
            &[
                ("csrf", &"a".repeat(64)),
                ("username", "li.si"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(wrong.status, 403);
    assert!(!browser.cookies.contains_key("redress_session"));

    let switch = browser
        .get("/console/lang/en?next=%2Fconsole%2Fsign-in")
        .await;
    assert_eq!(switch.status, 303);
    assert_eq!(switch.location(), "/console/sign-in");
    assert_eq!(browser.cookies["redress_lang"], "en");
    let english = browser.get("/console/sign-in").await;
    assert!(
        english.body.contains("<html lang=\"en\">"),
        "{}",
        english.body
    );
    assert!(english.body.contains("Sign in to Redress"));
    let refused = browser.sign_in("li.si", "not the password", None).await;
    assert!(
        refused
            .body
            .contains("The username, password or verification code is not right"),
        "{}",
        refused.body
    );
    // Another site as `next` is not followed.
    let away = browser
        .get("/console/lang/zh-CN?next=%2F%2Fevil.example")
        .await;
    assert_eq!(away.location(), "/console");
}

#[tokio::test]
async fn two_step_verification_asks_for_the_code() {
    // No API key, only a console account: the server starts, and its API is closed (401).
    let (server, ()) = Server::start_with_data(|data| create_user(data, "li.si", "handler", None));
    let api = reqwest::get(server.url("/v1/cases")).await.unwrap();
    assert_eq!(api.status(), 401);
    let output = ok(&redress(
        &server.data,
        &["user", "totp", "enable", "li.si"],
        "",
    ));
    let secret = output.lines().next().unwrap().trim().to_owned();
    assert!(output.contains("otpauth://totp/"), "{output}");
    let mut browser = Browser::new(&server);
    let without = browser.sign_in("li.si", PASSWORD, None).await;
    assert_eq!(without.status, 401, "{}", without.body);
    let now = jiff::Timestamp::now().as_second() as u64;
    let code = redress::console::accounts::totp_code(&secret, now).unwrap();
    let with = browser.sign_in("li.si", PASSWORD, Some(&code)).await;
    assert_eq!(with.status, 303, "{}", with.body);
    assert_eq!(browser.get("/console").await.status, 200);

    // A new password ends the sessions begun before it.
    ok(&redress(
        &server.data,
        &["user", "passwd", "li.si", "--password-stdin"],
        "another long password\n",
    ));
    let ended = browser.get("/console").await;
    assert_eq!(ended.status, 303);
    assert_eq!(ended.location(), "/console/sign-in?next=%2Fconsole&ended=1");
}

#[test]
fn user_commands_name_what_is_wrong() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    let cases: [(&[&str], &str, &str); 5] = [
        (
            &[
                "user",
                "create",
                "--tenant",
                "acme",
                "--role",
                "handler",
                "--username",
                "x",
                "--password-stdin",
            ],
            PASSWORD,
            "tenant `acme` does not exist",
        ),
        (
            &[
                "user",
                "create",
                "--tenant",
                "default",
                "--role",
                "handler",
                "--username",
                "Bad Name",
                "--password-stdin",
            ],
            PASSWORD,
            "username `Bad Name` is not allowed",
        ),
        (
            &[
                "user",
                "create",
                "--tenant",
                "default",
                "--role",
                "handler",
                "--username",
                "x",
                "--password-stdin",
            ],
            "short\n",
            "at least 10 characters",
        ),
        (
            &[
                "user",
                "create",
                "--tenant",
                "default",
                "--role",
                "handler",
                "--username",
                "x",
            ],
            "",
            "--password-stdin",
        ),
        (&["user", "disable", "nobody"], "", "no account `nobody`"),
    ];
    for (args, stdin, message) in cases {
        let output = redress(data, args, stdin);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(message), "{args:?}: {stderr}");
    }
    assert!(!data.join("accounts.json").exists(), "nothing was written");
    create_user(data, "wang.wu", "supervisor", None);
    let list = ok(&redress(data, &["user", "list"], ""));
    assert!(
        list.starts_with("wang.wu\tdefault\tsupervisor\t-\t李四\tactive\tpassword only"),
        "{list}"
    );
    let text = std::fs::read_to_string(data.join("accounts.json")).unwrap();
    assert!(text.contains("$argon2id$") && !text.contains(PASSWORD));
}

// --- The work pages: intake, queue, case page, actions ---------------------------------------

/// The hidden `field` of the first form on the page that posts to `action`.
fn form_field(page: &Page, action_marker: &str, field: &str) -> String {
    let start = page
        .body
        .find(action_marker)
        .unwrap_or_else(|| panic!("no {action_marker} in {}", page.body));
    let rest = &page.body[start..];
    let marker = format!("name=\"{field}\" value=\"");
    let at = rest.find(&marker).unwrap() + marker.len();
    rest[at..].split('"').next().unwrap().to_owned()
}

/// A server with a supervisor `wang.wu`, a handler `li.si` of office `xihu` and a handler
/// `zhao.qi` of office `binjiang`, and an auditor's API key to look through the API.
fn work_server() -> (Server, String) {
    let (server, key) = Server::start_with_rulesets_and_data(|data| {
        let out = ok(&redress(
            data,
            &[
                "key", "create", "--tenant", "default", "--role", "auditor", "--name", "ops",
            ],
            "",
        ));
        create_user(data, "wang.wu", "supervisor", None);
        create_user(data, "li.si", "handler", Some("xihu"));
        create_user(data, "zhao.qi", "handler", Some("binjiang"));
        out.split_whitespace()
            .find(|word| word.starts_with("rdk_"))
            .unwrap()
            .to_owned()
    });
    (server, key)
}

/// `GET path` of the API with the auditor's key.
async fn api(server: &Server, key: &str, path: &str) -> serde_json::Value {
    let response = reqwest::Client::new()
        .get(server.url(path))
        .bearer_auth(key)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

async fn register_bank_case(browser: &mut Browser) -> (String, Page) {
    let form = browser.get("/console/intake?sector=banking").await;
    assert_eq!(form.status, 200, "{}", form.body);
    let csrf = form.field("csrf");
    let once = form.field("once");
    post_bank_intake(browser, &csrf, &once).await
}

async fn post_bank_intake(browser: &mut Browser, csrf: &str, once: &str) -> (String, Page) {
    let done = browser
        .post(
            "/console/intake",
            &[
                ("csrf", csrf),
                ("once", once),
                ("sector", "banking"),
                ("channel", "web"),
                ("complainant.name", "赵六"),
                ("complainant.phone", "13900000000"),
                ("complainant.address", "北京市朝阳区"),
                ("respondent.name", "某银行股份有限公司"),
                ("claim", "撤销不当收取的年费"),
                ("facts", "未经同意扣收信用卡年费"),
            ],
        )
        .await;
    assert_eq!(done.status, 201, "{}", done.body);
    let href = done.body.split("href=\"/console/cases/").nth(1).unwrap();
    let id = href.split('"').next().unwrap().to_owned();
    (id, done)
}

#[tokio::test]
async fn intake_registers_a_case_once_and_names_each_field_at_fault() {
    let (server, key) = work_server();
    let mut browser = Browser::new(&server);
    assert_eq!(browser.sign_in("wang.wu", PASSWORD, None).await.status, 303);
    let form = browser.get("/console/intake?sector=banking").await;
    let (csrf, once) = (form.field("csrf"), form.field("once"));
    let (id, done) = post_bank_intake(&mut browser, &csrf, &once).await;
    done.assert_secured();
    assert!(done.body.contains("已受理"), "{}", done.body);
    assert!(
        done.body.contains("id=\"tracking-secret\""),
        "{}",
        done.body
    );
    // The same form posted twice (its one-time key) registers one case.
    let (again, _) = post_bank_intake(&mut browser, &csrf, &once).await;
    assert_eq!(again, id);
    let list = api(&server, &key, "/v1/cases").await;
    assert_eq!(list["items"].as_array().unwrap().len(), 1, "{list}");

    // A form without the respondent: refused, the field named, nothing registered.
    let form = browser.get("/console/intake?sector=banking").await;
    let csrf = form.field("csrf");
    let refused = browser
        .post(
            "/console/intake",
            &[
                ("csrf", &csrf),
                ("sector", "banking"),
                ("channel", "web"),
                ("claim", "退款"),
            ],
        )
        .await;
    assert_eq!(refused.status, 422, "{}", refused.body);
    assert!(
        refused.body.contains("class=\"error-summary\""),
        "{}",
        refused.body
    );
    assert!(
        refused.body.contains("退款"),
        "what was typed is kept: {}",
        refused.body
    );
    // No CSRF token: 403, nothing registered.
    let forged = browser
        .post("/console/intake", &[("sector", "banking"), ("claim", "x")])
        .await;
    assert_eq!(forged.status, 403);
    let list = api(&server, &key, "/v1/cases").await;
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    let case = browser.get(&format!("/console/cases/{id}")).await;
    assert_eq!(case.status, 200, "{}", case.body);
    assert!(
        case.body.contains("逐日计算说明"),
        "the clock's explanation: {}",
        case.body
    );
}

#[tokio::test]
async fn actions_on_the_case_page_go_through_the_lifecycle_and_the_assignment() {
    let (server, key) = work_server();
    let mut supervisor = Browser::new(&server);
    assert_eq!(
        supervisor.sign_in("wang.wu", PASSWORD, None).await.status,
        303
    );
    let (id, _) = register_bank_case(&mut supervisor).await;
    let case_path = format!("/console/cases/{id}");
    let act_path = format!("/console/cases/{id}/act");
    let page = supervisor.get(&case_path).await;
    let csrf = page.field("csrf");
    let version = form_field(&page, "action=\"/console/cases/", "version");

    // A handler not assigned cannot act; an office-scoped handler of another office does not
    // even see the case.
    let mut other = Browser::new(&server);
    assert_eq!(other.sign_in("zhao.qi", PASSWORD, None).await.status, 303);
    assert_eq!(other.get(&case_path).await.status, 404);

    // Assign to li.si of xihu; a field at fault is named first.
    let refused = supervisor
        .post(
            &act_path,
            &[("csrf", &csrf), ("type", "assign"), ("version", &version)],
        )
        .await;
    assert_eq!(refused.status, 422, "{}", refused.body);
    assert!(refused.body.contains("承办人用户名"), "{}", refused.body);
    let assigned = supervisor
        .post(
            &act_path,
            &[
                ("csrf", &csrf),
                ("type", "assign"),
                ("version", &version),
                ("assignee", "li.si"),
                ("office", "xihu"),
            ],
        )
        .await;
    assert_eq!(assigned.status, 303, "{}", assigned.body);
    assert_eq!(assigned.location(), format!("{case_path}?done=assign"));
    // The version the page showed is now stale: a second post of that page is refused.
    let stale = supervisor
        .post(
            &act_path,
            &[
                ("csrf", &csrf),
                ("type", "note"),
                ("version", &version),
                ("text", "x"),
            ],
        )
        .await;
    assert_eq!(stale.status, 412, "{}", stale.body);

    // li.si's queue has it; li.si resolves it; an action the status does not allow is refused.
    let mut handler = Browser::new(&server);
    assert_eq!(handler.sign_in("li.si", PASSWORD, None).await.status, 303);
    let queue = handler.get("/console/queue").await;
    assert_eq!(queue.status, 200, "{}", queue.body);
    assert!(queue.body.contains(&case_path), "{}", queue.body);
    let office_queue = handler.get("/console/queue?view=office").await;
    assert!(
        office_queue.body.contains(&case_path),
        "{}",
        office_queue.body
    );
    let page = handler.get(&case_path).await;
    let csrf = page.field("csrf");
    let version = form_field(&page, "action=\"/console/cases/", "version");
    assert!(
        !page.body.contains("value=\"assign\""),
        "only a supervisor assigns"
    );
    let resolved = handler
        .post(
            &act_path,
            &[
                ("csrf", &csrf),
                ("type", "resolve"),
                ("version", &version),
                ("outcome", "已退还年费"),
            ],
        )
        .await;
    assert_eq!(resolved.status, 303, "{}", resolved.body);
    let page = handler.get(&format!("{case_path}?done=resolve")).await;
    assert!(page.body.contains("已办结"), "{}", page.body);
    let version = form_field(&page, "action=\"/console/cases/", "version");
    let wrong = handler
        .post(
            &act_path,
            &[("csrf", &csrf), ("type", "accept"), ("version", &version)],
        )
        .await;
    assert_eq!(wrong.status, 409, "{}", wrong.body);
    let events = api(&server, &key, &format!("/v1/cases/{id}/timeline")).await;
    let actions: Vec<&str> = events["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["event"]["type"] == "handler")
        .map(|e| e["event"]["action"]["type"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        ["accept", "assign", "resolve"],
        "the rules' acceptance, then the two that were allowed; the refused ones recorded nothing"
    );
}

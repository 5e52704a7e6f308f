//! The console's pages for the complainant (`/track`), the supervisor (`/console/board`), the
//! compliance admin (`/console/rulesets`) and the auditor (`/console/audit`), against the real
//! server: each as its role uses it, refused to the roles the API refuses, CSRF first on every
//! POST, refusals in words that change nothing.
use std::{
    collections::BTreeMap,
    io::Write,
    path::Path,
    process::{Command, Stdio},
    time::Duration,
};

use serde_json::Value;

use crate::support::{BIN, Server, complaint};

const PASSWORD: &str = "correct horse battery";
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                   connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// Runs `redress <args> --data <data>` with `stdin` on standard input.
fn redress(data: &Path, args: &[&str], stdin: &str) -> std::process::Output {
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

fn ok(output: &std::process::Output) -> String {
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn create_user(data: &Path, username: &str, role: &str, office: Option<&str>) {
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

/// A client that keeps cookies like a browser and shows each redirect.
struct Browser {
    client: reqwest::Client,
    base: String,
    cookies: BTreeMap<String, String>,
}

struct Page {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: String,
}

impl Page {
    fn location(&self) -> &str {
        self.headers
            .get("location")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    /// The value of the hidden field `name`.
    fn field(&self, name: &str) -> String {
        let marker = format!("name=\"{name}\" value=\"");
        let start = self
            .body
            .find(&marker)
            .unwrap_or_else(|| panic!("no field {name} in {}", self.body))
            + marker.len();
        self.body[start..].split('"').next().unwrap().to_owned()
    }

    fn set_cookies(&self) -> Vec<String> {
        self.headers
            .get_all("set-cookie")
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .collect()
    }

    /// Every console response carries the security headers.
    fn assert_secured(&self) {
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
    fn new(server: &Server) -> Browser {
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

    fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    async fn send(&mut self, request: reqwest::RequestBuilder) -> Page {
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

    async fn get(&mut self, path: &str) -> Page {
        let request = self.client.get(format!("{}{path}", self.base));
        self.send(request).await
    }

    async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Page {
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
    async fn sign_in(&mut self, username: &str, password: &str, code: Option<&str>) -> Page {
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

/// Makes an API key in `data` and returns it.
fn create_key(data: &Path, role: &str, name: &str) -> String {
    ok(&redress(
        data,
        &[
            "key", "create", "--tenant", "default", "--role", role, "--name", name,
        ],
        "",
    ))
    .trim()
    .to_owned()
}

/// Registers `complaint()` with the intake key: the case and its tracking secret.
async fn register(server: &Server, key: &str) -> (Value, String) {
    let response = server
        .client
        .post(server.url("/v1/cases"))
        .bearer_auth(key)
        .json(&complaint())
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}; log: {}", server.log_text()));
    let secret = response.headers()["tracking-secret"]
        .to_str()
        .unwrap()
        .to_owned();
    let (status, case) = crate::support::read(response).await;
    assert_eq!(status, 201, "{case}");
    (case, secret)
}

/// The case as the API shows it to `key`.
async fn case_of(server: &Server, key: &str, id: &str) -> Value {
    let response = server
        .client
        .get(server.url(&format!("/v1/cases/{id}")))
        .bearer_auth(key)
        .send()
        .await
        .unwrap();
    let (status, case) = crate::support::read(response).await;
    assert_eq!(status, 200, "{case}");
    case
}

/// No inline script or style in a page.
fn assert_no_inline(page: &Page) {
    assert!(!page.body.contains("style="), "{}", page.body);
    assert!(!page.body.contains("<style"), "{}", page.body);
    assert!(!page.body.contains("<script>"), "{}", page.body);
    for handler in ["onclick=", "onload=", "onsubmit=", "javascript:"] {
        assert!(!page.body.contains(handler), "{handler}");
    }
}

/// The complainant, with nothing but the slip from intake: the page in Chinese, on a phone,
/// the case in words and nothing personal; a wrong secret reads like an unknown code; the
/// guessing limit of the API holds here too.
#[tokio::test]
async fn a_complainant_tracks_the_case_in_words_with_code_and_secret() {
    let server = Server::start_with_rulesets();
    let response = server
        .client
        .post(server.url("/v1/cases"))
        .header("x-redress-tenant", "default")
        .json(&complaint())
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}; log: {}", server.log_text()));
    let secret = response.headers()["tracking-secret"]
        .to_str()
        .unwrap()
        .to_owned();
    let (_, case) = crate::support::read(response).await;
    let code = case["tracking_code"].as_str().unwrap().to_owned();
    let mut phone = Browser::new(&server);

    let form = phone.get("/track").await;
    assert_eq!(form.status, 200, "{}", form.body);
    form.assert_secured();
    assert_no_inline(&form);
    assert!(form.body.contains("<html lang=\"zh-CN\">"));
    assert!(
        form.body.contains("width=device-width"),
        "a phone's viewport"
    );
    assert!(form.body.contains("查询码") && form.body.contains("查询密码"));
    assert!(
        form.body.contains("<label for=\"code\">") && form.body.contains("<label for=\"secret\">")
    );
    let csrf = form.field("csrf");

    // CSRF first: without the token nothing is looked up (and nothing counted).
    let refused = phone
        .post(
            "/track",
            &[("code", code.as_str()), ("secret", secret.as_str())],
        )
        .await;
    assert_eq!(refused.status, 403, "{}", refused.body);
    refused.assert_secured();

    // Typed as people type it: lower case, without hyphens.
    let typed = code.to_lowercase().replace('-', "");
    let shown = phone
        .post(
            "/track",
            &[
                ("csrf", csrf.as_str()),
                ("code", typed.as_str()),
                ("secret", secret.as_str()),
            ],
        )
        .await;
    assert_eq!(shown.status, 200, "{}", shown.body);
    shown.assert_secured();
    assert_no_inline(&shown);
    assert!(shown.body.contains(&code), "{}", shown.body);
    assert!(
        shown.body.contains("目前情况") && shown.body.contains("下一步"),
        "{}",
        shown.body
    );
    let api = server
        .client
        .get(server.url(&format!("/v1/track/{code}")))
        .header("x-tracking-secret", &secret)
        .send()
        .await
        .unwrap();
    let (_, view) = crate::support::read(api).await;
    // What comes next and by when: the API's next deadline, as a date, in words.
    if let Some(deadline) = view["next_deadline"].as_object() {
        assert!(shown.body.contains("最迟在"), "{}", shown.body);
        let due: jiff::Timestamp = deadline["due_at"].as_str().unwrap().parse().unwrap();
        let day = (due - jiff::SignedDuration::from_nanos(1))
            .to_zoned(jiff::tz::TimeZone::get("Asia/Shanghai").unwrap())
            .strftime("%Y-%m-%d")
            .to_string();
        assert!(shown.body.contains(&day), "{day}: {}", shown.body);
    }
    for personal in ["张三", "13800138000", "文三路", "某某电器"] {
        assert!(!shown.body.contains(personal), "{personal} shown");
    }

    // English is a link away, and comes back to the tracking page.
    let switch = phone.get("/console/lang/en?next=%2Ftrack").await;
    assert_eq!(switch.status, 303);
    assert_eq!(switch.location(), "/track");
    let english = phone
        .post(
            "/track",
            &[
                ("csrf", csrf.as_str()),
                ("code", code.as_str()),
                ("secret", secret.as_str()),
            ],
        )
        .await;
    assert_eq!(english.status, 200);
    assert!(
        english.body.contains("Where your complaint stands"),
        "{}",
        english.body
    );
    assert!(english.body.contains("<html lang=\"en\">"));
    phone.get("/console/lang/zh-CN?next=%2Ftrack").await;

    // A wrong secret and an unknown code read the same.
    let wrong = phone
        .post(
            "/track",
            &[
                ("csrf", csrf.as_str()),
                ("code", code.as_str()),
                ("secret", "0000000000000000"),
            ],
        )
        .await;
    let unknown = phone
        .post(
            "/track",
            &[
                ("csrf", csrf.as_str()),
                ("code", "RD-AAAA-AAAA"),
                ("secret", secret.as_str()),
            ],
        )
        .await;
    assert_eq!(wrong.status, 404, "{}", wrong.body);
    assert_eq!(unknown.status, 404, "{}", unknown.body);
    let message = |page: &Page| {
        let start = page.body.find("<div class=\"error-summary\"").unwrap();
        page.body[start..]
            .split("</div>")
            .next()
            .unwrap()
            .to_owned()
    };
    assert_eq!(message(&wrong), message(&unknown));
    assert!(message(&wrong).contains("没有找到"), "{}", wrong.body);
    assert!(!wrong.body.contains("目前情况"));

    // The API's guessing limit: 10 wrong secrets from this address, then even the right one
    // waits (8 more here: 2 were counted above).
    for _ in 0..8 {
        phone
            .post(
                "/track",
                &[
                    ("csrf", csrf.as_str()),
                    ("code", code.as_str()),
                    ("secret", "1111111111111111"),
                ],
            )
            .await;
    }
    let blocked = phone
        .post(
            "/track",
            &[
                ("csrf", csrf.as_str()),
                ("code", code.as_str()),
                ("secret", secret.as_str()),
            ],
        )
        .await;
    assert_eq!(blocked.status, 429, "{}", blocked.body);
    assert!(blocked.body.contains("10 分钟"), "{}", blocked.body);
}

/// A server without rulesets (every case in manual handling, no office) with a key to
/// register cases and the accounts `sup` (supervisor), `li.si` (handler), `audit`
/// (auditor), made before it starts.
fn office_server() -> (Server, String) {
    Server::start_with_data(|data| {
        let intake = create_key(data, "intake", "desk");
        create_user(data, "sup", "supervisor", None);
        create_user(data, "li.si", "handler", None);
        create_user(data, "audit", "auditor", None);
        intake
    })
}

async fn signed_in(server: &Server, username: &str) -> Browser {
    let mut browser = Browser::new(server);
    let signed_in = browser.sign_in(username, PASSWORD, None).await;
    assert_eq!(signed_in.status, 303, "{}", signed_in.body);
    browser
}

/// The supervisor's board: the unassigned cases with an assign form each, the manual ones,
/// the backlog chart in SVG with words for screen readers; assigning records `assign` (CSRF
/// first; a refused one changes nothing); other roles are refused.
#[tokio::test]
async fn a_supervisor_sees_the_board_and_assigns_from_it() {
    let (server, intake) = office_server();
    let (first, _) = register(&server, &intake).await;
    let (second, _) = register(&server, &intake).await;
    let id = first["id"].as_str().unwrap();
    let reference = first["tracking_code"].as_str().unwrap();
    let mut sup = signed_in(&server, "sup").await;

    let board = sup.get("/console/board").await;
    assert_eq!(board.status, 200, "{}", board.body);
    board.assert_secured();
    assert_no_inline(&board);
    assert!(board.body.contains("未分派的案件"), "{}", board.body);
    for case in [&first, &second] {
        assert!(board.body.contains(case["tracking_code"].as_str().unwrap()));
    }
    // The chart: drawn on the server, its colours from classes, said in words.
    let svg_start = board.body.find("<svg").unwrap();
    let svg = &board.body[svg_start..board.body.find("</svg>").unwrap()];
    assert!(svg.contains("role=\"img\""), "{svg}");
    assert!(svg.contains("<title id=\"chart-title\">"), "{svg}");
    assert!(
        svg.contains("<desc id=\"chart-desc\">0–7 天：0 件；8–15 天：0 件；16–30 天：0 件；31–60 天：0 件；超过 60 天：2 件</desc>"),
        "{svg}"
    );
    assert_eq!(svg.matches("<rect class=\"bar age-").count(), 5, "{svg}");
    assert!(!svg.contains("fill=") && !svg.contains("style"), "{svg}");
    assert!(board.body.contains("未办结案件共 2 件"), "{}", board.body);
    // Manual handling (no rulesets here): both listed.
    let manual = &board.body[board.body.find("id=\"manual\"").unwrap()..];
    assert!(manual.contains(reference), "{manual}");
    let csrf = board.field("csrf");
    let version = first["version"].as_u64().unwrap().to_string();

    // Without the token: refused, nothing recorded.
    let forged = sup
        .post(
            "/console/board/assign",
            &[
                ("case", id),
                ("version", version.as_str()),
                ("assignee", "li.si"),
                ("office", ""),
            ],
        )
        .await;
    assert_eq!(forged.status, 403, "{}", forged.body);
    assert!(case_of(&server, &intake, id).await["assignment"].is_null());

    // No assignee: the form again with its fault, nothing recorded.
    let empty = sup
        .post(
            "/console/board/assign",
            &[
                ("csrf", csrf.as_str()),
                ("case", id),
                ("version", version.as_str()),
                ("assignee", ""),
                ("office", ""),
            ],
        )
        .await;
    assert_eq!(empty.status, 422, "{}", empty.body);
    assert!(empty.body.contains("error-summary"), "{}", empty.body);
    assert!(
        empty
            .body
            .contains(&format!("aria-describedby=\"assign-error-{id}\"")),
        "{}",
        empty.body
    );
    assert!(case_of(&server, &intake, id).await["assignment"].is_null());

    // A version the case has moved past is refused, not overwritten.
    let stale = sup
        .post(
            "/console/board/assign",
            &[
                ("csrf", csrf.as_str()),
                ("case", id),
                ("version", "0"),
                ("assignee", "li.si"),
                ("office", ""),
            ],
        )
        .await;
    assert_eq!(stale.status, 412, "{}", stale.body);
    assert!(stale.body.contains("已有变动"), "{}", stale.body);
    assert!(case_of(&server, &intake, id).await["assignment"].is_null());

    let assigned = sup
        .post(
            "/console/board/assign",
            &[
                ("csrf", csrf.as_str()),
                ("case", id),
                ("version", version.as_str()),
                ("assignee", "li.si"),
                ("office", "xihu"),
            ],
        )
        .await;
    assert_eq!(assigned.status, 303, "{}", assigned.body);
    assert!(
        assigned.location().starts_with("/console/board?done="),
        "{}",
        assigned.location()
    );
    let after = sup.get(assigned.location()).await;
    assert!(
        after
            .body
            .contains(&format!("已将案件 {reference} 分派给 li.si")),
        "{}",
        after.body
    );
    let case = case_of(&server, &intake, id).await;
    assert_eq!(case["assignment"]["assignee"], "li.si", "{case}");
    assert_eq!(case["assignment"]["office"], "xihu", "{case}");
    // No longer unassigned.
    let unassigned = &after.body[after.body.find("id=\"unassigned\"").unwrap()
        ..after.body.find("id=\"overdue-heading\"").unwrap()];
    assert!(!unassigned.contains(reference), "{unassigned}");
    // The office's board.
    let office = sup.get("/console/board?office=xihu").await;
    assert_eq!(office.status, 200);
    assert!(
        office.body.contains("看板：xihu") && office.body.contains("未办结案件共 1 件"),
        "{}",
        office.body
    );

    // The handler and the auditor are refused, in words.
    for username in ["li.si", "audit"] {
        let mut other = signed_in(&server, username).await;
        let page = other.get("/console/board").await;
        assert_eq!(page.status, 403, "{username}: {}", page.body);
        assert!(page.body.contains("不能使用这个页面"), "{}", page.body);
        let csrf = other.get("/console").await.field("csrf");
        let post = other
            .post(
                "/console/board/assign",
                &[
                    ("csrf", csrf.as_str()),
                    ("case", second["id"].as_str().unwrap()),
                    ("assignee", "x"),
                    ("office", ""),
                ],
            )
            .await;
        assert_eq!(post.status, 403, "{username}");
    }
    assert!(
        case_of(&server, &intake, second["id"].as_str().unwrap()).await["assignment"].is_null()
    );
}

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

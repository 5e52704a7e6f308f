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

mod audit;
mod board;
mod rulesets;
mod track;

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

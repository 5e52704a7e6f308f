//! The console's pages for the complainant (`/track`), the supervisor (`/console/board`), the
//! compliance admin (`/console/rulesets`) and the auditor (`/console/audit`), against the real
//! server: each as its role uses it, refused to the roles the API refuses, CSRF first on every
//! POST, refusals in words that change nothing.
use std::path::Path;

use serde_json::Value;

use crate::support::{Server, complaint};

mod accounts;
mod admin;
mod audit;
mod board;
mod public_form;
mod reports;
mod rulesets;
mod track;

pub(crate) use crate::console::{Browser, PASSWORD, Page, create_user, ok, redress};

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

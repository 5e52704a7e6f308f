//! `/console/accounts`: the accounts admin page (operator: every tenant; a compliance admin:
//! its own tenant, never the operator's), and the actor the console records.

use super::*;

/// Makes an account of `tenant` before the server starts.
fn user_of(data: &Path, tenant: &str, username: &str, role: &str) {
    ok(&redress(
        data,
        &[
            "user",
            "create",
            "--tenant",
            tenant,
            "--role",
            role,
            "--username",
            username,
            "--name",
            "张三",
            "--password-stdin",
        ],
        &format!("{PASSWORD}\n"),
    ));
}

/// Tenants `t1` and `t2`; `admin1` (t1's compliance admin), `h1` (t1 handler), `h2` (t2
/// handler), `op` (the operator).
fn accounts_server() -> Server {
    Server::start_with_data(|data| {
        create_key(data, "auditor", "ops");
        for tenant in ["t1", "t2"] {
            ok(&redress(data, &["tenant", "create", tenant], ""));
        }
        user_of(data, "t1", "admin1", "compliance_admin");
        user_of(data, "t1", "h1", "handler");
        user_of(data, "t2", "h2", "handler");
        user_of(data, "default", "op", "operator");
    })
    .0
}

/// The text of the element with `id`.
fn text_of(page: &Page, id: &str) -> String {
    let marker = format!("id=\"{id}\">");
    let start = page
        .body
        .find(&marker)
        .unwrap_or_else(|| panic!("no #{id} in {}", page.body))
        + marker.len();
    page.body[start..].split('<').next().unwrap().to_owned()
}

#[tokio::test]
async fn an_admin_creates_an_account_that_signs_in_and_disabling_it_ends_its_session() {
    let server = accounts_server();
    let mut admin = signed_in(&server, "admin1").await;
    let page = admin.get("/console/accounts").await;
    assert_eq!(page.status, 200, "{}", page.body);
    page.assert_secured();
    assert_no_inline(&page);
    assert!(
        page.body.contains("href=\"/console/accounts\""),
        "in the navigation"
    );
    // Its own tenant only: not t2's, not the operator's.
    assert!(page.body.contains("id=\"account-h1\""), "{}", page.body);
    assert!(!page.body.contains("id=\"account-h2\""), "{}", page.body);
    assert!(!page.body.contains("id=\"account-op\""), "{}", page.body);
    // The filter.
    let filtered = admin.get("/console/accounts?q=admin").await;
    assert!(filtered.body.contains("id=\"account-admin1\""));
    assert!(!filtered.body.contains("id=\"account-h1\""));
    let csrf = page.field("csrf");

    // Without the token: 403, nothing created.
    let forged = admin
        .post(
            "/console/accounts",
            &[("username", "wang.wu"), ("role", "handler")],
        )
        .await;
    assert_eq!(forged.status, 403, "{}", forged.body);
    assert!(
        !admin
            .get("/console/accounts")
            .await
            .body
            .contains("id=\"account-wang.wu\"")
    );

    // Faults named by field: a taken username, an operator, an office on an auditor.
    let refused = admin
        .post(
            "/console/accounts",
            &[
                ("csrf", &csrf),
                ("username", "h1"),
                ("role", "operator"),
                ("office", ""),
            ],
        )
        .await;
    assert_eq!(refused.status, 422, "{}", refused.body);
    assert!(
        refused.body.contains("用户名“h1”已被使用。"),
        "{}",
        refused.body
    );
    assert!(
        refused.body.contains("请选择一个您可以授予的角色。"),
        "{}",
        refused.body
    );
    assert!(
        refused.body.contains("value=\"h1\""),
        "what was typed is kept"
    );
    assert!(
        !refused.body.contains("value=\"operator\""),
        "no operator to choose"
    );
    let refused = admin
        .post(
            "/console/accounts",
            &[
                ("csrf", &csrf),
                ("username", "x.y"),
                ("role", "auditor"),
                ("office", "xihu"),
            ],
        )
        .await;
    assert_eq!(refused.status, 422);
    assert!(
        refused
            .body
            .contains("只有登记员、承办人和主管可以限定科室。")
    );

    // Created: the password is shown once; the person signs in with it, in tenant t1 even
    // though the form named t2 (a compliance admin's tenant is its own).
    let created = admin
        .post(
            "/console/accounts",
            &[
                ("csrf", &csrf),
                ("username", "wang.wu"),
                ("display_name", "王五"),
                ("tenant", "t2"),
                ("role", "handler"),
                ("office", "xihu"),
            ],
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    let password = text_of(&created, "shown-secret");
    assert_eq!(password.len(), 23, "{password}");
    let row = &created.body[created.body.find("id=\"account-wang.wu\"").unwrap()..];
    assert!(
        row.contains("<td>t1</td>") && row.contains("<td>xihu</td>"),
        "{row}"
    );
    let mut person = Browser::new(&server);
    let signed = person.sign_in("wang.wu", &password, None).await;
    assert_eq!(signed.status, 303, "{}", signed.body);
    let home = person.get("/console").await;
    assert_eq!(home.status, 200);
    assert!(home.body.contains("王五"), "{}", home.body);

    // Disabled: their open session ends at the next page.
    let disabled = admin
        .post("/console/accounts/wang.wu/disable", &[("csrf", &csrf)])
        .await;
    assert_eq!(disabled.status, 200, "{}", disabled.body);
    assert!(
        disabled.body.contains("已停用账户 wang.wu"),
        "{}",
        disabled.body
    );
    let ended = person.get("/console").await;
    assert_eq!(ended.status, 303);
    assert!(ended.location().contains("ended=1"), "{}", ended.location());
    assert_eq!(
        Browser::new(&server)
            .sign_in("wang.wu", &password, None)
            .await
            .status,
        403,
        "a disabled account signs nobody in"
    );
    // Enabled again: signs in.
    let enabled = admin
        .post("/console/accounts/wang.wu/enable", &[("csrf", &csrf)])
        .await;
    assert_eq!(enabled.status, 200);
    assert_eq!(person.sign_in("wang.wu", &password, None).await.status, 303);

    // A reset password ends the open session; the new one works, the old one not.
    let reset = admin
        .post("/console/accounts/wang.wu/password", &[("csrf", &csrf)])
        .await;
    assert_eq!(reset.status, 200, "{}", reset.body);
    let new_password = text_of(&reset, "shown-secret");
    assert_ne!(new_password, password);
    assert_eq!(person.get("/console").await.status, 303);
    assert_ne!(
        Browser::new(&server)
            .sign_in("wang.wu", &password, None)
            .await
            .status,
        303,
        "the old password no longer works"
    );
    assert_eq!(
        person.sign_in("wang.wu", &new_password, None).await.status,
        303
    );

    // A new second factor: the secret shown once; from then on a code is asked for.
    let totp = admin
        .post("/console/accounts/wang.wu/totp-on", &[("csrf", &csrf)])
        .await;
    assert_eq!(totp.status, 200);
    assert!(text_of(&totp, "shown-uri").starts_with("otpauth://totp/"));
    assert_ne!(
        Browser::new(&server)
            .sign_in("wang.wu", &new_password, None)
            .await
            .status,
        303,
        "no code, no sign-in"
    );

    // Not on oneself; not on another tenant's account (absent), nor the operator's.
    let own = admin
        .post("/console/accounts/admin1/disable", &[("csrf", &csrf)])
        .await;
    assert_eq!(own.status, 409, "{}", own.body);
    for other in ["h2", "op"] {
        let touched = admin
            .post(
                &format!("/console/accounts/{other}/password"),
                &[("csrf", &csrf)],
            )
            .await;
        assert_eq!(touched.status, 404, "{other}: {}", touched.body);
        assert_eq!(
            Browser::new(&server)
                .sign_in(other, PASSWORD, None)
                .await
                .status,
            303,
            "{other} unchanged"
        );
    }
    // Without the token: nothing changed.
    let forged = admin.post("/console/accounts/h1/disable", &[]).await;
    assert_eq!(forged.status, 403);
    assert_eq!(
        Browser::new(&server)
            .sign_in("h1", PASSWORD, None)
            .await
            .status,
        303
    );
}

#[tokio::test]
async fn the_operator_sees_every_tenant_and_other_roles_are_refused() {
    let server = accounts_server();
    let mut op = signed_in(&server, "op").await;
    let page = op.get("/console/accounts").await;
    assert_eq!(page.status, 200, "{}", page.body);
    for username in ["admin1", "h1", "h2", "op"] {
        assert!(
            page.body.contains(&format!("id=\"account-{username}\"")),
            "{username}"
        );
    }
    let csrf = page.field("csrf");
    // The operator names the tenant; an unknown one is the tenant field's fault.
    let refused = op
        .post(
            "/console/accounts",
            &[
                ("csrf", &csrf),
                ("username", "ops2"),
                ("tenant", "nowhere"),
                ("role", "operator"),
            ],
        )
        .await;
    assert_eq!(refused.status, 422, "{}", refused.body);
    assert!(
        refused.body.contains("单位“nowhere”不存在。"),
        "{}",
        refused.body
    );
    let created = op
        .post(
            "/console/accounts",
            &[
                ("csrf", &csrf),
                ("username", "ops2"),
                ("tenant", "default"),
                ("role", "operator"),
            ],
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.body);

    let mut handler = signed_in(&server, "h1").await;
    let refused = handler.get("/console/accounts").await;
    assert_eq!(refused.status, 403, "{}", refused.body);
    refused.assert_secured();
    assert!(
        !handler
            .get("/console")
            .await
            .body
            .contains("/console/accounts")
    );
    let csrf = handler.get("/console").await.field("csrf");
    let refused = handler
        .post("/console/accounts/h2/disable", &[("csrf", &csrf)])
        .await;
    assert_eq!(refused.status, 403);
}

/// What the console does is recorded as "display name (username, role, console)".
#[tokio::test]
async fn a_console_action_is_recorded_with_name_username_role_and_console() {
    let (server, intake) = office_server();
    let (case, _) = register(&server, &intake).await;
    let id = case["id"].as_str().unwrap();
    let mut sup = signed_in(&server, "sup").await;
    let board = sup.get("/console/board").await;
    let csrf = board.field("csrf");
    let version = case["version"].as_u64().unwrap().to_string();
    let assigned = sup
        .post(
            "/console/board/assign",
            &[
                ("csrf", csrf.as_str()),
                ("case", id),
                ("version", version.as_str()),
                ("assignee", "li.si"),
                ("office", ""),
                ("board", ""),
            ],
        )
        .await;
    assert_eq!(assigned.status, 303, "{}", assigned.body);
    let response = server
        .client
        .get(server.url(&format!("/v1/cases/{id}/timeline")))
        .bearer_auth(&intake)
        .send()
        .await
        .unwrap();
    let (status, timeline) = crate::support::read(response).await;
    assert_eq!(status, 200, "{timeline}");
    let last = timeline["events"]
        .as_array()
        .unwrap()
        .iter()
        .rfind(|e| e["event"]["type"] == "handler")
        .unwrap_or_else(|| panic!("no handler event: {timeline}"))
        .clone();
    assert_eq!(
        last["actor"]["id"], "李四 (sup, supervisor, console)",
        "{last}"
    );
    let page = sup.get(&format!("/console/cases/{id}")).await;
    assert!(
        page.body.contains("· 李四 (sup, supervisor, console)"),
        "{}",
        page.body
    );
}

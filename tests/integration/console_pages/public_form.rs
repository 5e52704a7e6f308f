//! `/complain`: the public complaint form, no account, for the tenants that open it.

use super::*;

/// A server with the built-in rulesets, the default tenant's public form open for market
/// supervision and banking, a tenant `acme` whose form is closed, and a supervisor key to
/// count what was registered.
fn public_server() -> (Server, String) {
    Server::start_with_rulesets_and_data(|data| {
        let key = create_key(data, "supervisor", "ops");
        ok(&redress(data, &["tenant", "create", "acme"], ""));
        let opened = ok(&redress(
            data,
            &[
                "tenant",
                "public-form",
                "default",
                "--enable",
                "--sector",
                "market_supervision",
                "--sector",
                "banking",
            ],
            "",
        ));
        assert!(opened.contains("/complain"), "{opened}");
        key
    })
}

async fn case_count(server: &Server, key: &str) -> usize {
    let response = server
        .client
        .get(server.url("/v1/cases?limit=100"))
        .bearer_auth(key)
        .send()
        .await
        .unwrap();
    let (status, list) = crate::support::read(response).await;
    assert_eq!(status, 200, "{list}");
    list["items"].as_array().unwrap().len()
}

/// A complaint as a member of the public fills it in.
fn filled<'a>(csrf: &'a str, once: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("csrf", csrf),
        ("once", once),
        ("sector", "market_supervision"),
        ("facts", "空调安装后无法制冷，商家拒绝退货"),
        ("claim", "退货退款"),
        ("amount.value", "3999.00"),
        ("respondent.name", "某某电器有限公司"),
        ("respondent.address", "杭州市西湖区"),
        ("complainant.name", "张三"),
        ("complainant.phone", "13800138000"),
        ("complainant.address", "杭州市西湖区文三路1号"),
        ("consent", "yes"),
    ]
}

/// The text of the element with `id` (up to its first tag's end).
fn text_of(body: &str, id: &str) -> String {
    let marker = format!("id=\"{id}\"");
    let start = body
        .find(&marker)
        .unwrap_or_else(|| panic!("no #{id} in {body}"));
    let rest = &body[start..];
    let open = rest.find('>').unwrap() + 1;
    let inner = &rest[open..];
    let mut text = String::new();
    let mut in_tag = false;
    for c in inner.chars() {
        match c {
            '<' => in_tag = true,
            '>' => in_tag = false,
            _ if !in_tag => text.push(c),
            _ => {}
        }
        if text.contains('\n') {
            break;
        }
    }
    text.trim().to_owned()
}

#[tokio::test]
async fn a_closed_or_unknown_form_is_one_and_the_same_not_found_page() {
    let (server, _) = public_server();
    let mut browser = Browser::new(&server);
    let acme = browser.get("/complain/acme").await;
    let nobody = browser.get("/complain/nobody").await;
    let invalid = browser.get("/complain/NOT%20A%20TENANT").await;
    for page in [&acme, &nobody, &invalid] {
        assert_eq!(page.status, 404, "{}", page.body);
        page.assert_secured();
        assert!(page.body.contains("没有开放网上投诉"), "{}", page.body);
        assert!(page.set_cookies().is_empty(), "no token for a closed form");
    }
    assert_eq!(acme.body, nobody.body, "no tenant enumeration");
    let posted = browser.post("/complain/acme", &filled("x", "y")).await;
    assert_eq!(posted.status, 404);
    // Closed again with the CLI: a running server follows within 2 s.
    ok(&redress(
        &server.data,
        &["tenant", "public-form", "default", "--disable"],
        "",
    ));
    let mut closed = false;
    for _ in 0..40 {
        if browser.get("/complain").await.status == 404 {
            closed = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(150)).await;
    }
    assert!(closed, "the form closes without a restart");
}

/// Filed in Chinese from a phone: the decision in words, the code and secret that `/track`
/// takes; refusals name the field and register nothing; CSRF first; a double submit is one
/// case; the sixth complaint within the hour is refused in words.
#[tokio::test]
async fn a_member_of_the_public_files_a_complaint_and_tracks_it() {
    let (server, key) = public_server();
    let mut phone = Browser::new(&server);

    let form = phone.get("/complain").await;
    assert_eq!(form.status, 200, "{}", form.body);
    form.assert_secured();
    assert_no_inline(&form);
    assert!(form.body.contains("<html lang=\"zh-CN\">"));
    assert!(form.body.contains("width=device-width"));
    assert!(form.body.contains("网上提交投诉"), "{}", form.body);
    assert!(form.body.contains("市场监管") && form.body.contains("银行保险"));
    assert!(
        !form.body.contains("医疗机构"),
        "only the sectors the tenant offers"
    );
    assert!(form.body.contains("个人信息保护法"), "the consent notice");
    assert!(form.body.contains("name=\"consent\""));
    assert!(
        !form.body.contains("name=\"channel\"") && !form.body.contains("name=\"attributes."),
        "the public sets no channel nor attribute"
    );
    for label in [
        "<label for=\"complain-facts\">",
        "<label for=\"complain-complainant-phone\">",
    ] {
        assert!(form.body.contains(label), "{label}");
    }
    assert!(
        form.set_cookies()
            .iter()
            .any(|c| c.starts_with("redress_complain=") && c.contains("HttpOnly")),
        "{:?}",
        form.set_cookies()
    );
    let csrf = form.field("csrf");
    let once = form.field("once");
    assert_eq!(case_count(&server, &key).await, 0);

    // CSRF: missing, wrong, or a cookie without the field: refused, nothing registered.
    let mut missing = filled("", &once);
    missing.remove(0);
    let refused = phone.post("/complain", &missing).await;
    assert_eq!(refused.status, 403, "{}", refused.body);
    refused.assert_secured();
    // The last character changed (to one it is not: a token ending in `0` stays forged).
    let last = if csrf.ends_with('0') { '1' } else { '0' };
    let forged = format!("{}{last}", &csrf[..csrf.len() - 1]);
    let refused = phone.post("/complain", &filled(&forged, &once)).await;
    assert_eq!(refused.status, 403, "{}", refused.body);
    let mut stranger = Browser::new(&server);
    let refused = stranger.post("/complain", &filled(&csrf, &once)).await;
    assert_eq!(refused.status, 403, "a token without its cookie");
    assert_eq!(case_count(&server, &key).await, 0);

    // A missing field is named, the rest kept, nothing registered.
    let mut no_phone = filled(&csrf, &once);
    no_phone.retain(|(name, _)| *name != "complainant.phone" && *name != "consent");
    let again = phone.post("/complain", &no_phone).await;
    assert_eq!(again.status, 422, "{}", again.body);
    assert!(
        again.body.contains("联系电话: 请填写此项。"),
        "{}",
        again.body
    );
    assert!(
        again.body.contains("请阅读个人信息处理说明并勾选同意"),
        "{}",
        again.body
    );
    assert!(
        again.body.contains("空调安装后无法制冷"),
        "what was typed stays"
    );
    assert_eq!(case_count(&server, &key).await, 0);

    // A value the API's checks refuse: named, said in Chinese first, nothing registered.
    let mut bad_amount = filled(&csrf, &once);
    for (name, value) in bad_amount.iter_mut() {
        if *name == "amount.value" {
            *value = "很多钱";
        }
    }
    let again = phone.post("/complain", &bad_amount).await;
    assert_eq!(again.status, 422, "{}", again.body);
    assert!(
        again
            .body
            .contains("涉及金额（元，可不填）: 填写有误，请检查后重新填写"),
        "{}",
        again.body
    );
    assert_eq!(case_count(&server, &key).await, 0);

    // Filed: the decision in words, the code and secret.
    let done = phone.post("/complain", &filled(&csrf, &once)).await;
    assert_eq!(done.status, 201, "{}", done.body);
    done.assert_secured();
    assert_no_inline(&done);
    assert!(done.body.contains("您的投诉已提交"), "{}", done.body);
    let code = text_of(&done.body, "tracking-code");
    let secret = text_of(&done.body, "tracking-secret");
    let status = text_of(&done.body, "complain-status");
    assert!(code.starts_with("RD-"), "{code}");
    assert_eq!(secret.len(), 16, "{secret}");
    assert!(done.body.contains("href=\"/track\""));
    assert_eq!(case_count(&server, &key).await, 1);

    // The same form sent twice: one case, shown again.
    let twice = phone.post("/complain", &filled(&csrf, &once)).await;
    assert_eq!(twice.status, 201, "{}", twice.body);
    assert_eq!(text_of(&twice.body, "tracking-code"), code);
    assert_eq!(case_count(&server, &key).await, 1);

    // Registered as the API registers, by the public form, channel web.
    let response = server
        .client
        .get(server.url("/v1/cases?limit=1"))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    let (_, list) = crate::support::read(response).await;
    let case = &list["items"][0];
    assert_eq!(case["tracking_code"], code.as_str());
    assert_eq!(case["intake"]["channel"], "web");
    assert_eq!(case["intake"]["complainant"]["name"], "张三");
    let id = case["id"].as_str().unwrap();
    let response = server
        .client
        .get(server.url(&format!("/v1/cases/{id}/timeline")))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    let (_, events) = crate::support::read(response).await;
    assert!(events.to_string().contains("\"public-form\""), "{events}");

    // Trackable with what the page showed.
    let track = phone.get("/track").await;
    let token = track.field("csrf");
    let tracked = phone
        .post(
            "/track",
            &[
                ("csrf", token.as_str()),
                ("code", code.as_str()),
                ("secret", secret.as_str()),
            ],
        )
        .await;
    assert_eq!(tracked.status, 200, "{}", tracked.body);
    assert_eq!(text_of(&tracked.body, "track-status"), status);

    // Four more within the hour, then the sixth is refused in words; nothing registered.
    for n in 2..=5 {
        let form = phone.get("/complain").await;
        let once = form.field("once");
        let filed = phone
            .post("/complain", &filled(&form.field("csrf"), &once))
            .await;
        assert_eq!(filed.status, 201, "complaint {n}: {}", filed.body);
    }
    assert_eq!(case_count(&server, &key).await, 5);
    let form = phone.get("/complain").await;
    let sixth = phone
        .post(
            "/complain",
            &filled(&form.field("csrf"), &form.field("once")),
        )
        .await;
    assert_eq!(sixth.status, 429, "{}", sixth.body);
    sixth.assert_secured();
    assert!(
        sixth.body.contains("一小时内最多提交 5 件投诉"),
        "{}",
        sixth.body
    );
    assert!(sixth.body.contains("北京时间"), "{}", sixth.body);
    assert_eq!(case_count(&server, &key).await, 5);

    // A body over the cap is refused, in words.
    let big = "很".repeat(8 * 1024);
    let mut huge = filled(&csrf, "big");
    huge.push(("facts", big.as_str()));
    let refused = phone.post("/complain", &huge).await;
    assert_eq!(refused.status, 400, "{}", refused.body);
    assert!(refused.body.contains("表单无法读取"), "{}", refused.body);
}

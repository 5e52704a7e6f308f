//! `/track`: the complainant's page, no account.

use super::*;

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
    assert!(
        form.body.contains("<a class=\"brand\" href=\"/track\">"),
        "no way into the staff console from the complainant's page"
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

    // The outcome, in words, once there is one.
    let id = case["id"].as_str().unwrap();
    let (status, _) = server
        .act(
            id,
            serde_json::json!({"type": "withdraw", "reason": "已与商家和解"}),
        )
        .await;
    assert_eq!(status, 201);
    let ended = phone
        .post(
            "/track",
            &[
                ("csrf", csrf.as_str()),
                ("code", code.as_str()),
                ("secret", secret.as_str()),
            ],
        )
        .await;
    assert_eq!(ended.status, 200, "{}", ended.body);
    assert!(ended.body.contains("您已撤回投诉"), "{}", ended.body);
    assert!(
        ended.body.contains("办理结果") && ended.body.contains("撤回。"),
        "{}",
        ended.body
    );

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

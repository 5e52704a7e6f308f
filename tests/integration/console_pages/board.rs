//! `/console/board`: the supervisor's office board.

use super::*;

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

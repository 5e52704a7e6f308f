//! `/console/reports`: volumes and timeliness, charts with their tables.

use serde_json::json;

use super::*;

fn clock(name: &str, amount: u32, unit: &str) -> Value {
    json!({
        "type": "start",
        "starts_at": "2026-02-13T10:00:00+08:00",
        "clock": {"name": name, "amount": amount, "unit": unit, "calendar": "cn-mainland"}
    })
}

/// The cells of the table row whose header cell is `header`, as text.
fn row(body: &str, table: &str, header: &str) -> Vec<String> {
    let start = body
        .find(&format!("<table class=\"queue\" id=\"{table}\">"))
        .unwrap_or_else(|| panic!("no table {table}: {body}"));
    let table = &body[start..start + body[start..].find("</table>").unwrap()];
    let found = table
        .split("<tr>")
        .find(|r| r.contains(&format!("<th scope=\"row\">{header}</th>")))
        .unwrap_or_else(|| panic!("no row {header} in {table}"));
    found
        .split("<td>")
        .skip(1)
        .map(|cell| cell.split("</td>").next().unwrap().trim().to_owned())
        .collect()
}

/// Three cases in the week of 2026-02-09 (two market supervision, one banking); an acceptance
/// clock met in February, one breached in March, a window that ends (never a breach) and a
/// reply clock due within 3 days: the tables say so, and only to a supervisor or an auditor.
#[tokio::test]
async fn the_reports_count_cases_received_and_clocks_met_and_breached() {
    let server = Server::start_with_clock("2026-02-13T03:00:00Z");
    create_user(&server.data, "sup", "supervisor", None);
    create_user(&server.data, "audit", "auditor", None);
    create_user(&server.data, "li.si", "handler", None);
    let a = server.create(&complaint()).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let b = server.create(&complaint()).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut banking = complaint();
    banking["sector"] = json!("banking");
    let c = server.create(&banking).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    for id in [&a, &b] {
        let (status, body) = server
            .post(
                &format!("/v1/cases/{id}/clocks"),
                &clock("acceptance", 7, "working_days"),
            )
            .await;
        assert_eq!(status, 201, "{body}");
    }
    let mut window = clock("objection_window", 1, "calendar_days");
    window["clock"]["window"] = json!(true);
    let (status, body) = server.post(&format!("/v1/cases/{c}/clocks"), &window).await;
    assert_eq!(status, 201, "{body}");
    let (status, body) = server
        .post(
            &format!("/v1/cases/{b}/clocks"),
            &json!({"type": "stop", "name": "acceptance", "reason": "受理"}),
        )
        .await;
    assert_eq!(status, 201, "{body}");

    // Past a's due date (2026-03-02, 24:00 Beijing time): the scheduler records the breach.
    server.set_time("2026-03-05T00:00:00Z");
    let mut breached = false;
    for _ in 0..100 {
        let (_, overdue) = server.get("/v1/cases?overdue=true").await;
        if overdue["items"][0]["id"] == a.as_str() {
            breached = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(breached, "{}", server.log_text());
    // A reply clock on c, due within 3 days of now.
    let mut reply = clock("reply", 24, "hours");
    reply["starts_at"] = json!("2026-03-05T08:00:00+08:00");
    let (status, body) = server.post(&format!("/v1/cases/{c}/clocks"), &reply).await;
    assert_eq!(status, 201, "{body}");

    let mut handler = signed_in(&server, "li.si").await;
    let refused = handler.get("/console/reports").await;
    assert_eq!(refused.status, 403, "{}", refused.body);

    for who in ["sup", "audit"] {
        let mut browser = signed_in(&server, who).await;
        let page = browser.get("/console/reports").await;
        assert_eq!(page.status, 200, "{}", page.body);
        page.assert_secured();
        assert_no_inline(&page);
        assert!(
            page.body.contains("href=\"/console/reports\""),
            "in the navigation"
        );
        assert!(page.body.contains("受理量与时效"), "{}", page.body);
        assert!(
            page.body
                .contains("<svg class=\"chart\" id=\"volume-chart\" role=\"img\"")
        );
        assert!(
            page.body
                .contains("<svg class=\"chart\" id=\"timeliness-chart\"")
        );
        // Market supervision, banking, healthcare, property, 12345; then the total.
        assert_eq!(
            row(&page.body, "volume", "2026-02-09"),
            ["2", "1", "0", "0", "0", "3"]
        );
        assert_eq!(
            row(&page.body, "volume", "2026-03-02"),
            ["0", "0", "0", "0", "0", "0"]
        );
        let acceptance = "受理决定 (acceptance)";
        let rows: Vec<(String, Vec<String>)> = ["2026-02", "2026-03"]
            .iter()
            .map(|month| {
                let start = page.body.find("id=\"timeliness\"").unwrap();
                let table = &page.body[start..];
                let found = table
                    .split("<tr>")
                    .find(|r| {
                        r.contains(&format!("<th scope=\"row\">{acceptance}</th>"))
                            && r.contains(&format!("<td>{month}</td>"))
                    })
                    .unwrap_or_else(|| panic!("no {month} row: {table}"));
                let cells = found
                    .split("<td>")
                    .skip(1)
                    .map(|c| c.split("</td>").next().unwrap().to_owned())
                    .collect();
                ((*month).to_owned(), cells)
            })
            .collect();
        assert_eq!(rows[0].1, ["2026-02", "1", "0"], "met in February");
        assert_eq!(rows[1].1, ["2026-03", "0", "1"], "breached in March");
        assert!(
            !page.body.contains("objection_window"),
            "a window is neither met nor breached"
        );
        assert!(
            page.body
                .contains("未来 3 天内有时限到期的未办结案件：1 件"),
            "{}",
            page.body
        );
        // The chart says its totals in words.
        assert!(
            page.body.contains("按时完成 1 个、超期 1 个"),
            "{}",
            page.body
        );
        // An office with no cases: nothing counted.
        let office = browser.get("/console/reports?office=nowhere").await;
        assert_eq!(
            row(&office.body, "volume", "2026-02-09"),
            ["0", "0", "0", "0", "0", "0"]
        );
    }
}

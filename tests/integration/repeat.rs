//! Repeat complaints through the real server: the host finds the earlier case of the same
//! complainant (by a keyed hash of the phone, however it was written) and respondent, records
//! the candidate with its basis on the `received` event, a deployed ruleset merges the new case
//! into it, and both timelines name each other. The phone never appears in what the host adds.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::support::Server;

const RULES: &str = r#"fn decide(trigger, the_case, ctx) {
    if trigger.type != "case_received" { return []; }
    for c in the_case.repeat_of {
        if c.status != "closed" && c.basis.some(|b| b.kind == "similar_issue") {
            return [
                because("2020 No. 3 art. 18 ¶3: a repeat complaint within the handling period may be merged"),
                merge_into(c.case_id, "art. 18 ¶3 可以合并处理"),
            ];
        }
    }
    [accept()]
}"#;

fn package() -> Value {
    let manifest = "id = \"repeat-test\"\nversion = \"1.0.0\"\nname = \"test\"\nsector = \"banking\"\n\
                    effective_from = 2020-01-01\nengine = \"rhai\"\n[settings]\nrepeat_window_days = 90\n";
    let intake = json!({"sector": "banking", "channel": "web", "respondent": {"name": "某某银行北京分行"},
                        "claim": "撤销不当扣费", "complainant": {"name": "赵六", "phone": "13900000000"}});
    let ordinary = redress::yaml::to_string(&json!({
        "description": "a first complaint is accepted",
        "now": "2026-03-02T10:00:00+08:00",
        "case": {"intake": intake},
        "trigger": {"type": "case_received"},
        "expect": {"actions": [{"type": "accept", "note": null}]}
    }));
    let repeat = redress::yaml::to_string(&json!({
        "description": "art. 18 ¶3: a repeat of an open complaint about the same issue is merged",
        "now": "2026-03-05T10:00:00+08:00",
        "case": {"intake": intake, "repeat_of": [{
            "case_id": "01KJN5ZN00000000000000000A", "received_at": "2026-03-02T02:00:00Z", "status": "accepted",
            "basis": [{"kind": "same_complainant", "identifier": "phone"}, {"kind": "same_respondent"},
                      {"kind": "similar_issue", "by": "text", "score_permille": 1000}]}]},
        "trigger": {"type": "case_received"},
        "expect": {"actions": [{"type": "merge_into", "case_id": "01KJN5ZN00000000000000000A", "reason": "art. 18 ¶3 可以合并处理"}]}
    }));
    let files: BTreeMap<&str, String> = [
        ("ruleset.toml", manifest.to_owned()),
        ("rules.rhai", RULES.to_owned()),
        ("cases/01-first.yaml", ordinary),
        ("cases/02-repeat.yaml", repeat),
    ]
    .into();
    json!({"files": files})
}

fn complaint(phone: &str, respondent: &str, received_at: &str) -> Value {
    json!({
        "sector": "banking", "channel": "web", "received_at": received_at,
        "complainant": {"name": "王五", "phone": phone, "address": "北京市西城区"},
        "respondent": {"name": respondent},
        "claim": "撤销不当扣费", "facts": "信用卡年费未经同意扣收"
    })
}

async fn timeline(server: &Server, id: &str) -> Vec<Value> {
    let (status, timeline) = server.get(&format!("/v1/cases/{id}/timeline")).await;
    assert_eq!(status, 200, "{timeline}");
    timeline["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event"].clone())
        .collect()
}

/// Every place `needle` occurs in the files under `dir`, with the 12 bytes before it.
fn occurrences(dir: &std::path::Path, needle: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            found.extend(occurrences(&path, needle));
            continue;
        }
        let bytes = std::fs::read(&path).unwrap();
        for at in 0..bytes.len().saturating_sub(needle.len() - 1) {
            if bytes[at..].starts_with(needle) {
                found.push((
                    path.display().to_string(),
                    bytes[at.saturating_sub(12)..at].to_vec(),
                ));
            }
        }
    }
    found
}

#[tokio::test]
async fn a_repeat_from_the_same_phone_is_found_merged_and_linked_in_both_timelines() {
    let server = Server::start_with_clock("2026-03-05T10:00:00+08:00");
    let (status, deployed) = server.post("/v1/rulesets", &package()).await;
    assert_eq!(status, 201, "{deployed}");

    let first = server
        .create(&complaint(
            "+86 138-0013-8000",
            "某某银行（北京）分行",
            "2026-03-02T10:00:00+08:00",
        ))
        .await;
    let first_id = first["id"].as_str().unwrap();
    assert_eq!(first["status"], "accepted", "{first}");
    let key = first["complainant_key"].clone();
    assert_eq!(key["identifier"], "phone", "{first}");
    let digest = key["digest"].as_str().unwrap().to_owned();
    assert_eq!(digest.len(), 64);

    // The same number written another way, the respondent with half-width brackets and spaces.
    let second = server
        .create(&complaint(
            "13800138000",
            "某某银行 (北京) 分行",
            "2026-03-05T10:00:00+08:00",
        ))
        .await;
    let second_id = second["id"].as_str().unwrap();
    assert_eq!(second["complainant_key"], key, "the same key");
    let events = timeline(&server, second_id).await;
    let received = &events[0];
    assert_eq!(received["type"], "received");
    assert_eq!(received["complainant_key"], key);
    let candidates = received["repeat_of"].as_array().unwrap();
    assert_eq!(candidates.len(), 1, "{received}");
    assert_eq!(candidates[0]["case_id"], first_id);
    assert_eq!(candidates[0]["status"], "accepted");
    assert_eq!(candidates[0]["received_at"], "2026-03-02T02:00:00Z");
    assert_eq!(
        candidates[0]["basis"],
        json!([
            {"kind": "same_complainant", "identifier": "phone"},
            {"kind": "same_respondent"},
            {"kind": "similar_issue", "by": "text", "score_permille": 1000}
        ])
    );
    // The rules merged it: recorded in their decision, on the snapshot, flagged.
    let decision = events.iter().find(|e| e["type"] == "decision").unwrap();
    assert_eq!(
        decision["actions"],
        json!([{"type": "merge_into", "case_id": first_id, "reason": "art. 18 ¶3 可以合并处理"}])
    );
    assert_eq!(second["merged_into"]["case_id"], first_id, "{second}");
    assert_eq!(second["ruling"]["flags"], json!(["merged"]));
    assert_eq!(second["status"], "received", "a merge changes no status");

    // The earlier case's timeline names the merged one.
    let earlier = timeline(&server, first_id).await;
    let link = earlier.last().unwrap();
    assert_eq!(
        *link,
        json!({"type": "merged_from", "case_id": second_id, "reason": "art. 18 ¶3 可以合并处理"})
    );
    let (_, first_now) = server.get(&format!("/v1/cases/{first_id}")).await;
    assert_eq!(first_now["merged_from"][0]["case_id"], second_id);
    assert_eq!(first_now["status"], "accepted");

    // The same phone about another respondent: no candidate, handled on its own.
    let other = server
        .create(&complaint(
            "13800138000",
            "另一家银行",
            "2026-03-05T10:00:00+08:00",
        ))
        .await;
    let events = timeline(&server, other["id"].as_str().unwrap()).await;
    assert!(events[0].get("repeat_of").is_none(), "{}", events[0]);
    assert_eq!(other["status"], "accepted");
    assert!(other.get("merged_into").is_none());

    // What the host added never holds the phone: the normalised number appears in the data
    // directory only where a client typed it so (the intake's own `phone`), never in a key,
    // an index or a candidate; the form the first complaint used is not found normalised.
    let (status, report) = server.post("/v1/audit/verify", &json!({})).await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["problems"], json!([]), "both histories verify");
    let found = occurrences(&server.data, b"13800138000");
    assert!(!found.is_empty(), "the intakes that typed it are stored");
    for (file, before) in &found {
        assert!(
            before.ends_with(b"\"phone\":\""),
            "{file}: `13800138000` after {:?}",
            String::from_utf8_lossy(before)
        );
    }
    assert!(
        !occurrences(&server.data, digest.as_bytes()).is_empty(),
        "the key is stored"
    );
    let log = server.log_text();
    for personal in ["13800138000", "138-0013-8000", "王五"] {
        assert!(!log.contains(personal), "the log contains {personal}");
    }
    assert!(
        log.contains(second_id) && log.contains("merged case linked"),
        "{log}"
    );
}

//! Acknowledged means durable: kill -9 mid-run, restart, everything acknowledged is there and
//! the audit chain verifies; tampering with a stored event is caught.

use std::{collections::BTreeMap, sync::Arc, time::Duration};

use serde_json::json;
use tokio::sync::Mutex;

use crate::support::{Server, audit, complaint};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_mid_run_loses_nothing_acknowledged() {
    let mut server = Server::start();
    // case id → the version the server acknowledged last
    let acknowledged: Arc<Mutex<BTreeMap<String, u64>>> = Arc::default();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut workers = Vec::new();
    for worker in 0..6 {
        let client = server.client.clone();
        let base = server.base.clone();
        let acknowledged = Arc::clone(&acknowledged);
        let stop = Arc::clone(&stop);
        workers.push(tokio::spawn(async move {
            let mut n = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                n += 1;
                let mut body = complaint();
                body["external_ref"] = json!(format!("w{worker}-{n}"));
                let Ok(response) = client
                    .post(format!("{base}/v1/cases"))
                    .json(&body)
                    .send()
                    .await
                else {
                    break;
                };
                if response.status() != 201 {
                    break;
                }
                let Ok(case) = response.json::<serde_json::Value>().await else {
                    break;
                };
                let id = case["id"].as_str().unwrap().to_owned();
                acknowledged.lock().await.insert(id.clone(), 1);
                let Ok(response) = client
                    .post(format!("{base}/v1/cases/{id}/events"))
                    .json(&json!({"type": "accept"}))
                    .send()
                    .await
                else {
                    break;
                };
                if response.status() == 201 {
                    acknowledged.lock().await.insert(id, 2);
                }
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    server.kill9(); // requests are in flight
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for worker in workers {
        worker.await.unwrap();
    }
    let acknowledged = acknowledged.lock().await.clone();
    assert!(
        acknowledged.len() >= 10,
        "the run acknowledged only {} cases",
        acknowledged.len()
    );

    let (code, report) = audit(&server.data);
    assert_eq!(code, 0, "{report}");

    server.restart();
    for (id, version) in &acknowledged {
        let (status, case) = server.get(&format!("/v1/cases/{id}")).await;
        assert_eq!(
            status, 200,
            "acknowledged case {id} is missing after kill -9"
        );
        assert!(
            case["version"].as_u64().unwrap() >= *version,
            "case {id} lost an acknowledged event"
        );
    }
    // The server keeps working on the recovered data.
    let case = server.create(&complaint()).await;
    assert_eq!(case["status"], "received");
    server.kill9();
    let (code, report) = audit(&server.data);
    assert_eq!(code, 0, "{report}");
    assert!(report.contains("problem(s)"), "{report}");
}

#[tokio::test]
async fn a_tampered_event_fails_the_audit_and_names_the_case() {
    let mut server = Server::start();
    let honest = server.create(&complaint()).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let victim = server.create(&complaint()).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (_, rejected) = server
        .act(
            &victim,
            json!({"type": "reject", "reason": "missing materials", "ground": "missing_materials"}),
        )
        .await;
    let seq = rejected["events"][0]["seq"].as_u64().unwrap();
    server.kill9();
    let (code, report) = audit(&server.data);
    assert_eq!(code, 0, "{report}");

    {
        // Edit the stored rejection directly in sled, as someone with disk access might.
        let store = redress::store::SledStore::open(&server.data, &Default::default()).unwrap();
        let id: redress_domain::CaseId = victim.parse().unwrap();
        let key = [id.to_bytes().as_slice(), &seq.to_be_bytes()].concat();
        let stored = store.events_tree().get(&key).unwrap().unwrap();
        let edited = String::from_utf8(stored.to_vec())
            .unwrap()
            .replace("missing materials", "no jurisdiction");
        assert_ne!(edited.as_bytes(), stored.as_ref());
        store.events_tree().insert(&key, edited.as_bytes()).unwrap();
        store.events_tree().flush().unwrap();
    }
    let (code, report) = audit(&server.data);
    assert_eq!(code, 1, "{report}");
    assert!(
        report.contains(&format!("case {victim}: event {seq}")),
        "{report}"
    );
    assert!(!report.contains(&format!("case {honest}")), "{report}");
}

#[tokio::test]
async fn personal_data_never_reaches_the_log() {
    let server = Server::start();
    let case = server.create(&complaint()).await;
    let id = case["id"].as_str().unwrap();
    server.act(id, json!({"type": "accept"})).await;
    let mut bad = complaint();
    bad["complainant"]["phone"] = json!("13800138000 call me");
    let (status, _) = server.post("/v1/cases", &bad).await;
    assert_eq!(status, 422);
    let log = server.log_text();
    assert!(log.contains(id), "the log records the case id");
    for personal in ["张三", "13800138000", "文三路"] {
        assert!(!log.contains(personal), "the log contains {personal}");
    }
}

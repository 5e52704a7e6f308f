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

/// Regression (issue #13, "one changed byte in sled's data file silently loses cases"): sled
/// treats the first log message whose checksum fails as the end of its log, so the case in it
/// and every case written after it vanished, `audit verify` checked what was left and passed,
/// and the server served the rest. The acknowledgement ledger now names every lost case: the
/// audit fails, the server refuses to start, and with `--allow-data-loss` it serves what is
/// left and says so on `/readyz`.
#[tokio::test]
async fn a_changed_byte_in_the_store_file_is_a_loud_loss_not_a_silent_one() {
    let mut server = Server::start();
    let mut ids = Vec::new();
    for _ in 0..30 {
        ids.push(
            server.create(&complaint()).await["id"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    server.kill9();
    let db = server.data.join("db");
    let pristine = std::fs::read(&db).unwrap();
    // Where the byte lands decides what sled drops; some places (padding) drop nothing. Try a
    // few offsets from the middle on; the first that loses cases is the test.
    let mut lost_some = false;
    for tenth in [6, 5, 7, 4, 8] {
        let mut bytes = pristine.clone();
        let at = bytes.len() * tenth / 10;
        bytes[at] ^= 0x40;
        std::fs::write(&db, &bytes).unwrap();
        let (code, report) = audit(&server.data);
        if code == 0 {
            std::fs::write(&db, &pristine).unwrap();
            continue;
        }
        lost_some = true;
        assert!(report.contains("acknowledged at version"), "{report}");
        let named = ids.iter().filter(|id| report.contains(id.as_str())).count();
        assert!(named > 0, "the lost cases are named: {report}");
        // The server refuses the store as it is, naming the losses and the way out.
        let output = std::process::Command::new(crate::support::BIN)
            .args([
                "serve",
                "--open-access",
                "--listen",
                "127.0.0.1:0",
                "--data",
            ])
            .arg(&server.data)
            .arg("--rulesets")
            .arg(&server.rulesets)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{stderr}");
        assert!(
            stderr.contains("lost") && stderr.contains("--allow-data-loss"),
            "{stderr}"
        );
        // An operator may choose to serve what is left; it stays loud.
        let mut survivor = Server::start_with_clock_rulesets_and_args(
            "2026-02-13T03:00:00Z",
            crate::support::bare_rulesets(),
            ["--allow-data-loss"],
        );
        survivor.kill9();
        std::fs::remove_dir_all(&survivor.data).unwrap();
        crate::support::copy_tree(&server.data, &survivor.data);
        survivor.launch();
        let (status, ready) = survivor.get("/readyz").await;
        assert_eq!(status, 200);
        assert_eq!(ready["status"], "degraded", "{ready}");
        assert_eq!(
            ready["acknowledged_writes_lost"].as_u64().unwrap() as usize,
            named,
            "{ready}"
        );
        assert!(survivor.log_text().contains("acknowledged data lost"));
        break;
    }
    assert!(lost_some, "no offset made sled drop a case");
}

/// Regression (issue #13, "a whole history can be rewritten with recomputed hashes"): the
/// chain's SHA-256 has no key, so whoever can write the data directory can rewrite a case and
/// every hash after it (and the acknowledgement ledger beside it) and `audit verify` passes.
/// A checkpoint signed with a key outside the data directory, kept by the auditor, catches it.
#[tokio::test]
async fn a_history_rewritten_with_recomputed_hashes_is_caught_by_a_signed_checkpoint() {
    use redress::store::{CaseStore, SledOptions, SledStore};
    use redress_domain::{Case, CaseId, EventKind, EventRecord};

    let mut server = Server::start();
    let mut ids = Vec::new();
    for _ in 0..3 {
        let id = server.create(&complaint()).await["id"]
            .as_str()
            .unwrap()
            .to_owned();
        server
            .act(&id, json!({"type": "note", "text": "已联系投诉人"}))
            .await;
        ids.push(id);
    }
    server.kill9();
    let keys = tempfile::tempdir().unwrap();
    let prefix = keys.path().join("audit");
    let run = |args: &[&std::ffi::OsStr]| {
        let output = std::process::Command::new(crate::support::BIN)
            .args(args)
            .output()
            .unwrap();
        (
            output.status.code().unwrap_or(-1),
            format!(
                "{}{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            ),
        )
    };
    let (code, out) = run(&[
        "audit".as_ref(),
        "keygen".as_ref(),
        "--out".as_ref(),
        prefix.as_os_str(),
    ]);
    assert_eq!(code, 0, "{out}");
    let secret = keys.path().join("audit.secret.toml");
    let public = keys.path().join("audit.public.toml");
    let checkpoint = keys.path().join("checkpoint.json");
    // A key inside the data directory would protect nothing: refused.
    let inside = server.data.join("audit.secret.toml");
    std::fs::copy(&secret, &inside).unwrap();
    let (code, out) = run(&[
        "audit".as_ref(),
        "checkpoint".as_ref(),
        "--data".as_ref(),
        server.data.as_os_str(),
        "--key".as_ref(),
        inside.as_os_str(),
    ]);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("outside the data directory"), "{out}");
    std::fs::remove_file(&inside).unwrap();
    let (code, out) = run(&[
        "audit".as_ref(),
        "checkpoint".as_ref(),
        "--data".as_ref(),
        server.data.as_os_str(),
        "--key".as_ref(),
        secret.as_os_str(),
        "--out".as_ref(),
        checkpoint.as_os_str(),
    ]);
    assert_eq!(code, 0, "{out}");

    // The rewrite: the second case's complaint says something else, every event re-sealed,
    // the snapshot, the heads and the ledger made to agree.
    let victim: CaseId = ids[1].parse().unwrap();
    {
        let store = SledStore::open(&server.data, &SledOptions::default()).unwrap();
        let events = store
            .events(&redress_domain::TenantId::default_tenant(), victim)
            .unwrap()
            .unwrap();
        let mut forged: Vec<EventRecord> = Vec::new();
        let mut prev = redress_domain::Hash::GENESIS;
        for record in &events {
            let mut event = record.event.clone();
            if let EventKind::Received { intake, .. } = &mut event {
                intake.claim = "无诉求".into();
            }
            let sealed = EventRecord::seal(
                record.case_id,
                record.seq,
                record.recorded_at,
                record.actor.clone(),
                event,
                prev,
            );
            prev = sealed.hash;
            forged.push(sealed);
        }
        for record in &forged {
            let key = [victim.to_bytes().as_slice(), &record.seq.to_be_bytes()].concat();
            store
                .events_tree()
                .insert(key, serde_json::to_vec(record).unwrap())
                .unwrap();
        }
        let case = Case::replay(&forged).unwrap();
        store
            .cases_tree()
            .insert(victim.to_bytes(), serde_json::to_vec(&case).unwrap())
            .unwrap();
        let mut head = [0u8; 40];
        head[..8].copy_from_slice(&case.version.to_be_bytes());
        head[8..].copy_from_slice(&case.head_hash.0);
        store
            .heads_tree()
            .insert(victim.to_bytes(), &head[..])
            .unwrap();
        store.flush().unwrap();
        let heads: redress::store::ledger::Heads = store
            .heads(None)
            .unwrap()
            .into_iter()
            .map(|(id, v, h)| (id, (v, h)))
            .collect();
        drop(store);
        let path = server.data.join(redress::store::sled_store::LEDGER_FILE);
        let (read, previous) = redress::store::ledger::read(&path).unwrap();
        redress::store::ledger::Ledger::open(&path, &read, previous)
            .unwrap()
            .compact(&heads)
            .unwrap();
    }
    let verify_against_checkpoint = || {
        run(&[
            "audit".as_ref(),
            "verify".as_ref(),
            "--data".as_ref(),
            server.data.as_os_str(),
            "--checkpoint".as_ref(),
            checkpoint.as_os_str(),
            "--public-key".as_ref(),
            public.as_os_str(),
        ])
    };
    // The chain and the ledger alone cannot tell.
    let (code, report) = audit(&server.data);
    assert_eq!(
        code, 0,
        "a consistent rewrite passes the keyless checks: {report}"
    );
    // The auditor's checkpoint can.
    let (code, out) = verify_against_checkpoint();
    assert_eq!(code, 1, "{out}");
    assert!(out.contains(&ids[1]) && out.contains("rewritten"), "{out}");
    assert!(!out.contains(&ids[0]) && !out.contains(&ids[2]), "{out}");
    // A checkpoint changed after signing is refused.
    let mut kept: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&checkpoint).unwrap()).unwrap();
    kept["checkpoint"]["heads"][1]["version"] = json!(1);
    std::fs::write(&checkpoint, kept.to_string()).unwrap();
    let (code, out) = verify_against_checkpoint();
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("signature does not verify"), "{out}");
}

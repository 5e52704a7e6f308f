//! WebAssembly plugins: the banking rules shipped both ways decide identically, and hostile
//! plugins are contained with a specific reason while the server keeps serving.
//!
//! The plugins are built by `scripts/build-plugins` (which `scripts/test` runs first) into
//! `target/plugins/`.

use std::path::{Path, PathBuf};

use redress::rules::{
    LoadedRuleset, RuleContext,
    registry::{Package, QUARANTINE_AFTER_FAILURES},
    rhai_engine::{Limits, RhaiEngine},
};
use redress_calendar::CalendarSet;
use redress_domain::{EventKind, contract::Trigger};
use serde_json::json;

use crate::support::{Server, bare_rulesets, repo_root};

fn built(path: &str) -> PathBuf {
    let path = repo_root().join("target/plugins").join(path);
    assert!(
        path.exists(),
        "{} is missing: run scripts/build-plugins (scripts/test does)",
        path.display()
    );
    path
}

fn calendars() -> CalendarSet {
    CalendarSet::load_dir(repo_root().join("rulesets/calendars")).unwrap()
}

/// A decision event without what names its engine and ruleset, which differ by design.
fn normalised(events: Vec<EventKind>) -> Vec<EventKind> {
    events
        .into_iter()
        .map(|event| match event {
            EventKind::Decision {
                trigger,
                actions,
                explanation,
                ..
            } => EventKind::Decision {
                ruleset: redress_domain::contract::RulesetRef::named(None, "", ""),
                engine: String::new(),
                trigger,
                actions,
                explanation,
            },
            EventKind::RuleFailure {
                trigger, reason, ..
            } => EventKind::RuleFailure {
                ruleset: None,
                trigger,
                reason,
            },
            other => other,
        })
        .collect()
}

#[test]
fn the_banking_plugin_decides_every_fixture_exactly_as_the_rhai_ruleset() {
    let engine = RhaiEngine::new(Limits::default());
    let calendars = calendars();
    let rhai_package = Package::read_dir(&repo_root().join("rulesets/banking-insurance")).unwrap();
    let (rhai, fixtures) = LoadedRuleset::compile(&engine, &rhai_package).unwrap();
    let plugin_package = Package::read_dir(&built("banking-insurance-plugin")).unwrap();
    let (plugin, _) = LoadedRuleset::compile(&engine, &plugin_package).unwrap();
    assert_eq!(
        plugin.engine_version(),
        redress::rules::wasm::ENGINE_VERSION
    );
    assert!(fixtures.len() >= 25, "{} fixtures", fixtures.len());
    for fixture in &fixtures {
        let by_rhai = fixture.evaluate(&rhai, &calendars).unwrap();
        let by_plugin = fixture.evaluate(&plugin, &calendars).unwrap();
        assert_eq!(
            normalised(by_plugin.events),
            normalised(by_rhai.events),
            "fixture {}",
            fixture.name
        );
    }
}

/// A package holding one of the hostile plugins.
fn hostile_package(behaviour: &str) -> Package {
    let mut package = Package {
        origin: format!("hostile/{behaviour}"),
        files: Default::default(),
        binaries: Default::default(),
    };
    package.files.insert(
        "ruleset.toml".into(),
        "id = \"hostile\"\nversion = \"0.1.0\"\nname = \"Hostile\"\nsector = \"banking\"\n\
         effective_from = 2020-01-01\nengine = \"wasm\"\nentry = \"plugin.wasm\"\n"
            .into(),
    );
    package.binaries.insert(
        "plugin.wasm".into(),
        std::fs::read(built(&format!("hostile/{behaviour}.wasm"))).unwrap(),
    );
    package
}

#[test]
fn hostile_plugins_are_contained_with_a_specific_reason() {
    let engine = RhaiEngine::new(Limits::default());
    let calendars = calendars();
    let fixture_path = repo_root().join("rulesets/banking-insurance/cases");
    let first = std::fs::read_dir(&fixture_path)
        .unwrap()
        .map(|e| e.unwrap().path())
        .min()
        .unwrap();
    let fixture = redress::rules::fixtures::Fixture::parse(
        &std::fs::read_to_string(&first).unwrap(),
        "hostile",
        "hostile",
    )
    .unwrap();
    let table = [
        ("endless-loop", "ran out of fuel"),
        ("memory-bomb", "memory cap"),
        ("endless-recursion", "overflowed its stack"),
        ("trap", "the plugin trapped"),
        ("garbage", "item 0 (start_clock)"),
        ("huge-output", "items; at most 200"),
        (
            "declines",
            "declined to decide (the rules do not cover this case): this plugin never decides",
        ),
        ("log-bomb", "ran out of fuel"),
        // Interface 1.1.0: ten-year calendar counts in an endless loop.
        ("endless-calendar", "ran out of fuel"),
        (
            "many-flags",
            "400000 flags, fields and other list entries; at most 1000",
        ),
    ];
    for (behaviour, reason) in table {
        let (plugin, _) = LoadedRuleset::compile(&engine, &hostile_package(behaviour)).unwrap();
        let case = fixture.evaluate(&plugin, &calendars).unwrap().case_before;
        let ctx = RuleContext {
            now: fixture.now,
            calendars: &calendars,
        };
        let error = plugin
            .decide(&Trigger::CaseReceived, &case, &ctx)
            .unwrap_err()
            .to_string();
        assert!(error.contains(reason), "{behaviour}: {error}");
        // The same engine serves the next decision normally.
        let banking = Package::read_dir(&built("banking-insurance-plugin")).unwrap();
        let (good, _) = LoadedRuleset::compile(&engine, &banking).unwrap();
        good.decide(&Trigger::CaseReceived, &case, &ctx)
            .unwrap_or_else(|e| panic!("after {behaviour}: {e}"));
    }
    for (behaviour, import) in [
        ("reads-files", "wasi:filesystem/"),
        ("opens-sockets", "wasi:sockets/"),
    ] {
        let error = LoadedRuleset::compile(&engine, &hostile_package(behaviour))
            .unwrap_err()
            .to_string();
        assert!(
            error.contains(import) && error.contains("which this host does not provide"),
            "{behaviour}: {error}"
        );
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let path = entry.unwrap().path();
        let target = to.join(path.file_name().unwrap());
        if path.is_dir() {
            copy_dir(&path, &target);
        } else {
            std::fs::copy(&path, &target).unwrap();
        }
    }
}

/// The tenant the built-in banking plugin is for (plugins/banking/ruleset.toml).
const BANK: &str = "demo-bank";

fn bank_complaint() -> serde_json::Value {
    json!({
        "sector": "banking",
        "channel": "web",
        "received_at": "2026-02-13T10:00:00+08:00",
        "complainant": {"name": "王五", "phone": "13900000000", "address": "北京市朝阳区"},
        "respondent": {"name": "某银行", "address": "北京市西城区", "division_code": "110102"},
        "claim": "撤销不当扣费",
        "facts": "信用卡年费未经同意扣收"
    })
}

#[tokio::test]
async fn a_plugin_decides_through_the_server_and_a_hostile_one_is_contained() {
    let rulesets = bare_rulesets();
    copy_dir(
        &built("banking-insurance-plugin"),
        &rulesets.path().join("banking-insurance-plugin"),
    );
    let server = Server::start_with_ruleset_dir(rulesets);
    let case = server.create_as(BANK, &bank_complaint()).await;
    assert_eq!(case["status"], "accepted", "{case}");
    assert_eq!(case["ruleset"]["id"], "banking-insurance-plugin");
    assert_eq!(case["clocks"]["decision"]["due_at"], "2026-02-28T16:00:00Z");
    let id = case["id"].as_str().unwrap();
    let (_, timeline) = server
        .get_as(BANK, &format!("/v1/cases/{id}/timeline"))
        .await;
    let decision = &timeline["events"][1]["event"];
    assert_eq!(decision["type"], "decision");
    assert_eq!(decision["engine"], redress::rules::wasm::ENGINE_VERSION);

    // A plugin that loops forever: the case goes to manual handling with the reason, and the
    // server answers the next request normally.
    let rulesets = bare_rulesets();
    let package = rulesets.path().join("hostile");
    std::fs::create_dir_all(&package).unwrap();
    let manifest = hostile_package("endless-loop");
    std::fs::write(
        package.join("ruleset.toml"),
        &manifest.files["ruleset.toml"],
    )
    .unwrap();
    std::fs::write(
        package.join("plugin.wasm"),
        &manifest.binaries["plugin.wasm"],
    )
    .unwrap();
    let mut server = Server::start_with_ruleset_dir(rulesets);
    for _ in 0..QUARANTINE_AFTER_FAILURES {
        let case = server.create(&bank_complaint()).await;
        assert_eq!(case["status"], "received");
        let reason = case["manual_handling"]["reason"].as_str().unwrap();
        assert!(reason.contains("ran out of fuel"), "{reason}");
    }
    let (status, _) = server.get("/healthz").await;
    assert_eq!(status, 200);

    // It kept failing: quarantined, visible in the listing, and no longer asked.
    let quarantined = |listed: &serde_json::Value| {
        let item = &listed["items"][0];
        item["state"] == "suspended"
            && item["reason"].as_str().is_some_and(|r| {
                r == "quarantined after 5 failures in a row; the last: stopped at a limit: \
                          the plugin ran out of fuel (an endless loop?)"
            })
    };
    let (_, listed) = server.get("/v1/rulesets").await;
    assert!(quarantined(&listed), "{listed}");
    let case = server.create(&bank_complaint()).await;
    let reason = case["manual_handling"]["reason"].as_str().unwrap();
    assert!(!reason.contains("fuel"), "not asked again: {reason}");

    // Until an operator acts, also across a restart.
    server.restart();
    let (_, listed) = server.get("/v1/rulesets").await;
    assert!(quarantined(&listed), "{listed}");
    let resume = "/v1/rulesets/hostile/0.1.0/resume";
    let response = server
        .client
        .post(server.url(resume))
        .header("x-redress-tenant", "some-bank")
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        403,
        "a tenant cannot resume a built-in ruleset"
    );
    let (status, problem) = server
        .post(
            "/v1/rulesets/hostile/0.1.0/suspend",
            &json!({"reason": " "}),
        )
        .await;
    assert_eq!(status, 422);
    assert_eq!(problem["errors"][0]["pointer"], "/reason");
    let (status, _) = server
        .post("/v1/rulesets/nothing/1.0.0/resume", &json!({}))
        .await;
    assert_eq!(status, 404);
    let (status, resumed) = server.post(resume, &json!({})).await;
    assert_eq!(status, 200, "{resumed}");
    assert_eq!(resumed["state"], "active");
    let case = server.create(&bank_complaint()).await;
    let reason = case["manual_handling"]["reason"].as_str().unwrap();
    assert!(reason.contains("ran out of fuel"), "asked again: {reason}");
}

/// Runs `redress plugin ...`: (exit code, stdout, stderr).
fn plugin_cli(args: &[&std::ffi::OsStr]) -> (i32, String, String) {
    let output = std::process::Command::new(crate::support::BIN)
        .arg("plugin")
        .args(args)
        .output()
        .unwrap();
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

fn keygen(dir: &Path, vendor: &str) -> (PathBuf, PathBuf) {
    let prefix = dir.join(vendor);
    let (code, out, err) = plugin_cli(&[
        "keygen".as_ref(),
        "--vendor".as_ref(),
        vendor.as_ref(),
        "--out".as_ref(),
        prefix.as_os_str(),
    ]);
    assert_eq!(code, 0, "{out}{err}");
    (
        dir.join(format!("{vendor}.secret.toml")),
        dir.join(format!("{vendor}.public.toml")),
    )
}

fn sign(package: &Path, secret: &Path) {
    let (code, out, err) = plugin_cli(&[
        "sign".as_ref(),
        package.as_os_str(),
        "--key".as_ref(),
        secret.as_os_str(),
    ]);
    assert_eq!(code, 0, "{out}{err}");
}

fn verify(package: &Path, public: &Path) -> (i32, String) {
    let (code, out, err) = plugin_cli(&[
        "verify".as_ref(),
        package.as_os_str(),
        "--trusted-keys".as_ref(),
        public.as_os_str(),
    ]);
    (code, format!("{out}{err}"))
}

/// A package directory as the body of `POST /v1/rulesets`.
fn deploy_request(dir: &Path) -> serde_json::Value {
    use base64::Engine as _;
    let package = Package::read_dir(dir).unwrap();
    json!({
        "files": package.files,
        "binaries": package
            .binaries
            .iter()
            .map(|(path, bytes)| (path.clone(), base64::engine::general_purpose::STANDARD.encode(bytes)))
            .collect::<std::collections::BTreeMap<_, _>>(),
    })
}

/// A custom section appended to a component: the plugin still loads and behaves the same, so
/// only the signature can tell that it is not what the vendor shipped.
fn append_custom_section(wasm: &Path) {
    let mut bytes = std::fs::read(wasm).unwrap();
    bytes.extend([0x00, 0x05, 0x04, b'e', b'v', b'i', b'l']);
    std::fs::write(wasm, bytes).unwrap();
}

#[tokio::test]
async fn only_plugins_signed_by_a_trusted_vendor_are_accepted_and_deploy_without_restart() {
    let work = tempfile::tempdir().unwrap();
    let keys = work.path().join("keys");
    let (acme_secret, acme_public) = keygen(&keys, "acme");
    let (mallory_secret, mallory_public) = keygen(&keys, "mallory");
    // A key is never overwritten.
    let (code, _, err) = plugin_cli(&[
        "keygen".as_ref(),
        "--vendor".as_ref(),
        "acme".as_ref(),
        "--out".as_ref(),
        keys.join("acme").as_os_str(),
    ]);
    assert_ne!(code, 0);
    assert!(err.contains("already exists"), "{err}");

    let unsigned = work.path().join("unsigned");
    copy_dir(&built("banking-insurance-plugin"), &unsigned);
    let good = work.path().join("good");
    copy_dir(&unsigned, &good);
    sign(&good, &acme_secret);
    let (code, output) = verify(&good, &acme_public);
    assert_eq!(code, 0, "{output}");
    assert!(output.contains("signed by `acme`"), "{output}");
    let (code, output) = verify(&good, &mallory_public);
    assert_eq!(code, 1, "{output}");
    assert!(
        output.contains("which this server does not trust"),
        "{output}"
    );

    let tampered = work.path().join("tampered");
    copy_dir(&good, &tampered);
    append_custom_section(&tampered.join("banking.wasm"));
    let (code, output) = verify(&tampered, &acme_public);
    assert_eq!(code, 1, "{output}");
    assert!(output.contains("changed after it was signed"), "{output}");

    let by_mallory = work.path().join("by-mallory");
    copy_dir(&unsigned, &by_mallory);
    sign(&by_mallory, &mallory_secret);

    // A server that trusts acme. The unsigned plugin in its plugin directory is refused at
    // start-up; its sector has no ruleset, so the first case goes to manual handling.
    let plugins = work.path().join("plugins");
    copy_dir(&unsigned, &plugins.join("banking-insurance-plugin"));
    let mut server = Server::start_with_args(
        bare_rulesets(),
        [
            "--open-access".as_ref(),
            "--trusted-keys".as_ref(),
            acme_public.as_os_str(),
            "--plugins".as_ref(),
            plugins.as_os_str(),
        ],
    );
    let (_, listed) = server.get_as(BANK, "/v1/rulesets").await;
    assert_eq!(listed["items"], json!([]), "{listed}");
    assert!(server.log_text().contains("is not signed"));
    let before = server.create_as(BANK, &bank_complaint()).await;
    assert!(before["manual_handling"].is_object(), "{before}");

    for (dir, reason) in [
        (&unsigned, "is not signed"),
        (&tampered, "changed after it was signed"),
        (&by_mallory, "which this server does not trust"),
    ] {
        let (status, problem) = server
            .post_as(BANK, "/v1/rulesets", &deploy_request(dir))
            .await;
        assert_eq!(status, 422, "{}: {problem}", dir.display());
        assert_eq!(
            problem["type"], "urn:redress:problem:plugin-signature-refused",
            "{problem}"
        );
        assert!(
            problem["detail"].as_str().unwrap().contains(reason),
            "{problem}"
        );
    }
    let (_, listed) = server.get_as(BANK, "/v1/rulesets").await;
    assert_eq!(
        listed["items"],
        json!([]),
        "a refusal changes nothing: {listed}"
    );

    let (status, deployed) = server
        .post_as(BANK, "/v1/rulesets", &deploy_request(&good))
        .await;
    assert_eq!(status, 201, "{deployed}");
    assert_eq!(deployed["signed_by"]["vendor"], "acme");
    let case = server.create_as(BANK, &bank_complaint()).await;
    assert_eq!(case["ruleset"]["id"], "banking-insurance-plugin", "{case}");
    assert_eq!(case["status"], "accepted");

    // After a restart the stored package is verified again and still decides.
    server.restart();
    let case = server.create_as(BANK, &bank_complaint()).await;
    assert_eq!(case["ruleset"]["id"], "banking-insurance-plugin", "{case}");
}

#[test]
fn compiled_plugins_are_cached_and_only_artifacts_this_host_wrote_are_loaded() {
    use redress::rules::{artifact_cache::ArtifactCache, wasm::WasmEngine};
    use std::sync::atomic::Ordering::Relaxed;
    let work = tempfile::tempdir().unwrap();
    let wasm = std::fs::read(built("banking-insurance-plugin/banking.wasm")).unwrap();
    let engine = WasmEngine::shared().unwrap();
    let load = |cache: &ArtifactCache| {
        let plugin = engine
            .load_cached(&wasm, "banking.wasm", Some(cache))
            .unwrap();
        // Stored once its package is accepted (activated).
        engine.keep_artifact(&plugin, &wasm, cache);
        // Whatever path it took, the plugin runs.
        assert_eq!(plugin.descriptor.id, "banking-insurance-plugin");
        engine.describe(&plugin, "banking").unwrap();
    };
    let stats = |cache: &ArtifactCache| {
        (
            cache.stats.hits.load(Relaxed),
            cache.stats.misses.load(Relaxed),
            cache.stats.refused.load(Relaxed),
        )
    };
    let dir = work.path().join("cache");
    let first = ArtifactCache::open(&dir).unwrap();
    load(&first);
    assert_eq!(stats(&first), (0, 1, 0), "compiled and stored");
    // A restart: a new cache over the same directory loads the stored artifact.
    let restarted = ArtifactCache::open(&dir).unwrap();
    load(&restarted);
    assert_eq!(stats(&restarted), (1, 0, 0));

    let artifact = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "cwasm"))
        .unwrap();
    // An artifact changed on disk is refused, compiled again and replaced.
    let mut bytes = std::fs::read(&artifact).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x01;
    std::fs::write(&artifact, &bytes).unwrap();
    let after_tampering = ArtifactCache::open(&dir).unwrap();
    load(&after_tampering);
    assert_eq!(stats(&after_tampering), (0, 0, 1));
    load(&after_tampering);
    assert_eq!(
        stats(&after_tampering),
        (1, 0, 1),
        "the replacement is trusted"
    );

    // An artifact another host wrote (another key) is refused.
    let other_dir = work.path().join("other");
    let other = ArtifactCache::open(&other_dir).unwrap();
    std::fs::copy(&artifact, other_dir.join(artifact.file_name().unwrap())).unwrap();
    load(&other);
    assert_eq!(stats(&other), (0, 0, 1));

    // A damaged key is an error naming the file, not a silently disabled check.
    std::fs::write(dir.join("host.key"), b"short").unwrap();
    let error = ArtifactCache::open(&dir).unwrap_err().to_string();
    assert!(
        error.contains("host.key") && error.contains("not 32"),
        "{error}"
    );
}

#[tokio::test]
async fn a_tenant_trusts_its_own_vendors_for_its_own_plugins() {
    let work = tempfile::tempdir().unwrap();
    let keys = work.path().join("keys");
    let (acme_secret, acme_public) = keygen(&keys, "acme");
    let (mallory_secret, mallory_public) = keygen(&keys, "mallory");
    let unsigned = work.path().join("unsigned");
    copy_dir(&built("banking-insurance-plugin"), &unsigned);
    let good = work.path().join("good");
    copy_dir(&unsigned, &good);
    sign(&good, &acme_secret);
    let by_mallory = work.path().join("by-mallory");
    copy_dir(&unsigned, &by_mallory);
    sign(&by_mallory, &mallory_secret);
    let keys_of = |path: &Path| json!({"toml": std::fs::read_to_string(path).unwrap()});

    // No server-wide keys; the bank trusts acme, another tenant trusts mallory.
    let mut server = Server::start_with_ruleset_dir(bare_rulesets());
    let put = |tenant: &'static str, body: serde_json::Value| {
        server
            .client
            .put(server.url("/v1/plugin-keys"))
            .header("x-redress-tenant", tenant)
            .json(&body)
            .send()
    };
    assert_eq!(
        put(BANK, keys_of(&acme_public)).await.unwrap().status(),
        200
    );
    assert_eq!(
        put("other-bank", keys_of(&mallory_public))
            .await
            .unwrap()
            .status(),
        200
    );
    let (status, problem) = crate::support::read(
        put(BANK, json!({"toml": "[[key]]\nvendor = 1\n"}))
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 422);
    assert_eq!(problem["errors"][0]["pointer"], "/toml");
    let (_, stored) = server.get_as(BANK, "/v1/plugin-keys").await;
    assert!(
        stored["toml"]
            .as_str()
            .unwrap()
            .contains("vendor = \"acme\""),
        "the broken set changed nothing"
    );

    for (dir, reason) in [
        (&unsigned, "is not signed"),
        (&by_mallory, "which this server does not trust"),
    ] {
        let (status, problem) = server
            .post_as(BANK, "/v1/rulesets", &deploy_request(dir))
            .await;
        assert_eq!(status, 422, "{problem}");
        assert!(
            problem["detail"].as_str().unwrap().contains(reason),
            "{problem}"
        );
    }
    let (status, deployed) = server
        .post_as(BANK, "/v1/rulesets", &deploy_request(&good))
        .await;
    assert_eq!(status, 201, "{deployed}");
    assert_eq!(deployed["signed_by"]["vendor"], "acme");

    // After a restart the tenant's keys are read before its packages are verified again.
    server.restart();
    let case = server.create_as(BANK, &bank_complaint()).await;
    assert_eq!(case["ruleset"]["id"], "banking-insurance-plugin", "{case}");
}

/// The first fixture case of the banking ruleset, as it stands before its decision.
fn a_bank_case(calendars: &CalendarSet) -> (redress_domain::Case, jiff::Timestamp) {
    let engine = RhaiEngine::new(Limits::default());
    let package = Package::read_dir(&repo_root().join("rulesets/banking-insurance")).unwrap();
    let (banking, fixtures) = LoadedRuleset::compile(&engine, &package).unwrap();
    let fixture = fixtures.iter().min_by_key(|f| f.name.clone()).unwrap();
    let case = fixture.evaluate(&banking, calendars).unwrap().case_before;
    (case, fixture.now)
}

/// Finding 1 of the sandbox review: the logging import copied and checked a whole 16 MiB
/// message before its cap, and that work cost no fuel: one decision ran 110 s.
#[test]
fn fuel_bounds_the_host_work_of_a_plugin_logging_16_mib_messages() {
    let calendars = calendars();
    let (case, now) = a_bank_case(&calendars);
    let engine = RhaiEngine::new(Limits::default());
    let (plugin, _) = LoadedRuleset::compile(&engine, &hostile_package("log-bomb")).unwrap();
    let ctx = RuleContext {
        now,
        calendars: &calendars,
    };
    let started = std::time::Instant::now();
    let error = plugin
        .decide(&Trigger::CaseReceived, &case, &ctx)
        .unwrap_err()
        .to_string();
    let took = started.elapsed();
    eprintln!("the 16 MiB log bomb stopped after {took:?}: {error}");
    assert!(error.contains("ran out of fuel"), "{error}");
    assert!(took < std::time::Duration::from_secs(2), "took {took:?}");
}

/// A calendar call (interface 1.1.0) costs fuel per call and per day the host classifies, so a
/// plugin asking for ten-year counts in a loop runs out of fuel, well within the time bound.
#[test]
fn fuel_bounds_the_host_work_of_a_plugin_asking_the_calendar_in_a_loop() {
    let calendars = calendars();
    let (case, now) = a_bank_case(&calendars);
    let engine = RhaiEngine::new(Limits::default());
    let (plugin, _) =
        LoadedRuleset::compile(&engine, &hostile_package("endless-calendar")).unwrap();
    let ctx = RuleContext {
        now,
        calendars: &calendars,
    };
    let started = std::time::Instant::now();
    let error = plugin
        .decide(&Trigger::CaseReceived, &case, &ctx)
        .unwrap_err()
        .to_string();
    let took = started.elapsed();
    eprintln!("the endless calendar loop stopped after {took:?}: {error}");
    assert!(error.contains("ran out of fuel"), "{error}");
    assert!(took < std::time::Duration::from_secs(2), "took {took:?}");
}

/// Finding 1 of the sandbox review: fuel is no time bound; every plugin call (instantiation,
/// `describe`, `decide`) also has a wall-clock one.
#[test]
fn every_plugin_call_has_a_wall_clock_bound() {
    use redress::rules::wasm::{PluginSettings, WasmEngine, WasmLimits};
    let calendars = calendars();
    let (case, now) = a_bank_case(&calendars);
    // Fuel enough for hours: only the clock can stop the loop.
    let engine = WasmEngine::new(WasmLimits {
        fuel: u64::MAX / 4,
        timeout: std::time::Duration::from_millis(300),
        ..WasmLimits::default()
    })
    .unwrap();
    let package = hostile_package("endless-loop");
    let plugin = engine
        .load(&package.binaries["plugin.wasm"], "endless-loop")
        .unwrap();
    let (loaded, _) =
        LoadedRuleset::compile(&RhaiEngine::new(Limits::default()), &package).unwrap();
    let ctx = RuleContext {
        now,
        calendars: &calendars,
    };
    let started = std::time::Instant::now();
    let error = engine
        .decide(
            &plugin,
            &loaded.manifest,
            &PluginSettings::of(&loaded.manifest),
            &Trigger::CaseReceived,
            &case,
            &ctx,
        )
        .unwrap_err()
        .to_string();
    let took = started.elapsed();
    eprintln!("the endless loop stopped after {took:?}: {error}");
    assert!(
        error.contains("the plugin took longer than 300 ms"),
        "{error}"
    );
    assert!(took < std::time::Duration::from_secs(2), "took {took:?}");

    // `describe`, which runs at load (and at every restart), is bounded alike.
    let started = std::time::Instant::now();
    let error = engine
        .load(
            &hostile_package("slow-describe").binaries["plugin.wasm"],
            "slow-describe",
        )
        .unwrap_err()
        .to_string();
    let took = started.elapsed();
    eprintln!("the endless describe stopped after {took:?}: {error}");
    assert!(
        error.contains("describe failed") && error.contains("took longer than 300 ms"),
        "{error}"
    );
    assert!(took < std::time::Duration::from_secs(2), "took {took:?}");
}

/// Finding 8 of the sandbox review: a plugin's refusal (which may quote the case) ended up in
/// the quarantine reason that `GET /v1/rulesets` shows to a compliance admin.
#[test]
fn the_quarantine_reason_names_the_failure_kind_not_the_plugins_words() {
    use redress::rules::{Registry, RulesetState};
    let calendars = calendars();
    let (case, now) = a_bank_case(&calendars);
    let registry = Registry::new(RhaiEngine::new(Limits::default()));
    let plugin = registry
        .install(&hostile_package("declines"), &calendars)
        .unwrap();
    let ctx = RuleContext {
        now,
        calendars: &calendars,
    };
    for _ in 0..QUARANTINE_AFTER_FAILURES {
        let error = plugin
            .decide(&Trigger::CaseReceived, &case, &ctx)
            .unwrap_err();
        // The case's own failure keeps the plugin's words.
        assert!(error.to_string().contains("this plugin never decides"));
    }
    let RulesetState::Suspended { reason } = plugin.state() else {
        panic!("not quarantined: {:?}", plugin.state());
    };
    assert_eq!(
        reason,
        "quarantined after 5 failures in a row; the last: the plugin declined to decide \
         (the rules do not cover this case)"
    );
}

/// Finding 5 of the sandbox review: with trusted keys, an unsigned upload was compiled and run
/// (`describe`) before it was refused, and each refused upload left its compiled code in
/// `<data>/plugin-cache`.
#[tokio::test]
async fn signatures_are_verified_before_plugin_code_is_compiled_and_refusals_leave_nothing() {
    let work = tempfile::tempdir().unwrap();
    let keys = work.path().join("keys");
    let (acme_secret, acme_public) = keygen(&keys, "acme");
    let unsigned = work.path().join("unsigned");
    copy_dir(&built("banking-insurance-plugin"), &unsigned);
    // Not even WebAssembly: refused for its missing signature, never compiled.
    let not_code = work.path().join("not-code");
    copy_dir(&unsigned, &not_code);
    std::fs::write(not_code.join("banking.wasm"), b"not a component").unwrap();
    let good = work.path().join("good");
    copy_dir(&unsigned, &good);
    sign(&good, &acme_secret);

    let mut server = Server::start_with_args(
        bare_rulesets(),
        [
            "--open-access".as_ref(),
            "--trusted-keys".as_ref(),
            acme_public.as_os_str(),
        ],
    );
    let cache = server.data.join("plugin-cache");
    let artifacts = || {
        std::fs::read_dir(&cache)
            .map(|entries| {
                entries
                    .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                    .filter(|name| name.contains(".cwasm"))
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default()
    };
    for dir in [&not_code, &unsigned, &unsigned, &unsigned] {
        let (status, problem) = server
            .post_as(BANK, "/v1/rulesets", &deploy_request(dir))
            .await;
        assert_eq!(status, 422, "{problem}");
        assert_eq!(
            problem["type"], "urn:redress:problem:plugin-signature-refused",
            "{problem}"
        );
        assert!(
            problem["detail"]
                .as_str()
                .unwrap()
                .contains("is not signed"),
            "{problem}"
        );
    }
    // Signed, compiled and run, then refused: the package is for another tenant.
    let (status, problem) = server
        .post_as("other-bank", "/v1/rulesets", &deploy_request(&good))
        .await;
    assert_eq!(status, 403, "{problem}");
    assert_eq!(
        artifacts(),
        Vec::<String>::new(),
        "refusals leave no artifact"
    );

    let (status, deployed) = server
        .post_as(BANK, "/v1/rulesets", &deploy_request(&good))
        .await;
    assert_eq!(status, 201, "{deployed}");
    let kept = artifacts();
    assert_eq!(kept.len(), 1, "{kept:?}");

    // An artifact no installed package uses is deleted at start-up; the used one stays.
    let orphan = format!("{}-0123456789abcdef.cwasm", "0".repeat(64));
    std::fs::write(cache.join(&orphan), b"stale").unwrap();
    server.restart();
    assert_eq!(artifacts(), kept);
    let case = server.create_as(BANK, &bank_complaint()).await;
    assert_eq!(case["ruleset"]["id"], "banking-insurance-plugin", "{case}");
}

/// Finding 7 of the sandbox review: the instance pool was shared by all tenants, so one
/// tenant's slow plugin could hold every instance and send another tenant's plugin cases to
/// manual handling. Here a tenant's share is 2: its two slow decisions hold it, its third is
/// refused for capacity (not the plugin's fault), and another tenant is still decided.
#[test]
fn a_tenant_saturating_its_share_of_the_pool_does_not_starve_another() {
    use redress::rules::{
        RuleError,
        wasm::{PluginSettings, WasmEngine, WasmLimits},
    };
    use std::time::Duration;
    let calendars = calendars();
    let (case, now) = a_bank_case(&calendars);
    let engine = WasmEngine::new(WasmLimits {
        fuel: u64::MAX / 4,
        timeout: Duration::from_millis(1_500),
        instances_per_tenant: 2,
        ..WasmLimits::default()
    })
    .unwrap();
    let rhai = RhaiEngine::new(Limits::default());
    let slow_package = hostile_package("endless-loop");
    let (slow_ruleset, _) = LoadedRuleset::compile(&rhai, &slow_package).unwrap();
    let slow = engine
        .load(&slow_package.binaries["plugin.wasm"], "slow")
        .unwrap();
    let banking_package = Package::read_dir(&built("banking-insurance-plugin")).unwrap();
    let (banking_ruleset, _) = LoadedRuleset::compile(&rhai, &banking_package).unwrap();
    let banking = engine
        .load(
            &banking_package.binaries[&banking_ruleset.manifest.entry],
            "banking",
        )
        .unwrap();
    let mut greedy = case.clone();
    greedy.tenant = redress_domain::TenantId::from_static("greedy");
    let mut other = case;
    other.tenant = redress_domain::TenantId::from_static("other");
    let ctx = RuleContext {
        now,
        calendars: &calendars,
    };
    let decide = |plugin, ruleset: &LoadedRuleset, case| {
        engine.decide(
            plugin,
            &ruleset.manifest,
            &PluginSettings::of(&ruleset.manifest),
            &Trigger::CaseReceived,
            case,
            &ctx,
        )
    };
    std::thread::scope(|scope| {
        let slow_calls: Vec<_> = (0..2)
            .map(|_| scope.spawn(|| decide(&slow, &slow_ruleset, &greedy)))
            .collect();
        std::thread::sleep(Duration::from_millis(300));
        let refused = decide(&banking, &banking_ruleset, &greedy).unwrap_err();
        assert!(
            matches!(&refused, RuleError::Capacity(m) if m.contains("`greedy` already holds its share")),
            "{refused}"
        );
        decide(&banking, &banking_ruleset, &other)
            .unwrap_or_else(|e| panic!("the other tenant is decided: {e}"));
        for call in slow_calls {
            let error = call.join().unwrap().unwrap_err().to_string();
            assert!(error.contains("took longer than 1500 ms"), "{error}");
        }
    });
}

/// A package holding the calendar probe, a plugin of interface 1.1.0 (plugins/calendar-probe).
fn calendar_probe_package() -> Package {
    let mut package = Package {
        origin: "calendar-probe".into(),
        files: Default::default(),
        binaries: Default::default(),
    };
    package.files.insert(
        "ruleset.toml".into(),
        "id = \"calendar-probe\"\nversion = \"0.1.0\"\nname = \"Calendar probe\"\n\
         sector = \"banking\"\neffective_from = 2020-01-01\ncalendar = \"cn-mainland\"\n\
         engine = \"wasm\"\nentry = \"plugin.wasm\"\n"
            .into(),
    );
    package.binaries.insert(
        "plugin.wasm".into(),
        std::fs::read(built("calendar-probe.wasm")).unwrap(),
    );
    package
}

/// The three interface versions side by side: a 1.1.0 plugin asks the host's calendar (the set
/// in force for the decision, with provisional years marked and every failure an error value
/// it handles); the banking plugin, built for 1.2.0 with the same SDK, decides like the Rhai
/// ruleset; the hostile plugins, built for 1.0.0, still load as 1.0.0 (their decisions are
/// tested above).
#[test]
fn a_1_1_0_plugin_asks_the_calendar_beside_1_2_0_and_1_0_0_plugins() {
    use redress::rules::wasm::WasmEngine;
    let calendars = calendars();
    let (case, now) = a_bank_case(&calendars);
    let engine = RhaiEngine::new(Limits::default());
    let wasm = WasmEngine::shared().unwrap();

    let probe_package = calendar_probe_package();
    let probe = wasm
        .load(&probe_package.binaries["plugin.wasm"], "calendar-probe")
        .unwrap();
    assert_eq!(probe.descriptor.interface_version, "1.1.0");
    let banking_package = Package::read_dir(&built("banking-insurance-plugin")).unwrap();
    let banking = wasm
        .load(&banking_package.binaries["banking.wasm"], "banking")
        .unwrap();
    assert_eq!(banking.descriptor.interface_version, "1.2.0");
    let hostile = wasm
        .load(
            &hostile_package("declines").binaries["plugin.wasm"],
            "declines",
        )
        .unwrap();
    assert_eq!(hostile.descriptor.interface_version, "1.0.0");

    let (probe, _) = LoadedRuleset::compile(&engine, &probe_package).unwrap();
    let ctx = RuleContext {
        now,
        calendars: &calendars,
    };
    let decision = probe.decide(&Trigger::CaseReceived, &case, &ctx).unwrap();
    let received = case
        .received_at
        .to_zoned(jiff::tz::TimeZone::get("Asia/Shanghai").unwrap())
        .date();
    let cn = calendars.get("cn-mainland").unwrap();
    let seven = redress_calendar::add_working_days(cn, received, 7).unwrap();
    let seventh = format!("add_working_days({received}, 7) = {}", seven.date);
    let expected = [
        "day(2026-10-01) = holiday working=false provisional=false (holiday: 国庆节)",
        "day(2026-10-10) = make_up_workday working=true provisional=false (make-up working day (调休上班) for 国庆节)",
        "cn-financial day(2026-10-10) = override working=false provisional=false (rest day by override: exchanges closed on make-up weekend day (otherwise make-up working day (调休上班) for 国庆节))",
        "day(2027-10-01) = statutory_holiday working=false provisional=true (statutory holiday: 国庆节 (全国年节及纪念日放假办法 art. 2 (国务院令第795号); provisional, no published schedule))",
        "next_working_day(2026-09-30) = 2026-10-08",
        &seventh,
        "add_calendar_days(2026-09-01, 30, roll) = 2026-10-08",
        "add_calendar_days(2026-09-01, 30, exact) = 2026-10-01",
        "add_working_days(2026-12-28, 5) = 2027-01-05 provisional [2027]",
        "firm add_working_days(2026-12-28, 5) = error not-covered: the answer depends on 2027, which has no published schedule (provisional)",
        "unknown calendar = error unknown-calendar: unknown calendar `cn-atlantis` (in force: cn-financial, cn-mainland)",
        "bad date = error bad-date: `2026-02-30` is not a date (YYYY-MM-DD)",
        "too many days = error out-of-range: n = 4000 is out of range (0 to 3660 days)",
    ];
    assert_eq!(decision.explanation, expected);

    // The answers come from the calendar set of the decision, not one fixed at load.
    let weekends_only = CalendarSet::from_sources([(
        "cn-mainland.toml",
        "id = \"cn-mainland\"\nname = \"weekends only\"\ntime_zone = \"Asia/Shanghai\"\n\
         working_weekdays = [\"mon\", \"tue\", \"wed\", \"thu\", \"fri\"]\n\
         [[years]]\nyear = 2026\nsource = \"test\"\n",
    )])
    .unwrap();
    let other = RuleContext {
        now,
        calendars: &weekends_only,
    };
    let decision = probe.decide(&Trigger::CaseReceived, &case, &other).unwrap();
    assert!(
        decision
            .explanation
            .contains(&"next_working_day(2026-09-30) = 2026-10-01".to_owned()),
        "{:#?}",
        decision.explanation
    );

    // 1.2.0: the banking plugin decides this case as the Rhai ruleset does.
    let (banking, _) = LoadedRuleset::compile(&engine, &banking_package).unwrap();
    let (rhai, _) = LoadedRuleset::compile(
        &engine,
        &Package::read_dir(&repo_root().join("rulesets/banking-insurance")).unwrap(),
    )
    .unwrap();
    let by_plugin = banking.decide(&Trigger::CaseReceived, &case, &ctx).unwrap();
    let by_rhai = rhai.decide(&Trigger::CaseReceived, &case, &ctx).unwrap();
    assert!(!by_plugin.actions.is_empty());
    assert_eq!(by_plugin, by_rhai);
}

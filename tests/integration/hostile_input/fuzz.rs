//! Bounded-time fuzzing of every parser that reads what a client or an operator hands the server:
//! case intake and handler / clock actions (the same parsing and validation as the HTTP
//! handlers), ruleset manifests, fixture cases, calendar files, routing tables, trusted-key
//! files and plugin signatures.
//!
//! Each target starts from the valid documents in the repository and mutates them (byte flips,
//! truncation, spliced tokens, duplicated lines, huge numbers, deep nesting, invalid UTF-8),
//! plus arbitrary bytes. Properties: no panic, an answer within `TIME_LIMIT`, and every
//! rejection says where (a line, a field or a JSON pointer) and what.
//!
//! `REDRESS_FUZZ_CASES=N` runs N cases per target instead of the CI default.

use std::{
    path::Path,
    sync::mpsc,
    time::{Duration, Instant},
};

use proptest::{
    prelude::*,
    test_runner::{Config, TestCaseError, TestError, TestRunner},
};
use redress::{
    routing::RoutingTable,
    rules::{
        fixtures::Fixture,
        manifest::Manifest,
        registry::Package,
        signing::{Expected, TrustStore, VendorKey},
    },
    server::{extract::parse_json, problem::ApiError},
};
use redress_calendar::CalendarSet;
use redress_domain::{
    Actor, Case, CaseId, CaseIntake, HandlerAction, TrackingCode, clock::ClockAction,
};

use crate::support::{complaint, repo_root};

/// Cases per target in CI: the whole suite stays well under 30 s in a debug build on 2 cores.
const DEFAULT_CASES: u32 = 3_000;

/// Far above what any of these inputs needs; a parser that takes longer is hanging.
const TIME_LIMIT: Duration = Duration::from_secs(5);

fn cases() -> u32 {
    std::env::var("REDRESS_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(DEFAULT_CASES)
}

/// Fragments that parsers tend to trip over, spliced into valid documents.
const TOKENS: &[&[u8]] = &[
    b"\"",
    b"'",
    b"'''",
    b"\"\"\"",
    b"[",
    b"]",
    b"{",
    b"}",
    b"[[",
    b"]]",
    b"=",
    b",",
    b":",
    b"\n",
    b"\r\n",
    b"#",
    b"\\",
    b"\\u0000",
    b"\\ud800",
    b"\0",
    b"\xff\xfe",
    b"\xc3",
    b"\xe4\xb8",
    b"-",
    b"0",
    b"-0",
    b"1e999999",
    b"-1e999999",
    b"99999999999999999999999999999999",
    b"18446744073709551616",
    b"-9223372036854775809",
    b"4294967296",
    b"nan",
    b"inf",
    b"-inf",
    b"true",
    b"null",
    b"0x7fffffffffffffff",
    b"2026-02-30",
    b"9999-12-31",
    b"-009999-01-01",
    b"2026-02-13T10:00:00+99:00",
    b"24:00:00",
    b"&a",
    b"*a",
    b"!!binary",
    b"<<: *a",
    b"---",
    b"...",
    b"~",
    b"../../etc/passwd",
    b"/etc/passwd",
    b"\xe2\x80\xae",
    b"\xf0\x9f\x98\x80",
    b"[x]\n",
    b"[[office]]\n",
    b"[[key]]\n",
    b"[package]\n",
    b"[signature]\n",
    b"type = \"close\"",
    b"\"type\": \"start\"",
];

#[derive(Debug, Clone)]
enum Mutation {
    Flip { at: usize, byte: u8 },
    Truncate { at: usize },
    Insert { at: usize, token: usize },
    DuplicateLine { line: usize },
    Delete { at: usize, len: usize },
    Splice { from: usize, len: usize, at: usize },
    Nest { at: usize, depth: usize, open: u8 },
    Repeat { at: usize, len: usize, times: usize },
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        3 => (any::<usize>(), any::<u8>()).prop_map(|(at, byte)| Mutation::Flip { at, byte }),
        1 => any::<usize>().prop_map(|at| Mutation::Truncate { at }),
        4 => (any::<usize>(), 0..TOKENS.len()).prop_map(|(at, token)| Mutation::Insert { at, token }),
        2 => any::<usize>().prop_map(|line| Mutation::DuplicateLine { line }),
        1 => (any::<usize>(), 1usize..64).prop_map(|(at, len)| Mutation::Delete { at, len }),
        1 => (any::<usize>(), 1usize..256, any::<usize>())
            .prop_map(|(from, len, at)| Mutation::Splice { from, len, at }),
        1 => (any::<usize>(), 1usize..20_000, prop::sample::select(b"[{(\"'<-*".to_vec()))
            .prop_map(|(at, depth, open)| Mutation::Nest { at, depth, open }),
        1 => (any::<usize>(), 1usize..32, 1usize..2_000)
            .prop_map(|(at, len, times)| Mutation::Repeat { at, len, times }),
    ]
}

fn apply(seed: &[u8], mutations: &[Mutation]) -> Vec<u8> {
    let mut bytes = seed.to_vec();
    for mutation in mutations {
        let n = bytes.len();
        let pos = |at: usize| at % (n + 1);
        match *mutation {
            Mutation::Flip { at, byte } => {
                if n > 0 {
                    bytes[at % n] = byte;
                }
            }
            Mutation::Truncate { at } => bytes.truncate(pos(at)),
            Mutation::Insert { at, token } => {
                let at = pos(at);
                bytes.splice(at..at, TOKENS[token].iter().copied());
            }
            Mutation::DuplicateLine { line } => {
                let lines: Vec<&[u8]> = bytes.split_inclusive(|b| *b == b'\n').collect();
                if !lines.is_empty() {
                    let k = line % lines.len();
                    let mut out = Vec::with_capacity(n + lines[k].len());
                    for (i, l) in lines.iter().enumerate() {
                        out.extend_from_slice(l);
                        if i == k {
                            out.extend_from_slice(l);
                        }
                    }
                    bytes = out;
                }
            }
            Mutation::Delete { at, len } => {
                let at = pos(at);
                bytes.drain(at..(at + len).min(n));
            }
            Mutation::Splice { from, len, at } => {
                let from = pos(from);
                let piece = bytes[from..(from + len).min(n)].to_vec();
                let at = pos(at);
                bytes.splice(at..at, piece);
            }
            Mutation::Nest { at, depth, open } => {
                let at = pos(at);
                bytes.splice(at..at, std::iter::repeat_n(open, depth));
            }
            Mutation::Repeat { at, len, times } => {
                let at = pos(at);
                let piece = bytes[at..(at + len).min(n)].to_vec();
                let repeated: Vec<u8> = (0..times).flat_map(|_| piece.iter().copied()).collect();
                bytes.splice(at..at, repeated);
            }
        }
    }
    bytes
}

/// Mutated seeds most of the time, arbitrary bytes and token soup the rest.
fn input(seeds: Vec<Vec<u8>>) -> impl Strategy<Value = Vec<u8>> {
    assert!(!seeds.is_empty());
    let count = seeds.len();
    prop_oneof![
        12 => (0..count, prop::collection::vec(mutation(), 1..6))
            .prop_map(move |(i, m)| apply(&seeds[i], &m)),
        1 => prop::collection::vec(any::<u8>(), 0..2_048),
        1 => prop::collection::vec(0..TOKENS.len(), 0..200)
            .prop_map(|ts| ts.into_iter().flat_map(|t| TOKENS[t].iter().copied()).collect()),
    ]
}

/// Runs `check` on its own thread with the default 2 MiB stack (what a server worker has), so
/// that a hang is reported as one instead of stalling the suite, and a panic is a failure.
fn bounded(input: Vec<u8>, check: fn(&[u8]) -> Result<(), String>) -> Result<(), TestCaseError> {
    let (tx, rx) = mpsc::channel();
    let started = Instant::now();
    std::thread::Builder::new()
        .stack_size(2 * 1024 * 1024)
        .spawn(move || {
            let outcome = std::panic::catch_unwind(|| check(&input));
            let _ = tx.send(outcome);
        })
        .map_err(|e| TestCaseError::fail(format!("cannot spawn: {e}")))?;
    match rx.recv_timeout(TIME_LIMIT) {
        Ok(Ok(Ok(()))) => Ok(()),
        Ok(Ok(Err(message))) => Err(TestCaseError::fail(message)),
        Ok(Err(panic)) => {
            let text = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                .unwrap_or_default();
            Err(TestCaseError::fail(format!("panicked: {text}")))
        }
        Err(_) => Err(TestCaseError::fail(format!(
            "no answer within {TIME_LIMIT:?} (started {:?} ago)",
            started.elapsed()
        ))),
    }
}

fn fuzz(target: &str, seeds: Vec<Vec<u8>>, check: fn(&[u8]) -> Result<(), String>) {
    let started = Instant::now();
    let mut runner = TestRunner::new(Config {
        cases: cases(),
        failure_persistence: None,
        // Shrinking re-runs the parser many times; a few hundred steps find a small input.
        max_shrink_iters: 512,
        ..Config::default()
    });
    let result = runner.run(&input(seeds), |bytes| bounded(bytes, check));
    match result {
        Ok(()) => eprintln!(
            "fuzz {target}: {} cases in {:?}",
            cases(),
            started.elapsed()
        ),
        Err(TestError::Fail(reason, bytes)) => panic!(
            "fuzz {target}: {reason}\ninput ({} bytes): {:?}",
            bytes.len(),
            String::from_utf8_lossy(&bytes[..bytes.len().min(4_000)])
        ),
        Err(e) => panic!("fuzz {target}: {e}"),
    }
}

fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The files of a repository folder with this extension, in name order.
fn files(dir: &str, extension: &str) -> Vec<std::path::PathBuf> {
    let mut found: Vec<_> = std::fs::read_dir(repo_root().join(dir))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == extension))
        .collect();
    found.sort();
    found
}

fn ruleset_dirs() -> Vec<std::path::PathBuf> {
    let mut dirs: Vec<_> = std::fs::read_dir(repo_root().join("rulesets"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("ruleset.toml").is_file())
        .collect();
    dirs.sort();
    dirs
}

fn fixture_paths() -> Vec<std::path::PathBuf> {
    ruleset_dirs()
        .into_iter()
        .filter(|d| d.join("cases").is_dir())
        .flat_map(|d| {
            files(
                &format!(
                    "rulesets/{}/cases",
                    d.file_name().unwrap().to_string_lossy()
                ),
                "yaml",
            )
        })
        .collect()
}

/// Errors about the document as a whole, which no line or field could locate better. toml
/// 0.9 reports keys dotted 80 levels deep without a position.
const WHOLE_DOCUMENT: &[&str] = &[
    ": recursion limit",
    "more than one document is not supported",
];

/// Whether a line-oriented format's error says where: `origin:LINE`, or a quoted field name.
fn names_a_place(message: &str, origin: &str) -> bool {
    if WHOLE_DOCUMENT.iter().any(|m| message.ends_with(m)) {
        return true;
    }
    let line = message
        .find(&format!("{origin}:"))
        .map(|i| &message[i + origin.len() + 1..])
        .is_some_and(|rest| rest.starts_with(|c: char| c.is_ascii_digit()));
    line || message.contains('`') || message.contains("[[")
}

fn clear(message: &str, origin: &str) -> Result<(), String> {
    if !message.contains(origin) {
        return Err(format!("the error does not name `{origin}`: {message}"));
    }
    let what = message.replacen(origin, "", 1);
    if what
        .trim_matches(|c: char| c == ':' || c.is_whitespace() || c.is_ascii_digit())
        .is_empty()
    {
        return Err(format!("the error says nothing: {message:?}"));
    }
    if !names_a_place(message, origin) {
        return Err(format!("the error names no line or field: {message}"));
    }
    Ok(())
}

/// An HTTP rejection: a detail, and for 422 a JSON pointer to each field.
fn clear_problem(error: &ApiError) -> Result<(), String> {
    let problem = &error.0;
    if problem.detail.trim().is_empty() {
        return Err(format!("{} without a detail", problem.status));
    }
    if problem.status == 422 && problem.errors.is_empty() {
        return Err(format!("422 names no field: {}", problem.detail));
    }
    for field in &problem.errors {
        if !field.pointer.starts_with('/') || field.detail.trim().is_empty() {
            return Err(format!(
                "unclear field error {:?}: {}",
                field.pointer, field.detail
            ));
        }
    }
    Ok(())
}

fn clear_validation(errors: &redress_domain::ValidationErrors) -> Result<(), String> {
    if errors.0.is_empty() {
        return Err("refused without naming a field".into());
    }
    for e in &errors.0 {
        if !e.pointer.starts_with('/') || e.detail.trim().is_empty() {
            return Err(format!(
                "unclear validation error {:?}: {}",
                e.pointer, e.detail
            ));
        }
    }
    Ok(())
}

fn now() -> jiff::Timestamp {
    "2026-03-01T02:00:00Z".parse().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

// ---------------------------------------------------------------------------------------------
// Case intake and actions

fn intake_seeds() -> Vec<Vec<u8>> {
    let mut seeds = vec![serde_json::to_vec_pretty(&complaint()).unwrap()];
    for path in fixture_paths().into_iter().take(20) {
        let text = String::from_utf8(read(&path)).unwrap();
        let fixture: serde_json::Value = redress::yaml::from_str(&text, "fixture").unwrap();
        if let Some(intake) = fixture.pointer("/case/intake") {
            seeds.push(serde_json::to_vec(intake).unwrap());
        }
    }
    seeds
}

fn check_intake(bytes: &[u8]) -> Result<(), String> {
    let intake: CaseIntake = match parse_json(bytes) {
        Ok(intake) => intake,
        Err(e) => return clear_problem(&e),
    };
    if let Err(errors) = intake.validate(now()) {
        return clear_validation(&errors);
    }
    // An intake that validates registers, and its history replays to the same case.
    let (case, record) = Case::register(
        CaseId::from_parts(1, 1),
        TrackingCode::from_random(1),
        redress_domain::TenantId::default_tenant(),
        intake,
        Actor::system(),
        now(),
    )
    .map_err(|e| format!("a valid intake does not register: {e}"))?;
    let replayed = Case::replay(&[record]).map_err(|e| format!("replay: {e}"))?;
    if replayed != case {
        return Err("replay differs from the registered case".into());
    }
    Ok(())
}

#[test]
fn fuzz_case_intake_json() {
    fuzz("case intake", intake_seeds(), check_intake);
}

fn registered() -> Case {
    let intake: CaseIntake = serde_json::from_value(complaint()).unwrap();
    Case::register(
        CaseId::from_parts(1, 1),
        TrackingCode::from_random(1),
        redress_domain::TenantId::default_tenant(),
        intake,
        Actor::system(),
        now(),
    )
    .unwrap()
    .0
}

fn action_seeds() -> Vec<Vec<u8>> {
    [
        r#"{"type": "accept"}"#,
        r#"{"type": "assign", "assignee": "li.si"}"#,
        r#"{"type": "start_mediation"}"#,
        r#"{"type": "resolve", "outcome": "商家同意退货退款"}"#,
        r#"{"type": "close"}"#,
        r#"{"type": "note", "text": "called the complainant"}"#,
        r#"{"type": "reject", "reason": "missing materials", "ground": "missing_materials"}"#,
        r#"{"type": "refer_up", "to_office": "33-msa", "reason": "重大案件"}"#,
        r#"{"type": "return_to_intake", "reason": "不属本局管辖"}"#,
        r#"{"type": "take_over", "office": "33-msa", "reason": "省局提级办理"}"#,
        r#"{"type": "transfer", "to": "33-msa", "reason": "x", "supervisor_approved": false}"#,
    ]
    .into_iter()
    .map(|s| s.as_bytes().to_vec())
    .collect()
}

fn check_action(bytes: &[u8]) -> Result<(), String> {
    let action: HandlerAction = match parse_json(bytes) {
        Ok(action) => action,
        Err(e) => return clear_problem(&e),
    };
    if let Err(errors) = action.validate() {
        return clear_validation(&errors);
    }
    let mut case = registered();
    // Whatever the lifecycle says, an event it admits must apply.
    if let Ok(record) = case.next_event(action, Actor::api("fuzz"), now()) {
        case.apply(&record)
            .map_err(|e| format!("an admitted action does not apply: {e}"))?;
    }
    Ok(())
}

#[test]
fn fuzz_handler_actions_json() {
    fuzz("handler action", action_seeds(), check_action);
}

fn clock_seeds() -> Vec<Vec<u8>> {
    [
        r#"{"type": "start", "starts_at": "2026-02-13T10:00:00+08:00", "clock": {"name": "acceptance", "amount": 7, "unit": "working_days", "calendar": "cn-mainland", "warn_before": {"amount": 2, "unit": "working_days"}, "article": "art. 14", "escalation": ["supervisor", "department_head"]}}"#,
        r#"{"type": "start", "clock": {"name": "handling", "amount": 60, "unit": "calendar_days", "calendar": "cn-financial"}}"#,
        r#"{"type": "start", "clock": {"name": "h", "amount": 48, "unit": "hours", "calendar": "cn-mainland"}}"#,
        r#"{"type": "pause", "name": "acceptance", "reason": "检测"}"#,
        r#"{"type": "resume", "name": "acceptance"}"#,
        r#"{"type": "extend", "name": "acceptance", "amount": 5, "reason": "complex"}"#,
        r#"{"type": "stop", "name": "acceptance", "reason": "done"}"#,
    ]
    .into_iter()
    .map(|s| s.as_bytes().to_vec())
    .collect()
}

fn repo_calendars() -> &'static CalendarSet {
    static SET: std::sync::OnceLock<CalendarSet> = std::sync::OnceLock::new();
    SET.get_or_init(|| CalendarSet::load_dir(repo_root().join("rulesets/calendars")).unwrap())
}

fn check_clock_action(bytes: &[u8]) -> Result<(), String> {
    let action: ClockAction = match parse_json(bytes) {
        Ok(action) => action,
        Err(e) => return clear_problem(&e),
    };
    if let Err(errors) = action.validate() {
        return clear_validation(&errors);
    }
    // Deadline arithmetic with hostile amounts, dates and calendars, as `POST .../clocks` does.
    let calendars = repo_calendars();
    let case = registered();
    match redress::deadlines::change_for(calendars, &case, &action, now()) {
        Ok(_) => Ok(()),
        Err(e) if e.to_string().trim().is_empty() => Err("refused without a reason".into()),
        Err(_) => Ok(()),
    }
}

#[test]
fn fuzz_clock_actions_json() {
    fuzz("clock action", clock_seeds(), check_clock_action);
}

// ---------------------------------------------------------------------------------------------
// Ruleset packages

fn manifest_seeds() -> Vec<Vec<u8>> {
    let mut seeds: Vec<_> = ruleset_dirs()
        .into_iter()
        .map(|d| read(&d.join("ruleset.toml")))
        .collect();
    seeds.push(read(&repo_root().join("plugins/banking/ruleset.toml")));
    seeds
}

fn check_manifest(bytes: &[u8]) -> Result<(), String> {
    match Manifest::parse(&text(bytes), "ruleset.toml") {
        Ok(manifest) => {
            // What the registry does with a manifest that parsed.
            let _ = manifest.semver();
            let _ = manifest.applies_on(jiff::civil::date(2026, 3, 1));
            Ok(())
        }
        Err(e) => clear(&e.to_string(), "ruleset.toml"),
    }
}

#[test]
fn fuzz_ruleset_manifests() {
    fuzz("ruleset.toml", manifest_seeds(), check_manifest);
}

fn fixture_seeds() -> Vec<Vec<u8>> {
    fixture_paths().iter().take(30).map(|p| read(p)).collect()
}

fn check_fixture(bytes: &[u8]) -> Result<(), String> {
    match Fixture::parse(&text(bytes), "cases/x.yaml", "x.yaml") {
        Ok(_) => Ok(()),
        Err(e) => clear(&e.to_string(), "cases/x.yaml"),
    }
}

#[test]
fn fuzz_fixture_cases() {
    fuzz("fixture case", fixture_seeds(), check_fixture);
}

// ---------------------------------------------------------------------------------------------
// Calendars and routing

fn calendar_seeds() -> Vec<Vec<u8>> {
    // Renamed, so that the copy of the base calendar is not simply a duplicate id.
    files("rulesets/calendars", "toml")
        .iter()
        .map(|p| {
            String::from_utf8(read(p))
                .unwrap()
                .replace("id = \"cn-mainland\"", "id = \"cn-fuzzed\"")
                .into_bytes()
        })
        .collect()
}

fn check_calendar(bytes: &[u8]) -> Result<(), String> {
    // Beside the real cn-mainland, so that a mutated variant still finds its parent.
    static BASE: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let base = BASE.get_or_init(|| {
        std::fs::read_to_string(repo_root().join("rulesets/calendars/cn-mainland.toml")).unwrap()
    });
    let sources = [("base.toml", base.clone()), ("fuzzed.toml", text(bytes))];
    match CalendarSet::from_sources(sources) {
        Ok(set) => {
            // Lookups and a deadline on whatever the file defined.
            for calendar in set.iter() {
                let _ = calendar.day(jiff::civil::date(2026, 10, 1));
            }
            Ok(())
        }
        Err(e) => {
            if e.errors.is_empty() {
                return Err("a calendar refused without an error".into());
            }
            for error in &e.errors {
                let message = error.to_string();
                if !message.contains(&error.file) || message.trim().is_empty() {
                    return Err(format!("an unclear calendar error: {message}"));
                }
                if error.file == "fuzzed.toml"
                    && error.line.is_none()
                    && !names_a_place(&message, &error.file)
                {
                    return Err(format!(
                        "a calendar error names no line or field: {message}"
                    ));
                }
            }
            Ok(())
        }
    }
}

#[test]
fn fuzz_calendar_files() {
    fuzz("calendar", calendar_seeds(), check_calendar);
}

fn check_routing(bytes: &[u8]) -> Result<(), String> {
    match RoutingTable::parse(&text(bytes), "table") {
        Ok(table) => {
            let intake: CaseIntake = serde_json::from_value(complaint()).unwrap();
            let _ = table.resolve(&redress::routing::RouteQuery::for_intake(&intake));
            Ok(())
        }
        Err(e) => clear(&e.to_string(), "table"),
    }
}

#[test]
fn fuzz_routing_tables() {
    fuzz(
        "routing table",
        vec![read(&repo_root().join("tests/routing/zhejiang-msa.toml"))],
        check_routing,
    );
}

// ---------------------------------------------------------------------------------------------
// Plugin trust: trusted-key files and signature.toml

fn vendor() -> &'static VendorKey {
    static KEY: std::sync::OnceLock<VendorKey> = std::sync::OnceLock::new();
    KEY.get_or_init(|| VendorKey::generate("acme").unwrap())
}

fn check_trusted_keys(bytes: &[u8]) -> Result<(), String> {
    match TrustStore::parse(&text(bytes), "keys.toml") {
        Ok(_) => Ok(()),
        Err(e) => clear(&e.to_string(), "keys.toml"),
    }
}

#[test]
fn fuzz_trusted_key_files() {
    let public = vendor().public_toml().into_bytes();
    let two = [
        public.clone(),
        VendorKey::generate("other")
            .unwrap()
            .public_toml()
            .into_bytes(),
    ]
    .concat();
    fuzz("trusted keys", vec![public, two], check_trusted_keys);
}

fn plugin_package() -> Package {
    let manifest =
        String::from_utf8(read(&repo_root().join("plugins/banking/ruleset.toml"))).unwrap();
    Package {
        origin: "upload".into(),
        files: [("ruleset.toml".to_owned(), manifest)]
            .into_iter()
            .collect(),
        binaries: [("plugin.wasm".to_owned(), b"\0asm\x01\0\0\0".to_vec())]
            .into_iter()
            .collect(),
    }
}

const EXPECTED: Expected<'static> = Expected {
    id: "banking-plugin",
    version: "1.0.0",
    sector: "banking",
    interface: "1.0.0",
};

fn check_signature(bytes: &[u8]) -> Result<(), String> {
    let mut package = plugin_package();
    package.files.insert("signature.toml".into(), text(bytes));
    let trust =
        TrustStore::parse(&vendor().public_toml(), "keys.toml").map_err(|e| e.to_string())?;
    match trust.verify(&package, &EXPECTED) {
        Ok(_) => Ok(()),
        Err(e) if e.to_string().trim().is_empty() => Err("refused without a reason".into()),
        Err(_) => Ok(()),
    }
}

#[test]
fn fuzz_plugin_signatures() {
    let signed = vendor().sign(&plugin_package(), &EXPECTED).into_bytes();
    // The seed verifies, so mutations explore the checks after parsing, not just the parser.
    let mut package = plugin_package();
    package.files.insert("signature.toml".into(), text(&signed));
    let trust = TrustStore::parse(&vendor().public_toml(), "keys.toml").unwrap();
    trust.verify(&package, &EXPECTED).unwrap();
    fuzz("signature.toml", vec![signed], check_signature);
}

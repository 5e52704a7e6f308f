//! The command-line tools compliance staff use: `redress deadline` and `redress simulate`.

use std::process::Command;

use crate::support::{BIN, repo_root};

fn redress(args: &[&str]) -> (i32, String, String) {
    let output = Command::new(BIN)
        .args(args)
        .current_dir(repo_root())
        .output()
        .unwrap();
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// Worked examples from the regulations digest, checked through the command line.
#[test]
fn deadline_prints_the_due_time_and_the_reasoning() {
    let table: &[(&[&str], &str)] = &[
        (
            &["--from", "2026-02-13", "--working-days", "7"],
            "Due: end of Mon 2026-03-02",
        ),
        (
            &["--from", "2026-09-30T10:00:00+08:00", "--working-days", "7"],
            "Due: end of Thu 2026-10-15",
        ),
        (
            &["--from", "2026-10-03", "--working-days", "7"],
            "Due: end of Thu 2026-10-15",
        ),
    ];
    for (args, expected) in table {
        let mut full = vec!["deadline"];
        full.extend_from_slice(args);
        let (code, stdout, stderr) = redress(&full);
        assert_eq!(code, 0, "{args:?}: {stderr}");
        assert!(
            stdout.contains(expected),
            "{args:?}: expected {expected:?} in\n{stdout}"
        );
        assert!(stderr.is_empty(), "{args:?}: the tool logged: {stderr}");
    }
    let (code, stdout, _) = redress(&[
        "deadline",
        "--from",
        "2026-02-13",
        "--working-days",
        "7",
        "--json",
    ]);
    assert_eq!(code, 0);
    let json: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(json["due_date"], "2026-03-02");
}

#[test]
fn deadline_refuses_a_year_without_a_published_schedule() {
    let (code, stdout, stderr) =
        redress(&["deadline", "--from", "2027-03-01", "--working-days", "7"]);
    assert_eq!(code, 2);
    assert!(stdout.is_empty());
    assert!(
        stderr.contains("has no official holiday schedule for 2027"),
        "{stderr}"
    );
    let (code, _, stderr) = redress(&["deadline", "--from", "yesterday", "--working-days", "7"]);
    assert_eq!(code, 2);
    assert!(
        stderr.contains("--from: `yesterday` is not a date"),
        "{stderr}"
    );
}

/// Every scenario in tests/scenarios gives exactly the timeline in its `.expected` file.
#[test]
fn simulate_prints_the_expected_timeline_for_every_scenario() {
    let dir = repo_root().join("tests/scenarios");
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "yaml") {
            continue;
        }
        let (code, stdout, stderr) = redress(&["simulate", path.to_str().unwrap()]);
        assert_eq!(code, 0, "{}: {stderr}", path.display());
        let expected = std::fs::read_to_string(path.with_extension("expected")).unwrap();
        assert_eq!(stdout, expected, "{}", path.display());
        checked += 1;
    }
    assert!(checked > 0);
}

#[test]
fn simulate_names_the_file_and_line_of_a_bad_scenario() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.yaml");
    std::fs::write(
        &path,
        "start: 2026-02-13T09:00:00+08:00\nuntil: 2026-03-01T00:00:00+08:00\nstep_minutes: often\n",
    )
    .unwrap();
    let (code, _, stderr) = redress(&["simulate", path.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(
        stderr.contains(&format!("{}:3", path.display())),
        "{stderr}"
    );
}

#[test]
fn routing_test_shows_the_office_the_rule_and_why() {
    let (code, out, err) = redress(&[
        "routing",
        "test",
        "tests/routing/zhejiang-msa.toml",
        "--case",
        "tests/routing/platform-seller.yaml",
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with("office 330108-ecommerce"), "{out}");
    assert!(out.contains("matched: rule #5"), "{out}");
    assert!(
        out.contains("as the complainant chose (Order 20 art. 12)"),
        "{out}"
    );
    assert!(out.contains("escalation: 3301-msa → 33-msa"), "{out}");

    // A broken table is refused with its file and what is wrong.
    let dir = tempfile::tempdir().unwrap();
    let table = dir.path().join("broken.toml");
    std::fs::write(&table, "[[rule]]\noffice = \"nowhere\"\n").unwrap();
    let (code, _, err) = redress(&[
        "routing",
        "test",
        table.to_str().unwrap(),
        "--case",
        "tests/routing/platform-seller.yaml",
    ]);
    assert_ne!(code, 0);
    assert!(
        err.contains("broken.toml: [[rule]] #1") && err.contains("`nowhere`"),
        "{err}"
    );
}

/// `scripts/load` compares HTTP intake with `redress store-bench`: the raw inserts must write
/// the records intake writes (the received event and the rules' decision with its clock), be
/// durable and verifiable, and a directory in use must not be written over.
#[test]
fn store_bench_writes_what_intake_writes_and_reports_json() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("store");
    let data = data.to_str().unwrap();
    // Received on a fixed day inside the published calendars, so that the acceptance clock
    // can always be computed, whatever day the test runs.
    let mut case: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(repo_root().join("tests/load/case.json")).unwrap(),
    )
    .unwrap();
    case["received_at"] = "2026-06-01T10:00:00+08:00".into();
    let case_path = dir.path().join("case.json");
    std::fs::write(&case_path, case.to_string()).unwrap();
    let bench = [
        "store-bench",
        "--data",
        data,
        "--case",
        case_path.to_str().unwrap(),
        "--seconds",
        "0.3",
        "--writers",
        "4",
    ];
    let (code, stdout, stderr) = redress(&bench);
    assert_eq!(code, 0, "{stderr}");
    let figures: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    let inserts = figures["inserts"].as_u64().unwrap();
    assert!(inserts > 0, "{figures}");
    assert!(figures["p99_ms"].as_f64().unwrap() > 0.0, "{figures}");
    let (code, stdout, stderr) = redress(&["audit", "verify", "--data", data, "--json"]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(report["cases_checked"].as_u64().unwrap(), inserts);
    // received, the decision, the acceptance clock it starts
    assert_eq!(report["events_checked"].as_u64().unwrap(), 3 * inserts);
    let (code, _, stderr) = redress(&bench);
    assert_eq!(code, 2);
    assert!(stderr.contains("already exists"), "{stderr}");
}

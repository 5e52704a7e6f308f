//! The command-line tools compliance staff use: `redress deadline` and `redress simulate`.

use std::process::Command;

use crate::support::{BIN, repo_root};

fn redress(args: &[&str]) -> (i32, String, String) {
    redress_in(&repo_root(), args)
}

fn redress_in(dir: &std::path::Path, args: &[&str]) -> (i32, String, String) {
    let output = Command::new(BIN)
        .args(args)
        .current_dir(dir)
        .env_remove("REDRESS_DATA")
        .env_remove("REDRESS_RULESETS")
        .env_remove("REDRESS_CONFIG")
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

/// A year the State Council has not published yet is provisional, computed from the statute
/// (issue #12): it used to be refused, so every deadline running into it failed.
#[test]
fn deadline_into_a_year_without_a_published_schedule_is_provisional() {
    let (code, stdout, stderr) =
        redress(&["deadline", "--from", "2026-12-28", "--working-days", "7"]);
    assert_eq!(code, 0, "{stderr}");
    // 12-29..12-31 (3), 2027-01-01 元旦 statutory, weekend, 01-04..01-07 (4).
    assert!(stdout.contains("end of Thu 2027-01-07"), "{stdout}");
    assert!(
        stdout.contains("PROVISIONAL 2027: no published schedule"),
        "{stdout}"
    );
    assert!(
        stdout.contains("2027年：国务院尚未公布放假安排"),
        "{stdout}"
    );
    assert!(stdout.contains("元旦"), "{stdout}");
    let (code, stdout, _) = redress(&[
        "deadline",
        "--from",
        "2026-12-28",
        "--working-days",
        "7",
        "--json",
    ]);
    assert_eq!(code, 0);
    let json: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(json["provisional"], true);
    assert_eq!(json["provisional_years"], serde_json::json!([2027]));

    // A calendar that says `uncovered = "refuse"` still refuses, naming the year.
    let rulesets = crate::support::bare_rulesets();
    let file = rulesets.path().join("calendars/cn-mainland.toml");
    let text = std::fs::read_to_string(&file)
        .unwrap()
        .replace("uncovered = \"provisional\"", "uncovered = \"refuse\"");
    std::fs::write(&file, text).unwrap();
    let (code, stdout, stderr) = redress(&[
        "deadline",
        "--rulesets",
        rulesets.path().to_str().unwrap(),
        "--from",
        "2027-03-01",
        "--working-days",
        "7",
    ]);
    assert_eq!(code, 2, "{stdout}");
    assert!(stdout.is_empty());
    assert!(
        stderr.contains("has no official holiday schedule for 2027"),
        "{stderr}"
    );
    let (code, _, stderr) = redress(&["deadline", "--from", "yesterday", "--working-days", "7"]);
    assert_eq!(code, 2);
    assert!(
        stderr.contains("--from yesterday: `yesterday` is not a date"),
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
        out.contains("the complainant's choice (Order 20 arts. 12–13)"),
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

/// The calendars folder copied into `<dir>/calendars` (statutes included), with the
/// `[[years]]` table of `year` removed from cn-mainland.toml. The cn-financial variant is
/// left out: its overrides name days of that year, which a calendar without it refuses.
fn calendars_without_year(dir: &std::path::Path, year: i16) -> std::path::PathBuf {
    fn copy(from: &std::path::Path, to: &std::path::Path) {
        std::fs::create_dir_all(to).unwrap();
        for entry in std::fs::read_dir(from).unwrap() {
            let path = entry.unwrap().path();
            let target = to.join(path.file_name().unwrap());
            if path.is_dir() {
                copy(&path, &target);
            } else {
                std::fs::copy(&path, &target).unwrap();
            }
        }
    }
    let calendars = dir.join("calendars");
    copy(&repo_root().join("rulesets/calendars"), &calendars);
    std::fs::remove_file(calendars.join("cn-financial.toml")).unwrap();
    let file = calendars.join("cn-mainland.toml");
    let text = std::fs::read_to_string(&file).unwrap();
    let (before, after) = text
        .split_once(&format!("[[years]]\nyear = {year}\n"))
        .unwrap();
    let before = before.trim_end().trim_end_matches(['-', '#', ' ']);
    let rest = after.find("[[years]]").map_or("", |i| &after[i..]);
    std::fs::write(&file, format!("{}\n\n{rest}", before.trim_end())).unwrap();
    file
}

/// `redress calendar import-notice`: the 2026 notice against a folder without 2026 prints
/// the table and the days it changes, and `--write` drops it into the folder as a year file
/// (the calendar's own file untouched); a malformed notice names its line.
#[test]
fn calendar_import_notice_prints_the_year_and_its_changes() {
    let dir = tempfile::tempdir().unwrap();
    let file = calendars_without_year(dir.path(), 2026);
    let calendar_text = std::fs::read_to_string(&file).unwrap();
    let year_file = dir.path().join("calendars/cn-mainland-2026.toml");
    let rulesets = dir.path().to_str().unwrap();
    let notice = "host/calendar/tests/fixtures/notices/2026.txt";
    let import = [
        "calendar",
        "import-notice",
        notice,
        "--calendar",
        "cn-mainland",
        "--rulesets",
        rulesets,
    ];
    let (code, stdout, stderr) = redress(&import);
    assert_eq!(code, 0, "{stderr}");
    for expected in [
        "[[years]]\nyear = 2026\nsource = \"国务院办公厅关于2026年部分节假日安排的通知\"\npublished = \"2025-11\"\n",
        "[[years.rest]]\nname = \"春节\"\nfirst = 2026-02-15\nlast = 2026-02-23\nin_lieu = [2026-02-20, 2026-02-23]\n",
        "[[years.make_up]]\ndate = 2026-10-10\nfor = \"国庆节\"\n",
        "against the provisional 2026 of cn-mainland",
        "2026-01-04 Sun: provisional rest (weekend) → working (make-up day for 元旦)",
    ] {
        assert!(stdout.contains(expected), "{expected:?} not in\n{stdout}");
    }
    assert!(!year_file.exists());

    let mut write = import.to_vec();
    write.push("--write");
    // A file already at the year file's path is never overwritten, whatever it holds.
    let other = "years_for = \"cn-mainland\"\n\n[[years]]\nyear = 2027\nsource = \"x\"\n\n[[years.rest]]\nname = \"元旦\"\nfirst = 2027-01-01\nlast = 2027-01-03\n";
    std::fs::write(&year_file, other).unwrap();
    let (code, _, stderr) = redress(&write);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("cn-mainland-2026.toml already exists"),
        "{stderr}"
    );
    assert_eq!(std::fs::read_to_string(&year_file).unwrap(), other);
    std::fs::remove_file(&year_file).unwrap();

    let (code, stdout, stderr) = redress(&write);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("Wrote year 2026"), "{stdout}");
    assert!(stdout.contains("cn-mainland-2026.toml"), "{stdout}");
    let written = std::fs::read_to_string(&year_file).unwrap();
    assert!(
        written.starts_with("# 国务院办公厅关于2026年部分节假日安排的通知\n"),
        "{written}"
    );
    assert!(
        written.contains("\nyears_for = \"cn-mainland\"\n\n[[years]]\nyear = 2026\n"),
        "{written}"
    );
    assert_eq!(std::fs::read_to_string(&file).unwrap(), calendar_text);
    // Once written the year is covered: a second --write is refused, naming the year file.
    let (code, _, stderr) = redress(&write);
    assert_eq!(code, 2);
    assert!(
        stderr.contains("cn-mainland-2026.toml already has [[years]] year = 2026"),
        "{stderr}"
    );
    assert!(stderr.contains("edit that table by hand"), "{stderr}");
    let (code, stdout, _) = redress(&[
        "deadline",
        "--from",
        "2026-02-13",
        "--working-days",
        "7",
        "--rulesets",
        rulesets,
    ]);
    assert_eq!(code, 0);
    assert!(stdout.contains("Due: end of Mon 2026-03-02"), "{stdout}");
    // The variant, whose overrides name days of 2026, loads again with the year file and
    // closes on its make-up days (2026-02-14 and 2026-02-28).
    std::fs::copy(
        repo_root().join("rulesets/calendars/cn-financial.toml"),
        dir.path().join("calendars/cn-financial.toml"),
    )
    .unwrap();
    let (code, stdout, stderr) = redress(&[
        "deadline",
        "--from",
        "2026-02-13",
        "--working-days",
        "7",
        "--calendar",
        "cn-financial",
        "--rulesets",
        rulesets,
    ]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("Due: end of Wed 2026-03-04"), "{stdout}");

    let bad = dir.path().join("bad.txt");
    std::fs::write(
        &bad,
        "国务院办公厅关于2027年部分节假日安排的通知\n\n一、元旦：1月1日（周五）放假1天，不调休。\n二、春节：2月6日（周日）至12日放假调休，共7天。\n",
    )
    .unwrap();
    let bad = bad.to_str().unwrap();
    let (code, stdout, stderr) = redress(&[
        "calendar",
        "import-notice",
        bad,
        "--calendar",
        "cn-mainland",
        "--rulesets",
        rulesets,
    ]);
    assert_eq!(code, 1, "{stdout}{stderr}");
    assert!(stdout.is_empty(), "{stdout}");
    assert!(
        stderr.starts_with(&format!("{bad}:4: 2月6日 is a Saturday")),
        "{stderr}"
    );
}

/// The errors a newcomer met, each with the message that now tells them what is wrong (exit 2,
/// nothing written), run from a folder outside the repository.
#[test]
fn a_newcomers_mistakes_get_clear_messages_and_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let here = dir.path();
    std::fs::write(here.join("notes.txt"), "not a directory").unwrap();
    let table: &[(&[&str], &str)] = &[
        (
            &[
                "deadline",
                "--calendar",
                "cn-mainlnd",
                "--from",
                "2026-12-01",
                "--working-days",
                "7",
            ],
            "--calendar cn-mainlnd: no such calendar (known: cn-financial, cn-mainland)",
        ),
        (
            &[
                "deadline",
                "--from",
                "2026-12-01",
                "--working-days",
                "7",
                "--roll-forward",
            ],
            "--roll-forward applies to --calendar-days only",
        ),
        (
            &[
                "deadline",
                "--from",
                "2026-12-01",
                "--hours",
                "7",
                "--close-of-business",
            ],
            "cannot be used with",
        ),
        (
            &["key", "list", "--data", "dta"],
            "dta: no such data directory",
        ),
        (
            &["tenant", "list", "--data", "dta"],
            "dta: no such data directory",
        ),
        (
            &["tenant", "create", "acme", "--data", "notes.txt"],
            "notes.txt: not a directory",
        ),
        (
            &["--config", "nope.toml", "key", "list"],
            "redress: nope.toml: cannot read the configuration file: No such file or directory (os error 2)\n",
        ),
        (
            &[
                "deadline",
                "--rulesets",
                "nowhere",
                "--from",
                "2026-12-01",
                "--working-days",
                "7",
            ],
            "nowhere: not a ruleset directory",
        ),
    ];
    for (args, expected) in table {
        let (code, stdout, stderr) = redress_in(here, args);
        assert_eq!(code, 2, "{args:?}: {stdout}{stderr}");
        assert!(
            stderr.contains(expected),
            "{args:?}: expected {expected:?} in {stderr}"
        );
        assert!(
            !stderr.contains("os error 2): No such"),
            "{args:?}: repeated: {stderr}"
        );
    }
    assert!(
        !here.join("dta").exists(),
        "a reading command created the data directory"
    );
    assert_eq!(
        std::fs::read_to_string(here.join("notes.txt")).unwrap(),
        "not a directory"
    );
    // An expiry written as the README writes it.
    let (code, stdout, stderr) = redress_in(
        here,
        &[
            "key",
            "create",
            "--tenant",
            "default",
            "--role",
            "handler",
            "--name",
            "w",
            "--expires",
            "2027-06-30",
            "--data",
            "d",
        ],
    );
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.starts_with("rdk_"), "{stdout}");
    let (_, listed, _) = redress_in(here, &["key", "list", "--data", "d"]);
    assert!(
        listed.contains("active until 2027-06-30T16:00:00Z"),
        "{listed}"
    );
}

/// Outside a checkout, the tools and the server use the rulesets and calendars compiled into
/// the binary; `--config`'s `[server] rulesets` is honoured by every command that reads them.
#[test]
fn the_built_in_rulesets_serve_outside_a_checkout_and_config_is_honoured() {
    let dir = tempfile::tempdir().unwrap();
    let here = dir.path();
    let (code, stdout, stderr) = redress_in(
        here,
        &["deadline", "--from", "2026-02-13", "--working-days", "7"],
    );
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("Due: end of Mon 2026-03-02"), "{stdout}");
    // A configuration naming a ruleset directory without calendars: every reader says so.
    std::fs::create_dir_all(here.join("empty")).unwrap();
    std::fs::write(
        here.join("redress.toml"),
        "[server]\nrulesets = \"empty\"\n",
    )
    .unwrap();
    let scenario = repo_root().join("tests/scenarios/acceptance-breach.yaml");
    let package = repo_root().join("rulesets/property");
    for args in [
        vec!["deadline", "--from", "2026-02-13", "--working-days", "7"],
        vec!["simulate", scenario.to_str().unwrap()],
        vec!["ruleset", "test", package.to_str().unwrap()],
    ] {
        let mut full = vec!["--config", "redress.toml"];
        full.extend(args.iter().copied());
        let (code, _, stderr) = redress_in(here, &full);
        assert_eq!(code, 2, "{args:?}");
        assert!(
            stderr.contains("empty: not a ruleset directory"),
            "{args:?}: {stderr}"
        );
    }
}

/// `redress ruleset test rulesets/*` (as a shell expands it) runs every package and skips the
/// README and the calendars with a note.
#[test]
fn ruleset_test_takes_a_shell_glob_of_the_ruleset_folder() {
    let root = repo_root().join("rulesets");
    let mut args = vec!["ruleset".to_owned(), "test".to_owned()];
    let mut entries: Vec<_> = std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    args.extend(entries.iter().map(|p| p.to_str().unwrap().to_owned()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (code, stdout, stderr) = redress(&args);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(
        stderr.contains("README.md: skipped: not a ruleset package"),
        "{stderr}"
    );
    assert!(stdout.contains("market-supervision-order20"), "{stdout}");
    assert!(stdout.contains(" 0 failed"), "{stdout}");
}

/// `redress deadline | head`: a reader that goes away ends the tool quietly, with a closed
/// pipe's status (141), never a panic message.
#[test]
fn a_closed_pipe_ends_the_tool_quietly() {
    use std::io::Read;
    let mut child = Command::new(BIN)
        .args(["deadline", "--from", "2026-12-01", "--working-days", "3000"])
        .current_dir(repo_root())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = [0u8; 16];
    child.stdout.take().unwrap().read_exact(&mut first).unwrap();
    // The pipe's reading end is dropped here, as `head` exits.
    let output = child.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(141));
    assert!(
        output.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#![allow(clippy::unwrap_used)]
use redress_domain::HandlerAction;

use super::*;

/// Rules are written against serde's shape of a trigger; the direct conversion must give it.
#[test]
fn the_direct_trigger_conversion_equals_serde() {
    for trigger in [
        Trigger::CaseReceived,
        Trigger::HandlerEvent {
            action: HandlerAction::StartAppraisal {
                reason: "鉴定".into(),
            },
        },
        Trigger::HandlerEvent {
            action: HandlerAction::Accept { note: None },
        },
        Trigger::ClockWarning {
            clock: "acceptance".into(),
        },
        Trigger::ClockBreach {
            clock: "mediation".into(),
        },
    ] {
        let direct: serde_json::Value =
            rhai::serde::from_dynamic(&trigger_to_rhai(&trigger).unwrap()).unwrap();
        let via_serde: serde_json::Value =
            rhai::serde::from_dynamic(&rhai::serde::to_dynamic(&trigger).unwrap()).unwrap();
        assert_eq!(direct, via_serde, "{trigger:?}");
    }
}

/// The banking ruleset's manifest (calendar `cn-mainland`) and its first fixture's case as
/// it stands before the decision.
fn a_case() -> (Manifest, Case, jiff::Timestamp) {
    let package_dir =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../rulesets/banking-insurance");
    let package = crate::rules::package::Package::read_dir(&package_dir).unwrap();
    let (banking, fixtures) =
        crate::rules::LoadedRuleset::compile(&RhaiEngine::new(Limits::default()), &package)
            .unwrap();
    let fixture = fixtures.iter().min_by_key(|f| f.name.clone()).unwrap();
    let case = fixture.evaluate(&banking, &shipped()).unwrap().case_before;
    (banking.manifest.clone(), case, fixture.now)
}

fn shipped() -> redress_calendar::CalendarSet {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../rulesets/calendars");
    redress_calendar::CalendarSet::load_dir(dir).unwrap()
}

/// The shipped `cn-mainland` renamed `cn-refusing`, without its statute: a calendar that
/// refuses the years it has no schedule for.
fn with_a_refusing_calendar() -> redress_calendar::CalendarSet {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../rulesets/calendars");
    let text = std::fs::read_to_string(dir.join("cn-mainland.toml")).unwrap();
    let refusing: String = text
        .lines()
        .filter(|l| !l.starts_with("statute = "))
        .map(|l| match l {
            l if l.starts_with("uncovered = ") => "uncovered = \"refuse\"\n".to_owned(),
            l if l.starts_with("id = ") => "id = \"cn-refusing\"\n".to_owned(),
            l => format!("{l}\n"),
        })
        .collect();
    let statute = std::fs::read_to_string(dir.join("statutes/cn-national-holidays.toml")).unwrap();
    redress_calendar::CalendarSet::from_sources_with_statutes(
        [("cn-national-holidays.toml", statute)],
        [
            ("cn-mainland.toml", text),
            ("cn-refusing.toml", refusing),
            (
                "cn-financial.toml",
                std::fs::read_to_string(dir.join("cn-financial.toml")).unwrap(),
            ),
        ],
    )
    .unwrap()
}

/// An engine and a case to run small rules on.
struct Probe {
    engine: RhaiEngine,
    manifest: Manifest,
    case: Case,
    now: jiff::Timestamp,
}

impl Probe {
    fn new(limits: Limits) -> Probe {
        let (manifest, case, now) = a_case();
        Probe {
            engine: RhaiEngine::new(limits),
            manifest,
            case,
            now,
        }
    }

    /// Runs `fn decide(trigger, the_case, ctx) { <body> }`; its explanation, joined.
    fn run(
        &self,
        calendars: &redress_calendar::CalendarSet,
        body: &str,
    ) -> Result<String, RuleError> {
        let source = format!("fn decide(trigger, the_case, ctx) {{ {body} }}");
        let ast = self.engine.compile(&source, "calendar.rhai").unwrap();
        let ctx = RuleContext {
            now: self.now,
            calendars,
        };
        let decision = self.engine.decide(
            &ast,
            &self.manifest,
            &Dynamic::UNIT,
            &Trigger::CaseReceived,
            &self.case,
            &ctx,
        )?;
        Ok(decision.explanation.join(" | "))
    }

    /// `expression`'s value, as text.
    fn value_of(
        &self,
        calendars: &redress_calendar::CalendarSet,
        expression: &str,
    ) -> Result<String, RuleError> {
        self.run(calendars, &format!("[because(`${{{expression}}}`)]"))
    }
}

/// Every calendar function on real 2025 and 2026 holidays, the ruleset's calendar by an
/// empty id or `ctx.calendar`, the provisional forms, and every failure.
#[test]
fn the_calendar_functions_table() {
    let calendars = with_a_refusing_calendar();
    #[rustfmt::skip]
    let table: &[(&str, Result<&str, &str>)] = &[
        // is_working_day
        (r#"is_working_day("cn-mainland", "2026-10-01")"#, Ok("false")),
        (r#"is_working_day("cn-mainland", "2026-10-10")"#, Ok("true")),   // make-up Saturday
        (r#"is_working_day("cn-mainland", "2025-09-28")"#, Ok("true")),   // make-up Sunday
        (r#"is_working_day("cn-mainland", "2026-10-09")"#, Ok("true")),
        (r#"is_working_day("cn-mainland", "2026-03-07")"#, Ok("false")),  // ordinary Saturday
        (r#"is_working_day("", "2026-02-16")"#, Ok("false")),             // the ruleset's calendar
        (r#"is_working_day(ctx.calendar, "2026-02-14")"#, Ok("true")),
        (r#"ctx.calendar"#, Ok("cn-mainland")),
        // next_working_day
        (r#"next_working_day("cn-mainland", "2026-09-30")"#, Ok("2026-10-08")),
        (r#"next_working_day("cn-mainland", "2025-09-30")"#, Ok("2025-10-09")),
        (r#"next_working_day("cn-mainland", "2026-10-09")"#, Ok("2026-10-10")),
        (r#"next_working_day("cn-mainland", "2026-02-13")"#, Ok("2026-02-14")),
        // add_working_days: the start day is not counted
        (r#"add_working_days("cn-mainland", "2026-02-13", 7)"#, Ok("2026-03-02")),
        (r#"add_working_days("cn-mainland", "2026-09-30", 7)"#, Ok("2026-10-15")),
        (r#"add_working_days("cn-mainland", "2026-10-03", 7)"#, Ok("2026-10-15")),
        (r#"add_working_days("cn-mainland", "2025-01-27", 1)"#, Ok("2025-02-05")),
        (r#"add_working_days("cn-mainland", "2026-10-01", 0)"#, Ok("2026-10-08")),
        (r#"add_working_days("cn-mainland", "2026-02-13", 0)"#, Ok("2026-02-13")),
        // add_calendar_days: 民法典 art. 203 ¶1, the last day rolled off a holiday
        (r#"add_calendar_days("cn-mainland", "2026-09-01", 30, true)"#, Ok("2026-10-08")),
        (r#"add_calendar_days("cn-mainland", "2026-09-01", 30, false)"#, Ok("2026-10-01")),
        (r#"add_calendar_days("cn-mainland", "2025-09-01", 30, true)"#, Ok("2025-10-09")),
        (r#"add_calendar_days("cn-mainland", "2025-01-01", 30, true)"#, Ok("2025-02-05")),
        (r#"add_calendar_days("cn-mainland", "2026-04-01", 3, true)"#, Ok("2026-04-07")),
        (r#"add_calendar_days("cn-mainland", "2023-05-01", 1096, true)"#, Ok("2026-05-06")),
        (r#"add_calendar_days("cn-mainland", "2026-10-01", 0, true)"#, Ok("2026-10-08")),
        // A count into 2027 that classifies no day of it is firm.
        (r#"add_calendar_days("cn-mainland", "2026-12-29", 31, false)"#, Ok("2027-01-29")),
        // The financial variant: make-up Saturdays are rest days.
        (r#"is_working_day("cn-financial", "2026-10-10")"#, Ok("false")),
        (r#"next_working_day("cn-financial", "2026-10-09")"#, Ok("2026-10-12")),
        // calendar_day
        (r#"calendar_day("cn-mainland", "2026-10-01").kind"#, Ok("holiday")),
        (r#"calendar_day("cn-mainland", "2026-10-10").kind"#, Ok("make_up_workday")),
        (r#"calendar_day("cn-mainland", "2026-10-01").provisional"#, Ok("false")),
        (r#"calendar_day("cn-mainland", "2026-10-05").description"#, Ok("holiday: 国庆节")),
        (r#"calendar_day("cn-mainland", "2027-10-01").kind"#, Ok("statutory_holiday")),
        (r#"calendar_day("cn-mainland", "2027-10-01").provisional"#, Ok("true")),
        (r#"calendar_day("cn-mainland", "2027-10-01").working"#, Ok("false")),
        // The provisional forms say what a year without a published schedule decided.
        (r#"add_working_days_or_provisional("cn-mainland", "2026-12-28", 5).date"#, Ok("2027-01-05")),
        (r#"add_working_days_or_provisional("cn-mainland", "2026-12-28", 5).provisional"#, Ok("true")),
        (r#"add_working_days_or_provisional("cn-mainland", "2026-12-28", 5).provisional_years"#, Ok("[2027]")),
        (r#"add_working_days_or_provisional("cn-mainland", "2026-02-13", 7).provisional"#, Ok("false")),
        (r#"add_working_days_or_provisional("cn-mainland", "2026-02-13", 7).provisional_years"#, Ok("[]")),
        (r#"next_working_day_or_provisional("cn-mainland", "2026-12-31").date"#, Ok("2027-01-04")),
        (r#"add_calendar_days_or_provisional("cn-mainland", "2026-12-02", 30, true).date"#, Ok("2027-01-04")),
        (r#"add_calendar_days_or_provisional("cn-mainland", "2026-09-01", 30, true).date"#, Ok("2026-10-08")),
        // The plain forms refuse an answer a missing schedule decided, naming the way out.
        (r#"add_working_days("cn-mainland", "2026-12-28", 5)"#,
         Err("add_working_days: the answer depends on 2027, for which calendar cn-mainland has no published schedule")),
        (r#"add_working_days("", "2026-12-28", 5)"#, Err("`add_working_days_or_provisional` accepts a provisional answer")),
        (r#"next_working_day("cn-mainland", "2026-12-31")"#, Err("`next_working_day_or_provisional` accepts")),
        (r#"add_calendar_days("cn-mainland", "2026-12-02", 30, true)"#, Err("`add_calendar_days_or_provisional` accepts")),
        (r#"is_working_day("cn-mainland", "2027-10-01")"#, Err("depends on 2027, for which calendar cn-mainland")),
        (r#"is_working_day("cn-mainland", "2027-10-01")"#, Err("`calendar_day` accepts")),
        // A calendar that refuses uncovered years refuses in every form.
        (r#"add_working_days_or_provisional("cn-refusing", "2026-12-28", 5)"#,
         Err("calendar cn-refusing has no official holiday schedule for 2027-01-01")),
        (r#"calendar_day("cn-refusing", "2023-01-01")"#, Err("has no official holiday schedule for 2023-01-01")),
        (r#"is_working_day("cn-refusing", "2026-10-01")"#, Ok("false")),
        // Unknown calendars, bad dates, n out of range.
        (r#"is_working_day("cn-mainlnd", "2026-10-01")"#,
         Err("is_working_day: unknown calendar `cn-mainlnd` (in force: cn-financial, cn-mainland, cn-refusing)")),
        (r#"calendar_day("x", "2026-10-01")"#, Err("calendar_day: unknown calendar `x`")),
        (r#"add_working_days("cn-mainland", "2026-02-30", 1)"#, Err("add_working_days: `2026-02-30` is not a date (YYYY-MM-DD)")),
        (r#"add_working_days("cn-mainland", the_case.received_at, 1)"#, Err("is not a date (YYYY-MM-DD)")),
        (r#"next_working_day("cn-mainland", "30/09/2026")"#, Err("`30/09/2026` is not a date")),
        (r#"add_calendar_days("cn-mainland", "", 1, true)"#, Err("`` is not a date")),
        (r#"add_working_days("cn-mainland", "2026-02-13", -1)"#, Err("add_working_days: n = -1 is out of range (0 to 3660 days)")),
        (r#"add_calendar_days("cn-mainland", "2026-02-13", 3661, false)"#, Err("n = 3661 is out of range")),
        (r#"add_calendar_days("cn-mainland", "9999-12-30", 5, false)"#, Err("add_calendar_days: date or time out of range")),
        // Wrong argument types are Rhai's own error, still a rule failure.
        (r#"add_working_days("cn-mainland", "2026-02-13", "7")"#, Err("Function not found: add_working_days")),
    ];
    let probe = Probe::new(Limits::default());
    for (expression, expected) in table {
        let got = probe.value_of(&calendars, expression);
        match (expected, got) {
            (Ok(value), Ok(got)) => assert_eq!(&got, value, "{expression}"),
            (Err(message), Err(error)) => {
                let error = error.to_string();
                assert!(error.contains(message), "{expression}: {error}");
                assert!(
                    error.starts_with("the rule failed: "),
                    "{expression}: {error}"
                );
            }
            (expected, got) => panic!("{expression}: expected {expected:?}, got {got:?}"),
        }
    }
}

/// The functions answer from the calendar set of the decision they run in: the same
/// compiled rules on the same engine give another answer with another set.
#[test]
fn the_calendar_functions_use_the_decisions_calendar_set() {
    let weekends_only = redress_calendar::CalendarSet::from_sources([(
        "cn-mainland.toml",
        "id = \"cn-mainland\"\nname = \"weekends only\"\ntime_zone = \"Asia/Shanghai\"\n\
         working_weekdays = [\"mon\", \"tue\", \"wed\", \"thu\", \"fri\"]\n\
         [[years]]\nyear = 2026\nsource = \"test\"\n",
    )])
    .unwrap();
    let probe = Probe::new(Limits::default());
    let body = r#"[because(next_working_day(ctx.calendar, "2026-09-30"))]"#;
    assert_eq!(probe.run(&shipped(), body).unwrap(), "2026-10-08");
    assert_eq!(probe.run(&weekends_only, body).unwrap(), "2026-10-01");
    assert_eq!(probe.run(&shipped(), body).unwrap(), "2026-10-08");
}

/// Each calendar call is an operation like any call, and the days the calls classify are
/// bounded per decision, deterministically.
#[test]
fn calendar_calls_count_as_operations_and_their_work_is_bounded() {
    let calendars = shipped();
    let limits = Limits {
        max_operations: 2_000,
        ..Limits::default()
    };
    let probe = Probe::new(limits);
    // The same loop fits without the calls and not with them.
    let bare = "let n = 0; for i in 0..300 { n += 1; } [because(`${n}`)]";
    assert_eq!(probe.run(&calendars, bare).unwrap(), "300");
    let calling = r#"let n = 0; for i in 0..300 { if is_working_day("", "2026-10-09") { n += 1; } } [because(`${n}`)]"#;
    let error = probe.run(&calendars, calling).unwrap_err();
    assert!(
        matches!(&error, RuleError::Limit(m) if m.contains("too many operations")),
        "{error}"
    );
    // Ten-year counts in a loop stop at the calendar budget, long before any time bound.
    let probe = Probe::new(Limits::default());
    let heavy = r#"let d = ""; for i in 0..1000 { d = add_working_days_or_provisional("", "2024-01-01", 2400).date; } [because(d)]"#;
    let started = Instant::now();
    let error = probe.run(&calendars, heavy).unwrap_err();
    assert!(
        matches!(&error, RuleError::Limit(m) if m.contains("the days the calendar functions classified in this decision")),
        "{error}"
    );
    assert!(started.elapsed() < Duration::from_secs(2));
    // Failed questions are charged too, and catching their errors does not escape the cap.
    let refused = r#"for i in 0..1000 { try { add_working_days("", "2026-12-28", 3000); } catch { } } [because("done")]"#;
    let error = probe.run(&calendars, refused).unwrap_err();
    assert!(
        matches!(&error, RuleError::Limit(m) if m.contains("the days the calendar functions classified")),
        "{error}"
    );
    // A few such counts are fine.
    let few = r#"let d = ""; for i in 0..3 { d = add_working_days("", "2024-01-01", 400); } [because(d)]"#;
    assert_eq!(probe.run(&calendars, few).unwrap(), "2025-08-08");
}

/// Finding 2 of the sandbox review: the operation limit does not bound time, since one
/// operation (`contains` on an array of long strings) can take long; a decision ran 40 s.
#[test]
fn rhai_decisions_are_bounded_in_wall_clock_time() {
    let limits = Limits {
        timeout: Duration::from_millis(300),
        ..Limits::default()
    };
    let engine = RhaiEngine::new(limits);
    let ast = engine
        .compile(
            r#"
            fn decide(trigger, the_case, ctx) {
                let hay = [];
                for i in 0..9999 { hay.push(i); }
                let found = 0;
                for i in 0..100000 { if hay.contains(-1) { found += 1; } }
                []
            }
            "#,
            "slow.rhai",
        )
        .unwrap();
    let package_dir =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../rulesets/banking-insurance");
    let package = crate::rules::package::Package::read_dir(&package_dir).unwrap();
    let (banking, _) =
        crate::rules::LoadedRuleset::compile(&RhaiEngine::new(Limits::default()), &package)
            .unwrap();
    let manifest = banking.manifest.clone();
    let fixture = std::fs::read_dir(package_dir.join("cases"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .min()
        .unwrap();
    let fixture = crate::rules::fixtures::Fixture::parse(
        &std::fs::read_to_string(&fixture).unwrap(),
        "slow",
        "slow",
    )
    .unwrap();
    let calendars = redress_calendar::CalendarSet::load_dir(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../rulesets/calendars"),
    )
    .unwrap();
    let case = fixture.evaluate(&banking, &calendars).unwrap().case_before;
    let ctx = RuleContext {
        now: fixture.now,
        calendars: &calendars,
    };
    let started = Instant::now();
    let error = engine
        .decide(
            &ast,
            &manifest,
            &Dynamic::UNIT,
            &Trigger::CaseReceived,
            &case,
            &ctx,
        )
        .unwrap_err();
    let took = started.elapsed();
    assert!(
        error.to_string().contains("took longer than 300 ms"),
        "{error}"
    );
    assert!(took < Duration::from_secs(2), "took {took:?}");
}

//! Time per decision for each built-in ruleset on a typical trigger (a complaint received),
//! including the conversion of the case into Rhai values and of the result back into actions,
//! and the same through `decision_events` (which also computes the clocks' due dates).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use criterion::Criterion;
use redress::rules::{
    RuleContext,
    apply::decision_events,
    fixtures::Fixture,
    registry::{LoadedRuleset, Package},
    rhai_engine::{Limits, RhaiEngine},
};
use redress_calendar::CalendarSet;
use redress_domain::{Actor, Case, CaseId, TrackingCode, contract::Trigger};

/// The case a fixture describes, registered as the server would.
fn case_of(fixture: &Fixture) -> Case {
    let mut intake = fixture.case.intake.clone();
    intake.received_at.get_or_insert(fixture.now);
    Case::register(
        CaseId::from_parts(1, 1),
        TrackingCode::from_random(1),
        redress_domain::TenantId::default_tenant(),
        intake,
        Actor::api("bench"),
        fixture.now,
    )
    .unwrap()
    .0
}

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../rulesets");
    let calendars = CalendarSet::load_dir(root.join("calendars")).unwrap();
    let engine = RhaiEngine::new(Limits::default());
    let mut criterion = Criterion::default().configure_from_args();
    let mut dirs: Vec<_> = std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    dirs.sort();
    let mut group = criterion.benchmark_group("decision");
    for dir in dirs
        .into_iter()
        .filter(|d| d.join("ruleset.toml").is_file())
    {
        let package = Package::read_dir(&dir).unwrap();
        let (ruleset, fixtures): (LoadedRuleset, Vec<Fixture>) =
            LoadedRuleset::compile(&engine, &package).unwrap();
        // The first fixture whose trigger is a receipt and whose rules accept it: the typical path.
        let Some(fixture) = fixtures
            .iter()
            .find(|f| f.trigger == Trigger::CaseReceived && f.expect.failure.is_none())
        else {
            continue;
        };
        let case = case_of(fixture);
        let ctx = RuleContext {
            now: fixture.now,
            calendars: &calendars,
        };
        let id = ruleset.manifest.id.clone();
        group.bench_function(format!("{id}: decide"), |b| {
            b.iter(|| ruleset.decide(&Trigger::CaseReceived, &case, &ctx).unwrap())
        });
        group.bench_function(format!("{id}: decide and compute clocks"), |b| {
            b.iter(|| decision_events(&ruleset, Trigger::CaseReceived, &case, &ctx))
        });
        if id == "market-supervision-order20" {
            // What the AST cache saves: compiling the rules for every decision.
            let source = &package.files[&ruleset.manifest.entry];
            let settings = RhaiEngine::settings(&ruleset.manifest).unwrap();
            group.bench_function(format!("{id}: compile and decide (no AST cache)"), |b| {
                b.iter(|| {
                    let ast = engine.compile(source, "bench").unwrap();
                    engine
                        .decide(
                            &ast,
                            &ruleset.manifest,
                            &settings,
                            &Trigger::CaseReceived,
                            &case,
                            &ctx,
                        )
                        .unwrap()
                })
            });
        }
    }
    // The same conversions with a rule that does nothing: the fixed cost of a decision.
    let mut baseline = Package::read_dir(&root.join("market-supervision-order20")).unwrap();
    baseline.files.insert(
        "rules.rhai".into(),
        "fn decide(trigger, the_case, ctx) { [] }".into(),
    );
    baseline.files.retain(|path, _| !path.starts_with("cases/"));
    let (noop, _) = LoadedRuleset::compile(&engine, &baseline).unwrap();
    let fixture_dir = root.join("market-supervision-order20/cases");
    let first = std::fs::read_dir(&fixture_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .min()
        .unwrap();
    let fixture =
        Fixture::parse(&std::fs::read_to_string(&first).unwrap(), "bench", "bench").unwrap();
    let case = case_of(&fixture);
    let ctx = RuleContext {
        now: fixture.now,
        calendars: &calendars,
    };
    group.bench_function("baseline: a rule that returns []", |b| {
        b.iter(|| noop.decide(&Trigger::CaseReceived, &case, &ctx).unwrap())
    });
    group.finish();
    criterion.final_summary();
}

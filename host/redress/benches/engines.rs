//! The same sector logic (banking and insurance) three ways, in one run: as native Rust, as
//! the Rhai ruleset and as the WebAssembly plugin (a fresh instance per decision, instantiation
//! included), on every fixture case whose trigger is a receipt. Prints the mean time per
//! decision and the ratios WASM/native and Rhai/native, and, to show what dominates a plugin
//! decision, the cost of handing the case to the plugin and of a bare instantiation.
//!
//! Needs the plugin built: `scripts/build-plugins` (which `scripts/test` runs).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{
    cell::RefCell,
    collections::BTreeMap,
    path::Path,
    time::{Duration, Instant},
};

use criterion::Criterion;
use redress::rules::{
    LoadedRuleset, RuleContext,
    artifact_cache::ArtifactCache,
    fixtures::Fixture,
    registry::Package,
    rhai_engine::{Limits, RhaiEngine},
    wasm::{Input, WasmEngine},
};
use redress_calendar::CalendarSet;
use redress_domain::{Case, contract::Trigger};
use redress_plugin_sdk as sdk;

/// Total time and iterations per benchmark, as criterion measured them.
type Totals = RefCell<BTreeMap<&'static str, (Duration, u64)>>;

/// Runs `round` `iterations` times for criterion and adds the time to `totals` as
/// `iterations × per_round` decisions.
fn timed(
    totals: &Totals,
    name: &'static str,
    per_round: u64,
    iterations: u64,
    mut round: impl FnMut(),
) -> Duration {
    let started = Instant::now();
    for _ in 0..iterations {
        round();
    }
    let elapsed = started.elapsed();
    let mut totals = totals.borrow_mut();
    let entry = totals.entry(name).or_default();
    entry.0 += elapsed;
    entry.1 += iterations * per_round;
    elapsed
}

/// Mean µs per decision; NaN for a benchmark filtered out on the command line.
fn mean(totals: &Totals, name: &str) -> f64 {
    totals
        .borrow()
        .get(name)
        .map_or(f64::NAN, |(elapsed, iterations)| {
            elapsed.as_secs_f64() * 1e6 / (*iterations).max(1) as f64
        })
}

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let calendars = CalendarSet::load_dir(root.join("rulesets/calendars")).unwrap();
    let engine = RhaiEngine::new(Limits::default());
    let plugin_dir = root.join("target/plugins/banking-insurance-plugin");
    assert!(
        plugin_dir.is_dir(),
        "{} is missing: run scripts/build-plugins first",
        plugin_dir.display()
    );
    let (rhai, fixtures) = LoadedRuleset::compile(
        &engine,
        &Package::read_dir(&root.join("rulesets/banking-insurance")).unwrap(),
    )
    .unwrap();
    let (wasm, _) =
        LoadedRuleset::compile(&engine, &Package::read_dir(&plugin_dir).unwrap()).unwrap();
    let wasm_engine = WasmEngine::shared().unwrap();
    let (plugin, settings) = wasm.plugin().unwrap();

    // Every receipt in the corpus, each as the server would hold it and as the plugin gets it.
    struct Sample {
        case: Case,
        ctx_now: jiff::Timestamp,
        native: (sdk::Trigger, sdk::CaseView, sdk::Context),
    }
    let samples: Vec<Sample> = fixtures
        .iter()
        .filter(|f: &&Fixture| {
            // The native call has 1.0.0's shape (no repeat candidates): receipts without them.
            f.trigger == Trigger::CaseReceived
                && f.expect.failure.is_none()
                && f.case.repeat_of.is_empty()
        })
        .map(|fixture| {
            let case = fixture.evaluate(&rhai, &calendars).unwrap().case_before;
            let ctx = RuleContext {
                now: fixture.now,
                calendars: &calendars,
            };
            let input = Input::new(
                &Trigger::CaseReceived,
                &case,
                &ctx,
                &wasm.manifest,
                settings,
            )
            .unwrap();
            let native = serde_json::from_value(input.to_json()).unwrap();
            Sample {
                case,
                ctx_now: fixture.now,
                native,
            }
        })
        .collect();
    assert!(!samples.is_empty());
    // The three agree on every sample before any is timed.
    for sample in &samples {
        let ctx = RuleContext {
            now: sample.ctx_now,
            calendars: &calendars,
        };
        let (t, c, x) = &sample.native;
        let native = redress_plugin_banking::decide(t, c, x).unwrap();
        let by_rhai = rhai
            .decide(&Trigger::CaseReceived, &sample.case, &ctx)
            .unwrap();
        let by_wasm = wasm
            .decide(&Trigger::CaseReceived, &sample.case, &ctx)
            .unwrap();
        assert_eq!(by_rhai, by_wasm);
        assert_eq!(native.actions.len(), by_wasm.actions.len());
        assert_eq!(native.explanation, by_wasm.explanation);
    }

    let totals = Totals::default();
    let mut criterion = Criterion::default().configure_from_args();
    let mut group = criterion.benchmark_group(format!(
        "banking decision, mean over {} receipts",
        samples.len()
    ));
    // Each iteration decides every sample once; the totals are divided by the sample count.
    let per_round = samples.len() as u64;
    let ctx_of = |sample: &Sample| RuleContext {
        now: sample.ctx_now,
        calendars: &calendars,
    };
    group.bench_function("native Rust", |b| {
        b.iter_custom(|n| {
            timed(&totals, "native", per_round, n, || {
                for sample in &samples {
                    let (t, c, x) = &sample.native;
                    std::hint::black_box(redress_plugin_banking::decide(t, c, x).unwrap());
                }
            })
        })
    });
    for (name, label, ruleset) in [
        ("rhai", "Rhai ruleset", &rhai),
        ("wasm", "WASM plugin (fresh instance per decision)", &wasm),
    ] {
        group.bench_function(label, |b| {
            b.iter_custom(|n| {
                timed(&totals, name, per_round, n, || {
                    for sample in &samples {
                        let decided =
                            ruleset.decide(&Trigger::CaseReceived, &sample.case, &ctx_of(sample));
                        std::hint::black_box(decided.unwrap());
                    }
                })
            })
        });
    }
    // The parts of a plugin decision.
    group.bench_function("WASM part: the case as WIT values", |b| {
        b.iter_custom(|n| {
            timed(&totals, "input", per_round, n, || {
                for sample in &samples {
                    let input = Input::new(
                        &Trigger::CaseReceived,
                        &sample.case,
                        &ctx_of(sample),
                        &wasm.manifest,
                        settings,
                    );
                    std::hint::black_box(input.unwrap());
                }
            })
        })
    });
    group.bench_function("WASM part: instantiate and describe", |b| {
        b.iter_custom(|n| {
            timed(&totals, "instantiate", 1, n, || {
                std::hint::black_box(wasm_engine.describe(plugin, "bench").unwrap());
            })
        })
    });
    group.finish();

    // What the on-disk artifact cache saves at start-up, per plugin.
    let wasm_bytes = std::fs::read(plugin_dir.join("banking.wasm")).unwrap();
    let cache_dir = tempfile::tempdir().unwrap();
    let cache = ArtifactCache::open(cache_dir.path()).unwrap();
    wasm_engine
        .load_cached(&wasm_bytes, "bench", Some(&cache))
        .unwrap();
    let mut group = criterion.benchmark_group("loading the banking plugin");
    group.sample_size(10);
    group.bench_function("compile", |b| {
        b.iter_custom(|n| {
            timed(&totals, "compile", 1, n, || {
                std::hint::black_box(wasm_engine.load(&wasm_bytes, "bench").unwrap());
            })
        })
    });
    group.bench_function("from the artifact cache", |b| {
        b.iter_custom(|n| {
            timed(&totals, "cached", 1, n, || {
                let loaded = wasm_engine.load_cached(&wasm_bytes, "bench", Some(&cache));
                std::hint::black_box(loaded.unwrap());
            })
        })
    });
    group.finish();
    criterion.final_summary();

    let native = mean(&totals, "native");
    let rhai = mean(&totals, "rhai");
    let wasm = mean(&totals, "wasm");
    println!();
    println!(
        "banking decision on {} receipts, mean per decision:",
        samples.len()
    );
    println!("  native Rust   {native:8.2} µs   1.0×");
    println!(
        "  Rhai ruleset  {rhai:8.2} µs   {:.1}× native",
        rhai / native
    );
    println!(
        "  WASM plugin   {wasm:8.2} µs   {:.1}× native, {:.2}× Rhai",
        wasm / native,
        wasm / rhai
    );
    println!(
        "  of which: the case as WIT values {:.2} µs, instantiate + describe {:.2} µs",
        mean(&totals, "input"),
        mean(&totals, "instantiate")
    );
    println!(
        "loading the plugin: compile {:.1} ms, from the artifact cache {:.2} ms ({:.0}× faster)",
        mean(&totals, "compile") / 1e3,
        mean(&totals, "cached") / 1e3,
        mean(&totals, "compile") / mean(&totals, "cached")
    );
}

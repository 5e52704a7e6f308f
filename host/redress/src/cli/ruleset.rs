//! `redress ruleset`: tools for rule authors (run fixtures, explain a decision).

use std::{
    path::{Path, PathBuf},
    process::ExitCode,
};

use anyhow::Context;
use clap::Subcommand;

use super::{RulesetsArg, Settings};
use crate::rules::{
    fixtures::Fixture,
    registry::{LoadedRuleset, Package},
    rhai_engine::{Limits, RhaiEngine},
};

#[derive(Debug, Subcommand)]
pub enum RulesetCommand {
    /// Run the fixture cases of ruleset packages; exit 1 if any fails. Each path is a package
    /// (a folder with ruleset.toml) or a folder of packages (e.g. `rulesets`); other files and
    /// folders given (a README, calendars/) are skipped with a note.
    ///
    /// A package that `extends` a built-in ruleset is resolved against the built-in rulesets
    /// first (`--rulesets`), so the base's fixtures run with its settings.
    Test {
        #[arg(required = true)]
        dirs: Vec<PathBuf>,
        #[command(flatten)]
        rulesets: RulesetsArg,
        /// For a package that `extends` a built-in ruleset: write the decision its settings
        /// lead to into its own `cases/` for every fixture they change, and print the
        /// difference for review. Never in CI: the expectations of a ruleset's own fixtures
        /// come from the law, not from what the rules say.
        #[arg(long)]
        update: bool,
    },
    /// Show the decision for one case and how it was reached.
    Explain {
        dir: PathBuf,
        /// A fixture-format file (description, now, case, trigger, expect).
        #[arg(long)]
        case: PathBuf,
        #[command(flatten)]
        rulesets: RulesetsArg,
    },
}

pub fn run(command: RulesetCommand, settings: &Settings) -> anyhow::Result<ExitCode> {
    match command {
        RulesetCommand::Test {
            dirs,
            rulesets,
            update,
        } => {
            let builtin = settings.rulesets(&rulesets)?;
            let calendars = crate::app::load_calendars(&builtin)?;
            let bases = crate::rules::extension::bases_in(&builtin);
            test(&dirs, &calendars, &bases, update)
        }
        RulesetCommand::Explain {
            dir,
            case,
            rulesets,
        } => {
            let builtin = settings.rulesets(&rulesets)?;
            let calendars = crate::app::load_calendars(&builtin)?;
            let bases = crate::rules::extension::bases_in(&builtin);
            explain(&dir, &case, &calendars, &bases)
        }
    }
}

fn is_package(dir: &Path) -> bool {
    dir.join("ruleset.toml").is_file()
}

/// The packages the arguments name: each package given, and the packages inside each folder
/// of packages, in order.
fn packages_named(paths: &[PathBuf]) -> Vec<PathBuf> {
    let mut packages = Vec::new();
    for path in paths {
        if is_package(path) {
            packages.push(path.clone());
            continue;
        }
        let mut inside: Vec<PathBuf> = std::fs::read_dir(path)
            .map(|entries| {
                entries
                    .filter_map(Result::ok)
                    .map(|e| e.path())
                    .filter(|p| is_package(p))
                    .collect()
            })
            .unwrap_or_default();
        if inside.is_empty() {
            eprintln!(
                "{}: skipped: not a ruleset package (no ruleset.toml) nor a folder of packages",
                path.display()
            );
        }
        inside.sort();
        packages.extend(inside);
    }
    packages
}

/// A package read from `dir`, resolved if it extends a built-in ruleset.
fn read_package(dir: &Path, bases: &[Package]) -> anyhow::Result<Package> {
    let package = Package::read_dir(dir)?;
    Ok(crate::rules::extension::resolve(package, bases)?)
}

fn test(
    paths: &[PathBuf],
    calendars: &redress_calendar::CalendarSet,
    bases: &[Package],
    update: bool,
) -> anyhow::Result<ExitCode> {
    let engine = RhaiEngine::new(Limits::default());
    let packages = packages_named(paths);
    if packages.is_empty() {
        anyhow::bail!("no ruleset package among the paths given");
    }
    let (mut passed, mut failed, mut updated) = (0usize, 0usize, 0usize);
    for dir in packages {
        let package = read_package(&dir, bases)?;
        let extends = package.manifest()?.extends;
        if update && extends.is_none() {
            anyhow::bail!(
                "{}: --update rewrites the fixtures of a package that `extends` a built-in ruleset; a ruleset's own expectations are written from the law, not from its output",
                dir.display()
            );
        }
        let (loaded, fixtures) = LoadedRuleset::compile(&engine, &package)
            .with_context(|| format!("{}: does not compile", dir.display()))?;
        println!(
            "{} {} ({} fixture cases)",
            loaded.manifest.id,
            loaded.manifest.version,
            fixtures.len()
        );
        for fixture in &fixtures {
            let report = fixture.run(&loaded, calendars);
            if report.passed() {
                passed += 1;
                println!("  pass  {}", report.name);
            } else if update {
                update_fixture(&dir, &package, fixture, &loaded, calendars)?;
                updated += 1;
            } else {
                failed += 1;
                println!("  FAIL  {}: {}", report.name, report.description);
                for difference in &report.differences {
                    for line in difference.lines() {
                        println!("        {line}");
                    }
                }
            }
        }
    }
    if update {
        println!(
            "{passed} passed, {updated} updated (review the differences above before deploying)"
        );
    } else {
        println!("{passed} passed, {failed} failed");
    }
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// Writes the decision the extension's settings lead to into `<dir>/cases/<file>`, prints the
/// difference from what the fixture expected, and checks that the fixture now passes.
fn update_fixture(
    dir: &Path,
    package: &Package,
    fixture: &Fixture,
    loaded: &LoadedRuleset,
    calendars: &redress_calendar::CalendarSet,
) -> anyhow::Result<()> {
    let evaluation = fixture.evaluate(loaded, calendars).map_err(|e| {
        anyhow::anyhow!(
            "{}: cannot be updated, the case itself is refused: {e}",
            fixture.name
        )
    })?;
    let observed = fixture.observed(&evaluation);
    let (file, text) = package
        .files
        .iter()
        .find(|(path, _)| {
            path.strip_prefix("cases/").is_some_and(|name| {
                name.trim_end_matches(".yaml").trim_end_matches(".yml") == fixture.name
            })
        })
        .ok_or_else(|| anyhow::anyhow!("{}: fixture file not found", fixture.name))?;
    let mut rewritten = crate::rules::fixtures::with_expect(text, &observed)
        .ok_or_else(|| anyhow::anyhow!("{file}: no top-level `expect:` to rewrite"))?;
    const MARK: &str = "# Rewritten by `redress ruleset test --update`";
    if !rewritten.starts_with(MARK) {
        rewritten = format!(
            "{MARK}: the base's case, expecting what this package's settings decide. Review it against the law before deploying.\n{rewritten}"
        );
    }
    let rerun = Fixture::parse(&rewritten, file, file)?.run(loaded, calendars);
    if !rerun.passed() {
        anyhow::bail!(
            "{file}: the rewritten expectation still fails, so it was not written: {}",
            rerun.differences.join("; ")
        );
    }
    let target = dir.join(file);
    if let Some(parent) = target.parent() {
        std::fs::create_dir_all(parent).with_context(|| parent.display().to_string())?;
    }
    std::fs::write(&target, &rewritten).with_context(|| target.display().to_string())?;
    let render = |e: &crate::rules::fixtures::Expect| crate::yaml::to_string(e);
    let diff = similar::TextDiff::from_lines(&render(&fixture.expect), &render(&observed))
        .unified_diff()
        .header("expected (before)", "expected (now)")
        .to_string();
    println!("  UPDATED  {} → {}", fixture.name, target.display());
    for line in diff.lines() {
        println!("        {line}");
    }
    Ok(())
}

fn explain(
    dir: &Path,
    case: &Path,
    calendars: &redress_calendar::CalendarSet,
    bases: &[Package],
) -> anyhow::Result<ExitCode> {
    let engine = RhaiEngine::new(Limits::default());
    let package = read_package(dir, bases)?;
    let (loaded, _) = LoadedRuleset::compile(&engine, &package)
        .with_context(|| format!("{}: does not compile", dir.display()))?;
    let name = case.display().to_string();
    let text = super::read_text(case)?;
    let fixture = Fixture::parse(&text, &name, &name)?;
    let evaluation = fixture
        .evaluate(&loaded, calendars)
        .map_err(|e| anyhow::anyhow!("{name}: {e}"))?;
    println!(
        "ruleset {} {} on {}",
        loaded.manifest.id,
        loaded.manifest.version,
        fixture.trigger.describe()
    );
    for event in &evaluation.events {
        match event {
            redress_domain::EventKind::Decision {
                actions,
                explanation,
                ..
            } => {
                println!("reasoning:");
                for line in explanation {
                    println!("  - {line}");
                }
                println!("actions:");
                for action in actions {
                    println!("  - {}", serde_json::to_string(action)?);
                }
            }
            redress_domain::EventKind::RuleFailure { reason, .. } => {
                println!("rule failure: {reason}")
            }
            _ => {}
        }
    }
    println!(
        "status: {} → {}",
        evaluation.case_before.status, evaluation.case_after.status
    );
    for (clock_name, clock) in &evaluation.case_after.clocks {
        if evaluation.case_before.clocks.get(clock_name) == Some(clock) {
            continue;
        }
        println!("clock {clock_name}: {}", clock.state.as_str());
        if let Ok(explanation) = <redress_calendar::Explanation as serde::Deserialize>::deserialize(
            clock.explanation.as_ref(),
        ) {
            for line in explanation.render_text().lines() {
                println!("  {line}");
            }
        }
    }
    if fixture.expect.actions.is_some() || !fixture.expect.clocks.is_empty() {
        let report = fixture.run(&loaded, calendars);
        println!(
            "{}",
            if report.passed() {
                "matches the expected decision".to_owned()
            } else {
                report.differences.join("\n")
            }
        );
    }
    Ok(ExitCode::SUCCESS)
}

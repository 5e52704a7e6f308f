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
    Test {
        #[arg(required = true)]
        dirs: Vec<PathBuf>,
        #[command(flatten)]
        rulesets: RulesetsArg,
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
        RulesetCommand::Test { dirs, rulesets } => {
            let calendars = crate::app::load_calendars(&settings.rulesets(&rulesets)?)?;
            test(&dirs, &calendars)
        }
        RulesetCommand::Explain {
            dir,
            case,
            rulesets,
        } => {
            let calendars = crate::app::load_calendars(&settings.rulesets(&rulesets)?)?;
            explain(&dir, &case, &calendars)
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

fn test(paths: &[PathBuf], calendars: &redress_calendar::CalendarSet) -> anyhow::Result<ExitCode> {
    let engine = RhaiEngine::new(Limits::default());
    let packages = packages_named(paths);
    if packages.is_empty() {
        anyhow::bail!("no ruleset package among the paths given");
    }
    let (mut passed, mut failed) = (0usize, 0usize);
    for dir in packages {
        let package = Package::read_dir(&dir)?;
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
    println!("{passed} passed, {failed} failed");
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn explain(
    dir: &Path,
    case: &Path,
    calendars: &redress_calendar::CalendarSet,
) -> anyhow::Result<ExitCode> {
    let engine = RhaiEngine::new(Limits::default());
    let package = Package::read_dir(dir)?;
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

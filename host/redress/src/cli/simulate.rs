//! `redress simulate`: a scenario file through simulated time, printed as a timeline.

use std::{process::ExitCode, sync::Arc};

use clap::{Args, ValueHint};

use super::{RulesetsArg, Settings};
use crate::{
    app::{App, AppConfig},
    time_source::ManualTimeSource,
};

#[derive(Debug, Args)]
pub struct SimulateArgs {
    /// The scenario (YAML): cases, steps and the period to simulate.
    #[arg(value_hint = ValueHint::FilePath)]
    pub scenario: std::path::PathBuf,
    #[command(flatten)]
    pub rulesets: RulesetsArg,
}

pub fn run(args: SimulateArgs, settings: &Settings) -> anyhow::Result<ExitCode> {
    let name = args.scenario.display().to_string();
    let text = super::read_text(&args.scenario)?;
    let scenario = crate::simulate::Scenario::parse(&text, &name)?;
    // The application the server runs, in memory, on a clock the scenario drives.
    let time = Arc::new(ManualTimeSource::new(scenario.start));
    let app = App::open(AppConfig::new(
        None,
        settings.rulesets(&args.rulesets)?,
        Arc::clone(&time) as _,
    ))?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let lines = runtime.block_on(crate::simulate::run(scenario, &app.service, &time, &name))?;
    let shanghai = jiff::tz::TimeZone::get("Asia/Shanghai").unwrap_or(jiff::tz::TimeZone::UTC);
    for line in lines {
        let local = line.at.to_zoned(shanghai.clone());
        println!(
            "{}  {:<8} {}",
            local.strftime("%Y-%m-%d %a %H:%M"),
            line.case,
            line.what
        );
    }
    Ok(ExitCode::SUCCESS)
}

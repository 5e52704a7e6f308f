//! `redress store-bench`: raw durable inserts into a fresh store, the ceiling for intake over
//! HTTP (`scripts/load` prints the ratio of the two).

use std::{path::PathBuf, process::ExitCode, sync::Arc, time::Duration};

use anyhow::Context;
use clap::Args;

use super::{RulesetsArg, Settings};
use crate::rules::{
    Registry,
    rhai_engine::{Limits, RhaiEngine},
};

#[derive(Debug, Args)]
pub struct StoreBenchArgs {
    /// A data directory that does not exist yet (the benchmark fills it).
    #[arg(long)]
    pub data: PathBuf,
    /// The case inserted, again and again (YAML or JSON, as for `POST /v1/cases`).
    #[arg(long)]
    pub case: PathBuf,
    #[arg(long, default_value_t = 10.0)]
    pub seconds: f64,
    /// Concurrent writer threads.
    #[arg(long, default_value_t = 64)]
    pub writers: usize,
    /// The rulesets whose decision on the case is written with it, as the server would
    /// (decided once, then the same events written with every insert).
    #[command(flatten)]
    pub rulesets: RulesetsArg,
}

pub fn run(args: StoreBenchArgs, settings: &Settings) -> anyhow::Result<ExitCode> {
    let StoreBenchArgs {
        data,
        case,
        seconds,
        writers,
        rulesets,
    } = args;
    let (data, case) = (data.as_path(), case.as_path());
    let rulesets = settings.rulesets(&rulesets)?;
    let intake = super::read_intake(case)?;
    let now = jiff::Timestamp::now();
    if let Err(errors) = intake.validate(now) {
        anyhow::bail!("{}: not a valid case: {errors}", case.display());
    }
    // The rules decide once, outside the measurement: the benchmark is of the store writing
    // the same records as intake, not of the rules (`cargo bench --bench rules` has those).
    let calendars = crate::app::load_calendars(&rulesets)?;
    let rules = Registry::new(RhaiEngine::new(Limits::default()));
    crate::app::install_packages(&rules, std::slice::from_ref(&rulesets), &calendars);
    let (registered, _) = redress_domain::Case::register(
        redress_domain::CaseId::from_parts(0, 0),
        redress_domain::TrackingCode::from_random(0),
        redress_domain::TenantId::default_tenant(),
        intake.clone(),
        redress_domain::Actor::api("store-bench"),
        now,
    )?;
    let decided = crate::service::decide(
        &rules,
        &calendars,
        redress_domain::contract::Trigger::CaseReceived,
        &registered,
        now,
    );
    let decided: crate::store::Plan = Arc::new(move |_, _| Ok(decided.clone()));
    if data.exists() {
        anyhow::bail!(
            "{}: already exists; the benchmark needs a fresh directory",
            data.display()
        );
    }
    let duration = Duration::try_from_secs_f64(seconds)
        .ok()
        .filter(|d| !d.is_zero())
        .with_context(|| format!("--seconds {seconds}: must be a positive number"))?;
    let figures = crate::store::load::insert_for(data, &intake, Some(decided), writers, duration)?;
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    // One line of JSON, for scripts/load to read.
    println!(
        "{}",
        serde_json::json!({
            "inserts": figures.inserts,
            "seconds": figures.elapsed.as_secs_f64(),
            "per_second": figures.per_second(),
            "p50_ms": ms(figures.p50),
            "p99_ms": ms(figures.p99),
            "max_ms": ms(figures.max),
            "writers": writers,
        })
    );
    Ok(ExitCode::SUCCESS)
}

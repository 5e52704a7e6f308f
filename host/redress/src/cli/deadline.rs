//! `redress deadline`: compute a statutory deadline and explain it, as a rule would.

use std::process::ExitCode;

use clap::Args;
use redress_domain::clock::{ClockSpec, ClockUnit, DayEnd};

use super::{RulesetsArg, Settings};
use crate::deadlines;

#[derive(Debug, Args)]
pub struct DeadlineArgs {
    /// Calendar id (a file in <rulesets>/calendars).
    #[arg(long, default_value = "cn-mainland")]
    pub calendar: String,
    /// Start: a date (2026-02-13), a local date-time (2026-02-13T10:00) or an instant with offset.
    #[arg(long)]
    pub from: String,
    #[arg(long, group = "period")]
    pub working_days: Option<u32>,
    #[arg(long, group = "period")]
    pub calendar_days: Option<u32>,
    #[arg(long, group = "period")]
    pub hours: Option<u32>,
    /// With --calendar-days: move a due date on a rest day to the next working day.
    #[arg(long)]
    pub roll_forward: bool,
    /// End the due day at close of business instead of 24:00 (days, not hours).
    #[arg(long, conflicts_with = "hours")]
    pub close_of_business: bool,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub rulesets: RulesetsArg,
}

pub fn run(args: DeadlineArgs, settings: &Settings) -> anyhow::Result<ExitCode> {
    let calendars = crate::app::load_calendars(&settings.rulesets(&args.rulesets)?)?;
    // The calendar first: an unknown one is the calendar's fault, not the start date's.
    if calendars.get(&args.calendar).is_none() {
        anyhow::bail!(
            "--calendar {}: no such calendar (known: {})",
            args.calendar,
            calendars.ids().collect::<Vec<_>>().join(", ")
        );
    }
    // Checked here rather than with clap's `requires`, which does not see a flag's partner
    // inside the `period` group.
    if args.roll_forward && args.calendar_days.is_none() {
        anyhow::bail!(
            "--roll-forward applies to --calendar-days only: a count of working days never ends on a rest day, and hours are not moved"
        );
    }
    let (amount, unit) = match (args.working_days, args.calendar_days, args.hours) {
        (Some(n), _, _) => (n, ClockUnit::WorkingDays),
        (_, Some(n), _) => (n, ClockUnit::CalendarDays),
        (_, _, Some(n)) => (n, ClockUnit::Hours),
        _ => anyhow::bail!("give one of --working-days, --calendar-days or --hours"),
    };
    let start = deadlines::parse_start(&calendars, &args.calendar, &args.from)
        .map_err(|e| anyhow::anyhow!("--from {}: {e}", args.from))?;
    let spec = ClockSpec {
        name: "deadline".into(),
        amount,
        unit,
        calendar: args.calendar,
        roll_forward: args.roll_forward,
        day_end: if args.close_of_business {
            DayEnd::CloseOfBusiness
        } else {
            DayEnd::Midnight
        },
        warn_before: None,
        article: None,
        escalation: Vec::new(),
        met_by: Vec::new(),
        window: false,
    };
    let deadline =
        deadlines::compute(&calendars, &spec, start, &[], &[]).map_err(anyhow::Error::msg)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&deadline)?);
    } else {
        print!("{}", deadline.render_text());
    }
    Ok(ExitCode::SUCCESS)
}

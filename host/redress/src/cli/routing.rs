//! `redress routing`: jurisdiction routing tables.

use std::{
    path::{Path, PathBuf},
    process::ExitCode,
};

use clap::Subcommand;

#[derive(Debug, Subcommand)]
pub enum RoutingCommand {
    /// Show which office a case goes to under a routing table, which rule matched and why.
    Test {
        table: PathBuf,
        /// A case intake (YAML or JSON, as for `POST /v1/cases`).
        #[arg(long)]
        case: PathBuf,
    },
}

pub fn run(command: RoutingCommand) -> anyhow::Result<ExitCode> {
    match command {
        RoutingCommand::Test { table, case } => routing_test(&table, &case),
    }
}

fn routing_test(table_path: &Path, case_path: &Path) -> anyhow::Result<ExitCode> {
    use crate::routing::{Matched, RouteQuery, RoutingTable};
    let table = RoutingTable::parse(
        &super::read_text(table_path)?,
        &table_path.display().to_string(),
    )?;
    let intake = super::read_intake(case_path)?;
    let query = RouteQuery::for_intake(&intake);
    let Some(resolution) = table.resolve(&query) else {
        println!(
            "no office: no rule matches and the table has no default; the case stays with intake"
        );
        return Ok(ExitCode::from(1));
    };
    println!(
        "office {} ({}, {:?} level)",
        resolution.office.id, resolution.office.name, resolution.office.level
    );
    println!(
        "matched: {}",
        match resolution.matched {
            Matched::Rule(n) => format!("rule #{n}"),
            Matched::Default => "the default".into(),
        }
    );
    for line in &resolution.why {
        println!("  - {line}");
    }
    if !resolution.less_specific.is_empty() {
        let others: Vec<String> = resolution
            .less_specific
            .iter()
            .map(|n| format!("#{n}"))
            .collect();
        println!("  - also matching, less specific: {}", others.join(", "));
    }
    let parents: Vec<String> = std::iter::successors(table.parent_of(&resolution.office.id), |o| {
        table.parent_of(&o.id)
    })
    .map(|o| o.id.clone())
    .collect();
    if !parents.is_empty() {
        println!("escalation: {}", parents.join(" → "));
    }
    Ok(ExitCode::SUCCESS)
}

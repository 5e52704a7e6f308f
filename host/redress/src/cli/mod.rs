//! The `redress` command line: one file per command, and the arguments and settings they share.
//! It lives in the library so that it can be tested without the binary; `main.rs` only parses
//! and reports.
//!
//! Invariants:
//! - every command that reads the data or ruleset directory resolves it the same way: the flag
//!   (or its `REDRESS_*` variable), else `--config`'s file, else the default (`settings.rs`);
//! - a failure is reported once, with its causes, as `redress: <what>: <why>` and exit status
//!   2; a check that ran and found problems exits 1.

use std::{path::PathBuf, process::ExitCode};

use clap::{Args, Parser, Subcommand};

use crate::config::LogFormat;

pub mod access;
pub mod audit;
pub mod calendar;
pub mod deadline;
pub mod plugin;
pub mod remote;
pub mod routing;
pub mod ruleset;
pub mod schemas;
pub mod serve;
pub mod settings;
pub mod simulate;
pub mod store_bench;
pub mod user;

pub use settings::Settings;

#[derive(Debug, Parser)]
#[command(
    name = "redress",
    version,
    about = "Rules-engine host for complaint handling in regulated sectors"
)]
pub struct Cli {
    /// Optional TOML configuration file (flags and environment variables take precedence).
    #[arg(long, global = true, env = "REDRESS_CONFIG")]
    pub config: Option<PathBuf>,
    /// Log output format.
    #[arg(long, global = true, env = "REDRESS_LOG_FORMAT", value_enum)]
    pub log_format: Option<LogFormat>,
    /// Log filter, e.g. `info` or `redress=debug,info`.
    #[arg(long, global = true, env = "REDRESS_LOG")]
    pub log: Option<String>,
    #[command(subcommand)]
    pub command: Command,
}

/// `--data`, shared by every command that reads or writes a data directory.
#[derive(Debug, Clone, Default, Args)]
pub struct DataArg {
    /// Data directory (default: `[server] data` of --config, else `data`).
    #[arg(long, env = "REDRESS_DATA")]
    pub data: Option<PathBuf>,
}

/// `--rulesets`, shared by every command that reads rulesets or calendars.
#[derive(Debug, Clone, Default, Args)]
pub struct RulesetsArg {
    /// Ruleset directory: calendars/ and one folder per package (default: `[server] rulesets`
    /// of --config, else ./rulesets if present, else the built-in rulesets).
    #[arg(long, global = true, env = "REDRESS_RULESETS")]
    pub rulesets: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP server.
    Serve(serve::ServeArgs),
    /// Write the JSON Schemas and the OpenAPI document generated from the server's types.
    Schemas(schemas::SchemasArgs),
    /// Compute a statutory deadline and explain it, as a rule would (for checking rules by hand).
    Deadline(deadline::DeadlineArgs),
    /// Working-day calendars: import a State Council holiday notice.
    Calendar {
        #[command(subcommand)]
        command: calendar::CalendarCommand,
        #[command(flatten)]
        rulesets: RulesetsArg,
    },
    /// Run a scenario file through simulated time and print the timeline.
    Simulate(simulate::SimulateArgs),
    /// Tools for rule authors.
    Ruleset {
        #[command(subcommand)]
        command: ruleset::RulesetCommand,
    },
    /// Audit tools.
    Audit {
        #[command(subcommand)]
        command: audit::AuditCommand,
    },
    /// Signing tools for plugin vendors.
    Plugin {
        #[command(subcommand)]
        command: plugin::PluginCommand,
    },
    /// Tenants (organisations) of a data directory. Works while the server runs: it re-reads
    /// <data>/access.json when it changes.
    Tenant {
        #[command(subcommand)]
        command: access::TenantCommand,
    },
    /// API keys: each for one tenant and one role; the key is shown once, only its hash is kept.
    Key {
        #[command(subcommand)]
        command: access::KeyCommand,
    },
    /// People's accounts for the web console (`/console`): each for one tenant and one role,
    /// optionally one office. Works while the server runs: it re-reads <data>/accounts.json.
    User {
        #[command(subcommand)]
        command: user::UserCommand,
    },
    /// Jurisdiction routing tables.
    Routing {
        #[command(subcommand)]
        command: routing::RoutingCommand,
    },
    /// Measure raw durable inserts into a fresh store on this disk: the ceiling for intake
    /// over HTTP (`scripts/load` prints the ratio of the two).
    StoreBench(store_bench::StoreBenchArgs),
}

/// Runs a parsed command line: reads the configuration, starts logging, runs the command.
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let settings = Settings::load(cli.config.as_deref())?;
    // The tools print their results on stdout; only the server logs its progress by default.
    let default_filter = if matches!(cli.command, Command::Serve(_)) {
        None
    } else {
        Some("warn")
    };
    crate::telemetry::init(
        cli.log_format
            .or(settings.file.log.format)
            .unwrap_or(LogFormat::Human),
        cli.log
            .as_deref()
            .or(settings.file.log.filter.as_deref())
            .or(default_filter),
    );
    match cli.command {
        Command::Serve(args) => serve::run(args, &settings),
        Command::Schemas(args) => schemas::run(args),
        Command::Deadline(args) => deadline::run(args, &settings),
        Command::Calendar { command, rulesets } => {
            calendar::run(command, &settings.rulesets(&rulesets)?)
        }
        Command::Simulate(args) => simulate::run(args, &settings),
        Command::Ruleset { command } => ruleset::run(command, &settings),
        Command::Audit { command } => audit::run(command, &settings),
        Command::Plugin { command } => plugin::run(command),
        Command::Tenant { command } => access::tenant(command, &settings),
        Command::Key { command } => access::key(command, &settings),
        Command::User { command } => user::run(command, &settings),
        Command::Routing { command } => routing::run(command),
        Command::StoreBench(args) => store_bench::run(args, &settings),
    }
}

/// Reads a text file, naming it in the error.
pub(crate) fn read_text(path: &std::path::Path) -> anyhow::Result<String> {
    use anyhow::Context;
    std::fs::read_to_string(path).with_context(|| format!("{}: cannot read", path.display()))
}

/// A case intake from a YAML or JSON file (JSON is YAML), with the file, line and field of
/// any error.
pub(crate) fn read_intake(path: &std::path::Path) -> anyhow::Result<redress_domain::CaseIntake> {
    let text = read_text(path)?;
    Ok(crate::yaml::from_str(&text, &path.display().to_string())?)
}

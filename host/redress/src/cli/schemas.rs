//! `redress schemas`: the JSON Schemas and the OpenAPI document, generated from the types.

use std::{path::PathBuf, process::ExitCode};

use anyhow::Context;
use clap::Args;

#[derive(Debug, Args)]
pub struct SchemasArgs {
    #[arg(long, default_value = "schemas")]
    pub out: PathBuf,
    /// Only check that the files in `--out` are current; exit 1 if not.
    #[arg(long)]
    pub check: bool,
}

pub fn run(args: SchemasArgs) -> anyhow::Result<ExitCode> {
    let out = args.out;
    if args.check {
        let stale = crate::schemas::stale(&out);
        if stale.is_empty() {
            println!("{}: up to date", out.display());
            return Ok(ExitCode::SUCCESS);
        }
        eprintln!(
            "{}: stale: {} (run `redress schemas --out {}`)",
            out.display(),
            stale.join(", "),
            out.display()
        );
        return Ok(ExitCode::from(1));
    }
    for path in crate::schemas::write(&out).with_context(|| format!("writing {}", out.display()))? {
        println!("wrote {path}");
    }
    Ok(ExitCode::SUCCESS)
}

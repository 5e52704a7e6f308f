//! The `redress` command: parses the command line and hands it to the library (`cli/`, one
//! file per command; `app.rs` assembles the server).

use std::process::ExitCode;

use clap::Parser;

/// The intake path allocates many small, short-lived objects across threads (JSON values,
/// events, sled nodes); glibc's malloc spent about a fifth of the server's CPU under load on
/// them (`scripts/load` with perf), mimalloc much less.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = redress::cli::Cli::parse();
    match redress::cli::run(cli) {
        Ok(code) => code,
        Err(e) => {
            // `{:#}`: the error and each of its causes, on one line.
            eprintln!("redress: {e:#}");
            ExitCode::from(2)
        }
    }
}

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
    quiet_on_closed_pipe();
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

/// `redress deadline | head`: once the reader has gone, stop quietly with the status a Unix
/// tool killed by SIGPIPE has (128 + 13), rather than panicking about it. Rust ignores
/// SIGPIPE, so the closed pipe shows up as a failed `println!`; restoring the signal would
/// take `unsafe` for the sake of one message.
fn quiet_on_closed_pipe() {
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let payload = info.payload();
        let message = payload
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| payload.downcast_ref::<&str>().copied())
            .unwrap_or_default();
        if message.starts_with("failed printing to stdout") && message.contains("Broken pipe") {
            std::process::exit(141);
        }
        default_hook(info);
    }));
}

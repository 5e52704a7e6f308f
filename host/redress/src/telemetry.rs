//! Logging. Personal data never reaches a log line: request spans carry only the method and the
//! path, handlers log ids and states, and personal fields are `Sensitive` (redacted in Debug).

use tracing_subscriber::{EnvFilter, fmt, prelude::*};

use crate::config::LogFormat;

pub const DEFAULT_FILTER: &str = "info,sled=warn,tower_http=info";

/// Installs the global subscriber, writing to stderr (stdout is left to command output).
pub fn init(format: LogFormat, filter: Option<&str>) {
    let filter = EnvFilter::try_new(filter.unwrap_or(DEFAULT_FILTER))
        .unwrap_or_else(|_| EnvFilter::new(DEFAULT_FILTER));
    let registry = tracing_subscriber::registry().with(filter);
    let result = match format {
        LogFormat::Human => registry
            .with(fmt::layer().with_writer(std::io::stderr))
            .try_init(),
        LogFormat::Json => registry
            .with(
                fmt::layer()
                    .json()
                    .flatten_event(true)
                    .with_current_span(true)
                    .with_writer(std::io::stderr),
            )
            .try_init(),
    };
    // A second initialisation (tests) keeps the first subscriber.
    drop(result);
}

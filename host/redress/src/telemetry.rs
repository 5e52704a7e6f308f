//! Logging. Personal data never reaches a log line: request spans carry only the method and the
//! path, handlers log ids and states, and personal fields are `Sensitive` (redacted in Debug).
//!
//! A log line is one line in either format. Messages and field values can carry text a rule, a
//! plugin or a client chose (a rule failure's reason, a plugin's log call), so the human format
//! escapes control characters in them as the JSON format does: a `\n` there must not start a
//! line that reads like the server's own.

use tracing_subscriber::{
    EnvFilter,
    field::RecordFields,
    fmt::{
        self, FormatFields,
        format::{DefaultFields, Writer},
    },
    prelude::*,
};

use crate::config::LogFormat;

pub const DEFAULT_FILTER: &str = "info,sled=warn,tower_http=info";

/// Installs the global subscriber, writing to stderr (stdout is left to command output).
pub fn init(format: LogFormat, filter: Option<&str>) {
    let filter = EnvFilter::try_new(filter.unwrap_or(DEFAULT_FILTER))
        .unwrap_or_else(|_| EnvFilter::new(DEFAULT_FILTER));
    let registry = tracing_subscriber::registry().with(filter);
    let result = match format {
        LogFormat::Human => {
            // Colours only for a person at a terminal; a file gets plain text.
            let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
            registry.with(human_layer(std::io::stderr, ansi)).try_init()
        }
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

/// The human format's layer, writing to `writer`.
fn human_layer<S, W>(writer: W, ansi: bool) -> impl tracing_subscriber::Layer<S>
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
    W: for<'w> fmt::MakeWriter<'w> + Send + Sync + 'static,
{
    fmt::layer()
        .fmt_fields(EscapedFields::default())
        .with_ansi(ansi)
        .with_writer(writer)
}

/// `DefaultFields`, with every control character in the result escaped. Fields are formatted
/// without ANSI styling first, so the only control characters left are the values' own.
#[derive(Debug, Default)]
struct EscapedFields {
    inner: DefaultFields,
}

impl<'writer> FormatFields<'writer> for EscapedFields {
    fn format_fields<R: RecordFields>(
        &self,
        mut writer: Writer<'writer>,
        fields: R,
    ) -> std::fmt::Result {
        let mut raw = String::new();
        self.inner.format_fields(Writer::new(&mut raw), fields)?;
        write_escaped(&mut writer, &raw)
    }
}

/// Writes `text` with C0 controls, DEL and C1 controls escaped the way JSON escapes them
/// (`\n`, `\r`, `\t`, otherwise `\u001b`).
fn write_escaped(out: &mut impl std::fmt::Write, text: &str) -> std::fmt::Result {
    let mut rest = text;
    while let Some(at) = rest.find(char::is_control) {
        out.write_str(&rest[..at])?;
        let mut chars = rest[at..].chars();
        let Some(control) = chars.next() else { break };
        match control {
            '\n' => out.write_str("\\n")?,
            '\r' => out.write_str("\\r")?,
            '\t' => out.write_str("\\t")?,
            other => write!(out, "\\u{:04x}", u32::from(other))?,
        }
        rest = chars.as_str();
    }
    out.write_str(rest)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use std::sync::{Arc, Mutex};

    use super::*;

    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Buffer {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'w> fmt::MakeWriter<'w> for Buffer {
        type Writer = Buffer;
        fn make_writer(&'w self) -> Buffer {
            self.clone()
        }
    }

    /// Security review: a rule or plugin could start a forged log line with a newline.
    #[test]
    fn human_log_format_escapes_control_characters_so_no_line_is_forged() {
        let buffer = Buffer::default();
        let subscriber = tracing_subscriber::registry().with(human_layer(buffer.clone(), false));
        let forged = "\n2026-12-01T00:00:00Z  INFO forged";
        tracing::subscriber::with_default(subscriber, || {
            let span = tracing::info_span!("request", path = %"/v1/x\r\nevil");
            let _entered = span.enter();
            tracing::info!("{forged}");
            tracing::warn!(reason = %forged, debug = ?forged, plain = forged, "rule failed\u{1b}[2J\u{85}");
        });
        let text = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2, "{text}");
        assert!(
            lines.iter().all(|l| !l.starts_with("2026-12-01T00:00:00Z")),
            "{text}"
        );
        assert!(
            lines[0].contains("\\n2026-12-01T00:00:00Z  INFO forged"),
            "{text}"
        );
        assert!(lines[0].contains("/v1/x\\r\\nevil"), "{text}");
        // tracing-subscriber escapes ESC and C1 itself (`\x1b`); whoever does, none is left.
        assert!(lines[1].contains("rule failed\\"), "{text}");
        for raw in ['\u{1b}', '\u{85}', '\r'] {
            assert!(!text.contains(raw), "{raw:?} in {text:?}");
        }
    }

    #[test]
    fn escaping_leaves_other_text_alone() {
        let mut out = String::new();
        write_escaped(&mut out, "张三 a\tb\u{7f}\u{0}é").unwrap();
        assert_eq!(out, "张三 a\\tb\\u007f\\u0000é");
    }
}

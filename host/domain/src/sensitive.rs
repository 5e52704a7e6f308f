//! A wrapper for personal data that must never reach a log line.

use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Personal data of a complainant, reporter or agent (name, phone, address, identity document).
///
/// It serialises transparently, because the API must return it to the roles entitled to see it,
/// but its `Debug` and `Display` never show the value: a `tracing` field, a panic message or an
/// error chain that happens to include a case cannot leak it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema, Default)]
#[serde(transparent)]
#[schemars(transparent)]
pub struct Sensitive<T>(pub T);

impl<T> Sensitive<T> {
    /// The value itself: callers must not log it.
    pub fn expose(&self) -> &T {
        &self.0
    }
}

impl<T> fmt::Debug for Sensitive<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl<T> fmt::Display for Sensitive<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl From<&str> for Sensitive<String> {
    fn from(value: &str) -> Self {
        Sensitive(value.to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_never_show_the_value() {
        let phone = Sensitive::from("13800138000");
        assert_eq!(format!("{phone:?} {phone}"), "<redacted> <redacted>");
        assert_eq!(
            serde_json::to_string(&phone).ok().as_deref(),
            Some("\"13800138000\"")
        );
    }
}

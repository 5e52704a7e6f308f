//! Field-level validation errors that name the JSON path of each bad field.

use std::fmt;

use schemars::JsonSchema;
use serde::Serialize;

/// One invalid field: where it is in the request document and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct FieldError {
    /// A JSON Pointer (RFC 6901) to the field, e.g. `/respondent/division_code`.
    pub pointer: String,
    /// What is wrong, in words a client developer can act on.
    pub detail: String,
}

/// Every problem found in one document, not just the first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ValidationErrors(pub Vec<FieldError>);

impl ValidationErrors {
    pub fn push(&mut self, pointer: impl Into<String>, detail: impl Into<String>) {
        self.0.push(FieldError {
            pointer: pointer.into(),
            detail: detail.into(),
        });
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// `Ok(())` when nothing was found, so validators can end with `errors.into_result()`.
    pub fn into_result(self) -> Result<(), ValidationErrors> {
        if self.0.is_empty() { Ok(()) } else { Err(self) }
    }
}

impl fmt::Display for ValidationErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{}: {}", e.pointer, e.detail)?;
        }
        Ok(())
    }
}

impl std::error::Error for ValidationErrors {}

/// Checks a free-text field: required or not, trimmed non-empty, bounded in characters.
pub(crate) fn text(errors: &mut ValidationErrors, pointer: &str, value: &str, max_chars: usize) {
    if value.trim().is_empty() {
        errors.push(pointer, "must not be empty");
    } else if value.chars().count() > max_chars {
        errors.push(pointer, format!("must be at most {max_chars} characters"));
    }
}

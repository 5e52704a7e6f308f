//! What is wrong with a JSON body, field by field, in the words of JSON rather than of Rust.
//!
//! serde stops at the first field it cannot read and says so in Rust's terms ("invalid type:
//! integer `3999`, expected struct Amount"). Once serde has refused a body (and only then, so
//! what is accepted stays serde's decision), the request type's own JSON Schema — the one the
//! OpenAPI document publishes — is checked against the body to name every field that does not
//! fit. Values are never echoed back: a body carries personal data.

use std::{
    any::TypeId,
    collections::HashMap,
    sync::{Arc, Mutex, OnceLock, PoisonError},
};

use jsonschema::{
    Validator,
    error::{TypeKind, ValidationErrorKind},
};
use schemars::JsonSchema;

/// A field at fault: its JSON Pointer and what is wrong with it.
pub type FieldFault = (String, String);

/// The validator of `T`'s schema, compiled once per type.
fn validator<T: JsonSchema + 'static>() -> Option<Arc<Validator>> {
    static CACHE: OnceLock<Mutex<HashMap<TypeId, Option<Arc<Validator>>>>> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    let mut cache = cache.lock().unwrap_or_else(PoisonError::into_inner);
    cache
        .entry(TypeId::of::<T>())
        .or_insert_with(|| {
            let schema = schemars::schema_for!(T).to_value();
            match jsonschema::validator_for(&schema) {
                Ok(validator) => Some(Arc::new(validator)),
                Err(e) => {
                    // A schema the validator cannot compile is a bug of ours; serde's own
                    // message still answers the request.
                    tracing::error!(error = %e, "a request schema does not compile");
                    None
                }
            }
        })
        .clone()
}

fn type_name(kind: &str) -> &'static str {
    match kind {
        "object" => "an object",
        "array" => "an array",
        "string" => "a string",
        "integer" => "a whole number",
        "number" => "a number",
        "boolean" => "true or false",
        "null" => "null",
        _ => "a value of another kind",
    }
}

fn types_of(kind: &TypeKind) -> Vec<&'static str> {
    match kind {
        TypeKind::Single(one) => vec![type_name(one.as_str())],
        TypeKind::Multiple(set) => set.iter().map(|t| type_name(t.as_str())).collect(),
    }
}

/// Every field of `value` that does not fit `T`'s schema (empty if the schema finds none).
pub fn schema_faults<T: JsonSchema + 'static>(value: &serde_json::Value) -> Vec<FieldFault> {
    let Some(validator) = validator::<T>() else {
        return Vec::new();
    };
    let mut faults: Vec<FieldFault> = Vec::new();
    for error in validator.iter_errors(value) {
        describe(&error, &mut faults);
    }
    let mut seen = std::collections::HashSet::new();
    faults.retain(|(pointer, _)| seen.insert(pointer.clone()));
    faults
}

/// serde's fault (`pointer`, `detail`) and the schema's others, without repeating a field:
/// serde's first (its words are the more precise), except inside a tagged union (a handler
/// action), where serde loses the path and blames the root while the schema names the fields;
/// serde's list of allowed values then goes to the one field the schema found outside its
/// allowed values.
pub fn with_schema_faults<T: JsonSchema + 'static>(
    pointer: String,
    detail: String,
    value: &serde_json::Value,
) -> Vec<FieldFault> {
    let schema = schema_faults::<T>(value);
    if pointer == "/" && !schema.is_empty() && schema.iter().all(|(p, _)| p != "/") {
        let mut faults = schema;
        let generic = "is not one of the allowed values";
        let mut outside = faults.iter_mut().filter(|(_, why)| why == generic);
        if let (Some(only), None) = (outside.next(), outside.next())
            && detail.starts_with(generic)
        {
            only.1 = detail;
        }
        return faults;
    }
    let mut faults = vec![(pointer, detail)];
    for (other, why) in schema {
        // A fault already named, or one that only says a field inside it is wrong (a variant
        // that did not match because of the field serde named).
        let covered = faults.iter().any(|(p, _)| {
            *p == other || p.starts_with(&format!("{}/", other.trim_end_matches('/')))
        });
        if !covered {
            faults.push((other, why));
        }
    }
    faults
}

/// One validation error as field faults (a tagged union's matching branch, field by field).
fn describe(error: &jsonschema::ValidationError<'_>, faults: &mut Vec<FieldFault>) {
    let at = match error.instance_path().to_string() {
        root if root.is_empty() => "/".to_owned(),
        at => at,
    };
    let join = |name: &str| {
        let parent = at.trim_end_matches('/');
        format!("{parent}/{}", name.replace('~', "~0").replace('/', "~1"))
    };
    match error.kind() {
        ValidationErrorKind::Required { property } => {
            let name = property.as_str().unwrap_or_default();
            faults.push((join(name), "is required".into()));
        }
        ValidationErrorKind::AdditionalProperties { unexpected } => {
            for name in unexpected {
                faults.push((join(name), "is not a field here".into()));
            }
        }
        ValidationErrorKind::Type { kind } => {
            faults.push((at, format!("must be {}", types_of(kind).join(" or "))));
        }
        ValidationErrorKind::OneOfNotValid { context } | ValidationErrorKind::AnyOf { context } => {
            // A tagged union (`{"type": "give_notice", ...}`): the one branch whose tag
            // matched says what is wrong, field by field, rather than "no branch fits".
            let tag_fits = |branch: &&Vec<jsonschema::ValidationError<'_>>| {
                !branch.iter().any(|e| {
                    matches!(e.kind(), ValidationErrorKind::Constant { .. })
                        && e.instance_path().to_string().ends_with("/type")
                })
            };
            let matching: Vec<_> = context.iter().filter(tag_fits).collect();
            if context.len() > 1 && matching.len() == 1 {
                for e in matching[0] {
                    describe(e, faults);
                }
                return;
            }
            // An optional field (`anyOf: [T, null]`) or a choice of types: when every
            // alternative failed only on its type, say which types would do.
            let types: Option<Vec<&str>> = context
                .iter()
                .map(|branch| match branch.as_slice() {
                    [only] => match only.kind() {
                        ValidationErrorKind::Type { kind } => Some(types_of(kind)),
                        _ => None,
                    },
                    _ => None,
                })
                .collect::<Option<Vec<_>>>()
                .map(|all| all.concat());
            let detail = match types {
                Some(types) if !types.is_empty() => format!("must be {}", types.join(" or ")),
                _ => "is not one of the allowed values".into(),
            };
            faults.push((at, detail));
        }
        ValidationErrorKind::Enum { .. } | ValidationErrorKind::Constant { .. } => {
            faults.push((at, "is not one of the allowed values".into()));
        }
        _ => faults.push((at, error.masked().to_string())),
    }
}

/// serde's message about one field, in JSON's words and without the value it found.
pub fn plain_words(detail: &str) -> String {
    let Some(rest) = detail.strip_prefix("invalid type: ") else {
        return unknown_variant(detail).unwrap_or_else(|| detail.to_owned());
    };
    let (found, expected) = rest.split_once(", expected ").unwrap_or((rest, ""));
    let found = match found.split_whitespace().next().unwrap_or_default() {
        "integer" | "floating" => "a number",
        "string" => "a string",
        "boolean" => "true or false",
        "null" | "unit" => "null",
        "sequence" => "an array",
        "map" => "an object",
        _ => "a value of another kind",
    };
    let expected = if expected.starts_with("struct ") || expected.starts_with("a map") {
        "an object"
    } else if expected.starts_with("a sequence") || expected.starts_with("a tuple") {
        "an array"
    } else if expected.starts_with("u8")
        || expected.starts_with("u16")
        || expected.starts_with("u32")
        || expected.starts_with("u64")
        || expected.starts_with("usize")
    {
        "a whole number, 0 or more"
    } else if expected.starts_with('i') && expected[1..].chars().all(|c| c.is_ascii_digit()) {
        "a whole number"
    } else if expected.starts_with("f32") || expected.starts_with("f64") {
        "a number"
    } else if expected.contains("string") {
        "a string"
    } else if expected.starts_with("a boolean") {
        "true or false"
    } else if expected.starts_with("enum ") || expected.starts_with("variant") {
        "one of the allowed values"
    } else {
        expected
    };
    format!("must be {expected}, not {found}")
}

/// "unknown variant `x`, expected one of `a`, `b`" keeps its list but loses the value.
fn unknown_variant(detail: &str) -> Option<String> {
    let rest = detail.strip_prefix("unknown variant `")?;
    let (_, expected) = rest.split_once("`, expected ")?;
    Some(format!("is not one of the allowed values: {expected}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serde_messages_in_json_words_without_the_value() {
        let table = [
            (
                "invalid type: integer `3999`, expected struct Amount",
                "must be an object, not a number",
            ),
            (
                "invalid type: string \"13800138000\", expected u32",
                "must be a whole number, 0 or more, not a string",
            ),
            (
                "invalid type: map, expected a sequence",
                "must be an array, not an object",
            ),
            (
                "invalid type: boolean `true`, expected a string",
                "must be a string, not true or false",
            ),
            (
                "unknown variant `fax`, expected one of `hotline`, `web`",
                "is not one of the allowed values: one of `hotline`, `web`",
            ),
        ];
        for (serde, plain) in table {
            assert_eq!(plain_words(serde), plain, "{serde}");
            assert!(!plain_words(serde).contains("13800138000"));
        }
    }
}

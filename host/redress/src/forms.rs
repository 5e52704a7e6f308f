//! HTML forms for the API's request types, derived from the JSON Schemas the OpenAPI document
//! publishes, and read back through the very serde types and checks the API uses.
//!
//! Why derived: a page that listed its own fields would drift from the API (a field added to
//! `HandlerAction` would be missing from the console, a constraint checked in one place and
//! not the other). Here the form of each handler action (`give_notice`: recipient, means,
//! about...) is read off `HandlerAction`'s schema, and a submitted form becomes JSON that is
//! deserialised, schema-checked and validated exactly like an API body, so the console accepts
//! what the API accepts and names the same fields when it refuses.
//!
//! Field names are the JSON field names, nested with dots (`complainant.name`), so that an
//! error's JSON Pointer (`/complainant/name`) maps back to the input that caused it.

use std::{collections::BTreeMap, sync::OnceLock};

use redress_domain::{CaseIntake, HandlerAction, ValidationErrors};
use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

/// What kind of input a field is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FieldKind {
    /// One line of text.
    Text,
    /// A date, `YYYY-MM-DD`.
    Date,
    /// An instant (RFC 3339); the form gives a local `datetime-local`.
    DateTime,
    /// A checkbox.
    Bool,
    /// A whole number.
    Integer,
    /// One of these values (snake_case, as on the wire).
    Choice(Vec<String>),
    /// Several lines of text, one item each.
    Lines,
    /// Any number of these values (checkboxes, or a multiple select).
    ChoiceList(Vec<String>),
    /// A nested object or anything the form cannot express: left to the API.
    Unsupported,
}

/// One input of a form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FormField {
    /// The JSON field name, dotted for nested fields (`complainant.phone`).
    pub name: String,
    pub kind: FieldKind,
    pub required: bool,
    /// The schema's description of the field (English; the console's catalogue has the
    /// words people read).
    pub description: Option<String>,
}

/// The form of one handler action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActionForm {
    /// The action's `type`, e.g. `give_notice`.
    pub action: String,
    pub description: Option<String>,
    pub fields: Vec<FormField>,
}

/// Why a submitted form was refused: each field at fault (its dotted name; empty for the
/// form as a whole) and what is wrong, in words.
pub type FormFaults = Vec<(String, String)>;

fn resolve<'a>(schema: &'a Value, root: &'a Value) -> &'a Value {
    match schema.get("$ref").and_then(Value::as_str) {
        Some(reference) => reference
            .strip_prefix("#/")
            .map(|path| {
                path.split('/')
                    .try_fold(root, |node, part| node.get(part))
                    .unwrap_or(schema)
            })
            .unwrap_or(schema),
        None => schema,
    }
}

/// The types a property may have, `null` left out (an optional field).
fn types(schema: &Value) -> Vec<&str> {
    match schema.get("type") {
        Some(Value::String(t)) => vec![t.as_str()],
        Some(Value::Array(ts)) => ts
            .iter()
            .filter_map(Value::as_str)
            .filter(|t| *t != "null")
            .collect(),
        _ => Vec::new(),
    }
}

fn choices(schema: &Value, root: &Value) -> Option<Vec<String>> {
    let schema = resolve(schema, root);
    if let Some(values) = schema.get("enum").and_then(Value::as_array) {
        return Some(
            values
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect(),
        );
    }
    // `oneOf` of constants (documented enum variants) or an optional enum (`anyOf` with null).
    let alternatives = schema
        .get("oneOf")
        .or_else(|| schema.get("anyOf"))?
        .as_array()?;
    let mut found = Vec::new();
    for alternative in alternatives {
        let alternative = resolve(alternative, root);
        if types(alternative).is_empty() && alternative.get("type") == Some(&Value::from("null")) {
            continue;
        }
        if let Some(value) = alternative.get("const").and_then(Value::as_str) {
            found.push(value.to_owned());
        } else if let Some(nested) = choices(alternative, root) {
            found.extend(nested);
        } else if alternative.get("type") != Some(&Value::from("null")) {
            return None;
        }
    }
    (!found.is_empty()).then_some(found)
}

/// The one alternative of an optional value (`anyOf: [T, null]`), else the schema itself.
fn non_null<'a>(schema: &'a Value, root: &'a Value) -> &'a Value {
    let schema = resolve(schema, root);
    let alternatives = schema
        .get("anyOf")
        .or_else(|| schema.get("oneOf"))
        .and_then(Value::as_array);
    match alternatives.map(|a| {
        a.iter()
            .map(|alternative| resolve(alternative, root))
            .filter(|alternative| alternative.get("type") != Some(&Value::from("null")))
            .collect::<Vec<_>>()
    }) {
        Some(rest) if rest.len() == 1 => rest[0],
        _ => schema,
    }
}

fn field_kind(schema: &Value, root: &Value) -> FieldKind {
    if let Some(values) = choices(schema, root) {
        return FieldKind::Choice(values);
    }
    let schema = non_null(schema, root);
    let format = schema.get("format").and_then(Value::as_str);
    match (types(schema).as_slice(), format) {
        (["string"], Some("date")) => FieldKind::Date,
        (["string"], Some("date-time")) => FieldKind::DateTime,
        (["string"], _) => FieldKind::Text,
        (["boolean"], _) => FieldKind::Bool,
        (["integer"], _) => FieldKind::Integer,
        (["array"], _) => match schema.get("items") {
            Some(items) => match choices(items, root) {
                Some(values) => FieldKind::ChoiceList(values),
                None if types(resolve(items, root)) == ["string"] => FieldKind::Lines,
                None => FieldKind::Unsupported,
            },
            None => FieldKind::Unsupported,
        },
        _ => FieldKind::Unsupported,
    }
}

/// The fields of an object schema, nested objects flattened with dotted names. Inside an
/// optional object (`optional`) no field is required: leaving them all empty leaves it out.
fn fields_of(schema: &Value, root: &Value, prefix: &str, optional: bool, out: &mut Vec<FormField>) {
    let schema = resolve(schema, root);
    let required: Vec<&str> = schema
        .get("required")
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let Some(properties) = schema.get("properties").and_then(Value::as_object) else {
        return;
    };
    for (name, property) in properties {
        if prefix.is_empty() && name == "type" {
            continue;
        }
        let dotted = if prefix.is_empty() {
            name.clone()
        } else {
            format!("{prefix}.{name}")
        };
        let resolved = resolve(property, root);
        let is_object = types(resolved) == ["object"] && resolved.get("properties").is_some();
        // An optional object (`anyOf: [{$ref}, null]`).
        let optional_object =
            resolved
                .get("anyOf")
                .and_then(Value::as_array)
                .and_then(|alternatives| {
                    alternatives
                        .iter()
                        .map(|a| resolve(a, root))
                        .find(|a| types(a) == ["object"] && a.get("properties").is_some())
                });
        let is_required = required.contains(&name.as_str());
        if is_object {
            fields_of(resolved, root, &dotted, optional || !is_required, out);
        } else if let Some(object) = optional_object {
            fields_of(object, root, &dotted, true, out);
        } else {
            out.push(FormField {
                name: dotted,
                kind: field_kind(property, root),
                required: is_required && !optional,
                description: property
                    .get("description")
                    .or_else(|| resolved.get("description"))
                    .and_then(Value::as_str)
                    .map(str::to_owned),
            });
        }
    }
}

/// Every handler action's form, by action name.
pub fn action_forms() -> &'static BTreeMap<String, ActionForm> {
    static FORMS: OnceLock<BTreeMap<String, ActionForm>> = OnceLock::new();
    FORMS.get_or_init(|| {
        let root = schemars::schema_for!(HandlerAction).to_value();
        let variants = root
            .get("oneOf")
            .or_else(|| root.get("anyOf"))
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        variants
            .iter()
            .filter_map(|variant| {
                let action = variant
                    .pointer("/properties/type/const")
                    .and_then(Value::as_str)?
                    .to_owned();
                let mut fields = Vec::new();
                fields_of(variant, &root, "", false, &mut fields);
                Some((
                    action.clone(),
                    ActionForm {
                        action,
                        description: variant
                            .get("description")
                            .and_then(Value::as_str)
                            .map(str::to_owned),
                        fields,
                    },
                ))
            })
            .collect()
    })
}

/// The intake form's fields (`CaseIntake`), nested objects flattened.
pub fn intake_fields() -> &'static [FormField] {
    static FIELDS: OnceLock<Vec<FormField>> = OnceLock::new();
    FIELDS.get_or_init(|| {
        let root = schemars::schema_for!(CaseIntake).to_value();
        let mut fields = Vec::new();
        fields_of(&root, &root, "", false, &mut fields);
        fields
    })
}

/// A submitted form (name, value pairs as the browser sends them) as the JSON the API takes:
/// empty optional inputs left out, checkboxes as booleans, numbers parsed, lines split, dotted
/// names nested. Unknown names are kept, so that the type's own check refuses them by name.
fn to_json(fields: &[FormField], submitted: &[(String, String)]) -> (Value, FormFaults) {
    let kinds: BTreeMap<&str, &FieldKind> =
        fields.iter().map(|f| (f.name.as_str(), &f.kind)).collect();
    let mut object = Map::new();
    let mut faults = Vec::new();
    // An unchecked box sends nothing: false where the field is required, left out (the
    // type's default) where it is optional, so an optional object stays absent.
    for field in fields.iter().filter(|f| f.kind == FieldKind::Bool) {
        let checked = submitted.iter().any(|(name, _)| *name == field.name);
        if checked || field.required {
            insert(&mut object, &field.name, Value::Bool(checked));
        }
    }
    for field in fields {
        if let FieldKind::ChoiceList(_) = field.kind {
            let picked: Vec<Value> = submitted
                .iter()
                .filter(|(name, value)| *name == field.name && !value.trim().is_empty())
                .map(|(_, value)| Value::from(value.trim()))
                .collect();
            if !picked.is_empty() {
                insert(&mut object, &field.name, Value::Array(picked));
            }
        }
    }
    for (name, raw) in submitted {
        let value = raw.trim();
        let kind = kinds.get(name.as_str()).copied();
        let json = match kind {
            Some(FieldKind::Bool | FieldKind::ChoiceList(_)) => continue,
            _ if value.is_empty() => continue,
            Some(FieldKind::Integer) => match value.parse::<i64>() {
                Ok(n) => Value::from(n),
                Err(_) => {
                    faults.push((name.clone(), "must be a whole number".to_owned()));
                    continue;
                }
            },
            Some(FieldKind::Lines) => Value::Array(
                value
                    .lines()
                    .map(str::trim)
                    .filter(|l| !l.is_empty())
                    .map(Value::from)
                    .collect(),
            ),
            Some(FieldKind::DateTime) => Value::from(local_instant(value)),
            _ => Value::from(value),
        };
        insert(&mut object, name, json);
    }
    (Value::Object(object), faults)
}

/// A `datetime-local` value (`2026-03-02T10:00`) as an instant in China Standard Time, the
/// time of every calendar the rulesets use; a value with an offset is kept as given.
fn local_instant(value: &str) -> String {
    let has_offset = value.ends_with('Z')
        || value
            .rsplit_once('T')
            .is_some_and(|(_, time)| time.contains('+') || time.contains('-'));
    if has_offset {
        value.to_owned()
    } else if value.len() == 16 {
        format!("{value}:00+08:00")
    } else {
        format!("{value}+08:00")
    }
}

fn insert(object: &mut Map<String, Value>, dotted: &str, value: Value) {
    match dotted.split_once('.') {
        None => {
            object.insert(dotted.to_owned(), value);
        }
        Some((head, rest)) => {
            let child = object
                .entry(head.to_owned())
                .or_insert_with(|| Value::Object(Map::new()));
            if let Value::Object(child) = child {
                insert(child, rest, value);
            }
        }
    }
}

/// A JSON Pointer (`/complainant/name`) as a form field name (`complainant.name`).
fn field_name(pointer: &str) -> String {
    pointer.trim_start_matches('/').replace('/', ".")
}

/// An API refusal as form faults: each field it names (as an input's name), else its detail
/// for the form as a whole.
pub fn problem_faults(problem: &crate::server::problem::ApiError) -> FormFaults {
    let faults: FormFaults = problem
        .0
        .errors
        .iter()
        .map(|e| (field_name(&e.pointer), e.detail.clone()))
        .collect();
    if faults.is_empty() {
        vec![(String::new(), problem.0.detail.clone())]
    } else {
        faults
    }
}

/// Reads a form as `T`, through serde, `T`'s schema and `validate` (the API's checks).
fn read<T: DeserializeOwned + JsonSchema + 'static>(
    json: Value,
    mut faults: FormFaults,
    validate: impl Fn(&T) -> Result<(), ValidationErrors>,
) -> Result<T, FormFaults> {
    if !faults.is_empty() {
        return Err(faults);
    }
    match serde_json::from_value::<T>(json.clone()) {
        Ok(value) => match validate(&value) {
            Ok(()) => Ok(value),
            Err(errors) => Err(errors
                .0
                .into_iter()
                .map(|e| (field_name(&e.pointer), e.detail))
                .collect()),
        },
        Err(e) => {
            faults.extend(
                crate::server::body_errors::schema_faults::<T>(&json)
                    .into_iter()
                    .map(|(pointer, why)| (field_name(&pointer), why)),
            );
            if faults.is_empty() {
                faults.push((
                    String::new(),
                    crate::server::body_errors::plain_words(&e.to_string()),
                ));
            }
            Err(faults)
        }
    }
}

/// A submitted handler-action form as the action, or each field at fault.
pub fn read_action(
    action: &str,
    submitted: &[(String, String)],
) -> Result<HandlerAction, FormFaults> {
    let Some(form) = action_forms().get(action) else {
        return Err(vec![(
            "type".to_owned(),
            format!("`{action}` is not a handler action"),
        )]);
    };
    let (mut json, faults) = to_json(&form.fields, submitted);
    if let Value::Object(object) = &mut json {
        object.insert("type".to_owned(), Value::from(action));
    }
    read::<HandlerAction>(json, faults, HandlerAction::validate)
}

/// A submitted intake form as the intake, or each field at fault; `now` bounds the receipt
/// time as the API's check does.
pub fn read_intake(
    submitted: &[(String, String)],
    now: jiff::Timestamp,
) -> Result<CaseIntake, FormFaults> {
    let (json, faults) = to_json(intake_fields(), submitted);
    read::<CaseIntake>(json, faults, |intake| intake.validate(now))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
        items
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn every_handler_action_has_a_form_with_its_fields_from_the_schema() {
        let forms = action_forms();
        assert!(forms.len() >= 30, "{}", forms.len());
        let notice = &forms["give_notice"];
        let names: Vec<&str> = notice.fields.iter().map(|f| f.name.as_str()).collect();
        assert!(
            names.contains(&"recipient") && names.contains(&"means") && names.contains(&"about"),
            "{names:?}"
        );
        let means = notice.fields.iter().find(|f| f.name == "means").unwrap();
        assert!(means.required);
        assert!(
            matches!(&means.kind, FieldKind::Choice(values) if values.iter().any(|v| v == "sms")),
            "{means:?}"
        );
        let review = &forms["request_review"];
        let on = review
            .fields
            .iter()
            .find(|f| f.name == "requested_on")
            .unwrap();
        assert_eq!(on.kind, FieldKind::Date, "{on:?}");
        // No form field is one the form cannot express.
        for form in forms.values() {
            for field in &form.fields {
                assert_ne!(
                    field.kind,
                    FieldKind::Unsupported,
                    "{}.{}",
                    form.action,
                    field.name
                );
            }
        }
    }

    #[test]
    fn a_form_is_read_like_an_api_body_and_refused_field_by_field() {
        let action = read_action(
            "give_notice",
            &pairs(&[
                ("recipient", "complainant"),
                ("means", "sms"),
                ("about", "decision_notice"),
                ("note", ""),
            ]),
        )
        .unwrap();
        assert!(
            matches!(action, HandlerAction::GiveNotice { .. }),
            "{action:?}"
        );
        let faults = read_action(
            "give_notice",
            &pairs(&[("recipient", "complainant"), ("means", "carrier_pigeon")]),
        )
        .unwrap_err();
        let names: Vec<&str> = faults.iter().map(|(n, _)| n.as_str()).collect();
        assert!(names.contains(&"means"), "{faults:?}");
        assert!(
            names.contains(&"") || names.contains(&"about"),
            "{faults:?}"
        );
        let faults = read_action("nonsense", &[]).unwrap_err();
        assert_eq!(faults[0].0, "type");
        let faults = read_action(
            "request_review",
            &pairs(&[("requested_on", "1999-01-01"), ("reason", "不服")]),
        )
        .unwrap_err();
        assert_eq!(faults[0].0, "requested_on", "{faults:?}");
    }

    #[test]
    fn the_intake_form_nests_dotted_fields_and_names_the_missing_ones() {
        let fields = intake_fields();
        assert!(
            fields.iter().any(|f| f.name == "complainant.phone"),
            "{fields:?}"
        );
        let now: jiff::Timestamp = "2026-03-03T00:00:00Z".parse().unwrap();
        let intake = read_intake(
            &pairs(&[
                ("sector", "market_supervision"),
                ("channel", "web"),
                ("complainant.name", "张三"),
                ("complainant.phone", "13800138000"),
                ("respondent.name", "某超市"),
                ("claim", "退货"),
                ("received_at", "2026-03-02T10:00"),
            ]),
            now,
        )
        .unwrap();
        assert_eq!(
            intake.received_at.unwrap().to_string(),
            "2026-03-02T02:00:00Z"
        );
        let faults = read_intake(
            &pairs(&[("sector", "market_supervision"), ("channel", "web")]),
            now,
        )
        .unwrap_err();
        let names: Vec<&str> = faults.iter().map(|(n, _)| n.as_str()).collect();
        assert!(
            names
                .iter()
                .any(|n| n.starts_with("respondent") || n.is_empty()),
            "{faults:?}"
        );
    }
}

//! One form input as a template shows it (`templates/field.html`), from a `forms::FormField`:
//! the input type, its label, the value and error of a refused submission.

use crate::{
    console::Texts,
    forms::{FieldKind, FormField},
};

#[derive(Debug, Clone)]
pub(super) struct Choice {
    pub(super) value: String,
    pub(super) label: String,
    pub(super) selected: bool,
}

#[derive(Debug, Clone)]
pub(super) struct FieldView {
    pub(super) id: String,
    pub(super) name: String,
    pub(super) label: String,
    /// `text`, `date`, `datetime-local`, `number`, `checkbox`, `select`, `checkboxes`,
    /// `textarea`.
    pub(super) input: &'static str,
    pub(super) required: bool,
    pub(super) value: String,
    pub(super) checked: bool,
    pub(super) choices: Vec<Choice>,
    pub(super) error: Option<String>,
}

/// The words for a value of a choice (`value.sms` → 短信 (sms)), else the value.
pub(super) fn value_label(t: Texts, value: &str) -> String {
    t.lookup(&format!("value.{value}"))
        .map(|label| format!("{label} ({value})"))
        .unwrap_or_else(|| value.to_owned())
}

/// The view of `field`, labelled `label`, with what was `submitted` (a refused form shows it
/// again) and its `error`.
pub(super) fn view(
    t: Texts,
    id_prefix: &str,
    label: String,
    field: &FormField,
    submitted: &[(String, String)],
    error: Option<String>,
) -> FieldView {
    let value = submitted
        .iter()
        .find(|(n, _)| *n == field.name)
        .map(|(_, v)| v.clone());
    let picked = |v: &str| submitted.iter().any(|(n, x)| *n == field.name && x == v);
    let choices = |values: &[String]| -> Vec<Choice> {
        values
            .iter()
            .map(|v| Choice {
                value: v.clone(),
                label: value_label(t, v),
                selected: picked(v),
            })
            .collect()
    };
    let (input, choices) = match &field.kind {
        FieldKind::Text | FieldKind::Unsupported => ("text", Vec::new()),
        FieldKind::Date => ("date", Vec::new()),
        FieldKind::DateTime => ("datetime-local", Vec::new()),
        FieldKind::Bool => ("checkbox", Vec::new()),
        FieldKind::Integer => ("number", Vec::new()),
        FieldKind::Lines => ("textarea", Vec::new()),
        FieldKind::Choice(values) => ("select", choices(values)),
        FieldKind::ChoiceList(values) => ("checkboxes", choices(values)),
    };
    FieldView {
        id: format!("{id_prefix}-{}", field.name.replace('.', "-")),
        name: field.name.clone(),
        label,
        input,
        required: field.required
            && !matches!(field.kind, FieldKind::Bool | FieldKind::ChoiceList(_)),
        checked: value.is_some() && field.kind == FieldKind::Bool,
        value: value.unwrap_or_default(),
        choices,
        error,
    }
}

//! The JSON Schemas committed under `schemas/`, generated from the Rust types the server uses.
//! A test fails when the committed files are stale.

use std::path::Path;

use redress_domain::{Case, CaseIntake, EventRecord, HandlerAction};

use crate::server::{openapi_document, problem::Problem};

/// Every generated document: (file name, content).
pub fn all() -> Vec<(&'static str, serde_json::Value)> {
    let schema = |s: schemars::Schema| s.to_value();
    vec![
        ("case.schema.json", schema(schemars::schema_for!(Case))),
        (
            "case-intake.schema.json",
            schema(schemars::schema_for!(CaseIntake)),
        ),
        (
            "event.schema.json",
            schema(schemars::schema_for!(EventRecord)),
        ),
        (
            "handler-action.schema.json",
            schema(schemars::schema_for!(HandlerAction)),
        ),
        (
            "problem.schema.json",
            schema(schemars::schema_for!(Problem)),
        ),
        ("openapi.json", openapi_document()),
    ]
}

fn render(value: &serde_json::Value) -> String {
    let mut text = serde_json::to_string_pretty(value).unwrap_or_default();
    text.push('\n');
    text
}

pub fn write(dir: &Path) -> std::io::Result<Vec<String>> {
    std::fs::create_dir_all(dir)?;
    let mut written = Vec::new();
    for (name, value) in all() {
        let path = dir.join(name);
        std::fs::write(&path, render(&value))?;
        written.push(path.display().to_string());
    }
    Ok(written)
}

/// The names of the files in `dir` that differ from what this build generates.
pub fn stale(dir: &Path) -> Vec<String> {
    all()
        .into_iter()
        .filter(|(name, value)| {
            std::fs::read_to_string(dir.join(name)).ok().as_deref() != Some(render(value).as_str())
        })
        .map(|(name, _)| name.to_owned())
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn committed_schemas_are_fresh() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../schemas");
        let stale = super::stale(&dir);
        assert!(
            stale.is_empty(),
            "schemas/ is stale ({}): regenerate with `cargo run -p redress -- schemas` and commit the result",
            stale.join(", ")
        );
    }
}

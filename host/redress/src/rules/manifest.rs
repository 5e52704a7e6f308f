//! `ruleset.toml`: what a package is, when it applies, and the values a compliance team tunes.

use std::collections::BTreeMap;

use jiff::civil::Date;
use redress_domain::case::Sector;
use serde::{Deserialize, Serialize};

/// The engines a package can name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum EngineKind {
    /// Rhai scripts (`entry` is a `.rhai` file).
    Rhai,
    /// A WebAssembly component of the `redress:ruleset` world (`entry` is a `.wasm` file).
    Wasm,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Stable id, e.g. `market-supervision-order20`.
    pub id: String,
    /// Semantic version; a case keeps the version that first decided it.
    pub version: String,
    pub name: String,
    pub sector: Sector,
    /// Where the rules apply, e.g. `CN` or a division code prefix; informational until #6.
    #[serde(default = "default_jurisdiction")]
    pub jurisdiction: String,
    /// The tenant that deployed it; absent for the built-in rulesets every tenant gets.
    pub tenant: Option<redress_domain::TenantId>,
    /// First receipt date the rules apply to.
    #[serde(deserialize_with = "toml_date::required")]
    #[schemars(with = "String")]
    pub effective_from: Date,
    /// Last receipt date the rules apply to (inclusive); open-ended when absent.
    #[serde(default, deserialize_with = "toml_date::optional")]
    #[schemars(with = "Option<String>")]
    pub effective_until: Option<Date>,
    /// Default calendar for the clocks the rules start.
    #[serde(default = "default_calendar")]
    pub calendar: String,
    pub engine: EngineKind,
    /// The rules file, relative to the package.
    #[serde(default = "default_entry")]
    pub entry: String,
    /// What the text is based on, for compliance officers (regulation and its status).
    #[serde(default)]
    pub basis: Vec<String>,
    /// Values the rules read as `ctx.settings.<name>`: day counts, thresholds, lists.
    #[serde(default)]
    #[schemars(with = "BTreeMap<String, serde_json::Value>")]
    pub settings: BTreeMap<String, toml::Value>,
    /// What the host must know about the clocks the rules start, by clock name. Declared here
    /// rather than returned with each decision so that both engines (and every frozen plugin
    /// interface) get it alike.
    #[serde(default)]
    pub clocks: BTreeMap<String, ClockDeclaration>,
    /// The intake attributes the rules read, by name (`[attributes.<name>]`). An intake with an
    /// attribute not declared here, or of another type, is refused (422) before anything is
    /// written: an attribute the rules do not read (a typo) would otherwise read as "not given".
    #[serde(default)]
    pub attributes: BTreeMap<String, AttributeDeclaration>,
    /// `<id>@<version>` of the built-in ruleset this one tailors (`rules::extension`): set by
    /// resolution, never read from a `ruleset.toml` of a complete package.
    #[serde(default, skip_deserializing, skip_serializing_if = "Option::is_none")]
    pub extends: Option<String>,
}

/// An intake attribute's declaration (`[attributes.owners_committee]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AttributeDeclaration {
    #[serde(rename = "type")]
    pub kind: AttributeType,
    /// What it means, for the intake desk and the compliance officer.
    pub meaning: String,
    /// The values a `text` attribute may take (absent: any text).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub values: Vec<String>,
}

/// The JSON type of an intake attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum AttributeType {
    /// `true` or `false`.
    Boolean,
    /// A string.
    Text,
    /// A JSON number.
    Number,
    /// A date, `YYYY-MM-DD`.
    Date,
    /// A list of strings.
    TextList,
}

impl AttributeType {
    fn describe(self) -> &'static str {
        match self {
            AttributeType::Boolean => "true or false",
            AttributeType::Text => "a string",
            AttributeType::Number => "a number",
            AttributeType::Date => "a date (YYYY-MM-DD)",
            AttributeType::TextList => "a list of strings",
        }
    }

    fn admits(self, value: &serde_json::Value) -> bool {
        use serde_json::Value;
        match (self, value) {
            (AttributeType::Boolean, Value::Bool(_))
            | (AttributeType::Text, Value::String(_))
            | (AttributeType::Number, Value::Number(_)) => true,
            (AttributeType::Date, Value::String(text)) => text.parse::<Date>().is_ok(),
            (AttributeType::TextList, Value::Array(items)) => items.iter().all(Value::is_string),
            _ => false,
        }
    }
}

/// A clock's declaration in `ruleset.toml` (`[clocks.acceptance]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ClockDeclaration {
    /// Handler actions that meet the clock (`accept`, `reject`...). The host records the clock
    /// met when one of them is recorded, even if the rules' decision on that action fails.
    #[serde(default)]
    pub met_by: Vec<String>,
    /// A window a party is given, not a duty (`ClockSpec::window`): closed at its due time,
    /// never breached, never escalated.
    #[serde(default)]
    pub window: bool,
}

/// Dates written as TOML dates (`2019-11-30`) or as strings.
mod toml_date {
    use jiff::civil::Date;
    use serde::{Deserialize, Deserializer, de::Error};

    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Repr {
        Toml(toml::value::Datetime),
        Text(String),
    }

    fn parse<E: Error>(repr: Repr) -> Result<Date, E> {
        let text = match repr {
            Repr::Toml(datetime) => datetime.to_string(),
            Repr::Text(text) => text,
        };
        text.parse()
            .map_err(|_| E::custom(format!("`{text}` is not a date (YYYY-MM-DD)")))
    }

    pub fn required<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Date, D::Error> {
        parse(Repr::deserialize(deserializer)?)
    }

    pub fn optional<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Date>, D::Error> {
        Option::<Repr>::deserialize(deserializer)?
            .map(parse)
            .transpose()
    }
}

fn default_jurisdiction() -> String {
    "CN".into()
}

fn default_calendar() -> String {
    "cn-mainland".into()
}

fn default_entry() -> String {
    "rules.rhai".into()
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{origin}: {message}")]
pub struct ManifestError {
    pub origin: String,
    pub message: String,
}

impl Manifest {
    pub fn parse(text: &str, origin: &str) -> Result<Manifest, ManifestError> {
        let manifest: Manifest = toml::from_str(text).map_err(|e| {
            let line = e
                .span()
                .map(|span| text[..span.start.min(text.len())].matches('\n').count() + 1);
            ManifestError {
                origin: match line {
                    Some(line) => format!("{origin}:{line}"),
                    None => origin.to_owned(),
                },
                message: e.message().to_owned(),
            }
        })?;
        let bad = |message: String| ManifestError {
            origin: origin.to_owned(),
            message,
        };
        let id_ok = !manifest.id.is_empty()
            && manifest.id.len() <= 64
            && manifest
                .id
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !id_ok {
            return Err(bad(format!(
                "id `{}` must be 1 to 64 of a-z, 0-9, -",
                manifest.id
            )));
        }
        semver::Version::parse(&manifest.version).map_err(|e| {
            bad(format!(
                "version `{}` is not a semantic version: {e}",
                manifest.version
            ))
        })?;
        if let Some(until) = manifest.effective_until
            && until < manifest.effective_from
        {
            return Err(bad(format!(
                "effective_until {until} is before effective_from {}",
                manifest.effective_from
            )));
        }
        for (clock, declaration) in &manifest.clocks {
            for entry in &declaration.met_by {
                redress_domain::clock::MetBy::parse(entry)
                    .map_err(|e| bad(format!("clocks.{clock}.met_by: {e}")))?;
            }
        }
        for (name, declared) in &manifest.attributes {
            let name_ok = !name.is_empty()
                && name.len() <= 64
                && name
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
            if !name_ok {
                return Err(bad(format!(
                    "attribute `{name}`: a name is 1 to 64 of a-z, 0-9, _"
                )));
            }
            if declared.meaning.trim().is_empty() {
                return Err(bad(format!(
                    "attribute `{name}`: say what it means (`meaning`)"
                )));
            }
            if !declared.values.is_empty() && declared.kind != AttributeType::Text {
                return Err(bad(format!(
                    "attribute `{name}`: `values` lists the values of a `text` attribute only"
                )));
            }
        }
        if let Some(value) = manifest.settings.get(crate::repeat::WINDOW_SETTING)
            && !value
                .as_integer()
                .is_some_and(|days| (1..=crate::repeat::MAX_WINDOW_DAYS).contains(&days))
        {
            return Err(bad(format!(
                "settings.{}: the repeat-complaint window is a whole number of days from 1 to {}",
                crate::repeat::WINDOW_SETTING,
                crate::repeat::MAX_WINDOW_DAYS
            )));
        }
        let extension = match manifest.engine {
            EngineKind::Rhai => ".rhai",
            EngineKind::Wasm => ".wasm",
        };
        if manifest.entry.contains("..")
            || manifest.entry.starts_with('/')
            || manifest.entry.contains('/')
            || !manifest.entry.ends_with(extension)
        {
            return Err(bad(format!(
                "entry `{}` must be a {extension} file at the top of the package",
                manifest.entry
            )));
        }
        Ok(manifest)
    }

    pub fn semver(&self) -> semver::Version {
        semver::Version::parse(&self.version).unwrap_or(semver::Version::new(0, 0, 0))
    }

    pub fn applies_on(&self, date: Date) -> bool {
        date >= self.effective_from && self.effective_until.is_none_or(|until| date <= until)
    }

    /// Whether clock `name` is declared a window.
    pub fn is_window(&self, name: &str) -> bool {
        self.clocks.get(name).is_some_and(|d| d.window)
    }

    /// The actions that meet clock `name`, as declared.
    pub fn met_by(&self, name: &str) -> &[String] {
        self.clocks.get(name).map_or(&[], |d| d.met_by.as_slice())
    }

    /// What is wrong with an intake's attributes for this package: each undeclared attribute,
    /// each of another type, each text outside its declared values, as (name, what is wrong).
    pub fn check_attributes(
        &self,
        attributes: &BTreeMap<String, serde_json::Value>,
    ) -> Vec<(String, String)> {
        let mut faults = Vec::new();
        for (name, value) in attributes {
            let Some(declared) = self.attributes.get(name) else {
                let known: Vec<&str> = self.attributes.keys().map(String::as_str).collect();
                faults.push((
                    name.clone(),
                    format!(
                        "is not an attribute the ruleset {} {} reads ({})",
                        self.id,
                        self.version,
                        if known.is_empty() {
                            "it reads none".to_owned()
                        } else {
                            format!("it reads: {}", known.join(", "))
                        }
                    ),
                ));
                continue;
            };
            if !declared.kind.admits(value) {
                faults.push((
                    name.clone(),
                    format!("must be {}", declared.kind.describe()),
                ));
            } else if let (AttributeType::Text, Some(text)) = (declared.kind, value.as_str())
                && !declared.values.is_empty()
                && !declared.values.iter().any(|v| v == text)
            {
                faults.push((
                    name.clone(),
                    format!("must be one of: {}", declared.values.join(", ")),
                ));
            }
        }
        faults
    }

    pub fn reference(&self) -> redress_domain::contract::RulesetRef {
        redress_domain::contract::RulesetRef::named(self.tenant.as_ref(), &self.id, &self.version)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const GOOD: &str = "id = \"x\"\nversion = \"1.0.0\"\nname = \"X\"\nsector = \"banking\"\neffective_from = 2020-03-01\nengine = \"rhai\"\n";

    #[test]
    fn a_manifest_parses_and_applies_by_date() {
        let m = Manifest::parse(GOOD, "ruleset.toml").unwrap();
        let notice = format!(
            "{GOOD}[clocks.decision]\nmet_by = [\"give_notice:decision_notice\", \"close\"]\n"
        );
        let with_notice = Manifest::parse(&notice, "ruleset.toml").unwrap();
        assert_eq!(
            with_notice.met_by("decision"),
            ["give_notice:decision_notice", "close"]
        );
        assert!(m.applies_on("2026-01-01".parse().unwrap()));
        assert!(!m.applies_on("2019-01-01".parse().unwrap()));
    }

    #[test]
    fn manifest_errors_name_the_file_line_and_problem() {
        let table = [
            (
                format!("{GOOD}colour = \"red\"\n"),
                "ruleset.toml:7: unknown field `colour`",
            ),
            (
                GOOD.replace("1.0.0", "one"),
                "ruleset.toml: version `one` is not a semantic version",
            ),
            (
                GOOD.replace("\"rhai\"", "\"lua\""),
                "ruleset.toml:6: unknown variant `lua`",
            ),
            (
                format!("{GOOD}effective_until = 2019-01-01\n"),
                "ruleset.toml: effective_until 2019-01-01 is before",
            ),
            (
                format!("{GOOD}[clocks.acceptance]\nmet_by = [\"acept\"]\n"),
                "ruleset.toml: clocks.acceptance.met_by: `acept` is not a handler action",
            ),
            (
                format!("{GOOD}[clocks.decision]\nmet_by = [\"give_notice:Decision\"]\n"),
                "ruleset.toml: clocks.decision.met_by: `give_notice:Decision`: `Decision` is not a snake_case name",
            ),
            (
                format!("{GOOD}entry = \"../../etc/passwd.rhai\"\n"),
                "ruleset.toml: entry `../../etc/passwd.rhai` must be",
            ),
            (
                format!("{GOOD}[settings]\nrepeat_window_days = 0\n"),
                "ruleset.toml: settings.repeat_window_days: the repeat-complaint window is a whole number of days from 1 to 3650",
            ),
            (
                format!("{GOOD}[settings]\nrepeat_window_days = \"a year\"\n"),
                "ruleset.toml: settings.repeat_window_days:",
            ),
        ];
        for (text, expected) in table {
            let message = Manifest::parse(&text, "ruleset.toml")
                .unwrap_err()
                .to_string();
            assert!(message.starts_with(expected), "{message}");
        }
    }

    #[test]
    fn intake_attributes_are_checked_against_their_declarations() {
        let manifest = Manifest::parse(
            &format!(
                "{GOOD}[attributes.owners_committee]\ntype = \"boolean\"\nmeaning = \"the committee complains\"\n\
                 [attributes.handled_by]\ntype = \"text\"\nvalues = [\"company\", \"housing_department\"]\nmeaning = \"who handles it\"\n\
                 [attributes.departments]\ntype = \"number\"\nmeaning = \"how many\"\n"
            ),
            "ruleset.toml",
        )
        .unwrap();
        let attributes = |json: serde_json::Value| -> BTreeMap<String, serde_json::Value> {
            serde_json::from_value(json).unwrap()
        };
        let table: Vec<(serde_json::Value, Vec<(&str, &str)>)> = vec![
            (serde_json::json!({}), vec![]),
            (
                serde_json::json!({"owners_committee": true, "handled_by": "company", "departments": 2}),
                vec![],
            ),
            (
                serde_json::json!({"owner_committee": true}),
                vec![(
                    "owner_committee",
                    "is not an attribute the ruleset x 1.0.0 reads (it reads: departments, handled_by, owners_committee)",
                )],
            ),
            (
                serde_json::json!({"owners_committee": "yes", "departments": "2", "handled_by": "tenant"}),
                vec![
                    ("departments", "must be a number"),
                    ("handled_by", "must be one of: company, housing_department"),
                    ("owners_committee", "must be true or false"),
                ],
            ),
        ];
        for (given, expected) in table {
            let faults = manifest.check_attributes(&attributes(given.clone()));
            let faults: Vec<(&str, &str)> = faults
                .iter()
                .map(|(n, w)| (n.as_str(), w.as_str()))
                .collect();
            assert_eq!(faults, expected, "{given}");
        }
        for (declaration, error) in [
            (
                "[attributes.x]\ntype = \"boolean\"\nmeaning = \" \"\n",
                "say what it means",
            ),
            (
                "[attributes.x]\ntype = \"boolean\"\nmeaning = \"m\"\nvalues = [\"a\"]\n",
                "`values` lists the values of a `text` attribute only",
            ),
            (
                "[attributes.X]\ntype = \"boolean\"\nmeaning = \"m\"\n",
                "a-z, 0-9, _",
            ),
        ] {
            let err = Manifest::parse(&format!("{GOOD}{declaration}"), "ruleset.toml").unwrap_err();
            assert!(err.to_string().contains(error), "{err}");
        }
    }
}

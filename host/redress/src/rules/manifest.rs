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
    pub tenant: Option<String>,
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
}

/// A clock's declaration in `ruleset.toml` (`[clocks.acceptance]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ClockDeclaration {
    /// Handler actions that meet the clock (`accept`, `reject`...). The host records the clock
    /// met when one of them is recorded, even if the rules' decision on that action fails.
    #[serde(default)]
    pub met_by: Vec<String>,
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
        if let Some(tenant) = &manifest.tenant {
            redress_domain::case::check_tenant(tenant).map_err(bad)?;
        }
        for (clock, declaration) in &manifest.clocks {
            for entry in &declaration.met_by {
                redress_domain::clock::MetBy::parse(entry)
                    .map_err(|e| bad(format!("clocks.{clock}.met_by: {e}")))?;
            }
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

    /// The actions that meet clock `name`, as declared.
    pub fn met_by(&self, name: &str) -> &[String] {
        self.clocks.get(name).map_or(&[], |d| d.met_by.as_slice())
    }

    pub fn reference(&self) -> redress_domain::contract::RulesetRef {
        redress_domain::contract::RulesetRef::named(self.tenant.as_deref(), &self.id, &self.version)
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
        ];
        for (text, expected) in table {
            let message = Manifest::parse(&text, "ruleset.toml")
                .unwrap_err()
                .to_string();
            assert!(message.starts_with(expected), "{message}");
        }
    }
}

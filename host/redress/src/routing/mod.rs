//! Jurisdiction routing as data: a tenant's offices (with their administrative division, level
//! and parent) and the rules that send a case to one of them.
//!
//! A routing table is a TOML file of `[[office]]` entries, `[[rule]]` entries and an optional
//! `[default]`. A rule names any of: sector, category, a division-code prefix of the place that
//! has jurisdiction (2 digits: a province, 4: a city, 6: a county), whether the respondent sells
//! online, and the channel; the case goes to the office of the **most specific** rule that
//! matches: the longest division prefix first, then the most other fields given, then the
//! earlier rule in the file. Nothing matching: the default, or no office (the case stays with
//! intake for a person to route).
//!
//! The place that has jurisdiction is where the respondent operates, except for a seller on an
//! online platform (market supervision, Order 20 arts. 12–13): the platform operator's domicile
//! when the complaint was filed with an office there (intake attribute
//! `receiving_office_division` covering the platform's domicile and not the seller's place:
//! filing there *is* the complainant's choice, regulations §8, no flag of its own) or when the
//! seller's place is unknown.

use std::collections::BTreeMap;

use redress_domain::{
    CaseIntake,
    case::{Channel, OnlineRole, Sector},
};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    National,
    Province,
    City,
    County,
}

impl Level {
    /// The digits of a division code that are this level's own (`33`, `3301`, `330106`).
    fn prefix_len(self) -> usize {
        match self {
            Level::National => 0,
            Level::Province => 2,
            Level::City => 4,
            Level::County => 6,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Office {
    pub id: String,
    pub name: String,
    /// GB/T 2260 code of the office's area (6 digits; `000000` for a national office).
    pub division: String,
    pub level: Level,
    /// The office above it (upward referral, escalation, takeover).
    pub parent: Option<String>,
    /// Sectors handled; empty: all.
    #[serde(default)]
    pub sectors: Vec<Sector>,
    /// Categories handled; empty: all.
    #[serde(default)]
    pub categories: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    pub sector: Option<Sector>,
    pub category: Option<String>,
    /// A prefix of the division code with jurisdiction: 2, 4 or 6 digits.
    pub division: Option<String>,
    /// Whether the respondent sells online (a platform, a seller on one, its own website).
    pub online: Option<bool>,
    pub channel: Option<Channel>,
    pub office: String,
    /// Why the rule exists (a regulation, an agreement between offices); shown when it matches.
    pub basis: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DefaultRoute {
    pub office: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct TableFile {
    #[serde(default)]
    office: Vec<Office>,
    #[serde(default)]
    rule: Vec<Rule>,
    default: Option<DefaultRoute>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{origin}: {message}")]
pub struct RoutingError {
    pub origin: String,
    pub message: String,
}

/// What routing looks at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteQuery {
    pub sector: Sector,
    pub category: Option<String>,
    /// The division code of the place with jurisdiction, if known.
    pub division_code: Option<String>,
    pub online: bool,
    pub channel: Channel,
    /// How the place was chosen, for the explanation.
    pub place: String,
}

impl RouteQuery {
    /// The query for a case as received, with the platform-seller rule applied.
    pub fn for_intake(intake: &CaseIntake) -> RouteQuery {
        let respondent = &intake.respondent;
        let online = respondent.online.as_ref();
        let platform_code = online.and_then(|o| o.platform_division_code.clone());
        let receiving = intake
            .attributes
            .get("receiving_office_division")
            .and_then(serde_json::Value::as_str)
            .filter(|code| !code.is_empty());
        let covers = |code: Option<&str>| {
            receiving.is_some_and(|office| code.is_some_and(|c| c.starts_with(office)))
        };
        // Filed with an office of the platform's domicile that is not also the seller's.
        let chose_platform =
            covers(platform_code.as_deref()) && !covers(respondent.division_code.as_deref());
        let seller = online.is_some_and(|o| o.role == OnlineRole::PlatformSeller);
        let (division_code, place) = match (seller, chose_platform, &respondent.division_code) {
            (true, true, _) if platform_code.is_some() => (
                platform_code,
                "the platform operator's domicile: the complaint was filed with an office there, the complainant's choice (Order 20 arts. 12–13)",
            ),
            (true, _, None) if platform_code.is_some() => (
                platform_code,
                "the platform operator's domicile: the seller's place is unknown (Order 20 art. 12)",
            ),
            (true, _, Some(code)) => (
                Some(code.clone()),
                "where the seller on the platform operates (Order 20 art. 12)",
            ),
            (_, _, Some(code)) => (Some(code.clone()), "where the respondent operates"),
            (_, _, None) => (None, "unknown: the respondent's place was not given"),
        };
        RouteQuery {
            sector: intake.sector,
            category: intake.category.clone(),
            division_code,
            online: online.is_some(),
            channel: intake.channel,
            place: place.to_owned(),
        }
    }
}

/// Which rule decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Matched {
    /// The rule's position in the file (1-based).
    Rule(usize),
    Default,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolution {
    pub office: Office,
    pub matched: Matched,
    /// The reasoning, line by line.
    pub why: Vec<String>,
    /// Other rules that matched but were less specific (1-based positions).
    pub less_specific: Vec<usize>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoutingTable {
    offices: BTreeMap<String, Office>,
    rules: Vec<Rule>,
    default: Option<DefaultRoute>,
}

fn is_division_code(code: &str) -> bool {
    code.len() == 6 && code.bytes().all(|b| b.is_ascii_digit())
}

impl RoutingTable {
    pub fn parse(text: &str, origin: &str) -> Result<RoutingTable, RoutingError> {
        let file: TableFile = toml::from_str(text).map_err(|e| RoutingError {
            origin: match e.span() {
                Some(span) => format!(
                    "{origin}:{}",
                    text[..span.start.min(text.len())].matches('\n').count() + 1
                ),
                None => origin.to_owned(),
            },
            message: e.message().to_owned(),
        })?;
        let error = |at: String, message: String| RoutingError {
            origin: format!("{origin}: {at}"),
            message,
        };
        let mut offices = BTreeMap::new();
        for (i, office) in file.office.into_iter().enumerate() {
            let at = format!("[[office]] #{} (`{}`)", i + 1, office.id);
            if office.id.trim().is_empty() {
                return Err(error(at, "`id` is empty".into()));
            }
            if !is_division_code(&office.division) {
                return Err(error(
                    at,
                    format!(
                        "division `{}` is not a 6-digit GB/T 2260 code",
                        office.division
                    ),
                ));
            }
            let own = office.level.prefix_len();
            if office.division[own..].bytes().any(|b| b != b'0') {
                return Err(error(
                    at,
                    format!(
                        "a {:?} office's division ends in zeros after its first {own} digits, not `{}`",
                        office.level, office.division
                    ),
                ));
            }
            if offices.insert(office.id.clone(), office).is_some() {
                return Err(error(at, "the id is used twice".into()));
            }
        }
        for office in offices.values() {
            let at = format!("[[office]] `{}`", office.id);
            let mut seen = vec![office.id.as_str()];
            let mut next = office.parent.as_deref();
            while let Some(parent_id) = next {
                let parent = offices.get(parent_id).ok_or_else(|| {
                    error(
                        at.clone(),
                        format!("parent `{parent_id}` is not an office of this table"),
                    )
                })?;
                if seen.contains(&parent_id) {
                    return Err(error(
                        at,
                        format!("the parents form a loop through `{parent_id}`"),
                    ));
                }
                seen.push(parent_id);
                next = parent.parent.as_deref();
            }
            if let Some(parent) = office.parent.as_deref().and_then(|p| offices.get(p))
                && parent.level >= office.level
            {
                return Err(error(
                    at,
                    format!("its parent `{}` is not at a higher level", parent.id),
                ));
            }
        }
        for (i, rule) in file.rule.iter().enumerate() {
            let at = format!("[[rule]] #{}", i + 1);
            let office = offices.get(&rule.office).ok_or_else(|| {
                error(
                    at.clone(),
                    format!("office `{}` is not an office of this table", rule.office),
                )
            })?;
            if let Some(prefix) = &rule.division
                && !(matches!(prefix.len(), 2 | 4 | 6)
                    && prefix.bytes().all(|b| b.is_ascii_digit()))
            {
                return Err(error(
                    at,
                    format!("division `{prefix}` is not a 2-, 4- or 6-digit division prefix"),
                ));
            }
            if let Some(sector) = rule.sector
                && !office.sectors.is_empty()
                && !office.sectors.contains(&sector)
            {
                return Err(error(
                    at,
                    format!(
                        "office `{}` does not handle sector `{}`",
                        office.id,
                        sector.as_str()
                    ),
                ));
            }
        }
        if let Some(default) = &file.default
            && !offices.contains_key(&default.office)
        {
            return Err(error(
                "[default]".into(),
                format!("office `{}` is not an office of this table", default.office),
            ));
        }
        Ok(RoutingTable {
            offices,
            rules: file.rule,
            default: file.default,
        })
    }

    pub fn office(&self, id: &str) -> Option<&Office> {
        self.offices.get(id)
    }

    /// Every office, by id (the console draws the tree from their `parent`).
    pub fn offices(&self) -> impl Iterator<Item = &Office> {
        self.offices.values()
    }

    /// The rules, in the file's order (rule #n is `rules()[n - 1]`).
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// The office a case goes to when no rule matches.
    pub fn default_office(&self) -> Option<&str> {
        self.default.as_ref().map(|d| d.office.as_str())
    }

    /// The office above `id`, for upward referral and escalation.
    pub fn parent_of(&self, id: &str) -> Option<&Office> {
        self.offices
            .get(id)
            .and_then(|o| o.parent.as_deref())
            .and_then(|p| self.offices.get(p))
    }

    fn matches(rule: &Rule, query: &RouteQuery) -> bool {
        rule.sector.is_none_or(|s| s == query.sector)
            && rule
                .category
                .as_ref()
                .is_none_or(|c| query.category.as_ref() == Some(c))
            && rule.division.as_ref().is_none_or(|prefix| {
                query
                    .division_code
                    .as_ref()
                    .is_some_and(|code| code.starts_with(prefix.as_str()))
            })
            && rule.online.is_none_or(|o| o == query.online)
            && rule.channel.is_none_or(|c| c == query.channel)
    }

    /// How specific a rule is: its division prefix's length, then how many other fields it names.
    fn specificity(rule: &Rule) -> (usize, usize) {
        let others = [
            rule.sector.is_some(),
            rule.category.is_some(),
            rule.online.is_some(),
            rule.channel.is_some(),
        ]
        .into_iter()
        .filter(|given| *given)
        .count();
        (rule.division.as_ref().map_or(0, String::len), others)
    }

    /// The office for `query`, and why; `None` when no rule matches and there is no default.
    pub fn resolve(&self, query: &RouteQuery) -> Option<Resolution> {
        let mut matching: Vec<usize> = (0..self.rules.len())
            .filter(|&i| Self::matches(&self.rules[i], query))
            .collect();
        // Stable: among equally specific rules the earlier one stays first.
        matching.sort_by_key(|&i| std::cmp::Reverse(Self::specificity(&self.rules[i])));
        let mut why = vec![format!(
            "place with jurisdiction: {} ({})",
            query.division_code.as_deref().unwrap_or("none"),
            query.place
        )];
        match matching.first() {
            Some(&best) => {
                let rule = &self.rules[best];
                let office = self.offices.get(&rule.office)?.clone();
                let mut conditions = Vec::new();
                if let Some(s) = rule.sector {
                    conditions.push(format!("sector {}", s.as_str()));
                }
                if let Some(c) = &rule.category {
                    conditions.push(format!("category {c}"));
                }
                if let Some(d) = &rule.division {
                    conditions.push(format!("division {d}…"));
                }
                if let Some(o) = rule.online {
                    conditions.push(if o { "online" } else { "not online" }.into());
                }
                if let Some(c) = rule.channel {
                    conditions.push(format!(
                        "channel {}",
                        crate::rules::view::enum_name(&c).unwrap_or_default()
                    ));
                }
                why.push(format!(
                    "rule #{} matches ({}) and is the most specific of {} matching",
                    best + 1,
                    if conditions.is_empty() {
                        "everything".into()
                    } else {
                        conditions.join(", ")
                    },
                    matching.len()
                ));
                if let Some(basis) = &rule.basis {
                    why.push(format!("basis: {basis}"));
                }
                Some(Resolution {
                    office,
                    matched: Matched::Rule(best + 1),
                    why,
                    less_specific: matching[1..].iter().map(|i| i + 1).collect(),
                })
            }
            None => {
                let default = self.default.as_ref()?;
                why.push("no rule matches: the table's default".into());
                Some(Resolution {
                    office: self.offices.get(&default.office)?.clone(),
                    matched: Matched::Default,
                    why,
                    less_specific: Vec::new(),
                })
            }
        }
    }
}

impl RoutingTable {
    /// Whether `office` could handle the case `query` describes: its sector, its category, and
    /// a place within the office's area.
    pub fn is_competent(&self, office: &Office, query: &RouteQuery) -> bool {
        let sector = office.sectors.is_empty() || office.sectors.contains(&query.sector);
        let category = office.categories.is_empty()
            || query
                .category
                .as_ref()
                .is_some_and(|c| office.categories.contains(c));
        let own = &office.division[..office.level.prefix_len()];
        let place = query
            .division_code
            .as_ref()
            .is_some_and(|code| code.starts_with(own));
        sector && category && place
    }

    /// The offices above `id`, nearest first.
    pub fn ancestors(&self, id: &str) -> Vec<&Office> {
        std::iter::successors(self.parent_of(id), |o| self.parent_of(&o.id)).collect()
    }
}

mod jurisdiction;
mod tables;
#[cfg(test)]
mod tests;

pub use jurisdiction::{check_jurisdiction, current_office, resolve_route_actions};
pub use tables::RoutingTables;

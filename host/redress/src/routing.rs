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
//! online platform (market supervision, Order 20 art. 12): the platform operator's domicile when
//! the complainant chose it (intake attribute `complainant_chose_platform_domicile`) or when the
//! seller's place is unknown.

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    sync::{Arc, PoisonError, RwLock},
};

use redress_domain::{
    Case, CaseIntake, EventKind,
    case::{Channel, OnlineRole, Sector},
    contract::Action,
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
        let chose_platform = intake
            .attributes
            .get("complainant_chose_platform_domicile")
            .and_then(serde_json::Value::as_bool)
            .unwrap_or(false);
        let platform_code = online.and_then(|o| o.platform_division_code.clone());
        let seller = online.is_some_and(|o| o.role == OnlineRole::PlatformSeller);
        let (division_code, place) = match (seller, chose_platform, &respondent.division_code) {
            (true, true, _) if platform_code.is_some() => (
                platform_code,
                "the platform operator's domicile, as the complainant chose (Order 20 art. 12)",
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

/// Each tenant's routing table, kept as `<dir>/<tenant>.toml` and replaced through the API.
#[derive(Debug, Default)]
pub struct RoutingTables {
    dir: Option<PathBuf>,
    tables: RwLock<BTreeMap<String, (Arc<RoutingTable>, String)>>,
}

impl RoutingTables {
    /// Loads every `<tenant>.toml` of `dir` (created if missing). A table that does not load is
    /// an error: the server does not start routing with part of its tables.
    pub fn load_dir(dir: &Path) -> Result<RoutingTables, RoutingError> {
        let failed = |message: String| RoutingError {
            origin: dir.display().to_string(),
            message,
        };
        std::fs::create_dir_all(dir).map_err(|e| failed(e.to_string()))?;
        let mut tables = BTreeMap::new();
        for (tenant, path) in
            crate::durable::tenant_files(dir).map_err(|e| failed(e.to_string()))?
        {
            let text = std::fs::read_to_string(&path).map_err(|e| failed(e.to_string()))?;
            let table = RoutingTable::parse(&text, &path.display().to_string())?;
            tables.insert(tenant, (Arc::new(table), text));
        }
        Ok(RoutingTables {
            dir: Some(dir.to_owned()),
            tables: RwLock::new(tables),
        })
    }

    pub fn get(&self, tenant: &str) -> Option<Arc<RoutingTable>> {
        self.tables
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(tenant)
            .map(|(table, _)| Arc::clone(table))
    }

    /// The table's text as deployed.
    pub fn text(&self, tenant: &str) -> Option<String> {
        self.tables
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(tenant)
            .map(|(_, text)| text.clone())
    }

    /// Checks `text`, stores it durably, then puts it in force for `tenant`. A table that does
    /// not load changes nothing.
    pub fn put(&self, tenant: &str, text: &str) -> Result<Arc<RoutingTable>, RoutingError> {
        let table = Arc::new(RoutingTable::parse(text, "table")?);
        if let Some(dir) = &self.dir {
            let path = dir.join(format!("{tenant}.toml"));
            crate::durable::write_file(&path, text.as_bytes(), false).map_err(|e| {
                RoutingError {
                    origin: path.display().to_string(),
                    message: format!("the table could not be stored: {e}"),
                }
            })?;
        }
        self.tables
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(tenant.to_owned(), (Arc::clone(&table), text.to_owned()));
        Ok(table)
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

/// The office a case is with: where it was routed, or else the office of its assignment.
pub fn current_office(case: &Case) -> Option<&str> {
    case.ruling
        .routed_to
        .as_ref()
        .and_then(|r| r.office.as_deref())
        .or_else(|| case.assignment.as_ref().and_then(|a| a.office.as_deref()))
}

/// Checks an action that moves a case between offices against the tenant's table: an upward
/// referral goes to the office directly above, a takeover comes from an office above, and an
/// office that received a case it can handle keeps it (a transfer away needs a supervisor's
/// approval). Without a table, or with the case at no known office, referral and takeover are
/// refused (nothing to check them against) and transfers are left to the lifecycle.
pub fn check_jurisdiction(
    table: Option<&RoutingTable>,
    case: &Case,
    action: &redress_domain::HandlerAction,
) -> Result<(), String> {
    use redress_domain::HandlerAction as H;
    let needs_table = matches!(action, H::ReferUp { .. } | H::TakeOver { .. });
    let (Some(table), Some(current)) = (table, current_office(case)) else {
        return if needs_table {
            Err("referral and takeover need the tenant's routing table and the case at a known office".into())
        } else {
            Ok(())
        };
    };
    match action {
        H::ReferUp { to_office, .. } => match table.parent_of(current) {
            Some(parent) if parent.id == *to_office => Ok(()),
            Some(parent) => Err(format!(
                "the office above `{current}` is `{}`, not `{to_office}`",
                parent.id
            )),
            None => Err(format!("`{current}` has no office above it")),
        },
        H::TakeOver { office, .. } => {
            if table.ancestors(current).iter().any(|o| o.id == *office) {
                Ok(())
            } else {
                Err(format!(
                    "`{office}` is not above `{current}`, so it cannot take the case over"
                ))
            }
        }
        H::Transfer {
            supervisor_approved: false,
            ..
        } => {
            let competent = table.office(current).is_some_and(|office| {
                table.is_competent(office, &RouteQuery::for_intake(&case.intake))
            });
            if competent {
                Err(format!(
                    "`{current}` received the case and can handle it: the first office to receive a case \
                     that several could handle keeps it (a supervisor may approve a transfer)"
                ))
            } else {
                Ok(())
            }
        }
        _ => Ok(()),
    }
}

/// Gives the `route` actions of a decision that name no office the office `table` resolves
/// (from the division code the rules chose, or else the case's place with jurisdiction), and
/// says why in the decision's explanation. The office is written into the recorded action, so
/// replaying the history never consults a table that may have changed since.
pub fn resolve_route_actions(table: &RoutingTable, case: &Case, events: &mut [EventKind]) {
    for event in events {
        let EventKind::Decision {
            actions,
            explanation,
            ..
        } = event
        else {
            continue;
        };
        for action in actions.iter_mut() {
            let Action::Route {
                office: office @ None,
                division_code,
                ..
            } = action
            else {
                continue;
            };
            let mut query = RouteQuery::for_intake(&case.intake);
            if let Some(code) = division_code {
                query.division_code = Some(code.clone());
                query.place = "as the ruleset decided".into();
            }
            match table.resolve(&query) {
                Some(resolution) => {
                    explanation.push(format!(
                        "routing table: office {} ({}); {}",
                        resolution.office.id,
                        resolution.office.name,
                        resolution.why.join("; ")
                    ));
                    *office = Some(resolution.office.id);
                }
                None => explanation.push(
                    "routing table: no rule matches and there is no default; the case stays with intake"
                        .into(),
                ),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    /// The fixture table (also the example in the README): Zhejiang's market supervision.
    const TABLE: &str = include_str!("../../../tests/routing/zhejiang-msa.toml");

    fn intake(yaml: &str) -> CaseIntake {
        crate::yaml::from_str(yaml, "case.yaml").unwrap()
    }

    #[test]
    fn the_most_specific_rule_wins() {
        let table = RoutingTable::parse(TABLE, "zhejiang-msa.toml").unwrap();
        let base = "sector: market_supervision\nchannel: hotline\nreceived_at: 2026-02-13T10:00:00+08:00\n\
                    complainant: {name: 张三, phone: '13800138000'}\nclaim: 退货\nfacts: 拒绝退货\n";
        // (respondent and extra intake fields, expected office, expected rule)
        let cases: &[(&str, &str, Matched)] = &[
            // County: Xihu district has its own office.
            (
                "respondent: {name: 某店, address: 西湖区, division_code: '330106'}",
                "330106-msa",
                Matched::Rule(4),
            ),
            // City: another Hangzhou district without a county rule goes to the city.
            (
                "respondent: {name: 某店, address: 上城区, division_code: '330102'}",
                "3301-msa",
                Matched::Rule(2),
            ),
            // Province: Ningbo has no rule of its own in this table.
            (
                "respondent: {name: 某店, address: 宁波, division_code: '330203'}",
                "33-msa",
                Matched::Rule(1),
            ),
            // Outside the province: the default (intake routes by hand).
            (
                "respondent: {name: 某店, address: 上海, division_code: '310101'}",
                "33-intake",
                Matched::Default,
            ),
            // No address at all: the default.
            ("respondent: {name: 某店}", "33-intake", Matched::Default),
            // A more specific rule by another field beats an equally long prefix.
            (
                "respondent: {name: 某店, address: 上城区, division_code: '330102'}\ncategory: food_safety",
                "3301-food",
                Matched::Rule(3),
            ),
            // A platform seller with a known place: where it operates (Xihu).
            (
                "respondent: {name: 某店, division_code: '330106', online: {role: platform_seller, platform_name: 某平台, platform_division_code: '330108'}}",
                "330106-msa",
                Matched::Rule(4),
            ),
            // ... or the platform's domicile (Binjiang) when the complainant chose it.
            (
                "respondent: {name: 某店, division_code: '330106', online: {role: platform_seller, platform_name: 某平台, platform_division_code: '330108'}}\nattributes: {complainant_chose_platform_domicile: true}",
                "330108-ecommerce",
                Matched::Rule(5),
            ),
            // ... or when the seller's place is unknown.
            (
                "respondent: {name: 某店, online: {role: platform_seller, platform_name: 某平台, platform_division_code: '330108'}}",
                "330108-ecommerce",
                Matched::Rule(5),
            ),
        ];
        for (extra, office, matched) in cases {
            let query = RouteQuery::for_intake(&intake(&format!("{base}{extra}")));
            let resolution = table.resolve(&query).unwrap();
            assert_eq!(
                (resolution.office.id.as_str(), &resolution.matched),
                (*office, matched),
                "{extra}: {:?}",
                resolution.why
            );
        }
    }

    #[test]
    fn escalation_goes_up_the_hierarchy() {
        let table = RoutingTable::parse(TABLE, "zhejiang-msa.toml").unwrap();
        let chain: Vec<&str> =
            std::iter::successors(table.office("330106-msa"), |o| table.parent_of(&o.id))
                .map(|o| o.id.as_str())
                .collect();
        assert_eq!(chain, ["330106-msa", "3301-msa", "33-msa"]);
    }

    #[test]
    fn broken_tables_are_refused_with_the_place() {
        let office = |id: &str, division: &str, level: &str, parent: &str| {
            format!(
                "[[office]]\nid = \"{id}\"\nname = \"x\"\ndivision = \"{division}\"\nlevel = \"{level}\"\n{parent}\n"
            )
        };
        let province = office("p", "330000", "province", "");
        let cases = [
            (
                format!("{province}{}", office("p", "330000", "province", "")),
                "used twice",
            ),
            (office("c", "3301", "city", ""), "not a 6-digit"),
            (office("c", "330106", "city", ""), "ends in zeros"),
            (
                office("c", "330100", "city", "parent = \"nowhere\""),
                "parent `nowhere`",
            ),
            (
                format!(
                    "{province}{}",
                    office("c", "330100", "city", "parent = \"c\"")
                ),
                "loop",
            ),
            (
                format!(
                    "{province}{}",
                    office("q", "330000", "province", "parent = \"p\"")
                ),
                "higher level",
            ),
            (
                format!("{province}[[rule]]\noffice = \"x\"\n"),
                "[[rule]] #1",
            ),
            (
                format!("{province}[[rule]]\ndivision = \"331\"\noffice = \"p\"\n"),
                "2-, 4- or 6-digit",
            ),
            (
                format!("{province}[default]\noffice = \"x\"\n"),
                "[default]",
            ),
            (
                format!("{province}[[rule]]\noffice = \"p\"\nwhatever = 1\n"),
                "zhejiang.toml:9",
            ),
        ];
        for (text, message) in cases {
            let error = RoutingTable::parse(&text, "zhejiang.toml")
                .unwrap_err()
                .to_string();
            assert!(error.contains(message), "{message}: {error}");
        }
    }
}

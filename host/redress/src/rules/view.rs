//! What a rule sees of a case. Identity fields never reach a rule: it learns only whether a
//! name, phone, address or document was given, which is all the acceptance rules need.

use std::collections::BTreeMap;

use redress_domain::Case;
use serde::Serialize;

#[derive(Debug, Serialize)]
pub struct CaseView<'a> {
    pub id: String,
    pub tenant: &'a str,
    pub sector: &'a str,
    pub kind: redress_domain::case::CaseKind,
    pub channel: redress_domain::case::Channel,
    pub status: &'a str,
    pub stage: Option<redress_domain::case::Stage>,
    pub received_at: String,
    /// The receipt date in the case's time zone, `YYYY-MM-DD`.
    pub received_date: String,
    pub transferred_from: Option<&'a str>,
    pub complainant: ComplainantView,
    pub complainant_count: u32,
    pub respondent: RespondentView<'a>,
    pub claim: &'a str,
    pub facts: &'a str,
    pub category: Option<&'a str>,
    pub amount: Option<&'a str>,
    pub evidence: Vec<redress_domain::case::EvidenceKind>,
    pub harm_known_on: Option<String>,
    pub purpose: Option<redress_domain::case::Purpose>,
    pub filed_by: Option<redress_domain::case::FiledBy>,
    pub handled_elsewhere: &'a [redress_domain::case::Proceeding],
    pub attributes: &'a BTreeMap<String, serde_json::Value>,
    pub transfers: usize,
    pub reopen_count: u32,
    pub flags: &'a [String],
    pub clocks: BTreeMap<&'a str, ClockView>,
    /// The earlier cases the host found this one may repeat (same complainant key, same
    /// respondent, within the window), newest first, each with its match basis. The key itself
    /// is not shown. Not in the frozen plugin interface 1.0.0.
    pub repeat_of: Vec<RepeatView<'a>>,
}

#[derive(Debug, Serialize)]
pub struct RepeatView<'a> {
    pub case_id: String,
    pub received_at: String,
    pub status: &'a str,
    /// As recorded: `#{kind: "same_complainant", identifier: "phone" | "identity_number"}`,
    /// `#{kind: "same_respondent"}`, `#{kind: "similar_issue", by: "category" | "text",
    /// score_permille}` (by text only: the bigram Jaccard index in thousandths).
    pub basis: &'a [redress_domain::repeat::MatchBasis],
}

#[derive(Debug, Serialize)]
pub struct ComplainantView {
    pub has_name: bool,
    pub has_phone: bool,
    pub has_address: bool,
    pub has_identity_document: bool,
    pub anonymous: bool,
    pub has_agent: bool,
    pub agent_has_identity_document: bool,
    pub agent_power_of_attorney: bool,
}

#[derive(Debug, Serialize)]
pub struct RespondentView<'a> {
    pub name: &'a str,
    pub has_address: bool,
    pub division_code: Option<&'a str>,
    pub online_role: Option<redress_domain::case::OnlineRole>,
    pub platform_name: Option<&'a str>,
    pub platform_division_code: Option<&'a str>,
}

#[derive(Debug, Serialize)]
pub struct ClockView {
    pub state: &'static str,
    pub due_at: Option<String>,
    pub started_at: String,
    pub extended_by: u32,
    pub breached: bool,
    /// The grounds it is paused on now (two may overlap), in the order they began.
    pub open_pauses: Vec<String>,
}

fn present(value: &Option<redress_domain::Sensitive<String>>) -> bool {
    value
        .as_ref()
        .is_some_and(|v| !v.expose().trim().is_empty())
}

impl<'a> CaseView<'a> {
    pub fn of(case: &'a Case) -> CaseView<'a> {
        let intake = &case.intake;
        let c = &intake.complainant;
        let agent = c.agent.as_ref();
        CaseView {
            id: case.id.to_string(),
            tenant: &case.tenant,
            sector: case.sector.as_str(),
            kind: intake.kind,
            channel: intake.channel,
            status: case.status.as_str(),
            stage: case.stage,
            received_at: case.received_at.to_string(),
            received_date: case
                .received_at
                .to_zoned(case.time_zone())
                .date()
                .to_string(),
            transferred_from: intake.transferred_from.as_deref(),
            complainant: ComplainantView {
                has_name: present(&c.name),
                has_phone: present(&c.phone),
                has_address: present(&c.address),
                has_identity_document: c.identity_document.is_some(),
                anonymous: c.anonymous,
                has_agent: agent.is_some(),
                agent_has_identity_document: agent.is_some_and(|a| a.identity_document.is_some()),
                agent_power_of_attorney: agent.is_some_and(|a| a.power_of_attorney),
            },
            complainant_count: intake.complainant_count,
            respondent: RespondentView {
                name: &intake.respondent.name,
                has_address: intake
                    .respondent
                    .address
                    .as_ref()
                    .is_some_and(|a| !a.trim().is_empty()),
                division_code: intake.respondent.division_code.as_deref(),
                online_role: intake.respondent.online.as_ref().map(|o| o.role),
                platform_name: intake
                    .respondent
                    .online
                    .as_ref()
                    .and_then(|o| o.platform_name.as_deref()),
                platform_division_code: intake
                    .respondent
                    .online
                    .as_ref()
                    .and_then(|o| o.platform_division_code.as_deref()),
            },
            claim: &intake.claim,
            facts: &intake.facts,
            category: intake.category.as_deref(),
            amount: intake.amount.as_ref().map(|a| a.value.as_str()),
            evidence: intake.evidence.iter().map(|e| e.kind).collect(),
            harm_known_on: intake.harm_known_on.map(|d| d.to_string()),
            purpose: intake.purpose,
            filed_by: intake.filed_by,
            handled_elsewhere: &intake.handled_elsewhere,
            attributes: &intake.attributes,
            transfers: case.transfers.len(),
            reopen_count: case.reopen_count,
            flags: &case.ruling.flags,
            clocks: case
                .clocks
                .iter()
                .map(|(name, clock)| {
                    (
                        name.as_str(),
                        ClockView {
                            state: clock.state.as_str(),
                            due_at: clock.due_at.map(|t| t.to_string()),
                            started_at: clock.started_at.to_string(),
                            extended_by: clock.extensions.iter().map(|e| e.amount).sum(),
                            breached: clock.breached_at.is_some()
                                || clock.state == redress_domain::clock::ClockState::Breached,
                            open_pauses: clock
                                .open_pauses()
                                .into_iter()
                                .map(str::to_owned)
                                .collect(),
                        },
                    )
                })
                .collect(),
            repeat_of: case
                .repeat_of
                .iter()
                .map(|c| RepeatView {
                    case_id: c.case_id.to_string(),
                    received_at: c.received_at.to_string(),
                    status: c.status.as_str(),
                    basis: &c.basis,
                })
                .collect(),
        }
    }
}

/// A unit-like domain enum's snake_case name, as in the JSON schemas (what both engines hand
/// to the rules).
pub(crate) fn enum_name<T: Serialize>(value: &T) -> Option<String> {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(s)) => Some(s),
        _ => None,
    }
}

/// The same view built directly as Rhai values: going through serde costs several
/// microseconds per decision, more than the rules themselves usually take.
pub fn to_rhai(case: &Case) -> rhai::Dynamic {
    use rhai::{Array, Dynamic, Map};
    fn text(value: &str) -> Dynamic {
        Dynamic::from(rhai::ImmutableString::from(value))
    }
    fn opt(value: Option<&str>) -> Dynamic {
        value.map_or(Dynamic::UNIT, text)
    }
    fn name<T: Serialize>(value: &T) -> Dynamic {
        enum_name(value).map_or(Dynamic::UNIT, |s| text(&s))
    }
    fn json(value: &serde_json::Value) -> Dynamic {
        match value {
            serde_json::Value::Null => Dynamic::UNIT,
            serde_json::Value::Bool(b) => Dynamic::from(*b),
            serde_json::Value::Number(n) => match n.as_i64() {
                Some(i) => Dynamic::from(i),
                None => n.as_f64().map_or(Dynamic::UNIT, Dynamic::from),
            },
            serde_json::Value::String(s) => text(s),
            other => text(&other.to_string()),
        }
    }
    let view = CaseView::of(case);
    let c = &view.complainant;
    let mut complainant = Map::new();
    for (key, value) in [
        ("has_name", c.has_name),
        ("has_phone", c.has_phone),
        ("has_address", c.has_address),
        ("has_identity_document", c.has_identity_document),
        ("anonymous", c.anonymous),
        ("has_agent", c.has_agent),
        ("agent_has_identity_document", c.agent_has_identity_document),
        ("agent_power_of_attorney", c.agent_power_of_attorney),
    ] {
        complainant.insert(key.into(), Dynamic::from(value));
    }
    let r = &view.respondent;
    let mut respondent = Map::new();
    respondent.insert("name".into(), text(r.name));
    respondent.insert("has_address".into(), Dynamic::from(r.has_address));
    respondent.insert("division_code".into(), opt(r.division_code));
    respondent.insert(
        "online_role".into(),
        r.online_role.as_ref().map_or(Dynamic::UNIT, name),
    );
    respondent.insert("platform_name".into(), opt(r.platform_name));
    respondent.insert(
        "platform_division_code".into(),
        opt(r.platform_division_code),
    );
    let mut clocks = Map::new();
    for (clock_name, clock) in &view.clocks {
        let mut m = Map::new();
        m.insert("state".into(), text(clock.state));
        m.insert("due_at".into(), opt(clock.due_at.as_deref()));
        m.insert("started_at".into(), text(&clock.started_at));
        m.insert(
            "extended_by".into(),
            Dynamic::from(i64::from(clock.extended_by)),
        );
        m.insert("breached".into(), Dynamic::from(clock.breached));
        m.insert(
            "open_pauses".into(),
            Dynamic::from_array(clock.open_pauses.iter().map(|g| text(g)).collect()),
        );
        clocks.insert((*clock_name).into(), Dynamic::from_map(m));
    }
    let handled: Array = view
        .handled_elsewhere
        .iter()
        .map(|p| {
            let mut m = Map::new();
            m.insert("body".into(), name(&p.body));
            m.insert("status".into(), name(&p.status));
            m.insert("reference".into(), opt(p.reference.as_deref()));
            Dynamic::from_map(m)
        })
        .collect();
    let attributes: Map = view
        .attributes
        .iter()
        .map(|(k, v)| (k.as_str().into(), json(v)))
        .collect();
    let mut m = Map::new();
    m.insert("id".into(), text(&view.id));
    m.insert("tenant".into(), text(view.tenant));
    m.insert("sector".into(), text(view.sector));
    m.insert("kind".into(), name(&view.kind));
    m.insert("channel".into(), name(&view.channel));
    m.insert("status".into(), text(view.status));
    m.insert(
        "stage".into(),
        view.stage.as_ref().map_or(Dynamic::UNIT, name),
    );
    m.insert("received_at".into(), text(&view.received_at));
    m.insert("received_date".into(), text(&view.received_date));
    m.insert("transferred_from".into(), opt(view.transferred_from));
    m.insert("complainant".into(), Dynamic::from_map(complainant));
    m.insert(
        "complainant_count".into(),
        Dynamic::from(i64::from(view.complainant_count)),
    );
    m.insert("respondent".into(), Dynamic::from_map(respondent));
    m.insert("claim".into(), text(view.claim));
    m.insert("facts".into(), text(view.facts));
    m.insert("category".into(), opt(view.category));
    m.insert("amount".into(), opt(view.amount));
    m.insert(
        "evidence".into(),
        Dynamic::from_array(view.evidence.iter().map(name).collect()),
    );
    m.insert("harm_known_on".into(), opt(view.harm_known_on.as_deref()));
    m.insert(
        "purpose".into(),
        view.purpose.as_ref().map_or(Dynamic::UNIT, name),
    );
    m.insert(
        "filed_by".into(),
        view.filed_by.as_ref().map_or(Dynamic::UNIT, name),
    );
    m.insert("handled_elsewhere".into(), Dynamic::from_array(handled));
    m.insert("attributes".into(), Dynamic::from_map(attributes));
    m.insert("transfers".into(), Dynamic::from(view.transfers as i64));
    m.insert(
        "reopen_count".into(),
        Dynamic::from(i64::from(view.reopen_count)),
    );
    m.insert(
        "flags".into(),
        Dynamic::from_array(view.flags.iter().map(|f| text(f)).collect()),
    );
    m.insert("clocks".into(), Dynamic::from_map(clocks));
    let repeat_of: Array = view
        .repeat_of
        .iter()
        .map(|c| {
            let mut r = Map::new();
            r.insert("case_id".into(), text(&c.case_id));
            r.insert("received_at".into(), text(&c.received_at));
            r.insert("status".into(), text(c.status));
            r.insert(
                "basis".into(),
                Dynamic::from_array(c.basis.iter().map(basis).collect()),
            );
            Dynamic::from_map(r)
        })
        .collect();
    m.insert("repeat_of".into(), Dynamic::from_array(repeat_of));
    Dynamic::from_map(m)
}

/// One match basis as a map, as serde writes it.
fn basis(basis: &redress_domain::repeat::MatchBasis) -> rhai::Dynamic {
    use redress_domain::repeat::MatchBasis;
    use rhai::{Dynamic, ImmutableString, Map};
    let text = |value: &str| Dynamic::from(ImmutableString::from(value));
    fn name<T: Serialize>(value: &T) -> Dynamic {
        enum_name(value).map_or(Dynamic::UNIT, |s| Dynamic::from(ImmutableString::from(s)))
    }
    let mut m = Map::new();
    match basis {
        MatchBasis::SameComplainant { identifier } => {
            m.insert("kind".into(), text("same_complainant"));
            m.insert("identifier".into(), name(identifier));
        }
        MatchBasis::SameRespondent => {
            m.insert("kind".into(), text("same_respondent"));
        }
        MatchBasis::SimilarIssue { by, score_permille } => {
            m.insert("kind".into(), text("similar_issue"));
            m.insert("by".into(), name(by));
            if let Some(score) = score_permille {
                m.insert("score_permille".into(), Dynamic::from(i64::from(*score)));
            }
        }
    }
    Dynamic::from_map(m)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    /// The direct conversion must give exactly what serde gives: rules written against one see
    /// the same values through the other.
    #[test]
    fn the_direct_rhai_view_equals_the_serde_one() {
        let intake: redress_domain::CaseIntake = serde_json::from_value(serde_json::json!({
            "sector": "banking", "channel": "web", "received_at": "2026-02-13T10:00:00+08:00",
            "complainant": {"name": "王五", "phone": "13900000000", "agent": {"name": "赵六", "power_of_attorney": true}},
            "respondent": {"name": "某银行", "division_code": "110105", "online": {"role": "platform_seller", "platform_name": "X"}},
            "claim": "撤销不当扣费", "amount": {"value": "12.50"}, "purpose": "personal_consumption", "filed_by": "authorised_agent",
            "handled_elsewhere": [{"body": "court", "status": "accepted"}],
            "attributes": {"departments_involved": 2, "safety_risk": true, "note": "x"},
            "evidence": [{"kind": "invoice"}], "harm_known_on": "2025-12-01"
        }))
        .unwrap();
        let repeat_of = serde_json::from_value(serde_json::json!([
            {"case_id": "01KGEKE2R0000000000000000A", "received_at": "2026-01-10T02:00:00Z", "status": "accepted",
             "basis": [{"kind": "same_complainant", "identifier": "phone"}, {"kind": "same_respondent"},
                       {"kind": "similar_issue", "by": "text", "score_permille": 640}]},
            {"case_id": "01KGEKE2R0000000000000000B", "received_at": "2025-12-01T02:00:00Z", "status": "closed",
             "basis": [{"kind": "same_complainant", "identifier": "identity_number"}, {"kind": "same_respondent"},
                       {"kind": "similar_issue", "by": "category"}]}
        ]))
        .unwrap();
        let (case, _) = redress_domain::Case::register_with(
            redress_domain::CaseId::from_parts(1, 1),
            redress_domain::TrackingCode::from_random(1),
            redress_domain::TenantId::default_tenant(),
            intake,
            redress_domain::repeat::RepeatFacts {
                complainant_key: None,
                repeat_of,
            },
            redress_domain::Actor::api("t"),
            "2026-02-13T02:00:00Z".parse().unwrap(),
        )
        .unwrap();
        let direct: serde_json::Value = rhai::serde::from_dynamic(&super::to_rhai(&case)).unwrap();
        let via_serde: serde_json::Value = rhai::serde::from_dynamic(
            &rhai::serde::to_dynamic(super::CaseView::of(&case)).unwrap(),
        )
        .unwrap();
        assert_eq!(direct["repeat_of"][1]["basis"][2]["by"], "category");
        assert_eq!(direct, via_serde);
    }
}

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
                        },
                    )
                })
                .collect(),
        }
    }
}

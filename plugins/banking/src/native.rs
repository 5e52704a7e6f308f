//! The native entry point of interface 1.0.0's shape, `decide(trigger, case, ctx)`, kept for
//! callers built against it (the engines benchmark hands it 1.0.0's types): the input is
//! converted to 1.2.0's types and decided without additions (no repeat candidates, no open
//! pauses), which is what a 1.0.0 caller can give.

use redress_plugin_sdk as v1;
use redress_plugin_sdk::v1_2 as v2;

/// Decides as the plugin does, from 1.0.0's types, with empty 1.2.0 additions.
pub fn decide(
    trigger: &v1::Trigger,
    case: &v1::CaseView,
    ctx: &v1::Context,
) -> Result<v2::Decision12, v2::DecideError> {
    let additions = v2::CaseAdditions {
        repeat_of: Vec::new(),
        pauses: Vec::new(),
    };
    crate::decide_with(
        &trigger_of(trigger),
        &case_of(case),
        &additions,
        &context_of(ctx),
    )
}

fn trigger_of(trigger: &v1::Trigger) -> v2::Trigger {
    match trigger {
        v1::Trigger::CaseReceived => v2::Trigger::CaseReceived,
        v1::Trigger::HandlerEvent(a) => v2::Trigger::HandlerEvent(v2::HandlerAction {
            kind: a.kind.clone(),
            fields: a.fields.clone(),
        }),
        v1::Trigger::ClockWarning(c) => v2::Trigger::ClockWarning(c.clone()),
        v1::Trigger::ClockBreach(c) => v2::Trigger::ClockBreach(c.clone()),
    }
}

fn attribute_of(value: &v1::AttributeValue) -> v2::AttributeValue {
    match value {
        v1::AttributeValue::Boolean(b) => v2::AttributeValue::Boolean(*b),
        v1::AttributeValue::Integer(i) => v2::AttributeValue::Integer(*i),
        v1::AttributeValue::Float(f) => v2::AttributeValue::Float(*f),
        v1::AttributeValue::Text(t) => v2::AttributeValue::Text(t.clone()),
        v1::AttributeValue::Json(j) => v2::AttributeValue::Json(j.clone()),
    }
}

fn case_of(c: &v1::CaseView) -> v2::CaseView {
    let p = &c.complainant;
    let r = &c.respondent;
    v2::CaseView {
        id: c.id.clone(),
        tenant: c.tenant.clone(),
        sector: c.sector.clone(),
        kind: c.kind.clone(),
        channel: c.channel.clone(),
        status: c.status.clone(),
        stage: c.stage.clone(),
        received_at: c.received_at.clone(),
        received_date: c.received_date.clone(),
        transferred_from: c.transferred_from.clone(),
        complainant: v2::ComplainantView {
            has_name: p.has_name,
            has_phone: p.has_phone,
            has_address: p.has_address,
            has_identity_document: p.has_identity_document,
            anonymous: p.anonymous,
            has_agent: p.has_agent,
            agent_has_identity_document: p.agent_has_identity_document,
            agent_power_of_attorney: p.agent_power_of_attorney,
        },
        complainant_count: c.complainant_count,
        respondent: v2::RespondentView {
            name: r.name.clone(),
            has_address: r.has_address,
            division_code: r.division_code.clone(),
            online_role: r.online_role.clone(),
            platform_name: r.platform_name.clone(),
            platform_division_code: r.platform_division_code.clone(),
        },
        claim: c.claim.clone(),
        facts: c.facts.clone(),
        category: c.category.clone(),
        amount: c.amount.clone(),
        evidence: c.evidence.clone(),
        harm_known_on: c.harm_known_on.clone(),
        purpose: c.purpose.clone(),
        filed_by: c.filed_by.clone(),
        handled_elsewhere: c
            .handled_elsewhere
            .iter()
            .map(|h| v2::ProceedingView {
                body: h.body.clone(),
                status: h.status.clone(),
                reference: h.reference.clone(),
            })
            .collect(),
        attributes: c
            .attributes
            .iter()
            .map(|(k, v)| (k.clone(), attribute_of(v)))
            .collect(),
        transfers: c.transfers,
        reopen_count: c.reopen_count,
        flags: c.flags.clone(),
        clocks: c
            .clocks
            .iter()
            .map(|k| v2::ClockView {
                name: k.name.clone(),
                state: k.state.clone(),
                due_at: k.due_at.clone(),
                started_at: k.started_at.clone(),
                extended_by: k.extended_by,
                breached: k.breached,
            })
            .collect(),
    }
}

fn context_of(ctx: &v1::Context) -> v2::Context {
    v2::Context {
        now: ctx.now.clone(),
        today: ctx.today.clone(),
        ruleset: ctx.ruleset.clone(),
        settings: ctx
            .settings
            .iter()
            .map(|(k, v)| {
                let v = match v {
                    v1::SettingValue::Boolean(b) => v2::SettingValue::Boolean(*b),
                    v1::SettingValue::Integer(i) => v2::SettingValue::Integer(*i),
                    v1::SettingValue::Float(f) => v2::SettingValue::Float(*f),
                    v1::SettingValue::Text(t) => v2::SettingValue::Text(t.clone()),
                    v1::SettingValue::Texts(t) => v2::SettingValue::Texts(t.clone()),
                };
                (k.clone(), v)
            })
            .collect(),
    }
}

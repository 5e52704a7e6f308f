//! Bindings and host glue for the frozen interface `redress:ruleset@1.0.0`
//! (`plugins/wit/1.0.0/`): the generated bindings, the logging import, the calls into a plugin,
//! and the conversions between the host's types and this version's WIT types (the case view
//! and settings in, the decision out). One such file per frozen interface version: a new
//! version gets a `v1_x_y.rs` of its own beside this one, and `mod.rs` dispatches by the version
//! a component exports.

use redress_domain::{
    Case,
    clock::{ClockSpec, ClockUnit, DayEnd, WarnBefore},
    contract::{Action, ClockStart, Decision, Severity, Trigger},
};
use wasmtime::{
    Store, StoreContextMut,
    component::{Component, HasSelf, Linker, WasmStr},
};

use self::redress::ruleset::types as wit;
use super::{
    Descriptor, PluginState,
    limits::{LOG_CALL_FUEL, LOG_MESSAGE_CHARS, charge_fuel},
};
use crate::rules::{RuleContext, RuleError, manifest::Manifest, view::CaseView};

wasmtime::component::bindgen!({
    world: "ruleset",
    path: "../../plugins/wit/1.0.0",
    // For `Input::to_json`: the benchmark hands the native build of a plugin the very
    // input the plugin gets.
    additional_derives: [serde::Serialize],
});

/// The interface version these bindings are for.
pub const VERSION: &str = "1.0.0";

/// Defines the interface's imports in `linker`: the types, and the logging import by hand
/// (`log_import`), shadowing the bindings' own definition.
pub(super) fn add_to_linker(linker: &mut Linker<PluginState>) -> wasmtime::Result<()> {
    Ruleset::add_to_linker::<_, HasSelf<_>>(linker, |state| state)?;
    linker.allow_shadowing(true);
    let logging = linker
        .instance(&format!("redress:ruleset/host@{VERSION}"))
        .and_then(|mut host| host.func_wrap("log", log_import));
    linker.allow_shadowing(false);
    logging
}

/// Links a component exporting this version's decider, ready to instantiate.
pub(super) fn link(
    linker: &Linker<PluginState>,
    component: &Component,
) -> wasmtime::Result<RulesetPre<PluginState>> {
    linker.instantiate_pre(component).and_then(RulesetPre::new)
}

/// Instantiates the plugin in `store` and asks it to describe itself.
pub(super) fn describe(
    pre: &RulesetPre<PluginState>,
    store: &mut Store<PluginState>,
) -> wasmtime::Result<Descriptor> {
    let described = pre
        .instantiate(&mut *store)?
        .redress_ruleset_decider()
        .call_describe(store)?;
    Ok(Descriptor {
        id: described.id,
        version: described.version,
        sector: described.sector,
        interface_version: described.interface_version,
    })
}

/// Instantiates the plugin in `store` and asks it to decide on `input`: its answer as given.
pub(super) fn decide(
    pre: &RulesetPre<PluginState>,
    store: &mut Store<PluginState>,
    input: &Input,
) -> wasmtime::Result<Result<wit::Decision, wit::DecideError>> {
    pre.instantiate(&mut *store)?
        .redress_ruleset_decider()
        .call_decide(store, &input.trigger, &input.case, &input.context)
}

/// A plugin's refusal to decide, as a rule failure; its own words are kept (at most 2,000
/// characters) for the case's rule failure only.
pub(super) fn declined(error: wit::DecideError) -> RuleError {
    let (why, message) = match error {
        wit::DecideError::BadSetting(m) => ("a setting is missing or malformed", m),
        wit::DecideError::MissingInput(m) => ("the case lacks information", m),
        wit::DecideError::Unsupported(m) => ("the rules do not cover this case", m),
    };
    RuleError::Declined {
        why,
        message: message.chars().take(2_000).collect(),
    }
}

/// The logging import, defined by hand instead of through the bindings: the bindings lift the
/// whole message into a `String` before the host sees it, so a plugin could make the host copy
/// 16 MiB per call for free. Taking a `WasmStr` leaves the message in the plugin's memory: a
/// call beyond the line cap reads nothing; a read validates the message in place (no copy),
/// is paid for in fuel per byte, and copies out at most `LOG_MESSAGE_CHARS` characters.
fn log_import(
    mut store: StoreContextMut<'_, PluginState>,
    (level, message): (wit::LogLevel, WasmStr),
) -> wasmtime::Result<()> {
    charge_fuel(&mut store, LOG_CALL_FUEL)?;
    let state = store.data_mut();
    if state.log_lines >= state.max_log_lines {
        return Ok(());
    }
    state.log_lines += 1;
    let (read, kept) = {
        let text = message.to_str(&store)?;
        let kept: String = text.chars().take(LOG_MESSAGE_CHARS).collect();
        (text.len(), kept)
    };
    charge_fuel(&mut store, read as u64)?;
    let plugin = store.data().plugin.as_str();
    match level {
        wit::LogLevel::Debug => tracing::debug!(target: "redress::plugins", plugin, "{kept}"),
        wit::LogLevel::Info => tracing::info!(target: "redress::plugins", plugin, "{kept}"),
        wit::LogLevel::Warn => tracing::warn!(target: "redress::plugins", plugin, "{kept}"),
    }
    Ok(())
}

impl redress::ruleset::types::Host for PluginState {}

/// Never called: `log_import` shadows the bindings' definition in the linker. Required by the
/// bindings' `add_to_linker`, which also defines the interface's types.
impl redress::ruleset::host::Host for PluginState {
    fn log(&mut self, _level: wit::LogLevel, _message: String) {}
}

/// Maps the plugin's answer to a `Decision`. Its size is checked once for both engines,
/// by `rules::check_decision`; the item count is checked here first only so that a huge
/// answer is not converted before it is refused.
pub(super) fn to_decision(
    decision: wit::Decision,
    manifest: &Manifest,
) -> Result<Decision, RuleError> {
    let items = decision.actions.len() + decision.explanation.len();
    if items > crate::rules::MAX_DECISION_ITEMS {
        return Err(RuleError::InvalidOutput(format!(
            "{items} items; at most {} are accepted",
            crate::rules::MAX_DECISION_ITEMS
        )));
    }
    let actions = decision
        .actions
        .into_iter()
        .enumerate()
        .map(|(i, action)| {
            let action = from_wit(action, manifest);
            let mut errors = redress_domain::ValidationErrors::default();
            if let Action::StartClock { clock, .. } = &action {
                clock.validate(&format!("/actions/{i}/clock"), &mut errors);
            }
            errors
                .into_result()
                .map(|()| action)
                .map_err(|e| RuleError::InvalidOutput(format!("item {i} (start_clock): {e}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Decision {
        actions,
        explanation: decision.explanation,
    })
}

fn unit_from(unit: wit::ClockUnit) -> ClockUnit {
    match unit {
        wit::ClockUnit::WorkingDays => ClockUnit::WorkingDays,
        wit::ClockUnit::CalendarDays => ClockUnit::CalendarDays,
        wit::ClockUnit::Hours => ClockUnit::Hours,
    }
}

fn from_wit(action: wit::Action, manifest: &Manifest) -> Action {
    match action {
        wit::Action::Accept(note) => Action::Accept { note },
        wit::Action::Reject(r) => Action::Reject {
            ground: r.ground,
            article: r.article,
            reason: r.reason,
        },
        wit::Action::RequestInformation(r) => Action::RequestInformation {
            fields: r.fields,
            article: r.article,
            reason: r.reason,
        },
        wit::Action::Route(r) => Action::Route {
            office: r.office,
            division_code: r.division_code,
            tier: r.tier,
            reason: r.reason,
        },
        wit::Action::Transfer(t) => Action::Transfer {
            to_office: t.to_office,
            reason: t.reason,
        },
        wit::Action::StartClock(s) => Action::StartClock {
            clock: ClockSpec {
                name: s.clock.name,
                amount: s.clock.amount,
                unit: unit_from(s.clock.unit),
                calendar: if s.clock.calendar.is_empty() {
                    manifest.calendar.clone()
                } else {
                    s.clock.calendar
                },
                roll_forward: s.clock.roll_forward,
                day_end: match s.clock.day_end {
                    wit::DayEnd::Midnight => DayEnd::Midnight,
                    wit::DayEnd::CloseOfBusiness => DayEnd::CloseOfBusiness,
                },
                warn_before: s.clock.warn_before.map(|w| WarnBefore {
                    amount: w.amount,
                    unit: unit_from(w.unit),
                }),
                article: s.clock.article,
                escalation: s.clock.escalation,
                // Declared in the package's manifest (`[clocks.<name>] met_by`), filled in by
                // `rules::apply` for both engines alike.
                met_by: Vec::new(),
                window: false,
            },
            from: match s.from {
                wit::ClockStart::Received => ClockStart::Received,
                wit::ClockStart::Now => ClockStart::Now,
            },
        },
        wit::Action::PauseClock(p) => Action::PauseClock {
            name: p.name,
            reason: p.reason,
        },
        wit::Action::ResumeClock(name) => Action::ResumeClock { name, pause: None },
        wit::Action::StopClock(s) => Action::StopClock {
            name: s.name,
            met: s.met,
            reason: s.reason,
        },
        wit::Action::ExtendClock(e) => Action::ExtendClock {
            name: e.name,
            amount: e.amount,
            reason: e.reason,
            approved_by: e.approved_by,
            complainant_notified: e.complainant_notified,
        },
        wit::Action::RestartClock(r) => Action::RestartClock {
            name: r.name,
            reason: r.reason,
        },
        wit::Action::Escalate(e) => Action::Escalate {
            to: e.to,
            reason: e.reason,
        },
        wit::Action::Classify(c) => Action::Classify {
            category: c.category,
            severity: c.severity.map(|s| match s {
                wit::Severity::Low => Severity::Low,
                wit::Severity::Normal => Severity::Normal,
                wit::Severity::High => Severity::High,
                wit::Severity::Major => Severity::Major,
            }),
            flags: c.flags,
        },
        wit::Action::Notify(n) => Action::Notify {
            recipient: n.recipient,
            template: n.template,
        },
        wit::Action::Close(outcome) => Action::Close { outcome },
    }
}

/// Everything a plugin is handed for one decision.
#[derive(Debug)]
pub struct Input {
    pub trigger: wit::Trigger,
    pub case: wit::CaseView,
    pub context: wit::Context,
    /// Bytes of text in the input, for the size cap.
    pub text_bytes: usize,
}

impl Input {
    /// The input as JSON in the SDK's serde form: `[trigger, case, context]`.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!([self.trigger, self.case, self.context])
    }
}

fn name<T: serde::Serialize>(value: &T) -> String {
    crate::rules::view::enum_name(value).unwrap_or_default()
}

/// A package's settings as WIT values, converted once when the package is loaded.
#[derive(Debug, Clone)]
pub struct PluginSettings(Vec<(String, wit::SettingValue)>);

impl PluginSettings {
    pub fn of(manifest: &Manifest) -> PluginSettings {
        PluginSettings(
            manifest
                .settings
                .iter()
                .map(|(key, value)| {
                    let value = match value {
                        toml::Value::Boolean(b) => wit::SettingValue::Boolean(*b),
                        toml::Value::Integer(i) => wit::SettingValue::Integer(*i),
                        toml::Value::Float(f) => wit::SettingValue::Float(*f),
                        toml::Value::String(s) => wit::SettingValue::Text(s.clone()),
                        toml::Value::Array(items) => wit::SettingValue::Texts(
                            items
                                .iter()
                                .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_owned))
                                .collect(),
                        ),
                        other => wit::SettingValue::Text(other.to_string()),
                    };
                    (key.clone(), value)
                })
                .collect(),
        )
    }
}

impl Input {
    pub fn new(
        trigger: &Trigger,
        case: &Case,
        ctx: &RuleContext<'_>,
        manifest: &Manifest,
        settings: &PluginSettings,
    ) -> Result<Input, RuleError> {
        let view = CaseView::of(case);
        let mut bytes = 0usize;
        let mut text = |s: &str| {
            bytes += s.len();
            s.to_owned()
        };
        let trigger = match trigger {
            Trigger::CaseReceived => wit::Trigger::CaseReceived,
            Trigger::HandlerEvent { action } => {
                let json = serde_json::to_value(action)
                    .map_err(|e| RuleError::InvalidOutput(e.to_string()))?;
                let mut kind = String::new();
                let mut fields = Vec::new();
                if let serde_json::Value::Object(map) = json {
                    for (key, value) in map {
                        match (key.as_str(), value) {
                            ("type", serde_json::Value::String(s)) => kind = s,
                            (_, serde_json::Value::String(s)) => fields.push((key, text(&s))),
                            (_, serde_json::Value::Bool(b)) => fields.push((key, b.to_string())),
                            (_, serde_json::Value::Number(n)) => fields.push((key, n.to_string())),
                            // A list of texts (`documents`): one a line; each is one line.
                            (_, serde_json::Value::Array(items)) => {
                                let lines: Vec<&str> =
                                    items.iter().filter_map(serde_json::Value::as_str).collect();
                                fields.push((key, text(&lines.join("\n"))));
                            }
                            _ => {}
                        }
                    }
                }
                wit::Trigger::HandlerEvent(wit::HandlerAction { kind, fields })
            }
            Trigger::ClockWarning { clock } => wit::Trigger::ClockWarning(clock.clone()),
            Trigger::ClockBreach { clock } => wit::Trigger::ClockBreach(clock.clone()),
        };
        let c = &view.complainant;
        let r = &view.respondent;
        let case_view = wit::CaseView {
            id: view.id.clone(),
            tenant: view.tenant.to_owned(),
            sector: view.sector.to_owned(),
            kind: name(&view.kind),
            channel: name(&view.channel),
            status: view.status.to_owned(),
            stage: view.stage.as_ref().map(name),
            received_at: view.received_at.clone(),
            received_date: view.received_date.clone(),
            transferred_from: view.transferred_from.map(&mut text),
            complainant: wit::ComplainantView {
                has_name: c.has_name,
                has_phone: c.has_phone,
                has_address: c.has_address,
                has_identity_document: c.has_identity_document,
                anonymous: c.anonymous,
                has_agent: c.has_agent,
                agent_has_identity_document: c.agent_has_identity_document,
                agent_power_of_attorney: c.agent_power_of_attorney,
            },
            complainant_count: view.complainant_count,
            respondent: wit::RespondentView {
                name: text(r.name),
                has_address: r.has_address,
                division_code: r.division_code.map(str::to_owned),
                online_role: r.online_role.as_ref().map(name),
                platform_name: r.platform_name.map(&mut text),
                platform_division_code: r.platform_division_code.map(str::to_owned),
            },
            claim: text(view.claim),
            facts: text(view.facts),
            category: view.category.map(&mut text),
            amount: view.amount.map(str::to_owned),
            evidence: view.evidence.iter().map(name).collect(),
            harm_known_on: view.harm_known_on.clone(),
            purpose: view.purpose.as_ref().map(name),
            filed_by: view.filed_by.as_ref().map(name),
            handled_elsewhere: view
                .handled_elsewhere
                .iter()
                .map(|p| wit::ProceedingView {
                    body: name(&p.body),
                    status: name(&p.status),
                    reference: p.reference.clone(),
                })
                .collect(),
            attributes: view
                .attributes
                .iter()
                .map(|(key, value)| {
                    let value = match value {
                        serde_json::Value::Bool(b) => wit::AttributeValue::Boolean(*b),
                        serde_json::Value::Number(n) => match n.as_i64() {
                            Some(i) => wit::AttributeValue::Integer(i),
                            None => wit::AttributeValue::Float(n.as_f64().unwrap_or_default()),
                        },
                        serde_json::Value::String(s) => wit::AttributeValue::Text(text(s)),
                        other => wit::AttributeValue::Json(text(&other.to_string())),
                    };
                    (text(key), value)
                })
                .collect(),
            transfers: u32::try_from(view.transfers).unwrap_or(u32::MAX),
            reopen_count: view.reopen_count,
            flags: view.flags.iter().map(|f| text(f)).collect(),
            clocks: view
                .clocks
                .iter()
                .map(|(clock_name, clock)| wit::ClockView {
                    name: (*clock_name).to_owned(),
                    state: clock.state.to_owned(),
                    due_at: clock.due_at.clone(),
                    started_at: clock.started_at.clone(),
                    extended_by: clock.extended_by,
                    breached: clock.breached,
                })
                .collect(),
        };
        let context = wit::Context {
            now: ctx.now.to_string(),
            today: ctx.now.to_zoned(case.time_zone()).date().to_string(),
            ruleset: format!("{}@{}", manifest.id, manifest.version),
            settings: settings.0.clone(),
        };
        Ok(Input {
            trigger,
            case: case_view,
            context,
            text_bytes: bytes,
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// A handler action crosses the WIT as its `kind` and its fields as text: booleans,
    /// numbers and dates as text, a list of texts one a line; absent optional fields are not
    /// sent.
    #[test]
    fn a_handler_action_crosses_as_kind_and_text_fields() {
        use redress_domain::{Actor, CaseId, TrackingCode};
        let manifest = Manifest::parse(
            "id = \"x\"\nversion = \"1.0.0\"\nname = \"X\"\nsector = \"banking\"\neffective_from = 2020-03-01\nengine = \"wasm\"\nentry = \"x.wasm\"\n",
            "ruleset.toml",
        )
        .unwrap();
        let intake = serde_json::from_value(serde_json::json!({
            "sector": "banking", "channel": "hotline",
            "respondent": {"name": "某银行"}, "claim": "退款"
        }))
        .unwrap();
        let now: jiff::Timestamp = "2026-12-01T02:00:00Z".parse().unwrap();
        let (case, _) = Case::register(
            CaseId::from_parts(1, 1),
            TrackingCode::from_random(1),
            redress_domain::TenantId::parse("default").unwrap(),
            intake,
            Actor::api("intake"),
            now,
        )
        .unwrap();
        let calendars = redress_calendar::CalendarSet::default();
        let ctx = RuleContext {
            now,
            calendars: &calendars,
        };
        let fields_of = |action: serde_json::Value| {
            let trigger = Trigger::HandlerEvent {
                action: serde_json::from_value(action).unwrap(),
            };
            let input = Input::new(
                &trigger,
                &case,
                &ctx,
                &manifest,
                &PluginSettings::of(&manifest),
            )
            .unwrap();
            let wit::Trigger::HandlerEvent(mut action) = input.trigger else {
                panic!("not a handler event");
            };
            // In the order serde_json's map gives, which a dependency's features may change.
            action.fields.sort();
            (action.kind, action.fields)
        };
        let pairs = |items: &[(&str, &str)]| -> Vec<(String, String)> {
            items
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect()
        };
        assert_eq!(
            fields_of(
                serde_json::json!({"type": "agree_mediation_extension", "amount": 15,
                "unit": "working_days", "reason": "约定延长", "agreed_by": "医调委与双方"})
            ),
            (
                "agree_mediation_extension".into(),
                pairs(&[
                    ("agreed_by", "医调委与双方"),
                    ("amount", "15"),
                    ("reason", "约定延长"),
                    ("unit", "working_days")
                ])
            )
        );
        assert_eq!(
            fields_of(serde_json::json!({"type": "request_documents",
                "documents": ["授权委托书原件", "代理人身份证件"], "reason": "art. 14"})),
            (
                "request_documents".into(),
                pairs(&[
                    ("documents", "授权委托书原件\n代理人身份证件"),
                    ("reason", "art. 14")
                ])
            )
        );
        assert_eq!(
            fields_of(
                serde_json::json!({"type": "give_notice", "recipient": "reporter",
                "means": "sms", "about": "decision_notice"})
            ),
            (
                "give_notice".into(),
                pairs(&[
                    ("about", "decision_notice"),
                    ("means", "sms"),
                    ("recipient", "reporter")
                ])
            )
        );
        assert_eq!(
            fields_of(serde_json::json!({"type": "record_callback", "satisfied": false})).1,
            pairs(&[("satisfied", "false")])
        );
        assert_eq!(
            fields_of(serde_json::json!({"type": "request_review",
                "requested_on": "2026-12-01", "reason": "不服"}))
            .1,
            pairs(&[("reason", "不服"), ("requested_on", "2026-12-01")])
        );
    }
}

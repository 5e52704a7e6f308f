//! Banking and insurance consumer complaints, 《银行业保险业消费投诉处理管理办法》(银保监会令2020年
//! 第3号), as a plugin: the same rules as `rulesets/banking-insurance/rules.rhai`, line for
//! line, so that the fixture corpus of that ruleset can prove the two engines agree (the
//! host's equivalence test runs every fixture through both). The conventions (notes that
//! start with `extend:complex`, `extend:especially_complex:<approver>`, `mediation:ended`;
//! attributes `major_cause`, `forwarded_by_regulator`) are documented in the Rhai file.

use redress_plugin_sdk::{
    Action, AttributeValue, CaseView, ClassifyAction, ClockSpec, ClockStart, ClockUnit, Context,
    DayEnd, DecideError, Decision, Descriptor, EscalateAction, ExtendClockAction, HandlerAction,
    NotifyAction, PauseClockAction, RejectAction, RestartClockAction, Ruleset, Severity,
    StartClockAction, StopClockAction, Trigger, WarnBefore, action_field, attribute, setting_bool,
    setting_int,
};

#[derive(Debug)]
pub struct Banking;

// Only in the plugin: natively, the component export names (`redress:ruleset/...`) are not
// valid linker symbols, and the native build is for tests and benchmarks.
#[cfg(target_arch = "wasm32")]
redress_plugin_sdk::export_ruleset!(Banking);

impl Ruleset for Banking {
    fn describe() -> Descriptor {
        Descriptor {
            id: "banking-insurance-plugin".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            sector: "banking".into(),
            interface_version: redress_plugin_sdk::INTERFACE_VERSION.into(),
        }
    }

    fn decide(trigger: Trigger, case: CaseView, ctx: Context) -> Result<Decision, DecideError> {
        decide(&trigger, &case, &ctx)
    }
}

/// The decision, as a plain function (the native build calls it directly).
pub fn decide(trigger: &Trigger, case: &CaseView, ctx: &Context) -> Result<Decision, DecideError> {
    let settings = Settings::read(ctx)?;
    let mut out = Out::default();
    let rules = Rules {
        case,
        ctx,
        s: &settings,
    };
    match trigger {
        Trigger::CaseReceived => rules.on_received(&mut out),
        Trigger::HandlerEvent(action) => rules.on_handler_event(action, &mut out),
        Trigger::ClockWarning(clock) => {
            out.because(format!(
                "{}: clock `{clock}` is due within {} days",
                clock_article(clock),
                settings.warning_days
            ));
            out.push(notify("handler", &format!("{clock}_due_soon")));
        }
        Trigger::ClockBreach(clock) => {
            out.because(format!(
                "{}: clock `{clock}` passed its due time",
                clock_article(clock)
            ));
            out.push(Action::Escalate(EscalateAction {
                to: "complaint_management_lead".into(),
                reason: format!("`{clock}` overdue ({})", clock_article(clock)),
            }));
        }
    }
    Ok(out.decision)
}

/// The `[settings]` this ruleset reads; a missing one is a clear failure, not a default.
struct Settings {
    decision_days: i64,
    complex_extension_days: i64,
    especially_complex_extension_days: i64,
    max_total_days: i64,
    roll_forward: bool,
    forwarded_working_days: i64,
    review_days: i64,
    major_complaint_threshold: i64,
    warning_days: i64,
}

impl Settings {
    fn read(ctx: &Context) -> Result<Settings, DecideError> {
        let int = |name: &str| {
            setting_int(ctx, name).ok_or_else(|| {
                DecideError::BadSetting(format!("setting `{name}` (an integer) is missing"))
            })
        };
        Ok(Settings {
            decision_days: int("decision_days")?,
            complex_extension_days: int("complex_extension_days")?,
            especially_complex_extension_days: int("especially_complex_extension_days")?,
            max_total_days: int("max_total_days")?,
            roll_forward: setting_bool(ctx, "roll_forward").ok_or_else(|| {
                DecideError::BadSetting("setting `roll_forward` (a boolean) is missing".into())
            })?,
            forwarded_working_days: int("forwarded_working_days")?,
            review_days: int("review_days")?,
            major_complaint_threshold: int("major_complaint_threshold")?,
            warning_days: int("warning_days")?,
        })
    }
}

struct Out {
    decision: Decision,
}

impl Default for Out {
    fn default() -> Self {
        Out {
            decision: Decision {
                actions: Vec::new(),
                explanation: Vec::new(),
            },
        }
    }
}

impl Out {
    fn because(&mut self, text: String) {
        self.decision.explanation.push(text);
    }
    fn push(&mut self, action: Action) {
        self.decision.actions.push(action);
    }
}

fn art(n: &str) -> String {
    format!("投诉处理管理办法 art. {n}")
}

fn clock_article(clock: &str) -> String {
    match clock {
        "forwarded_handling" => art("33"),
        "review" => art("20"),
        _ => art("18"),
    }
}

fn notify(recipient: &str, template: &str) -> Action {
    Action::Notify(NotifyAction {
        recipient: recipient.into(),
        template: template.into(),
    })
}

fn clock(
    name: &str,
    amount: i64,
    unit: ClockUnit,
    roll_forward: bool,
    article: String,
) -> ClockSpec {
    ClockSpec {
        name: name.into(),
        amount: u32::try_from(amount).unwrap_or(0),
        unit,
        calendar: String::new(),
        roll_forward,
        day_end: DayEnd::Midnight,
        warn_before: None,
        article: Some(article),
        escalation: Vec::new(),
    }
}

fn stop(name: &str, met: bool) -> Action {
    Action::StopClock(StopClockAction {
        name: name.into(),
        met,
        reason: None,
    })
}

const COUNTED: [&str; 3] = ["decision", "forwarded_handling", "review"];

struct Rules<'a> {
    case: &'a CaseView,
    ctx: &'a Context,
    s: &'a Settings,
}

impl Rules<'_> {
    /// Calendar days, rolled off rest days unless the setting says otherwise (art. 43).
    fn days(&self, name: &str, n: i64, article: String) -> ClockSpec {
        clock(
            name,
            n,
            ClockUnit::CalendarDays,
            self.s.roll_forward,
            article,
        )
    }

    fn warn(&self) -> Option<WarnBefore> {
        Some(WarnBefore {
            amount: u32::try_from(self.s.warning_days).unwrap_or(0),
            unit: ClockUnit::CalendarDays,
        })
    }

    fn attr_true(&self, name: &str) -> bool {
        matches!(
            attribute(self.case, name),
            Some(AttributeValue::Boolean(true))
        )
    }

    fn state_of(&self, name: &str) -> &str {
        self.case
            .clocks
            .iter()
            .find(|c| c.name == name)
            .map_or("none", |c| c.state.as_str())
    }

    fn counting(&self, name: &str) -> bool {
        matches!(self.state_of(name), "running" | "paused")
    }

    fn extended_by(&self, name: &str) -> i64 {
        self.case
            .clocks
            .iter()
            .find(|c| c.name == name)
            .map_or(0, |c| i64::from(c.extended_by))
    }

    fn on_received(&self, out: &mut Out) {
        let c = &self.case.complainant;
        if self.case.filed_by.as_deref() == Some("third_party") {
            let why = format!(
                "{}: filed by a third party, not by the complainant, a legal representative or an authorised agent",
                art("18 ¶4")
            );
            out.because(why.clone());
            out.push(reject(why));
            return;
        }
        if c.has_agent && !c.agent_power_of_attorney {
            let why = format!(
                "{}: filed through an agent without a power of attorney",
                art("18 ¶4")
            );
            out.because(why.clone());
            out.push(reject(why));
            return;
        }
        let count = i64::from(self.case.complainant_count);
        let by_count = count >= self.s.major_complaint_threshold;
        let by_cause = self.attr_true("major_cause");
        if by_count || by_cause {
            let why = if by_count {
                format!(
                    "{count} complainants (threshold {})",
                    self.s.major_complaint_threshold
                )
            } else {
                "a disaster, safety or public-health cause".to_owned()
            };
            out.because(format!(
                "{}: a major complaint: {why}; contingency plan and reporting",
                art("29")
            ));
            out.push(Action::Classify(ClassifyAction {
                category: Some("major_complaint".into()),
                severity: Some(Severity::Major),
                flags: Vec::new(),
            }));
            out.push(Action::Classify(ClassifyAction {
                category: None,
                severity: None,
                flags: vec!["major_complaint".into()],
            }));
            out.push(notify("management", "major_complaint_contingency_plan"));
        }
        out.push(Action::Accept(None));
        if self.attr_true("forwarded_by_regulator") {
            out.because(format!(
                "{}: forwarded by the regulator: handled within {} working days ({}: 7个工作日 are working days)",
                art("33"),
                self.s.forwarded_working_days,
                art("43")
            ));
            out.push(Action::StartClock(StartClockAction {
                clock: clock(
                    "forwarded_handling",
                    self.s.forwarded_working_days,
                    ClockUnit::WorkingDays,
                    true,
                    art("33"),
                ),
                from: ClockStart::Received,
            }));
        }
        out.because(format!(
            "{}: decide and notify within {} days of receipt ({}: calendar days{}",
            art("18"),
            self.s.decision_days,
            art("43"),
            if self.s.roll_forward {
                ", a rest-day due date moves to the next working day)"
            } else {
                ")"
            }
        ));
        let mut spec = self.days("decision", self.s.decision_days, art("18"));
        spec.warn_before = self.warn();
        out.push(Action::StartClock(StartClockAction {
            clock: spec,
            from: ClockStart::Received,
        }));
    }

    /// Stops every counting clock; met unless it had already passed its due time (both
    /// instants are UTC RFC 3339, so they compare as text).
    fn stop_counting(&self) -> Vec<Action> {
        COUNTED
            .iter()
            .filter(|name| self.counting(name))
            .filter_map(|name| {
                let c = self.case.clocks.iter().find(|c| c.name == *name)?;
                let overdue = c.breached
                    || c.due_at
                        .as_deref()
                        .is_some_and(|due| self.ctx.now.as_str() >= due);
                Some(stop(name, !overdue))
            })
            .collect()
    }

    fn on_note(&self, text: &str, out: &mut Out) {
        let s = self.s;
        if text.starts_with("extend:especially_complex") {
            let refuse = |out: &mut Out, why: String| {
                out.because(format!("{}: further extension refused: {why}", art("18")));
            };
            let approver: String = match text.strip_prefix("extend:especially_complex:") {
                Some(_) => text.chars().skip(26).collect(),
                None => String::new(),
            };
            let approver = approver.trim();
            if !self.counting("decision") {
                return refuse(out, "the decision clock is not counting".into());
            }
            let extended = self.extended_by("decision");
            if extended < s.complex_extension_days {
                return refuse(
                    out,
                    format!(
                        "the case must first be extended to {} days as complex (extended by {extended} so far)",
                        s.decision_days + s.complex_extension_days
                    ),
                );
            }
            if approver.is_empty() {
                return refuse(
                    out,
                    "senior-management approval is required: name the approver (extend:especially_complex:<approver>)".into(),
                );
            }
            let total = s.decision_days + extended + s.especially_complex_extension_days;
            if total > s.max_total_days {
                return refuse(
                    out,
                    format!(
                        "{total} days would exceed the {}-day maximum",
                        s.max_total_days
                    ),
                );
            }
            out.because(format!(
                "{}: especially complex, approved by {approver}: extended by {} to {total} days; the complainant is told",
                art("18"),
                s.especially_complex_extension_days
            ));
            out.push(extend(
                s.especially_complex_extension_days,
                format!("especially complex case ({})", art("18")),
                approver,
            ));
            out.push(notify("complainant", "extension_notice"));
            return;
        }
        if text.starts_with("mediation:ended") {
            if self.state_of("decision") != "paused" {
                out.because(format!(
                    "{}: the decision clock is not paused; nothing to resume",
                    art("23")
                ));
                return;
            }
            out.because(format!(
                "{}: mediation ended without agreement; the remaining {} time continues",
                art("23"),
                art("18")
            ));
            out.push(Action::ResumeClock("decision".into()));
            return;
        }
        if text.starts_with("extend:complex") {
            let refuse = |out: &mut Out, why: &str| {
                out.because(format!("{}: extension refused: {why}", art("18")));
            };
            if !self.counting("decision") {
                return refuse(out, "the decision clock is not counting");
            }
            if self.extended_by("decision") > 0 {
                return refuse(out, "the decision clock is already extended");
            }
            out.because(format!(
                "{}: a complex case: extended by {} to {} days; the complainant is told",
                art("18"),
                s.complex_extension_days,
                s.decision_days + s.complex_extension_days
            ));
            out.push(extend(
                s.complex_extension_days,
                format!("complex case ({})", art("18")),
                "",
            ));
            out.push(notify("complainant", "extension_notice"));
        }
    }

    fn on_handler_event(&self, action: &HandlerAction, out: &mut Out) {
        let field = |name: &str| action_field(action, name).unwrap_or_default();
        match action.kind.as_str() {
            "note" => self.on_note(field("text"), out),
            "start_appraisal" if self.state_of("decision") == "running" => {
                out.because(format!(
                    "{}: external appraisal, testing or assessment time is not counted; the complainant is told",
                    art("18")
                ));
                out.push(Action::PauseClock(PauseClockAction {
                    name: "decision".into(),
                    reason: field("reason").into(),
                }));
                out.push(notify("complainant", "appraisal_notice"));
            }
            "finish_appraisal" if self.state_of("decision") == "paused" => {
                out.because(format!(
                    "{}: the appraisal ended; the remaining time continues",
                    art("18")
                ));
                out.push(Action::ResumeClock("decision".into()));
            }
            "start_mediation" if self.state_of("decision") == "running" => {
                out.because(format!(
                    "{}: mediation time is not counted in the handling period",
                    art("23")
                ));
                out.push(Action::PauseClock(PauseClockAction {
                    name: "decision".into(),
                    reason: "mediation".into(),
                }));
            }
            "record_agreement" => {
                out.because(format!(
                    "{}: the mediation agreement settles the complaint",
                    art("23")
                ));
                for name in COUNTED.iter().filter(|name| self.counting(name)) {
                    out.push(stop(name, true));
                }
            }
            "terminate" | "withdraw" => {
                let stops = self.stop_counting();
                if !stops.is_empty() {
                    out.because(if action.kind == "terminate" {
                        "the handling is terminated: its clocks stop (met unless already overdue)"
                            .to_owned()
                    } else {
                        format!(
                            "{}: the withdrawal ends the procedure: its clocks stop (met unless already overdue)",
                            art("15")
                        )
                    });
                    out.decision.actions.extend(stops);
                }
            }
            "record_new_facts" if self.counting("decision") => {
                out.because(format!(
                    "{}: new facts: the {}-day period counts again from now",
                    art("18"),
                    self.s.decision_days
                ));
                out.push(Action::RestartClock(RestartClockAction {
                    name: "decision".into(),
                    reason: format!("new facts: {}", field("description")),
                }));
            }
            "resolve" => {
                out.because(format!(
                    "{}: the decision notice states the findings, grounds, remedies and further channels",
                    art("19")
                ));
                out.push(notify("complainant", "decision_notice"));
                for name in COUNTED.iter().filter(|name| self.counting(name)) {
                    out.push(stop(name, true));
                }
            }
            "reopen" => {
                out.because(format!(
                    "{}: a review (核查) is decided within {} days of the request",
                    art("20"),
                    self.s.review_days
                ));
                let mut spec = self.days("review", self.s.review_days, art("20"));
                spec.warn_before = self.warn();
                out.push(Action::StartClock(StartClockAction {
                    clock: spec,
                    from: ClockStart::Now,
                }));
            }
            _ => {}
        }
    }
}

fn reject(why: String) -> Action {
    Action::Reject(RejectAction {
        ground: "not_authorised_filer".into(),
        article: art("18 ¶4"),
        reason: why,
    })
}

fn extend(amount: i64, reason: String, approver: &str) -> Action {
    Action::ExtendClock(ExtendClockAction {
        name: "decision".into(),
        amount: u32::try_from(amount).unwrap_or(0),
        reason,
        approved_by: Some(approver.into()),
        complainant_notified: true,
    })
}

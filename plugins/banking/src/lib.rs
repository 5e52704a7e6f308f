//! Banking and insurance consumer complaints, 《银行业保险业消费投诉处理管理办法》(银保监会令2020年
//! 第3号), as a plugin: the same rules as `rulesets/banking-insurance/rules.rhai`, line for
//! line, so that the fixture corpus of that ruleset can prove the two engines agree (the
//! host's equivalence test runs every fixture through both). The conventions (notes that
//! start with `extend:complex`, `extend:especially_complex:<approver>`, `mediation:ended`,
//! `conduct:<kind>:<evidence>`; the intake attributes declared in ruleset.toml) are documented
//! in the Rhai file and in rulesets/banking-insurance/README.md.
//!
//! Interface 1.2.0: it needs the host's repeat candidates and `merge-into` (art. 18 ¶3, the
//! frequent-repeat flag), each paused clock's open grounds and `end-pause` (an appraisal during
//! mediation, arts. 18 and 23), and the host's calendar (the earlier case's period).

use redress_plugin_sdk::v1_2::{
    Action, Action12, AttributeValue, CaseAdditions, CaseView, ClassifyAction, ClockSpec,
    ClockStart, ClockUnit, Context, DayEnd, DecideError, Decision12, Descriptor, EndPauseAction,
    EscalateAction, ExtendClockAction, HandlerAction, MergeIntoAction, NotifyAction,
    PauseClockAction, RejectAction, RequestInformationAction, RestartClockAction, RouteAction,
    Ruleset, Severity, StartClockAction, StopClockAction, Trigger, WarnBefore, action_field,
    attribute, calendar, setting_bool, setting_int, setting_text,
};

mod native;

#[derive(Debug)]
pub struct Banking;

// Only in the plugin: natively, the component export names (`redress:ruleset/...`) are not
// valid linker symbols, and the native build is for tests and benchmarks.
#[cfg(target_arch = "wasm32")]
redress_plugin_sdk::v1_2::export_ruleset!(Banking);

impl Ruleset for Banking {
    fn describe() -> Descriptor {
        Descriptor {
            id: "banking-insurance-plugin".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            sector: "banking".into(),
            interface_version: redress_plugin_sdk::v1_2::INTERFACE_VERSION.into(),
        }
    }

    fn decide(
        trigger: Trigger,
        case: CaseView,
        additions: CaseAdditions,
        ctx: Context,
    ) -> Result<Decision12, DecideError> {
        decide_with(&trigger, &case, &additions, &ctx)
    }
}

pub use native::decide;

/// The decision, as a plain function (the native build calls it directly; there the host's
/// calendar answers with an error, so a repeat candidate fails the decision natively).
pub fn decide_with(
    trigger: &Trigger,
    case: &CaseView,
    add: &CaseAdditions,
    ctx: &Context,
) -> Result<Decision12, DecideError> {
    let settings = Settings::read(ctx)?;
    let mut out = Out::default();
    let rules = Rules {
        case,
        add,
        ctx,
        s: &settings,
    };
    match trigger {
        Trigger::CaseReceived => rules.on_received(&mut out)?,
        Trigger::HandlerEvent(action) => rules.on_handler_event(action, &mut out),
        Trigger::ClockWarning(clock) => {
            out.because(format!(
                "{}: clock `{clock}` is due within {} days",
                clock_article(clock),
                settings.warning_days
            ));
            out.push(notify("handler", &format!("{clock}_due_soon")));
        }
        Trigger::ClockBreach(clock) => on_breach(clock, &mut out),
    }
    Ok(out.decision)
}

fn on_breach(clock: &str, out: &mut Out) {
    if clock == "review_request_window" {
        out.because(format!(
            "{}: the 30 days to ask for a review (核查) after receiving the decision have passed; a later request is refused",
            art("20")
        ));
        return;
    }
    if clock == "forwarded_handling" {
        out.because(format!(
            "{}: the 7 working days of art. 33 bind the regulator's forwarding step, not the institution (regulations.md §8); \
             this clock was started by an earlier reading and is not escalated; the {} decision clock governs",
            art("33"),
            art("18")
        ));
        return;
    }
    out.because(format!(
        "{}: clock `{clock}` passed its due time",
        clock_article(clock)
    ));
    out.push(Action::Escalate(EscalateAction {
        to: "complaint_management_lead".into(),
        reason: format!("`{clock}` overdue ({})", clock_article(clock)),
    }));
}

/// The `[settings]` this ruleset reads; a missing one is a clear failure, not a default.
struct Settings {
    decision_days: i64,
    complex_extension_days: i64,
    especially_complex_extension_days: i64,
    max_total_days: i64,
    roll_forward: bool,
    forwarded_working_days: i64,
    review_request_days: i64,
    review_days: i64,
    upper_level_tier: String,
    major_complaint_threshold: i64,
    max_representatives: i64,
    decline_third_party_filings: bool,
    ask_agent_documents: bool,
    ask_heir_proof: bool,
    merge_repeat_complaints: bool,
    repeat_merge_period_days: i64,
    abuse_review_to: String,
    frequent_repeat_threshold: i64,
    recusal_decided_by: String,
    warning_days: i64,
}

impl Settings {
    fn read(ctx: &Context) -> Result<Settings, DecideError> {
        let int = |name: &str| {
            setting_int(ctx, name).ok_or_else(|| {
                DecideError::BadSetting(format!("setting `{name}` (an integer) is missing"))
            })
        };
        let boolean = |name: &str| {
            setting_bool(ctx, name).ok_or_else(|| {
                DecideError::BadSetting(format!("setting `{name}` (a boolean) is missing"))
            })
        };
        let text = |name: &str| {
            setting_text(ctx, name).map(str::to_owned).ok_or_else(|| {
                DecideError::BadSetting(format!("setting `{name}` (a text) is missing"))
            })
        };
        Ok(Settings {
            decision_days: int("decision_days")?,
            complex_extension_days: int("complex_extension_days")?,
            especially_complex_extension_days: int("especially_complex_extension_days")?,
            max_total_days: int("max_total_days")?,
            roll_forward: boolean("roll_forward")?,
            forwarded_working_days: int("forwarded_working_days")?,
            review_request_days: int("review_request_days")?,
            review_days: int("review_days")?,
            upper_level_tier: text("upper_level_tier")?,
            major_complaint_threshold: int("major_complaint_threshold")?,
            max_representatives: int("max_representatives")?,
            decline_third_party_filings: boolean("decline_third_party_filings")?,
            ask_agent_documents: boolean("ask_agent_documents")?,
            ask_heir_proof: boolean("ask_heir_proof")?,
            merge_repeat_complaints: boolean("merge_repeat_complaints")?,
            repeat_merge_period_days: int("repeat_merge_period_days")?,
            abuse_review_to: text("abuse_review_to")?,
            frequent_repeat_threshold: int("frequent_repeat_threshold")?,
            recusal_decided_by: text("recusal_decided_by")?,
            warning_days: int("warning_days")?,
        })
    }
}

struct Out {
    decision: Decision12,
}

impl Default for Out {
    fn default() -> Self {
        Out {
            decision: Decision12 {
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
        self.decision.actions.push(Action12::Base(action));
    }
    fn push12(&mut self, action: Action12) {
        self.decision.actions.push(action);
    }
}

fn art(n: &str) -> String {
    format!("投诉处理管理办法 art. {n}")
}

fn clock_article(clock: &str) -> String {
    match clock {
        "forwarded_handling" => art("33"),
        "review" | "review_request_window" => art("20"),
        _ => art("18"),
    }
}

fn notify(recipient: &str, template: &str) -> Action {
    Action::Notify(NotifyAction {
        recipient: recipient.into(),
        template: template.into(),
    })
}

fn flag(name: &str) -> Action {
    Action::Classify(ClassifyAction {
        category: None,
        severity: None,
        flags: vec![name.into()],
    })
}

fn request_information(fields: Vec<String>, article: String, reason: String) -> Action {
    Action::RequestInformation(RequestInformationAction {
        fields,
        article: Some(article),
        reason,
    })
}

fn escalate(to: &str, reason: String) -> Action {
    Action::Escalate(EscalateAction {
        to: to.into(),
        reason,
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

/// A number as Rhai writes it (whole numbers without a decimal point).
fn number(value: &AttributeValue) -> Option<(f64, String)> {
    match value {
        AttributeValue::Integer(i) => Some((*i as f64, i.to_string())),
        AttributeValue::Float(f) => Some((*f, format!("{f:?}"))),
        _ => None,
    }
}

/// Days from 0000-03-01 of a `YYYY-MM-DD` date (H. Hinnant's days_from_civil), for whole-day
/// differences (Rhai's `days_between`).
fn day_number(date: &str) -> Option<i64> {
    let y: i64 = date.get(0..4)?.parse().ok()?;
    let m: i64 = date.get(5..7)?.parse().ok()?;
    let d: i64 = date.get(8..10)?.parse().ok()?;
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    Some(era * 146_097 + doe)
}

fn calendar_failure(e: calendar::CalendarError) -> DecideError {
    DecideError::Unsupported(format!("the host calendar did not answer: {e:?}"))
}

const COUNTED: [&str; 3] = ["decision", "forwarded_handling", "review"];
const CONDUCT: [&str; 3] = ["false_information", "for_profit", "abusive_conduct"];

/// Art. 16 and regulations.md §7, §8: flagged with the evidence, escalated for review.
fn conduct_out(evidence: &[String], flags: &[String], s: &Settings, out: &mut Out) {
    if evidence.is_empty() {
        return;
    }
    let why = format!(
        "{} (regulations.md §7, §8): possibly false, malicious or abusive; evidence relied on: {}; reviewed by the {}, and handled meanwhile like any other complaint",
        art("16"),
        evidence.join("; "),
        s.abuse_review_to
    );
    out.because(why.clone());
    out.push(flag("possibly_malicious"));
    for f in flags {
        out.push(flag(f));
    }
    out.push(escalate(&s.abuse_review_to, why));
}

struct Rules<'a> {
    case: &'a CaseView,
    add: &'a CaseAdditions,
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

    fn attr_text(&self, name: &str) -> String {
        match attribute(self.case, name) {
            Some(AttributeValue::Text(t)) => t.trim().to_owned(),
            Some(AttributeValue::Boolean(b)) => b.to_string(),
            Some(AttributeValue::Integer(i)) => i.to_string(),
            Some(AttributeValue::Float(f)) => format!("{f:?}"),
            Some(AttributeValue::Json(j)) => j.trim().to_owned(),
            None => String::new(),
        }
    }

    fn clock_view(&self, name: &str) -> Option<&redress_plugin_sdk::v1_2::ClockView> {
        self.case.clocks.iter().find(|c| c.name == name)
    }

    fn state_of(&self, name: &str) -> &str {
        self.clock_view(name).map_or("none", |c| c.state.as_str())
    }

    fn counting(&self, name: &str) -> bool {
        matches!(self.state_of(name), "running" | "paused")
    }

    fn extended_by(&self, name: &str) -> i64 {
        self.clock_view(name)
            .map_or(0, |c| i64::from(c.extended_by))
    }

    /// The last local day of a clock due at local midnight (+08:00): `…T16:00:00Z`.
    fn last_day(&self, name: &str) -> Option<String> {
        let due = self.clock_view(name)?.due_at.as_deref()?;
        (due.get(11..) == Some("16:00:00Z")).then(|| due[..10].to_owned())
    }

    fn on_received(&self, out: &mut Out) -> Result<(), DecideError> {
        let s = self.s;
        self.conduct_flags(out);
        let heir = self.attr_true("heir_of_consumer");
        if self.case.filed_by.as_deref() == Some("third_party") && !heir {
            let who = format!(
                "{}: filed by someone other than the complainant, a legal representative or an authorised agent",
                art("18 ¶4")
            );
            if s.decline_third_party_filings {
                let why = format!(
                    "{who}: not handled (可以不予办理; setting decline_third_party_filings)"
                );
                out.because(why.clone());
                out.push(Action::Reject(RejectAction {
                    ground: "not_authorised_filer".into(),
                    article: art("18 ¶4"),
                    reason: why,
                }));
                out.because(format!(
                    "{}: the filer is told (并告知投诉提出人)",
                    art("18 ¶4")
                ));
                out.push(notify("filer", "not_handled_notice"));
                return Ok(());
            }
            out.because(format!(
                "{who}: handled all the same (setting decline_third_party_filings = false)"
            ));
            out.push(flag("filed_by_third_party"));
        }
        self.document_requests(out);
        if let Some((case_id, reason)) = self.repeat_decision(out)? {
            out.push(Action::Accept(None));
            out.push12(Action12::MergeInto(MergeIntoAction { case_id, reason }));
            return Ok(());
        }
        let count = i64::from(self.case.complainant_count);
        let by_count = count >= s.major_complaint_threshold;
        let by_cause = self.attr_true("major_cause");
        if by_count || by_cause {
            let why = if by_count {
                format!(
                    "{count} complainants (threshold {})",
                    s.major_complaint_threshold
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
            out.push(flag("major_complaint"));
            out.push(notify("management", "major_complaint_contingency_plan"));
        }
        out.push(Action::Accept(None));
        if self.attr_true("forwarded_by_regulator") {
            out.because(format!(
                "{}: forwarded by the regulator: its {} working days bind the regulator's forwarding step, not the institution (regulations.md §8); the institution handles it under {} from its own receipt",
                art("33"),
                s.forwarded_working_days,
                art("18")
            ));
            out.push(flag("forwarded_by_regulator"));
        }
        self.representatives(out);
        out.because(format!(
            "{}: decide and notify within {} days of receipt ({}: calendar days{}",
            art("18"),
            s.decision_days,
            art("43"),
            if s.roll_forward {
                ", a rest-day due date moves to the next working day)"
            } else {
                ")"
            }
        ));
        let mut spec = self.days("decision", s.decision_days, art("18"));
        spec.warn_before = self.warn();
        out.push(Action::StartClock(StartClockAction {
            clock: spec,
            from: ClockStart::Received,
        }));
        Ok(())
    }

    fn conduct_flags(&self, out: &mut Out) {
        let mut evidence = Vec::new();
        let mut flags = Vec::new();
        for name in CONDUCT {
            let t = self.attr_text(name);
            if !t.is_empty() {
                evidence.push(format!("{name}: {t}"));
                flags.push(name.to_owned());
            }
        }
        let n = self.add.repeat_of.len();
        if i64::try_from(n).unwrap_or(i64::MAX) >= self.s.frequent_repeat_threshold {
            let ids: Vec<&str> = self
                .add
                .repeat_of
                .iter()
                .map(|c| c.case_id.as_str())
                .collect();
            evidence.push(format!(
                "frequent_repeat_complaints: {n} earlier complaints by the same complainant against the same respondent within the repeat window (host repeat_of: {}; threshold {}, an enterprise default)",
                ids.join(", "),
                self.s.frequent_repeat_threshold
            ));
            flags.push("frequent_repeat_complaints".to_owned());
        }
        conduct_out(&evidence, &flags, self.s, out);
    }

    fn document_requests(&self, out: &mut Out) {
        let s = self.s;
        let c = &self.case.complainant;
        if (c.has_agent || self.case.filed_by.as_deref() == Some("authorised_agent"))
            && s.ask_agent_documents
        {
            let mut missing: Vec<String> = Vec::new();
            if !c.agent_power_of_attorney {
                missing.push("agent_power_of_attorney_original".into());
            }
            if !c.agent_has_identity_document {
                missing.push("agent_identity_document".into());
            }
            if !missing.is_empty() {
                let why = format!(
                    "{}: a complaint through an agent is accepted; the institution asks for the original power of attorney and the agent's identity document ({} not given; {}: what was given is not asked for again)",
                    art("14"),
                    missing.join(", "),
                    art("13")
                );
                out.because(why.clone());
                out.push(request_information(missing, art("14"), why));
            }
        }
        if self.attr_true("heir_of_consumer") {
            let given = self.attr_true("succession_proof_given");
            if s.ask_heir_proof && !given {
                let why = format!(
                    "{}: an heir of the consumer may complain; the institution asks for proof of succession",
                    art("14")
                );
                out.because(why.clone());
                out.push(request_information(
                    vec!["proof_of_succession".into()],
                    art("14"),
                    why,
                ));
            } else {
                out.because(format!(
                    "{}: an heir of the consumer complains; proof of succession {}",
                    art("14"),
                    if given {
                        "given"
                    } else {
                        "not asked for (setting ask_heir_proof)"
                    }
                ));
            }
        }
    }

    /// The local (Asia/Shanghai, UTC+8, the calendar's time zone) date of a UTC instant: at or
    /// after 16:00Z it is already the next day there.
    fn local_date(instant: &str) -> Result<String, DecideError> {
        let day = instant.get(0..10).unwrap_or(instant);
        if instant.get(11..13).unwrap_or("") >= "16" {
            return calendar::add_calendar_days("", day, 1, false)
                .map_err(calendar_failure)?
                .firm()
                .map_err(calendar_failure);
        }
        Ok(day.to_owned())
    }

    /// Art. 18 ¶3 (secondary): the same complaint again within the handling period of an
    /// earlier one is merged, unless it brings new facts or reasons (see rules.rhai).
    fn repeat_decision(&self, out: &mut Out) -> Result<Option<(String, String)>, DecideError> {
        let s = self.s;
        const OPEN: [&str; 5] = [
            "received",
            "accepted",
            "transferred",
            "in_progress",
            "reopened",
        ];
        for c in &self.add.repeat_of {
            let has = |kind: &str| c.basis.iter().any(|b| b.kind == kind);
            if !has("same_complainant") || !has("similar_issue") {
                continue;
            }
            let received = Self::local_date(&c.received_at)?;
            let days = u32::try_from(s.repeat_merge_period_days).unwrap_or(0);
            let last = calendar::add_calendar_days("", &received, days, s.roll_forward)
                .map_err(calendar_failure)?
                .date;
            let within = OPEN.contains(&c.status.as_str())
                && self.case.received_date.as_str() <= last.as_str();
            let what = format!("case {} (received {received}, {})", c.case_id, c.status);
            if !within {
                out.because(format!(
                    "{}: repeats {what}, which is no longer in its handling period (open and to {last}): handled as a new complaint",
                    art("18 ¶3")
                ));
                out.push(flag("repeat_complaint"));
                return Ok(None);
            }
            if self.attr_true("new_facts_or_reasons") {
                out.because(format!(
                    "{}: repeats {what} within its handling period, but brings new facts or reasons: handled as a new complaint with its own period",
                    art("18 ¶3")
                ));
                out.push(flag("repeat_complaint"));
                return Ok(None);
            }
            if !s.merge_repeat_complaints {
                out.because(format!(
                    "{}: repeats {what} within its handling period; not merged (setting merge_repeat_complaints = false): handled as a new complaint",
                    art("18 ¶3")
                ));
                out.push(flag("repeat_complaint"));
                return Ok(None);
            }
            out.because(format!(
                "{}: the same complaint again within the handling period of {what} (to {last}): handled together with it (可以合并处理); its period is not restarted (only new facts or reasons restart it)",
                art("18 ¶3")
            ));
            return Ok(Some((
                c.case_id.clone(),
                format!(
                    "{}: the same complaint within the handling period of {}",
                    art("18 ¶3"),
                    c.case_id
                ),
            )));
        }
        Ok(None)
    }

    /// The open ground of mediation (`mediation`) or, with `mediation` false, of an appraisal
    /// (any other ground), while the clock is paused (arts. 18, 23: they may overlap).
    fn open_ground(&self, name: &str, mediation: bool) -> Option<String> {
        if self.state_of(name) != "paused" {
            return None;
        }
        self.add
            .open_pauses(name)
            .iter()
            .find(|g| (g.as_str() == "mediation" || g.starts_with("mediation:")) == mediation)
            .cloned()
    }

    /// Ends one ground: the only one (the clock counts again), or one of two (it stays paused).
    fn end_pause(&self, name: &str, ground: String, still: String, out: &mut Out) {
        if self.add.open_pauses(name).len() <= 1 {
            out.push(Action::ResumeClock(name.into()));
            return;
        }
        out.because(still);
        out.push12(Action12::EndPause(EndPauseAction {
            clock: name.into(),
            pause: ground,
        }));
    }

    fn representatives(&self, out: &mut Out) {
        let max = self.s.max_representatives;
        let count = self.case.complainant_count;
        if self.case.channel != "walk_in" || count < 2 {
            return;
        }
        let Some((n, shown)) = attribute(self.case, "representatives").and_then(number) else {
            let why = format!(
                "{}: a face-to-face complaint by {count} complainants elects representatives, at most {max} (none named)",
                art("12")
            );
            out.because(why.clone());
            out.push(request_information(
                vec!["representatives".into()],
                art("12"),
                why,
            ));
            return;
        };
        if n > max as f64 {
            let why = format!(
                "{}: a face-to-face group complaint elects at most {max} representatives; {shown} were named",
                art("12")
            );
            out.because(why.clone());
            out.push(flag("too_many_representatives"));
            out.push(request_information(
                vec!["representatives".into()],
                art("12"),
                why,
            ));
            return;
        }
        out.because(format!(
            "{}: {shown} representatives for {count} complainants (at most {max})",
            art("12")
        ));
    }

    /// Stops every counting clock; met unless it had already passed its due time (both
    /// instants are UTC RFC 3339, so they compare as text).
    fn stop_counting(&self) -> Vec<Action> {
        COUNTED
            .iter()
            .filter(|name| self.counting(name))
            .filter_map(|name| {
                let c = self.clock_view(name)?;
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
            let Some(ground) = self.open_ground("decision", true) else {
                out.because(format!(
                    "{}: the decision clock is not paused for mediation; nothing to resume",
                    art("23")
                ));
                return;
            };
            out.because(format!(
                "{}: mediation ended without agreement; the remaining {} time continues",
                art("23"),
                art("18")
            ));
            self.end_pause(
                "decision",
                ground,
                format!(
                    "{}: the clock stays paused for the appraisal until it ends too",
                    art("18")
                ),
                out,
            );
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
            return;
        }
        if let Some(rest) = text.strip_prefix("conduct:") {
            if let Some((kind, evidence)) = rest.split_once(':')
                && !kind.is_empty()
            {
                let evidence = evidence.trim();
                if CONDUCT.contains(&kind) && !evidence.is_empty() {
                    conduct_out(
                        &[format!("{kind} (found during handling): {evidence}")],
                        &[kind.to_owned()],
                        s,
                        out,
                    );
                    return;
                }
            }
            out.because(
                "a conduct note is `conduct:<false_information|for_profit|abusive_conduct>:<evidence>`; this one is not, and is ignored".into(),
            );
        }
    }

    /// Art. 20 (secondary): a review asked for within 30 days of receiving the decision goes to
    /// the upper-level institution, decided within 30 days of the request.
    fn review_request(&self, requested_on: &str, reason: &str, out: &mut Out) {
        let s = self.s;
        if self.counting("review") {
            out.because(format!(
                "{}: the review asked for earlier is under way; its {} days run from that request",
                art("20"),
                s.review_days
            ));
            return;
        }
        let window = "review_request_window";
        let last = self.last_day(window);
        match &last {
            None => {
                out.because(format!(
                    "{}: no decision notice with its {}-day window is on record (a case decided before this rule): the time to ask cannot be checked, so the request is taken",
                    art("20"),
                    s.review_request_days
                ));
                out.push(flag("review_timing_unchecked"));
            }
            Some(last) if requested_on > last.as_str() => {
                out.because(format!(
                    "{}: the review was asked for on {requested_on}, after the {} days from receiving the decision (last day {last}): refused; the complainant is told why, and may still turn to mediation, arbitration or litigation",
                    art("20"),
                    s.review_request_days
                ));
                out.push(flag("review_request_late"));
                out.push(notify("complainant", "review_request_refused"));
                return;
            }
            Some(_) => {}
        }
        let late_by = match (day_number(requested_on), day_number(&self.ctx.today)) {
            (Some(from), Some(to)) => (to - from).max(0),
            _ => 0,
        };
        let amount = (s.review_days - late_by).max(1);
        let why = format!(
            "{}: a review (核查) asked for on {requested_on} ({reason}){}: decided by the upper-level institution (上级机构) within {} days of the request{}",
            art("20"),
            match &last {
                None => String::new(),
                Some(last) => format!(
                    ", within {} days of receiving the decision (last day {last})",
                    s.review_request_days
                ),
            },
            s.review_days,
            if late_by > 0 {
                format!(" ({late_by} of them already passed when it was recorded)")
            } else {
                String::new()
            }
        );
        out.because(why.clone());
        if self.counting(window) {
            out.push(stop(window, true));
        }
        out.push(Action::Route(RouteAction {
            office: None,
            division_code: None,
            tier: Some(s.upper_level_tier.clone()),
            reason: why,
        }));
        let mut spec = self.days("review", amount, art("20"));
        spec.warn_before = self.warn();
        out.push(Action::StartClock(StartClockAction {
            clock: spec,
            from: ClockStart::Now,
        }));
        out.push(notify("complainant", "review_request_received"));
    }

    /// Art. 21: a notice counts as given when sent by the agreed means; a decision notice
    /// restarts the window to ask for a review (art. 20).
    fn on_notice(&self, action: &HandlerAction, out: &mut Out) {
        let field = |name: &str| action_field(action, name).unwrap_or_default();
        if field("recipient") != "complainant" {
            return;
        }
        let (means, about) = (field("means"), field("about"));
        let agreed = self.attr_text("agreed_notice_means");
        if !agreed.is_empty() && means != agreed {
            out.because(format!(
                "{}: the {about} was given by {means}, not by the agreed means ({agreed}): it does not count as given; give it by the agreed means",
                art("21")
            ));
            out.push(flag("notice_not_by_agreed_means"));
            out.push(notify("handler", "give_notice_by_agreed_means"));
            return;
        }
        out.because(format!(
            "{}: the {about} was given by {means}{}",
            art("21"),
            if agreed.is_empty() {
                " (no agreed means on record)"
            } else {
                " (the agreed means)"
            }
        ));
        if about == "decision_notice" && self.counting("review_request_window") {
            out.because(format!(
                "{}: the {} days to ask for a review run from receiving the decision: from this notice",
                art("20"),
                self.s.review_request_days
            ));
            out.push(Action::RestartClock(RestartClockAction {
                name: "review_request_window".into(),
                reason: format!("decision notice given by {means}"),
            }));
        }
    }

    fn on_handler_event(&self, action: &HandlerAction, out: &mut Out) {
        let s = self.s;
        let field = |name: &str| action_field(action, name).unwrap_or_default();
        let state = self.state_of("decision");
        match action.kind.as_str() {
            "note" => self.on_note(field("text"), out),
            "start_appraisal" if matches!(state, "running" | "paused") => {
                out.because(format!(
                    "{}: external appraisal, testing or assessment time is not counted; the complainant is told{}",
                    art("18"),
                    if state == "paused" {
                        " (the clock is already paused: it counts again only when both pauses have ended)"
                    } else {
                        ""
                    }
                ));
                out.push(Action::PauseClock(PauseClockAction {
                    name: "decision".into(),
                    reason: field("reason").into(),
                }));
                out.push(notify("complainant", "appraisal_notice"));
            }
            "finish_appraisal" => {
                let Some(ground) = self.open_ground("decision", false) else {
                    return;
                };
                out.because(format!(
                    "{}: the appraisal ended; the remaining time continues",
                    art("18")
                ));
                self.end_pause(
                    "decision",
                    ground,
                    format!(
                        "{}: the clock stays paused for the mediation until it ends too",
                        art("23")
                    ),
                    out,
                );
            }
            "start_mediation"
                if matches!(state, "running" | "paused")
                    && self.open_ground("decision", true).is_none() =>
            {
                out.because(format!(
                    "{}: mediation time is not counted in the handling period{}",
                    art("23"),
                    if state == "paused" {
                        " (the clock is already paused for an appraisal: it counts again only when both have ended)"
                    } else {
                        ""
                    }
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
                    out.decision
                        .actions
                        .extend(stops.into_iter().map(Action12::Base));
                }
            }
            "record_new_facts" if self.counting("decision") => {
                out.because(format!(
                    "{}: new facts: the {}-day period counts again from now",
                    art("18"),
                    s.decision_days
                ));
                out.push(Action::RestartClock(RestartClockAction {
                    name: "decision".into(),
                    reason: format!("new facts: {}", field("description")),
                }));
            }
            "resolve" => {
                let in_review = self.counting("review");
                out.because(format!(
                    "{}: the decision notice states the findings, grounds, remedies and further channels",
                    art("19")
                ));
                out.push(notify("complainant", "decision_notice"));
                for name in COUNTED.iter().filter(|name| self.counting(name)) {
                    out.push(stop(name, true));
                }
                if in_review {
                    out.because(format!(
                        "{}: the review decision is given; the complainant may turn to mediation, arbitration or litigation",
                        art("20")
                    ));
                } else {
                    out.because(format!(
                        "{}: the complainant may ask the upper-level institution for a review (核查) within {} days of receiving the decision",
                        art("20"),
                        s.review_request_days
                    ));
                    if self.counting("review_request_window") {
                        out.push(stop("review_request_window", false));
                    }
                    out.push(Action::StartClock(StartClockAction {
                        clock: self.days("review_request_window", s.review_request_days, art("20")),
                        from: ClockStart::Now,
                    }));
                }
            }
            "request_review" => {
                self.review_request(field("requested_on"), field("reason"), out);
            }
            "reopen" => self.review_request(&self.ctx.today, field("reason"), out),
            "give_notice" => self.on_notice(action, out),
            "request_documents" => {
                let documents: Vec<&str> = field("documents").lines().collect();
                out.because(format!(
                    "{}: documents asked for ({}): a request, not a rejection; {}: nothing the institution already holds is asked for",
                    art("14"),
                    documents.join(", "),
                    art("13")
                ));
            }
            "request_recusal" => {
                let why = format!(
                    "{}: a handler with an interest in the complaint steps aside; recusal asked for ({}), decided by the {}",
                    art("17"),
                    field("reason"),
                    s.recusal_decided_by
                );
                out.because(why.clone());
                out.push(flag("recusal_requested"));
                out.push(escalate(&s.recusal_decided_by, why));
            }
            "decide_recusal" => {
                if field("granted") == "true" {
                    out.because(format!(
                        "{}: recusal granted: the handler steps aside and the complaint is reassigned",
                        art("17")
                    ));
                    out.push(flag("handler_recused"));
                    out.push(notify("management", "reassign_handler"));
                } else {
                    out.because(format!(
                        "{}: recusal refused: no interest in the complaint found; the handler continues",
                        art("17")
                    ));
                }
            }
            _ => {}
        }
    }
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

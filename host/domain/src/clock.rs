//! Statutory clocks on a case.
//!
//! A clock's due time is computed once, when it starts or changes, by the calendar arithmetic in
//! `redress-calendar`, and the result is recorded in the event. Replaying a case therefore never
//! consults a calendar: a calendar file corrected later cannot silently move an old deadline.

use std::sync::Arc;

use jiff::Timestamp;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// How a clock counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ClockUnit {
    /// Official working days; the start day is not counted.
    WorkingDays,
    /// Calendar days; optionally rolled forward off a rest day.
    CalendarDays,
    /// Elapsed hours.
    Hours,
}

/// When a day ends for a deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum DayEnd {
    /// 24:00 local time.
    #[default]
    Midnight,
    /// The calendar's close of business.
    CloseOfBusiness,
}

/// "Warn this long before the due time", in the clock's terms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WarnBefore {
    pub amount: u32,
    pub unit: ClockUnit,
}

fn default_calendar() -> String {
    "cn-mainland".into()
}

fn yes() -> bool {
    true
}

/// What a clock measures, as a rule or a handler states it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ClockSpec {
    /// e.g. `acceptance`, `mediation`, `response`, `review`, `callback`.
    pub name: String,
    pub amount: u32,
    pub unit: ClockUnit,
    /// The calendar id (a file in `rulesets/calendars/`).
    #[serde(default = "default_calendar")]
    pub calendar: String,
    /// For calendar days: a due date on a rest day moves to the next working day (民法典 art. 203).
    #[serde(default = "yes")]
    pub roll_forward: bool,
    #[serde(default)]
    pub day_end: DayEnd,
    pub warn_before: Option<WarnBefore>,
    /// The article that sets the clock, e.g. `市场监督管理投诉举报处理暂行办法 art. 14`.
    pub article: Option<String>,
    /// Who the case escalates to when the clock breaches, in order (handler → supervisor →
    /// department head → regulator); each breach moves one tier up.
    #[serde(default)]
    pub escalation: Vec<String>,
    /// The handler actions that meet this clock (e.g. `accept`, `reject` for the acceptance
    /// decision), each an action's name or, for a notice about one thing,
    /// `give_notice:<about>` (met only by a `give_notice` with that `about`; a bare
    /// `give_notice` is met by any notice). The host records the clock met when
    /// such an action is recorded, before and independently of the rules' decision on it, so a
    /// failing decision cannot leave a met obligation running into a false breach. Absent from
    /// records that declare none, so older histories keep their hashes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub met_by: Vec<String>,
    /// A window, not a duty: a period the law gives a party (the complainant's 30 days to ask
    /// for a review, an office's 5 working days to object). Nobody breaches it: at its due
    /// time the scheduler closes it (`Stopped`, not met, reason [`WINDOW_CLOSED`]), uses no
    /// escalation tier and does not count it against anyone's timeliness; the rules are asked
    /// with `clock_breach` as for any due clock. Declared in the package's manifest
    /// (`[clocks.<name>] window = true`); absent from older records.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub window: bool,
}

/// The reason recorded when a window's time is over (see [`ClockSpec::window`]).
pub const WINDOW_CLOSED: &str = "the window closed: the period the law gives a party is over";

impl ClockChange {
    /// Whether this change closes a window at its due time.
    pub fn closes_window(&self) -> bool {
        matches!(self, ClockChange::Stopped { met: false, reason: Some(r) } if r == WINDOW_CLOSED)
    }
}

impl ClockSpec {
    pub fn validate(&self, pointer: &str, errors: &mut crate::ValidationErrors) {
        let name_ok = !self.name.is_empty()
            && self.name.len() <= 64
            && self
                .name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        if !name_ok {
            errors.push(format!("{pointer}/name"), "must be 1 to 64 of a-z, 0-9, _");
        }
        if self.amount == 0 || self.amount > 3_650 {
            errors.push(format!("{pointer}/amount"), "must be between 1 and 3650");
        }
        if let Some(warn) = self.warn_before
            && (warn.amount == 0 || warn.amount > 3_650)
        {
            errors.push(
                format!("{pointer}/warn_before/amount"),
                "must be between 1 and 3650",
            );
        }
        if self.calendar.is_empty() || self.calendar.len() > 64 {
            errors.push(format!("{pointer}/calendar"), "must name a calendar");
        }
        for (i, entry) in self.met_by.iter().enumerate() {
            if let Err(e) = MetBy::parse(entry) {
                errors.push(format!("{pointer}/met_by/{i}"), e);
            }
        }
        if self.met_by.len() > MetBy::MAX_ENTRIES {
            errors.push(
                format!("{pointer}/met_by"),
                format!("at most {} entries", MetBy::MAX_ENTRIES),
            );
        }
        if self.escalation.len() > 10
            || self
                .escalation
                .iter()
                .any(|t| t.trim().is_empty() || t.len() > 100)
        {
            errors.push(
                format!("{pointer}/escalation"),
                "at most 10 non-empty tiers",
            );
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ClockState {
    Running,
    Paused,
    /// Stopped in time: the obligation was met.
    Met,
    /// The due time passed while it ran.
    Breached,
    /// Stopped without being met or breached (case withdrawn, closed, superseded).
    Stopped,
}

impl ClockState {
    pub fn as_str(self) -> &'static str {
        match self {
            ClockState::Running => "running",
            ClockState::Paused => "paused",
            ClockState::Met => "met",
            ClockState::Breached => "breached",
            ClockState::Stopped => "stopped",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct PauseRecord {
    pub from: Timestamp,
    pub until: Option<Timestamp>,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ExtensionRecord {
    /// Added to the clock's amount, counted from the same start.
    pub amount: u32,
    pub reason: String,
    /// Who approved it (banking art. 18: especially complex cases need senior approval).
    pub approved_by: Option<String>,
    /// Whether the complainant was told (required for banking extensions).
    pub complainant_notified: bool,
    pub at: Timestamp,
}

/// A computed due time, as recorded in the event that caused it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Schedule {
    /// When the clock breaches; `None` while paused.
    pub due_at: Option<Timestamp>,
    pub warning_at: Option<Timestamp>,
    /// Computed with a year the calendar has no published schedule for: its rest days were
    /// taken from the statute alone (weekends and statutory holidays, no 调休), and the due
    /// time is recomputed when the schedule is published.
    pub provisional: bool,
    /// The years that made it provisional. Absent when empty, so older records keep their
    /// hashes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub provisional_years: Vec<i16>,
    /// How `due_at` was computed: days counted and skipped with reasons, pauses, extensions,
    /// roll-forward. Produced by `redress-calendar`.
    // Shared: it lists every day counted, and a case (with its clocks) is copied for every
    // decision checked on it.
    pub explanation: Arc<serde_json::Value>,
}

/// A clock as it stands on a case.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct CaseClock {
    pub spec: ClockSpec,
    pub state: ClockState,
    pub started_at: Timestamp,
    pub due_at: Option<Timestamp>,
    pub warning_at: Option<Timestamp>,
    pub provisional: bool,
    /// See [`Schedule::provisional_years`].
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub provisional_years: Vec<i16>,
    #[serde(default)]
    pub pauses: Vec<PauseRecord>,
    /// While paused: every ground the clock is paused on (two pauses may overlap, e.g. an
    /// appraisal and a mediation); it counts again only when the last of them ends. Empty in
    /// records written before overlapping pauses existed: [`CaseClock::open_pauses`] then
    /// reads the open pause's reason.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub open_pauses: Vec<String>,
    #[serde(default)]
    pub extensions: Vec<ExtensionRecord>,
    pub warned_at: Option<Timestamp>,
    pub breached_at: Option<Timestamp>,
    pub ended_at: Option<Timestamp>,
    /// How many escalation tiers have been used.
    #[serde(default)]
    pub escalation_level: u32,
    pub explanation: Arc<serde_json::Value>,
}

impl CaseClock {
    /// The amount including every extension.
    pub fn total_amount(&self) -> u32 {
        self.spec
            .amount
            .saturating_add(self.extensions.iter().map(|e| e.amount).sum())
    }

    /// The grounds the clock is paused on now, in the order they began; empty unless paused.
    pub fn open_pauses(&self) -> Vec<&str> {
        if self.state != ClockState::Paused {
            return Vec::new();
        }
        if self.open_pauses.is_empty() {
            return self
                .pauses
                .last()
                .filter(|p| p.until.is_none())
                .map(|p| vec![p.reason.as_str()])
                .unwrap_or_default();
        }
        self.open_pauses.iter().map(String::as_str).collect()
    }

    /// The open pause ground a resume naming `asked` ends: the ground itself, or a ground
    /// written `<asked>: <details>` (a rule pauses on `appraisal: 司法鉴定` and resumes
    /// `appraisal`).
    pub fn open_pause_named(&self, asked: &str) -> Option<&str> {
        self.open_pauses()
            .into_iter()
            .find(|ground| pause_ground_matches(ground, asked))
    }

    /// Whether the scheduler still owes this clock a warning.
    pub fn warning_pending(&self) -> Option<Timestamp> {
        match self.state {
            ClockState::Running if self.warned_at.is_none() => self.warning_at,
            _ => None,
        }
    }

    /// Whether the scheduler still owes this clock a breach.
    pub fn breach_pending(&self) -> Option<Timestamp> {
        match self.state {
            ClockState::Running => self.due_at,
            _ => None,
        }
    }
}

/// Whether a pause ground answers to `asked` (see [`CaseClock::open_pause_named`]).
pub fn pause_ground_matches(ground: &str, asked: &str) -> bool {
    ground == asked
        || ground
            .strip_prefix(asked)
            .is_some_and(|rest| rest.starts_with(':'))
}

/// What happened to a clock. Every computed value is recorded, so replay needs no calendar.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "change", rename_all = "snake_case")]
pub enum ClockChange {
    Started {
        spec: ClockSpec,
        started_at: Timestamp,
        schedule: Schedule,
    },
    /// The clock stops counting on this ground. On a clock already paused, the ground is
    /// added: the pauses overlap, and the clock counts again only when every ground has ended.
    Paused { reason: String },
    /// One of several overlapping pause grounds ended; the clock stays paused on the others.
    PauseEnded { ground: String },
    /// The last pause ground ended: counting continues.
    Resumed { schedule: Schedule },
    Extended {
        extension: ExtensionRecord,
        schedule: Schedule,
    },
    /// New facts: counting starts again from this event.
    Restarted { reason: String, schedule: Schedule },
    /// The obligation was met (`met: true`) or the clock was stopped.
    Stopped { met: bool, reason: Option<String> },
    /// Fired by the scheduler at `warning_at`.
    Warned,
    /// Fired by the scheduler at `due_at`; `escalated_to` is the next escalation tier, if any.
    Breached { escalated_to: Option<String> },
    /// The calendar the clock counts in changed (a year's schedule was published or amended)
    /// and the due time was computed again from the clock's recorded start, pauses and
    /// extensions. A warning already fired is not fired again. A breach already fired stays in
    /// the history; when the revised due time is still ahead, `breach_corrected` records that
    /// the breach was premature and the clock runs again.
    ScheduleRevised {
        schedule: Schedule,
        previous_due_at: Option<Timestamp>,
        previous_warning_at: Option<Timestamp>,
        previous_provisional: bool,
        /// The calendar id and its version (`Calendar::version`) the schedule was computed with.
        calendar: String,
        calendar_version: String,
        /// Where the schedule of each year the new computation relies on comes from (the
        /// State Council notice), as cited in the calendar file.
        sources: Vec<String>,
        /// The time of the breach this revision withdraws, if any.
        breach_corrected: Option<Timestamp>,
    },
}

/// Why a clock change does not fit the clock's state.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClockError {
    #[error("the case has no clock `{0}`")]
    NoSuchClock(String),
    #[error("clock `{name}` is already {state}; stop it before starting it again")]
    AlreadyStarted { name: String, state: &'static str },
    #[error("clock `{name}` is {state}, where `{change}` is not possible")]
    WrongState {
        name: String,
        state: &'static str,
        change: &'static str,
    },
    #[error("clock `{name}` is already paused on `{ground}`")]
    AlreadyPausedOn { name: String, ground: String },
    #[error("clock `{name}` has no open pause `{asked}` (paused on: {open})")]
    NoSuchPause {
        name: String,
        asked: String,
        open: String,
    },
    #[error("clock `{name}` is paused on several grounds ({open}): name the one that ended")]
    WhichPause { name: String, open: String },
}

impl ClockChange {
    pub fn name(&self) -> &'static str {
        match self {
            ClockChange::Started { .. } => "start",
            ClockChange::Paused { .. } => "pause",
            ClockChange::PauseEnded { .. } => "end_pause",
            ClockChange::Resumed { .. } => "resume",
            ClockChange::Extended { .. } => "extend",
            ClockChange::Restarted { .. } => "restart",
            ClockChange::Stopped { .. } => "stop",
            ClockChange::Warned => "warn",
            ClockChange::Breached { .. } => "breach",
            ClockChange::ScheduleRevised { .. } => "schedule_revised",
        }
    }
}

/// Applies a change to the named clock (`clock` is `None` when the case has no such clock yet).
pub fn apply_change(
    name: &str,
    clock: Option<CaseClock>,
    change: &ClockChange,
    at: Timestamp,
) -> Result<CaseClock, ClockError> {
    let wrong = |c: &CaseClock| ClockError::WrongState {
        name: name.to_owned(),
        state: c.state.as_str(),
        change: change.name(),
    };
    match (clock, change) {
        (
            existing,
            ClockChange::Started {
                spec,
                started_at,
                schedule,
            },
        ) => {
            if let Some(c) = &existing
                && matches!(c.state, ClockState::Running | ClockState::Paused)
            {
                return Err(ClockError::AlreadyStarted {
                    name: name.to_owned(),
                    state: c.state.as_str(),
                });
            }
            Ok(CaseClock {
                spec: spec.clone(),
                state: ClockState::Running,
                started_at: *started_at,
                due_at: schedule.due_at,
                warning_at: schedule.warning_at,
                provisional: schedule.provisional,
                provisional_years: schedule.provisional_years.clone(),
                pauses: Vec::new(),
                open_pauses: Vec::new(),
                extensions: Vec::new(),
                warned_at: None,
                breached_at: None,
                ended_at: None,
                escalation_level: 0,
                explanation: Arc::clone(&schedule.explanation),
            })
        }
        (None, _) => Err(ClockError::NoSuchClock(name.to_owned())),
        (Some(mut c), ClockChange::Paused { reason }) => match c.state {
            ClockState::Running => {
                c.state = ClockState::Paused;
                c.pauses.push(PauseRecord {
                    from: at,
                    until: None,
                    reason: reason.clone(),
                });
                c.open_pauses = vec![reason.clone()];
                c.due_at = None;
                c.warning_at = None;
                Ok(c)
            }
            ClockState::Paused => {
                if c.open_pauses().contains(&reason.as_str()) {
                    return Err(ClockError::AlreadyPausedOn {
                        name: name.to_owned(),
                        ground: reason.clone(),
                    });
                }
                // One interval of not counting, from the first ground's start to the last
                // ground's end: the record names every ground it covers.
                c.open_pauses = c.open_pauses().into_iter().map(str::to_owned).collect();
                c.open_pauses.push(reason.clone());
                if let Some(open) = c.pauses.last_mut().filter(|p| p.until.is_none()) {
                    open.reason = format!("{}; {reason}", open.reason);
                }
                Ok(c)
            }
            _ => Err(wrong(&c)),
        },
        (Some(mut c), ClockChange::PauseEnded { ground }) => {
            let open: Vec<String> = c.open_pauses().into_iter().map(str::to_owned).collect();
            if c.state != ClockState::Paused || open.len() < 2 {
                return Err(wrong(&c));
            }
            let Some(index) = open.iter().position(|g| g == ground) else {
                return Err(ClockError::NoSuchPause {
                    name: name.to_owned(),
                    asked: ground.clone(),
                    open: open.join(", "),
                });
            };
            c.open_pauses = open;
            c.open_pauses.remove(index);
            Ok(c)
        }
        (Some(mut c), ClockChange::Resumed { schedule }) => {
            if c.state != ClockState::Paused {
                return Err(wrong(&c));
            }
            if let Some(open) = c.pauses.last_mut() {
                open.until = Some(at);
            }
            c.state = ClockState::Running;
            c.open_pauses.clear();
            set_schedule(&mut c, schedule);
            Ok(c)
        }
        (
            Some(mut c),
            ClockChange::Extended {
                extension,
                schedule,
            },
        ) => {
            if !matches!(
                c.state,
                ClockState::Running | ClockState::Paused | ClockState::Breached
            ) {
                return Err(wrong(&c));
            }
            c.extensions.push(extension.clone());
            if c.state == ClockState::Breached {
                // An extension granted after a breach gives the clock a new due time; the breach
                // stays on record in the history.
                c.state = ClockState::Running;
                c.breached_at = None;
            }
            if c.state == ClockState::Running {
                set_schedule(&mut c, schedule);
                c.warned_at = None;
            }
            Ok(c)
        }
        (Some(mut c), ClockChange::Restarted { schedule, .. }) => {
            if !matches!(
                c.state,
                ClockState::Running | ClockState::Paused | ClockState::Breached
            ) {
                return Err(wrong(&c));
            }
            c.state = ClockState::Running;
            c.started_at = at;
            c.pauses.clear();
            c.open_pauses.clear();
            c.warned_at = None;
            c.breached_at = None;
            set_schedule(&mut c, schedule);
            Ok(c)
        }
        (Some(mut c), ClockChange::Stopped { met, .. }) => {
            if !matches!(
                c.state,
                ClockState::Running | ClockState::Paused | ClockState::Breached
            ) {
                return Err(wrong(&c));
            }
            if let Some(open) = c.pauses.last_mut().filter(|p| p.until.is_none()) {
                open.until = Some(at);
            }
            c.open_pauses.clear();
            // Answering after a breach does not undo the breach: the clock stays breached.
            c.state = match (c.state, met) {
                (ClockState::Breached, _) => ClockState::Breached,
                (_, true) => ClockState::Met,
                (_, false) => ClockState::Stopped,
            };
            c.ended_at = Some(at);
            Ok(c)
        }
        (Some(mut c), ClockChange::Warned) => {
            if c.state != ClockState::Running || c.warned_at.is_some() {
                return Err(wrong(&c));
            }
            c.warned_at = Some(at);
            Ok(c)
        }
        (
            Some(mut c),
            ClockChange::ScheduleRevised {
                schedule,
                breach_corrected,
                ..
            },
        ) => {
            match (c.state, breach_corrected) {
                (ClockState::Running, None) => {}
                (ClockState::Breached, None) => {}
                // The breach stays in the history (its event is never undone); the clock owes
                // a breach again at the revised due time. Escalation already made stays made.
                (ClockState::Breached, Some(_)) => {
                    c.state = ClockState::Running;
                    c.breached_at = None;
                }
                _ => return Err(wrong(&c)),
            }
            set_schedule(&mut c, schedule);
            Ok(c)
        }
        (Some(mut c), ClockChange::Breached { escalated_to }) => {
            if c.state != ClockState::Running {
                return Err(wrong(&c));
            }
            c.state = ClockState::Breached;
            c.breached_at = Some(at);
            if escalated_to.is_some() {
                c.escalation_level += 1;
            }
            Ok(c)
        }
    }
}

fn set_schedule(c: &mut CaseClock, schedule: &Schedule) {
    c.due_at = schedule.due_at;
    c.warning_at = schedule.warning_at;
    c.provisional = schedule.provisional;
    c.provisional_years.clone_from(&schedule.provisional_years);
    c.explanation = Arc::clone(&schedule.explanation);
}

/// One entry of a clock's `met_by`: a handler action's name (`accept`: met by any `accept`),
/// or `give_notice:<about>` (met only by a `give_notice` whose `about` is `<about>`, e.g.
/// `give_notice:decision_notice`; a bare `give_notice` is met by any notice).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MetBy<'a> {
    pub action: crate::lifecycle::ActionName,
    /// For `give_notice:<about>`: the notice's subject.
    pub about: Option<&'a str>,
}

impl<'a> MetBy<'a> {
    /// How many entries one clock may declare.
    pub const MAX_ENTRIES: usize = 64;

    /// Reads an entry; the error says what is wrong with it, in words for a ruleset author.
    pub fn parse(entry: &'a str) -> Result<MetBy<'a>, String> {
        use crate::lifecycle::ActionName;
        let (name, about) = match entry.split_once(':') {
            Some((name, about)) => (name, Some(about)),
            None => (entry, None),
        };
        let Some(action) = ActionName::parse(name) else {
            return Err(format!(
                "`{name}` is not a handler action (one of: {})",
                ActionName::ALL
                    .iter()
                    .map(|a| a.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        };
        if let Some(about) = about {
            if action != ActionName::GiveNotice {
                return Err(format!(
                    "`{entry}`: only `give_notice` takes a qualifier (`give_notice:<about>`)"
                ));
            }
            crate::event::check_notice_about(about).map_err(|e| format!("`{entry}`: {e}"))?;
        }
        Ok(MetBy { action, about })
    }

    /// Whether recording `action` meets this entry.
    pub fn is_met_by(&self, action: &crate::HandlerAction) -> bool {
        if action.name() != self.action {
            return false;
        }
        match (self.about, action) {
            (None, _) => true,
            (Some(wanted), crate::HandlerAction::GiveNotice { about, .. }) => about == wanted,
            (Some(_), _) => false,
        }
    }
}

/// What a handler (or, later, a ruleset) asks of a case's clocks. The server turns it into a
/// [`ClockChange`] by computing the due time with the calendar.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ClockAction {
    /// Start a clock. It counts from `starts_at` (e.g. the receipt), or from now.
    Start {
        clock: ClockSpec,
        starts_at: Option<Timestamp>,
    },
    /// Stop counting (testing, inspection, appraisal, mediation in banking).
    Pause { name: String, reason: String },
    /// End a pause: `pause` names its ground (see [`CaseClock::open_pause_named`]); it may be
    /// left out when the clock is paused on one ground only. The clock counts again, in the
    /// same unit, once no ground is left.
    Resume {
        name: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pause: Option<String>,
    },
    /// Add to the clock's amount, counted from the same start.
    Extend {
        name: String,
        amount: u32,
        reason: String,
        approved_by: Option<String>,
        #[serde(default)]
        complainant_notified: bool,
    },
    /// New facts: count the whole period again from now.
    Restart { name: String, reason: String },
    /// The obligation was met (`met: true`), or the clock is no longer needed.
    Stop {
        name: String,
        #[serde(default = "yes")]
        met: bool,
        reason: Option<String>,
    },
}

impl ClockAction {
    pub fn clock_name(&self) -> &str {
        match self {
            ClockAction::Start { clock, .. } => &clock.name,
            ClockAction::Pause { name, .. }
            | ClockAction::Resume { name, .. }
            | ClockAction::Extend { name, .. }
            | ClockAction::Restart { name, .. }
            | ClockAction::Stop { name, .. } => name,
        }
    }

    pub fn validate(&self) -> Result<(), crate::ValidationErrors> {
        use crate::validate::text;
        let mut errors = crate::ValidationErrors::default();
        match self {
            ClockAction::Start { clock, .. } => clock.validate("/clock", &mut errors),
            ClockAction::Pause { name, reason } | ClockAction::Restart { name, reason } => {
                text(&mut errors, "/name", name, 64);
                text(&mut errors, "/reason", reason, 2_000);
            }
            ClockAction::Resume { name, pause } => {
                text(&mut errors, "/name", name, 64);
                if let Some(pause) = pause {
                    text(&mut errors, "/pause", pause, 2_000);
                }
            }
            ClockAction::Extend {
                name,
                amount,
                reason,
                approved_by,
                ..
            } => {
                text(&mut errors, "/name", name, 64);
                text(&mut errors, "/reason", reason, 2_000);
                if *amount == 0 || *amount > 3_650 {
                    errors.push("/amount", "must be between 1 and 3650");
                }
                if let Some(who) = approved_by {
                    text(&mut errors, "/approved_by", who, 200);
                }
            }
            ClockAction::Stop { name, reason, .. } => {
                text(&mut errors, "/name", name, 64);
                if let Some(reason) = reason {
                    text(&mut errors, "/reason", reason, 2_000);
                }
            }
        }
        errors.into_result()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn at(text: &str) -> Timestamp {
        text.parse().unwrap()
    }

    fn schedule(due: &str, warning: &str, provisional_years: &[i16]) -> Schedule {
        Schedule {
            due_at: Some(at(due)),
            warning_at: Some(at(warning)),
            provisional: !provisional_years.is_empty(),
            provisional_years: provisional_years.to_vec(),
            explanation: Arc::new(serde_json::Value::Null),
        }
    }

    fn started(provisional_years: &[i16]) -> CaseClock {
        let spec: ClockSpec = serde_json::from_value(serde_json::json!({
            "name": "mediation", "amount": 45, "unit": "working_days"
        }))
        .unwrap();
        apply_change(
            "mediation",
            None,
            &ClockChange::Started {
                spec,
                started_at: at("2026-12-01T02:00:00Z"),
                schedule: schedule(
                    "2027-02-08T16:00:00Z",
                    "2027-02-04T16:00:00Z",
                    provisional_years,
                ),
            },
            at("2026-12-01T02:00:00Z"),
        )
        .unwrap()
    }

    fn revised(due: &str, warning: &str, breach_corrected: Option<Timestamp>) -> ClockChange {
        ClockChange::ScheduleRevised {
            schedule: schedule(due, warning, &[]),
            previous_due_at: None,
            previous_warning_at: None,
            previous_provisional: true,
            calendar: "cn-mainland".into(),
            calendar_version: "0123456789abcdef".into(),
            sources: vec!["2027: notice".into()],
            breach_corrected,
        }
    }

    #[test]
    fn a_revision_moves_a_running_clock_and_ends_its_provisional_mark() {
        let clock = started(&[2027]);
        assert_eq!(clock.provisional_years, [2027]);
        let now = at("2026-12-20T00:00:00Z");
        let c = apply_change(
            "mediation",
            Some(clock),
            &revised("2027-02-10T16:00:00Z", "2027-02-08T16:00:00Z", None),
            now,
        )
        .unwrap();
        assert_eq!(c.state, ClockState::Running);
        assert_eq!(c.due_at, Some(at("2027-02-10T16:00:00Z")));
        assert!(!c.provisional && c.provisional_years.is_empty());
    }

    #[test]
    fn a_warning_already_fired_is_not_owed_again_after_a_revision() {
        let mut clock = started(&[2027]);
        clock = apply_change(
            "mediation",
            Some(clock),
            &ClockChange::Warned,
            at("2027-02-05T00:00:00Z"),
        )
        .unwrap();
        let c = apply_change(
            "mediation",
            Some(clock),
            &revised("2027-02-12T16:00:00Z", "2027-02-10T16:00:00Z", None),
            at("2027-02-06T00:00:00Z"),
        )
        .unwrap();
        assert!(c.warned_at.is_some());
        assert_eq!(
            c.warning_pending(),
            None,
            "the warning fired once; it is not owed again"
        );
        assert_eq!(c.breach_pending(), Some(at("2027-02-12T16:00:00Z")));
    }

    #[test]
    fn a_premature_breach_is_corrected_not_undone() {
        let clock = started(&[2027]);
        let breached_at = at("2027-02-08T16:00:00Z");
        let clock = apply_change(
            "mediation",
            Some(clock),
            &ClockChange::Breached {
                escalated_to: Some("supervisor".into()),
            },
            breached_at,
        )
        .unwrap();
        assert_eq!(clock.escalation_level, 1);
        // The published schedule puts the due date later than now: the clock runs again and
        // owes a breach at the new due time; the escalation already made stays made.
        let c = apply_change(
            "mediation",
            Some(clock.clone()),
            &revised(
                "2027-02-12T16:00:00Z",
                "2027-02-10T16:00:00Z",
                Some(breached_at),
            ),
            at("2027-02-09T00:00:00Z"),
        )
        .unwrap();
        assert_eq!(c.state, ClockState::Running);
        assert_eq!(c.breached_at, None);
        assert_eq!(c.escalation_level, 1);
        assert_eq!(c.breach_pending(), Some(at("2027-02-12T16:00:00Z")));
        // Without a correction (the revised due time has passed too), it stays breached.
        let c = apply_change(
            "mediation",
            Some(clock),
            &revised("2027-02-09T16:00:00Z", "2027-02-05T16:00:00Z", None),
            at("2027-02-10T00:00:00Z"),
        )
        .unwrap();
        assert_eq!(c.state, ClockState::Breached);
        assert_eq!(c.breach_pending(), None);
    }

    #[test]
    fn a_revision_of_a_clock_that_owes_nothing_is_refused() {
        let clock = started(&[]);
        let stopped = apply_change(
            "mediation",
            Some(clock),
            &ClockChange::Stopped {
                met: true,
                reason: None,
            },
            at("2026-12-02T00:00:00Z"),
        )
        .unwrap();
        assert!(
            apply_change(
                "mediation",
                Some(stopped),
                &revised("2027-02-12T16:00:00Z", "2027-02-10T16:00:00Z", None),
                at("2026-12-03T00:00:00Z"),
            )
            .is_err()
        );
    }

    #[test]
    fn met_by_entries_name_an_action_or_a_notice_about_one_thing() {
        use crate::lifecycle::ActionName;
        assert_eq!(
            MetBy::parse("accept"),
            Ok(MetBy {
                action: ActionName::Accept,
                about: None
            })
        );
        assert_eq!(
            MetBy::parse("give_notice:decision_notice"),
            Ok(MetBy {
                action: ActionName::GiveNotice,
                about: Some("decision_notice")
            })
        );
        for (bad, says) in [
            ("acept", "`acept` is not a handler action (one of: accept,"),
            ("accept:x", "only `give_notice` takes a qualifier"),
            ("give_notice:", "is not a snake_case name"),
            ("give_notice:Decision", "is not a snake_case name"),
            ("give_notice:a:b", "is not a snake_case name"),
            (":decision_notice", "`` is not a handler action"),
        ] {
            let message = MetBy::parse(bad).unwrap_err();
            assert!(message.contains(says), "{bad}: {message}");
        }
        let notice = |about: &str| crate::HandlerAction::GiveNotice {
            recipient: crate::event::NoticeRecipient::Complainant,
            means: crate::event::NoticeMeans::Letter,
            about: about.into(),
            note: None,
        };
        let decision = MetBy::parse("give_notice:decision_notice").unwrap();
        assert!(decision.is_met_by(&notice("decision_notice")));
        assert!(!decision.is_met_by(&notice("extension_notice")));
        assert!(!decision.is_met_by(&crate::HandlerAction::Note { text: "x".into() }));
        let any = MetBy::parse("give_notice").unwrap();
        assert!(any.is_met_by(&notice("extension_notice")));
        assert!(!any.is_met_by(&crate::HandlerAction::Accept { note: None }));
    }

    #[test]
    fn met_by_names_handler_actions() {
        let mut errors = crate::ValidationErrors::default();
        let spec: ClockSpec = serde_json::from_value(serde_json::json!({
            "name": "acceptance", "amount": 7, "unit": "working_days",
            "met_by": ["accept", "acept"]
        }))
        .unwrap();
        spec.validate("/clock", &mut errors);
        let text = format!("{:?}", errors.into_result());
        assert!(text.contains("/clock/met_by/1"), "{text}");
        let mut errors = crate::ValidationErrors::default();
        let spec: ClockSpec = serde_json::from_value(serde_json::json!({
            "name": "decision", "amount": 15, "unit": "calendar_days",
            "met_by": ["give_notice:decision_notice", "give_notice:Decision"]
        }))
        .unwrap();
        spec.validate("/clock", &mut errors);
        let text = format!("{:?}", errors.into_result());
        assert!(
            text.contains("/clock/met_by/1") && !text.contains("/clock/met_by/0"),
            "{text}"
        );
        // Declared nothing: the field is absent from the record, so older hashes hold.
        let plain: ClockSpec = serde_json::from_value(serde_json::json!({
            "name": "acceptance", "amount": 7, "unit": "working_days"
        }))
        .unwrap();
        assert!(!serde_json::to_string(&plain).unwrap().contains("met_by"));
    }
}

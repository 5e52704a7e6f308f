//! The decision contract shared by every rule engine (Rhai rulesets now, WASM plugins later):
//! `decide(trigger, case, context) -> decision`. A decision is a list of typed actions and an
//! explanation. The host validates the actions against the case lifecycle and applies them in
//! the same write as the event that triggered them.

use jiff::Timestamp;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::{
    HandlerAction,
    clock::{ClockAction, ClockSpec},
};

/// What a ruleset is asked to decide about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Trigger {
    /// The case was just registered.
    CaseReceived,
    /// A handler recorded an action (accepted, mediation started, withdrawn, ...).
    HandlerEvent { action: HandlerAction },
    /// A clock reached its warning point.
    ClockWarning { clock: String },
    /// A clock passed its due time.
    ClockBreach { clock: String },
}

impl Trigger {
    pub fn describe(&self) -> String {
        match self {
            Trigger::CaseReceived => "case received".into(),
            Trigger::HandlerEvent { action } => {
                format!("handler event `{}`", action.name().as_str())
            }
            Trigger::ClockWarning { clock } => format!("clock `{clock}` warning"),
            Trigger::ClockBreach { clock } => format!("clock `{clock}` breach"),
        }
    }
}

/// Where a started clock counts from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ClockStart {
    /// The case's receipt (`received_at`).
    Received,
    /// The moment of the decision.
    #[default]
    Now,
}

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Low,
    Normal,
    High,
    Major,
}

/// One thing a ruleset decides. A plugin cannot return an action the host does not know.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Action {
    /// Accept the case for handling.
    Accept {
        note: Option<String>,
    },
    /// Do not accept it (不予受理), citing the ground and the article.
    Reject {
        ground: String,
        article: String,
        reason: String,
    },
    /// Ask the complainant for missing materials.
    RequestInformation {
        fields: Vec<String>,
        article: Option<String>,
        reason: String,
    },
    /// Route the case to an office, jurisdiction or tier (resolved through routing tables, #6).
    Route {
        office: Option<String>,
        division_code: Option<String>,
        tier: Option<String>,
        reason: String,
    },
    /// Hand the case to another office.
    Transfer {
        to_office: String,
        reason: String,
    },
    StartClock {
        clock: ClockSpec,
        #[serde(default)]
        from: ClockStart,
    },
    PauseClock {
        name: String,
        reason: String,
    },
    /// End a pause of the clock; `pause` names the ground when several overlap.
    ResumeClock {
        name: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pause: Option<String>,
    },
    StopClock {
        name: String,
        #[serde(default = "yes")]
        met: bool,
        reason: Option<String>,
    },
    ExtendClock {
        name: String,
        amount: u32,
        reason: String,
        approved_by: Option<String>,
        #[serde(default)]
        complainant_notified: bool,
    },
    RestartClock {
        name: String,
        reason: String,
    },
    /// Raise the case to someone up the hierarchy.
    Escalate {
        to: String,
        reason: String,
    },
    /// Category, severity and flags (major complaint, repeat, possibly abusive...).
    Classify {
        category: Option<String>,
        severity: Option<Severity>,
        #[serde(default)]
        flags: Vec<String>,
    },
    /// Tell someone, by role, with a message template.
    Notify {
        recipient: String,
        template: String,
    },
    /// End the case with an outcome (the lifecycle decides whether that is allowed now).
    Close {
        outcome: String,
    },
    /// Handle this case together with an earlier one it repeats (e.g. 2020 No. 3 art. 18 ¶3
    /// "可以合并处理"): `case_id` must be one of the case's `repeat_of` candidates. The case
    /// keeps its status and is flagged `merged`; the host then records the link on the earlier
    /// case. Not in the frozen plugin interface 1.0.0: only Rhai rules can return it.
    MergeInto {
        case_id: crate::CaseId,
        reason: String,
    },
}

fn yes() -> bool {
    true
}

impl Action {
    pub fn kind(&self) -> &'static str {
        match self {
            Action::Accept { .. } => "accept",
            Action::Reject { .. } => "reject",
            Action::RequestInformation { .. } => "request_information",
            Action::Route { .. } => "route",
            Action::Transfer { .. } => "transfer",
            Action::StartClock { .. } => "start_clock",
            Action::PauseClock { .. } => "pause_clock",
            Action::ResumeClock { .. } => "resume_clock",
            Action::StopClock { .. } => "stop_clock",
            Action::ExtendClock { .. } => "extend_clock",
            Action::RestartClock { .. } => "restart_clock",
            Action::Escalate { .. } => "escalate",
            Action::Classify { .. } => "classify",
            Action::Notify { .. } => "notify",
            Action::Close { .. } => "close",
            Action::MergeInto { .. } => "merge_into",
        }
    }

    /// The lifecycle action this implies, if any.
    pub fn lifecycle(&self) -> Option<HandlerAction> {
        match self {
            Action::Accept { note } => Some(HandlerAction::Accept { note: note.clone() }),
            Action::Reject {
                ground,
                article,
                reason,
            } => Some(HandlerAction::Reject {
                reason: reason.clone(),
                ground: Some(ground.clone()),
                article: Some(article.clone()),
            }),
            Action::Transfer { to_office, reason } => Some(HandlerAction::Transfer {
                supervisor_approved: false,
                to_office: to_office.clone(),
                reason: reason.clone(),
            }),
            Action::Close { outcome } => Some(HandlerAction::Close {
                note: Some(outcome.clone()),
            }),
            _ => None,
        }
    }

    /// The clock request this implies, if any (`received_at` resolves `from: received`).
    pub fn clock(&self, received_at: Timestamp) -> Option<ClockAction> {
        Some(match self {
            Action::StartClock { clock, from } => ClockAction::Start {
                clock: clock.clone(),
                starts_at: match from {
                    ClockStart::Received => Some(received_at),
                    ClockStart::Now => None,
                },
            },
            Action::PauseClock { name, reason } => ClockAction::Pause {
                name: name.clone(),
                reason: reason.clone(),
            },
            Action::ResumeClock { name, pause } => ClockAction::Resume {
                name: name.clone(),
                pause: pause.clone(),
            },
            Action::StopClock { name, met, reason } => ClockAction::Stop {
                name: name.clone(),
                met: *met,
                reason: reason.clone(),
            },
            Action::ExtendClock {
                name,
                amount,
                reason,
                approved_by,
                complainant_notified,
            } => ClockAction::Extend {
                name: name.clone(),
                amount: *amount,
                reason: reason.clone(),
                approved_by: approved_by.clone(),
                complainant_notified: *complainant_notified,
            },
            Action::RestartClock { name, reason } => ClockAction::Restart {
                name: name.clone(),
                reason: reason.clone(),
            },
            _ => return None,
        })
    }
}

/// A ruleset's answer: what to do and why.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
pub struct Decision {
    pub actions: Vec<Action>,
    /// The reasoning, one line per rule that fired, citing articles.
    pub explanation: Vec<String>,
}

/// Which ruleset decided, pinned on the case for its whole life.
#[derive(
    Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
pub struct RulesetRef {
    pub id: String,
    pub version: String,
    /// The tenant whose package it is; absent for a built-in (the operator's) package. Ids
    /// and versions are per tenant: two tenants may deploy the same id and version, and a
    /// tenant's package never takes the place of a built-in one. Absent in references recorded
    /// before packages had namespaces (they name a built-in package).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant: Option<crate::TenantId>,
    /// The content hash of the package that decided (`sha256:…`): a pinned case is decided only
    /// by that exact package. Absent in references recorded before it was kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_hash: Option<String>,
}

impl RulesetRef {
    /// A reference by namespace, id and version alone (any content).
    pub fn named(tenant: Option<&crate::TenantId>, id: &str, version: &str) -> RulesetRef {
        RulesetRef {
            id: id.to_owned(),
            version: version.to_owned(),
            tenant: tenant.cloned(),
            content_hash: None,
        }
    }
}

/// Classification, routing and escalations as the rulesets decided them.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
pub struct RulingState {
    pub category: Option<String>,
    pub severity: Option<Severity>,
    #[serde(default)]
    pub flags: Vec<String>,
    pub routed_to: Option<Routing>,
    #[serde(default)]
    pub escalations: Vec<Escalation>,
    #[serde(default)]
    pub notifications: Vec<Notification>,
    #[serde(default)]
    pub information_requested: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Routing {
    pub office: Option<String>,
    pub division_code: Option<String>,
    pub tier: Option<String>,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Escalation {
    pub to: String,
    pub reason: String,
    pub at: Timestamp,
}

/// A notification owed (the outbox; delivery is outside the case history).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Notification {
    pub recipient: String,
    pub template: String,
    pub at: Timestamp,
}

/// Set when the rules could not decide (rule error, limit, invalid output, a refused calendar,
/// a failed plugin, no active ruleset): a person must handle the case until they record
/// `clear_manual_handling` with a reason. A later event or decision does not clear it, so the
/// mark cannot disappear without someone having said why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ManualHandling {
    pub reason: String,
    /// When the first decision that failed was recorded (a second failure keeps this time).
    pub since: Timestamp,
    /// The ruleset that failed to decide; `None` when no ruleset could be found.
    #[serde(default)]
    pub ruleset: Option<RulesetRef>,
}

impl RulingState {
    /// Applies the informational actions of a decision; lifecycle and clock actions are applied
    /// as their own events.
    pub fn apply(&mut self, actions: &[Action], at: Timestamp) {
        for action in actions {
            match action {
                Action::Classify {
                    category,
                    severity,
                    flags,
                } => {
                    if category.is_some() {
                        self.category.clone_from(category);
                    }
                    if severity.is_some() {
                        self.severity = *severity;
                    }
                    push_new(&mut self.flags, flags);
                }
                Action::Route {
                    office,
                    division_code,
                    tier,
                    reason,
                } => {
                    self.routed_to = Some(Routing {
                        office: office.clone(),
                        division_code: division_code.clone(),
                        tier: tier.clone(),
                        reason: reason.clone(),
                    });
                }
                Action::Escalate { to, reason } => self.escalations.push(Escalation {
                    to: to.clone(),
                    reason: reason.clone(),
                    at,
                }),
                Action::Notify {
                    recipient,
                    template,
                } => self.notifications.push(Notification {
                    recipient: recipient.clone(),
                    template: template.clone(),
                    at,
                }),
                Action::RequestInformation { fields, .. } => {
                    push_new(&mut self.information_requested, fields);
                }
                Action::MergeInto { .. } => push_new(&mut self.flags, &[MERGED_FLAG.to_owned()]),
                _ => {}
            }
        }
    }
}

/// The flag a `merge_into` decision sets on the merged (later) case.
pub const MERGED_FLAG: &str = "merged";

/// Appends the items of `new` that `list` does not hold yet, in order, each once. A set of what
/// is already there keeps this linear: a ruleset's output is untrusted, and checking each new
/// item against the whole list was quadratic (100,000 distinct flags took seconds).
fn push_new(list: &mut Vec<String>, new: &[String]) {
    if new.is_empty() {
        return;
    }
    let mut seen: std::collections::HashSet<String> = list.iter().cloned().collect();
    for item in new {
        if seen.insert(item.clone()) {
            list.push(item.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// Finding 4 of the sandbox review: de-duplicating 100,000 distinct flags was quadratic
    /// (14.8 s to apply one decision).
    #[test]
    fn applying_many_distinct_flags_is_not_quadratic() {
        let flags: Vec<String> = (0..100_000).map(|i| format!("flag-{i}")).collect();
        let mut state = RulingState::default();
        let started = std::time::Instant::now();
        let classify = Action::Classify {
            category: None,
            severity: None,
            flags: flags.clone(),
        };
        state.apply(&[classify.clone(), classify], Timestamp::UNIX_EPOCH);
        let took = started.elapsed();
        assert_eq!(state.flags, flags, "each flag once, in order");
        assert!(took < std::time::Duration::from_secs(2), "took {took:?}");
    }
}

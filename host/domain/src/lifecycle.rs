//! The case lifecycle: which handler actions are legal in which state.
//!
//! ```text
//! received ──accept──▶ accepted ──start_*──▶ in_progress ──resolve──▶ resolved ──close──▶ closed
//!    │  │                 │  └────resolve (on the spot)────────────────────▲        │
//!    │  └─transfer─▶ transferred ─accept/reject─▶ ...   terminate ▶ terminated ─close─┤
//!    └─reject─▶ rejected ─close─▶ closed        withdraw (before an outcome) ▶ withdrawn
//! resolved | terminated | rejected | closed ──reopen (review request)──▶ reopened ──start_*──▶ in_progress
//! ```
//! `assign` is legal until the case is closed and `note` always: neither changes the state.
//! Between offices: `return_to_intake` (received / transferred → received, for an office
//! without jurisdiction), `refer_up` (any open state → transferred, to the office above) and
//! `take_over` (an office above takes the case; the state stays). Which office is above which
//! is the tenant's routing table's business, checked by the service.

use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::event::HandlerAction;

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Registered; the acceptance decision is pending.
    Received,
    Accepted,
    Rejected,
    /// Handed to another office, which decides acceptance itself.
    Transferred,
    /// Under investigation or mediation (see `stage`).
    InProgress,
    Resolved,
    Terminated,
    Closed,
    Withdrawn,
    /// A review was requested after an outcome; handling starts again.
    Reopened,
}

impl Status {
    pub const ALL: [Status; 10] = [
        Status::Received,
        Status::Accepted,
        Status::Rejected,
        Status::Transferred,
        Status::InProgress,
        Status::Resolved,
        Status::Terminated,
        Status::Closed,
        Status::Withdrawn,
        Status::Reopened,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Received => "received",
            Status::Accepted => "accepted",
            Status::Rejected => "rejected",
            Status::Transferred => "transferred",
            Status::InProgress => "in_progress",
            Status::Resolved => "resolved",
            Status::Terminated => "terminated",
            Status::Closed => "closed",
            Status::Withdrawn => "withdrawn",
            Status::Reopened => "reopened",
        }
    }

    /// The actions a handler may take in this state, in a stable order for error messages.
    pub fn allowed_actions(self) -> Vec<&'static str> {
        ActionName::ALL
            .iter()
            .filter(|a| next_status(self, **a).is_some())
            .map(|a| a.as_str())
            .collect()
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The name of a handler action, without its payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActionName {
    Accept,
    Reject,
    Transfer,
    Assign,
    StartInvestigation,
    StartMediation,
    Resolve,
    Terminate,
    Withdraw,
    Close,
    Reopen,
    Note,
    StartAppraisal,
    FinishAppraisal,
    RecordAgreement,
    RecordNewFacts,
    AcceptMediation,
    ReturnToIntake,
    ReferUp,
    TakeOver,
    ClearManualHandling,
}

impl ActionName {
    pub const ALL: [ActionName; 21] = [
        ActionName::Accept,
        ActionName::Reject,
        ActionName::Transfer,
        ActionName::Assign,
        ActionName::StartInvestigation,
        ActionName::StartMediation,
        ActionName::Resolve,
        ActionName::Terminate,
        ActionName::Withdraw,
        ActionName::Close,
        ActionName::Reopen,
        ActionName::Note,
        ActionName::StartAppraisal,
        ActionName::FinishAppraisal,
        ActionName::RecordAgreement,
        ActionName::RecordNewFacts,
        ActionName::AcceptMediation,
        ActionName::ReturnToIntake,
        ActionName::ReferUp,
        ActionName::TakeOver,
        ActionName::ClearManualHandling,
    ];

    /// The action named `name` (its snake_case `type`), if there is one.
    pub fn parse(name: &str) -> Option<ActionName> {
        ActionName::ALL.into_iter().find(|a| a.as_str() == name)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ActionName::Accept => "accept",
            ActionName::Reject => "reject",
            ActionName::Transfer => "transfer",
            ActionName::Assign => "assign",
            ActionName::StartInvestigation => "start_investigation",
            ActionName::StartMediation => "start_mediation",
            ActionName::Resolve => "resolve",
            ActionName::Terminate => "terminate",
            ActionName::Withdraw => "withdraw",
            ActionName::Close => "close",
            ActionName::Reopen => "reopen",
            ActionName::Note => "note",
            ActionName::StartAppraisal => "start_appraisal",
            ActionName::FinishAppraisal => "finish_appraisal",
            ActionName::RecordAgreement => "record_agreement",
            ActionName::RecordNewFacts => "record_new_facts",
            ActionName::AcceptMediation => "accept_mediation",
            ActionName::ReturnToIntake => "return_to_intake",
            ActionName::ReferUp => "refer_up",
            ActionName::TakeOver => "take_over",
            ActionName::ClearManualHandling => "clear_manual_handling",
        }
    }
}

/// The state after `action` in state `from`, or `None` when the action is illegal there.
/// This table is the whole lifecycle; everything else asks it.
pub fn next_status(from: Status, action: ActionName) -> Option<Status> {
    use ActionName as A;
    use Status as S;
    match (from, action) {
        (_, A::Note) => Some(from),
        // Ending manual handling moves nothing; whether there is any to end is the case's
        // business (`Case::check_handler`), not the status's.
        (_, A::ClearManualHandling) => Some(from),
        // Facts about the handling that do not move the case: they are triggers for the rules
        // (an appraisal pauses statutory time, an agreement ends mediation, new facts restart
        // a bank's clock).
        (
            S::Accepted | S::InProgress | S::Reopened,
            A::StartAppraisal | A::FinishAppraisal | A::RecordAgreement | A::AcceptMediation,
        ) => Some(from),
        (
            S::Received | S::Accepted | S::Transferred | S::InProgress | S::Reopened,
            A::RecordNewFacts,
        ) => Some(from),
        (S::Closed, A::Assign) => None,
        (_, A::Assign) => Some(from),

        (S::Received | S::Transferred, A::Accept) => Some(S::Accepted),
        (S::Received | S::Transferred, A::Reject) => Some(S::Rejected),
        // A transferred case is not passed on again by the receiving office (no onward
        // re-transfer: market supervision art. 13, the property and 12345 rules).
        (S::Received | S::Accepted, A::Transfer) => Some(S::Transferred),
        // An office that finds it has no jurisdiction, before accepting, gives the case back to
        // intake (not to another office itself).
        (S::Received | S::Transferred, A::ReturnToIntake) => Some(S::Received),
        // Upward referral hands the case to the office above, which decides acceptance; a
        // takeover by a higher office moves the case without changing its state.
        (S::Received | S::Accepted | S::Transferred | S::InProgress | S::Reopened, A::ReferUp) => {
            Some(S::Transferred)
        }
        (S::Received | S::Accepted | S::Transferred | S::InProgress | S::Reopened, A::TakeOver) => {
            Some(from)
        }

        (S::Accepted | S::Reopened | S::InProgress, A::StartInvestigation | A::StartMediation) => {
            Some(S::InProgress)
        }
        // Accepted → resolved covers a complaint settled on the spot (healthcare first contact).
        (S::Accepted | S::InProgress | S::Reopened, A::Resolve) => Some(S::Resolved),
        (S::Accepted | S::InProgress | S::Reopened, A::Terminate) => Some(S::Terminated),
        (S::Received | S::Accepted | S::Transferred | S::InProgress | S::Reopened, A::Withdraw) => {
            Some(S::Withdrawn)
        }
        (S::Resolved | S::Terminated | S::Rejected | S::Withdrawn, A::Close) => Some(S::Closed),
        (S::Resolved | S::Terminated | S::Rejected | S::Closed, A::Reopen) => Some(S::Reopened),
        _ => None,
    }
}

/// An action that the lifecycle does not allow in the case's current state.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "the case is `{from}`, where `{action}` is not allowed; allowed actions: {}",
    allowed.join(", ")
)]
pub struct LifecycleError {
    pub from: Status,
    pub action: &'static str,
    pub allowed: Vec<&'static str>,
}

/// Checks `action` against the lifecycle and returns the state it leads to.
pub fn transition(from: Status, action: &HandlerAction) -> Result<Status, LifecycleError> {
    let name = action.name();
    next_status(from, name).ok_or_else(|| LifecycleError {
        from,
        action: name.as_str(),
        allowed: from.allowed_actions(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The whole table, written out so that a change to the lifecycle is a visible diff here.
    #[test]
    fn allowed_actions_per_state() {
        let handling =
            "start_appraisal finish_appraisal record_agreement record_new_facts accept_mediation";
        let table: &[(Status, String)] = &[
            (
                Status::Received,
                "accept reject transfer assign withdraw note record_new_facts return_to_intake refer_up take_over clear_manual_handling".into(),
            ),
            (
                Status::Accepted,
                format!(
                    "transfer assign start_investigation start_mediation resolve terminate withdraw note {handling} refer_up take_over clear_manual_handling"
                ),
            ),
            (Status::Rejected, "assign close reopen note clear_manual_handling".into()),
            (
                Status::Transferred,
                "accept reject assign withdraw note record_new_facts return_to_intake refer_up take_over clear_manual_handling".into(),
            ),
            (
                Status::InProgress,
                format!(
                    "assign start_investigation start_mediation resolve terminate withdraw note {handling} refer_up take_over clear_manual_handling"
                ),
            ),
            (Status::Resolved, "assign close reopen note clear_manual_handling".into()),
            (Status::Terminated, "assign close reopen note clear_manual_handling".into()),
            (Status::Closed, "reopen note clear_manual_handling".into()),
            (Status::Withdrawn, "assign close note clear_manual_handling".into()),
            (
                Status::Reopened,
                format!(
                    "assign start_investigation start_mediation resolve terminate withdraw note {handling} refer_up take_over clear_manual_handling"
                ),
            ),
        ];
        assert_eq!(table.len(), Status::ALL.len());
        for (status, expected) in table {
            assert_eq!(
                status.allowed_actions().join(" "),
                *expected,
                "state {status}"
            );
        }
    }

    #[test]
    fn illegal_transition_names_the_state_and_the_allowed_actions() {
        let err = transition(Status::Closed, &HandlerAction::Accept { note: None });
        let message = err.err().map(|e| e.to_string()).unwrap_or_default();
        assert_eq!(
            message,
            "the case is `closed`, where `accept` is not allowed; allowed actions: reopen, note, clear_manual_handling"
        );
    }
}

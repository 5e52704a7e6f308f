//! The case lifecycle: which handler actions are legal in which state.
//!
//! ```text
//! received ──accept──▶ accepted ──start_*──▶ in_progress ──resolve──▶ resolved ──close──▶ closed
//!    │  │                 │  └────resolve (on the spot)────────────────────▲        │
//!    │  └─transfer─▶ transferred ─accept/reject─▶ ...   terminate ▶ terminated ─close─┤
//!    └─reject─▶ rejected ─close─▶ closed        withdraw (before an outcome) ▶ withdrawn
//! resolved | terminated | rejected | closed ──reopen (review request)──▶ reopened ──start_*──▶ in_progress
//! resolved ──record_callback──▶ resolved ──return_for_rework (12345: unsatisfied)──▶ in_progress
//! ```
//! `assign` is legal until the case is closed and `note` always: neither changes the state.
//! Facts that keep the state (triggers for the rules, which count time from them):
//! - any state but `closed`: `give_notice` (a notice follows the act it tells of: a rejection,
//!   a withdrawal, an outcome; a closed case owes none);
//! - any open state (received, accepted, transferred, in_progress, reopened):
//!   `record_new_facts`, `competent_office_received` (Order 20 art. 14), `request_documents`
//!   (banking art. 14), `record_violation_clue` (Order 20 art. 23);
//! - accepted, in_progress, reopened (handling or mediating): `start_appraisal`,
//!   `finish_appraisal`, `record_agreement`, `accept_mediation`, `request_recusal` and
//!   `decide_recusal` (Order 20 art. 19), `agree_mediation_extension` (条例 art. 38);
//! - after an outcome (resolved, terminated, rejected, closed): `request_review` (banking art.
//!   20, 信访 复查 / 复核);
//! - resolved, terminated: `record_callback` (12345). An unsatisfied ticket goes back with
//!   `return_for_rework`, resolved → in_progress: the same round of handling continues (stage
//!   and reopen count unchanged), unlike `reopen`, a review request that starts a new round.
//!
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
    GiveNotice,
    CompetentOfficeReceived,
    RequestRecusal,
    DecideRecusal,
    RecordViolationClue,
    AgreeMediationExtension,
    RequestDocuments,
    RequestReview,
    RecordCallback,
    ReturnForRework,
}

impl ActionName {
    pub const ALL: [ActionName; 31] = [
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
        ActionName::GiveNotice,
        ActionName::CompetentOfficeReceived,
        ActionName::RequestRecusal,
        ActionName::DecideRecusal,
        ActionName::RecordViolationClue,
        ActionName::AgreeMediationExtension,
        ActionName::RequestDocuments,
        ActionName::RequestReview,
        ActionName::RecordCallback,
        ActionName::ReturnForRework,
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
            ActionName::GiveNotice => "give_notice",
            ActionName::CompetentOfficeReceived => "competent_office_received",
            ActionName::RequestRecusal => "request_recusal",
            ActionName::DecideRecusal => "decide_recusal",
            ActionName::RecordViolationClue => "record_violation_clue",
            ActionName::AgreeMediationExtension => "agree_mediation_extension",
            ActionName::RequestDocuments => "request_documents",
            ActionName::RequestReview => "request_review",
            ActionName::RecordCallback => "record_callback",
            ActionName::ReturnForRework => "return_for_rework",
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
        // Recusal (Order 20 art. 19, banking art. 17) and an agreed extension of mediation
        // (条例 art. 38) concern someone handling or mediating an accepted case.
        (
            S::Accepted | S::InProgress | S::Reopened,
            A::StartAppraisal
            | A::FinishAppraisal
            | A::RecordAgreement
            | A::AcceptMediation
            | A::RequestRecusal
            | A::DecideRecusal
            | A::AgreeMediationExtension,
        ) => Some(from),
        // Facts of any open case, accepted or not: the competent office's receipt after a
        // return, referral, takeover or transfer (Order 20 art. 14 counts from it; a takeover
        // leaves the state as it was), a request for documents before or after acceptance
        // (banking art. 14: a request, not a rejection), a violation clue (Order 20 art. 23).
        (
            S::Received | S::Accepted | S::Transferred | S::InProgress | S::Reopened,
            A::RecordNewFacts
            | A::CompetentOfficeReceived
            | A::RequestDocuments
            | A::RecordViolationClue,
        ) => Some(from),
        // A notice can be owed in every state but `closed`: a rejection notice follows the
        // rejection (Order 20 art. 14), the termination notice follows a withdrawal or
        // termination (art. 21), the decision notice follows the outcome (banking art. 19). A
        // case is closed once nothing more is owed; a fact about a closed case is a `note`.
        (S::Closed, A::GiveNotice) => None,
        (_, A::GiveNotice) => Some(from),
        // A review request comes after an outcome, also once the case is closed (banking art.
        // 20, 信访工作条例 arts. 35–36); it records the request and its date, and `reopen` (or
        // a notice upholding the decision) follows.
        (S::Resolved | S::Terminated | S::Rejected | S::Closed, A::RequestReview) => Some(from),
        // 12345: the callback follows the handling, before the ticket is closed; an
        // unsatisfied ticket goes back to handling in the same round (not a review request,
        // so not `reopened`).
        (S::Resolved | S::Terminated, A::RecordCallback) => Some(from),
        (S::Resolved, A::ReturnForRework) => Some(S::InProgress),
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
        let open_facts = "give_notice competent_office_received";
        let handling_facts = "request_recusal decide_recusal record_violation_clue agree_mediation_extension request_documents";
        let table: &[(Status, String)] = &[
            (
                Status::Received,
                format!("accept reject transfer assign withdraw note record_new_facts return_to_intake refer_up take_over clear_manual_handling {open_facts} record_violation_clue request_documents"),
            ),
            (
                Status::Accepted,
                format!(
                    "transfer assign start_investigation start_mediation resolve terminate withdraw note {handling} refer_up take_over clear_manual_handling {open_facts} {handling_facts}"
                ),
            ),
            (
                Status::Rejected,
                "assign close reopen note clear_manual_handling give_notice request_review".into(),
            ),
            (
                Status::Transferred,
                format!("accept reject assign withdraw note record_new_facts return_to_intake refer_up take_over clear_manual_handling {open_facts} record_violation_clue request_documents"),
            ),
            (
                Status::InProgress,
                format!(
                    "assign start_investigation start_mediation resolve terminate withdraw note {handling} refer_up take_over clear_manual_handling {open_facts} {handling_facts}"
                ),
            ),
            (
                Status::Resolved,
                "assign close reopen note clear_manual_handling give_notice request_review record_callback return_for_rework".into(),
            ),
            (
                Status::Terminated,
                "assign close reopen note clear_manual_handling give_notice request_review record_callback".into(),
            ),
            (
                Status::Closed,
                "reopen note clear_manual_handling request_review".into(),
            ),
            (
                Status::Withdrawn,
                "assign close note clear_manual_handling give_notice".into(),
            ),
            (
                Status::Reopened,
                format!(
                    "assign start_investigation start_mediation resolve terminate withdraw note {handling} refer_up take_over clear_manual_handling {open_facts} {handling_facts}"
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

    /// The actions of issue 15, each with the states where it is legal and the state it leads
    /// to there; every other state refuses it.
    #[test]
    fn the_recorded_facts_of_issue_15_per_state() {
        use ActionName as A;
        use Status as S;
        let open = [
            S::Received,
            S::Accepted,
            S::Transferred,
            S::InProgress,
            S::Reopened,
        ];
        let handling = [S::Accepted, S::InProgress, S::Reopened];
        let all_but_closed: Vec<Status> = S::ALL.into_iter().filter(|s| *s != S::Closed).collect();
        let keep = |states: &[Status]| -> Vec<(Status, Status)> {
            states.iter().map(|s| (*s, *s)).collect()
        };
        let table: Vec<(ActionName, Vec<(Status, Status)>)> = vec![
            // A notice follows what it tells of; a closed case owes none.
            (A::GiveNotice, keep(&all_but_closed)),
            // Order 20 art. 14: after a return, referral, takeover or transfer.
            (A::CompetentOfficeReceived, keep(&open)),
            // Order 20 art. 19: during handling or mediation.
            (A::RequestRecusal, keep(&handling)),
            (A::DecideRecusal, keep(&handling)),
            // Order 20 art. 23: found while the case is open.
            (A::RecordViolationClue, keep(&open)),
            // 条例 art. 38: an agreed extension of a mediation under way.
            (A::AgreeMediationExtension, keep(&handling)),
            // Banking art. 14: before or after acceptance; a request, not a rejection.
            (A::RequestDocuments, keep(&open)),
            // Banking art. 20, 信访 复查 / 复核: after an outcome, also once closed.
            (
                A::RequestReview,
                keep(&[S::Resolved, S::Terminated, S::Rejected, S::Closed]),
            ),
            // 12345: callback after handling, before closing.
            (A::RecordCallback, keep(&[S::Resolved, S::Terminated])),
            // 12345: an unsatisfied ticket is handled again, in the same round.
            (A::ReturnForRework, vec![(S::Resolved, S::InProgress)]),
        ];
        assert_eq!(table.len(), 10);
        for (action, legal) in &table {
            for from in S::ALL {
                let expected = legal.iter().find(|(s, _)| *s == from).map(|(_, to)| *to);
                assert_eq!(
                    next_status(from, *action),
                    expected,
                    "`{}` in `{from}`",
                    action.as_str()
                );
            }
        }
    }

    #[test]
    fn every_action_name_parses_back() {
        for action in ActionName::ALL {
            assert_eq!(ActionName::parse(action.as_str()), Some(action));
        }
    }

    #[test]
    fn illegal_transition_names_the_state_and_the_allowed_actions() {
        let err = transition(Status::Closed, &HandlerAction::Accept { note: None });
        let message = err.err().map(|e| e.to_string()).unwrap_or_default();
        assert_eq!(
            message,
            "the case is `closed`, where `accept` is not allowed; allowed actions: reopen, note, clear_manual_handling, request_review"
        );
    }
}

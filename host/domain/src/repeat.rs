//! Repeat complaints (regulations §7, §8): what the host records at intake so that the rules can
//! decide whether a complaint repeats an earlier one, and the links a merge leaves.
//!
//! The host computes a **complainant key** (a keyed hash of the normalised phone or identity
//! number; never the value itself) and looks up the tenant's earlier cases with the same key.
//! Each earlier case it keeps is a [`RepeatCandidate`] with the reasons it matched
//! ([`MatchBasis`]). Both are recorded on the `received` event, so a replay needs no store and
//! every decision that relies on them can be explained from the history alone.

use jiff::Timestamp;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::{CaseId, Hash, Status};

/// Which of the complainant's identifiers the key was computed from: the phone when one was
/// given, else the identity document's number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ComplainantIdentifier {
    Phone,
    IdentityNumber,
}

/// HMAC-SHA-256, under a key only the server holds, of the complainant's normalised phone (or,
/// without one, identity number). Equal keys mean the same identifier; the key does not reveal
/// the value to anyone without the server's key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ComplainantKey {
    pub identifier: ComplainantIdentifier,
    pub digest: Hash,
}

/// How an earlier case's issue resembles the new one's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SimilarBy {
    /// Same sector, and both cases name the same category.
    Category,
    /// Same sector, and the claim and facts share at least half of their character bigrams
    /// (Jaccard index; the score is recorded).
    Text,
}

/// One reason an earlier case matched.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum MatchBasis {
    /// The same complainant key (always present on a candidate).
    SameComplainant { identifier: ComplainantIdentifier },
    /// The respondent's name is the same once white space, punctuation and the difference
    /// between full-width and half-width forms are removed.
    SameRespondent,
    /// A similar issue.
    SimilarIssue {
        by: SimilarBy,
        /// The bigram Jaccard index in thousandths (500 to 1000), when compared by text.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        score_permille: Option<u16>,
    },
}

/// An earlier case of the same tenant that the new one may repeat, as it stood when the new
/// case was received.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct RepeatCandidate {
    pub case_id: CaseId,
    pub received_at: Timestamp,
    pub status: Status,
    pub basis: Vec<MatchBasis>,
}

impl RepeatCandidate {
    /// Whether one of its bases is a similar issue.
    pub fn similar_issue(&self) -> bool {
        self.basis
            .iter()
            .any(|b| matches!(b, MatchBasis::SimilarIssue { .. }))
    }
}

/// What the host found at intake, recorded on the `received` event. Empty (the default) when
/// the complainant gave neither a phone nor an identity number.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RepeatFacts {
    pub complainant_key: Option<ComplainantKey>,
    pub repeat_of: Vec<RepeatCandidate>,
}

/// One end of a merge: the other case, why, and when it was recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct CaseLink {
    pub case_id: CaseId,
    pub reason: String,
    pub at: Timestamp,
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::{
        Actor, Case, EventKind, TrackingCode,
        contract::{Action, RulesetRef, Trigger},
    };

    fn intake() -> crate::CaseIntake {
        serde_json::from_value(serde_json::json!({
            "sector": "banking", "channel": "web", "received_at": "2026-02-13T10:00:00+08:00",
            "complainant": {"name": "王五", "phone": "13900000000"},
            "respondent": {"name": "某银行"}, "claim": "撤销不当扣费"
        }))
        .unwrap()
    }

    fn now() -> Timestamp {
        "2026-02-13T02:00:00Z".parse().unwrap()
    }

    /// The stored-format rule: a case registered without repeat facts records its `received`
    /// event exactly as before the fields existed.
    #[test]
    fn a_received_event_without_repeat_facts_has_no_new_fields() {
        let (_, record) = Case::register(
            CaseId::from_parts(1, 1),
            TrackingCode::from_random(1),
            crate::TenantId::default_tenant(),
            intake(),
            Actor::api("t"),
            now(),
        )
        .unwrap();
        let json = serde_json::to_value(&record.event).unwrap();
        let keys: Vec<&str> = json
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(keys, ["intake", "tenant", "tracking_code", "type"]);
    }

    /// The key, the candidates and both ends of a merge are rebuilt by replay alone.
    #[test]
    fn repeat_facts_and_merge_links_replay_to_the_snapshot() {
        let earlier = CaseId::from_parts(1, 1);
        let key = ComplainantKey {
            identifier: ComplainantIdentifier::Phone,
            digest: Hash([7; 32]),
        };
        let candidate = RepeatCandidate {
            case_id: earlier,
            received_at: now(),
            status: Status::Accepted,
            basis: vec![
                MatchBasis::SameComplainant {
                    identifier: ComplainantIdentifier::Phone,
                },
                MatchBasis::SameRespondent,
                MatchBasis::SimilarIssue {
                    by: SimilarBy::Text,
                    score_permille: Some(640),
                },
            ],
        };
        assert!(candidate.similar_issue());
        let (mut later, first) = Case::register_with(
            CaseId::from_parts(2, 2),
            TrackingCode::from_random(2),
            crate::TenantId::default_tenant(),
            intake(),
            RepeatFacts {
                complainant_key: Some(key.clone()),
                repeat_of: vec![candidate.clone()],
            },
            Actor::api("t"),
            now(),
        )
        .unwrap();
        assert_eq!(later.complainant_key, Some(key));
        assert_eq!(later.repeat_of, vec![candidate]);
        let decision = later.seal(
            EventKind::Decision {
                ruleset: RulesetRef::named(None, "banking", "1.0.0"),
                engine: "rhai".into(),
                trigger: Trigger::CaseReceived,
                actions: vec![Action::MergeInto {
                    case_id: earlier,
                    reason: "art. 18 ¶3".into(),
                }],
                explanation: Vec::new(),
            },
            Actor::system(),
            now(),
        );
        later.apply(&decision).unwrap();
        assert_eq!(later.merged_into.as_ref().unwrap().case_id, earlier);
        assert_eq!(later.ruling.flags, [crate::contract::MERGED_FLAG]);
        assert_eq!(Case::replay(&[first, decision]).unwrap(), later);

        let (mut first_case, received) = Case::register(
            earlier,
            TrackingCode::from_random(1),
            crate::TenantId::default_tenant(),
            intake(),
            Actor::api("t"),
            now(),
        )
        .unwrap();
        let link = first_case.seal(
            EventKind::MergedFrom {
                case_id: later.id,
                reason: "art. 18 ¶3".into(),
            },
            Actor::system(),
            now(),
        );
        first_case.apply(&link).unwrap();
        assert_eq!(first_case.merged_from[0].case_id, later.id);
        assert_eq!(
            first_case.status,
            Status::Received,
            "a link changes no status"
        );
        assert_eq!(Case::replay(&[received, link]).unwrap(), first_case);
    }
}

//! Repeat complaints in the service: the candidates found before a case is written, and the
//! link a merge leaves on the earlier case after it.

use redress_domain::TenantId;
use std::sync::Arc;

use jiff::{SignedDuration, Timestamp};
use redress_domain::{
    Actor, Case, CaseId, CaseIntake, EventKind, EventRecord, contract::Action, repeat::RepeatFacts,
};

use super::{Redress, ServiceError};
use crate::{
    repeat,
    store::{ComplainantQuery, Plan},
};

impl Redress {
    /// What registration records about repeats: the complainant key and the tenant's earlier
    /// cases with the same key, the same respondent and a receipt within the window before this
    /// one (the deciding ruleset's `repeat_window_days`, else a year), each with its match
    /// basis. Found before the write, from the store's index: two complaints from the same
    /// person registered at the same instant do not see each other.
    pub(super) async fn repeat_facts(
        &self,
        tenant: &TenantId,
        ruleset: Option<&crate::rules::LoadedRuleset>,
        intake: &CaseIntake,
        now: Timestamp,
    ) -> Result<RepeatFacts, ServiceError> {
        let Some(key) = self.repeat_key.complainant_key(&intake.complainant) else {
            return Ok(RepeatFacts::default());
        };
        let received_at = intake.received_at.unwrap_or(now);
        let days = repeat::window_days(ruleset.map(|r| &r.manifest.settings));
        let received_from = received_at
            .checked_sub(SignedDuration::from_hours(24 * days))
            .unwrap_or(Timestamp::MIN);
        let query = ComplainantQuery {
            tenant: tenant.clone(),
            digest: key.digest,
            received_from,
            received_until: received_at,
            limit: repeat::MAX_CANDIDATES,
        };
        let earlier = self
            .blocking(move |store| store.same_complainant(&query))
            .await?;
        let repeat_of = repeat::candidates(intake, &key, &earlier);
        Ok(RepeatFacts {
            complainant_key: Some(key),
            repeat_of,
        })
    }

    /// After a write whose decision merged `case` into an earlier one (`merge_into`), records
    /// the link on the earlier case, so that both histories name each other. `decided_now`:
    /// the write decided the merge (a case's later writes do not link it again).
    ///
    /// A separate write, after the first: the two cases are two histories, and a plan decides
    /// about one case only. So the link is best-effort: if this write fails (storage, a crash
    /// between the two), the merged case still records the merge and names the earlier case,
    /// and the error is logged with both ids for someone to see to.
    pub(super) async fn link_merge(&self, case: &Case, decided_now: bool) {
        let Some(link) = case.merged_into.as_ref().filter(|_| decided_now) else {
            return;
        };
        let later = case.id;
        let target: CaseId = link.case_id;
        let reason = link.reason.clone();
        let plan: Plan = Arc::new(move |earlier: &Case, _| {
            // Written once, whoever retries.
            if earlier.merged_from.iter().any(|l| l.case_id == later) {
                return Ok(Vec::new());
            }
            Ok(vec![EventKind::MergedFrom {
                case_id: later,
                reason: reason.clone(),
            }])
        });
        // The rules of the merged case decided it.
        let actor: Actor = case
            .ruleset
            .as_ref()
            .map_or_else(Actor::system, crate::rules::apply::ruleset_actor);
        match self
            .append_once(Some(case.tenant.clone()), target, plan, actor, None)
            .await
        {
            Ok(_) => tracing::info!(
                case_id = %later,
                merged_into = %target,
                "merged case linked on the earlier case"
            ),
            Err(error) => tracing::error!(
                case_id = %later,
                merged_into = %target,
                %error,
                "the case is merged into an earlier case, but the link on the earlier case could not be written; record it by hand"
            ),
        }
    }
}

/// Whether one of `events` is a decision that merges the case (`merge_into`).
pub(super) fn merges(events: &[EventRecord]) -> bool {
    events.iter().any(|event| {
        matches!(&event.event, EventKind::Decision { actions, .. }
            if actions.iter().any(|a| matches!(a, Action::MergeInto { .. })))
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use std::collections::BTreeMap;

    use redress_calendar::CalendarSet;
    use redress_domain::{
        Status,
        contract::MERGED_FLAG,
        repeat::{ComplainantIdentifier, MatchBasis},
    };

    use super::*;
    use crate::{
        rules::{
            Registry,
            package::Package,
            rhai_engine::{Limits, RhaiEngine},
        },
        service::Calendars,
        store::{Created, MemoryStore},
        time_source::ManualTimeSource,
    };

    const MERGING: &str = r#"fn decide(trigger, the_case, ctx) {
        if trigger.type != "case_received" { return []; }
        for c in the_case.repeat_of {
            if c.basis.some(|b| b.kind == "similar_issue") {
                return [because("2020 No. 3 art. 18 ¶3"), merge_into(c.case_id, "可以合并处理")];
            }
        }
        [accept()]
    }"#;

    /// Merges into a case id the host never offered.
    const ROGUE: &str = r#"fn decide(trigger, the_case, ctx) {
        [merge_into("01KGEKE2R0000000000000000A", "any case")]
    }"#;

    fn package(id: &str, sector: &str, rules: &str, settings: &str) -> Package {
        Package {
            origin: "test".into(),
            files: BTreeMap::from([
                (
                    "ruleset.toml".to_owned(),
                    format!(
                        "id = \"{id}\"\nversion = \"1.0.0\"\nname = \"t\"\nsector = \"{sector}\"\n\
                         effective_from = 2020-01-01\nengine = \"rhai\"\n[settings]\n{settings}\n"
                    ),
                ),
                ("rules.rhai".to_owned(), rules.to_owned()),
            ]),
            binaries: BTreeMap::new(),
        }
    }

    async fn app(clock: Arc<ManualTimeSource>) -> Redress {
        let app = Redress::new(
            Arc::new(MemoryStore::new()),
            clock,
            Calendars::new(CalendarSet::default()),
            Arc::new(Registry::new(RhaiEngine::new(Limits::default()))),
        );
        for package in [
            package("merging", "banking", MERGING, "repeat_window_days = 30"),
            package("rogue", "property", ROGUE, ""),
        ] {
            app.deploy(redress_domain::TenantId::default_tenant(), true, package)
                .await
                .unwrap();
        }
        app
    }

    fn intake(sector: &str, phone: &str, respondent: &str, claim: &str) -> CaseIntake {
        serde_json::from_value(serde_json::json!({
            "sector": sector, "channel": "web",
            "complainant": {"name": "王五", "phone": phone, "address": "北京"},
            "respondent": {"name": respondent}, "claim": claim, "facts": "信用卡年费未经同意扣收"
        }))
        .unwrap()
    }

    async fn create(app: &Redress, intake: CaseIntake) -> (Case, Vec<EventRecord>) {
        let Created::New(case) = app
            .create_case(
                redress_domain::TenantId::default_tenant(),
                intake,
                Actor::api("intake"),
                None,
            )
            .await
            .unwrap()
        else {
            panic!("not created")
        };
        let events = app
            .events(redress_domain::TenantId::default_tenant(), case.id)
            .await
            .unwrap()
            .unwrap();
        (case, events)
    }

    fn received_repeat_of(events: &[EventRecord]) -> Vec<redress_domain::repeat::RepeatCandidate> {
        match &events[0].event {
            EventKind::Received { repeat_of, .. } => repeat_of.clone(),
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn a_repeat_is_found_merged_and_linked_in_both_histories() {
        let start: Timestamp = "2026-03-02T02:00:00Z".parse().unwrap();
        let clock = Arc::new(ManualTimeSource::new(start));
        let app = app(Arc::clone(&clock)).await;
        let (first, _) = create(
            &app,
            intake(
                "banking",
                "+86 138-0013-8000",
                "某某银行（北京）分行",
                "撤销不当扣费",
            ),
        )
        .await;
        assert_eq!(first.status, Status::Accepted);
        assert!(first.complainant_key.is_some());

        clock.advance(SignedDuration::from_hours(24 * 3));
        let (second, events) = create(
            &app,
            intake(
                "banking",
                "13800138000",
                "某某银行 (北京) 分行",
                "撤销不当扣费",
            ),
        )
        .await;
        let found = received_repeat_of(&events);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].case_id, first.id);
        assert_eq!(found[0].status, Status::Accepted);
        assert_eq!(
            found[0].basis[..2],
            [
                MatchBasis::SameComplainant {
                    identifier: ComplainantIdentifier::Phone
                },
                MatchBasis::SameRespondent
            ]
        );
        assert!(found[0].similar_issue());
        assert_eq!(second.merged_into.as_ref().unwrap().case_id, first.id);
        assert_eq!(second.ruling.flags, [MERGED_FLAG]);
        assert_eq!(second.status, Status::Received, "a merge changes no status");
        let earlier = app
            .get(redress_domain::TenantId::default_tenant(), first.id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(earlier.merged_from.len(), 1);
        assert_eq!(earlier.merged_from[0].case_id, second.id);
        let history = app
            .events(redress_domain::TenantId::default_tenant(), first.id)
            .await
            .unwrap()
            .unwrap();
        let link = history.last().unwrap();
        assert_eq!(
            link.event,
            EventKind::MergedFrom {
                case_id: second.id,
                reason: "可以合并处理".into()
            }
        );
        assert_eq!(link.actor.id, "merging@1.0.0");

        // Another respondent: no candidate, handled on its own.
        let (other, events) = create(
            &app,
            intake("banking", "13800138000", "另一家银行", "撤销不当扣费"),
        )
        .await;
        assert!(received_repeat_of(&events).is_empty());
        assert_eq!(other.status, Status::Accepted);

        // Outside the ruleset's 30-day window: no candidate.
        clock.advance(SignedDuration::from_hours(24 * 40));
        let (late, events) = create(
            &app,
            intake("banking", "13800138000", "某某银行北京分行", "撤销不当扣费"),
        )
        .await;
        assert!(
            received_repeat_of(&events).is_empty(),
            "{:?}",
            received_repeat_of(&events)
        );
        assert_eq!(late.status, Status::Accepted);

        // Neither phone nor identity number: no key, nothing looked up.
        let mut anonymous = intake("banking", "13800138000", "某某银行北京分行", "撤销不当扣费");
        anonymous.complainant.phone = None;
        let (unkeyed, events) = create(&app, anonymous).await;
        assert_eq!(unkeyed.complainant_key, None);
        assert!(received_repeat_of(&events).is_empty());
    }

    #[tokio::test]
    async fn a_merge_into_a_case_the_host_did_not_offer_is_a_rule_failure() {
        let clock = Arc::new(ManualTimeSource::new(
            "2026-03-02T02:00:00Z".parse().unwrap(),
        ));
        let app = app(clock).await;
        let (case, _) = create(
            &app,
            intake("property", "13800138000", "某物业", "电梯故障"),
        )
        .await;
        assert_eq!(case.merged_into, None);
        let manual = case.manual_handling.expect("manual handling");
        assert!(
            manual
                .reason
                .contains("is not one of the case's repeat candidates"),
            "{}",
            manual.reason
        );
    }
}

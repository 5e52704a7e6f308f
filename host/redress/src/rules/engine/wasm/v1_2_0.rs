//! Bindings and host glue for the frozen interface `redress:ruleset@1.2.0`
//! (`plugins/wit/1.2.0/`): 1.1.0 plus the `additions` interface (the repeat candidates and the
//! open pause grounds in, `merge-into` and `end-pause` out).
//!
//! 1.2.0's `types` are 1.0.0's and its `calendar` is 1.1.0's, unchanged (a test below compares
//! the WIT folders), so the bindings map both onto those versions' Rust types (`with`): the
//! case view, settings and 1.0.0 actions are converted by `v1_0_0`'s code and the calendar
//! and logging imports are `v1_1_0`'s. What is this version's own: the additions, their
//! conversions, and the exports (`decider@1.2.0`).

use redress_domain::{
    Case,
    contract::{Action, Decision},
    repeat::{MatchBasis, SimilarBy},
};
use wasmtime::{
    Store,
    component::{Component, Linker},
};

use self::redress::ruleset::additions as add;
use super::{
    Descriptor, PluginState,
    v1_0_0::{self, Input},
    v1_1_0,
};
use crate::rules::{RuleError, manifest::Manifest};

wasmtime::component::bindgen!({
    world: "ruleset",
    path: "../../plugins/wit/1.2.0",
    with: {
        "redress:ruleset/types@1.2.0": super::v1_0_0::redress::ruleset::types,
        "redress:ruleset/calendar@1.2.0": super::v1_1_0::redress::ruleset::calendar,
    },
    additional_derives: [serde::Serialize],
});

/// The interface version these bindings are for.
pub const VERSION: &str = "1.2.0";

/// The interfaces a 1.2.0 component may import; anything else is refused at load.
pub const IMPORTS: &[&str] = &[
    "redress:ruleset/types@1.2.0",
    "redress:ruleset/host@1.2.0",
    "redress:ruleset/calendar@1.2.0",
    "redress:ruleset/additions@1.2.0",
];

/// Defines the interface's imports in `linker`: 1.1.0's, under this version, and the
/// additions (types only).
pub(super) fn add_to_linker(linker: &mut Linker<PluginState>) -> wasmtime::Result<()> {
    v1_1_0::add_imports(linker, VERSION)?;
    linker.instance(&format!("redress:ruleset/additions@{VERSION}"))?;
    Ok(())
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

/// Instantiates the plugin in `store` and asks it to decide on `input` and `additions`: its
/// answer as given.
pub(super) fn decide(
    pre: &RulesetPre<PluginState>,
    store: &mut Store<PluginState>,
    input: &Input,
    additions: &add::CaseAdditions,
) -> wasmtime::Result<Result<add::Decision12, v1_0_0::redress::ruleset::types::DecideError>> {
    pre.instantiate(&mut *store)?
        .redress_ruleset_decider()
        .call_decide(
            store,
            &input.trigger,
            &input.case,
            additions,
            &input.context,
        )
}

/// What 1.2.0 tells a plugin beyond 1.0.0's case view, and the bytes of text in it (for the
/// input cap).
pub(super) fn additions(case: &Case) -> (add::CaseAdditions, usize) {
    let repeat_of: Vec<add::RepeatCandidate> = case
        .repeat_of
        .iter()
        .map(|candidate| add::RepeatCandidate {
            case_id: candidate.case_id.to_string(),
            received_at: candidate.received_at.to_string(),
            status: candidate.status.as_str().to_owned(),
            basis: candidate.basis.iter().map(match_basis).collect(),
        })
        .collect();
    let pauses: Vec<add::ClockPauses> = case
        .clocks
        .iter()
        .filter_map(|(name, clock)| {
            let open = clock.open_pauses();
            (!open.is_empty()).then(|| add::ClockPauses {
                clock: name.clone(),
                open_pauses: open.into_iter().map(str::to_owned).collect(),
            })
        })
        .collect();
    let bytes = pauses
        .iter()
        .flat_map(|p| p.open_pauses.iter())
        .map(String::len)
        .sum::<usize>()
        + repeat_of.len() * 64;
    (add::CaseAdditions { repeat_of, pauses }, bytes)
}

fn match_basis(basis: &MatchBasis) -> add::MatchBasis {
    let none = add::MatchBasis {
        kind: String::new(),
        identifier: None,
        by: None,
        score_permille: None,
    };
    match basis {
        MatchBasis::SameComplainant { identifier } => add::MatchBasis {
            kind: "same_complainant".into(),
            identifier: Some(crate::rules::view::enum_name(identifier).unwrap_or_default()),
            ..none
        },
        MatchBasis::SameRespondent => add::MatchBasis {
            kind: "same_respondent".into(),
            ..none
        },
        MatchBasis::SimilarIssue { by, score_permille } => add::MatchBasis {
            kind: "similar_issue".into(),
            by: Some(
                match by {
                    SimilarBy::Category => "category",
                    SimilarBy::Text => "text",
                }
                .into(),
            ),
            score_permille: *score_permille,
            ..none
        },
    }
}

/// Maps the plugin's answer to a `Decision`: 1.0.0's actions by 1.0.0's conversion, the
/// additions here. The item cap is checked first, as in 1.0.0.
pub(super) fn to_decision(
    decision: add::Decision12,
    manifest: &Manifest,
) -> Result<Decision, RuleError> {
    let items = decision.actions.len() + decision.explanation.len();
    if items > crate::rules::MAX_DECISION_ITEMS {
        return Err(RuleError::InvalidOutput(format!(
            "{items} items; at most {} are accepted",
            crate::rules::MAX_DECISION_ITEMS
        )));
    }
    let mut base = Vec::new();
    let mut positions = Vec::new();
    let mut added = Vec::new();
    for (i, action) in decision.actions.into_iter().enumerate() {
        match action {
            add::Action12::Base(action) => {
                positions.push((i, None));
                base.push(action);
            }
            add::Action12::MergeInto(m) => {
                let case_id = m.case_id.parse().map_err(|_| {
                    RuleError::InvalidOutput(format!(
                        "item {i} (merge_into): `{}` is not a case id",
                        m.case_id.chars().take(64).collect::<String>()
                    ))
                })?;
                positions.push((i, Some(added.len())));
                added.push(Action::MergeInto {
                    case_id,
                    reason: m.reason,
                });
            }
            add::Action12::EndPause(e) => {
                positions.push((i, Some(added.len())));
                added.push(Action::ResumeClock {
                    name: e.clock,
                    pause: Some(e.pause),
                });
            }
        }
    }
    let converted = v1_0_0::to_decision(
        v1_0_0::redress::ruleset::types::Decision {
            actions: base,
            explanation: decision.explanation,
        },
        manifest,
    )?;
    // Back in the plugin's order: the order of actions is part of the decision.
    let mut base = converted.actions.into_iter();
    let mut added = added.into_iter().map(Some).collect::<Vec<_>>();
    let actions = positions
        .into_iter()
        .filter_map(|(_, slot)| match slot {
            None => base.next(),
            Some(k) => added.get_mut(k).and_then(Option::take),
        })
        .collect();
    Ok(Decision {
        actions,
        explanation: converted.explanation,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    /// The block of `interface <name>` of a WIT file, without comments and blank lines.
    fn interface(version: &str, name: &str) -> Vec<String> {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../plugins/wit")
            .join(version)
            .join("ruleset.wit");
        let text = std::fs::read_to_string(path).unwrap();
        let start = text.find(&format!("interface {name} {{")).unwrap();
        let end = start + text[start..].find("\n}\n").unwrap();
        text[start..end]
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with("//"))
            .map(str::to_owned)
            .collect()
    }

    /// 1.2.0 reuses 1.0.0's Rust types and conversions for `types`, and 1.1.0's for `host`
    /// and `calendar`: only sound while those interfaces are the same (they are frozen, so
    /// this holds for good once it holds).
    #[test]
    fn the_shared_interfaces_of_1_2_0_are_the_earlier_versions() {
        let types = interface("1.0.0", "types");
        assert!(types.len() > 100, "{} lines", types.len());
        assert_eq!(interface("1.2.0", "types"), types);
        for name in ["host", "calendar"] {
            assert_eq!(interface("1.2.0", name), interface("1.1.0", name), "{name}");
        }
    }
}

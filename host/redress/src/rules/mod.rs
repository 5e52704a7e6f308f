//! Rulesets: versioned packages of rules that decide what happens to a case.
//!
//! A ruleset is a pure function `decide(trigger, case, context) -> decision` (see
//! `redress_domain::contract`). This module reads packages (`package`, `manifest`), compiles
//! them for a sandboxed Rhai engine (`engine::rhai`) or a WebAssembly host (`engine::wasm`) into a
//! loaded ruleset (`loaded`), keeps the versions side by side and selects one per case
//! (`registry`), keeps the suspended versions across restarts (`suspensions`), turns a
//! decision into events the lifecycle accepts (`apply`), and runs a package's own fixture
//! cases before it may become active (`fixtures`).

pub mod apply;
pub mod artifact_cache;
pub mod dry_run;
pub mod engine;
pub mod extension;
pub mod fixtures;
pub mod kept;
pub mod loaded;
pub mod manifest;
pub mod package;
pub mod registry;
pub mod signing;
pub mod suspensions;
pub mod view;

use jiff::Timestamp;
use redress_calendar::CalendarSet;
use redress_domain::contract::Decision;

pub use loaded::{LoadedRuleset, RulesetState};
pub use registry::Registry;

// The engines' paths before they moved under `engine/`, kept for callers.
pub use engine::{rhai as rhai_engine, wasm};

/// What a ruleset may know besides the case: the time of the decision and its own settings.
#[derive(Debug, Clone, Copy)]
pub struct RuleContext<'a> {
    pub now: Timestamp,
    pub calendars: &'a CalendarSet,
}

/// Why a rule could not decide. Each becomes a recorded rule failure: the case stays as it
/// was and goes to manual handling.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RuleError {
    #[error("{origin}: the rules do not compile: {message}")]
    Compile { origin: String, message: String },
    #[error("{origin}: the fixture case is not valid: {message}")]
    Fixture { origin: String, message: String },
    #[error("the rule stopped at a limit: {0}")]
    Limit(String),
    #[error("the rule failed: {0}")]
    Script(String),
    #[error("the rule returned something that is not a decision: {0}")]
    InvalidOutput(String),
    /// A WebAssembly plugin trapped or could not be run (the reason says which).
    #[error("{0}")]
    Plugin(String),
    /// A plugin returned an error instead of a decision. `message` is the plugin's own words,
    /// which may quote the case: it belongs in the case's rule failure only.
    #[error("the plugin declined to decide ({why}): {message}")]
    Declined { why: &'static str, message: String },
    /// The host had no capacity left for the decision (every pooled plugin instance busy, or
    /// the tenant's share of them); not the rules' fault.
    #[error("the host is at capacity: {0}")]
    Capacity(String),
    /// The ruleset version is suspended (by an operator, or quarantined): it decides nothing
    /// until it is resumed, and its cases go to manual handling. `reason` is the suspension's
    /// own (an operator's words, or the quarantine's, which never quote a case). Not a failure
    /// of the rules, so not counted towards quarantine.
    #[error("the ruleset is suspended: {reason}")]
    Suspended { reason: String },
}

impl RuleError {
    /// What kind of failure this is, in words that never quote the case or the rules' output,
    /// for places that people without access to cases see (a quarantine's reason in
    /// `GET /v1/rulesets`). A `Limit`'s text is the host's own (which limit, where in the
    /// script), so it is kept; every other variant may carry a script's or a plugin's words.
    pub fn kind(&self) -> String {
        match self {
            RuleError::Compile { .. } => "the rules do not compile".into(),
            RuleError::Fixture { .. } => "a fixture case is not valid".into(),
            RuleError::Limit(which) => format!("stopped at a limit: {which}"),
            RuleError::Script(_) => "the rules failed (a script error)".into(),
            RuleError::InvalidOutput(_) => "the rules returned an invalid decision".into(),
            RuleError::Plugin(_) => "the plugin trapped or could not be run".into(),
            RuleError::Declined { why, .. } => format!("the plugin declined to decide ({why})"),
            RuleError::Capacity(_) => "the host was at capacity".into(),
            RuleError::Suspended { .. } => "the ruleset is suspended".into(),
        }
    }
}

/// Actions plus explanation lines in one decision.
pub const MAX_DECISION_ITEMS: usize = 200;
/// Elements of the lists inside a decision's actions (flags, requested fields, escalation
/// contacts), all together: each is stored and applied, whatever its length.
pub const MAX_DECISION_LIST_ITEMS: usize = 1_000;
/// A decision's size as stored (its JSON), which also bounds the text in it.
pub const MAX_DECISION_BYTES: usize = 1 << 20;

/// The caps on what a ruleset's decision may hold, checked once on the `Decision` whichever
/// engine made it, before anything is applied or stored. Counting comes first, so that a
/// decision of a million empty flags is refused without being serialised.
pub fn check_decision(decision: &Decision) -> Result<(), RuleError> {
    use redress_domain::contract::Action;
    let items = decision.actions.len() + decision.explanation.len();
    if items > MAX_DECISION_ITEMS {
        return Err(RuleError::InvalidOutput(format!(
            "{items} items; at most {MAX_DECISION_ITEMS} are accepted"
        )));
    }
    let list_items: usize = decision
        .actions
        .iter()
        .map(|action| match action {
            Action::Classify { flags, .. } => flags.len(),
            Action::RequestInformation { fields, .. } => fields.len(),
            Action::StartClock { clock, .. } => clock.escalation.len() + clock.met_by.len(),
            _ => 0,
        })
        .sum();
    if list_items > MAX_DECISION_LIST_ITEMS {
        return Err(RuleError::InvalidOutput(format!(
            "{list_items} flags, fields and other list entries; at most \
             {MAX_DECISION_LIST_ITEMS} are accepted"
        )));
    }
    let mut counter = ByteCounter(0);
    serde_json::to_writer(&mut counter, decision)
        .map_err(|e| RuleError::InvalidOutput(e.to_string()))?;
    if counter.0 > MAX_DECISION_BYTES {
        return Err(RuleError::InvalidOutput(format!(
            "{} bytes as stored; at most {MAX_DECISION_BYTES} are accepted",
            counter.0
        )));
    }
    Ok(())
}

/// Counts what is written, so that a decision's stored size is known without keeping it.
struct ByteCounter(usize);

impl std::io::Write for ByteCounter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0 = self.0.saturating_add(buf.len());
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use redress_domain::contract::Action;

    use super::*;

    fn classify(flags: Vec<String>) -> Decision {
        Decision {
            actions: vec![Action::Classify {
                category: None,
                severity: None,
                flags,
            }],
            explanation: Vec::new(),
        }
    }

    /// Finding 4 of the sandbox review: 400,000 empty flags (no text at all) passed the text
    /// cap and stored 1.6 MB from a 1.5 KB intake.
    #[test]
    fn a_decision_is_capped_in_entries_and_stored_bytes_not_only_text() {
        let error = check_decision(&classify(vec![String::new(); 400_000])).unwrap_err();
        assert!(
            error.to_string().contains("400000 flags, fields"),
            "{error}"
        );
        // Few entries, but too large as stored.
        let error = check_decision(&classify(vec!["x".repeat(100_000); 20])).unwrap_err();
        assert!(error.to_string().contains("bytes as stored"), "{error}");
        let error = check_decision(&Decision {
            actions: Vec::new(),
            explanation: vec![String::new(); 201],
        })
        .unwrap_err();
        assert!(
            error.to_string().contains("201 items; at most 200"),
            "{error}"
        );
        check_decision(&classify(vec!["repeat".into(); 3])).unwrap();
    }
}

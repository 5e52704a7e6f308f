//! Rulesets: versioned packages of rules that decide what happens to a case.
//!
//! A ruleset is a pure function `decide(trigger, case, context) -> decision` (see
//! `redress_domain::contract`). This module loads packages (`manifest`), runs them in a
//! sandboxed Rhai engine (`rhai_engine`), keeps the versions side by side and selects one per
//! case (`registry`), turns a decision into events the lifecycle accepts (`apply`), and runs a
//! package's own fixture cases before it may become active (`fixtures`).

pub mod apply;
pub mod artifact_cache;
pub mod fixtures;
pub mod manifest;
pub mod registry;
pub mod rhai_engine;
pub mod signing;
pub mod view;
pub mod wasm;

use jiff::Timestamp;
use redress_calendar::CalendarSet;

pub use registry::{LoadedRuleset, Registry, RulesetState};

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
    /// The host had no capacity left for the decision (every pooled plugin instance busy);
    /// not the rules' fault.
    #[error("the host is at capacity: {0}")]
    Capacity(String),
}

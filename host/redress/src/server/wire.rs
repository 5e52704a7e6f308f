//! The API's own request and response shapes (beyond the domain types), with their JSON
//! schemas: what `schemas/openapi.json` documents.

use jiff::Timestamp;
use redress_domain::{
    Case, CaseId, EventRecord, Status, TrackingCode, case::Sector, clock::CaseClock,
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::rules::registry::RulesetSummary;

/// A page of cases, newest first.
#[derive(Debug, Serialize, JsonSchema)]
pub struct CaseList {
    pub items: Vec<Case>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// A case and the events an action just recorded on it (an action that ends a case also stops
/// its clocks, in the same write).
#[derive(Debug, Serialize, JsonSchema)]
pub struct ActionResult {
    pub case: Case,
    pub events: Vec<EventRecord>,
}

/// A clock with what is left of it.
#[derive(Debug, Serialize, JsonSchema)]
pub struct ClockView {
    pub name: String,
    #[serde(flatten)]
    pub clock: CaseClock,
    /// Seconds until `due_at` (negative once past); absent while paused or ended.
    pub remaining_seconds: Option<i64>,
    /// For working-day clocks: whole working days left after today, by the clock's calendar.
    pub remaining_working_days: Option<i64>,
    /// What is left in the clock's own unit: for every clock that still owes something
    /// (running, paused, breached); absent only once it was met or stopped.
    pub remaining: Option<crate::deadlines::RemainingTime>,
}

/// A case's clocks, as of `now`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct ClockList {
    pub case_id: CaseId,
    pub now: Timestamp,
    pub clocks: Vec<ClockView>,
}

/// A case's whole history, oldest first.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Timeline {
    pub case_id: CaseId,
    pub tracking_code: TrackingCode,
    pub events: Vec<EventRecord>,
}

/// Listing filters.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListParams {
    pub status: Option<Status>,
    pub sector: Option<Sector>,
    /// Only cases received at or after this instant (RFC 3339).
    pub received_from: Option<Timestamp>,
    /// Only cases received before this instant (RFC 3339).
    pub received_before: Option<Timestamp>,
    /// Only cases with a running clock due before this instant; listed soonest first.
    pub due_before: Option<Timestamp>,
    /// Only cases with a breached clock.
    pub overdue: Option<bool>,
    /// Only cases with this clock; with `due_before` or `overdue`, only this clock counts.
    pub clock: Option<String>,
    /// Only cases in manual handling (the rules could not decide), newest first.
    pub manual: Option<bool>,
    /// A work queue: the open cases this office has now, overdue first, then soonest due,
    /// then those without a running clock.
    pub office: Option<String>,
    /// A work queue: the open cases assigned to this person, in the same order.
    pub assignee: Option<String>,
    /// From a previous page's `next_cursor`.
    pub cursor: Option<String>,
    /// Page size, 1 to 500 (default 50).
    pub limit: Option<u32>,
}

/// What a complainant sees with the tracking code and secret: where the case stands, the next
/// deadline and the outcome. No personal data, no handlers, no notes.
#[derive(Debug, Serialize, JsonSchema)]
pub struct TrackingView {
    pub tracking_code: TrackingCode,
    pub sector: Sector,
    pub status: Status,
    pub received_at: Timestamp,
    pub updated_at: Timestamp,
    /// The earliest statutory deadline still running.
    pub next_deadline: Option<NextDeadline>,
    pub outcome: Option<OutcomeView>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct NextDeadline {
    /// The clock, e.g. `acceptance`.
    pub clock: String,
    pub due_at: Timestamp,
    /// The provision that sets it.
    pub article: Option<String>,
    /// The due time was computed for a year whose holiday schedule the State Council has not
    /// published yet (statutory holidays only); it will be recomputed when it is.
    pub provisional: bool,
    /// For a provisional due time: what that means, in Chinese and in English.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provisional_note: Option<String>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct OutcomeView {
    pub kind: redress_domain::case::OutcomeKind,
    pub ground: Option<String>,
    pub article: Option<String>,
    pub at: Timestamp,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct TrackPath {
    /// The tracking code given at intake, as typed: any case, hyphens and `RD` optional.
    pub code: String,
}

/// The ruleset versions this tenant can see (its own and the built-in ones).
#[derive(Debug, Serialize, JsonSchema)]
pub struct RulesetList {
    pub items: Vec<RulesetSummary>,
}

/// A ruleset package: `ruleset.toml`, the rules file, and `cases/*.yaml` fixture cases.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DeployRequest {
    /// File path inside the package → content (UTF-8 text): `ruleset.toml`, the rules,
    /// `cases/*.yaml`, a plugin's `signature.toml`.
    pub files: std::collections::BTreeMap<String, String>,
    /// File path → content in base64 (standard alphabet, padded): a plugin's `.wasm`.
    #[serde(default)]
    pub binaries: std::collections::BTreeMap<String, String>,
}

/// Suspending a ruleset version: new cases no longer get it, and cases pinned to it go to
/// manual handling, until it is resumed.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SuspendRequest {
    /// Why, shown in listings and in the rule failure of every case it would have decided.
    pub reason: String,
}

/// A tenant's routing table: offices, rules and a default, as TOML (see `redress routing test`
/// and tests/routing/zhejiang-msa.toml for the format).
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RoutingDocument {
    pub toml: String,
}

/// The plugin-vendor keys a tenant trusts for its own plugins: `[[key]]` entries as
/// `redress plugin keygen` writes them in `<vendor>.public.toml`.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PluginKeysDocument {
    pub toml: String,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct Health {
    pub status: String,
    /// Conditions that do not stop the server from serving but need an operator soon (for
    /// example a calendar whose published schedules end within 60 days).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// Readiness only: cases the rules could not decide, across tenants. Any makes the status
    /// `degraded`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manual_handling: Option<u64>,
    /// Readiness only: running or breached clocks with a provisional due time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provisional_clocks: Option<u64>,
    /// Readiness only, and only when it happened: acknowledged writes the store had lost when
    /// it was opened (`--allow-data-loss`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acknowledged_writes_lost: Option<u64>,
}

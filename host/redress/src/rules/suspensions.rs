//! Suspensions: the ruleset versions taken out of service, by an operator or by the quarantine
//! rule, kept in a file so that they outlast a restart.
//!
//! **Invariant:** a quarantine is written to the file before it is reported, and lasts until an
//! operator resumes the version; its reason names the kind of the last failure
//! (`RuleError::kind`), never the failure's own text.

use std::{
    collections::{BTreeMap, VecDeque},
    path::{Path, PathBuf},
    sync::PoisonError,
};

use redress_domain::contract::RulesetRef;
use serde::Serialize;

use super::package::PackageError;

/// Quarantine: a ruleset version (plugin or Rhai) whose decisions keep failing is suspended
/// until an operator resumes it, when either
/// - its last `QUARANTINE_AFTER_FAILURES` (5) decisions failed, or
/// - at least `QUARANTINE_WINDOW_FAILURES` (10) of its last `QUARANTINE_WINDOW` (20) decisions
///   failed, and they are at least half of the decisions in the window (a ruleset that fails
///   4 cases in 5 never fails 5 in a row, and must not escape).
///
/// Counted are the ruleset's own failures in `decide` (an error, a limit, a timeout, an
/// invalid or oversized decision, a plugin's trap or refusal). Not counted: the host at
/// capacity (`RuleError::Capacity`: every pooled instance or the tenant's share busy), which
/// is not the ruleset's fault, and a decision whose actions the case's lifecycle or calendar
/// refuses afterwards (`rules::apply`), which is an outcome of the data.
pub const QUARANTINE_AFTER_FAILURES: u32 = 5;
/// Decisions in the window of the failure-rate rule; see `QUARANTINE_AFTER_FAILURES`.
pub const QUARANTINE_WINDOW: usize = 20;
/// Failures within the window that quarantine; see `QUARANTINE_AFTER_FAILURES`.
pub const QUARANTINE_WINDOW_FAILURES: usize = 10;

/// A ruleset's recent outcomes, for the quarantine rule.
#[derive(Debug, Default)]
pub(super) struct Outcomes {
    /// The last `QUARANTINE_WINDOW` outcomes, newest last; `true` is a failure.
    recent: VecDeque<bool>,
    in_a_row: u32,
    /// Set once a quarantine has been decided, so that decisions running concurrently with
    /// the one that decided it do not record it again.
    quarantined: bool,
}

impl Outcomes {
    /// Records an outcome; returns why the ruleset is to be quarantined, the first time the
    /// rule says so.
    pub(super) fn record(&mut self, failed: bool) -> Option<String> {
        if self.recent.len() == QUARANTINE_WINDOW {
            self.recent.pop_front();
        }
        self.recent.push_back(failed);
        self.in_a_row = if failed { self.in_a_row + 1 } else { 0 };
        if self.quarantined || !failed {
            return None;
        }
        let failures = self.recent.iter().filter(|f| **f).count();
        let why = if self.in_a_row >= QUARANTINE_AFTER_FAILURES {
            format!("{} failures in a row", self.in_a_row)
        } else if failures >= QUARANTINE_WINDOW_FAILURES && failures * 2 >= self.recent.len() {
            format!(
                "{failures} failures in the last {} decisions",
                self.recent.len()
            )
        } else {
            return None;
        };
        self.quarantined = true;
        Some(why)
    }
}

/// A suspension's key: a tenant's package is written `<tenant>/<id>`, a built-in one by its id
/// alone (as before packages had namespaces, so older files still apply).
fn suspension_key(reference: &RulesetRef) -> (String, String) {
    let id = match &reference.tenant {
        Some(tenant) => format!("{tenant}/{}", reference.id),
        None => reference.id.clone(),
    };
    (id, reference.version.clone())
}

/// The suspended ruleset versions, kept in a file so that a quarantine outlasts a restart
/// until an operator resumes the version.
#[derive(Debug, Default)]
pub struct Suspensions {
    path: Option<PathBuf>,
    entries: std::sync::Mutex<BTreeMap<(String, String), String>>,
}

#[derive(Debug, Serialize, serde::Deserialize)]
struct SuspensionEntry {
    id: String,
    version: String,
    reason: String,
}

impl Suspensions {
    /// Reads `path` (absent: none suspended).
    pub fn load(path: &Path) -> Result<Suspensions, PackageError> {
        let invalid = |e: String| PackageError::Invalid(format!("{}: {e}", path.display()));
        let entries: Vec<SuspensionEntry> = match std::fs::read(path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| invalid(e.to_string()))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(invalid(e.to_string())),
        };
        Ok(Suspensions {
            path: Some(path.to_owned()),
            entries: std::sync::Mutex::new(
                entries
                    .into_iter()
                    .map(|e| ((e.id, e.version), e.reason))
                    .collect(),
            ),
        })
    }

    pub(super) fn reason(&self, reference: &RulesetRef) -> Option<String> {
        self.entries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&suspension_key(reference))
            .cloned()
    }

    /// Records a suspension (`Some(reason)`) or its end (`None`), durably: a temporary file,
    /// synced, renamed over the old one.
    pub(super) fn record(
        &self,
        reference: &RulesetRef,
        reason: Option<&str>,
    ) -> std::io::Result<()> {
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        let key = suspension_key(reference);
        match reason {
            Some(reason) => entries.insert(key, reason.to_owned()),
            None => entries.remove(&key),
        };
        let Some(path) = &self.path else {
            return Ok(());
        };
        let list: Vec<SuspensionEntry> = entries
            .iter()
            .map(|((id, version), reason)| SuspensionEntry {
                id: id.clone(),
                version: version.clone(),
                reason: reason.clone(),
            })
            .collect();
        let bytes = serde_json::to_vec_pretty(&list).map_err(std::io::Error::other)?;
        crate::durable::write_file(path, &bytes, false)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// Finding 3 of the sandbox review: 16 failures in 20 decisions, never 5 in a row, were
    /// never quarantined.
    #[test]
    fn quarantine_looks_at_a_failure_rate_over_a_window() {
        let mut outcomes = Outcomes::default();
        let mut quarantined = None;
        for i in 0..20 {
            // Four failures, one success, over and over.
            if let Some(why) = outcomes.record(i % 5 != 4) {
                quarantined = Some((i, why));
                break;
            }
        }
        let (at, why) = quarantined.unwrap();
        assert_eq!(why, "10 failures in the last 12 decisions");
        assert_eq!(at, 11);
        // Once: the decisions still running do not quarantine again.
        assert_eq!(outcomes.record(true), None);

        let mut outcomes = Outcomes::default();
        let whys: Vec<Option<String>> = (0..5).map(|_| outcomes.record(true)).collect();
        assert_eq!(whys[4].as_deref(), Some("5 failures in a row"));
        // Occasional failures are no reason.
        let mut outcomes = Outcomes::default();
        assert!((0..200).all(|i| outcomes.record(i % 3 == 0).is_none()));
    }
}

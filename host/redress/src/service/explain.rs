//! "Explain this case under that version": the service's side of the dry run
//! (`rules::dry_run`). The case's history is only read; the dry run itself has no store.

use redress_domain::{CaseId, TenantId, contract::RulesetRef};

use super::Redress;
use crate::rules::dry_run::{DryRun, DryRunError, dry_run};

impl Redress {
    /// What ruleset `id` `version` (the tenant's own, else the built-in one) would have
    /// decided at each decision point of case `case_id` of `tenant`, beside what was recorded.
    /// Writes nothing: the events are read once and the dry run works on copies in memory.
    pub async fn explain_under(
        &self,
        tenant: &TenantId,
        case_id: CaseId,
        id: &str,
        version: &str,
    ) -> Result<DryRun, DryRunError> {
        let ruleset = self
            .rules
            .find(&RulesetRef::named(Some(tenant), id, version))
            .or_else(|| self.rules.find(&RulesetRef::named(None, id, version)))
            .ok_or_else(|| DryRunError::NoRuleset {
                id: id.to_owned(),
                version: version.to_owned(),
            })?;
        let events = self
            .events(tenant.clone(), case_id)
            .await
            .map_err(|e| DryRunError::Read(e.to_string()))?
            .ok_or(DryRunError::NoCase)?;
        let case_sector = match events.first().map(|r| &r.event) {
            Some(redress_domain::EventKind::Received { intake, .. }) => intake.sector,
            _ => return Err(DryRunError::NoCase),
        };
        if ruleset.manifest.sector != case_sector {
            return Err(DryRunError::OtherSector {
                id: id.to_owned(),
                version: version.to_owned(),
                ruleset_sector: ruleset.manifest.sector.as_str().to_owned(),
                case_sector: case_sector.as_str().to_owned(),
            });
        }
        let calendars = self.calendars.current();
        let routing = self.routing.get(tenant.as_str());
        // Rules run for up to their time limit each: off the async threads.
        tokio::task::spawn_blocking(move || {
            dry_run(&ruleset, &calendars, routing.as_deref(), &events)
        })
        .await
        .map_err(|e| DryRunError::Read(e.to_string()))?
    }
}

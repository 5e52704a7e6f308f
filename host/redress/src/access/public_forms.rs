//! The public complaint form's setting, per tenant: whether `/complain/<tenant>` is open to
//! anyone (no account, no key) and which sectors it offers. Kept in `<data>/access.json`
//! beside the tenants (`public_forms`, absent from older files), written by
//! `redress tenant public-form`, re-read by a running server like the keys.
//!
//! Why a list beside `tenants` rather than a field of `TenantRecord`: the `default` tenant
//! has no record (it always exists), and it is the one a single-organisation deployment and
//! the demo open their form for.
//!
//! An open-access (development) server reads the same file for this setting only
//! ([`AccessControl::open_access_reading`]); its keys are not checked.

use std::{
    path::Path,
    sync::{PoisonError, RwLock},
};

use jiff::Timestamp;
use redress_domain::{TenantId, case::Sector};
use serde::{Deserialize, Serialize};

use super::{AccessControl, AccessError, AccessFile, modified};

/// One tenant's open public form.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PublicForm {
    pub tenant: TenantId,
    /// The sectors a member of the public may complain in, in the order shown; never empty.
    pub sectors: Vec<Sector>,
    pub enabled_at: Timestamp,
}

impl AccessFile {
    /// Opens `tenant`'s public form for `sectors` (replacing its earlier sectors).
    pub fn enable_public_form(
        &mut self,
        tenant: &TenantId,
        sectors: &[Sector],
        now: Timestamp,
    ) -> Result<&PublicForm, AccessError> {
        if !self.tenant_exists(tenant) {
            return Err(AccessError::Invalid(format!(
                "tenant `{tenant}` does not exist (create it with `redress tenant create {tenant}`)"
            )));
        }
        let mut unique: Vec<Sector> = Vec::new();
        for sector in sectors {
            if !unique.contains(sector) {
                unique.push(*sector);
            }
        }
        if unique.is_empty() {
            return Err(AccessError::Invalid(
                "name at least one sector the form offers (--sector banking ...)".into(),
            ));
        }
        self.public_forms.retain(|form| form.tenant != *tenant);
        self.public_forms.push(PublicForm {
            tenant: tenant.clone(),
            sectors: unique,
            enabled_at: now,
        });
        self.public_forms
            .last()
            .ok_or_else(|| AccessError::Invalid("the form was not recorded".into()))
    }

    /// Closes `tenant`'s public form; whether it was open.
    pub fn disable_public_form(&mut self, tenant: &TenantId) -> bool {
        let before = self.public_forms.len();
        self.public_forms.retain(|form| form.tenant != *tenant);
        self.public_forms.len() != before
    }

    pub fn public_form(&self, tenant: &TenantId) -> Option<&PublicForm> {
        self.public_forms.iter().find(|form| form.tenant == *tenant)
    }
}

impl AccessControl {
    /// A development server (no keys checked) that still reads `path` for the public forms'
    /// setting, so `redress tenant public-form` works on it as on a production server.
    pub fn open_access_reading(path: &Path) -> Result<AccessControl, AccessError> {
        let file = AccessFile::load(path)?;
        Ok(AccessControl {
            path: Some(path.to_owned()),
            open: true,
            current: RwLock::new((file, modified(path))),
        })
    }

    /// The sectors of `tenant`'s public form, if it is open.
    pub fn public_form(&self, tenant: &TenantId) -> Option<Vec<Sector>> {
        self.current
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .0
            .public_form(tenant)
            .map(|form| form.sectors.clone())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_form_opens_for_a_known_tenant_and_old_files_load_without_it() {
        let old = r#"{"format":"redress-access/1","tenants":[],"keys":[]}"#;
        let mut file: AccessFile = serde_json::from_str(old).unwrap();
        assert!(file.public_forms.is_empty());
        assert!(
            !serde_json::to_string(&file)
                .unwrap()
                .contains("public_forms"),
            "an unused setting is not written"
        );
        let now: Timestamp = "2026-12-01T00:00:00Z".parse().unwrap();
        let default = TenantId::default_tenant();
        let unknown = TenantId::from_static("nobody");
        assert!(
            file.enable_public_form(&unknown, &[Sector::Banking], now)
                .is_err()
        );
        assert!(file.enable_public_form(&default, &[], now).is_err());
        file.enable_public_form(
            &default,
            &[Sector::Banking, Sector::Banking, Sector::Property],
            now,
        )
        .unwrap();
        assert_eq!(
            file.public_form(&default).unwrap().sectors,
            [Sector::Banking, Sector::Property]
        );
        let text = serde_json::to_string(&file).unwrap();
        let back: AccessFile = serde_json::from_str(&text).unwrap();
        assert_eq!(back, file);
        assert!(file.disable_public_form(&default));
        assert!(!file.disable_public_form(&default));
        assert!(file.public_form(&default).is_none());
    }
}

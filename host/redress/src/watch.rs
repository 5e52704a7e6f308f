//! The one watcher: every two seconds it looks at the API keys, the package directories and the
//! calendars, and applies what changed without a restart.
//!
//! Invariants:
//! - a change that does not validate is refused with its file and reason, and what is in force
//!   stays (keys, active ruleset versions, calendars);
//! - a package version's content never changes once active: a changed package that keeps its
//!   version is refused by the registry, not installed over the old one;
//! - after a calendar change, the open clocks it moves are recomputed before the next scheduler
//!   pass can fire on the old due times (`revision.rs`).
//!
//! Polling rather than inotify: it works the same on every file system (including the network
//! and container mounts operators keep configuration on) and costs a few `stat`s a second.

use std::{
    path::{Path, PathBuf},
    sync::Arc,
    time::{Duration, SystemTime},
};

use redress_calendar::CalendarSet;

use crate::{app::App, service::Redress};

const INTERVAL: Duration = Duration::from_secs(2);

/// Every file under `dir`, down to `depth` folders, with its modification time: a file added,
/// changed or removed changes the listing.
fn listing(dir: &Path, depth: u32) -> Vec<(PathBuf, Option<SystemTime>)> {
    fn walk(dir: &Path, depth: u32, out: &mut Vec<(PathBuf, Option<SystemTime>)>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.filter_map(Result::ok) {
            let path = entry.path();
            let metadata = entry.metadata().ok();
            if metadata.as_ref().is_some_and(|m| m.is_dir()) {
                if depth > 0 {
                    walk(&path, depth - 1, out);
                }
            } else {
                out.push((path, metadata.and_then(|m| m.modified().ok())));
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, depth, &mut out);
    out.sort();
    out
}

/// Packages are `<dir>/<package>/ruleset.toml` and `<dir>/<package>/cases/*.yaml`; calendars
/// are `<dir>/*.toml` and `<dir>/statutes/*.toml`.
const PACKAGE_DEPTH: u32 = 2;
const CALENDAR_DEPTH: u32 = 1;

/// Starts the watcher on the current runtime.
pub fn spawn(app: App) {
    tokio::spawn(async move {
        let mut packages: Vec<_> = app
            .package_dirs
            .iter()
            .map(|dir| listing(dir, PACKAGE_DEPTH))
            .collect();
        let mut calendars = listing(&app.calendar_dir, CALENDAR_DEPTH);
        loop {
            tokio::time::sleep(INTERVAL).await;
            reload_keys(&app);
            for (dir, seen) in app.package_dirs.iter().zip(packages.iter_mut()) {
                let now = listing(dir, PACKAGE_DEPTH);
                if now != *seen {
                    *seen = now;
                    install_changed(&app.service, dir.clone()).await;
                }
            }
            let now = listing(&app.calendar_dir, CALENDAR_DEPTH);
            if now != calendars {
                calendars = now;
                reload_calendars(&app.service, &app.calendar_dir).await;
            }
        }
    });
}

/// Re-reads the keys when `redress key` changes them, so that a new key works and a revoked
/// one stops working without a restart.
fn reload_keys(app: &App) {
    // An open-access server with a data directory re-reads the file too (its public forms).
    match app.access.reload_if_changed() {
        Ok(true) => tracing::info!("API keys reloaded"),
        Ok(false) => {}
        Err(e) => tracing::error!(error = %e, "API key change refused; the keys in force stay"),
    }
}

/// Installs new package versions dropped into `dir`: each is compiled and its fixtures run
/// before it becomes active.
async fn install_changed(service: &Redress, dir: PathBuf) {
    let (rules, calendars) = (Arc::clone(service.rules()), service.calendars().current());
    let refused = match tokio::task::spawn_blocking(move || rules.install_dir(&dir, &calendars))
        .await
    {
        Ok(refused) => refused,
        Err(e) => {
            tracing::error!(error = %e, "installing changed packages failed; the active versions stay");
            return;
        }
    };
    for (path, error) in refused {
        tracing::error!(package = %path.display(), error = %error, "ruleset change refused; the active versions stay");
    }
}

async fn reload_calendars(service: &Redress, dir: &Path) {
    match CalendarSet::load_dir(dir) {
        Ok(set) => {
            tracing::info!(calendars = ?set.ids().collect::<Vec<_>>(), "calendars reloaded");
            warn_about_horizon(&set);
            service.calendars().replace(set);
            reconcile_calendars(service).await;
        }
        Err(e) => {
            tracing::error!(error = %e, "calendar change refused; the previous calendars stay in force")
        }
    }
}

/// Warns when a calendar's published schedules end soon (the next year's is usually published
/// in November); the server's concern only: a tool computes one answer and says so itself.
pub fn warn_about_horizon(set: &CalendarSet) {
    let today = jiff::Zoned::now().date();
    for warning in set.horizon_warnings(today, crate::CALENDAR_HORIZON_WARNING_DAYS) {
        tracing::warn!("{warning}");
    }
}

/// Recomputes open clocks on calendars that changed, then says how many clocks are still
/// provisional and how many cases wait for a person.
pub async fn reconcile_calendars(service: &Redress) {
    if let Err(e) = service.reconcile_calendars().await {
        tracing::error!(error = %e, "due times could not be recomputed with the calendars in force; the next start or calendar change retries");
    }
    match service.health_counts().await {
        Ok(counts) => {
            if counts.provisional_clocks > 0 {
                tracing::warn!(
                    provisional_clocks = counts.provisional_clocks,
                    "open clocks have provisional due times (a year without a published holiday schedule: statutory holidays only); they are recomputed when the schedule is added"
                );
            }
            if counts.manual_handling > 0 {
                tracing::warn!(
                    manual_handling = counts.manual_handling,
                    "cases are in manual handling: the rules could not decide them"
                );
            }
        }
        Err(e) => tracing::error!(error = %e, "health counts could not be read"),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn a_removed_or_added_file_changes_the_listing() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("statutes")).unwrap();
        std::fs::write(dir.path().join("a.toml"), "x").unwrap();
        std::fs::write(dir.path().join("statutes/s.toml"), "x").unwrap();
        let before = listing(dir.path(), CALENDAR_DEPTH);
        assert_eq!(before.len(), 2);
        std::fs::remove_file(dir.path().join("statutes/s.toml")).unwrap();
        assert_ne!(listing(dir.path(), CALENDAR_DEPTH), before);
        std::fs::write(dir.path().join("b.toml"), "x").unwrap();
        assert_eq!(listing(dir.path(), CALENDAR_DEPTH).len(), 2);
    }
}

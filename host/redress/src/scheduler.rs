//! The background task that fires due clock warnings and breaches.
//!
//! Each pass asks the store for the firings due by "now" (a range scan of the due-index, so the
//! cost grows with what is due, not with the number of open cases) and fires each one exactly
//! once (see `Redress::fire_due`). A pass after a crash or a restart catches up on everything
//! missed while the server was down.

use std::time::Duration;

use crate::service::Redress;

pub const DEFAULT_INTERVAL: Duration = Duration::from_millis(500);

/// Runs scheduler passes every `interval` until the runtime shuts down.
pub fn spawn(app: Redress, interval: Duration) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            match app.fire_due().await {
                Ok(fired) if !fired.is_empty() => {
                    for event in &fired {
                        if let redress_domain::EventKind::Clock { name, change } = &event.event {
                            tracing::info!(case_id = %event.case_id, clock = %name, change = change.name(), "clock fired");
                        }
                    }
                    // More may be due (a full batch): go again at once.
                    continue;
                }
                Ok(_) => {}
                Err(e) => tracing::error!(error = %e, "scheduler pass failed"),
            }
            tokio::time::sleep(interval).await;
        }
    })
}

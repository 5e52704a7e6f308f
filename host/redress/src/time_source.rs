//! Injected time: everything that needs "now" asks a `TimeSource`, so tests and simulations can
//! drive time instead of waiting for it.

use std::{
    fmt::Debug,
    sync::{Mutex, PoisonError},
};

use jiff::{SignedDuration, Timestamp};

pub trait TimeSource: Send + Sync + Debug {
    fn now(&self) -> Timestamp;
}

/// The operating system's clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemTimeSource;

impl TimeSource for SystemTimeSource {
    fn now(&self) -> Timestamp {
        Timestamp::now()
    }
}

/// A clock that only moves when told to.
#[derive(Debug)]
pub struct ManualTimeSource {
    now: Mutex<Timestamp>,
}

impl ManualTimeSource {
    pub fn new(start: Timestamp) -> Self {
        ManualTimeSource {
            now: Mutex::new(start),
        }
    }

    pub fn set(&self, to: Timestamp) {
        *self.now.lock().unwrap_or_else(PoisonError::into_inner) = to;
    }

    pub fn advance(&self, by: SignedDuration) {
        let mut now = self.now.lock().unwrap_or_else(PoisonError::into_inner);
        *now = now.checked_add(by).unwrap_or(*now);
    }
}

impl TimeSource for ManualTimeSource {
    fn now(&self) -> Timestamp {
        *self.now.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A simulated clock read from a file holding one RFC 3339 instant, for end-to-end tests and
/// demonstrations of the scheduler (`redress serve --clock-file`). Whoever writes the file
/// drives time; the file survives a restart, so simulated time does too. Never for production.
#[derive(Debug)]
pub struct FileTimeSource {
    path: std::path::PathBuf,
    last: Mutex<Timestamp>,
}

#[derive(Debug, thiserror::Error)]
#[error("{path}: {reason}")]
pub struct FileTimeSourceError {
    pub path: String,
    pub reason: String,
}

impl FileTimeSource {
    pub fn open(path: &std::path::Path) -> Result<Self, FileTimeSourceError> {
        let now = read_instant(path)?;
        Ok(FileTimeSource {
            path: path.to_owned(),
            last: Mutex::new(now),
        })
    }
}

fn read_instant(path: &std::path::Path) -> Result<Timestamp, FileTimeSourceError> {
    let error = |reason: String| FileTimeSourceError {
        path: path.display().to_string(),
        reason,
    };
    let text = std::fs::read_to_string(path).map_err(|e| error(e.to_string()))?;
    text.trim()
        .parse()
        .map_err(|e| error(format!("`{}` is not an RFC 3339 instant: {e}", text.trim())))
}

impl TimeSource for FileTimeSource {
    fn now(&self) -> Timestamp {
        let mut last = self.last.lock().unwrap_or_else(PoisonError::into_inner);
        match read_instant(&self.path) {
            // Time never runs backwards, even if the file is edited that way.
            Ok(t) if t > *last => *last = t,
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(error = %e, "simulated clock file unreadable; keeping the last instant")
            }
        }
        *last
    }
}

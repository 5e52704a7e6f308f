//! Complainants' self-service: the tracking code and a secret, both given at intake, show the
//! case's status, next deadline and outcome, and nothing else.
//!
//! The secret is not stored: it is an HMAC of the tracking code under a key only this server
//! holds (`<data>/tracking.key`, mode 0600), so it can be shown again when an intake is
//! retried with the same idempotency key, and checked without a lookup. A wrong secret and an
//! unknown code get the same answer, so the endpoint does not confirm that a code exists; and
//! after `MAX_FAILURES` wrong secrets for a code within `WINDOW`, that code answers 429 until
//! the window ends, which caps guessing far below the secret's 64 bits.

use std::{
    collections::HashMap,
    path::Path,
    sync::{Mutex, PoisonError},
    time::{Duration, Instant},
};

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Wrong secrets allowed per tracking code within `WINDOW`.
pub const MAX_FAILURES: u32 = 10;
pub const WINDOW: Duration = Duration::from_secs(600);

/// Counted codes kept at most; beyond it the oldest windows are dropped first.
const MAX_TRACKED_CODES: usize = 100_000;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TrackError {
    #[error("no case with this tracking code and secret")]
    NotFound,
    #[error("too many wrong secrets for this tracking code; try again in {0} s")]
    TooMany(u64),
}

/// The key and the failure counts. The counts use the monotonic clock: they are about request
/// rates, not about a case's statutory time, which is injected.
pub struct Tracking {
    key: [u8; 32],
    failures: Mutex<HashMap<String, (u32, Instant)>>,
}

impl std::fmt::Debug for Tracking {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tracking").finish_non_exhaustive()
    }
}

impl Tracking {
    /// The server's key at `path`, created if missing.
    pub fn open(path: &Path) -> std::io::Result<Tracking> {
        Ok(Self::with_key(crate::secret_key::load_or_create(path)?))
    }

    /// A key for this process only (tests, benchmarks): secrets do not survive a restart.
    pub fn ephemeral() -> std::io::Result<Tracking> {
        Ok(Self::with_key(crate::secret_key::random()?))
    }

    fn with_key(key: [u8; 32]) -> Tracking {
        Tracking {
            key,
            failures: Mutex::new(HashMap::new()),
        }
    }

    fn mac(&self, code: &str) -> Hmac<Sha256> {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.key)
            .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
        mac.update(b"redress-tracking/1\n");
        mac.update(code.as_bytes());
        mac
    }

    /// The secret that goes with a tracking code: 16 hex digits.
    pub fn secret_for(&self, code: &str) -> String {
        hex::encode(&self.mac(code).finalize().into_bytes()[..8])
    }

    /// Checks a presented secret, counting failures per code.
    pub fn check(&self, code: &str, presented: &str) -> Result<(), TrackError> {
        let now = Instant::now();
        let mut failures = self.failures.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((count, since)) = failures.get(code).copied() {
            let elapsed = now.duration_since(since);
            if elapsed >= WINDOW {
                failures.remove(code);
            } else if count >= MAX_FAILURES {
                return Err(TrackError::TooMany((WINDOW - elapsed).as_secs().max(1)));
            }
        }
        let expected = hex::decode(presented.trim()).ok().filter(|b| b.len() == 8);
        let valid = expected.is_some_and(|bytes| {
            // Constant time: `verify_truncated_left` compares the leading bytes.
            self.mac(code).verify_truncated_left(&bytes).is_ok()
        });
        if valid {
            return Ok(());
        }
        if failures.len() >= MAX_TRACKED_CODES {
            failures.retain(|_, (_, since)| now.duration_since(*since) < WINDOW);
        }
        if failures.len() < MAX_TRACKED_CODES {
            failures.entry(code.to_owned()).or_insert((0, now)).0 += 1;
        }
        Err(TrackError::NotFound)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn the_right_secret_opens_wrong_ones_are_counted_and_capped() {
        let tracking = Tracking::ephemeral().unwrap();
        let secret = tracking.secret_for("K7M2Q9X4T1");
        assert_eq!(secret.len(), 16);
        assert_eq!(secret, tracking.secret_for("K7M2Q9X4T1"), "stable");
        assert_ne!(secret, tracking.secret_for("K7M2Q9X4T2"));
        assert_eq!(tracking.check("K7M2Q9X4T1", &secret), Ok(()));
        for wrong in ["", "zz", "0000000000000000", &secret[..15]] {
            assert_eq!(
                tracking.check("K7M2Q9X4T1", wrong),
                Err(TrackError::NotFound)
            );
        }
        for _ in 4..MAX_FAILURES {
            let _ = tracking.check("K7M2Q9X4T1", "0000000000000000");
        }
        assert!(matches!(
            tracking.check("K7M2Q9X4T1", &secret),
            Err(TrackError::TooMany(_))
        ));
        // Another code is not affected; another server's secrets do not open this one.
        let other = tracking.secret_for("AAAAAAAAAA");
        assert_eq!(tracking.check("AAAAAAAAAA", &other), Ok(()));
        let elsewhere = Tracking::ephemeral().unwrap();
        assert_eq!(
            elsewhere.check("AAAAAAAAAA", &other),
            Err(TrackError::NotFound)
        );
    }
}

//! Sessions kept on disk (`<data>/sessions`, a sled database of its own), so that a restart or
//! an upgrade does not sign everyone out.
//!
//! Invariants:
//! - the cookie's value is never stored: a session is keyed by the SHA-256 of its id, so a copy
//!   of the directory gives no one a usable cookie;
//! - the expiry rules are [`Session::expired`]'s, the same as in memory; ended sessions are
//!   removed when seen and swept at opening and when the store grows past its bound;
//! - `last_seen` is written at most once a minute per session: the idle timeout is thirty
//!   minutes, so a minute's imprecision is harmless, and page views do not each cost a write.
//!
//! A store shared by several nodes (PostgreSQL) will implement the same [`SessionStore`].

use std::path::Path;

use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::sessions::{Session, SessionError, SessionStore, random_token};

/// Beyond this many stored sessions, ended ones are swept before a new one is added.
const SWEEP_ABOVE: usize = 100_000;
/// How stale `last_seen` may be on disk.
const TOUCH_GRANULARITY: SignedDuration = SignedDuration::from_mins(1);

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Stored {
    username: String,
    csrf: String,
    password_stamp: Timestamp,
    created_at: Timestamp,
    last_seen: Timestamp,
}

/// Sessions in a sled database of their own.
#[derive(Debug)]
pub struct SledSessions {
    db: sled::Db,
}

fn key(id: &str) -> [u8; 32] {
    Sha256::digest(id.as_bytes()).into()
}

impl SledSessions {
    /// Opens (or creates) the sessions database at `dir` and sweeps the sessions that ended
    /// while the server was down.
    pub fn open(dir: &Path, now: Timestamp) -> Result<SledSessions, SessionError> {
        let db = sled::open(dir)
            .map_err(|e| SessionError(format!("cannot open {}: {e}", dir.display())))?;
        let sessions = SledSessions { db };
        sessions.sweep(now);
        Ok(sessions)
    }

    pub fn len(&self) -> usize {
        self.db.len()
    }

    pub fn is_empty(&self) -> bool {
        self.db.is_empty()
    }

    /// Removes every ended (or unreadable) session.
    fn sweep(&self, now: Timestamp) {
        for (key, value) in self.db.iter().flatten() {
            let ended = serde_json::from_slice::<Stored>(&value)
                .map(|stored| session("", stored).expired(now))
                .unwrap_or(true);
            if ended {
                let _ = self.db.remove(key);
            }
        }
    }

    fn write(&self, id: &str, stored: &Stored) -> Result<(), SessionError> {
        let value = serde_json::to_vec(stored)
            .map_err(|e| SessionError(format!("cannot encode a session: {e}")))?;
        self.db
            .insert(key(id), value)
            .map_err(|e| SessionError(format!("cannot store a session: {e}")))?;
        Ok(())
    }
}

fn session(id: &str, stored: Stored) -> Session {
    Session {
        id: id.to_owned(),
        username: stored.username,
        csrf: stored.csrf,
        password_stamp: stored.password_stamp,
        created_at: stored.created_at,
        last_seen: stored.last_seen,
    }
}

impl SessionStore for SledSessions {
    fn create(
        &self,
        username: &str,
        password_stamp: Timestamp,
        now: Timestamp,
    ) -> Result<Session, SessionError> {
        if self.db.len() >= SWEEP_ABOVE {
            self.sweep(now);
        }
        let id = random_token()?;
        let stored = Stored {
            username: username.to_owned(),
            csrf: random_token()?,
            password_stamp,
            created_at: now,
            last_seen: now,
        };
        self.write(&id, &stored)?;
        // A session is worth nothing if the next request cannot find it after a crash.
        self.db
            .flush()
            .map_err(|e| SessionError(format!("cannot store a session: {e}")))?;
        Ok(session(&id, stored))
    }

    fn touch(&self, id: &str, now: Timestamp) -> Option<Session> {
        let value = self.db.get(key(id)).ok()??;
        let Ok(mut stored) = serde_json::from_slice::<Stored>(&value) else {
            self.remove(id);
            return None;
        };
        if session(id, stored.clone()).expired(now) {
            self.remove(id);
            return None;
        }
        let stale = stored
            .last_seen
            .saturating_add(TOUCH_GRANULARITY)
            .is_ok_and(|fresh_until| now >= fresh_until);
        if stale {
            stored.last_seen = now;
            // Failing to record the visit only shortens the session; the page still answers.
            if let Err(error) = self.write(id, &stored) {
                tracing::warn!(%error, "session's last use not recorded");
            }
        }
        Some(session(id, stored))
    }

    fn remove(&self, id: &str) {
        if let Err(error) = self.db.remove(key(id)).and_then(|_| self.db.flush()) {
            tracing::warn!(%error, "ended session not removed from disk");
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn at(text: &str) -> Timestamp {
        text.parse().unwrap()
    }

    #[test]
    fn a_session_outlives_a_reopening_and_ends_by_the_same_rules() {
        let dir = tempfile::tempdir().unwrap();
        let start = at("2026-12-01T08:00:00Z");
        let (kept, signed_out, idle) = {
            let store = SledSessions::open(dir.path(), start).unwrap();
            let kept = store.create("li.si", start, start).unwrap();
            let signed_out = store.create("li.si", start, start).unwrap();
            store.remove(&signed_out.id);
            let idle = store.create("wang.wu", start, start).unwrap();
            (kept, signed_out, idle)
        };
        {
            let later = at("2026-12-01T08:20:00Z");
            let store = SledSessions::open(dir.path(), later).unwrap();
            let again = store
                .touch(&kept.id, later)
                .expect("kept across the reopening");
            assert_eq!(again.username, "li.si");
            assert_eq!(again.csrf, kept.csrf, "the forms of open pages still work");
            assert!(store.touch(&signed_out.id, later).is_none());
        }

        // Used at 08:20, `kept` lives to 08:50; `idle`, never used since 08:00, ended at 08:30.
        let store = SledSessions::open(dir.path(), at("2026-12-01T08:40:00Z")).unwrap();
        assert_eq!(store.len(), 1, "the idle session was swept at opening");
        assert!(store.touch(&idle.id, at("2026-12-01T08:40:00Z")).is_none());
        assert!(store.touch(&kept.id, at("2026-12-01T08:49:00Z")).is_some());
        assert!(store.touch(&kept.id, at("2026-12-01T20:00:00Z")).is_none());
        assert!(store.is_empty());
    }

    #[test]
    fn the_cookie_value_is_not_on_disk() {
        let dir = tempfile::tempdir().unwrap();
        let now = at("2026-12-01T08:00:00Z");
        let store = SledSessions::open(dir.path(), now).unwrap();
        let session = store.create("li.si", now, now).unwrap();
        let keys: Vec<Vec<u8>> = store
            .db
            .iter()
            .keys()
            .map(|k| k.unwrap().to_vec())
            .collect();
        assert_eq!(keys, [key(&session.id).to_vec()]);
        assert_ne!(keys[0], session.id.as_bytes());
    }
}

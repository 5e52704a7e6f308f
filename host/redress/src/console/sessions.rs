//! Server-side sessions: the browser holds only a random 256-bit id in the cookie
//! `redress_session`; who it is, when it began, when it was last used and its CSRF token are
//! kept here.
//!
//! Invariants:
//! - a session ends 30 minutes after its last request (idle) and 12 hours after it began
//!   (absolute), whichever comes first; an ended session is removed when next seen;
//! - each session has its own CSRF token, compared in constant time ([`same_token`]) with the
//!   hidden field `csrf` of every POST;
//! - signing out removes the session from the store, so the cookie is worthless afterwards
//!   even if someone kept a copy;
//! - the cookie is HttpOnly, SameSite=Strict, Path=/, and Secure when the request came over
//!   HTTPS (see `Console::secure`).

use std::{
    collections::HashMap,
    sync::{Mutex, PoisonError},
};

use jiff::{SignedDuration, Timestamp};

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "redress_session";
/// The sign-in form's own token (before there is a session), compared with its hidden field.
pub const SIGN_IN_COOKIE: &str = "redress_sign_in";
/// A session ends this long after its last request.
pub const IDLE_TIMEOUT: SignedDuration = SignedDuration::from_mins(30);
/// A session ends this long after it began, however busy.
pub const ABSOLUTE_TIMEOUT: SignedDuration = SignedDuration::from_hours(12);
/// At most this many sessions are kept; beyond it, ended ones are dropped, then the oldest.
const MAX_SESSIONS: usize = 100_000;

/// One signed-in browser.
#[derive(Clone, PartialEq, Eq)]
pub struct Session {
    /// The cookie's value: 32 random bytes in hex.
    pub id: String,
    pub username: String,
    /// The hidden field `csrf` every POST of this session must carry: 32 random bytes in hex.
    pub csrf: String,
    /// The account's `password_changed_at` when the session began: a session whose account
    /// has had its password changed (or reset) since no longer admits anyone. Compared for
    /// equality, not with the session's own times, so it holds whatever clock the server runs
    /// on (a simulated one included) and whatever clock the CLI that changed it ran on.
    pub password_stamp: Timestamp,
    pub created_at: Timestamp,
    pub last_seen: Timestamp,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("username", &self.username)
            .field("created_at", &self.created_at)
            .field("last_seen", &self.last_seen)
            .finish_non_exhaustive()
    }
}

impl Session {
    /// Whether the session has ended at `now`.
    pub fn expired(&self, now: Timestamp) -> bool {
        let idle_end = self.last_seen.saturating_add(IDLE_TIMEOUT);
        let absolute_end = self.created_at.saturating_add(ABSOLUTE_TIMEOUT);
        match (idle_end, absolute_end) {
            (Ok(idle), Ok(absolute)) => now >= idle || now >= absolute,
            _ => true,
        }
    }
}

/// 32 random bytes from the operating system, in hex (64 characters).
pub fn random_token() -> Result<String, SessionError> {
    use rand::TryRngCore;
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng
        .try_fill_bytes(&mut bytes)
        .map_err(|e| SessionError(format!("no randomness from the system: {e}")))?;
    Ok(hex::encode(bytes))
}

/// Compares two tokens in time that does not depend on where they differ.
pub fn same_token(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() || a.is_empty() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct SessionError(pub String);

/// Where sessions are kept: on disk with a data directory (`sled_sessions.rs`), in memory
/// without one (tests, an in-memory application); a store shared by several nodes
/// (PostgreSQL) later, behind this trait.
pub trait SessionStore: Send + Sync + std::fmt::Debug {
    /// Begins a session for `username`, whose password was last changed at `password_stamp`.
    fn create(
        &self,
        username: &str,
        password_stamp: Timestamp,
        now: Timestamp,
    ) -> Result<Session, SessionError>;
    /// The session with this id, if it has not ended; marks it used at `now`.
    fn touch(&self, id: &str, now: Timestamp) -> Option<Session>;
    /// Ends a session.
    fn remove(&self, id: &str);
}

/// Sessions in this process's memory: a restart signs everyone out.
#[derive(Debug, Default)]
pub struct MemorySessions {
    sessions: Mutex<HashMap<String, Session>>,
}

impl MemorySessions {
    pub fn new() -> MemorySessions {
        MemorySessions::default()
    }

    pub fn len(&self) -> usize {
        self.sessions
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl SessionStore for MemorySessions {
    fn create(
        &self,
        username: &str,
        password_stamp: Timestamp,
        now: Timestamp,
    ) -> Result<Session, SessionError> {
        let session = Session {
            id: random_token()?,
            username: username.to_owned(),
            csrf: random_token()?,
            password_stamp,
            created_at: now,
            last_seen: now,
        };
        let mut sessions = self.sessions.lock().unwrap_or_else(PoisonError::into_inner);
        if sessions.len() >= MAX_SESSIONS {
            sessions.retain(|_, s| !s.expired(now));
        }
        if sessions.len() >= MAX_SESSIONS {
            let mut by_age: Vec<(Timestamp, String)> = sessions
                .values()
                .map(|s| (s.last_seen, s.id.clone()))
                .collect();
            by_age.sort();
            for (_, id) in by_age.into_iter().take(MAX_SESSIONS / 10) {
                sessions.remove(&id);
            }
        }
        sessions.insert(session.id.clone(), session.clone());
        Ok(session)
    }

    fn touch(&self, id: &str, now: Timestamp) -> Option<Session> {
        let mut sessions = self.sessions.lock().unwrap_or_else(PoisonError::into_inner);
        let session = sessions.get_mut(id)?;
        if session.expired(now) {
            sessions.remove(id);
            return None;
        }
        session.last_seen = session.last_seen.max(now);
        Some(session.clone())
    }

    fn remove(&self, id: &str) {
        self.sessions
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(id);
    }
}

/// The `Set-Cookie` value for a cookie of the console: HttpOnly, SameSite=Strict, Path=/,
/// Secure when asked; no Max-Age (the server decides when a session ends).
pub fn set_cookie(name: &str, value: &str, secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    format!("{name}={value}; Path=/; HttpOnly; SameSite=Strict{secure}")
}

/// The `Set-Cookie` value that removes a cookie.
pub fn clear_cookie(name: &str, secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    format!("{name}=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict{secure}")
}

/// The value of cookie `name` in the request's `Cookie` headers (the first one sent).
pub fn cookie<'a>(headers: &'a axum::http::HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| key.trim() == name)
        .map(|(_, value)| value.trim().trim_matches('"'))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use axum::http::{HeaderMap, HeaderValue, header};

    fn at(text: &str) -> Timestamp {
        text.parse().unwrap()
    }

    #[test]
    fn a_session_ends_after_thirty_idle_minutes_or_twelve_hours() {
        let store = MemorySessions::new();
        let start = at("2026-12-01T08:00:00Z");
        let session = store.create("li.si", start, start).unwrap();
        assert_eq!(session.id.len(), 64);
        assert_ne!(session.id, session.csrf);
        // Used every 29 minutes, it lives until the twelfth hour.
        let mut now = start;
        for _ in 0..24 {
            now = now.saturating_add(SignedDuration::from_mins(29)).unwrap();
            assert!(store.touch(&session.id, now).is_some(), "{now}");
        }
        let twelve = at("2026-12-01T20:00:00Z");
        assert!(store.touch(&session.id, twelve).is_none());
        assert!(store.is_empty(), "an ended session is removed");

        let idle = store.create("li.si", start, start).unwrap();
        assert!(store.touch(&idle.id, at("2026-12-01T08:29:59Z")).is_some());
        assert!(store.touch(&idle.id, at("2026-12-01T08:59:59Z")).is_none());

        let out = store.create("li.si", start, start).unwrap();
        store.remove(&out.id);
        assert!(store.touch(&out.id, start).is_none(), "signed out");
        assert!(store.touch("", start).is_none());
    }

    #[test]
    fn tokens_are_compared_whole() {
        let token = random_token().unwrap();
        assert!(same_token(&token, &token.clone()));
        assert!(!same_token(&token, &token[..63]));
        let last = if token.ends_with('0') { "1" } else { "0" };
        assert!(!same_token(&token, &format!("{}{last}", &token[..63])));
        assert!(!same_token("", ""), "an empty token never matches");
        assert!(!same_token(&token, &random_token().unwrap()));
    }

    #[test]
    fn cookies_are_read_from_every_cookie_header_and_written_strict() {
        let mut headers = HeaderMap::new();
        headers.append(
            header::COOKIE,
            HeaderValue::from_static("a=1; redress_lang=en"),
        );
        headers.append(
            header::COOKIE,
            HeaderValue::from_static("redress_session=abc; other=2"),
        );
        assert_eq!(cookie(&headers, "redress_session"), Some("abc"));
        assert_eq!(cookie(&headers, "redress_lang"), Some("en"));
        assert_eq!(cookie(&headers, "missing"), None);
        assert_eq!(
            set_cookie(SESSION_COOKIE, "abc", true),
            "redress_session=abc; Path=/; HttpOnly; SameSite=Strict; Secure"
        );
        assert!(clear_cookie(SESSION_COOKIE, false).contains("Max-Age=0"));
    }
}

//! Complainants' self-service: the tracking code and a secret, both given at intake, show the
//! case's status, next deadline and outcome, and nothing else.
//!
//! The secret is not stored: it is an HMAC of the tracking code under a key only this server
//! holds (`<data>/tracking.key`, mode 0600), so it can be shown again when an intake is
//! retried with the same idempotency key, and checked without a lookup. A wrong secret and an
//! unknown code get the same answer, so the endpoint does not confirm that a code exists.
//!
//! Guessing is limited per client and per code (the rule, also in README.md and
//! ARCHITECTURE.md):
//! - A *client* is the peer address of the connection (IPv4 address; IPv6 by /64, which one
//!   subscriber usually holds whole). Every wrong secret counts against it; once it has
//!   `CLIENT_MAX_FAILURES` within `WINDOW` (counted from its first), every tracking request from
//!   it answers 429 until that window ends, whichever code it asks about. This is what cuts off
//!   guessing across many codes.
//! - A *code* with `CODE_UNDER_ATTACK_AFTER` wrong secrets within `WINDOW`, from any clients, is
//!   under attack for the rest of that window: each further wrong secret on it counts
//!   `UNDER_ATTACK_WEIGHT` against the client that sent it. The code itself is never locked:
//!   a correct secret always opens the view unless the client presenting it is blocked, so
//!   nobody can lock a complainant out by knowing their code.
//! - The counts are bounded in memory. When a table is full, expired windows go first, then the
//!   oldest tenth of the entries that are neither a blocked client nor a code under attack; those
//!   are never forgotten before their window ends. When the client table holds nothing but
//!   blocked clients, a client it does not know is refused (429) without its secret being
//!   checked, and a code the code table cannot hold counts as under attack: full tables fail
//!   closed, never open.
//!
//! Behind a reverse proxy every request comes from the proxy's address, which then is one client
//! for all complainants; such a deployment should rate-limit tracking at the proxy.

use std::{
    collections::HashMap,
    hash::Hash,
    net::IpAddr,
    path::Path,
    sync::{Mutex, PoisonError},
    time::{Duration, Instant},
};

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Wrong secrets a client may send within `WINDOW`, over all codes.
pub const CLIENT_MAX_FAILURES: u32 = 10;
/// Wrong secrets on one code within `WINDOW`, from anyone, after which it is under attack.
pub const CODE_UNDER_ATTACK_AFTER: u32 = 10;
/// What a wrong secret on a code under attack counts against its client.
pub const UNDER_ATTACK_WEIGHT: u32 = 5;
pub const WINDOW: Duration = Duration::from_secs(600);

/// Clients and codes counted at most (each entry is well under 100 bytes).
const MAX_CLIENTS: usize = 100_000;
const MAX_CODES: usize = 100_000;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TrackError {
    #[error("no case with this tracking code and secret")]
    NotFound,
    #[error("too many wrong tracking secrets from this address; try again in {0} s")]
    TooMany(u64),
}

/// Who is counted: an IPv4 address, or the /64 an IPv6 address is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Client {
    V4([u8; 4]),
    V6Prefix([u8; 8]),
}

impl From<IpAddr> for Client {
    fn from(address: IpAddr) -> Client {
        match address {
            IpAddr::V4(v4) => Client::V4(v4.octets()),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => Client::V4(v4.octets()),
                None => {
                    let mut prefix = [0u8; 8];
                    prefix.copy_from_slice(&v6.octets()[..8]);
                    Client::V6Prefix(prefix)
                }
            },
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Window {
    count: u32,
    since: Instant,
}

impl Window {
    fn expired(&self, now: Instant) -> bool {
        now.saturating_duration_since(self.since) >= WINDOW
    }

    fn retry_after(&self, now: Instant) -> u64 {
        WINDOW
            .saturating_sub(now.saturating_duration_since(self.since))
            .as_secs()
            .max(1)
    }
}

/// Failure counts per key, at most `capacity` of them; an entry at `pinned` or more is never
/// evicted before its window ends.
#[derive(Debug)]
struct Counts<K> {
    entries: HashMap<K, Window>,
    capacity: usize,
    pinned: u32,
}

impl<K: Hash + Eq + Clone> Counts<K> {
    fn new(capacity: usize, pinned: u32) -> Self {
        Counts {
            entries: HashMap::new(),
            capacity: capacity.max(1),
            pinned,
        }
    }

    /// The key's window, if it is still open.
    fn current(&mut self, key: &K, now: Instant) -> Option<Window> {
        match self.entries.get(key).copied() {
            Some(window) if window.expired(now) => {
                self.entries.remove(key);
                None
            }
            other => other,
        }
    }

    /// Whether a failure for `key` can be counted: it has an entry, or one can be made.
    fn admits(&mut self, key: &K, now: Instant) -> bool {
        if self.entries.contains_key(key) || self.entries.len() < self.capacity {
            return true;
        }
        self.make_room(now);
        self.entries.len() < self.capacity
    }

    /// Drops expired windows, then the oldest tenth of the unpinned ones. Evicting a batch
    /// keeps the cost per insertion constant while the table stays full.
    fn make_room(&mut self, now: Instant) {
        self.entries.retain(|_, window| !window.expired(now));
        if self.entries.len() < self.capacity {
            return;
        }
        let mut evictable: Vec<(Instant, K)> = self
            .entries
            .iter()
            .filter(|(_, window)| window.count < self.pinned)
            .map(|(key, window)| (window.since, key.clone()))
            .collect();
        let batch = (self.capacity / 10).max(1).min(evictable.len());
        if batch == 0 {
            return;
        }
        evictable.select_nth_unstable_by_key(batch - 1, |(since, _)| *since);
        for (_, key) in &evictable[..batch] {
            self.entries.remove(key);
        }
    }

    /// Adds `weight` to the key's count (the caller checked `admits`); returns the new count.
    fn add(&mut self, key: &K, weight: u32, now: Instant) -> u32 {
        let window = self.entries.entry(key.clone()).or_insert(Window {
            count: 0,
            since: now,
        });
        window.count = window.count.saturating_add(weight);
        window.count
    }
}

#[derive(Debug)]
struct Limits {
    clients: Counts<Client>,
    codes: Counts<String>,
}

/// The key and the failure counts. The counts use the monotonic clock: they are about request
/// rates, not about a case's statutory time, which is injected.
pub struct Tracking {
    key: [u8; 32],
    limits: Mutex<Limits>,
}

impl std::fmt::Debug for Tracking {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tracking").finish_non_exhaustive()
    }
}

impl Tracking {
    /// The server's key at `path`, created if missing.
    pub fn open(path: &Path) -> std::io::Result<Tracking> {
        Ok(Self::with_key(
            crate::secret_key::load_or_create(path)?,
            MAX_CLIENTS,
            MAX_CODES,
        ))
    }

    /// A key for this process only (tests, benchmarks): secrets do not survive a restart.
    pub fn ephemeral() -> std::io::Result<Tracking> {
        Ok(Self::with_key(
            crate::secret_key::random()?,
            MAX_CLIENTS,
            MAX_CODES,
        ))
    }

    fn with_key(key: [u8; 32], clients: usize, codes: usize) -> Tracking {
        Tracking {
            key,
            limits: Mutex::new(Limits {
                clients: Counts::new(clients, CLIENT_MAX_FAILURES),
                codes: Counts::new(codes, CODE_UNDER_ATTACK_AFTER),
            }),
        }
    }

    fn mac(&self, code: &str) -> Hmac<Sha256> {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.key)
            .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
        mac.update(b"redress-tracking/1\n");
        mac.update(code.as_bytes());
        mac
    }

    /// A key for another purpose (the public form's CSRF tokens), derived from this server's
    /// key with the purpose's name: one persisted secret, and no output of one purpose says
    /// anything about another's.
    pub fn derived_key(&self, purpose: &str) -> [u8; 32] {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.key)
            .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
        mac.update(b"redress-derived-key/1\n");
        mac.update(purpose.as_bytes());
        mac.finalize().into_bytes().into()
    }

    /// The secret that goes with a tracking code: 16 hex digits.
    pub fn secret_for(&self, code: &str) -> String {
        hex::encode(&self.mac(code).finalize().into_bytes()[..8])
    }

    /// Checks a secret presented by `client` (the connection's peer address), counting wrong
    /// ones per client and per code (see the module documentation for the rule).
    pub fn check(&self, client: IpAddr, code: &str, presented: &str) -> Result<(), TrackError> {
        self.check_at(Client::from(client), code, presented, Instant::now())
    }

    fn check_at(
        &self,
        client: Client,
        code: &str,
        presented: &str,
        now: Instant,
    ) -> Result<(), TrackError> {
        let mut limits = self.limits.lock().unwrap_or_else(PoisonError::into_inner);
        let seen = limits.clients.current(&client, now);
        if let Some(window) = seen
            && window.count >= CLIENT_MAX_FAILURES
        {
            return Err(TrackError::TooMany(window.retry_after(now)));
        }
        // A client that could not be counted is not let through uncounted.
        if seen.is_none() && !limits.clients.admits(&client, now) {
            return Err(TrackError::TooMany(WINDOW.as_secs()));
        }
        let expected = hex::decode(presented.trim()).ok().filter(|b| b.len() == 8);
        let valid = expected.is_some_and(|bytes| {
            // Constant time: `verify_truncated_left` compares the leading bytes.
            self.mac(code).verify_truncated_left(&bytes).is_ok()
        });
        if valid {
            return Ok(());
        }
        let code = code.to_owned();
        let under_attack = if limits.codes.admits(&code, now) {
            let before = limits.codes.current(&code, now).map_or(0, |w| w.count);
            limits.codes.add(&code, 1, now);
            before >= CODE_UNDER_ATTACK_AFTER
        } else {
            true
        };
        let weight = if under_attack { UNDER_ATTACK_WEIGHT } else { 1 };
        limits.clients.add(&client, weight, now);
        Err(TrackError::NotFound)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn client(n: u32) -> Client {
        Client::from(IpAddr::from(std::net::Ipv4Addr::from(0x0a00_0000 + n)))
    }

    const WRONG: &str = "0000000000000000";

    #[test]
    fn the_right_secret_opens_wrong_ones_are_counted_per_client() {
        let tracking = Tracking::ephemeral().unwrap();
        let now = Instant::now();
        let secret = tracking.secret_for("K7M2Q9X4T1");
        assert_eq!(secret.len(), 16);
        assert_eq!(secret, tracking.secret_for("K7M2Q9X4T1"), "stable");
        assert_ne!(secret, tracking.secret_for("K7M2Q9X4T2"));
        let check = |c: u32, code: &str, s: &str| tracking.check_at(client(c), code, s, now);
        assert_eq!(check(1, "K7M2Q9X4T1", &secret), Ok(()));
        for wrong in ["", "zz", WRONG, &secret[..15]] {
            assert_eq!(check(1, "K7M2Q9X4T1", wrong), Err(TrackError::NotFound));
        }
        // Across codes: the client is cut off, whatever it asks about.
        for n in 4..CLIENT_MAX_FAILURES {
            let _ = check(1, &format!("CODE{n}"), WRONG);
        }
        assert!(matches!(
            check(1, "K7M2Q9X4T1", &secret),
            Err(TrackError::TooMany(_))
        ));
        // ... until its window ends.
        let later = now + WINDOW;
        assert_eq!(
            tracking.check_at(client(1), "K7M2Q9X4T1", &secret, later),
            Ok(())
        );
        // Another server's secrets do not open this one.
        let elsewhere = Tracking::ephemeral().unwrap();
        assert_eq!(
            elsewhere.check_at(client(2), "K7M2Q9X4T1", &secret, now),
            Err(TrackError::NotFound)
        );
        // IPv6 counts by /64; an IPv4-mapped address is its IPv4 address.
        let v6 = |s: &str| Client::from(s.parse::<IpAddr>().unwrap());
        assert_eq!(v6("2001:db8:1:2::1"), v6("2001:db8:1:2:ffff::9"));
        assert_ne!(v6("2001:db8:1:2::1"), v6("2001:db8:1:3::1"));
        assert_eq!(v6("::ffff:10.0.0.1"), client(1));
    }

    /// Security review: anyone who knew a code could lock its complainant out for 10 minutes.
    /// Now wrong guesses from other clients only make guessing on that code dearer.
    #[test]
    fn tracking_wrong_guesses_on_a_code_do_not_lock_out_its_complainant() {
        let tracking = Tracking::ephemeral().unwrap();
        let now = Instant::now();
        let code = "K7M2Q9X4T1";
        let secret = tracking.secret_for(code);
        // Many clients, two wrong guesses each: the code comes under attack.
        for n in 0..50 {
            for _ in 0..2 {
                let _ = tracking.check_at(client(100 + n), code, WRONG, now);
            }
        }
        assert_eq!(tracking.check_at(client(1), code, &secret, now), Ok(()));
        // On a code under attack a wrong guess weighs `UNDER_ATTACK_WEIGHT`: two cut a fresh
        // client off, while a guess elsewhere counts one.
        for _ in 0..CLIENT_MAX_FAILURES.div_ceil(UNDER_ATTACK_WEIGHT) {
            let _ = tracking.check_at(client(2), code, WRONG, now);
        }
        assert!(matches!(
            tracking.check_at(client(2), code, &secret, now),
            Err(TrackError::TooMany(_))
        ));
        let _ = tracking.check_at(client(3), "OTHERCODE1", WRONG, now);
        assert_eq!(tracking.check_at(client(3), code, &secret, now), Ok(()));
    }

    /// Security review: the per-code limit stopped working when its table filled (100,000
    /// wrong guesses on random codes). Now a full table evicts only entries that limit nothing,
    /// and fails closed when there are none.
    #[test]
    fn tracking_limit_keeps_working_when_its_table_is_full() {
        let tracking = Tracking::ephemeral().unwrap();
        let now = Instant::now();
        let code = "K7M2Q9X4T1";
        let secret = tracking.secret_for(code);
        // A blocked client and a code under attack, before the flood.
        for _ in 0..CLIENT_MAX_FAILURES {
            let _ = tracking.check_at(client(1), "AAAAAAAAAA", WRONG, now);
        }
        for n in 0..CODE_UNDER_ATTACK_AFTER {
            let _ = tracking.check_at(client(10 + n), code, WRONG, now);
        }
        // 100,000 wrong guesses on random codes from as many addresses, and more.
        let flood = MAX_CODES.max(MAX_CLIENTS) as u32 + 1_000;
        for n in 0..flood {
            let _ = tracking.check_at(client(1_000 + n), &format!("F{n:09}"), WRONG, now);
        }
        // Guessing on a code the flood did not touch is still cut off.
        let guesser = client(7_000_000);
        for _ in 0..CLIENT_MAX_FAILURES {
            assert_eq!(
                tracking.check_at(guesser, "NEWCODE001", WRONG, now),
                Err(TrackError::NotFound)
            );
        }
        assert!(matches!(
            tracking.check_at(guesser, "NEWCODE001", WRONG, now),
            Err(TrackError::TooMany(_))
        ));
        let limits = tracking.limits.lock().unwrap();
        assert!(limits.clients.entries.len() <= MAX_CLIENTS);
        assert!(limits.codes.entries.len() <= MAX_CODES);
        drop(limits);
        // The blocked client is still blocked, even with a right secret ...
        let own = tracking.secret_for("AAAAAAAAAA");
        assert!(matches!(
            tracking.check_at(client(1), "AAAAAAAAAA", &own, now),
            Err(TrackError::TooMany(_))
        ));
        // ... the code is still under attack (two guesses cut a fresh client off) ...
        let fresh = client(5_000_000);
        for _ in 0..2 {
            let _ = tracking.check_at(fresh, code, WRONG, now);
        }
        assert!(matches!(
            tracking.check_at(fresh, code, &secret, now),
            Err(TrackError::TooMany(_))
        ));
        // ... a new client still gets its full allowance and no more ...
        let newcomer = client(6_000_000);
        for n in 0..CLIENT_MAX_FAILURES {
            assert_eq!(
                tracking.check_at(newcomer, &format!("N{n:09}"), WRONG, now),
                Err(TrackError::NotFound)
            );
        }
        assert!(matches!(
            tracking.check_at(newcomer, code, &secret, now),
            Err(TrackError::TooMany(_))
        ));
        // ... and the complainant gets in.
        assert_eq!(tracking.check_at(client(2), code, &secret, now), Ok(()));
    }

    #[test]
    fn a_client_table_full_of_blocked_clients_fails_closed() {
        let tracking = Tracking::with_key([7; 32], 20, 20);
        let now = Instant::now();
        for n in 0..20 {
            for _ in 0..CLIENT_MAX_FAILURES {
                let _ = tracking.check_at(client(n), &format!("C{n}"), WRONG, now);
            }
        }
        let secret = tracking.secret_for("K7M2Q9X4T1");
        assert!(matches!(
            tracking.check_at(client(99), "K7M2Q9X4T1", &secret, now),
            Err(TrackError::TooMany(_))
        ));
        // Once their windows end, there is room again.
        assert_eq!(
            tracking.check_at(client(99), "K7M2Q9X4T1", &secret, now + WINDOW),
            Ok(())
        );
    }
}

//! Events counted per client in a window: failed sign-ins (20 in 10 minutes block a client),
//! and complaints filed through the public form (5 an hour, `pages/public_form.rs`).
//!
//! Sign-ins: the per-account lock-out (`accounts.rs`) stops guessing one account's password,
//! but one client trying one password on many usernames locks none of them. A
//! client (the connection's peer address, IPv6 by /64; never a header) with 20 failed
//! sign-ins within 10 minutes gets 429 for every sign-in until its window ends, without its
//! password being checked.
//!
//! The table is bounded (100,000 clients): a full table drops ended windows, then the oldest
//! tenth of the clients that are not blocked; if every client in it is blocked, a client it
//! does not know is refused (fail closed), like the tracking endpoint's limiter.

use std::{
    collections::HashMap,
    net::IpAddr,
    sync::{Mutex, PoisonError},
};

use jiff::{SignedDuration, Timestamp};

/// Failures from one client within [`WINDOW`] that block it.
pub const CLIENT_MAX_FAILURES: u32 = 20;
/// The window failures are counted in, from the first.
pub const WINDOW: SignedDuration = SignedDuration::from_mins(10);
/// Complaints one client may file through the public form within [`PUBLIC_FORM_WINDOW`].
pub const PUBLIC_FORM_MAX: u32 = 5;
pub const PUBLIC_FORM_WINDOW: SignedDuration = SignedDuration::from_hours(1);
const MAX_CLIENTS: usize = 100_000;

/// A client: an IPv4 address, or an IPv6 /64 (one subscriber's network); `None` when the
/// server does not know the peer (then every such request is one client).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Client(Option<u128>);

impl Client {
    fn of(peer: Option<IpAddr>) -> Client {
        Client(peer.map(|ip| match ip {
            IpAddr::V4(v4) => u128::from(u32::from(v4)),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => u128::from(u32::from(v4)),
                None => (u128::from(v6) >> 64 << 64) | 1 << 32,
            },
        }))
    }
}

#[derive(Debug, Clone, Copy)]
struct Window {
    start: Timestamp,
    failures: u32,
}

/// How many events within how long block a client.
#[derive(Debug, Clone, Copy)]
struct Limit {
    max: u32,
    window: SignedDuration,
}

impl Window {
    fn end(&self, limit: Limit) -> Timestamp {
        self.start
            .saturating_add(limit.window)
            .unwrap_or(self.start)
    }

    fn blocked(&self, now: Timestamp, limit: Limit) -> bool {
        self.failures >= limit.max && now < self.end(limit)
    }
}

/// Events per client within a window (see the module documentation).
#[derive(Debug)]
pub struct Throttle {
    limit: Limit,
    clients: Mutex<HashMap<Client, Window>>,
}

/// The sign-in page's throttle: failed sign-ins.
pub type SignInThrottle = Throttle;

impl Default for Throttle {
    fn default() -> Throttle {
        Throttle::with_limit(CLIENT_MAX_FAILURES, WINDOW)
    }
}

impl Throttle {
    /// Failed sign-ins: 20 in 10 minutes.
    pub fn new() -> Throttle {
        Throttle::default()
    }

    /// `max` events within `window` (from the first) block a client until the window ends.
    pub fn with_limit(max: u32, window: SignedDuration) -> Throttle {
        Throttle {
            limit: Limit { max, window },
            clients: Mutex::new(HashMap::new()),
        }
    }

    /// Counts an event of the client unless it is blocked now; else when it may come again.
    /// One step under one lock, so that parallel requests cannot all pass the check.
    pub fn take(&self, peer: Option<IpAddr>, now: Timestamp) -> Result<(), Timestamp> {
        if let Some(until) = self.blocked_until(peer, now) {
            return Err(until);
        }
        self.failed(peer, now);
        Ok(())
    }

    /// Gives back an event counted by `take` that did not happen after all (a double
    /// submit that registered nothing new, a refusal).
    pub fn give_back(&self, peer: Option<IpAddr>) {
        let mut clients = self.clients.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(window) = clients.get_mut(&Client::of(peer)) {
            window.failures = window.failures.saturating_sub(1);
        }
    }

    /// When the client may try again, if it is blocked now.
    pub fn blocked_until(&self, peer: Option<IpAddr>, now: Timestamp) -> Option<Timestamp> {
        let mut clients = self.clients.lock().unwrap_or_else(PoisonError::into_inner);
        let client = Client::of(peer);
        let limit = self.limit;
        match clients.get(&client) {
            Some(window) if window.blocked(now, limit) => Some(window.end(limit)),
            Some(_) => None,
            None if clients.len() >= MAX_CLIENTS => {
                make_room(&mut clients, now, limit);
                (clients.len() >= MAX_CLIENTS)
                    .then(|| now.saturating_add(limit.window).unwrap_or(now))
            }
            None => None,
        }
    }

    /// Counts a failed sign-in of the client.
    pub fn failed(&self, peer: Option<IpAddr>, now: Timestamp) {
        let mut clients = self.clients.lock().unwrap_or_else(PoisonError::into_inner);
        let client = Client::of(peer);
        let limit = self.limit;
        if !clients.contains_key(&client) && clients.len() >= MAX_CLIENTS {
            make_room(&mut clients, now, limit);
            if clients.len() >= MAX_CLIENTS {
                return;
            }
        }
        let window = clients.entry(client).or_insert(Window {
            start: now,
            failures: 0,
        });
        if now >= window.end(limit) {
            *window = Window {
                start: now,
                failures: 0,
            };
        }
        window.failures = window.failures.saturating_add(1);
    }
}

fn make_room(clients: &mut HashMap<Client, Window>, now: Timestamp, limit: Limit) {
    clients.retain(|_, window| now < window.end(limit));
    if clients.len() < MAX_CLIENTS {
        return;
    }
    let mut unblocked: Vec<(Timestamp, Client)> = clients
        .iter()
        .filter(|(_, window)| !window.blocked(now, limit))
        .map(|(client, window)| (window.start, *client))
        .collect();
    unblocked.sort_by_key(|(start, _)| *start);
    for (_, client) in unblocked.into_iter().take(MAX_CLIENTS / 10) {
        clients.remove(&client);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn at(text: &str) -> Timestamp {
        text.parse().unwrap()
    }

    #[test]
    fn twenty_failures_in_ten_minutes_block_a_client_until_its_window_ends() {
        let throttle = SignInThrottle::new();
        let start = at("2026-12-01T08:00:00Z");
        let client: Option<IpAddr> = Some("203.0.113.7".parse().unwrap());
        for _ in 0..CLIENT_MAX_FAILURES - 1 {
            throttle.failed(client, start);
        }
        assert_eq!(throttle.blocked_until(client, start), None);
        throttle.failed(client, start);
        let end = at("2026-12-01T08:10:00Z");
        assert_eq!(throttle.blocked_until(client, start), Some(end));
        assert_eq!(
            throttle.blocked_until(Some("203.0.113.8".parse().unwrap()), start),
            None,
            "another client is not blocked"
        );
        assert_eq!(throttle.blocked_until(client, end), None);
        throttle.failed(client, end);
        assert_eq!(throttle.blocked_until(client, end), None, "a new window");
    }

    #[test]
    fn five_complaints_an_hour_then_a_time_to_come_back() {
        let throttle = Throttle::with_limit(PUBLIC_FORM_MAX, PUBLIC_FORM_WINDOW);
        let start = at("2026-12-01T08:00:00Z");
        let client: Option<IpAddr> = Some("203.0.113.7".parse().unwrap());
        for _ in 0..PUBLIC_FORM_MAX {
            assert_eq!(throttle.take(client, start), Ok(()));
        }
        let end = at("2026-12-01T09:00:00Z");
        assert_eq!(throttle.take(client, start), Err(end));
        throttle.give_back(client);
        assert_eq!(throttle.take(client, start), Ok(()), "one given back");
        assert_eq!(throttle.take(client, end), Ok(()), "a new hour");
    }

    #[test]
    fn an_ipv6_network_is_one_client() {
        let a: IpAddr = "2001:db8:1:2::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:ffff::9".parse().unwrap();
        let c: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(Client::of(Some(a)), Client::of(Some(b)));
        assert_ne!(Client::of(Some(a)), Client::of(Some(c)));
        let mapped: IpAddr = "::ffff:203.0.113.7".parse().unwrap();
        assert_eq!(
            Client::of(Some(mapped)),
            Client::of(Some("203.0.113.7".parse().unwrap()))
        );
        assert_ne!(Client::of(None), Client::of(Some(a)));
    }
}

//! How many wrong tokens `/login` takes before it stops checking: a guesser gets
//! [`PER_CLIENT`] failures per client address and the whole listener [`OVERALL`] per
//! [`WINDOW`]; past either, `/login` answers 429 with `Retry-After` (the seconds until the
//! oldest counted failure leaves the window) without looking at the token.
//!
//! A sliding window of failure instants: each client keeps at most `PER_CLIENT` of them and
//! the listener at most `OVERALL`, so memory is bounded by [`MAX_CLIENTS`] × `PER_CLIENT`
//! (the client whose newest failure is oldest is forgotten first). A successful login counts
//! nothing and clears nothing: a guesser who also holds one good token gains no guesses. The
//! overall bound is what stops a guesser with many addresses; while it holds, a person with
//! the right token waits too (at most `WINDOW`) — the price of not letting guesses through.
//!
//! Pure: the caller passes `now`; [`LoginLimit::check`] and [`LoginLimit::failed`] are the
//! whole rule, table-tested below.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The window failures are counted in.
pub const WINDOW: Duration = Duration::from_secs(60);
/// Failures one client address may have in a window.
pub const PER_CLIENT: usize = 10;
/// Failures all clients together may have in a window.
pub const OVERALL: usize = 100;
/// Client addresses remembered at most.
pub const MAX_CLIENTS: usize = 4096;

/// Why a login attempt is not checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refused {
    /// Whose limit: this client's (`false`) or everyone's (`true`).
    pub overall: bool,
    /// When to try again (whole seconds, at least 1).
    pub retry_after: Duration,
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (n, whose) = if self.overall {
            (OVERALL, "from all clients")
        } else {
            (PER_CLIENT, "from this address")
        };
        write!(
            f,
            "too many failed logins ({n} per minute {whose}); try again in {} s",
            self.retry_after.as_secs()
        )
    }
}

#[derive(Debug, Default)]
struct Windows {
    clients: HashMap<IpAddr, VecDeque<Instant>>,
    overall: VecDeque<Instant>,
}

/// The failed logins of the last [`WINDOW`], per client and overall.
#[derive(Debug, Default)]
pub struct LoginLimit {
    windows: Mutex<Windows>,
}

fn expire(q: &mut VecDeque<Instant>, now: Instant) {
    while q
        .front()
        .is_some_and(|t| now.saturating_duration_since(*t) >= WINDOW)
    {
        q.pop_front();
    }
}

/// Until the oldest of a full window leaves it, in whole seconds (rounded up, at least 1).
fn retry_after(q: &VecDeque<Instant>, now: Instant) -> Duration {
    let left = q.front().map_or(WINDOW, |t| {
        WINDOW.saturating_sub(now.saturating_duration_since(*t))
    });
    let secs = left.as_secs() + u64::from(left.subsec_nanos() > 0);
    Duration::from_secs(secs.max(1))
}

impl LoginLimit {
    fn lock(&self) -> std::sync::MutexGuard<'_, Windows> {
        self.windows.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether a login from `client` may be checked now.
    pub fn check(&self, client: Option<IpAddr>, now: Instant) -> Result<(), Refused> {
        let mut w = self.lock();
        expire(&mut w.overall, now);
        if w.overall.len() >= OVERALL {
            return Err(Refused {
                overall: true,
                retry_after: retry_after(&w.overall, now),
            });
        }
        if let Some(q) = client.and_then(|c| w.clients.get_mut(&c)) {
            expire(q, now);
            if q.len() >= PER_CLIENT {
                return Err(Refused {
                    overall: false,
                    retry_after: retry_after(q, now),
                });
            }
        }
        Ok(())
    }

    /// Counts a failed login from `client`.
    pub fn failed(&self, client: Option<IpAddr>, now: Instant) {
        let mut w = self.lock();
        expire(&mut w.overall, now);
        w.overall.push_back(now);
        while w.overall.len() > OVERALL {
            w.overall.pop_front();
        }
        let Some(client) = client else { return };
        if !w.clients.contains_key(&client) && w.clients.len() >= MAX_CLIENTS {
            w.clients.retain(|_, q| {
                expire(q, now);
                !q.is_empty()
            });
            if w.clients.len() >= MAX_CLIENTS
                && let Some(stalest) = w
                    .clients
                    .iter()
                    .min_by_key(|(_, q)| q.back().copied())
                    .map(|(c, _)| *c)
            {
                w.clients.remove(&stalest);
            }
        }
        let q = w.clients.entry(client).or_default();
        expire(q, now);
        q.push_back(now);
        while q.len() > PER_CLIENT {
            q.pop_front();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(n: u32) -> Option<IpAddr> {
        Some(IpAddr::from(std::net::Ipv4Addr::from(0x0a00_0000 + n)))
    }

    #[test]
    fn a_client_gets_ten_failures_a_minute_then_waits_for_the_oldest_to_leave() {
        let limit = LoginLimit::default();
        let t0 = Instant::now();
        for i in 0..PER_CLIENT as u64 {
            assert_eq!(limit.check(ip(1), t0), Ok(()), "failure {i}");
            limit.failed(ip(1), t0 + Duration::from_secs(i));
        }
        // (ms after t0, client, expected): the first failure was at t0, the tenth at t0 + 9 s.
        // In time order: a check forgets what left the window.
        let cases = [
            (10_000, ip(1), Err(Duration::from_secs(50))),
            (10_000, ip(2), Ok(())),
            (10_000, None, Ok(())),
            (59_000, ip(1), Err(Duration::from_secs(1))),
            // A fraction of a second left is a whole second to wait, never zero.
            (59_500, ip(1), Err(Duration::from_secs(1))),
            (60_000, ip(1), Ok(())),
        ];
        for (at, client, expected) in cases {
            let got = limit
                .check(client, t0 + Duration::from_millis(at))
                .map_err(|r| {
                    assert!(!r.overall);
                    r.retry_after
                });
            assert_eq!(got, expected, "at {at} ms from {client:?}");
        }
    }

    #[test]
    fn failures_from_many_addresses_close_login_for_everyone_until_the_window_passes() {
        let limit = LoginLimit::default();
        let t0 = Instant::now();
        for n in 0..OVERALL as u32 {
            assert_eq!(limit.check(ip(n), t0), Ok(()));
            limit.failed(ip(n), t0);
        }
        let refused = limit.check(ip(9999), t0).expect_err("closed for all");
        assert!(refused.overall);
        assert_eq!(refused.retry_after, WINDOW);
        assert!(
            refused
                .to_string()
                .contains("100 per minute from all clients")
        );
        assert_eq!(limit.check(ip(9999), t0 + WINDOW), Ok(()));
    }

    #[test]
    fn remembered_clients_are_bounded_and_the_stalest_is_forgotten() {
        let limit = LoginLimit::default();
        let t0 = Instant::now();
        for n in 0..MAX_CLIENTS as u32 + 10 {
            limit.failed(ip(n), t0 + Duration::from_millis(u64::from(n)));
        }
        let w = limit.lock();
        assert_eq!(w.clients.len(), MAX_CLIENTS);
        assert!(!w.clients.contains_key(&ip(0).unwrap()));
        assert!(w.clients.contains_key(&ip(MAX_CLIENTS as u32 + 9).unwrap()));
        assert_eq!(w.overall.len(), OVERALL);
    }
}

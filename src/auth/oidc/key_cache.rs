//! The issuer's keys as att last fetched them, and when att may fetch them again
//! ([`KeyCache::lookup`]). Pure: time is an argument; the fetching is the caller's
//! ([`super::fetch`]).
//!
//! | the cache | the token's key | answer |
//! |---|---|---|
//! | never fetched, or older than `refresh` | — | fetch, if no fetch was *attempted* within `refetch_min` |
//! | fresh (or may not fetch) | known (`kid` and algorithm fit) | use it |
//! | fresh | unknown `kid` | fetch, if no unknown-`kid` fetch within `refetch_min`; else refuse |
//! | never fetched, may not fetch | — | refuse: keys unavailable |
//!
//! The two gates are separate so that a key rotated in just after a scheduled fetch is
//! picked up by the first token that uses it, while tokens with made-up `kid`s cause at
//! most one fetch per `refetch_min`. A failed fetch keeps the keys att had (an issuer that
//! is briefly down does not lock everyone out); it still counts as an attempt.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::jwk::{Alg, VerifyingKey};

/// The keys and the times that gate fetching them.
#[derive(Debug)]
pub struct KeyCache {
    keys: Vec<Arc<VerifyingKey>>,
    fetched_at: Option<Instant>,
    attempted_at: Option<Instant>,
    missed_at: Option<Instant>,
    refresh: Duration,
    refetch_min: Duration,
}

/// What to do for one token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    /// Verify with these (the `kid`'s key; without a `kid`, every key fitting the algorithm).
    Found(Vec<Arc<VerifyingKey>>),
    /// Fetch the keys first (then look again).
    Fetch(Reason),
    /// No key of the issuer has this `kid` (and att fetched recently).
    Unknown,
    /// att has no keys of the issuer (and tried recently).
    Unavailable,
}

/// Why a fetch is due: which gate it passes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// Never fetched, or the keys are older than `refresh`.
    Stale,
    /// The token's `kid` is not among the keys.
    UnknownKid,
}

fn elapsed(since: Option<Instant>, now: Instant, at_least: Duration) -> bool {
    since.is_none_or(|t| now.saturating_duration_since(t) >= at_least)
}

impl KeyCache {
    /// An empty cache.
    pub fn new(refresh: Duration, refetch_min: Duration) -> Self {
        Self {
            keys: Vec::new(),
            fetched_at: None,
            attempted_at: None,
            missed_at: None,
            refresh,
            refetch_min,
        }
    }

    /// What to do for a token signed with `alg` by key `kid`, at `now` (see the table).
    pub fn lookup(&self, kid: Option<&str>, alg: Alg, now: Instant) -> Lookup {
        let stale = elapsed(self.fetched_at, now, self.refresh);
        if stale && elapsed(self.attempted_at, now, self.refetch_min) {
            return Lookup::Fetch(Reason::Stale);
        }
        let found: Vec<Arc<VerifyingKey>> = self
            .keys
            .iter()
            .filter(|k| kid.is_none_or(|kid| k.kid.as_deref() == Some(kid)) && k.fits(alg))
            .cloned()
            .collect();
        if !found.is_empty() {
            Lookup::Found(found)
        } else if elapsed(self.missed_at, now, self.refetch_min) {
            Lookup::Fetch(Reason::UnknownKid)
        } else if self.fetched_at.is_none() {
            Lookup::Unavailable
        } else {
            Lookup::Unknown
        }
    }

    /// Records that a fetch for `reason` starts at `now`, if its gate is still open (another
    /// token may have fetched meanwhile); `false`: do not fetch.
    pub fn begin_fetch(&mut self, reason: Reason, now: Instant) -> bool {
        let open = match reason {
            Reason::Stale => {
                elapsed(self.fetched_at, now, self.refresh)
                    && elapsed(self.attempted_at, now, self.refetch_min)
            }
            Reason::UnknownKid => elapsed(self.missed_at, now, self.refetch_min),
        };
        if open {
            self.attempted_at = Some(now);
            if reason == Reason::UnknownKid {
                self.missed_at = Some(now);
            }
        }
        open
    }

    /// Whether a fetch has ever succeeded.
    pub fn has_fetched(&self) -> bool {
        self.fetched_at.is_some()
    }

    /// The keys a fetch at `now` returned.
    pub fn store(&mut self, keys: Vec<VerifyingKey>, now: Instant) {
        self.keys = keys.into_iter().map(Arc::new).collect();
        self.fetched_at = Some(now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::oidc::jwk::Jwk;

    fn key(kid: &str) -> VerifyingKey {
        // A well-formed P-256 point is not needed to test the bookkeeping: the key is only
        // matched, never used. `from_jwk` checks lengths, not the curve.
        VerifyingKey::from_jwk(&Jwk {
            kty: "EC".into(),
            crv: Some("P-256".into()),
            kid: Some(kid.into()),
            x: Some("A".repeat(43)),
            y: Some("A".repeat(43)),
            ..Jwk::default()
        })
        .expect("a key")
    }

    const REFRESH: Duration = Duration::from_secs(600);
    const MIN: Duration = Duration::from_secs(30);

    /// A cache fetched at `t0` holding key `a`.
    fn fetched(t0: Instant) -> KeyCache {
        let mut c = KeyCache::new(REFRESH, MIN);
        assert!(c.begin_fetch(Reason::Stale, t0));
        c.store(vec![key("a")], t0);
        c
    }

    fn kids(l: &Lookup) -> Vec<Option<String>> {
        match l {
            Lookup::Found(keys) => keys.iter().map(|k| k.kid.clone()).collect(),
            _ => Vec::new(),
        }
    }

    #[test]
    fn lookups_follow_the_table() {
        let t0 = Instant::now();
        let s = Duration::from_secs;
        let empty = KeyCache::new(REFRESH, MIN);
        let mut failed = KeyCache::new(REFRESH, MIN);
        assert!(failed.begin_fetch(Reason::Stale, t0));
        let mut missed = fetched(t0);
        assert!(missed.begin_fetch(Reason::UnknownKid, t0 + s(1)));
        let fresh = fetched(t0);
        let mut tried = KeyCache::new(REFRESH, MIN);
        tried.begin_fetch(Reason::Stale, t0);
        tried.begin_fetch(Reason::UnknownKid, t0);
        /// What, the cache, the token's `kid` and `alg`, when, and the answer.
        type Case<'a> = (&'a str, &'a KeyCache, Option<&'a str>, Alg, Instant, Lookup);
        let cases: Vec<Case> = vec![
            (
                "never fetched",
                &empty,
                Some("a"),
                Alg::ES256,
                t0,
                Lookup::Fetch(Reason::Stale),
            ),
            (
                "a failed first fetch, then an unknown kid",
                &failed,
                Some("a"),
                Alg::ES256,
                t0 + s(1),
                Lookup::Fetch(Reason::UnknownKid),
            ),
            (
                "fresh and known",
                &fresh,
                Some("a"),
                Alg::ES256,
                t0 + s(1),
                Lookup::Found(vec![Arc::new(key("a"))]),
            ),
            (
                "no kid: every key of the algorithm",
                &fresh,
                None,
                Alg::ES256,
                t0 + s(1),
                Lookup::Found(vec![Arc::new(key("a"))]),
            ),
            (
                "known kid, other algorithm",
                &missed,
                Some("a"),
                Alg::RS256,
                t0 + s(2),
                Lookup::Unknown,
            ),
            (
                "unknown kid, first miss",
                &fresh,
                Some("b"),
                Alg::ES256,
                t0 + s(1),
                Lookup::Fetch(Reason::UnknownKid),
            ),
            (
                "unknown kid, missed just now",
                &missed,
                Some("b"),
                Alg::ES256,
                t0 + s(2),
                Lookup::Unknown,
            ),
            (
                "unknown kid, missed long ago",
                &missed,
                Some("b"),
                Alg::ES256,
                t0 + s(31),
                Lookup::Fetch(Reason::UnknownKid),
            ),
            (
                "stale",
                &fresh,
                Some("a"),
                Alg::ES256,
                t0 + s(600),
                Lookup::Fetch(Reason::Stale),
            ),
            (
                "never fetched, tried, missed",
                &tried,
                Some("a"),
                Alg::ES256,
                t0 + s(1),
                Lookup::Unavailable,
            ),
        ];
        for (what, cache, kid, alg, now, want) in cases {
            let got = cache.lookup(kid, alg, now);
            assert_eq!(
                (std::mem::discriminant(&got), kids(&got)),
                (std::mem::discriminant(&want), kids(&want)),
                "{what}: {got:?}"
            );
            if let (Lookup::Fetch(a), Lookup::Fetch(b)) = (&got, &want) {
                assert_eq!(a, b, "{what}");
            }
        }
    }

    #[test]
    fn made_up_kids_fetch_at_most_once_per_refetch_min() {
        let t0 = Instant::now();
        let mut c = fetched(t0);
        let mut fetches = 0;
        for i in 0..1000u64 {
            let now = t0 + Duration::from_millis(100 * i);
            if let Lookup::Fetch(reason) = c.lookup(Some(&format!("garbage{i}")), Alg::ES256, now)
                && c.begin_fetch(reason, now)
            {
                fetches += 1;
                c.store(vec![key("a")], now);
            }
        }
        // 100 s of garbage: one fetch per 30 s.
        assert_eq!(fetches, 4);
    }

    #[test]
    fn a_second_token_waiting_for_the_same_fetch_does_not_fetch_again() {
        let t0 = Instant::now();
        let mut c = fetched(t0);
        let now = t0 + Duration::from_secs(1);
        assert_eq!(
            c.lookup(Some("b"), Alg::ES256, now),
            Lookup::Fetch(Reason::UnknownKid)
        );
        assert_eq!(
            c.lookup(Some("b"), Alg::ES256, now),
            Lookup::Fetch(Reason::UnknownKid)
        );
        assert!(c.begin_fetch(Reason::UnknownKid, now));
        assert!(!c.begin_fetch(Reason::UnknownKid, now));
        c.store(vec![key("a"), key("b")], now);
        assert_eq!(
            kids(&c.lookup(Some("b"), Alg::ES256, now)),
            [Some("b".to_owned())]
        );
    }
}

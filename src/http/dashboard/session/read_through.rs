//! Dashboard sessions across the atts of a cluster: a cookie this att does not hold is looked
//! up in the store ([`Sessions::read_through`]), and a session ended on another att is
//! dropped here ([`Sessions::follow_store`]).
//!
//! The store is the cluster's record of the sessions (a login writes it before it answers);
//! each att keeps in memory the sessions it served. A browser whose requests a balancer sends
//! to another att presents a cookie that att never saw: it reads the session from the store
//! once, and from then on serves it from memory — no new login, no restart.
//!
//! Bounded against cookies that match nothing (a stale cookie an idle tab keeps sending, or
//! a flood of made-up ones): a cookie not found is remembered as missing ([`Misses`]: at most
//! [`MAX_MISSES`], each for [`MISS_FOR`]) and not looked up again meanwhile — ids are random
//! and stored before the browser gets them, so a missing id never turns up later; and at
//! most [`MAX_LOOKUPS`] look-ups run at once — a cookie that finds them all busy is treated
//! as unknown (the login page) rather than queued, so a flood costs the database at most
//! that many indexed reads at a time.
//!
//! Ending: a logout deletes the row and notifies the other atts (`dashboard_sessions` on the
//! change channel, `store::Changes`); each drops the stored sessions it holds that the store
//! no longer lists. A copy that expires in memory leaves memory only: the store's "last used"
//! is the cluster's (each att writes it every `TOUCH`), and the store prunes by it.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use att_runtime::store::StoreError;
use time::OffsetDateTime;

use super::{MAX_SESSIONS, Session, Sessions, id_hash, live};

/// Cookies remembered as missing at most.
pub const MAX_MISSES: usize = 4096;
/// How long a cookie is remembered as missing.
pub const MISS_FOR: Duration = Duration::from_secs(60);
/// Store look-ups of unknown cookies in flight at most.
pub const MAX_LOOKUPS: usize = 4;
/// How many of the store's most recently used sessions a follow reads (a held session beyond
/// them is dropped from memory and read back at its next request).
const FOLLOW_SCAN: u32 = 4 * MAX_SESSIONS as u32;

/// Cookies (their id hashes) the store did not know, each until a deadline: a bounded,
/// expiring set.
#[derive(Debug, Default)]
pub struct Misses(HashMap<[u8; 32], Instant>);

impl Misses {
    /// Whether `hash` was missing less than [`MISS_FOR`] before `now`.
    pub fn knows(&mut self, hash: &[u8; 32], now: Instant) -> bool {
        match self.0.get(hash) {
            Some(until) if *until > now => true,
            Some(_) => {
                self.0.remove(hash);
                false
            }
            None => false,
        }
    }

    /// Remembers `hash` as missing from `now`; when full, the expired go first, then the one
    /// nearest its end.
    pub fn note(&mut self, hash: [u8; 32], now: Instant) {
        if self.0.len() >= MAX_MISSES && !self.0.contains_key(&hash) {
            self.0.retain(|_, until| *until > now);
            if self.0.len() >= MAX_MISSES
                && let Some(first) = self.0.iter().min_by_key(|(_, u)| **u).map(|(h, _)| *h)
            {
                self.0.remove(&first);
            }
        }
        self.0.insert(hash, now + MISS_FOR);
    }

    /// How many are remembered.
    #[cfg(test)]
    fn remembered(&self) -> usize {
        self.0.len()
    }
}

/// The permits for store look-ups ([`MAX_LOOKUPS`]).
#[derive(Debug)]
pub struct Lookups(tokio::sync::Semaphore);

impl Default for Lookups {
    fn default() -> Self {
        Self(tokio::sync::Semaphore::new(MAX_LOOKUPS))
    }
}

impl Sessions {
    fn misses(&self) -> std::sync::MutexGuard<'_, Misses> {
        self.misses.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Makes the session of cookie `id` known here if the store has it live (opened on
    /// another att, or dropped from this att's memory); nothing when it is held already,
    /// known missing, or all look-ups are busy. A store error is logged (the cookie is
    /// looked up again next time).
    pub async fn read_through(&self, id: &str) {
        let Some(store) = &self.store else { return };
        let hash = id_hash(id);
        if self.map().contains_key(&hash) || self.misses().knows(&hash, Instant::now()) {
            return;
        }
        let Ok(_permit) = self.lookups.0.try_acquire() else {
            tracing::debug!("dashboard sessions: look-ups busy, an unknown cookie is not read");
            return;
        };
        let stored = match store.find_session(&hash).await {
            Ok(stored) => stored,
            Err(e) => {
                tracing::warn!(error = %e, "dashboard sessions: could not look one up");
                return;
            }
        };
        let now = OffsetDateTime::now_utc();
        let session = stored.map(|s| Session {
            credential: s.credential.as_deref().map(std::sync::Arc::from),
            csrf: std::sync::Arc::from(s.csrf.as_str()),
            opened: s.opened_at,
            seen: s.seen_at,
            stored_seen: Some(s.seen_at),
        });
        match session {
            Some(session) if live(&session, now) => self.admit(hash, session, now),
            _ => self.misses().note(hash, Instant::now()),
        }
    }

    /// Drops the stored sessions held here that the store no longer lists (ended on another
    /// att); how many.
    pub async fn follow_store(&self) -> Result<usize, StoreError> {
        let Some(store) = &self.store else {
            return Ok(0);
        };
        let listed: HashSet<[u8; 32]> = store
            .session_hashes(FOLLOW_SCAN)
            .await?
            .into_iter()
            .collect();
        let mut map = self.map();
        let before = map.len();
        map.retain(|hash, s| s.stored_seen.is_none() || listed.contains(hash));
        Ok(before - map.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_cookie_is_remembered_for_a_while_and_the_set_stays_bounded() {
        let t0 = Instant::now();
        let mut misses = Misses::default();
        let hash = |i: usize| {
            let mut h = [0u8; 32];
            h[..8].copy_from_slice(&(i as u64).to_le_bytes());
            h
        };
        assert!(!misses.knows(&hash(0), t0));
        misses.note(hash(0), t0);
        assert!(misses.knows(&hash(0), t0 + MISS_FOR / 2));
        assert!(!misses.knows(&hash(0), t0 + MISS_FOR), "expired");
        assert_eq!(
            misses.remembered(),
            0,
            "an expired entry is dropped when asked"
        );

        // A flood of distinct cookies: never more than MAX_MISSES, the oldest go first.
        for i in 0..MAX_MISSES + 10 {
            misses.note(hash(i), t0 + Duration::from_millis(i as u64));
        }
        assert_eq!(misses.remembered(), MAX_MISSES);
        let later = t0 + Duration::from_millis((MAX_MISSES + 10) as u64);
        assert!(!misses.knows(&hash(0), later), "the oldest was evicted");
        assert!(misses.knows(&hash(MAX_MISSES + 9), later));
    }
}

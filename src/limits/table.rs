//! The state of the principals being limited: for each, its [`TokenBucket`] and its calls
//! [`InFlight`], in a map of at most `cap` entries.
//!
//! Memory is bounded without weakening a limit: an entry whose bucket is full and that has
//! no call in flight says nothing a new entry would not, so it may go at any time. Such
//! entries are swept every [`SWEEP_EVERY`] and whenever the map is full. If the map is still
//! full, the idle entry whose bucket refills soonest is evicted (its principal gets a full
//! bucket back a little early); if every entry has a call in flight, a new principal is
//! refused ([`Refusal::Crowded`]). Time is passed in.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::bucket::{Rate, TokenBucket};
use super::in_flight::InFlight;

/// How often idle entries are swept even when the map is not full.
pub const SWEEP_EVERY: Duration = Duration::from_secs(60);

/// What one principal may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Allowance {
    /// Its call rate (`None`: unlimited).
    pub rate: Option<Rate>,
    /// Its calls in flight at most (`None`: unlimited).
    pub concurrent: Option<u32>,
}

/// Why a call was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The principal's bucket is empty; a token is there after this long.
    Rate { retry_after: Duration },
    /// The principal has this many calls in flight already.
    Concurrent { max: u32 },
    /// The table holds `cap` principals, each with a call in flight.
    Crowded { cap: usize },
}

#[derive(Debug)]
struct Entry {
    /// The principal's name as metrics show it (the key may add its client's address).
    label: Arc<str>,
    bucket: TokenBucket,
    in_flight: InFlight,
}

impl Entry {
    fn idle(&self, now: Instant) -> bool {
        self.in_flight.count() == 0 && self.bucket.is_full(now)
    }
}

/// Principals' buckets and calls in flight (see the module header).
#[derive(Debug)]
pub struct PrincipalTable {
    entries: HashMap<Arc<str>, Entry>,
    cap: usize,
    swept_at: Option<Instant>,
}

impl PrincipalTable {
    /// An empty table of at most `cap` (≥ 1) entries.
    pub fn new(cap: usize) -> Self {
        Self {
            entries: HashMap::new(),
            cap: cap.max(1),
            swept_at: None,
        }
    }

    /// Admits a call of the principal `key` (shown as `label`) at `now`, or says why not.
    /// An admitted call is in flight until [`PrincipalTable::leave`].
    pub fn admit(
        &mut self,
        key: &str,
        label: &Arc<str>,
        allowance: &Allowance,
        now: Instant,
    ) -> Result<(), Refusal> {
        if self
            .swept_at
            .is_none_or(|t| now.saturating_duration_since(t) >= SWEEP_EVERY)
        {
            self.sweep(now);
        }
        if !self.entries.contains_key(key) {
            self.make_room(now)?;
            self.entries.insert(
                Arc::from(key),
                Entry {
                    label: label.clone(),
                    bucket: TokenBucket::full(now),
                    in_flight: InFlight::default(),
                },
            );
        }
        let Some(entry) = self.entries.get_mut(key) else {
            return Err(Refusal::Crowded { cap: self.cap });
        };
        if !entry.in_flight.enter(allowance.concurrent) {
            return Err(Refusal::Concurrent {
                max: allowance.concurrent.unwrap_or(0),
            });
        }
        if let Some(rate) = &allowance.rate
            && let Err(retry_after) = entry.bucket.take(rate, now)
        {
            entry.in_flight.leave();
            return Err(Refusal::Rate { retry_after });
        }
        Ok(())
    }

    /// A call of `key` ended.
    pub fn leave(&mut self, key: &str) {
        if let Some(e) = self.entries.get_mut(key) {
            e.in_flight.leave();
        }
    }

    /// Principals held.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no principal is held.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Calls in flight, by entry label (one item per entry).
    pub fn in_flight(&self) -> impl Iterator<Item = (&Arc<str>, u32)> {
        self.entries
            .values()
            .map(|e| (&e.label, e.in_flight.count()))
    }

    fn sweep(&mut self, now: Instant) {
        self.entries.retain(|_, e| !e.idle(now));
        self.swept_at = Some(now);
    }

    /// Room for one more entry: see the module header.
    fn make_room(&mut self, now: Instant) -> Result<(), Refusal> {
        if self.entries.len() < self.cap {
            return Ok(());
        }
        self.sweep(now);
        if self.entries.len() < self.cap {
            return Ok(());
        }
        let soonest = self
            .entries
            .iter()
            .filter(|(_, e)| e.in_flight.count() == 0)
            .min_by_key(|(_, e)| e.bucket.full_at())
            .map(|(k, _)| k.clone());
        match soonest {
            Some(k) => {
                self.entries.remove(&k);
                Ok(())
            }
            None => Err(Refusal::Crowded { cap: self.cap }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[derive(Debug, Clone, Copy)]
    enum Step {
        /// (principal, at ms, expected)
        Admit(&'static str, u64, Want),
        Leave(&'static str),
        /// Entries held after the step before.
        Len(usize),
    }

    #[derive(Debug, Clone, Copy, PartialEq)]
    enum Want {
        Ok,
        Rate(u64),
        Concurrent,
        Crowded,
    }

    fn run(cap: usize, allowance: Allowance, steps: &[Step]) {
        let t0 = Instant::now();
        let mut table = PrincipalTable::new(cap);
        for (i, step) in steps.iter().enumerate() {
            match *step {
                Step::Admit(who, at, want) => {
                    let label: Arc<str> = Arc::from(who);
                    let got = match table.admit(who, &label, &allowance, t0 + ms(at)) {
                        Ok(()) => Want::Ok,
                        Err(Refusal::Rate { retry_after }) => {
                            Want::Rate(retry_after.as_millis() as u64)
                        }
                        Err(Refusal::Concurrent { .. }) => Want::Concurrent,
                        Err(Refusal::Crowded { .. }) => Want::Crowded,
                    };
                    assert_eq!(got, want, "step {i}: {step:?}");
                }
                Step::Leave(who) => table.leave(who),
                Step::Len(n) => assert_eq!(table.len(), n, "step {i}"),
            }
        }
    }

    use Step::{Admit, Leave, Len};

    #[test]
    fn each_principal_has_its_own_bucket() {
        let allowance = Allowance {
            rate: Some(Rate::new(10.0, 2)),
            concurrent: None,
        };
        run(
            16,
            allowance,
            &[
                Admit("a", 0, Want::Ok),
                Admit("a", 0, Want::Ok),
                Admit("a", 0, Want::Rate(100)),
                Admit("b", 0, Want::Ok),
                Admit("b", 0, Want::Ok),
                Admit("a", 100, Want::Ok),
                Admit("b", 50, Want::Rate(50)),
            ],
        );
    }

    #[test]
    fn concurrency_refuses_past_the_maximum_and_takes_no_token() {
        let allowance = Allowance {
            rate: Some(Rate::new(1.0, 2)),
            concurrent: Some(1),
        };
        run(
            16,
            allowance,
            &[
                Admit("a", 0, Want::Ok),
                Admit("a", 0, Want::Concurrent),
                Admit("a", 0, Want::Concurrent),
                Leave("a"),
                // The refusals took no token: the second of the burst is there.
                Admit("a", 0, Want::Ok),
                Leave("a"),
                Admit("a", 0, Want::Rate(1000)),
                Admit("b", 0, Want::Ok),
            ],
        );
    }

    #[test]
    fn idle_entries_are_swept_and_busy_ones_kept() {
        let allowance = Allowance {
            rate: Some(Rate::new(1.0, 1)),
            concurrent: Some(4),
        };
        run(
            100,
            allowance,
            &[
                Admit("a", 0, Want::Ok),
                Leave("a"),
                Admit("b", 0, Want::Ok),
                Admit("c", 1000, Want::Ok),
                Leave("c"),
                Len(3),
                // 60 s on: `a` and `c` are full and idle, `b` has a call in flight.
                Admit("d", 61_000, Want::Ok),
                Len(2),
                Leave("b"),
                Admit("e", 122_000, Want::Ok),
                Len(2),
            ],
        );
    }

    #[test]
    fn a_full_table_makes_room_from_idle_entries_else_refuses_a_newcomer() {
        let allowance = Allowance {
            rate: Some(Rate::new(1.0, 1)),
            concurrent: Some(4),
        };
        run(
            2,
            allowance,
            &[
                Admit("a", 0, Want::Ok),
                Leave("a"),
                Admit("b", 500, Want::Ok),
                Leave("b"),
                // Neither is full yet: `a` refills soonest and goes.
                Admit("c", 600, Want::Ok),
                Len(2),
                // `a` is new again: a full bucket.
                Admit("a", 700, Want::Ok),
                Len(2),
                // `c` and `a` both have a call in flight: no room.
                Admit("d", 800, Want::Crowded),
                Leave("c"),
                Admit("d", 800, Want::Ok),
                Len(2),
            ],
        );
    }

    #[test]
    fn a_principal_without_limits_is_only_counted() {
        run(
            4,
            Allowance::default(),
            &[
                Admit("a", 0, Want::Ok),
                Admit("a", 0, Want::Ok),
                Admit("a", 0, Want::Ok),
                Len(1),
            ],
        );
    }
}

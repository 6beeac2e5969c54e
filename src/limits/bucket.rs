//! A token bucket: `burst` calls at once, refilled at `rate` calls per second.
//!
//! Kept as one instant rather than a token count (the "generic cell rate algorithm", which
//! admits exactly what a token bucket admits): `full_at` is when the bucket will be full
//! again. Each admitted call pushes it one interval (`1 / rate`) later; a call is admitted
//! while the bucket holds a token, that is while `full_at` is at most `burst − 1` intervals
//! ahead of now. Integer nanoseconds throughout, so that a table test of "50 at once, then
//! one per 20 ms" is exact. Time is passed in; nothing here reads a clock.

use std::time::{Duration, Instant};

/// One principal's call rate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    /// Time between two calls at the sustained rate (`1 / rate`), at least 1 ns.
    interval: Duration,
    /// Calls admitted at once after an idle period (at least 1).
    burst: u32,
}

impl Rate {
    /// `per_second` calls per second (> 0) with `burst` (≥ 1) at once.
    pub fn new(per_second: f64, burst: u32) -> Self {
        let nanos = (1e9 / per_second).round().clamp(1.0, u64::MAX as f64) as u64;
        Self {
            interval: Duration::from_nanos(nanos),
            burst: burst.max(1),
        }
    }

    /// How far ahead of now `full_at` may be for a call to be admitted.
    fn tolerance(&self) -> Duration {
        self.interval * (self.burst - 1)
    }
}

/// The bucket's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenBucket {
    full_at: Instant,
}

impl TokenBucket {
    /// A full bucket at `now`.
    pub fn full(now: Instant) -> Self {
        Self { full_at: now }
    }

    /// Takes a token for a call at `now`, or says how long until one is there.
    pub fn take(&mut self, rate: &Rate, now: Instant) -> Result<(), Duration> {
        let earliest = self.full_at.max(now);
        let ahead = earliest - now;
        if ahead > rate.tolerance() {
            return Err(ahead - rate.tolerance());
        }
        self.full_at = earliest + rate.interval;
        Ok(())
    }

    /// Whether the bucket is full at `now`: it then says nothing a new bucket would not.
    pub fn is_full(&self, now: Instant) -> bool {
        self.full_at <= now
    }

    /// When it is full again.
    pub fn full_at(&self) -> Instant {
        self.full_at
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    /// Rows: (call at t ms, expected: `None` admitted, `Some(ms)` refused, retry after).
    fn run(rate: Rate, calls: &[(u64, Option<u64>)]) {
        let t0 = Instant::now();
        let mut bucket = TokenBucket::full(t0);
        for (i, (at, want)) in calls.iter().enumerate() {
            let got = bucket
                .take(&rate, t0 + ms(*at))
                .err()
                .map(|d| d.as_millis() as u64);
            assert_eq!(got, *want, "call {i} at {at} ms");
        }
    }

    #[test]
    fn a_full_bucket_admits_its_burst_then_one_call_per_interval() {
        let mut calls: Vec<(u64, Option<u64>)> = (0..50).map(|_| (0, None)).collect();
        calls.extend([
            (0, Some(20)),
            (10, Some(10)),
            (20, None),
            (20, Some(20)),
            (40, None),
            (1040, None),
        ]);
        run(Rate::new(50.0, 50), &calls);
    }

    #[test]
    fn a_burst_of_one_spaces_every_call() {
        run(
            Rate::new(10.0, 1),
            &[
                (0, None),
                (0, Some(100)),
                (99, Some(1)),
                (100, None),
                (150, Some(50)),
                (1000, None),
            ],
        );
    }

    #[test]
    fn idle_time_refills_up_to_the_burst_and_no_further() {
        // 2/s, burst 3: after 10 s idle only 3 calls pass at once.
        run(
            Rate::new(2.0, 3),
            &[
                (0, None),
                (0, None),
                (0, None),
                (0, Some(500)),
                (10_000, None),
                (10_000, None),
                (10_000, None),
                (10_000, Some(500)),
                (10_500, None),
            ],
        );
    }

    #[test]
    fn a_refused_call_takes_no_token() {
        let rate = Rate::new(1.0, 1);
        let t0 = Instant::now();
        let mut bucket = TokenBucket::full(t0);
        assert_eq!(bucket.take(&rate, t0), Ok(()));
        for _ in 0..100 {
            assert!(bucket.take(&rate, t0 + ms(500)).is_err());
        }
        assert_eq!(bucket.take(&rate, t0 + ms(1000)), Ok(()));
    }

    #[test]
    fn the_bucket_is_full_again_once_its_calls_have_drained() {
        let rate = Rate::new(4.0, 2);
        let t0 = Instant::now();
        let mut bucket = TokenBucket::full(t0);
        assert!(bucket.is_full(t0));
        bucket.take(&rate, t0).expect("a token");
        bucket.take(&rate, t0).expect("a second token");
        for (at, full) in [(0, false), (250, false), (499, false), (500, true)] {
            assert_eq!(bucket.is_full(t0 + ms(at)), full, "at {at} ms");
        }
    }

    #[test]
    fn fractional_rates_are_allowed() {
        run(
            Rate::new(0.5, 1),
            &[(0, None), (1000, Some(1000)), (2000, None)],
        );
    }
}

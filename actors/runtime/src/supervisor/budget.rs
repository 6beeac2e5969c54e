//! The restart budget of one supervised child: exponential back-off between restarts and a
//! meltdown rule ("more than `max_restarts` restarts within `window` and we stop trying").
//!
//! Plain data and a pure function of `now`, so it is tested without actors or clocks.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// How a supervisor restarts one child.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RestartPolicy {
    /// Delay before the first restart within a window; doubles with each further restart.
    pub backoff_base: Duration,
    /// Upper bound of the delay.
    pub backoff_cap: Duration,
    /// More restarts than this within `window` is a meltdown: the child stays stopped.
    pub max_restarts: u32,
    /// The sliding window the meltdown rule counts restarts in.
    pub window: Duration,
}

impl Default for RestartPolicy {
    fn default() -> Self {
        Self {
            backoff_base: Duration::from_millis(100),
            backoff_cap: Duration::from_secs(30),
            max_restarts: 5,
            window: Duration::from_secs(60),
        }
    }
}

/// What to do about a child that just exited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RestartDecision {
    /// Start it again after `delay`; this is restart number `attempt` within the window.
    Restart {
        /// How long to wait before starting it again.
        delay: Duration,
        /// 1 for the first restart within the window, 2 for the second, …
        attempt: u32,
    },
    /// Too many restarts within the window: leave it stopped.
    Meltdown {
        /// Exits counted within the window, this one included.
        exits: u32,
    },
}

/// The restart history of one child.
#[derive(Debug, Clone, Default)]
pub struct RestartBudget {
    recent: VecDeque<Instant>,
}

impl RestartBudget {
    /// Decides what to do about an exit at `now`.
    pub fn on_exit(&mut self, now: Instant, policy: &RestartPolicy) -> RestartDecision {
        while let Some(&t) = self.recent.front() {
            if now.saturating_duration_since(t) >= policy.window {
                self.recent.pop_front();
            } else {
                break;
            }
        }
        self.recent.push_back(now);
        let attempt = u32::try_from(self.recent.len()).unwrap_or(u32::MAX);
        if attempt > policy.max_restarts {
            return RestartDecision::Meltdown { exits: attempt };
        }
        let factor = 2u32.saturating_pow(attempt - 1);
        let delay = policy
            .backoff_base
            .checked_mul(factor)
            .unwrap_or(policy.backoff_cap)
            .min(policy.backoff_cap);
        RestartDecision::Restart { delay, attempt }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> RestartPolicy {
        RestartPolicy {
            backoff_base: Duration::from_millis(100),
            backoff_cap: Duration::from_millis(350),
            max_restarts: 3,
            window: Duration::from_secs(10),
        }
    }

    #[test]
    fn back_off_doubles_up_to_the_cap_then_meltdown_past_the_budget() {
        let p = policy();
        let mut b = RestartBudget::default();
        let t = Instant::now();
        let ms = Duration::from_millis;
        assert_eq!(
            b.on_exit(t, &p),
            RestartDecision::Restart {
                delay: ms(100),
                attempt: 1
            }
        );
        assert_eq!(
            b.on_exit(t + ms(1), &p),
            RestartDecision::Restart {
                delay: ms(200),
                attempt: 2
            }
        );
        assert_eq!(
            b.on_exit(t + ms(2), &p),
            RestartDecision::Restart {
                delay: ms(350),
                attempt: 3
            }
        );
        assert_eq!(
            b.on_exit(t + ms(3), &p),
            RestartDecision::Meltdown { exits: 4 }
        );
    }

    #[test]
    fn exits_older_than_the_window_are_forgotten() {
        let p = policy();
        let mut b = RestartBudget::default();
        let t = Instant::now();
        for i in 0..3 {
            b.on_exit(t + Duration::from_millis(i), &p);
        }
        // Exactly one window after the first exit, that exit no longer counts.
        let later = t + p.window + Duration::from_millis(2);
        assert_eq!(
            b.on_exit(later, &p),
            RestartDecision::Restart {
                delay: Duration::from_millis(100),
                attempt: 1
            }
        );
    }

    #[test]
    fn huge_attempt_counts_do_not_overflow_the_delay() {
        let p = RestartPolicy {
            max_restarts: 100,
            ..policy()
        };
        let mut b = RestartBudget::default();
        let t = Instant::now();
        let mut last = RestartDecision::Meltdown { exits: 0 };
        for _ in 0..60 {
            last = b.on_exit(t, &p);
        }
        assert_eq!(
            last,
            RestartDecision::Restart {
                delay: p.backoff_cap,
                attempt: 60
            }
        );
    }
}

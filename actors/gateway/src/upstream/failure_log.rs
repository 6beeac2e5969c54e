//! What att's log says about an upstream that keeps failing.
//!
//! The first failure of a streak is logged at WARN with its reason; the same reason again is
//! logged after [`FailureLog::QUIET`] at the earliest, saying how many failures it stands
//! for, and the pause doubles after each such line up to [`FailureLog::QUIET_MAX`]; a
//! different reason is logged at once; the first proof of service after a streak is logged at
//! INFO with the streak's length. An upstream that stays unreachable therefore writes a few
//! lines in its first minutes and then one an hour, however often it is retried (one line per
//! attempt, from thousands of upstreams, was most of an idle att's CPU and disk). Plain data
//! and pure functions of the time; the upstream actor writes the lines ([`Line::write`]).

use std::time::Duration;

use time::OffsetDateTime;

/// The log state of one upstream's failures.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FailureLog {
    streak: u32,
    reason: Option<String>,
    logged_at: Option<OffsetDateTime>,
    /// The pause before the same reason is logged again.
    quiet: Duration,
    unlogged: u32,
}

/// A line to write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Line {
    /// The first failure of a streak, or one with a new reason.
    Failed {
        /// Why.
        reason: String,
        /// Failures in a row so far.
        streak: u32,
    },
    /// The same failure again, standing for `times` failures since the last line.
    Again {
        /// Why.
        reason: String,
        /// Failures since the last line (this one included).
        times: u32,
        /// Failures in a row so far.
        streak: u32,
    },
    /// Served again after `streak` failures in a row.
    Recovered {
        /// The length of the streak.
        streak: u32,
    },
}

impl FailureLog {
    /// The shortest time between two lines about the same failure.
    pub const QUIET: Duration = Duration::from_secs(60);
    /// The longest.
    pub const QUIET_MAX: Duration = Duration::from_secs(3600);

    /// Records a failure at `now`; the line to write, if any.
    pub fn failed(&mut self, now: OffsetDateTime, reason: &str) -> Option<Line> {
        self.streak = self.streak.saturating_add(1);
        let same = self.reason.as_deref() == Some(reason);
        let quiet = self
            .logged_at
            .is_some_and(|at| now < crate::duration::later(at, self.quiet));
        if same && quiet {
            self.unlogged = self.unlogged.saturating_add(1);
            return None;
        }
        let times = self.unlogged.saturating_add(1);
        self.unlogged = 0;
        self.logged_at = Some(now);
        if same {
            self.quiet = self.quiet.saturating_mul(2).min(Self::QUIET_MAX);
            return Some(Line::Again {
                reason: reason.to_owned(),
                times,
                streak: self.streak,
            });
        }
        self.quiet = Self::QUIET;
        self.reason = Some(reason.to_owned());
        Some(Line::Failed {
            reason: reason.to_owned(),
            streak: self.streak,
        })
    }

    /// Records proof of service; the line to write after a streak.
    pub fn recovered(&mut self) -> Option<Line> {
        let streak = std::mem::take(self).streak;
        (streak > 0).then_some(Line::Recovered { streak })
    }
}

impl Line {
    /// Writes the line about upstream `name`.
    pub fn write(&self, name: &str) {
        match self {
            Self::Failed { reason, streak } => {
                tracing::warn!(upstream = %name, failures = streak, "upstream failed: {reason}")
            }
            Self::Again {
                reason,
                times,
                streak,
            } => tracing::warn!(
                upstream = %name, failures = streak,
                "upstream still failing ({times} times since the last report): {reason}"
            ),
            Self::Recovered { streak } => {
                tracing::info!(upstream = %name, "upstream recovered after {streak} failures")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeats_are_reported_after_a_doubling_quiet_period_with_their_count() {
        let t0 = OffsetDateTime::UNIX_EPOCH;
        let at = |s: u64| t0 + Duration::from_secs(s);
        let failed = |reason: &str, streak| {
            Some(Line::Failed {
                reason: reason.into(),
                streak,
            })
        };
        let again = |times, streak| {
            Some(Line::Again {
                reason: "refused".into(),
                times,
                streak,
            })
        };
        let mut log = FailureLog::default();
        assert_eq!(log.quiet, Duration::ZERO, "nothing logged yet: no pause");
        // (second, reason or None for proof of service, the line expected)
        let table: Vec<(u64, Option<&str>, Option<Line>)> = vec![
            (0, Some("refused"), failed("refused", 1)),
            (1, Some("refused"), None),
            (30, Some("refused"), None),
            (59, Some("refused"), None),
            (60, Some("refused"), again(4, 5)),
            // Next pause: two minutes.
            (120, Some("refused"), None),
            (180, Some("refused"), again(2, 7)),
            // Then four.
            (400, Some("refused"), None),
            (420, Some("refused"), again(2, 9)),
            (421, Some("timeout"), failed("timeout", 10)),
            (422, Some("refused"), failed("refused", 11)),
            // A new reason starts again at one minute.
            (423, Some("refused"), None),
            (482, Some("refused"), again(2, 13)),
            (483, None, Some(Line::Recovered { streak: 13 })),
            (484, None, None),
            (485, Some("refused"), failed("refused", 1)),
        ];
        for (second, reason, want) in table {
            let got = match reason {
                Some(r) => log.failed(at(second), r),
                None => log.recovered(),
            };
            assert_eq!(got, want, "at {second}s");
        }
    }
}

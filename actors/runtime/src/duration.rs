//! Durations att accepts from callers and from its configuration: the one range check, the
//! range of each kind of setting, and time arithmetic that saturates instead of panicking.
//!
//! A duration is text such as `"30s"`, `"1m 30s"`, `"250ms"` (humantime), and is checked
//! against its [`Bounds`] where it is read — a 422 naming the field for a request, a refused
//! start for the config file. Without bounds, `"99999999999h"` overflowed `now + age` inside
//! an actor (a panic at every start), `"1ns"` made a health check loop spin, and a huge grace
//! hung every stop. The ranges:
//!
//! | bounds | range | settings |
//! |---|---|---|
//! | [`TIMEOUT`] | 1 ms – 1 h | an upstream's `call_timeout`, `init_timeout`; `http.request_timeout` |
//! | [`HEALTH_INTERVAL`] | 1 s – 24 h | an upstream's `health_interval` |
//! | [`SESSION_AGE`] | 1 s – 30 days | an upstream's `max_init_age` |
//! | [`GRACE`] | 0 – 10 min | a service's `stop_grace`; `http.shutdown_grace`, `actors.stop_timeout`, `launch.switch_grace`, `launch.drain` |
//! | [`WINDOW`] | 1 s – 24 h | a service's `crash_window`; `actors.restart_window`, `launch.crash_window` |
//! | [`BACKOFF`] | 1 ms – 1 h | `actors.restart_backoff(_cap)`, `gateway.retry_backoff(_cap)` |
//! | [`POLL`] | 10 ms – 1 h | a run's `restart_watchdog_interval`, `health_check_interval`; `publish.ci_poll_initial`, `ci_poll_max` |
//! | [`JOB`] | 1 s – 24 h | a run's `health_deadline`; `change.test_timeout`, `publish.ci_budget`, a build's `timeout` |
//!
//! Records stored before these checks existed may hold anything: they are clamped into
//! range when read, with an error logged ([`Bounds::clamp`]), and every addition to a point
//! in time goes through [`later`] or [`deadline`], which saturate.

use std::time::Duration;

use time::OffsetDateTime;

/// The inclusive range a kind of duration may take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bounds {
    /// The shortest allowed.
    pub min: Duration,
    /// The longest allowed.
    pub max: Duration,
}

/// A duration outside its [`Bounds`], naming the setting.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct OutOfRange {
    /// The setting at fault.
    pub field: String,
    /// The value and the allowed range.
    pub message: String,
}

const fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}
const fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}
const MINUTE: u64 = 60;
const HOUR: u64 = 60 * MINUTE;
const DAY: u64 = 24 * HOUR;

/// Deadlines of single requests: calls, handshakes, HTTP requests.
pub const TIMEOUT: Bounds = Bounds::new(ms(1), secs(HOUR));
/// How often a healthy upstream is pinged.
pub const HEALTH_INTERVAL: Bounds = Bounds::new(secs(1), secs(DAY));
/// How long an upstream session is used before it is renewed.
pub const SESSION_AGE: Bounds = Bounds::new(secs(1), secs(30 * DAY));
/// How long a stop waits before it forces (zero: at once).
pub const GRACE: Bounds = Bounds::new(Duration::ZERO, secs(10 * MINUTE));
/// Windows that count exits or restarts.
pub const WINDOW: Bounds = Bounds::new(secs(1), secs(DAY));
/// Retry and restart delays and their caps.
pub const BACKOFF: Bounds = Bounds::new(ms(1), secs(HOUR));
/// Pauses between probes and polls.
pub const POLL: Bounds = Bounds::new(ms(10), secs(HOUR));
/// Deadlines of long work: builds, tests, CI, health gates.
pub const JOB: Bounds = Bounds::new(secs(1), secs(DAY));

impl Bounds {
    /// `min` to `max`, both included.
    pub const fn new(min: Duration, max: Duration) -> Self {
        Self { min, max }
    }

    /// Whether `value` is within the range.
    pub fn contains(&self, value: Duration) -> bool {
        (self.min..=self.max).contains(&value)
    }

    /// `value` if it is within the range; otherwise an error naming `field`, the value and
    /// the range.
    pub fn check(&self, field: &str, value: Duration) -> Result<Duration, OutOfRange> {
        if self.contains(value) {
            return Ok(value);
        }
        Err(OutOfRange {
            field: field.to_owned(),
            message: format!(
                "{} is out of range: allowed from {} to {}",
                text(value),
                text(self.min),
                text(self.max)
            ),
        })
    }

    /// `value` moved into the range; the error says what was changed (for a value read from
    /// a record written before the range existed, which must not stop att).
    pub fn clamp(&self, field: &str, value: Duration) -> (Duration, Option<OutOfRange>) {
        match self.check(field, value) {
            Ok(v) => (v, None),
            Err(e) => (value.clamp(self.min, self.max), Some(e)),
        }
    }
}

/// `"30s"`, `"1h 30m"`, `"0s"`: how att writes a duration.
pub fn text(d: Duration) -> String {
    if d.is_zero() {
        return "0s".into();
    }
    humantime::format_duration(d).to_string()
}

/// `"30s"`-style text (humantime) as a duration, with an error that shows the expected form.
pub fn parse(text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text)
        .map_err(|e| format!("`{text}` is not a duration such as \"30s\" or \"250ms\": {e}"))
}

/// `#[serde(with = "crate::duration::serde_text")]`: a duration written as [`text`] and read
/// with [`parse`] (its range is checked where the record is validated).
pub mod serde_text {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    /// Writes `d` as `"30s"`-style text.
    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::text(*d))
    }

    /// Reads `"30s"`-style text.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let text = String::deserialize(d)?;
        super::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// The longest span [`later`] and [`deadline`] add: far beyond any bounded setting, far
/// below what `Instant` or `OffsetDateTime` can hold.
const FAR: Duration = Duration::from_secs(100 * 365 * DAY);

/// `at + d`, saturating at 100 years from `at` rather than overflowing.
pub fn later(at: OffsetDateTime, d: Duration) -> OffsetDateTime {
    let d = time::Duration::try_from(d.min(FAR)).unwrap_or(time::Duration::MAX);
    at.checked_add(d).unwrap_or(at)
}

/// `at + d` for a deadline, saturating at 100 years from `at` rather than overflowing.
pub fn deadline<I>(at: I, d: Duration) -> I
where
    I: Copy + CheckedAdd,
{
    at.checked_plus(d.min(FAR)).unwrap_or(at)
}

/// Instants that add a duration without panicking.
pub trait CheckedAdd: Sized {
    /// `self + d`, `None` on overflow.
    fn checked_plus(self, d: Duration) -> Option<Self>;
}

impl CheckedAdd for std::time::Instant {
    fn checked_plus(self, d: Duration) -> Option<Self> {
        self.checked_add(d)
    }
}

impl CheckedAdd for tokio::time::Instant {
    fn checked_plus(self, d: Duration) -> Option<Self> {
        self.checked_add(d)
    }
}

/// The sum of `parts`, saturating at `Duration::MAX`.
pub fn sum(parts: &[Duration]) -> Duration {
    parts
        .iter()
        .fold(Duration::ZERO, |acc, d| acc.saturating_add(*d))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_kind_accepts_its_range_and_refuses_beyond_it() {
        let h = |n| secs(n * HOUR);
        // (what, bounds, shortest accepted, longest accepted, too short, too long)
        type Row = (
            &'static str,
            Bounds,
            Duration,
            Duration,
            Option<Duration>,
            Duration,
        );
        let table: [Row; 8] = [
            (
                "timeout",
                TIMEOUT,
                ms(1),
                h(1),
                Some(Duration::ZERO),
                h(1) + ms(1),
            ),
            (
                "health interval",
                HEALTH_INTERVAL,
                secs(1),
                h(24),
                Some(Duration::from_nanos(1)),
                h(25),
            ),
            (
                "session age",
                SESSION_AGE,
                secs(1),
                secs(30 * DAY),
                Some(ms(999)),
                h(99_999_999_999),
            ),
            ("grace", GRACE, Duration::ZERO, secs(600), None, secs(601)),
            (
                "window",
                WINDOW,
                secs(1),
                h(24),
                Some(ms(10)),
                h(24) + secs(1),
            ),
            ("backoff", BACKOFF, ms(1), h(1), Some(Duration::ZERO), h(2)),
            ("poll", POLL, ms(10), h(1), Some(ms(9)), h(1) + secs(1)),
            ("job", JOB, secs(1), h(24), Some(ms(500)), Duration::MAX),
        ];
        for (what, b, low, high, too_short, too_long) in table {
            assert_eq!(b.check("f", low), Ok(low), "{what}: shortest");
            assert_eq!(b.check("f", high), Ok(high), "{what}: longest");
            if let Some(short) = too_short {
                let e = b.check("f", short).expect_err(what);
                assert_eq!(e.field, "f");
                assert!(e.message.contains(&text(b.min)), "{what}: {e}");
            }
            let e = b.check("max_init_age", too_long).expect_err(what);
            assert!(
                e.to_string().starts_with("max_init_age: ") && e.message.contains(&text(b.max)),
                "{what}: {e}"
            );
            assert_eq!(b.clamp("f", too_long).0, b.max, "{what}");
        }
    }

    #[test]
    fn time_arithmetic_saturates_instead_of_panicking() {
        let now = OffsetDateTime::now_utc();
        assert_eq!(later(now, secs(5)), now + secs(5));
        let far = later(now, Duration::MAX);
        assert!(far > now + secs(99 * 365 * DAY), "{far}");
        let i = std::time::Instant::now();
        assert_eq!(deadline(i, secs(5)), i + secs(5));
        assert!(deadline(i, Duration::MAX) > i + secs(HOUR));
        let t = tokio::time::Instant::now();
        assert!(deadline(t, Duration::MAX) > t);
        assert_eq!(sum(&[Duration::MAX, secs(1)]), Duration::MAX);
        assert_eq!(sum(&[secs(1), ms(500)]), ms(1500));
    }

    #[test]
    fn text_round_trips_and_bad_text_says_what_is_expected() {
        for d in [Duration::ZERO, ms(250), secs(90), secs(30 * DAY)] {
            assert_eq!(parse(&text(d)), Ok(d));
        }
        let e = parse("soon").expect_err("not a duration");
        assert!(e.contains("`soon`") && e.contains("\"30s\""), "{e}");
    }
}

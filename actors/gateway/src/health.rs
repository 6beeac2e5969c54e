//! The health of one upstream: status, consecutive failures, last error, retry window.
//!
//! Plain data and pure functions of `now` (GATEWAY.md, "Status"):
//! - a **failure** adds 1 to `retry_count`, sets the error, and opens a retry window of
//!   `min(base · 2^(retry_count−1), cap)`;
//! - **proof of service** (a successful ping or call) resets everything;
//! - a successful *handshake* is neither: it does not reset the count, so a server whose
//!   handshake works but whose calls always fail climbs to `unreachable`;
//! - status is derived from the count: 0 healthy, below `unreachable_after` degraded, else
//!   unreachable; a [`Transition`] is reported only when the status value changes;
//! - background checks ([`Health::check_delay`]) run every health interval while healthy and
//!   when the retry window opens while degraded; an unreachable server's checks keep
//!   doubling past the window's cap, up to the health interval (`min(base · 2^(n−1),
//!   max(cap, interval))`), so that an idle server that stays down is checked no more often
//!   than a healthy one is pinged (calls still try it whenever its window is open).
//!
//! What "usable" means for the federated catalog follows from the status: a healthy or
//! degraded server is listed (a single failure must not make its tools flicker for every
//! client); an unreachable one is not, until proof of service makes it healthy again
//! ([`Status::is_listed`]).

use std::time::Duration;

use serde::Serialize;
use time::OffsetDateTime;

/// How usable an upstream is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// No failure since the last proof of service.
    Healthy,
    /// Failed at least once, fewer than `unreachable_after` times in a row.
    Degraded,
    /// Failed `unreachable_after` times or more in a row.
    Unreachable,
}

impl Status {
    /// Whether a server in this status has its catalog listed on att's own MCP endpoint:
    /// healthy and degraded servers are; unreachable ones are not.
    pub fn is_listed(self) -> bool {
        self != Self::Unreachable
    }

    /// The wire name (`healthy`, `degraded`, `unreachable`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Healthy => "healthy",
            Self::Degraded => "degraded",
            Self::Unreachable => "unreachable",
        }
    }
}

/// Why an attempt failed (the original system's complete set).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ErrorCategory {
    /// A health probe said unhealthy.
    HealthCheck,
    /// The handshake could not be done.
    InitializeError,
    /// A deadline passed.
    NetworkTimeout,
    /// The server answered with an HTTP error status.
    HttpStatus,
    /// The reply was not valid MCP.
    InvalidPayload,
    /// The server answered with a JSON-RPC error.
    RpcError,
    /// The connection failed or broke.
    TransportError,
    /// The TLS handshake failed: certificate not trusted, wrong name, expired, client
    /// certificate missing or refused.
    Tls,
    /// Anything else.
    Unknown,
}

impl ErrorCategory {
    /// The wire name (`rpc_error`, `network_timeout`, …), as serialized.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::HealthCheck => "health_check",
            Self::InitializeError => "initialize_error",
            Self::NetworkTimeout => "network_timeout",
            Self::HttpStatus => "http_status",
            Self::InvalidPayload => "invalid_payload",
            Self::RpcError => "rpc_error",
            Self::TransportError => "transport_error",
            Self::Tls => "tls",
            Self::Unknown => "unknown",
        }
    }
}

/// Knobs of the health rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HealthPolicy {
    /// Consecutive failures that make a server unreachable (values below 1 act as 1).
    pub unreachable_after: u32,
    /// Retry window after the first failure; doubles per further failure.
    pub backoff_base: Duration,
    /// Longest retry window.
    pub backoff_cap: Duration,
}

impl Default for HealthPolicy {
    fn default() -> Self {
        Self {
            unreachable_after: 3,
            backoff_base: Duration::from_secs(1),
            backoff_cap: Duration::from_secs(8),
        }
    }
}

/// A change of status, to be recorded as a connection event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transition {
    /// Status before.
    pub from: Status,
    /// Status after.
    pub to: Status,
    /// The error text, or `healthy` on recovery.
    pub reason: String,
}

/// The health record of one upstream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Health {
    /// Derived from `retry_count`.
    pub status: Status,
    /// Consecutive failures since the last proof of service.
    pub retry_count: u32,
    /// The last failure's text.
    pub last_error: Option<String>,
    /// The last failure's category.
    pub last_error_category: Option<ErrorCategory>,
    /// When a failure or proof of service was last recorded.
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_checked_at: Option<OffsetDateTime>,
    /// Before this instant the server is not tried (unless it is healthy).
    #[serde(with = "time::serde::rfc3339::option")]
    pub next_retry_at: Option<OffsetDateTime>,
}

impl Default for Health {
    fn default() -> Self {
        Self {
            status: Status::Healthy,
            retry_count: 0,
            last_error: None,
            last_error_category: None,
            last_checked_at: None,
            next_retry_at: None,
        }
    }
}

impl Health {
    /// Records a failure at `now`.
    pub fn on_failure(
        &mut self,
        now: OffsetDateTime,
        error: impl Into<String>,
        category: ErrorCategory,
        policy: &HealthPolicy,
    ) -> Option<Transition> {
        let from = self.status;
        self.retry_count = self.retry_count.saturating_add(1);
        self.status = if self.retry_count >= policy.unreachable_after.max(1) {
            Status::Unreachable
        } else {
            Status::Degraded
        };
        let error = error.into();
        self.last_error = Some(error.clone());
        self.last_error_category = Some(category);
        self.last_checked_at = Some(now);
        self.next_retry_at = Some(crate::duration::later(
            now,
            backoff(self.retry_count, policy),
        ));
        (from != self.status).then_some(Transition {
            from,
            to: self.status,
            reason: error,
        })
    }

    /// Records proof of service (a successful ping or call) at `now`.
    pub fn on_proof_of_service(&mut self, now: OffsetDateTime) -> Option<Transition> {
        let from = self.status;
        *self = Self {
            last_checked_at: Some(now),
            ..Self::default()
        };
        (from != Status::Healthy).then(|| Transition {
            from,
            to: Status::Healthy,
            reason: "healthy".into(),
        })
    }

    /// How long after `now` the next background check is due (see the module header):
    /// `interval` while healthy, the retry window while degraded, the longer back-off while
    /// unreachable.
    pub fn check_delay(
        &self,
        now: OffsetDateTime,
        interval: Duration,
        policy: &HealthPolicy,
    ) -> Duration {
        let due = match (self.status, self.last_checked_at) {
            (Status::Unreachable, Some(failed_at)) => {
                let patient = HealthPolicy {
                    backoff_cap: policy.backoff_cap.max(interval),
                    ..*policy
                };
                Some(crate::duration::later(
                    failed_at,
                    backoff(self.retry_count, &patient),
                ))
            }
            _ => self.next_retry_at,
        };
        match due {
            Some(at) => Duration::try_from(at - now).unwrap_or(Duration::ZERO),
            None => interval,
        }
    }

    /// Whether the server may be tried at `now`: no window, or the window has passed
    /// (exactly at `next_retry_at` it may).
    pub fn window_open(&self, now: OffsetDateTime) -> bool {
        self.next_retry_at.is_none_or(|t| now >= t)
    }
}

/// `min(base · 2^(n−1), cap)` for the n-th consecutive failure.
pub fn backoff(n: u32, policy: &HealthPolicy) -> Duration {
    let factor = 2u32.saturating_pow(n.saturating_sub(1));
    policy
        .backoff_base
        .checked_mul(factor)
        .unwrap_or(policy.backoff_cap)
        .min(policy.backoff_cap)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t0() -> OffsetDateTime {
        OffsetDateTime::UNIX_EPOCH + Duration::from_secs(1_000_000)
    }

    #[test]
    fn consecutive_failures_follow_the_documented_schedule() {
        // (failure #, status after, window in seconds) with the defaults: cap 8, after 3.
        let table = [
            (1, Status::Degraded, 1),
            (2, Status::Degraded, 2),
            (3, Status::Unreachable, 4),
            (4, Status::Unreachable, 8),
            (5, Status::Unreachable, 8),
            (6, Status::Unreachable, 8),
        ];
        let p = HealthPolicy::default();
        let mut h = Health::default();
        for (n, status, window) in table {
            h.on_failure(t0(), "down", ErrorCategory::TransportError, &p);
            assert_eq!(h.retry_count, n);
            assert_eq!(h.status, status, "after failure {n}");
            assert_eq!(
                h.next_retry_at,
                Some(t0() + Duration::from_secs(window)),
                "after failure {n}"
            );
        }
    }

    #[test]
    fn background_checks_of_an_unreachable_server_back_off_to_the_health_interval() {
        // Defaults: base 1 s, cap 8 s, unreachable after 3; health interval 30 s.
        // (failure #, retry window, next background check), in seconds after the failure.
        let table = [
            (1, 1, 1),
            (2, 2, 2),
            (3, 4, 4),
            (4, 8, 8),
            (5, 8, 16),
            (6, 8, 30),
            (7, 8, 30),
            (40, 8, 30),
        ];
        let (p, interval) = (HealthPolicy::default(), Duration::from_secs(30));
        let mut h = Health::default();
        assert_eq!(h.check_delay(t0(), interval, &p), interval, "healthy");
        for (n, window, check) in table {
            while h.retry_count < n {
                h.on_failure(t0(), "down", ErrorCategory::TransportError, &p);
            }
            let window_at = h.next_retry_at.expect("window");
            assert_eq!(window_at - t0(), Duration::from_secs(window), "failure {n}");
            assert_eq!(
                h.check_delay(t0(), interval, &p),
                Duration::from_secs(check),
                "failure {n}"
            );
            // Later in the wait, only what is left; past due, at once.
            let later = t0() + Duration::from_millis(500);
            assert_eq!(
                h.check_delay(later, interval, &p),
                Duration::from_secs(check) - Duration::from_millis(500)
            );
            let past = t0() + Duration::from_secs(100);
            assert_eq!(h.check_delay(past, interval, &p), Duration::ZERO);
        }
        // A short interval never checks an unreachable server more often than its window.
        let short = Duration::from_secs(1);
        assert_eq!(h.check_delay(t0(), short, &p), Duration::from_secs(8));
        h.on_proof_of_service(t0());
        assert_eq!(h.check_delay(t0(), interval, &p), interval);
    }

    #[test]
    fn only_unreachable_servers_leave_the_listing() {
        assert!(Status::Healthy.is_listed());
        assert!(Status::Degraded.is_listed());
        assert!(!Status::Unreachable.is_listed());
    }

    #[test]
    fn transitions_are_reported_only_when_the_status_changes() {
        let p = HealthPolicy::default();
        let mut h = Health::default();
        let events: Vec<Option<(Status, Status, String)>> = [
            h.on_failure(t0(), "e1", ErrorCategory::RpcError, &p),
            h.on_failure(t0(), "e2", ErrorCategory::RpcError, &p),
            h.on_failure(t0(), "e3", ErrorCategory::RpcError, &p),
            h.on_failure(t0(), "e4", ErrorCategory::RpcError, &p),
            h.on_proof_of_service(t0()),
            h.on_proof_of_service(t0()),
        ]
        .into_iter()
        .map(|t| t.map(|t| (t.from, t.to, t.reason)))
        .collect();
        use Status::*;
        assert_eq!(
            events,
            [
                Some((Healthy, Degraded, "e1".into())),
                None,
                Some((Degraded, Unreachable, "e3".into())),
                None,
                Some((Unreachable, Healthy, "healthy".into())),
                None,
            ]
        );
    }

    #[test]
    fn proof_of_service_clears_error_and_window() {
        let p = HealthPolicy::default();
        let mut h = Health::default();
        h.on_failure(t0(), "boom", ErrorCategory::NetworkTimeout, &p);
        let later = t0() + Duration::from_secs(30);
        h.on_proof_of_service(later);
        assert_eq!(
            h,
            Health {
                last_checked_at: Some(later),
                ..Health::default()
            }
        );
    }

    #[test]
    fn the_window_opens_exactly_at_next_retry_at() {
        let p = HealthPolicy::default();
        let mut h = Health::default();
        assert!(h.window_open(t0()));
        h.on_failure(t0(), "x", ErrorCategory::Unknown, &p);
        let at = h.next_retry_at.expect("window");
        assert!(!h.window_open(at - Duration::from_millis(1)));
        assert!(h.window_open(at));
    }

    #[test]
    fn unreachable_after_one_or_zero_goes_straight_to_unreachable() {
        for after in [0, 1] {
            let p = HealthPolicy {
                unreachable_after: after,
                ..HealthPolicy::default()
            };
            let mut h = Health::default();
            h.on_failure(t0(), "x", ErrorCategory::Unknown, &p);
            assert_eq!(h.status, Status::Unreachable);
        }
    }

    #[test]
    fn a_zero_cap_means_the_window_is_always_open() {
        let p = HealthPolicy {
            backoff_cap: Duration::ZERO,
            ..HealthPolicy::default()
        };
        let mut h = Health::default();
        h.on_failure(t0(), "x", ErrorCategory::Unknown, &p);
        assert!(h.window_open(t0()));
    }
}

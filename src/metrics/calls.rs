//! Call metrics per upstream and per tool: how long calls took, how they failed, retries and
//! failovers — counted from each invocation's record in the event writer's task
//! ([`att_gateway::invocation::InvocationMeter`]), so a call pays nothing on its own path
//! beyond what its invocation events already cost. (Calls in flight are read from each
//! upstream's call gate at scrape time, in `metrics.rs`.)
//!
//! Labels stay bounded: `upstream` is a registered name (at most [`MAX_UPSTREAM_LABELS`]
//! distinct, then `other`: names come and go with registrations), `target` is the tool or
//! prompt name or the resource URI — chosen by the upstream or the caller, so it is
//! sanitized ([`target_label`]) and at most [`MAX_TARGET_LABELS`] distinct per upstream, then
//! `other` — and `category` is one of a fixed set ([`att_gateway::call_tally`]).

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

use att_gateway::call_tally::tally;
use att_gateway::invocation::{Invocation, InvocationMeter};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// Distinct `target` label values kept per upstream; later ones are counted as `other`.
pub const MAX_TARGET_LABELS: usize = 256;
/// Distinct `upstream` label values kept; later ones are counted as `other`.
pub const MAX_UPSTREAM_LABELS: usize = 1024;
/// The longest `target` label, in bytes; a longer name is cut (at a character boundary).
pub const MAX_TARGET_LEN: usize = 128;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CallLabels {
    upstream: String,
    method: String,
    target: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ErrorLabels {
    upstream: String,
    method: String,
    target: String,
    category: String,
}

type Durations = Family<CallLabels, Histogram, fn() -> Histogram>;

fn call_buckets() -> Histogram {
    // 0.5 ms to ~131 s, as the HTTP request histogram.
    Histogram::new(exponential_buckets(0.0005, 4.0, 10))
}

/// The call metrics, fed by the event writer.
#[derive(Debug)]
pub struct CallMetrics {
    durations: Durations,
    errors: Family<ErrorLabels, Counter>,
    retries: Family<CallLabels, Counter>,
    failovers: Family<CallLabels, Counter>,
    labels: Mutex<Labels>,
}

/// The label values seen so far (the caps' memory).
#[derive(Debug, Default)]
struct Labels {
    targets: HashMap<String, HashSet<String>>,
}

impl Labels {
    /// The `(upstream, target)` labels of a call to `target` on `upstream`, within the caps.
    fn of(&mut self, upstream: &str, target: &str) -> (String, String) {
        let upstream =
            if self.targets.contains_key(upstream) || self.targets.len() < MAX_UPSTREAM_LABELS {
                upstream
            } else {
                "other"
            };
        let seen = self.targets.entry(upstream.to_owned()).or_default();
        let target = target_label(target);
        let target = if seen.contains(&target) || seen.len() < MAX_TARGET_LABELS {
            seen.insert(target.clone());
            target
        } else {
            "other".to_owned()
        };
        (upstream.to_owned(), target)
    }
}

/// `name` as a label value: characters outside `[A-Za-z0-9_.:/-]` become `_`, at most
/// [`MAX_TARGET_LEN`] bytes, `-` when empty.
pub fn target_label(name: &str) -> String {
    let mut out = String::with_capacity(name.len().min(MAX_TARGET_LEN));
    for c in name.chars() {
        let c = if c.is_ascii_alphanumeric() || "_.:/-".contains(c) {
            c
        } else {
            '_'
        };
        if out.len() + c.len_utf8() > MAX_TARGET_LEN {
            break;
        }
        out.push(c);
    }
    if out.is_empty() {
        out.push('-');
    }
    out
}

impl Default for CallMetrics {
    fn default() -> Self {
        Self {
            durations: Durations::new_with_constructor(call_buckets),
            errors: Family::default(),
            retries: Family::default(),
            failovers: Family::default(),
            labels: Mutex::default(),
        }
    }
}

impl CallMetrics {
    /// Registers the call metrics in `registry`.
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "upstream_call_duration_seconds",
            "Calls sent to an upstream that ended (answered or failed), and how long each took, by upstream, method and target (tool, prompt or resource)",
            self.durations.clone(),
        );
        registry.register(
            "upstream_call_errors",
            "Failed attempts on an upstream by category (the upstream's own, or `caller_error`, `session_expired`, `busy`, `abandoned`), upstream, method and target",
            self.errors.clone(),
        );
        registry.register(
            "upstream_call_retries",
            "Calls sent to an upstream after an earlier attempt of the same invocation failed (on another upstream, or on a forgotten session), by the upstream called",
            self.retries.clone(),
        );
        registry.register(
            "upstream_call_failovers",
            "Invocations answered by an upstream after another upstream failed them, by the upstream that answered",
            self.failovers.clone(),
        );
    }
}

impl InvocationMeter for CallMetrics {
    fn observe(&self, invocation: &Invocation) {
        let counted = tally(invocation);
        let method = invocation.method.to_owned();
        let mut seen = self.labels.lock().unwrap_or_else(|p| p.into_inner());
        let mut labels = |server: &str| {
            let (upstream, target) = seen.of(server, invocation.target());
            CallLabels {
                upstream,
                method: method.clone(),
                target,
            }
        };
        for (server, elapsed) in counted.calls {
            self.durations
                .get_or_create(&labels(server))
                .observe(elapsed.as_secs_f64());
        }
        for (server, category) in counted.errors {
            let CallLabels {
                upstream,
                method,
                target,
            } = labels(server);
            self.errors
                .get_or_create(&ErrorLabels {
                    upstream,
                    method,
                    target,
                    category: category.to_owned(),
                })
                .inc();
        }
        for server in counted.retries {
            self.retries.get_or_create(&labels(server)).inc();
        }
        if let Some(server) = counted.failover {
            self.failovers.get_or_create(&labels(server)).inc();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn target_labels_are_sanitized_and_cut() {
        let long = "x".repeat(MAX_TARGET_LEN + 10);
        let rows = [
            ("echo", "echo"),
            ("file:///a b/c.txt", "file:///a_b/c.txt"),
            ("naïve\"}\n", "na_ve___"),
            ("", "-"),
            (long.as_str(), &long[..MAX_TARGET_LEN]),
        ];
        for (name, want) in rows {
            assert_eq!(target_label(name), want, "{name:?}");
        }
    }

    #[test]
    fn past_the_cap_an_upstreams_new_targets_count_as_other() {
        let mut labels = Labels::default();
        for i in 0..MAX_TARGET_LABELS {
            assert_eq!(labels.of("a", &format!("t{i}")).1, format!("t{i}"));
        }
        assert_eq!(labels.of("a", "one_more").1, "other");
        assert_eq!(
            labels.of("a", "t0").1,
            "t0",
            "a known target keeps its label"
        );
        assert_eq!(
            labels.of("b", "one_more").1,
            "one_more",
            "caps are per upstream"
        );
    }
}

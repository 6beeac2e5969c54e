//! Release-run metrics: runs started and ended by outcome, phase durations, rollbacks —
//! read from the release pipeline's own `bootstrap.phase` and `bootstrap.run` events as the
//! pipeline emits them ([`RunMeteredSink`] sits between it and the event log), so the
//! metrics and the run history never disagree and the pipeline knows nothing of metrics.
//!
//! Labels are fixed sets: `phase` is one of the pipeline's phases, `status` how a phase
//! ended, `outcome` how a run ended; anything else is counted as `other`. Targets are not a
//! label (the run history has them per run).

use std::sync::Arc;

use att_runtime::events::{EventSink, NewEvent, Record};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

const PHASES: [&str; 9] = [
    "resolve",
    "change",
    "publish",
    "build",
    "deploy",
    "restart_watchdog",
    "health",
    "guard",
    "rollback",
];
const PHASE_ENDS: [&str; 3] = ["succeeded", "failed", "cancelled"];
const RUN_ENDS: [&str; 4] = ["succeeded", "failed", "interrupted", "cancelled"];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PhaseLabels {
    phase: &'static str,
    status: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RunLabels {
    outcome: &'static str,
}

type Durations = Family<PhaseLabels, Histogram, fn() -> Histogram>;

fn phase_buckets() -> Histogram {
    // 10 ms to ~1.5 h: phases run from a resolve to a CI wait.
    Histogram::new(exponential_buckets(0.01, 4.0, 11))
}

/// `value` if it is one of `known`, else `other`.
fn bounded(value: Option<&str>, known: &[&'static str]) -> &'static str {
    value
        .and_then(|v| known.iter().find(|k| **k == v).copied())
        .unwrap_or("other")
}

/// The release-run metrics.
#[derive(Debug)]
pub struct RunMetrics {
    started: Counter,
    ended: Family<RunLabels, Counter>,
    phases: Durations,
    rollbacks: Counter,
}

impl Default for RunMetrics {
    fn default() -> Self {
        Self {
            started: Counter::default(),
            ended: Family::default(),
            phases: Durations::new_with_constructor(phase_buckets),
            rollbacks: Counter::default(),
        }
    }
}

impl RunMetrics {
    /// Registers the run metrics in `registry`.
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "release_runs_started",
            "Release runs that began (their `resolve` phase started)",
            self.started.clone(),
        );
        registry.register(
            "release_runs_ended",
            "Release runs that ended, by outcome (`succeeded`, `failed`, `interrupted`, `cancelled`)",
            self.ended.clone(),
        );
        registry.register(
            "release_phase_duration_seconds",
            "Release-run phases that ended and how long each took, by phase and status (`succeeded`, `failed`, `cancelled`)",
            self.phases.clone(),
        );
        registry.register(
            "release_rollbacks",
            "Rollbacks begun by release runs (a `rollback` phase started)",
            self.rollbacks.clone(),
        );
    }

    /// Counts what `event` says, if it is one of the pipeline's.
    pub fn observe(&self, event: &NewEvent) {
        let d = &event.data;
        let field = |k: &str| d.get(k).and_then(serde_json::Value::as_str);
        match event.kind.as_str() {
            "bootstrap.phase" => {
                let phase = bounded(field("phase"), &PHASES);
                match field("status") {
                    Some("running") if phase == "resolve" => {
                        self.started.inc();
                    }
                    Some("running") if phase == "rollback" => {
                        self.rollbacks.inc();
                    }
                    Some("running") => {}
                    status => {
                        let status = bounded(status, &PHASE_ENDS);
                        let seconds = d
                            .get("elapsed_ms")
                            .and_then(serde_json::Value::as_u64)
                            .map_or(0.0, |ms| ms as f64 / 1000.0);
                        self.phases
                            .get_or_create(&PhaseLabels { phase, status })
                            .observe(seconds);
                    }
                }
            }
            "bootstrap.run" => {
                let outcome = bounded(field("status"), &RUN_ENDS);
                self.ended.get_or_create(&RunLabels { outcome }).inc();
            }
            _ => {}
        }
    }
}

/// The event sink the release pipeline is given: each event is counted, then passed on.
pub struct RunMeteredSink {
    /// The event log.
    pub inner: Arc<dyn EventSink>,
    /// Where runs are counted.
    pub metrics: Arc<RunMetrics>,
}

impl EventSink for RunMeteredSink {
    fn emit(&self, event: NewEvent) {
        self.metrics.observe(&event);
        self.inner.emit(event);
    }

    fn emit_record(&self, record: Box<dyn Record>) {
        self.inner.emit_record(record);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_runs_events_count_its_start_phases_rollback_and_end() {
        let mut registry = Registry::with_prefix("att");
        let m = RunMetrics::default();
        m.register(&mut registry);
        let phase = |phase: &str, status: &str, ms: Option<u64>| {
            NewEvent::new(
                "bootstrap.phase",
                json!({"phase": phase, "status": status, "elapsed_ms": ms}),
            )
        };
        for e in [
            phase("resolve", "running", None),
            phase("resolve", "succeeded", Some(20)),
            phase("deploy", "running", None),
            phase("deploy", "failed", Some(1500)),
            phase("rollback", "running", None),
            phase("rollback", "succeeded", Some(300)),
            phase("made_up", "weird", Some(1)),
            NewEvent::new("bootstrap.run", json!({"status": "failed"})),
            NewEvent::new("invocation", json!({"status": "failed"})),
        ] {
            m.observe(&e);
        }
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).expect("encode");
        for line in [
            "att_release_runs_started_total 1",
            "att_release_rollbacks_total 1",
            r#"att_release_runs_ended_total{outcome="failed"} 1"#,
            r#"att_release_phase_duration_seconds_count{phase="resolve",status="succeeded"} 1"#,
            r#"att_release_phase_duration_seconds_sum{phase="deploy",status="failed"} 1.5"#,
            r#"att_release_phase_duration_seconds_count{phase="rollback",status="succeeded"} 1"#,
            r#"att_release_phase_duration_seconds_count{phase="other",status="other"} 1"#,
        ] {
            assert!(text.lines().any(|l| l == line), "{line}\n{text}");
        }
    }
}

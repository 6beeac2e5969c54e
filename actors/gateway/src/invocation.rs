//! The invocation record: every phase of one routed call (`initialize_*`, `invoke_*`,
//! `busy`), kept typed while the call runs and handed to the event log once, when it ends.
//!
//! Each phase becomes one `invocation` event, `{server, method, request_id, phase, error,
//! error_category}` correlated by the request id and timed when the phase happened — the
//! events the invocation history, the dashboard's latency sparklines and a request's timeline
//! read. Building their JSON is the event writer's work ([`Record`]): a warm call pays for
//! one queue send, not for two JSON objects on its own path.
//!
//! The record is emitted when it is dropped, so a call whose caller went away (the future
//! cancelled mid-call) still leaves the phases it reached.
//!
//! With an [`InvocationMeter`], the writer shows the record to it before building the events:
//! the per-upstream, per-tool call metrics are counted there, off the caller's path, from the
//! same phases the events carry ([`crate::call_tally`]). The record names what was called (the
//! tool, prompt or resource) in the same allocation as the request id, so metering costs the
//! call nothing but the pointer to the meter.

use std::sync::Arc;

use att_runtime::events::{EventSink, NewEvent, Record};
use time::OffsetDateTime;

use crate::upstream::CallFailure;

/// One phase of an invocation.
#[derive(Debug, Clone, PartialEq)]
pub struct Phase {
    /// When it happened.
    pub at: OffsetDateTime,
    /// The upstream.
    pub server: String,
    /// `initialize_start`, `initialize_success`, `initialize_failure`, `invoke_start`,
    /// `invoke_success`, `invoke_failure` or `busy`.
    pub phase: &'static str,
    /// What went wrong, for a failure.
    pub failure: Option<CallFailure>,
}

/// The phases of one invocation, in order.
#[derive(Debug, Clone, PartialEq)]
pub struct Invocation {
    /// The MCP method.
    pub method: &'static str,
    /// The request id, then the target's name: one allocation for both.
    ids: String,
    /// Where the target's name starts in `ids`.
    split: usize,
    /// What happened, in order.
    pub phases: Vec<Phase>,
}

/// Takes each finished invocation's record, in the event writer's task (off the caller's
/// path): the call metrics are counted here.
pub trait InvocationMeter: Send + Sync + 'static {
    /// Counts what `invocation` did.
    fn observe(&self, invocation: &Invocation);
}

impl Invocation {
    /// The record of `method` on `target` (a tool or prompt name, a resource URI), made as
    /// request `request_id`, with no phase yet.
    pub fn new(method: &'static str, request_id: &str, target: &str) -> Self {
        let mut ids = String::with_capacity(request_id.len() + target.len());
        ids.push_str(request_id);
        ids.push_str(target);
        Self {
            method,
            ids,
            split: request_id.len(),
            phases: Vec::with_capacity(2),
        }
    }

    /// The request id (the events' correlation id).
    pub fn request_id(&self) -> &str {
        &self.ids[..self.split]
    }

    /// What was called: the tool or prompt name, or the resource URI.
    pub fn target(&self) -> &str {
        &self.ids[self.split..]
    }

    /// Notes that `phase` happened on `server` now.
    pub fn note(&mut self, server: &str, phase: &'static str, failure: Option<&CallFailure>) {
        self.phases.push(Phase {
            at: OffsetDateTime::now_utc(),
            server: server.to_owned(),
            phase,
            failure: failure.cloned(),
        });
    }
}

impl Record for Invocation {
    fn into_events(self: Box<Self>, out: &mut Vec<NewEvent>) {
        (*self).push_events(out);
    }
}

impl Invocation {
    fn push_events(self, out: &mut Vec<NewEvent>) {
        let request_id = self.request_id();
        out.reserve(self.phases.len());
        for p in &self.phases {
            let failure = p.failure.as_ref();
            // Printed straight from the typed phase: no map of values built and dropped per
            // event. Keys in the order a `json!` map prints them (sorted), as before.
            let data = PhaseData {
                error: failure.map(CallFailure::message),
                error_category: failure.map(CallFailure::category),
                method: self.method,
                phase: p.phase,
                request_id,
                server: &p.server,
            };
            out.push(NewEvent::printed(
                p.at,
                "invocation",
                Some(request_id.to_owned()),
                &data,
            ));
        }
    }
}

/// One phase's event payload, as it is printed.
#[derive(serde::Serialize)]
struct PhaseData<'a> {
    error: Option<String>,
    error_category: Option<crate::health::ErrorCategory>,
    method: &'a str,
    phase: &'a str,
    request_id: &'a str,
    server: &'a str,
}

/// A record on its way to the writer with the meter that counts it there.
struct Metered {
    record: Invocation,
    meter: Arc<dyn InvocationMeter>,
}

impl Record for Metered {
    fn into_events(self: Box<Self>, out: &mut Vec<NewEvent>) {
        self.meter.observe(&self.record);
        self.record.push_events(out);
    }
}

/// An invocation under way: its record goes to `sink` (with `meter`, when there is one) when
/// this is dropped (the call ended, or its caller went away), if anything happened.
pub(crate) struct Recording<'a> {
    sink: &'a dyn EventSink,
    meter: Option<&'a Arc<dyn InvocationMeter>>,
    record: Invocation,
}

impl<'a> Recording<'a> {
    /// Starts the record of `method` on `target` as request `request_id`.
    pub(crate) fn new(
        sink: &'a dyn EventSink,
        meter: Option<&'a Arc<dyn InvocationMeter>>,
        method: &'static str,
        request_id: &str,
        target: &str,
    ) -> Self {
        Self {
            sink,
            meter,
            record: Invocation::new(method, request_id, target),
        }
    }

    /// Notes that `phase` happened on `server` now.
    pub(crate) fn note(
        &mut self,
        server: &str,
        phase: &'static str,
        failure: Option<&CallFailure>,
    ) {
        self.record.note(server, phase, failure);
    }
}

impl Drop for Recording<'_> {
    fn drop(&mut self) {
        if self.record.phases.is_empty() {
            return;
        }
        let record = Invocation {
            method: self.record.method,
            ids: std::mem::take(&mut self.record.ids),
            split: self.record.split,
            phases: std::mem::take(&mut self.record.phases),
        };
        match self.meter {
            Some(meter) => self.sink.emit_record(Box::new(Metered {
                record,
                meter: meter.clone(),
            })),
            None => self.sink.emit_record(Box::new(record)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::upstream::ErrorCategory;

    #[test]
    fn each_phase_becomes_one_invocation_event_in_order_with_its_time_and_error() {
        let mut record = Invocation::new("tools/call", "r1", "echo");
        assert_eq!((record.request_id(), record.target()), ("r1", "echo"));
        let failure = CallFailure::NotSent {
            message: "refused".into(),
            category: ErrorCategory::InitializeError,
        };
        record.note("a", "initialize_start", None);
        record.note("a", "initialize_failure", Some(&failure));
        record.note("b", "invoke_start", None);
        record.note("b", "invoke_success", None);
        let times: Vec<OffsetDateTime> = record.phases.iter().map(|p| p.at).collect();
        let mut events = Vec::new();
        Box::new(record).into_events(&mut events);
        let data: Vec<serde_json::Value> =
            events.iter().map(|e| e.payload().into_owned()).collect();
        let rows: Vec<(&str, &str, Option<&str>)> = events
            .iter()
            .zip(&data)
            .map(|(e, data)| {
                assert_eq!(e.kind, "invocation");
                assert_eq!(e.correlation_id.as_deref(), Some("r1"));
                assert_eq!(data["method"], "tools/call");
                assert_eq!(data["request_id"], "r1");
                (
                    data["server"].as_str().unwrap_or_default(),
                    data["phase"].as_str().unwrap_or_default(),
                    data["error"].as_str(),
                )
            })
            .collect();
        assert_eq!(
            rows,
            [
                ("a", "initialize_start", None),
                ("a", "initialize_failure", Some("refused")),
                ("b", "invoke_start", None),
                ("b", "invoke_success", None),
            ]
        );
        assert_eq!(data[1]["error_category"], "initialize_error");
        assert_eq!(data[2]["error_category"], serde_json::Value::Null);
        // Every field is there, null or not, and printed as a `json!` map prints it.
        assert_eq!(
            events[3].data_text(),
            r#"{"error":null,"error_category":null,"method":"tools/call","phase":"invoke_success","request_id":"r1","server":"b"}"#
        );
        assert_eq!(events.iter().map(|e| e.at).collect::<Vec<_>>(), times);
    }
}

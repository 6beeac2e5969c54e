//! Latency sparklines of the upstream table: each server's newest call latencies, taken from
//! the invocation events (an `invoke_start` and the `invoke_success`/`invoke_failure` of the
//! same request id and server; the difference of their timestamps), drawn as a small SVG.
//!
//! One event query for the whole table ([`EVENTS`] newest invocation events), grouped here;
//! [`latencies`] is a pure function, table-tested.

use std::collections::{BTreeMap, HashMap};

use att_runtime::events::{Event, EventQuery};
use maud::{Markup, html};

use crate::http::AppState;

/// Invocation events read per table render.
pub const EVENTS: u32 = 1000;
/// Points per sparkline.
pub const POINTS: usize = 20;

/// Per server, the latencies (ms) of its newest calls, oldest first (at most [`POINTS`]).
pub fn latencies(events: &[Event]) -> BTreeMap<String, Vec<f64>> {
    let mut started: HashMap<(&str, &str), time::OffsetDateTime> = HashMap::new();
    let mut out: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    for e in events {
        let (Some(server), Some(request), Some(phase)) = (
            e.data["server"].as_str(),
            e.data["request_id"].as_str(),
            e.data["phase"].as_str(),
        ) else {
            continue;
        };
        match phase {
            "invoke_start" => {
                started.insert((server, request), e.at);
            }
            "invoke_success" | "invoke_failure" => {
                if let Some(t0) = started.remove(&(server, request)) {
                    let ms = (e.at - t0).as_seconds_f64() * 1000.0;
                    out.entry(server.to_owned()).or_default().push(ms.max(0.0));
                }
            }
            _ => {}
        }
    }
    for v in out.values_mut() {
        let extra = v.len().saturating_sub(POINTS);
        v.drain(..extra);
    }
    out
}

/// The newest latencies of every server (empty when the event log cannot be read).
pub async fn of_all(state: &AppState) -> BTreeMap<String, Vec<f64>> {
    let q = EventQuery {
        kind: Some("invocation".into()),
        limit: EVENTS,
        ..EventQuery::default()
    };
    state
        .events
        .query(q)
        .await
        .map(|events| latencies(&events))
        .unwrap_or_default()
}

/// `values` as a 100×20 polyline, with the newest value in words beside it.
pub fn svg(values: &[f64]) -> Markup {
    if values.is_empty() {
        return html! { span.muted { "no calls" } };
    }
    let max = values.iter().copied().fold(0.0_f64, f64::max).max(0.001);
    let step = 100.0 / (values.len().max(2) - 1) as f64;
    let points: Vec<String> = values
        .iter()
        .enumerate()
        .map(|(i, v)| format!("{:.1},{:.1}", i as f64 * step, 19.0 - v / max * 18.0))
        .collect();
    let last = values.last().copied().unwrap_or_default();
    html! {
        svg.sparkline viewBox="0 0 100 20" width="100" height="20" role="img"
            aria-label={"latency of the last " (values.len()) " calls, newest " (format!("{last:.1}")) " ms"} {
            polyline points=(points.join(" ")) {}
        }
        " " span.muted { (format!("{last:.1} ms")) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use time::macros::datetime;

    fn event(ms: i64, server: &str, request: &str, phase: &str) -> Event {
        Event {
            id: ms,
            at: datetime!(2026-01-01 0:00 UTC) + time::Duration::milliseconds(ms),
            kind: "invocation".into(),
            correlation_id: Some(request.into()),
            data: json!({"server": server, "request_id": request, "phase": phase}),
            node: None,
        }
    }

    #[test]
    fn a_latency_is_the_time_from_start_to_end_of_one_request_on_one_server() {
        let events = [
            event(0, "a", "r1", "invoke_start"),
            event(5, "b", "r2", "invoke_start"),
            event(12, "a", "r1", "invoke_success"),
            // r2 failed over: its start on `b` never ended; it ended on `a`.
            event(20, "a", "r2", "invoke_start"),
            event(27, "a", "r2", "invoke_failure"),
            // An end without a start (the start is older than the query) is skipped.
            event(30, "b", "r0", "invoke_success"),
            event(31, "a", "r3", "attempt_failed"),
        ];
        let got = latencies(&events);
        assert_eq!(got.get("a"), Some(&vec![12.0, 7.0]));
        assert_eq!(got.get("b"), None);
    }

    #[test]
    fn only_the_newest_points_are_kept() {
        let mut events = Vec::new();
        for i in 0..(POINTS as i64 + 5) {
            events.push(event(i * 100, "a", &format!("r{i}"), "invoke_start"));
            events.push(event(i * 100 + i, "a", &format!("r{i}"), "invoke_success"));
        }
        let got = &latencies(&events)["a"];
        assert_eq!(got.len(), POINTS);
        assert_eq!(got[0], 5.0);
        assert_eq!(*got.last().unwrap(), (POINTS + 4) as f64);
    }
}

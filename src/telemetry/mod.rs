//! Logging and traces: `tracing` to stderr, human or JSON, filtered by `RUST_LOG` or the
//! config; with `[telemetry] otlp_endpoint`, att's spans exported over OTLP as well.
//!
//! rmcp's transport worker writes an ERROR line each time a session ends with an error —
//! every failed attempt at an unreachable upstream, thousands a minute with many upstreams.
//! att reports each upstream's failures itself (the first at WARN, repeats about once a
//! minute with their count: `upstream::failure_log`), so those lines are off unless the
//! filter names `rmcp` itself.
//!
//! Traces: [`otlp_spans`] (the layer: which spans, their ids and nesting, the caller's
//! `traceparent`), [`otlp_export`] (the bounded queue and the exporter thread) and
//! [`otlp_wire`] (the protobuf). The log filter does not apply to exported spans: they have
//! their own ([`otlp_spans::is_exported`]). Without an endpoint the subscriber is the plain
//! log subscriber, as if telemetry did not exist.

pub mod otlp_export;
pub mod otlp_spans;
pub mod otlp_wire;

use tracing_subscriber::EnvFilter;

/// The filter directive that silences rmcp's per-session error lines.
const QUIET_RMCP: &str = "rmcp::transport::worker=off";

/// `filter` with [`QUIET_RMCP`] added, unless it says something about rmcp itself.
fn with_quiet_rmcp(filter: &str) -> String {
    if filter.contains("rmcp") {
        filter.to_owned()
    } else if filter.trim().is_empty() {
        format!("info,{QUIET_RMCP}")
    } else {
        format!("{filter},{QUIET_RMCP}")
    }
}

use crate::config::{LogFormat, TelemetryConfig};

/// Installs the global subscriber, with the span exporter when `telemetry` names an
/// endpoint. Safe to call more than once (later calls do nothing).
pub fn init(format: LogFormat, level: &str, telemetry: &TelemetryConfig) {
    use tracing_subscriber::Layer;
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;

    let from_env = std::env::var(EnvFilter::DEFAULT_ENV).ok();
    let filter = from_env
        .and_then(|f| EnvFilter::try_new(with_quiet_rmcp(&f)).ok())
        .or_else(|| EnvFilter::try_new(with_quiet_rmcp(level)).ok())
        .unwrap_or_else(|| EnvFilter::new(with_quiet_rmcp("info")));
    let queue = match telemetry.otlp_endpoint {
        None => None,
        Some(_) => otlp_export::start(telemetry)
            .inspect_err(|e| eprintln!("att: traces are not exported: {e}"))
            .ok(),
    };
    if let Some(queue) = queue {
        let otlp = otlp_spans::OtlpLayer::new(queue);
        let only_exported = || tracing_subscriber::filter::filter_fn(otlp_spans::is_exported);
        let registry = tracing_subscriber::registry();
        let _ = match format {
            LogFormat::Human => registry
                .with(
                    tracing_subscriber::fmt::layer()
                        .with_writer(std::io::stderr)
                        .with_filter(filter),
                )
                .with(otlp.with_filter(only_exported()))
                .try_init(),
            LogFormat::Json => registry
                .with(
                    tracing_subscriber::fmt::layer()
                        .json()
                        .flatten_event(true)
                        .with_current_span(true)
                        .with_writer(std::io::stderr)
                        .with_filter(filter),
                )
                .with(otlp.with_filter(only_exported()))
                .try_init(),
        };
        return;
    }
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Human => builder.try_init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .try_init(),
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rmcp_worker_lines_are_off_unless_the_filter_names_rmcp() {
        let table = [
            ("info", "info,rmcp::transport::worker=off"),
            ("", "info,rmcp::transport::worker=off"),
            (
                "att=debug,warn",
                "att=debug,warn,rmcp::transport::worker=off",
            ),
            ("info,rmcp=debug", "info,rmcp=debug"),
        ];
        for (given, used) in table {
            assert_eq!(with_quiet_rmcp(given), used, "{given:?}");
            assert!(EnvFilter::try_new(used).is_ok(), "{used}");
        }
    }
}

//! `[telemetry]`: where att sends its traces (OTLP over HTTP, protobuf) and how much it keeps
//! waiting for the collector. Unset `otlp_endpoint`: no exporter, no span ids, nothing
//! propagated — the spans att opens for its logs cost what they cost without telemetry.
//!
//! `headers` may carry a collector's API key: `Debug` shows their names only.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;

/// Traces export (OpenTelemetry, OTLP/HTTP protobuf).
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TelemetryConfig {
    /// The OTLP/HTTP collector's base URL, e.g. `http://127.0.0.1:4318`: att POSTs its spans
    /// to `{otlp_endpoint}/v1/traces`. Unset: no traces are exported.
    pub otlp_endpoint: Option<String>,
    /// The `service.name` of att's spans.
    pub service_name: String,
    /// Headers sent with every export, e.g. `{ "x-api-key" = "…" }` (not shown in logs).
    pub headers: BTreeMap<String, String>,
    /// Finished spans held for the exporter at most; a span finished while it is full is
    /// dropped and counted (`att_otlp_spans_dropped_total`) — a slow collector never slows a
    /// request.
    pub export_queue: usize,
    /// Spans per export request at most.
    pub export_batch: usize,
    /// How long a batch waits for more spans before it is sent.
    #[serde(with = "humantime_serde")]
    pub export_interval: Duration,
    /// How long an export request may take before it is given up (its spans are dropped).
    #[serde(with = "humantime_serde")]
    pub export_timeout: Duration,
}

impl Default for TelemetryConfig {
    fn default() -> Self {
        Self {
            otlp_endpoint: None,
            service_name: "att".into(),
            headers: BTreeMap::new(),
            export_queue: 4096,
            export_batch: 512,
            export_interval: Duration::from_secs(1),
            export_timeout: Duration::from_secs(10),
        }
    }
}

impl std::fmt::Debug for TelemetryConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TelemetryConfig")
            .field("otlp_endpoint", &self.otlp_endpoint)
            .field("service_name", &self.service_name)
            .field("headers", &self.headers.keys().collect::<Vec<_>>())
            .field("export_queue", &self.export_queue)
            .field("export_batch", &self.export_batch)
            .field("export_interval", &self.export_interval)
            .field("export_timeout", &self.export_timeout)
            .finish()
    }
}

impl TelemetryConfig {
    /// The URL spans are POSTed to, when export is on.
    pub fn traces_url(&self) -> Option<String> {
        self.otlp_endpoint
            .as_deref()
            .map(|e| format!("{}/v1/traces", e.trim_end_matches('/')))
    }

    /// What is wrong, as (key under `telemetry.`, message); values of `headers` are never
    /// quoted.
    pub fn check(&self) -> Result<(), (&'static str, String)> {
        if let Some(endpoint) = &self.otlp_endpoint {
            let url = reqwest::Url::parse(endpoint).map_err(|e| {
                (
                    "otlp_endpoint",
                    format!("`{endpoint}` is not a URL ({e}); expected e.g. http://127.0.0.1:4318"),
                )
            })?;
            if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
                return Err((
                    "otlp_endpoint",
                    format!(
                        "`{endpoint}` is not an http(s) URL; expected e.g. http://127.0.0.1:4318"
                    ),
                ));
            }
        }
        if self.service_name.trim().is_empty() || self.service_name.len() > 256 {
            return Err(("service_name", "must be 1 to 256 characters".into()));
        }
        for (name, value) in &self.headers {
            reqwest::header::HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| ("headers", format!("`{name}` is not a header name")))?;
            reqwest::header::HeaderValue::from_str(value).map_err(|_| {
                (
                    "headers",
                    format!("the value of `{name}` is not a header value"),
                )
            })?;
        }
        if !(1..=1_000_000).contains(&self.export_queue) {
            return Err(("export_queue", "must be 1 to 1000000 spans".into()));
        }
        if !(1..=10_000).contains(&self.export_batch) {
            return Err(("export_batch", "must be 1 to 10000 spans".into()));
        }
        for (key, value) in [
            ("export_interval", self.export_interval),
            ("export_timeout", self.export_timeout),
        ] {
            if value < Duration::from_millis(1) || value > Duration::from_secs(600) {
                return Err((key, "must be between 1ms and 10m".into()));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bad_telemetry_setting_names_its_key() {
        let ok = TelemetryConfig::default();
        assert_eq!(ok.check(), Ok(()));
        type Change = fn(&mut TelemetryConfig);
        let table: [(Change, &str); 6] = [
            (
                |c| c.otlp_endpoint = Some("127.0.0.1:4318".into()),
                "otlp_endpoint",
            ),
            (
                |c| c.otlp_endpoint = Some("ftp://host".into()),
                "otlp_endpoint",
            ),
            (|c| c.service_name = " ".into(), "service_name"),
            (
                |c| {
                    c.headers.insert("x-key".into(), "secret\nvalue".into());
                },
                "headers",
            ),
            (|c| c.export_queue = 0, "export_queue"),
            (|c| c.export_timeout = Duration::ZERO, "export_timeout"),
        ];
        for (change, key) in table {
            let mut c = TelemetryConfig::default();
            change(&mut c);
            let (got, message) = c.check().expect_err(key);
            assert_eq!(got, key);
            assert!(!message.contains("secret"), "{message}");
        }
    }

    #[test]
    fn spans_go_to_the_endpoint_s_traces_path() {
        let mut c = TelemetryConfig::default();
        assert_eq!(c.traces_url(), None);
        c.otlp_endpoint = Some("http://127.0.0.1:4318/".into());
        assert_eq!(
            c.traces_url().as_deref(),
            Some("http://127.0.0.1:4318/v1/traces")
        );
    }
}

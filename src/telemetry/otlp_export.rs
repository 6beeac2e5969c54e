//! The OTLP/HTTP exporter: finished spans wait in a bounded queue ([`SpanQueue`]) and a
//! thread of its own POSTs them in batches (protobuf, [`super::otlp_wire`]) to
//! `{otlp_endpoint}/v1/traces`.
//!
//! Nothing on a request's path waits for the collector: a span is offered to the queue with
//! `try_send`, and a full queue drops it and counts it. One export is in flight at a time,
//! under `export_timeout`; while a collector hangs, the queue fills, spans are dropped, and
//! calls go on as before. The exporter runs on its own single-threaded runtime, so a slow
//! collector costs att's runtime nothing either. Counts: [`stats`] (`/metrics`).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::mpsc;

use super::otlp_spans::FinishedSpan;
use super::otlp_wire::{Resource, encode_export};
use crate::config::TelemetryConfig;

/// What the exporter has done so far.
#[derive(Debug, Default)]
pub struct ExportStats {
    /// Spans the collector accepted.
    pub exported: AtomicU64,
    /// Spans dropped: the queue was full, or their export failed.
    pub dropped: AtomicU64,
    /// Export requests that failed (error, timeout, or a status other than 2xx).
    pub failed_exports: AtomicU64,
}

static STATS: ExportStats = ExportStats {
    exported: AtomicU64::new(0),
    dropped: AtomicU64::new(0),
    failed_exports: AtomicU64::new(0),
};

/// The exporter's counts (all zero when export is off).
pub fn stats() -> &'static ExportStats {
    &STATS
}

/// The bounded hand-over from the span layer to the exporter.
#[derive(Clone)]
pub struct SpanQueue(mpsc::Sender<FinishedSpan>);

impl SpanQueue {
    /// A queue holding `capacity` spans, and its receiving end.
    pub fn new(capacity: usize) -> (Self, mpsc::Receiver<FinishedSpan>) {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        (Self(tx), rx)
    }

    /// Queues `span`, or drops and counts it when the queue is full. Never waits.
    pub fn offer(&self, span: FinishedSpan) {
        if self.0.try_send(span).is_err() {
            STATS.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Starts the exporter thread for `config` (whose `otlp_endpoint` is set) and returns the
/// queue to hand spans to.
pub fn start(config: &TelemetryConfig) -> Result<SpanQueue, String> {
    let url = config
        .traces_url()
        .ok_or("telemetry.otlp_endpoint is not set")?;
    let mut headers = reqwest::header::HeaderMap::new();
    for (name, value) in &config.headers {
        // Checked when the configuration loaded.
        if let (Ok(n), Ok(v)) = (
            reqwest::header::HeaderName::from_bytes(name.as_bytes()),
            reqwest::header::HeaderValue::from_str(value),
        ) {
            headers.insert(n, v);
        }
    }
    headers.insert(
        reqwest::header::CONTENT_TYPE,
        reqwest::header::HeaderValue::from_static("application/x-protobuf"),
    );
    // A client of its own (not the upstreams' shared one): its connections live on the
    // exporter's runtime, and one idle connection to the collector is all it needs.
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(1)
        .tls_backend_preconfigured(att_gateway::upstream::tls::platform_client_config())
        .build()
        .map_err(|e| format!("the OTLP client: {e}"))?;
    let (queue, rx) = SpanQueue::new(config.export_queue);
    let exporter = Exporter {
        client,
        url,
        headers,
        resource: Resource {
            service_name: config.service_name.clone(),
            service_version: env!("CARGO_PKG_VERSION"),
        },
        batch: config.export_batch,
        interval: config.export_interval,
        timeout: config.export_timeout,
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("the OTLP exporter's runtime: {e}"))?;
    std::thread::Builder::new()
        .name("att-otlp".into())
        .spawn(move || runtime.block_on(exporter.run(rx)))
        .map_err(|e| format!("the OTLP exporter's thread: {e}"))?;
    Ok(queue)
}

struct Exporter {
    client: reqwest::Client,
    url: String,
    headers: reqwest::header::HeaderMap,
    resource: Resource,
    batch: usize,
    interval: Duration,
    timeout: Duration,
}

impl Exporter {
    /// Batches and sends until every sender is gone.
    async fn run(self, mut rx: mpsc::Receiver<FinishedSpan>) {
        let mut warned_at: Option<tokio::time::Instant> = None;
        while let Some(first) = rx.recv().await {
            let mut batch = Vec::with_capacity(self.batch.min(1024));
            batch.push(first);
            let until = tokio::time::Instant::now() + self.interval;
            while batch.len() < self.batch {
                match tokio::time::timeout_at(until, rx.recv()).await {
                    Ok(Some(span)) => batch.push(span),
                    Ok(None) | Err(_) => break,
                }
            }
            let count = batch.len() as u64;
            match self.send(&batch).await {
                Ok(()) => {
                    STATS.exported.fetch_add(count, Ordering::Relaxed);
                }
                Err(why) => {
                    STATS.dropped.fetch_add(count, Ordering::Relaxed);
                    STATS.failed_exports.fetch_add(1, Ordering::Relaxed);
                    // Once a minute at most: a collector down for an hour is one line a minute.
                    let now = tokio::time::Instant::now();
                    if warned_at.is_none_or(|t| now - t >= Duration::from_secs(60)) {
                        warned_at = Some(now);
                        tracing::warn!(
                            url = %self.url,
                            error = %why,
                            dropped = STATS.dropped.load(Ordering::Relaxed),
                            "could not export spans to the OTLP collector; they are dropped \
                             (check telemetry.otlp_endpoint and that the collector is up)"
                        );
                    }
                }
            }
        }
    }

    async fn send(&self, batch: &[FinishedSpan]) -> Result<(), String> {
        let body = encode_export(&self.resource, batch);
        let response = self
            .client
            .post(&self.url)
            .headers(self.headers.clone())
            .timeout(self.timeout)
            .body(body)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let status = response.status();
        if status.is_success() {
            Ok(())
        } else {
            Err(format!("the collector answered {status}"))
        }
    }
}

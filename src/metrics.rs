//! Prometheus metrics: HTTP requests by route and status and limit refusals (counted as they
//! happen); actor restarts and messages (read from the actor directory at scrape time); calls
//! in flight per limited principal and per upstream (read from the limits and the router's
//! snapshot at scrape time); calls per upstream and target, their errors, retries and
//! failovers ([`calls`]); release runs and phases ([`runs`]); `/mcp` sessions and relayed
//! requests ([`sessions`]); the span exporter's exported, dropped and failed counts.
//! README's "Metrics" section lists every metric.
//!
//! Labels stay bounded: routes are templates, methods the standard ones (any other is
//! `other`), principals are names (of keys an admin made;
//! never a client's address; at most 256, then `other`), upstreams are registered names
//! (`[gateway] max_upstreams`), tool names are sanitized and capped per upstream.

pub mod calls;
pub mod runs;
pub mod sessions;

use std::sync::Arc;
use std::time::Duration;

use att_runtime::directory::{ActorDirectory, ActorState};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: &'static str,
    route: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    method: &'static str,
    route: String,
}

/// `method` as a label: a standard method by its name, any other as `other`. The client
/// picks the method (any token is one), and every distinct label value is a series kept
/// for as long as att runs.
pub fn method_label(method: &axum::http::Method) -> &'static str {
    match method.as_str() {
        "GET" => "GET",
        "HEAD" => "HEAD",
        "POST" => "POST",
        "PUT" => "PUT",
        "PATCH" => "PATCH",
        "DELETE" => "DELETE",
        "OPTIONS" => "OPTIONS",
        "TRACE" => "TRACE",
        "CONNECT" => "CONNECT",
        _ => "other",
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ActorLabels {
    actor: String,
}

/// The meters the domain feeds as things happen (made before the domain starts, registered
/// with [`Metrics::new`]).
#[derive(Debug, Default)]
pub struct Meters {
    /// Upstream calls, fed by the event writer.
    pub calls: Arc<calls::CallMetrics>,
    /// Release runs, fed by the pipeline's events.
    pub runs: Arc<runs::RunMetrics>,
    /// `/mcp` sessions, fed by the session door.
    pub sessions: Arc<sessions::SessionMetrics>,
    /// Relayed requests, counted by the gateway.
    pub relays: Arc<att_gateway::upstream::connection::RelayCounts>,
}

/// att's metric registry.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    durations: Family<RouteLabels, Histogram>,
    /// `/mcp` sessions (the HTTP router hands it the session manager to read).
    pub sessions: Arc<sessions::SessionMetrics>,
}

impl Metrics {
    /// A registry that also reports the actors of `directory`, the refusals and calls in
    /// flight of `limits`, the upstreams' call gates of `router`'s snapshot, and `meters`.
    pub fn new(
        directory: ActorDirectory,
        limits: Arc<crate::limits::Limits>,
        router: att_gateway::router::RouterHandle,
        meters: &Meters,
    ) -> Arc<Self> {
        let mut registry = Registry::with_prefix("att");
        meters.calls.register(&mut registry);
        meters.runs.register(&mut registry);
        meters.sessions.register(&mut registry);
        registry.register_collector(Box::new(sessions::RelayCollector(meters.relays.clone())));
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "http_requests",
            "HTTP requests answered, by method, route template and status",
            requests.clone(),
        );
        let durations = Family::<RouteLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.0005, 4.0, 10))
        });
        registry.register(
            "http_request_duration_seconds",
            "Time to answer HTTP requests, by method and route template",
            durations.clone(),
        );
        registry.register_collector(Box::new(ActorCollector(directory)));
        registry.register(
            "limit_refusals",
            "Calls refused by a per-principal limit, by limit (`rate`, `concurrent`, `principals`) and principal",
            limits.refusals(),
        );
        registry.register_collector(Box::new(LimitsCollector { limits, router }));
        registry.register_collector(Box::new(OtlpCollector));
        Arc::new(Self {
            registry,
            requests,
            durations,
            sessions: meters.sessions.clone(),
        })
    }

    /// Counts one answered request (`method` from [`method_label`]). One allocation: the
    /// families are looked up by owned label sets, and both share the route's copy.
    pub fn observe_request(
        &self,
        method: &'static str,
        route: &str,
        status: u16,
        elapsed: Duration,
    ) {
        let labels = RouteLabels {
            method,
            route: route.to_owned(),
        };
        self.durations
            .get_or_create(&labels)
            .observe(elapsed.as_secs_f64());
        self.requests
            .get_or_create(&RequestLabels {
                method,
                route: labels.route,
                status,
            })
            .inc();
    }

    /// The exposition text (OpenMetrics, which Prometheus scrapes), with the values read at
    /// scrape time brought up to date.
    pub async fn scrape(&self) -> Result<String, std::fmt::Error> {
        self.sessions.refresh().await;
        self.render()
    }

    /// The exposition text (OpenMetrics, which Prometheus scrapes).
    pub fn render(&self) -> Result<String, std::fmt::Error> {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)?;
        Ok(out)
    }
}

#[derive(Debug)]
struct ActorCollector(ActorDirectory);

/// The span exporter's counts (`[telemetry]`; zero when export is off).
#[derive(Debug)]
struct OtlpCollector;

impl Collector for OtlpCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        use std::sync::atomic::Ordering::Relaxed;
        let stats = crate::telemetry::otlp_export::stats();
        for (name, help, value) in [
            (
                "otlp_spans_exported",
                "Spans the OTLP collector accepted",
                &stats.exported,
            ),
            (
                "otlp_spans_dropped",
                "Spans dropped: the export queue was full or their export failed",
                &stats.dropped,
            ),
            (
                "otlp_export_failures",
                "Span exports that failed (error, timeout, or a status other than 2xx)",
                &stats.failed_exports,
            ),
        ] {
            let metric = encoder.encode_descriptor(name, help, None, MetricType::Counter)?;
            ConstCounter::new(value.load(Relaxed)).encode(metric)?;
        }
        Ok(())
    }
}

impl Collector for ActorCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let actors = self.0.list();
        {
            let mut family = encoder.encode_descriptor(
                "actor_restarts",
                "Restarts of each actor by its supervisor",
                None,
                MetricType::Counter,
            )?;
            for a in &actors {
                let labels = ActorLabels {
                    actor: a.name.clone(),
                };
                ConstCounter::new(u64::from(a.restart_count))
                    .encode(family.encode_family(&labels)?)?;
            }
        }
        {
            let mut family = encoder.encode_descriptor(
                "actor_messages_handled",
                "Messages handled by each actor over its life",
                None,
                MetricType::Counter,
            )?;
            for a in &actors {
                let labels = ActorLabels {
                    actor: a.name.clone(),
                };
                ConstCounter::new(a.messages_handled).encode(family.encode_family(&labels)?)?;
            }
        }
        let mut family = encoder.encode_descriptor(
            "actor_up",
            "1 when the actor is running, else 0",
            None,
            MetricType::Gauge,
        )?;
        for a in &actors {
            let labels = ActorLabels {
                actor: a.name.clone(),
            };
            let up = i64::from(a.status == ActorState::Running);
            ConstGauge::new(up).encode(family.encode_family(&labels)?)?;
        }
        Ok(())
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PrincipalLabels {
    principal: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct UpstreamLabels {
    upstream: String,
}

/// Calls in flight per limited principal and per upstream, read at scrape time.
#[derive(Debug)]
struct LimitsCollector {
    limits: Arc<crate::limits::Limits>,
    router: att_gateway::router::RouterHandle,
}

impl Collector for LimitsCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        {
            let mut family = encoder.encode_descriptor(
                "limit_calls_in_flight",
                "Calls in flight of each principal under a per-principal limit",
                None,
                MetricType::Gauge,
            )?;
            for (principal, n) in self.limits.in_flight() {
                let n = i64::try_from(n).unwrap_or(i64::MAX);
                ConstGauge::new(n).encode(family.encode_family(&PrincipalLabels { principal })?)?;
            }
        }
        let snapshot = self.router.snapshot();
        {
            let mut family = encoder.encode_descriptor(
                "upstream_calls_in_flight",
                "Calls in flight to each upstream (from taking its call gate's slot to the attempt's end)",
                None,
                MetricType::Gauge,
            )?;
            for s in &snapshot.servers {
                let labels = UpstreamLabels {
                    upstream: s.name.clone(),
                };
                ConstGauge::new(i64::from(s.gate.in_flight()))
                    .encode(family.encode_family(&labels)?)?;
            }
        }
        let gated: Vec<_> = snapshot
            .servers
            .iter()
            .filter_map(|s| s.gate.max().map(|max| (s, max)))
            .collect();
        {
            let mut family = encoder.encode_descriptor(
                "upstream_max_concurrent",
                "Each upstream's `max_concurrent`",
                None,
                MetricType::Gauge,
            )?;
            for (s, max) in &gated {
                let labels = UpstreamLabels {
                    upstream: s.name.clone(),
                };
                ConstGauge::new(i64::from(*max)).encode(family.encode_family(&labels)?)?;
            }
        }
        let mut family = encoder.encode_descriptor(
            "upstream_busy_refusals",
            "Calls refused because an upstream stayed at its `max_concurrent` for the whole wait",
            None,
            MetricType::Counter,
        )?;
        for (s, _) in &gated {
            let labels = UpstreamLabels {
                upstream: s.name.clone(),
            };
            ConstCounter::new(s.gate.refused()).encode(family.encode_family(&labels)?)?;
        }
        Ok(())
    }
}

//! Prometheus metrics: HTTP requests by route and status (counted as they happen) and actor
//! restarts and messages (read from the actor directory at scrape time).

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
    method: String,
    route: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    method: String,
    route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ActorLabels {
    actor: String,
}

/// att's metric registry.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    durations: Family<RouteLabels, Histogram>,
}

impl Metrics {
    /// A registry that also reports the actors of `directory`.
    pub fn new(directory: ActorDirectory) -> Arc<Self> {
        let mut registry = Registry::with_prefix("att");
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
        Arc::new(Self {
            registry,
            requests,
            durations,
        })
    }

    /// Counts one answered request.
    pub fn observe_request(&self, method: &str, route: &str, status: u16, elapsed: Duration) {
        let (method, route) = (method.to_owned(), route.to_owned());
        self.durations
            .get_or_create(&RouteLabels {
                method: method.clone(),
                route: route.clone(),
            })
            .observe(elapsed.as_secs_f64());
        self.requests
            .get_or_create(&RequestLabels {
                method,
                route,
                status,
            })
            .inc();
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

//! `/mcp` session and relay metrics: sessions open (a gauge read from rmcp's session manager
//! at scrape time), opened, ended and refused; and the requests upstreams relayed to clients
//! during their calls (sampling, elicitation, roots), by how they ended — lock-free counters
//! the gateway keeps ([`att_gateway::upstream::connection::RelayCounts`]), read at scrape time.
//!
//! A session counts as ended when a look (a scrape, or the next session's opening) finds it
//! gone from the session manager: it expired (`[http] mcp_session_idle`), was deleted, or
//! att closed it. Only sessions opened on this att are followed; their ids are kept while they
//! live (at most `mcp_max_sessions`).

use std::collections::HashSet;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, OnceLock};

use att_gateway::upstream::connection::RelayCounts;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct LimitLabels {
    limit: &'static str,
}

/// Why a session was refused, as the `limit` label says it.
#[derive(Debug, Clone, Copy)]
pub enum SessionRefusal {
    /// `[http] mcp_max_sessions`.
    Sessions,
    /// `mcp_max_sessions_per_client`.
    PerClient,
    /// `mcp_max_sessions_per_principal`.
    PerPrincipal,
    /// The cluster's count could not be read.
    Store,
}

impl SessionRefusal {
    fn label(self) -> &'static str {
        match self {
            Self::Sessions => "sessions",
            Self::PerClient => "per_client",
            Self::PerPrincipal => "per_principal",
            Self::Store => "store",
        }
    }
}

/// How many openings pass between two looks for ended sessions (a scrape always looks).
const REFRESH_EVERY: u64 = 64;

/// The session metrics.
#[derive(Debug, Default)]
pub struct SessionMetrics {
    open: Gauge,
    opened: Counter,
    ended: Counter,
    refused: Family<LimitLabels, Counter>,
    /// Sessions opened here and not yet seen ended.
    followed: Mutex<HashSet<Arc<str>>>,
    manager: OnceLock<Arc<LocalSessionManager>>,
}

impl SessionMetrics {
    /// Registers the session metrics in `registry`.
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "mcp_sessions_open",
            "`/mcp` sessions this att holds (read at scrape time)",
            self.open.clone(),
        );
        registry.register(
            "mcp_sessions_opened",
            "`/mcp` sessions opened on this att",
            self.opened.clone(),
        );
        registry.register(
            "mcp_sessions_ended",
            "`/mcp` sessions opened on this att and since ended (expired, deleted or closed)",
            self.ended.clone(),
        );
        registry.register(
            "mcp_sessions_refused",
            "New `/mcp` sessions refused, by limit (`sessions`, `per_client`, `per_principal`, `store`)",
            self.refused.clone(),
        );
    }

    /// Reads the open sessions from `manager` from now on (set once, by the HTTP router).
    pub fn watch(&self, manager: Arc<LocalSessionManager>) {
        let _ = self.manager.set(manager);
    }

    /// A session `id` was opened here. Whether the ended sessions are due to be looked for
    /// ([`Self::refresh`]): every [`REFRESH_EVERY`] openings, so the sessions followed stay
    /// bounded without a walk of them all at each opening.
    pub fn opened(&self, id: &str) -> bool {
        let n = self.opened.inc();
        self.followed().insert(Arc::from(id));
        (n + 1).is_multiple_of(REFRESH_EVERY)
    }

    /// A new session was refused by `limit`.
    pub fn refused(&self, limit: SessionRefusal) {
        self.refused
            .get_or_create(&LimitLabels {
                limit: limit.label(),
            })
            .inc();
    }

    /// Brings the gauge and the ended count up to date (before a scrape, after an opening).
    /// Only sessions followed before the manager is read may be found ended: one opened
    /// meanwhile is not yet in what was read.
    pub async fn refresh(&self) {
        let Some(manager) = self.manager.get() else {
            return;
        };
        // In place, under rmcp's read lock: no copy of 10,000 ids per look (a copy per
        // opening was what made idle sessions cost a third more memory: the churn).
        let live = manager.sessions.read().await;
        self.open.set(i64::try_from(live.len()).unwrap_or(i64::MAX));
        let mut followed = self.followed();
        let before = followed.len();
        followed.retain(|id| live.contains_key(id.as_ref()));
        self.ended.inc_by((before - followed.len()) as u64);
    }

    fn followed(&self) -> std::sync::MutexGuard<'_, HashSet<Arc<str>>> {
        self.followed.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The relay counters, read at scrape time.
#[derive(Debug)]
pub struct RelayCollector(pub Arc<RelayCounts>);

impl Collector for RelayCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        #[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
        struct Outcome {
            outcome: &'static str,
        }
        let c = &self.0;
        let mut family = encoder.encode_descriptor(
            "mcp_relays",
            "Requests upstreams made of att's clients during calls (sampling, elicitation, roots), by outcome: `started` (asked of the client), `answered`, `failed` (the client's error), `cancelled` (withdrawn: the upstream cancelled it or the call ended first), `refused` (the client does not offer it)",
            None,
            MetricType::Counter,
        )?;
        for (outcome, n) in [
            ("started", &c.started),
            ("answered", &c.answered),
            ("failed", &c.failed),
            ("cancelled", &c.cancelled),
            ("refused", &c.refused),
        ] {
            ConstCounter::new(n.load(Ordering::Relaxed))
                .encode(family.encode_family(&Outcome { outcome })?)?;
        }
        Ok(())
    }
}

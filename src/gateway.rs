//! The gateway's registry: which upstreams exist, where they came from, and the invoker.
//!
//! Upstreams come from the config file (`[[upstreams]]`, `--mcp-config`) and from the API.
//! API-registered ones are stored and come back after a restart (a stored registration wins
//! over a config entry of the same name: it is the later intent). Registering a name that
//! exists replaces it: the supervisor stops the old actor (closing its session, reaping its
//! child) before the new one starts.
//!
//! At most `[gateway] max_upstreams` are kept (a registration beyond is refused, naming the
//! key): each upstream is an actor with checks, a session, maybe a child process. Listing
//! reads what each actor published to the router ([`Gateway::published`]), so it costs one
//! snapshot load whatever the number of upstreams, and never waits on a busy actor.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use att_gateway::invoke::Invoker;
use att_gateway::tree::AttTree;
use att_gateway::upstream::actor::{UpstreamActor, UpstreamArgs, UpstreamHandle, UpstreamStatus};
use att_gateway::upstream::{HealthPolicy, UpstreamSpec, UpstreamStore};
use att_runtime::events::EventSink;
use att_runtime::supervisor::{ChildSpec, RestartPolicy};

use crate::store::SqliteStore;

/// Where a registration came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// The config file or `--mcp-config`.
    Config,
    /// `POST /api/v1/mcp/servers` (stored).
    Api,
}

/// Why a registry operation failed.
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    /// The actor could not start.
    #[error("could not start upstream `{0}`: {1}")]
    Start(String, String),
    /// The store refused.
    #[error(transparent)]
    Store(#[from] att_runtime::store::StoreError),
    /// The supervisor could not be reached.
    #[error("{0}")]
    Supervisor(String),
    /// As many upstreams as allowed are registered.
    #[error(
        "att already has {limit} upstreams, its limit: remove one, or raise `[gateway] max_upstreams` (ATT_GATEWAY__MAX_UPSTREAMS) to register more"
    )]
    Full {
        /// The limit.
        limit: usize,
    },
}

/// The registry and the invoker of one att instance.
pub struct Gateway {
    tree: Arc<AttTree>,
    store: SqliteStore,
    policy: HealthPolicy,
    restart: RestartPolicy,
    max_upstreams: usize,
    registered: Mutex<BTreeMap<String, (UpstreamSpec, Source)>>,
    /// Registrations and removals run one at a time, each from its store write to its
    /// actor start or stop, so that concurrent requests for one name cannot leave the store,
    /// the registry and the running actors disagreeing (the serialization an actor's mailbox
    /// would give; see todo/decisions.md).
    changes: tokio::sync::Mutex<()>,
    /// Routes and invokes calls.
    pub invoker: Invoker,
}

impl Gateway {
    /// Starts every configured and stored upstream; at most `max_upstreams` may be
    /// registered later (stored ones beyond it, after the limit was lowered, still start).
    pub async fn start(
        tree: Arc<AttTree>,
        store: SqliteStore,
        configured: Vec<UpstreamSpec>,
        policy: HealthPolicy,
        restart: RestartPolicy,
        max_upstreams: usize,
    ) -> Result<Arc<Self>, GatewayError> {
        let events: Arc<dyn EventSink> = Arc::new(tree.events.clone());
        let invoker = Invoker::new(
            tree.directory.clone(),
            tree.router.clone(),
            events,
            tree.clock.clone(),
            Duration::from_secs(120),
        );
        let gateway = Arc::new(Self {
            tree,
            store,
            policy,
            restart,
            max_upstreams,
            registered: Mutex::new(BTreeMap::new()),
            changes: tokio::sync::Mutex::new(()),
            invoker,
        });
        let mut all: BTreeMap<String, (UpstreamSpec, Source)> = configured
            .into_iter()
            .map(|s| (s.name.clone(), (s, Source::Config)))
            .collect();
        for spec in gateway.store.list_upstreams().await? {
            all.insert(spec.name.clone(), (spec, Source::Api));
        }
        if all.len() > max_upstreams {
            tracing::warn!(
                upstreams = all.len(),
                max_upstreams,
                "more upstreams are stored than `[gateway] max_upstreams` allows: all start, none can be added"
            );
        }
        for (spec, source) in all.into_values() {
            gateway.start_actor(spec, source).await?;
        }
        Ok(gateway)
    }

    async fn start_actor(&self, spec: UpstreamSpec, source: Source) -> Result<(), GatewayError> {
        let name = spec.name.clone();
        let (events, router, clock, policy) = (
            self.tree.events.clone(),
            self.tree.router.clone(),
            self.tree.clock.clone(),
            self.policy,
        );
        let subscriptions = self.tree.subscriptions.clone();
        let child_spec = spec.clone();
        let child = ChildSpec::new(UpstreamHandle::actor_name(&name), self.restart, move || {
            let args = UpstreamArgs {
                spec: child_spec.clone(),
                policy,
                events: Arc::new(events.clone()),
                router: router.clone(),
                clock: clock.clone(),
                subscriptions: subscriptions.clone(),
            };
            (UpstreamActor, args)
        });
        self.tree
            .upstreams
            .start_child(child)
            .await
            .map_err(|e| GatewayError::Start(name.clone(), e.to_string()))?;
        self.lock().insert(name, (spec, source));
        Ok(())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, (UpstreamSpec, Source)>> {
        self.registered.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Registers (or replaces) an upstream over the API; it is stored first. A new name
    /// beyond `max_upstreams` is refused ([`GatewayError::Full`]).
    pub async fn register(&self, spec: UpstreamSpec) -> Result<(), GatewayError> {
        let _one_at_a_time = self.changes.lock().await;
        {
            let registered = self.lock();
            if !registered.contains_key(&spec.name) && registered.len() >= self.max_upstreams {
                return Err(GatewayError::Full {
                    limit: self.max_upstreams,
                });
            }
        }
        self.store.save_upstream(&spec).await?;
        self.start_actor(spec, Source::Api).await
    }

    /// Removes an upstream; `false` when there was none.
    pub async fn remove(&self, name: &str) -> Result<bool, GatewayError> {
        let _one_at_a_time = self.changes.lock().await;
        let known = self.lock().remove(name).is_some();
        let stored = self.store.delete_upstream(name).await?;
        let stopped = self
            .tree
            .upstreams
            .stop_child(&UpstreamHandle::actor_name(name))
            .await
            .map_err(|e| GatewayError::Supervisor(e.to_string()))?;
        if let Err(e) = self.tree.router.remove(name).await {
            tracing::warn!(upstream = %name, error = %e, "could not remove the route");
        }
        Ok(known || stored || stopped)
    }

    /// Every registration, by name.
    pub fn list(&self) -> Vec<(UpstreamSpec, Source)> {
        self.lock().values().cloned().collect()
    }

    /// One registration.
    pub fn get(&self, name: &str) -> Option<(UpstreamSpec, Source)> {
        self.lock().get(name).cloned()
    }

    /// The live state of an upstream, asked of its actor (`None` while it restarts): what an
    /// action on one upstream answers, so that it sees its own effect.
    pub async fn status(&self, name: &str) -> Option<UpstreamStatus> {
        self.handle(name).status().await.ok()
    }

    /// The live state every upstream last published, by name: no actor is asked (an
    /// upstream whose actor has not published yet, or is restarting, is absent).
    pub fn published(&self) -> BTreeMap<String, UpstreamStatus> {
        let now = self.tree.clock.now();
        self.tree
            .router
            .snapshot()
            .servers
            .iter()
            .map(|view| (view.name.clone(), UpstreamStatus::from_view(view, now)))
            .collect()
    }

    /// The tool names two upstreams offer with different input schemas, as `/mcp` would
    /// see them under `tool_prefix = "never"`. Connects to every registered upstream first
    /// (each within its `init_timeout`; one that cannot be reached is left out).
    pub async fn tool_conflicts(&self) -> Vec<att_gateway::federation::Conflict> {
        use att_gateway::federation::{Federated, PrefixMode};
        use att_gateway::router::{RoutingSnapshot, ServerView};
        let specs: Vec<UpstreamSpec> = self.list().into_iter().map(|(s, _)| s).collect();
        let ready = specs.iter().map(|spec| async move {
            let budget = spec.init_timeout.saturating_add(spec.call_timeout);
            let ready = self
                .handle(&spec.name)
                .ensure_ready(None, false, budget)
                .await;
            let catalog = ready.ok()?.catalog?;
            Some(ServerView {
                name: spec.name.clone(),
                priority: spec.priority,
                status: att_gateway::upstream::Status::Healthy,
                next_retry_at: None,
                catalog: Some(Arc::new(catalog.names())),
                entries: Some(catalog),
                live: Default::default(),
            })
        });
        let views = futures_util::future::join_all(ready).await;
        let snapshot = RoutingSnapshot::build(1, views.into_iter().flatten().collect());
        Federated::build(&snapshot, PrefixMode::Never).conflicts
    }

    /// The resource subscriptions att's clients hold upstream.
    pub fn subscriptions(&self) -> Arc<att_gateway::upstream::subscriptions::Subscriptions> {
        self.tree.subscriptions.clone()
    }

    /// The router (its snapshots feed the federated endpoint).
    pub fn router(&self) -> att_gateway::router::RouterHandle {
        self.tree.router.clone()
    }

    /// The handle of an upstream's actor.
    pub fn handle(&self, name: &str) -> UpstreamHandle {
        UpstreamHandle::new(self.tree.directory.clone(), name)
    }

    /// How long HTTP callers wait for a handshake.
    pub const READY_BUDGET: Duration = Duration::from_secs(120);
}

//! The gateway's registry: which upstreams exist, where they came from, and the invoker.
//!
//! Upstreams come from the config file (`[[upstreams]]`, `--mcp-config`) and from the API;
//! the rules they are kept by (stored registrations win, replace by name, one change at a
//! time) are the [`Registry`]'s. Replacing or removing an upstream stops its actor, which
//! closes its session and reaps its child, and removes its route.
//!
//! At most `[gateway] max_upstreams` are kept (a registration beyond is refused, naming the
//! key): each upstream is an actor with checks, a session, maybe a child process. Listing
//! reads what each actor published to the router ([`Gateway::published`]), so it costs one
//! snapshot load whatever the number of upstreams, and never waits on a busy actor.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use att_gateway::invoke::Invoker;
use att_gateway::tree::AttTree;
use att_gateway::upstream::actor::{UpstreamActor, UpstreamArgs, UpstreamHandle, UpstreamStatus};
use att_gateway::upstream::connection::RelayCounts;
use att_gateway::upstream::{HealthPolicy, UpstreamSpec, UpstreamStore};
use att_runtime::events::EventSink;
use att_runtime::store::StoreError;
use att_runtime::supervisor::{ChildSpec, RestartPolicy, SupervisorError};

use crate::registry::{Cap, Registered, Registry, RegistryError, Source};

/// The registry and the invoker of one att instance.
pub struct Gateway {
    tree: Arc<AttTree>,
    registry: Registry<Upstreams>,
    /// Routes and invokes calls.
    pub invoker: Invoker,
    /// Where requests relayed to `/mcp` clients are counted.
    relays: Arc<RelayCounts>,
}

/// How upstreams are run (an actor under the `upstreams` supervisor) and stored.
struct Upstreams {
    tree: Arc<AttTree>,
    store: Arc<dyn UpstreamStore>,
    policy: HealthPolicy,
    restart: RestartPolicy,
}

#[async_trait::async_trait]
impl Registered for Upstreams {
    type Spec = UpstreamSpec;
    const KIND: &'static str = "upstream";

    fn name(spec: &UpstreamSpec) -> &str {
        &spec.name
    }

    async fn start(&self, spec: &UpstreamSpec) -> Result<(), SupervisorError> {
        let (events, router, clock, policy) = (
            self.tree.events.clone(),
            self.tree.router.clone(),
            self.tree.clock.clone(),
            self.policy,
        );
        let subscriptions = self.tree.subscriptions.clone();
        let child_spec = spec.clone();
        let child = ChildSpec::new(
            UpstreamHandle::actor_name(&spec.name),
            self.restart,
            move || {
                let args = UpstreamArgs {
                    spec: child_spec.clone(),
                    policy,
                    events: Arc::new(events.clone()),
                    router: router.clone(),
                    clock: clock.clone(),
                    subscriptions: subscriptions.clone(),
                };
                (UpstreamActor, args)
            },
        );
        self.tree.upstreams.start_child(child).await
    }

    async fn stop(&self, name: &str) -> Result<bool, SupervisorError> {
        let stopped = self
            .tree
            .upstreams
            .stop_child(&UpstreamHandle::actor_name(name))
            .await?;
        if let Err(e) = self.tree.router.remove(name).await {
            tracing::warn!(upstream = %name, error = %e, "could not remove the route");
        }
        Ok(stopped)
    }

    async fn save(&self, spec: &UpstreamSpec) -> Result<(), StoreError> {
        self.store.save_upstream(spec).await
    }

    async fn forget(&self, name: &str) -> Result<bool, StoreError> {
        self.store.delete_upstream(name).await
    }

    async fn stored(&self) -> Result<Vec<UpstreamSpec>, StoreError> {
        self.store.list_upstreams().await
    }
}

impl Gateway {
    /// Where requests relayed to `/mcp` clients are counted (each call's relay carries it).
    pub fn relay_counts(&self) -> &Arc<RelayCounts> {
        &self.relays
    }

    /// The event log (for what the `/mcp` endpoint records: refused calls).
    pub fn events(&self) -> att_runtime::events::EventsHandle {
        self.tree.events.clone()
    }

    /// The event log, borrowed (a hot path emitting to it clones nothing).
    pub fn event_log(&self) -> &att_runtime::events::EventsHandle {
        &self.tree.events
    }

    /// Starts every configured and stored upstream; at most `max_upstreams` may be
    /// registered later (stored ones beyond it, after the limit was lowered, still start).
    /// Calls are counted in `meters` (its calls and relays).
    pub async fn start(
        tree: Arc<AttTree>,
        store: Arc<dyn UpstreamStore>,
        configured: Vec<UpstreamSpec>,
        policy: HealthPolicy,
        restart: RestartPolicy,
        max_upstreams: usize,
        meters: &crate::metrics::Meters,
    ) -> Result<Arc<Self>, RegistryError> {
        let events: Arc<dyn EventSink> = Arc::new(tree.events.clone());
        let invoker = Invoker::new(
            tree.directory.clone(),
            tree.router.clone(),
            events,
            tree.clock.clone(),
            Duration::from_secs(120),
        )
        .with_meter(meters.calls.clone());
        let upstreams = Upstreams {
            tree: tree.clone(),
            store,
            policy,
            restart,
        };
        let cap = Cap {
            max: max_upstreams,
            key: "gateway.max_upstreams",
        };
        let registry = Registry::restore(upstreams, configured, Some(cap)).await?;
        registry.start_all().await?;
        Ok(Arc::new(Self {
            tree,
            registry,
            invoker,
            relays: meters.relays.clone(),
        }))
    }

    /// Registers (or replaces) an upstream over the API; it is stored first. A new name
    /// beyond `max_upstreams` is refused ([`RegistryError::Full`]).
    pub async fn register(&self, spec: UpstreamSpec) -> Result<(), RegistryError> {
        self.registry.register(spec).await
    }

    /// Removes an upstream; `false` when there was none.
    pub async fn remove(&self, name: &str) -> Result<bool, RegistryError> {
        self.registry.remove(name).await
    }

    /// Re-reads the stored upstreams after another att sharing the database changed them,
    /// starting, replacing and stopping actors to match ([`Registry::sync`]).
    pub async fn sync_from_store(&self) -> Result<usize, RegistryError> {
        self.registry.sync().await
    }

    /// Every registration, by name.
    pub fn list(&self) -> Vec<(UpstreamSpec, Source)> {
        self.registry.list()
    }

    /// One registration.
    pub fn get(&self, name: &str) -> Option<(UpstreamSpec, Source)> {
        self.registry.get(name)
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
                ready: Default::default(),
                gate: Default::default(),
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

//! The actor tree of one att instance, started and stopped as one:
//!
//! ```text
//! att (root supervisor)
//! ├── events      the event log
//! ├── router      the routing table
//! ├── upstreams   supervisor of the upstream actors
//! └── services    supervisor of the managed-service actors
//! ```
//!
//! `events` starts first and stops last, so every other actor's restarts and shutdown can be
//! recorded.

use std::sync::Arc;
use std::time::Duration;

use ractor::{ActorRef, SpawnErr};
use tokio::sync::broadcast;

use crate::clock::Clock;
use crate::directory::{ActorDirectory, ActorState};
use crate::events::{EventSink, EventStore, EventsActor, EventsArgs, EventsHandle};
use crate::router::{Published, RouterActor, RouterHandle};
use crate::supervisor::{
    ChildSpec, KeptChildren, RestartPolicy, Supervisor, SupervisorArgs, SupervisorHandle,
    SupervisorMsg,
};
use crate::trace;
use crate::upstream::subscriptions::Subscriptions;

/// Names of the fixed actors.
pub mod names {
    /// The root supervisor.
    pub const ROOT: &str = "att";
    /// The event log.
    pub const EVENTS: &str = "events";
    /// The router.
    pub const ROUTER: &str = "router";
    /// The upstreams supervisor.
    pub const UPSTREAMS: &str = "upstreams";
    /// The managed services' supervisor.
    pub const SERVICES: &str = "services";
}

/// The actors that must run for att to be ready.
pub const FIXED: [&str; 5] = [
    names::ROOT,
    names::EVENTS,
    names::ROUTER,
    names::UPSTREAMS,
    names::SERVICES,
];

/// Whether the root and every fixed child are running.
pub fn is_up(directory: &ActorDirectory) -> bool {
    FIXED.iter().all(|n| {
        directory
            .get(n)
            .is_some_and(|i| i.status == ActorState::Running)
    })
}

/// Knobs of the tree.
#[derive(Debug, Clone)]
pub struct TreeConfig {
    /// Restart back-off and meltdown budget for every supervised child.
    pub restart: RestartPolicy,
    /// How long each actor gets to stop at shutdown.
    pub stop_timeout: Duration,
    /// Trace records kept per actor.
    pub trace_capacity: usize,
    /// Appends that may queue for the event writer.
    pub event_queue_capacity: usize,
    /// Events a live subscriber may fall behind by before it lags.
    pub live_capacity: usize,
    /// The live channel is fed by a follower of the shared log (several att processes write
    /// one log: each must hear the others' events, in id order), not by this writer.
    pub live_from_log: bool,
    /// Where actors read the time.
    pub clock: Arc<dyn Clock>,
}

impl Default for TreeConfig {
    fn default() -> Self {
        Self {
            restart: RestartPolicy::default(),
            stop_timeout: Duration::from_secs(10),
            trace_capacity: 256,
            event_queue_capacity: 4096,
            live_capacity: 1024,
            live_from_log: false,
            clock: crate::clock::system(),
        }
    }
}

/// The running tree and the handles to its actors.
pub struct AttTree {
    /// Where every actor of this instance is listed.
    pub directory: ActorDirectory,
    /// The event log.
    pub events: EventsHandle,
    /// The router.
    pub router: RouterHandle,
    /// The upstreams supervisor.
    pub upstreams: SupervisorHandle,
    /// The managed services' supervisor.
    pub services: SupervisorHandle,
    /// Where actors read the time.
    pub clock: Arc<dyn Clock>,
    /// The resource subscriptions att's clients hold upstream.
    pub subscriptions: Arc<Subscriptions>,
    root: ActorRef<SupervisorMsg>,
    stop_timeout: Duration,
}

impl AttTree {
    /// Starts the tree on `store`. Fails if any fixed actor cannot start.
    pub async fn start(store: Arc<dyn EventStore>, config: TreeConfig) -> Result<Self, SpawnErr> {
        let directory = ActorDirectory::new(config.trace_capacity);
        let (live, _) = broadcast::channel(config.live_capacity.max(1));
        let events = EventsHandle::new(directory.clone(), names::EVENTS, live.clone());
        let sink: Arc<dyn EventSink> = Arc::new(events.clone());
        let published = Arc::new(Published::default());
        let router = RouterHandle::new(directory.clone(), names::ROUTER, published.clone());
        let upstreams = SupervisorHandle::new(directory.clone(), names::UPSTREAMS);
        let services = SupervisorHandle::new(directory.clone(), names::SERVICES);

        let queue_capacity = config.event_queue_capacity;
        let intake = events.intake();
        // Fed by the log's follower instead: the writer's channel has no listener.
        let live = if config.live_from_log {
            broadcast::channel(1).0
        } else {
            live
        };
        let events_spec = ChildSpec::new(names::EVENTS, config.restart, move || {
            let args = EventsArgs {
                store: store.clone(),
                live: live.clone(),
                queue_capacity,
                intake: intake.clone(),
            };
            (EventsActor, args)
        });
        let router_spec = ChildSpec::new(names::ROUTER, config.restart, move || {
            (RouterActor, published.clone())
        });
        let (dir, up_sink, stop_timeout) = (directory.clone(), sink.clone(), config.stop_timeout);
        let kept = KeptChildren::default();
        let upstreams_spec = ChildSpec::new(names::UPSTREAMS, config.restart, move || {
            let args = SupervisorArgs {
                name: names::UPSTREAMS.into(),
                directory: dir.clone(),
                events: up_sink.clone(),
                children: Vec::new(),
                stop_timeout,
                kept: kept.clone(),
            };
            (Supervisor, args)
        });

        let (dir, svc_sink) = (directory.clone(), sink.clone());
        let kept = KeptChildren::default();
        let services_spec = ChildSpec::new(names::SERVICES, config.restart, move || {
            let args = SupervisorArgs {
                name: names::SERVICES.into(),
                directory: dir.clone(),
                events: svc_sink.clone(),
                children: Vec::new(),
                stop_timeout,
                kept: kept.clone(),
            };
            (Supervisor, args)
        });

        let root_args = SupervisorArgs {
            name: names::ROOT.into(),
            directory: directory.clone(),
            events: sink,
            children: vec![events_spec, router_spec, upstreams_spec, services_spec],
            stop_timeout: config.stop_timeout,
            kept: KeptChildren::default(),
        };
        let (root, _join) =
            trace::spawn(&directory, names::ROOT, None, Supervisor, root_args).await?;
        Ok(Self {
            directory,
            events,
            router,
            upstreams,
            services,
            clock: config.clock.clone(),
            subscriptions: Arc::default(),
            root,
            stop_timeout: config.stop_timeout,
        })
    }

    /// Stops the tree children-first (the event log last, after flushing) and waits for it.
    pub async fn shutdown(&self) {
        // The root stops its children one by one, each within `stop_timeout`.
        let budget = self.stop_timeout * 4;
        if self
            .root
            .stop_and_wait(Some("shutdown".into()), Some(budget))
            .await
            .is_err()
        {
            tracing::warn!("actor tree did not stop in time; killing it");
            self.root.kill();
        }
    }
}

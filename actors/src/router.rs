//! The router: the single writer of the routing table, which it publishes as immutable
//! snapshots.
//!
//! Readers (the invocation path) load the latest snapshot without a lock or a mailbox round
//! trip; writers (upstream actors, the registry) send the router a message. Each published
//! snapshot has a higher `version` than the one before.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};

use crate::directory::ActorDirectory;
use crate::mailbox::{self, MailboxError};
use crate::trace::MessageMeta;

/// What the router knows of one upstream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamRoute {
    /// The upstream's name.
    pub name: String,
    /// Lower is tried first.
    pub priority: i32,
}

/// An immutable view of the routing table.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RoutingSnapshot {
    /// Increases with every change.
    pub version: u64,
    /// Upstreams by name.
    pub upstreams: BTreeMap<String, UpstreamRoute>,
}

/// Messages the router handles; each answers with the version it published.
pub enum RouterMsg {
    /// Add or replace an upstream's route.
    Upsert(UpstreamRoute, RpcReplyPort<u64>),
    /// Remove an upstream's route.
    Remove(String, RpcReplyPort<u64>),
}

impl MessageMeta for RouterMsg {
    fn kind(&self) -> &'static str {
        match self {
            Self::Upsert(..) => "upsert",
            Self::Remove(..) => "remove",
        }
    }
}

/// The router actor. Its state is the published snapshot cell, shared with its handles.
pub struct RouterActor;

impl Actor for RouterActor {
    type Msg = RouterMsg;
    type State = Arc<ArcSwap<RoutingSnapshot>>;
    type Arguments = Arc<ArcSwap<RoutingSnapshot>>;

    async fn pre_start(
        &self,
        _myself: ActorRef<RouterMsg>,
        published: Self::Arguments,
    ) -> Result<Self::State, ActorProcessingErr> {
        // A restarted router continues from the last published snapshot.
        Ok(published)
    }

    async fn handle(
        &self,
        _myself: ActorRef<RouterMsg>,
        msg: RouterMsg,
        published: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        let mut next = RoutingSnapshot::clone(&published.load());
        next.version += 1;
        let reply = match msg {
            RouterMsg::Upsert(route, reply) => {
                next.upstreams.insert(route.name.clone(), route);
                reply
            }
            RouterMsg::Remove(name, reply) => {
                next.upstreams.remove(&name);
                reply
            }
        };
        let version = next.version;
        published.store(Arc::new(next));
        let _ = reply.send(version);
        Ok(())
    }
}

/// A typed handle to the router.
#[derive(Clone, Debug)]
pub struct RouterHandle {
    directory: ActorDirectory,
    actor: String,
    published: Arc<ArcSwap<RoutingSnapshot>>,
}

const ROUTER_TIMEOUT: Duration = Duration::from_secs(5);

impl RouterHandle {
    /// A handle to the router called `actor`, reading from `published`.
    pub fn new(directory: ActorDirectory, actor: impl Into<String>, published: Arc<ArcSwap<RoutingSnapshot>>) -> Self {
        Self {
            directory,
            actor: actor.into(),
            published,
        }
    }

    /// The latest snapshot: no lock, no message.
    pub fn snapshot(&self) -> Arc<RoutingSnapshot> {
        self.published.load_full()
    }

    /// Adds or replaces a route; returns the version that contains the change.
    pub async fn upsert(&self, route: UpstreamRoute) -> Result<u64, MailboxError> {
        mailbox::call(&self.directory, &self.actor, ROUTER_TIMEOUT, |r| RouterMsg::Upsert(route, r)).await
    }

    /// Removes a route; returns the version that no longer contains it.
    pub async fn remove(&self, name: &str) -> Result<u64, MailboxError> {
        let name = name.to_owned();
        mailbox::call(&self.directory, &self.actor, ROUTER_TIMEOUT, |r| RouterMsg::Remove(name, r)).await
    }
}

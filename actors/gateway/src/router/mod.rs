//! The router: the single writer of the routing table, which it publishes as immutable
//! snapshots.
//!
//! Readers (the invocation path, the registry's listings) load the latest snapshot without a
//! lock or a mailbox round trip; writers (upstream actors, the registry) send the router a
//! message. Each published snapshot has a higher `version` than the one before.
//!
//! A snapshot is the servers' views plus indexes over them (by name, tool, resource, prompt,
//! template). Views are shared (`Arc`) between snapshots, and the indexes depend only on each
//! server's name, priority and catalog, so a change of status alone — the common one: a
//! failure, a recovery, a retry window — copies a list of pointers and shares the indexes
//! with the previous snapshot instead of rebuilding them. With thousands of upstreams failing
//! on their own schedules, that is the difference between an idle router and a busy core.

mod plan;
mod uri_template;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use time::OffsetDateTime;

use crate::catalog::{Catalog, CatalogNames};
use crate::directory::ActorDirectory;
use crate::health::{Health, Status};
use crate::mailbox::{self, MailboxError};
use crate::trace::MessageMeta;
use crate::upstream::ready::ReadySlot;

pub use plan::{Plan, Target, plan};
pub use uri_template::UriTemplate;

/// What an upstream actor publishes about itself beside its route (in [`ServerView::live`]):
/// the registry lists upstreams from the router's snapshot without asking any actor.
/// A call that succeeds on a healthy server changes nothing routing needs and is not
/// published, so `last_checked_at` is that of the last check or change of status.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LiveState {
    /// Health record.
    pub health: Health,
    /// The negotiated protocol version (kept through failures).
    pub protocol_version: Option<String>,
    /// When the last handshake completed.
    pub last_initialized_at: Option<OffsetDateTime>,
    /// When the current session goes stale (`None`: no session).
    pub initialization_expires_at: Option<OffsetDateTime>,
    /// Real handshakes performed.
    pub handshakes: u64,
}

/// What the router knows of one upstream.
#[derive(Debug, Clone, PartialEq)]
pub struct ServerView {
    /// The upstream's name.
    pub name: String,
    /// Lower is tried first.
    pub priority: i32,
    /// Current status.
    pub status: Status,
    /// Before this instant a degraded or unreachable server is not tried.
    pub next_retry_at: Option<OffsetDateTime>,
    /// Its catalog; `None` until the first handshake (then it is eligible for everything).
    pub catalog: Option<Arc<CatalogNames>>,
    /// The full catalog (definitions, schemas) the federated endpoint lists; `None` with
    /// `catalog`.
    pub entries: Option<Arc<Catalog>>,
    /// What the registry shows of the upstream beyond routing (health record, handshake),
    /// as of the upstream's last publication.
    pub live: Arc<LiveState>,
    /// The upstream's ready session, which its actor publishes there and the invocation path
    /// reads without a mailbox round trip (the slot is shared, not copied, between snapshots).
    pub ready: ReadySlot,
    /// The upstream's `max_concurrent` gate, shared like `ready` (its actor makes it).
    pub gate: crate::upstream::gate::CallGate,
}

impl ServerView {
    /// Whether `self` and `other` index the same way (same name, priority and catalog), so
    /// that one may replace the other without rebuilding the indexes.
    fn indexes_like(&self, other: &ServerView) -> bool {
        let same = |a: &Option<Arc<CatalogNames>>, b: &Option<Arc<CatalogNames>>| match (a, b) {
            (None, None) => true,
            (Some(a), Some(b)) => Arc::ptr_eq(a, b) || a == b,
            _ => false,
        };
        self.name == other.name
            && self.priority == other.priority
            && same(&self.catalog, &other.catalog)
    }
}

/// The indexes of a snapshot (positions in its `servers`).
#[derive(Debug, Clone, Default)]
struct Index {
    by_name: HashMap<String, usize>,
    tools: HashMap<String, Vec<usize>>,
    resources: HashMap<String, Vec<usize>>,
    prompts: HashMap<String, Vec<usize>>,
    templates: Vec<(UriTemplate, usize)>,
    uncatalogued: Vec<usize>,
}

/// An immutable, indexed view of the routing table.
#[derive(Debug, Clone, Default)]
pub struct RoutingSnapshot {
    /// Increases with every change.
    pub version: u64,
    /// Every upstream, sorted by `(priority, name)`.
    pub servers: Vec<Arc<ServerView>>,
    index: Arc<Index>,
}

impl RoutingSnapshot {
    /// Builds the indexes over `servers`.
    pub fn build(version: u64, servers: Vec<ServerView>) -> Self {
        Self::index(version, servers.into_iter().map(Arc::new).collect())
    }

    /// Builds the indexes over shared views.
    fn index(version: u64, mut servers: Vec<Arc<ServerView>>) -> Self {
        servers.sort_by(|a, b| (a.priority, &a.name).cmp(&(b.priority, &b.name)));
        let mut index = Index::default();
        for (i, s) in servers.iter().enumerate() {
            index.by_name.insert(s.name.clone(), i);
            let Some(c) = &s.catalog else {
                index.uncatalogued.push(i);
                continue;
            };
            for (names, by) in [
                (&c.tools, &mut index.tools),
                (&c.resources, &mut index.resources),
                (&c.prompts, &mut index.prompts),
            ] {
                for n in names {
                    let list = by.entry(n.clone()).or_default();
                    if list.last() != Some(&i) {
                        list.push(i);
                    }
                }
            }
            for t in &c.resource_templates {
                index.templates.push((UriTemplate::parse(t), i));
            }
        }
        Self {
            version,
            servers,
            index: Arc::new(index),
        }
    }

    /// The next snapshot with `view` added or replacing the server of its name. A view that
    /// indexes like the one it replaces (only its status or live state changed) keeps the
    /// indexes.
    pub fn upsert(&self, view: ServerView) -> Self {
        if let Some(&i) = self.index.by_name.get(&view.name)
            && self.servers[i].indexes_like(&view)
        {
            let mut servers = self.servers.clone();
            servers[i] = Arc::new(view);
            return Self {
                version: self.version + 1,
                servers,
                index: self.index.clone(),
            };
        }
        self.with(|servers| {
            servers.retain(|s| s.name != view.name);
            servers.push(Arc::new(view));
        })
    }

    /// The next snapshot without the server called `name`.
    pub fn remove(&self, name: &str) -> Self {
        self.with(|servers| servers.retain(|s| s.name != name))
    }

    /// The server called `name`.
    pub fn server(&self, name: &str) -> Option<&ServerView> {
        self.index
            .by_name
            .get(name)
            .map(|&i| self.servers[i].as_ref())
    }

    /// Servers that could serve `target`, ascending (that is, in `(priority, name)` order).
    /// Whether server `index`'s catalog was unknown when this snapshot was made (it is
    /// eligible for every name until it is known).
    pub fn is_uncatalogued(&self, index: usize) -> bool {
        self.index.uncatalogued.contains(&index)
    }

    pub fn eligible(&self, target: Target<'_>) -> Vec<usize> {
        let listed: &[usize] = match target {
            Target::Tool(n) => self.index.tools.get(n).map_or(&[], Vec::as_slice),
            Target::Prompt(n) => self.index.prompts.get(n).map_or(&[], Vec::as_slice),
            Target::Resource(u) => self.index.resources.get(u).map_or(&[], Vec::as_slice),
        };
        let mut out: Vec<usize> = Vec::with_capacity(listed.len() + self.index.uncatalogued.len());
        out.extend_from_slice(listed);
        out.extend_from_slice(&self.index.uncatalogued);
        if let Target::Resource(uri) = target {
            out.extend(
                self.index
                    .templates
                    .iter()
                    .filter(|(t, _)| t.matches(uri))
                    .map(|(_, i)| *i),
            );
        }
        out.sort_unstable();
        out.dedup();
        out
    }

    fn with(&self, change: impl FnOnce(&mut Vec<Arc<ServerView>>)) -> Self {
        let mut servers = self.servers.clone();
        change(&mut servers);
        Self::index(self.version + 1, servers)
    }
}

/// Messages the router handles; each answers with the version it published.
pub enum RouterMsg {
    /// Add or replace an upstream's view.
    Upsert(ServerView, RpcReplyPort<u64>),
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

/// The published routing table: the latest snapshot (read without locks) and its version
/// as a watch (for whoever must react to changes, like the federated endpoint).
#[derive(Debug)]
pub struct Published {
    snapshot: ArcSwap<RoutingSnapshot>,
    version: tokio::sync::watch::Sender<u64>,
}

impl Default for Published {
    fn default() -> Self {
        Self {
            snapshot: ArcSwap::from_pointee(RoutingSnapshot::default()),
            version: tokio::sync::watch::Sender::new(0),
        }
    }
}

/// The router actor. Its state is the published snapshot cell, shared with its handles.
pub struct RouterActor;

impl Actor for RouterActor {
    type Msg = RouterMsg;
    type State = Arc<Published>;
    type Arguments = Arc<Published>;

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
        let current = published.snapshot.load();
        let (next, reply) = match msg {
            RouterMsg::Upsert(view, reply) => (current.upsert(view), reply),
            RouterMsg::Remove(name, reply) => (current.remove(&name), reply),
        };
        let version = next.version;
        published.snapshot.store(Arc::new(next));
        published.version.send_replace(version);
        let _ = reply.send(version);
        Ok(())
    }
}

/// A typed handle to the router.
#[derive(Clone, Debug)]
pub struct RouterHandle {
    directory: ActorDirectory,
    actor: String,
    published: Arc<Published>,
}

const ROUTER_TIMEOUT: Duration = Duration::from_secs(5);

impl RouterHandle {
    /// A handle to the router called `actor`, reading from `published`.
    pub fn new(
        directory: ActorDirectory,
        actor: impl Into<String>,
        published: Arc<Published>,
    ) -> Self {
        Self {
            directory,
            actor: actor.into(),
            published,
        }
    }

    /// The latest snapshot: no lock, no message.
    pub fn snapshot(&self) -> Arc<RoutingSnapshot> {
        self.published.snapshot.load_full()
    }

    /// The published version, to wait for changes (`changed().await`).
    pub fn changes(&self) -> tokio::sync::watch::Receiver<u64> {
        self.published.version.subscribe()
    }

    /// Adds or replaces a route; returns the version that contains the change.
    pub async fn upsert(&self, view: ServerView) -> Result<u64, MailboxError> {
        mailbox::call(&self.directory, &self.actor, ROUTER_TIMEOUT, |r| {
            RouterMsg::Upsert(view, r)
        })
        .await
    }

    /// Removes a route; returns the version that no longer contains it.
    pub async fn remove(&self, name: &str) -> Result<u64, MailboxError> {
        let name = name.to_owned();
        mailbox::call(&self.directory, &self.actor, ROUTER_TIMEOUT, |r| {
            RouterMsg::Remove(name, r)
        })
        .await
    }
}

//! One watcher of changes per MCP endpoint, telling every session of it ([`ChangeFanout`]).
//!
//! A 2025-11-25 session hears `notifications/*/list_changed` and `resources/updated` on its
//! standing stream. Most sessions are idle most of their life, so a session costs no task
//! while nothing changes: each endpoint (`/mcp`, each `/mcp/{profile}`) keeps one registry
//! of its sessions' peers and one task following the endpoint's [`ChangeFeed`]. On a change
//! that task picks, per session, what it is told (list changes to all; a resource update only
//! to the sessions subscribed to that resource) and sends it from a short task of the
//! session's own: a client that does not read delays only itself, and each notification is
//! bounded by [`NOTIFY_WITHIN`].
//!
//! A session leaves the registry when it ends: its [`Listening`] is dropped with the
//! session's state (not at the next change, which may never come).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use att_gateway::federation::FederationCache;
use rmcp::model::ResourceUpdatedNotificationParam;
use rmcp::{Peer, RoleServer};

use super::session::ClientSession;
use crate::auth::profile::Profile;
use crate::gateway::Gateway;
use crate::http::mcp_changes::{Change, ChangeFeed};

/// How long one notification may wait for a session that does not read its stream; then the
/// session is told nothing more of this change.
pub const NOTIFY_WITHIN: Duration = Duration::from_secs(30);

/// The sessions of one endpoint that hear of changes, and the one task that tells them.
pub struct ChangeFanout {
    catalog: Arc<FederationCache>,
    view: Option<Arc<Profile>>,
    gateway: Arc<Gateway>,
    listeners: Mutex<Listeners>,
}

#[derive(Default)]
struct Listeners {
    next: u64,
    by_key: HashMap<u64, Listener>,
    /// The watcher task runs (started with the first listener, ends when att stops).
    watching: bool,
}

/// One session that hears of changes.
#[derive(Clone)]
struct Listener {
    peer: Peer<RoleServer>,
    /// For the resources it subscribed to (weak: the registry must not keep it alive).
    session: Weak<ClientSession>,
}

/// A session's place in the registry; dropping it (with the session) leaves it.
pub struct Listening {
    fanout: Arc<ChangeFanout>,
    key: u64,
}

impl Listening {
    /// The session's peer, while it listens.
    pub fn peer(&self) -> Option<Peer<RoleServer>> {
        self.fanout
            .listeners()
            .by_key
            .get(&self.key)
            .map(|l| l.peer.clone())
    }
}

impl Drop for Listening {
    fn drop(&mut self) {
        self.fanout.listeners().by_key.remove(&self.key);
    }
}

impl ChangeFanout {
    /// The fanout of an endpoint showing `catalog` (all of it, or `view`'s part).
    pub fn new(
        catalog: Arc<FederationCache>,
        view: Option<Arc<Profile>>,
        gateway: Arc<Gateway>,
    ) -> Arc<Self> {
        Arc::new(Self {
            catalog,
            view,
            gateway,
            listeners: Mutex::new(Listeners::default()),
        })
    }

    fn listeners(&self) -> std::sync::MutexGuard<'_, Listeners> {
        self.listeners.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// `peer` hears of the changes from now on, until the returned [`Listening`] is dropped.
    /// Starts the watcher with the first listener (this needs a tokio runtime).
    pub fn listen(
        self: &Arc<Self>,
        peer: Peer<RoleServer>,
        session: Weak<ClientSession>,
    ) -> Listening {
        let start = {
            let mut listeners = self.listeners();
            let key = listeners.next;
            listeners.next += 1;
            listeners.by_key.insert(key, Listener { peer, session });
            let start = !listeners.watching;
            listeners.watching = true;
            (key, start)
        };
        let (key, start) = start;
        if start {
            // The feed is read before the task runs: a change from now on is told.
            let feed = ChangeFeed::new(
                self.catalog.clone(),
                self.view.clone(),
                self.gateway.subscriptions().updates(),
            );
            tokio::spawn(self.clone().watch(feed));
        }
        Listening {
            fanout: self.clone(),
            key,
        }
    }

    /// Tells every listener of each change, until att stops.
    async fn watch(self: Arc<Self>, mut feed: ChangeFeed) {
        while let Some(first) = feed.next().await {
            let mut changes = vec![first];
            changes.extend(feed.ready());
            let listeners: Vec<Listener> = {
                let mut all = self.listeners();
                all.by_key.retain(|_, l| !l.peer.is_transport_closed());
                all.by_key.values().cloned().collect()
            };
            let changes: Arc<[Change]> = changes.into();
            for listener in listeners {
                let told = told(&changes, &listener.session);
                if told.is_empty() {
                    continue;
                }
                tokio::spawn(tell(listener.peer, told));
            }
        }
        self.listeners().watching = false;
    }
}

/// What one session is told of `changes`: every list change, and the updates of the
/// resources it subscribed to.
fn told(changes: &Arc<[Change]>, session: &Weak<ClientSession>) -> Vec<Change> {
    let mut subscribed: Option<Option<Arc<ClientSession>>> = None;
    changes
        .iter()
        .filter(|change| match change {
            Change::ResourceUpdated(uri) => subscribed
                .get_or_insert_with(|| session.upgrade())
                .as_ref()
                .is_some_and(|s| s.subscribed().contains_key(uri)),
            _ => true,
        })
        .cloned()
        .collect()
}

/// Sends `changes` to `peer` in order; stops at the first that fails or waits too long.
async fn tell(peer: Peer<RoleServer>, changes: Vec<Change>) {
    for change in changes {
        let send = async {
            match change {
                Change::Tools => peer.notify_tool_list_changed().await,
                Change::Resources => peer.notify_resource_list_changed().await,
                Change::Prompts => peer.notify_prompt_list_changed().await,
                Change::ResourceUpdated(uri) => {
                    peer.notify_resource_updated(ResourceUpdatedNotificationParam::new(uri))
                        .await
                }
            }
        };
        match tokio::time::timeout(NOTIFY_WITHIN, send).await {
            Ok(Ok(())) => {}
            Ok(Err(_)) | Err(_) => return,
        }
    }
}

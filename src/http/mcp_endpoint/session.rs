//! What att keeps for one `/mcp` client session ([`ClientSession`]): its log level, its
//! resource subscriptions (held upstream, released when the session ends) and, on a cluster,
//! how this att's copy of the session follows the shared record
//! ([`super::super::mcp_shared`]).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, OnceLock};

use att_gateway::invoke::{Outcome, Request};
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer};
use serde_json::Value;

use super::guard::session_id;
use super::results::outcome;
use crate::gateway::Gateway;
use crate::http::mcp_shared::{SessionCopy, SharedSession, SharedSessions};

/// What att keeps for one client session.
pub(super) struct ClientSession {
    pub(super) gateway: Arc<Gateway>,
    /// The cluster's sessions, when att shares them with other atts.
    pub(super) shared: Option<Arc<SharedSessions>>,
    /// The session's id, known from `notifications/initialized` on.
    pub(super) id: OnceLock<String>,
    /// Set by the first `notifications/initialized`: on a cluster the door also hands one to
    /// the att that opened the session (the client's may go to another att), so a second
    /// one must change nothing.
    pub(super) started: std::sync::atomic::AtomicBool,
    #[allow(deprecated)] // logging: deprecated by SEP-2577, used by 2025-11-25 clients
    pub(super) log_level: Mutex<Option<rmcp::model::LoggingLevel>>,
    /// URI → the server holding the subscription upstream.
    pub(super) subscribed: Mutex<BTreeMap<String, String>>,
    /// Its place among the sessions told of changes (from `notifications/initialized`
    /// on); leaves with the session.
    pub(super) listening: OnceLock<super::fanout::Listening>,
    /// Its place among the sessions whose calls the door answers itself (from
    /// `notifications/initialized` on); leaves with the session.
    pub(super) direct: OnceLock<super::direct::Registered>,
}

impl ClientSession {
    /// A new session of `endpoint`, not started yet.
    pub(super) fn new(endpoint: &super::Endpoint) -> Self {
        Self {
            gateway: endpoint.gateway.clone(),
            shared: endpoint.shared.clone(),
            id: OnceLock::new(),
            started: std::sync::atomic::AtomicBool::new(false),
            log_level: Mutex::new(None),
            subscribed: Mutex::new(BTreeMap::new()),
            listening: OnceLock::new(),
            direct: OnceLock::new(),
        }
    }

    pub(super) fn subscribed(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, String>> {
        self.subscribed.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Keeps `server` as the holder of `uri`; the same URI held twice at once is counted once.
    pub(super) async fn keep(&self, uri: String, server: String) {
        let previous = self.subscribed().insert(uri.clone(), server);
        if let Some(server) = previous {
            release(&self.gateway, server, uri).await;
        }
    }

    /// The shared record and this session's id in it, on a cluster.
    pub(super) fn shared(
        &self,
        context: &RequestContext<RoleServer>,
    ) -> Option<(&SharedSessions, String)> {
        let shared = self.shared.as_deref()?;
        let id = session_id(context)
            .map(str::to_owned)
            .or_else(|| self.id.get().cloned())?;
        Some((shared, id))
    }
}

#[async_trait::async_trait]
impl SessionCopy for ClientSession {
    /// Sends the lists' `list_changed` and each subscription's `resources/updated` on the
    /// session's standing stream (cached by rmcp until the stream attaches), from a task of
    /// its own, each within [`super::fanout::NOTIFY_WITHIN`].
    async fn missed(&self) {
        let Some(peer) = self
            .listening
            .get()
            .and_then(super::fanout::Listening::peer)
        else {
            return;
        };
        let uris: Vec<String> = self.subscribed().keys().cloned().collect();
        tokio::spawn(async move {
            let within = super::fanout::NOTIFY_WITHIN;
            let _ = tokio::time::timeout(within, peer.notify_tool_list_changed()).await;
            let _ = tokio::time::timeout(within, peer.notify_resource_list_changed()).await;
            let _ = tokio::time::timeout(within, peer.notify_prompt_list_changed()).await;
            for uri in uris {
                let updated = rmcp::model::ResourceUpdatedNotificationParam::new(uri);
                let _ = tokio::time::timeout(within, peer.notify_resource_updated(updated)).await;
            }
        });
    }

    /// The log level and subscriptions the client set on any att: subscriptions made
    /// elsewhere are held upstream here too, those ended elsewhere are released.
    async fn follow(&self, record: &SharedSession) {
        #[allow(deprecated)] // logging: deprecated by SEP-2577, used by 2025-11-25 clients
        let level = record.log_level.as_deref().and_then(|l| {
            serde_json::from_value::<rmcp::model::LoggingLevel>(Value::String(l.to_owned())).ok()
        });
        if let Some(level) = level {
            *self.log_level.lock().unwrap_or_else(|p| p.into_inner()) = Some(level);
        }
        let wanted: BTreeSet<&str> = record.subscriptions.iter().map(String::as_str).collect();
        let ended: Vec<(String, String)> = {
            let mut held = self.subscribed();
            let gone: Vec<String> = held
                .keys()
                .filter(|uri| !wanted.contains(uri.as_str()))
                .cloned()
                .collect();
            gone.into_iter()
                .filter_map(|uri| held.remove(&uri).map(|server| (uri, server)))
                .collect()
        };
        for (uri, server) in ended {
            release(&self.gateway, server, uri).await;
        }
        let missing: Vec<String> = {
            let held = self.subscribed();
            wanted
                .iter()
                .filter(|uri| !held.contains_key(**uri))
                .map(|uri| (*uri).to_owned())
                .collect()
        };
        for uri in missing {
            let id = att_runtime::events::correlation_id();
            let held = match self.gateway.subscriptions().join(&uri) {
                Some(server) => Ok(server),
                None => {
                    let call = Request::Subscribe { uri: uri.clone() };
                    let o = self
                        .gateway
                        .invoker
                        .invoke_on(&call, &[], None, None, &id)
                        .await;
                    held_upstream(&self.gateway, &uri, o)
                }
            };
            match held {
                Ok(server) => self.keep(uri, server).await,
                Err(e) => tracing::warn!(
                    %uri, error = %e.message,
                    "a resource this /mcp session subscribed to on another att cannot be held here: its updates reach the client only through the att that holds it"
                ),
            }
        }
    }
}

/// The server now holding `uri`'s subscription upstream, after `o` subscribed it.
pub(super) fn held_upstream(gateway: &Gateway, uri: &str, o: Outcome) -> Result<String, ErrorData> {
    match o {
        Outcome::Success { server, .. } => {
            gateway.subscriptions().hold(&server, uri);
            Ok(server)
        }
        other => outcome::<()>("resource", other).map(|()| String::new()),
    }
}

/// Releases `uri` on `server`; the last client to go unsubscribes upstream.
pub(super) async fn release(gateway: &Gateway, server: String, uri: String) {
    if !gateway.subscriptions().release(&server, &uri) {
        return;
    }
    let id = att_runtime::events::correlation_id();
    let call = Request::Unsubscribe { uri };
    let o = gateway
        .invoker
        .invoke_on(&call, &[], Some(&server), None, &id)
        .await;
    if !matches!(o, Outcome::Success { .. }) {
        tracing::debug!(%server, "unsubscribing upstream failed: {o:?}");
    }
}

impl Drop for ClientSession {
    /// The session ended: its subscriptions are released.
    fn drop(&mut self) {
        let held = std::mem::take(self.subscribed.get_mut().unwrap_or_else(|p| p.into_inner()));
        if held.is_empty() {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let gateway = self.gateway.clone();
        runtime.spawn(async move {
            for (uri, server) in held {
                release(&gateway, server, uri).await;
            }
        });
    }
}

/// The error of a session change the other atts could not be told of.
pub(super) fn unshared(what: &str, e: &att_runtime::store::StoreError) -> ErrorData {
    ErrorData::internal_error(
        format!(
            "{what} could not be recorded for the other att processes of the cluster ({e}); retry"
        ),
        None,
    )
}

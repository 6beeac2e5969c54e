//! The door answers a session's call itself ([`DirectSessions`]), without rmcp's session
//! machinery, when nothing but the answer can come of it.
//!
//! rmcp's streamable-HTTP server hands every request of a session to the session's worker
//! task, which hands it to the session's service loop, which spawns a task for the handler;
//! the answer goes back the same way and out as an event stream of one event. Each hop is a
//! wake-up and an allocation: on a routed `tools/call` through `/mcp` they were most of what
//! `/mcp` costs over att's plain HTTP door (todo/perf.md). The door (`http::mcp_front`)
//! reads every message's envelope anyway; for a call it may answer itself it runs the
//! session's own handler (the same [`super::FederatedServer`], through rmcp's own dispatch,
//! `rmcp::Service::handle_request`) in the HTTP request's task and answers with the JSON-RPC
//! response as `application/json`, which the transport allows for any request. A call still
//! running at half `[http] request_timeout` gets its headers then and its body when it ends,
//! so a long call (a test run) is not cut, as rmcp's event stream is not.
//!
//! **When.** A `tools/call`, `resources/read` or `prompts/get` of a 2025-11-25-era session this
//! att holds, once the session started (`notifications/initialized`), and only when the
//! answer is all the client can be sent about it:
//! - the client declared none of `sampling`, `elicitation`, `roots` (nothing an upstream asks
//!   during the call could be relayed to it, so nothing needs the request's own stream);
//! - the request carries no `progressToken` (progress goes on the request's stream);
//! - nothing in the request is for rmcp to judge: its `Accept` and `Content-Type` are the
//!   transport's, its `MCP-Protocol-Version` (if any) is the session's, its `_meta` names no
//!   protocol version; on a profile's endpoint, the profile admits the caller.
//!
//! Anything else goes to rmcp as before. Log messages an upstream sends during a call go to
//! the session's standing stream either way (rmcp routes them there).
//!
//! **What rmcp no longer sees, done here.** A client's `notifications/cancelled` naming a call
//! answered here cancels it ([`DirectSessions::cancel`]; the door sees every message). rmcp
//! ends a session after `[http] mcp_session_idle` without an event: a session whose calls are
//! all answered here is touched in rmcp (a no-op notification to its worker) at most every
//! sixteenth of that, on a call — so it ends between 15/16 of the idle time and the idle time
//! after its last call, not during use.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use rmcp::model::{
    ClientJsonRpcMessage, ClientNotification, ClientRequest, CustomNotification, GetExtensions,
    GetMeta, ProtocolVersion, RequestId, ServerJsonRpcMessage,
};
use rmcp::service::RequestContext;
use rmcp::transport::streamable_http_server::session::SessionManager;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::{Peer, RoleServer, Service};
use tokio_util::sync::CancellationToken;

use super::session::ClientSession;
use super::{Endpoint, FederatedServer};

/// How many touches fit in the idle time: a session ends at most this fraction of it early.
const TOUCHES_PER_IDLE: u32 = 16;

/// The method of the notification that tells rmcp a session is in use (handled as an
/// unknown notification: ignored).
const TOUCH: &str = "notifications/att/active";

/// The sessions whose calls the door may answer itself, by session id (every endpoint's).
pub struct DirectSessions {
    sessions: Arc<LocalSessionManager>,
    /// How long a call is awaited before its answer's headers go ([`Ready::answer`]).
    pub patience: Duration,
    /// A session is touched in rmcp at most this often.
    touch_every_ms: u64,
    epoch: Instant,
    by_id: Mutex<HashMap<Arc<str>, Arc<Entry>>>,
}

/// One session the door may answer for.
struct Entry {
    endpoint: Arc<Endpoint>,
    /// Weak: the registry must not keep a session's state (its subscriptions) alive.
    session: Weak<ClientSession>,
    peer: Peer<RoleServer>,
    /// The version the session negotiated.
    version: ProtocolVersion,
    /// When rmcp's worker last heard of the session from here (ms since `epoch`).
    touched: AtomicU64,
    /// The calls being answered here, to cancel when the client says so.
    calls: Mutex<HashMap<RequestId, CancellationToken>>,
}

/// A session's place in the registry; dropping it (with the session's state) leaves it.
pub struct Registered {
    registry: Weak<DirectSessions>,
    id: Arc<str>,
    entry: Weak<Entry>,
}

impl Drop for Registered {
    fn drop(&mut self) {
        let Some(registry) = self.registry.upgrade() else {
            return;
        };
        let mut by_id = registry.by_id();
        // A session re-created under the same id (on a cluster) has an entry of its own.
        if by_id
            .get(&self.id)
            .is_some_and(|e| std::ptr::eq(Arc::as_ptr(e), self.entry.as_ptr()))
        {
            by_id.remove(&self.id);
        }
    }
}

/// A call the door answers itself: the session's handler and its entry.
pub struct Ready {
    server: FederatedServer,
    entry: Arc<Entry>,
}

impl DirectSessions {
    /// The registry of the sessions `sessions` holds, which rmcp ends after `idle`; an
    /// HTTP request is cut after `request_timeout`.
    pub fn new(
        sessions: Arc<LocalSessionManager>,
        idle: Duration,
        request_timeout: Duration,
    ) -> Arc<Self> {
        let every = idle / TOUCHES_PER_IDLE;
        Arc::new(Self {
            sessions,
            patience: request_timeout / 2,
            touch_every_ms: u64::try_from(every.as_millis()).unwrap_or(u64::MAX),
            epoch: Instant::now(),
            by_id: Mutex::new(HashMap::new()),
        })
    }

    fn by_id(&self) -> std::sync::MutexGuard<'_, HashMap<Arc<str>, Arc<Entry>>> {
        self.by_id.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// Session `id` of `endpoint` (just started, its client's `initialize` known to `peer`)
    /// is answered here from now on, if its client can be sent nothing but answers.
    pub(super) fn register(
        self: &Arc<Self>,
        id: &str,
        endpoint: &Arc<Endpoint>,
        session: &Arc<ClientSession>,
        peer: &Peer<RoleServer>,
    ) -> Option<Registered> {
        let info = peer.peer_info()?;
        if !answers_only(&info.capabilities) || !handshake_era(&info.protocol_version) {
            return None;
        }
        let entry = Arc::new(Entry {
            endpoint: endpoint.clone(),
            session: Arc::downgrade(session),
            peer: peer.clone(),
            version: info.protocol_version.clone(),
            touched: AtomicU64::new(self.now_ms()),
            calls: Mutex::new(HashMap::new()),
        });
        let id: Arc<str> = Arc::from(id);
        let registered = Registered {
            registry: Arc::downgrade(self),
            id: id.clone(),
            entry: Arc::downgrade(&entry),
        };
        self.by_id().insert(id, entry);
        Some(registered)
    }

    /// Whether the door answers `request` (of session `id`, with the HTTP request's `parts`)
    /// itself; `None`: rmcp answers it.
    pub fn ready(&self, id: &str, parts: &Parts, request: &ClientRequest) -> Option<Ready> {
        if !matches!(
            request,
            ClientRequest::CallToolRequest(_)
                | ClientRequest::ReadResourceRequest(_)
                | ClientRequest::GetPromptRequest(_)
        ) {
            return None;
        }
        let meta = request.get_meta();
        if meta.get_progress_token().is_some() || meta.protocol_version().is_some() {
            return None;
        }
        let entry = self.by_id().get(id).cloned()?;
        if !plain_http(&parts.headers, &entry.version) || entry.peer.is_transport_closed() {
            return None;
        }
        if let Some(view) = &entry.endpoint.view {
            let principal = parts.extensions.get::<crate::auth::Principal>();
            if !principal.is_some_and(|p| view.admits(p)) {
                return None;
            }
        }
        let session = entry.session.upgrade()?;
        self.touch(id, &entry);
        Some(Ready {
            server: entry.endpoint.server(session),
            entry,
        })
    }

    /// Tells rmcp's worker of session `id` that it is in use, if it last heard so long ago
    /// that its idle timer could end the session before the idle time since this call.
    fn touch(&self, id: &str, entry: &Entry) {
        let now = self.now_ms();
        let last = entry.touched.load(Ordering::Relaxed);
        if now.saturating_sub(last) < self.touch_every_ms
            || entry
                .touched
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_err()
        {
            return;
        }
        let sessions = self.sessions.clone();
        let id: Arc<str> = Arc::from(id);
        tokio::spawn(async move {
            let touch = ClientJsonRpcMessage::notification(ClientNotification::CustomNotification(
                CustomNotification::new(TOUCH, None),
            ));
            if let Err(e) = sessions.accept_message(&id, touch).await {
                tracing::debug!(error = %e, "touching an /mcp session answered by the door");
            }
        });
    }

    /// The client of session `id` cancelled its request `request`: if the door is answering
    /// it, the call is cancelled (the upstream is told, as on rmcp's path).
    pub fn cancel(&self, id: &str, request: &RequestId) {
        let Some(entry) = self.by_id().get(id).cloned() else {
            return;
        };
        if let Some(ct) = entry.calls().get(request) {
            ct.cancel();
        }
    }
}

impl Entry {
    fn calls(&self) -> std::sync::MutexGuard<'_, HashMap<RequestId, CancellationToken>> {
        self.calls.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Forgets a call answered here when it ends, however it ends.
struct InFlight(Arc<Entry>, RequestId);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.calls().remove(&self.1);
    }
}

impl Ready {
    /// Answers request `id` (`request`, with the HTTP request's `parts`) as rmcp's session
    /// would, as one JSON-RPC message in a JSON body. A call still running after `patience`
    /// gets its headers then (so `[http] request_timeout` does not cut it, as it does not cut
    /// rmcp's event stream) and its body when it ends.
    pub async fn answer(
        self,
        id: RequestId,
        request: ClientRequest,
        parts: Parts,
        patience: Duration,
    ) -> Response {
        let mut call = Box::pin(self.run(id, request, parts));
        let body = match tokio::time::timeout(patience, &mut call).await {
            Ok(bytes) => axum::body::Body::from(bytes),
            Err(_) => axum::body::Body::from_stream(futures_util::stream::once(async move {
                Ok::<_, std::convert::Infallible>(call.await)
            })),
        };
        (
            StatusCode::OK,
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )],
            body,
        )
            .into_response()
    }

    /// Runs the call through rmcp's dispatch with the context rmcp's service loop would
    /// build; the JSON-RPC message that answers it.
    async fn run(self, id: RequestId, mut request: ClientRequest, parts: Parts) -> Vec<u8> {
        let ct = CancellationToken::new();
        self.entry.calls().insert(id.clone(), ct.clone());
        let _in_flight = InFlight(self.entry.clone(), id.clone());
        let mut context = RequestContext::new(id.clone(), self.entry.peer.clone());
        context.ct = ct;
        context.meta = std::mem::take(request.get_meta_mut());
        context.extensions = std::mem::take(request.extensions_mut());
        context.extensions.insert(parts);
        let message = match self.server.handle_request(request, context).await {
            Ok(result) => ServerJsonRpcMessage::response(result, id.clone()),
            Err(error) => ServerJsonRpcMessage::error(error, Some(id.clone())),
        };
        serde_json::to_vec(&message).unwrap_or_else(|e| {
            tracing::error!(error = %e, "an /mcp answer could not be written as JSON");
            let error = rmcp::ErrorData::internal_error("the answer could not be written", None);
            serde_json::to_vec(&ServerJsonRpcMessage::error(error, Some(id))).unwrap_or_default()
        })
    }
}

/// Whether a client with `capabilities` can be sent nothing during a call but its answer:
/// it takes no request an upstream could ask through att.
fn answers_only(capabilities: &rmcp::model::ClientCapabilities) -> bool {
    capabilities.sampling.is_none()
        && capabilities.elicitation.is_none()
        && capabilities.roots.is_none()
}

/// Whether `version` keeps sessions (before 2026-07-28, whose requests are self-contained).
fn handshake_era(version: &ProtocolVersion) -> bool {
    version.as_str() < ProtocolVersion::V_2026_07_28.as_str()
}

/// Whether `headers` leave nothing for rmcp's transport to judge: it accepts both JSON and
/// an event stream, sends JSON, and names the session's protocol version or none.
fn plain_http(headers: &HeaderMap, version: &ProtocolVersion) -> bool {
    let essences = |name: header::HeaderName| {
        headers
            .get_all(name)
            .into_iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(|v| v.split_once(';').map_or(v, |(essence, _)| essence).trim())
            .collect::<Vec<_>>()
    };
    let accepts = essences(header::ACCEPT);
    let accepts_both = ["application/json", "text/event-stream"]
        .iter()
        .all(|want| accepts.iter().any(|a| a.eq_ignore_ascii_case(want)));
    let sends_json = matches!(
        essences(header::CONTENT_TYPE)[..],
        [one] if one.eq_ignore_ascii_case("application/json")
    );
    let versions: Vec<&HeaderValue> = headers.get_all("mcp-protocol-version").iter().collect();
    let same_version = match versions[..] {
        [] => true,
        [one] => one.as_bytes() == version.as_str().as_bytes(),
        _ => false,
    };
    accepts_both && sends_json && same_version
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn only_what_rmcp_would_take_as_it_is_answered_here() {
        let v = ProtocolVersion::V_2025_11_25;
        let both = ("accept", "application/json, text/event-stream");
        let json = ("content-type", "application/json");
        let ver = ("mcp-protocol-version", "2025-11-25");
        let rows: &[(&[(&str, &str)], bool)] = &[
            (&[both, json, ver], true),
            (&[both, json], true),
            (
                &[
                    ("accept", "text/event-stream;q=0.9 , Application/JSON"),
                    json,
                ],
                true,
            ),
            (
                &[
                    ("accept", "application/json"),
                    ("accept", "text/event-stream"),
                    json,
                ],
                true,
            ),
            (
                &[
                    both,
                    ("content-type", "application/json; charset=utf-8"),
                    ver,
                ],
                true,
            ),
            // rmcp answers these (406, 415, 400, or its own version checks).
            (&[("accept", "application/json"), json, ver], false),
            (&[("accept", "*/*"), json, ver], false),
            (
                &[("accept", "application/json-seq, text/event-stream"), json],
                false,
            ),
            (&[both, ver], false),
            (&[both, ("content-type", "text/plain"), ver], false),
            (&[both, json, ("mcp-protocol-version", "2025-06-18")], false),
            (&[both, json, ("mcp-protocol-version", "2026-07-28")], false),
            (&[both, json, ver, ver], false),
        ];
        for (pairs, want) in rows {
            assert_eq!(plain_http(&headers(pairs), &v), *want, "{pairs:?}");
        }
    }

    #[test]
    #[allow(deprecated)] // sampling and roots: deprecated by SEP-2577, still declared by clients
    fn a_client_that_can_be_asked_or_keeps_no_session_is_rmcp_s() {
        use rmcp::model::ClientCapabilities;
        let none = ClientCapabilities::default();
        assert!(answers_only(&none));
        for caps in [
            ClientCapabilities::builder().enable_sampling().build(),
            ClientCapabilities::builder().enable_elicitation().build(),
            ClientCapabilities::builder().enable_roots().build(),
        ] {
            assert!(!answers_only(&caps), "{caps:?}");
        }
        assert!(handshake_era(&ProtocolVersion::V_2025_11_25));
        assert!(handshake_era(&ProtocolVersion::V_2025_06_18));
        assert!(!handshake_era(&ProtocolVersion::V_2026_07_28));
    }
}

//! One live MCP session with an upstream, over streamable HTTP, the legacy HTTP+SSE transport,
//! or a stdio child process.
//!
//! The upstream actor owns a [`Connection`] and hands clones of its peer to callers; this
//! module is the only place that knows rmcp's types. Every request carries a deadline (rmcp
//! has none by default), and every failure is translated into a [`CallFailure`] that says
//! whether the request was sent — the question failover depends on.
//!
//! rmcp settings chosen here, each for a pitfall (see `todo/rmcp-notes.md`):
//! protocol 2025-11-25 (the newest with `initialize`) asked for first, 2026-07-28 only from a
//! server that refuses every handshake version; the client response cache
//! off (it can hide errors behind stale data); no silent re-initialize on an expired HTTP
//! session (the server may have changed); bounded SSE reconnects. A stdio child runs in its
//! own process group ([`crate::process`]), its stderr is kept as a bounded tail, and the
//! group is killed when the session closes or is dropped — and when the handshake does not
//! complete, whether it fails or its future is dropped (the actor stopping mid-handshake).
//!
//! Its parts: [`open`] (transport and handshake), [`era`] (`initialize`, or `server/discover`
//! for a server that speaks only 2026-07-28), [`listen`] (such a server's list changes and
//! resource updates, from `subscriptions/listen`), [`rounds`] (its `input_required` answers,
//! asked of the call's client), [`sse`] (the legacy HTTP+SSE transport,
//! which rmcp lacks), [`child`] (a stdio child's process group
//! and stderr), [`client`] (att's rmcp client handler), [`relay`] (what the upstream says
//! and asks during a call, passed on to the call's client), [`requests`] (typed requests
//! with deadlines), [`direct`] (a warm request on a streamable-HTTP session, posted by att
//! itself and its reply read in the calling task), [`propagate`] (the trace context each request carries, in `_meta` and
//! HTTP headers) and [`classify`] (rmcp errors as [`CallFailure`]s).

mod child;
mod classify;
mod client;
mod direct;
mod era;
mod listen;
mod open;
mod plain;
mod propagate;
mod relay;
mod requests;
mod rounds;
mod sse;

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rmcp::model::{
    CallToolRequest, CallToolRequestParams, CallToolResult, ClientCapabilities, ClientConfig,
    ClientJsonRpcMessage, ClientRequest, ClientResult, CompleteRequest, CompleteRequestParams,
    CompleteResult, ElicitRequest, ElicitRequestParams, ElicitResult, ErrorCode, GetExtensions,
    GetMeta, GetPromptRequest, GetPromptRequestParams, Implementation, JsonObject,
    ListPromptsRequest, ListResourceTemplatesRequest, ListResourcesRequest, ListToolsRequest,
    PaginatedRequestParams, PingRequest, ProgressNotificationParam, ProgressToken, ProtocolVersion,
    ReadResourceRequest, ReadResourceRequestParams, RequestId, ServerRequest, ServerResult,
    SubscribeRequestParams, UnsubscribeRequestParams,
};
// Deprecated by SEP-2577 / the 2026-07-28 protocol; the protocol att speaks upstream
// (2025-11-25) has them.
#[allow(deprecated)]
use rmcp::model::{
    CreateMessageRequest, CreateMessageRequestParams, CreateMessageResult, ListRootsRequest,
    ListRootsResult, SubscribeRequest, UnsubscribeRequest,
};
use rmcp::service::{
    InboundStreamOrigin, NotificationContext, OriginatingRequestId, PeerRequestOptions,
    RequestContext, RunningService, ServiceRole,
};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::common::client_side_sse::ExponentialBackoff;
use rmcp::transport::streamable_http_client::{
    StreamableHttpClientTransportConfig, StreamableHttpError,
};
use rmcp::{
    ClientCacheConfig, ClientHandler, ClientLifecycleMode, ClientServiceExt, ErrorData, Peer,
    RoleClient, RoleServer, ServiceError,
};
use serde_json::Value;
use time::OffsetDateTime;
use tokio::io::AsyncBufReadExt;
use tokio::sync::mpsc;

use super::outcome::CallFailure;
use super::spec::{Transport, UpstreamSpec};
use super::subscriptions::Subscriptions;
use crate::catalog::Catalog;
use crate::health::ErrorCategory;

pub use child::ChildWatch;
use child::*;
pub use classify::classify;
use client::*;
use open::*;
pub use open::{connect, connect_with};
use relay::*;
pub use relay::{Relay, RelayCounts};
use requests::*;
pub use rounds::Resume;
pub use sse::SseError;

/// Something an upstream told att outside of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Notice {
    /// `notifications/tools/list_changed`.
    ToolsChanged,
    /// `notifications/resources/list_changed`.
    ResourcesChanged,
    /// `notifications/prompts/list_changed`.
    PromptsChanged,
    /// The stdio child with this pid has exited (the status is in the connection).
    Exited(u32),
}

/// What the handshake established.
#[derive(Debug, Clone, PartialEq)]
pub struct Handshake {
    /// The negotiated protocol version.
    pub protocol_version: String,
    /// The server's `serverInfo`.
    pub server_info: Value,
    /// The server's capabilities.
    pub capabilities: Value,
    /// When the handshake completed.
    pub captured_at: OffsetDateTime,
}

/// A live session with one upstream.
pub struct Connection {
    service: RunningService<RoleClient, AttClient>,
    /// What the handshake established.
    pub handshake: Handshake,
    http: bool,
    /// The stdio child's pid and its group, killed when the connection goes.
    process: Option<(u32, crate::process::GroupGuard)>,
    child: Arc<ChildWatch>,
    relays: Relays,
    /// The requests handed to the transport and not answered yet ([`relay::Handed`]).
    handed: relay::Handed,
    /// The `subscriptions/listen` stream of a 2026-07-28 session ([`listen`]), closed with it.
    listening: Option<listen::Listening>,
    /// A streamable-HTTP session's own requests ([`direct`]).
    direct: Option<direct::Direct>,
}

/// A task that ends when its owner goes.
struct Listener(tokio::task::JoinHandle<()>);

impl Drop for Listener {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl Connection {
    /// Whether the session is of the per-request era (2026-07-28: opened with
    /// `server/discover`, no `ping`, no `resources/subscribe`).
    fn per_request(&self) -> bool {
        self.handshake.protocol_version.as_str() >= ProtocolVersion::NO_INITIALIZE.as_str()
    }

    /// Follows `add` too, or `remove` no more, on the `subscriptions/listen` stream of a
    /// 2026-07-28 session ([`listen`]).
    async fn listen_for(
        &self,
        add: Option<&str>,
        remove: Option<&str>,
        deadline: Duration,
    ) -> Result<(), CallFailure> {
        match &self.listening {
            Some(listening) => listening.change(self.peer(), add, remove, deadline).await,
            None => Err(CallFailure::Malformed(
                "a 2026-07-28 session without its listen stream".into(),
            )),
        }
    }

    /// A handle for making requests on this session (cheap to clone).
    pub fn peer(&self) -> Peer<RoleClient> {
        self.service.peer().clone()
    }

    /// The stdio child's pid (`None` for HTTP).
    pub fn pid(&self) -> Option<u32> {
        self.process.as_ref().map(|(pid, _)| *pid)
    }

    /// Kills the stdio child's process group now, though others may still hold the
    /// session (their calls then fail); nothing for HTTP.
    pub fn kill(&self) {
        if let Some((_, group)) = &self.process {
            group.kill();
        }
    }

    /// Whether the session is over (the child exited, the worker quit).
    pub fn is_closed(&self) -> bool {
        self.service.is_transport_closed()
    }

    /// "the server process N exited with status 3; stderr: …" once the stdio child has
    /// exited; `None` while it runs, and for HTTP.
    pub fn exit_reason(&self) -> Option<String> {
        self.child.reason(self.pid()?)
    }

    /// The last lines the stdio child wrote to stderr (empty for HTTP).
    pub fn stderr_tail(&self) -> String {
        self.child.text()
    }

    /// `ping`, within `deadline`.
    /// Ends the session: closes it (a stdio child gets EOF, then signals), then kills the
    /// child's whole process group so no grandchild survives (dropping the connection does
    /// that too).
    pub async fn close(mut self) {
        let _ = self
            .service
            .close_with_timeout(Duration::from_secs(2))
            .await;
        self.kill();
    }
}

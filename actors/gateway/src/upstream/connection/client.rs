//! att's rmcp client handler ([`AttClient`]): identifies att to the upstream, forwards its
//! list-change notices to the actor, and asks the client of a relayed call what the
//! upstream asks during it (sampling, elicitation, roots) — never a client that did not
//! declare the capability.

use super::*;

/// att's side of the session: identifies att, forwards list changes, and asks the client
/// of a relayed call what the upstream asks during it.
#[derive(Clone)]
pub(super) struct AttClient {
    pub(super) notices: mpsc::UnboundedSender<Notice>,
    pub(super) relays: Relays,
}

/// A capability of att's clients that an upstream's request needs.
#[derive(Clone, Copy)]
pub(super) enum Asks {
    Sampling,
    Elicitation,
    Roots,
}

impl Asks {
    pub(super) fn name(self) -> &'static str {
        match self {
            Self::Sampling => "sampling",
            Self::Elicitation => "elicitation",
            Self::Roots => "roots",
        }
    }

    fn offered_by(self, client: &ClientCapabilities) -> bool {
        match self {
            Self::Sampling => client.sampling.is_some(),
            Self::Elicitation => client.elicitation.is_some(),
            Self::Roots => client.roots.is_some(),
        }
    }
}

impl AttClient {
    /// The client of the relayed call an upstream request belongs to: the call whose
    /// response stream it arrived on (streamable HTTP), or else the only relayed call in
    /// flight on the session (stdio has one stream; a guess among several would send a
    /// question to a stranger).
    fn caller(&self, context: &RequestContext<RoleClient>) -> Result<Relay, String> {
        let relays = self.relays.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(InboundStreamOrigin::OutboundRequest(id)) =
            context.extensions.get::<InboundStreamOrigin>()
            && let Some(call) = relays.values().find(|c| &c.upstream_id == id)
        {
            return Ok(call.relay.clone());
        }
        let mut calls = relays.values();
        match (calls.next(), calls.next()) {
            (Some(only), None) => Ok(only.relay.clone()),
            (None, _) => Err("no client call is in flight on this session".into()),
            (Some(_), Some(_)) => Err(format!(
                "{} client calls are in flight on this session and the request names none of them",
                relays.len()
            )),
        }
    }

    /// Asks the calling client `request` and returns its answer. A cancel from the upstream
    /// cancels the question at the client.
    async fn ask(
        &self,
        asks: Asks,
        request: ServerRequest,
        context: RequestContext<RoleClient>,
    ) -> Result<ClientResult, ErrorData> {
        let relay = self
            .caller(&context)
            .map_err(|why| cannot_relay(asks, why))?;
        ask_relay(&relay, asks, request, context.ct.cancelled()).await
    }
}

/// The error an upstream (or, for an `input_required` round, the call) gets when att has no
/// client to ask: "method not found", as from a client without the capability.
pub(super) fn cannot_relay(asks: Asks, why: String) -> ErrorData {
    ErrorData::new(
        ErrorCode::METHOD_NOT_FOUND,
        format!("att cannot relay this {} request: {why}", asks.name()),
        None,
    )
}

/// Asks `relay`'s client `request` (on its call's response stream) and returns its answer,
/// unless `cancelled` completes first, which cancels the question at the client. A client
/// that did not declare the capability is not asked.
pub(super) async fn ask_relay(
    relay: &Relay,
    asks: Asks,
    mut request: ServerRequest,
    cancelled: impl Future<Output = ()>,
) -> Result<ClientResult, ErrorData> {
    let offered = relay
        .peer
        .peer_info()
        .is_some_and(|info| asks.offered_by(&info.capabilities));
    let counts: &RelayCounts = &relay.counts;
    if !offered {
        RelayCounts::bump(&counts.refused);
        return Err(cannot_relay(
            asks,
            format!("the calling client does not offer {}", asks.name()),
        ));
    }
    if let Some(id) = &relay.request_id {
        request
            .extensions_mut()
            .insert(OriginatingRequestId(id.clone()));
    }
    RelayCounts::bump(&counts.started);
    // Until it settles, the question counts as withdrawn (this future may be dropped).
    let mut ending = Unsettled(Some(counts));
    let handle = match relay
        .peer
        .send_cancellable_request(request, PeerRequestOptions::no_options())
        .await
    {
        Ok(handle) => handle,
        Err(e) => {
            ending.settle(&counts.failed);
            return Err(client_failed(e));
        }
    };
    let mut abandon = CancelOnDrop(Some((relay.peer.clone(), handle.id.clone())));
    tokio::select! {
        reply = handle.await_response() => {
            abandon.0 = None;
            ending.settle(if reply.is_ok() { &counts.answered } else { &counts.failed });
            reply.map_err(client_failed)
        }
        // Dropping `abandon` tells the client; dropping `ending` counts it withdrawn.
        () = cancelled => Err(ErrorData::internal_error(
            "cancelled by the server",
            None,
        )),
    }
}

/// A relayed question not yet answered: counted `cancelled` when dropped unsettled.
struct Unsettled<'a>(Option<&'a RelayCounts>);

impl Unsettled<'_> {
    fn settle(&mut self, counter: &std::sync::atomic::AtomicU64) {
        self.0 = None;
        RelayCounts::bump(counter);
    }
}

impl Drop for Unsettled<'_> {
    fn drop(&mut self) {
        if let Some(counts) = self.0 {
            RelayCounts::bump(&counts.cancelled);
        }
    }
}

/// The client's failure to answer, as the upstream should see it: its own error as it is.
pub(super) fn client_failed(e: ServiceError) -> ErrorData {
    match e {
        ServiceError::McpError(data) => data,
        other => ErrorData::internal_error(format!("the client did not answer: {other}"), None),
    }
}

impl ClientHandler for AttClient {
    fn get_info(&self) -> ClientConfig {
        ClientConfig::new(
            offered_capabilities(),
            Implementation::new("att", env!("CARGO_PKG_VERSION")),
        )
        .with_protocol_version(ProtocolVersion::LATEST_WITH_INITIALIZE)
    }

    #[allow(deprecated)] // sampling: deprecated by SEP-2577, used by 2025-11-25 servers
    async fn create_message(
        &self,
        params: CreateMessageRequestParams,
        context: RequestContext<RoleClient>,
    ) -> Result<CreateMessageResult, ErrorData> {
        let request = ServerRequest::CreateMessageRequest(CreateMessageRequest::new(params));
        match self.ask(Asks::Sampling, request, context).await? {
            ClientResult::CreateMessageResult(r) => Ok(*r),
            other => Err(unexpected_answer(&other)),
        }
    }

    async fn create_elicitation(
        &self,
        params: ElicitRequestParams,
        context: RequestContext<RoleClient>,
    ) -> Result<ElicitResult, ErrorData> {
        let request = ServerRequest::ElicitRequest(ElicitRequest::new(params));
        match self.ask(Asks::Elicitation, request, context).await? {
            ClientResult::ElicitResult(r) => Ok(r),
            other => Err(unexpected_answer(&other)),
        }
    }

    #[allow(deprecated)] // roots: deprecated by SEP-2577, used by 2025-11-25 servers
    async fn list_roots(
        &self,
        context: RequestContext<RoleClient>,
    ) -> Result<ListRootsResult, ErrorData> {
        // Outside a client's call there is no client to ask: att itself has no roots.
        if self.caller(&context).is_err() {
            return Ok(ListRootsResult::default());
        }
        let request = ServerRequest::ListRootsRequest(ListRootsRequest::default());
        match self.ask(Asks::Roots, request, context).await? {
            ClientResult::ListRootsResult(r) => Ok(r),
            other => Err(unexpected_answer(&other)),
        }
    }

    async fn on_tool_list_changed(&self, _ctx: NotificationContext<RoleClient>) {
        let _ = self.notices.send(Notice::ToolsChanged);
    }

    async fn on_resource_list_changed(&self, _ctx: NotificationContext<RoleClient>) {
        let _ = self.notices.send(Notice::ResourcesChanged);
    }

    async fn on_prompt_list_changed(&self, _ctx: NotificationContext<RoleClient>) {
        let _ = self.notices.send(Notice::PromptsChanged);
    }
}

/// What att offers its upstreams: what its clients may offer (sampling, elicitation, roots),
/// relayed to the client of the call during which the upstream asks.
pub(super) fn offered_capabilities() -> ClientCapabilities {
    serde_json::from_value(serde_json::json!({
        "sampling": { "tools": {}, "context": {} },
        "elicitation": { "form": {}, "url": {} },
        "roots": {},
    }))
    .unwrap_or_default()
}

pub(super) fn unexpected_answer(answer: &ClientResult) -> ErrorData {
    ErrorData::internal_error(format!("the client answered with {answer:?}"), None)
}

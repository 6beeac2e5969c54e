//! Typed requests on a session, each with a deadline (rmcp has none by default): a caller
//! that stops waiting cancels its request upstream, and every failure becomes a
//! [`CallFailure`] that says whether it was sent.

use super::*;
use crate::answer::{Answer, Asked};

/// Sends `notifications/cancelled` for a request whose caller stopped waiting.
pub(super) struct CancelOnDrop<R: ServiceRole>(pub(super) Option<(Peer<R>, RequestId)>)
where
    R::Not: From<rmcp::model::CancelledNotification>;

impl<R: ServiceRole> Drop for CancelOnDrop<R>
where
    R::Not: From<rmcp::model::CancelledNotification>,
{
    fn drop(&mut self) {
        if let Some((peer, id)) = self.0.take() {
            let note = rmcp::model::CancelledNotification::new(
                rmcp::model::CancelledNotificationParam::new(
                    Some(id),
                    Some("request abandoned by the caller".into()),
                ),
            );
            tokio::spawn(async move {
                let _ = peer.send_notification(note.into()).await;
            });
        }
    }
}

impl Connection {
    pub async fn ping(&self, deadline: Duration) -> Result<(), CallFailure> {
        // 2026-07-28 has no `ping`: a server of that era answers `server/discover` instead.
        let request = if self.per_request() {
            ClientRequest::DiscoverRequest(rmcp::model::DiscoverRequest::new(
                rmcp::model::DiscoverRequestParams {},
            ))
        } else {
            ClientRequest::PingRequest(PingRequest::default())
        };
        match self.request(request, deadline).await? {
            ServerResult::EmptyResult(_) | ServerResult::DiscoverResult(_) => Ok(()),
            other => Err(CallFailure::Malformed(format!(
                "unexpected reply to ping: {other:?}"
            ))),
        }
    }

    /// `tools/call`, within `deadline`. Dropping the future (the caller went away) or the
    /// deadline passing sends `notifications/cancelled` upstream.
    pub async fn call_tool(
        &self,
        name: &str,
        arguments: Option<JsonObject>,
        deadline: Duration,
    ) -> Result<CallToolResult, CallFailure> {
        match self
            .call_tool_for(name, arguments, None, deadline, None)
            .await?
        {
            Answer::Tool(r) => Ok(r),
            other => Err(CallFailure::Malformed(format!(
                "unexpected reply to tools/call: {}",
                other.kind()
            ))),
        }
    }

    /// [`Self::call_tool`] on behalf of a client: what the upstream says and asks during the
    /// call goes to `relay` (see [`Relay`]); `resume` carries a 2026-07-28 client's answers
    /// to the upstream's `input_required`, which comes back as the answer for such a client.
    pub async fn call_tool_for(
        &self,
        name: &str,
        arguments: Option<JsonObject>,
        resume: Option<&Resume>,
        deadline: Duration,
        relay: Option<&Relay>,
    ) -> Result<Answer, CallFailure> {
        let mut params = CallToolRequestParams::new(name.to_owned());
        if let Some(args) = arguments {
            params = params.with_arguments(args);
        }
        let request = ClientRequest::CallToolRequest(CallToolRequest::new(params));
        self.answered(request, resume, deadline, relay).await
    }

    /// `completion/complete`, within `deadline`, on behalf of `relay`'s client.
    pub async fn complete(
        &self,
        params: CompleteRequestParams,
        deadline: Duration,
        relay: Option<&Relay>,
    ) -> Result<CompleteResult, CallFailure> {
        let request = ClientRequest::CompleteRequest(CompleteRequest::new(params));
        match self.exchange(request, deadline, relay).await? {
            ServerResult::CompleteResult(r) => Ok(r),
            other => Err(unexpected("completion/complete", &other)),
        }
    }

    /// `resources/read`, within `deadline`, on behalf of `relay`'s client; `resume` as for
    /// [`Self::call_tool_for`].
    pub async fn read_resource(
        &self,
        uri: &str,
        resume: Option<&Resume>,
        deadline: Duration,
        relay: Option<&Relay>,
    ) -> Result<Answer, CallFailure> {
        let params = ReadResourceRequestParams::new(uri);
        let request = ClientRequest::ReadResourceRequest(ReadResourceRequest::new(params));
        self.answered(request, resume, deadline, relay).await
    }

    /// `prompts/get`, within `deadline`, on behalf of `relay`'s client; `resume` as for
    /// [`Self::call_tool_for`].
    pub async fn get_prompt(
        &self,
        name: &str,
        arguments: Option<JsonObject>,
        resume: Option<&Resume>,
        deadline: Duration,
        relay: Option<&Relay>,
    ) -> Result<Answer, CallFailure> {
        let mut params = GetPromptRequestParams::new(name.to_owned());
        if let Some(args) = arguments {
            params = params.with_arguments(args);
        }
        let request = ClientRequest::GetPromptRequest(GetPromptRequest::new(params));
        self.answered(request, resume, deadline, relay).await
    }

    /// A request that may answer `input_required` (`tools/call`, `prompts/get`,
    /// `resources/read`), sent with `resume`'s answers and state: its result, or — for a
    /// `relay` that passes input on — the upstream's questions.
    async fn answered(
        &self,
        mut request: ClientRequest,
        resume: Option<&Resume>,
        deadline: Duration,
        relay: Option<&Relay>,
    ) -> Result<Answer, CallFailure> {
        if let Some(resume) = resume {
            resume.apply(&mut request)?;
        }
        let method = request.method().to_owned();
        match self.exchange_rounds(request, deadline, relay).await? {
            ServerResult::CallToolResult(r) => Ok(Answer::Tool(r)),
            ServerResult::GetPromptResult(r) => Ok(Answer::Prompt(r)),
            ServerResult::ReadResourceResult(r) => Ok(Answer::Resource(r)),
            ServerResult::InputRequiredResult(r) => Ok(Answer::InputRequired(Asked(r))),
            other => Err(unexpected(&method, &other)),
        }
    }

    /// `resources/subscribe`, within `deadline`; on a session of the 2026-07-28 era, which
    /// has none, the URI joins att's `subscriptions/listen` stream ([`super::listen`]).
    #[allow(deprecated)] // legacy-only in 2026-07-28; the protocol att speaks upstream has it
    pub async fn subscribe(&self, uri: &str, deadline: Duration) -> Result<(), CallFailure> {
        if self.per_request() {
            return self.listen_for(Some(uri), None, deadline).await;
        }
        let request = ClientRequest::SubscribeRequest(SubscribeRequest::new(
            SubscribeRequestParams::new(uri),
        ));
        self.exchange(request, deadline, None).await.map(drop)
    }

    /// `resources/unsubscribe`, within `deadline`.
    #[allow(deprecated)]
    pub async fn unsubscribe(&self, uri: &str, deadline: Duration) -> Result<(), CallFailure> {
        if self.per_request() {
            return self.listen_for(None, Some(uri), deadline).await;
        }
        let request = ClientRequest::UnsubscribeRequest(UnsubscribeRequest::new(
            UnsubscribeRequestParams::new(uri),
        ));
        self.exchange(request, deadline, None).await.map(drop)
    }

    /// Sends `request` and waits for its reply within `deadline`; the deadline passing or
    /// the future being dropped (a caller that went away) sends `notifications/cancelled`
    /// upstream. With a `relay`, the upstream's progress and log messages during the request
    /// go to its client, in the upstream's order and before the reply is returned, and the
    /// requests the upstream makes meanwhile are asked of that client.
    /// On a session of the 2026-07-28 era, where a server sends log messages only when the
    /// request asks for them (`_meta` `io.modelcontextprotocol/logLevel`; there is no
    /// `logging/setLevel`), a relayed request asks at its client's level — all of them
    /// (`debug`) when the client set none, as a handshake-era server sends them.
    pub(super) async fn exchange(
        &self,
        mut request: ClientRequest,
        deadline: Duration,
        relay: Option<&Relay>,
    ) -> Result<ServerResult, CallFailure> {
        if let Some(relay) = relay
            && self.per_request()
        {
            #[allow(deprecated)] // logging: deprecated by SEP-2577, asked for per request
            let level = relay.log_level.unwrap_or(rmcp::model::LoggingLevel::Debug);
            request.get_meta_mut().set_log_level(level);
        }
        super::propagate::stamp(&mut request);
        if self.is_closed() {
            return Err(self
                .failed(not_sent(
                    "the session is closed".into(),
                    ErrorCategory::TransportError,
                ))
                .await);
        }
        if let Some(direct) = self.direct.as_ref().filter(|_| !self.per_request())
            && let Some(route) = direct.route()
        {
            return self
                .exchange_direct(direct, route, request, deadline, relay)
                .await;
        }
        // Entered by the session's tap as the request leaves, under the token rmcp gives it.
        let ticket = relay.map(|relay| {
            let ticket = super::relay::RelayTicket::new(relay);
            request.extensions_mut().insert(ticket.clone());
            ticket
        });
        let sent = self
            .service
            .peer()
            .send_cancellable_request(request, PeerRequestOptions::with_timeout(deadline))
            .await;
        let handle = match sent {
            Ok(h) => h,
            // The session's loop was gone: the request never left att.
            Err(ServiceError::TransportClosed) => {
                return Err(self.failed(closed_before_sent()).await);
            }
            Err(e) => return Err(self.failed(self.classify(e)).await),
        };
        let handed = super::relay::HandedGuard(self.handed.clone(), handle.id.clone());
        // rmcp puts its own progress token on every request; the handle says which, so the
        // upstream's progress for it can be found and sent on under the client's token. The
        // tap entered the call under it as it handed the request on (or will).
        let relayed = ticket.map(|ticket| {
            RelayGuard::ticketed(self.relays.clone(), handle.progress_token.clone(), ticket)
        });
        // A raw handle sends no cancel when dropped (a caller that went away): this does.
        let mut abandon = CancelOnDrop(Some((self.service.peer().clone(), handle.id.clone())));
        let reply = handle.await_response().await;
        abandon.0 = None;
        flush(relayed).await;
        match reply {
            Ok(r) => Ok(r),
            Err(ServiceError::TransportClosed) if !handed.was_handed() => {
                Err(self.failed(closed_before_sent()).await)
            }
            Err(e) => Err(self.failed(self.classify(e)).await),
        }
    }

    /// [`Self::exchange`] on a route att posts to itself ([`super::direct`]): the same
    /// deadline, relay, cancel when the caller goes away, and failures.
    async fn exchange_direct(
        &self,
        direct: &super::direct::Direct,
        route: &super::direct::Route,
        mut request: ClientRequest,
        deadline: Duration,
        relay: Option<&Relay>,
    ) -> Result<ServerResult, CallFailure> {
        let id = direct.next_id();
        // Progress is asked for only for a client that may want it, under the request's id.
        let relayed = relay.map(|relay| {
            let token = ProgressToken(id.clone());
            request.get_meta_mut().set_progress_token(token.clone());
            self.relay(relay, &token, &id)
        });
        let message =
            ClientJsonRpcMessage::Request(rmcp::model::JsonRpcRequest::new(id.clone(), request));
        // Armed from the start: a cancel for a request the server never saw is ignored.
        let mut abandon = CancelOnDrop(Some((self.service.peer().clone(), id.clone())));
        let reply = tokio::time::timeout(deadline, direct.exchange(route, &message, &id)).await;
        let reply = match reply {
            Ok(reply) => {
                abandon.0 = None;
                reply
            }
            // `abandon` cancels it upstream.
            Err(_) => Err(CallFailure::Timeout {
                after_ms: u64::try_from(deadline.as_millis()).unwrap_or(u64::MAX),
            }),
        };
        flush(relayed).await;
        reply
    }

    /// Registers a call made for `relay`'s client, as request `id` with progress `token`.
    fn relay(&self, relay: &Relay, token: &ProgressToken, id: &RequestId) -> RelayGuard {
        self.relays
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(token.clone(), Relayed::new(relay.clone(), id.clone()));
        RelayGuard::entered(self.relays.clone(), token.clone())
    }

    /// The whole catalog: every page of each list the server's capabilities announce, each
    /// request within `deadline`.
    pub async fn list_catalog(&self, deadline: Duration) -> Result<Catalog, CallFailure> {
        let caps = &self.handshake.capabilities;
        let has = |k: &str| caps.get(k).is_some_and(|v| !v.is_null());
        let mut catalog = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        if has("tools") {
            catalog.0 = self
                .all_pages(
                    deadline,
                    |p| ClientRequest::ListToolsRequest(ListToolsRequest::with_param(p)),
                    |r| match r {
                        ServerResult::ListToolsResult(l) => Some((l.tools, l.next_cursor)),
                        _ => None,
                    },
                )
                .await?;
        }
        if has("resources") {
            catalog.1 = self
                .all_pages(
                    deadline,
                    |p| ClientRequest::ListResourcesRequest(ListResourcesRequest::with_param(p)),
                    |r| match r {
                        ServerResult::ListResourcesResult(l) => Some((l.resources, l.next_cursor)),
                        _ => None,
                    },
                )
                .await?;
            catalog.2 = self
                .all_pages(
                    deadline,
                    |p| {
                        ClientRequest::ListResourceTemplatesRequest(
                            ListResourceTemplatesRequest::with_param(p),
                        )
                    },
                    |r| match r {
                        ServerResult::ListResourceTemplatesResult(l) => {
                            Some((l.resource_templates, l.next_cursor))
                        }
                        _ => None,
                    },
                )
                .await?;
        }
        if has("prompts") {
            catalog.3 = self
                .all_pages(
                    deadline,
                    |p| ClientRequest::ListPromptsRequest(ListPromptsRequest::with_param(p)),
                    |r| match r {
                        ServerResult::ListPromptsResult(l) => Some((l.prompts, l.next_cursor)),
                        _ => None,
                    },
                )
                .await?;
        }
        Ok(Catalog::new(catalog.0, catalog.1, catalog.2, catalog.3))
    }

    /// Follows `nextCursor` to the last page; `split` takes a page's items and cursor.
    async fn all_pages<T>(
        &self,
        deadline: Duration,
        build: impl Fn(PaginatedRequestParams) -> ClientRequest,
        split: impl Fn(ServerResult) -> Option<(Vec<T>, Option<String>)>,
    ) -> Result<Vec<T>, CallFailure> {
        // Guards against a server whose cursors never end.
        const MAX_PAGES: usize = 1000;
        let mut items = Vec::new();
        let mut cursor: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let params = PaginatedRequestParams::default().with_cursor(cursor.take());
            let reply = self.request(build(params), deadline).await?;
            let (page, next) = split(reply).ok_or_else(|| {
                CallFailure::Malformed("unexpected reply to a list request".into())
            })?;
            items.extend(page);
            match next {
                Some(next) => cursor = Some(next),
                None => return Ok(items),
            }
        }
        Err(CallFailure::Malformed(format!(
            "more than {MAX_PAGES} pages of results"
        )))
    }

    async fn request(
        &self,
        request: ClientRequest,
        deadline: Duration,
    ) -> Result<ServerResult, CallFailure> {
        self.exchange(request, deadline, None).await
    }

    fn classify(&self, e: ServiceError) -> CallFailure {
        classify(e, self.http)
    }

    /// A transport failure on a stdio session is usually the child's death: say so, with
    /// its exit status and stderr tail, whichever noticed it first.
    async fn failed(&self, failure: CallFailure) -> CallFailure {
        let transport = matches!(
            failure,
            CallFailure::ConnectionLost(_)
                | CallFailure::NotSent {
                    category: ErrorCategory::TransportError,
                    ..
                }
        );
        match self.pid() {
            Some(pid) if transport => died(failure, pid, &self.child).await,
            _ => failure,
        }
    }
}

/// Ends a relayed call: what the upstream sent before its reply reaches the client before
/// att's reply.
async fn flush(relayed: Option<RelayGuard>) {
    if let Some(outbox) = relayed.and_then(RelayGuard::finish) {
        let (done, flushed) = tokio::sync::oneshot::channel();
        if outbox.send(Outgoing::Flush(done)).is_ok() {
            let _ = tokio::time::timeout(Duration::from_secs(2), flushed).await;
        }
    }
}

pub(super) fn unexpected(method: &str, reply: &ServerResult) -> CallFailure {
    CallFailure::Malformed(format!("unexpected reply to {method}: {reply:?}"))
}

/// A call whose session closed before its request was handed to the transport.
fn closed_before_sent() -> CallFailure {
    not_sent(
        "the session closed before the request was sent".into(),
        ErrorCategory::TransportError,
    )
}

//! Relaying to the client a call is made for: the upstream's progress and log messages
//! during a call, in the upstream's order, before the call's reply ([`Tap`] sees them first
//! and queues them in the call's outbox; [`forward_to`] passes an outbox on). What the upstream
//! asks of the client is counted in [`RelayCounts`] (the relay metrics).

use super::*;

/// The client a call is made for (a session on att's own MCP endpoint): what the upstream
/// says about the call while it runs — progress, log messages — goes to it, and what the
/// upstream asks during the call — sampling, elicitation, roots — is asked of it.
#[derive(Clone, Debug)]
pub struct Relay {
    /// The calling client.
    pub peer: Peer<RoleServer>,
    /// The progress token the client gave its request, if it wants progress.
    pub progress_token: Option<ProgressToken>,
    /// The client's request on att's endpoint: a request the upstream makes during the call
    /// is sent to the client as part of it (on that request's response stream).
    pub request_id: Option<RequestId>,
    /// The client speaks 2026-07-28 (no back-channel): a question the upstream asks by
    /// `input_required` goes back to it as the call's answer instead of being asked.
    pub passes_input: bool,
    /// The least severe log message the client wants (`logging/setLevel`); all when `None`.
    #[allow(deprecated)]
    pub log_level: Option<rmcp::model::LoggingLevel>,
    /// Where the requests asked of the client are counted (one per att, shared).
    pub counts: Arc<RelayCounts>,
}

/// Requests upstreams made of att's clients during their calls (sampling, elicitation,
/// roots), by how they ended. Lock-free counters, one set per att.
#[derive(Debug, Default)]
pub struct RelayCounts {
    /// Asked of a client.
    pub started: std::sync::atomic::AtomicU64,
    /// The client answered (a result).
    pub answered: std::sync::atomic::AtomicU64,
    /// The client answered with an error, or could not be reached.
    pub failed: std::sync::atomic::AtomicU64,
    /// Withdrawn before an answer: the upstream cancelled it (its own timeout), or the call
    /// ended first (att's call deadline, the caller went away).
    pub cancelled: std::sync::atomic::AtomicU64,
    /// Not asked: the calling client does not offer the capability.
    pub refused: std::sync::atomic::AtomicU64,
}

impl RelayCounts {
    pub(super) fn bump(counter: &std::sync::atomic::AtomicU64) {
        counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
}

/// The rank of a log level, least severe first (RFC 5424 order, as MCP uses it).
#[allow(deprecated)]
pub(super) fn severity(level: rmcp::model::LoggingLevel) -> u8 {
    use rmcp::model::LoggingLevel as L;
    match level {
        L::Debug => 0,
        L::Info => 1,
        L::Notice => 2,
        L::Warning => 3,
        L::Error => 4,
        L::Critical => 5,
        L::Alert => 6,
        L::Emergency => 7,
    }
}

/// What a relayed call passes on to its client, in the order the upstream sent it.
#[allow(deprecated)] // logging: deprecated by SEP-2577, still used by 2025-11-25 clients
pub(super) enum Outgoing {
    Progress(ProgressNotificationParam),
    Log(rmcp::model::LoggingMessageNotificationParam),
    /// Everything before this has been passed on.
    Flush(tokio::sync::oneshot::Sender<()>),
}

/// A call in flight on behalf of a client.
pub(super) struct Relayed {
    /// The ordered outbox of its forwarding task, started by the first message to pass on
    /// (most calls have none: no task, no flush).
    pub(super) outbox: Option<mpsc::UnboundedSender<Outgoing>>,
    /// Its client.
    pub(super) relay: Relay,
    /// att's request id upstream.
    pub(super) upstream_id: RequestId,
}

impl Relayed {
    /// A call made for `relay`'s client as request `upstream_id`, nothing passed on yet.
    pub(super) fn new(relay: Relay, upstream_id: RequestId) -> Self {
        Self {
            outbox: None,
            relay,
            upstream_id,
        }
    }

    fn outbox(&mut self) -> &mpsc::UnboundedSender<Outgoing> {
        self.outbox
            .get_or_insert_with(|| forward_to(self.relay.clone()))
    }
}

/// Calls in flight that have a [`Relay`], by the progress token rmcp gave them upstream.
pub(super) type Relays = Arc<Mutex<HashMap<ProgressToken, Relayed>>>;

/// A relayed call's client, carried in its request's extensions (never serialized) from the
/// caller to the session's [`Tap`], which enters the call in [`Relays`] under the progress
/// token rmcp gave the request as it hands the request to the transport: before anything the
/// upstream says or asks about the request can arrive.
///
/// rmcp picks the token inside `send_cancellable_request` and tells the caller only once the
/// request is on its way to the session's loop, which may send it, and read the upstream's
/// first log message or question about it, before the caller runs again. A call entered
/// then lost that message (a relayed log missing on a 2026-07-28 upstream when connections
/// ran on their own threads: decisions.md).
#[derive(Clone)]
pub(super) struct RelayTicket(Arc<Ticket>);

struct Ticket {
    relay: Relay,
    /// Set, under the [`Relays`] lock, when the call ends: a request its caller gave up on
    /// before the transport got it is not entered after all (it would stay until the session
    /// closes).
    ended: std::sync::atomic::AtomicBool,
}

impl std::fmt::Debug for RelayTicket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RelayTicket")
    }
}

impl RelayTicket {
    pub(super) fn new(relay: &Relay) -> Self {
        Self(Arc::new(Ticket {
            relay: relay.clone(),
            ended: std::sync::atomic::AtomicBool::new(false),
        }))
    }
}

/// Enters the call a request's [`RelayTicket`] stands for, if it carries one and its call has
/// not ended (the request is being handed to the transport).
fn enter(relays: &Relays, request: &rmcp::model::JsonRpcRequest<rmcp::model::ClientRequest>) {
    use rmcp::model::{GetExtensions, GetMeta};
    let Some(ticket) = request.request.extensions().get::<RelayTicket>() else {
        return;
    };
    let Some(token) = request.request.get_meta().get_progress_token() else {
        return;
    };
    let mut relays = relays.lock().unwrap_or_else(|p| p.into_inner());
    if ticket.0.ended.load(std::sync::atomic::Ordering::Relaxed) {
        return;
    }
    relays
        .entry(token)
        .or_insert_with(|| Relayed::new(ticket.0.relay.clone(), request.id.clone()));
}

/// Sees every message from the upstream in arrival order, before rmcp does, and puts the
/// progress and log messages of relayed calls in their outboxes. rmcp itself handles each
/// notification in a task of its own and hands a response over at once, so its handlers
/// could pass notifications on out of order or after the call's reply (found by the
/// interop script's SDK clients); queued here, they keep the upstream's order and a call
/// flushes its outbox before it answers.
///
/// It also keeps the ids of the requests it handed on to be sent ([`Handed`]), and takes
/// what att's own requests read on their response streams ([`super::direct`]) from its
/// inbox: those messages were seen already, in order, by the request that read them.
pub(super) struct Tap<T> {
    pub(super) inner: T,
    pub(super) relays: Relays,
    pub(super) subscriptions: Arc<Subscriptions>,
    pub(super) handed: Handed,
    pub(super) inbox: Option<mpsc::Receiver<super::direct::Inboxed>>,
}

/// The ids of the requests a session's [`Tap`] handed to its transport to send, until their
/// answer arrives or their call ends ([`HandedGuard`]). When the session closes under a call
/// whose id was never handed on, the request never left att: it may be repeated elsewhere.
/// rmcp's `TransportClosed` alone cannot say (a legacy SSE replica killed as a call was
/// queued got a 502 "outcome unknown" where a failover was safe; interop). A request whose
/// send failed in a way that says it never left (a refused connection, a legacy SSE stream
/// already over) is taken out again: rmcp may close the session before it passes that
/// failure on to the call.
pub(super) type Handed = Arc<Mutex<std::collections::HashSet<rmcp::model::RequestId>>>;

/// What every [`Tap`] of one session shares with its [`Connection`].
#[derive(Clone, Default)]
pub(super) struct TapParts {
    pub(super) relays: Relays,
    pub(super) subscriptions: Arc<Subscriptions>,
    pub(super) handed: Handed,
}

impl TapParts {
    /// `inner` tapped.
    pub(super) fn tap<T>(&self, inner: T) -> Tap<T> {
        Tap {
            inner,
            relays: self.relays.clone(),
            subscriptions: self.subscriptions.clone(),
            handed: self.handed.clone(),
            inbox: None,
        }
    }

    /// Passes on what a notification from the upstream means to att: a subscribed
    /// resource's update, a relayed call's progress, log messages for relayed calls.
    #[allow(deprecated)]
    pub(super) fn observe(&self, notification: &rmcp::model::ServerNotification) {
        observe(&self.relays, &self.subscriptions, notification);
    }
}

impl<T> Tap<T> {
    /// The tap, also taking the messages `inbox` brings.
    pub(super) fn with_inbox(mut self, inbox: mpsc::Receiver<super::direct::Inboxed>) -> Self {
        self.inbox = Some(inbox);
        self
    }
}

/// Forgets a call's id when the call ends, however it ends (a caller that went away too).
pub(super) struct HandedGuard(pub(super) Handed, pub(super) rmcp::model::RequestId);

impl HandedGuard {
    /// Whether the request was handed to the transport (and not answered yet).
    pub(super) fn was_handed(&self) -> bool {
        held(&self.0).contains(&self.1)
    }
}

impl Drop for HandedGuard {
    fn drop(&mut self) {
        held(&self.0).remove(&self.1);
    }
}

/// The ids in `handed` (a poisoned lock still holds a usable set).
fn held(
    handed: &Handed,
) -> std::sync::MutexGuard<'_, std::collections::HashSet<rmcp::model::RequestId>> {
    handed.lock().unwrap_or_else(|p| p.into_inner())
}

impl<T: rmcp::transport::Transport<RoleClient>> rmcp::transport::Transport<RoleClient> for Tap<T> {
    type Error = T::Error;

    fn send(
        &mut self,
        item: rmcp::service::TxJsonRpcMessage<RoleClient>,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send + 'static {
        let id = match &item {
            rmcp::model::JsonRpcMessage::Request(r) => {
                enter(&self.relays, r);
                held(&self.handed).insert(r.id.clone());
                Some(r.id.clone())
            }
            _ => None,
        };
        let (send, handed) = (self.inner.send(item), self.handed.clone());
        async move {
            let sent = send.await;
            // A request the transport could not send (refused, the stream over) was not
            // handed after all: if rmcp then closes the session before it passes that error
            // on, the call is still known never to have reached the server.
            if let (Err(e), Some(id)) = (&sent, id)
                && super::classify::never_sent(e)
            {
                held(&handed).remove(&id);
            }
            sent
        }
    }

    // The trait's signature asks for a `Send` future; spelled out to keep that visible.
    #[allow(clippy::manual_async_fn)]
    fn receive(
        &mut self,
    ) -> impl Future<Output = Option<rmcp::service::RxJsonRpcMessage<RoleClient>>> + Send {
        async move {
            let Self { inner, inbox, .. } = self;
            // Only a streamable-HTTP session has an inbox; its transport receives from a
            // channel, so dropping its `receive` when the inbox wins loses nothing.
            let from_inbox = match inbox {
                Some(rx) => tokio::select! {
                    biased;
                    m = inner.receive() => Err(m),
                    m = rx.recv() => Ok(m),
                },
                None => Err(inner.receive().await),
            };
            let message = match from_inbox {
                Ok(Some(message)) => return Some(*message),
                // Nothing more can come in: read the transport alone.
                Ok(None) => {
                    self.inbox = None;
                    self.inner.receive().await?
                }
                Err(message) => message?,
            };
            match &message {
                rmcp::model::JsonRpcMessage::Notification(n) => self.tap(&n.notification),
                rmcp::model::JsonRpcMessage::Response(r) => self.answered(&r.id),
                rmcp::model::JsonRpcMessage::Error(e) => {
                    if let Some(id) = &e.id {
                        self.answered(id);
                    }
                }
                _ => {}
            }
            Some(message)
        }
    }

    fn close(&mut self) -> impl Future<Output = Result<(), Self::Error>> + Send {
        self.inner.close()
    }
}

impl<T> Tap<T> {
    fn answered(&self, id: &rmcp::model::RequestId) {
        held(&self.handed).remove(id);
    }

    fn tap(&self, notification: &rmcp::model::ServerNotification) {
        observe(&self.relays, &self.subscriptions, notification);
    }
}

/// What [`TapParts::observe`] does.
#[allow(deprecated)]
fn observe(
    relays: &Relays,
    subscriptions: &Subscriptions,
    notification: &rmcp::model::ServerNotification,
) {
    use rmcp::model::ServerNotification as N;
    if let N::ResourceUpdatedNotification(u) = notification {
        subscriptions.publish(&u.params.uri);
        return;
    }
    let mut relays = relays.lock().unwrap_or_else(|p| p.into_inner());
    match notification {
        N::ProgressNotification(p) => {
            if let Some(call) = relays.get_mut(&p.params.progress_token) {
                let _ = call.outbox().send(Outgoing::Progress(p.params.clone()));
            }
        }
        // MCP log messages carry no request id: every relayed call on this session
        // whose client wants the level gets them.
        N::LoggingMessageNotification(l) => {
            for call in relays.values_mut() {
                if call
                    .relay
                    .log_level
                    .is_none_or(|min| severity(l.params.level) >= severity(min))
                {
                    let _ = call.outbox().send(Outgoing::Log(l.params.clone()));
                }
            }
        }
        _ => {}
    }
}

/// Starts the task that passes a relayed call's outbox on to its client, in order.
#[allow(deprecated)]
pub(super) fn forward_to(relay: Relay) -> mpsc::UnboundedSender<Outgoing> {
    let (tx, mut rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Some(item) = rx.recv().await {
            match item {
                Outgoing::Progress(mut p) => {
                    if let Some(token) = &relay.progress_token {
                        p.progress_token = token.clone();
                        let _ = relay.peer.notify_progress(p).await;
                    }
                }
                Outgoing::Log(l) => {
                    let _ = relay.peer.notify_logging_message(l).await;
                }
                Outgoing::Flush(done) => {
                    let _ = done.send(());
                }
            }
        }
    });
    tx
}

/// Removes a relayed call's entry when the call ends (or is dropped).
pub(super) struct RelayGuard {
    relays: Relays,
    token: ProgressToken,
    /// The ticket the call's request carries, if the [`Tap`] enters it ([`RelayTicket`]).
    ticket: Option<RelayTicket>,
}

impl RelayGuard {
    /// For a call entered under `token` already.
    pub(super) fn entered(relays: Relays, token: ProgressToken) -> Self {
        Self {
            relays,
            token,
            ticket: None,
        }
    }

    /// For a call whose request carries `ticket` and was given `token`: the tap enters it
    /// when it hands the request on (or did already).
    pub(super) fn ticketed(relays: Relays, token: ProgressToken, ticket: RelayTicket) -> Self {
        Self {
            relays,
            token,
            ticket: Some(ticket),
        }
    }

    /// Ends the relay; returns the call's outbox if anything was passed on.
    pub(super) fn finish(mut self) -> Option<mpsc::UnboundedSender<Outgoing>> {
        self.end().and_then(|e| e.outbox)
    }

    fn end(&mut self) -> Option<Relayed> {
        let mut relays = self.relays.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(ticket) = &self.ticket {
            ticket
                .0
                .ended
                .store(true, std::sync::atomic::Ordering::Relaxed);
        }
        relays.remove(&self.token)
    }
}

impl Drop for RelayGuard {
    fn drop(&mut self) {
        self.end();
    }
}

#[cfg(test)]
mod handed_tests {
    use rmcp::model::{
        ClientJsonRpcMessage, ClientRequest, JsonRpcResponse, NumberOrString, PingRequest,
        ServerJsonRpcMessage, ServerResult,
    };
    use rmcp::transport::Transport as _;

    use super::super::sse::SseError;
    use super::*;

    /// A transport that sends nowhere and receives what the test queues.
    struct Loopback(mpsc::UnboundedReceiver<ServerJsonRpcMessage>);

    impl rmcp::transport::Transport<RoleClient> for Loopback {
        type Error = std::io::Error;

        fn send(
            &mut self,
            _: ClientJsonRpcMessage,
        ) -> impl Future<Output = Result<(), std::io::Error>> + Send + 'static {
            std::future::ready(Ok(()))
        }

        fn receive(&mut self) -> impl Future<Output = Option<ServerJsonRpcMessage>> + Send {
            self.0.recv()
        }

        async fn close(&mut self) -> Result<(), std::io::Error> {
            Ok(())
        }
    }

    #[tokio::test]
    async fn a_request_is_handed_from_its_send_until_its_answer_or_its_call_s_end() {
        let parts = TapParts::default();
        let (answers, incoming) = mpsc::unbounded_channel();
        let mut tap = parts.tap(Loopback(incoming));
        let guard = |id: i64| HandedGuard(parts.handed.clone(), NumberOrString::Number(id));
        let ping = |id: i64| {
            ClientJsonRpcMessage::request(
                ClientRequest::PingRequest(PingRequest::default()),
                NumberOrString::Number(id),
            )
        };

        // Never handed on: what a session closed under a queued call looks like.
        assert!(!guard(1).was_handed());

        tap.send(ping(1)).await.expect("send");
        tap.send(ping(2)).await.expect("send");
        let (one, two) = (guard(1), guard(2));
        assert!(one.was_handed() && two.was_handed());

        // An answer arrives for 1: no longer in flight.
        answers
            .send(ServerJsonRpcMessage::Response(JsonRpcResponse {
                jsonrpc: Default::default(),
                id: NumberOrString::Number(1),
                result: ServerResult::empty(()),
            }))
            .expect("queue");
        tap.receive().await.expect("the answer");
        assert!(!one.was_handed());

        // 2's call ends without an answer (a timeout, a caller gone): forgotten with it.
        drop(two);
        assert!(parts.handed.lock().expect("lock").is_empty());
    }

    /// A transport whose sends fail, each with the next of its errors (the last first).
    struct Failing(Mutex<Vec<SseError>>);

    impl rmcp::transport::Transport<RoleClient> for Failing {
        type Error = SseError;

        fn send(
            &mut self,
            _: ClientJsonRpcMessage,
        ) -> impl Future<Output = Result<(), SseError>> + Send + 'static {
            let error = self.0.lock().expect("lock").pop().expect("an error left");
            std::future::ready(Err(error))
        }

        fn receive(&mut self) -> impl Future<Output = Option<ServerJsonRpcMessage>> + Send {
            std::future::pending()
        }

        async fn close(&mut self) -> Result<(), SseError> {
            Ok(())
        }
    }

    /// A server that answers nothing, on a pipe nobody reads: a client's peer for relays.
    struct Quiet;
    impl rmcp::ServerHandler for Quiet {}

    /// The relay, the service its peer belongs to and the pipe's other end (both kept open
    /// while the test runs).
    fn relay_to_nobody() -> (
        Relay,
        rmcp::service::RunningService<RoleServer, Quiet>,
        tokio::io::DuplexStream,
    ) {
        let (ours, theirs) = tokio::io::duplex(64 * 1024);
        let running = rmcp::service::serve_directly::<RoleServer, _, _, _, _>(Quiet, ours, None);
        let relay = Relay {
            peer: running.peer().clone(),
            progress_token: None,
            request_id: None,
            passes_input: false,
            log_level: None,
            counts: Arc::default(),
        };
        (relay, running, theirs)
    }

    /// A request as rmcp hands it to the transport: the progress token it picked, and the
    /// ticket the caller put in its extensions.
    fn ticketed_ping(id: i64, token: i64, ticket: &RelayTicket) -> ClientJsonRpcMessage {
        use rmcp::model::{GetExtensions, GetMeta};
        let mut request = ClientRequest::PingRequest(PingRequest::default());
        request
            .get_meta_mut()
            .set_progress_token(ProgressToken(NumberOrString::Number(token)));
        request.extensions_mut().insert(ticket.clone());
        ClientJsonRpcMessage::request(request, NumberOrString::Number(id))
    }

    /// A tapped session, what its upstream sends next, and one relayed call's ticket.
    struct Ticketed {
        parts: TapParts,
        upstream: mpsc::UnboundedSender<ServerJsonRpcMessage>,
        tap: Tap<Loopback>,
        ticket: RelayTicket,
        _client: (
            rmcp::service::RunningService<RoleServer, Quiet>,
            tokio::io::DuplexStream,
        ),
    }

    fn ticketed() -> Ticketed {
        let parts = TapParts::default();
        let (upstream, incoming) = mpsc::unbounded_channel();
        let tap = parts.tap(Loopback(incoming));
        let (relay, service, pipe) = relay_to_nobody();
        Ticketed {
            parts,
            upstream,
            tap,
            ticket: RelayTicket::new(&relay),
            _client: (service, pipe),
        }
    }

    #[tokio::test]
    async fn a_relayed_call_hears_what_the_upstream_says_before_its_caller_has_the_handle() {
        // rmcp tells the caller the request's progress token only after the request is on
        // its way: the session's loop can send it and read the upstream's first log message
        // about it before the caller runs again.
        let Ticketed {
            parts,
            upstream,
            mut tap,
            ticket,
            _client,
        } = ticketed();

        tap.send(ticketed_ping(1, 7, &ticket)).await.expect("send");
        let log: ServerJsonRpcMessage = serde_json::from_value(serde_json::json!({
            "jsonrpc": "2.0", "method": "notifications/message",
            "params": {"level": "info", "data": "working on it"}
        }))
        .expect("a log message");
        upstream.send(log).expect("queue");
        tap.receive().await.expect("the log");

        // Only now does the caller learn the token.
        let token = ProgressToken(NumberOrString::Number(7));
        let guard = RelayGuard::ticketed(parts.relays.clone(), token, ticket);
        assert!(
            guard.finish().is_some(),
            "the log was not queued for the call's client"
        );
        assert!(held(&parts.handed).contains(&NumberOrString::Number(1)));
    }

    #[tokio::test]
    async fn a_call_that_ended_before_its_request_left_is_not_entered() {
        let Ticketed {
            parts,
            mut tap,
            ticket,
            _client,
            ..
        } = ticketed();
        let token = ProgressToken(NumberOrString::Number(8));

        // The caller gave up while the request waited in the session's loop.
        drop(RelayGuard::ticketed(
            parts.relays.clone(),
            token,
            ticket.clone(),
        ));
        tap.send(ticketed_ping(2, 8, &ticket)).await.expect("send");
        assert!(
            parts.relays.lock().expect("lock").is_empty(),
            "an entry nobody removes"
        );
    }

    #[tokio::test]
    async fn a_request_its_transport_could_not_send_was_not_handed() {
        // A legacy SSE replica killed under a call: its POST refused, or its stream over
        // before the POST. rmcp may close the session before it passes the error on; the
        // call must still know that the request never reached the server.
        crate::upstream::tls::install_crypto_provider();
        let refused = reqwest::Client::new()
            .post("http://127.0.0.1:1/")
            .send()
            .await
            .expect_err("nothing listens on port 1");
        assert!(refused.is_connect(), "{refused}");
        let answered = SseError::Status {
            status: 500,
            body: String::new(),
        };
        let parts = TapParts::default();
        let errors = vec![answered, SseError::Ended, SseError::Post(refused)];
        let mut tap = parts.tap(Failing(Mutex::new(errors)));
        let guard = |id: i64| HandedGuard(parts.handed.clone(), NumberOrString::Number(id));
        let ping = |id: i64| {
            ClientJsonRpcMessage::request(
                ClientRequest::PingRequest(PingRequest::default()),
                NumberOrString::Number(id),
            )
        };
        let (one, two, three) = (guard(1), guard(2), guard(3));

        assert!(tap.send(ping(1)).await.is_err());
        assert!(!one.was_handed(), "a refused POST");
        assert!(tap.send(ping(2)).await.is_err());
        assert!(!two.was_handed(), "posted after the stream ended");
        // The server answered: it had the request, whatever it did with it.
        assert!(tap.send(ping(3)).await.is_err());
        assert!(three.was_handed(), "a POST answered 500");
    }
}

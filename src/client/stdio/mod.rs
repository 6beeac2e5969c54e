//! `att mcp stdio`: att's federated `/mcp` as a stdio MCP server, for clients that can only
//! spawn a process (Claude Desktop-style `{"command": "att", "args": ["mcp", "stdio"]}`).
//!
//! The bridge works on JSON-RPC messages, not on MCP methods: every message a client writes
//! on stdin is sent to `/mcp` (rmcp's streamable-HTTP client: session id, SSE streams, the
//! standing GET stream), and every message att sends
//! — results, notifications, progress, log messages, and att's own requests (sampling,
//! elicitation, roots) — is written to stdout. The client's answers to those requests and
//! its cancellations go back the same way. Nothing is interpreted, so nothing is lost.
//!
//! What the bridge keeps is what it needs to survive att restarting: the client's
//! `initialize` request and the resources it subscribed to. When the connection to att is
//! lost, the calls in flight fail with an error saying so (their outcome is unknown), new
//! messages wait (a bounded queue) while the bridge connects again, replays `initialize`
//! (its answer is not shown: the client already has one) and `notifications/initialized`,
//! and subscribes again; then the queue goes out. While att cannot be reached, waiting
//! requests fail with an error naming the URL and the bridge keeps trying, backing off.
//!
//! stdout carries only protocol; diagnostics go to stderr.

use std::collections::{BTreeSet, HashSet, VecDeque};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use rmcp::model::{
    ClientJsonRpcMessage, ClientNotification, ClientRequest, ErrorData, InitializedNotification,
    JsonRpcMessage, NumberOrString, RequestId, ServerJsonRpcMessage, SubscribeRequestParams,
};
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::transport::{StreamableHttpClientTransport, Transport};
use tokio::io::{AsyncBufRead, AsyncWrite};
use tokio::task::JoinSet;

use crate::cli::Remote;
use lines::{Line, read_line, write};
use pipe::{Pipe, pipe_drained, stdout_pipe};

mod lines;
mod pipe;
#[cfg(test)]
mod tests;

/// Messages held while the bridge connects again; beyond it, requests fail at once.
const MAX_QUEUED: usize = 256;
/// How long one connection attempt (with its `initialize` replay) may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);
/// Back-off between connection attempts: from the first value, doubling to the second.
const BACKOFF: (Duration, Duration) = (Duration::from_millis(200), Duration::from_secs(5));
/// Ids of the bridge's own requests (replays) start with this; their answers are not shown.
const OWN_ID: &str = "att-stdio-bridge-";

type Upstream = StreamableHttpClientTransport<reqwest::Client>;

/// Runs the bridge on this process's stdin and stdout until stdin ends: to `/mcp`, or to a
/// profile's `/mcp/{profile}`.
pub async fn stdio(remote: &Remote, profile: Option<&str>) -> ExitCode {
    let base = remote.att_url.trim_end_matches('/');
    let url = match profile {
        Some(p) if crate::auth::profile::valid_name(p) => format!("{base}/mcp/{p}"),
        Some(p) => {
            eprintln!("att mcp stdio: `{p}` is not a profile name: use 1 to 64 of a-z 0-9 _ -");
            return ExitCode::from(2);
        }
        None => format!("{base}/mcp"),
    };
    let client = match super::http_client(remote) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("att mcp stdio: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut bridge = Bridge::new(url, remote.token.clone(), client);
    bridge.pipe = stdout_pipe();
    let stdin = tokio::io::BufReader::new(tokio::io::stdin());
    match bridge.run(stdin, tokio::io::stdout()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("att mcp stdio: {e}");
            ExitCode::FAILURE
        }
    }
}

/// What the bridge knows of its client's session (see the module header).
struct Bridge {
    url: String,
    token: Option<String>,
    client: reqwest::Client,
    /// The client's `initialize`, replayed on each new connection.
    initialize: Option<ClientJsonRpcMessage>,
    /// Resource URIs the client subscribed to.
    subscriptions: BTreeSet<String>,
    /// Ids of the client's requests sent to att (or waiting) and not yet answered.
    in_flight: HashSet<RequestId>,
    /// Messages waiting for a connection.
    queue: VecDeque<Queued>,
    /// Numbers the bridge's own requests.
    own: u64,
    /// stdout when it is a pipe or a socket (see [`Bridge::deliver`]).
    pipe: Option<Pipe>,
    /// Whether the last message written was a notification.
    after_notification: bool,
}

/// A message waiting for a connection.
struct Queued {
    message: ClientJsonRpcMessage,
    /// Whether att already refused it once (it is not sent a third time).
    retried: bool,
}

/// The connection to att and the work under way on it.
#[derive(Default)]
struct Link {
    upstream: Option<Upstream>,
    /// Counts connections, so that a failure reported late is not blamed on a new one.
    generation: u64,
    sends: JoinSet<Sent>,
    connecting: Option<JoinSet<Result<Upstream, String>>>,
    /// Failed connection attempts in a row.
    attempt: u32,
}

/// A finished send to att.
struct Sent {
    generation: u64,
    /// The message, kept when att might not have taken it and it may go once more.
    retry: Option<ClientJsonRpcMessage>,
    id: Option<RequestId>,
    outcome: Result<(), String>,
}

const LOST: &str = "att went away while this request was in flight; its outcome is unknown";

impl Bridge {
    fn new(url: String, token: Option<String>, client: reqwest::Client) -> Self {
        Self {
            url,
            token,
            client,
            initialize: None,
            subscriptions: BTreeSet::new(),
            in_flight: HashSet::new(),
            queue: VecDeque::new(),
            own: 0,
            pipe: None,
            after_notification: false,
        }
    }

    /// Bridges `input` to att and att to `output` until `input` ends.
    async fn run(
        mut self,
        mut input: impl AsyncBufRead + Unpin,
        mut output: impl AsyncWrite + Unpin,
    ) -> Result<(), String> {
        let mut link = Link::default();
        loop {
            tokio::select! {
                line = read_line(&mut input) => match line? {
                    Line::End => break,
                    Line::Message(message) => {
                        self.observe(&message);
                        self.forward(&mut link, *message, false, &mut output).await?;
                    }
                    Line::Bad(error) => {
                        write(&mut output, &ServerJsonRpcMessage::error(error, None)).await?;
                    }
                },
                received = receive(&mut link.upstream) => match received {
                    Some(message) => self.deliver(message, &mut output).await?,
                    None => self.lose(&mut link, "the connection closed", &mut output).await?,
                },
                Some(Ok(sent)) = link.sends.join_next(), if !link.sends.is_empty() => {
                    self.sent(&mut link, sent, &mut output).await?;
                }
                Some(done) = join_one(&mut link.connecting) => {
                    link.connecting = None;
                    self.connected(&mut link, done, &mut output).await?;
                }
            }
            if link.upstream.is_none() && link.connecting.is_none() && self.wants_connection() {
                let delay = backoff(link.attempt);
                let connect = self.connector();
                let mut set = JoinSet::new();
                set.spawn(async move {
                    tokio::time::sleep(delay).await;
                    connect.await
                });
                link.connecting = Some(set);
            }
        }
        if let Some(mut up) = link.upstream {
            let _ = up.close().await;
        }
        Ok(())
    }

    /// Sends `message` now if att is connected and nothing waits before it; else queues it.
    async fn forward(
        &mut self,
        link: &mut Link,
        message: ClientJsonRpcMessage,
        retried: bool,
        output: &mut (impl AsyncWrite + Unpin),
    ) -> Result<(), String> {
        match &mut link.upstream {
            Some(up) if self.queue.is_empty() => {
                let sending = send(up, message, link.generation, retried);
                link.sends.spawn(sending);
                Ok(())
            }
            _ => self.hold(Queued { message, retried }, output).await,
        }
    }

    /// att took a message, or did not: then the connection is not trusted any more (att
    /// stopped, or restarted without this session) and the message goes once more on the
    /// next one.
    async fn sent(
        &mut self,
        link: &mut Link,
        sent: Sent,
        output: &mut (impl AsyncWrite + Unpin),
    ) -> Result<(), String> {
        let Err(e) = sent.outcome else {
            return Ok(());
        };
        if let Some(message) = sent.retry {
            // Not in flight on the lost connection: it waits for the next one.
            if let Some(id) = &sent.id {
                self.in_flight.remove(id);
            }
            if sent.generation == link.generation {
                self.lose(link, &e, output).await?;
            }
            if let Some(id) = sent.id {
                self.in_flight.insert(id);
            }
            self.queue.push_front(Queued {
                message,
                retried: true,
            });
            return Ok(());
        }
        if let Some(id) = sent.id.filter(|id| self.in_flight.remove(id)) {
            let error = unreachable_error(&self.url, &e);
            write(output, &ServerJsonRpcMessage::error(error, Some(id))).await?;
        }
        if sent.generation == link.generation {
            self.lose(link, &e, output).await?;
        }
        Ok(())
    }

    /// Drops the connection: the requests in flight on it fail (their outcome is unknown).
    async fn lose(
        &mut self,
        link: &mut Link,
        why: &str,
        output: &mut (impl AsyncWrite + Unpin),
    ) -> Result<(), String> {
        if let Some(mut up) = link.upstream.take() {
            eprintln!(
                "att mcp stdio: lost the connection to {} ({why}); connecting again",
                self.url
            );
            let _ = up.close().await;
        }
        let waiting: HashSet<RequestId> = self
            .queue
            .iter()
            .filter_map(|q| request_id(&q.message))
            .collect();
        let lost: Vec<RequestId> = self
            .in_flight
            .iter()
            .filter(|id| !waiting.contains(*id))
            .cloned()
            .collect();
        for id in lost {
            self.in_flight.remove(&id);
            let error = ErrorData::internal_error(LOST.to_owned(), None);
            write(output, &ServerJsonRpcMessage::error(error, Some(id))).await?;
        }
        Ok(())
    }

    /// A connection attempt ended: the waiting messages go out, or fail.
    async fn connected(
        &mut self,
        link: &mut Link,
        done: Result<Upstream, String>,
        output: &mut (impl AsyncWrite + Unpin),
    ) -> Result<(), String> {
        match done {
            Ok(mut up) => {
                link.attempt = 0;
                link.generation += 1;
                for q in std::mem::take(&mut self.queue) {
                    let sending = send(&mut up, q.message, link.generation, q.retried);
                    link.sends.spawn(sending);
                }
                link.upstream = Some(up);
                Ok(())
            }
            Err(e) => {
                link.attempt = link.attempt.saturating_add(1);
                eprintln!("att mcp stdio: cannot reach {}: {e}", self.url);
                self.fail_queue(output, &e).await
            }
        }
    }

    /// Notes what a reconnection must restore.
    fn observe(&mut self, message: &ClientJsonRpcMessage) {
        let JsonRpcMessage::Request(r) = message else {
            return;
        };
        self.in_flight.insert(r.id.clone());
        match &r.request {
            ClientRequest::InitializeRequest(_) => self.initialize = Some(message.clone()),
            ClientRequest::SubscribeRequest(s) => {
                self.subscriptions.insert(s.params.uri.clone());
            }
            ClientRequest::UnsubscribeRequest(u) => {
                self.subscriptions.remove(&u.params.uri);
            }
            _ => {}
        }
    }

    /// Whether there is a reason to be connected: a session to keep, or messages waiting.
    fn wants_connection(&self) -> bool {
        self.initialize.is_some() || !self.queue.is_empty()
    }

    /// Keeps a message for the next connection, or fails it when the queue is full.
    async fn hold(
        &mut self,
        queued: Queued,
        output: &mut (impl AsyncWrite + Unpin),
    ) -> Result<(), String> {
        if self.queue.len() < MAX_QUEUED {
            self.queue.push_back(queued);
            return Ok(());
        }
        if let Some(id) = request_id(&queued.message) {
            self.in_flight.remove(&id);
            let error = ErrorData::internal_error(
                format!(
                    "att at {} is not reachable yet; too many requests are waiting",
                    self.url
                ),
                None,
            );
            write(output, &ServerJsonRpcMessage::error(error, Some(id))).await?;
        }
        Ok(())
    }

    /// Writes `message` from att to the client, unless it answers one of the bridge's own.
    async fn deliver(
        &mut self,
        message: ServerJsonRpcMessage,
        output: &mut (impl AsyncWrite + Unpin),
    ) -> Result<(), String> {
        let answered = match &message {
            JsonRpcMessage::Response(r) => Some(&r.id),
            JsonRpcMessage::Error(e) => e.id.as_ref(),
            _ => None,
        };
        if let Some(id) = answered {
            if is_own(id) {
                return Ok(());
            }
            self.in_flight.remove(id);
            // A client may read a notification and the answer after it in one chunk and
            // handle the answer first (the TypeScript SDK dispatches notifications a
            // microtask later), dropping the call's last progress as "unknown token". So an
            // answer that follows a notification waits (bounded) until the client has read
            // what is in the pipe.
            if self.after_notification
                && let Some(pipe) = self.pipe
            {
                pipe_drained(pipe).await;
            }
        }
        self.after_notification = matches!(message, JsonRpcMessage::Notification(_));
        write(output, &message).await
    }

    /// Fails the requests waiting for a connection that could not be made.
    async fn fail_queue(
        &mut self,
        output: &mut (impl AsyncWrite + Unpin),
        why: &str,
    ) -> Result<(), String> {
        for q in std::mem::take(&mut self.queue) {
            if let Some(id) = request_id(&q.message) {
                self.in_flight.remove(&id);
                let error = unreachable_error(&self.url, why);
                write(output, &ServerJsonRpcMessage::error(error, Some(id))).await?;
            }
        }
        Ok(())
    }

    /// A connection attempt: a new session, with `initialize` replayed and the
    /// subscriptions restored, ready for the client's messages.
    fn connector(&mut self) -> impl Future<Output = Result<Upstream, String>> + Send + 'static {
        // A session att no longer knows (it restarted) is the bridge's to restore, with the
        // subscriptions: rmcp's own re-initialization would leave them behind.
        let mut config = StreamableHttpClientTransportConfig::with_uri(self.url.as_str())
            .reinit_on_expired_session(false);
        if let Some(t) = &self.token {
            config = config.auth_header(t.clone());
        }
        let transport = StreamableHttpClientTransport::with_client(self.client.clone(), config);
        let initialize = self.initialize.clone().map(|m| self.own_copy(m));
        let uris: Vec<String> = self.subscriptions.iter().cloned().collect();
        let subscriptions: Vec<(RequestId, String)> =
            uris.into_iter().map(|uri| (self.own_id(), uri)).collect();
        async move {
            let work = replay(transport, initialize, subscriptions);
            tokio::time::timeout(CONNECT_TIMEOUT, work)
                .await
                .map_err(|_| format!("no answer within {CONNECT_TIMEOUT:?}"))?
        }
    }

    fn own_id(&mut self) -> RequestId {
        self.own += 1;
        NumberOrString::String(Arc::from(format!("{OWN_ID}{}", self.own)))
    }

    /// `message` (the client's `initialize`) under one of the bridge's own ids.
    fn own_copy(&mut self, message: ClientJsonRpcMessage) -> ClientJsonRpcMessage {
        match message {
            JsonRpcMessage::Request(mut r) => {
                r.id = self.own_id();
                JsonRpcMessage::Request(r)
            }
            other => other,
        }
    }
}

/// On a fresh `transport`: `initialize` (answer awaited, not shown), `initialized`, and a
/// `resources/subscribe` per URI (answers dropped as they come: their ids are the bridge's).
async fn replay(
    mut transport: Upstream,
    initialize: Option<ClientJsonRpcMessage>,
    subscriptions: Vec<(RequestId, String)>,
) -> Result<Upstream, String> {
    let Some(init) = initialize else {
        return Ok(transport);
    };
    let init_id = request_id(&init);
    transport.send(init).await.map_err(|e| e.to_string())?;
    loop {
        match transport.receive().await {
            Some(JsonRpcMessage::Response(r)) if Some(&r.id) == init_id.as_ref() => break,
            Some(JsonRpcMessage::Error(e)) if e.id.as_ref() == init_id.as_ref() => {
                return Err(format!("att refused initialize: {}", e.error.message));
            }
            Some(_) => {}
            None => return Err("the connection closed during initialize".into()),
        }
    }
    let initialized = ClientJsonRpcMessage::notification(
        ClientNotification::InitializedNotification(InitializedNotification::default()),
    );
    transport
        .send(initialized)
        .await
        .map_err(|e| e.to_string())?;
    for (id, uri) in subscriptions {
        // The client subscribed this way (a 2025-11-25 session), so the replay does too.
        #[allow(deprecated)]
        let request = ClientRequest::SubscribeRequest(rmcp::model::SubscribeRequest::new(
            SubscribeRequestParams::new(uri),
        ));
        transport
            .send(ClientJsonRpcMessage::request(request, id))
            .await
            .map_err(|e| e.to_string())?;
    }
    Ok(transport)
}

/// Starts sending `message` on `up`; the future ends when att accepted it (or did not).
fn send(
    up: &mut Upstream,
    message: ClientJsonRpcMessage,
    generation: u64,
    retried: bool,
) -> impl Future<Output = Sent> + Send + 'static {
    let id = request_id(&message);
    let retry = (!retried).then(|| message.clone());
    let sending = up.send(message);
    async move {
        let outcome = sending.await.map_err(|e| e.to_string());
        Sent {
            generation,
            retry: retry.filter(|_| outcome.is_err()),
            id,
            outcome,
        }
    }
}

/// The next message from att; pending forever when not connected.
async fn receive(upstream: &mut Option<Upstream>) -> Option<ServerJsonRpcMessage> {
    match upstream {
        Some(up) => up.receive().await,
        None => std::future::pending().await,
    }
}

/// The outcome of a connection attempt; pending forever when none is under way.
async fn join_one(
    connecting: &mut Option<JoinSet<Result<Upstream, String>>>,
) -> Option<Result<Upstream, String>> {
    match connecting {
        Some(set) => match set.join_next().await {
            Some(Ok(outcome)) => Some(outcome),
            Some(Err(e)) => Some(Err(format!("the connection attempt failed: {e}"))),
            None => std::future::pending().await,
        },
        None => std::future::pending().await,
    }
}

fn request_id(message: &ClientJsonRpcMessage) -> Option<RequestId> {
    match message {
        JsonRpcMessage::Request(r) => Some(r.id.clone()),
        _ => None,
    }
}

fn is_own(id: &RequestId) -> bool {
    matches!(id, NumberOrString::String(s) if s.starts_with(OWN_ID))
}

fn unreachable_error(url: &str, why: &str) -> ErrorData {
    ErrorData::internal_error(format!("att at {url} is not reachable: {why}"), None)
}

/// The wait before connection attempt number `attempt` (0: at once).
fn backoff(attempt: u32) -> Duration {
    if attempt == 0 {
        return Duration::ZERO;
    }
    let factor = 1u32 << attempt.min(8).saturating_sub(1);
    BACKOFF.0.saturating_mul(factor).min(BACKOFF.1)
}

//! The legacy HTTP+SSE transport of MCP 2024-11-05, client side: rmcp 3.11 has none.
//!
//! The protocol: att `GET`s the SSE endpoint and keeps the response open as an event stream.
//! The server's first `endpoint` event names the URL, relative to the SSE endpoint, to which
//! att `POST`s each JSON-RPC message (usually carrying a session id in its query); the server
//! answers `202 Accepted` and sends the reply — and its own requests and notifications — as
//! `message` events on the stream. [`open`] does the `GET` and waits for the endpoint;
//! [`SseTransport`] is then an rmcp client transport: `send` is one `POST`, `receive` the
//! next message off the stream.
//!
//! Each rule below answers a way a server could hurt att or leave it waiting:
//! - the `GET`, and the `endpoint` event after it, arrive before the upstream's
//!   `init_timeout` or the open fails naming what did not come;
//! - the endpoint must have the SSE endpoint's origin (scheme, host, port): att's headers
//!   often carry credentials, and a hostile stream must not send them to another host;
//! - an event over [`MAX_EVENT_BYTES`] ends the session ([`events`] bounds it while reading),
//!   and at most [`QUEUE`] messages wait for rmcp: a server outrunning att is slowed by TCP,
//!   not buffered without end;
//! - every `POST` has the call deadline, and a `POST` answered with anything but 2xx fails
//!   that message with [`SseError::Status`];
//! - an event att cannot read (unknown name, not JSON-RPC) is logged and skipped;
//! - the stream ending — the server restarted, a proxy cut it, an error — is the session
//!   ending: `receive` says so once the `POST`s on their way have ended (so that a call whose
//!   `POST` was refused is known never to have been sent), rmcp closes the service, and the
//!   actor reconnects as after any lost connection.
//!
//! The HTTP client and headers are the streamable HTTP transport's ([`super::open`] builds
//! both), so TLS settings and same-origin redirects apply alike.

pub(super) mod events;

use std::sync::Arc;
use std::time::Duration;

use reqwest::header::{ACCEPT, CONTENT_TYPE, HeaderMap};
use rmcp::RoleClient;
use rmcp::service::{RxJsonRpcMessage, TxJsonRpcMessage};
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::not_sent;
use crate::health::ErrorCategory;
use crate::upstream::outcome::CallFailure;
use events::{Event, EventReader};

/// The largest event att reads (a `tools/list` of a big server is well under it).
pub(super) const MAX_EVENT_BYTES: usize = 4 << 20;
/// Messages read off the stream that may wait for rmcp to take them.
pub(super) const QUEUE: usize = 64;
/// The most of an error answer's body quoted in [`SseError::Status`].
const QUOTED_BODY: usize = 200;

/// Why a message could not be sent.
#[derive(Debug, thiserror::Error)]
pub enum SseError {
    /// The message endpoint answered with an error status.
    #[error("the message endpoint answered HTTP {status}{}", quoted(.body))]
    Status {
        /// The status.
        status: u16,
        /// The start of the answer's body.
        body: String,
    },
    /// The `POST` itself failed (connection, deadline).
    #[error("POST to the message endpoint failed: {0}")]
    Post(#[source] reqwest::Error),
    /// The message could not be encoded.
    #[error("cannot encode the message: {0}")]
    Encode(#[source] serde_json::Error),
    /// The event stream had ended: the message was not posted (its reply could not come).
    #[error("the event stream ended: the session is over")]
    Ended,
}

fn quoted(body: &str) -> String {
    if body.is_empty() {
        String::new()
    } else {
        format!(": {body}")
    }
}

/// Where messages are posted, and how.
struct Poster {
    client: reqwest::Client,
    url: reqwest::Url,
    headers: HeaderMap,
    deadline: Duration,
    /// The `POST`s not answered yet (see [`SseTransport::receive`]).
    in_flight: InFlight,
}

/// How many `POST`s are on their way, and a wake-up when that falls to none.
#[derive(Default)]
struct InFlight {
    count: std::sync::atomic::AtomicUsize,
    settled: tokio::sync::Notify,
    /// The stream has ended: nothing more is posted.
    ended: std::sync::atomic::AtomicBool,
}

/// One `POST` counted in [`InFlight`] from the moment rmcp asks for it (before its task first
/// runs) until it ends, however it ends (rmcp may drop it unfinished).
struct Posting(Arc<Poster>);

impl Posting {
    fn start(poster: Arc<Poster>) -> Self {
        poster
            .in_flight
            .count
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Self(poster)
    }
}

impl Drop for Posting {
    fn drop(&mut self) {
        let in_flight = &self.0.in_flight;
        if in_flight
            .count
            .fetch_sub(1, std::sync::atomic::Ordering::SeqCst)
            == 1
        {
            in_flight.settled.notify_waiters();
        }
    }
}

impl InFlight {
    /// Once no `POST` is on its way (each has the call deadline, so this ends).
    async fn settled(&self) {
        loop {
            let settled = self.settled.notified();
            tokio::pin!(settled);
            settled.as_mut().enable();
            if self.count.load(std::sync::atomic::Ordering::SeqCst) == 0 {
                return;
            }
            settled.await;
        }
    }
}

impl Poster {
    async fn post(&self, message: TxJsonRpcMessage<RoleClient>) -> Result<(), SseError> {
        if self
            .in_flight
            .ended
            .load(std::sync::atomic::Ordering::SeqCst)
        {
            return Err(SseError::Ended);
        }
        let body = serde_json::to_vec(&message).map_err(SseError::Encode)?;
        let mut headers = self.headers.clone();
        headers.extend(super::propagate::headers_of(&message));
        let mut answer = self
            .client
            .post(self.url.clone())
            .headers(headers)
            .header(CONTENT_TYPE, "application/json")
            .timeout(self.deadline)
            .body(body)
            .send()
            .await
            .map_err(SseError::Post)?;
        let status = answer.status();
        if status.is_success() {
            return Ok(());
        }
        // One chunk is enough to say why; the rest is not read (a body may be endless).
        let chunk = answer.chunk().await.ok().flatten().unwrap_or_default();
        let text = String::from_utf8_lossy(&chunk[..chunk.len().min(QUOTED_BODY)]);
        Err(SseError::Status {
            status: status.as_u16(),
            body: text.trim().to_owned(),
        })
    }
}

/// An open SSE session: rmcp's client transport over it.
pub(super) struct SseTransport {
    poster: Arc<Poster>,
    incoming: mpsc::Receiver<RxJsonRpcMessage<RoleClient>>,
    reader: tokio::task::JoinHandle<()>,
}

impl Drop for SseTransport {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

impl rmcp::transport::Transport<RoleClient> for SseTransport {
    type Error = SseError;

    fn send(
        &mut self,
        item: TxJsonRpcMessage<RoleClient>,
    ) -> impl Future<Output = Result<(), SseError>> + Send + 'static {
        // Counted now, not when the task first runs: rmcp may hear of the stream's end before.
        let posting = Posting::start(self.poster.clone());
        async move { posting.0.post(item).await }
    }

    /// The next message off the stream; at its end, `None` only once every `POST` on its way
    /// has ended. A server that died ends the stream as it refuses the call's `POST`: rmcp,
    /// told of the end first, would drop the `POST` and fail its call as one that may have
    /// reached the server (not safe to send elsewhere); told of the refusal first, it fails
    /// the call as never sent, and the call goes to the next candidate.
    // The trait's signature asks for a `Send` future; spelled out to keep that visible.
    #[allow(clippy::manual_async_fn)]
    fn receive(&mut self) -> impl Future<Output = Option<RxJsonRpcMessage<RoleClient>>> + Send {
        async move {
            if let Some(message) = self.incoming.recv().await {
                return Some(message);
            }
            let in_flight = &self.poster.in_flight;
            in_flight
                .ended
                .store(true, std::sync::atomic::Ordering::SeqCst);
            in_flight.settled().await;
            None
        }
    }

    async fn close(&mut self) -> Result<(), SseError> {
        self.reader.abort();
        self.incoming.close();
        Ok(())
    }
}

/// Opens the event stream at `url` and waits for its `endpoint` event, both by `deadline`;
/// `post_deadline` bounds each later `POST`. `upstream` names the server in logs.
pub(super) async fn open(
    upstream: &str,
    client: reqwest::Client,
    url: &str,
    headers: HeaderMap,
    deadline: Duration,
    post_deadline: Duration,
) -> Result<SseTransport, CallFailure> {
    let until = Instant::now() + deadline;
    let ms = deadline.as_millis();
    let base = reqwest::Url::parse(url).map_err(|e| {
        not_sent(
            format!("`{url}` is not a URL: {e}"),
            ErrorCategory::InitializeError,
        )
    })?;
    let request = client
        .get(base.clone())
        .headers(headers.clone())
        .header(ACCEPT, "text/event-stream")
        .send();
    let response = match tokio::time::timeout_at(until, request).await {
        Err(_) => {
            return Err(not_sent(
                format!("the SSE endpoint did not answer GET within {ms} ms"),
                ErrorCategory::NetworkTimeout,
            ));
        }
        Ok(Err(e)) if let Some(why) = crate::upstream::tls::diagnose(&e) => {
            return Err(not_sent(
                format!("cannot open the SSE stream: {why}"),
                ErrorCategory::Tls,
            ));
        }
        Ok(Err(e)) => {
            return Err(not_sent(
                format!("cannot open the SSE stream: {}", with_causes(&e)),
                ErrorCategory::TransportError,
            ));
        }
        Ok(Ok(r)) => r,
    };
    if !response.status().is_success() {
        return Err(not_sent(
            format!(
                "the SSE endpoint answered GET with HTTP {}",
                response.status()
            ),
            ErrorCategory::HttpStatus,
        ));
    }
    let kind = response
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    if !kind.starts_with("text/event-stream") {
        return Err(not_sent(
            format!(
                "the SSE endpoint answered GET with `{}`, not `text/event-stream` \
                 (a streamable HTTP endpoint needs no `\"transport\": \"sse\"`)",
                kind.escape_debug()
            ),
            ErrorCategory::InitializeError,
        ));
    }

    let mut body = response;
    let mut reader = EventReader::new(MAX_EVENT_BYTES);
    let mut pending = Vec::new();
    let endpoint = loop {
        if let Some(at) = pending.iter().position(|e: &Event| e.name == "endpoint") {
            let endpoint = pending.remove(at);
            // What came before the endpoint has nowhere to go yet: no request was sent.
            pending.drain(..at);
            break endpoint.data;
        }
        let chunk = match tokio::time::timeout_at(until, body.chunk()).await {
            Err(_) => {
                return Err(not_sent(
                    format!("the SSE stream did not send its `endpoint` event within {ms} ms"),
                    ErrorCategory::NetworkTimeout,
                ));
            }
            Ok(Ok(None)) => {
                return Err(not_sent(
                    "the SSE stream closed before its `endpoint` event".into(),
                    ErrorCategory::TransportError,
                ));
            }
            Ok(Err(e)) => {
                return Err(not_sent(
                    format!(
                        "the SSE stream failed before its `endpoint` event: {}",
                        with_causes(&e)
                    ),
                    ErrorCategory::TransportError,
                ));
            }
            Ok(Ok(Some(chunk))) => chunk,
        };
        reader.feed(&chunk, &mut pending).map_err(|e| {
            not_sent(
                format!("the SSE stream's first events: {e}"),
                ErrorCategory::InvalidPayload,
            )
        })?;
    };
    let post_url = message_endpoint(&base, endpoint.trim())?;

    let (tx, incoming) = mpsc::channel(QUEUE);
    let upstream = upstream.to_owned();
    let reader = tokio::spawn(async move {
        let why = follow(body, reader, pending, &tx).await;
        tracing::warn!(%upstream, reason = %why, "the SSE stream ended; the session is over");
    });
    Ok(SseTransport {
        poster: Arc::new(Poster {
            client,
            url: post_url,
            headers,
            deadline: post_deadline,
            in_flight: InFlight::default(),
        }),
        incoming,
        reader,
    })
}

/// `e` and its causes (reqwest's own text leaves out why a request failed: refused, reset).
fn with_causes(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut next = e.source();
    while let Some(cause) = next {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        next = cause.source();
    }
    text
}

/// The `endpoint` event's URL resolved against the SSE endpoint `base`, refused unless it
/// has `base`'s origin.
pub(super) fn message_endpoint(
    base: &reqwest::Url,
    endpoint: &str,
) -> Result<reqwest::Url, CallFailure> {
    let refuse = |why: String| not_sent(why, ErrorCategory::InitializeError);
    let url = base.join(endpoint).map_err(|e| {
        refuse(format!(
            "the SSE stream's `endpoint` event `{}` is not a URL: {e}",
            endpoint.escape_debug()
        ))
    })?;
    if url.origin() != base.origin() {
        return Err(refuse(format!(
            "the SSE stream's `endpoint` event names `{}`, on another origin than the SSE \
             endpoint (`{}`): refused, so that att's headers go to no other server",
            endpoint.escape_debug(),
            base.origin().ascii_serialization()
        )));
    }
    Ok(url)
}

/// Passes the stream's `message` events to `tx` (after `pending`, already read) until the
/// stream ends, fails, or rmcp lets go of the transport; returns why it stopped.
async fn follow(
    mut body: reqwest::Response,
    mut reader: EventReader,
    mut pending: Vec<Event>,
    tx: &mpsc::Sender<RxJsonRpcMessage<RoleClient>>,
) -> String {
    loop {
        for event in pending.drain(..) {
            if event.name != "message" {
                tracing::debug!(event = %event.name, "an SSE event att does not use, skipped");
                continue;
            }
            match serde_json::from_str::<RxJsonRpcMessage<RoleClient>>(&event.data) {
                Ok(message) => {
                    if tx.send(message).await.is_err() {
                        return "the session was closed".into();
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "an SSE message that is not JSON-RPC, skipped")
                }
            }
        }
        match body.chunk().await {
            Ok(None) => return "the server closed the stream".into(),
            Err(e) => return format!("the stream failed: {e}"),
            Ok(Some(chunk)) => {
                if let Err(e) = reader.feed(&chunk, &mut pending) {
                    return e.to_string();
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_stream_s_end_is_told_once_the_posts_on_their_way_have_ended() {
        use rmcp::model::{ClientJsonRpcMessage, ClientRequest, NumberOrString, PingRequest};
        use rmcp::transport::Transport as _;
        use tokio::io::{AsyncReadExt, AsyncWriteExt};

        crate::upstream::tls::install_crypto_provider();
        // A legacy SSE server of one stream and one POST: the stream ends, then the POST
        // is answered, each when the test says.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}/sse", listener.local_addr().expect("address"));
        let (post_came, post_arrived) = tokio::sync::oneshot::channel::<()>();
        let (end_stream, stream_ends) = tokio::sync::oneshot::channel::<()>();
        let (answer_post, post_answered) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(async move {
            let mut request = [0u8; 4096];
            let (mut stream, _) = listener.accept().await.expect("the GET");
            let _ = stream.read(&mut request).await;
            let head = "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n\r\n";
            let _ = stream
                .write_all(format!("{head}event: endpoint\ndata: /messages\n\n").as_bytes())
                .await;
            let (mut post, _) = listener.accept().await.expect("the POST");
            let _ = post.read(&mut request).await;
            let _ = post_came.send(());
            let _ = stream_ends.await;
            drop(stream);
            let _ = post_answered.await;
            let _ = post
                .write_all(b"HTTP/1.1 202 Accepted\r\ncontent-length: 0\r\n\r\n")
                .await;
        });
        let ping = |id: i64| {
            ClientJsonRpcMessage::request(
                ClientRequest::PingRequest(PingRequest::default()),
                NumberOrString::Number(id),
            )
        };
        let limit = Duration::from_secs(30);
        let mut transport = open(
            "t",
            reqwest::Client::new(),
            &url,
            HeaderMap::new(),
            limit,
            limit,
        )
        .await
        .expect("opens");
        let post = tokio::spawn(transport.send(ping(1)));
        post_arrived.await.expect("the POST came");
        end_stream.send(()).expect("the server is there");
        {
            let end = transport.receive();
            tokio::pin!(end);
            // Only a "still waiting" can be seen: a slow machine could only hide the fault.
            let early = tokio::time::timeout(Duration::from_millis(300), &mut end).await;
            assert!(
                early.is_err(),
                "told of the end with a POST on its way: {early:?}"
            );
            answer_post.send(()).expect("the server is there");
            assert!(
                post.await.expect("joined").is_ok(),
                "the POST was answered 202"
            );
            assert!(end.await.is_none(), "the stream is over");
        }
        // Nothing is posted once the stream is over: its reply could not come.
        let after = transport.send(ping(2)).await;
        assert!(matches!(after, Err(SseError::Ended)), "{after:?}");
    }

    #[test]
    fn the_endpoint_resolves_against_the_sse_url_and_only_its_origin_is_accepted() {
        let base = reqwest::Url::parse("http://h:8000/mcp/sse").expect("url");
        let table: &[(&str, Option<&str>)] = &[
            (
                "/messages?session_id=1",
                Some("http://h:8000/messages?session_id=1"),
            ),
            ("messages/?s=2", Some("http://h:8000/mcp/messages/?s=2")),
            ("http://h:8000/m", Some("http://h:8000/m")),
            ("http://H:8000/m", Some("http://h:8000/m")),
            ("http://h:8001/m", None),
            ("https://h:8000/m", None),
            ("http://other:8000/m", None),
            ("//other:8000/m", None),
            ("http://h:8000@other/m", None),
            ("http://[::1", None),
        ];
        for (endpoint, want) in table {
            let got = message_endpoint(&base, endpoint)
                .ok()
                .map(|u| u.to_string());
            assert_eq!(got.as_deref(), *want, "{endpoint}");
        }
        let refused = message_endpoint(&base, "http://evil:1/m").expect_err("refused");
        assert!(
            matches!(&refused, CallFailure::NotSent { message, .. }
                if message.contains("`http://evil:1/m`") && message.contains("`http://h:8000`")),
            "{refused:?}"
        );
    }
}

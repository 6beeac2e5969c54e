//! A legacy HTTP+SSE MCP server (protocol 2024-11-05) serving the fixture handler, for the
//! tests of att's SSE transport.
//!
//! `GET /sse` opens a session: a fixture rmcp server runs over two channels, and the response
//! is its event stream — an `endpoint` event naming `/messages?session_id=N` (or what the
//! test asks for: another origin, nothing at all), optionally garbage, then each of the
//! server's messages as a `message` event. `POST /messages?session_id=N` hands a message to
//! the session's server and answers 202; an unknown session is 404, as in the SDKs. The
//! `initialize` answer is rewritten to protocol 2024-11-05, the version legacy servers speak.
//! [`LegacySse::restart`] ends every stream and forgets every session, as a restarted server
//! would.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use rmcp::RoleServer;
use rmcp::ServiceExt;
use rmcp::model::{ClientJsonRpcMessage, ServerJsonRpcMessage};
use tokio::sync::{mpsc, watch};

use super::fixture::{CrashMode, Fixture};

/// What the `endpoint` event says.
#[derive(Debug, Clone)]
pub enum Endpoint {
    /// `/messages?session_id=N`, relative to the SSE URL.
    Relative,
    /// This origin's `/messages` instead (e.g. `http://127.0.0.2:PORT`).
    OtherOrigin(String),
    /// No endpoint event: the stream stays open and silent.
    Never,
}

/// How the server behaves.
#[derive(Debug, Clone)]
pub struct Options {
    /// The `endpoint` event.
    pub endpoint: Endpoint,
    /// Events att cannot use, sent after the endpoint and before anything else.
    pub garbage: bool,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            endpoint: Endpoint::Relative,
            garbage: false,
        }
    }
}

/// The events of [`Options::garbage`]: unknown names, data that is not JSON-RPC, stray fields,
/// invalid UTF-8, a comment. (Not an answer to no request: rmcp fails a handshake that meets
/// one, and that is rmcp's rule, not the transport's.)
pub const GARBAGE: &[u8] = b": a comment\n\n\
event: weird\ndata: x\n\n\
event: message\ndata: not json\n\n\
event: message\ndata: {\"jsonrpc\": \"2.0\"}\n\n\
retry: soon\nid: \0\nnonsense\n\n\
data: \xff\xfe\n\n\
event: message\n\n";

struct Session {
    to_server: mpsc::Sender<ClientJsonRpcMessage>,
}

struct Shared {
    fixture: Fixture,
    options: Options,
    sessions: Mutex<HashMap<u64, Session>>,
    /// Sessions forgotten but left running, their streams open.
    forgotten: Mutex<Vec<Session>>,
    next: AtomicU64,
    /// Bumped by a restart: every open stream ends.
    generation: watch::Sender<u64>,
}

/// A running legacy SSE server.
pub struct LegacySse {
    /// The SSE endpoint, `http://127.0.0.1:PORT/sse`.
    pub url: String,
    /// The fixture handler behind every session (its state counts handshakes and calls).
    pub fixture: Fixture,
    shared: Arc<Shared>,
    /// The server task.
    pub task: tokio::task::JoinHandle<()>,
}

impl LegacySse {
    /// Ends every event stream and forgets every session.
    pub fn restart(&self) {
        self.forget_sessions();
        self.shared
            .forgotten
            .lock()
            .expect("forgotten lock is never poisoned")
            .clear();
        self.shared.generation.send_modify(|g| *g += 1);
    }

    /// Forgets every session, leaving its server and stream running: a POST to it is now
    /// 404.
    pub fn forget_sessions(&self) {
        let sessions = std::mem::take(
            &mut *self
                .shared
                .sessions
                .lock()
                .expect("sessions lock is never poisoned"),
        );
        self.shared
            .forgotten
            .lock()
            .expect("forgotten lock is never poisoned")
            .extend(sessions.into_values());
    }

    /// Sessions open now.
    pub fn sessions(&self) -> usize {
        self.shared
            .sessions
            .lock()
            .expect("sessions lock is never poisoned")
            .len()
    }
}

impl Drop for LegacySse {
    fn drop(&mut self) {
        self.restart();
        self.task.abort();
    }
}

/// Serves a legacy SSE fixture called `name` on 127.0.0.1.
pub async fn serve(name: &str, options: Options) -> LegacySse {
    let fixture = Fixture::new(name, CrashMode::Flag);
    let shared = Arc::new(Shared {
        fixture: fixture.clone(),
        options,
        sessions: Mutex::default(),
        forgotten: Mutex::default(),
        next: AtomicU64::new(1),
        generation: watch::Sender::new(0),
    });
    let app = axum::Router::new()
        .route("/sse", axum::routing::get(open_stream))
        .route("/messages", axum::routing::post(post_message))
        .with_state(shared.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}/sse", listener.local_addr().expect("addr"));
    let task = tokio::spawn(async move {
        let _ = axum::serve(att::http::listener::with_nodelay(listener), app).await;
    });
    LegacySse {
        url,
        fixture,
        shared,
        task,
    }
}

/// The fixture rmcp server's side of a session: messages in from POSTs, out to the stream.
struct Channels {
    out: mpsc::Sender<ServerJsonRpcMessage>,
    incoming: mpsc::Receiver<ClientJsonRpcMessage>,
}

impl rmcp::transport::Transport<RoleServer> for Channels {
    type Error = std::io::Error;

    fn send(
        &mut self,
        item: ServerJsonRpcMessage,
    ) -> impl Future<Output = Result<(), std::io::Error>> + Send + 'static {
        let out = self.out.clone();
        async move {
            out.send(item)
                .await
                .map_err(|_| std::io::Error::other("the stream has closed"))
        }
    }

    fn receive(&mut self) -> impl Future<Output = Option<ClientJsonRpcMessage>> + Send {
        self.incoming.recv()
    }

    async fn close(&mut self) -> Result<(), std::io::Error> {
        self.incoming.close();
        Ok(())
    }
}

/// One server message as a `message` event; an `initialize` answer says 2024-11-05.
fn message_event(message: &ServerJsonRpcMessage) -> String {
    let mut value = serde_json::to_value(message).expect("a server message serializes");
    if let Some(version) = value.pointer_mut("/result/protocolVersion") {
        *version = "2024-11-05".into();
    }
    format!("event: message\ndata: {value}\n\n")
}

async fn open_stream(State(shared): State<Arc<Shared>>) -> Response {
    let id = shared.next.fetch_add(1, Ordering::SeqCst);
    let (to_server, incoming) = mpsc::channel(16);
    let (out, mut from_server) = mpsc::channel(16);
    shared
        .sessions
        .lock()
        .expect("sessions lock is never poisoned")
        .insert(id, Session { to_server });
    let handler = shared.fixture.clone();
    tokio::spawn(async move {
        if let Ok(running) = handler.serve(Channels { out, incoming }).await {
            let _ = running.waiting().await;
        }
    });
    let mut generation = shared.generation.subscribe();
    let endpoint = match &shared.options.endpoint {
        Endpoint::Relative => Some(format!("/messages?session_id={id}")),
        Endpoint::OtherOrigin(origin) => Some(format!("{origin}/messages?session_id={id}")),
        Endpoint::Never => None,
    };
    let garbage = shared.options.garbage;
    let body = async_stream::stream! {
        if let Some(endpoint) = endpoint {
            yield Ok::<_, std::io::Error>(format!("event: endpoint\ndata: {endpoint}\n\n").into_bytes());
        }
        if garbage {
            yield Ok(GARBAGE.to_vec());
        }
        loop {
            tokio::select! {
                message = from_server.recv() => match message {
                    Some(m) => yield Ok(message_event(&m).into_bytes()),
                    None => break,
                },
                _ = generation.changed() => break,
            }
        }
    };
    (
        [(axum::http::header::CONTENT_TYPE, "text/event-stream")],
        axum::body::Body::from_stream(body),
    )
        .into_response()
}

#[derive(serde::Deserialize)]
struct SessionQuery {
    session_id: u64,
}

async fn post_message(
    State(shared): State<Arc<Shared>>,
    Query(q): Query<SessionQuery>,
    axum::Json(message): axum::Json<ClientJsonRpcMessage>,
) -> StatusCode {
    let to_server = shared
        .sessions
        .lock()
        .expect("sessions lock is never poisoned")
        .get(&q.session_id)
        .map(|s| s.to_server.clone());
    match to_server {
        Some(tx) if tx.send(message).await.is_ok() => StatusCode::ACCEPTED,
        _ => StatusCode::NOT_FOUND,
    }
}

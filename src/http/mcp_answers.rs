//! A client's answer to a request relayed from an upstream (sampling, elicitation, roots),
//! forwarded to the att that waits for it.
//!
//! During a call, an upstream may ask the calling client something; the att running the call
//! sends the question on the call's response stream and waits for the client's answer. The
//! answer is a POST of its own, and behind a round-robin balancer it lands on any att of the
//! cluster. Which att waits cannot be told from the answer (its id was chosen by the waiting
//! att's copy of the session), so the att that gets it keeps it (rmcp hands it to its copy:
//! used if that copy waits, dropped otherwise) and forwards it to all the others through the
//! database (`pg_notify` on the listener every att already holds, `store::Changes`); each
//! that holds the session hands it to its copy the same way — the one waiting completes the
//! relay, the others drop it.
//!
//! Bounded: a notification carries at most [`MAX_FORWARDED`] bytes. A larger answer (a long
//! sampling result) is not forwarded; the others are told its id instead, and the one waiting
//! answers its upstream with an error that says why ([`too_large`]) — never a silent wait
//! until the timeout. Only answers are forwarded (JSON-RPC responses and errors to requests
//! att sent), one notification each: they are as rare as the questions.
//!
//! What is left: a forwarded answer is lost if the waiting att's listener is reconnecting at
//! that moment (its call ends with its timeout); and two copies of one session each asking a
//! question at once may pick the same id (each copy numbers its own requests), in which case
//! the first answer forwarded under that id settles both.

use std::sync::Arc;

use rmcp::model::{ClientJsonRpcMessage, ErrorData, JsonRpcError, JsonRpcMessage, RequestId};
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::session::{SessionId, SessionManager};
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use super::mcp_shared::McpSessionStore;

/// The largest forwarded message, in bytes (PostgreSQL's notifications carry under 8000).
pub const MAX_FORWARDED: usize = 7 * 1024;

/// What one att tells the others about an answer it got.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Forwarded {
    /// The att that got it (a random name per process: it skips its own).
    pub from: String,
    /// The `Mcp-Session-Id` it came with.
    pub session: String,
    /// The answer, or why it is not here.
    pub what: What,
}

/// The forwarded answer itself, or the note that it was too large.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum What {
    /// The client's message, as it sent it.
    Answer(Box<ClientJsonRpcMessage>),
    /// The answer to request `id` was `bytes` long: over [`MAX_FORWARDED`].
    TooLarge { id: RequestId, bytes: usize },
}

/// The request a client's message answers, if it is an answer (a response or an error with
/// an id).
pub fn answers(message: &ClientJsonRpcMessage) -> Option<&RequestId> {
    match message {
        JsonRpcMessage::Response(r) => Some(&r.id),
        JsonRpcMessage::Error(e) => e.id.as_ref(),
        _ => None,
    }
}

/// The notification payload for `message`, an answer of `bytes` bytes to request `id`: the
/// answer itself when the payload fits [`MAX_FORWARDED`], else the [`What::TooLarge`] note.
pub fn payload(
    from: &str,
    session: &str,
    id: &RequestId,
    message: &ClientJsonRpcMessage,
    bytes: usize,
) -> String {
    let forwarded = |what| Forwarded {
        from: from.to_owned(),
        session: session.to_owned(),
        what,
    };
    if bytes <= MAX_FORWARDED
        && let Ok(text) = serde_json::to_string(&forwarded(What::Answer(Box::new(message.clone()))))
        && text.len() <= MAX_FORWARDED
    {
        return text;
    }
    let note = forwarded(What::TooLarge {
        id: id.clone(),
        bytes,
    });
    // A session id and a request id: small, and plain data that always serializes.
    serde_json::to_string(&note).unwrap_or_default()
}

/// The error the waiting att hands its copy in place of an answer too large to forward.
pub fn too_large(id: RequestId, bytes: usize) -> ClientJsonRpcMessage {
    let message = format!(
        "the client's answer ({bytes} bytes) reached another att of the cluster, and atts \
         forward at most {MAX_FORWARDED} bytes to each other: ask for a shorter answer, or \
         route this client's requests to one att (balancer stickiness by Mcp-Session-Id)"
    );
    JsonRpcMessage::Error(JsonRpcError::new(
        Some(id),
        ErrorData::internal_error(message, None),
    ))
}

/// This att's side of the forwarding: sends the answers it gets, takes the others'.
pub struct ForwardedAnswers {
    store: Arc<dyn McpSessionStore>,
    local: Arc<LocalSessionManager>,
    /// This process's name in [`Forwarded::from`].
    me: String,
}

impl ForwardedAnswers {
    /// Forwards through `store` the answers given to the sessions `local` holds.
    pub fn new(store: Arc<dyn McpSessionStore>, local: Arc<LocalSessionManager>) -> Arc<Self> {
        Arc::new(Self {
            store,
            local,
            me: uuid::Uuid::new_v4().to_string(),
        })
    }

    /// Tells the other atts of `message`, a client's message of `bytes` bytes on `session`,
    /// when it is an answer (anything else stays here). A failure is logged: the att waiting
    /// for it, if another, ends that call with its timeout.
    pub async fn forward(&self, session: &str, message: &ClientJsonRpcMessage, bytes: usize) {
        let Some(id) = answers(message) else { return };
        let text = payload(&self.me, session, id, message, bytes);
        if let Err(e) = self.store.forward_answer(&text).await {
            tracing::warn!(error = %e.0, "forwarding a client's answer to the other atts");
        }
    }

    /// Hands the answers other atts forward to this att's copies of their sessions, until
    /// `stop`.
    pub fn start(self: &Arc<Self>, stop: CancellationToken) {
        let mut forwarded = self.store.forwarded_answers(stop.clone());
        let this = self.clone();
        tokio::spawn(async move {
            use tokio::sync::broadcast::error::RecvError;
            loop {
                let payload = tokio::select! {
                    () = stop.cancelled() => return,
                    p = forwarded.recv() => p,
                };
                match payload {
                    Ok(p) => this.take(&p).await,
                    Err(RecvError::Lagged(n)) => tracing::warn!(
                        lost = n,
                        "forwarded client answers came faster than this att took them: the \
                         calls waiting for the lost ones end with their timeout"
                    ),
                    Err(RecvError::Closed) => return,
                }
            }
        });
    }

    /// Hands one forwarded answer to this att's copy of its session, if it holds one.
    async fn take(&self, payload: &str) {
        let forwarded: Forwarded = match serde_json::from_str(payload) {
            Ok(f) => f,
            Err(e) => {
                tracing::warn!(error = %e, "an unreadable forwarded answer: ignored");
                return;
            }
        };
        if forwarded.from == self.me {
            return;
        }
        let id: SessionId = forwarded.session.as_str().into();
        if !self.local.has_session(&id).await.unwrap_or(false) {
            return;
        }
        let message = match forwarded.what {
            What::Answer(message) => *message,
            What::TooLarge { id, bytes } => too_large(id, bytes),
        };
        if let Err(e) = self.local.accept_message(&id, message).await {
            tracing::debug!(error = %e, "handing a forwarded answer to its session");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(text: &str) -> ClientJsonRpcMessage {
        serde_json::from_value(serde_json::json!({
            "jsonrpc": "2.0", "id": 7,
            "result": {"action": "accept", "content": {"text": text}}
        }))
        .expect("a response")
    }

    #[test]
    fn an_answer_is_forwarded_whole_when_it_fits_and_as_a_note_when_it_does_not() {
        let id = RequestId::Number(7);
        let small = answer("yes");
        let big = answer(&"x".repeat(MAX_FORWARDED));
        #[rustfmt::skip]
        let rows: &[(&ClientJsonRpcMessage, usize, bool)] = &[
            // message, bytes the client sent, forwarded whole
            (&small, 80,                 true),
            (&small, MAX_FORWARDED,      true),
            (&small, MAX_FORWARDED + 1,  false),
            (&big,   MAX_FORWARDED - 1,  false), // the envelope is larger than the body said
        ];
        for (message, bytes, whole) in rows {
            let text = payload("att-1", "s-1", &id, message, *bytes);
            assert!(text.len() <= MAX_FORWARDED, "{bytes}: {} bytes", text.len());
            let back: Forwarded = serde_json::from_str(&text).expect("reads back");
            assert_eq!(
                (back.from.as_str(), back.session.as_str()),
                ("att-1", "s-1")
            );
            match back.what {
                What::Answer(m) => {
                    assert!(*whole, "{bytes}: forwarded whole");
                    assert_eq!(
                        serde_json::to_value(&m).expect("json"),
                        serde_json::to_value(message).expect("json")
                    );
                }
                What::TooLarge { id: got, bytes: b } => {
                    assert!(!*whole, "{bytes}: a note");
                    assert_eq!((got, b), (id.clone(), *bytes));
                }
            }
        }
    }

    #[test]
    fn only_answers_are_forwarded_and_a_note_becomes_an_error_for_the_waiting_request() {
        let request: ClientJsonRpcMessage = serde_json::from_value(
            serde_json::json!({"jsonrpc": "2.0", "id": 1, "method": "ping"}),
        )
        .expect("a request");
        assert_eq!(answers(&request), None);
        assert_eq!(answers(&answer("y")), Some(&RequestId::Number(7)));
        let JsonRpcMessage::Error(e) = too_large(RequestId::Number(7), 9000) else {
            panic!("an error");
        };
        assert_eq!(e.id, Some(RequestId::Number(7)));
        assert!(
            e.error.message.contains("9000 bytes"),
            "{}",
            e.error.message
        );
        assert!(
            e.error.message.contains("another att"),
            "{}",
            e.error.message
        );
    }
}

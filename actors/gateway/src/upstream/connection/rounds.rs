//! Multi-round-trip requests (MRTR) of the 2026-07-28 era ([`super::era`]). A server of that
//! era cannot ask its client anything during a call: it answers `tools/call`, `prompts/get`
//! or `resources/read` with `resultType: "input_required"` — questions by key
//! (`inputRequests`: sampling, elicitation, roots) and an opaque `requestState` — and the
//! client sends the same request again with the answers by key (`inputResponses`) and the
//! state echoed, until a complete result comes back.
//!
//! att is that client on behalf of the client of the call ([`Relay`]): each question is asked
//! of it the way a handshake-era upstream's request during a call is
//! ([`super::client::ask_relay`]: a server-to-client request on the call's response stream;
//! a client that did not offer the capability is not asked), and the request goes upstream
//! again with the answers. Without a client (a call through the HTTP API) there is nobody
//! to ask and the call fails, saying so. A client of 2026-07-28 has no back-channel to be
//! asked on: the `input_required` answer is its own to fulfil, and is returned to it
//! ([`Relay::passes_input`]); its retry comes back with the answers ([`Resume`]).
//!
//! Bounds: at most [`MAX_ROUNDS`] rounds (a round with no question, only a state, counts
//! like the others), at most [`MAX_QUESTIONS`] questions a round, each upstream round and
//! each answer within the call's deadline. A question the client cannot answer ends the
//! call with "invalid params" (-32602), the caller's side of the outcome table: it neither
//! counts against the server nor moves the call to another.

use rmcp::model::{InputRequest, InputRequiredResult, InputResponses};

use super::client::{Asks, ask_relay};
use super::*;
use crate::upstream::outcome::INVALID_PARAMS;

/// A 2026-07-28 client's retry of a call the upstream answered `input_required`: its answers
/// and the upstream's state, echoed.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Resume {
    /// `inputResponses`.
    pub responses: Option<InputResponses>,
    /// The upstream's `requestState`.
    pub state: Option<String>,
}

impl Resume {
    /// Sets this retry's answers and state on `request` (a request that can take input).
    pub(super) fn apply(&self, request: &mut ClientRequest) -> Result<(), CallFailure> {
        again(request, self.responses.clone(), self.state.clone())
    }
}

/// The most `input_required` answers one request may get before att gives up.
pub(super) const MAX_ROUNDS: usize = 8;
/// The most questions one `input_required` answer may carry.
pub(super) const MAX_QUESTIONS: usize = 16;

impl Connection {
    /// Sends `request` ([`Connection::exchange`]) and, while the server answers
    /// `input_required`, asks `relay`'s client its questions and sends the request again with
    /// the answers; the first other reply.
    pub(super) async fn exchange_rounds(
        &self,
        mut request: ClientRequest,
        deadline: Duration,
        relay: Option<&Relay>,
    ) -> Result<ServerResult, CallFailure> {
        for _ in 0..MAX_ROUNDS {
            let asked = match self.exchange(request.clone(), deadline, relay).await? {
                ServerResult::InputRequiredResult(asked)
                    if !relay.is_some_and(|r| r.passes_input) =>
                {
                    asked
                }
                other => return Ok(other),
            };
            let relay = relay.ok_or_else(|| {
                unanswered("the server asks for input and the call has no client to ask".into())
            })?;
            let (answers, state) = answer(relay, asked, deadline).await?;
            again(&mut request, answers, state)?;
        }
        Err(CallFailure::Malformed(format!(
            "the server still asked for input after {MAX_ROUNDS} rounds"
        )))
    }
}

/// A request that cannot complete for want of the client's input.
fn unanswered(message: String) -> CallFailure {
    CallFailure::Rpc {
        code: INVALID_PARAMS,
        message,
    }
}

/// The client's answers to `asked`'s questions, and the state to echo.
async fn answer(
    relay: &Relay,
    asked: InputRequiredResult,
    deadline: Duration,
) -> Result<(Option<InputResponses>, Option<String>), CallFailure> {
    let questions = asked.input_requests.unwrap_or_default();
    if questions.is_empty() && asked.request_state.is_none() {
        return Err(CallFailure::Malformed(
            "an `input_required` result with neither questions nor a state".into(),
        ));
    }
    if questions.len() > MAX_QUESTIONS {
        return Err(CallFailure::Malformed(format!(
            "{} questions in one `input_required` result (at most {MAX_QUESTIONS})",
            questions.len()
        )));
    }
    let mut answers = InputResponses::new();
    for (key, question) in questions {
        let (asks, request) = as_request(question)?;
        let asking = ask_relay(relay, asks, request, std::future::pending());
        let reply = tokio::time::timeout(deadline, asking)
            .await
            .map_err(|_| {
                unanswered(format!(
                    "the calling client did not answer the server's {} request within {} ms",
                    asks.name(),
                    deadline.as_millis()
                ))
            })?
            .map_err(|e| {
                unanswered(format!(
                    "the server's {} request could not be answered: {}",
                    asks.name(),
                    e.message
                ))
            })?;
        answers.insert(key, result_value(reply)?);
    }
    Ok((
        (!answers.is_empty()).then_some(answers),
        asked.request_state,
    ))
}

/// An input request as the server-to-client request a handshake-era client is asked.
#[allow(deprecated)] // sampling and roots: deprecated by SEP-2577, still MRTR's input requests
fn as_request(question: InputRequest) -> Result<(Asks, ServerRequest), CallFailure> {
    Ok(match question {
        InputRequest::CreateMessage(r) => (Asks::Sampling, ServerRequest::CreateMessageRequest(r)),
        InputRequest::Elicitation(r) => (Asks::Elicitation, ServerRequest::ElicitRequest(r)),
        InputRequest::ListRoots(r) => (Asks::Roots, ServerRequest::ListRootsRequest(r)),
        other => {
            return Err(unanswered(format!(
                "the server asks for input att cannot relay: {other:?}"
            )));
        }
    })
}

/// The client's answer as an `inputResponses` value.
fn result_value(reply: ClientResult) -> Result<Value, CallFailure> {
    let value = match reply {
        ClientResult::CreateMessageResult(r) => serde_json::to_value(r),
        ClientResult::ElicitResult(r) => serde_json::to_value(r),
        ClientResult::ListRootsResult(r) => serde_json::to_value(r),
        other => return Err(unanswered(format!("the client answered with {other:?}"))),
    };
    value.map_err(|e| unanswered(format!("the client's answer: {e}")))
}

/// `request` once more, with `answers` and `state`.
fn again(
    request: &mut ClientRequest,
    answers: Option<InputResponses>,
    state: Option<String>,
) -> Result<(), CallFailure> {
    match request {
        ClientRequest::CallToolRequest(r) => {
            r.params.input_responses = answers;
            r.params.request_state = state;
        }
        ClientRequest::GetPromptRequest(r) => {
            r.params.input_responses = answers;
            r.params.request_state = state;
        }
        ClientRequest::ReadResourceRequest(r) => {
            r.params.input_responses = answers;
            r.params.request_state = state;
        }
        _ => {
            return Err(CallFailure::Malformed(
                "`input_required` in answer to a request that cannot take input".into(),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn only_calls_prompts_and_reads_go_again_with_the_answers_and_the_state() {
        let cases = [
            (
                json!({"method": "tools/call", "params": {"name": "t"}}),
                true,
            ),
            (
                json!({"method": "prompts/get", "params": {"name": "p"}}),
                true,
            ),
            (
                json!({"method": "resources/read", "params": {"uri": "x://y"}}),
                true,
            ),
            (json!({"method": "tools/list", "params": {}}), false),
            (json!({"method": "ping"}), false),
        ];
        for (request, takes) in cases {
            let method = request["method"].clone();
            let mut r: ClientRequest = serde_json::from_value(request).expect("a request");
            let answers =
                InputResponses::from([("answer".to_owned(), json!({"action": "accept"}))]);
            let done = again(&mut r, Some(answers), Some("s1".into()));
            assert_eq!(done.is_ok(), takes, "{method}");
            if takes {
                let sent = serde_json::to_value(&r).expect("json");
                assert_eq!(sent["params"]["requestState"], "s1", "{method}: {sent}");
                assert_eq!(
                    sent["params"]["inputResponses"]["answer"]["action"], "accept",
                    "{method}: {sent}"
                );
            }
        }
    }
}

//! `input_required` (2026-07-28) for a client of that version on `/mcp`. Such a client has no
//! back-channel: when the upstream that serves its `tools/call`, `prompts/get` or
//! `resources/read` answers with questions
//! (`inputRequests`) and a `requestState`, the answer goes to the client as it is, and the
//! client calls again with its answers (`inputResponses`) and the state echoed. The state the
//! client sees is att's: the server that asked and that server's own state, so the retry is
//! routed to the server that asked and carries that server's state, unchanged. The server's
//! state stays opaque (a server seals it if it must); att's adds only a server name, which
//! routes among the servers the tool's route allows, no further. The three methods share
//! this one mechanism: [`resumed`] reads a retry, [`route`] picks its server, [`asked`]
//! passes the questions on.

use att_gateway::answer::Answer;
use att_gateway::invoke::Outcome;
use att_gateway::upstream::connection::Resume;
use rmcp::ErrorData;
use rmcp::model::{InputRequiredResult, InputResponses};
use serde::{Deserialize, Serialize};

/// Marks att's state (and its shape's version).
const PREFIX: &str = "att1.";
/// The longest state att takes back.
const MAX_STATE: usize = 256 * 1024;

/// att's `requestState`: the server that asked and its own state.
#[derive(Serialize, Deserialize, Debug, PartialEq)]
struct State {
    server: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    state: Option<String>,
}

/// `asked` (from `server`) as the client gets it: the state att's.
pub(super) fn passed_on(server: &str, mut asked: InputRequiredResult) -> InputRequiredResult {
    let state = State {
        server: server.to_owned(),
        state: asked.request_state.take(),
    };
    let json = serde_json::to_string(&state).unwrap_or_default();
    asked.request_state = Some(format!("{PREFIX}{json}"));
    asked
}

/// A retry's answers and the upstream's state, and the server to route it to; nothing for a
/// first call. `responses` and `state` are the request's `inputResponses` and
/// `requestState` (any method that takes input).
pub(super) fn resumed(
    responses: Option<&InputResponses>,
    state: Option<&str>,
) -> Result<(Option<Box<Resume>>, Option<String>), ErrorData> {
    if responses.is_none() && state.is_none() {
        return Ok((None, None));
    }
    let (server, state) = match state {
        Some(sealed) => {
            let state = read(sealed)?;
            (Some(state.server), state.state)
        }
        None => (None, None),
    };
    let resume = Resume {
        responses: responses.cloned(),
        state,
    };
    Ok((Some(Box::new(resume)), server))
}

/// The server a request goes to: the one that asked (a retry), which must be the one the
/// route is `pinned` to if it is; else the pinned one, if any.
pub(super) fn route(
    asked_by: Option<String>,
    pinned: Option<&str>,
) -> Result<Option<String>, ErrorData> {
    match (asked_by, pinned) {
        (Some(asker), Some(pinned)) if asker != pinned => Err(ErrorData::invalid_params(
            "`requestState` names another server than the route's",
            None,
        )),
        (Some(asker), _) => Ok(Some(asker)),
        (None, pinned) => Ok(pinned.map(str::to_owned)),
    }
}

/// The upstream's `input_required` in `o`, as the client gets it ([`passed_on`]); nothing
/// for any other outcome.
pub(super) fn asked(o: &Outcome) -> Option<InputRequiredResult> {
    match o {
        Outcome::Success { server, result, .. } => match result.as_ref() {
            Answer::InputRequired(asked) => Some(passed_on(server, asked.0.clone())),
            _ => None,
        },
        _ => None,
    }
}

fn read(sealed: &str) -> Result<State, ErrorData> {
    let invalid = |why: &str| {
        ErrorData::invalid_params(format!("`requestState` is not one att gave: {why}"), None)
    };
    if sealed.len() > MAX_STATE {
        return Err(invalid("too long"));
    }
    let json = sealed
        .strip_prefix(PREFIX)
        .ok_or_else(|| invalid("unknown form"))?;
    serde_json::from_str(json).map_err(|_| invalid("unreadable"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rmcp::model::CallToolRequestParams;
    use serde_json::json;

    #[test]
    fn a_state_passed_on_comes_back_as_the_server_and_its_own_state() {
        for upstream in [Some("s-1".to_owned()), None] {
            let asked = InputRequiredResult::new(None, upstream.clone());
            let out = passed_on("modern", asked);
            let mut call = CallToolRequestParams::new("ask");
            call.request_state = out.request_state;
            call.input_responses = Some([("answer".to_owned(), json!(1))].into());
            let (resume, server) =
                resumed(call.input_responses.as_ref(), call.request_state.as_deref())
                    .expect("att's own state");
            assert_eq!(server.as_deref(), Some("modern"));
            let resume = resume.expect("a retry");
            assert_eq!(resume.state, upstream);
            assert_eq!(resume.responses, call.input_responses);
        }
    }

    #[test]
    fn a_first_call_resumes_nothing_and_a_foreign_state_is_refused() {
        assert_eq!(resumed(None, None).expect("a first call"), (None, None));
        for bad in [
            "s-1".to_owned(),
            "att1.{".to_owned(),
            format!("att1.{}", "x".repeat(MAX_STATE)),
        ] {
            let e = resumed(None, Some(&bad)).expect_err("not att's");
            assert!(
                e.message.contains("not one att gave"),
                "{bad:.20}: {}",
                e.message
            );
        }
    }

    #[test]
    fn a_retry_goes_to_the_server_that_asked_unless_the_route_is_pinned_elsewhere() {
        let asker = || Some("modern".to_owned());
        for (asked_by, pinned, to) in [
            (asker(), None, Ok(asker())),
            (asker(), Some("modern"), Ok(asker())),
            (None, Some("old"), Ok(Some("old".to_owned()))),
            (None, None, Ok(None)),
            (asker(), Some("old"), Err(())),
        ] {
            let got = route(asked_by.clone(), pinned).map_err(drop);
            assert_eq!(got, to, "{asked_by:?} pinned {pinned:?}");
        }
    }
}

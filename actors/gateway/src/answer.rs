//! An upstream's answer to a routed request, kept as rmcp's typed result from the upstream's
//! reply to att's own response: `/mcp` hands it to its client as it came (no round trip
//! through `serde_json::Value`), `/api` serializes it once, into its response body.
//!
//! One variant per method that returns something; `resources/subscribe` and `unsubscribe`
//! answer [`Answer::Empty`] (`{}`). Serialized, an answer is exactly the MCP result.

use rmcp::model::{CallToolResult, CompleteResult, GetPromptResult, ReadResourceResult};
use serde::{Serialize, Serializer};
use serde_json::Value;

/// What an upstream answered (see the module header).
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    /// `tools/call` (a tool error, `isError`, included).
    Tool(CallToolResult),
    /// `resources/read`.
    Resource(ReadResourceResult),
    /// `prompts/get`.
    Prompt(GetPromptResult),
    /// `completion/complete`.
    Complete(CompleteResult),
    /// `resources/subscribe`, `resources/unsubscribe`: `{}`.
    Empty,
    /// `tools/call`, `prompts/get` or `resources/read` answered `input_required` (2026-07-28), passed on to a client of that
    /// version rather than asked of it ([`crate::upstream::connection::Relay::passes_input`]).
    InputRequired(Asked),
}

/// An upstream's `input_required` answer; equal when the same on the wire (rmcp's type has no
/// `PartialEq`: its requests carry extensions).
#[derive(Debug, Clone)]
pub struct Asked(pub rmcp::model::InputRequiredResult);

impl PartialEq for Asked {
    fn eq(&self, other: &Self) -> bool {
        serde_json::to_value(&self.0).ok() == serde_json::to_value(&other.0).ok()
    }
}

impl Serialize for Answer {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Tool(r) => r.serialize(s),
            Self::Resource(r) => r.serialize(s),
            Self::Prompt(r) => r.serialize(s),
            Self::Complete(r) => r.serialize(s),
            Self::Empty => serde_json::Map::new().serialize(s),
            Self::InputRequired(r) => r.0.serialize(s),
        }
    }
}

impl Answer {
    /// The MCP result as JSON (for callers that inspect it; the request path serializes the
    /// typed answer directly).
    pub fn to_json(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }

    /// The method's name for the kind of result this is (for error messages).
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Tool(_) => "tools/call",
            Self::Resource(_) => "resources/read",
            Self::Prompt(_) => "prompts/get",
            Self::Complete(_) => "completion/complete",
            Self::Empty => "resources/subscribe",
            Self::InputRequired(_) => "input_required",
        }
    }
}

macro_rules! typed {
    ($($variant:ident($t:ty)),*) => {$(
        impl TryFrom<Answer> for $t {
            type Error = Answer;
            fn try_from(a: Answer) -> Result<Self, Answer> {
                match a {
                    Answer::$variant(r) => Ok(r),
                    other => Err(other),
                }
            }
        }
    )*};
}

typed!(
    Tool(CallToolResult),
    Resource(ReadResourceResult),
    Prompt(GetPromptResult),
    Complete(CompleteResult)
);

impl TryFrom<Answer> for () {
    type Error = Answer;
    fn try_from(a: Answer) -> Result<Self, Answer> {
        match a {
            Answer::Empty => Ok(()),
            other => Err(other),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn an_answer_serializes_as_the_mcp_result_itself() {
        let tool = Answer::Tool(CallToolResult::structured(json!({"a": 1})));
        assert_eq!(tool.to_json()["structuredContent"], json!({"a": 1}));
        assert_eq!(tool.to_json()["isError"], json!(false));
        assert_eq!(Answer::Empty.to_json(), json!({}));
    }

    #[test]
    fn an_answer_converts_only_to_its_own_result_type() {
        let tool = Answer::Tool(CallToolResult::structured(json!({})));
        assert!(CallToolResult::try_from(tool.clone()).is_ok());
        assert_eq!(ReadResourceResult::try_from(tool.clone()), Err(tool));
    }
}

//! Which protocol era a session with an upstream opens in: the `initialize` handshake
//! (2024-11-05 … 2025-11-25, att asks for 2025-11-25) or the per-request era of 2026-07-28
//! (`server/discover`, then every request self-contained with its `_meta` envelope: protocol
//! version, client info and capabilities; no session, no `initialize`).
//!
//! att opens every session with `initialize` first: every server of the handshake era
//! answers it (a 2026-07-28 server that still serves older clients does too), and what att
//! relays on a session — server-to-client requests during a call, `resources/subscribe`,
//! list-change notices — is that era's. A server that speaks *only* 2026-07-28 refuses the
//! handshake with `-32022` (unsupported protocol version) listing what it supports; then,
//! and only then, [`after_refusal`] names the lifecycle to open the session with again:
//! rmcp's `Discover` with the per-request versions att and the server share. So a
//! handshake-era server never sees a method it does not know (probing with `server/discover`
//! first would cost every such server a round trip, and one that ignores unknown requests
//! a whole timeout), and a 2026-07-28-only server costs one refused round trip per session.
//!
//! | `initialize` answered with                             | next                           |
//! |--------------------------------------------------------|--------------------------------|
//! | a result                                               | the session is open            |
//! | `-32022`, `supported` lists a version att speaks per request | `Discover` with those     |
//! | `-32022` listing only versions att does not speak      | the failure stands             |
//! | any other error, a timeout, a transport failure        | the failure stands             |

use rmcp::ClientLifecycleMode;
use rmcp::model::{ErrorCode, ErrorData, ProtocolVersion};
use rmcp::service::ClientInitializeError;

/// The per-request (handshake-less) versions att speaks towards upstreams, preferred first.
const PER_REQUEST: [ProtocolVersion; 1] = [ProtocolVersion::V_2026_07_28];

/// The lifecycle every session starts with: `initialize`, asking for 2025-11-25.
pub(super) fn first() -> ClientLifecycleMode {
    ClientLifecycleMode::Initialize
}

/// After a failed handshake: the lifecycle to open the session with instead, when the
/// server refused `initialize` for speaking only per-request versions att also speaks.
pub(super) fn after_refusal(
    error: &(dyn std::error::Error + 'static),
) -> Option<ClientLifecycleMode> {
    match error.downcast_ref::<ClientInitializeError>()? {
        ClientInitializeError::JsonRpcError(data) => per_request_versions(data)
            .map(|preferred_versions| ClientLifecycleMode::Discover { preferred_versions }),
        _ => None,
    }
}

/// The per-request versions att shares with a server whose refusal is `data`, att's
/// preference first; `None` when the refusal is not a version refusal or shares none.
fn per_request_versions(data: &ErrorData) -> Option<Vec<ProtocolVersion>> {
    if data.code != ErrorCode::UNSUPPORTED_PROTOCOL_VERSION {
        return None;
    }
    let supported = data.data.as_ref()?.get("supported")?.as_array()?;
    let shared: Vec<ProtocolVersion> = PER_REQUEST
        .iter()
        .filter(|v| supported.iter().any(|s| s.as_str() == Some(v.as_str())))
        .cloned()
        .collect();
    (!shared.is_empty()).then_some(shared)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn refusal(code: ErrorCode, data: Option<serde_json::Value>) -> ClientInitializeError {
        ClientInitializeError::JsonRpcError(ErrorData::new(code, "refused", data))
    }

    #[test]
    fn only_a_version_refusal_naming_a_per_request_version_att_speaks_retries_with_discover() {
        let v = ErrorCode::UNSUPPORTED_PROTOCOL_VERSION;
        let cases: Vec<(ClientInitializeError, Option<Vec<&str>>)> = vec![
            (
                refusal(
                    v,
                    Some(json!({"requested": "2025-11-25", "supported": ["2026-07-28"]})),
                ),
                Some(vec!["2026-07-28"]),
            ),
            (
                refusal(v, Some(json!({"supported": ["2027-01-01", "2026-07-28"]}))),
                Some(vec!["2026-07-28"]),
            ),
            (refusal(v, Some(json!({"supported": ["2027-01-01"]}))), None),
            (refusal(v, Some(json!({"supported": "2026-07-28"}))), None),
            (refusal(v, None), None),
            (
                refusal(
                    ErrorCode::INVALID_REQUEST,
                    Some(json!({"supported": ["2026-07-28"]})),
                ),
                None,
            ),
            (refusal(ErrorCode::METHOD_NOT_FOUND, None), None),
            (ClientInitializeError::ConnectionClosed("gone".into()), None),
        ];
        for (error, want) in cases {
            let got = match after_refusal(&error) {
                Some(ClientLifecycleMode::Discover { preferred_versions }) => Some(
                    preferred_versions
                        .iter()
                        .map(|v| v.as_str().to_owned())
                        .collect::<Vec<_>>(),
                ),
                Some(_) => panic!("{error}: a lifecycle other than Discover"),
                None => None,
            };
            let want = want.map(|w| w.into_iter().map(str::to_owned).collect::<Vec<_>>());
            assert_eq!(got, want, "{error}");
        }
        assert!(matches!(first(), ClientLifecycleMode::Initialize));
    }
}

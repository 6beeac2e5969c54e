//! One benchmark caller, shared by `calls` and `replicas`: its own HTTP client (one kept-alive
//! connection, or none kept with `fresh`) and, on an MCP door, its own session — as the
//! official SDK clients behave. A call is one `echo`, checked to have been answered.

use serde_json::{Value, json};

/// Which door a call goes through.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// MCP streamable HTTP (`tools/call` in a session), to the fixture or to att's `/mcp`.
    Mcp,
    /// att's `POST /api/v1/mcp/invoke/tool`.
    Api,
}

const ACCEPT: &str = "application/json, text/event-stream";

/// One caller: its own client (one kept-alive connection, or none kept with `fresh`) and,
/// for MCP, its own session.
pub struct Caller {
    http: reqwest::Client,
    url: String,
    kind: Kind,
    session: Option<String>,
}

impl Caller {
    pub async fn open(url: &str, kind: Kind, fresh: bool) -> Self {
        let http = reqwest::Client::builder()
            .pool_max_idle_per_host(usize::from(!fresh))
            .tcp_nodelay(true)
            .build()
            .expect("client");
        let mut caller = Self {
            http,
            url: url.to_owned(),
            kind,
            session: None,
        };
        if kind == Kind::Mcp {
            let init = json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
                "protocolVersion": "2025-11-25", "capabilities": {},
                "clientInfo": {"name": "bench", "version": "0"}}});
            let r = caller.post(&init).await;
            assert!(r.status().is_success(), "initialize: {}", r.status());
            caller.session = Some(
                r.headers()["mcp-session-id"]
                    .to_str()
                    .expect("session id")
                    .to_owned(),
            );
            let _ = r.bytes().await;
            let r = caller
                .post(&json!({"jsonrpc": "2.0", "method": "notifications/initialized"}))
                .await;
            assert!(r.status().is_success(), "initialized: {}", r.status());
            let _ = r.bytes().await;
        }
        caller
    }

    async fn post(&self, body: &Value) -> reqwest::Response {
        let mut req = self.http.post(&self.url).json(body);
        if self.kind == Kind::Mcp {
            req = req
                .header("accept", ACCEPT)
                .header("mcp-protocol-version", "2025-11-25");
        }
        if let Some(id) = &self.session {
            req = req.header("mcp-session-id", id);
        }
        req.send().await.expect("request")
    }

    /// One `echo`; panics unless it was answered with a result.
    pub async fn call(&self, id: u64) {
        let body = match self.kind {
            Kind::Mcp => json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
                "params": {"name": "echo", "arguments": {"text": "x"}}}),
            Kind::Api => json!({"tool_name": "echo", "arguments": {"text": "x"}}),
        };
        let r = self.post(&body).await;
        let status = r.status();
        let bytes = r.bytes().await.expect("body");
        let answered = match self.kind {
            Kind::Mcp => memchr_find(&bytes, b"\"result\""),
            Kind::Api => memchr_find(&bytes, b"\"structuredContent\""),
        };
        assert!(
            status.is_success() && answered,
            "{status}: {}",
            String::from_utf8_lossy(&bytes)
        );
    }
}

fn memchr_find(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

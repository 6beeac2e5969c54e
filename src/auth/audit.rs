//! The audit log: who did what, through which surface, to what, and how it ended.
//!
//! One [`Entry`] per state-changing HTTP request (every method but `GET`/`HEAD`/`OPTIONS`),
//! per refused request of any method, and per MCP call that acts (`tools/call`,
//! `resources/read`, `prompts/get`, `completion/complete`, following resources). Entries are
//! events of kind [`KIND`] in the event log — durable through its group-commit writer, kept
//! and paged like every event — and are read with `GET /api/v1/audit` (admins only; the
//! event log's answers leave them out for everyone else, and nobody can append one).
//!
//! The surface is `mcp` for `/mcp`, `dashboard` for the web dashboard's paths (its pages'
//! actions and logins, [`crate::http::dashboard::is_dashboard_path`]), `cli` for an HTTP
//! request made by att's own command line (it says so in its `User-Agent`: self-declared, for
//! reading the log, not a security boundary), `http` otherwise. Reasons are cut to [`WHY_MAX`] bytes: an upstream's error
//! text cannot fill the log.

use att_runtime::events::{EventSink, NewEvent, Record};

use super::{Principal, Role};

/// The event kind of audit entries.
pub const KIND: &str = "audit";

/// What att's CLI puts first in its `User-Agent`.
pub const CLI_AGENT: &str = "att-cli/";

/// The longest reason kept, in bytes.
pub const WHY_MAX: usize = 512;

/// Where a request came in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Surface {
    /// The HTTP API.
    Http,
    /// The federated MCP endpoint.
    Mcp,
    /// The HTTP API, from `att …` commands.
    Cli,
    /// The web dashboard (its logins and the actions of its pages).
    Dashboard,
}

impl Surface {
    /// Its name in entries and filters.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Http => "http",
            Self::Mcp => "mcp",
            Self::Cli => "cli",
            Self::Dashboard => "dashboard",
        }
    }

    /// The names a filter accepts.
    pub const NAMES: [&'static str; 4] = ["http", "mcp", "cli", "dashboard"];

    /// An HTTP request's surface: `/mcp` and the dashboard's paths by their path, the rest
    /// by its `User-Agent`.
    pub fn of_request(path: &str, headers: &axum::http::HeaderMap) -> Self {
        if path == "/mcp" || path.starts_with("/mcp/") {
            Self::Mcp
        } else if crate::http::dashboard::is_dashboard_path(path) {
            Self::Dashboard
        } else {
            Self::of_http(headers)
        }
    }

    /// An API request's surface, from its `User-Agent`.
    pub fn of_http(headers: &axum::http::HeaderMap) -> Self {
        let cli = headers
            .get(axum::http::header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|ua| ua.starts_with(CLI_AGENT));
        if cli { Self::Cli } else { Self::Http }
    }
}

/// How it ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Done.
    Ok,
    /// Not allowed: no or a bad credential, or a role too low (why).
    Refused(String),
    /// Allowed, but it failed (why).
    Failed(String),
}

impl Outcome {
    /// An HTTP answer's outcome: below 400 done, otherwise failed with its status.
    pub fn of_status(status: axum::http::StatusCode) -> Self {
        if status.as_u16() < 400 {
            Self::Ok
        } else {
            Self::Failed(status.to_string())
        }
    }

    fn name(&self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Refused(_) => "refused",
            Self::Failed(_) => "failed",
        }
    }

    fn why(&self) -> Option<&str> {
        match self {
            Self::Ok => None,
            Self::Refused(w) | Self::Failed(w) => Some(w),
        }
    }
}

/// One line of the audit log.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry<'a> {
    /// Who (`-` when no credential was accepted).
    pub principal: Option<&'a Principal>,
    /// Where.
    pub surface: Surface,
    /// What: an HTTP method, or an MCP method (`tools/call`).
    pub action: &'a str,
    /// To what: a path, a tool's name, a resource's URI.
    pub target: &'a str,
    /// How it ended.
    pub outcome: Outcome,
    /// The HTTP status, when there is one.
    pub status: Option<u16>,
    /// The request (HTTP: its `x-request-id`; MCP: the session).
    pub request_id: Option<&'a str>,
}

impl Entry<'_> {
    /// The event it is recorded as.
    pub fn event(&self) -> NewEvent {
        self.owned().event()
    }

    /// Records it (fire and forget: the event writer builds its event and commits it with
    /// the next batch, off the caller's path).
    pub fn record(&self, events: &dyn EventSink) {
        events.emit_record(Box::new(self.owned()));
    }

    fn owned(&self) -> Owned {
        Owned {
            at: time::OffsetDateTime::now_utc(),
            principal: self.principal.map(|p| (p.name.clone(), p.role)),
            surface: self.surface,
            action: self.action.to_owned(),
            target: self.target.to_owned(),
            outcome: self.outcome.clone(),
            status: self.status,
            request_id: self.request_id.map(str::to_owned),
        }
    }
}

/// An entry that owns its parts, waiting for the event writer to build its event.
struct Owned {
    at: time::OffsetDateTime,
    principal: Option<(String, Role)>,
    surface: Surface,
    action: String,
    target: String,
    outcome: Outcome,
    status: Option<u16>,
    request_id: Option<String>,
}

impl Owned {
    fn event(self) -> NewEvent {
        let (principal, role) = match &self.principal {
            Some((name, role)) => (name.as_str(), Some(*role)),
            None => ("-", None),
        };
        // Printed straight from the typed entry (keys sorted, as a `json!` map prints them).
        let data = EntryData {
            action: &self.action,
            outcome: self.outcome.name(),
            principal,
            role: role.map(Role::as_str),
            status: self.status,
            surface: self.surface.as_str(),
            target: &self.target,
            why: self.outcome.why().map(|w| cut(w, WHY_MAX)),
        };
        NewEvent::printed(self.at, KIND, self.request_id, &data)
    }
}

/// An entry's event payload, as it is printed.
#[derive(serde::Serialize)]
struct EntryData<'a> {
    action: &'a str,
    outcome: &'static str,
    principal: &'a str,
    role: Option<&'static str>,
    status: Option<u16>,
    surface: &'static str,
    target: &'a str,
    why: Option<String>,
}

impl Record for Owned {
    fn into_events(self: Box<Self>, out: &mut Vec<NewEvent>) {
        out.push(self.event());
    }
}

/// Whether an HTTP request with `method` changes state (and so is audited when allowed).
pub fn changes_state(method: &axum::http::Method) -> bool {
    use axum::http::Method;
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// `text`, cut to at most `max` bytes on a character boundary (`…` marks a cut).
fn cut(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_owned();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};

    #[test]
    fn surfaces_outcomes_and_methods() {
        let mut h = HeaderMap::new();
        assert_eq!(Surface::of_http(&h), Surface::Http);
        h.insert("user-agent", HeaderValue::from_static("att-cli/0.1.0"));
        assert_eq!(Surface::of_http(&h), Surface::Cli);
        h.insert("user-agent", HeaderValue::from_static("curl/8 att-cli/"));
        assert_eq!(Surface::of_http(&h), Surface::Http);
        let by_path = [
            ("/mcp", Surface::Mcp),
            ("/mcp/reader", Surface::Mcp),
            ("/login", Surface::Dashboard),
            ("/ui/api/v1/mcp/servers", Surface::Dashboard),
            ("/api/v1/mcp/servers", Surface::Http),
            ("/mcpx", Surface::Http),
        ];
        for (path, surface) in by_path {
            assert_eq!(Surface::of_request(path, &h), surface, "{path}");
            assert!(Surface::NAMES.contains(&surface.as_str()));
        }
        let cases = [
            (StatusCode::OK, "ok"),
            (StatusCode::CREATED, "ok"),
            (StatusCode::NO_CONTENT, "ok"),
            (StatusCode::NOT_FOUND, "failed"),
            (StatusCode::BAD_GATEWAY, "failed"),
        ];
        for (status, name) in cases {
            assert_eq!(Outcome::of_status(status).name(), name, "{status}");
        }
        for (m, changes) in [
            (Method::GET, false),
            (Method::HEAD, false),
            (Method::OPTIONS, false),
            (Method::POST, true),
            (Method::PUT, true),
            (Method::DELETE, true),
            (Method::PATCH, true),
        ] {
            assert_eq!(changes_state(&m), changes, "{m}");
        }
    }

    #[test]
    fn an_entry_names_who_where_what_and_how() {
        let p = Principal {
            name: "ci".into(),
            role: Role::Operator,
            key: true,
            expires_at: None,
        };
        let long = "é".repeat(WHY_MAX);
        let e = Entry {
            principal: Some(&p),
            surface: Surface::Mcp,
            action: "tools/call",
            target: "echo",
            outcome: Outcome::Failed(long),
            status: None,
            request_id: Some("s1"),
        }
        .event();
        assert_eq!(e.kind, KIND);
        assert_eq!(e.correlation_id.as_deref(), Some("s1"));
        let data = e.payload();
        assert_eq!(data["principal"], "ci");
        assert_eq!(data["role"], "operator");
        assert_eq!(data["surface"], "mcp");
        assert_eq!(data["outcome"], "failed");
        let why = data["why"].as_str().expect("why");
        assert!(why.len() <= WHY_MAX + '…'.len_utf8() && why.ends_with('…'));
        let refused = Entry {
            principal: None,
            surface: Surface::Http,
            action: "DELETE",
            target: "/api/v1/keys/x",
            outcome: Outcome::Refused("unknown credential".into()),
            status: Some(401),
            request_id: None,
        }
        .event();
        let refused = refused.payload();
        assert_eq!(refused["principal"], "-");
        assert_eq!(refused["role"], serde_json::Value::Null);
        assert_eq!(refused["outcome"], "refused");
        assert_eq!(refused["why"], "unknown credential");
        assert_eq!(refused["status"], 401);
    }
}

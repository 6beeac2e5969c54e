//! What `GET /api/v1/mcp/servers/{name}` shows of an upstream's live state, built from
//! what its actor published to the router or, asked directly, from the actor's state.

use super::*;

/// What `GET /servers/{name}` shows of the live state.
#[derive(Debug, Clone, Serialize)]
pub struct UpstreamStatus {
    /// The upstream's name.
    pub name: String,
    /// Health record.
    #[serde(flatten)]
    pub health: Health,
    /// Whether a live, fresh session exists.
    pub initialized: bool,
    /// The negotiated protocol version (kept through failures).
    pub protocol_version: Option<String>,
    /// When the last handshake completed.
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_initialized_at: Option<OffsetDateTime>,
    /// When that handshake goes stale.
    #[serde(with = "time::serde::rfc3339::option")]
    pub initialization_expires_at: Option<OffsetDateTime>,
    /// Real handshakes performed (reused ones not counted).
    pub handshakes: u64,
    /// Whether a check may run now (no retry window, or an open one).
    pub window_open: bool,
    /// Catalog summary: how many of each.
    pub catalog: Option<serde_json::Value>,
}

impl UpstreamStatus {
    /// The status `view` published, as of `now`.
    pub fn from_view(view: &ServerView, now: OffsetDateTime) -> Self {
        Self::of(&view.name, &view.live, view.entries.as_deref(), now, true)
    }

    /// The status of upstream `name` with `live` state and `catalog`; `open` says whether
    /// its session (if any) is still connected.
    pub(super) fn of(
        name: &str,
        live: &LiveState,
        catalog: Option<&Catalog>,
        now: OffsetDateTime,
        open: bool,
    ) -> Self {
        Self {
            name: name.to_owned(),
            health: live.health.clone(),
            initialized: open && live.initialization_expires_at.is_some_and(|at| now < at),
            protocol_version: live.protocol_version.clone(),
            last_initialized_at: live.last_initialized_at,
            initialization_expires_at: live.initialization_expires_at,
            handshakes: live.handshakes,
            window_open: live.health.window_open(now),
            catalog: catalog.map(|c| {
                json!({"tools": c.tools.len(), "resources": c.resources.len(),
                       "resource_templates": c.resource_templates.len(), "prompts": c.prompts.len()})
            }),
        }
    }
}

//! Who may do what on an MCP endpoint, and what it shows: the principal the HTTP layer
//! found (`principal`), its role against what a call needs (`allowed`), the profile's view
//! (`in_view`, `lists_att_tool`, `shows_resource`), its limits (`admit`), and the audit entry
//! of every call that acts (`audit`, `audited`). Each refusal is recorded once, where it is
//! decided.

use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer};

use super::{FederatedServer, RATE_LIMITED};
use crate::auth::profile::Profile;
use crate::auth::{Principal, Role, audit};

/// The MCP session a request belongs to (its `Mcp-Session-Id` header).
pub(super) fn session_id(context: &RequestContext<RoleServer>) -> Option<&str> {
    context
        .extensions
        .get::<axum::http::request::Parts>()
        .and_then(|p| p.headers.get("mcp-session-id"))
        .and_then(|v| v.to_str().ok())
}

/// Who made a request (the HTTP layer put the principal on it).
pub(super) fn principal(context: &RequestContext<RoleServer>) -> Option<&Principal> {
    context
        .extensions
        .get::<axum::http::request::Parts>()
        .and_then(|p| p.extensions.get::<Principal>())
}

impl FederatedServer {
    /// Whether this request's principal (the HTTP layer put it on the request) may do
    /// `action` on `target`, which needs `needs`; if not, why, recorded in the audit log.
    pub(super) fn allowed(
        &self,
        context: &RequestContext<RoleServer>,
        needs: Role,
        action: &str,
        target: &str,
    ) -> Result<(), String> {
        let principal = principal(context);
        if principal.is_some_and(|p| p.may(needs)) {
            return Ok(());
        }
        let (who, role) = principal.map_or(("-", "unknown".to_owned()), |p| {
            (p.name.as_str(), p.role.to_string())
        });
        let why = format!("{action} `{target}` needs the role `{needs}`; `{who}` is {role}");
        self.audit(
            context,
            action,
            target,
            audit::Outcome::Refused(why.clone()),
        );
        Err(why)
    }

    /// Whether this endpoint's profile shows `target` (`shows` asks it); if not, why,
    /// recorded in the audit log. The full view shows everything.
    pub(super) fn in_view(
        &self,
        context: &RequestContext<RoleServer>,
        action: &str,
        target: &str,
        shows: impl FnOnce(&Profile) -> bool,
    ) -> Result<(), String> {
        let Some(view) = &self.view else {
            return Ok(());
        };
        if shows(view) {
            return Ok(());
        }
        let why = format!("{action} `{target}` is not in the profile `{}`", view.name);
        self.audit(
            context,
            action,
            target,
            audit::Outcome::Refused(why.clone()),
        );
        Err(why)
    }

    /// Whether this endpoint lists att's tool `name` (which needs `role`).
    pub(super) fn lists_att_tool(&self, role: Role) -> bool {
        self.view.as_ref().is_none_or(|v| v.att_tool(role))
    }

    /// Whether this endpoint shows the resource (or template) `uri` — att's own included.
    pub(super) fn shows_resource(&self, uri: &str) -> bool {
        self.view.as_ref().is_none_or(|v| {
            if uri.starts_with("att://") {
                v.att_resources()
            } else {
                v.resource(uri)
            }
        })
    }

    /// Records `action` on `target` and how it ended in the audit log.
    pub(super) fn audit(
        &self,
        context: &RequestContext<RoleServer>,
        action: &str,
        target: &str,
        outcome: audit::Outcome,
    ) {
        audit::Entry {
            principal: principal(context),
            surface: audit::Surface::Mcp,
            action,
            target,
            outcome,
            status: None,
            request_id: session_id(context),
        }
        .record(self.gateway.event_log());
    }

    /// Records a call's result in the audit log and hands it on.
    pub(super) fn audited<T>(
        &self,
        context: &RequestContext<RoleServer>,
        action: &str,
        target: &str,
        result: Result<T, ErrorData>,
        failed: impl FnOnce(&T) -> Option<String>,
    ) -> Result<T, ErrorData> {
        let outcome = match &result {
            Ok(r) => failed(r).map_or(audit::Outcome::Ok, audit::Outcome::Failed),
            Err(e) => audit::Outcome::Failed(e.message.to_string()),
        };
        self.audit(context, action, target, outcome);
        result
    }

    /// Admits one call of this request's principal under its limits, or the JSON-RPC error
    /// [`RATE_LIMITED`] naming the limit, with `data.retry_after_ms`. The call is in flight
    /// while the permit lives.
    pub(super) fn admit(
        &self,
        context: &RequestContext<RoleServer>,
    ) -> Result<Option<crate::limits::Permit>, ErrorData> {
        let parts = context.extensions.get::<axum::http::request::Parts>();
        let Some(principal) = parts.and_then(|p| p.extensions.get::<Principal>()) else {
            return Ok(None);
        };
        let client = parts
            .and_then(|p| {
                p.extensions
                    .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
            })
            .map(|c| c.0.ip());
        self.limits
            .admit(principal, client)
            .map_err(|r| ErrorData::new(RATE_LIMITED, r.message(), Some(r.detail())))
    }
}

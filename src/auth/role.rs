//! Roles ([`Role`]) and what each route needs ([`route_role`]).
//!
//! Three roles, each allowed what the one below it is: a `viewer` reads (status, catalogs,
//! events, traces, file reads, logs); an `operator` also invokes upstream tools, runs tests,
//! and starts and stops runtimes and services; an `admin` also registers upstreams and
//! services, writes code, commits, pushes, deploys, rolls back and manages keys.
//!
//! A route's role follows from its method and path by the rules of [`route_role`]: reads are
//! the viewer's, the operational actions are listed, and everything else — any write not
//! listed, including a route added later — is the admin's.

use serde::{Deserialize, Serialize};

/// What a principal may do (ordered: each allows what the ones before it allow).
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Reads.
    Viewer,
    /// Reads, calls upstream tools, runs tests, starts and stops runtimes and services.
    Operator,
    /// Everything, keys included.
    Admin,
}

impl Role {
    /// Its name, as in the API and the CLI.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Viewer => "viewer",
            Self::Operator => "operator",
            Self::Admin => "admin",
        }
    }

    /// Parses `viewer`, `operator` or `admin`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "viewer" => Some(Self::Viewer),
            "operator" => Some(Self::Operator),
            "admin" => Some(Self::Admin),
            _ => None,
        }
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a request needs: nothing (liveness), or a role.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Needs {
    /// Anyone may ask (`/api/v1/health`: load balancers carry no key; the
    /// protected-resource metadata: a client reads it before it has a token).
    Nobody,
    /// A principal with at least this role.
    Role(Role),
}

/// The role `method path` needs (see the module header).
pub fn route_role(method: &axum::http::Method, path: &str) -> Needs {
    use axum::http::Method;
    // Liveness, and the protected-resource metadata a client reads to learn how to get a
    // token (RFC 9728: it must be reachable without one).
    if path == "/api/v1/health" || path.starts_with("/.well-known/oauth-protected-resource") {
        return Needs::Nobody;
    }
    // The dashboard: its login form and static files are anyone's; an action at `/ui` + an
    // API path needs what that API route needs; leaving a session needs only a session.
    if path == "/login" || path.starts_with("/assets/") {
        return Needs::Nobody;
    }
    if let Some(api) = path.strip_prefix("/ui")
        && api.starts_with("/api/")
    {
        return route_role(method, api);
    }
    if path == "/logout" {
        return Needs::Role(Role::Viewer);
    }
    // The segments after `/api/v1/` (`/mcp` and `/metrics` are outside it).
    let api: Vec<&str> = match path.strip_prefix("/api/v1/") {
        Some(rest) => rest.trim_end_matches('/').split('/').collect(),
        None => Vec::new(),
    };
    // Keys and the audit log are the admin's even to read. `/mcp`: each call is checked by
    // what it does.
    if matches!(api.first(), Some(&"keys" | &"audit")) {
        return Needs::Role(Role::Admin);
    }
    if path == "/mcp" || path.starts_with("/mcp/") {
        return Needs::Role(Role::Viewer);
    }
    if matches!(*method, Method::GET | Method::HEAD) {
        return Needs::Role(Role::Viewer);
    }
    if *method != Method::POST {
        return Needs::Role(Role::Admin);
    }
    let role = match api.as_slice() {
        // Calls through the gateway and keeping its sessions up; tests and runtimes of
        // projects; managed services.
        ["mcp", "invoke", _]
        | ["mcp", "servers", "health-check" | "initialize" | "connect"]
        | [
            "mcp",
            "servers",
            _,
            "health-check" | "initialize" | "connect",
        ]
        | ["mcp", "servers", _, "session", "invalidate" | "refresh"]
        | ["projects", _, "tests"]
        | ["projects", _, "runtime", _]
        | ["services", _, "start" | "stop" | "restart"] => Role::Operator,
        // A diff computes, it changes nothing.
        ["projects", _, "diff"] => Role::Viewer,
        _ => Role::Admin,
    };
    Needs::Role(role)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::Method;

    #[test]
    fn routes_need_the_roles_of_the_table() {
        use Needs::{Nobody, Role as R};
        let (v, o, a) = (R(Role::Viewer), R(Role::Operator), R(Role::Admin));
        let cases = [
            (Method::GET, "/api/v1/health", Nobody),
            (Method::GET, "/.well-known/oauth-protected-resource", Nobody),
            (
                Method::GET,
                "/.well-known/oauth-protected-resource/mcp",
                Nobody,
            ),
            (Method::GET, "/.well-known/other", v),
            (Method::GET, "/api/v1/ready", v),
            (Method::GET, "/metrics", v),
            (Method::GET, "/api/v1/mcp/servers", v),
            (Method::POST, "/api/v1/mcp/servers", a),
            (Method::DELETE, "/api/v1/mcp/servers/x", a),
            (Method::POST, "/api/v1/mcp/invoke/tool", o),
            (Method::POST, "/api/v1/mcp/servers/x/health-check", o),
            (Method::POST, "/api/v1/mcp/servers/initialize", o),
            (Method::POST, "/api/v1/mcp/servers/x/session/refresh", o),
            (Method::GET, "/api/v1/projects/p/file", v),
            (Method::PUT, "/api/v1/projects/p/file", a),
            (Method::POST, "/api/v1/projects/p/tests", o),
            (Method::POST, "/api/v1/projects/p/runtime/start", o),
            (Method::POST, "/api/v1/projects/p/diff", v),
            (Method::POST, "/api/v1/projects/p/git/commit", a),
            (Method::POST, "/api/v1/projects/p/deploy", a),
            (Method::POST, "/api/v1/services/s/restart", o),
            (Method::POST, "/api/v1/services", a),
            (Method::POST, "/api/v1/bootstrap/runs", a),
            (Method::POST, "/api/v1/bootstrap/targets/t/rollback", a),
            (Method::POST, "/api/v1/bootstrap/runs/r/promote", a),
            (Method::POST, "/api/v1/events", a),
            (Method::GET, "/api/v1/keys", a),
            (Method::POST, "/api/v1/keys", a),
            (Method::GET, "/api/v1/audit", a),
            (Method::POST, "/mcp", v),
            (Method::DELETE, "/mcp", v),
            (Method::POST, "/api/v1/something/new", a),
            (Method::PATCH, "/api/v1/projects/p", a),
            (Method::GET, "/", v),
            (Method::GET, "/gateway", v),
            (Method::GET, "/login", Nobody),
            (Method::POST, "/login", Nobody),
            (Method::GET, "/assets/htmx.min.js", Nobody),
            (Method::POST, "/logout", v),
            (Method::GET, "/ui/events", v),
            (Method::POST, "/ui/api/v1/mcp/servers", a),
            (Method::POST, "/ui/api/v1/mcp/servers/x/health-check", o),
            (Method::POST, "/ui/api/v1/mcp/invoke/tool", o),
            (Method::DELETE, "/ui/api/v1/mcp/servers/x", a),
            (Method::POST, "/ui/api/v1/health", Nobody),
            (Method::POST, "/ui/other", a),
        ];
        for (method, path, expected) in cases {
            assert_eq!(route_role(&method, path), expected, "{method} {path}");
        }
    }

    #[test]
    fn roles_are_ordered_and_parse_back() {
        assert!(Role::Viewer < Role::Operator && Role::Operator < Role::Admin);
        for r in [Role::Viewer, Role::Operator, Role::Admin] {
            assert_eq!(Role::parse(r.as_str()), Some(r));
        }
        assert_eq!(Role::parse("root"), None);
    }
}

//! Upstream MCP servers as the gateway sees them.
//!
//! So far: the health state machine ([`health`]) that every upstream actor will own, and the
//! validated description of an upstream ([`spec`]). The
//! actor itself (connection, handshake, catalog, timers) arrives with the rest of the
//! gateway core (issue 3).

pub mod actor;
pub mod catalog;
pub mod connection;
pub mod health;
pub mod outcome;
pub mod spec;
pub mod subscriptions;

use crate::store::StoreError;

pub use health::{ErrorCategory, Health, HealthPolicy, Status, Transition};
pub use outcome::{CallFailure, Decision, decide};
pub use spec::{SpecError, Transport, UpstreamSpec, from_mcp_servers_json, valid_name};

/// Durable registry of upstreams registered over the API (config-file upstreams are not
/// stored: the file is their source of truth).
#[async_trait::async_trait]
pub trait UpstreamStore: Send + Sync + 'static {
    /// Inserts or replaces the upstream called `spec.name`.
    async fn save_upstream(&self, spec: &UpstreamSpec) -> Result<(), StoreError>;
    /// Removes it; `false` when there was none.
    async fn delete_upstream(&self, name: &str) -> Result<bool, StoreError>;
    /// Every stored upstream, by name.
    async fn list_upstreams(&self) -> Result<Vec<UpstreamSpec>, StoreError>;
}

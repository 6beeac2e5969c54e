//! Upstream MCP servers as the gateway sees them: the validated description of an upstream
//! ([`spec`]) and the MCP clients' `mcpServers` files read into it ([`mcp_servers`]), what
//! the log says of its failures ([`failure_log`]), one live session ([`connection`]) and its
//! lock-free publication for warm calls ([`ready`]), how a failed call is judged
//! ([`outcome`]), the resource subscriptions held upstream ([`subscriptions`]), TLS towards
//! HTTPS upstreams ([`tls`]), and the actor that owns all of it ([`actor`]). Its
//! health state machine is [`crate::health`] (re-exported here) and its catalog
//! [`crate::catalog`]: the router routes on both, so they sit below it.

pub mod actor;
pub mod connection;
pub mod failure_log;
pub mod gate;
pub mod mcp_servers;
pub mod oauth;
pub mod outcome;
pub mod proof;
pub mod ready;
pub mod spec;
pub mod subscriptions;
pub mod tls;

use crate::store::StoreError;

pub use crate::health::{ErrorCategory, Health, HealthPolicy, Status, Transition};
pub use mcp_servers::{McpImport, Skipped, from_mcp_servers_json};
pub use outcome::{CallFailure, Decision, decide};
pub use spec::{SpecError, Transport, UpstreamSpec, valid_name};

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

//! Upstream MCP servers as the gateway sees them.
//!
//! So far: the health state machine ([`health`]) that every upstream actor will own. The
//! actor itself (connection, handshake, catalog, timers) arrives with the rest of the
//! gateway core (issue 3).

pub mod health;

pub use health::{ErrorCategory, Health, HealthPolicy, Status, Transition};

//! `att-gateway`: the gateway half of att — upstream MCP servers kept initialized and
//! health-checked, a routing table, and calls routed over it with safe failover.
//!
//! This crate knows nothing of HTTP, SQL or the command line. Side effects beyond MCP go
//! through ports (traits such as [`upstream::UpstreamStore`]) that the `att` crate implements.
//! It stands on `att-runtime` (clock, processes, the actor directory and traces, mailboxes,
//! supervision, the event log).
//!
//! The pieces, in the order data flows through them (each arrow points one way: a module
//! uses only those above it):
//! - [`health`]: an upstream's status and retry window, as a pure state machine;
//! - [`catalog`]: what an upstream offers (tools, resources, templates, prompts) and the names
//!   the router indexes;
//! - [`router`]: the routing table owner, publishing immutable snapshots, and `plan()`;
//! - [`upstream`]: one actor per upstream MCP server (spec, session, handshake, health timer,
//!   catalog refresh), publishing its view to the router;
//! - [`federation`]: the federated catalog att's own MCP endpoint lists, and its reverse map;
//! - [`invoke`]: a call routed over the plan's candidates with safe failover, its result
//!   kept typed ([`answer`]), its phases kept in one typed record for the event log
//!   ([`invocation`]), which [`call_tally`] reads for the call metrics;
//! - [`tree`]: the actor tree `att` → `events`, `router`, `upstreams`, `services`, started
//!   and stopped as one.

// The runtime's modules under the names every module here uses (`crate::clock`, …).
use att_runtime::{
    clock, directory, duration, events, mailbox, process, secret, store, supervisor, trace,
};

pub mod answer;
pub mod call_tally;
pub mod catalog;
pub mod federation;
pub mod health;
pub mod invocation;
pub mod invoke;
pub mod router;
pub mod tree;
pub mod upstream;

//! `att-actors`: every actor of att, their messages and their state machines.
//!
//! This crate knows nothing of HTTP, SQL or the command line. Side effects beyond MCP go
//! through ports (traits such as [`events::EventStore`]) that the `att` crate implements.
//!
//! It stands on `att-runtime` (clock, durations, secrets, processes, the actor directory and
//! traces, mailboxes, supervision, the event log) and `att-workspace` (files, git, tests of a
//! project directory), re-exported here under the same names (`att_actors::clock`,
//! `att_actors::workspace`, …) so that every module uses one path for them.
//!
//! The pieces, in the order a reader meets them:
//! - [`router`]: the routing table owner, publishing immutable snapshots, and `plan()`;
//! - [`upstream`]: one actor per upstream MCP server (session, handshake, catalog, health);
//! - [`federation`]: the federated catalog att's own MCP endpoint lists, and its reverse map;
//! - [`invoke`]: a call routed over the plan's candidates with safe failover;
//! - [`service`], [`bootstrap`]: managed services and the release pipeline;
//! - [`workspace`]: files, git and tests of a project directory — path containment, the
//!   test runner and its parsers;
//! - [`tree`]: the actor tree `att` → `events`, `router`, `upstreams`, started and stopped
//!   as one.

pub use att_runtime::{
    clock, directory, duration, events, mailbox, process, secret, store, supervisor, trace,
};
/// The workspace library (`att-workspace`): files, git and tests of a project directory.
pub use att_workspace as workspace;

pub mod bootstrap;
pub mod federation;
pub mod invoke;
pub mod router;
pub mod service;
pub mod tree;
pub mod upstream;

pub use directory::{ActorDirectory, ActorInfo, ActorState};
pub use trace::{MessageMeta, TraceOutcome, TraceRecord};

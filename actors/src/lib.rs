//! `att-actors`: every actor of att, their messages and their state machines.
//!
//! This crate knows nothing of HTTP, SQL or the command line. Side effects beyond MCP go
//! through ports (traits such as [`events::EventStore`]) that the `att` crate implements.
//!
//! The pieces, in the order a reader meets them:
//! - [`clock`]: the `Clock` port (system and manual clocks);
//! - [`duration`]: the range of every duration att accepts, and time arithmetic that
//!   saturates;
//! - [`process`]: child processes in groups of their own, their identities, and the orphans
//!   a killed att left behind;
//! - [`secret`]: what att shows of a secret value (redacted, names kept);
//! - [`directory`]: the per-instance record of which actors exist, their parent, status,
//!   restarts, failures and message counts — what `GET /api/v1/actors` shows;
//! - [`trace`]: the wrapper that runs every handled message in a `tracing` span and leaves a
//!   record in a bounded per-actor ring;
//! - [`supervisor`]: one-for-one supervision with exponential back-off and a meltdown budget;
//! - [`events`]: the event log actor (batched, acknowledged writes; queries; live fan-out);
//! - [`router`]: the routing table owner, publishing immutable snapshots, and `plan()`;
//! - [`upstream`]: one actor per upstream MCP server (session, handshake, catalog, health);
//! - [`federation`]: the federated catalog att's own MCP endpoint lists, and its reverse map;
//! - [`invoke`]: a call routed over the plan's candidates with safe failover;
//! - [`workspace`]: the workspace tools — path containment, the test runner;
//! - [`tree`]: the actor tree `att` → `events`, `router`, `upstreams`, started and stopped
//!   as one.

pub mod bootstrap;
pub mod clock;
pub mod directory;
pub mod duration;
pub mod events;
pub mod federation;
pub mod invoke;
pub mod mailbox;
pub mod process;
pub mod router;
pub mod secret;
pub mod service;
pub mod store;
pub mod supervisor;
pub mod trace;
pub mod tree;
pub mod upstream;
pub mod workspace;

pub use directory::{ActorDirectory, ActorInfo, ActorState};
pub use trace::{MessageMeta, TraceOutcome, TraceRecord};

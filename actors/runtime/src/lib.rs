//! `att-runtime`: what every actor of att stands on, and nothing of what they do — no MCP,
//! no HTTP, no SQL (side effects go through ports the `att` crate implements).
//!
//! The pieces, in the order a reader meets them:
//! - [`clock`]: the `Clock` port (system and manual clocks);
//! - [`duration`]: the range of every duration att accepts, and time arithmetic that
//!   saturates;
//! - [`secret`]: what att shows of a secret value (redacted, names kept);
//! - [`process`]: child processes in groups of their own, their identities, and the orphans
//!   a killed att left behind;
//! - [`directory`]: the per-instance record of which actors exist, their parent, status,
//!   restarts, failures and message counts — what `GET /api/v1/actors` shows;
//! - [`trace`]: the wrapper that runs every handled message in a `tracing` span and leaves a
//!   record in a bounded per-actor ring;
//! - [`trace_context`]: W3C `traceparent`/`tracestate` — read from callers, handed to
//!   upstreams — and the current span's context when a telemetry layer is installed;
//! - [`mailbox`]: calls and casts to actors found by name, bounded in time;
//! - [`supervisor`]: one-for-one supervision with exponential back-off and a meltdown budget;
//! - [`events`]: the event log actor (batched, acknowledged writes; queries; live fan-out;
//!   "replay, then follow");
//! - [`store`]: what the store ports share (the error every adapter reports).
//!
//! With the `openapi` feature, the types the HTTP API shows derive their OpenAPI schemas.

pub mod clock;
pub mod directory;
pub mod duration;
pub mod events;
pub mod mailbox;
pub mod process;
pub mod secret;
pub mod store;
pub mod supervisor;
pub mod trace;
pub mod trace_context;

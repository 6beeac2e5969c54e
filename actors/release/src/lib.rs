//! `att-release`: the release half of att — managed services, and the pipeline that builds,
//! deploys, watches and health-gates a release, and rolls back by policy.
//!
//! This crate knows nothing of HTTP, SQL or the command line: releases and runs are stored
//! through the [`model::ReleaseStore`] port the `att` crate implements. It stands on
//! `att-runtime` (processes, the event log, supervision), `att-workspace` (git and tests of
//! a change) and `att-gateway` (the MCP health probe speaks to a service as an upstream).
//!
//! The pieces, in the order a reader meets them (each uses only those above it):
//! - [`policy`]: the rollback policy table and the cap on consecutive automatic rollbacks;
//! - [`change`]: a run's `change` step — edits made, tested and committed on a new branch in
//!   a worktree of att's own;
//! - [`forge`]: a run's `publish` step — the branch pushed, a change request opened, CI
//!   polled, merged on green (a local bare-repository forge, or GitHub through `gh`);
//! - [`model`]: releases, runs, phases and their records, and the store port;
//! - [`build`]: a release's build steps, run in a worktree at the release's commit;
//! - [`service`]: one actor per managed service (its process, restarts, crash-loop
//!   detection), the probes and the watchdog and health gate built from them;
//! - [`bootstrap`]: the release pipeline — one actor running one run per target through its
//!   phases, and the launcher that restarts att itself.

// The runtime's modules under the names every module here uses (`crate::clock`, …).
use att_runtime::{directory, duration, events, mailbox, process, secret, store, trace};
use att_workspace as workspace;

pub mod bootstrap;
pub mod build;
pub mod change;
pub mod forge;
pub mod model;
pub mod policy;
pub mod service;

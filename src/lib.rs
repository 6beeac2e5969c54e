//! `att`: the edges of att — command line, configuration, HTTP façade, store adapters — and
//! the wiring that starts the actors of `att-gateway` and `att-release` on them.
//!
//! Start with [`server::start`]: it turns a [`config::Config`] into a running att.

pub mod auth;
pub mod cli;
pub mod client;
pub mod cluster;
pub mod config;
pub mod events_tail;
pub mod gateway;
pub mod http;
pub mod launch;
pub mod limits;
pub mod metrics;
pub mod project;
pub mod registry;
pub mod run_route;
pub mod server;
pub mod services;
pub mod store;
pub mod telemetry;
pub mod test_run;
pub mod tools;

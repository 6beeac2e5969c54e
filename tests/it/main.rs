//! att's integration tests, built as one test binary: a change links once instead of once per
//! file (on 2 cores that is most of a warm `cargo test`). Each module is one area, tested
//! against real servers, real processes, real git repositories and real sockets on
//! 127.0.0.1; `common` holds the shared helpers (an in-process att, an `att` process, bounded
//! waiting). The hostile-input suite (`tests/hostile.rs`) is a binary of its own: it installs
//! a process-wide panic hook that counts every panic.

mod common;

mod across_replicas;
mod auth;
mod bootstrap_actor;
mod bootstrap_pipeline;
mod change_pipeline;
mod cli_mcp;
mod cluster;
mod dashboard_actions;
mod dashboard_browser;
mod dashboard_http;
mod dashboard_sessions;
mod federated_mcp;
mod fixture_server;
mod gateway_api;
mod gateway_registry;
mod http_api;
mod invoke;
mod keepalive;
mod launch;
mod limits;
mod mcp_direct;
mod mcp_sessions;
mod mcp_stdio;
mod meters;
mod oidc;
mod otel;
mod packaging;
mod postgres;
mod postgres_tls;
mod profiles;
mod release_guard;
mod replicas;
mod revert_after_restart;
mod secrets;
mod serve_process;
mod service_process;
mod service_switch;
mod services_api;
mod services_registry;
mod supervision;
mod tls;
mod upstream_actor;
mod upstream_connection;
mod upstream_newer_only;
mod upstream_oauth;
mod upstream_sse;
mod workspace_api;
mod workspace_mcp;
mod workspace_tools;

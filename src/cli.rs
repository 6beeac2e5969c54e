//! The command line (`clap`).

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::config::LogFormat;

/// att: a control plane for agent tooling built on the Model Context Protocol.
#[derive(Debug, Parser)]
#[command(name = "att", version, about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// att's commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run att: the HTTP API, the actors, the store.
    Serve(ServeArgs),
}

/// Options of `att serve`; each overrides the config file and the environment.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// TOML config file (every key optional). Also `ATT_CONFIG`.
    #[arg(long, env = crate::config::CONFIG_ENV, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Address to listen on, e.g. 127.0.0.1:8300 (port 0 picks a free port).
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<SocketAddr>,
    /// Data directory (database, artifacts); created if missing.
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Log format.
    #[arg(long, value_enum)]
    pub log_format: Option<LogFormat>,
    /// Also register the servers of an MCP client's `mcpServers` JSON (Claude Desktop,
    /// Cursor; VS Code's `servers`).
    #[arg(long, value_name = "FILE")]
    pub mcp_config: Option<PathBuf>,
}

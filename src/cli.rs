//! The command line (`clap`).

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::config::LogFormat;

/// `att --version`: the package version and the commit it was built from (`build.rs`).
pub const VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), " (", env!("GIT_COMMIT"), ")");

/// att: a control plane for agent tooling built on the Model Context Protocol.
#[derive(Debug, Parser)]
#[command(name = "att", version = VERSION, about)]
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
    /// Run att under a small parent that restarts it when it crashes and switches it to a
    /// new release without dropping a connection (the `self` target). Takes `serve`'s
    /// options.
    Launch(ServeArgs),
    /// Talk to a running att's gateway.
    Mcp(McpArgs),
    /// Ship releases through a running att's release pipeline.
    Bootstrap(BootstrapArgs),
    /// Manage the API keys of a running att (admin token or key needed).
    Keys(KeysArgs),
    /// Print a completion script for a shell (`att completions bash > /etc/bash_completion.d/att`).
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
}

/// The running att a client command talks to.
#[derive(Debug, Args)]
pub struct Remote {
    /// Base URL of the running att.
    #[arg(
        long = "att-url",
        env = "ATT_URL",
        default_value = "http://127.0.0.1:8300",
        global = true
    )]
    pub att_url: String,
    /// Bearer token, when att requires one.
    #[arg(long, env = "ATT_API_TOKEN", hide_env_values = true, global = true)]
    pub token: Option<String>,
    /// PEM file of the CA that signed att's certificate, when att serves HTTPS with a
    /// certificate the platform does not trust (trusted besides the platform's roots).
    #[arg(long, env = "ATT_CA_FILE", global = true)]
    pub ca_file: Option<std::path::PathBuf>,
    /// PEM certificate presented to an att that requires client certificates (`[http]
    /// tls_client_ca`); with `--client-key`.
    #[arg(long, env = "ATT_CLIENT_CERT", global = true)]
    pub client_cert: Option<std::path::PathBuf>,
    /// PEM private key of `--client-cert`.
    #[arg(long, env = "ATT_CLIENT_KEY", global = true)]
    pub client_key: Option<std::path::PathBuf>,
}

/// `att keys …`: API keys of principals.
#[derive(Debug, Args)]
pub struct KeysArgs {
    /// Where the running att is.
    #[command(flatten)]
    pub remote: Remote,
    /// What to do.
    #[command(subcommand)]
    pub command: KeysCommand,
}

/// Key commands.
#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Make a key; prints the key alone on stdout (it is shown only this once).
    Create {
        /// The principal's name.
        name: String,
        /// `viewer`, `operator` or `admin`.
        #[arg(long)]
        role: String,
        /// How long it is valid, e.g. `30d` (default: until revoked).
        #[arg(long)]
        expires: Option<String>,
    },
    /// The keys (never the keys themselves).
    List,
    /// Revoke a key: refused from the next request on.
    Revoke {
        /// The key's name.
        name: String,
    },
}

/// `att bootstrap …`: the release pipeline of a running att.
#[derive(Debug, Args)]
pub struct BootstrapArgs {
    /// Where the running att is.
    #[command(flatten)]
    pub remote: Remote,
    /// What to do.
    #[command(subcommand)]
    pub command: BootstrapCommand,
}

/// Release pipeline commands.
#[derive(Debug, Subcommand)]
pub enum BootstrapCommand {
    /// Deploy a release and follow the run's phases until it ends (exit 1 when the new
    /// release did not go live).
    Run {
        /// `service:<name>`, or `self` (att under `att launch`).
        #[arg(long)]
        target: String,
        /// The release to deploy: a registered one, or for a target with a build a commit,
        /// branch or tag to build (default: the build repository's HEAD).
        #[arg(long)]
        release: Option<String>,
        /// The release to roll back to (default: the target's live one).
        #[arg(long)]
        rollback_to: Option<String>,
        /// Start the run and print its id without following it.
        #[arg(long)]
        no_wait: bool,
        /// Restart-watchdog probes (default 3).
        #[arg(long)]
        watchdog_retries: Option<u32>,
        /// Between watchdog probes, e.g. `5s` (default).
        #[arg(long)]
        watchdog_interval: Option<String>,
        /// Between health probes, e.g. `1s` (default).
        #[arg(long)]
        health_interval: Option<String>,
        /// The health gate's deadline, e.g. `120s` (default).
        #[arg(long)]
        health_deadline: Option<String>,
    },
    /// The newest runs, or one run in detail.
    Status {
        /// A run id.
        run: Option<String>,
    },
    /// A target's releases and their status.
    Releases {
        /// `service:<name>`.
        #[arg(long)]
        target: String,
    },
    /// Roll a target back now (to `--release`, or to the previous live release) and follow it.
    Rollback {
        /// `service:<name>`.
        #[arg(long)]
        target: String,
        /// The release to go back to.
        #[arg(long)]
        release: Option<String>,
    },
}

/// `att mcp …`: the gateway of a running att.
#[derive(Debug, Args)]
pub struct McpArgs {
    /// Where the running att is.
    #[command(flatten)]
    pub remote: Remote,
    /// What to do.
    #[command(subcommand)]
    pub command: McpCommand,
}

/// Gateway commands.
#[derive(Debug, Subcommand)]
pub enum McpCommand {
    /// List the registered servers with their status.
    Servers,
    /// Serve att's federated `/mcp` on stdin/stdout, for MCP clients that only spawn
    /// processes (Claude Desktop, Cursor, VS Code). Reconnects when att restarts.
    Stdio {
        /// Serve the profile `/mcp/<PROFILE>` instead of the full view (`[[profiles]]`).
        #[arg(long, value_name = "PROFILE")]
        profile: Option<String>,
    },
    /// Register (or replace) a server: `--url` for HTTP, `--command` for stdio.
    Add {
        /// Its name.
        name: String,
        /// Streamable HTTP endpoint, e.g. http://127.0.0.1:3000/mcp (with `--transport sse`,
        /// the legacy SSE endpoint, e.g. http://127.0.0.1:3000/sse).
        #[arg(long, conflicts_with = "command")]
        url: Option<String>,
        /// What `--url` speaks: `http` (streamable HTTP, the default) or `sse` (the legacy
        /// HTTP+SSE transport of protocol 2024-11-05).
        #[arg(long, requires = "url", value_parser = ["http", "sse"])]
        transport: Option<String>,
        /// HTTP header `NAME=VALUE` (repeatable).
        #[arg(long = "header", value_name = "NAME=VALUE")]
        headers: Vec<String>,
        /// Program to run as a stdio server.
        #[arg(long)]
        command: Option<String>,
        /// Argument of the program (repeatable; no shell involved).
        #[arg(long = "arg", value_name = "ARG", allow_hyphen_values = true)]
        args: Vec<String>,
        /// Environment variable `NAME=VALUE` for the program (repeatable).
        #[arg(long = "env", value_name = "NAME=VALUE")]
        env: Vec<String>,
        /// Lower is tried first.
        #[arg(long)]
        priority: Option<i32>,
        /// HTTPS: a CA (PEM) to trust for this server besides the platform's roots.
        #[arg(long, requires = "url")]
        tls_ca_file: Option<std::path::PathBuf>,
        /// HTTPS: a client certificate (PEM) for servers that require one (with
        /// `--tls-client-key`).
        #[arg(long, requires_all = ["url", "tls_client_key"])]
        tls_client_cert: Option<std::path::PathBuf>,
        /// HTTPS: the client certificate's key (PEM).
        #[arg(long, requires_all = ["url", "tls_client_cert"])]
        tls_client_key: Option<std::path::PathBuf>,
        /// HTTPS: accept any certificate (logged as a warning on every connection).
        #[arg(long, requires = "url")]
        tls_insecure_skip_verify: bool,
    },
    /// Remove a server.
    Remove {
        /// Its name.
        name: String,
    },
    /// Call a tool through the gateway.
    Call {
        /// The tool.
        tool: String,
        /// Its arguments as a JSON object.
        #[arg(long, default_value = "{}")]
        args: String,
        /// Server to try first (repeatable).
        #[arg(long = "prefer", value_name = "SERVER")]
        prefer: Vec<String>,
    },
    /// Read a resource through the gateway.
    Read {
        /// The resource URI.
        uri: String,
        /// Server to try first (repeatable).
        #[arg(long = "prefer", value_name = "SERVER")]
        prefer: Vec<String>,
    },
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

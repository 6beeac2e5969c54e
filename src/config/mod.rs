//! att's configuration: one struct tree, every field with a default.
//!
//! Sources, later ones winning: the defaults here, the TOML file (`--config`), `ATT_*`
//! environment variables, then command-line flags. An environment variable names a key by
//! its path in upper case with `__` between levels: `ATT_LISTEN`, `ATT_HTTP__REQUEST_TIMEOUT`.
//! Its value is read as a TOML value when it parses as one (`8`, `true`, `"30s"`), otherwise
//! as a string. Unknown keys and bad values are errors that name the key, the source, and
//! what was expected — before anything starts.

mod auth;
pub(crate) mod database;
mod telemetry;
mod validate;

pub use auth::{AuthConfig, OidcConfig};
pub use database::DatabaseUrl;
pub use telemetry::TelemetryConfig;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

/// The environment variable naming the config file (not a key of the file).
pub const CONFIG_ENV: &str = "ATT_CONFIG";
/// `ATT_*` variables that are not configuration keys: the CLI's own (`att mcp …` talks to
/// the att at `ATT_URL`, trusting `ATT_CA_FILE`, presenting `ATT_CLIENT_CERT` and
/// `ATT_CLIENT_KEY`), so that one environment can run both `att serve` and the CLI.
/// `ATT_SECRET_KEY` seals secrets at rest (`store::seal`): read from the environment only,
/// never a key of the file, so no config dump can carry it. `ATT_TEST_DATABASE_URL` names
/// the PostgreSQL server of att's own tests (`.ci/run` exports it), which start `att serve`.
const NOT_KEYS: [&str; 7] = [
    CONFIG_ENV,
    "ATT_URL",
    "ATT_CA_FILE",
    "ATT_CLIENT_CERT",
    "ATT_CLIENT_KEY",
    crate::store::seal::KEY_ENV,
    crate::store::postgres::test_database::URL_ENV,
];
const ENV_PREFIX: &str = "ATT_";

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    /// Readable lines for a terminal.
    Human,
    /// One JSON object per line, for log collectors.
    Json,
}

/// The whole configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Address to listen on. Anything but a loopback address requires `api_token` or
    /// `[auth.oidc]`.
    #[serde(deserialize_with = "de_socket_addr")]
    pub listen: SocketAddr,
    /// Where att keeps its database and artifacts; created on first run.
    pub data_dir: PathBuf,
    /// The PostgreSQL database to keep att's state in (`postgres://user@host:5432/db`, the
    /// schema by `?options[search_path]=name`), shared by the att processes of a cluster;
    /// unset: SQLite in `data_dir`.
    pub database_url: Option<DatabaseUrl>,
    /// Bearer token required on every `/api` route (health excepted) and `/metrics`.
    /// Unset (and no API key made, no `[auth.oidc]`): no authentication, and att only
    /// listens on loopback.
    pub api_token: Option<String>,
    /// Credentials besides `api_token` and API keys: `[auth.oidc]` (OAuth access tokens).
    pub auth: AuthConfig,
    /// `human` or `json`.
    pub log_format: LogFormat,
    /// A `tracing` filter such as `info` or `att=debug,info`; `RUST_LOG` wins when set.
    pub log_level: String,
    /// Traces exported over OTLP (`[telemetry] otlp_endpoint`), see [`TelemetryConfig`].
    pub telemetry: TelemetryConfig,
    /// HTTP server limits.
    pub http: HttpConfig,
    /// Supervision and tracing of actors.
    pub actors: ActorsConfig,
    /// The event log.
    pub events: EventsConfig,
    /// Health rules for upstream MCP servers.
    pub gateway: GatewayConfig,
    /// Upstream MCP servers (`[[upstreams]]`): `name` plus `url` (+ `headers`) for HTTP or
    /// `command` (+ `args`, `env`, `cwd`) for stdio, plus `priority`, `call_timeout`,
    /// `init_timeout`, `health_interval`, `max_init_age`, `idempotent_tools`, `max_concurrent`.
    pub upstreams: Vec<att_gateway::upstream::UpstreamSpec>,
    /// Managed services (`[[services]]`, `service:<name>` targets): `name`, `command`, `args`,
    /// `env`, `cwd`, `health` (`{kind = "http", url}`, `{kind = "command", argv}` or
    /// `{kind = "mcp", url}`), `log_file`, `restart`, `crash_exits`, `crash_window`,
    /// `stop_grace`, `build` (`{repo, command, artifact, env, timeout}`). They start with att.
    pub services: Vec<att_release::service::spec::ServiceSpec>,
    /// `att launch` and the `self` target.
    pub launch: LaunchConfig,
    /// The workspace tools.
    pub workspace: WorkspaceConfig,
    /// Virtual MCP servers (`[[profiles]]`) at `/mcp/{name}`: `name`, `tools`, `resources`,
    /// `prompts` (patterns, `*` for any run of characters), `att_tools` (`false`,
    /// `"read_only"`, `"all"`), `principals`, `roles` (see `auth::profile`).
    pub profiles: Vec<crate::auth::profile::Profile>,
    /// Per-principal call limits (off unless set).
    pub limits: LimitsConfig,
}

/// Per-principal call limits: a call is an `/api/v1` request (health excepted) or an `/mcp`
/// `tools/call`, `resources/read`, `prompts/get`, `completion/complete` or
/// `resources/subscribe`. A call past a limit is refused (429 with `Retry-After`; on `/mcp` a
/// JSON-RPC error whose `data` has `retry_after_ms`). Nothing is limited unless set.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    /// Every principal's limits, e.g. `{ rate = 50, burst = 50, concurrent = 16 }`; unset:
    /// only the principals listed in `principals` are limited.
    pub per_principal: Option<PrincipalLimits>,
    /// Limits of named principals (`[[limits.principals]]`: `name` plus any of `rate`,
    /// `burst`, `concurrent`); a key left out is `per_principal`'s.
    pub principals: Vec<PrincipalOverride>,
    /// Principals whose state att keeps at most (memory bound): idle ones are dropped first;
    /// a new principal past it while every one has a call in flight is refused.
    pub max_principals: usize,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self {
            per_principal: None,
            principals: Vec::new(),
            max_principals: 10_000,
        }
    }
}

/// A principal's limits; each one left out is no limit.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrincipalLimits {
    /// Calls per second, sustained (may be fractional: `0.5` is one call every 2 s).
    pub rate: Option<f64>,
    /// Calls at once after an idle spell (needs `rate`; default: one second's worth).
    pub burst: Option<u32>,
    /// Calls in flight at once.
    pub concurrent: Option<u32>,
}

/// One principal's limits, by its name (an API key's name, `token`, or `anonymous`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrincipalOverride {
    /// The principal.
    pub name: String,
    /// See [`PrincipalLimits::rate`].
    pub rate: Option<f64>,
    /// See [`PrincipalLimits::burst`].
    pub burst: Option<u32>,
    /// See [`PrincipalLimits::concurrent`].
    pub concurrent: Option<u32>,
}

impl PrincipalOverride {
    /// Its limits, without the name.
    pub fn limits(&self) -> PrincipalLimits {
        PrincipalLimits {
            rate: self.rate,
            burst: self.burst,
            concurrent: self.concurrent,
        }
    }
}

/// The workspace tools (`att.*`, `/api/v1/projects`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WorkspaceConfig {
    /// Directories (absolute) that projects must be inside — registered or cloned. Empty: any
    /// directory att's user can reach.
    pub roots: Vec<PathBuf>,
    /// The longest `project create` may spend cloning `git_remote` through the git command
    /// line; then the clone is stopped (its whole process group) and its directory removed.
    #[serde(with = "humantime_serde")]
    pub clone_timeout: Duration,
    /// How `/mcp` lists att's own tools: `portable` (`att_project_create`, valid for every
    /// model API: `^[a-zA-Z0-9_-]{1,64}$`) or `dotted` (`att.project.create`). Calls are
    /// accepted under either spelling.
    pub tool_names: crate::tools::ToolNames,
}

impl Default for WorkspaceConfig {
    fn default() -> Self {
        Self {
            roots: Vec::new(),
            clone_timeout: Duration::from_secs(600),
            tool_names: crate::tools::ToolNames::default(),
        }
    }
}

/// Health rules for upstream MCP servers.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GatewayConfig {
    /// Consecutive failures that make an upstream unreachable.
    pub unreachable_after: u32,
    /// Retry window after the first failure; doubles per further failure.
    #[serde(with = "humantime_serde")]
    pub retry_backoff: Duration,
    /// Longest retry window.
    #[serde(with = "humantime_serde")]
    pub retry_backoff_cap: Duration,
    /// How `/mcp` names upstream tools: `conflicts` (plain names; `<server>__<name>` for a
    /// name offered with different schemas), `always` (`<server>__<name>` for every tool), or
    /// `never` (plain names; att refuses to start while two upstreams offer one name with
    /// different schemas).
    pub tool_prefix: att_gateway::federation::PrefixMode,
    /// The most upstreams att keeps (configured and registered); a registration beyond it
    /// is refused (409). Each upstream is an actor with its own checks and session.
    pub max_upstreams: usize,
}

impl Default for GatewayConfig {
    fn default() -> Self {
        Self {
            unreachable_after: 3,
            retry_backoff: Duration::from_secs(1),
            retry_backoff_cap: Duration::from_secs(8),
            tool_prefix: att_gateway::federation::PrefixMode::default(),
            max_upstreams: 1000,
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8300)),
            data_dir: PathBuf::from(".att"),
            database_url: None,
            api_token: None,
            auth: AuthConfig::default(),
            log_format: LogFormat::Human,
            log_level: "info".into(),
            telemetry: TelemetryConfig::default(),
            http: HttpConfig::default(),
            actors: ActorsConfig::default(),
            events: EventsConfig::default(),
            gateway: GatewayConfig::default(),
            upstreams: Vec::new(),
            services: Vec::new(),
            launch: LaunchConfig::default(),
            workspace: WorkspaceConfig::default(),
            profiles: Vec::new(),
            limits: LimitsConfig::default(),
        }
    }
}

/// HTTP server limits.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    /// Largest accepted request body, in bytes.
    pub body_limit: usize,
    /// Longest time a request may take (streams excepted), e.g. `30s`.
    #[serde(with = "humantime_serde")]
    pub request_timeout: Duration,
    /// At shutdown, how long in-flight requests get to finish.
    #[serde(with = "humantime_serde")]
    pub shutdown_grace: Duration,
    /// Open connections at most (lowered to fit the open-file limit); a connection past it is
    /// answered 503 and closed.
    pub max_connections: usize,
    /// A request's headers must arrive within this, however slowly they trickle; a kept-alive
    /// connection that sends no next request within it is closed.
    #[serde(with = "humantime_serde")]
    pub header_read_timeout: Duration,
    /// Threads that serve connections, each a single-threaded runtime a connection stays on
    /// (see `http::lanes`); unset: one per core.
    pub lanes: Option<usize>,
    /// `/mcp` sessions att keeps at most; an `initialize` past it gets a JSON-RPC error (503).
    pub mcp_max_sessions: usize,
    /// `/mcp` sessions one client address keeps at most (429 past it).
    pub mcp_max_sessions_per_client: usize,
    /// `/mcp` sessions one authenticated principal (an API key, an access token's subject)
    /// keeps at most, from any address (429 past it). Callers of an open att (`anonymous`)
    /// are bounded by `mcp_max_sessions_per_client` only.
    pub mcp_max_sessions_per_principal: usize,
    /// A `/mcp` session with no request for this long ends (its client gets 404 and starts a
    /// new one, as MCP says).
    #[serde(with = "humantime_serde")]
    pub mcp_session_idle: Duration,
    /// Host names att answers to besides IP addresses and `localhost` (DNS-rebinding
    /// protection, on every route), e.g. `["att.example.com"]` behind a proxy, or
    /// `["proxy.internal:8443"]` for one port only; `["*"]` accepts any name. A request whose
    /// `Host` is another name gets 403. (Old name: `mcp_allowed_hosts`.)
    #[serde(alias = "mcp_allowed_hosts")]
    pub allowed_hosts: Vec<String>,
    /// Browser `Origin`s accepted besides loopback pages and att's own origin, e.g.
    /// `["https://app.example.com:443"]` or `["https://app.example.com:*"]`. A request with any
    /// other `Origin` gets 403; a request without one (every non-browser client) is not
    /// affected. (Old name: `mcp_allowed_origins`.)
    #[serde(alias = "mcp_allowed_origins")]
    pub allowed_origins: Vec<String>,
    /// PEM certificate chain: with `tls_key`, att serves HTTPS (every route, same port).
    /// Both files are re-read when they change, without a restart.
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of `tls_cert`.
    pub tls_key: Option<PathBuf>,
    /// PEM file of CA certificates: when set (with `tls_cert`), every client must present a
    /// certificate signed by one of them (mutual TLS); a client without one is refused at the
    /// handshake. Re-read when it changes, like the pair. The launcher's private probe
    /// socket is not affected.
    pub tls_client_ca: Option<PathBuf>,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            body_limit: 2 * 1024 * 1024,
            request_timeout: Duration::from_secs(60),
            shutdown_grace: Duration::from_secs(10),
            max_connections: 1024,
            header_read_timeout: Duration::from_secs(30),
            lanes: None,
            mcp_max_sessions: 4096,
            mcp_max_sessions_per_client: 1024,
            mcp_max_sessions_per_principal: 256,
            mcp_session_idle: Duration::from_secs(300),
            allowed_hosts: Vec::new(),
            allowed_origins: Vec::new(),
            tls_cert: None,
            tls_key: None,
            tls_client_ca: None,
        }
    }
}

/// Supervision and tracing of actors.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ActorsConfig {
    /// Delay before the first restart of a failed actor; doubles per restart.
    #[serde(with = "humantime_serde")]
    pub restart_backoff: Duration,
    /// Longest delay between restarts.
    #[serde(with = "humantime_serde")]
    pub restart_backoff_cap: Duration,
    /// More restarts than this within `restart_window` and the actor stays stopped.
    pub max_restarts: u32,
    /// Window of the meltdown rule.
    #[serde(with = "humantime_serde")]
    pub restart_window: Duration,
    /// How long each actor gets to stop at shutdown.
    #[serde(with = "humantime_serde")]
    pub stop_timeout: Duration,
    /// Handled-message records kept per actor.
    pub trace_capacity: usize,
}

impl Default for ActorsConfig {
    fn default() -> Self {
        Self {
            restart_backoff: Duration::from_millis(100),
            restart_backoff_cap: Duration::from_secs(30),
            max_restarts: 5,
            restart_window: Duration::from_secs(60),
            stop_timeout: Duration::from_secs(10),
            trace_capacity: 256,
        }
    }
}

/// The event log.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EventsConfig {
    /// Appends that may queue for the writer before senders wait.
    pub queue_capacity: usize,
    /// Events a live subscriber may fall behind by before it re-reads from the store.
    pub live_capacity: usize,
}

impl Default for EventsConfig {
    fn default() -> Self {
        Self {
            queue_capacity: 4096,
            live_capacity: 1024,
        }
    }
}

/// `att launch` and the `self` target (BOOTSTRAP.md, "Self-upgrade").
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LaunchConfig {
    /// This many crashes of att within `crash_window` and the launcher stops restarting it.
    pub crash_exits: u32,
    /// See `crash_exits`.
    #[serde(with = "humantime_serde")]
    pub crash_window: Duration,
    /// How long the old att may take to stop during a switch before it is killed.
    #[serde(with = "humantime_serde")]
    pub switch_grace: Duration,
    /// How long a launched att, when stopped, answers on with `Connection: close` before it
    /// stops serving, so that clients' kept-alive connections end after an answer.
    #[serde(with = "humantime_serde")]
    pub drain: Duration,
    /// How att's own releases are built (a git repository of att, a command, the binary).
    pub build: Option<att_release::build::BuildSpec>,
}

impl Default for LaunchConfig {
    fn default() -> Self {
        Self {
            crash_exits: 5,
            crash_window: Duration::from_secs(60),
            switch_grace: Duration::from_secs(30),
            drain: Duration::from_secs(1),
            build: None,
        }
    }
}

/// A configuration problem, said so that the user can fix it.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file `{path}`: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not valid TOML.
    #[error("config file `{path}` is not valid TOML: {message}")]
    Syntax {
        /// The file.
        path: PathBuf,
        /// The parser's message, with line and column.
        message: String,
    },
    /// A key is unknown or its value is wrong.
    #[error("config key `{key}` (from {origin}): {message}")]
    Key {
        /// Dotted path of the key.
        key: String,
        /// The file or environment variable it came from.
        origin: String,
        /// What is wrong and what was expected.
        message: String,
    },
    /// The combination of settings is refused.
    #[error("{0}")]
    Invalid(String),
}

/// Loads the configuration from an optional file and an environment.
pub fn load(
    file: Option<&Path>,
    env: impl IntoIterator<Item = (String, String)>,
) -> Result<Config, ConfigError> {
    let mut root = toml::Table::new();
    if let Some(path) = file {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        root = text
            .parse::<toml::Table>()
            .map_err(|e| ConfigError::Syntax {
                path: path.to_owned(),
                message: e.to_string().trim_end().to_owned(),
            })?;
    }
    let mut from_env: Vec<(Vec<String>, String, String)> = Vec::new();
    for (var, value) in env {
        let Some(rest) = var.strip_prefix(ENV_PREFIX) else {
            continue;
        };
        if NOT_KEYS.contains(&var.as_str()) || rest.is_empty() {
            continue;
        }
        let path: Vec<String> = rest.split("__").map(str::to_ascii_lowercase).collect();
        set_path(&mut root, &path, env_value(&value)).map_err(|message| ConfigError::Key {
            key: path.join("."),
            origin: format!("environment variable {var}"),
            message,
        })?;
        from_env.push((path, var, value));
    }
    // A variable's value is read as TOML when it parses as one; where the key wants text (a
    // numeric token, say), its value is taken as the text it was.
    let mut retyped = std::collections::HashSet::new();
    let config: Config = loop {
        match serde_path_to_error::deserialize::<_, Config>(toml::Value::Table(root.clone())) {
            Ok(c) => break c,
            Err(e) => {
                let key = error_key(&e);
                let wants_text = e.inner().to_string().contains("expected a string");
                let var = from_env.iter().find(|(p, _, _)| p.join(".") == key);
                if let Some((path, _, raw)) = var.filter(|_| wants_text)
                    && retyped.insert(key.clone())
                {
                    set_path(&mut root, path, toml::Value::String(raw.clone()))
                        .map_err(ConfigError::Invalid)?;
                    continue;
                }
                return Err(key_error(&e, key, &from_env, file));
            }
        }
    };
    config.validate()?;
    Ok(config)
}

/// The error for a key that does not deserialize, naming where its value came from.
fn key_error(
    e: &serde_path_to_error::Error<toml::de::Error>,
    key: String,
    from_env: &[(Vec<String>, String, String)],
    file: Option<&Path>,
) -> ConfigError {
    let origin = from_env
        .iter()
        .find(|(p, _, _)| p.join(".") == key)
        .map(|(_, var, _)| format!("environment variable {var}"))
        .or_else(|| file.map(|p| format!("config file `{}`", p.display())))
        .unwrap_or_else(|| "the defaults".into());
    ConfigError::Key {
        key,
        origin,
        message: e.inner().to_string(),
    }
}

/// The dotted key an error is about; for an unknown field, the field itself.
fn error_key(e: &serde_path_to_error::Error<toml::de::Error>) -> String {
    let path = e.path().to_string();
    let message = e.inner().to_string();
    let unknown = message
        .strip_prefix("unknown field `")
        .and_then(|r| r.split('`').next());
    match (path.as_str(), unknown) {
        (".", Some(f)) => f.to_owned(),
        (p, Some(f)) if !p.ends_with(f) => format!("{p}.{f}"),
        (p, _) => p.to_owned(),
    }
}

fn env_value(raw: &str) -> toml::Value {
    // `x = <raw>` parses for numbers, booleans, quoted strings, arrays; anything else is text.
    format!("x = {raw}")
        .parse::<toml::Table>()
        .ok()
        .and_then(|mut t| t.remove("x"))
        .unwrap_or_else(|| toml::Value::String(raw.to_owned()))
}

fn set_path(root: &mut toml::Table, path: &[String], value: toml::Value) -> Result<(), String> {
    let (last, parents) = path.split_last().ok_or("empty key")?;
    let mut table = root;
    for part in parents {
        let entry = table
            .entry(part.clone())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        table = entry
            .as_table_mut()
            .ok_or_else(|| format!("`{part}` is not a section"))?;
    }
    table.insert(last.clone(), value);
    Ok(())
}

fn de_socket_addr<'de, D: serde::Deserializer<'de>>(d: D) -> Result<SocketAddr, D::Error> {
    let text = String::deserialize(d)?;
    text.parse().map_err(|_| {
        serde::de::Error::custom(format!(
            "`{text}` is not a listen address: expected IP:PORT with a port from 0 to 65535, e.g. 127.0.0.1:8300"
        ))
    })
}

#[cfg(test)]
mod tests;

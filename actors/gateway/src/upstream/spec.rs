//! What an upstream MCP server is: its name, its transport, and its options.
//!
//! Three transports: streamable HTTP (a `url`, the default), the legacy HTTP+SSE transport of
//! protocol 2024-11-05 (a `url` with `"transport": "sse"`: the SSE endpoint), and a stdio
//! child (a `command`). `transport` may be given for the other two as well (`"http"`,
//! `"stdio"`) but must agree with the fields present.
//!
//! One shape for the three places servers come from — `[[upstreams]]` in the config file, the
//! `POST /api/v1/mcp/servers` body, and rows of the store; the `mcpServers` JSON that MCP
//! clients already use is read into it by [`super::mcp_servers`]. Parsing validates everything
//! and names the
//! field at fault: the name, the URL (parsed as a URL: `http` or `https`, a host, a port that
//! exists, no control characters), exactly one transport, and each duration within its range
//! ([`crate::duration`]). A record stored before those ranges existed is clamped into them
//! when read ([`UpstreamSpec::from_stored`]), so that it cannot stop att or its actor. A
//! `tls` table ([`TlsSettings`]) belongs to an `https` URL only; its files are checked at
//! registration by [`super::tls::check`], not here (a stored record must load even when a
//! file has gone).
//!
//! Header values and environment values are secrets more often than not: what att shows of a
//! spec — API answers, events, logs — is [`UpstreamSpec::redacted`].

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::oauth::ClientCredentials;
use super::tls::TlsSettings;
use crate::duration::{self, Bounds, OutOfRange};

/// How att reaches an upstream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transport {
    /// Streamable HTTP at `url` (the full MCP endpoint, e.g. `http://host:port/mcp`).
    Http {
        /// The endpoint.
        url: String,
        /// Extra headers on every request (e.g. `Authorization`).
        headers: BTreeMap<String, String>,
    },
    /// The legacy HTTP+SSE transport (protocol 2024-11-05) at `url`, the SSE endpoint: a
    /// `GET` opens the event stream, whose `endpoint` event names where to `POST` messages.
    Sse {
        /// The SSE endpoint (e.g. `http://host:port/sse`).
        url: String,
        /// Extra headers on every request, the `GET` and each `POST`.
        headers: BTreeMap<String, String>,
    },
    /// A child process speaking MCP on stdin/stdout.
    Stdio {
        /// The program (no shell is involved).
        command: String,
        /// Its arguments.
        args: Vec<String>,
        /// Extra environment variables.
        env: BTreeMap<String, String>,
        /// Working directory.
        cwd: Option<PathBuf>,
    },
}

/// A registered upstream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamSpec {
    /// TLS towards an `https` upstream: extra CA, client certificate, verification switch.
    pub tls: Option<TlsSettings>,
    /// OAuth client credentials: att fetches the bearer token an HTTP upstream wants.
    pub oauth: Option<ClientCredentials>,
    /// Unique; `[A-Za-z0-9_-]{1,64}`.
    pub name: String,
    /// How to reach it.
    pub transport: Transport,
    /// Lower is tried first (default 100).
    pub priority: i32,
    /// Deadline of every call (default 30 s).
    pub call_timeout: Duration,
    /// Deadline of the handshake (default 10 s; 30 s for stdio).
    pub init_timeout: Duration,
    /// Time between health checks while healthy (default 30 s).
    pub health_interval: Duration,
    /// A handshake older than this is refreshed (default 300 s).
    pub max_init_age: Duration,
    /// Tools that may be repeated on another server after an ambiguous failure.
    pub idempotent_tools: Vec<String>,
    /// Calls att has in flight to it at most (`None`: no limit); past it a call goes to a
    /// replica with room, else waits briefly, else is refused as busy ([`super::gate`]).
    pub max_concurrent: Option<u32>,
}

/// The flat wire form: `url` (+ `headers`, `transport: "sse"`) for HTTP or `command` (+
/// `args`, `env`, `cwd`).
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct Wire {
    name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    transport: Option<WireTransport>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    url: Option<String>,
    #[serde(
        default,
        deserialize_with = "crate::secret::opt_values",
        skip_serializing_if = "Option::is_none"
    )]
    headers: Option<BTreeMap<String, String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    command: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    args: Option<Vec<String>>,
    #[serde(
        default,
        deserialize_with = "crate::secret::opt_values",
        skip_serializing_if = "Option::is_none"
    )]
    env: Option<BTreeMap<String, String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    cwd: Option<PathBuf>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    priority: Option<i32>,
    #[serde(
        default,
        with = "opt_duration",
        skip_serializing_if = "Option::is_none"
    )]
    call_timeout: Option<Duration>,
    #[serde(
        default,
        with = "opt_duration",
        skip_serializing_if = "Option::is_none"
    )]
    init_timeout: Option<Duration>,
    #[serde(
        default,
        with = "opt_duration",
        skip_serializing_if = "Option::is_none"
    )]
    health_interval: Option<Duration>,
    #[serde(
        default,
        with = "opt_duration",
        skip_serializing_if = "Option::is_none"
    )]
    max_init_age: Option<Duration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    idempotent_tools: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    tls: Option<TlsSettings>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    oauth: Option<ClientCredentials>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    max_concurrent: Option<u32>,
}

/// The `transport` field: which protocol a `url` speaks (or `stdio`, which `command` implies).
/// Written out for SSE only, so that the streamable HTTP default stays implicit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
enum WireTransport {
    /// Streamable HTTP (`"http"`; also `"streamable-http"`, `"streamable_http"`).
    #[serde(alias = "streamable-http", alias = "streamable_http")]
    Http,
    /// The legacy HTTP+SSE transport.
    Sse,
    /// A stdio child.
    Stdio,
}

/// A spec that does not hold together, naming the field at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct SpecError {
    /// The field at fault.
    pub field: String,
    /// What is wrong and what is expected.
    pub message: String,
}

pub(crate) fn bad(field: &str, message: impl Into<String>) -> SpecError {
    SpecError {
        field: field.to_owned(),
        message: message.into(),
    }
}

/// Whether `name` is a valid upstream name.
pub fn valid_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// Checks an upstream's endpoint: a URL that parses, `http` or `https`, a host, a port that
/// exists, no control characters or spaces (which the URL parser would drop silently).
fn check_url(url: &str) -> Result<(), SpecError> {
    let refuse = |why: &str| bad("url", format!("`{}` {why}", url.escape_debug()));
    if url
        .chars()
        .any(|c| c.is_control() || c.is_whitespace() || c == '\\')
    {
        return Err(refuse("contains control characters, spaces or backslashes"));
    }
    // The URL standard reads `http:///mcp` as host `mcp`: the text itself must name a host.
    let authority = url.split_once("://").map_or("", |(_, rest)| {
        rest.split(['/', '?', '#']).next().unwrap_or("")
    });
    if authority.is_empty() {
        return Err(refuse("has no host"));
    }
    // The parser reads the port as a u16 (99999 fails here) and IPv6 literals strictly.
    let parsed = reqwest::Url::parse(url).map_err(|e| refuse(&format!("is not a URL: {e}")))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(refuse("must start with http:// or https://"));
    }
    match parsed.host_str() {
        None | Some("") => return Err(refuse("has no host")),
        Some(_) => {}
    }
    if parsed.port() == Some(0) {
        return Err(refuse("has port 0"));
    }
    Ok(())
}

/// The bounds of each duration of a spec, by field.
const DURATIONS: [(&str, Bounds); 4] = [
    ("call_timeout", duration::TIMEOUT),
    ("init_timeout", duration::TIMEOUT),
    ("health_interval", duration::HEALTH_INTERVAL),
    ("max_init_age", duration::SESSION_AGE),
];

impl Wire {
    /// The wire's durations, by field, in [`DURATIONS`] order.
    fn durations(&mut self) -> [&mut Option<Duration>; 4] {
        [
            &mut self.call_timeout,
            &mut self.init_timeout,
            &mut self.health_interval,
            &mut self.max_init_age,
        ]
    }
}

impl TryFrom<Wire> for UpstreamSpec {
    type Error = SpecError;

    fn try_from(w: Wire) -> Result<Self, SpecError> {
        if !valid_name(&w.name) {
            return Err(bad(
                "name",
                format!("`{}` must be 1 to 64 of A-Z, a-z, 0-9, `_`, `-`", w.name),
            ));
        }
        match (w.transport, w.url.is_some(), w.command.is_some()) {
            (Some(WireTransport::Stdio), true, false) => {
                return Err(bad(
                    "transport",
                    "`stdio` needs `command`; a `url` speaks `http` or `sse`",
                ));
            }
            (Some(WireTransport::Http | WireTransport::Sse), false, true) => {
                return Err(bad(
                    "transport",
                    "`http` and `sse` need `url`; a `command` speaks `stdio`",
                ));
            }
            _ => {}
        }
        let sse = w.transport == Some(WireTransport::Sse);
        let transport = match (w.url, w.command) {
            (Some(_), Some(_)) => {
                return Err(bad(
                    "url",
                    "give either `url` (HTTP) or `command` (stdio), not both",
                ));
            }
            (None, None) => {
                return Err(bad(
                    "url",
                    "give `url` for an HTTP server or `command` for a stdio server",
                ));
            }
            (Some(url), None) => {
                if w.args.is_some() || w.env.is_some() || w.cwd.is_some() {
                    return Err(bad(
                        "args",
                        "`args`, `env` and `cwd` are for stdio servers (with `command`)",
                    ));
                }
                check_url(&url)?;
                let https = reqwest::Url::parse(&url).is_ok_and(|u| u.scheme() == "https");
                if w.tls.is_some() && !https {
                    return Err(bad("tls", "TLS settings need an `https://` URL"));
                }
                let headers = w.headers.unwrap_or_default();
                if let Some(h) = headers
                    .keys()
                    .find(|h| h.is_empty() || !h.bytes().all(|b| b.is_ascii_graphic() && b != b':'))
                {
                    return Err(bad("headers", format!("`{h}` is not a valid header name")));
                }
                if let Some(o) = &w.oauth {
                    o.check()?;
                    if headers
                        .keys()
                        .any(|h| h.eq_ignore_ascii_case("authorization"))
                    {
                        return Err(bad(
                            "oauth",
                            "`oauth` makes the Authorization header: drop headers.Authorization",
                        ));
                    }
                }
                if sse {
                    Transport::Sse { url, headers }
                } else {
                    Transport::Http { url, headers }
                }
            }
            (None, Some(command)) => {
                if w.tls.is_some() {
                    return Err(bad(
                        "tls",
                        "`tls` is for HTTPS servers (with an `https://` url), not stdio",
                    ));
                }
                if w.headers.is_some() {
                    return Err(bad(
                        "headers",
                        "`headers` are for HTTP servers (with `url`)",
                    ));
                }
                if w.oauth.is_some() {
                    return Err(bad("oauth", "`oauth` is for HTTP servers (with `url`)"));
                }
                if command.trim().is_empty() {
                    return Err(bad("command", "must not be empty"));
                }
                Transport::Stdio {
                    command,
                    args: w.args.unwrap_or_default(),
                    env: w.env.unwrap_or_default(),
                    cwd: w.cwd,
                }
            }
        };
        let within = |field: &str, d: Option<Duration>, default: Duration| {
            let bounds = DURATIONS
                .iter()
                .find(|(f, _)| *f == field)
                .map_or(duration::TIMEOUT, |(_, b)| *b);
            match d {
                Some(d) => bounds.check(field, d).map_err(|e| bad(&e.field, e.message)),
                None => Ok(default),
            }
        };
        if w.max_concurrent == Some(0) {
            return Err(bad(
                "max_concurrent",
                "must be at least 1; leave it out for no limit",
            ));
        }
        let stdio = matches!(transport, Transport::Stdio { .. });
        let tls = w.tls.filter(|t| !t.is_empty());
        if let Some(t) = &tls {
            t.check_shape()?;
        }
        Ok(Self {
            tls,
            oauth: w.oauth,
            name: w.name,
            priority: w.priority.unwrap_or(100),
            call_timeout: within("call_timeout", w.call_timeout, Duration::from_secs(30))?,
            init_timeout: within(
                "init_timeout",
                w.init_timeout,
                Duration::from_secs(if stdio { 30 } else { 10 }),
            )?,
            health_interval: within(
                "health_interval",
                w.health_interval,
                Duration::from_secs(30),
            )?,
            max_init_age: within("max_init_age", w.max_init_age, Duration::from_secs(300))?,
            idempotent_tools: w.idempotent_tools.unwrap_or_default(),
            max_concurrent: w.max_concurrent,
            transport,
        })
    }
}

impl From<&UpstreamSpec> for Wire {
    fn from(s: &UpstreamSpec) -> Self {
        let mut w = Wire {
            name: s.name.clone(),
            priority: Some(s.priority),
            call_timeout: Some(s.call_timeout),
            init_timeout: Some(s.init_timeout),
            health_interval: Some(s.health_interval),
            max_init_age: Some(s.max_init_age),
            idempotent_tools: Some(s.idempotent_tools.clone()),
            tls: s.tls.clone(),
            oauth: s.oauth.clone(),
            max_concurrent: s.max_concurrent,
            ..Wire::default()
        };
        match &s.transport {
            Transport::Http { url, headers } => {
                w.url = Some(url.clone());
                w.headers = Some(headers.clone());
            }
            Transport::Sse { url, headers } => {
                w.transport = Some(WireTransport::Sse);
                w.url = Some(url.clone());
                w.headers = Some(headers.clone());
            }
            Transport::Stdio {
                command,
                args,
                env,
                cwd,
            } => {
                w.command = Some(command.clone());
                w.args = Some(args.clone());
                w.env = Some(env.clone());
                w.cwd.clone_from(cwd);
            }
        }
        w
    }
}

impl<'de> Deserialize<'de> for UpstreamSpec {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let wire = Wire::deserialize(d)?;
        UpstreamSpec::try_from(wire).map_err(serde::de::Error::custom)
    }
}

impl Serialize for UpstreamSpec {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        Wire::from(self).serialize(s)
    }
}

pub use crate::secret::REDACTED;

impl UpstreamSpec {
    /// Reads a stored record: like parsing, except that a duration outside its range (from a
    /// record written before the ranges existed) is clamped into it rather than refused; the
    /// clamped fields come back so that the caller can log them.
    pub fn from_stored(json: &str) -> Result<(Self, Vec<OutOfRange>), SpecError> {
        let mut wire: Wire = serde_json::from_str(json).map_err(|e| bad("spec", e.to_string()))?;
        let mut clamped = Vec::new();
        for ((field, bounds), value) in DURATIONS.iter().zip(wire.durations()) {
            if let Some(d) = value {
                let (fixed, changed) = bounds.clamp(field, *d);
                *d = fixed;
                clamped.extend(changed);
            }
        }
        Ok((Self::try_from(wire)?, clamped))
    }

    /// The spec as att shows it: every header value and environment value replaced by
    /// [`REDACTED`] (the names stay), and a password in the URL too.
    pub fn redacted(&self) -> Self {
        let hide = crate::secret::hide_values;
        let transport = match &self.transport {
            Transport::Http { url, headers } => Transport::Http {
                url: redact_url(url),
                headers: hide(headers),
            },
            Transport::Sse { url, headers } => Transport::Sse {
                url: redact_url(url),
                headers: hide(headers),
            },
            Transport::Stdio {
                command,
                args,
                env,
                cwd,
            } => Transport::Stdio {
                command: command.clone(),
                args: args.clone(),
                env: hide(env),
                cwd: cwd.clone(),
            },
        };
        Self {
            transport,
            oauth: self.oauth.as_ref().map(ClientCredentials::redacted),
            ..self.clone()
        }
    }

    /// `text` (an error message, which may quote the URL) with the URL's password and every
    /// header and environment value replaced by [`REDACTED`].
    pub fn scrub(&self, text: &str) -> String {
        let secrets: Vec<&str> = match &self.transport {
            Transport::Http { url, headers } | Transport::Sse { url, headers } => {
                let password = url
                    .split_once("://")
                    .and_then(|(_, rest)| rest.split(['/', '?', '#']).next())
                    .and_then(|authority| authority.rsplit_once('@'))
                    .and_then(|(userinfo, _)| userinfo.split_once(':'))
                    .map(|(_, password)| password);
                password
                    .into_iter()
                    .chain(headers.values().map(String::as_str))
                    .chain(self.oauth.iter().map(|o| o.client_secret.as_str()))
                    .collect()
            }
            Transport::Stdio { env, .. } => env.values().map(String::as_str).collect(),
        };
        let mut out = text.to_owned();
        // Long values first, so that one containing another is replaced whole.
        let mut secrets: Vec<&str> = secrets.into_iter().filter(|s| s.len() >= 4).collect();
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        for secret in secrets {
            if out.contains(secret) {
                out = out.replace(secret, REDACTED);
            }
        }
        out
    }
}

/// `url` with its password, if it has one, replaced by [`REDACTED`].
fn redact_url(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some(REDACTED));
            u.to_string()
        }
        _ => url.to_owned(),
    }
}

/// Durations as `"30s"`/`"1m 30s"` text, or a number of seconds.
mod opt_duration {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Seconds(f64),
        Text(String),
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        match Option::<Raw>::deserialize(d)? {
            None => Ok(None),
            Some(Raw::Seconds(s)) if (0.0..1e9).contains(&s) => {
                Ok(Some(Duration::from_secs_f64(s)))
            }
            Some(Raw::Seconds(s)) => Err(serde::de::Error::custom(format!(
                "{s} is not a duration in seconds"
            ))),
            Some(Raw::Text(t)) => crate::duration::parse(&t)
                .map(Some)
                .map_err(serde::de::Error::custom),
        }
    }

    pub fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_str(&crate::duration::text(*d)),
            None => s.serialize_none(),
        }
    }
}

#[cfg(test)]
mod tests;

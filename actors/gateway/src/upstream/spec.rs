//! What an upstream MCP server is: its name, its transport, and its options.
//!
//! One shape for the three places servers come from — `[[upstreams]]` in the config file, the
//! `POST /api/v1/mcp/servers` body, and rows of the store; the `mcpServers` JSON that MCP
//! clients already use is read into it by [`super::mcp_servers`]. Parsing validates everything
//! and names the
//! field at fault: the name, the URL (parsed as a URL: `http` or `https`, a host, a port that
//! exists, no control characters), exactly one transport, and each duration within its range
//! ([`crate::duration`]). A record stored before those ranges existed is clamped into them
//! when read ([`UpstreamSpec::from_stored`]), so that it cannot stop att or its actor.
//!
//! Header values and environment values are secrets more often than not: what att shows of a
//! spec — API answers, events, logs — is [`UpstreamSpec::redacted`].

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

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
}

/// The flat wire form: `url` (+ `headers`) for HTTP or `command` (+ `args`, `env`, `cwd`).
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct Wire {
    name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    headers: Option<BTreeMap<String, String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    command: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    args: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
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
                let headers = w.headers.unwrap_or_default();
                if let Some(h) = headers
                    .keys()
                    .find(|h| h.is_empty() || !h.bytes().all(|b| b.is_ascii_graphic() && b != b':'))
                {
                    return Err(bad("headers", format!("`{h}` is not a valid header name")));
                }
                Transport::Http { url, headers }
            }
            (None, Some(command)) => {
                if w.headers.is_some() {
                    return Err(bad(
                        "headers",
                        "`headers` are for HTTP servers (with `url`)",
                    ));
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
        let stdio = matches!(transport, Transport::Stdio { .. });
        Ok(Self {
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
            ..Wire::default()
        };
        match &s.transport {
            Transport::Http { url, headers } => {
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
            ..self.clone()
        }
    }

    /// `text` (an error message, which may quote the URL) with the URL's password and every
    /// header and environment value replaced by [`REDACTED`].
    pub fn scrub(&self, text: &str) -> String {
        let secrets: Vec<&str> = match &self.transport {
            Transport::Http { url, headers } => {
                let password = url
                    .split_once("://")
                    .and_then(|(_, rest)| rest.split(['/', '?', '#']).next())
                    .and_then(|authority| authority.rsplit_once('@'))
                    .and_then(|(userinfo, _)| userinfo.split_once(':'))
                    .map(|(_, password)| password);
                password
                    .into_iter()
                    .chain(headers.values().map(String::as_str))
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
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(v: serde_json::Value) -> Result<UpstreamSpec, String> {
        serde_json::from_value(v).map_err(|e| e.to_string())
    }

    #[test]
    fn http_and_stdio_specs_get_their_defaults() {
        let h = parse(json!({"name": "gh", "url": "http://127.0.0.1:9/mcp", "headers": {"Authorization": "Bearer x"}}))
            .expect("http spec");
        assert_eq!(h.priority, 100);
        assert_eq!(h.init_timeout, Duration::from_secs(10));
        assert_eq!(h.call_timeout, Duration::from_secs(30));
        let s = parse(json!({"name": "fs", "command": "mcp-fs", "args": ["--root", "/tmp"], "call_timeout": 5}))
            .expect("stdio spec");
        assert_eq!(s.init_timeout, Duration::from_secs(30));
        assert_eq!(s.call_timeout, Duration::from_secs(5));
        assert!(matches!(s.transport, Transport::Stdio { ref args, .. } if args.len() == 2));
        let t = parse(json!({"name": "x", "url": "https://h/mcp", "health_interval": "1m 30s"}))
            .expect("text duration");
        assert_eq!(t.health_interval, Duration::from_secs(90));
    }

    #[test]
    fn specs_round_trip_through_their_wire_form() {
        for v in [
            json!({"name": "a", "url": "http://h:1/mcp", "headers": {"X-A": "1"}, "priority": 3, "idempotent_tools": ["get"]}),
            json!({"name": "b", "command": "srv", "args": ["-v"], "env": {"K": "V"}, "cwd": "/tmp", "call_timeout": 1.5}),
        ] {
            let spec = parse(v).expect("valid");
            let back = parse(serde_json::to_value(&spec).expect("serializes")).expect("re-parses");
            assert_eq!(spec, back);
        }
    }

    #[test]
    fn invalid_specs_name_the_field() {
        let table = [
            (json!({"name": "bad name", "url": "http://h/mcp"}), "name"),
            (
                json!({"name": "x".repeat(65), "url": "http://h/mcp"}),
                "name",
            ),
            (json!({"name": "a"}), "url"),
            (
                json!({"name": "a", "url": "http://h/mcp", "command": "c"}),
                "url",
            ),
            (json!({"name": "a", "url": "ftp://h/mcp"}), "url"),
            (json!({"name": "a", "url": "http:///mcp"}), "url"),
            (
                json!({"name": "a", "url": "http://h/mcp", "args": ["x"]}),
                "args",
            ),
            (
                json!({"name": "a", "command": "c", "headers": {}}),
                "headers",
            ),
            (json!({"name": "a", "command": " "}), "command"),
            (
                json!({"name": "a", "command": "c", "call_timeout": 0}),
                "call_timeout",
            ),
            (
                json!({"name": "a", "command": "c", "call_timeout": "soon"}),
                "soon",
            ),
            (
                json!({"name": "a", "command": "c", "colour": "red"}),
                "colour",
            ),
        ];
        for (v, field) in table {
            let e = parse(v.clone()).expect_err(&format!("{v} must be refused"));
            assert!(e.contains(field), "{v}: {e}");
        }
    }

    #[test]
    fn urls_are_parsed_and_only_usable_http_endpoints_pass() {
        let table = [
            ("http://127.0.0.1:3000/mcp", true),
            ("https://example.com/mcp", true),
            ("http://[::1]:8080/mcp", true),
            ("http://user:pw@host/mcp?x=1#f", true),
            ("http://h/mcp\r\nX-Injected: 1", false),
            ("http://h/m\tcp", false),
            (" http://h/mcp", false),
            ("http://127.0.0.1:99999/mcp", false),
            ("http://127.0.0.1:0/mcp", false),
            ("http://[::1/mcp", false),
            ("http://exa mple.com/mcp", false),
            ("http:///mcp", false),
            ("http://:80/mcp", false),
            ("http:\\\\h\\mcp", false),
            ("http:/h/mcp", false),
            ("ftp://h/mcp", false),
            ("file:///etc/passwd", false),
            ("javascript:alert(1)", false),
            ("h/mcp", false),
            ("", false),
        ];
        for (url, ok) in table {
            let r = parse(json!({"name": "a", "url": url}));
            match (ok, r) {
                (true, Ok(_)) => {}
                (false, Err(e)) => assert!(e.starts_with("url: "), "{url:?}: {e}"),
                (want, got) => panic!("{url:?}: expected ok={want}, got {got:?}"),
            }
        }
    }

    #[test]
    fn every_duration_is_refused_outside_its_range_naming_it() {
        let table = [
            ("call_timeout", json!(0), false),
            ("call_timeout", json!("1ms"), true),
            ("call_timeout", json!("1h"), true),
            ("call_timeout", json!("61m"), false),
            ("init_timeout", json!("0s"), false),
            ("init_timeout", json!("1h 1s"), false),
            ("health_interval", json!("1ns"), false),
            ("health_interval", json!("999ms"), false),
            ("health_interval", json!("1s"), true),
            ("health_interval", json!("24h"), true),
            ("health_interval", json!("25h"), false),
            ("max_init_age", json!("99999999999h"), false),
            ("max_init_age", json!("30days"), true),
            ("max_init_age", json!("31days"), false),
            ("max_init_age", json!(0.5), false),
        ];
        for (field, value, ok) in table {
            let mut v = json!({"name": "a", "url": "http://h/mcp"});
            v[field] = value.clone();
            match (ok, parse(v)) {
                (true, Ok(_)) => {}
                (false, Err(e)) => assert!(
                    e.starts_with(&format!("{field}: ")) && e.contains("allowed from"),
                    "{field} = {value}: {e}"
                ),
                (want, got) => panic!("{field} = {value}: expected ok={want}, got {got:?}"),
            }
        }
    }

    #[test]
    fn a_stored_record_out_of_range_is_clamped_and_says_so() {
        let stored = json!({"name": "old", "url": "http://h/mcp", "max_init_age": "99999999999h",
                            "health_interval": "1ns", "call_timeout": "5s"});
        let (spec, clamped) = UpstreamSpec::from_stored(&stored.to_string()).expect("readable");
        assert_eq!(spec.max_init_age, duration::SESSION_AGE.max);
        assert_eq!(spec.health_interval, duration::HEALTH_INTERVAL.min);
        assert_eq!(spec.call_timeout, Duration::from_secs(5));
        let fields: Vec<&str> = clamped.iter().map(|c| c.field.as_str()).collect();
        assert_eq!(fields, ["health_interval", "max_init_age"]);
    }

    #[test]
    fn redacted_specs_keep_names_and_hide_values() {
        let http = parse(json!({"name": "gh", "url": "http://me:pw12@h/mcp",
                                "headers": {"Authorization": "Bearer ghp_secret"}}))
        .expect("http");
        let shown = serde_json::to_string(&http.redacted()).expect("json");
        assert!(
            !shown.contains("ghp_secret") && !shown.contains(":pw12@"),
            "{shown}"
        );
        assert!(
            shown.contains("Authorization") && shown.contains(REDACTED),
            "{shown}"
        );
        let stdio = parse(json!({"name": "fs", "command": "srv", "env": {"TOKEN": "s3cret"}}))
            .expect("stdio");
        let shown = serde_json::to_string(&stdio.redacted()).expect("json");
        assert!(
            !shown.contains("s3cret") && shown.contains("TOKEN"),
            "{shown}"
        );
        let said =
            http.scrub("error sending request for url (http://me:pw12@h/mcp): Bearer ghp_secret");
        assert_eq!(
            said,
            "error sending request for url (http://me:•••@h/mcp): •••"
        );
        assert_eq!(stdio.scrub("env s3cret leaked"), "env ••• leaked");
    }
}

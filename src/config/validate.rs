//! The rules a configuration must follow that its types cannot say: minimums and ranges,
//! unique names, absolute paths, the token a non-loopback listener needs. One function per
//! section; [`Config::validate`] runs them all, and the first rule broken is the error,
//! naming its key — before anything starts.

use std::collections::HashSet;
use std::time::Duration;

use att_runtime::duration::{BACKOFF, GRACE, TIMEOUT, WINDOW};

use super::{Config, ConfigError};

/// `[http] lanes` at most: a thread each.
const MAX_LANES: usize = 256;

/// A refused value of `key`.
fn refused(key: &str, message: impl Into<String>) -> ConfigError {
    ConfigError::Key {
        key: key.into(),
        origin: "configuration".into(),
        message: message.into(),
    }
}

impl Config {
    /// Checks rules that span several keys.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.check_access()?;
        self.check_auth()?;
        self.check_launch()?;
        self.check_workspace()?;
        self.check_http()?;
        self.check_upstreams()?;
        self.check_services()?;
        self.check_durations()?;
        self.check_profiles()?;
        self.check_limits()?;
        self.telemetry
            .check()
            .map_err(|(key, message)| refused(&format!("telemetry.{key}"), message))?;
        self.check_actors()
    }

    /// Each profile well formed, and named once.
    fn check_profiles(&self) -> Result<(), ConfigError> {
        let mut seen = std::collections::BTreeSet::new();
        for (i, p) in self.profiles.iter().enumerate() {
            p.check()
                .map_err(|(field, message)| refused(&format!("profiles[{i}].{field}"), message))?;
            if !seen.insert(p.name.as_str()) {
                return Err(refused(
                    &format!("profiles[{i}].name"),
                    format!("`{}` names two profiles", p.name),
                ));
            }
        }
        Ok(())
    }

    /// A token long enough to mean something, and one at all off loopback.
    fn check_access(&self) -> Result<(), ConfigError> {
        if self.api_token.as_ref().is_some_and(|t| t.trim().len() < 16) {
            return Err(refused(
                "api_token",
                "too short: use at least 16 characters",
            ));
        }
        if !self.listen.ip().is_loopback() && self.api_token.is_none() && self.auth.oidc.is_none() {
            return Err(ConfigError::Invalid(format!(
                "refusing to listen on non-loopback address {} without an API token: set `api_token` (or ATT_API_TOKEN), or `[auth.oidc]`",
                self.listen
            )));
        }
        Ok(())
    }

    /// `[auth.oidc]`: an issuer and key URL att can trust, an audience, bounded times.
    fn check_auth(&self) -> Result<(), ConfigError> {
        match &self.auth.oidc {
            Some(oidc) => oidc
                .check()
                .map_err(|(key, message)| refused(&format!("auth.oidc.{key}"), message)),
            None => Ok(()),
        }
    }

    /// `[launch]`: a build att can run, and a crash budget of at least one.
    fn check_launch(&self) -> Result<(), ConfigError> {
        if let Some(build) = &self.launch.build {
            build
                .validate()
                .map_err(|message| refused("launch.build", message))?;
        }
        if self.launch.crash_exits == 0 {
            return Err(refused("launch.crash_exits", "must be at least 1"));
        }
        Ok(())
    }

    /// `[workspace]`: roots are absolute (a relative one would depend on att's directory).
    fn check_workspace(&self) -> Result<(), ConfigError> {
        match self.workspace.roots.iter().find(|r| !r.is_absolute()) {
            Some(root) => Err(refused(
                "workspace.roots",
                format!("`{}` is not an absolute path", root.display()),
            )),
            None => Ok(()),
        }
    }

    /// `[http]`: limits of at least one, timeouts in range, a browser policy that parses.
    fn check_http(&self) -> Result<(), ConfigError> {
        let http = &self.http;
        for (key, value) in [
            ("http.max_connections", http.max_connections),
            ("http.mcp_max_sessions", http.mcp_max_sessions),
            (
                "http.mcp_max_sessions_per_client",
                http.mcp_max_sessions_per_client,
            ),
            (
                "http.mcp_max_sessions_per_principal",
                http.mcp_max_sessions_per_principal,
            ),
        ] {
            if value == 0 {
                return Err(refused(key, "must be at least 1"));
            }
        }
        if http.mcp_session_idle < Duration::from_secs(1)
            || http.mcp_session_idle > Duration::from_secs(7 * 24 * 3600)
        {
            return Err(refused(
                "http.mcp_session_idle",
                "must be between 1s and 7 days",
            ));
        }
        if http.header_read_timeout < Duration::from_millis(100)
            || http.header_read_timeout > Duration::from_secs(3600)
        {
            return Err(refused(
                "http.header_read_timeout",
                "must be between 100ms and 1h",
            ));
        }
        if http.body_limit == 0 {
            return Err(refused("http.body_limit", "must be at least 1 byte"));
        }
        if http.lanes.is_some_and(|n| !(1..=MAX_LANES).contains(&n)) {
            return Err(refused(
                "http.lanes",
                format!("must be between 1 and {MAX_LANES} (unset: one per core)"),
            ));
        }
        crate::http::origin::BrowserPolicy::new(&http.allowed_hosts, &http.allowed_origins)
            .map_err(|message| refused("http", message))?;
        if http.tls_client_ca.is_some() && http.tls_cert.is_none() {
            return Err(refused(
                "http.tls_client_ca",
                "client certificates need HTTPS: set `tls_cert` and `tls_key` too",
            ));
        }
        match (&http.tls_cert, &http.tls_key) {
            (Some(_), None) => Err(refused(
                "http.tls_key",
                "`tls_cert` needs `tls_key` (set both to serve HTTPS, or neither)",
            )),
            (None, Some(_)) => Err(refused(
                "http.tls_cert",
                "`tls_key` needs `tls_cert` (set both to serve HTTPS, or neither)",
            )),
            _ => Ok(()),
        }
    }

    /// `[[upstreams]]` and `[gateway] max_upstreams`: unique names, no more than the cap.
    fn check_upstreams(&self) -> Result<(), ConfigError> {
        let mut names = HashSet::new();
        if let Some(dup) = self
            .upstreams
            .iter()
            .find(|u| !names.insert(u.name.as_str()))
        {
            return Err(refused(
                "upstreams",
                format!("the name `{}` is used twice", dup.name),
            ));
        }
        let max = self.gateway.max_upstreams;
        if max == 0 || self.upstreams.len() > max {
            return Err(refused(
                "gateway.max_upstreams",
                format!(
                    "{} upstreams are configured, the limit is {max}: raise `[gateway] max_upstreams` (at least 1)",
                    self.upstreams.len(),
                ),
            ));
        }
        for upstream in &self.upstreams {
            att_gateway::upstream::tls::check(upstream).map_err(|e| {
                refused(
                    &format!("upstreams.{}.{}", upstream.name, e.field),
                    e.message,
                )
            })?;
        }
        Ok(())
    }

    /// `[[services]]`: unique names, each a valid service.
    fn check_services(&self) -> Result<(), ConfigError> {
        let mut names = HashSet::new();
        for s in &self.services {
            let problem = if names.insert(s.name.as_str()) {
                s.validate().err()
            } else {
                Some(format!("the name `{}` is used twice", s.name))
            };
            if let Some(message) = problem {
                return Err(refused("services", message));
            }
        }
        Ok(())
    }

    /// Every duration within the range of its kind ([`att_runtime::duration`]).
    fn check_durations(&self) -> Result<(), ConfigError> {
        let durations = [
            ("http.request_timeout", self.http.request_timeout, TIMEOUT),
            ("http.shutdown_grace", self.http.shutdown_grace, GRACE),
            (
                "actors.restart_backoff",
                self.actors.restart_backoff,
                BACKOFF,
            ),
            (
                "actors.restart_backoff_cap",
                self.actors.restart_backoff_cap,
                BACKOFF,
            ),
            ("actors.restart_window", self.actors.restart_window, WINDOW),
            ("actors.stop_timeout", self.actors.stop_timeout, GRACE),
            ("gateway.retry_backoff", self.gateway.retry_backoff, BACKOFF),
            (
                "gateway.retry_backoff_cap",
                self.gateway.retry_backoff_cap,
                BACKOFF,
            ),
            ("launch.crash_window", self.launch.crash_window, WINDOW),
            ("launch.switch_grace", self.launch.switch_grace, GRACE),
            ("launch.drain", self.launch.drain, GRACE),
        ];
        for (key, value, bounds) in durations {
            bounds
                .check(key, value)
                .map_err(|e| refused(key, e.message))?;
        }
        Ok(())
    }

    /// `[limits]`: rates above zero, bursts with a rate, maximums of at least one, each
    /// override a principal name once.
    fn check_limits(&self) -> Result<(), ConfigError> {
        let limits = &self.limits;
        if limits.max_principals == 0 {
            return Err(refused("limits.max_principals", "must be at least 1"));
        }
        let check = |at: &str, l: &super::PrincipalLimits, base_rate: bool| {
            if let Some(rate) = l.rate
                && !(rate.is_finite() && rate > 0.0 && rate <= 1e6)
            {
                return Err(refused(
                    &format!("{at}.rate"),
                    format!(
                        "{rate} is not a rate: use calls per second above 0 (at most 1e6); leave it out for no limit"
                    ),
                ));
            }
            match l.burst {
                Some(0) => {
                    return Err(refused(&format!("{at}.burst"), "must be at least 1"));
                }
                Some(_) if l.rate.is_none() && !base_rate => {
                    return Err(refused(
                        &format!("{at}.burst"),
                        "a burst needs a `rate` (calls per second) to refill it",
                    ));
                }
                _ => {}
            }
            if l.concurrent == Some(0) {
                return Err(refused(
                    &format!("{at}.concurrent"),
                    "must be at least 1; leave it out for no limit",
                ));
            }
            Ok(())
        };
        if let Some(base) = &limits.per_principal {
            check("limits.per_principal", base, false)?;
        }
        let base_rate = limits
            .per_principal
            .as_ref()
            .is_some_and(|b| b.rate.is_some());
        let mut names = HashSet::new();
        for o in &limits.principals {
            let valid = (1..=64).contains(&o.name.len())
                && o.name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
            if !valid {
                return Err(refused(
                    "limits.principals",
                    format!(
                        "`{}` is not a principal name: use 1 to 64 of A-Z a-z 0-9 _ - .",
                        o.name.escape_debug()
                    ),
                ));
            }
            if !names.insert(o.name.as_str()) {
                return Err(refused(
                    "limits.principals",
                    format!("`{}` is listed twice", o.name),
                ));
            }
            let at = format!("limits.principals.{}", o.name);
            if o.limits() == super::PrincipalLimits::default() {
                return Err(refused(
                    &at,
                    "sets no limit: give `rate`, `burst` or `concurrent`",
                ));
            }
            check(&at, &o.limits(), base_rate)?;
        }
        Ok(())
    }

    /// `[actors]`: a meltdown rule and a trace that keep at least one of each.
    fn check_actors(&self) -> Result<(), ConfigError> {
        if self.actors.max_restarts == 0 || self.actors.trace_capacity == 0 {
            return Err(ConfigError::Invalid(
                "actors.max_restarts and actors.trace_capacity must be at least 1".into(),
            ));
        }
        Ok(())
    }
}

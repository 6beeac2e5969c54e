//! A managed service (`service:<name>` target): what to run, how to probe it, where its log
//! goes. Validated when read (config file or API), with errors naming the field; its
//! durations have ranges ([`crate::duration`]): `crash_window` 1 s – 24 h, `stop_grace` and
//! `drain` 0 – 10 min, `guard_period` 0 – 24 h, a build's `timeout` 1 s – 24 h. A stored
//! registration from before the ranges is clamped into them when read
//! ([`ServiceSpec::clamped`]).

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::probe::Probe;
use crate::duration::{self, Bounds, OutOfRange};
use crate::model::{Release, ReleaseStatus};

/// Replaced by a built release's artifact path in `command`, `args` and `env`.
pub const ARTIFACT: &str = "{artifact}";
/// Replaced by the release id (the commit) in `command`, `args` and `env`.
pub const RELEASE: &str = "{release}";

/// A service att runs and watches.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ServiceSpec {
    /// `[A-Za-z0-9_-]{1,64}`; the target is `service:<name>`.
    pub name: String,
    /// The program (run without a shell).
    pub command: String,
    /// Its arguments.
    #[serde(default)]
    pub args: Vec<String>,
    /// Extra environment variables (in the configuration file a value may be
    /// `{ from_env = "NAME" }`).
    #[serde(default, deserialize_with = "crate::secret::values")]
    pub env: std::collections::BTreeMap<String, String>,
    /// Its working directory.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub cwd: Option<PathBuf>,
    /// How its health is checked (none: running is healthy).
    #[serde(default)]
    pub health: Option<Probe>,
    /// Its log file (default: `<data_dir>/services/<name>/service.log`).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub log_file: Option<PathBuf>,
    /// Restart it when it exits on its own (default true).
    #[serde(default = "yes")]
    pub restart: bool,
    /// This many exits within `crash_window` is a crash loop: att stops restarting it.
    #[serde(default = "default_crash_exits")]
    pub crash_exits: u32,
    /// See `crash_exits` (default 60 s).
    #[serde(default = "default_crash_window", with = "crate::duration::serde_text")]
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub crash_window: Duration,
    /// How long a stop waits after SIGTERM before SIGKILL (default 10 s).
    #[serde(default = "default_stop_grace", with = "crate::duration::serde_text")]
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub stop_grace: Duration,
    /// A listening address att owns and hands to the service by socket activation (the
    /// systemd protocol: descriptor 3, `LISTEN_FDS`, `LISTEN_PID`, `LISTEN_FDNAMES`). A
    /// deploy then starts the new release on the same socket while the old one still
    /// serves, and stops the old one only once the new one passed its gates: no connection
    /// is refused during a switch. Without it a deploy stops the old release first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub listen: Option<std::net::SocketAddr>,
    /// With `listen`: give every process of the service a private probe socket too, so that
    /// its health probes reach it and not the release it replaces (both serve `listen`
    /// during a switch). att binds it on `listen`'s address with a port of its own and
    /// passes it as the second socket (descriptor 4, `LISTEN_FDS=2`,
    /// `LISTEN_FDNAMES=<name>:probe`); an HTTP or MCP probe whose URL names `listen` is sent
    /// there instead. The service must serve on both sockets: one that ignores the second
    /// never answers its probes and fails its gate — so it is opt-in (default false; off,
    /// the probes go to `listen` and may be answered by the old release during a switch).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub probe_socket: bool,
    /// With `listen`: how long a replaced release keeps serving beside the new one before
    /// it gets SIGTERM (default 1 s), so that what it accepted is answered.
    #[serde(default = "default_drain", with = "crate::duration::serde_text")]
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub drain: Duration,
    /// How long a release is guarded after its health gate (the `guard` phase; default
    /// 3 min, 0: no guard). A run may ask for another.
    #[serde(default = "default_guard_period", with = "crate::duration::serde_text")]
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub guard_period: Duration,
    /// Exits of a guarded release tolerated (the service restarts it; default 0).
    #[serde(default)]
    pub guard_max_restarts: u32,
    /// Failed probes in a row that fail the guard (default 3).
    #[serde(default = "default_guard_threshold")]
    pub guard_failure_threshold: u32,
    /// How its releases are built from a git repository (the `build` phase). A built
    /// release runs `command` and `args` with `{artifact}` replaced by the kept artifact's
    /// path and `{release}` by the release id (the commit).
    #[serde(default)]
    pub build: Option<crate::build::BuildSpec>,
}

fn yes() -> bool {
    true
}
fn default_crash_exits() -> u32 {
    5
}
fn default_crash_window() -> Duration {
    Duration::from_secs(60)
}
fn default_drain() -> Duration {
    Duration::from_secs(1)
}
fn default_guard_period() -> Duration {
    crate::bootstrap::guard::DEFAULT_PERIOD
}
fn default_guard_threshold() -> u32 {
    crate::bootstrap::guard::DEFAULT_THRESHOLD
}
fn default_stop_grace() -> Duration {
    Duration::from_secs(10)
}

impl ServiceSpec {
    /// The spec as att shows it: environment values (and those of its build) replaced by
    /// [`crate::secret::REDACTED`], the names kept.
    pub fn redacted(&self) -> Self {
        let mut shown = self.clone();
        shown.env = crate::secret::hide_values(&self.env);
        if let Some(build) = &mut shown.build {
            build.env = crate::secret::hide_values(&build.env);
        }
        shown
    }

    /// Its durations with their ranges, by field.
    fn durations(&mut self) -> Vec<(&'static str, Bounds, &mut Duration)> {
        let mut all = vec![
            ("crash_window", duration::WINDOW, &mut self.crash_window),
            ("stop_grace", duration::GRACE, &mut self.stop_grace),
            ("drain", duration::GRACE, &mut self.drain),
            (
                "guard_period",
                crate::bootstrap::guard::GUARD_PERIOD,
                &mut self.guard_period,
            ),
        ];
        if let Some(build) = &mut self.build {
            all.push(("build.timeout", duration::JOB, &mut build.timeout));
        }
        all
    }

    /// Whether every duration is within its range; the first one that is not, named.
    pub fn check_durations(&self) -> Result<(), OutOfRange> {
        let mut copy = self.clone();
        for (field, bounds, value) in copy.durations() {
            bounds.check(field, *value)?;
        }
        Ok(())
    }

    /// The spec with every duration moved into its range, and what was moved (for a stored
    /// registration from before the ranges: it must not stop att).
    pub fn clamped(mut self) -> (Self, Vec<OutOfRange>) {
        let mut changed = Vec::new();
        for (field, bounds, value) in self.durations() {
            let (fixed, note) = bounds.clamp(field, *value);
            *value = fixed;
            changed.extend(note);
        }
        (self, changed)
    }

    /// Checks what serde cannot: the name, a command, a usable probe.
    pub fn validate(&self) -> Result<(), String> {
        if !att_gateway::upstream::valid_name(&self.name) {
            return Err(format!(
                "service name `{}` must be 1-64 characters of [A-Za-z0-9_-]",
                self.name
            ));
        }
        if self.command.trim().is_empty() {
            return Err(format!("service `{}`: `command` is empty", self.name));
        }
        self.check_durations()
            .map_err(|e| format!("service `{}`: {e}", self.name))?;
        if self.probe_socket && self.listen.is_none() {
            return Err(format!(
                "service `{}`: `probe_socket` needs `listen` (the socket it is private beside)",
                self.name
            ));
        }
        if self.crash_exits == 0 {
            return Err(format!(
                "service `{}`: `crash_exits` must be at least 1",
                self.name
            ));
        }
        use crate::bootstrap::guard::MAX_COUNT;
        if !(1..=MAX_COUNT).contains(&self.guard_failure_threshold) {
            return Err(format!(
                "service `{}`: `guard_failure_threshold` must be from 1 to {MAX_COUNT}",
                self.name
            ));
        }
        if self.guard_max_restarts > MAX_COUNT {
            return Err(format!(
                "service `{}`: `guard_max_restarts` must be at most {MAX_COUNT}",
                self.name
            ));
        }
        match &self.health {
            Some(Probe::Http { url }) | Some(Probe::Mcp { url, .. })
                if !(url.starts_with("http://") || url.starts_with("https://")) =>
            {
                Err(format!(
                    "service `{}`: health url `{url}` must start with http:// or https://",
                    self.name
                ))
            }
            Some(Probe::Program { argv, .. }) if argv.is_empty() => {
                Err(format!("service `{}`: health command is empty", self.name))
            }
            Some(Probe::Mcp {
                url,
                tls: Some(tls),
            }) => super::probe::mcp_spec(url, Some(tls), std::time::Duration::from_secs(10))
                .map(drop)
                .map_err(|e| format!("service `{}`: health {e}", self.name)),
            _ => Ok(()),
        }?;
        if let Some(build) = &self.build {
            build
                .validate()
                .map_err(|e| format!("service `{}`: {e}", self.name))?;
        }
        Ok(())
    }

    /// Whether starting it needs a deployed release (its command names `{artifact}`).
    pub fn needs_release(&self) -> bool {
        self.command.contains(ARTIFACT) || self.args.iter().any(|a| a.contains(ARTIFACT))
    }

    /// The release `id` of `target` built from this spec, its artifact kept at `artifact`.
    pub fn built_release(
        &self,
        target: &str,
        id: &str,
        artifact: Option<&std::path::Path>,
    ) -> Release {
        let artifact_text = artifact
            .map(|a| a.display().to_string())
            .unwrap_or_default();
        let fill = |s: &str| s.replace(ARTIFACT, &artifact_text).replace(RELEASE, id);
        Release {
            target: target.to_owned(),
            id: id.to_owned(),
            command: fill(&self.command),
            args: self.args.iter().map(|a| fill(a)).collect(),
            env: self.env.iter().map(|(k, v)| (k.clone(), fill(v))).collect(),
            artifact: artifact.map(std::path::Path::to_path_buf),
            status: ReleaseStatus::Built,
            created_at: time::OffsetDateTime::now_utc(),
        }
    }

    /// The process to start.
    pub fn command(&self) -> crate::process::child::Program {
        crate::process::child::Program {
            program: self.command.clone(),
            args: self.args.clone(),
            env: self
                .env
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            cwd: self.cwd.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_with_defaults_and_refuses_bad_specs() {
        let s: ServiceSpec = serde_json::from_value(serde_json::json!({
            "name": "web", "command": "/usr/bin/web", "args": ["--port", "8080"],
            "health": {"kind": "http", "url": "http://127.0.0.1:8080/health"}
        }))
        .expect("spec");
        assert!(s.validate().is_ok());
        assert!(s.restart);
        assert_eq!(
            (s.crash_exits, s.crash_window),
            (5, Duration::from_secs(60))
        );
        let mut bad = s.clone();
        bad.name = "a b".into();
        assert!(bad.validate().unwrap_err().contains("service name"));
        let mut bad = s.clone();
        bad.health = Some(Probe::Http {
            url: "localhost/health".into(),
        });
        assert!(bad.validate().unwrap_err().contains("must start with http"));
        let unknown = serde_json::from_value::<ServiceSpec>(
            serde_json::json!({"name": "x", "command": "y", "colour": 1}),
        );
        assert!(unknown.unwrap_err().to_string().contains("colour"));
        let s: ServiceSpec = serde_json::from_value(
            serde_json::json!({"name": "x", "command": "y", "stop_grace": "250ms"}),
        )
        .expect("spec");
        assert_eq!(s.stop_grace, Duration::from_millis(250));
        // A private probe socket is private beside a shared one: it needs `listen`.
        let probe_alone: ServiceSpec = serde_json::from_value(
            serde_json::json!({"name": "x", "command": "y", "probe_socket": true}),
        )
        .expect("spec");
        assert!(
            probe_alone
                .validate()
                .unwrap_err()
                .contains("needs `listen`"),
            "{probe_alone:?}"
        );
        let mut with_listen = probe_alone.clone();
        with_listen.listen = Some("127.0.0.1:8080".parse().expect("addr"));
        assert_eq!(with_listen.validate(), Ok(()));
    }

    #[test]
    fn durations_outside_their_ranges_are_refused_naming_them_and_stored_ones_clamped() {
        let table = [
            (json!({"stop_grace": "0s"}), None),
            (json!({"stop_grace": "10m"}), None),
            (json!({"stop_grace": "10m 1s"}), Some("stop_grace")),
            (json!({"stop_grace": "99999999999h"}), Some("stop_grace")),
            (json!({"crash_window": "1s"}), None),
            (json!({"crash_window": "100ms"}), Some("crash_window")),
            (json!({"crash_window": "25h"}), Some("crash_window")),
            (
                json!({"build": {"repo": "/r", "command": ["make"], "artifact": "out", "timeout": "0s"}}),
                Some("build.timeout"),
            ),
            (
                json!({"build": {"repo": "/r", "command": ["make"], "artifact": "out", "timeout": "2h"}}),
                None,
            ),
        ];
        for (extra, refused) in table {
            let mut v = json!({"name": "web", "command": "/bin/web"});
            for (k, x) in extra.as_object().expect("object") {
                v[k] = x.clone();
            }
            let spec: ServiceSpec = serde_json::from_value(v).expect("parses");
            match refused {
                None => assert_eq!(spec.check_durations(), Ok(()), "{extra}"),
                Some(field) => {
                    let e = spec.check_durations().expect_err("out of range");
                    assert_eq!(e.field, field, "{extra}");
                    assert!(spec.validate().unwrap_err().contains(field), "{extra}");
                    let (fixed, notes) = spec.clamped();
                    assert_eq!(fixed.check_durations(), Ok(()), "{extra}");
                    assert_eq!(notes.len(), 1, "{extra}");
                }
            }
        }
    }
}

//! Health probes and the restart watchdog (BOOTSTRAP.md: `restart_watchdog`, `health`).
//!
//! A probe answers healthy or not with a reason string (part of the API): `healthy`,
//! `http_status:503`, `http_error:<what>`, `command_exit:1`, `command_timeout`,
//! `command_error:<what>`, `mcp_error:<what>`, and for a process that ended,
//! `process_exited:3` / `process_killed:9`, then `process_not_running`.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::process::{
    self,
    child::{Process, Program},
};

/// How a service's health is checked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Probe {
    /// `GET url` answers 2xx or 3xx.
    Http {
        /// The URL.
        url: String,
    },
    /// The command (no shell) exits 0.
    Program {
        /// Program and arguments.
        argv: Vec<String>,
        /// Its working directory.
        #[serde(default)]
        #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
        cwd: Option<PathBuf>,
    },
    /// An MCP server at `url` (streamable HTTP) completes `initialize` and answers `ping`.
    Mcp {
        /// The endpoint.
        url: String,
        /// For an `https` URL: the upstreams' `tls` table (`ca_file`, `client_cert`,
        /// `client_key`, `insecure_skip_verify`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
        tls: Option<att_gateway::upstream::tls::TlsSettings>,
    },
}

/// One probe's answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ProbeResult {
    /// Whether it passed.
    pub healthy: bool,
    /// Why (see the module documentation).
    pub reason: String,
    /// The HTTP status, for an HTTP probe that got one.
    pub http_status: Option<u16>,
}

impl ProbeResult {
    fn ok() -> Self {
        Self {
            healthy: true,
            reason: "healthy".into(),
            http_status: None,
        }
    }

    fn failed(reason: impl Into<String>) -> Self {
        Self {
            healthy: false,
            reason: reason.into(),
            http_status: None,
        }
    }
}

fn http_client() -> reqwest::Client {
    static CLIENT: std::sync::OnceLock<reqwest::Client> = std::sync::OnceLock::new();
    CLIENT
        .get_or_init(|| {
            reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .tls_backend_preconfigured(att_gateway::upstream::tls::platform_client_config())
                .build()
                .unwrap_or_default()
        })
        .clone()
}

/// Runs `probe` once, within `timeout`.
pub async fn check(probe: &Probe, timeout: Duration) -> ProbeResult {
    match probe {
        Probe::Http { url } => match http_client().get(url).timeout(timeout).send().await {
            Ok(r) => {
                let status = r.status();
                let mut result = if status.is_success() || status.is_redirection() {
                    ProbeResult::ok()
                } else {
                    ProbeResult::failed(format!("http_status:{}", status.as_u16()))
                };
                result.http_status = Some(status.as_u16());
                result
            }
            Err(e) if e.is_timeout() => ProbeResult::failed("http_error:timeout"),
            Err(e) if e.is_connect() => ProbeResult::failed("http_error:connection_refused"),
            Err(e) => ProbeResult::failed(format!("http_error:{e}")),
        },
        Probe::Program { argv, cwd } => {
            let Some(mut program) = Program::from_argv(argv) else {
                return ProbeResult::failed("command_error:empty command");
            };
            program.cwd = cwd.clone();
            let spawned = program
                .command(&process::new_instance())
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .kill_on_drop(true)
                .spawn();
            let mut child = match spawned {
                Ok(c) => c,
                Err(e) => return ProbeResult::failed(format!("command_error:{e}")),
            };
            // A probe that overruns goes with everything it started.
            let _group = child.id().map(process::GroupGuard::new);
            match tokio::time::timeout(timeout, child.wait()).await {
                Ok(Ok(s)) if s.success() => ProbeResult::ok(),
                Ok(Ok(s)) => ProbeResult::failed(match s.code() {
                    Some(c) => format!("command_exit:{c}"),
                    None => "command_exit:signal".to_owned(),
                }),
                Ok(Err(e)) => ProbeResult::failed(format!("command_error:{e}")),
                Err(_) => ProbeResult::failed("command_timeout"),
            }
        }
        Probe::Mcp { url, tls } => mcp(url, tls.as_ref(), timeout).await,
    }
}

/// The probe's MCP server as an upstream: its URL, TLS table and `timeout`; checked as a
/// registration is (its TLS files read: a bad one is refused with the service).
pub fn mcp_spec(
    url: &str,
    tls: Option<&att_gateway::upstream::tls::TlsSettings>,
    timeout: Duration,
) -> Result<att_gateway::upstream::UpstreamSpec, String> {
    let spec: att_gateway::upstream::UpstreamSpec = serde_json::from_value(serde_json::json!({
        "name": "probe", "url": url, "tls": tls,
        "init_timeout": format!("{}ms", timeout.as_millis()),
    }))
    .map_err(|e| e.to_string())?;
    att_gateway::upstream::tls::check(&spec).map_err(|e| e.to_string())?;
    Ok(spec)
}

async fn mcp(
    url: &str,
    tls: Option<&att_gateway::upstream::tls::TlsSettings>,
    timeout: Duration,
) -> ProbeResult {
    let spec = match mcp_spec(url, tls, timeout) {
        Ok(s) => s,
        Err(e) => return ProbeResult::failed(format!("mcp_error:{e}")),
    };
    let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
    match att_gateway::upstream::connection::connect(&spec, tx).await {
        Ok(c) => {
            let result = match c.ping(timeout).await {
                Ok(()) => ProbeResult::ok(),
                Err(e) => ProbeResult::failed(format!("mcp_error:{}", e.message())),
            };
            c.close().await;
            result
        }
        Err(e) => ProbeResult::failed(format!("mcp_error:{}", e.message())),
    }
}

/// A process's answer to the watchdog: `process_exited:3` the first time its end is seen,
/// `process_not_running` after that.
pub fn process_state(process: &Process, seen_exit: &mut bool) -> Option<String> {
    let exit = process.exited()?;
    Some(if std::mem::replace(seen_exit, true) {
        "process_not_running".to_owned()
    } else {
        exit.reason()
    })
}

/// The restart watchdog's verdict.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Watchdog {
    /// `true`: the process stayed up through the window.
    pub stable: bool,
    /// `runtime_healthy`, or why not (`process_exited:3`, …).
    pub reason: String,
    /// Probes made.
    pub probes: u32,
}

/// Watches `process` for `probes` probes `interval` apart: stable when it is still running
/// at the last one. An exit ends the watch at once (no waiting for the next probe).
pub async fn watchdog(process: &Process, probes: u32, interval: Duration) -> Watchdog {
    let probes = probes.max(1);
    for n in 1..=probes {
        if let Some(exit) = process.exited() {
            return Watchdog {
                stable: false,
                reason: exit.reason(),
                probes: n,
            };
        }
        if n < probes
            && let Some(exit) = process.wait_for(interval).await
        {
            return Watchdog {
                stable: false,
                reason: exit.reason(),
                probes: n + 1,
            };
        }
    }
    Watchdog {
        stable: true,
        reason: "runtime_healthy".into(),
        probes,
    }
}

/// The health gate's verdict.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct HealthGate {
    /// Whether `passes` consecutive probes passed before the deadline.
    pub healthy: bool,
    /// The last probe's answer.
    pub last: Option<ProbeResult>,
    /// Probes made.
    pub attempts: u32,
}

/// Probes until `passes` consecutive probes pass (healthy) or `deadline` passes (not), with
/// `interval` between probes. A `process` that ends fails the gate at once.
pub async fn health_gate(
    probe: &Probe,
    process: Option<&Process>,
    passes: u32,
    interval: Duration,
    deadline: Duration,
) -> HealthGate {
    let until = crate::duration::deadline(tokio::time::Instant::now(), deadline);
    let (mut streak, mut attempts, mut last) = (0, 0, None);
    loop {
        if let Some(exit) = process.and_then(Process::exited) {
            return HealthGate {
                healthy: false,
                last: Some(ProbeResult::failed(exit.reason())),
                attempts,
            };
        }
        let left = until.saturating_duration_since(tokio::time::Instant::now());
        if left.is_zero() {
            return HealthGate {
                healthy: false,
                last,
                attempts,
            };
        }
        attempts += 1;
        let result = check(probe, left.min(Duration::from_secs(10))).await;
        // A probe the gate's deadline cut short says nothing of the release: the failure
        // the gate reports stays the last one a probe saw to its end (`http_status:500`,
        // not the `http_error:timeout` of the probe in flight when time ran out).
        if !result.healthy && last.is_some() && tokio::time::Instant::now() >= until {
            continue;
        }
        streak = if result.healthy { streak + 1 } else { 0 };
        last = Some(result);
        if streak >= passes.max(1) {
            return HealthGate {
                healthy: true,
                last,
                attempts,
            };
        }
        let pause = interval.min(until.saturating_duration_since(tokio::time::Instant::now()));
        tokio::time::sleep(pause).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A command probe that overruns fails with `command_timeout`, and what it started goes
    /// with it: its whole process group is stopped, not only the program itself.
    #[tokio::test]
    async fn an_overrunning_command_probe_is_stopped_with_everything_it_started() {
        let dir = tempfile::tempdir().expect("dir");
        let pid_file = dir.path().join("grandchild");
        let script = format!("sleep 30 & echo $! > {}; wait", pid_file.display());
        let probe = Probe::Program {
            argv: vec!["sh".into(), "-c".into(), script],
            cwd: None,
        };
        let result = check(&probe, Duration::from_millis(500)).await;
        assert_eq!(
            (result.healthy, result.reason.as_str()),
            (false, "command_timeout")
        );
        let pid: u32 = std::fs::read_to_string(&pid_file)
            .expect("the probe wrote its grandchild's pid")
            .trim()
            .parse()
            .expect("a pid");
        assert!(
            crate::process::wait_gone(pid, Duration::from_secs(5)).await,
            "the probe's grandchild {pid} outlived it"
        );
    }

    /// A gate that runs out of time while a probe is in flight reports the failure the
    /// probes saw, not the timeout of the one its deadline cut short: the server answers
    /// 500 once, then never answers.
    #[tokio::test]
    async fn a_gate_reports_the_last_failure_seen_not_the_probe_its_deadline_cut_short() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}/health", listener.local_addr().expect("addr"));
        tokio::spawn(async move {
            let mut held = Vec::new();
            let mut first = true;
            while let Ok((mut socket, _)) = listener.accept().await {
                let mut buf = [0u8; 1024];
                let _ = socket.read(&mut buf).await;
                if first {
                    first = false;
                    let answer = "HTTP/1.1 500 Internal Server Error\r\ncontent-length: 0\r\nconnection: close\r\n\r\n";
                    let _ = socket.write_all(answer.as_bytes()).await;
                } else {
                    held.push(socket);
                }
            }
        });
        let gate = health_gate(
            &Probe::Http { url },
            None,
            1,
            Duration::from_millis(20),
            Duration::from_millis(800),
        )
        .await;
        assert!(!gate.healthy);
        assert_eq!(
            gate.last.map(|l| l.reason).as_deref(),
            Some("http_status:500"),
            "after {} attempts",
            gate.attempts
        );
    }
}

//! The launcher's children and the switch between them: the att serving the shared
//! listener, a candidate beside it (started, watched, promoted or aborted at the request of
//! the att it runs, over the control socket), and the file that remembers the live release.

use std::ffi::OsString;
use std::os::fd::{AsRawFd, FromRawFd};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use att_release::bootstrap::launcher::{Reply, Request};
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::process::{Child, ChildStdin};

use super::{
    CANDIDATE_ENV, CONTROL_ENV, CrashBudget, LISTEN_FD, LISTEN_FD_ENV, PROBE_FD, PROBE_FD_ENV,
    RELEASE_ENV,
};
use crate::config::Config;

/// The release the launcher runs, kept across its restarts.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub(super) struct Live {
    pub(super) program: PathBuf,
    pub(super) release: Option<String>,
}

/// A child att.
pub(super) struct Running {
    pub(super) child: Child,
    pid: u32,
    stdin: Option<ChildStdin>,
    pub(super) live: Live,
}

impl Running {
    fn signal(&self, signal: i32) {
        att_runtime::process::signal_group(self.pid, signal);
    }

    /// SIGTERM, SIGKILL after `grace`; its group is killed in any case.
    pub(super) async fn stop(&mut self, grace: Duration) {
        // Its stdin closes first: nothing it reads from there may hold up its exit.
        self.stdin = None;
        self.signal(libc::SIGTERM);
        if tokio::time::timeout(grace, self.child.wait())
            .await
            .is_err()
        {
            self.signal(libc::SIGKILL);
            let _ = self.child.wait().await;
        }
        self.signal(libc::SIGKILL);
    }

    async fn tell(&mut self, line: &str) -> Result<(), String> {
        let stdin = self
            .stdin
            .as_mut()
            .ok_or("the candidate's stdin is closed")?;
        stdin
            .write_all(format!("{line}\n").as_bytes())
            .await
            .map_err(|e| format!("could not tell the candidate to {line}: {e}"))
    }
}

/// `process_exited:3`, `process_killed:9` (as the service watchdog says).
pub(super) fn exit_reason(status: std::process::ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(c), _) => format!("process_exited:{c}"),
        (None, Some(s)) => format!("process_killed:{s}"),
        (None, None) => "process_exited".into(),
    }
}

/// The launcher.
pub(super) struct Launch {
    pub(super) config: Config,
    /// `serve` and its options, without `--listen` (the socket is handed over).
    serve_args: Vec<OsString>,
    pub(super) listener: std::net::TcpListener,
    pub(super) control: PathBuf,
    pub(super) live_file: PathBuf,
    pub(super) candidate: Option<(Running, std::net::TcpListener)>,
}

/// A socket moved to a descriptor above the ones handed to children, close-on-exec.
fn high(listener: std::net::TcpListener) -> std::io::Result<std::net::TcpListener> {
    // SAFETY: fcntl(2) duplicating a descriptor we own; the result is checked.
    let fd = unsafe { libc::fcntl(listener.as_raw_fd(), libc::F_DUPFD_CLOEXEC, 10) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    drop(listener);
    // SAFETY: `fd` was just created for us.
    Ok(unsafe { std::net::TcpListener::from_raw_fd(fd) })
}

impl Launch {
    /// Binds the shared listener (`listen`) and the control socket
    /// (`<data_dir>/launch/control.sock`, owner only); the launcher and its control listener.
    pub(super) fn open(
        config: Config,
        mut serve_args: Vec<OsString>,
    ) -> Result<(Self, UnixListener), String> {
        serve_args.insert(0, "serve".into());
        let dir = config.data_dir.join("launch");
        std::fs::create_dir_all(&dir)
            .map_err(|e| format!("cannot create `{}`: {e}", dir.display()))?;
        let listener = std::net::TcpListener::bind(config.listen)
            .and_then(high)
            .map_err(|e| format!("cannot listen on {}: {e}", config.listen))?;
        let control = dir.join("control.sock");
        let _ = std::fs::remove_file(&control);
        let control_listener = UnixListener::bind(&control)
            .map_err(|e| format!("cannot listen on `{}`: {e}", control.display()))?;
        {
            use std::os::unix::fs::PermissionsExt;
            let _ = std::fs::set_permissions(&control, std::fs::Permissions::from_mode(0o600));
        }
        let launch = Self {
            config,
            serve_args,
            listener,
            control,
            live_file: dir.join("live.json"),
            candidate: None,
        };
        Ok((launch, control_listener))
    }

    /// Starts `live` as the att serving the shared listener.
    pub(super) fn start_live(&self, live: &Live) -> Result<Running, String> {
        self.spawn(live, None)
            .map_err(|e| format!("cannot start `{}`: {e}", live.program.display()))
    }

    /// After the serving att ended with `reason`: the launcher's exit code when it stops
    /// too (att stopped cleanly, or crashed once too often), else `None` once the back-off
    /// before its restart has passed. A candidate is stopped: the att that asked for the
    /// switch is gone, and so is the switch.
    pub(super) async fn after_exit(
        &mut self,
        reason: &str,
        crashes: &mut CrashBudget,
    ) -> Option<ExitCode> {
        if let Some((mut c, _)) = self.candidate.take() {
            c.stop(Duration::from_secs(10)).await;
        }
        if reason == "process_exited:0" {
            eprintln!("att launch: att stopped; stopping");
            return Some(ExitCode::SUCCESS);
        }
        match crashes.on_crash(Instant::now()) {
            Err(count) => {
                eprintln!(
                    "att launch: att crashed {count} times within {}; not restarting it (last: {reason})",
                    humantime::format_duration(crashes.window)
                );
                Some(ExitCode::FAILURE)
            }
            Ok(delay) => {
                eprintln!(
                    "att launch: att ended ({reason}); restarting in {}",
                    humantime::format_duration(delay)
                );
                tokio::time::sleep(delay).await;
                None
            }
        }
    }

    fn spawn(
        &self,
        live: &Live,
        probe: Option<&std::net::TcpListener>,
    ) -> std::io::Result<Running> {
        let mut cmd = tokio::process::Command::new(&live.program);
        cmd.args(&self.serve_args)
            .env(LISTEN_FD_ENV, LISTEN_FD.to_string())
            .env(CONTROL_ENV, &self.control)
            .env(RELEASE_ENV, live.release.as_deref().unwrap_or_default())
            .env_remove(PROBE_FD_ENV)
            .env_remove(CANDIDATE_ENV)
            .process_group(0)
            .stdin(std::process::Stdio::piped())
            .kill_on_drop(false);
        if probe.is_some() {
            cmd.env(PROBE_FD_ENV, PROBE_FD.to_string())
                .env(CANDIDATE_ENV, "1");
        }
        let listen = self.listener.as_raw_fd();
        let probe = probe.map(AsRawFd::as_raw_fd);
        // SAFETY: only async-signal-safe calls (dup2) between fork and exec. dup2 leaves the
        // new descriptors without close-on-exec; the sources are above both targets.
        unsafe {
            cmd.pre_exec(move || {
                if libc::dup2(listen, LISTEN_FD) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                if let Some(p) = probe
                    && libc::dup2(p, PROBE_FD) < 0
                {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let mut child = cmd.spawn()?;
        let pid = child.id().unwrap_or_default();
        Ok(Running {
            stdin: child.stdin.take(),
            child,
            pid,
            live: live.clone(),
        })
    }

    fn save_live(&self, live: &Live) {
        let written = serde_json::to_vec(live)
            .map_err(std::io::Error::other)
            .and_then(|bytes| {
                let tmp = self.live_file.with_extension("tmp");
                std::fs::write(&tmp, bytes)?;
                std::fs::rename(&tmp, &self.live_file)
            });
        if let Err(e) = written {
            eprintln!("att launch: could not record the live release: {e}");
        }
    }

    /// Answers one control request; `current` is the att serving now.
    pub(super) async fn handle(
        &mut self,
        request: Request,
        current: &mut Running,
        stream: &mut UnixStream,
    ) {
        let reply = match request {
            Request::Start { program, release } => self.start(program, release).await,
            Request::Watch {
                probes,
                interval_ms,
            } => self.watch(probes, Duration::from_millis(interval_ms)).await,
            Request::Abort => {
                if let Some((mut c, _)) = self.candidate.take() {
                    c.stop(Duration::from_secs(10)).await;
                    eprintln!("att launch: candidate {} stopped", c.pid);
                }
                Reply::ok()
            }
            Request::Promote => {
                let Some((mut c, probe)) = self.candidate.take() else {
                    return answer(stream, Reply::error("no candidate is running")).await;
                };
                if let Ok(Some(status)) = c.child.try_wait() {
                    return answer(
                        stream,
                        Reply::error(format!("the candidate ended: {}", exit_reason(status))),
                    )
                    .await;
                }
                if let Err(e) = c.tell("accept").await {
                    c.stop(Duration::from_secs(10)).await;
                    return answer(stream, Reply::error(e)).await;
                }
                answer(stream, Reply::ok()).await;
                // Both serve the socket now; the old one stops accepting and drains.
                let grace = self.config.launch.switch_grace;
                let old_pid = current.pid;
                current.stop(grace).await;
                if let Err(e) = c.tell("promote").await {
                    eprintln!("att launch: {e}");
                }
                drop(probe);
                self.save_live(&c.live);
                eprintln!(
                    "att launch: switched from pid {old_pid} to pid {} (release {})",
                    c.pid,
                    c.live.release.as_deref().unwrap_or("-")
                );
                *current = c;
                return;
            }
        };
        answer(stream, reply).await;
    }

    async fn start(&mut self, program: String, release: String) -> Reply {
        if let Some((c, _)) = &self.candidate {
            return Reply::error(format!("a candidate is already running (pid {})", c.pid));
        }
        let program = PathBuf::from(program);
        if !program.is_absolute() {
            return Reply::error(format!(
                "the release's program `{}` must be an absolute path",
                program.display()
            ));
        }
        let probe = match std::net::TcpListener::bind(("127.0.0.1", 0)).and_then(high) {
            Ok(p) => p,
            Err(e) => return Reply::error(format!("could not bind a probe address: {e}")),
        };
        let addr = probe
            .local_addr()
            .map(|a| a.to_string())
            .unwrap_or_default();
        let live = Live {
            program,
            release: Some(release),
        };
        match self.spawn(&live, Some(&probe)) {
            Ok(c) => {
                eprintln!(
                    "att launch: candidate pid {} for release {} probed at {addr}",
                    c.pid,
                    live.release.as_deref().unwrap_or("-")
                );
                let pid = c.pid;
                self.candidate = Some((c, probe));
                Reply {
                    pid: Some(pid),
                    probe: Some(addr),
                    ..Reply::ok()
                }
            }
            Err(e) => Reply::error(format!("could not start `{}`: {e}", live.program.display())),
        }
    }

    async fn watch(&mut self, probes: u32, interval: Duration) -> Reply {
        let Some((c, _)) = self.candidate.as_mut() else {
            return Reply::error("no candidate is running");
        };
        for n in 1..=probes.max(1) {
            if let Ok(Some(status)) = c.child.try_wait() {
                return Reply {
                    reason: Some(exit_reason(status)),
                    ..Reply::default()
                };
            }
            if n < probes
                && let Ok(status) = tokio::time::timeout(interval, c.child.wait()).await
            {
                let reason = status.map_or_else(|e| e.to_string(), exit_reason);
                return Reply {
                    reason: Some(reason),
                    ..Reply::default()
                };
            }
        }
        Reply {
            reason: Some("runtime_healthy".into()),
            ..Reply::ok()
        }
    }
}

pub(super) async fn answer(stream: &mut UnixStream, reply: Reply) {
    let mut line = serde_json::to_vec(&reply).unwrap_or_default();
    line.push(b'\n');
    let _ = stream.write_all(&line).await;
}

pub(super) async fn read_request(stream: &mut UnixStream) -> Result<Request, String> {
    let mut line = String::new();
    let mut reader = BufReader::new(stream);
    tokio::time::timeout(Duration::from_secs(5), reader.read_line(&mut line))
        .await
        .map_err(|_| "no request within 5 s".to_owned())?
        .map_err(|e| e.to_string())?;
    serde_json::from_str(&line).map_err(|e| format!("not a request: {e}"))
}

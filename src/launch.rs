//! `att launch`: a small, long-lived parent that runs the live release of att (`att serve`)
//! as its child and performs the `self` target's switch (BOOTSTRAP.md, "Self-upgrade").
//!
//! It does not use the actor system. It owns the listening socket and hands it to its child
//! as fd 3, so the address never stops accepting connections:
//! - the child is restarted with back-off when it crashes, and the launcher gives up after
//!   `launch.crash_exits` crashes within `launch.crash_window`;
//! - a switch (asked over `<data_dir>/launch/control.sock` by the att it runs, see
//!   `att_release::bootstrap::launcher`): the new release starts beside the old one as a
//!   *candidate* with a private probe listener (fd 4) — it neither serves the shared socket
//!   nor touches services yet; after its watchdog and health gate it is told (a line on its
//!   stdin) to `accept` on the shared socket; the old att is stopped gracefully (it stops
//!   accepting and finishes its requests); then the candidate is told to `promote` itself
//!   (start the services, conclude runs). On failure the candidate is stopped and the old
//!   att never stopped serving.
//!
//! The release that runs is kept in `<data_dir>/launch/live.json`, so a restarted launcher
//! runs the release that was live.

use std::collections::VecDeque;
use std::ffi::OsString;
use std::os::fd::{AsRawFd, FromRawFd};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use att_release::bootstrap::launcher::{Launcher, Reply, Request};
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::process::{Child, ChildStdin};

use crate::config::Config;

/// The shared listener's fd in a launched att.
const LISTEN_FD: i32 = 3;
/// The candidate's probe listener's fd.
const PROBE_FD: i32 = 4;
/// Set in a launched att: `3`.
pub const LISTEN_FD_ENV: &str = "ATT_LAUNCH_LISTEN_FD";
/// Set in a candidate: `4`.
pub const PROBE_FD_ENV: &str = "ATT_LAUNCH_PROBE_FD";
/// The launcher's control socket.
pub const CONTROL_ENV: &str = "ATT_LAUNCH_CONTROL";
/// The release the launched att runs.
pub const RELEASE_ENV: &str = "ATT_LAUNCH_RELEASE";
/// `1` in a candidate.
pub const CANDIDATE_ENV: &str = "ATT_LAUNCH_CANDIDATE";
const ALL_ENV: [&str; 5] = [
    LISTEN_FD_ENV,
    PROBE_FD_ENV,
    CONTROL_ENV,
    RELEASE_ENV,
    CANDIDATE_ENV,
];

/// What `att launch` handed the att it started.
#[derive(Debug)]
pub struct Launched {
    /// The launcher's listening socket (the address clients use).
    pub listener: std::net::TcpListener,
    /// A candidate's private listener for the launcher's probes.
    pub probe: Option<std::net::TcpListener>,
    /// The launcher, for `self` runs.
    pub launcher: Launcher,
    /// A candidate: it serves `listener` only after `accept` on stdin, and starts services
    /// and concludes runs only after `promote`.
    pub candidate: bool,
}

impl Launched {
    /// Takes what the launcher handed this process (`None` when it was not launched) and
    /// removes it from the environment, so that no child of att inherits it. Call it before
    /// any other thread starts.
    pub fn take_from_env() -> Result<Option<Self>, String> {
        let vars: Vec<Option<String>> = ALL_ENV.iter().map(|k| std::env::var(k).ok()).collect();
        for k in ALL_ENV {
            // SAFETY: called at the start of `main`, before any other thread exists.
            unsafe { std::env::remove_var(k) };
        }
        let [listen, probe, control, release, candidate] = <[Option<String>; 5]>::try_from(vars)
            .map_err(|_| "the launch environment could not be read".to_owned())?;
        let Some(listen) = listen else {
            return Ok(None);
        };
        let control = control.ok_or_else(|| format!("{CONTROL_ENV} is missing"))?;
        let listener = adopt(&listen, LISTEN_FD)?;
        let probe = probe.map(|p| adopt(&p, PROBE_FD)).transpose()?;
        Ok(Some(Self {
            listener,
            probe,
            launcher: Launcher {
                control: PathBuf::from(control),
                release: release.filter(|r| !r.is_empty()),
            },
            candidate: candidate.as_deref() == Some("1"),
        }))
    }
}

/// The listening socket at `fd`, as the launcher said (`text` must name that fd).
fn adopt(text: &str, fd: i32) -> Result<std::net::TcpListener, String> {
    if text.trim() != fd.to_string() {
        return Err(format!("the launcher passed fd {text}, expected {fd}"));
    }
    // SAFETY: fcntl(2) on a descriptor number; an error (not open) is reported.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFD) };
    if flags < 0 {
        return Err(format!("fd {fd} from the launcher is not open"));
    }
    // SAFETY: as above; att's own children must not inherit the launcher's sockets.
    unsafe { libc::fcntl(fd, libc::F_SETFD, flags | libc::FD_CLOEXEC) };
    // SAFETY: the launcher handed this fd to this process for it to own.
    let listener = unsafe { std::net::TcpListener::from_raw_fd(fd) };
    listener
        .local_addr()
        .map_err(|e| format!("fd {fd} from the launcher is not a listening socket: {e}"))?;
    listener
        .set_nonblocking(true)
        .map_err(|e| format!("fd {fd}: {e}"))?;
    Ok(listener)
}

/// What a candidate is told on its stdin.
pub enum Command {
    /// Serve the shared listener too.
    Accept,
    /// Start the services and conclude runs: it is the live att now.
    Promote,
}

/// Reads a candidate's commands from stdin, one line each.
pub fn commands() -> tokio::sync::mpsc::Receiver<Command> {
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    tokio::spawn(async move {
        let mut lines = BufReader::new(tokio::io::stdin()).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            let command = match line.trim() {
                "accept" => Command::Accept,
                "promote" => Command::Promote,
                other => {
                    tracing::warn!(line = other, "unknown command from the launcher");
                    continue;
                }
            };
            if tx.send(command).await.is_err() {
                break;
            }
        }
    });
    rx
}

/// The release the launcher runs, kept across its restarts.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
struct Live {
    program: PathBuf,
    release: Option<String>,
}

/// A child att.
struct Running {
    child: Child,
    pid: u32,
    stdin: Option<ChildStdin>,
    live: Live,
}

impl Running {
    fn signal(&self, signal: i32) {
        att_runtime::process::signal_group(self.pid, signal);
    }

    /// SIGTERM, SIGKILL after `grace`; its group is killed in any case.
    async fn stop(&mut self, grace: Duration) {
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
fn exit_reason(status: std::process::ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(c), _) => format!("process_exited:{c}"),
        (None, Some(s)) => format!("process_killed:{s}"),
        (None, None) => "process_exited".into(),
    }
}

/// The launcher.
struct Launch {
    config: Config,
    /// `serve` and its options, without `--listen` (the socket is handed over).
    serve_args: Vec<OsString>,
    listener: std::net::TcpListener,
    control: PathBuf,
    live_file: PathBuf,
    candidate: Option<(Running, std::net::TcpListener)>,
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
    async fn handle(&mut self, request: Request, current: &mut Running, stream: &mut UnixStream) {
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

async fn answer(stream: &mut UnixStream, reply: Reply) {
    let mut line = serde_json::to_vec(&reply).unwrap_or_default();
    line.push(b'\n');
    let _ = stream.write_all(&line).await;
}

async fn read_request(stream: &mut UnixStream) -> Result<Request, String> {
    let mut line = String::new();
    let mut reader = BufReader::new(stream);
    tokio::time::timeout(Duration::from_secs(5), reader.read_line(&mut line))
        .await
        .map_err(|_| "no request within 5 s".to_owned())?
        .map_err(|e| e.to_string())?;
    serde_json::from_str(&line).map_err(|e| format!("not a request: {e}"))
}

/// Runs `att launch` with `config`; `serve_args` are the options passed to each `att serve`.
pub fn run(config: Config, serve_args: Vec<OsString>) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("att launch: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(launch(config, serve_args))
}

async fn launch(config: Config, mut serve_args: Vec<OsString>) -> ExitCode {
    serve_args.insert(0, "serve".into());
    let dir = config.data_dir.join("launch");
    if let Err(e) = std::fs::create_dir_all(&dir) {
        eprintln!("att launch: cannot create `{}`: {e}", dir.display());
        return ExitCode::FAILURE;
    }
    let listener = match std::net::TcpListener::bind(config.listen).and_then(high) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("att launch: cannot listen on {}: {e}", config.listen);
            return ExitCode::FAILURE;
        }
    };
    let addr = listener
        .local_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    let control = dir.join("control.sock");
    let _ = std::fs::remove_file(&control);
    let control_listener = match UnixListener::bind(&control) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("att launch: cannot listen on `{}`: {e}", control.display());
            return ExitCode::FAILURE;
        }
    };
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(&control, std::fs::Permissions::from_mode(0o600));
    }
    let live_file = dir.join("live.json");
    let live = std::fs::read(&live_file)
        .ok()
        .and_then(|b| serde_json::from_slice::<Live>(&b).ok())
        .filter(|l| l.program.exists())
        .unwrap_or_else(|| Live {
            program: std::env::current_exe().unwrap_or_else(|_| PathBuf::from("att")),
            release: None,
        });
    let signals = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .and_then(|t| {
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())
                .map(|i| (t, i))
        });
    let Ok((mut term, mut int)) = signals else {
        eprintln!("att launch: cannot install signal handlers");
        return ExitCode::FAILURE;
    };
    let mut launch = Launch {
        config,
        serve_args,
        listener,
        control,
        live_file,
        candidate: None,
    };
    println!("att listening on http://{addr}");
    eprintln!(
        "att launch: running {} (release {})",
        live.program.display(),
        live.release.as_deref().unwrap_or("-")
    );
    let mut crashes: VecDeque<Instant> = VecDeque::new();
    let mut current = match launch.spawn(&live, None) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("att launch: cannot start `{}`: {e}", live.program.display());
            return ExitCode::FAILURE;
        }
    };
    loop {
        tokio::select! {
            status = current.child.wait() => {
                let reason = status.map_or_else(|e| e.to_string(), exit_reason);
                if let Some((mut c, _)) = launch.candidate.take() {
                    // The att that asked for the switch is gone: so is the switch.
                    c.stop(Duration::from_secs(10)).await;
                }
                if reason == "process_exited:0" {
                    eprintln!("att launch: att stopped; stopping");
                    return ExitCode::SUCCESS;
                }
                let now = Instant::now();
                crashes.push_back(now);
                let window = launch.config.launch.crash_window;
                while crashes.front().is_some_and(|t| now.duration_since(*t) > window) {
                    crashes.pop_front();
                }
                let limit = usize::try_from(launch.config.launch.crash_exits).unwrap_or(usize::MAX);
                if crashes.len() >= limit {
                    eprintln!(
                        "att launch: att crashed {} times within {}; not restarting it (last: {reason})",
                        crashes.len(), humantime::format_duration(window)
                    );
                    return ExitCode::FAILURE;
                }
                let k = u32::try_from(crashes.len() - 1).unwrap_or(16).min(16);
                let delay = Duration::from_millis(200).saturating_mul(1 << k).min(Duration::from_secs(30));
                eprintln!("att launch: att ended ({reason}); restarting in {}", humantime::format_duration(delay));
                tokio::time::sleep(delay).await;
                let live = current.live.clone();
                current = match launch.spawn(&live, None) {
                    Ok(c) => c,
                    Err(e) => {
                        eprintln!("att launch: cannot start `{}`: {e}", live.program.display());
                        return ExitCode::FAILURE;
                    }
                };
            }
            accepted = control_listener.accept() => {
                let Ok((mut stream, _)) = accepted else { continue };
                match read_request(&mut stream).await {
                    Ok(request) => launch.handle(request, &mut current, &mut stream).await,
                    Err(e) => answer(&mut stream, Reply::error(e)).await,
                }
            }
            _ = term.recv() => break,
            _ = int.recv() => break,
        }
    }
    eprintln!("att launch: stopping");
    let grace = launch.config.launch.switch_grace;
    if let Some((mut c, _)) = launch.candidate.take() {
        c.stop(grace).await;
    }
    current.stop(grace).await;
    let _ = std::fs::remove_file(&launch.control);
    ExitCode::SUCCESS
}

/// The options of `att serve` to pass on, without `--listen` (the socket is handed over).
pub fn serve_args(args: &crate::cli::ServeArgs) -> Vec<OsString> {
    let mut out: Vec<OsString> = Vec::new();
    let mut path = |flag: &str, p: &Option<PathBuf>| {
        if let Some(p) = p {
            out.push(flag.into());
            out.push(absolute(p).into_os_string());
        }
    };
    path("--config", &args.config);
    path("--data-dir", &args.data_dir);
    path("--mcp-config", &args.mcp_config);
    if let Some(format) = args.log_format {
        use clap::ValueEnum;
        if let Some(v) = format.to_possible_value() {
            out.push("--log-format".into());
            out.push(v.get_name().into());
        }
    }
    out
}

fn absolute(p: &Path) -> PathBuf {
    std::path::absolute(p).unwrap_or_else(|_| p.to_owned())
}

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
//!
//! Here: the launcher's loop and its crash budget. `switch`: its children and the control
//! requests that switch between them. `launched`: the other side — what a launched att
//! takes over from the launcher.

mod launched;
mod switch;

pub use launched::{Command, Launched, commands};

use std::collections::VecDeque;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use att_release::bootstrap::launcher::Reply;
use tokio::signal::unix::{Signal, SignalKind, signal};

use crate::config::Config;
use switch::{Launch, Live, answer, exit_reason, read_request};

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

async fn launch(config: Config, serve_args: Vec<OsString>) -> ExitCode {
    match supervise(config, serve_args).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("att launch: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Opens the sockets, runs the live release, and until a signal: restarts it when it
/// crashes (within the crash budget) and answers the control socket.
async fn supervise(config: Config, serve_args: Vec<OsString>) -> Result<ExitCode, String> {
    let (mut launch, control_listener) = Launch::open(config, serve_args)?;
    let live = read_live(&launch.live_file);
    let (mut term, mut int) = stop_signals()?;
    let addr = launch
        .listener
        .local_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    let scheme = if launch.config.http.tls_cert.is_some() {
        "https"
    } else {
        "http"
    };
    println!("att listening on {scheme}://{addr}");
    eprintln!(
        "att launch: running {} (release {})",
        live.program.display(),
        live.release.as_deref().unwrap_or("-")
    );
    let mut crashes = CrashBudget::new(
        launch.config.launch.crash_exits,
        launch.config.launch.crash_window,
    );
    let mut current = launch.start_live(&live)?;
    loop {
        tokio::select! {
            status = current.child.wait() => {
                let reason = status.map_or_else(|e| e.to_string(), exit_reason);
                if let Some(code) = launch.after_exit(&reason, &mut crashes).await {
                    return Ok(code);
                }
                current = launch.start_live(&current.live.clone())?;
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
    Ok(ExitCode::SUCCESS)
}

/// The release that was live when the launcher last ran, or this binary.
fn read_live(live_file: &Path) -> Live {
    std::fs::read(live_file)
        .ok()
        .and_then(|b| serde_json::from_slice::<Live>(&b).ok())
        .filter(|l| l.program.exists())
        .unwrap_or_else(|| Live {
            program: std::env::current_exe().unwrap_or_else(|_| PathBuf::from("att")),
            release: None,
        })
}

/// SIGTERM and SIGINT, which stop the launcher and the att it runs.
fn stop_signals() -> Result<(Signal, Signal), String> {
    let term = signal(SignalKind::terminate());
    let int = signal(SignalKind::interrupt());
    term.and_then(|t| int.map(|i| (t, i)))
        .map_err(|e| format!("cannot install signal handlers: {e}"))
}

/// How many crashes of att the launcher forgives: fewer than `limit` within `window`. Each
/// restart waits 200 ms, doubled per crash still in the window, at most 30 s.
struct CrashBudget {
    limit: usize,
    window: Duration,
    crashes: VecDeque<Instant>,
}

impl CrashBudget {
    fn new(limit: u32, window: Duration) -> Self {
        Self {
            limit: usize::try_from(limit).unwrap_or(usize::MAX),
            window,
            crashes: VecDeque::new(),
        }
    }

    /// Records a crash at `now`: how long to wait before the restart, or (the budget is
    /// spent) how many crashes the window holds.
    fn on_crash(&mut self, now: Instant) -> Result<Duration, usize> {
        self.crashes.push_back(now);
        while self
            .crashes
            .front()
            .is_some_and(|t| now.duration_since(*t) > self.window)
        {
            self.crashes.pop_front();
        }
        if self.crashes.len() >= self.limit {
            return Err(self.crashes.len());
        }
        let k = u32::try_from(self.crashes.len() - 1).unwrap_or(16).min(16);
        Ok(Duration::from_millis(200)
            .saturating_mul(1 << k)
            .min(Duration::from_secs(30)))
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_back_off_doubles_per_crash_in_the_window_until_the_budget_is_spent() {
        let mut budget = CrashBudget::new(4, Duration::from_secs(60));
        let t0 = Instant::now();
        let delays: Vec<_> = (0..3)
            .map(|i| budget.on_crash(t0 + Duration::from_secs(i)))
            .collect();
        assert_eq!(
            delays,
            [200, 400, 800].map(|ms| Ok(Duration::from_millis(ms)))
        );
        assert_eq!(budget.on_crash(t0 + Duration::from_secs(3)), Err(4));
    }

    #[test]
    fn crashes_older_than_the_window_are_forgiven() {
        let mut budget = CrashBudget::new(2, Duration::from_secs(60));
        let t0 = Instant::now();
        assert_eq!(budget.on_crash(t0), Ok(Duration::from_millis(200)));
        let later = t0 + Duration::from_secs(61);
        assert_eq!(budget.on_crash(later), Ok(Duration::from_millis(200)));
        assert_eq!(budget.on_crash(later), Err(2));
    }

    #[test]
    fn the_back_off_stops_growing_at_30_s() {
        let mut budget = CrashBudget::new(100, Duration::from_secs(3600));
        let t0 = Instant::now();
        let last = (0..20)
            .map(|i| budget.on_crash(t0 + Duration::from_millis(i)))
            .last();
        assert_eq!(last, Some(Ok(Duration::from_secs(30))));
    }
}

//! The launched att's side of `att launch`: what the launcher handed it (the shared
//! listener as fd 3, a candidate's probe listener as fd 4, the control socket and the
//! release, in `ATT_LAUNCH_*` variables), and the commands a candidate reads on its stdin.

use std::os::fd::FromRawFd;
use std::path::PathBuf;

use att_release::bootstrap::launcher::Launcher;
use tokio::io::{AsyncBufReadExt, BufReader};

use super::{ALL_ENV, CONTROL_ENV, LISTEN_FD, PROBE_FD};

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

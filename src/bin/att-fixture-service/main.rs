//! `att-fixture-service`: a small HTTP service for testing the release pipeline.
//!
//! `att-fixture-service --port PORT [--release ID] [--previous ID] [--health-status CODE]
//!  [--crash-after-ms N] [--crash-after-healthy-ms N] [--fail-start] [--ignore-sigterm] [--spawn-grandchild]
//!  [--message-file PATH] [--health-file PATH]`
//!
//! Serves `GET /health` (200 "ok", or CODE) and `GET /version` (the release id) on
//! 127.0.0.1:PORT (0: any free port) — or, when started by socket activation
//! (`LISTEN_FDS`, `LISTEN_PID` its pid: the systemd protocol), on the sockets passed as
//! descriptors 3, 4, … (att's shared socket and, with `probe_socket`, the process's private
//! probe socket: the same routes on each), and then SIGTERM is a graceful stop (no new
//! connections; what was accepted is answered). On start it prints `release_id=ID
//! previous_release_id=ID` and `listening on http://ADDR`. `--fail-start` exits 1 before
//! listening; `--crash-after-ms` exits 3 after N ms; `--crash-after-healthy-ms` exits 3 N ms
//! after it first answered `/health` with success (a release that passes its health gate and
//! then dies, for the post-deploy guard); `--ignore-sigterm` ignores SIGTERM (only
//! SIGKILL stops it); `--spawn-grandchild` starts `sleep 3600` beside itself (its pid is
//! printed as `grandchild=PID`), to check that a stop takes the whole process group.
//! `--message-file` serves the file's text (read at start) at `GET /message`;
//! `--health-file` reads the `/health` status code from a file at start (a release's own
//! files, for the change → deploy tests).

use std::process::ExitCode;
use std::time::Duration;

struct Options {
    port: u16,
    release: String,
    previous: String,
    health_status: u16,
    crash_after: Option<Duration>,
    crash_after_healthy: Option<Duration>,
    fail_start: bool,
    ignore_sigterm: bool,
    grandchild: bool,
    message: String,
}

fn parse() -> Result<Options, String> {
    let mut o = Options {
        port: 0,
        release: "dev".into(),
        previous: String::new(),
        health_status: 200,
        crash_after: None,
        crash_after_healthy: None,
        fail_start: false,
        ignore_sigterm: false,
        grandchild: false,
        message: String::new(),
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = |name: &str| args.next().ok_or(format!("{name} needs a value"));
        match arg.as_str() {
            "--port" => {
                o.port = value("--port")?
                    .parse()
                    .map_err(|e| format!("--port: {e}"))?
            }
            "--release" => o.release = value("--release")?,
            "--previous" => o.previous = value("--previous")?,
            "--health-status" => {
                o.health_status = value("--health-status")?
                    .parse()
                    .map_err(|e| format!("--health-status: {e}"))?;
            }
            "--crash-after-ms" => {
                let ms: u64 = value("--crash-after-ms")?
                    .parse()
                    .map_err(|e| format!("--crash-after-ms: {e}"))?;
                o.crash_after = Some(Duration::from_millis(ms));
            }
            "--crash-after-healthy-ms" => {
                let ms: u64 = value("--crash-after-healthy-ms")?
                    .parse()
                    .map_err(|e| format!("--crash-after-healthy-ms: {e}"))?;
                o.crash_after_healthy = Some(Duration::from_millis(ms));
            }
            "--fail-start" => o.fail_start = true,
            "--ignore-sigterm" => o.ignore_sigterm = true,
            "--spawn-grandchild" => o.grandchild = true,
            "--message-file" => {
                let path = value("--message-file")?;
                o.message = std::fs::read_to_string(&path)
                    .map_err(|e| format!("--message-file {path}: {e}"))?;
            }
            "--health-file" => {
                let path = value("--health-file")?;
                let text = std::fs::read_to_string(&path)
                    .map_err(|e| format!("--health-file {path}: {e}"))?;
                o.health_status = text
                    .trim()
                    .parse()
                    .map_err(|e| format!("--health-file {path}: {e}"))?;
            }
            other => return Err(format!("unknown argument `{other}`")),
        }
    }
    Ok(o)
}

fn main() -> ExitCode {
    let o = match parse() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("att-fixture-service: {e}");
            return ExitCode::from(2);
        }
    };
    println!(
        "release_id={} previous_release_id={}",
        o.release, o.previous
    );
    if o.fail_start {
        eprintln!("att-fixture-service: failing at start on purpose");
        return ExitCode::from(1);
    }
    if o.ignore_sigterm {
        // SAFETY: setting SIGTERM's disposition to ignore, before any thread starts.
        unsafe {
            libc::signal(libc::SIGTERM, libc::SIG_IGN);
        }
    }
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("att-fixture-service: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(serve(o))
}

async fn serve(o: Options) -> ExitCode {
    use axum::http::StatusCode;
    use axum::routing::get;
    use std::io::Write;

    if o.grandchild {
        match std::process::Command::new("sleep").arg("3600").spawn() {
            Ok(c) => println!("grandchild={}", c.id()),
            Err(e) => eprintln!("att-fixture-service: no grandchild: {e}"),
        }
    }
    let passed = passed_sockets();
    let activated = !passed.is_empty();
    let bound = if activated {
        passed
            .into_iter()
            .map(tokio::net::TcpListener::from_std)
            .collect::<Result<Vec<_>, _>>()
    } else {
        tokio::net::TcpListener::bind(("127.0.0.1", o.port))
            .await
            .map(|l| vec![l])
    };
    let listeners = match bound {
        Ok(l) => l,
        Err(e) => {
            eprintln!("att-fixture-service: cannot listen on port {}: {e}", o.port);
            return ExitCode::FAILURE;
        }
    };
    // SIGTERM ends a socket-activated service gracefully: the socket lives on in the
    // release that replaces it, so nothing it accepted may be dropped.
    let graceful = activated && !o.ignore_sigterm;
    let sigterm = if graceful {
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok()
    } else {
        None
    };
    let addrs: Vec<String> = listeners
        .iter()
        .map(|l| l.local_addr().map(|a| a.to_string()).unwrap_or_default())
        .collect();
    let status = StatusCode::from_u16(o.health_status).unwrap_or(StatusCode::OK);
    let release = o.release.clone();
    let message = o.message.clone();
    // Told when `/health` first answered with success (for `--crash-after-healthy-ms`).
    let healthy = std::sync::Arc::new(tokio::sync::Notify::new());
    let told = healthy.clone();
    let app = axum::Router::new()
        .route(
            "/health",
            get(move || {
                let told = told.clone();
                async move {
                    let body = if status.is_success() {
                        told.notify_one();
                        "ok"
                    } else {
                        "unhealthy"
                    };
                    (status, body)
                }
            }),
        )
        .route("/version", get(move || async move { release }))
        .route(
            "/message",
            get(move || {
                let m = message.clone();
                async move { m }
            }),
        );
    for addr in &addrs {
        println!("listening on http://{addr}");
    }
    let _ = std::io::stdout().flush();
    let (closing, closed) = tokio::sync::watch::channel(false);
    let served = futures_util::future::select_all(listeners.into_iter().map(|inner| {
        let listener = Closing {
            inner,
            closing: closed.clone(),
            closed: false,
        };
        Box::pin(axum::serve(listener, app.clone()).into_future())
    }));
    let crash = async {
        match (o.crash_after, o.crash_after_healthy) {
            (Some(after), _) => tokio::time::sleep(after).await,
            (None, Some(after)) => {
                healthy.notified().await;
                tokio::time::sleep(after).await;
            }
            (None, None) => std::future::pending().await,
        }
    };
    // A socket-activated stop: no more accepting (the next release takes the queue), what
    // was accepted is answered, then the process ends.
    let term = async move {
        match sigterm {
            Some(mut s) => {
                s.recv().await;
                let _ = closing.send(true);
                tokio::time::sleep(LINGER).await;
            }
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        (r, _, _) = served => match r {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("att-fixture-service: {e}");
                ExitCode::FAILURE
            }
        },
        () = crash => {
            eprintln!("att-fixture-service: crashing on purpose");
            ExitCode::from(3)
        }
        () = term => ExitCode::SUCCESS,
    }
}

/// How long a socket-activated service answers what it accepted after SIGTERM.
const LINGER: Duration = Duration::from_millis(300);

/// The listener, which stops accepting once told (SIGTERM of a socket-activated service);
/// connections it accepted are served on. Accepted connections get `TCP_NODELAY`.
struct Closing {
    inner: tokio::net::TcpListener,
    closing: tokio::sync::watch::Receiver<bool>,
    closed: bool,
}

impl axum::serve::Listener for Closing {
    type Io = tokio::net::TcpStream;
    type Addr = std::net::SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let closing = *self.closing.borrow();
            if self.closed || closing {
                self.closed = true;
                std::future::pending::<()>().await;
            }
            tokio::select! {
                r = self.inner.accept() => match r {
                    Ok((stream, addr)) => {
                        let _ = stream.set_nodelay(true);
                        return (stream, addr);
                    }
                    // Out of descriptors, say: try again shortly.
                    Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
                },
                r = self.closing.changed() => {
                    let closing = *self.closing.borrow();
                    self.closed = r.is_err() || closing;
                }
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.inner.local_addr()
    }
}

/// The listening sockets passed by socket activation (descriptors 3, 4, …), when this
/// process is their recipient.
fn passed_sockets() -> Vec<std::net::TcpListener> {
    use std::os::fd::FromRawFd;
    let fds: Option<i32> = std::env::var("LISTEN_FDS")
        .ok()
        .and_then(|n| n.parse().ok());
    let pid: Option<u32> = std::env::var("LISTEN_PID")
        .ok()
        .and_then(|p| p.parse().ok());
    let (Some(fds), Some(pid)) = (fds, pid) else {
        return Vec::new();
    };
    if pid != std::process::id() || !(1..=8).contains(&fds) {
        return Vec::new();
    }
    (3..3 + fds)
        .filter_map(|fd| {
            // SAFETY: by the protocol, descriptors 3.. are listening sockets handed to this
            // process alone (LISTEN_PID is its pid), and nothing else here uses them.
            let listener = unsafe { std::net::TcpListener::from_raw_fd(fd) };
            listener.set_nonblocking(true).ok()?;
            Some(listener)
        })
        .collect()
}

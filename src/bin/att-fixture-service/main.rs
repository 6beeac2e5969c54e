//! `att-fixture-service`: a small HTTP service for testing the release pipeline.
//!
//! `att-fixture-service --port PORT [--release ID] [--previous ID] [--health-status CODE]
//!  [--crash-after-ms N] [--fail-start] [--ignore-sigterm] [--spawn-grandchild]
//!  [--message-file PATH] [--health-file PATH]`
//!
//! Serves `GET /health` (200 "ok", or CODE) and `GET /version` (the release id) on
//! 127.0.0.1:PORT (0: any free port). On start it prints `release_id=ID
//! previous_release_id=ID` and `listening on http://ADDR`. `--fail-start` exits 1 before
//! listening; `--crash-after-ms` exits 3 after N ms; `--ignore-sigterm` ignores SIGTERM (only
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
    let listener = match tokio::net::TcpListener::bind(("127.0.0.1", o.port)).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("att-fixture-service: cannot listen on port {}: {e}", o.port);
            return ExitCode::FAILURE;
        }
    };
    let addr = listener
        .local_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    let status = StatusCode::from_u16(o.health_status).unwrap_or(StatusCode::OK);
    let release = o.release.clone();
    let message = o.message.clone();
    let app = axum::Router::new()
        .route(
            "/health",
            get(move || async move {
                let body = if status.is_success() {
                    "ok"
                } else {
                    "unhealthy"
                };
                (status, body)
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
    println!("listening on http://{addr}");
    let _ = std::io::stdout().flush();
    let served = axum::serve(att::http::listener::with_nodelay(listener), app);
    match o.crash_after {
        Some(after) => {
            tokio::select! {
                _ = served => ExitCode::SUCCESS,
                () = tokio::time::sleep(after) => {
                    eprintln!("att-fixture-service: crashing on purpose after {} ms", after.as_millis());
                    ExitCode::from(3)
                }
            }
        }
        None => match served.await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("att-fixture-service: {e}");
                ExitCode::FAILURE
            }
        },
    }
}

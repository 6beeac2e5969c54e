//! The `att` binary.

use std::process::ExitCode;

use att::cli::{Cli, Command, ServeArgs};
use att::config::{self, Config};
use clap::Parser;

fn main() -> ExitCode {
    att_gateway::upstream::tls::install_crypto_provider();
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(args) => serve(args),
        Command::Launch(args) => {
            let config = match load_config(&args) {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("att: configuration error: {e}");
                    return ExitCode::from(2);
                }
            };
            att::launch::run(config, att::launch::serve_args(&args))
        }
        Command::Mcp(args) => match tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        {
            Ok(rt) => rt.block_on(att::client::run(args)),
            Err(e) => {
                eprintln!("att: cannot start the async runtime: {e}");
                ExitCode::FAILURE
            }
        },
        Command::Completions { shell } => {
            use clap::CommandFactory;
            use std::io::Write;
            // Into memory first: clap_complete panics on a write error (`| head`).
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "att", &mut script);
            match std::io::stdout().write_all(&script) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("att: cannot write the completion script: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Keys(args) => match tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        {
            Ok(rt) => rt.block_on(att::client::keys(args)),
            Err(e) => {
                eprintln!("att: cannot start the async runtime: {e}");
                ExitCode::FAILURE
            }
        },
        Command::Bootstrap(args) => match tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        {
            Ok(rt) => rt.block_on(att::client::bootstrap(args)),
            Err(e) => {
                eprintln!("att: cannot start the async runtime: {e}");
                ExitCode::FAILURE
            }
        },
    }
}

fn load_config(args: &ServeArgs) -> Result<Config, config::ConfigError> {
    let mut config = config::load(args.config.as_deref(), std::env::vars())?;
    if let Some(listen) = args.listen {
        config.listen = listen;
    }
    if let Some(dir) = &args.data_dir {
        config.data_dir.clone_from(dir);
    }
    if let Some(format) = args.log_format {
        config.log_format = format;
    }
    if let Some(path) = &args.mcp_config {
        let text = std::fs::read_to_string(path).map_err(|source| config::ConfigError::Read {
            path: path.clone(),
            source,
        })?;
        let env = |var: &str| std::env::var(var).ok();
        let import = att_gateway::upstream::from_mcp_servers_json(&text, &env).map_err(|e| {
            config::ConfigError::Key {
                key: e.field,
                origin: format!("--mcp-config `{}`", path.display()),
                message: e.message,
            }
        })?;
        // Before logging starts: said on stderr, one line per entry left out.
        for skipped in &import.skipped {
            eprintln!(
                "att: --mcp-config `{}`: skipped `{}`: {}",
                path.display(),
                skipped.name,
                skipped.reason
            );
        }
        config.upstreams.extend(import.specs);
    }
    config.validate()?;
    Ok(config)
}

fn serve(args: ServeArgs) -> ExitCode {
    // Before any thread starts: it edits the environment.
    let launched = match att::launch::Launched::take_from_env() {
        Ok(l) => l,
        Err(e) => {
            eprintln!("att: {e}");
            return ExitCode::from(2);
        }
    };
    let config = match load_config(&args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("att: configuration error: {e}");
            return ExitCode::from(2);
        }
    };
    att::telemetry::init(config.log_format, &config.log_level, &config.telemetry);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("att: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let code = runtime.block_on(async move {
        // Installed before anything starts, so an early SIGTERM is a clean stop, not a kill.
        let signals = match ShutdownSignals::install() {
            Ok(s) => s,
            Err(e) => {
                eprintln!("att: cannot install signal handlers: {e}");
                return ExitCode::FAILURE;
            }
        };
        let quiet = launched.is_some();
        let scheme = if config.http.tls_cert.is_some() {
            "https"
        } else {
            "http"
        };
        let server = match att::server::start_launched(config, launched).await {
            Ok(s) => s,
            Err(e) => {
                eprintln!("att: cannot start: {e}");
                return ExitCode::FAILURE;
            }
        };
        // The one line on stdout: scripts and tests read the bound address from it (the
        // launcher printed it for a launched att).
        if !quiet {
            println!("att listening on {scheme}://{}", server.local_addr);
        }
        let stop = server.stop_token();
        tokio::spawn(async move {
            signals.recv().await;
            tracing::info!("shutdown signal received");
            stop.cancel();
        });
        server.wait().await;
        ExitCode::SUCCESS
    });
    // A blocking read (a launched att's stdin) must not hold up the exit.
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    code
}

/// SIGTERM and SIGINT, either of which starts a graceful shutdown.
struct ShutdownSignals {
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
}

impl ShutdownSignals {
    fn install() -> std::io::Result<Self> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(Self {
            term: signal(SignalKind::terminate())?,
            int: signal(SignalKind::interrupt())?,
        })
    }

    async fn recv(mut self) {
        tokio::select! {
            _ = self.term.recv() => {},
            _ = self.int.recv() => {},
        }
    }
}

//! `att serve`: prepare the data directory, open the store, start the actor tree, serve HTTP,
//! and at shutdown do it all in reverse — stop accepting, let in-flight requests finish
//! (bounded), stop the actors children-first, flush the event log, close the store.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use att_gateway::tree::{AttTree, TreeConfig};
use att_runtime::events::{EventStore, NewEvent};
use att_runtime::supervisor::RestartPolicy;
use serde_json::json;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::gateway::Gateway;
use crate::http::{self, AppState, AppStateParts};
use crate::metrics::{Meters, Metrics};
use crate::store::seal::{self, Seal};
use crate::store::{OpenError, Store};

/// Why att could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The data directory is unusable.
    #[error("data directory `{path}` is not usable: {reason}")]
    DataDir {
        /// The directory.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The store could not be opened.
    #[error(transparent)]
    Store(#[from] OpenError),
    /// The actor tree could not start.
    #[error("the actor tree could not start: {0}")]
    Actors(String),
    /// The event log shared with other atts could not be read.
    #[error("cannot read the shared event log: {0}")]
    EventLog(String),
    /// `tool_prefix = "never"` and two upstreams offer one tool name with different schemas.
    #[error("tool_prefix = \"never\" needs unique tool names, but: {0}")]
    ToolConflicts(String),
    /// The key that seals secrets at rest could not be read or made.
    #[error("cannot seal secrets at rest: {0}")]
    Seal(crate::store::seal::SealError),
    /// The API keys could not be read.
    #[error("cannot read the API keys: {0}")]
    Keys(String),
    /// `[http] tls_cert` / `tls_key` do not load.
    #[error("cannot serve HTTPS: {0}")]
    Tls(String),
    /// The threads that serve connections (`[http] lanes`) could not be started.
    #[error("cannot start the HTTP lanes: {0}")]
    Lanes(std::io::Error),
    /// The listen address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
}

/// A running att: its address, its handles, and the way to stop it.
pub struct Server {
    /// The bound address (the real port when `listen` asked for port 0).
    pub local_addr: SocketAddr,
    /// The actor tree's handles.
    pub tree: Arc<AttTree>,
    tools: Arc<crate::tools::Tools>,
    auth: Arc<crate::auth::Auth>,
    stop: CancellationToken,
    task: JoinHandle<()>,
}

impl Server {
    /// The workspace tools (what `/mcp` and `/api/v1/projects` call).
    pub fn tools(&self) -> Arc<crate::tools::Tools> {
        self.tools.clone()
    }

    /// Who may call (keys made here work at once, as if made over the API).
    pub fn auth(&self) -> Arc<crate::auth::Auth> {
        self.auth.clone()
    }

    /// Begins a graceful shutdown and waits until it is complete.
    pub async fn shutdown(self) {
        self.stop.cancel();
        let _ = self.task.await;
    }

    /// Waits until the server has stopped (after `trigger` fires, for instance).
    pub async fn wait(self) {
        let _ = self.task.await;
    }

    /// A token that, when cancelled, shuts the server down.
    pub fn stop_token(&self) -> CancellationToken {
        self.stop.clone()
    }
}

/// Makes sure `dir` exists and att can write in it.
fn prepare_data_dir(dir: &Path) -> Result<(), StartError> {
    let fail = |reason: String| StartError::DataDir {
        path: dir.to_owned(),
        reason,
    };
    std::fs::create_dir_all(dir).map_err(|e| fail(e.to_string()))?;
    let probe = dir.join(".att-write-probe");
    std::fs::write(&probe, b"ok").map_err(|e| fail(format!("cannot write in it: {e}")))?;
    let _ = std::fs::remove_file(&probe);
    Ok(())
}

/// Starts att as configured; returns once it is listening.
pub async fn start(config: Config) -> Result<Server, StartError> {
    start_launched(config, None).await
}

/// Concludes the runs a killed att left `running` (in the background of the actor).
async fn recover_runs(directory: att_runtime::directory::ActorDirectory) {
    match att_release::bootstrap::BootstrapHandle::new(directory)
        .recover()
        .await
    {
        Ok(0) => {}
        Ok(n) => tracing::warn!(runs = n, "concluding runs interrupted by the last stop"),
        Err(e) => tracing::error!(error = %e, "could not recover interrupted runs"),
    }
}

/// The actor tree's settings from att's configuration.
fn tree_config(config: &Config) -> TreeConfig {
    TreeConfig {
        restart: tree_restart(config),
        stop_timeout: config.actors.stop_timeout,
        trace_capacity: config.actors.trace_capacity,
        event_queue_capacity: config.events.queue_capacity,
        live_capacity: config.events.live_capacity,
        // Atts sharing a log hear each other's events by following it (`events_tail`).
        live_from_log: config.database_url.is_some(),
        clock: att_runtime::clock::system(),
    }
}

/// Starts att as configured, on the socket `att launch` handed over when `launched`; a
/// candidate release serves only its probe listener until the launcher says `accept`, and
/// starts the services and concludes runs only when it says `promote`.
pub async fn start_launched(
    config: Config,
    launched: Option<crate::launch::Launched>,
) -> Result<Server, StartError> {
    let (handed, launcher, candidate) = match launched {
        Some(l) => (Some((l.listener, l.probe)), Some(l.launcher), l.candidate),
        None => (None, None, false),
    };
    let tls = load_tls(&config)?;
    prepare_data_dir(&config.data_dir)?;
    let store = open_store(&config).await?;
    let event_store: Arc<dyn EventStore> = store.clone();
    // A shared log's follower starts where the log is before anything can listen to it.
    let log_start = if config.database_url.is_some() {
        match crate::events_tail::start_position(event_store.as_ref()).await {
            Ok(at) => Some(at),
            Err(e) => {
                store.close().await;
                return Err(StartError::EventLog(e.to_string()));
            }
        }
    } else {
        None
    };
    let tree = match AttTree::start(event_store, tree_config(&config)).await {
        Ok(tree) => Arc::new(tree),
        Err(e) => {
            store.close().await;
            return Err(StartError::Actors(e.to_string()));
        }
    };
    let meters = Meters::default();
    // Whatever fails from here stops what started, in reverse.
    let started = async {
        let (gateway, services) = start_domain(
            &config,
            launcher.as_ref(),
            candidate,
            &tree,
            &store,
            &meters,
        )
        .await?;
        let sockets = bind(&config, handed).await?;
        Ok::<_, StartError>((gateway, services, sockets))
    }
    .await;
    let (gateway, services, (listener, probe)) = match started {
        Ok(started) => started,
        Err(e) => {
            tree.shutdown().await;
            store.close().await;
            return Err(e);
        }
    };
    let local_addr = listener.local_addr().map_err(|source| StartError::Bind {
        addr: config.listen,
        source,
    })?;
    record_start(&tree, &config, local_addr).await;

    let stop = CancellationToken::new();
    // A candidate serves the shared socket once the launcher says so.
    let accepting = CancellationToken::new();
    // Runs requested of this node by other atts are announced on the target locks' table.
    let requests = store
        .watch(stop.child_token())
        .and_then(|c| c.of("target_locks"));
    if candidate {
        follow_launcher(
            accepting.clone(),
            services.clone(),
            tree.directory.clone(),
            requests,
            stop.clone(),
        );
    } else {
        accepting.cancel();
        sweep_runs(tree.directory.clone(), requests, stop.clone());
    }
    let (tools, auth, cluster) =
        match start_edge(&config, &store, &tree, &services, &stop, local_addr).await {
            Ok(edge) => edge,
            Err(e) => {
                tree.shutdown().await;
                store.close().await;
                return Err(e);
            }
        };
    follow_store_changes(&store, &gateway, &services, &tools, &stop);
    if let Some(changes) = store.watch(stop.child_token())
        && let Some(wake) = changes.of("events")
        && let Some(from) = log_start
    {
        let log: Arc<dyn EventStore> = store.clone();
        crate::events_tail::follow_shared_log(log, tree.events.clone(), from, wake, stop.clone());
    }
    let limits = crate::limits::Limits::new(&config.limits);
    let sessions = restore_sessions(&config, &store).await;
    follow_dashboard_sessions(&store, &sessions, &stop);
    let metrics = Metrics::new(
        tree.directory.clone(),
        limits.clone(),
        gateway.router(),
        &meters,
    );
    let state = AppState::new(AppStateParts {
        auth: auth.clone(),
        sessions,
        login_limit: Arc::default(),
        limits,
        tools: tools.clone(),
        gateway,
        services,
        directory: tree.directory.clone(),
        events: tree.events.clone(),
        releases: store.clone(),
        store_health: store.clone(),
        mcp_sessions: store.mcp_sessions(),
        cluster: cluster.clone(),
        metrics,
        shutdown: stop.child_token(),
        started: Instant::now(),
        release: launcher
            .as_ref()
            .and_then(|l| l.release.clone())
            .map(Arc::from),
    });
    let app = http::router(
        state,
        &config.http,
        config.gateway.tool_prefix,
        &config.profiles,
    );
    let lanes = http::lanes::Lanes::start(http::lanes::Lanes::count(config.http.lanes))
        .map_err(StartError::Lanes)?;
    let serving = Serving {
        listener,
        lanes,
        probe,
        accepting,
        limits: http::listener::Limits {
            max_connections: http::listener::fit_to_fd_limit(config.http.max_connections),
            header_read_timeout: config.http.header_read_timeout,
        },
        tls,
        grace: config.http.shutdown_grace,
        // A launched att hands its socket over to the next release (see `serve`).
        drain: if launcher.is_some() {
            config.launch.drain
        } else {
            std::time::Duration::ZERO
        },
    };
    let task = tokio::spawn(serve(app, serving, stop.clone(), tree.clone(), store));
    tracing::info!(%local_addr, "att listening");
    Ok(Server {
        local_addr,
        tree,
        tools,
        auth,
        stop,
        task,
    })
}

/// This node in the cluster ([`crate::cluster`]): its id from the data directory, its first
/// heartbeat written (a failure is logged; the heartbeats go on trying).
async fn join_cluster(
    config: &Config,
    store: &Arc<dyn Store>,
    local_addr: SocketAddr,
) -> Result<Arc<crate::cluster::Cluster>, StartError> {
    let id = crate::cluster::node_id(&config.data_dir).map_err(|reason| StartError::DataDir {
        path: config.data_dir.clone(),
        reason,
    })?;
    let now = time::OffsetDateTime::now_utc();
    let cluster = Arc::new(crate::cluster::Cluster {
        store: store.clone(),
        node: crate::cluster::NodeRecord {
            id,
            address: local_addr.to_string(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            started_at: now,
            heartbeat_at: now,
        },
    });
    if let Err(e) = cluster.beat().await {
        tracing::warn!(error = %e.0, "cluster heartbeat not written");
    }
    Ok(cluster)
}

/// The store, its secrets sealed with the key of `ATT_SECRET_KEY` or the data directory,
/// its events naming this node.
/// The dashboard's sessions, kept in the store: those of before a restart are read back (a
/// store that cannot give them is logged; the browsers log in again).
async fn restore_sessions(
    config: &Config,
    store: &Arc<dyn Store>,
) -> Arc<http::dashboard::session::Sessions> {
    let kept: Arc<dyn http::dashboard::session::SessionStore> = store.clone();
    let sessions =
        http::dashboard::session::Sessions::new(config.http.tls_cert.is_some()).stored_in(kept);
    match sessions.restore().await {
        Ok(n) => tracing::debug!(sessions = n, "dashboard sessions restored"),
        Err(e) => tracing::warn!(error = %e, "dashboard sessions: could not read them back"),
    }
    Arc::new(sessions)
}

async fn open_store(config: &Config) -> Result<Arc<dyn Store>, StartError> {
    let seal = Seal::load(
        &config.data_dir,
        std::env::var(seal::KEY_ENV).ok().as_deref(),
    )
    .map_err(StartError::Seal)?;
    let node = crate::cluster::node_id(&config.data_dir).map_err(|reason| StartError::DataDir {
        path: config.data_dir.clone(),
        reason,
    })?;
    Ok(crate::store::open(
        config.database_url.as_ref(),
        &config.data_dir,
        Arc::new(seal),
        node,
    )
    .await?)
}

/// `[http] tls_cert` and `tls_key`, loaded when both are set.
fn load_tls(config: &Config) -> Result<Option<Arc<http::tls::ServerTls>>, StartError> {
    Ok(match (&config.http.tls_cert, &config.http.tls_key) {
        (Some(cert), Some(key)) => Some(Arc::new(
            http::tls::ServerTls::load(http::tls::TlsFiles {
                cert: cert.clone(),
                key: key.clone(),
                client_ca: config.http.tls_client_ca.clone(),
            })
            .map_err(StartError::Tls)?,
        )),
        _ => None,
    })
}

/// What [`start_edge`] starts: the tools, the credentials, this node in the cluster.
type Edge = (
    Arc<crate::tools::Tools>,
    Arc<crate::auth::Auth>,
    Arc<crate::cluster::Cluster>,
);

/// The workspace tools (test runs a stopped att left concluded), the credentials att
/// accepts, and this node's place in the cluster.
async fn start_edge(
    config: &Config,
    store: &Arc<dyn Store>,
    tree: &AttTree,
    services: &Arc<crate::services::Services>,
    stop: &CancellationToken,
    local_addr: SocketAddr,
) -> Result<Edge, StartError> {
    let tools = Arc::new(crate::tools::Tools::new(
        store.clone(),
        tree.events.clone(),
        services.clone(),
        att_release::bootstrap::BootstrapHandle::new(tree.directory.clone()),
        store.clone(),
        config.workspace.clone(),
        stop.child_token(),
    ));
    let cluster = join_cluster(config, store, local_addr).await?;
    cluster.keep_beating(stop.child_token());
    match tools.recover_test_runs().await {
        Ok(0) => {}
        Ok(n) => tracing::info!(
            runs = n,
            "test runs left running by a stopped att: interrupted"
        ),
        Err(e) => tracing::warn!(
            error = e.message(),
            "could not conclude the test runs left running"
        ),
    }
    let https = config.http.tls_cert.is_some();
    let oidc = config
        .auth
        .oidc
        .as_ref()
        .map(|c| crate::auth::oidc::Oidc::new(c, https));
    let auth = crate::auth::Auth::load(
        config.api_token.as_deref().map(Arc::from),
        store.clone(),
        oidc,
    )
    .await
    .map_err(|e| StartError::Keys(e.0))?;
    Ok((tools, Arc::new(auth), cluster))
}

/// Starts what runs on the actor tree: the gateway, the services, the release pipeline (and
/// concludes the runs a killed att left), and checks the federated tool names.
async fn start_domain(
    config: &Config,
    launcher: Option<&att_release::bootstrap::launcher::Launcher>,
    candidate: bool,
    tree: &Arc<AttTree>,
    store: &Arc<dyn Store>,
    meters: &Meters,
) -> Result<(Arc<Gateway>, Arc<crate::services::Services>), StartError> {
    let policy = att_gateway::upstream::HealthPolicy {
        unreachable_after: config.gateway.unreachable_after,
        backoff_base: config.gateway.retry_backoff,
        backoff_cap: config.gateway.retry_backoff_cap,
    };
    let gateway = Gateway::start(
        tree.clone(),
        store.clone(),
        config.upstreams.clone(),
        policy,
        tree_restart(config),
        config.gateway.max_upstreams,
        meters,
    )
    .await
    .map_err(|e| StartError::Actors(e.to_string()))?;
    let services = crate::services::Services::start(
        tree.clone(),
        store.clone(),
        &config.data_dir,
        config.services.clone(),
        tree_restart(config),
        candidate,
        store
            .seal()
            .map(|s| s as Arc<dyn att_runtime::secret::Sealer>),
    )
    .await
    .map_err(|e| StartError::Actors(e.to_string()))?;

    // The release pipeline, a run-time child of the root supervisor; its runs hold their
    // targets' locks in this node's name.
    let node = crate::cluster::node_id(&config.data_dir).map_err(|reason| StartError::DataDir {
        path: config.data_dir.clone(),
        reason,
    })?;
    let bootstrap_args = att_release::bootstrap::BootstrapArgs {
        store: store.clone(),
        directory: tree.directory.clone(),
        // Counted for the release metrics on their way to the event log.
        events: Arc::new(crate::metrics::runs::RunMeteredSink {
            inner: Arc::new(tree.events.clone()),
            metrics: meters.runs.clone(),
        }),
        limit: att_release::policy::RollbackLimit::default(),
        data_dir: config.data_dir.clone(),
        launcher: launcher.cloned(),
        self_build: config.launch.build.clone(),
        node,
        live_within: crate::cluster::LIVE_WITHIN,
    };
    let bootstrap = att_runtime::supervisor::ChildSpec::new(
        att_release::bootstrap::NAME,
        tree_restart(config),
        move || {
            (
                att_release::bootstrap::BootstrapActor,
                bootstrap_args.clone(),
            )
        },
    );
    att_runtime::supervisor::SupervisorHandle::new(
        tree.directory.clone(),
        att_gateway::tree::names::ROOT,
    )
    .start_child(bootstrap)
    .await
    .map_err(|e| StartError::Actors(e.to_string()))?;
    // Runs a killed att left `running` are concluded now; a candidate does it once promoted.
    if !candidate {
        recover_runs(tree.directory.clone()).await;
    }

    if config.gateway.tool_prefix == att_gateway::federation::PrefixMode::Never {
        let conflicts = gateway.tool_conflicts().await;
        if !conflicts.is_empty() {
            let list: Vec<String> = conflicts.iter().map(ToString::to_string).collect();
            return Err(StartError::ToolConflicts(list.join("; ")));
        }
    }
    Ok((gateway, services))
}

/// The listening socket (handed over by the launcher, or bound to `listen`) and the
/// launcher's private probe socket, if any.
async fn bind(
    config: &Config,
    handed: Option<(std::net::TcpListener, Option<std::net::TcpListener>)>,
) -> Result<(TcpListener, Option<TcpListener>), StartError> {
    let bind_error = |source| StartError::Bind {
        addr: config.listen,
        source,
    };
    match handed {
        Some((listener, probe)) => Ok((
            TcpListener::from_std(listener).map_err(bind_error)?,
            probe
                .map(TcpListener::from_std)
                .transpose()
                .map_err(bind_error)?,
        )),
        None => Ok((
            TcpListener::bind(config.listen).await.map_err(bind_error)?,
            None,
        )),
    }
}

/// Records `att.started`.
async fn record_start(tree: &AttTree, config: &Config, local_addr: SocketAddr) {
    let started = tree
        .events
        .append(NewEvent::new(
            "att.started",
            json!({
                "pid": std::process::id(),
                "version": env!("CARGO_PKG_VERSION"),
                "listen": local_addr.to_string(),
                "data_dir": config.data_dir.display().to_string(),
            }),
        ))
        .await;
    if let Err(e) = started {
        tracing::warn!(error = %e, "could not record the start event");
    }
}

/// Follows the registrations other att processes sharing the database make (PostgreSQL):
/// on each change of a table, or after the listener reconnected, it is read again — the
/// gateway's upstreams, this node's services (a service another att now owns, or removed,
/// is stopped here), the projects.
fn follow_store_changes(
    store: &Arc<dyn Store>,
    gateway: &Arc<Gateway>,
    services: &Arc<crate::services::Services>,
    tools: &Arc<crate::tools::Tools>,
    stop: &CancellationToken,
) {
    let Some(changes) = store.watch(stop.child_token()) else {
        return;
    };
    let gateway = gateway.clone();
    follow(&changes, "upstreams", stop, move || {
        let gateway = gateway.clone();
        async move { gateway.sync_from_store().await.map_err(|e| e.to_string()) }
    });
    let services = services.clone();
    follow(&changes, "services", stop, move || {
        let services = services.clone();
        async move { services.sync().await.map_err(|e| e.to_string()) }
    });
    let tools = tools.clone();
    follow(&changes, "projects", stop, move || {
        let tools = tools.clone();
        async move { Ok(tools.reload_projects().await) }
    });
}

/// Drops the dashboard sessions ended on another att (PostgreSQL): a logout anywhere ends
/// the session everywhere.
fn follow_dashboard_sessions(
    store: &Arc<dyn Store>,
    sessions: &Arc<http::dashboard::session::Sessions>,
    stop: &CancellationToken,
) {
    let Some(changes) = store.watch(stop.child_token()) else {
        return;
    };
    let sessions = sessions.clone();
    follow(&changes, "dashboard_sessions", stop, move || {
        let sessions = sessions.clone();
        async move { sessions.follow_store().await.map_err(|e| e.to_string()) }
    });
}

/// Runs `apply` whenever `table` may have changed, until `stop`.
fn follow<F, Fut>(
    changes: &crate::store::Changes,
    table: &'static str,
    stop: &CancellationToken,
    apply: F,
) where
    F: Fn() -> Fut + Send + 'static,
    Fut: std::future::Future<Output = Result<usize, String>> + Send,
{
    let Some(changed) = changes.of(table) else {
        return;
    };
    let stop = stop.clone();
    tokio::spawn(async move {
        loop {
            tokio::select! {
                () = stop.cancelled() => return,
                () = changed.notified() => {}
            }
            match apply().await {
                Ok(0) => {}
                Ok(n) => tracing::info!(table, changed = n, "changed by another att: applied"),
                Err(error) => {
                    tracing::warn!(table, %error, "changed by another att: not applied");
                }
            }
        }
    });
}

/// Sweeps the target locks every [`crate::cluster::HEARTBEAT`], and at once when another
/// att announces a run requested of this node (`requests`, PostgreSQL; a lost announcement
/// waits for the next tick): concludes the runs this node may take on — those of nodes
/// that died ([`att_release::bootstrap::step::concludes`]), requests nobody will start —
/// and starts the runs requested of it ([`att_release::bootstrap::step::requested`]).
fn sweep_runs(
    directory: att_runtime::directory::ActorDirectory,
    requests: Option<Arc<tokio::sync::Notify>>,
    stop: CancellationToken,
) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(crate::cluster::HEARTBEAT);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.tick().await;
        loop {
            let announced = async {
                match &requests {
                    Some(r) => r.notified().await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                () = stop.cancelled() => return,
                _ = tick.tick() => {}
                () = announced => {}
            }
            recover_runs(directory.clone()).await;
        }
    });
}

/// A candidate release: opens `accepting` at the launcher's first word, and on `Promote`
/// starts the services and concludes the runs its predecessor left (then keeps sweeping).
fn follow_launcher(
    accepting: CancellationToken,
    services: Arc<crate::services::Services>,
    directory: att_runtime::directory::ActorDirectory,
    requests: Option<Arc<tokio::sync::Notify>>,
    stop: CancellationToken,
) {
    let mut commands = crate::launch::commands();
    tokio::spawn(async move {
        while let Some(command) = commands.recv().await {
            accepting.cancel();
            if let crate::launch::Command::Promote = command {
                tracing::info!("promoted by the launcher: starting services");
                if let Err(e) = services.start_deferred().await {
                    tracing::error!(error = %e, "could not start the services");
                }
                recover_runs(directory.clone()).await;
                sweep_runs(directory.clone(), requests.clone(), stop.clone());
            }
        }
    });
}

/// How att serves: its sockets, when it may accept on the shared one, its bounds, and how
/// it stops.
struct Serving {
    listener: TcpListener,
    /// Where connections are served; dropped (ending the lanes' threads) once everything has
    /// stopped.
    lanes: http::lanes::Lanes,
    probe: Option<TcpListener>,
    accepting: CancellationToken,
    limits: http::listener::Limits,
    tls: Option<Arc<http::tls::ServerTls>>,
    grace: std::time::Duration,
    drain: std::time::Duration,
}

/// Serves `app` until `stop`, then stops the actors and closes the store.
///
/// A launched att hands its socket over to the next release: at a stop it first drains —
/// it accepts no new connection (the next release takes them) but answers on the open ones
/// for `launch.drain`, each response closing its connection, so that the clients'
/// kept-alive connections end cleanly after an answer rather than being cut while a request
/// may be on its way — and only then stops serving. In-flight requests get `grace`.
async fn serve(
    app: axum::Router,
    serving: Serving,
    stop: CancellationToken,
    tree: Arc<AttTree>,
    store: Arc<dyn Store>,
) {
    let Serving {
        listener,
        lanes,
        probe,
        accepting,
        limits,
        tls,
        grace,
        drain,
    } = serving;
    let draining = CancellationToken::new();
    let app = {
        let draining = draining.clone();
        app.layer(axum::middleware::map_response(
            move |mut response: axum::response::Response| {
                let draining = draining.clone();
                async move {
                    if draining.is_cancelled() {
                        response.headers_mut().insert(
                            axum::http::header::CONNECTION,
                            axum::http::HeaderValue::from_static("close"),
                        );
                    }
                    response
                }
            },
        ))
    };
    let http_stop = CancellationToken::new();
    {
        let (stop, http_stop, draining) = (stop.clone(), http_stop.clone(), draining.clone());
        tokio::spawn(async move {
            stop.cancelled().await;
            if !drain.is_zero() {
                draining.cancel();
                tokio::time::sleep(drain).await;
            }
            http_stop.cancel();
        });
    }
    let shared = async {
        tokio::select! {
            () = accepting.cancelled() => {
                http::listener::serve(listener, &lanes, app.clone(), limits, tls.clone(), draining.clone(), http_stop.clone()).await;
            }
            () = http_stop.cancelled() => {}
        }
    };
    let private = async {
        if let Some(p) = probe {
            // The launcher's private probe socket stays plain HTTP: only the launcher, on
            // loopback, speaks to it.
            http::listener::serve(
                p,
                &lanes,
                app.clone(),
                limits,
                None,
                draining.clone(),
                http_stop.clone(),
            )
            .await;
        }
    };
    {
        let serve = std::pin::pin!(async { tokio::join!(shared, private) });
        tokio::select! {
            _ = serve => {},
            () = async { http_stop.cancelled().await; tokio::time::sleep(grace).await } => {
                tracing::warn!(?grace, "in-flight requests did not finish within the shutdown grace; dropping them");
            }
        }
    }
    tracing::info!("HTTP server stopped; stopping actors");
    let stopping = NewEvent::new("att.stopping", json!({ "pid": std::process::id() }));
    if let Err(e) = tree.events.append(stopping).await {
        tracing::warn!(error = %e, "could not record the stop event");
    }
    tree.shutdown().await;
    store.close().await;
    // Last: a task a request started may have been stopping with the actors.
    drop(lanes);
    tracing::info!("att stopped");
}

fn tree_restart(config: &Config) -> RestartPolicy {
    RestartPolicy {
        backoff_base: config.actors.restart_backoff,
        backoff_cap: config.actors.restart_backoff_cap,
        max_restarts: config.actors.max_restarts,
        window: config.actors.restart_window,
    }
}

//! The service actor: owns one managed service's process. It starts it, restarts it with
//! back-off when it exits on its own, stops restarting after a crash loop, and stops it
//! group-wide on request or when the actor stops.
//!
//! What runs is recorded in `<data_dir>/services/<name>/state.json` as soon as it is
//! spawned: the process's [`Identity`] (pid, group, start time, instance marker), the
//! release and the command. An att that was killed leaves that record behind; the next one
//! stops exactly that process group — recognized by its start time or its marker, never by
//! its program name — before it starts the service again, so a service never runs twice.
//! The record says `process: null` only once nothing runs.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use serde::Serialize;
use serde_json::json;
use time::OffsetDateTime;

use super::CrashLoop;
use super::spec::ServiceSpec;
use crate::events::{EventSink, NewEvent};
use crate::process::Identity;
use crate::process::child::{self, Exit, Process, Program};
use crate::process::log::RotatingLog;
use crate::trace::MessageMeta;

pub use super::handle::ServiceHandle;

/// A log file is rotated past this size…
pub const LOG_MAX_BYTES: u64 = 10 * 1024 * 1024;
/// …keeping this many older files.
pub const LOG_KEEP: usize = 3;
/// First restart delay after an exit; doubles per exit in the crash window, up to the cap.
const RESTART_BASE: Duration = Duration::from_millis(200);
const RESTART_CAP: Duration = Duration::from_secs(30);

/// Where a service stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ServiceState {
    /// Not running, and not meant to.
    Stopped,
    /// Running.
    Running,
    /// It exited; a restart is scheduled.
    Restarting,
    /// It exited too often within the crash window: not restarted until started again.
    CrashLoop,
    /// It could not be started (the program is missing, say).
    FailedToStart,
}

/// What `GET /api/v1/services/{name}` shows.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ServiceStatus {
    /// The service.
    pub name: String,
    /// Where it stands.
    pub state: ServiceState,
    /// The running process.
    pub pid: Option<u32>,
    /// When the running process started.
    #[serde(with = "time::serde::rfc3339::option")]
    pub started_at: Option<OffsetDateTime>,
    /// How the last process ended.
    pub last_exit: Option<Exit>,
    /// Why it could not start, for `failed_to_start`.
    pub error: Option<String>,
    /// Automatic restarts so far.
    pub restarts: u64,
    /// The release it runs, once one was deployed (`None`: the spec's own command).
    pub release: Option<String>,
    /// How its health is checked.
    pub health: Option<super::probe::Probe>,
    /// Its log file.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub log_file: PathBuf,
}

/// The running process of a service, and how its health is checked: the spec's probe,
/// sent to the process's private probe socket when it has one (see [`super::socket`]).
#[derive(Debug, Clone)]
pub struct Running {
    /// The process.
    pub process: Arc<Process>,
    /// Its probe (`None`: the spec has none; running is healthy).
    pub health: Option<super::probe::Probe>,
}

/// What the service actor is started with.
pub struct ServiceArgs {
    /// The service.
    pub spec: ServiceSpec,
    /// Its log file (resolved: the spec's, or one under the data directory).
    pub log_file: PathBuf,
    /// Where its events go.
    pub events: Arc<dyn EventSink>,
    /// Start it right away.
    pub autostart: bool,
    /// Where it records what runs (pid, release, command), so that an att that was killed
    /// finds the process it left behind and the release it ran (`None`: not recorded).
    pub state_file: Option<PathBuf>,
    /// Seals the command's environment values in the state file (`None`: kept in the
    /// clear).
    pub sealer: Option<Arc<dyn crate::secret::Sealer>>,
}

/// What a service's state file holds.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
struct Recorded {
    /// The running process's pid (for people reading the file; `process` identifies it).
    pid: Option<u32>,
    /// Who the running process is (`None`: nothing runs).
    #[serde(default)]
    process: Option<Identity>,
    release: Option<String>,
    command: Program,
    /// Stopped on request: it stays stopped when att starts again.
    #[serde(default)]
    held: bool,
    /// Replaced releases still serving beside it (a service with `listen`, mid-switch).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    leaving: Vec<Identity>,
}

/// A recorded command with its environment values opened (see
/// [`ServiceActorState::sealed_command`]).
fn opened(mut command: Program, args: &ServiceArgs) -> Result<Program, String> {
    if let Some(sealer) = &args.sealer {
        for (name, value) in &mut command.env {
            let aad = format!("services/{}/state/env/{name}", args.spec.name);
            *value = sealer.open(&aad, value)?;
        }
    }
    if command
        .env
        .iter()
        .any(|(_, v)| v == crate::secret::REDACTED)
    {
        return Err("its environment was not recorded".into());
    }
    Ok(command)
}

/// Messages of the service actor.
pub enum ServiceMsg {
    /// Start it (the running process's status if it runs already).
    Start(RpcReplyPort<Result<ServiceStatus, String>>),
    /// Stop it (SIGTERM, SIGKILL after the grace), and do not restart it.
    Stop(RpcReplyPort<ServiceStatus>),
    /// Stop it, then start it.
    Restart(RpcReplyPort<Result<ServiceStatus, String>>),
    /// Its status.
    Status(RpcReplyPort<ServiceStatus>),
    /// The process `pid` ended.
    Exited(u32, Exit),
    /// A scheduled restart is due (ignored unless `generation` is the latest).
    RestartDue(u64),
    /// Switch to a release: stop the running process, start `command` (it becomes what
    /// restarts run), remember `release`.
    Deploy {
        /// What the release runs.
        command: Program,
        /// The release id.
        release: String,
        /// The status after the start, or why it could not start.
        reply: RpcReplyPort<Result<ServiceStatus, String>>,
    },
    /// Retire the replaced releases still serving (a service with `listen`): they serve on
    /// for the spec's `drain`, then are stopped. Answers how many there were.
    Retire(RpcReplyPort<usize>),
    /// The running process and the probe that reaches it (for the watchdog, the health
    /// gate and the guard).
    Process(RpcReplyPort<Option<Running>>),
    /// Its spec (for the `build` phase).
    Spec(RpcReplyPort<ServiceSpec>),
}

impl MessageMeta for ServiceMsg {
    fn kind(&self) -> &'static str {
        match self {
            Self::Start(_) => "start",
            Self::Stop(_) => "stop",
            Self::Restart(_) => "restart",
            Self::Status(_) => "status",
            Self::Exited(..) => "exited",
            Self::RestartDue(_) => "restart_due",
            Self::Deploy { .. } => "deploy",
            Self::Retire(_) => "retire",
            Self::Process(_) => "process",
            Self::Spec(_) => "spec",
        }
    }
}

/// The service actor's state.
pub struct ServiceActorState {
    spec: ServiceSpec,
    log: Arc<RotatingLog>,
    log_file: PathBuf,
    events: Arc<dyn EventSink>,
    process: Option<Arc<Process>>,
    started_at: Option<OffsetDateTime>,
    state: ServiceState,
    last_exit: Option<Exit>,
    error: Option<String>,
    restarts: u64,
    crash: CrashLoop,
    /// Bumped by every start and stop: a restart scheduled before is stale.
    generation: u64,
    /// What a start runs: the spec's command, or the deployed release's.
    command: Program,
    release: Option<String>,
    state_file: Option<PathBuf>,
    sealer: Option<Arc<dyn crate::secret::Sealer>>,
    /// Stopped on request (recorded, so a restarted att leaves it stopped).
    held: bool,
    /// The listening socket every release gets (a spec with `listen`).
    socket: Option<Arc<std::net::TcpListener>>,
    /// Replaced releases still serving on the socket until retired.
    leaving: Vec<Arc<Process>>,
    /// The running process's private probe socket's address (a spec with `probe_socket`).
    probe_addr: Option<std::net::SocketAddr>,
}

/// The service actor.
pub struct ServiceActor;

impl ServiceActorState {
    fn status(&self) -> ServiceStatus {
        ServiceStatus {
            name: self.spec.name.clone(),
            state: self.state,
            pid: self.process.as_ref().map(|p| p.pid()),
            started_at: self.started_at,
            last_exit: self.last_exit.clone(),
            error: self.error.clone(),
            restarts: self.restarts,
            release: self.release.clone(),
            health: self.spec.health.clone(),
            log_file: self.log_file.clone(),
        }
    }

    fn event(&self, kind: &str, mut data: serde_json::Value) {
        data["name"] = json!(self.spec.name);
        self.events.emit(NewEvent::new(kind, data));
    }

    /// Starts the process unless it runs; a waiter reports its end to the actor.
    fn start(&mut self, myself: &ActorRef<ServiceMsg>) -> Result<(), String> {
        if self.process.is_some() {
            return Ok(());
        }
        if self.release.is_none() && self.spec.needs_release() {
            let error = format!(
                "service `{}` runs a built release and none is deployed yet: start a run \
                 (`att bootstrap run service:{}`)",
                self.spec.name, self.spec.name
            );
            self.state = ServiceState::FailedToStart;
            self.error = Some(error.clone());
            return Err(error);
        }
        self.generation += 1;
        let probe = match self.probe_socket() {
            Ok(p) => p,
            Err(e) => {
                let error = format!("cannot bind a probe socket for `{}`: {e}", self.spec.name);
                self.state = ServiceState::FailedToStart;
                self.error = Some(error.clone());
                return Err(error);
            }
        };
        let passed: Vec<_> = {
            use std::os::fd::AsRawFd;
            let shared = self
                .socket
                .iter()
                .map(|s| (s.as_raw_fd(), self.spec.name.as_str()));
            let private = probe
                .iter()
                .map(|(_, l)| (l.as_raw_fd(), super::socket::PROBE_NAME));
            shared.chain(private).collect()
        };
        match child::spawn_with(&self.command, self.log.clone(), &passed) {
            Ok(p) => {
                let p = Arc::new(p);
                // The child holds its probe socket now; att's copy goes with `probe`.
                self.probe_addr = probe.map(|(addr, _)| addr);
                // Recorded before anything else: from here on a killed att leaves a
                // process the next one must find.
                self.process = Some(p.clone());
                self.record();
                let (waiter, me) = (p.clone(), myself.clone());
                tokio::spawn(async move {
                    let exit = waiter.wait().await;
                    let _ = me.send_message(ServiceMsg::Exited(waiter.pid(), exit));
                });
                self.event("service.started", json!({"pid": p.pid()}));
                self.started_at = Some(OffsetDateTime::now_utc());
                self.state = ServiceState::Running;
                self.error = None;
                Ok(())
            }
            Err(e) => {
                let error = format!("cannot start `{}`: {e}", self.command.program);
                self.event("service.failed_to_start", json!({"error": error}));
                self.state = ServiceState::FailedToStart;
                self.error = Some(error.clone());
                Err(error)
            }
        }
    }

    /// A private probe socket for the process a start makes, and its address (a spec with
    /// `listen` and `probe_socket`). att's copy is dropped once the child has it.
    fn probe_socket(
        &self,
    ) -> std::io::Result<Option<(std::net::SocketAddr, std::net::TcpListener)>> {
        match (self.spec.probe_socket, self.spec.listen, &self.socket) {
            (true, Some(listen), Some(_)) => {
                let private = super::socket::bind_probe(listen)?;
                Ok(Some((private.local_addr()?, private)))
            }
            _ => Ok(None),
        }
    }

    /// The running process and the probe that reaches it.
    fn running(&self) -> Option<Running> {
        let process = self.process.clone()?;
        let health = match (&self.spec.health, self.spec.listen, self.probe_addr) {
            (Some(h), Some(listen), Some(private)) => {
                Some(super::socket::probe_at(h, listen, private))
            }
            (h, _, _) => h.clone(),
        };
        Some(Running { process, health })
    }

    /// The command as the state file keeps it: its environment values sealed.
    fn sealed_command(&self) -> Program {
        let mut command = self.command.clone();
        if let Some(sealer) = &self.sealer {
            for (name, value) in &mut command.env {
                let aad = format!("services/{}/state/env/{name}", self.spec.name);
                match sealer.seal(&aad, value) {
                    Ok(sealed) => *value = sealed,
                    // Never written in the clear: the release is then not resumed.
                    Err(_) => *value = crate::secret::REDACTED.to_owned(),
                }
            }
        }
        command
    }

    /// Writes the state file (best effort: a failure is logged).
    fn record(&self) {
        let Some(path) = &self.state_file else { return };
        let recorded = Recorded {
            pid: self.process.as_ref().map(|p| p.pid()),
            process: self.process.as_ref().map(|p| p.identity().clone()),
            release: self.release.clone(),
            command: self.sealed_command(),
            held: self.held,
            leaving: self.leaving.iter().map(|p| p.identity().clone()).collect(),
        };
        let written = path
            .parent()
            .map_or(Ok(()), std::fs::create_dir_all)
            .and_then(|()| {
                let tmp = path.with_extension("tmp");
                std::fs::write(&tmp, serde_json::to_vec(&recorded).unwrap_or_default())?;
                std::fs::rename(&tmp, path)
            });
        if let Err(e) = written {
            tracing::warn!(service = %self.spec.name, error = %e, "could not write the service's state file");
        }
    }

    /// Switches to `command` (release `release`) with the old release still serving: it is
    /// kept `leaving` until [`ServiceMsg::Retire`]. When the new one cannot start, the old
    /// one stays what runs.
    fn switch(
        &mut self,
        myself: &ActorRef<ServiceMsg>,
        command: Program,
        release: String,
    ) -> Result<(), String> {
        let before = (self.command.clone(), self.release.clone());
        let old = self.process.take();
        self.command = command;
        self.release = Some(release);
        if let Err(e) = self.start(myself) {
            if let Some(old) = old {
                (self.command, self.release) = before;
                self.process = Some(old);
                self.state = ServiceState::Running;
                self.record();
            }
            return Err(e);
        }
        self.leaving.extend(old);
        self.record();
        Ok(())
    }

    async fn stop(&mut self) {
        for p in std::mem::take(&mut self.leaving) {
            p.stop(self.spec.stop_grace).await;
        }
        self.generation += 1;
        if let Some(p) = self.process.take() {
            let exit = p.stop(self.spec.stop_grace).await;
            self.event("service.stopped", json!({"pid": p.pid(), "exit": exit}));
            self.last_exit = Some(exit);
        }
        self.started_at = None;
        self.state = ServiceState::Stopped;
        self.record();
    }
}

impl Actor for ServiceActor {
    type Msg = ServiceMsg;
    type State = ServiceActorState;
    type Arguments = ServiceArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<ServiceMsg>,
        args: ServiceArgs,
    ) -> Result<ServiceActorState, ActorProcessingErr> {
        let crash = CrashLoop::new(
            usize::try_from(args.spec.crash_exits).unwrap_or(usize::MAX),
            args.spec.crash_window,
        );
        // What a previous att left: its process group is stopped, its release kept.
        let recorded: Option<Recorded> = args
            .state_file
            .as_ref()
            .and_then(|p| std::fs::read(p).ok())
            .and_then(|b| serde_json::from_slice(&b).ok());
        let held = recorded.as_ref().is_some_and(|r| r.held);
        for identity in recorded.iter().flat_map(|r| &r.leaving) {
            crate::process::stop_orphan(identity, args.spec.stop_grace).await;
        }
        let (command, release) = match recorded {
            Some(r) => {
                match (&r.process, r.pid) {
                    (Some(identity), _) => {
                        let found =
                            crate::process::stop_orphan(identity, args.spec.stop_grace).await;
                        if found > 0 {
                            tracing::warn!(service = %args.spec.name, pid = identity.pid, processes = found,
                                "stopped what a previous att left running of this service");
                        }
                    }
                    (None, Some(pid)) => tracing::warn!(service = %args.spec.name, pid,
                        "the state file (from an older att) has a pid but no identity: a process it left running cannot be told from a reused pid and is left alone"),
                    (None, None) => {}
                }
                match (r.release, opened(r.command, &args)) {
                    (Some(release), Ok(command)) => (command, Some(release)),
                    (Some(release), Err(e)) => {
                        tracing::error!(service = %args.spec.name, %release, error = %e,
                            "the state file's command cannot be opened: starting the service's own command instead of the release");
                        (args.spec.command(), None)
                    }
                    (None, _) => (args.spec.command(), None),
                }
            }
            None => (args.spec.command(), None),
        };
        let mut state = ServiceActorState {
            command,
            release,
            state_file: args.state_file,
            sealer: args.sealer,
            log: Arc::new(RotatingLog::new(&args.log_file, LOG_MAX_BYTES, LOG_KEEP)),
            log_file: args.log_file,
            spec: args.spec,
            events: args.events,
            process: None,
            started_at: None,
            state: ServiceState::Stopped,
            last_exit: None,
            error: None,
            restarts: 0,
            crash,
            generation: 0,
            held,
            socket: None,
            leaving: Vec::new(),
            probe_addr: None,
        };
        if let Some(addr) = state.spec.listen {
            match super::socket::bind(addr) {
                Ok(l) => state.socket = Some(Arc::new(l)),
                Err(e) => {
                    // The service cannot serve where it should: it does not start.
                    let error = format!("cannot listen on {addr}: {e}");
                    state.state = ServiceState::FailedToStart;
                    state.error = Some(error);
                    return Ok(state);
                }
            }
        }
        if args.autostart && !held {
            // A failure is recorded in the state; the actor itself is fine.
            let _ = state.start(&myself);
        }
        Ok(state)
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<ServiceMsg>,
        state: &mut ServiceActorState,
    ) -> Result<(), ActorProcessingErr> {
        state.stop().await;
        Ok(())
    }

    async fn handle(
        &self,
        myself: ActorRef<ServiceMsg>,
        msg: ServiceMsg,
        state: &mut ServiceActorState,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            ServiceMsg::Start(reply) => {
                state.held = false;
                state.crash.reset();
                let r = state.start(&myself).map(|()| state.status());
                let _ = reply.send(r);
            }
            ServiceMsg::Stop(reply) => {
                state.held = true;
                state.stop().await;
                let _ = reply.send(state.status());
            }
            ServiceMsg::Restart(reply) => {
                state.held = false;
                state.stop().await;
                state.crash.reset();
                let r = state.start(&myself).map(|()| state.status());
                let _ = reply.send(r);
            }
            ServiceMsg::Status(reply) => {
                let _ = reply.send(state.status());
            }
            ServiceMsg::Exited(pid, exit) => {
                if state.process.as_ref().map(|p| p.pid()) != Some(pid) {
                    return Ok(()); // a process stopped on purpose, already recorded
                }
                state.process = None;
                state.started_at = None;
                state.last_exit = Some(exit.clone());
                if !state.spec.restart {
                    state.state = ServiceState::Stopped;
                    state.event("service.exited", json!({"pid": pid, "exit": exit}));
                } else if state.crash.exited(exit.at) {
                    state.state = ServiceState::CrashLoop;
                    state.event(
                        "service.crash_loop",
                        json!({"pid": pid, "exit": exit, "exits": state.spec.crash_exits,
                               "window_ms": state.spec.crash_window.as_millis()}),
                    );
                } else {
                    state.state = ServiceState::Restarting;
                    let k = u32::try_from(state.restarts.min(16)).unwrap_or(16);
                    let delay = RESTART_BASE.saturating_mul(1 << k).min(RESTART_CAP);
                    state.event(
                        "service.exited",
                        json!({"pid": pid, "exit": exit, "restart_in_ms": delay.as_millis()}),
                    );
                    let (me, generation) = (myself.clone(), state.generation);
                    tokio::spawn(async move {
                        tokio::time::sleep(delay).await;
                        let _ = me.send_message(ServiceMsg::RestartDue(generation));
                    });
                }
            }
            ServiceMsg::Deploy {
                command,
                release,
                reply,
            } => {
                state.held = false;
                state.crash.reset();
                state.event("service.deploy", json!({"release": release}));
                // With a socket, what serves (or still drains) keeps serving until the new
                // release passed its gates, even when the current one has just crashed.
                if state.socket.is_some() {
                    let r = state
                        .switch(&myself, command, release)
                        .map(|()| state.status());
                    let _ = reply.send(r);
                } else {
                    state.stop().await;
                    state.command = command;
                    state.release = Some(release);
                    let r = state.start(&myself).map(|()| state.status());
                    let _ = reply.send(r);
                }
            }
            ServiceMsg::Retire(reply) => {
                let leaving = std::mem::take(&mut state.leaving);
                let n = leaving.len();
                super::socket::retire(leaving, state.spec.drain, state.spec.stop_grace);
                state.record();
                let _ = reply.send(n);
            }
            ServiceMsg::Process(reply) => {
                let _ = reply.send(state.running());
            }
            ServiceMsg::Spec(reply) => {
                let _ = reply.send(state.spec.clone());
            }
            ServiceMsg::RestartDue(generation) => {
                if generation == state.generation && state.state == ServiceState::Restarting {
                    state.restarts += 1;
                    let _ = state.start(&myself);
                }
            }
        }
        Ok(())
    }
}

//! The upstream actor (`upstream:<name>`): the single owner of one upstream's session,
//! handshake, catalog and health.
//!
//! It never awaits network work in a handler: handshakes, pings and catalog fetches run in
//! spawned tasks whose outcomes come back as messages, tagged with the session generation
//! they belong to (a stale outcome is ignored). Callers get a ready connection from
//! [`UpstreamHandle::ensure_ready`] — concurrent callers of a cold upstream share one
//! handshake — make their call on it directly, and report the outcome with
//! [`UpstreamHandle::report`]. Only proof of service (a successful call or ping) resets the
//! failure count; a successful handshake does not.
//!
//! It publishes its route and its [`LiveState`] to the router after every change that
//! matters, so that the registry lists thousands of upstreams from one snapshot without
//! asking any actor. Background checks follow [`Health::check_delay`] (an unreachable server
//! is checked no more often than a healthy one is pinged), and failures reach the log through
//! a [`FailureLog`] (a few lines, then one an hour, for a server that stays down).
//!
//! Handshakes run in tasks the actor owns: stopping the actor (a delete, a replacement,
//! att's shutdown) aborts them, and a stdio child still in its handshake dies with its task
//! (its process group is killed when the task's future is dropped). A session that callers
//! still hold when the actor stops has its child killed all the same.

use std::sync::Arc;
use std::time::Duration;

use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use serde::Serialize;
use serde_json::json;
use time::OffsetDateTime;
use tokio::sync::mpsc;

use super::connection::{self, Connection, Handshake, Notice};
use super::failure_log::FailureLog;
use super::outcome::CallFailure;
pub use super::ready::Ready;
use super::ready::SlotWriter;
use super::spec::UpstreamSpec;
use super::subscriptions::Subscriptions;
use crate::catalog::Catalog;
use crate::clock::Clock;
use crate::directory::ActorDirectory;
use crate::events::{EventSink, NewEvent};
use crate::health::{Health, HealthPolicy, Transition};
use crate::mailbox::{self, MailboxError};
use crate::router::{LiveState, RouterHandle, ServerView};
use crate::trace::MessageMeta;

/// What `GET /servers/{name}` shows of the live state.
#[derive(Debug, Clone, Serialize)]
pub struct UpstreamStatus {
    /// The upstream's name.
    pub name: String,
    /// Health record.
    #[serde(flatten)]
    pub health: Health,
    /// Whether a live, fresh session exists.
    pub initialized: bool,
    /// The negotiated protocol version (kept through failures).
    pub protocol_version: Option<String>,
    /// When the last handshake completed.
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_initialized_at: Option<OffsetDateTime>,
    /// When that handshake goes stale.
    #[serde(with = "time::serde::rfc3339::option")]
    pub initialization_expires_at: Option<OffsetDateTime>,
    /// Real handshakes performed (reused ones not counted).
    pub handshakes: u64,
    /// Whether a check may run now (no retry window, or an open one).
    pub window_open: bool,
    /// Catalog summary: how many of each.
    pub catalog: Option<serde_json::Value>,
}

impl UpstreamStatus {
    /// The status `view` published, as of `now`.
    pub fn from_view(view: &ServerView, now: OffsetDateTime) -> Self {
        Self::of(&view.name, &view.live, view.entries.as_deref(), now, true)
    }

    /// The status of upstream `name` with `live` state and `catalog`; `open` says whether
    /// its session (if any) is still connected.
    fn of(
        name: &str,
        live: &LiveState,
        catalog: Option<&Catalog>,
        now: OffsetDateTime,
        open: bool,
    ) -> Self {
        Self {
            name: name.to_owned(),
            health: live.health.clone(),
            initialized: open && live.initialization_expires_at.is_some_and(|at| now < at),
            protocol_version: live.protocol_version.clone(),
            last_initialized_at: live.last_initialized_at,
            initialization_expires_at: live.initialization_expires_at,
            handshakes: live.handshakes,
            window_open: live.health.window_open(now),
            catalog: catalog.map(|c| {
                json!({"tools": c.tools.len(), "resources": c.resources.len(),
                       "resource_templates": c.resource_templates.len(), "prompts": c.prompts.len()})
            }),
        }
    }
}

/// Tasks an actor started and owns: aborted when it stops (or its state is dropped).
#[derive(Default)]
struct OwnedTasks(Vec<tokio::task::AbortHandle>);

impl OwnedTasks {
    fn spawn<F>(&mut self, work: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        self.0.retain(|t| !t.is_finished());
        self.0.push(tokio::spawn(work).abort_handle());
    }

    fn abort_all(&mut self) {
        for t in self.0.drain(..) {
            t.abort();
        }
    }
}

impl Drop for OwnedTasks {
    fn drop(&mut self) {
        self.abort_all();
    }
}

/// Messages the upstream actor handles.
pub enum UpstreamMsg {
    /// Answer with a ready connection, handshaking first if needed.
    EnsureReady {
        /// The request this is for.
        correlation_id: Option<String>,
        /// Handshake even if the session is fresh.
        force: bool,
        /// Where the answer goes.
        reply: RpcReplyPort<Result<Ready, CallFailure>>,
    },
    /// The outcome of a call made on session `generation`.
    Report {
        /// The request.
        correlation_id: Option<String>,
        /// The session it used.
        generation: u64,
        /// `Ok` for proof of service.
        outcome: Result<(), CallFailure>,
    },
    /// A handshake task finished.
    Connected {
        /// The session generation it was started for.
        generation: u64,
        /// Its result, with the catalog fetched right after it (boxed: it is large).
        result: Result<Box<(Connection, Option<Catalog>)>, CallFailure>,
        /// The request that caused it.
        correlation_id: Option<String>,
    },
    /// A background refresh of the session started on generation `based_on` finished.
    Refreshed {
        /// The generation that was current when the refresh started.
        based_on: u64,
        /// The new session and its catalog.
        result: Result<Box<(Connection, Option<Catalog>)>, CallFailure>,
    },
    /// A catalog refresh finished.
    CatalogFetched(u64, Result<Catalog, CallFailure>),
    /// The server announced a list change.
    Notice(Notice),
    /// Time for a health check (ignored unless it is the latest timer armed).
    HealthTick(u64),
    /// A health check finished.
    Checked(u64, Result<(), CallFailure>),
    /// Drop the session (the next use handshakes again).
    Invalidate,
    /// Report the live state.
    Status(RpcReplyPort<UpstreamStatus>),
    /// Report the catalog as last fetched.
    Catalog(RpcReplyPort<Option<Arc<Catalog>>>),
}

impl MessageMeta for UpstreamMsg {
    fn kind(&self) -> &'static str {
        match self {
            Self::EnsureReady { .. } => "ensure_ready",
            Self::Report { .. } => "report",
            Self::Connected { .. } => "connected",
            Self::Refreshed { .. } => "refreshed",
            Self::CatalogFetched(..) => "catalog_fetched",
            Self::Notice(_) => "notice",
            Self::HealthTick(_) => "health_tick",
            Self::Checked(..) => "checked",
            Self::Invalidate => "invalidate",
            Self::Status(_) => "status",
            Self::Catalog(_) => "catalog",
        }
    }

    fn correlation_id(&self) -> Option<&str> {
        match self {
            Self::EnsureReady { correlation_id, .. }
            | Self::Report { correlation_id, .. }
            | Self::Connected { correlation_id, .. } => correlation_id.as_deref(),
            _ => None,
        }
    }
}

/// What the upstream actor is started with.
pub struct UpstreamArgs {
    /// The server.
    pub spec: UpstreamSpec,
    /// Status and retry-window rules.
    pub policy: HealthPolicy,
    /// Where connection and catalog events go.
    pub events: Arc<dyn EventSink>,
    /// Where its routing view is published.
    pub router: RouterHandle,
    /// Where it reads the time (retry windows, freshness).
    pub clock: Arc<dyn Clock>,
    /// The resource subscriptions of the instance's clients (each new session subscribes to
    /// what this server holds; updates are published there).
    pub subscriptions: Arc<Subscriptions>,
}

struct Session {
    connection: Arc<Connection>,
    opened_at: OffsetDateTime,
    expires_at: OffsetDateTime,
}

/// The upstream actor's state.
pub struct UpstreamState {
    spec: UpstreamSpec,
    policy: HealthPolicy,
    events: Arc<dyn EventSink>,
    router: RouterHandle,
    clock: Arc<dyn Clock>,
    subscriptions: Arc<Subscriptions>,
    health: Health,
    generation: u64,
    session: Option<Session>,
    last_handshake: Option<Handshake>,
    waiters: Option<Vec<RpcReplyPort<Result<Ready, CallFailure>>>>,
    check_after_connect: bool,
    tick: u64,
    idempotent_tools: Arc<[String]>,
    catalog: Option<Arc<Catalog>>,
    handshakes: u64,
    /// A background handshake replacing a session near its expiry is under way.
    refreshing: bool,
    notices: mpsc::UnboundedSender<Notice>,
    /// Handshakes under way (each may own a child process still in its handshake).
    handshaking: OwnedTasks,
    failure_log: FailureLog,
    /// Where the current session is published for warm calls ([`super::ready`]).
    ready_slot: SlotWriter,
}

/// The upstream actor.
pub struct UpstreamActor;

impl UpstreamState {
    fn ready(&self, reused: bool) -> Option<Ready> {
        self.session.as_ref().map(|s| Ready {
            connection: s.connection.clone(),
            generation: self.generation,
            reused,
            catalog: self.catalog.clone(),
            call_timeout: self.spec.call_timeout,
            idempotent_tools: self.idempotent_tools.clone(),
        })
    }

    fn fresh(&self, now: OffsetDateTime) -> bool {
        self.session
            .as_ref()
            .is_some_and(|s| now < s.expires_at && !s.connection.is_closed())
    }

    /// A session in use is replaced in the background during the last fifth of its life,
    /// so that callers rarely wait for a handshake.
    fn should_refresh(&self, now: OffsetDateTime) -> bool {
        let lead = self.spec.max_init_age / 5;
        !self.refreshing
            && self.waiters.is_none()
            && self
                .session
                .as_ref()
                .is_some_and(|s| crate::duration::later(now, lead) >= s.expires_at)
    }

    /// Opens a new session beside the current one, which keeps serving until the new one
    /// is ready ([`UpstreamMsg::Refreshed`]).
    fn start_refresh(&mut self, myself: &ActorRef<UpstreamMsg>) {
        self.refreshing = true;
        let based_on = self.generation;
        self.open_in_background(myself, move |result| UpstreamMsg::Refreshed {
            based_on,
            result,
        });
    }

    /// Opens a session in a task the actor owns; its result comes back as the message
    /// `reply` makes.
    fn open_in_background(
        &mut self,
        myself: &ActorRef<UpstreamMsg>,
        reply: impl FnOnce(Result<Box<(Connection, Option<Catalog>)>, CallFailure>) -> UpstreamMsg
        + Send
        + 'static,
    ) {
        let (spec, notices, me) = (self.spec.clone(), self.notices.clone(), myself.clone());
        let subscriptions = self.subscriptions.clone();
        self.handshaking.spawn(async move {
            let result = open_session(&spec, notices, subscriptions).await;
            let _ = me.send_message(reply(result));
        });
    }

    /// Installs a new session as the current generation's.
    fn install(&mut self, connection: Connection, catalog: Option<Catalog>, now: OffsetDateTime) {
        self.handshakes += 1;
        self.last_handshake = Some(connection.handshake.clone());
        self.session = Some(Session {
            connection: Arc::new(connection),
            opened_at: now,
            expires_at: crate::duration::later(now, self.spec.max_init_age),
        });
        if let Some(c) = catalog {
            self.set_catalog(c);
        }
        self.publish_ready();
    }

    /// Publishes the current session (and catalog) in the ready slot.
    fn publish_ready(&self) {
        if let (Some(s), Some(ready)) = (&self.session, self.ready(true)) {
            self.ready_slot
                .0
                .publish(ready, s.opened_at, self.spec.max_init_age);
        }
    }

    fn start_handshake(&mut self, myself: &ActorRef<UpstreamMsg>, correlation_id: Option<String>) {
        self.drop_session();
        self.generation += 1;
        self.waiters.get_or_insert_with(Vec::new);
        let generation = self.generation;
        self.open_in_background(myself, move |result| UpstreamMsg::Connected {
            generation,
            result,
            correlation_id,
        });
    }

    fn drop_session(&mut self) {
        self.ready_slot.0.clear();
        if let Some(s) = self.session.take() {
            // Closing waits for the peer; never inside a handler.
            if let Ok(conn) = Arc::try_unwrap(s.connection) {
                tokio::spawn(conn.close());
            }
        }
    }

    fn transition(&self, t: Option<Transition>, correlation_id: Option<&str>) {
        let Some(t) = t else { return };
        let mut e = NewEvent::new(
            "upstream.status",
            json!({"server": self.spec.name, "from_status": t.from, "to_status": t.to, "reason": t.reason}),
        );
        if let Some(c) = correlation_id {
            e = e.correlated(c);
        }
        self.events.emit(e);
    }

    /// Records a failure on session `generation`; that session is dropped if it is the
    /// current one (a stale session's failure must not drop its successor).
    fn failure(&mut self, f: &CallFailure, generation: u64, correlation_id: Option<&str>) {
        if matches!(f, CallFailure::SessionExpired) {
            // The server restarted or forgot the session: no fault of the server's. The
            // session is dropped; the next use opens a new one.
            if generation == self.generation {
                self.drop_session();
            }
            return;
        }
        let mut reason = f.message();
        if generation == self.generation {
            // A stdio child that died is the real reason, whatever call noticed it first.
            if let Some(exit) = self
                .session
                .as_ref()
                .and_then(|s| s.connection.exit_reason())
            {
                reason = exit;
            }
        }
        // The reason is shown (status, events, log): an error quoting the URL must not
        // carry its password, nor a child's stderr an env value.
        let reason = self.spec.scrub(&reason);
        let now = self.clock.now();
        if let Some(line) = self.failure_log.failed(now, &reason) {
            line.write(&self.spec.name);
        }
        let t = self
            .health
            .on_failure(now, reason, f.category(), &self.policy);
        if generation == self.generation {
            self.drop_session();
        }
        self.transition(t, correlation_id);
    }

    /// Records proof of service at `now`.
    fn served(&mut self, now: OffsetDateTime, correlation_id: Option<&str>) {
        if let Some(line) = self.failure_log.recovered() {
            line.write(&self.spec.name);
        }
        let t = self.health.on_proof_of_service(now);
        self.transition(t, correlation_id);
    }

    fn live(&self) -> LiveState {
        LiveState {
            health: self.health.clone(),
            protocol_version: self
                .last_handshake
                .as_ref()
                .map(|h| h.protocol_version.clone()),
            last_initialized_at: self.last_handshake.as_ref().map(|h| h.captured_at),
            initialization_expires_at: self.session.as_ref().map(|s| s.expires_at),
            handshakes: self.handshakes,
        }
    }

    fn set_catalog(&mut self, catalog: Catalog) {
        if self
            .catalog
            .as_ref()
            .is_some_and(|c| c.hash == catalog.hash)
        {
            return;
        }
        self.events.emit(NewEvent::new(
            "upstream.catalog_changed",
            json!({
                "server": self.spec.name, "tools": catalog.tools.len(), "resources": catalog.resources.len(),
                "resource_templates": catalog.resource_templates.len(), "prompts": catalog.prompts.len(),
            }),
        ));
        self.catalog = Some(Arc::new(catalog));
    }

    async fn publish(&self) {
        let view = ServerView {
            name: self.spec.name.clone(),
            priority: self.spec.priority,
            status: self.health.status,
            next_retry_at: self.health.next_retry_at,
            catalog: self.catalog.as_ref().map(|c| Arc::new(c.names())),
            entries: self.catalog.clone(),
            live: Arc::new(self.live()),
            ready: self.ready_slot.0.clone(),
        };
        if let Err(e) = self.router.upsert(view).await {
            tracing::warn!(upstream = %self.spec.name, error = %e, "could not publish to the router");
        }
    }

    /// Arms the next health check ([`Health::check_delay`]). Any earlier timer is
    /// superseded.
    fn schedule_check(&mut self, myself: &ActorRef<UpstreamMsg>) {
        self.tick += 1;
        let tick = self.tick;
        let delay =
            self.health
                .check_delay(self.clock.now(), self.spec.health_interval, &self.policy);
        myself.send_after(delay, move || UpstreamMsg::HealthTick(tick));
    }

    fn status(&self) -> UpstreamStatus {
        let open = self
            .session
            .as_ref()
            .is_some_and(|s| !s.connection.is_closed());
        UpstreamStatus::of(
            &self.spec.name,
            &self.live(),
            self.catalog.as_deref(),
            self.clock.now(),
            open,
        )
    }
}

impl Actor for UpstreamActor {
    type Msg = UpstreamMsg;
    type State = UpstreamState;
    type Arguments = UpstreamArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<UpstreamMsg>,
        args: UpstreamArgs,
    ) -> Result<UpstreamState, ActorProcessingErr> {
        let (tx, mut rx) = mpsc::unbounded_channel();
        let me = myself.clone();
        tokio::spawn(async move {
            while let Some(n) = rx.recv().await {
                if me.send_message(UpstreamMsg::Notice(n)).is_err() {
                    break;
                }
            }
        });
        let state = UpstreamState {
            idempotent_tools: args.spec.idempotent_tools.clone().into(),
            spec: args.spec,
            policy: args.policy,
            events: args.events,
            router: args.router,
            clock: args.clock,
            subscriptions: args.subscriptions,
            health: Health::default(),
            generation: 0,
            session: None,
            last_handshake: None,
            waiters: None,
            check_after_connect: false,
            tick: 0,
            catalog: None,
            handshakes: 0,
            refreshing: false,
            notices: tx,
            handshaking: OwnedTasks::default(),
            failure_log: FailureLog::default(),
            ready_slot: SlotWriter::default(),
        };
        // Published before the start returns, so that the registry lists it at once.
        state.publish().await;
        Ok(state)
    }

    async fn post_start(
        &self,
        myself: ActorRef<UpstreamMsg>,
        state: &mut UpstreamState,
    ) -> Result<(), ActorProcessingErr> {
        // First check right away: a new server is healthy but not initialized.
        myself.send_message(UpstreamMsg::HealthTick(state.tick))?;
        Ok(())
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<UpstreamMsg>,
        state: &mut UpstreamState,
    ) -> Result<(), ActorProcessingErr> {
        // A handshake under way owns its child: aborting it kills the child's group.
        state.handshaking.abort_all();
        state.ready_slot.0.clear();
        if let Some(s) = state.session.take() {
            match Arc::try_unwrap(s.connection) {
                Ok(conn) => conn.close().await,
                // Callers still hold the session: their calls fail, the child dies now.
                Err(shared) => shared.kill(),
            }
        }
        Ok(())
    }

    async fn handle(
        &self,
        myself: ActorRef<UpstreamMsg>,
        msg: UpstreamMsg,
        state: &mut UpstreamState,
    ) -> Result<(), ActorProcessingErr> {
        let now = state.clock.now();
        match msg {
            UpstreamMsg::EnsureReady {
                correlation_id,
                force,
                reply,
            } => {
                if !force
                    && state.waiters.is_none()
                    && state.fresh(now)
                    && let Some(ready) = state.ready(true)
                {
                    let _ = reply.send(Ok(ready));
                    if state.should_refresh(now) {
                        state.start_refresh(&myself);
                    }
                    return Ok(());
                }
                match &mut state.waiters {
                    Some(waiters) => waiters.push(reply),
                    None => {
                        state.waiters = Some(vec![reply]);
                        state.start_handshake(&myself, correlation_id);
                    }
                }
            }
            UpstreamMsg::Connected {
                generation,
                result,
                correlation_id,
            } => {
                if generation != state.generation {
                    return Ok(());
                }
                let waiters = state.waiters.take().unwrap_or_default();
                match result.map(|b| *b) {
                    Ok((connection, catalog)) => {
                        state.install(connection, catalog, now);
                        for w in waiters {
                            let _ =
                                w.send(state.ready(false).ok_or_else(|| CallFailure::NotSent {
                                    message: "session vanished".into(),
                                    category: super::ErrorCategory::InitializeError,
                                }));
                        }
                        if std::mem::take(&mut state.check_after_connect) {
                            myself.send_message(UpstreamMsg::HealthTick(state.tick))?;
                        }
                    }
                    Err(f) => {
                        state.failure(&f, generation, correlation_id.as_deref());
                        for w in waiters {
                            let _ = w.send(Err(f.clone()));
                        }
                        state.check_after_connect = false;
                        state.schedule_check(&myself);
                    }
                }
                state.publish().await;
            }
            UpstreamMsg::Refreshed { based_on, result } => {
                state.refreshing = false;
                match result.map(|b| *b) {
                    // Nothing replaced or dropped the session meanwhile: swap it. Calls in
                    // flight on the old one finish there; their reports are for an old
                    // generation and cannot drop the new session.
                    Ok((connection, catalog))
                        if based_on == state.generation && state.waiters.is_none() =>
                    {
                        state.drop_session();
                        state.generation += 1;
                        state.install(connection, catalog, now);
                        state.publish().await;
                    }
                    // Superseded: a handshake or invalidation happened meanwhile.
                    Ok((connection, _)) => {
                        tokio::spawn(connection.close());
                    }
                    // The old session still serves until it expires; its own calls and
                    // checks tell whether the server is failing.
                    Err(e) => {
                        tracing::warn!(upstream = %state.spec.name, error = %e.message(), "background session refresh failed")
                    }
                }
            }
            UpstreamMsg::Report {
                correlation_id,
                generation,
                outcome,
            } => {
                match outcome {
                    Ok(()) => {
                        let routed = (state.health.status, state.health.next_retry_at);
                        state.served(now, correlation_id.as_deref());
                        // The common case (a healthy server served a call) changes nothing the
                        // router sees: do not rebuild its snapshot for it.
                        if routed == (state.health.status, state.health.next_retry_at) {
                            return Ok(());
                        }
                    }
                    Err(f) if f.is_caller_error() => return Ok(()),
                    Err(f) => {
                        state.failure(&f, generation, correlation_id.as_deref());
                        // Check again when the retry window opens, not at the next periodic tick.
                        state.schedule_check(&myself);
                    }
                }
                state.publish().await;
            }
            UpstreamMsg::Notice(Notice::Exited(pid)) => {
                // Only the current session's child counts; a child we closed on purpose is
                // no longer the session's when its stderr ends.
                let current = state
                    .session
                    .as_ref()
                    .is_some_and(|s| s.connection.pid() == Some(pid));
                if current {
                    let failure =
                        CallFailure::ConnectionLost(format!("the server process {pid} exited"));
                    // `failure()` replaces that message with the exit status and stderr tail.
                    let generation = state.generation;
                    state.failure(&failure, generation, None);
                    // Restarted (a new handshake spawns it again) when the window opens.
                    state.schedule_check(&myself);
                    state.publish().await;
                }
            }
            UpstreamMsg::Notice(_) => {
                if let Some(ready) = state.ready(true) {
                    let (me, generation, deadline) =
                        (myself.clone(), ready.generation, state.spec.call_timeout);
                    tokio::spawn(async move {
                        let result = ready.connection.list_catalog(deadline).await;
                        let _ = me.send_message(UpstreamMsg::CatalogFetched(generation, result));
                    });
                }
            }
            UpstreamMsg::CatalogFetched(generation, result) => match result {
                Ok(c) if generation == state.generation => {
                    state.set_catalog(c);
                    // Warm calls judge "does it offer the name" on the slot's catalog.
                    state.publish_ready();
                    state.publish().await;
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(upstream = %state.spec.name, error = %e.message(), "catalog refresh failed")
                }
            },
            UpstreamMsg::HealthTick(tick) => {
                if tick != state.tick {
                    return Ok(());
                }
                if !state.health.window_open(now) {
                    state.schedule_check(&myself);
                } else {
                    match state.ready(true).filter(|_| state.fresh(now)) {
                        Some(ready) => {
                            let (me, deadline) = (myself.clone(), state.spec.call_timeout);
                            tokio::spawn(async move {
                                let result = ready.connection.ping(deadline).await;
                                let _ =
                                    me.send_message(UpstreamMsg::Checked(ready.generation, result));
                            });
                        }
                        None if state.waiters.is_none() => {
                            state.check_after_connect = true;
                            state.start_handshake(&myself, None);
                        }
                        None => state.check_after_connect = true,
                    }
                }
            }
            UpstreamMsg::Checked(generation, result) => {
                match result {
                    Ok(()) => state.served(now, None),
                    Err(f) => state.failure(&f, generation, None),
                }
                state.publish().await;
                state.schedule_check(&myself);
            }
            UpstreamMsg::Invalidate => {
                state.drop_session();
                state.publish().await;
            }
            UpstreamMsg::Status(reply) => {
                let _ = reply.send(state.status());
            }
            UpstreamMsg::Catalog(reply) => {
                let _ = reply.send(state.catalog.clone());
            }
        }
        Ok(())
    }
}

/// A handshake followed by a catalog fetch (a catalog failure leaves the session usable).
async fn open_session(
    spec: &UpstreamSpec,
    notices: mpsc::UnboundedSender<Notice>,
    subscriptions: Arc<Subscriptions>,
) -> Result<Box<(Connection, Option<Catalog>)>, CallFailure> {
    let c = connection::connect_with(spec, notices, subscriptions).await?;
    let catalog = match c.list_catalog(spec.call_timeout).await {
        Ok(cat) => Some(cat),
        Err(e) => {
            tracing::warn!(upstream = %spec.name, error = %e.message(), "catalog fetch after handshake failed");
            None
        }
    };
    Ok(Box::new((c, catalog)))
}

/// A typed handle to one upstream actor.
#[derive(Clone, Debug)]
pub struct UpstreamHandle {
    directory: ActorDirectory,
    actor: String,
}

/// Why a handle call failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum UpstreamError {
    /// The actor could not be reached.
    #[error(transparent)]
    Mailbox(#[from] MailboxError),
    /// The upstream failed.
    #[error("{}", .0.message())]
    Failed(CallFailure),
}

impl UpstreamHandle {
    /// The actor name of an upstream called `name`.
    pub fn actor_name(name: &str) -> String {
        format!("upstream:{name}")
    }

    /// A handle to the upstream called `name`.
    pub fn new(directory: ActorDirectory, name: &str) -> Self {
        Self {
            directory,
            actor: Self::actor_name(name),
        }
    }

    /// A ready connection; concurrent callers of a cold upstream share one handshake.
    /// `budget` bounds the wait (it should cover the handshake deadline).
    pub async fn ensure_ready(
        &self,
        correlation_id: Option<String>,
        force: bool,
        budget: Duration,
    ) -> Result<Ready, UpstreamError> {
        mailbox::call(&self.directory, &self.actor, budget, |reply| {
            UpstreamMsg::EnsureReady {
                correlation_id,
                force,
                reply,
            }
        })
        .await?
        .map_err(UpstreamError::Failed)
    }

    /// Reports a call's outcome (fire and forget).
    pub fn report(
        &self,
        correlation_id: Option<String>,
        generation: u64,
        outcome: Result<(), CallFailure>,
    ) {
        let msg = UpstreamMsg::Report {
            correlation_id,
            generation,
            outcome,
        };
        if let Err(e) = mailbox::cast(&self.directory, &self.actor, msg) {
            tracing::debug!(error = %e, "outcome report dropped");
        }
    }

    /// The live state.
    pub async fn status(&self) -> Result<UpstreamStatus, UpstreamError> {
        Ok(mailbox::call(
            &self.directory,
            &self.actor,
            Duration::from_secs(5),
            UpstreamMsg::Status,
        )
        .await?)
    }

    /// The catalog as last fetched (`None` before the first handshake).
    pub async fn catalog(&self) -> Result<Option<Arc<Catalog>>, UpstreamError> {
        Ok(mailbox::call(
            &self.directory,
            &self.actor,
            Duration::from_secs(5),
            UpstreamMsg::Catalog,
        )
        .await?)
    }

    /// Checks now: a ping on a ready session (handshaking first if needed), reported as
    /// proof of service or failure. Inside a closed retry window it does nothing. Returns
    /// the state afterwards.
    pub async fn check_now(&self, budget: Duration) -> Result<UpstreamStatus, UpstreamError> {
        let before = self.status().await?;
        if !before.window_open {
            return Ok(before);
        }
        if let Ok(ready) = self.ensure_ready(None, false, budget).await {
            let outcome = ready.connection.ping(ready.call_timeout).await;
            self.report(None, ready.generation, outcome);
        }
        // A failed handshake was recorded by the actor itself.
        self.status().await
    }

    /// Drops the session.
    pub fn invalidate(&self) -> Result<(), UpstreamError> {
        Ok(mailbox::cast(
            &self.directory,
            &self.actor,
            UpstreamMsg::Invalidate,
        )?)
    }
}

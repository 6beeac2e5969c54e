//! The upstream actor (`upstream:<name>`): the single owner of one upstream's session,
//! handshake, catalog and health.
//!
//! It never awaits network work in a handler: handshakes, pings and catalog fetches run in
//! spawned tasks whose outcomes come back as messages, tagged with the session generation
//! they belong to (a stale outcome is ignored). Callers get a ready connection from
//! [`UpstreamHandle::ensure_ready`] when the published slot has none — concurrent callers of a cold upstream share one
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
//!
//! Warm calls do not ask it at all: it publishes its ready session in a
//! [`ReadySlot`](super::ready::ReadySlot) and callers take it from there while it is fresh.
//!
//! Its parts: [`state`] (the state and its plain operations), [`ready`] (getting a caller a
//! ready session), [`checks`] (what feeds health), [`status`] (what the registry shows) and
//! [`handle`] (the typed handle callers use).

mod checks;
mod handle;
mod ready;
mod state;
mod status;

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

pub use handle::{UpstreamError, UpstreamHandle};
pub use state::UpstreamState;
use state::*;
pub use status::UpstreamStatus;

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

/// The upstream actor.
pub struct UpstreamActor;

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
            gate: super::gate::CallGate::new(args.spec.max_concurrent),
            idempotent_tools: args.spec.idempotent_tools.clone().into(),
            proof: Arc::default(),
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
            } => state.on_ensure_ready(&myself, now, correlation_id, force, reply),
            UpstreamMsg::Connected {
                generation,
                result,
                correlation_id,
            } => {
                state
                    .on_connected(&myself, now, generation, result, correlation_id)
                    .await?
            }
            UpstreamMsg::Refreshed { based_on, result } => {
                state.on_refreshed(now, based_on, result).await
            }
            UpstreamMsg::Report {
                correlation_id,
                generation,
                outcome,
            } => {
                // A proof of service stands for the calls served since it was sent (at most
                // `proof::PROOF_EVERY`): its time is read when it is handled.
                let now = if outcome.is_ok() {
                    state.clock.now()
                } else {
                    now
                };
                state
                    .on_report(&myself, now, correlation_id, generation, outcome)
                    .await
            }
            UpstreamMsg::Notice(Notice::Exited(pid)) => state.on_exited(&myself, pid).await,
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
            UpstreamMsg::HealthTick(tick) => state.on_health_tick(&myself, now, tick),
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

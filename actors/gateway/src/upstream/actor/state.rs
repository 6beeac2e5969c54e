//! The upstream actor's state and the plain operations on it: the session and its
//! generation, installing and dropping it (and its ready slot), health transitions,
//! publishing to the router, scheduling checks.

use super::*;

/// A handshake's outcome: the session with the catalog fetched right after it (boxed: it is
/// large).
pub(super) type Opened = Result<Box<(Connection, Option<Catalog>)>, CallFailure>;

/// Tasks an actor started and owns: aborted when it stops (or its state is dropped).
#[derive(Default)]
pub(super) struct OwnedTasks(Vec<tokio::task::AbortHandle>);

impl OwnedTasks {
    pub(super) fn spawn<F>(&mut self, work: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        self.0.retain(|t| !t.is_finished());
        // Boxed: a finished task's cell lives as long as its handle here (until the next
        // spawn), and holding the future inline kept a handshake's whole state machine —
        // 13 KiB, more than a tenth of an idle upstream's memory — alive with it. The box
        // is freed when the work ends; only the small cell waits for the handle.
        self.0.push(tokio::spawn(Box::pin(work)).abort_handle());
    }

    pub(super) fn abort_all(&mut self) {
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

pub(super) struct Session {
    pub(super) connection: Arc<Connection>,
    pub(super) opened_at: OffsetDateTime,
    pub(super) expires_at: OffsetDateTime,
}

/// The upstream actor's state.
pub struct UpstreamState {
    pub(super) spec: UpstreamSpec,
    pub(super) policy: HealthPolicy,
    pub(super) events: Arc<dyn EventSink>,
    pub(super) router: RouterHandle,
    pub(super) clock: Arc<dyn Clock>,
    pub(super) subscriptions: Arc<Subscriptions>,
    pub(super) health: Health,
    pub(super) generation: u64,
    pub(super) session: Option<Session>,
    pub(super) last_handshake: Option<Handshake>,
    pub(super) waiters: Option<Vec<RpcReplyPort<Result<Ready, CallFailure>>>>,
    pub(super) check_after_connect: bool,
    pub(super) tick: u64,
    pub(super) idempotent_tools: Arc<[String]>,
    pub(super) catalog: Option<Arc<Catalog>>,
    pub(super) handshakes: u64,
    /// A background handshake replacing a session near its expiry is under way.
    pub(super) refreshing: bool,
    pub(super) notices: mpsc::UnboundedSender<Notice>,
    /// Handshakes under way (each may own a child process still in its handshake).
    pub(super) handshaking: OwnedTasks,
    pub(super) failure_log: FailureLog,
    /// Where the current session is published for warm calls ([`super::ready`]).
    pub(super) ready_slot: SlotWriter,
    /// The upstream's `max_concurrent` gate, which callers pass ([`crate::upstream::gate`]).
    pub(super) gate: crate::upstream::gate::CallGate,
    /// When the callers' next proof of service is due ([`crate::upstream::proof`]); reopened
    /// by every failure recorded here.
    pub(super) proof: Arc<crate::upstream::proof::ProofGate>,
}

impl UpstreamState {
    pub(super) fn ready(&self, reused: bool) -> Option<Ready> {
        self.session.as_ref().map(|s| Ready {
            connection: s.connection.clone(),
            generation: self.generation,
            reused,
            catalog: self.catalog.clone(),
            call_timeout: self.spec.call_timeout,
            idempotent_tools: self.idempotent_tools.clone(),
            proof: self.proof.clone(),
        })
    }

    pub(super) fn fresh(&self, now: OffsetDateTime) -> bool {
        self.session
            .as_ref()
            .is_some_and(|s| now < s.expires_at && !s.connection.is_closed())
    }

    /// A session in use is replaced in the background during the last fifth of its life,
    /// so that callers rarely wait for a handshake.
    pub(super) fn should_refresh(&self, now: OffsetDateTime) -> bool {
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
    pub(super) fn start_refresh(&mut self, myself: &ActorRef<UpstreamMsg>) {
        self.refreshing = true;
        let based_on = self.generation;
        self.open_in_background(myself, move |result| UpstreamMsg::Refreshed {
            based_on,
            result,
        });
    }

    /// Opens a session in a task the actor owns; its result comes back as the message
    /// `reply` makes.
    pub(super) fn open_in_background(
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
    pub(super) fn install(
        &mut self,
        connection: Connection,
        catalog: Option<Catalog>,
        now: OffsetDateTime,
    ) {
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
    pub(super) fn publish_ready(&self) {
        if let (Some(s), Some(ready)) = (&self.session, self.ready(true)) {
            self.ready_slot
                .0
                .publish(ready, s.opened_at, self.spec.max_init_age);
        }
    }

    pub(super) fn start_handshake(
        &mut self,
        myself: &ActorRef<UpstreamMsg>,
        correlation_id: Option<String>,
    ) {
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

    pub(super) fn drop_session(&mut self) {
        self.ready_slot.0.clear();
        if let Some(s) = self.session.take() {
            // Closing waits for the peer; never inside a handler.
            if let Ok(conn) = Arc::try_unwrap(s.connection) {
                tokio::spawn(conn.close());
            }
        }
    }

    pub(super) fn transition(&self, t: Option<Transition>, correlation_id: Option<&str>) {
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
    pub(super) fn failure(
        &mut self,
        f: &CallFailure,
        generation: u64,
        correlation_id: Option<&str>,
    ) {
        // The first success after this is told at once.
        self.proof.reopen();
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
    pub(super) fn served(&mut self, now: OffsetDateTime, correlation_id: Option<&str>) {
        if let Some(line) = self.failure_log.recovered() {
            line.write(&self.spec.name);
        }
        let t = self.health.on_proof_of_service(now);
        self.transition(t, correlation_id);
    }

    pub(super) fn live(&self) -> LiveState {
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

    pub(super) fn set_catalog(&mut self, catalog: Catalog) {
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

    pub(super) async fn publish(&self) {
        let view = ServerView {
            name: self.spec.name.clone(),
            priority: self.spec.priority,
            status: self.health.status,
            next_retry_at: self.health.next_retry_at,
            catalog: self.catalog.as_ref().map(|c| Arc::new(c.names())),
            entries: self.catalog.clone(),
            live: Arc::new(self.live()),
            ready: self.ready_slot.0.clone(),
            gate: self.gate.clone(),
        };
        if let Err(e) = self.router.upsert(view).await {
            tracing::warn!(upstream = %self.spec.name, error = %e, "could not publish to the router");
        }
    }

    /// Arms the next health check ([`Health::check_delay`]). Any earlier timer is
    /// superseded.
    pub(super) fn schedule_check(&mut self, myself: &ActorRef<UpstreamMsg>) {
        self.tick += 1;
        let tick = self.tick;
        let delay =
            self.health
                .check_delay(self.clock.now(), self.spec.health_interval, &self.policy);
        myself.send_after(delay, move || UpstreamMsg::HealthTick(tick));
    }

    pub(super) fn status(&self) -> UpstreamStatus {
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

/// A handshake followed by a catalog fetch (a catalog failure leaves the session usable).
pub(super) async fn open_session(
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

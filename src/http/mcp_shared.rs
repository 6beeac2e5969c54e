//! `/mcp` sessions shared by the att replicas of a cluster: a client whose requests a load
//! balancer spreads over several atts keeps one session.
//!
//! The session's state lives in the shared database ([`McpSessionStore`], the `mcp_sessions`
//! table on PostgreSQL), and each att holds in memory a *copy* of each session it served. A
//! request for a session this att does not hold is checked against the record (the principal
//! it is bound to, the endpoint it was opened on, not expired) by the door
//! ([`super::mcp_front`]), then rmcp re-creates the session from the record: it replays the
//! client's `initialize` (rmcp's `SessionStore` hook, [`SharedSessions::rmcp_store`]) — no
//! 404, no new handshake for the client.
//!
//! What changes during a session is written to the record and followed by every copy:
//! - **log level** (`logging/setLevel`) and **resource subscriptions**
//!   (`resources/subscribe`): a change is written, then `pg_notify`; each att re-reads the
//!   records of the copies it holds ([`SharedSessions::follow`]) and brings them in line —
//!   a subscription is held upstream by every copy (joined, or subscribed anew), so the
//!   update reaches the copy that holds the client's GET stream, wherever it is;
//! - **end** (`DELETE /mcp` on any att): the record is deleted; every other copy is closed at
//!   the next follow (a copy whose record is gone is closed).
//!
//! `list_changed` needs nothing shared: each att's catalog follows the shared registrations
//! (`store/postgres/changes.rs`), and the copy holding the GET stream notifies from its own.
//!
//! Bounded and expiring: every [`SharedSessions::sweep_every`] each att marks the sessions it
//! holds as seen and deletes records unseen for `[http] mcp_session_idle` — a session no att
//! holds any more (each copy ends after that idle time) expires everywhere; per-principal
//! limits count the live records of the whole cluster ([`super::mcp_front`]).
//!
//! What cannot move: a call in flight stays on the att that runs it (its answer, progress and
//! relayed requests travel on that request's stream); if that att dies, the client's request
//! fails with the connection. The client's answer to a relayed request may land on any att:
//! it is forwarded to the others ([`super::mcp_answers`]). A GET stream resumed
//! (`Last-Event-ID`) on an att that never served it cannot be replayed there (rmcp keeps
//! each stream's events in its att): the door opens a fresh stream and the copy tells the
//! client to read again every list and each subscribed resource ([`SessionCopy::missed`]). A subscription made on one att takes effect on the others when
//! they have followed the record (one notification round trip plus an upstream `subscribe`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use att_runtime::store::StoreError;
use rmcp::model::InitializeRequestParams;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::session::{
    SessionId, SessionManager, SessionState, SessionStore, SessionStoreError,
};
use time::OffsetDateTime;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::mcp_answers::ForwardedAnswers;

/// Resource subscriptions one session may hold at most.
pub const MAX_SUBSCRIPTIONS: usize = 256;

/// What the cluster keeps of one `/mcp` session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SharedSession {
    /// The `Mcp-Session-Id`.
    pub id: String,
    /// The principal the session is bound to; `None` for an open att's anonymous callers.
    pub principal: Option<String>,
    /// The endpoint it was opened on (`/mcp`, `/mcp/{profile}`).
    pub endpoint: String,
    /// The client's `initialize` parameters, as JSON.
    pub initialize: String,
    /// The client's log level (`logging/setLevel`), as MCP names it.
    pub log_level: Option<String>,
    /// The resources it subscribed to.
    pub subscriptions: Vec<String>,
}

/// Where the cluster's `/mcp` sessions are kept (PostgreSQL; a lone att on SQLite needs none).
#[async_trait::async_trait]
pub trait McpSessionStore: Send + Sync + 'static {
    /// Records a new session, seen `now`.
    async fn open_session(
        &self,
        session: &SharedSession,
        now: OffsetDateTime,
    ) -> Result<(), StoreError>;
    /// The session `id` if it was seen after `live_after`.
    async fn session(
        &self,
        id: &str,
        live_after: OffsetDateTime,
    ) -> Result<Option<SharedSession>, StoreError>;
    /// Those of `ids` seen after `live_after`.
    async fn sessions(
        &self,
        ids: &[String],
        live_after: OffsetDateTime,
    ) -> Result<Vec<SharedSession>, StoreError>;
    /// How many sessions bound to `principal` were seen after `live_after`.
    async fn count_live(
        &self,
        principal: &str,
        live_after: OffsetDateTime,
    ) -> Result<usize, StoreError>;
    /// Marks `ids` as seen `now`.
    async fn touch(&self, ids: &[String], now: OffsetDateTime) -> Result<(), StoreError>;
    /// Sets the log level of `id` (and tells the other atts).
    async fn set_log_level(&self, id: &str, level: &str) -> Result<(), StoreError>;
    /// Adds `uri` to the subscriptions of `id` unless it holds `max` already (and tells the
    /// other atts); whether `uri` is now among them.
    async fn add_subscription(&self, id: &str, uri: &str, max: usize) -> Result<bool, StoreError>;
    /// Removes `uri` from the subscriptions of `id` (and tells the other atts).
    async fn remove_subscription(&self, id: &str, uri: &str) -> Result<(), StoreError>;
    /// Deletes the session (and tells the other atts); whether it existed.
    async fn end_session(&self, id: &str) -> Result<bool, StoreError>;
    /// Deletes the sessions not seen after `live_after`; how many.
    async fn forget_expired(&self, live_after: OffsetDateTime) -> Result<u64, StoreError>;
    /// Wakes the returned `Notify` whenever a session may have changed, until `stop`.
    fn watch(&self, stop: CancellationToken) -> Arc<Notify>;
    /// Sends `payload` (a forwarded client answer, [`super::mcp_answers`]) to every att.
    async fn forward_answer(&self, payload: &str) -> Result<(), StoreError>;
    /// The payloads every att forwards from now on (this one's included), until `stop`.
    fn forwarded_answers(
        &self,
        stop: CancellationToken,
    ) -> tokio::sync::broadcast::Receiver<Arc<str>>;
}

/// One att's in-memory copy of a shared session (the `/mcp` handler's session state).
#[async_trait::async_trait]
pub trait SessionCopy: Send + Sync + 'static {
    /// Brings the copy in line with the cluster's record of its session.
    async fn follow(&self, record: &SharedSession);

    /// The client resumed its stream on this att, which cannot replay what another att sent
    /// it: tell it that every list may have changed and every resource it subscribed to may
    /// have been updated, so it reads them again instead of silently missing a change.
    async fn missed(&self);
}

/// Sessions whose stream resumed here before their copy existed, waiting for it
/// ([`SharedSessions::resumed_here`]); at most this many.
const MISSED_PENDING: usize = 4096;

/// How long a resumed session's copy is waited for.
const MISSED_WAIT: Duration = Duration::from_secs(60);

/// This att's side of the shared sessions: the store, rmcp's in-memory sessions, and the
/// copies this att holds.
pub struct SharedSessions {
    store: Arc<dyn McpSessionStore>,
    local: Arc<LocalSessionManager>,
    idle: Duration,
    copies: Mutex<HashMap<String, Weak<dyn SessionCopy>>>,
    answers: Arc<ForwardedAnswers>,
    /// Resumed here before rmcp re-created their copy: told when it starts.
    missed: Mutex<HashMap<String, std::time::Instant>>,
}

impl SharedSessions {
    /// Shares the sessions `local` holds through `store`; a session unseen for `idle` expires.
    pub fn new(
        store: Arc<dyn McpSessionStore>,
        local: Arc<LocalSessionManager>,
        idle: Duration,
    ) -> Arc<Self> {
        Arc::new(Self {
            answers: ForwardedAnswers::new(store.clone(), local.clone()),
            store,
            local,
            idle,
            copies: Mutex::new(HashMap::new()),
            missed: Mutex::new(HashMap::new()),
        })
    }

    /// The client of session `id` resumed a stream here (`Last-Event-ID` from another att's
    /// stream: rmcp here cannot replay it): its copy is told ([`SessionCopy::missed`]) now,
    /// or when rmcp has re-created it ([`Self::take_missed`]).
    pub async fn resumed_here(&self, id: &str) {
        let copy = self.copies().get(id).and_then(Weak::upgrade);
        match copy {
            Some(copy) => copy.missed().await,
            None => {
                let now = std::time::Instant::now();
                let mut missed = self.missed.lock().unwrap_or_else(|p| p.into_inner());
                // A copy that was never re-created (its restore failed) is not waited for.
                missed.retain(|_, at| now.duration_since(*at) < MISSED_WAIT);
                if missed.len() < MISSED_PENDING {
                    missed.insert(id.to_owned(), now);
                }
            }
        }
    }

    /// Whether session `id`'s client resumed here before its copy existed (then it is told
    /// once, by the copy, as it starts).
    pub fn take_missed(&self, id: &str) -> bool {
        self.missed
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(id)
            .is_some()
    }

    fn copies(&self) -> std::sync::MutexGuard<'_, HashMap<String, Weak<dyn SessionCopy>>> {
        self.copies.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records seen before this are expired.
    fn live_after(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc() - self.idle
    }

    /// How often this att marks its sessions as seen and deletes expired records: four
    /// times per idle time, so a held session's record is never near expiry.
    pub fn sweep_every(&self) -> Duration {
        (self.idle / 4).clamp(Duration::from_secs(1), Duration::from_secs(60))
    }

    /// The record of session `id`, if live.
    pub async fn record(&self, id: &str) -> Result<Option<SharedSession>, StoreError> {
        self.store.session(id, self.live_after()).await
    }

    /// Live sessions bound to `principal` across the cluster.
    pub async fn count_live(&self, principal: &str) -> Result<usize, StoreError> {
        self.store.count_live(principal, self.live_after()).await
    }

    /// Records the session `id` just opened on `endpoint` by `principal`.
    pub async fn open(
        &self,
        id: &str,
        principal: Option<&str>,
        endpoint: &str,
        initialize: &InitializeRequestParams,
    ) -> Result<(), StoreError> {
        let initialize = serde_json::to_string(initialize)
            .map_err(|e| StoreError(format!("initialize parameters: {e}")))?;
        let session = SharedSession {
            id: id.to_owned(),
            principal: principal.map(str::to_owned),
            endpoint: endpoint.to_owned(),
            initialize,
            log_level: None,
            subscriptions: Vec::new(),
        };
        self.store
            .open_session(&session, OffsetDateTime::now_utc())
            .await
    }

    /// Ends session `id` across the cluster; whether it existed.
    pub async fn end(&self, id: &str) -> Result<bool, StoreError> {
        self.store.end_session(id).await
    }

    /// Writes the log level of `id`.
    pub async fn set_log_level(&self, id: &str, level: &str) -> Result<(), StoreError> {
        self.store.set_log_level(id, level).await
    }

    /// Adds `uri` to the subscriptions of `id`; false when it holds [`MAX_SUBSCRIPTIONS`].
    pub async fn subscribe(&self, id: &str, uri: &str) -> Result<bool, StoreError> {
        self.store
            .add_subscription(id, uri, MAX_SUBSCRIPTIONS)
            .await
    }

    /// Removes `uri` from the subscriptions of `id`.
    pub async fn unsubscribe(&self, id: &str, uri: &str) -> Result<(), StoreError> {
        self.store.remove_subscription(id, uri).await
    }

    /// This att holds a copy of session `id`: it follows the record from now on. A copy
    /// re-created from the record (`restored`) follows it at once.
    pub async fn hold(&self, id: &str, copy: Weak<dyn SessionCopy>, restored: bool) {
        self.copies().insert(id.to_owned(), copy.clone());
        if !restored {
            return;
        }
        match self.record(id).await {
            Ok(Some(record)) => {
                if let Some(copy) = copy.upgrade() {
                    copy.follow(&record).await;
                }
            }
            Ok(None) => {}
            Err(e) => tracing::warn!(error = %e.0, "reading a restored /mcp session's record"),
        }
    }

    /// Brings every copy this att holds in line with its record; closes those whose record
    /// is gone (ended on another att, or expired).
    pub async fn follow(&self) {
        let held: Vec<(String, Arc<dyn SessionCopy>)> = {
            let mut copies = self.copies();
            copies.retain(|_, c| c.strong_count() > 0);
            copies
                .iter()
                .filter_map(|(id, c)| c.upgrade().map(|c| (id.clone(), c)))
                .collect()
        };
        if held.is_empty() {
            return;
        }
        let ids: Vec<String> = held.iter().map(|(id, _)| id.clone()).collect();
        let records = match self.store.sessions(&ids, self.live_after()).await {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(error = %e.0, "reading the shared /mcp sessions: copies not followed");
                return;
            }
        };
        let records: HashMap<&str, &SharedSession> =
            records.iter().map(|r| (r.id.as_str(), r)).collect();
        for (id, copy) in held {
            match records.get(id.as_str()) {
                Some(record) => copy.follow(record).await,
                None => {
                    self.copies().remove(&id);
                    drop(copy);
                    let id = SessionId::from(id.as_str());
                    if let Err(e) = self.local.close_session(&id).await {
                        tracing::debug!(error = %e, "closing an ended /mcp session's copy");
                    }
                }
            }
        }
    }

    /// Marks the sessions this att holds as seen, and deletes expired records.
    pub async fn sweep(&self) {
        let ids: Vec<String> = self
            .local
            .sessions
            .read()
            .await
            .keys()
            .map(|id| id.to_string())
            .collect();
        if !ids.is_empty()
            && let Err(e) = self.store.touch(&ids, OffsetDateTime::now_utc()).await
        {
            tracing::warn!(error = %e.0, "marking the /mcp sessions held here as seen");
        }
        if let Err(e) = self.store.forget_expired(self.live_after()).await {
            tracing::warn!(error = %e.0, "deleting expired /mcp sessions");
        }
    }

    /// The clients' answers this att forwards to the others, and takes from them.
    pub fn answers(&self) -> &ForwardedAnswers {
        &self.answers
    }

    /// Follows the records on every change notification and sweeps, and takes the answers
    /// other atts forward, until `stop`.
    pub fn start(self: &Arc<Self>, stop: CancellationToken) {
        self.answers.start(stop.clone());
        let wake = self.store.watch(stop.clone());
        let this = self.clone();
        tokio::spawn(async move {
            let mut sweep = tokio::time::interval(this.sweep_every());
            sweep.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    () = stop.cancelled() => return,
                    () = wake.notified() => this.follow().await,
                    _ = sweep.tick() => this.sweep().await,
                }
            }
        });
    }

    /// rmcp's hook for re-creating a session from the record (only `load` does anything:
    /// the door writes the record, with the principal rmcp does not know).
    pub fn rmcp_store(self: &Arc<Self>) -> Arc<dyn SessionStore> {
        Arc::new(RmcpStore(self.clone()))
    }
}

struct RmcpStore(Arc<SharedSessions>);

#[async_trait::async_trait]
impl SessionStore for RmcpStore {
    async fn load(&self, session_id: &str) -> Result<Option<SessionState>, SessionStoreError> {
        let Some(record) = self.0.record(session_id).await? else {
            return Ok(None);
        };
        let params: InitializeRequestParams = serde_json::from_str(&record.initialize)?;
        Ok(Some(SessionState::new(params)))
    }

    async fn store(
        &self,
        _session_id: &str,
        _state: &SessionState,
    ) -> Result<(), SessionStoreError> {
        Ok(())
    }

    async fn delete(&self, session_id: &str) -> Result<(), SessionStoreError> {
        self.0.end(session_id).await?;
        Ok(())
    }
}

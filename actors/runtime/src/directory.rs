//! The actor directory: which actors of one att instance exist, where they hang in the tree,
//! and how they are doing.
//!
//! ractor's own name registry is global to the process, so two att instances in one process
//! (as in the integration tests) would collide on names like `events`. Names therefore live
//! here, per instance, and actors are spawned without a ractor name.
//!
//! Each actor's statistics (`messages_handled`, the trace ring) sit behind an `Arc` that the
//! actor's [`crate::trace::Traced`] wrapper writes and the HTTP API reads: one writer per
//! actor, many readers, and they outlive restarts so a crash's history stays visible.

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use ractor::ActorCell;
use serde::Serialize;
use time::OffsetDateTime;

/// Lifecycle of an actor as the directory reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ActorState {
    /// Being spawned (its `pre_start` runs).
    Starting,
    /// Handling messages.
    Running,
    /// Failed or exited; its supervisor will start it again after a back-off.
    Restarting,
    /// Stopped on purpose (shutdown or removal).
    Stopped,
    /// Given up on: the supervisor's meltdown budget was exceeded. `last_failure` says why.
    Failed,
}

/// The most recent failure of an actor.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Failure {
    /// What went wrong, as the supervisor saw it (error text or panic message).
    pub reason: String,
    /// When the supervisor learnt of it.
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
}

/// Counters and the trace ring of one actor, shared by its wrapper (writer) and readers.
#[derive(Debug)]
pub struct ActorStats {
    handled: AtomicU64,
    ring: Mutex<VecDeque<Handled>>,
    capacity: usize,
}

impl ActorStats {
    fn new(capacity: usize) -> Self {
        Self {
            handled: AtomicU64::new(0),
            ring: Mutex::new(VecDeque::with_capacity(capacity.min(64))),
            capacity: capacity.max(1),
        }
    }

    /// Records one handled message, evicting the oldest record when the ring is full.
    pub fn record(&self, record: Handled) {
        self.handled.fetch_add(1, Ordering::Relaxed);
        let mut ring = self.ring.lock().unwrap_or_else(|p| p.into_inner());
        if ring.len() == self.capacity {
            ring.pop_front();
        }
        ring.push_back(record);
    }

    /// Messages handled over the actor's whole life, restarts included.
    pub fn handled(&self) -> u64 {
        self.handled.load(Ordering::Relaxed)
    }

    /// The newest `limit` records of `actor` (optionally only those with `correlation_id`),
    /// oldest first.
    pub fn records(
        &self,
        actor: &str,
        correlation_id: Option<&str>,
        limit: usize,
    ) -> Vec<TraceRecord> {
        let ring = self.ring.lock().unwrap_or_else(|p| p.into_inner());
        let mut out: Vec<TraceRecord> = ring
            .iter()
            .rev()
            .filter(|r| correlation_id.is_none_or(|c| r.correlation_id.as_deref() == Some(c)))
            .take(limit)
            .map(|r| r.record(actor))
            .collect();
        out.reverse();
        out
    }
}

#[derive(Debug)]
struct Entry {
    parent: Option<String>,
    state: ActorState,
    restart_count: u32,
    last_failure: Option<Failure>,
    cell: Option<ActorCell>,
    stats: Arc<ActorStats>,
}

/// A row of `GET /api/v1/actors`.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ActorInfo {
    /// Unique name within this att instance, e.g. `events` or `upstream:github`.
    pub name: String,
    /// The supervising actor's name; `None` for the root.
    pub parent: Option<String>,
    /// Current lifecycle state.
    pub status: ActorState,
    /// How many times its supervisor has restarted it.
    pub restart_count: u32,
    /// The most recent failure, if any.
    pub last_failure: Option<Failure>,
    /// Messages handled over its whole life.
    pub messages_handled: u64,
}

/// The per-instance actor directory. Cheap to clone.
#[derive(Debug, Clone)]
pub struct ActorDirectory {
    inner: Arc<RwLock<BTreeMap<String, Entry>>>,
    ring_capacity: usize,
}

impl ActorDirectory {
    /// A directory whose actors keep the last `ring_capacity` trace records each.
    pub fn new(ring_capacity: usize) -> Self {
        Self {
            inner: Arc::new(RwLock::new(BTreeMap::new())),
            ring_capacity,
        }
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, BTreeMap<String, Entry>> {
        self.inner.write().unwrap_or_else(|p| p.into_inner())
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<String, Entry>> {
        self.inner.read().unwrap_or_else(|p| p.into_inner())
    }

    /// Declares an actor about to be spawned (or re-spawned) and returns its stats handle.
    /// A re-declared actor keeps its stats, restart count and last failure.
    pub fn declare(&self, name: &str, parent: Option<&str>) -> Arc<ActorStats> {
        let mut map = self.write();
        let entry = map.entry(name.to_owned()).or_insert_with(|| Entry {
            parent: parent.map(str::to_owned),
            state: ActorState::Starting,
            restart_count: 0,
            last_failure: None,
            cell: None,
            stats: Arc::new(ActorStats::new(self.ring_capacity)),
        });
        entry.parent = parent.map(str::to_owned);
        entry.state = ActorState::Starting;
        entry.stats.clone()
    }

    /// Marks an actor running and remembers its cell so handles can reach it.
    pub fn running(&self, name: &str, cell: ActorCell) {
        if let Some(e) = self.write().get_mut(name) {
            e.state = ActorState::Running;
            e.cell = Some(cell);
        }
    }

    /// Sets the state of an actor (and forgets its cell unless it is running).
    pub fn set_state(&self, name: &str, state: ActorState) {
        if let Some(e) = self.write().get_mut(name) {
            e.state = state;
            if state != ActorState::Running {
                e.cell = None;
            }
        }
    }

    /// Records a failure; `restarting` says whether the supervisor will try again.
    pub fn failed(&self, name: &str, reason: &str, state: ActorState) {
        if let Some(e) = self.write().get_mut(name) {
            e.state = state;
            e.cell = None;
            e.last_failure = Some(Failure {
                reason: reason.to_owned(),
                at: OffsetDateTime::now_utc(),
            });
        }
    }

    /// Counts one restart of `name`.
    pub fn restarted(&self, name: &str) -> u32 {
        let mut map = self.write();
        match map.get_mut(name) {
            Some(e) => {
                e.restart_count += 1;
                e.restart_count
            }
            None => 0,
        }
    }

    /// Removes an actor (and its descendants) that was deliberately taken out of the tree.
    pub fn remove(&self, name: &str) {
        let mut map = self.write();
        let mut doomed = vec![name.to_owned()];
        while let Some(n) = doomed.pop() {
            map.remove(&n);
            doomed.extend(
                map.iter()
                    .filter(|(_, e)| e.parent.as_deref() == Some(n.as_str()))
                    .map(|(k, _)| k.clone()),
            );
        }
    }

    /// The running actor's cell, for typed handles to send to.
    pub fn cell(&self, name: &str) -> Option<ActorCell> {
        self.read()
            .get(name)
            .and_then(|e| e.cell.clone())
            .filter(alive)
    }

    /// One actor's row.
    pub fn get(&self, name: &str) -> Option<ActorInfo> {
        self.read().get(name).map(|e| info(name, e))
    }

    /// Every actor's row, in tree order (parents before children, siblings by name).
    pub fn list(&self) -> Vec<ActorInfo> {
        let map = self.read();
        let mut out = Vec::with_capacity(map.len());
        let mut stack: Vec<&str> = map
            .iter()
            .filter(|(_, e)| e.parent.as_ref().is_none_or(|p| !map.contains_key(p)))
            .map(|(k, _)| k.as_str())
            .rev()
            .collect();
        // Children by parent, in name order, in one pass: the tree of an att with 1,000
        // upstreams is listed in linear time (a scan per actor made it quadratic).
        let mut children: std::collections::HashMap<&str, Vec<&str>> =
            std::collections::HashMap::new();
        for (k, e) in map.iter() {
            if let Some(p) = e.parent.as_deref() {
                children.entry(p).or_default().push(k.as_str());
            }
        }
        while let Some(name) = stack.pop() {
            let e = &map[name];
            out.push(info(name, e));
            if let Some(kids) = children.get(name) {
                stack.extend(kids.iter().rev());
            }
        }
        out
    }

    /// The trace ring of one actor; `None` for an unknown actor.
    pub fn trace(
        &self,
        name: &str,
        correlation_id: Option<&str>,
        limit: usize,
    ) -> Option<Vec<TraceRecord>> {
        let stats = self.read().get(name).map(|e| e.stats.clone())?;
        Some(stats.records(name, correlation_id, limit))
    }
}

/// Whether a cell can still take messages. A child killed together with its supervisor is
/// stopped by ractor without anyone recording it; its cell says so.
fn alive(cell: &ActorCell) -> bool {
    ractor::ACTIVE_STATES.contains(&cell.get_status())
}

fn info(name: &str, e: &Entry) -> ActorInfo {
    let status = match (&e.cell, e.state) {
        (Some(cell), ActorState::Running) if !alive(cell) => ActorState::Stopped,
        (_, state) => state,
    };
    ActorInfo {
        name: name.to_owned(),
        parent: e.parent.clone(),
        status,
        restart_count: e.restart_count,
        last_failure: e.last_failure.clone(),
        messages_handled: e.stats.handled(),
    }
}

/// How handling one message ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum TraceOutcome {
    /// The handler returned `Ok`.
    Ok,
    /// The handler returned an error (the actor then stops and its supervisor decides).
    Error {
        /// The error text.
        error: String,
    },
    /// The handler panicked.
    Panic {
        /// The panic message.
        error: String,
    },
}

/// One handled message.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TraceRecord {
    /// The actor that handled it.
    pub actor: String,
    /// `MessageMeta::kind` of the message.
    pub kind: String,
    /// `MessageMeta::correlation_id` of the message.
    pub correlation_id: Option<String>,
    /// When handling started.
    #[serde(with = "time::serde::rfc3339")]
    pub started_at: OffsetDateTime,
    /// How long the handler ran, in microseconds.
    pub duration_us: u64,
    /// How it ended.
    #[serde(flatten)]
    pub outcome: TraceOutcome,
}

/// One handled message as an actor's ring keeps it.
#[derive(Debug, Clone)]
pub struct Handled {
    /// `MessageMeta::kind` of the message.
    pub kind: &'static str,
    /// `MessageMeta::correlation_id` of the message.
    pub correlation_id: Option<Box<str>>,
    /// When handling started.
    pub started_at: OffsetDateTime,
    /// How long the handler ran, in microseconds.
    pub duration_us: u64,
    /// How it ended.
    pub outcome: TraceOutcome,
}

impl Handled {
    /// The record of this message handled by `actor`.
    pub fn record(&self, actor: &str) -> TraceRecord {
        TraceRecord {
            actor: actor.to_owned(),
            kind: self.kind.to_owned(),
            correlation_id: self.correlation_id.as_deref().map(str::to_owned),
            started_at: self.started_at,
            duration_us: self.duration_us,
            outcome: self.outcome.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_puts_parents_before_children_and_siblings_by_name() {
        let d = ActorDirectory::new(4);
        d.declare("att", None);
        d.declare("upstreams", Some("att"));
        d.declare("events", Some("att"));
        d.declare("upstream:b", Some("upstreams"));
        d.declare("upstream:a", Some("upstreams"));
        let names: Vec<String> = d.list().into_iter().map(|i| i.name).collect();
        assert_eq!(
            names,
            ["att", "events", "upstreams", "upstream:a", "upstream:b"]
        );
    }

    #[test]
    fn remove_takes_descendants_along() {
        let d = ActorDirectory::new(4);
        d.declare("att", None);
        d.declare("upstreams", Some("att"));
        d.declare("upstream:a", Some("upstreams"));
        d.remove("upstreams");
        let names: Vec<String> = d.list().into_iter().map(|i| i.name).collect();
        assert_eq!(names, ["att"]);
    }

    #[test]
    fn ring_keeps_the_newest_records_and_filters_by_correlation_id() {
        let stats = ActorStats::new(3);
        for (i, kind) in ["m0", "m1", "m2", "m3", "m4"].into_iter().enumerate() {
            stats.record(Handled {
                kind,
                correlation_id: (i % 2 == 0).then(|| "r".into()),
                started_at: OffsetDateTime::UNIX_EPOCH,
                duration_us: 0,
                outcome: TraceOutcome::Ok,
            });
        }
        assert_eq!(stats.handled(), 5);
        let all: Vec<String> = stats
            .records("t", None, 10)
            .into_iter()
            .map(|r| r.kind)
            .collect();
        assert_eq!(all, ["m2", "m3", "m4"]);
        let r: Vec<String> = stats
            .records("t", Some("r"), 10)
            .into_iter()
            .map(|r| r.kind)
            .collect();
        assert_eq!(r, ["m2", "m4"]);
        let newest: Vec<String> = stats
            .records("t", None, 1)
            .into_iter()
            .map(|r| r.kind)
            .collect();
        assert_eq!(newest, ["m4"]);
    }
}

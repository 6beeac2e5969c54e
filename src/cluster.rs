//! The cluster: the att processes (nodes) that share one database. Each node has an id,
//! made once and kept in `<data_dir>/node-id` (so a restarted node is the same node), and
//! says it is alive every [`HEARTBEAT`] by writing its row in `nodes` ([`ClusterStore`]).
//! `GET /api/v1/cluster` lists the nodes with their last heartbeat and whether it is recent
//! ([`view`]: within [`LIVE_WITHIN`]). On SQLite the cluster is the one node.
//!
//! Bounded: a node silent for [`FORGET_AFTER`] is deleted at the next heartbeat of any
//! node, and a listing returns at most [`MAX_NODES`] nodes.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use att_runtime::store::StoreError;
use serde::Serialize;
use time::OffsetDateTime;
use tokio_util::sync::CancellationToken;

/// How often a node writes its heartbeat.
pub const HEARTBEAT: Duration = Duration::from_secs(5);
/// A node whose last heartbeat is older than this is shown as not live.
pub const LIVE_WITHIN: Duration = Duration::from_secs(15);
/// A node silent for this long is forgotten.
pub const FORGET_AFTER: Duration = Duration::from_secs(24 * 3600);
/// Nodes a listing returns at most (the most recently heard first).
pub const MAX_NODES: u32 = 1000;
/// The file in the data directory that keeps the node's id.
pub const NODE_ID_FILE: &str = "node-id";

/// One node's row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeRecord {
    /// `node-<16 hex digits>`.
    pub id: String,
    /// Where it listens (`IP:PORT`).
    pub address: String,
    /// att's version it runs.
    pub version: String,
    pub started_at: OffsetDateTime,
    pub heartbeat_at: OffsetDateTime,
}

/// Where node heartbeats are kept.
#[async_trait::async_trait]
pub trait ClusterStore: Send + Sync + 'static {
    /// Writes `node`'s row (inserted or replaced), and deletes the rows of nodes whose last
    /// heartbeat is before `forget_before`.
    async fn heartbeat(
        &self,
        node: &NodeRecord,
        forget_before: OffsetDateTime,
    ) -> Result<(), StoreError>;
    /// The most recently heard `limit` nodes, most recent first.
    async fn list_nodes(&self, limit: u32) -> Result<Vec<NodeRecord>, StoreError>;
}

/// One node as `GET /api/v1/cluster` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct NodeView {
    pub id: String,
    pub address: String,
    pub version: String,
    /// RFC 3339.
    pub started_at: String,
    /// RFC 3339.
    pub heartbeat_at: String,
    /// Milliseconds since its last heartbeat (0 if its clock is ahead).
    pub heartbeat_age_ms: u64,
    /// Its last heartbeat is within [`LIVE_WITHIN`].
    pub live: bool,
    /// It is the node that answers.
    pub this: bool,
}

/// The nodes as seen at `now` by the node `this`.
pub fn view(nodes: &[NodeRecord], this: &str, now: OffsetDateTime) -> Vec<NodeView> {
    let rfc3339 = |t: OffsetDateTime| {
        t.format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default()
    };
    nodes
        .iter()
        .map(|n| {
            let age = now - n.heartbeat_at;
            let age_ms = u64::try_from(age.whole_milliseconds().max(0)).unwrap_or(u64::MAX);
            NodeView {
                id: n.id.clone(),
                address: n.address.clone(),
                version: n.version.clone(),
                started_at: rfc3339(n.started_at),
                heartbeat_at: rfc3339(n.heartbeat_at),
                heartbeat_age_ms: age_ms,
                live: age <= LIVE_WITHIN,
                this: n.id == this,
            }
        })
        .collect()
}

/// This node's id: read from `<data_dir>/node-id`, made there on first start.
pub fn node_id(data_dir: &Path) -> Result<String, String> {
    let path = data_dir.join(NODE_ID_FILE);
    let named = |e: std::io::Error| format!("{}: {e}", path.display());
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            let id = text.trim();
            let valid = id.len() == 21
                && id.starts_with("node-")
                && id[5..].bytes().all(|b| b.is_ascii_hexdigit());
            if valid {
                Ok(id.to_owned())
            } else {
                Err(format!(
                    "{}: not a node id (`node-` and 16 hex digits); delete it to make a new one",
                    path.display()
                ))
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            use ring::rand::SecureRandom;
            let mut bytes = [0u8; 8];
            ring::rand::SystemRandom::new()
                .fill(&mut bytes)
                .map_err(|_| "no randomness for a node id".to_owned())?;
            let id = format!(
                "node-{}",
                bytes.iter().map(|b| format!("{b:02x}")).collect::<String>()
            );
            std::fs::write(&path, format!("{id}\n")).map_err(named)?;
            Ok(id)
        }
        Err(e) => Err(named(e)),
    }
}

/// This node in the cluster: its id and row, and the store its heartbeats go to.
pub struct Cluster {
    pub store: Arc<dyn ClusterStore>,
    pub node: NodeRecord,
}

impl Cluster {
    /// Writes one heartbeat, now.
    pub async fn beat(&self) -> Result<(), StoreError> {
        let now = OffsetDateTime::now_utc();
        let node = NodeRecord {
            heartbeat_at: now,
            ..self.node.clone()
        };
        self.store.heartbeat(&node, now - FORGET_AFTER).await
    }

    /// Writes a heartbeat every [`HEARTBEAT`] until `stop`; a failed one is logged (the
    /// node shows as not live until the database answers again).
    pub fn keep_beating(self: &Arc<Self>, stop: CancellationToken) -> tokio::task::JoinHandle<()> {
        let cluster = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(HEARTBEAT);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    () = stop.cancelled() => return,
                    _ = tick.tick() => {}
                }
                if let Err(e) = cluster.beat().await {
                    tracing::warn!(error = %e.0, "cluster heartbeat not written");
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn nodes_are_live_while_their_heartbeat_is_recent() {
        let now = datetime!(2026-01-01 12:00:00 UTC);
        let node = |id: &str, ago_ms: i64| NodeRecord {
            id: id.into(),
            address: "127.0.0.1:1".into(),
            version: "0.1.0".into(),
            started_at: now - time::Duration::hours(1),
            heartbeat_at: now - time::Duration::milliseconds(ago_ms),
        };
        let table = [
            (node("node-a", 0), true, 0),
            (node("node-b", 15_000), true, 15_000),
            (node("node-c", 15_001), false, 15_001),
            // A clock ahead of ours: age 0, live.
            (node("node-d", -2_000), true, 0),
        ];
        let nodes: Vec<NodeRecord> = table.iter().map(|(n, _, _)| n.clone()).collect();
        let seen = view(&nodes, "node-b", now);
        for ((n, live, age), v) in table.iter().zip(&seen) {
            assert_eq!((v.live, v.heartbeat_age_ms), (*live, *age), "{}", n.id);
            assert_eq!(v.this, n.id == "node-b");
        }
        assert_eq!(seen[0].heartbeat_at, "2026-01-01T12:00:00Z");
    }

    #[test]
    fn the_node_id_is_made_once_and_kept() {
        let dir = tempfile::tempdir().expect("dir");
        let id = node_id(dir.path()).expect("made");
        assert!(id.starts_with("node-") && id.len() == 21, "{id}");
        assert_eq!(node_id(dir.path()).expect("read"), id);
        let other = tempfile::tempdir().expect("dir");
        assert_ne!(node_id(other.path()).expect("made"), id);
        std::fs::write(dir.path().join(NODE_ID_FILE), "../../etc").expect("write");
        let e = node_id(dir.path()).expect_err("garbage");
        assert!(e.contains(NODE_ID_FILE), "{e}");
    }
}

//! Where a release run goes, on an att of a cluster: a `service:<name>` target belongs to
//! the node that runs its service ([`crate::services`]), and only that node executes its
//! runs. A run asked of another att is forwarded through the database — stored
//! `requested`, its target's lock in the owner's name (so still one open run per target
//! across the cluster), announced to the owner, which starts it within a second
//! (`att_release::bootstrap::step::requested`) — and answered like a local run (202, its
//! id, readable on every att). Unless the owner is dead (no heartbeat within
//! [`LIVE_WITHIN`]): then nothing would start it, and the request is refused, naming the
//! node, rather than queued.
//!
//! [`route`] decides (pure, table-tested); [`route_run`] gathers the facts for it. Both
//! the HTTP API and the workspace `deploy` tool ask it, and nothing else.

use std::time::Duration;

use att_runtime::store::StoreError;
use time::OffsetDateTime;

use crate::cluster::{ClusterStore, LIVE_WITHIN, MAX_NODES};
use crate::services::Services;

/// Where a run of a target goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunRoute {
    /// This node runs it (or the target is not another node's service).
    Here,
    /// Stored for this live node, which runs the target's service, to start.
    Forward(String),
    /// The node that runs the target's service is not live: refused.
    OwnerDead(String),
}

/// The route of a run whose target's service belongs to `owner` (`None`: this node, or no
/// node), last heard at `heartbeat` (`None`: never), at `now`.
pub fn route(
    owner: Option<&str>,
    heartbeat: Option<OffsetDateTime>,
    now: OffsetDateTime,
    live_within: Duration,
) -> RunRoute {
    let Some(node) = owner else {
        return RunRoute::Here;
    };
    match heartbeat {
        Some(beat) if now - beat <= live_within => RunRoute::Forward(node.to_owned()),
        _ => RunRoute::OwnerDead(node.to_owned()),
    }
}

/// The route of a run of `target` asked of this node.
pub async fn route_run(
    services: &Services,
    cluster: &dyn ClusterStore,
    target: &str,
) -> Result<RunRoute, StoreError> {
    let Some(owner) = services.owner_elsewhere(target).await? else {
        return Ok(RunRoute::Here);
    };
    let heartbeat = cluster
        .list_nodes(MAX_NODES)
        .await?
        .into_iter()
        .find(|n| n.id == owner)
        .map(|n| n.heartbeat_at);
    Ok(route(
        Some(&owner),
        heartbeat,
        OffsetDateTime::now_utc(),
        LIVE_WITHIN,
    ))
}

/// Why a run of `target` is refused: `node`, which runs its service, is not live.
pub fn owner_dead(target: &str, node: &str) -> String {
    format!(
        "`{target}` belongs to node `{node}`, which has not been heard from within {}s: its run \
         would never start. Start the node again (its runs resume there), or register the \
         service on a live att to move it (`GET /api/v1/cluster` lists the nodes)",
        LIVE_WITHIN.as_secs()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn a_run_goes_to_the_live_node_that_runs_its_service_and_is_refused_when_it_is_dead() {
        let now = datetime!(2026-01-01 12:00:00 UTC);
        let within = Duration::from_secs(15);
        let ago = |s: i64| Some(now - time::Duration::seconds(s));
        let table = [
            (None, ago(0), RunRoute::Here),
            (None, None, RunRoute::Here),
            (Some("node-a"), ago(0), RunRoute::Forward("node-a".into())),
            (Some("node-a"), ago(15), RunRoute::Forward("node-a".into())),
            // A clock ahead of ours.
            (Some("node-a"), ago(-3), RunRoute::Forward("node-a".into())),
            (
                Some("node-a"),
                ago(16),
                RunRoute::OwnerDead("node-a".into()),
            ),
            // Forgotten (or never heard).
            (Some("node-a"), None, RunRoute::OwnerDead("node-a".into())),
        ];
        for (owner, beat, want) in table {
            assert_eq!(route(owner, beat, now, within), want, "{owner:?} {beat:?}");
        }
    }
}

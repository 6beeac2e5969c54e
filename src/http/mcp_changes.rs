//! What a client of `/mcp` is told changed, read once for the two ways of telling it: a
//! 2025-11-25 session gets `notifications/*/list_changed` and `resources/updated` on its
//! standing stream (one watcher per endpoint tells them all: `mcp_endpoint::fanout`); a 2026-07-28 client opens
//! `subscriptions/listen` and gets the same changes on that request's stream, filtered by
//! what it asked for (`FederatedServer::listen`).
//!
//! [`ChangeFeed`] turns the router's version counter into which part of the federated
//! catalog changed (tools, resources, prompts: each part has a hash), and passes on the
//! updates of resources held upstream.

use std::collections::VecDeque;
use std::sync::Arc;

use att_gateway::federation::FederationCache;

use crate::auth::profile::Profile;
use tokio::sync::{broadcast, watch};

/// One change a client may be told about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    Tools,
    Resources,
    Prompts,
    /// A resource held upstream changed.
    ResourceUpdated(String),
}

/// The changes of the federated catalog (or of a profile's view of it) and of subscribed
/// resources, as they come.
pub struct ChangeFeed {
    catalog: Arc<FederationCache>,
    view: Option<Arc<Profile>>,
    versions: watch::Receiver<u64>,
    updates: broadcast::Receiver<String>,
    /// The catalog's part hashes as last told.
    last: [u64; 3],
    ready: VecDeque<Change>,
}

impl ChangeFeed {
    /// Changes from now on, of the whole catalog or of `view`'s part of it.
    pub fn new(
        catalog: Arc<FederationCache>,
        view: Option<Arc<Profile>>,
        updates: broadcast::Receiver<String>,
    ) -> Self {
        let versions = catalog.router().changes();
        let last = hashes(&catalog, view.as_deref());
        Self {
            catalog,
            view,
            versions,
            updates,
            last,
            ready: VecDeque::new(),
        }
    }

    /// The changes already known and not yet returned by [`ChangeFeed::next`] (the other
    /// parts of a catalog change), without waiting.
    pub fn ready(&mut self) -> impl Iterator<Item = Change> + '_ {
        self.ready.drain(..)
    }

    /// The next change; `None` once att stops (the router or the subscriptions are gone).
    pub async fn next(&mut self) -> Option<Change> {
        loop {
            if let Some(change) = self.ready.pop_front() {
                return Some(change);
            }
            tokio::select! {
                changed = self.versions.changed() => {
                    changed.ok()?;
                    let now = hashes(&self.catalog, self.view.as_deref());
                    self.ready.extend(parts_changed(self.last, now));
                    self.last = now;
                }
                update = self.updates.recv() => match update {
                    Ok(uri) => return Some(Change::ResourceUpdated(uri)),
                    Err(broadcast::error::RecvError::Lagged(n)) => {
                        tracing::warn!(missed = n, "a client missed resource updates");
                    }
                    Err(broadcast::error::RecvError::Closed) => return None,
                },
            }
        }
    }
}

/// The hashes of the catalog's parts, or of those a profile shows.
fn hashes(catalog: &FederationCache, view: Option<&Profile>) -> [u64; 3] {
    let federated = catalog.get();
    match view {
        None => federated.hashes,
        Some(v) => federated.hashes_of_view(|t| v.tool(t), |r| v.resource(r), |p| v.prompt(p)),
    }
}

/// Which parts differ between two catalogs' hashes (tools, resources, prompts).
fn parts_changed(before: [u64; 3], now: [u64; 3]) -> impl Iterator<Item = Change> {
    [Change::Tools, Change::Resources, Change::Prompts]
        .into_iter()
        .zip(before.into_iter().zip(now))
        .filter(|(_, (b, n))| b != n)
        .map(|(change, _)| change)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_changed_part_is_one_change_in_a_fixed_order() {
        let cases: &[([u64; 3], [u64; 3], &[Change])] = &[
            ([1, 2, 3], [1, 2, 3], &[]),
            ([1, 2, 3], [9, 2, 3], &[Change::Tools]),
            ([1, 2, 3], [1, 9, 3], &[Change::Resources]),
            ([1, 2, 3], [1, 2, 9], &[Change::Prompts]),
            (
                [1, 2, 3],
                [9, 9, 9],
                &[Change::Tools, Change::Resources, Change::Prompts],
            ),
        ];
        for (before, now, expected) in cases {
            let got: Vec<Change> = parts_changed(*before, *now).collect();
            assert_eq!(&got, expected, "{before:?} → {now:?}");
        }
    }
}

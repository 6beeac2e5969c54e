//! A build to run for a run: the `build` phase's work, or a rollback's to a release whose
//! artifact is no longer kept. It builds, registers the release and prunes old artifacts.

use std::path::PathBuf;
use std::sync::Arc;

use serde_json::json;

use crate::build::{self, BuildSpec};
use crate::events::{EventSink, NewEvent};
use crate::model::{Release, ReleaseStore};
use crate::service::spec::ServiceSpec;

/// A build to run: the `build` phase's work, or a rollback's to a release whose artifact
/// is no longer kept.
pub(super) struct BuildJob {
    pub(super) target: String,
    pub(super) store: Arc<dyn ReleaseStore>,
    pub(super) data_dir: PathBuf,
    pub(super) events: Arc<dyn EventSink>,
    pub(super) run: String,
    pub(super) service: ServiceSpec,
    pub(super) spec: BuildSpec,
    /// Releases whose artifacts pruning must keep (the live one, the rollback target).
    pub(super) protect: Vec<String>,
}

impl BuildJob {
    /// Builds `commit`, registers the release (`built`), and removes the artifacts of the
    /// target's releases beyond the newest [`build::KEEP_ARTIFACTS`].
    pub(super) async fn run(self, commit: &str) -> Result<Release, String> {
        let target = self.target.clone();
        let (events, run, t) = (self.events.clone(), self.run.clone(), target.clone());
        let progress: build::Progress = Arc::new(move |lines| {
            events.emit(
                NewEvent::new(
                    "bootstrap.build_output",
                    json!({"run_id": run, "target": t, "lines": lines}),
                )
                .correlated(&run),
            );
        });
        let artifact = build::build(&self.spec, &self.data_dir, &target, commit, progress).await?;
        let release = self.service.built_release(&target, commit, Some(&artifact));
        self.store
            .save_release(&release)
            .await
            .map_err(|e| format!("could not register the release: {e}"))?;
        let releases = self.store.list_releases(&target).await.unwrap_or_default();
        let kept: Vec<(String, Option<PathBuf>)> = releases
            .iter()
            .map(|r| (r.id.clone(), r.artifact.clone()))
            .collect();
        let mut protect: Vec<&str> = self.protect.iter().map(String::as_str).collect();
        protect.push(commit);
        let removed = build::prune(
            &self.data_dir,
            &target,
            &kept,
            build::KEEP_ARTIFACTS,
            &protect,
        );
        for r in releases.iter().filter(|r| removed.contains(&r.id)) {
            let mut r = r.clone();
            r.artifact = None;
            let _ = self.store.save_release(&r).await;
        }
        Ok(release)
    }
}

//! The `resolve` phase: which release a run deploys and which it would roll back to (and
//! where that came from: the request, the registry, the service's log, git), for a managed
//! service and for att itself.

use std::sync::Arc;

use futures_util::future::BoxFuture;
use serde_json::json;

use super::actor::{SELF, service_name};
use super::guard::GuardSettings;
use super::messages::PhaseOutcome;
use crate::build::{self, BuildSpec};
use crate::directory::ActorDirectory;
use crate::model::{Release, ReleaseStatus, ReleaseStore, RunRequest};
use crate::service::actor::ServiceHandle;
use crate::service::spec::ServiceSpec;

/// What `resolve` decided.
pub struct Resolution {
    pub(super) deployed: Release,
    pub(super) rollback_to: Option<Release>,
    pub(super) source: &'static str,
    pub(super) live_before: Option<Release>,
    /// The target's spec, when its releases are built: then `deployed` is built first
    /// unless its artifact is kept.
    pub(super) service: Option<ServiceSpec>,
    /// The post-deploy guard the run applies (the request's settings, else the service's).
    pub(super) guard: GuardSettings,
}

impl Resolution {
    /// The build that must run before `release` can run, if any.
    pub(super) fn needs_build(&self, release: &Release) -> Option<BuildSpec> {
        let build = self.service.as_ref()?.build.clone()?;
        let kept = release.artifact.as_ref().is_some_and(|a| a.exists());
        (!kept).then_some(build)
    }
}

pub(super) fn resolve_work(
    store: Arc<dyn ReleaseStore>,
    directory: ActorDirectory,
    request: RunRequest,
    itself: Option<Itself>,
) -> BoxFuture<'static, PhaseOutcome> {
    Box::pin(async move {
        let resolved = match itself {
            Some(itself) => resolve_self(store, request, itself).await,
            None => resolve(store, directory, request).await,
        };
        PhaseOutcome::Resolved(resolved.map(Box::new))
    })
}

/// What `resolve` knows of att itself, for the `self` target.
pub(super) struct Itself {
    pub(super) build: Option<BuildSpec>,
    /// The release this att runs, as the launcher started it.
    pub(super) running: Option<String>,
}

/// The spec att's own releases are built from: the artifact is the att binary.
pub(super) fn self_spec(build: Option<BuildSpec>) -> ServiceSpec {
    let mut spec: ServiceSpec =
        serde_json::from_value(json!({"name": SELF, "command": crate::service::spec::ARTIFACT}))
            .unwrap_or_else(|_| unreachable!("a fixed, valid spec"));
    spec.build = build;
    spec
}

/// `resolve` for `self`: the deployed release as for a service; the rollback target is the
/// release att runs now (the request's, else the registry's live one, else the running
/// binary): rolling back keeps it.
pub(super) async fn resolve_self(
    store: Arc<dyn ReleaseStore>,
    request: RunRequest,
    itself: Itself,
) -> Result<Resolution, String> {
    let spec = self_spec(itself.build);
    let releases = store.list_releases(SELF).await.map_err(|e| e.to_string())?;
    let deployed = deployed_release(&spec, SELF, &releases, &request).await?;
    let find = |id: &str| releases.iter().find(|r| r.id == id).cloned();
    let (live_before, named) = live_and_named(&releases, &request);
    let (rollback_to, source) =
        match (named, &live_before) {
            (Some(id), _) => (
                Some(find(&id).ok_or_else(|| {
                    format!("rollback release `{id}` of `self` is not registered")
                })?),
                "request",
            ),
            (None, Some(live)) => (Some(live.clone()), "registry"),
            (None, None) => {
                let id = itself
                    .running
                    .unwrap_or_else(|| format!("att-{}", env!("CARGO_PKG_VERSION")));
                let program = std::env::current_exe()
                    .map(|p| p.display().to_string())
                    .unwrap_or_default();
                let mut running = spec.built_release(SELF, &id, None);
                running.command = program;
                (Some(find(&id).unwrap_or(running)), "launcher")
            }
        };
    Ok(Resolution {
        deployed,
        rollback_to,
        source,
        live_before,
        // att's own switch is the launcher's: no guard.
        guard: GuardSettings::effective(None, None, None, None),
        service: Some(spec).filter(|s| s.build.is_some()),
    })
}

/// The target's live release, and the rollback release the request names (an explicit
/// rollback id beats the previous id).
pub(super) fn live_and_named(
    releases: &[Release],
    request: &RunRequest,
) -> (Option<Release>, Option<String>) {
    let live = releases
        .iter()
        .find(|r| r.status == ReleaseStatus::Live)
        .cloned();
    let named = request
        .rollback_release_id
        .clone()
        .or(request.previous_release_id.clone())
        .filter(|id| !id.is_empty());
    (live, named)
}

/// The release a run deploys: registered under the requested id, else (for a target with a
/// build) the commit the id names, `HEAD` when none is named.
pub(super) async fn deployed_release(
    spec: &ServiceSpec,
    target: &str,
    releases: &[Release],
    request: &RunRequest,
) -> Result<Release, String> {
    let find = |id: &str| releases.iter().find(|r| r.id == id).cloned();
    let requested = request.requested_release_id.trim();
    match (
        find(requested).filter(|_| !requested.is_empty()),
        &spec.build,
    ) {
        (Some(r), _) => Ok(r),
        (None, Some(b)) => {
            let rev = if requested.is_empty() {
                "HEAD"
            } else {
                requested
            };
            let commit = revision(b, rev).await?.commit;
            Ok(find(&commit).unwrap_or_else(|| spec.built_release(target, &commit, None)))
        }
        (None, None) if requested.is_empty() => Err(format!(
            "`requested_release_id` is required: `{target}` has no build to make a release from"
        )),
        (None, None) => Err(format!(
            "release `{requested}` of `{target}` is not registered"
        )),
    }
}

/// `resolve`: the deployed release from the request — a registered release, or for a target
/// with a build the commit it names (`HEAD` when none is named), to be built; the rollback
/// target from the request, else the registry (the target's live release), else the
/// service's own log (`release_id=…`), else git (the deployed commit's parent).
pub(super) async fn resolve(
    store: Arc<dyn ReleaseStore>,
    directory: ActorDirectory,
    request: RunRequest,
) -> Result<Resolution, String> {
    let name = service_name(&request.target).unwrap_or_default().to_owned();
    let service = ServiceHandle::new(directory, &name);
    let spec = service
        .spec()
        .await
        .map_err(|e| format!("service `{name}` is not running as a managed service: {e}"))?;
    let releases = store
        .list_releases(&request.target)
        .await
        .map_err(|e| e.to_string())?;
    let find = |id: &str| releases.iter().find(|r| r.id == id).cloned();
    let deployed = deployed_release(&spec, &request.target, &releases, &request).await?;
    let (live_before, named) = live_and_named(&releases, &request);
    let (rollback_to, source) = if let Some(id) = named {
        let r = find(&id).ok_or_else(|| {
            format!(
                "rollback release `{id}` of `{}` is not registered",
                request.target
            )
        })?;
        (Some(r), "request")
    } else if let Some(live) = live_before.clone() {
        (Some(live), "registry")
    } else {
        // The newest `release_id=` its own log names, if registered.
        let lines = service.logs(500).await.unwrap_or_default();
        let from_log = lines.iter().rev().find_map(|l| {
            l.split_whitespace()
                .find_map(|t| t.strip_prefix("release_id="))
                .filter(|id| !id.is_empty() && *id != deployed.id)
                .and_then(find)
        });
        // Else the deployed commit's parent (built when the rollback needs it).
        let parent = match (&from_log, &spec.build) {
            (None, Some(b)) => revision(b, &deployed.id).await.ok().and_then(|r| r.parent),
            _ => None,
        };
        match (from_log, parent) {
            (Some(r), _) => (Some(r), "runtime_logs"),
            (None, Some(p)) => (
                Some(find(&p).unwrap_or_else(|| spec.built_release(&request.target, &p, None))),
                "git",
            ),
            (None, None) => (None, "request"),
        }
    };
    Ok(Resolution {
        deployed,
        rollback_to,
        source,
        live_before,
        guard: GuardSettings::effective(
            request.guard_period,
            request.guard_max_restarts,
            request.guard_failure_threshold,
            Some(&spec),
        ),
        service: Some(spec).filter(|s| s.build.is_some()),
    })
}

/// `rev` resolved to a commit of the build's repository (git2 is blocking).
pub(super) async fn revision(build: &BuildSpec, rev: &str) -> Result<build::Revision, String> {
    let (repo, rev) = (build.repo.clone(), rev.to_owned());
    tokio::task::spawn_blocking(move || build::resolve_revision(&repo, &rev))
        .await
        .map_err(|e| format!("the revision lookup did not finish: {e}"))?
}

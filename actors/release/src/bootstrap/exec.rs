//! The phase work: `change`, `deploy`, `restart_watchdog`, `health` and `rollback`, each a
//! future a [`worker`](super::worker) runs. [`Exec`] is where the work acts — the service
//! actors for `service:<name>`, the launcher for `self`.

use std::path::PathBuf;
use std::time::Duration;

use futures_util::future::BoxFuture;

use super::actor::{DEPLOY_DEADLINE, SELF, service_name};
use super::build_job::BuildJob;
use super::launcher::{Launcher, Request as LaunchRequest};
use super::messages::PhaseOutcome;
use crate::build::BuildSpec;
use crate::change;
use crate::directory::ActorDirectory;
use crate::forge::{self, RevertJob};
use crate::model::{Release, RunRequest};
use crate::service::actor::ServiceHandle;
use crate::service::probe::{self, HealthGate, Probe, Watchdog};

/// Where a phase's work acts: the service actors, or (target `self`) the launcher.
#[derive(Clone)]
pub(super) struct Exec {
    pub(super) directory: ActorDirectory,
    pub(super) launcher: Option<Launcher>,
}

/// How long a launcher request other than `watch` may take.
pub(super) const LAUNCHER_LIMIT: Duration = Duration::from_secs(60);

impl Exec {
    pub(super) fn launcher(&self) -> Result<&Launcher, String> {
        self.launcher
            .as_ref()
            .ok_or_else(|| "att does not run under `att launch`".to_owned())
    }

    /// `deploy`: switches the service to `release`; for `self`, starts the candidate and
    /// answers its probe address.
    pub(super) async fn deploy(
        &self,
        target: &str,
        release: &Release,
    ) -> Result<Option<String>, String> {
        if target == SELF {
            let request = LaunchRequest::Start {
                program: release.command.clone(),
                release: release.id.clone(),
            };
            let reply = self.launcher()?.call(&request, LAUNCHER_LIMIT).await?;
            return match (reply.ok, reply.probe) {
                (true, Some(probe)) => Ok(Some(probe)),
                (_, _) => Err(reply
                    .error
                    .unwrap_or_else(|| "the launcher did not start the release".into())),
            };
        }
        let name = service_name(target).unwrap_or_default();
        let service = ServiceHandle::new(self.directory.clone(), name);
        match service
            .deploy(release.program(), &release.id, DEPLOY_DEADLINE)
            .await
        {
            Ok(Ok(_)) => Ok(None),
            Ok(Err(e)) => Err(e),
            Err(e) => Err(format!("the service did not answer: {e}")),
        }
    }

    /// `restart_watchdog`.
    pub(super) async fn watch(&self, request: &RunRequest) -> Watchdog {
        if request.target == SELF {
            let launcher = match self.launcher() {
                Ok(l) => l,
                Err(e) => return unstable(e),
            };
            let interval = request.restart_watchdog_interval;
            let probes = request.restart_watchdog_retries.max(1);
            let ask = LaunchRequest::Watch {
                probes,
                interval_ms: u64::try_from(interval.as_millis()).unwrap_or(u64::MAX),
            };
            return match launcher
                .call(
                    &ask,
                    interval
                        .saturating_mul(probes)
                        .saturating_add(LAUNCHER_LIMIT),
                )
                .await
            {
                Ok(r) => Watchdog {
                    stable: r.ok,
                    reason: r.reason.or(r.error).unwrap_or_default(),
                    probes,
                },
                Err(e) => unstable(e),
            };
        }
        let name = service_name(&request.target).unwrap_or_default();
        match ServiceHandle::new(self.directory.clone(), name)
            .running()
            .await
        {
            Ok(Some(running)) => {
                probe::watchdog(
                    &running.process,
                    request.restart_watchdog_retries,
                    request.restart_watchdog_interval,
                )
                .await
            }
            _ => unstable("process_not_running".into()),
        }
    }

    /// `health`. For `self`: the candidate's `/api/v1/health` at its probe address, then the
    /// launcher's switch to it; without a candidate (a run concluded after a restart), the
    /// att answering is the release.
    pub(super) async fn health(&self, request: &RunRequest, candidate: Option<&str>) -> HealthGate {
        if request.target == SELF {
            let Some(addr) = candidate else {
                return HealthGate {
                    healthy: true,
                    last: None,
                    attempts: 0,
                };
            };
            let probe = Probe::Http {
                url: format!("http://{addr}/api/v1/health"),
            };
            let gate = probe::health_gate(
                &probe,
                None,
                request.health_check_passes,
                request.health_check_interval,
                request.health_deadline,
            )
            .await;
            if !gate.healthy {
                return gate;
            }
            let promoted = match self.launcher() {
                Ok(l) => l.call(&LaunchRequest::Promote, LAUNCHER_LIMIT).await,
                Err(e) => Err(e),
            };
            return match promoted {
                Ok(r) if r.ok => gate,
                Ok(r) => failed_gate(&format!(
                    "the launcher did not switch: {}",
                    r.error.unwrap_or_default()
                )),
                Err(e) => failed_gate(&format!("the launcher did not switch: {e}")),
            };
        }
        let name = service_name(&request.target).unwrap_or_default();
        let service = ServiceHandle::new(self.directory.clone(), name);
        // The probe that reaches this process: with a private probe socket, not the release
        // still serving beside it.
        let Some(running) = (match service.running().await {
            Ok(r) => r,
            Err(_) => return failed_gate("the service did not answer"),
        }) else {
            return failed_gate("process_not_running");
        };
        let process = running.process;
        let gate = match running.health {
            Some(probe) => {
                probe::health_gate(
                    &probe,
                    Some(&process),
                    request.health_check_passes,
                    request.health_check_interval,
                    request.health_deadline,
                )
                .await
            }
            // No probe: running is healthy.
            None => HealthGate {
                healthy: process.exited().is_none(),
                last: None,
                attempts: 1,
            },
        };
        if gate.healthy {
            // A service with `listen`: the release it replaced served until now; it goes.
            let _ = service.retire().await;
        }
        gate
    }

    /// For `self`: stops the candidate (the running att serves on).
    pub(super) async fn abort(&self) -> Result<(), String> {
        let reply = self
            .launcher()?
            .call(&LaunchRequest::Abort, LAUNCHER_LIMIT)
            .await?;
        if reply.ok {
            Ok(())
        } else {
            Err(reply.error.unwrap_or_default())
        }
    }
}

pub(super) fn unstable(reason: String) -> Watchdog {
    Watchdog {
        stable: false,
        reason,
        probes: 1,
    }
}

pub(super) fn deploy_work(
    exec: Exec,
    target: String,
    release: Release,
) -> BoxFuture<'static, PhaseOutcome> {
    Box::pin(async move { PhaseOutcome::Deployed(exec.deploy(&target, &release).await) })
}

pub(super) fn watchdog_work(exec: Exec, request: RunRequest) -> BoxFuture<'static, PhaseOutcome> {
    Box::pin(async move { PhaseOutcome::Watched(exec.watch(&request).await) })
}

pub(super) fn health_work(
    exec: Exec,
    request: RunRequest,
    candidate: Option<String>,
) -> BoxFuture<'static, PhaseOutcome> {
    Box::pin(
        async move { PhaseOutcome::Checked(exec.health(&request, candidate.as_deref()).await) },
    )
}

pub(super) fn failed_gate(reason: &str) -> HealthGate {
    HealthGate {
        healthy: false,
        last: Some(probe::ProbeResult {
            healthy: false,
            reason: reason.to_owned(),
            http_status: None,
        }),
        attempts: 0,
    }
}

/// `rollback`: the rollback target deployed (built first if its artifact is gone) and
/// verified like a deploy; then, for a run that shipped a change, its revert opened on the
/// forge. For `self`, the candidate is stopped: the att that runs this is
/// the release rolled back to, and it is up.
pub(super) fn rollback_work(
    exec: Exec,
    request: RunRequest,
    to: Release,
    build: Option<BuildJob>,
    revert: Option<RevertJob>,
) -> BoxFuture<'static, PhaseOutcome> {
    Box::pin(async move {
        let result = async {
            if request.target == SELF {
                return exec.abort().await;
            }
            let to = match build {
                Some(job) => job
                    .run(&to.id)
                    .await
                    .map_err(|e| format!("the rollback release could not be built: {e}"))?,
                None => to,
            };
            exec.deploy(&request.target, &to).await?;
            let w = exec.watch(&request).await;
            if !w.stable {
                return Err(format!(
                    "the rollback release did not stay up: {}",
                    w.reason
                ));
            }
            let gate = exec.health(&request, None).await;
            if !gate.healthy {
                let why = gate.last.map(|l| l.reason).unwrap_or_default();
                return Err(format!("the rollback release is not healthy: {why}"));
            }
            Ok(())
        }
        .await;
        // The target is back whatever the forge says; the forge's base is put right after.
        let reverted = match &revert {
            Some(job) => Some(Box::new(forge::revert(job).await)),
            None => None,
        };
        PhaseOutcome::RolledBack(result, reverted)
    })
}

/// The `change` phase's work: the repository is the request's, else the target's build
/// repository.
pub(super) fn change_work(
    data_dir: PathBuf,
    directory: ActorDirectory,
    self_build: Option<BuildSpec>,
    request: RunRequest,
    run: String,
) -> BoxFuture<'static, PhaseOutcome> {
    Box::pin(async move {
        let Some(spec) = request.change.clone() else {
            return PhaseOutcome::Changed(Err("the request has no change".to_owned().into()));
        };
        let repo = match (&spec.repo, request.target.as_str()) {
            (Some(r), _) => Ok(r.clone()),
            (None, SELF) => self_build
                .map(|b| b.repo)
                .ok_or_else(|| "name `change.repo`: att has no [launch.build]".to_owned()),
            (None, target) => {
                let name = service_name(target).unwrap_or_default();
                match ServiceHandle::new(directory, name).spec().await {
                    Ok(s) => s.build.map(|b| b.repo).ok_or_else(|| {
                        format!("name `change.repo`: `{target}` has no build repository")
                    }),
                    Err(e) => Err(format!(
                        "service `{name}` is not running as a managed service: {e}"
                    )),
                }
            }
        };
        let outcome = match repo {
            Ok(repo) => change::change(&spec, &repo, &data_dir, &run)
                .await
                .map(Box::new),
            Err(e) => Err(e.into()),
        };
        PhaseOutcome::Changed(outcome)
    })
}

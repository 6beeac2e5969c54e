//! `att.deploy.*`: a project shipped through the release pipeline (BOOTSTRAP.md) — its
//! runtime is the pipeline's target `service:project-<name>`, its repository the source of
//! the releases built — and the pipeline's runs of it read back.
//!
//! A deploy is a run request handed to the bootstrap actor, which runs one release at a time
//! per target; the request's change phases may name a workspace project instead of a
//! repository ([`Tools::resolve_change`], shared with `POST /api/v1/bootstrap/runs`).

use crate::auth::Role;
use att_release::bootstrap::Refused;
use att_release::model::RunRequest;
use serde_json::json;

use super::args::{DeployRunArgs, DeployStatusArgs};
use super::error::internal;
use super::runtime::service_spec;
use super::{Caller, Done, InProject, ToolError, ToolSpec, Tools};

/// `att.deploy.run`.
pub static RUN: ToolSpec<InProject<DeployRunArgs>> = ToolSpec::in_project(
    "att.deploy.run",
    "Ships a release of the project through the release pipeline (build, deploy, watchdog, health, rollback by policy).",
    |tools, a, caller| Box::pin(tools.deploy_run(a, false, caller)),
);

/// `att.deploy.build`.
pub static BUILD: ToolSpec<InProject<DeployRunArgs>> = ToolSpec::in_project(
    "att.deploy.build",
    "Builds a release of the project (its HEAD, or a commit, branch or tag) and registers it, deploying nothing.",
    |tools, a, caller| Box::pin(tools.deploy_run(a, true, caller)),
);

/// `att.deploy.status`.
pub static STATUS: ToolSpec<InProject<DeployStatusArgs>> = ToolSpec::in_project(
    "att.deploy.status",
    "A deploy run of the project: its phases and result.",
    |tools, a, _| Box::pin(tools.deploy_status(a)),
)
.role(Role::Viewer);

impl Tools {
    async fn deploy_run(
        &self,
        a: InProject<DeployRunArgs>,
        build_only: bool,
        caller: &Caller,
    ) -> Result<Done, ToolError> {
        let (p, rt) = self.runtime_project(&a.project).await?;
        let service = p.service_name();
        if self.services.get(&service).is_none() {
            let spec = service_spec(&p, &rt).map_err(|m| ToolError::invalid("runtime", m))?;
            self.services
                .register(spec)
                .await
                .map_err(|e| ToolError::Conflict(e.to_string()))?;
        }
        let DeployRunArgs { release, options } = a.args;
        let mut request = options.unwrap_or_else(|| json!({}));
        if !request.is_object() {
            return Err(ToolError::invalid("options", "must be an object"));
        }
        request["target"] = json!(format!("service:{service}"));
        if let Some(r) = release {
            request["requested_release_id"] = json!(r);
        }
        if build_only {
            if rt.build.is_none() {
                return Err(ToolError::Conflict(format!(
                    "project `{}` has no `runtime.build`: nothing to build",
                    p.name
                )));
            }
            request["build_only"] = json!(true);
        }
        let mut request: RunRequest = serde_path_to_error::deserialize(request).map_err(|e| {
            ToolError::invalid(&format!("options.{}", e.path()), e.into_inner().to_string())
        })?;
        request
            .check()
            .map_err(|e| ToolError::invalid(&format!("options.{}", e.field), e.message))?;
        self.resolve_change(&mut request).await?;
        request.requested_by = Some(caller.principal.clone());
        use crate::run_route::{RunRoute, owner_dead, route_run};
        let route = route_run(&self.services, &*self.cluster, &request.target)
            .await
            .map_err(internal)?;
        let (answer, started) = match route {
            RunRoute::Here => (self.bootstrap.start(request).await, "started".to_owned()),
            RunRoute::Forward(node) => (
                self.bootstrap.request(request, node.clone()).await,
                format!("requested of node `{node}`, which runs the service"),
            ),
            RunRoute::OwnerDead(node) => {
                return Err(ToolError::Remote(owner_dead(&request.target, &node)));
            }
        };
        match answer.map_err(internal)? {
            Ok(run) => Done::new(
                format!("deploy run {run} {started} for `{}`", p.name),
                json!({ "run_id": run, "target": format!("service:{service}") }),
            ),
            Err(Refused::Busy(id)) => Err(ToolError::Conflict(format!(
                "a run for `{}` is in progress: {id}",
                p.name
            ))),
            Err(Refused::Invalid(m)) => Err(ToolError::Invalid {
                field: None,
                message: m,
            }),
            Err(Refused::Store(m)) => Err(ToolError::Internal(format!(
                "the run could not be stored: {m}"
            ))),
        }
    }

    /// Checks a run request's change phases: `publish` needs a `change`, and a change that
    /// names a workspace project gets its directory as the repository.
    pub async fn resolve_change(&self, request: &mut RunRequest) -> Result<(), ToolError> {
        if request.publish.is_some() && request.change.is_none() {
            return Err(ToolError::invalid(
                "publish",
                "`publish` publishes a `change`: the request has none",
            ));
        }
        if let Some(change) = request.change.as_mut()
            && let Some(name) = change.project.clone()
        {
            if change.repo.is_some() {
                return Err(ToolError::invalid(
                    "change.project",
                    "name `change.project` or `change.repo`, not both",
                ));
            }
            let project = self
                .project(&name)
                .await
                .map_err(|e| ToolError::invalid("change.project", e.message()))?;
            change.repo = Some(project.path);
        }
        Ok(())
    }

    async fn deploy_status(&self, a: InProject<DeployStatusArgs>) -> Result<Done, ToolError> {
        let p = self.project(&a.project).await?;
        let target = format!("service:{}", p.service_name());
        let run = match a.args.run_id {
            Some(id) => {
                let live = self.bootstrap.active(&id).await.ok().flatten();
                match live {
                    Some(r) => Some(r),
                    None => self.store.get_run(&id).await.map_err(internal)?,
                }
                .filter(|r| r.target == target)
            }
            None => self
                .store
                .list_runs(200)
                .await
                .map_err(internal)?
                .into_iter()
                .find(|r| r.target == target),
        };
        let run =
            run.ok_or_else(|| ToolError::NotFound(format!("no deploy run of `{}`", p.name)))?;
        let text = format!("run {} of `{}`: {:?}", run.id, p.name, run.status).to_lowercase();
        Done::new(text, run)
    }
}

//! `att.project.*`: registering, listing, showing, forgetting and downloading projects — and
//! the registry the other tools look projects up in.
//!
//! The registry is the stored projects read once and written through: every tool call looks
//! a project up. Another att sharing the store (PostgreSQL) that changes them makes this one
//! forget what it read ([`Tools::reload_projects`], on its notification). A project's directory must lie
//! inside `[workspace] roots` when any are configured; a clone is checked before anything is
//! written, and removed again if the project is not kept after all.

use crate::auth::Role;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use att_workspace::code;
use att_workspace::git;
use att_workspace::testrun::TestCommand;
use rmcp::model::ResourceContents;
use serde_json::json;
use tokio::sync::RwLockReadGuard;

use super::args::{CreateArgs, DownloadArgs, NoArgs};
use super::error::internal;
use super::runtime::service_spec;
use super::testruns::summary;
use super::{Done, InProject, ToolError, ToolSpec, Tools, blocking};
use crate::project::{Project, Runtime};

/// The largest archive `att.project.download` hands over on MCP.
const DOWNLOAD_MAX: usize = 8 << 20;

/// `att.project.create`.
pub static CREATE: ToolSpec<CreateArgs> = ToolSpec::new(
    "att.project.create",
    "Registers a project (an existing directory) or clones `git_remote` into `path`.",
    |tools, a, _| Box::pin(tools.create(a)),
);

/// `att.project.list`.
pub static LIST: ToolSpec<NoArgs> = ToolSpec::new(
    "att.project.list",
    "Lists the projects.",
    |tools, NoArgs {}, _| Box::pin(tools.list()),
)
.role(Role::Viewer);

/// `att.project.status`.
pub static STATUS: ToolSpec<InProject<NoArgs>> = ToolSpec::in_project(
    "att.project.status",
    "A project's record and status (created, cloned, running, stopped, error), its git state and latest test run.",
    |tools, a, _| Box::pin(tools.status(a.project)),
)
.role(Role::Viewer);

/// `att.project.delete`.
pub static DELETE: ToolSpec<InProject<NoArgs>> = ToolSpec::in_project(
    "att.project.delete",
    "Forgets a project (its files are left as they are; its runtime is stopped).",
    |tools, a, _| Box::pin(tools.delete(a.project)),
);

/// `att.project.download`.
pub static DOWNLOAD: ToolSpec<InProject<DownloadArgs>> = ToolSpec::in_project(
    "att.project.download",
    "The project's files as a tar.gz (an embedded blob; .git and build output left out, links kept as links).",
    |tools, a, _| Box::pin(tools.download(a)),
)
.role(Role::Viewer);

/// The registry.
impl Tools {
    /// The projects, loaded from the store on first use.
    async fn projects(
        &self,
    ) -> Result<RwLockReadGuard<'_, Option<BTreeMap<String, Project>>>, ToolError> {
        {
            let known = self.projects.read().await;
            if known.is_some() {
                return Ok(known);
            }
        }
        let mut known = self.projects.write().await;
        if known.is_none() {
            let stored = self.store.list_projects().await.map_err(internal)?;
            *known = Some(stored.into_iter().map(|p| (p.name.clone(), p)).collect());
        }
        Ok(known.downgrade())
    }

    /// Forgets the projects read from the store (another att sharing it changed them): the
    /// next use reads them again. 1 when there was something to forget.
    pub async fn reload_projects(&self) -> usize {
        usize::from(self.projects.write().await.take().is_some())
    }

    /// The project called `name`.
    pub async fn project(&self, name: &str) -> Result<Project, ToolError> {
        self.projects()
            .await?
            .as_ref()
            .and_then(|m| m.get(name).cloned())
            .ok_or_else(|| ToolError::NotFound(format!("no project `{name}`")))
    }

    /// The directory of project `name`, which must still be there.
    pub(super) async fn root(&self, name: &str) -> Result<PathBuf, ToolError> {
        let p = self.project(name).await?;
        if !p.path.is_dir() {
            return Err(ToolError::Conflict(format!(
                "project `{name}`'s directory `{}` is gone: register it again",
                p.path.display()
            )));
        }
        Ok(p.path)
    }

    /// Stores `project` (insert or replace), then remembers it.
    async fn save_project(&self, project: &Project) -> Result<(), ToolError> {
        let _ = self.projects().await?;
        let mut known = self.projects.write().await;
        self.store.save_project(project).await.map_err(internal)?;
        if let Some(m) = known.as_mut() {
            m.insert(project.name.clone(), project.clone());
        }
        Ok(())
    }

    /// Forgets `name` in the store and here.
    async fn forget_project(&self, name: &str) -> Result<(), ToolError> {
        let _ = self.projects().await?;
        let mut known = self.projects.write().await;
        self.store.delete_project(name).await.map_err(internal)?;
        if let Some(m) = known.as_mut() {
            m.remove(name);
        }
        Ok(())
    }

    /// Refuses a project directory outside `[workspace] roots` (when any are set): its real
    /// path (for a clone target, its parent's) must be inside one.
    fn check_roots(&self, path: &Path) -> Result<(), ToolError> {
        let roots = &self.config.roots;
        if roots.is_empty() {
            return Ok(());
        }
        let real = std::fs::canonicalize(path).or_else(|_| {
            let parent = path.parent().unwrap_or(path);
            std::fs::canonicalize(parent).map(|p| p.join(path.file_name().unwrap_or_default()))
        });
        let inside = real.is_ok_and(|real| {
            roots
                .iter()
                .any(|root| std::fs::canonicalize(root).is_ok_and(|root| real.starts_with(root)))
        });
        if inside {
            Ok(())
        } else {
            Err(ToolError::invalid(
                "path",
                format!(
                    "`{}` is outside the workspace roots ({}): projects must live inside one",
                    path.display(),
                    roots
                        .iter()
                        .map(|r| r.display().to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ))
        }
    }
}

/// A JSON argument parsed as `T`, a mismatch blamed on `field`.
fn nested<T: serde::de::DeserializeOwned>(
    field: &str,
    v: Option<serde_json::Value>,
) -> Result<Option<T>, ToolError> {
    v.map(|v| {
        serde_path_to_error::deserialize(v).map_err(|e| ToolError::invalid(field, e.to_string()))
    })
    .transpose()
}

/// The tools.
impl Tools {
    async fn create(&self, a: CreateArgs) -> Result<Done, ToolError> {
        let test: Option<TestCommand> = nested("test", a.test)?;
        let runtime: Option<Runtime> = nested("runtime", a.runtime)?;
        let forge = nested("forge", a.forge)?;
        let path = PathBuf::from(&a.path);
        // Everything is checked before anything is cloned: a refused request leaves nothing
        // on disk.
        let clone_from = a.git_remote.clone().filter(|_| !path.exists());
        let mut project = Project {
            name: a.name,
            path,
            test,
            git_remote: a.git_remote,
            cloned: false,
            runtime,
            forge,
        };
        project
            .validate_plan()
            .map_err(|(field, message)| ToolError::invalid(field, message))?;
        self.check_roots(&project.path)?;
        if let Some(rt) = &project.runtime {
            service_spec(&project, rt)
                .and_then(|s| s.validate())
                .map_err(|m| ToolError::invalid("runtime", m))?;
        }
        if let Some(remote) = &clone_from {
            git::check_remote(remote).map_err(|m| ToolError::invalid("git_remote", m))?;
            git::clone(remote, &project.path, self.config.clone_timeout)
                .await
                .map_err(|e| ToolError::invalid("git_remote", e.to_string()))?;
            project.cloned = true;
        }
        // What att cloned goes again if the project is not kept after all.
        let kept = async {
            project
                .validate()
                .map_err(|(field, message)| ToolError::invalid(field, message))?;
            self.save_project(&project).await
        }
        .await;
        if let Err(e) = kept {
            if project.cloned {
                let path = project.path.clone();
                let _ = tokio::task::spawn_blocking(move || std::fs::remove_dir_all(path)).await;
            }
            return Err(e);
        }
        Done::new(
            format!(
                "{} project `{}` at {}",
                if project.cloned {
                    "cloned"
                } else {
                    "registered"
                },
                project.name,
                project.path.display()
            ),
            project,
        )
    }

    async fn list(&self) -> Result<Done, ToolError> {
        let projects: Vec<Project> = self
            .projects()
            .await?
            .as_ref()
            .map(|m| m.values().cloned().collect())
            .unwrap_or_default();
        let names: Vec<&str> = projects.iter().map(|p| p.name.as_str()).collect();
        Done::new(
            format!("{} projects: {}", names.len(), names.join(", ")),
            json!({ "projects": projects }),
        )
    }

    /// `created`, `cloned`, `running`, `stopped` (its runtime), or `error` (its directory is
    /// gone).
    async fn project_status(&self, p: &Project) -> &'static str {
        if !p.path.is_dir() {
            return "error";
        }
        if self.services.get(&p.service_name()).is_some() {
            let s = self.services.handle(&p.service_name()).status().await;
            return match s.map(|s| s.state) {
                Ok(att_release::service::actor::ServiceState::Running) => "running",
                _ => "stopped",
            };
        }
        if p.cloned { "cloned" } else { "created" }
    }

    async fn status(&self, name: String) -> Result<Done, ToolError> {
        let p = self.project(&name).await?;
        let status = self.project_status(&p).await;
        let root = p.path.clone();
        let git = tokio::task::spawn_blocking(move || git::status(&root))
            .await
            .map_err(internal)?
            .ok();
        let latest = self.test_runs(&p.name, 1).await?.into_iter().next();
        let text = format!(
            "project `{}` ({status}) at {}{}",
            p.name,
            p.path.display(),
            latest
                .as_ref()
                .map(|r| format!("; latest tests: {}", summary(r)))
                .unwrap_or_default()
        );
        Done::new(
            text,
            json!({ "project": p, "status": status, "git": git, "latest_test_run": latest }),
        )
    }

    async fn delete(&self, name: String) -> Result<Done, ToolError> {
        let p = self.project(&name).await?;
        if self.services.get(&p.service_name()).is_some() {
            self.services
                .remove(&p.service_name())
                .await
                .map_err(internal)?;
        }
        self.forget_project(&p.name).await?;
        Done::new(
            format!("forgot project `{}` (its files are untouched)", p.name),
            json!({ "deleted": p.name }),
        )
    }

    async fn download(&self, a: InProject<DownloadArgs>) -> Result<Done, ToolError> {
        let p = self.project(&a.project).await?;
        let max = a
            .args
            .max_bytes
            .unwrap_or(DOWNLOAD_MAX)
            .clamp(1, DOWNLOAD_MAX);
        let (root, name) = (p.path.clone(), p.name.clone());
        let (info, bytes) = blocking(move || code::archive(&root, &name, Vec::new())).await?;
        if bytes.len() > max {
            return Err(ToolError::Conflict(format!(
                "the archive is {} bytes, more than {max}: download it over HTTP at \
                 /api/v1/projects/{}/download",
                bytes.len(),
                p.name
            )));
        }
        use base64::Engine as _;
        let uri = format!("att://project/{}/download", p.name);
        let mut blob = ResourceContents::blob(
            base64::engine::general_purpose::STANDARD.encode(&bytes),
            uri.clone(),
        );
        if let ResourceContents::BlobResourceContents { mime_type, .. } = &mut blob {
            *mime_type = Some("application/gzip".into());
        }
        let mut done = Done::new(
            format!(
                "{}.tar.gz: {} files, {} links, {} bytes compressed",
                p.name,
                info.files,
                info.links,
                bytes.len()
            ),
            json!({ "uri": uri, "format": "tar.gz", "compressed_bytes": bytes.len(),
                    "files": info.files, "bytes": info.bytes, "links": info.links }),
        )?;
        done.blob = Some(blob);
        Ok(done)
    }
}

//! `att.runtime.*`: a project's runtime — the managed service `project-<name>` that runs the
//! project's `runtime` command in its directory — started, stopped, restarted, probed, and
//! its output paged.
//!
//! Starting registers the service with the project's current runtime (so an edited runtime
//! takes effect on the next start); the service actor owns the process from there. The log
//! is paged by byte cursor ([`log_page`]), so a caller reads each line once even while the
//! service keeps writing.

use crate::auth::Role;
use std::path::Path;
use std::time::Duration;

use att_release::service::spec::ServiceSpec;
use serde_json::json;

use super::args::{LogsArgs, NoArgs};
use super::error::internal;
use super::{Done, InProject, ToolError, ToolSpec, Tools, blocking};
use crate::project::{Project, Runtime};
use crate::services::Services;

/// `att.runtime.start`.
pub static START: ToolSpec<InProject<NoArgs>> = ToolSpec::in_project(
    "att.runtime.start",
    "Starts the project's runtime (a managed service in the project directory).",
    |tools, a, _| Box::pin(tools.runtime(a.project, Verb::Start)),
)
.role(Role::Operator);

/// `att.runtime.stop`.
pub static STOP: ToolSpec<InProject<NoArgs>> = ToolSpec::in_project(
    "att.runtime.stop",
    "Stops the project's runtime.",
    |tools, a, _| Box::pin(tools.runtime(a.project, Verb::Stop)),
)
.role(Role::Operator);

/// `att.runtime.restart`.
pub static RESTART: ToolSpec<InProject<NoArgs>> = ToolSpec::in_project(
    "att.runtime.restart",
    "Restarts the project's runtime.",
    |tools, a, _| Box::pin(tools.runtime(a.project, Verb::Restart)),
)
.role(Role::Operator);

/// `att.runtime.status`.
pub static STATUS: ToolSpec<InProject<NoArgs>> = ToolSpec::in_project(
    "att.runtime.status",
    "The runtime's process state and a health probe now.",
    |tools, a, _| Box::pin(tools.runtime_status(a.project)),
)
.role(Role::Viewer);

/// `att.runtime.logs`.
pub static LOGS: ToolSpec<InProject<LogsArgs>> = ToolSpec::in_project(
    "att.runtime.logs",
    "The runtime's output, a page at a time (pass `next_cursor` back for more).",
    |tools, a, _| Box::pin(tools.runtime_logs(a)),
)
.role(Role::Viewer);

/// What to do with a runtime.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Verb {
    Start,
    Stop,
    Restart,
}

/// The managed service that runs `project`.
pub(super) fn service_spec(project: &Project, rt: &Runtime) -> Result<ServiceSpec, String> {
    let mut spec = json!({
        "name": project.service_name(),
        "command": rt.command,
        "args": rt.args,
        "env": rt.env,
        "cwd": project.path,
        "health": rt.health,
        "stop_grace": "5s",
    });
    if let Some(b) = &rt.build {
        spec["build"] = json!({
            "repo": project.path, "command": b.command, "artifact": b.artifact, "env": b.env,
        });
    }
    let spec: ServiceSpec = serde_json::from_value(spec).map_err(|e| e.to_string())?;
    spec.validate()?;
    Ok(spec)
}

impl Tools {
    /// Project `name` and its runtime, which it must have.
    pub(super) async fn runtime_project(
        &self,
        name: &str,
    ) -> Result<(Project, Runtime), ToolError> {
        let p = self.project(name).await?;
        let rt = p.runtime.clone().ok_or_else(|| {
            ToolError::Conflict(format!(
                "project `{name}` has no runtime: register it with `runtime`"
            ))
        })?;
        Ok((p, rt))
    }

    async fn runtime(&self, name: String, verb: Verb) -> Result<Done, ToolError> {
        let (p, rt) = self.runtime_project(&name).await?;
        let service = p.service_name();
        let spec = service_spec(&p, &rt).map_err(|m| ToolError::invalid("runtime", m))?;
        let registered = self.services.get(&service);
        let handle = self.services.handle(&service);
        let limit = Services::stop_limit(&spec);
        let status = match verb {
            Verb::Start | Verb::Restart if registered.as_ref().is_none_or(|(s, _)| *s != spec) => {
                // Registering (re)starts it with the project's current runtime.
                self.services
                    .register(spec)
                    .await
                    .map_err(|e| ToolError::Conflict(e.to_string()))?;
                handle.status().await.map_err(internal)?
            }
            Verb::Start => handle
                .start(limit)
                .await
                .map_err(internal)?
                .map_err(ToolError::Conflict)?,
            Verb::Restart => handle
                .restart(limit)
                .await
                .map_err(internal)?
                .map_err(ToolError::Conflict)?,
            Verb::Stop => {
                if registered.is_none() {
                    return Err(ToolError::Conflict(format!(
                        "project `{name}`'s runtime is not running"
                    )));
                }
                handle.stop(limit).await.map_err(internal)?
            }
        };
        Done::new(
            format!("runtime of `{name}`: {:?}", status.state).to_lowercase(),
            status,
        )
    }

    async fn runtime_status(&self, name: String) -> Result<Done, ToolError> {
        let (p, rt) = self.runtime_project(&name).await?;
        let service = p.service_name();
        if self.services.get(&service).is_none() {
            return Done::new(
                format!("runtime of `{name}`: not started"),
                json!({ "state": "not_started", "health": null }),
            );
        }
        let status = self
            .services
            .handle(&service)
            .status()
            .await
            .map_err(internal)?;
        let health = match &rt.health {
            Some(probe) => {
                Some(att_release::service::probe::check(probe, Duration::from_secs(5)).await)
            }
            None => None,
        };
        let mut data = serde_json::to_value(&status).map_err(internal)?;
        data["health_check"] = serde_json::to_value(&health).map_err(internal)?;
        Done::new(
            format!("runtime of `{name}`: {:?}", status.state).to_lowercase(),
            data,
        )
    }

    async fn runtime_logs(&self, a: InProject<LogsArgs>) -> Result<Done, ToolError> {
        let (p, _) = self.runtime_project(&a.project).await?;
        let service = p.service_name();
        let Some((spec, _)) = self.services.get(&service) else {
            return Err(ToolError::Conflict(format!(
                "project `{}`'s runtime has not been started",
                a.project
            )));
        };
        let status = self
            .services
            .handle(&spec.name)
            .status()
            .await
            .map_err(internal)?;
        let LogsArgs { cursor, limit } = a.args;
        let limit = limit.unwrap_or(200).clamp(1, 5000);
        let file = status.log_file.clone();
        let page = blocking(move || log_page(&file, cursor, limit)).await?;
        Done::new(page.lines.join("\n"), page)
    }
}

/// A page of a log file.
#[derive(Debug, serde::Serialize)]
pub struct LogPage {
    /// The lines.
    pub lines: Vec<String>,
    /// Pass this back as `cursor` for the lines after these.
    pub next_cursor: u64,
    /// More lines follow already.
    pub more: bool,
}

/// Lines from byte offset `cursor` (none: the last `limit` lines); the cursor of a log that
/// was rotated since (shorter than the cursor) starts over.
fn log_page(file: &Path, cursor: Option<u64>, limit: usize) -> Result<LogPage, ToolError> {
    use std::io::{Read, Seek, SeekFrom};
    let mut f = match std::fs::File::open(file) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok(LogPage {
                lines: Vec::new(),
                next_cursor: 0,
                more: false,
            });
        }
        Err(e) => return Err(internal(e)),
    };
    let len = f.metadata().map_err(internal)?.len();
    let Some(mut at) = cursor.map(|c| if c > len { 0 } else { c }) else {
        // The tail: the last `limit` lines.
        let start = len.saturating_sub(256 * 1024);
        f.seek(SeekFrom::Start(start)).map_err(internal)?;
        let mut buf = Vec::new();
        f.read_to_end(&mut buf).map_err(internal)?;
        let text = String::from_utf8_lossy(&buf);
        let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
        if start > 0 && !lines.is_empty() {
            lines.remove(0); // a partial first line
        }
        let skip = lines.len().saturating_sub(limit);
        return Ok(LogPage {
            lines: lines.split_off(skip),
            next_cursor: len,
            more: false,
        });
    };
    f.seek(SeekFrom::Start(at)).map_err(internal)?;
    let mut reader = std::io::BufReader::new(f);
    let mut lines = Vec::new();
    let mut line = Vec::new();
    while lines.len() < limit {
        line.clear();
        let n = std::io::BufRead::read_until(&mut reader, b'\n', &mut line).map_err(internal)?;
        if n == 0 || line.last() != Some(&b'\n') {
            break; // the end, or a line still being written
        }
        at += n as u64;
        lines.push(String::from_utf8_lossy(&line[..n - 1]).into_owned());
    }
    Ok(LogPage {
        lines,
        next_cursor: at,
        more: at < len,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_pages_follow_the_cursor_and_skip_a_partial_line() {
        let dir = tempfile::tempdir().expect("dir");
        let f = dir.path().join("log");
        std::fs::write(&f, "one\ntwo\nthree\npart").expect("write");
        let p = log_page(&f, Some(0), 2).expect("page");
        assert_eq!(
            (p.lines.clone(), p.more),
            (vec!["one".into(), "two".into()], true)
        );
        let p = log_page(&f, Some(p.next_cursor), 10).expect("page");
        assert_eq!(p.lines, vec!["three".to_owned()]);
        let tail = log_page(&f, None, 2).expect("tail");
        assert_eq!(tail.lines, vec!["three".to_owned(), "part".to_owned()]);
        assert!(
            log_page(&dir.path().join("none"), None, 5)
                .expect("none")
                .lines
                .is_empty()
        );
    }
}

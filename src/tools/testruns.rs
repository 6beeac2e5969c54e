//! `att.test.run` and `att.test.results`: a project's tests run and recorded.
//!
//! A run is checked (its command, filter and timeout), stored as `running`, run by
//! `att_workspace::testrun` (no shell, its own process group, a timeout), and stored
//! again with its typed counts. Over MCP the call waits for the end and streams progress;
//! over HTTP the run starts in the background ([`Tools::start_test_run`]) because it may
//! outlast any request. The pid is recorded as soon as the process exists, so an att that
//! crashed mid-run stops the orphaned group when it starts again
//! ([`Tools::recover_test_runs`]); an att that stops ends its runs (`interrupted`).

use crate::auth::Role;
use std::sync::Arc;
use std::time::{Duration, Instant};

use att_workspace::testrun::{self, RunError, TestCommand};
use serde_json::json;
use time::OffsetDateTime;

use super::args::{TestResultsArgs, TestRunArgs};
use super::error::internal;
use super::{Caller, Done, InProject, Progress, ToolError, ToolSpec, Tools};
use crate::project::Project;
use crate::test_run::TestRunRecord;

/// Seconds a run may take unless the caller says otherwise.
pub(super) const TIMEOUT_DEFAULT: u64 = 600;
/// The most seconds a caller may give a run.
const TIMEOUT_MAX: u64 = 3600;

/// `att.test.run`.
pub static RUN: ToolSpec<InProject<TestRunArgs>> = ToolSpec::in_project(
    "att.test.run",
    "Runs a project's tests (no shell, own process group, timeout) and answers the typed counts; the run is stored.",
    |tools, a, caller| Box::pin(tools.test_run(a, caller)),
)
.role(Role::Operator);

/// `att.test.results`.
pub static RESULTS: ToolSpec<InProject<TestResultsArgs>> = ToolSpec::in_project(
    "att.test.results",
    "Stored test runs of a project: one by id, or the newest.",
    |tools, a, _| Box::pin(tools.test_results(a)),
)
.role(Role::Viewer);

/// A test run that has been checked and recorded as `running`, ready to run.
struct PreparedRun {
    project: Project,
    command: TestCommand,
    timeout: Duration,
    record: TestRunRecord,
    /// On whose behalf (named in its events).
    principal: String,
}

impl Tools {
    async fn test_run(
        &self,
        a: InProject<TestRunArgs>,
        caller: &Caller,
    ) -> Result<Done, ToolError> {
        let prepared = self.prepare_test_run(a, caller).await?;
        let record = self
            .complete_test_run(prepared, caller.progress.clone())
            .await?;
        Done::new(summary(&record), record)
    }

    /// Starts a test run in the background (the HTTP surface: a run may outlast a request);
    /// answers the `running` record at once — `att.test.results` shows how it ends.
    pub async fn start_test_run(
        self: &Arc<Self>,
        a: InProject<TestRunArgs>,
        caller: &Caller,
    ) -> Result<Done, ToolError> {
        let prepared = self.prepare_test_run(a, caller).await?;
        let record = prepared.record.clone();
        let me = self.clone();
        tokio::spawn(async move {
            if let Err(e) = me.complete_test_run(prepared, None).await {
                tracing::error!(error = e.message(), "a test run could not be recorded");
            }
        });
        Done::new(format!("{}: running", record.id), record)
    }

    /// Checks a test run's arguments and records it as `running`.
    async fn prepare_test_run(
        &self,
        a: InProject<TestRunArgs>,
        caller: &Caller,
    ) -> Result<PreparedRun, ToolError> {
        let project = self.project(&a.project).await?;
        let TestRunArgs {
            filter,
            timeout_seconds,
        } = a.args;
        let timeout = timeout_seconds.unwrap_or(TIMEOUT_DEFAULT);
        if timeout == 0 || timeout > TIMEOUT_MAX {
            return Err(ToolError::invalid(
                "timeout_seconds",
                format!("must be 1 to {TIMEOUT_MAX}"),
            ));
        }
        let command = match project.test.clone() {
            Some(c) => c,
            None => testrun::detect(&project.path).ok_or_else(|| {
                ToolError::Conflict(format!(
                    "project `{}` has no test command and none could be detected from its \
                     files: register it with `test`",
                    project.name
                ))
            })?,
        };
        testrun::with_filter(&command, filter.as_deref()).map_err(|e| match e {
            RunError::BadFilter(m) => ToolError::invalid("filter", m),
            other => ToolError::Conflict(other.to_string()),
        })?;
        let record = TestRunRecord {
            id: format!("test-{}", uuid::Uuid::new_v4().simple()),
            project: project.name.clone(),
            caller: caller.who.clone(),
            suite: filter,
            status: "running".into(),
            error: None,
            pid: None,
            process: None,
            program: command.argv.first().cloned(),
            started_at: OffsetDateTime::now_utc(),
            ended_at: None,
            outcome: None,
        };
        self.save_test_run(&record).await?;
        self.emit(
            "workspace.test_run",
            Some(record.id.clone()),
            json!({ "project": project.name, "caller": caller.who, "principal": caller.principal,
                    "phase": "started",
                    "command": command.argv, "filter": record.suite }),
        );
        Ok(PreparedRun {
            principal: caller.principal.clone(),
            project,
            command,
            timeout: Duration::from_secs(timeout),
            record,
        })
    }

    async fn save_test_run(&self, record: &TestRunRecord) -> Result<(), ToolError> {
        self.store.save_test_run(record).await.map_err(internal)
    }

    /// Runs a prepared test run to its end and records how it went.
    async fn complete_test_run(
        &self,
        p: PreparedRun,
        progress: Option<Progress>,
    ) -> Result<TestRunRecord, ToolError> {
        // The pid is recorded as soon as the run starts.
        let (tx, rx) = tokio::sync::oneshot::channel();
        let started: testrun::Started = Box::new(move |identity| {
            let _ = tx.send(identity);
        });
        let run = testrun::run_with(
            &p.project.path,
            &p.command,
            p.record.suite.as_deref(),
            p.timeout,
            progress.map(line_sink),
            Some(started),
        );
        let mut running = p.record.clone();
        let note_pid = async {
            if let Ok(identity) = rx.await {
                running.pid = Some(identity.pid);
                running.process = Some(identity);
                if let Err(e) = self.save_test_run(&running).await {
                    tracing::warn!(error = e.message(), "could not record a test run's pid");
                }
            }
        };
        // A stopping att ends the run: dropping it kills its process group.
        let ran = tokio::select! {
            (ran, ()) = async { tokio::join!(run, note_pid) } => Some(ran),
            () = self.stopping.cancelled() => None,
        };
        let mut record = p.record;
        record.ended_at = Some(OffsetDateTime::now_utc());
        let Some(ran) = ran else {
            record.status = "interrupted".into();
            record.error = Some("att stopped during the run".into());
            self.save_test_run(&record).await?;
            return Err(ToolError::Conflict("att stopped during the run".into()));
        };
        let failed = match ran {
            Ok(outcome) => {
                record.status = "completed".into();
                record.outcome = Some(outcome);
                None
            }
            Err(e) => {
                record.status = "error".into();
                record.error = Some(e.to_string());
                Some(ToolError::Conflict(e.to_string()))
            }
        };
        self.save_test_run(&record).await?;
        let o = record.outcome.as_ref();
        self.emit(
            "workspace.test_run",
            Some(record.id.clone()),
            json!({ "project": record.project, "caller": record.caller, "principal": p.principal,
                    "phase": "ended",
                    "status": record.status, "error": record.error,
                    "returncode": o.map(|o| o.returncode),
                    "passed": o.map(|o| o.counts.passed),
                    "failed": o.map(|o| o.counts.failed),
                    "timed_out": o.map(|o| o.timed_out) }),
        );
        match failed {
            Some(e) => Err(e),
            None => Ok(record),
        }
    }

    /// Concludes the test runs a previous att left `running` (they were killed with it);
    /// answers how many.
    pub async fn recover_test_runs(&self) -> Result<usize, ToolError> {
        let left = self.store.running_test_runs().await.map_err(internal)?;
        let count = left.len();
        for mut record in left {
            if let Some(identity) = &record.process {
                att_runtime::process::stop_orphan(identity, Duration::from_secs(2)).await;
            }
            record.process = None;
            record.status = "interrupted".into();
            record.ended_at = Some(OffsetDateTime::now_utc());
            self.save_test_run(&record).await?;
        }
        Ok(count)
    }

    async fn test_results(&self, a: InProject<TestResultsArgs>) -> Result<Done, ToolError> {
        let project = self.project(&a.project).await?;
        let TestResultsArgs { id, limit } = a.args;
        match id {
            Some(id) => {
                let run = self
                    .store
                    .get_test_run(&id)
                    .await
                    .map_err(internal)?
                    .filter(|r| r.project == project.name)
                    .ok_or_else(|| ToolError::NotFound(format!("no test run `{id}`")))?;
                Done::new(summary(&run), run)
            }
            None => {
                let runs = self
                    .test_runs(&project.name, limit.unwrap_or(10).clamp(1, 100))
                    .await?;
                let text = runs.iter().map(summary).collect::<Vec<_>>().join("\n");
                Done::new(text, json!({ "runs": runs }))
            }
        }
    }

    /// The newest `limit` test runs of `project`, newest first.
    pub async fn test_runs(
        &self,
        project: &str,
        limit: u32,
    ) -> Result<Vec<TestRunRecord>, ToolError> {
        self.store
            .list_test_runs(project, limit)
            .await
            .map_err(internal)
    }
}

/// Progress of a run: the count of output lines and the newest, at most every 200 ms.
fn line_sink(progress: Progress) -> testrun::LineSink {
    let state = std::sync::Mutex::new((0u64, None::<Instant>));
    Arc::new(move |line: &str| {
        let mut s = state.lock().unwrap_or_else(|p| p.into_inner());
        s.0 += 1;
        if s.1
            .is_none_or(|t| t.elapsed() >= Duration::from_millis(200))
        {
            s.1 = Some(Instant::now());
            progress(s.0, line.chars().take(200).collect());
        }
    })
}

/// One line about a run: its counts once it has ended, else its status.
pub(super) fn summary(r: &TestRunRecord) -> String {
    let Some(o) = &r.outcome else {
        return format!(
            "{}: {}{}",
            r.id,
            r.status,
            r.error
                .as_deref()
                .map(|e| format!(" ({e})"))
                .unwrap_or_default()
        );
    };
    let c = &o.counts;
    let mut s = format!(
        "{}: {} passed, {} failed, {} skipped, {} errors (exit {}{}, {:.1}s)",
        r.id,
        c.passed,
        c.failed,
        c.skipped,
        c.errors,
        o.returncode,
        if o.timed_out { ", timed out" } else { "" },
        o.duration_seconds
    );
    if c.no_tests_collected {
        s.push_str("; no tests collected");
    }
    s
}

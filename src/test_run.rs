//! A test run as att keeps it (WORKSPACE.md, "Tests"): who asked, what ran, how it ended —
//! and [`TestRunStore`], the port that keeps it. The tools (`crate::tools::testruns`) write a
//! record when a run starts (`running`), again once its process is known (so an att restarted
//! after a crash can stop what the crashed one left running), and when it ends.

use att_runtime::store::StoreError;
use att_workspace::testrun::TestOutcome;
use time::OffsetDateTime;

/// A stored test run.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct TestRunRecord {
    /// Its id.
    pub id: String,
    /// The project.
    pub project: String,
    /// Who asked.
    pub caller: String,
    /// The filter, if any.
    pub suite: Option<String>,
    /// `running`, `completed`, `interrupted` (att stopped during the run) or `error` (the
    /// command could not start).
    pub status: String,
    /// Why it is `error`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// While running: its pid (the leader of its process group).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid: Option<u32>,
    /// While running: who its process is, so that an att restarted after a crash stops
    /// what the crashed one left running (and nothing else).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub process: Option<att_runtime::process::Identity>,
    /// The program it runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub program: Option<String>,
    /// When it started.
    #[serde(with = "time::serde::rfc3339")]
    pub started_at: OffsetDateTime,
    /// When it ended.
    #[serde(with = "time::serde::rfc3339::option", default)]
    pub ended_at: Option<OffsetDateTime>,
    /// What ran and how it went (once it has ended).
    #[serde(flatten, default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<TestOutcome>,
}

/// Where test runs are kept.
#[async_trait::async_trait]
pub trait TestRunStore: Send + Sync + 'static {
    /// Inserts `run`, or replaces the stored run with its id.
    async fn save_test_run(&self, run: &TestRunRecord) -> Result<(), StoreError>;
    /// One run.
    async fn get_test_run(&self, id: &str) -> Result<Option<TestRunRecord>, StoreError>;
    /// Every run still recorded `running` (after a crash: the runs it cut short).
    async fn running_test_runs(&self) -> Result<Vec<TestRunRecord>, StoreError>;
    /// The newest `limit` runs of `project`, newest first.
    async fn list_test_runs(
        &self,
        project: &str,
        limit: u32,
    ) -> Result<Vec<TestRunRecord>, StoreError>;
}

//! The CI wait's schedule and verdicts against a scripted forge, and the GitHub adapter
//! against a `gh` stand-in.

use std::sync::Mutex;
use std::time::Duration;

use super::*;

/// CI that answers `pending` a number of times, then a verdict; records when it was asked.
struct Scripted {
    pending: Mutex<u32>,
    verdict: CiState,
    asked: Mutex<Vec<Duration>>,
    start: tokio::time::Instant,
}

#[async_trait::async_trait]
impl Forge for Scripted {
    async fn reviews(&self, _: &str) -> Result<Vec<Review>, String> {
        unreachable!()
    }
    async fn open(&self, _: &str, _: &str, _: &str, _: &str) -> Result<ChangeRequest, String> {
        unreachable!()
    }
    async fn ci(&self, _: &str) -> Result<CiState, String> {
        self.asked.lock().expect("lock").push(self.start.elapsed());
        let mut p = self.pending.lock().expect("lock");
        if *p == 0 {
            return Ok(self.verdict.clone());
        }
        *p -= 1;
        Ok(CiState::Pending)
    }
    async fn merge(&self, _: &str) -> Result<String, String> {
        unreachable!()
    }
}

impl Scripted {
    /// When CI was asked, in whole seconds since the start.
    fn asked_secs(&self) -> Vec<u64> {
        self.asked
            .lock()
            .expect("lock")
            .iter()
            .map(|d| d.as_secs())
            .collect()
    }
}

fn scripted(pending: u32, verdict: CiState) -> Scripted {
    Scripted {
        pending: Mutex::new(pending),
        verdict,
        asked: Mutex::new(Vec::new()),
        start: tokio::time::Instant::now(),
    }
}

const S: fn(u64) -> Duration = Duration::from_secs;

#[tokio::test(start_paused = true)]
async fn ci_is_polled_at_once_then_after_10_s_doubling_to_60_s() {
    let f = scripted(5, CiState::Success);
    let w = wait_for_ci(&f, "1", S(10), S(60), S(600))
        .await
        .expect("wait");
    assert_eq!((w.status, w.polls), ("success", 6));
    let asked = f.asked_secs();
    assert_eq!(asked, vec![0, 10, 30, 70, 130, 190]);
}

/// The original's scenarios: pending, pending, success with 1 s doubling to 4 s sleeps
/// 1 s then 2 s; a zero budget asks once and never sleeps.
#[tokio::test(start_paused = true)]
async fn the_reference_schedules_hold() {
    let f = scripted(2, CiState::Success);
    let w = wait_for_ci(&f, "1", S(1), S(4), S(600))
        .await
        .expect("wait");
    assert_eq!(w.status, "success");
    let asked = f.asked_secs();
    assert_eq!(asked, vec![0, 1, 3]);
    let f = scripted(u32::MAX, CiState::Success);
    let w = wait_for_ci(&f, "1", S(1), S(4), S(0)).await.expect("wait");
    assert_eq!((w.status, w.polls), ("timeout", 1));
    assert_eq!(f.start.elapsed(), Duration::ZERO, "no sleep");
}

#[tokio::test(start_paused = true)]
async fn ci_that_never_finishes_times_out_at_the_budget() {
    let f = scripted(u32::MAX, CiState::Success);
    let w = wait_for_ci(&f, "1", S(10), S(60), S(600))
        .await
        .expect("wait");
    assert_eq!(w.status, "timeout");
    assert!(
        w.reason
            .as_deref()
            .unwrap_or_default()
            .starts_with("ci_timeout")
    );
    let asked = f.asked.lock().expect("lock").clone();
    assert_eq!(asked.last().map(|d| d.as_secs()), Some(600), "{asked:?}");
    assert_eq!(asked.len(), 13); // 0 10 30 70 130 190 … 550 600
}

#[tokio::test(start_paused = true)]
async fn red_ci_is_a_failure_with_its_reason() {
    let f = scripted(1, CiState::Failure("2 failed".into()));
    let w = wait_for_ci(&f, "1", S(10), S(60), S(600))
        .await
        .expect("wait");
    assert_eq!(
        (w.status, w.reason.as_deref()),
        ("failure", Some("2 failed"))
    );
}

/// A `gh` stand-in (GitHub cannot be reached from here): a script answering the three
/// commands the adapter runs.
#[tokio::test]
async fn the_github_adapter_reads_gh_output() {
    let dir = tempfile::tempdir().expect("dir");
    let gh = dir.path().join("gh");
    std::fs::write(
        &gh,
        "#!/bin/sh\ncase \"$1 $2\" in\n\
         'pr create') echo 'https://github.com/o/r/pull/7' ;;\n\
         'pr checks') echo '[{\"name\":\"test\",\"bucket\":\"pass\"},{\"name\":\"lint\",\"bucket\":\"fail\"}]'; exit 1 ;;\n\
         'pr merge') ;;\n\
         'pr view') echo '{\"mergeCommit\":{\"oid\":\"abc123\"},\"reviews\":[{\"author\":{\"login\":\"ana\"},\"state\":\"APPROVED\",\"body\":\"ok\"}]}' ;;\n\
         esac\n",
    )
    .expect("script");
    std::process::Command::new("chmod")
        .args(["+x"])
        .arg(&gh)
        .status()
        .expect("chmod");
    let f = GithubForge {
        repo: "o/r".into(),
        gh: gh.display().to_string(),
    };
    let cr = f.open("b", "main", "t", "x").await.expect("open");
    assert_eq!(cr.url, "https://github.com/o/r/pull/7");
    assert_eq!(
        f.ci(&cr.id).await.expect("ci"),
        CiState::Failure("failed checks: lint".into())
    );
    assert_eq!(f.merge(&cr.id).await.expect("merge"), "abc123");
    let reviews = f.reviews(&cr.id).await.expect("reviews");
    assert_eq!(
        reviews,
        vec![Review {
            author: "ana".into(),
            state: "APPROVED".into(),
            body: "ok".into()
        }]
    );
}

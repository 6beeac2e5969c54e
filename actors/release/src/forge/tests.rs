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

/// A working repository with one commit on `main`, its `origin` a bare repository (pushed):
/// (temp dir, working repository, bare repository).
async fn repo_with_forge() -> (tempfile::TempDir, std::path::PathBuf, std::path::PathBuf) {
    let dir = tempfile::tempdir().expect("dir");
    let (work, bare) = (dir.path().join("work"), dir.path().join("forge.git"));
    let repo = git2::Repository::init(&work).expect("init");
    // HEAD names `main` before the first commit, whatever git's default branch is.
    repo.set_head("refs/heads/main").expect("head");
    commit_file(&repo, "message.txt", "v0\n", "first", None);
    git2::Repository::init_bare(&bare).expect("bare");
    repo.remote("origin", bare.to_str().expect("utf-8"))
        .expect("remote");
    crate::workspace::git::push(&work, "origin", "main")
        .await
        .expect("push");
    (dir, work, bare)
}

/// Commits `path` = `text` on top of `branch` (default: HEAD) and moves that ref; the id.
fn commit_file(
    repo: &git2::Repository,
    path: &str,
    text: &str,
    message: &str,
    branch: Option<&str>,
) -> String {
    let root = repo.workdir().expect("workdir").to_owned();
    std::fs::write(root.join(path), text).expect("write");
    let mut index = repo.index().expect("index");
    index.add_path(std::path::Path::new(path)).expect("add");
    index.write().expect("index");
    let tree = repo
        .find_tree(index.write_tree().expect("tree"))
        .expect("tree");
    let who = git2::Signature::now("t", "t@localhost").expect("sig");
    let parent = repo.head().ok().and_then(|h| h.peel_to_commit().ok());
    let parents: Vec<&git2::Commit> = parent.iter().collect();
    let target = branch.map_or("HEAD".to_owned(), |b| format!("refs/heads/{b}"));
    repo.commit(Some(&target), &who, &who, message, &tree, &parents)
        .expect("commit")
        .to_string()
}

fn spec(forge: ForgeKind) -> PublishSpec {
    let mut s: PublishSpec = serde_json::from_value(serde_json::json!({
        "ci": {"argv": ["true"], "runner": "plain"},
        "ci_poll_initial": "20ms", "ci_poll_max": "50ms", "ci_budget": "30s"
    }))
    .expect("spec");
    s.forge = forge;
    s
}

fn head_of(repo: &std::path::Path, branch: &str) -> Option<String> {
    let r = git2::Repository::open(repo).expect("open");
    r.refname_to_id(&format!("refs/heads/{branch}"))
        .ok()
        .map(|o| o.to_string())
}

/// The reference's scenarios 8 and 9: `create_pr: false` pushes and deploys the pushed
/// commit with no change request; `merge: false` opens one, waits for green CI, and deploys
/// the change's commit without merging. The base branch never moves.
#[tokio::test]
async fn a_publish_without_change_request_or_merge_deploys_the_changes_own_commit() {
    let (_dir, work, bare) = repo_with_forge().await;
    let repo = git2::Repository::open(&work).expect("open");
    let base_before = head_of(&bare, "main");
    let c1 = commit_file(&repo, "message.txt", "v1\n", "say v1", None);
    repo.branch(
        "att/one",
        &repo.find_commit(c1.parse().expect("oid")).expect("c"),
        false,
    )
    .expect("branch");

    let mut no_pr = spec(ForgeKind::Local);
    no_pr.create_pr = false;
    let out = publish(&no_pr, &work, "att/one", "main", "say v1", &c1).await;
    assert_eq!(out.failure, None, "{out:?}");
    assert_eq!(
        (
            out.pushed,
            out.pr_url.as_deref(),
            out.merged,
            out.commit.as_deref()
        ),
        (true, None, false, Some(c1.as_str()))
    );
    assert_eq!(out.ci_status.as_deref(), Some("not_run"));
    assert!(!bare.join("att-forge").exists(), "no change request");
    assert_eq!(head_of(&bare, "att/one").as_deref(), Some(c1.as_str()));

    let mut no_merge = spec(ForgeKind::Local);
    no_merge.merge = false;
    let out = publish(&no_merge, &work, "att/one", "main", "say v1", &c1).await;
    assert_eq!(out.failure, None, "{out:?}");
    assert!(out.pr_url.is_some(), "{out:?}");
    assert_eq!(
        (out.ci_status.as_deref(), out.merged, out.commit.as_deref()),
        (Some("success"), false, Some(c1.as_str()))
    );
    assert_eq!(head_of(&bare, "main"), base_before, "nothing was merged");
}

/// A shipped change reverted on GitHub (the `gh` stand-in records what it was asked): the
/// revert commit is made from the remote's base, pushed as `att/revert-<run>`, and opened
/// as a change request whose CI is waited for; it is not merged.
#[tokio::test]
async fn a_shipped_change_is_reverted_by_a_change_request_on_the_same_forge() {
    let (dir, work, bare) = repo_with_forge().await;
    let repo = git2::Repository::open(&work).expect("open");
    let v0_tree = repo.head().expect("h").peel_to_tree().expect("t").id();
    let shipped = commit_file(&repo, "message.txt", "v1\n", "say v1", None);
    crate::workspace::git::push(&work, "origin", "main")
        .await
        .expect("push");
    let asked = dir.path().join("asked");
    let gh = dir.path().join("gh");
    std::fs::write(
        &gh,
        format!(
            "#!/bin/sh\necho \"$@\" >> {}\ncase \"$1 $2\" in\n\
             'pr create') echo 'https://github.com/o/r/pull/8' ;;\n\
             'pr checks') echo '[{{\"name\":\"test\",\"bucket\":\"pass\"}}]' ;;\n\
             *) exit 1 ;;\n\
             esac\n",
            asked.display()
        ),
    )
    .expect("script");
    std::process::Command::new("chmod")
        .args(["+x"])
        .arg(&gh)
        .status()
        .expect("chmod");
    let job = RevertJob {
        spec: spec(ForgeKind::Github {
            repo: "o/r".into(),
            gh: Some(gh.display().to_string()),
        }),
        repo: work.clone(),
        base: "main".into(),
        shipped: shipped.clone(),
        title: "say v1".into(),
        run: "run-1".into(),
    };
    let out = revert(&job).await;
    assert_eq!(out.failure, None, "{out:?}");
    assert_eq!(
        (out.pr_url.as_deref(), out.ci_status.as_deref(), out.merged),
        (
            Some("https://github.com/o/r/pull/8"),
            Some("success"),
            false
        )
    );
    let pushed = head_of(&bare, "att/revert-run-1").expect("the revert branch was pushed");
    let b = git2::Repository::open_bare(&bare).expect("bare");
    let revert_commit = b.find_commit(pushed.parse().expect("oid")).expect("commit");
    assert_eq!(
        revert_commit.tree_id(),
        v0_tree,
        "the revert undoes the change"
    );
    assert_eq!(
        revert_commit.parent_id(0).expect("parent").to_string(),
        shipped
    );
    assert!(
        revert_commit
            .message()
            .unwrap_or_default()
            .contains(&shipped)
    );
    let asked = std::fs::read_to_string(&asked).expect("gh was run");
    assert!(
        asked.contains(
            "pr create --repo o/r --head att/revert-run-1 --base main --title Revert \"say v1\""
        ),
        "{asked}"
    );
    assert!(
        !asked.contains("pr merge"),
        "a revert is not merged: {asked}"
    );
    // The working tree was not touched.
    assert_eq!(
        std::fs::read_to_string(work.join("message.txt")).expect("file"),
        "v1\n"
    );
}

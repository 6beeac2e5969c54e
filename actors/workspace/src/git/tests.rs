//! Git operations against real repositories in temporary directories.

use super::*;

fn repo() -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().expect("dir");
    let root = dir.path().join("work");
    git2::Repository::init(&root).expect("init");
    std::fs::write(root.join("a.txt"), "one\n").expect("write");
    commit(&root, "first", Some(&["a.txt".to_owned()])).expect("first commit");
    (dir, root)
}

#[test]
fn commits_take_named_paths_or_tracked_changes_never_stray_files() {
    let (_dir, root) = repo();
    std::fs::write(root.join("a.txt"), "two\n").expect("write");
    std::fs::write(root.join("stray.txt"), "not mine\n").expect("write");
    let s = status(&root).expect("status");
    assert_eq!(s.files.len(), 2, "{s:?}");
    assert!(
        s.files
            .iter()
            .any(|f| f.path == "stray.txt" && f.untracked && f.change == "new")
    );
    // Tracked changes only: the stray file stays out.
    let c = commit(&root, "second", None).expect("commit");
    assert_eq!(c.files, ["a.txt"]);
    let s = status(&root).expect("status");
    assert_eq!(s.files.len(), 1, "{s:?}");
    assert_eq!(s.files[0].path, "stray.txt");
    // Named paths: exactly those; a deletion too.
    std::fs::remove_file(root.join("a.txt")).expect("rm");
    let c = commit(
        &root,
        "third",
        Some(&["stray.txt".to_owned(), "a.txt".to_owned()]),
    )
    .expect("commit");
    assert_eq!(c.files, ["a.txt", "stray.txt"]);
    assert!(status(&root).expect("status").clean);
    let log = log(&root, 10).expect("log");
    let summaries: Vec<&str> = log.iter().map(|c| c.summary.as_str()).collect();
    assert_eq!(summaries, ["third", "second", "first"]);
    // Nothing to commit, empty messages, paths outside, .git: refused.
    assert!(matches!(
        commit(&root, "again", None),
        Err(GitError::NothingToCommit(_))
    ));
    assert!(matches!(
        commit(&root, " ", None),
        Err(GitError::BadName(_))
    ));
    for bad in ["../x", "/etc/passwd", ".git/config"] {
        let e = commit(&root, "bad", Some(&[bad.to_owned()])).expect_err(bad);
        assert!(
            matches!(e, GitError::Path(_)) && e.is_callers(),
            "{bad}: {e}"
        );
    }
}

#[test]
fn status_diff_and_commit_pass_over_fifos_and_huge_files() {
    let (_dir, root) = repo();
    rustix::fs::mkfifoat(
        rustix::fs::CWD,
        root.join("pipe"),
        rustix::fs::Mode::from_raw_mode(0o600),
    )
    .expect("fifo");
    let huge = std::fs::File::create(root.join("huge.txt")).expect("huge");
    huge.set_len(10 << 30).expect("sparse 10 GiB");
    let (tx, rx) = std::sync::mpsc::channel();
    let r = root.clone();
    std::thread::spawn(move || {
        let _ = tx.send((status(&r), diff(&r)));
    });
    let (s, d) = rx
        .recv_timeout(std::time::Duration::from_secs(30))
        .expect("status and diff answer");
    let s = s.expect("status");
    assert!(s.files.iter().any(|f| f.path == "huge.txt"), "{s:?}");
    let d = d.expect("diff");
    assert!(d.len() < 1 << 20, "{}", d.len());
    let e = commit(&root, "fifo", Some(&["pipe".to_owned()])).expect_err("a FIFO");
    assert!(e.to_string().contains("not a regular file"), "{e}");
}

#[test]
fn branches_switch_safely_and_diffs_show_the_working_tree() {
    let (_dir, root) = repo();
    assert_eq!(
        status(&root).expect("status").branch.as_deref(),
        Some("master")
    );
    branch(&root, "feature", true).expect("create");
    assert_eq!(
        status(&root).expect("status").branch.as_deref(),
        Some("feature")
    );
    std::fs::write(root.join("a.txt"), "changed on feature\n").expect("write");
    let d = diff(&root).expect("diff");
    assert!(
        d.contains("-one") && d.contains("+changed on feature"),
        "{d}"
    );
    commit(&root, "on feature", None).expect("commit");
    std::fs::write(root.join("a.txt"), "uncommitted\n").expect("write");
    let e = branch(&root, "master", false).expect_err("would clobber");
    assert!(matches!(e, GitError::Conflict(_)), "{e}");
    assert_eq!(
        std::fs::read_to_string(root.join("a.txt")).expect("read"),
        "uncommitted\n"
    );
    for bad in ["-x", "a..b", "no such"] {
        assert!(
            matches!(branch(&root, bad, true), Err(GitError::BadName(_))),
            "{bad}"
        );
    }
    assert!(matches!(
        branch(&root, "feature", true),
        Err(GitError::Conflict(_))
    ));
    assert!(matches!(
        branch(&root, "nope", false),
        Err(GitError::BadName(_))
    ));
    let not_repo = tempfile::tempdir().expect("dir");
    assert!(matches!(
        status(not_repo.path()),
        Err(GitError::NotARepo(_))
    ));
}

#[tokio::test]
async fn pushes_go_to_local_remotes_and_non_fast_forwards_are_refused() {
    let (dir, root) = repo();
    let remote = dir.path().join("remote.git");
    git2::Repository::init_bare(&remote).expect("bare");
    let repo = git2::Repository::open(&root).expect("open");
    repo.remote("origin", &remote.display().to_string())
        .expect("remote");
    repo.remote("forge", "https://example.com/x.git")
        .expect("remote");
    push(&root, "origin", "master").await.expect("push");
    let bare = git2::Repository::open_bare(&remote).expect("bare");
    let pushed = bare
        .find_reference("refs/heads/master")
        .expect("ref")
        .peel_to_commit()
        .expect("commit")
        .id()
        .to_string();
    assert_eq!(Some(pushed), status(&root).expect("status").head);
    // Other remotes go through the git command line: a relative path works there…
    let cli = dir.path().join("cli.git");
    git2::Repository::init_bare(&cli).expect("bare");
    repo.remote("relative", "../cli.git").expect("remote");
    push(&root, "relative", "master")
        .await
        .expect("push through the git CLI");
    let bare = git2::Repository::open_bare(&cli).expect("bare");
    assert!(bare.find_reference("refs/heads/master").is_ok());
    // …and an unreachable one fails with git's own words (no network, no prompt).
    let e = push(&root, "forge", "master")
        .await
        .expect_err("https remote");
    assert!(
        matches!(&e, GitError::Remote(m) if m.contains("the push to `forge` failed")),
        "{e}"
    );
    assert!(matches!(
        push(&root, "nope", "master").await,
        Err(GitError::BadName(_))
    ));
    // Rewrite local history: the remote's branch is not an ancestor any more.
    std::fs::write(root.join("a.txt"), "rewritten\n").expect("write");
    let head = repo.head().expect("head").peel_to_commit().expect("commit");
    let mut index = repo.index().expect("index");
    index.add_path(Path::new("a.txt")).expect("add");
    let tree = repo
        .find_tree(index.write_tree().expect("tree"))
        .expect("tree");
    let sig = git2::Signature::now("t", "t@e").expect("sig");
    let parents: Vec<git2::Commit<'_>> = head.parents().collect();
    let refs: Vec<&git2::Commit<'_>> = parents.iter().collect();
    let amended = repo
        .commit(None, &sig, &sig, "amended", &tree, &refs)
        .expect("commit");
    repo.reference("refs/heads/master", amended, true, "amend")
        .expect("move");
    let e = push(&root, "origin", "master")
        .await
        .expect_err("non fast-forward");
    assert!(matches!(e, GitError::Conflict(_)), "{e}");
}

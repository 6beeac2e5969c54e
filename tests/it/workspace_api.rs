//! `/api/v1/projects`: a project on a real directory, its files listed, read, written and
//! searched — and every route that takes a path refusing `../`, absolute paths and a symlink
//! to `/etc` with a 422 naming `path`, never a 500.

use crate::common;

use common::TestAtt;
use serde_json::{Value, json};

async fn call(
    att: &TestAtt,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut r = att.http.request(method, att.url(path));
    if let Some(b) = body {
        r = r.json(&b);
    }
    let r = r.send().await.expect("request");
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn projects_expose_their_files_and_refuse_paths_outside() {
    let dir = tempfile::tempdir().expect("dir");
    let root = dir.path().join("proj");
    std::fs::create_dir_all(root.join("src")).expect("src");
    std::fs::write(root.join("src/lib.rs"), "pub fn answer() -> u32 { 42 }\n").expect("lib");
    std::fs::write(dir.path().join("secret.txt"), "outside\n").expect("secret");
    std::os::unix::fs::symlink("/etc", root.join("etc")).expect("link");
    let att = TestAtt::start().await;
    use reqwest::Method as M;

    let (status, v) = call(
        &att,
        M::POST,
        "/api/v1/projects",
        Some(json!({"name": "demo", "path": root})),
    )
    .await;
    assert_eq!(status, 201, "{v}");
    for (bad, field) in [
        (json!({"name": "a b", "path": root}), "name"),
        (json!({"name": "x", "path": "relative/dir"}), "path"),
        (
            json!({"name": "x", "path": dir.path().join("missing")}),
            "path",
        ),
    ] {
        let (status, v) = call(&att, M::POST, "/api/v1/projects", Some(bad)).await;
        assert_eq!((status, v["field"].as_str()), (422, Some(field)), "{v}");
    }
    let (_, v) = call(&att, M::GET, "/api/v1/projects", None).await;
    assert_eq!(v["projects"][0]["name"], "demo", "{v}");

    // Write (a new file in a new directory), read it back, list, search.
    let (status, v) = call(
        &att,
        M::PUT,
        "/api/v1/projects/demo/file",
        Some(json!({"path": "src/new/mod.rs", "content": "pub fn answer_again() {}\n"})),
    )
    .await;
    assert_eq!((status, v["created"].as_bool()), (200, Some(true)), "{v}");
    let (status, v) = call(
        &att,
        M::GET,
        "/api/v1/projects/demo/file?path=src/new/mod.rs",
        None,
    )
    .await;
    assert_eq!(
        (status, v["content"].as_str()),
        (200, Some("pub fn answer_again() {}\n")),
        "{v}"
    );
    let (_, v) = call(&att, M::GET, "/api/v1/projects/demo/files", None).await;
    let paths: Vec<&str> = v["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .filter_map(|e| e["path"].as_str())
        .collect();
    assert_eq!(
        paths,
        ["etc", "src", "src/lib.rs", "src/new", "src/new/mod.rs"],
        "{v}"
    );
    let (_, v) = call(
        &att,
        M::GET,
        "/api/v1/projects/demo/search?pattern=answer",
        None,
    )
    .await;
    assert_eq!(v["matches"].as_array().map(Vec::len), Some(2), "{v}");
    let (status, v) = call(
        &att,
        M::GET,
        "/api/v1/projects/demo/search?pattern=(&regex=true",
        None,
    )
    .await;
    assert_eq!((status, v["field"].as_str()), (422, Some("pattern")), "{v}");

    // Every path-taking route refuses paths outside the project: 422 naming `path`.
    for bad in [
        "../secret.txt",
        "/etc/passwd",
        "etc/passwd",
        "src/../../secret.txt",
    ] {
        let q: String = form_urlencoded::byte_serialize(bad.as_bytes()).collect();
        for (method, path, body) in [
            (M::GET, format!("/api/v1/projects/demo/file?path={q}"), None),
            (M::GET, format!("/api/v1/projects/demo/files?dir={q}"), None),
            (
                M::PUT,
                "/api/v1/projects/demo/file".to_owned(),
                Some(json!({"path": bad, "content": "x"})),
            ),
        ] {
            let (status, v) = call(&att, method.clone(), &path, body).await;
            assert_eq!(
                (status, v["field"].as_str()),
                (422, Some("path")),
                "{method} {path} {bad}: {v}"
            );
        }
    }
    let (status, v) = call(
        &att,
        M::PUT,
        "/api/v1/projects/demo/file",
        Some(json!({"path": ".git/hooks/pre-commit", "content": "#!/bin/sh\n"})),
    )
    .await;
    assert_eq!(status, 422, "{v}");
    assert_eq!(
        std::fs::read_to_string(dir.path().join("secret.txt")).expect("secret"),
        "outside\n"
    );

    // Unknown projects and files are 404; deleting a project leaves its files.
    let (status, _) = call(&att, M::GET, "/api/v1/projects/nope/files", None).await;
    assert_eq!(status, 404);
    let (status, _) = call(
        &att,
        M::GET,
        "/api/v1/projects/demo/file?path=missing.rs",
        None,
    )
    .await;
    assert_eq!(status, 404);
    let (status, _) = call(&att, M::DELETE, "/api/v1/projects/demo", None).await;
    assert_eq!(status, 204);
    assert!(root.join("src/new/mod.rs").exists());
    let (status, _) = call(&att, M::GET, "/api/v1/projects/demo", None).await;
    assert_eq!(status, 404);
    att.server.shutdown().await;
}

/// A project directory `proj` (a git repository with one commit) inside a temp dir, and att.
async fn project(name: &str) -> (tempfile::TempDir, std::path::PathBuf, TestAtt) {
    let dir = tempfile::tempdir().expect("dir");
    let root = dir.path().join("proj");
    std::fs::create_dir_all(&root).expect("root");
    let repo = git2::Repository::init(&root).expect("init");
    common::commit(&repo, &[("a.txt", "a\n")], "first");
    let att = TestAtt::start().await;
    let (status, v) = call(
        &att,
        reqwest::Method::POST,
        "/api/v1/projects",
        Some(json!({"name": name, "path": root})),
    )
    .await;
    assert_eq!(status, 201, "{v}");
    (dir, root, att)
}

/// A link planted at the name att once used for its temporary file (`.NAME.att-write-<pid>`,
/// the pid being public) is neither followed nor renamed into place: the file outside keeps
/// its content and the project's file gets the written text.
#[tokio::test]
async fn a_link_planted_at_the_old_temporary_name_does_not_redirect_a_write() {
    let (dir, root, att) = project("p").await;
    let victim = dir.path().join("victim.txt");
    std::fs::write(&victim, "untouched\n").expect("victim");
    let planted = root.join(format!(".notes.txt.att-write-{}", std::process::id()));
    std::os::unix::fs::symlink(&victim, &planted).expect("plant");
    let (status, v) = call(
        &att,
        reqwest::Method::PUT,
        "/api/v1/projects/p/file",
        Some(json!({"path": "notes.txt", "content": "written\n"})),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(
        std::fs::read_to_string(&victim).expect("victim"),
        "untouched\n"
    );
    let notes = root.join("notes.txt");
    assert!(
        std::fs::symlink_metadata(&notes)
            .expect("notes")
            .file_type()
            .is_file(),
        "notes.txt is a regular file, not the planted link"
    );
    assert_eq!(std::fs::read_to_string(&notes).expect("notes"), "written\n");
    att.server.shutdown().await;
}

/// Rounds of four parallel writes of different texts to one file: every write answers 200,
/// and the file then holds exactly one of the four texts, whole.
#[tokio::test]
async fn parallel_writes_to_one_file_each_succeed_and_one_of_them_wins_whole() {
    let (_dir, root, att) = project("p").await;
    for round in 0..25 {
        let texts: Vec<String> = (0..4)
            .map(|w| format!("round {round} writer {w}\n").repeat(200 + w))
            .collect();
        let writes = texts.iter().map(|t| {
            call(
                &att,
                reqwest::Method::PUT,
                "/api/v1/projects/p/file",
                Some(json!({"path": "shared/file.txt", "content": t})),
            )
        });
        for (status, v) in futures_util::future::join_all(writes).await {
            assert_eq!(status, 200, "round {round}: {v}");
        }
        let now = std::fs::read_to_string(root.join("shared/file.txt")).expect("read");
        assert!(
            texts.contains(&now),
            "round {round}: the file holds none of the written texts whole"
        );
    }
    let left: Vec<_> = std::fs::read_dir(root.join("shared"))
        .expect("dir")
        .filter_map(Result::ok)
        .map(|e| e.file_name())
        .collect();
    assert_eq!(left, ["file.txt"], "no temporary file is left");
    att.server.shutdown().await;
}

/// A repository's git directory (`.git`, anything inside it, or a bare repository) cannot
/// be registered as a project: its `config` would be a file to write.
#[tokio::test]
async fn a_git_directory_or_anything_inside_one_is_not_a_project() {
    let (dir, root, att) = project("p").await;
    let bare = dir.path().join("bare.git");
    git2::Repository::init_bare(&bare).expect("bare");
    std::os::unix::fs::symlink(root.join(".git"), dir.path().join("alias")).expect("link");
    for (name, path) in [
        ("dotgit", root.join(".git")),
        ("refs", root.join(".git/refs")),
        ("bare", bare.clone()),
        ("objects", bare.join("objects")),
        ("alias", dir.path().join("alias")),
    ] {
        let (status, v) = call(
            &att,
            reqwest::Method::POST,
            "/api/v1/projects",
            Some(json!({"name": name, "path": path})),
        )
        .await;
        assert_eq!(
            (status, v["field"].as_str()),
            (422, Some("path")),
            "{name}: {v}"
        );
    }
    att.server.shutdown().await;
}

/// Nothing in a `.git` is read, listed, searched or written — at the top or deeper (a nested
/// repository), nor a file named `.git` (a worktree's pointer to its git directory).
#[tokio::test]
async fn git_directories_are_refused_at_any_depth_for_reads_and_writes() {
    let (_dir, root, att) = project("p").await;
    let nested = root.join("vendor/lib");
    std::fs::create_dir_all(&nested).expect("nested");
    let inner = git2::Repository::init(&nested).expect("nested repo");
    inner
        .remote("origin", "https://user:hunter2@example.com/x.git")
        .expect("remote");
    std::fs::write(root.join("vendor/.git"), "gitdir: /elsewhere\n").expect("pointer");
    use reqwest::Method as M;
    for bad in [
        ".git/config",
        "vendor/lib/.git/config",
        "vendor/.git",
        ".GIT/config",
    ] {
        let q: String = form_urlencoded::byte_serialize(bad.as_bytes()).collect();
        for (method, path, body) in [
            (M::GET, format!("/api/v1/projects/p/file?path={q}"), None),
            (M::GET, format!("/api/v1/projects/p/files?dir={q}"), None),
            (
                M::PUT,
                "/api/v1/projects/p/file".to_owned(),
                Some(json!({"path": bad, "content": "x"})),
            ),
        ] {
            let (status, v) = call(&att, method.clone(), &path, body).await;
            assert_eq!(
                (status, v["field"].as_str()),
                (422, Some("path")),
                "{method} {bad}: {v}"
            );
        }
    }
    let (_, v) = call(&att, M::GET, "/api/v1/projects/p/files", None).await;
    let paths: Vec<&str> = v["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .filter_map(|e| e["path"].as_str())
        .collect();
    assert_eq!(paths, ["a.txt", "vendor", "vendor/lib"], "{v}");
    let (_, v) = call(
        &att,
        M::GET,
        "/api/v1/projects/p/search?pattern=hunter2",
        None,
    )
    .await;
    assert_eq!(v["matches"], json!([]), "{v}");
    assert_eq!(
        std::fs::read_to_string(root.join("vendor/.git")).expect("pointer"),
        "gitdir: /elsewhere\n"
    );
    att.server.shutdown().await;
}

/// A remote whose transport runs a command (`ext::`), even one the repository's config
/// allows, is never run by a push: neither named directly nor reached by rewriting a plain
/// URL (`url.<base>.insteadOf`). The push fails with a clear error and runs nothing.
#[tokio::test]
async fn a_push_never_runs_a_command_transport_whatever_the_repository_config_says() {
    let (dir, root, att) = project("p").await;
    let marker = dir.path().join("marker");
    let ext = format!("ext::sh -c touch% {}", marker.display());
    let repo = git2::Repository::open(&root).expect("open");
    let mut config = repo.config().expect("config");
    config
        .set_str("protocol.ext.allow", "always")
        .expect("allow");
    config
        .set_str(
            &format!("url.{ext}.insteadOf"),
            "https://rewritten.invalid/",
        )
        .expect("insteadOf");
    repo.remote("evil", &ext).expect("remote");
    repo.remote("sneaky", "https://rewritten.invalid/x.git")
        .expect("remote");
    repo.remote("pushy", "https://example.invalid/x.git")
        .expect("remote");
    repo.remote_set_pushurl("pushy", Some(&ext))
        .expect("push url");
    let branch = repo
        .head()
        .expect("head")
        .shorthand()
        .expect("branch")
        .to_owned();
    // Named directly, through a rewrite or as the push URL: refused before git runs (and git
    // itself would refuse the transport: `gitcli`'s own test).
    for remote in ["evil", "sneaky", "pushy"] {
        let (status, v) = call(
            &att,
            reqwest::Method::POST,
            "/api/v1/projects/p/git/push",
            Some(json!({"remote": remote, "branch": branch})),
        )
        .await;
        assert_eq!(status, 422, "{remote}: {v}");
        assert!(
            v["detail"]
                .as_str()
                .unwrap_or_default()
                .contains("remote helper"),
            "{remote}: {v}"
        );
        assert!(!marker.exists(), "{remote}: the ext:: command ran");
    }
    att.server.shutdown().await;
}

/// A clone from a remote helper (`fd::`, `ext::`) is refused at once, naming `git_remote`,
/// and leaves nothing on disk.
#[tokio::test]
async fn clones_from_remote_helpers_are_refused_at_once() {
    let dir = tempfile::tempdir().expect("dir");
    let marker = dir.path().join("marker");
    let att = TestAtt::start().await;
    for remote in [
        "fd::17".to_owned(),
        format!("ext::sh -c touch% {}", marker.display()),
    ] {
        let target = dir.path().join("clone");
        let answer = tokio::time::timeout(
            std::time::Duration::from_secs(20),
            call(
                &att,
                reqwest::Method::POST,
                "/api/v1/projects",
                Some(json!({"name": "c", "path": target, "git_remote": remote})),
            ),
        )
        .await;
        let (status, v) = answer.unwrap_or_else(|_| panic!("`{remote}`: no answer in 20 s"));
        assert_eq!(
            (status, v["field"].as_str()),
            (422, Some("git_remote")),
            "{remote}: {v}"
        );
        assert!(!target.exists(), "{remote}: nothing is left");
        assert!(!marker.exists(), "{remote}: the ext:: command ran");
    }
    att.server.shutdown().await;
}

/// A refused project name with a valid remote clones nothing: every argument is checked
/// before the clone.
#[tokio::test]
async fn a_refused_project_leaves_no_clone_behind() {
    let (dir, root, att) = project("p").await;
    for (name, field) in [("../bad", "name"), ("a b", "name")] {
        let target = dir.path().join("clone");
        let (status, v) = call(
            &att,
            reqwest::Method::POST,
            "/api/v1/projects",
            Some(json!({"name": name, "path": target, "git_remote": root})),
        )
        .await;
        assert_eq!((status, v["field"].as_str()), (422, Some(field)), "{v}");
        assert!(!target.exists(), "{name}: the clone was left on disk");
    }
    att.server.shutdown().await;
}

/// Processes whose command line mentions `needle` and that have not ended (zombies aside).
fn processes_mentioning(needle: &str) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").expect("/proc").flatten() {
        let proc_dir = entry.path();
        let Ok(cmdline) = std::fs::read(proc_dir.join("cmdline")) else {
            continue;
        };
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        if cmdline.contains(needle) {
            found.push(cmdline);
        }
    }
    found
}

/// A clone from a server that accepts and never answers is stopped after `clone_timeout`:
/// a clear "timed out" refusal, no git process left, no directory.
#[tokio::test]
async fn a_clone_that_hangs_is_stopped_at_its_timeout_and_leaves_nothing() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("listen");
    let port = listener.local_addr().expect("addr").port();
    // Accepts and holds every connection, answering nothing.
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for conn in listener.incoming().flatten() {
            held.push(conn);
        }
    });
    let dir = tempfile::tempdir().expect("dir");
    let att = TestAtt::start_with(|c| {
        c.workspace.clone_timeout = std::time::Duration::from_millis(1500);
    })
    .await;
    let target = dir.path().join("clone");
    let remote = format!("git://127.0.0.1:{port}/x");
    let answer = tokio::time::timeout(
        std::time::Duration::from_secs(30),
        call(
            &att,
            reqwest::Method::POST,
            "/api/v1/projects",
            Some(json!({"name": "c", "path": target, "git_remote": remote})),
        ),
    )
    .await;
    let (status, v) = answer.expect("the clone is stopped at its timeout");
    assert_eq!(
        (status, v["field"].as_str()),
        (422, Some("git_remote")),
        "{v}"
    );
    assert!(
        v["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("timed out"),
        "{v}"
    );
    assert!(!target.exists(), "the partial clone is removed");
    let needle = format!("127.0.0.1:{port}");
    common::eventually(
        "no git process left",
        std::time::Duration::from_secs(10),
        || {
            let left = processes_mentioning(&needle);
            async move { left.is_empty().then_some(()) }
        },
    )
    .await;
    att.server.shutdown().await;
}

/// Reading a huge (sparse) file with a limit reads only that much; a FIFO is refused at once
/// rather than waited on, however many are asked for, and att still answers after.
#[tokio::test]
async fn reads_take_only_their_limit_and_refuse_fifos_without_hanging() {
    let (_dir, root, att) = project("p").await;
    let huge = std::fs::File::create(root.join("huge.txt")).expect("huge");
    std::io::Write::write_all(&mut &huge, b"0123456789abcdef\n").expect("head");
    huge.set_len(10 << 30).expect("sparse 10 GiB");
    let made = std::process::Command::new("mkfifo")
        .arg(root.join("pipe"))
        .status()
        .expect("mkfifo");
    assert!(made.success());
    let bounded = |path: &'static str| {
        let att = &att;
        async move {
            tokio::time::timeout(
                std::time::Duration::from_secs(20),
                call(att, reqwest::Method::GET, path, None),
            )
            .await
            .unwrap_or_else(|_| panic!("{path}: no answer in 20 s"))
        }
    };
    let (status, v) = bounded("/api/v1/projects/p/file?path=huge.txt&limit=10").await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(
        (&v["content"], &v["truncated"], &v["size"]),
        (&json!("0123456789"), &json!(true), &json!(10u64 << 30)),
        "{v}"
    );
    let fifo_reads = (0..8).map(|_| bounded("/api/v1/projects/p/file?path=pipe"));
    for (status, v) in futures_util::future::join_all(fifo_reads).await {
        assert_eq!((status, v["field"].as_str()), (422, Some("path")), "{v}");
        assert!(
            v["detail"].as_str().unwrap_or_default().contains("FIFO"),
            "{v}"
        );
    }
    let (status, v) = bounded("/api/v1/projects/p/file?path=a.txt").await;
    assert_eq!((status, &v["content"]), (200, &json!("a\n")), "{v}");
    let (status, v) = bounded("/api/v1/projects/p/search?pattern=0123").await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["matches"], json!([]), "the huge file is passed over: {v}");
    let (status, v) = bounded("/api/v1/projects/p/files").await;
    assert_eq!(status, 200, "{v}");
    att.server.shutdown().await;
}

/// A path or a name longer than the file system takes is the caller's mistake: 422 naming
/// `path` on every route that takes one, never a 500.
#[tokio::test]
async fn too_long_paths_are_refused_as_the_callers_mistake() {
    let (_dir, _root, att) = project("p").await;
    use reqwest::Method as M;
    let long_name = "n".repeat(300);
    let long_path = vec!["d"; 2100].join("/");
    for bad in [long_name.as_str(), long_path.as_str()] {
        let q: String = form_urlencoded::byte_serialize(bad.as_bytes()).collect();
        for (method, path, body) in [
            (M::GET, format!("/api/v1/projects/p/file?path={q}"), None),
            (M::GET, format!("/api/v1/projects/p/files?dir={q}"), None),
            (
                M::PUT,
                "/api/v1/projects/p/file".to_owned(),
                Some(json!({"path": bad, "content": "x"})),
            ),
            (
                M::POST,
                "/api/v1/projects/p/git/commit".to_owned(),
                Some(json!({"message": "m", "paths": [bad]})),
            ),
        ] {
            let (status, v) = call(&att, method.clone(), &path, body).await;
            assert_eq!(
                (status, v["field"].as_str()),
                (422, Some("path")),
                "{method} {}: {v}",
                bad.len()
            );
            assert!(
                v["detail"].as_str().unwrap_or_default().len() < 400,
                "the message does not echo the whole path: {v}"
            );
        }
    }
    att.server.shutdown().await;
}

/// A push whose remote cannot be reached is the remote's failure (502 naming it), a branch
/// that does not exist is the caller's (422): neither is att's own 500.
#[tokio::test]
async fn a_push_to_an_unreachable_remote_is_a_bad_gateway_and_a_missing_branch_a_bad_request() {
    let (dir, root, att) = project("p").await;
    let repo = git2::Repository::open(&root).expect("open");
    // Nothing listens on port 9 of loopback: the connection is refused at once.
    repo.remote("down", "http://127.0.0.1:9/x.git")
        .expect("remote");
    repo.remote(
        "gone",
        &dir.path().join("no-such-repo").display().to_string(),
    )
    .expect("remote");
    let branch = repo
        .head()
        .expect("head")
        .shorthand()
        .expect("branch")
        .to_owned();
    for remote in ["down", "gone"] {
        let (status, v) = call(
            &att,
            reqwest::Method::POST,
            "/api/v1/projects/p/git/push",
            Some(json!({"remote": remote, "branch": branch})),
        )
        .await;
        assert_eq!(
            (status, v["code"].as_str()),
            (502, Some("bad_gateway")),
            "{remote}: {v}"
        );
        assert!(
            v["detail"].as_str().unwrap_or_default().contains(remote),
            "{v}"
        );
    }
    let (status, v) = call(
        &att,
        reqwest::Method::POST,
        "/api/v1/projects/p/git/push",
        Some(json!({"remote": "down", "branch": "no-such-branch"})),
    )
    .await;
    assert_eq!(status, 422, "{v}");
    att.server.shutdown().await;
}

/// The properties (or query parameters) an OpenAPI operation documents for its input, and
/// which of them are required.
fn documented_input(doc: &Value, method: &str, path: &str) -> (Vec<String>, Vec<String>) {
    let op = &doc["paths"][path][method];
    assert!(op.is_object(), "no {method} {path} in the document");
    let mut names = Vec::new();
    let mut required = Vec::new();
    if let Some(schema) = op["requestBody"]["content"]["application/json"]["schema"].as_object() {
        let reference = schema["$ref"].as_str().unwrap_or_default();
        let name = reference
            .strip_prefix("#/components/schemas/")
            .unwrap_or_else(|| {
                panic!("{method} {path}: the body is not a named schema: {schema:?}")
            });
        let body = &doc["components"]["schemas"][name];
        names.extend(
            body["properties"]
                .as_object()
                .expect("properties")
                .keys()
                .cloned(),
        );
        required.extend(
            body["required"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|r| r.as_str().map(str::to_owned)),
        );
    }
    for p in op["parameters"].as_array().into_iter().flatten() {
        if p["in"] == "query" {
            let name = p["name"].as_str().expect("name").to_owned();
            if p["required"] == true {
                required.push(name.clone());
            }
            names.push(name);
        }
    }
    names.sort();
    required.sort();
    (names, required)
}

/// Each route under `/api/v1/projects` documents the arguments of the tool it runs: the
/// tool's MCP input schema less `project` (the path names it), with the same required ones.
#[tokio::test]
async fn the_openapi_document_gives_each_project_route_its_tools_arguments() {
    let att = TestAtt::start().await;
    let doc = att.get_json("/api/v1/openapi.json").await;
    let tools = att.server.tools();
    for (method, path, tool) in [
        ("post", "/api/v1/projects", "att.project.create"),
        ("put", "/api/v1/projects/{name}/file", "att.code.write"),
        ("get", "/api/v1/projects/{name}/file", "att.code.read"),
        ("get", "/api/v1/projects/{name}/files", "att.code.list"),
        ("get", "/api/v1/projects/{name}/search", "att.code.search"),
        (
            "post",
            "/api/v1/projects/{name}/git/branch",
            "att.git.branch",
        ),
        (
            "post",
            "/api/v1/projects/{name}/git/commit",
            "att.git.commit",
        ),
        ("get", "/api/v1/projects/{name}/git/log", "att.git.log"),
        ("post", "/api/v1/projects/{name}/git/push", "att.git.push"),
        ("post", "/api/v1/projects/{name}/tests", "att.test.run"),
        ("get", "/api/v1/projects/{name}/tests", "att.test.results"),
        (
            "get",
            "/api/v1/projects/{name}/runtime/logs",
            "att.runtime.logs",
        ),
        ("post", "/api/v1/projects/{name}/deploy", "att.deploy.run"),
        ("get", "/api/v1/projects/{name}/deploy", "att.deploy.status"),
    ] {
        let listed = tools
            .tools()
            .iter()
            .find(|t| t.name == tool.replace('.', "_"))
            .unwrap_or_else(|| panic!("{tool} is not listed"));
        let strings = |v: Option<&Value>| -> Vec<String> {
            let mut out: Vec<String> = match v {
                Some(Value::Object(m)) => m.keys().cloned().collect(),
                Some(Value::Array(a)) => a
                    .iter()
                    .filter_map(|s| s.as_str().map(str::to_owned))
                    .collect(),
                _ => Vec::new(),
            };
            out.retain(|n| n != "project");
            out.sort();
            out
        };
        let mcp = (
            strings(listed.input_schema.get("properties")),
            strings(listed.input_schema.get("required")),
        );
        assert!(!mcp.0.is_empty(), "{tool} has arguments beyond the project");
        assert_eq!(
            documented_input(&doc, method, path),
            mcp,
            "{method} {path} documents {tool}'s arguments"
        );
    }
    // The body is the tool's own argument type, shown by name.
    assert_eq!(
        doc["paths"]["/api/v1/projects/{name}/file"]["put"]["requestBody"]["content"]["application/json"]
            ["schema"]["$ref"],
        "#/components/schemas/WriteArgs"
    );
    att.server.shutdown().await;
}

//! `/api/v1/projects`: a project on a real directory, its files listed, read, written and
//! searched — and every route that takes a path refusing `../`, absolute paths and a symlink
//! to `/etc` with a 422 naming `path`, never a 500.

mod common;

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

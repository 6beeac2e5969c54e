//! Stamps the binary with the commit it was built from, for `att --version`: `GIT_COMMIT`
//! if the builder sets it (a container build without `.git`), else `git rev-parse`, else
//! `unknown`. A `-dirty` suffix is not added: it would rebuild att on every edited file.

use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=GIT_COMMIT");
    let commit = std::env::var("GIT_COMMIT")
        .ok()
        .filter(|c| !c.is_empty())
        .or_else(|| git(&["rev-parse", "--short=12", "HEAD"]))
        .unwrap_or_else(|| "unknown".to_owned());
    // Rebuild when HEAD moves: the file naming the branch, and the branch's ref (loose or
    // packed). In a worktree HEAD is its own and the refs are shared.
    if let Some(dir) = git(&["rev-parse", "--git-dir"]) {
        watch(format!("{dir}/HEAD"));
    }
    if let Some(common) = git(&["rev-parse", "--git-common-dir"]) {
        watch(format!("{common}/packed-refs"));
        if let Some(r) = git(&["symbolic-ref", "-q", "HEAD"]) {
            watch(format!("{common}/{r}"));
        }
    }
    println!("cargo:rustc-env=GIT_COMMIT={commit}");
}

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    let text = String::from_utf8(out.stdout).ok()?;
    let text = text.trim();
    (out.status.success() && !text.is_empty()).then(|| text.to_owned())
}

/// Reruns this script when `path` changes; only if it exists (a missing path would rerun it,
/// and rebuild att, on every build).
fn watch(path: String) {
    if std::path::Path::new(&path).exists() {
        println!("cargo:rerun-if-changed={path}");
    }
}

//! The git command line as att runs it (clones and pushes that need the user's credential
//! setup): one hardened [`command`] and one bounded [`run`], used for every `git` att starts.
//!
//! Hardened, because git's configuration can run programs (`ext::` and `fd::` transports,
//! hooks, `core.fsmonitor`) and a repository's config is not entirely the admin's: only the
//! transports att means to use are allowed (`GIT_ALLOW_PROTOCOL`), `ext` and `fd` are refused
//! whatever the config says, hooks and fsmonitor are off, the system config is not read, and
//! git never prompts (its terminal is not the user's).
//!
//! Bounded, because a remote that accepts and never answers would hold a git process (and a
//! caller) forever: the command runs in its own process group under a timeout, and the group
//! is killed on timeout and when the run is dropped — by a caller that went away, or by att
//! stopping.

use std::path::Path;
use std::process::{Output, Stdio};
use std::time::Duration;

use att_runtime::process::GroupGuard;

/// The transports git may use: local paths and the network protocols with their own
/// authentication. Not `ext` (runs a command) nor `fd` (talks over an inherited descriptor).
pub const ALLOWED_PROTOCOLS: &str = "file:git:http:https:ssh";

/// Configuration given on every command line; it wins over every config file.
const OVERRIDES: [&str; 5] = [
    "protocol.ext.allow=never",
    "protocol.fd.allow=never",
    "core.hooksPath=/dev/null",
    "core.fsmonitor=false",
    "credential.interactive=false",
];

/// Why a git command line did not finish.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CliError {
    /// `git` could not start.
    #[error("cannot run git: {0}")]
    Start(String),
    /// It ran out of time; its process group was killed.
    #[error("git {0} timed out after {1:?} and was stopped")]
    TimedOut(String, Duration),
}

/// A `git` command, hardened (see the module header), in `dir` when given, with `args` after
/// att's own configuration overrides.
pub fn command(dir: Option<&Path>) -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new("git");
    if let Some(dir) = dir {
        cmd.arg("-C").arg(dir);
    }
    for o in OVERRIDES {
        cmd.arg("-c").arg(o);
    }
    att_runtime::process::without_att_secrets(&mut cmd);
    cmd.env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_ALLOW_PROTOCOL", ALLOWED_PROTOCOLS)
        .env("GIT_TERMINAL_PROMPT", "0")
        // Inherited repository settings would redirect the command elsewhere.
        .env_remove("GIT_DIR")
        .env_remove("GIT_WORK_TREE")
        .env_remove("GIT_CONFIG_PARAMETERS")
        .env_remove("GIT_CONFIG_COUNT")
        .env_remove("GIT_EXEC_PATH")
        .stdin(Stdio::null());
    cmd
}

/// Runs `cmd` (from [`command`]) in a process group of its own, its output captured, for at
/// most `timeout`; the group is killed on timeout, when this future is dropped, and after the
/// run (nothing it started outlives it). `what` names the command in errors (`clone`, `push`).
pub async fn run(
    mut cmd: tokio::process::Command,
    what: &str,
    timeout: Duration,
) -> Result<Output, CliError> {
    cmd.process_group(0)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let child = cmd.spawn().map_err(|e| CliError::Start(e.to_string()))?;
    // Killed at the latest when this future is dropped (a caller gone, att stopping).
    let group = child.id().map(GroupGuard::new);
    let out = tokio::time::timeout(timeout, child.wait_with_output()).await;
    if let Some(group) = &group {
        group.kill();
    }
    match out {
        Ok(Ok(out)) => Ok(out),
        Ok(Err(e)) => Err(CliError::Start(e.to_string())),
        Err(_) => Err(CliError::TimedOut(what.to_owned(), timeout)),
    }
}

/// git's own words from a failed run: stderr, else stdout.
pub fn said(out: &Output) -> String {
    let err = String::from_utf8_lossy(&out.stderr);
    let text = if err.trim().is_empty() {
        String::from_utf8_lossy(&out.stdout)
    } else {
        err
    };
    text.trim().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A repository whose own config allows `ext::` and whose remote runs a command: the
    /// hardened command line refuses the transport, and the command never runs.
    #[tokio::test]
    async fn a_command_transport_is_refused_whatever_the_repository_config_says() {
        let dir = tempfile::tempdir().expect("dir");
        let root = dir.path().join("work");
        let repo = git2::Repository::init(&root).expect("init");
        let tree = repo
            .find_tree(repo.index().expect("index").write_tree().expect("tree"))
            .expect("tree");
        let who = git2::Signature::now("t", "t@example.com").expect("sig");
        repo.commit(Some("HEAD"), &who, &who, "first", &tree, &[])
            .expect("commit");
        let marker = dir.path().join("marker");
        let ext = format!("ext::sh -c touch% {}", marker.display());
        let mut config = repo.config().expect("config");
        config
            .set_str("protocol.ext.allow", "always")
            .expect("allow");
        config.set_str("protocol.allow", "always").expect("allow");
        repo.remote("evil", &ext).expect("remote");
        for args in [
            vec!["push", "evil", "HEAD"],
            vec!["fetch", "evil"],
            vec!["ls-remote", &ext],
        ] {
            let mut cmd = command(Some(&root));
            cmd.args(&args);
            let out = run(cmd, "test", Duration::from_secs(30))
                .await
                .expect("git ran");
            assert!(!out.status.success(), "{args:?}");
            assert!(
                said(&out).contains("not allowed"),
                "{args:?}: {}",
                said(&out)
            );
            assert!(!marker.exists(), "{args:?}: the ext:: command ran");
        }
    }

    /// A command that outlives its timeout is stopped with everything it started.
    #[tokio::test]
    async fn a_run_past_its_timeout_is_stopped_with_its_whole_group() {
        let dir = tempfile::tempdir().expect("dir");
        let pid_file = dir.path().join("pid");
        // `git` runs an alias as a shell command: a stand-in for a hanging transport.
        let mut cmd = command(None);
        cmd.arg("-c").arg(format!(
            "alias.hang=!sleep 60 & echo $! > {}; wait",
            pid_file.display()
        ));
        cmd.arg("hang");
        let e = run(cmd, "hang", Duration::from_millis(1500))
            .await
            .expect_err("timed out");
        assert_eq!(
            e,
            CliError::TimedOut("hang".into(), Duration::from_millis(1500))
        );
        let pid: u32 = std::fs::read_to_string(&pid_file)
            .expect("pid file")
            .trim()
            .parse()
            .expect("pid");
        // The grandchild dies with its group (reaped by init: at most a zombie remains).
        assert!(
            att_runtime::process::wait_gone(pid, Duration::from_secs(10)).await,
            "the grandchild {pid} outlived the timeout"
        );
    }
}

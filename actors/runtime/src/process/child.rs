//! One managed child process: started without a shell in its own process group, marked and
//! identified ([`crate::process::Identity`]: what a restarted att needs to recognize it),
//! its stdout and stderr captured line by line into a rotating log file, its end recorded
//! (exit status or signal), and stopped group-wide (SIGTERM, then SIGKILL after a grace
//! period) so that no grandchild outlives it.

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use serde::Serialize;
use time::OffsetDateTime;
use tokio::io::AsyncBufReadExt;

use super::log::RotatingLog;
use tokio::sync::watch;

/// How a process ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Exit {
    /// Its exit code, if it exited.
    pub code: Option<i32>,
    /// The signal that killed it, if one did.
    pub signal: Option<i32>,
    /// "exited with status 3", "was killed by signal 9 (SIGKILL)".
    pub description: String,
    /// When its end was noticed.
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
}

impl Exit {
    /// `process_exited:3`, `process_killed:9` — the probe reason strings.
    pub fn reason(&self) -> String {
        match (self.code, self.signal) {
            (Some(c), _) => format!("process_exited:{c}"),
            (None, Some(s)) => format!("process_killed:{s}"),
            (None, None) => "process_exited".to_owned(),
        }
    }
}

/// "exited with status 3", "was killed by signal 9 (SIGKILL)".
pub fn describe_exit(status: &std::io::Result<std::process::ExitStatus>) -> String {
    use std::os::unix::process::ExitStatusExt;
    match status {
        Ok(s) => match (s.code(), s.signal()) {
            (Some(code), _) => format!("exited with status {code}"),
            (None, Some(sig)) => {
                let name = match sig {
                    libc::SIGKILL => " (SIGKILL)",
                    libc::SIGTERM => " (SIGTERM)",
                    libc::SIGSEGV => " (SIGSEGV)",
                    libc::SIGABRT => " (SIGABRT)",
                    libc::SIGINT => " (SIGINT)",
                    libc::SIGPIPE => " (SIGPIPE)",
                    libc::SIGBUS => " (SIGBUS)",
                    _ => "",
                };
                format!("was killed by signal {sig}{name}")
            }
            (None, None) => "exited".to_owned(),
        },
        Err(e) => format!("exited (its status could not be read: {e})"),
    }
}

/// What to run: a program (found on `PATH` when it has no slash), its arguments, extra
/// environment variables and a working directory. The one shape every child of att is
/// described by (a service, a build step, a test command, a stdio upstream).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Program {
    /// The program (no shell: arguments are passed as they are).
    pub program: String,
    /// Its arguments.
    pub args: Vec<String>,
    /// Extra environment variables.
    pub env: Vec<(String, String)>,
    /// Its working directory.
    pub cwd: Option<PathBuf>,
}

impl Program {
    /// `program` with `args`, no extra environment, in att's working directory.
    pub fn new<S: Into<String>>(
        program: impl Into<String>,
        args: impl IntoIterator<Item = S>,
    ) -> Self {
        Self {
            program: program.into(),
            args: args.into_iter().map(Into::into).collect(),
            env: Vec::new(),
            cwd: None,
        }
    }

    /// `argv[0]` with the rest as its arguments; `None` when `argv` is empty.
    pub fn from_argv(argv: &[String]) -> Option<Self> {
        let (program, args) = argv.split_first()?;
        Some(Self::new(program.clone(), args.iter().cloned()))
    }

    /// The program followed by its arguments.
    pub fn argv(&self) -> Vec<String> {
        std::iter::once(&self.program)
            .chain(&self.args)
            .cloned()
            .collect()
    }

    /// The same, run in `dir`.
    pub fn in_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.cwd = Some(dir.into());
        self
    }

    /// The same, with `vars` added to its environment (later ones win).
    pub fn with_env<K: Into<String>, V: Into<String>>(
        mut self,
        vars: impl IntoIterator<Item = (K, V)>,
    ) -> Self {
        self.env
            .extend(vars.into_iter().map(|(k, v)| (k.into(), v.into())));
        self
    }

    /// The command that runs it: no shell, in a process group of its own marked with
    /// `instance` ([`in_own_group`](crate::process::in_own_group)), stdin closed. The
    /// caller decides where its output goes and guards or records the group.
    pub fn command(&self, instance: &str) -> tokio::process::Command {
        let mut cmd = tokio::process::Command::new(&self.program);
        cmd.args(&self.args)
            .envs(self.env.iter().map(|(k, v)| (k, v)));
        crate::process::in_own_group(&mut cmd, instance);
        cmd.stdin(Stdio::null());
        if let Some(dir) = &self.cwd {
            cmd.current_dir(dir);
        }
        cmd
    }
}

/// A running (or ended) child process.
#[derive(Debug)]
pub struct Process {
    identity: crate::process::Identity,
    exit: watch::Receiver<Option<Exit>>,
}

/// The longest a process's end waits for its last output lines to reach the log.
const DRAIN_LIMIT: Duration = Duration::from_secs(10);

/// Starts `command` in a process group of its own, stdin closed, stdout and stderr appended
/// to `log` line by line (stderr lines prefixed `stderr: `). A task reaps it and records
/// its [`Exit`] once its last lines are in the log.
pub fn spawn(command: &Program, log: Arc<RotatingLog>) -> std::io::Result<Process> {
    spawn_with(command, log, &[])
}

/// [`spawn`], and with `sockets` (listening sockets and their names) the child gets them by
/// socket activation ([`crate::process::activation`]).
pub fn spawn_with(
    command: &Program,
    log: Arc<RotatingLog>,
    sockets: &[(std::os::fd::RawFd, &str)],
) -> std::io::Result<Process> {
    let instance = crate::process::new_instance();
    let mut cmd = command.command(&instance);
    cmd.stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(false);
    if !sockets.is_empty() {
        crate::process::activation::activate(&mut cmd, sockets)?;
    }
    let mut child = cmd.spawn()?;
    let (Some(pid), Some(stdout), Some(stderr)) =
        (child.id(), child.stdout.take(), child.stderr.take())
    else {
        let _ = child.start_kill();
        return Err(std::io::Error::other("the child's pipes are missing"));
    };
    // Read now, before anything can reap it: its start time is what identifies it later.
    let identity = crate::process::Identity::of(pid, &instance);
    let (tx, exit) = watch::channel(None);
    let (out_log, err_log) = (log.clone(), log);
    // Lines read but not yet in the log: while there are some, the readers are still at
    // work (a loaded machine), not waiting on a pipe a grandchild holds open.
    let pending = Arc::new(AtomicUsize::new(0));
    let (out_pending, err_pending) = (pending.clone(), pending.clone());
    let out = tokio::spawn(async move {
        let mut lines = tokio::io::BufReader::new(stdout).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            out_pending.fetch_add(1, Ordering::SeqCst);
            let _ = out_log.append(&line).await;
            out_pending.fetch_sub(1, Ordering::SeqCst);
        }
    });
    let err = tokio::spawn(async move {
        let mut lines = tokio::io::BufReader::new(stderr).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            err_pending.fetch_add(1, Ordering::SeqCst);
            let _ = err_log.append(&format!("stderr: {line}")).await;
            err_pending.fetch_sub(1, Ordering::SeqCst);
        }
    });
    tokio::spawn(async move {
        let status = child.wait().await;
        // The last lines arrive after the exit: wait for the readers to reach the end of
        // the pipes, giving up after half a second without a line in hand (a grandchild may
        // hold the pipes open) and after `DRAIN_LIMIT` in any case.
        let until = tokio::time::Instant::now() + DRAIN_LIMIT;
        for mut task in [out, err] {
            loop {
                match tokio::time::timeout(Duration::from_millis(500), &mut task).await {
                    Ok(_) => break,
                    Err(_)
                        if pending.load(Ordering::SeqCst) > 0
                            && tokio::time::Instant::now() < until => {}
                    Err(_) => break,
                }
            }
        }
        let (code, signal) = match &status {
            Ok(s) => {
                use std::os::unix::process::ExitStatusExt;
                (s.code(), s.signal())
            }
            Err(_) => (None, None),
        };
        tx.send_replace(Some(Exit {
            code,
            signal,
            description: describe_exit(&status),
            at: OffsetDateTime::now_utc(),
        }));
    });
    Ok(Process { identity, exit })
}

impl Process {
    /// Its pid (also its process group id).
    pub fn pid(&self) -> u32 {
        self.identity.pid
    }

    /// Who it is, for a later att to recognize it.
    pub fn identity(&self) -> &crate::process::Identity {
        &self.identity
    }

    /// How it ended, once it has.
    pub fn exited(&self) -> Option<Exit> {
        self.exit.borrow().clone()
    }

    /// Waits for its end.
    pub async fn wait(&self) -> Exit {
        let mut rx = self.exit.clone();
        match rx.wait_for(Option::is_some).await {
            Ok(v) => v.clone().unwrap_or_else(unknown_exit),
            Err(_) => unknown_exit(),
        }
    }

    /// Waits up to `limit` for its end.
    pub async fn wait_for(&self, limit: Duration) -> Option<Exit> {
        tokio::time::timeout(limit, self.wait()).await.ok()
    }

    fn signal_group(&self, signal: i32) {
        crate::process::signal_group(self.identity.pgid, signal);
    }

    /// Stops it: SIGTERM to its group, SIGKILL to the group after `grace`; returns how it
    /// ended. The group is killed in any case, so nothing it started survives.
    pub async fn stop(&self, grace: Duration) -> Exit {
        if let Some(exit) = self.exited() {
            self.signal_group(libc::SIGKILL);
            return exit;
        }
        self.signal_group(libc::SIGTERM);
        let exit = match self.wait_for(grace).await {
            Some(exit) => exit,
            None => {
                self.signal_group(libc::SIGKILL);
                self.wait().await
            }
        };
        self.signal_group(libc::SIGKILL);
        exit
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        if self.exited().is_none() {
            self.signal_group(libc::SIGKILL);
        }
    }
}

fn unknown_exit() -> Exit {
    Exit {
        code: None,
        signal: None,
        description: "ended (how is unknown)".to_owned(),
        at: OffsetDateTime::now_utc(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Arguments pass as they are (no shell), the environment is added to, the directory is
    /// the program's, and the child leads a group of its own carrying the marker.
    #[tokio::test]
    async fn a_program_runs_as_described_in_a_marked_group_of_its_own() {
        let program = Program::new(
            "sh",
            [
                "-c",
                r#"echo "$1|$FOO|$(pwd)|$ATT_PROCESS_INSTANCE|$(cut -d' ' -f5 /proc/$$/stat)|$$""#,
                "sh",
                "a b;c",
            ],
        )
        .in_dir("/")
        .with_env([("FOO", "bar")]);
        let out = program
            .command("marker-1")
            .stdout(Stdio::piped())
            .output()
            .await
            .expect("run");
        let text = String::from_utf8_lossy(&out.stdout);
        let fields: Vec<&str> = text.trim().split('|').collect();
        assert_eq!(fields[..4], ["a b;c", "bar", "/", "marker-1"]);
        assert_eq!(fields[4], fields[5], "the child leads its own group");
        assert_eq!(program.argv()[..2], ["sh".to_owned(), "-c".to_owned()]);
    }

    #[test]
    fn an_empty_argv_is_no_program() {
        assert_eq!(Program::from_argv(&[]), None);
        let p = Program::from_argv(&["ls".into(), "-l".into()]).expect("program");
        assert_eq!(
            (p.program.as_str(), p.args.as_slice()),
            ("ls", &["-l".to_owned()][..])
        );
    }
}

//! The stdio child's side of a session: its own process group (killed with the guard),
//! a bounded stderr tail, how it ended, and the failure message that says so when a call
//! notices its death first.

use super::*;

/// What att knows of a stdio child beyond its pipes: the last lines it wrote to stderr (at
/// most [`STDERR_LINES`]) and, once it has exited, how (`"exited with status 3"`).
#[derive(Debug)]
pub struct ChildWatch {
    tail: Mutex<VecDeque<String>>,
    exit: tokio::sync::watch::Sender<Option<String>>,
}

pub(super) const STDERR_LINES: usize = 40;
pub(super) const STDERR_LINE_BYTES: usize = 512;
/// How long a failure that may be the child's death waits for the exit to be known, and
/// how long the stderr tail is read after the exit (a grandchild may hold it open).
pub(super) const EXIT_GRACE: Duration = Duration::from_millis(500);

impl Default for ChildWatch {
    fn default() -> Self {
        Self {
            tail: Mutex::new(VecDeque::new()),
            exit: tokio::sync::watch::Sender::new(None),
        }
    }
}

impl ChildWatch {
    fn push(&self, mut line: String) {
        if line.len() > STDERR_LINE_BYTES {
            let mut cut = STDERR_LINE_BYTES;
            while !line.is_char_boundary(cut) {
                cut -= 1;
            }
            line.truncate(cut);
            line.push('…');
        }
        let mut tail = self.tail.lock().unwrap_or_else(|p| p.into_inner());
        if tail.len() == STDERR_LINES {
            tail.pop_front();
        }
        tail.push_back(line);
    }

    /// The kept lines, joined.
    pub fn text(&self) -> String {
        let tail = self.tail.lock().unwrap_or_else(|p| p.into_inner());
        tail.iter()
            .map(String::as_str)
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// How the child ended, once it has.
    pub fn exit(&self) -> Option<String> {
        self.exit.borrow().clone()
    }

    /// Waits up to `grace` for the child's end to be known.
    async fn exit_within(&self, grace: Duration) -> Option<String> {
        let mut rx = self.exit.subscribe();
        match tokio::time::timeout(grace, rx.wait_for(Option::is_some)).await {
            Ok(Ok(v)) => v.clone(),
            _ => None,
        }
    }

    /// "the server process N exited with status 3; stderr: …", once the child has exited.
    pub fn reason(&self, pid: u32) -> Option<String> {
        let how = self.exit()?;
        let tail = self.text();
        Some(if tail.is_empty() {
            format!("the server process {pid} {how}")
        } else {
            format!("the server process {pid} {how}; stderr: {tail}")
        })
    }
}

/// A stdio child just started: its group (killed when the guard is dropped) and its pipes.
pub(super) struct Spawned {
    pub(super) pid: u32,
    pub(super) group: crate::process::GroupGuard,
    pub(super) stdout: tokio::process::ChildStdout,
    pub(super) stdin: tokio::process::ChildStdin,
}

/// Starts `cmd` in its own process group with piped stdio. A task reaps it: it keeps the
/// stderr tail, records how the child ended, then sends [`Notice::Exited`]. From here on the
/// returned guard owns the group: whoever drops it kills the child.
pub(super) fn spawn_child(
    mut cmd: tokio::process::Command,
    watch: Arc<ChildWatch>,
    notices: mpsc::UnboundedSender<Notice>,
) -> std::io::Result<Spawned> {
    use std::process::Stdio;
    crate::process::in_own_group(&mut cmd, &crate::process::new_instance());
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn()?;
    let (Some(pid), Some(stdin), Some(stdout), Some(stderr)) = (
        child.id(),
        child.stdin.take(),
        child.stdout.take(),
        child.stderr.take(),
    ) else {
        let _ = child.start_kill();
        return Err(std::io::Error::other("the child's pipes are missing"));
    };
    let group = crate::process::GroupGuard::new(pid);
    tokio::spawn(async move {
        let tail = watch.clone();
        let mut drain = tokio::spawn(async move {
            let mut lines = tokio::io::BufReader::new(stderr).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                tail.push(line);
            }
        });
        let status = child.wait().await;
        // The exit is known; let the last stderr lines arrive before reporting it.
        if tokio::time::timeout(EXIT_GRACE, &mut drain).await.is_err() {
            drain.abort();
        }
        watch
            .exit
            .send_replace(Some(crate::process::child::describe_exit(&status)));
        let _ = notices.send(Notice::Exited(pid));
    });
    Ok(Spawned {
        pid,
        group,
        stdout,
        stdin,
    })
}

/// A failure of a stdio child's session: if the child has exited (waiting briefly for its
/// end to be known), the message says how, with its stderr tail; a failure that was not
/// sent stays not sent, anything else on a dead child is a lost connection.
pub(super) async fn died(failure: CallFailure, pid: u32, child: &ChildWatch) -> CallFailure {
    let Some(reason) = (match child.exit() {
        Some(_) => child.reason(pid),
        None => {
            child.exit_within(EXIT_GRACE).await;
            child.reason(pid)
        }
    }) else {
        return failure;
    };
    match failure {
        CallFailure::NotSent { message, category } => CallFailure::NotSent {
            message: format!("{message}: {reason}"),
            category,
        },
        CallFailure::ConnectionLost(_) => CallFailure::ConnectionLost(reason),
        other => other,
    }
}

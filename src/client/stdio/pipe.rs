//! Knowing when the client has read what the bridge wrote (see `Bridge::deliver`): an answer
//! that follows a notification waits until stdout is drained, bounded.

use std::time::Duration;

/// The longest an answer waits for the client to read the notifications before it.
const DRAIN_WAIT: Duration = Duration::from_millis(50);

/// stdout as the client reads it: how to ask how much it has not read yet.
#[derive(Clone, Copy)]
pub(super) struct Pipe {
    fd: i32,
    /// `FIONREAD` for a pipe (bytes it holds, from either end); `TIOCOUTQ` for a socket
    /// (bytes sent and not yet read by the peer) — Node spawns children on socket pairs.
    request: libc::Ioctl,
}

/// stdout, if it is a pipe or a socket (as when an MCP client spawned att).
pub(super) fn stdout_pipe() -> Option<Pipe> {
    use std::os::unix::fs::FileTypeExt;
    let kind = std::fs::metadata("/proc/self/fd/1").ok()?.file_type();
    let request = if kind.is_fifo() {
        libc::FIONREAD
    } else if kind.is_socket() {
        libc::TIOCOUTQ
    } else {
        return None;
    };
    Some(Pipe { fd: 1, request })
}

/// Waits until the client has read everything written to `pipe`, or [`DRAIN_WAIT`] passed.
pub(super) async fn pipe_drained(pipe: Pipe) {
    let deadline = tokio::time::Instant::now() + DRAIN_WAIT;
    loop {
        let mut unread: libc::c_int = 0;
        // SAFETY: an ioctl that writes one c_int, on a descriptor this process owns, into a
        // c_int we own.
        let rc = unsafe { libc::ioctl(pipe.fd, pipe.request, &raw mut unread) };
        if rc != 0 || unread == 0 || tokio::time::Instant::now() >= deadline {
            return;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

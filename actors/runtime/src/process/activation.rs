//! Socket activation (the systemd protocol): a child started with listening sockets att
//! owns, as file descriptors 3, 4, … in order, and `LISTEN_FDS=<how many>`,
//! `LISTEN_PID=<its own pid>`, `LISTEN_FDNAMES=<name>:<name>…` in its environment. Two
//! releases of a service can then serve the same socket one after the other — or both at
//! once during a switch — and no connection is refused in between: the kernel queues what
//! neither has accepted yet. A second socket may be the child's alone (a private probe
//! address, see `att_release::service::socket`).
//!
//! `LISTEN_PID` must be the child's own pid, known only after the fork. Between fork and
//! exec only async-signal-safe calls are allowed (no allocation), and std writes the
//! command's environment itself just before its `execvp`; so [`activate`] prepares the
//! whole `execve` in the parent — the program's path, the arguments, the environment with a
//! `LISTEN_PID=` entry of fixed width — and the pre-exec hook only duplicates the sockets
//! to 3, 4, …, writes its pid's digits into that entry, and calls `execve` itself.
//! Everything else a spawn sets up (the process group, the working directory, the standard
//! streams) has been done by std by then.

use std::ffi::{CString, OsStr, OsString};
use std::os::fd::RawFd;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

/// The descriptor a socket-activated child finds its first socket at.
pub const LISTEN_FD: RawFd = 3;
/// The most sockets one child is given.
pub const MAX_SOCKETS: usize = 8;

const PID_ENTRY: &[u8] = b"LISTEN_PID=";
/// Room for any pid's digits.
const PID_DIGITS: usize = 20;

/// What the pre-exec hook uses; built in the parent, only read (and one entry written) in
/// the child.
struct Exec {
    path: CString,
    _argv: Vec<CString>,
    argv_ptrs: Vec<*const libc::c_char>,
    _envp: Vec<CString>,
    _pid_entry: Vec<u8>,
    /// Where the pid's digits go: inside `_pid_entry`, after `LISTEN_PID=`.
    pid_digits: *mut u8,
    envp_ptrs: Vec<*const libc::c_char>,
    /// The sockets, in the order the child gets them (3, 4, …).
    sockets: Vec<RawFd>,
    /// Room for the sockets' copies above the range they go to (written in the child).
    copies: Vec<RawFd>,
}

// SAFETY: the pointers point into the owned buffers beside them, which move with them and
// are never reallocated; the child is a copy of the parent's memory.
unsafe impl Send for Exec {}
unsafe impl Sync for Exec {}

/// Makes `cmd` start its program with `sockets` (each a descriptor and its name) as
/// descriptors 3, 4, … and the socket-activation variables. Call it last: it reads the
/// command's program, arguments and environment as they are now.
pub fn activate(
    cmd: &mut tokio::process::Command,
    sockets: &[(RawFd, &str)],
) -> std::io::Result<()> {
    if sockets.is_empty() || sockets.len() > MAX_SOCKETS {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!(
                "a child is given 1 to {MAX_SOCKETS} sockets, not {}",
                sockets.len()
            ),
        ));
    }
    let std_cmd = cmd.as_std();
    let mut env: Vec<(OsString, OsString)> = std::env::vars_os()
        .filter(|(k, _)| !k.as_bytes().starts_with(b"LISTEN_"))
        .collect();
    for (k, v) in std_cmd.get_envs() {
        env.retain(|(name, _)| name != k);
        if let Some(v) = v {
            env.push((k.to_owned(), v.to_owned()));
        }
    }
    env.retain(|(k, _)| !k.as_bytes().starts_with(b"LISTEN_"));
    let names: Vec<&str> = sockets.iter().map(|(_, name)| *name).collect();
    env.push(("LISTEN_FDS".into(), sockets.len().to_string().into()));
    env.push(("LISTEN_FDNAMES".into(), names.join(":").into()));
    let path_var = env
        .iter()
        .find(|(k, _)| k == "PATH")
        .map(|(_, v)| v.clone());
    let path = find_program(std_cmd.get_program(), path_var.as_deref())?;
    let cstring = |b: Vec<u8>| CString::new(b).map_err(std::io::Error::other);
    let argv: Vec<CString> = std::iter::once(std_cmd.get_program())
        .chain(std_cmd.get_args())
        .map(|a| cstring(a.as_bytes().to_vec()))
        .collect::<Result<_, _>>()?;
    let envp: Vec<CString> = env
        .into_iter()
        .map(|(k, v)| {
            let mut entry = k.into_vec();
            entry.push(b'=');
            entry.extend(v.into_vec());
            cstring(entry)
        })
        .collect::<Result<_, _>>()?;
    let mut pid_entry = PID_ENTRY.to_vec();
    pid_entry.resize(PID_ENTRY.len() + PID_DIGITS + 1, 0);
    let entry_ptr = pid_entry.as_mut_ptr();
    let mut exec = Exec {
        path: cstring(path.into_os_string().into_vec())?,
        argv_ptrs: argv
            .iter()
            .map(|a| a.as_ptr())
            .chain([std::ptr::null()])
            .collect(),
        _argv: argv,
        envp_ptrs: Vec::new(),
        _envp: envp,
        _pid_entry: pid_entry,
        // SAFETY: within the buffer (its length is the prefix, the digits and a NUL).
        pid_digits: unsafe { entry_ptr.add(PID_ENTRY.len()) },
        sockets: sockets.iter().map(|(fd, _)| *fd).collect(),
        copies: vec![-1; sockets.len()],
    };
    exec.envp_ptrs = exec
        ._envp
        .iter()
        .map(|e| e.as_ptr())
        .chain([entry_ptr.cast_const().cast(), std::ptr::null()])
        .collect();
    // SAFETY: between fork and exec the hook calls only async-signal-safe functions
    // (getpid, fcntl, dup2, close, execve) and writes into buffers it owns; no allocation.
    unsafe {
        cmd.pre_exec(move || {
            let e = &mut exec;
            place_sockets(&e.sockets, &mut e.copies)?;
            let digits = std::slice::from_raw_parts_mut(e.pid_digits, PID_DIGITS + 1);
            write_pid(digits, libc::getpid());
            libc::execve(e.path.as_ptr(), e.argv_ptrs.as_ptr(), e.envp_ptrs.as_ptr());
            Err(std::io::Error::last_os_error())
        });
    }
    Ok(())
}

/// Puts `sockets[i]` at descriptor `3 + i`, open across exec. Each is first copied above
/// the whole range (into `copies`), so that a socket already sitting where another must go
/// is not closed by the other's `dup2`. Only async-signal-safe calls; no allocation.
///
/// # Safety
/// Called between fork and exec, with valid descriptors.
unsafe fn place_sockets(sockets: &[RawFd], copies: &mut [RawFd]) -> std::io::Result<()> {
    let above = LISTEN_FD + sockets.len() as RawFd;
    for (fd, copy) in sockets.iter().zip(copies.iter_mut()) {
        // SAFETY: fcntl on a descriptor the parent passed; the copy is close-on-exec.
        *copy = unsafe { libc::fcntl(*fd, libc::F_DUPFD_CLOEXEC, above) };
        if *copy < 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    for (i, copy) in copies.iter().enumerate() {
        // dup2 clears close-on-exec on the new descriptor; the copy goes at exec.
        // SAFETY: both descriptors are valid; the target is within the range given.
        if unsafe { libc::dup2(*copy, LISTEN_FD + i as RawFd) } < 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Writes `pid`'s decimal digits and a NUL into `out` (no allocation).
fn write_pid(out: &mut [u8], pid: libc::pid_t) {
    let mut digits = [0u8; PID_DIGITS];
    let (mut n, mut len) = (u64::try_from(pid).unwrap_or(0), 0);
    loop {
        digits[len] = b'0' + (n % 10) as u8;
        len += 1;
        n /= 10;
        if n == 0 || len == PID_DIGITS {
            break;
        }
    }
    for i in 0..len {
        out[i] = digits[len - 1 - i];
    }
    out[len] = 0;
}

/// `program` as `execvp` would find it: a name with a `/` as it is, else the first
/// executable file of that name on `path`.
fn find_program(program: &OsStr, path: Option<&OsStr>) -> std::io::Result<PathBuf> {
    if program.as_bytes().contains(&b'/') {
        return Ok(PathBuf::from(program));
    }
    let dirs = path.map(std::env::split_paths).into_iter().flatten();
    for dir in dirs {
        let candidate = dir.join(program);
        if is_executable(&candidate) {
            return Ok(candidate);
        }
    }
    Err(std::io::Error::new(
        std::io::ErrorKind::NotFound,
        format!("`{}` is not on PATH", program.to_string_lossy()),
    ))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata()
        .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pid_is_written_as_its_digits_and_a_nul() {
        for (pid, want) in [(1, "1"), (42, "42"), (4194304, "4194304")] {
            let mut out = [b'x'; PID_DIGITS + 1];
            write_pid(&mut out, pid);
            let end = out.iter().position(|b| *b == 0).expect("a nul");
            assert_eq!(&out[..end], want.as_bytes());
        }
    }

    /// Two sockets: the child finds each at its place (3 the first, 4 the second — the same
    /// sockets, by inode), `LISTEN_FDS=2` and both names.
    #[tokio::test]
    async fn a_child_gets_two_sockets_in_order_with_their_names() {
        use std::os::fd::AsRawFd;
        let web = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let probe = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let inode = |fd: RawFd| {
            std::fs::read_link(format!("/proc/self/fd/{fd}"))
                .expect("fd link")
                .to_string_lossy()
                .into_owned()
        };
        let want = format!("{} {}", inode(web.as_raw_fd()), inode(probe.as_raw_fd()));
        let mut cmd = tokio::process::Command::new("sh");
        cmd.args([
            "-c",
            "echo \"$LISTEN_FDS $LISTEN_FDNAMES\"; echo \"$(readlink /proc/$$/fd/3) $(readlink /proc/$$/fd/4)\"",
        ])
        .stdout(std::process::Stdio::piped());
        activate(
            &mut cmd,
            &[(web.as_raw_fd(), "web"), (probe.as_raw_fd(), "probe")],
        )
        .expect("activate");
        let out = cmd.output().await.expect("run");
        let text = String::from_utf8_lossy(&out.stdout);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines, ["2 web:probe", want.as_str()], "{text}");
        assert!(
            activate(&mut tokio::process::Command::new("true"), &[]).is_err(),
            "no socket is refused"
        );
    }

    /// A real child: `sh` sees descriptor 3 open on the socket and the three variables,
    /// `LISTEN_PID` its own pid; the command's own environment is kept.
    #[tokio::test]
    async fn a_child_gets_the_socket_as_fd_3_and_its_own_pid() {
        use std::os::fd::AsRawFd;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let mut cmd = tokio::process::Command::new("sh");
        cmd.args([
            "-c",
            "echo \"$LISTEN_FDS $LISTEN_FDNAMES $KEPT $LISTEN_PID $$\"; \
             test -e /proc/self/fd/3 && readlink /proc/$$/fd/3",
        ])
        .env("KEPT", "yes")
        .stdout(std::process::Stdio::piped());
        activate(&mut cmd, &[(listener.as_raw_fd(), "web")]).expect("activate");
        let out = cmd.output().await.expect("run");
        let text = String::from_utf8_lossy(&out.stdout);
        let mut lines = text.lines();
        let fields: Vec<&str> = lines.next().expect("a line").split(' ').collect();
        assert_eq!(fields[..3], ["1", "web", "yes"], "{text}");
        assert_eq!(
            fields[3], fields[4],
            "LISTEN_PID is the child's pid: {text}"
        );
        assert!(
            lines.next().is_some_and(|l| l.starts_with("socket:")),
            "fd 3 is the socket: {text}"
        );
    }
}

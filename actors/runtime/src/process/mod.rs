//! Child processes att owns, and the ones a previous att left behind.
//!
//! Every child att starts — a service, a stdio upstream, a test run, a build — runs in a
//! process group of its own (a stop reaches its grandchildren) with a marker in its
//! environment, `ATT_PROCESS_INSTANCE=<id>` (inherited by whatever it starts). Its
//! [`Identity`] is the pid, the process group, the start time (field 22 of `/proc/PID/stat`,
//! in clock ticks since boot; it does not change at `exec`) and the marker. What must outlive
//! a crash of att (a service's `state.json`, a test run's record) records the identity right
//! after the spawn, so that the next att finds what a killed one left running.
//!
//! A process is such an orphan when its pid and start time are the recorded ones (a pid the
//! system has since given to another process has another start time), or when its
//! environment carries the recorded marker (the group's other members, also once the leader
//! is gone). Program names are never compared: a program found through `PATH`, a pyenv shim
//! or `sh -c 'exec …'` changes argv[0], and a reused pid may run the same program.
//!
//! [`GroupGuard`] kills a group when it is dropped, so that a child is never left behind by
//! a task that is aborted or a future that is dropped (a handshake cut short by a delete, a
//! runtime that shuts down). The few `unsafe` signal calls of the crate live here.
//!
//! Parts: [`child`] (one managed child: a [`child::Program`] spawned, its output logged, its
//! end recorded, stopped group-wide), [`activation`] (a child given a listening socket by
//! the systemd protocol) and [`log`] (the rotating log file its output goes to).

pub mod activation;
pub mod child;
pub mod log;

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// The environment variable that marks att's children.
pub const INSTANCE_ENV: &str = "ATT_PROCESS_INSTANCE";

/// A fresh marker for one spawn.
pub fn new_instance() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// att's own credentials, which no child inherits (a child runs someone else's code): the
/// bootstrap admin token and the key that seals secrets at rest. A child whose spec sets one
/// explicitly gets that value.
pub const ATT_SECRETS: [&str; 2] = ["ATT_API_TOKEN", "ATT_SECRET_KEY"];

/// Prepares `cmd` to run in a process group of its own, marked with `instance`, without
/// inheriting [`ATT_SECRETS`].
pub fn in_own_group(cmd: &mut tokio::process::Command, instance: &str) {
    cmd.process_group(0).env(INSTANCE_ENV, instance);
    without_att_secrets(cmd);
}

/// Keeps `cmd` from inheriting [`ATT_SECRETS`] (those it sets explicitly stay).
pub fn without_att_secrets(cmd: &mut tokio::process::Command) {
    for name in ATT_SECRETS {
        let explicit = cmd
            .as_std()
            .get_envs()
            .any(|(k, v)| k == name && v.is_some());
        if !explicit {
            cmd.env_remove(name);
        }
    }
}

/// The fields of `/proc/PID/stat` att reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stat {
    /// Field 3: `R`, `S`, `Z` …
    pub state: char,
    /// Field 4.
    pub ppid: u32,
    /// Field 5: the process group.
    pub pgrp: u32,
    /// Field 22: when the process started, in clock ticks since boot.
    pub start_time: u64,
}

impl Stat {
    /// Whether the process runs (a zombie or a dead task has ended).
    pub fn alive(&self) -> bool {
        !matches!(self.state, 'Z' | 'X' | 'x')
    }
}

/// Parses `/proc/PID/stat`. The second field (the command name in parentheses) may contain
/// spaces and parentheses of its own, so the fields are counted after the *last* `)`.
pub fn parse_stat(text: &str) -> Option<Stat> {
    let (_, rest) = text.rsplit_once(')')?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // After the comm: field 3 is at index 0, so field N is at index N − 3.
    let field = |n: usize| fields.get(n - 3).copied();
    Some(Stat {
        state: field(3)?.chars().next()?,
        ppid: field(4)?.parse().ok()?,
        pgrp: field(5)?.parse().ok()?,
        start_time: field(22)?.parse().ok()?,
    })
}

/// The stat of process `pid`, if it exists.
pub fn stat(pid: u32) -> Option<Stat> {
    parse_stat(&std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
}

/// Waits until process `pid` is gone (or only a zombie), checking every 10 ms for at most
/// `limit`; answers whether it is. A SIGKILL is delivered asynchronously: this is how a
/// caller (a test, a stop) sees it land, bounded.
pub async fn wait_gone(pid: u32, limit: Duration) -> bool {
    let gone = || !stat(pid).is_some_and(|s| s.alive());
    let until = crate::duration::deadline(tokio::time::Instant::now(), limit);
    while !gone() && tokio::time::Instant::now() < until {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    gone()
}

/// Whether process `pid` started with `NAME=value` in its environment.
fn has_env(pid: u32, name: &str, value: &str) -> bool {
    let Ok(environ) = std::fs::read(format!("/proc/{pid}/environ")) else {
        return false;
    };
    let wanted = format!("{name}={value}");
    environ
        .split(|b| *b == 0)
        .any(|entry| entry == wanted.as_bytes())
}

/// Who a child att started is, recorded so that a later att can find it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    /// Its pid.
    pub pid: u32,
    /// Its process group (its own pid: it leads the group).
    pub pgid: u32,
    /// Its start time (`/proc/PID/stat` field 22); `None` when it had already ended when read.
    pub start_time: Option<u64>,
    /// The value of `ATT_PROCESS_INSTANCE` it was started with.
    pub instance: String,
}

impl Identity {
    /// The identity of `pid`, just spawned by [`in_own_group`] with `instance`.
    pub fn of(pid: u32, instance: &str) -> Self {
        Self {
            pid,
            pgid: pid,
            start_time: stat(pid).map(|s| s.start_time),
            instance: instance.to_owned(),
        }
    }

    /// Whether process `self.pid` runs and is the one that was started (same start time).
    pub fn leader_alive(&self) -> bool {
        self.start_time.is_some_and(|started| {
            stat(self.pid).is_some_and(|s| s.alive() && s.start_time == started)
        })
    }

    /// The live processes that are this child's: the leader (by start time) and every
    /// process whose environment carries the marker (its descendants, also once the leader
    /// is gone).
    pub fn survivors(&self) -> Vec<u32> {
        let mut found: Vec<u32> = Vec::new();
        if self.leader_alive() {
            found.push(self.pid);
        }
        if self.instance.is_empty() {
            return found;
        }
        let Ok(entries) = std::fs::read_dir("/proc") else {
            return found;
        };
        for pid in entries
            .flatten()
            .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        {
            if pid != self.pid
                && pid != std::process::id()
                && has_env(pid, INSTANCE_ENV, &self.instance)
                && stat(pid).is_some_and(|s| s.alive())
            {
                found.push(pid);
            }
        }
        found
    }
}

/// Sends `signal` to process group `pgid` (nothing for a group id that cannot be a child's).
pub fn signal_group(pgid: u32, signal: i32) {
    if let Ok(pgid) = i32::try_from(pgid)
        && pgid > 1
    {
        // SAFETY: killpg(2) takes plain integers; an error (the group is gone) is harmless.
        unsafe {
            libc::killpg(pgid, signal);
        }
    }
}

/// Sends `signal` to process `pid`.
pub fn signal(pid: u32, signal: i32) {
    if let Ok(pid) = i32::try_from(pid)
        && pid > 1
    {
        // SAFETY: kill(2) takes plain integers; an error (the process is gone) is harmless.
        unsafe {
            libc::kill(pid, signal);
        }
    }
}

/// Stops what `identity` left running: SIGTERM, SIGKILL after `grace` to whatever is left.
/// The group is signalled while its recorded leader lives (the group id cannot be anyone
/// else's then); otherwise each marked survivor is. Answers how many processes were found.
pub async fn stop_orphan(identity: &Identity, grace: Duration) -> usize {
    let found = identity.survivors();
    if found.is_empty() {
        return 0;
    }
    let send = |sig: i32| {
        if identity.leader_alive() {
            signal_group(identity.pgid, sig);
        }
        for pid in identity.survivors() {
            signal(pid, sig);
        }
    };
    send(libc::SIGTERM);
    let until = crate::duration::deadline(tokio::time::Instant::now(), grace);
    while !identity.survivors().is_empty() && tokio::time::Instant::now() < until {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    send(libc::SIGKILL);
    found.len()
}

/// Kills a process group (SIGKILL) when dropped, unless it was [`released`](Self::release).
#[derive(Debug)]
pub struct GroupGuard {
    pgid: Option<u32>,
}

impl GroupGuard {
    /// Guards the group `pgid`.
    pub fn new(pgid: u32) -> Self {
        Self { pgid: Some(pgid) }
    }

    /// The guarded group.
    pub fn pgid(&self) -> Option<u32> {
        self.pgid
    }

    /// Kills the group now (and again at drop: a member may have started since).
    pub fn kill(&self) {
        if let Some(pgid) = self.pgid {
            signal_group(pgid, libc::SIGKILL);
        }
    }

    /// Stops guarding: the group is left running.
    pub fn release(mut self) -> Option<u32> {
        self.pgid.take()
    }
}

impl Drop for GroupGuard {
    fn drop(&mut self) {
        self.kill();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn children_do_not_inherit_atts_credentials_unless_given_them() {
        let removed = |cmd: &tokio::process::Command, name: &str| {
            cmd.as_std()
                .get_envs()
                .any(|(k, v)| k == name && v.is_none())
        };
        let mut cmd = tokio::process::Command::new("true");
        in_own_group(&mut cmd, "x");
        assert!(ATT_SECRETS.iter().all(|n| removed(&cmd, n)));
        let mut given = tokio::process::Command::new("true");
        given.env("ATT_API_TOKEN", "for-this-child");
        in_own_group(&mut given, "x");
        assert!(!removed(&given, "ATT_API_TOKEN") && removed(&given, "ATT_SECRET_KEY"));
    }

    #[test]
    fn stat_fields_are_counted_after_the_last_parenthesis() {
        let fields_4_to_21 = "1 4321 4321 0 -1 4194560 100 0 0 0 5 3 0 0 20 0 1 0";
        let table = [
            (
                "plain name",
                format!("4321 (sleep) S {fields_4_to_21} 987654 0 0"),
            ),
            (
                "spaces and parentheses in the name",
                format!("4321 (a) (b c) S {fields_4_to_21} 987654 0 0"),
            ),
            (
                "a name that looks like fields",
                format!("4321 (x) R 1 2 3 ) S {fields_4_to_21} 987654 0"),
            ),
        ];
        for (what, text) in table {
            let s = parse_stat(&text).unwrap_or_else(|| panic!("{what}: parses"));
            assert_eq!(
                (s.state, s.ppid, s.pgrp, s.start_time),
                ('S', 1, 4321, 987654),
                "{what}"
            );
        }
        assert_eq!(parse_stat("4321 (cut short) S 1 2"), None);
        assert_eq!(parse_stat("no parenthesis at all"), None);
    }

    #[test]
    fn this_process_is_found_by_its_start_time_and_a_reused_pid_is_not() {
        let me = std::process::id();
        let id = Identity::of(me, "");
        assert!(id.start_time.is_some());
        assert!(id.leader_alive());
        let reused = Identity {
            start_time: id.start_time.map(|t| t + 1),
            ..id.clone()
        };
        assert!(
            !reused.leader_alive(),
            "another start time is another process"
        );
        let unknown = Identity {
            start_time: None,
            ..id
        };
        assert!(!unknown.leader_alive());
    }

    #[tokio::test]
    async fn a_marked_child_that_execs_another_program_is_found_and_stopped() {
        let instance = new_instance();
        let mut cmd = tokio::process::Command::new("sh");
        cmd.args(["-c", "exec sleep 2937"]);
        in_own_group(&mut cmd, &instance);
        let mut child = cmd.spawn().expect("spawns");
        let pid = child.id().expect("pid");
        let id = Identity::of(pid, &instance);
        // After the exec the program is `sleep`, not `sh`: still ours.
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while !std::fs::read(format!("/proc/{pid}/cmdline"))
            .unwrap_or_default()
            .starts_with(b"sleep")
        {
            assert!(std::time::Instant::now() < deadline, "sh did not exec");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert_eq!(id.survivors(), [pid]);
        assert_eq!(stop_orphan(&id, Duration::from_secs(5)).await, 1);
        let status = child.wait().await.expect("reaped");
        assert!(!status.success());
        assert!(id.survivors().is_empty());
    }

    #[tokio::test]
    async fn a_dropped_guard_kills_the_group() {
        let mut cmd = tokio::process::Command::new("sleep");
        cmd.arg("2938");
        in_own_group(&mut cmd, &new_instance());
        let mut child = cmd.spawn().expect("spawns");
        let guard = GroupGuard::new(child.id().expect("pid"));
        drop(guard);
        let status = tokio::time::timeout(Duration::from_secs(10), child.wait())
            .await
            .expect("killed at once")
            .expect("reaped");
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(status.signal(), Some(libc::SIGKILL));
    }
}

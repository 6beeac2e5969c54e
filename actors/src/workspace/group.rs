//! The process group of a child the workspace tools start (a test run, a git command line):
//! the child leads a group of its own (`process_group(0)`), and [`ProcessGroup`] kills the
//! whole group — whatever the child started too — when it is told to, and at the latest when
//! it is dropped. Dropping covers every way out: a timeout, a caller that went away, and att
//! stopping (its runtime drops the tasks that hold the guards).

/// A process group to kill with SIGKILL, once.
#[derive(Debug)]
pub struct ProcessGroup {
    pgid: Option<i32>,
}

impl ProcessGroup {
    /// The group led by `pid` (a child spawned with `process_group(0)`; `None`: nothing to
    /// kill).
    pub fn led_by(pid: Option<u32>) -> Self {
        Self {
            pgid: pid.and_then(|p| i32::try_from(p).ok()).filter(|p| *p > 1),
        }
    }

    /// Kills every process in the group now (those already gone are no matter).
    pub fn kill(&self) {
        if let Some(pgid) = self.pgid {
            // SAFETY: killpg(2) on a group this module's caller created for its child; the
            // pgid is > 1, so never "every process" or init's group.
            unsafe {
                libc::killpg(pgid, libc::SIGKILL);
            }
        }
    }
}

impl Drop for ProcessGroup {
    fn drop(&mut self) {
        self.kill();
    }
}

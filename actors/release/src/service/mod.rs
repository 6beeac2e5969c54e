//! Managed services: the child processes att starts, watches, probes and stops for the
//! release pipeline (`service:<name>` targets) and for project runtimes.
//!
//! The parts: [`spec`] (a `service:<name>` target), [`probe`] (HTTP, command and MCP health
//! probes; the restart watchdog and the health gate), [`CrashLoop`] (too many exits in a
//! window) and [`actor`] (one actor per service: start, restart with back-off, crash-loop
//! detection, stop; [`handle`] is how callers talk to it) with [`socket`] (the listening
//! socket a service with `listen` gets by socket activation, each process's private probe
//! socket, and the retiring of replaced releases). The child itself is
//! `att_runtime::process::child`.

pub mod actor;
pub mod handle;
pub mod probe;
pub mod socket;
pub mod spec;

use std::collections::VecDeque;
use std::time::Duration;

use time::OffsetDateTime;

/// Detects a crash loop: `max_exits` exits within `window`.
#[derive(Debug, Clone)]
pub struct CrashLoop {
    max_exits: usize,
    window: Duration,
    exits: VecDeque<OffsetDateTime>,
}

impl CrashLoop {
    /// A detector for `max_exits` exits within `window`.
    pub fn new(max_exits: usize, window: Duration) -> Self {
        Self {
            max_exits: max_exits.max(1),
            window,
            exits: VecDeque::new(),
        }
    }

    /// Records an exit at `at`; returns whether the process is now crash-looping.
    pub fn exited(&mut self, at: OffsetDateTime) -> bool {
        self.exits.push_back(at);
        while let Some(first) = self.exits.front() {
            if at - *first > self.window {
                self.exits.pop_front();
            } else {
                break;
            }
        }
        self.exits.len() >= self.max_exits
    }

    /// Forgets the exits (after a run that held).
    pub fn reset(&mut self) {
        self.exits.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_crash_loop_is_too_many_exits_within_the_window() {
        let t0 = OffsetDateTime::UNIX_EPOCH;
        let s = time::Duration::seconds;
        let mut c = CrashLoop::new(3, Duration::from_secs(60));
        assert!(!c.exited(t0));
        assert!(!c.exited(t0 + s(10)));
        // The first exit left the window: still two.
        assert!(!c.exited(t0 + s(65)));
        assert!(c.exited(t0 + s(66)));
        c.reset();
        assert!(!c.exited(t0 + s(67)));
    }
}

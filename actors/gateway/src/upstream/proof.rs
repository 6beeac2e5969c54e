//! How often a warm call's success is told to its upstream's actor: at most once per
//! [`PROOF_EVERY`] while nothing fails, at once after a failure.
//!
//! A success is *proof of service*: the actor resets the server's health (a degraded server
//! is healthy again) and its check timer (a server serving calls needs no ping). The warm
//! path runs without the actor, so a success is a message to it — and a message per call
//! woke the actor's runtime on every call (at one caller, ~0.6 wake-ups of another thread per
//! call, each of which woke the runtime's other worker in turn: `benches/wakeups.py`,
//! todo/perf.md). Between failures, a proof changes nothing but the time of the last one,
//! which the next check is counted from; one per [`PROOF_EVERY`] keeps that within a fraction
//! of any check interval. After a failure the gate is reopened (by the caller that saw it
//! and by the actor that recorded it), so the first success after it is told at once and a
//! degraded server turns healthy on the call that proves it.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// The longest a success waits untold while nothing fails.
pub const PROOF_EVERY: Duration = Duration::from_millis(250);

/// When the next proof of service is due, shared by every caller of one upstream.
#[derive(Debug, Default)]
pub struct ProofGate {
    /// Milliseconds since [`epoch`] before which no proof is sent; 0: the next one goes.
    due_ms: AtomicU64,
}

impl ProofGate {
    /// Whether the success seen now should be told (and, if so, the next one is not due
    /// before [`PROOF_EVERY`] has passed).
    pub fn take(&self) -> bool {
        self.take_at(since_epoch_ms(Instant::now()))
    }

    /// [`Self::take`] at `now_ms`.
    fn take_at(&self, now_ms: u64) -> bool {
        let due = self.due_ms.load(Ordering::Acquire);
        if now_ms < due {
            return false;
        }
        let next = now_ms.saturating_add(u64::try_from(PROOF_EVERY.as_millis()).unwrap_or(1000));
        // Of callers racing for one due proof, one sends it.
        self.due_ms
            .compare_exchange(due, next.max(1), Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }

    /// The next success is told at once: after a failure, or when a proof could not be sent.
    pub fn reopen(&self) {
        self.due_ms.store(0, Ordering::Release);
    }

    /// No success is told for `hold` from now (unless reopened): as if one had just been
    /// told with a longer interval. For tests that must not depend on the clock.
    #[doc(hidden)]
    pub fn close_for(&self, hold: Duration) {
        let hold = u64::try_from(hold.as_millis()).unwrap_or(u64::MAX);
        let due = since_epoch_ms(Instant::now()).saturating_add(hold);
        self.due_ms.store(due.max(1), Ordering::Release);
    }
}

/// The process's reference instant for [`ProofGate`]'s times.
fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

fn since_epoch_ms(now: Instant) -> u64 {
    u64::try_from(now.saturating_duration_since(epoch()).as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_success_is_told_at_most_once_per_interval_and_at_once_after_a_reopen() {
        let every = u64::try_from(PROOF_EVERY.as_millis()).expect("ms");
        let gate = ProofGate::default();
        // (what happens, at ms, whether a proof goes)
        let table: &[(&str, u64, bool)] = &[
            ("take", 0, true),
            ("take", 1, false),
            ("take", every - 1, false),
            ("take", every, true),
            ("take", every + 1, false),
            ("reopen", every + 2, false),
            ("take", every + 3, true),
            ("take", every + 4, false),
            ("take", 10 * every, true),
        ];
        for (i, &(what, at, sends)) in table.iter().enumerate() {
            match what {
                "take" => assert_eq!(gate.take_at(at), sends, "row {i}: take at {at}"),
                _ => gate.reopen(),
            }
        }
    }

    #[test]
    fn of_callers_racing_for_one_due_proof_one_sends_it() {
        let gate = std::sync::Arc::new(ProofGate::default());
        let sent: usize = std::thread::scope(|s| {
            let runs: Vec<_> = (0..8)
                .map(|_| s.spawn(|| usize::from(gate.take_at(5_000))))
                .collect();
            runs.into_iter().map(|r| r.join().expect("thread")).sum()
        });
        assert_eq!(sent, 1);
    }
}

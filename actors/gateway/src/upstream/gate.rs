//! An upstream's call gate: att never has more than the spec's `max_concurrent` calls in
//! flight to it. A call takes a [`Slot`] before it is sent and gives it back when it ends.
//!
//! When the gate is full, the invoker first tries the plan's other candidates (a replica with
//! room), and only then waits — at most [`QUEUE_WAIT`], first come first served — for a slot
//! on the full ones; a call that finds none is refused as busy (`Outcome::Busy`). A brief
//! queue absorbs a burst that a slot frees within milliseconds; a long one would only hold
//! the caller's request and move its timeout elsewhere.
//!
//! The accounting is a [`tokio::sync::Semaphore`] (fair, and a waiter that gives up leaves no
//! trace); the gate adds its maximum and a count of refusals for metrics. The gate is the
//! upstream actor's, made once per actor start and carried by the router's views like the
//! ready slot; a gate without a maximum admits everything. Every gate counts the calls it let
//! in and that have not ended (one atomic counter per upstream, touched without a lock: the
//! `att_upstream_calls_in_flight` metric).

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// The longest a call waits for a slot of a full upstream.
pub const QUEUE_WAIT: Duration = Duration::from_secs(1);

struct Inner {
    max: Option<u32>,
    slots: Option<Arc<Semaphore>>,
    refused: AtomicU64,
    in_flight: AtomicU32,
}

/// A slot of `gate`, counted in flight until dropped.
fn enter(gate: &Arc<Inner>, permit: Option<OwnedSemaphorePermit>) -> Slot {
    gate.in_flight.fetch_add(1, Ordering::Relaxed);
    Slot {
        _permit: permit,
        gate: Some(gate.clone()),
    }
}

/// One upstream's gate. Cheap to clone (clones share it). The default gate (no upstream
/// actor's) admits everything and counts nothing.
#[derive(Clone, Default)]
pub struct CallGate(Option<Arc<Inner>>);

/// A call's place in the gate, given back when dropped.
pub struct Slot {
    _permit: Option<OwnedSemaphorePermit>,
    gate: Option<Arc<Inner>>,
}

impl fmt::Debug for Slot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Slot")
            .field("permit", &self._permit.is_some())
            .finish()
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        if let Some(g) = &self.gate {
            g.in_flight.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

impl fmt::Debug for CallGate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CallGate")
            .field("max", &self.max())
            .field("in_flight", &self.in_flight())
            .finish()
    }
}

/// Two gates are equal when they are the same gate (one upstream actor's).
impl PartialEq for CallGate {
    fn eq(&self, other: &Self) -> bool {
        match (&self.0, &other.0) {
            (None, None) => true,
            (Some(a), Some(b)) => Arc::ptr_eq(a, b),
            _ => false,
        }
    }
}

impl CallGate {
    /// A gate of `max` calls at once (`None`: no limit).
    pub fn new(max: Option<u32>) -> Self {
        Self(Some(Arc::new(Inner {
            max,
            slots: max.map(|max| Arc::new(Semaphore::new(max as usize))),
            refused: AtomicU64::new(0),
            in_flight: AtomicU32::new(0),
        })))
    }

    /// A slot if one is free now.
    pub fn try_enter(&self) -> Option<Slot> {
        let Some(g) = &self.0 else {
            return Some(Slot {
                _permit: None,
                gate: None,
            });
        };
        match &g.slots {
            None => Some(enter(g, None)),
            Some(slots) => slots
                .clone()
                .try_acquire_owned()
                .ok()
                .map(|p| enter(g, Some(p))),
        }
    }

    /// A slot, waiting for one at most `wait`.
    pub async fn enter_within(&self, wait: Duration) -> Option<Slot> {
        match self
            .0
            .as_ref()
            .and_then(|g| g.slots.clone().map(|s| (g, s)))
        {
            None => self.try_enter(),
            Some((g, slots)) => tokio::time::timeout(wait, slots.acquire_owned())
                .await
                .ok()
                .and_then(Result::ok)
                .map(|p| enter(g, Some(p))),
        }
    }

    /// Records a call refused because the gate stayed full.
    pub fn note_refused(&self) {
        if let Some(g) = &self.0 {
            g.refused.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// The maximum, if any.
    pub fn max(&self) -> Option<u32> {
        self.0.as_ref().and_then(|g| g.max)
    }

    /// Calls in flight through the gate.
    pub fn in_flight(&self) -> u32 {
        self.0
            .as_ref()
            .map_or(0, |g| g.in_flight.load(Ordering::Relaxed))
    }

    /// Calls refused as busy so far.
    pub fn refused(&self) -> u64 {
        self.0
            .as_ref()
            .map_or(0, |g| g.refused.load(Ordering::Relaxed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_gate_admits_up_to_its_maximum_and_a_dropped_slot_frees_a_place() {
        // (max, steps, calls in flight at the end); a step `(true, want)` enters expecting
        // `want`, `(false, _)` drops the oldest slot.
        type Row = (Option<u32>, &'static [(bool, bool)], u32);
        #[rustfmt::skip]
        let rows: &[Row] = &[
            (Some(1), &[(true, true), (true, false), (false, true), (true, true)], 1),
            (Some(2), &[(true, true), (true, true), (true, false), (false, true), (true, true)], 2),
            (None, &[(true, true), (true, true), (true, true)], 3),
        ];
        for (max, steps, in_flight) in rows {
            let gate = CallGate::new(*max);
            let mut held = std::collections::VecDeque::new();
            for (i, (enter, want)) in steps.iter().enumerate() {
                if *enter {
                    let slot = gate.try_enter();
                    assert_eq!(slot.is_some(), *want, "{max:?} step {i}");
                    held.extend(slot);
                } else {
                    held.pop_front();
                }
            }
            assert_eq!(gate.in_flight(), *in_flight, "{max:?}");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_waiter_gets_the_first_slot_freed_within_the_wait_and_none_after() {
        let gate = CallGate::new(Some(1));
        let held = gate.try_enter().expect("the one slot");
        assert!(
            gate.enter_within(QUEUE_WAIT).await.is_none(),
            "full for the whole wait"
        );
        let waiting = {
            let gate = gate.clone();
            tokio::spawn(async move { gate.enter_within(QUEUE_WAIT).await.is_some() })
        };
        tokio::task::yield_now().await;
        drop(held);
        assert!(
            waiting.await.expect("waiter"),
            "the freed slot goes to the waiter"
        );
        assert_eq!(gate.in_flight(), 0);
    }

    #[test]
    fn gates_are_equal_only_to_themselves() {
        let a = CallGate::new(Some(2));
        assert_eq!(a, a.clone());
        assert_ne!(a, CallGate::new(Some(2)));
        assert_eq!(CallGate::default(), CallGate::default());
        assert_ne!(CallGate::new(None), CallGate::new(None));
        a.note_refused();
        assert_eq!((a.refused(), a.max()), (1, Some(2)));
    }
}

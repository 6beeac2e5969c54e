//! A ready session, and the slot through which an upstream actor publishes it so that a
//! warm call costs no mailbox round trip.
//!
//! The upstream actor stays the single owner of its session: it alone installs a session in
//! its [`ReadySlot`] (after a handshake, a background refresh, a catalog change) and clears
//! it when the session is dropped (a failure, an invalidation, an expiry, a replacement, the
//! actor's stop). Readers — the invocation path — load the slot without a lock, the way they
//! load the router's snapshot, whose views carry each upstream's slot.
//!
//! A published session is only handed out during the first four fifths of its life
//! ([`FRESH_SHARE`]): the actor refreshes a session in the background during the last fifth,
//! and it learns that a session is in use from the mailbox requests that come once the slot
//! has gone stale. A closed connection is never handed out. Whatever the slot does not
//! answer, the actor's mailbox does ([`super::actor::UpstreamHandle::ensure_ready`]).
//!
//! A caller whose call failed on a published session retires it ([`ReadySlot::retire`]):
//! the failure report is a cast the actor handles later, and without that the same caller's
//! next call would find the failed session again before the actor drops it.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwapOption;
use time::OffsetDateTime;

use super::connection::Connection;
use crate::catalog::Catalog;

/// A connection ready for calls.
#[derive(Clone)]
pub struct Ready {
    /// The session.
    pub connection: Arc<Connection>,
    /// Which session this is (reports carry it back).
    pub generation: u64,
    /// True when no handshake was needed for this request.
    pub reused: bool,
    /// The catalog as last fetched.
    pub catalog: Option<Arc<Catalog>>,
    /// The deadline of every call on it.
    pub call_timeout: Duration,
    /// Tools the operator declared safe to repeat on another server.
    pub idempotent_tools: Arc<[String]>,
    /// When this upstream's next proof of service is due ([`super::proof`]).
    pub proof: Arc<super::proof::ProofGate>,
}

impl Ready {
    /// Whether `tool` may be repeated on another server after an ambiguous failure.
    pub fn tool_is_repeatable(&self, tool: &str) -> bool {
        self.idempotent_tools.iter().any(|t| t == tool)
            || self
                .catalog
                .as_ref()
                .is_some_and(|c| c.tool_is_repeatable(tool))
    }
}

/// The share of a session's life (`max_init_age`) during which its slot hands it out: the
/// rest is the background refresh's, which only a mailbox request starts.
pub const FRESH_SHARE: (u32, u32) = (4, 5);

struct Published {
    ready: Ready,
    /// The slot hands the session out before this instant only.
    fresh_until: OffsetDateTime,
}

/// One upstream's published ready session. Cheap to clone (clones share the slot).
#[derive(Clone, Default)]
pub struct ReadySlot(Arc<ArcSwapOption<Published>>);

impl fmt::Debug for ReadySlot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let slot = self.0.load();
        f.debug_struct("ReadySlot")
            .field("generation", &slot.as_ref().map(|p| p.ready.generation))
            .field("fresh_until", &slot.as_ref().map(|p| p.fresh_until))
            .finish()
    }
}

/// Two slots are equal when they are the same slot (one upstream actor's), whatever it holds.
impl PartialEq for ReadySlot {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl ReadySlot {
    /// The published session, if one is within its fresh share at `now` and still open.
    pub fn get(&self, now: OffsetDateTime) -> Option<Ready> {
        let slot = self.0.load();
        let published = slot.as_ref()?;
        (now < published.fresh_until && !published.ready.connection.is_closed())
            .then(|| published.ready.clone())
    }

    /// Drops the published session if it is still generation `generation` (a call on it
    /// failed in a way that makes the actor drop it too). A newer session is left alone.
    pub fn retire(&self, generation: u64) {
        let current = self.0.load();
        if current
            .as_ref()
            .is_some_and(|p| p.ready.generation == generation)
        {
            self.0.compare_and_swap(&current, None);
        }
    }

    /// Publishes `ready`, a session opened at `opened_at` that lives `max_age`.
    pub(crate) fn publish(&self, ready: Ready, opened_at: OffsetDateTime, max_age: Duration) {
        let (share, of) = FRESH_SHARE;
        let fresh_until = crate::duration::later(opened_at, max_age * share / of);
        self.0.store(Some(Arc::new(Published {
            ready: Ready {
                reused: true,
                ..ready
            },
            fresh_until,
        })));
    }

    /// Publishes nothing.
    pub(crate) fn clear(&self) {
        self.0.store(None);
    }
}

/// The actor's side of its slot: clears it when the actor's state is dropped, however the
/// actor ended (a stop, a panic, a replacement), so no session outlives its owner there.
#[derive(Default)]
pub(crate) struct SlotWriter(pub(crate) ReadySlot);

impl Drop for SlotWriter {
    fn drop(&mut self) {
        self.0.clear();
    }
}

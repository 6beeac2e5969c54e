//! What feeds the upstream's health: callers' reports, the child's exit, periodic checks.

use super::*;

impl UpstreamState {
    /// [`UpstreamMsg::Report`]: a caller's outcome feeds health; the router hears only of
    /// changes it routes on.
    pub(super) async fn on_report(
        &mut self,
        myself: &ActorRef<UpstreamMsg>,
        now: OffsetDateTime,
        correlation_id: Option<String>,
        generation: u64,
        outcome: Result<(), CallFailure>,
    ) {
        match outcome {
            Ok(()) => {
                let routed = (self.health.status, self.health.next_retry_at);
                self.served(now, correlation_id.as_deref());
                // The common case (a healthy server served a call) changes nothing the
                // router sees: do not rebuild its snapshot for it.
                if routed == (self.health.status, self.health.next_retry_at) {
                    return;
                }
            }
            Err(f) if f.is_caller_error() => return,
            // A failure on a session that is already gone — its child's exit, another
            // caller's failure on it, a refresh that replaced it — was counted when it went:
            // one incident is one failure, whichever message comes first (counted twice, a
            // crash doubled the retry window when the exit notice beat the caller's report).
            Err(_) if self.session.is_none() || generation != self.generation => return,
            Err(f) => {
                self.failure(&f, generation, correlation_id.as_deref());
                // Check again when the retry window opens, not at the next periodic tick.
                self.schedule_check(myself);
            }
        }
        self.publish().await;
    }

    /// [`Notice::Exited`]: the current session's child died.
    pub(super) async fn on_exited(&mut self, myself: &ActorRef<UpstreamMsg>, pid: u32) {
        // Only the current session's child counts; a child we closed on purpose is
        // no longer the session's when its stderr ends.
        let current = self
            .session
            .as_ref()
            .is_some_and(|s| s.connection.pid() == Some(pid));
        if current {
            let failure = CallFailure::ConnectionLost(format!("the server process {pid} exited"));
            // `failure()` replaces that message with the exit status and stderr tail.
            let generation = self.generation;
            self.failure(&failure, generation, None);
            // Restarted (a new handshake spawns it again) when the window opens.
            self.schedule_check(myself);
            self.publish().await;
        }
    }

    /// [`UpstreamMsg::HealthTick`]: a ping on the fresh session, or a handshake first.
    pub(super) fn on_health_tick(
        &mut self,
        myself: &ActorRef<UpstreamMsg>,
        now: OffsetDateTime,
        tick: u64,
    ) {
        if tick != self.tick {
            return;
        }
        if !self.health.window_open(now) {
            self.schedule_check(myself);
        } else {
            match self.ready(true).filter(|_| self.fresh(now)) {
                Some(ready) => {
                    let (me, deadline) = (myself.clone(), self.spec.call_timeout);
                    tokio::spawn(async move {
                        let result = ready.connection.ping(deadline).await;
                        let _ = me.send_message(UpstreamMsg::Checked(ready.generation, result));
                    });
                }
                None if self.waiters.is_none() => {
                    self.check_after_connect = true;
                    self.start_handshake(myself, None);
                }
                None => self.check_after_connect = true,
            }
        }
    }
}

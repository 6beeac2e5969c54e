//! The session's life as callers see it: a caller asking for a ready session, a handshake
//! answering its waiters, a background refresh swapping the session near its expiry.

use super::*;

impl UpstreamState {
    /// [`UpstreamMsg::EnsureReady`]: the fresh session at once (refreshing it in the
    /// background near its expiry), or a place among the waiters of one handshake.
    pub(super) fn on_ensure_ready(
        &mut self,
        myself: &ActorRef<UpstreamMsg>,
        now: OffsetDateTime,
        correlation_id: Option<String>,
        force: bool,
        reply: RpcReplyPort<Result<Ready, CallFailure>>,
    ) {
        if !force
            && self.waiters.is_none()
            && self.fresh(now)
            && let Some(ready) = self.ready(true)
        {
            let _ = reply.send(Ok(ready));
            if self.should_refresh(now) {
                self.start_refresh(myself);
            }
            return;
        }
        match &mut self.waiters {
            Some(waiters) => waiters.push(reply),
            None => {
                self.waiters = Some(vec![reply]);
                self.start_handshake(myself, correlation_id);
            }
        }
    }

    /// [`UpstreamMsg::Connected`]: installs the session and answers its waiters, or records
    /// the failure and tells them.
    pub(super) async fn on_connected(
        &mut self,
        myself: &ActorRef<UpstreamMsg>,
        now: OffsetDateTime,
        generation: u64,
        result: Opened,
        correlation_id: Option<String>,
    ) -> Result<(), ActorProcessingErr> {
        if generation != self.generation {
            return Ok(());
        }
        let waiters = self.waiters.take().unwrap_or_default();
        match result.map(|b| *b) {
            Ok((connection, catalog)) => {
                self.install(connection, catalog, now);
                for w in waiters {
                    let _ = w.send(self.ready(false).ok_or_else(|| CallFailure::NotSent {
                        message: "session vanished".into(),
                        category: crate::upstream::ErrorCategory::InitializeError,
                    }));
                }
                if std::mem::take(&mut self.check_after_connect) {
                    myself.send_message(UpstreamMsg::HealthTick(self.tick))?;
                }
            }
            Err(f) => {
                self.failure(&f, generation, correlation_id.as_deref());
                for w in waiters {
                    let _ = w.send(Err(f.clone()));
                }
                self.check_after_connect = false;
                self.schedule_check(myself);
            }
        }
        self.publish().await;
        Ok(())
    }

    /// [`UpstreamMsg::Refreshed`]: swaps in the refreshed session unless something
    /// replaced or dropped the old one meanwhile.
    pub(super) async fn on_refreshed(
        &mut self,
        now: OffsetDateTime,
        based_on: u64,
        result: Opened,
    ) {
        self.refreshing = false;
        match result.map(|b| *b) {
            // Nothing replaced or dropped the session meanwhile: swap it. Calls in
            // flight on the old one finish there; their reports are for an old
            // generation and cannot drop the new session.
            Ok((connection, catalog)) if based_on == self.generation && self.waiters.is_none() => {
                self.drop_session();
                self.generation += 1;
                self.install(connection, catalog, now);
                self.publish().await;
            }
            // Superseded: a handshake or invalidation happened meanwhile.
            Ok((connection, _)) => {
                tokio::spawn(connection.close());
            }
            // The old session still serves until it expires; its own calls and
            // checks tell whether the server is failing.
            Err(e) => {
                tracing::warn!(upstream = %self.spec.name, error = %e.message(), "background session refresh failed")
            }
        }
    }
}

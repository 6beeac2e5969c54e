//! The typed handle callers use instead of the upstream actor's messages.

use super::*;

/// A typed handle to one upstream actor.
#[derive(Clone, Debug)]
pub struct UpstreamHandle {
    directory: ActorDirectory,
    actor: String,
}

/// Why a handle call failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum UpstreamError {
    /// The actor could not be reached.
    #[error(transparent)]
    Mailbox(#[from] MailboxError),
    /// The upstream failed.
    #[error("{}", .0.message())]
    Failed(CallFailure),
}

impl UpstreamHandle {
    /// The actor name of an upstream called `name`.
    pub fn actor_name(name: &str) -> String {
        format!("upstream:{name}")
    }

    /// A handle to the upstream called `name`.
    pub fn new(directory: ActorDirectory, name: &str) -> Self {
        Self {
            directory,
            actor: Self::actor_name(name),
        }
    }

    /// A ready connection; concurrent callers of a cold upstream share one handshake.
    /// `budget` bounds the wait (it should cover the handshake deadline).
    pub async fn ensure_ready(
        &self,
        correlation_id: Option<String>,
        force: bool,
        budget: Duration,
    ) -> Result<Ready, UpstreamError> {
        mailbox::call(&self.directory, &self.actor, budget, |reply| {
            UpstreamMsg::EnsureReady {
                correlation_id,
                force,
                reply,
            }
        })
        .await?
        .map_err(UpstreamError::Failed)
    }

    /// Reports a call's outcome (fire and forget).
    pub fn report(
        &self,
        correlation_id: Option<String>,
        generation: u64,
        outcome: Result<(), CallFailure>,
    ) {
        let msg = UpstreamMsg::Report {
            correlation_id,
            generation,
            outcome,
        };
        if let Err(e) = mailbox::cast(&self.directory, &self.actor, msg) {
            tracing::debug!(error = %e, "outcome report dropped");
        }
    }

    /// Reports that a call on `ready`'s session was served — when a proof of service is due
    /// ([`crate::upstream::proof`]): at most one per `PROOF_EVERY` while nothing fails, the
    /// first success after a failure at once. A message per call woke the actor's runtime on
    /// every call for a report that changed nothing but a timestamp. Failures always go
    /// ([`Self::report`]).
    pub fn served(&self, correlation_id: &str, ready: &Ready) {
        if !ready.proof.take() {
            return;
        }
        let msg = UpstreamMsg::Report {
            correlation_id: Some(correlation_id.to_owned()),
            generation: ready.generation,
            outcome: Ok(()),
        };
        if let Err(e) = mailbox::cast(&self.directory, &self.actor, msg) {
            // Not on its way after all: the next success tries again.
            ready.proof.reopen();
            tracing::debug!(error = %e, "outcome report dropped");
        }
    }

    /// The live state.
    pub async fn status(&self) -> Result<UpstreamStatus, UpstreamError> {
        Ok(mailbox::call(
            &self.directory,
            &self.actor,
            Duration::from_secs(5),
            UpstreamMsg::Status,
        )
        .await?)
    }

    /// The catalog as last fetched (`None` before the first handshake).
    pub async fn catalog(&self) -> Result<Option<Arc<Catalog>>, UpstreamError> {
        Ok(mailbox::call(
            &self.directory,
            &self.actor,
            Duration::from_secs(5),
            UpstreamMsg::Catalog,
        )
        .await?)
    }

    /// Checks now: a ping on a ready session (handshaking first if needed), reported as
    /// proof of service or failure. Inside a closed retry window it does nothing. Returns
    /// the state afterwards.
    pub async fn check_now(&self, budget: Duration) -> Result<UpstreamStatus, UpstreamError> {
        let before = self.status().await?;
        if !before.window_open {
            return Ok(before);
        }
        if let Ok(ready) = self.ensure_ready(None, false, budget).await {
            let outcome = ready.connection.ping(ready.call_timeout).await;
            self.report(None, ready.generation, outcome);
        }
        // A failed handshake was recorded by the actor itself.
        self.status().await
    }

    /// Drops the session.
    pub fn invalidate(&self) -> Result<(), UpstreamError> {
        Ok(mailbox::cast(
            &self.directory,
            &self.actor,
            UpstreamMsg::Invalidate,
        )?)
    }
}

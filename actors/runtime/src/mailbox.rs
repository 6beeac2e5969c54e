//! How typed handles reach an actor: by name through the [`ActorDirectory`], so a handle
//! keeps working across restarts of the actor it addresses.

use std::time::Duration;

use ractor::rpc::CallResult;
use ractor::{ActorRef, Message, RpcReplyPort};

use crate::directory::ActorDirectory;

/// Why a message could not be delivered or answered.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum MailboxError {
    /// The actor is not running (restarting, failed or stopped).
    #[error("actor `{0}` is not running")]
    NotRunning(String),
    /// The actor did not answer in time.
    #[error("actor `{actor}` did not answer within {timeout:?}")]
    Timeout {
        /// The addressed actor.
        actor: String,
        /// The budget that ran out.
        timeout: Duration,
    },
    /// The actor stopped or dropped the request before answering.
    #[error("actor `{0}` stopped before answering")]
    Dropped(String),
}

/// Sends a message without waiting for an answer.
pub fn cast<M: Message>(
    directory: &ActorDirectory,
    actor: &str,
    msg: M,
) -> Result<(), MailboxError> {
    let cell = directory
        .cell(actor)
        .ok_or_else(|| MailboxError::NotRunning(actor.to_owned()))?;
    ActorRef::<M>::from(cell)
        .send_message(msg)
        .map_err(|_| MailboxError::NotRunning(actor.to_owned()))
}

/// Sends a request and waits (at most `timeout`) for its answer.
pub async fn call<M, R, F>(
    directory: &ActorDirectory,
    actor: &str,
    timeout: Duration,
    build: F,
) -> Result<R, MailboxError>
where
    M: Message,
    R: Send + 'static,
    F: FnOnce(RpcReplyPort<R>) -> M,
{
    let cell = directory
        .cell(actor)
        .ok_or_else(|| MailboxError::NotRunning(actor.to_owned()))?;
    match ActorRef::<M>::from(cell).call(build, Some(timeout)).await {
        Ok(CallResult::Success(r)) => Ok(r),
        Ok(CallResult::Timeout) => Err(MailboxError::Timeout {
            actor: actor.to_owned(),
            timeout,
        }),
        Ok(CallResult::SenderError) => Err(MailboxError::Dropped(actor.to_owned())),
        Err(_) => Err(MailboxError::NotRunning(actor.to_owned())),
    }
}

//! The typed handle to a service actor ([`super::actor`]): callers ask it to start, stop,
//! deploy, retire, and for its status, its running process and the probe that reaches it;
//! the messages stay hidden behind it.

use std::time::Duration;

use super::actor::{LOG_KEEP, LOG_MAX_BYTES, Running, ServiceMsg, ServiceStatus};
use super::spec::ServiceSpec;
use crate::directory::ActorDirectory;
use crate::mailbox::{self, MailboxError};
use crate::process::child::Program;
use crate::process::log::RotatingLog;

/// A typed handle to one service actor.
#[derive(Clone, Debug)]
pub struct ServiceHandle {
    directory: ActorDirectory,
    actor: String,
}

impl ServiceHandle {
    /// The actor's name for service `name`.
    pub fn actor_name(name: &str) -> String {
        format!("service:{name}")
    }

    /// A handle to service `name`'s actor.
    pub fn new(directory: ActorDirectory, name: &str) -> Self {
        Self {
            directory,
            actor: Self::actor_name(name),
        }
    }

    /// Starts it (a no-op when it runs).
    pub async fn start(
        &self,
        limit: Duration,
    ) -> Result<Result<ServiceStatus, String>, MailboxError> {
        mailbox::call(&self.directory, &self.actor, limit, ServiceMsg::Start).await
    }

    /// Stops it; `limit` should exceed its stop grace.
    pub async fn stop(&self, limit: Duration) -> Result<ServiceStatus, MailboxError> {
        mailbox::call(&self.directory, &self.actor, limit, ServiceMsg::Stop).await
    }

    /// Restarts it; `limit` should exceed its stop grace.
    pub async fn restart(
        &self,
        limit: Duration,
    ) -> Result<Result<ServiceStatus, String>, MailboxError> {
        mailbox::call(&self.directory, &self.actor, limit, ServiceMsg::Restart).await
    }

    /// Its status.
    pub async fn status(&self) -> Result<ServiceStatus, MailboxError> {
        mailbox::call(
            &self.directory,
            &self.actor,
            Duration::from_secs(5),
            ServiceMsg::Status,
        )
        .await
    }

    /// Switches it to a release (see [`ServiceMsg::Deploy`]); `limit` should exceed its stop
    /// grace.
    pub async fn deploy(
        &self,
        command: Program,
        release: &str,
        limit: Duration,
    ) -> Result<Result<ServiceStatus, String>, MailboxError> {
        let release = release.to_owned();
        mailbox::call(&self.directory, &self.actor, limit, |reply| {
            ServiceMsg::Deploy {
                command,
                release,
                reply,
            }
        })
        .await
    }

    /// Retires the replaced releases still serving (see [`ServiceMsg::Retire`]).
    pub async fn retire(&self) -> Result<usize, MailboxError> {
        mailbox::call(
            &self.directory,
            &self.actor,
            Duration::from_secs(5),
            ServiceMsg::Retire,
        )
        .await
    }

    /// The running process and the probe that reaches it, if it runs.
    pub async fn running(&self) -> Result<Option<Running>, MailboxError> {
        mailbox::call(
            &self.directory,
            &self.actor,
            Duration::from_secs(5),
            ServiceMsg::Process,
        )
        .await
    }

    /// Its spec.
    pub async fn spec(&self) -> Result<ServiceSpec, MailboxError> {
        mailbox::call(
            &self.directory,
            &self.actor,
            Duration::from_secs(5),
            ServiceMsg::Spec,
        )
        .await
    }

    /// The last `n` lines of its log (rotated files included), oldest first.
    pub async fn logs(&self, n: usize) -> Result<Vec<String>, MailboxError> {
        let status = self.status().await?;
        Ok(RotatingLog::new(status.log_file, LOG_MAX_BYTES, LOG_KEEP)
            .tail(n)
            .await)
    }
}

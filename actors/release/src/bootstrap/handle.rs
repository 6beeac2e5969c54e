//! [`BootstrapHandle`]: the typed, cloneable way to talk to the bootstrap actor; callers
//! never see its messages.

use std::time::Duration;

use super::actor::NAME;
use super::messages::{BootstrapMsg, CancelRefused, PromoteRefused, Refused};
use crate::directory::ActorDirectory;
use crate::mailbox::{self, MailboxError};
use crate::model::{RunRecord, RunRequest};

/// A typed handle to the bootstrap actor.
#[derive(Clone, Debug)]
pub struct BootstrapHandle {
    directory: ActorDirectory,
}

impl BootstrapHandle {
    /// A handle through `directory`.
    pub fn new(directory: ActorDirectory) -> Self {
        Self { directory }
    }

    /// Starts a run; its id, or why not.
    pub async fn start(
        &self,
        request: RunRequest,
    ) -> Result<Result<String, Refused>, MailboxError> {
        mailbox::call(&self.directory, NAME, Duration::from_secs(10), |r| {
            BootstrapMsg::Start(Box::new(request), r)
        })
        .await
    }

    /// Stores a run for `node`, the node that runs the target's service, which starts it
    /// (within a second: the store announces it); its id, or why not (`Busy` as for
    /// [`BootstrapHandle::start`]: one open run per target across the cluster).
    pub async fn request(
        &self,
        request: RunRequest,
        node: String,
    ) -> Result<Result<String, Refused>, MailboxError> {
        mailbox::call(&self.directory, NAME, Duration::from_secs(10), |r| {
            BootstrapMsg::Request(Box::new(request), node, r)
        })
        .await
    }

    /// Cancels a run in progress.
    pub async fn cancel(&self, run: &str) -> Result<Result<(), CancelRefused>, MailboxError> {
        let run = run.to_owned();
        mailbox::call(&self.directory, NAME, Duration::from_secs(10), |r| {
            BootstrapMsg::Cancel(run, r)
        })
        .await
    }

    /// Ends a run's guard now: its release is declared good and the run succeeds.
    pub async fn promote(&self, run: &str) -> Result<Result<(), PromoteRefused>, MailboxError> {
        let run = run.to_owned();
        mailbox::call(&self.directory, NAME, Duration::from_secs(10), |r| {
            BootstrapMsg::Promote(run, r)
        })
        .await
    }

    /// Concludes the runs a previous att left `running`; how many there were.
    pub async fn recover(&self) -> Result<usize, MailboxError> {
        mailbox::call(
            &self.directory,
            NAME,
            Duration::from_secs(30),
            BootstrapMsg::Recover,
        )
        .await
    }

    /// A run in progress (its live record).
    pub async fn active(&self, run: &str) -> Result<Option<RunRecord>, MailboxError> {
        let run = run.to_owned();
        mailbox::call(&self.directory, NAME, Duration::from_secs(10), |r| {
            BootstrapMsg::Active(run, r)
        })
        .await
    }
}

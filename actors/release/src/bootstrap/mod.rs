//! The release pipeline (BOOTSTRAP.md): one actor running one run per target through its
//! phases, each phase's work in a worker under a deadline, every transition stored and
//! written to the event log. Read in this order:
//!
//! - [`step`]: pure — given the phase that ended and the run's facts, what comes next (also
//!   what a run left `running` by a previous att becomes);
//! - [`messages`]: the actor's messages, its refusals, and a phase's [`PhaseOutcome`];
//! - [`handle`]: [`BootstrapHandle`], the typed way callers talk to the actor;
//! - [`actor`]: the actor itself — its arguments, its state, and `handle()` dispatching
//!   each message to one method;
//! - [`run`]: driving a run — begin a phase in a worker, end it, take the next step, hand
//!   a failure to the rollback policy, finish or cancel;
//! - [`record`]: what each phase outcome writes into the run and the releases;
//! - [`recover`]: concluding the runs a previous att left `running`;
//! - [`resolve`]: the `resolve` phase — which release to deploy and which to roll back to;
//! - [`exec`]: the phase work — change, deploy, watchdog, health, rollback;
//! - [`guard`]: the post-deploy guard — the live release watched after its gates;
//! - [`build_job`]: the `build` phase's work (also a rollback's rebuild);
//! - [`worker`]: the short-lived actor that runs one phase's work;
//! - [`launcher`]: the client of `att launch`, which restarts att itself.

pub mod actor;
mod build_job;
mod exec;
pub mod guard;
pub mod handle;
pub mod launcher;
pub mod messages;
mod record;
mod recover;
mod resolve;
mod run;
pub mod step;
pub mod worker;

pub use actor::{BootstrapActor, BootstrapArgs, NAME, SELF};
pub use handle::BootstrapHandle;
pub use messages::{BootstrapMsg, CancelRefused, PhaseOutcome, PromoteRefused, Refused};

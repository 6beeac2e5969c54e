//! The `publish` phase (BOOTSTRAP.md): the change's branch pushed, a change request opened on
//! the forge, its CI waited for with back-off (10 s doubling to 60 s, within a 600 s budget),
//! and merged when green; the repository's base branch then follows the merge.
//!
//! Forges are adapters behind [`Forge`]:
//! - [`LocalForge`]: a bare repository (the remote) and change requests kept beside its refs
//!   in `att-forge/<n>.json`; its CI checks out the change's head in a clean clone and runs
//!   the CI command there. For tests, and for people without a hosted forge.
//! - [`GithubForge`]: GitHub through the `gh` command line (the user's own login).
//!
//! The parts: [`port`] (the trait and its types), [`publish`] (the phase, the CI wait, the
//! choice of adapter), [`revert`] (the change request that undoes a shipped change whose
//! release was rolled back), [`local`] and [`github`] (the adapters).

mod github;
mod local;
mod port;
mod publish;
mod revert;

pub use github::GithubForge;
pub use local::LocalForge;
pub use port::*;
pub use publish::*;
pub use revert::*;

#[cfg(test)]
mod tests;

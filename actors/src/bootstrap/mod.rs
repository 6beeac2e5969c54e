//! The release pipeline (BOOTSTRAP.md): the bootstrap [`actor`] and its phases, the [`build`]
//! of releases from git commits, the release and run records ([`model`]), and the rollback
//! [`policy`].

pub mod actor;
pub mod build;
pub mod change;
pub mod forge;
pub mod launcher;
pub mod model;
pub mod policy;
pub mod step;

//! The release pipeline (BOOTSTRAP.md): the bootstrap [`actor`] running one run per target
//! through its phases, the pure [`step`] table of which phase follows which, and the
//! [`launcher`] that restarts att itself.

pub mod actor;
pub mod launcher;
pub mod step;

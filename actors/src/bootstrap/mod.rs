//! The release pipeline (BOOTSTRAP.md). So far: the rollback [`policy`]. The bootstrap actor,
//! its phases, the release registry and durable runs come next (see todo/master_plan.md).

pub mod actor;
pub mod model;
pub mod policy;

//! What the store ports share: the error every adapter reports.
//!
//! The ports themselves sit with what they store ([`crate::events::EventStore`] here,
//! `UpstreamStore` in `att-gateway`, `ReleaseStore` in `att-release`); one adapter (SQLite today)
//! implements them all.

/// A store failure, as text: the ports hide which database produced it.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[error("store: {0}")]
pub struct StoreError(pub String);

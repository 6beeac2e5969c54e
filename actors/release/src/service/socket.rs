//! The listening socket of a service with `listen` (see [`ServiceSpec::listen`]): att binds
//! it once, when the service's actor starts, and every release of the service gets it by
//! socket activation. Releases replaced by a deploy are not stopped at once but kept
//! `leaving`: they serve beside the new one until it passed its gates, then are retired —
//! left to serve for the spec's `drain`, then stopped (SIGTERM, SIGKILL after the grace).
//!
//! [`ServiceSpec::listen`]: super::spec::ServiceSpec::listen

use std::net::{SocketAddr, TcpListener};
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::time::Duration;

use crate::process::child::Process;

/// Binds `addr` for a service (address reuse on, as std does on Unix; `TCP_NODELAY` set on
/// the listener, which the connections it accepts inherit on Linux).
pub fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let listener = TcpListener::bind(addr)?;
    let on: libc::c_int = 1;
    // SAFETY: a valid socket, a valid option value of the size given.
    let r = unsafe {
        libc::setsockopt(
            listener.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_NODELAY,
            std::ptr::from_ref(&on).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if r != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(listener)
}

/// Retires `leaving` in the background: each serves on for `drain`, then is stopped with
/// `grace`.
pub fn retire(leaving: Vec<Arc<Process>>, drain: Duration, grace: Duration) {
    if leaving.is_empty() {
        return;
    }
    tokio::spawn(async move {
        tokio::time::sleep(drain).await;
        let stops = leaving.iter().map(|p| p.stop(grace));
        futures_util::future::join_all(stops).await;
    });
}

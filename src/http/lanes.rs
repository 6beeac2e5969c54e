//! Connection lanes: the threads att's HTTP connections are served on, each a single-threaded
//! tokio runtime of its own (thread-per-core, as actix-web and Seastar serve).
//!
//! **Why.** A routed call is a chain of small tasks: the client's connection, the upstream
//! connection's task, the body channels between them. On tokio's work-stealing runtime every
//! hand-off between them may wake an idle worker thread to steal the woken task (a task that
//! wakes itself is re-queued as a yield, which always does), and that worker, finding work,
//! wakes the next: at one caller att's threads switched context ~9 times per call, ~5 of them
//! its two workers waking each other (`benches/wakeups.py`, todo/perf.md), and with one worker
//! att spent ~17% less CPU per call at 32 callers with the same throughput. A lane has no one
//! to wake: every task of a connection — its requests, the calls they make upstream, the
//! upstream connections they open — runs on the lane's one thread, and a hand-off is a push on
//! that thread's queue.
//!
//! **How.** The accept loop stays where it is and hands each accepted socket to the next lane
//! in turn ([`Lanes::serve`]), which takes it off the accepting runtime's reactor and serves it
//! wholly on the lane's. What runs elsewhere still runs elsewhere: the actors, the event
//! writer and the store are where they were started, and a lane reaches them as any task
//! does, by message. A task a request spawns (an `/mcp` session's worker, an event stream)
//! runs on that request's lane.
//!
//! **Bounds.** `[http] lanes` threads (default: one per core). They end when the [`Lanes`]
//! is dropped — after the server has stopped its actors, so nothing a request started is cut
//! before the orderly stop — each giving its tasks [`LANE_STOP`] to let go of blocking work.

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::runtime::Handle;
use tokio::sync::oneshot;

/// How long a stopping lane waits for its blocking tasks before it lets its thread end.
const LANE_STOP: Duration = Duration::from_secs(1);

/// The lanes of one server.
pub struct Lanes {
    lanes: Vec<Lane>,
    next: AtomicUsize,
}

struct Lane {
    handle: Handle,
    /// Dropped (or fired) to end the lane's thread.
    _stop: oneshot::Sender<()>,
}

impl Lanes {
    /// Starts `count` lanes (at least one), threads named `att-http-N`.
    pub fn start(count: usize) -> std::io::Result<Self> {
        let mut lanes = Vec::with_capacity(count.max(1));
        for i in 0..count.max(1) {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .thread_name(format!("att-http-{i}-blocking"))
                .build()?;
            let handle = runtime.handle().clone();
            let (stop, stopped) = oneshot::channel::<()>();
            std::thread::Builder::new()
                .name(format!("att-http-{i}"))
                .spawn(move || {
                    // Runs the lane's tasks until the `Lanes` is dropped.
                    let _ = runtime.block_on(stopped);
                    runtime.shutdown_timeout(LANE_STOP);
                })?;
            lanes.push(Lane {
                handle,
                _stop: stop,
            });
        }
        Ok(Self {
            lanes,
            next: AtomicUsize::new(0),
        })
    }

    /// The lane count `[http] lanes` asks for, or one per core.
    pub fn count(configured: Option<usize>) -> usize {
        configured
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, usize::from))
            .max(1)
    }

    /// Runs `task` on the next lane in turn.
    pub fn spawn<F>(&self, task: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let i = self.next.fetch_add(1, Ordering::Relaxed) % self.lanes.len();
        drop(self.lanes[i].handle.spawn(task));
    }

    /// Serves the accepted socket `tcp` on the next lane: `serve` gets it there, registered
    /// with that lane's reactor. A socket that cannot be moved is closed (and said so).
    pub fn serve<F, Fut>(&self, tcp: tokio::net::TcpStream, serve: F)
    where
        F: FnOnce(tokio::net::TcpStream) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        // Off this runtime's reactor; the socket stays non-blocking.
        let std = match tcp.into_std() {
            Ok(std) => std,
            Err(e) => {
                tracing::warn!(error = %e, "could not hand a connection to a lane; closed it");
                return;
            }
        };
        self.spawn(async move {
            match tokio::net::TcpStream::from_std(std) {
                Ok(tcp) => serve(tcp).await,
                Err(e) => {
                    tracing::warn!(error = %e, "a lane could not take a connection; closed it")
                }
            }
        });
    }

    /// How many lanes there are.
    pub fn len(&self) -> usize {
        self.lanes.len()
    }

    /// Whether there are none (never: at least one is started).
    pub fn is_empty(&self) -> bool {
        self.lanes.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The name of the thread a task on `lanes` ran on, for each of `n` tasks in turn.
    async fn threads_of(lanes: &Lanes, n: usize) -> Vec<String> {
        let mut names = Vec::new();
        for _ in 0..n {
            let (tx, rx) = oneshot::channel();
            lanes.spawn(async move {
                let name = std::thread::current().name().unwrap_or("?").to_owned();
                let _ = tx.send(name);
            });
            names.push(rx.await.expect("the task ran"));
        }
        names
    }

    #[tokio::test]
    async fn tasks_run_on_the_lanes_threads_in_turn() {
        let lanes = Lanes::start(3).expect("lanes");
        assert_eq!(lanes.len(), 3);
        assert_eq!(
            threads_of(&lanes, 4).await,
            ["att-http-0", "att-http-1", "att-http-2", "att-http-0"]
        );
    }

    #[tokio::test]
    async fn a_task_a_lane_runs_spawns_more_on_the_same_lane() {
        let lanes = Lanes::start(2).expect("lanes");
        let (tx, rx) = oneshot::channel();
        lanes.spawn(async move {
            let inner = tokio::spawn(async { std::thread::current().name().map(str::to_owned) });
            let outer = std::thread::current().name().map(str::to_owned);
            let _ = tx.send((outer, inner.await.expect("inner task")));
        });
        let (outer, inner) = rx.await.expect("ran");
        assert_eq!(outer.as_deref(), Some("att-http-0"));
        assert_eq!(inner, outer, "a lane's tasks stay on its thread");
    }

    #[tokio::test]
    async fn dropping_the_lanes_ends_their_tasks() {
        let lanes = Lanes::start(2).expect("lanes");
        let (ended_tx, ended) = oneshot::channel::<()>();
        let (started_tx, started) = oneshot::channel();
        lanes.spawn(async move {
            // Holds `ended_tx` until the task is dropped with its lane.
            let _held = ended_tx;
            let _ = started_tx.send(());
            std::future::pending::<()>().await;
        });
        started.await.expect("started");
        drop(lanes);
        assert!(
            ended.await.is_err(),
            "the pending task was dropped with its lane"
        );
    }

    #[tokio::test]
    async fn a_socket_is_served_on_a_lane() {
        let lanes = Lanes::start(2).expect("lanes");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let client = tokio::spawn(async move {
            use tokio::io::AsyncReadExt;
            let mut tcp = tokio::net::TcpStream::connect(addr).await.expect("connect");
            let mut said = String::new();
            tcp.read_to_string(&mut said).await.expect("read");
            said
        });
        let (tcp, _) = listener.accept().await.expect("accept");
        lanes.serve(tcp, |mut tcp| async move {
            use tokio::io::AsyncWriteExt;
            let name = std::thread::current().name().unwrap_or("?").to_owned();
            tcp.write_all(name.as_bytes()).await.expect("write");
        });
        assert_eq!(client.await.expect("client"), "att-http-0");
    }

    #[test]
    fn the_lane_count_is_the_configured_one_or_one_per_core() {
        assert_eq!(Lanes::count(Some(3)), 3);
        assert_eq!(Lanes::count(Some(0)), 1);
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        assert_eq!(Lanes::count(None), cores);
    }
}

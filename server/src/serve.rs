//! The HTTP listener. `axum::serve` reads request headers for as long as a client
//! likes and accepts connections until the process runs out of file descriptors: a
//! thousand idle half-open sockets took the dashboard and the agent API offline. Here
//! every connection must send its request head within a time limit (also the
//! keep-alive idle limit), and the number of open connections is capped. At the cap a
//! new connection makes the oldest ones close gracefully (an idle one at once, a busy
//! one after its request), so a crowd of idle sockets cannot lock everyone else out;
//! only when no slot frees up quickly is the newcomer closed. Shutdown waits a
//! bounded time for requests in flight.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, oneshot, watch};

/// How long a newcomer waits for the oldest connections to make room.
const MAKE_ROOM_WAIT: Duration = Duration::from_secs(1);

/// The open connections, oldest first, each with the means to ask it to close.
#[derive(Default)]
struct Open {
    next_id: u64,
    closers: BTreeMap<u64, oneshot::Sender<()>>,
}

impl Open {
    fn add(&mut self) -> (u64, oneshot::Receiver<()>) {
        let (tx, rx) = oneshot::channel();
        let id = self.next_id;
        self.next_id += 1;
        self.closers.insert(id, tx);
        (id, rx)
    }

    /// Asks the `n` oldest connections to close (gracefully).
    fn close_oldest(&mut self, n: usize) {
        for _ in 0..n {
            let Some((_, closer)) = self.closers.pop_first() else {
                return;
            };
            let _ = closer.send(());
        }
    }
}

/// How the listener protects itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Open connections at most; past it, a newcomer makes the oldest close (idle
    /// ones at once) and is closed itself only if no room is made within a second.
    pub max_connections: usize,
    /// How long a client may take to send a request head, and how long an idle
    /// keep-alive connection is kept.
    pub header_read_timeout: Duration,
    /// How long shutdown waits for requests in flight before it drops them.
    pub shutdown_grace: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_connections: 4096,
            header_read_timeout: Duration::from_secs(15),
            shutdown_grace: Duration::from_secs(10),
        }
    }
}

/// Serves `router` on `listener` until `shutdown` resolves, then lets requests in
/// flight finish for up to `limits.shutdown_grace`.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: Limits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let open = Arc::new(Mutex::new(Open::default()));
    // Room is made a few connections at a time: a busy one frees its slot only after
    // its request.
    let make_room = (limits.max_connections / 100).max(1);
    let (stop, stopping) = watch::channel(false);
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
    tokio::pin!(shutdown);
    loop {
        let (stream, _peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(connection) => connection,
                Err(e) => {
                    // Out of descriptors (EMFILE) or a connection reset before it was
                    // accepted: wait a moment instead of spinning on the error.
                    tracing::warn!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let (slots, open, http, router) =
            (slots.clone(), open.clone(), http.clone(), router.clone());
        let mut stopping = stopping.clone();
        // Everything that may wait happens on the connection's own task: the accept
        // loop never does, whatever the crowd.
        tokio::spawn(async move {
            let slot = match slots.clone().try_acquire_owned() {
                Ok(slot) => slot,
                Err(_) => {
                    lock(&open).close_oldest(make_room);
                    match tokio::time::timeout(MAKE_ROOM_WAIT, slots.acquire_owned()).await {
                        Ok(Ok(slot)) => slot,
                        _ => {
                            tracing::warn!(
                                cap = limits.max_connections,
                                "connection cap reached and no room made: connection closed"
                            );
                            return;
                        }
                    }
                }
            };
            // Requests being answered on this connection: one asked to close while
            // none is closes at once, even halfway through sending a request head
            // (hyper's graceful shutdown would wait for the rest of it).
            let in_flight = Arc::new(AtomicUsize::new(0));
            let service = TowerToHyperService::new(Counted {
                inner: router,
                in_flight: in_flight.clone(),
            });
            let (id, close) = lock(&open).add();
            // No upgrades (WebSockets): nothing here uses them.
            let connection = http.serve_connection(TokioIo::new(stream), service);
            tokio::pin!(connection);
            let asked_to_close = async {
                tokio::select! {
                    Ok(()) = close => {}
                    _ = stopping.wait_for(|stop| *stop) => {}
                }
            };
            let ended = tokio::select! {
                ended = connection.as_mut() => Some(ended),
                () = asked_to_close => {
                    if in_flight.load(Ordering::SeqCst) == 0 {
                        None
                    } else {
                        // Finish the request in flight, then close.
                        connection.as_mut().graceful_shutdown();
                        Some(connection.await)
                    }
                }
            };
            // A client that goes away, or sends garbage, is not our error.
            if let Some(Err(e)) = ended {
                tracing::debug!(error = %e, "connection ended with an error");
            }
            lock(&open).closers.remove(&id);
            drop(slot);
        });
    }
    drop(listener);
    stop.send_replace(true);
    // Every connection gives its slot back when it ends.
    let all = u32::try_from(limits.max_connections).unwrap_or(u32::MAX);
    if tokio::time::timeout(limits.shutdown_grace, slots.acquire_many(all))
        .await
        .is_err()
    {
        tracing::warn!(grace = ?limits.shutdown_grace, "requests still running at shutdown were dropped");
    }
}

/// The router, counting the requests it is answering on one connection (until each
/// response is ready; a body still being sent is not counted).
#[derive(Clone)]
struct Counted<S> {
    inner: S,
    in_flight: Arc<AtomicUsize>,
}

impl<S, B> tower::Service<axum::http::Request<B>> for Counted<S>
where
    S: tower::Service<axum::http::Request<B>>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future =
        std::pin::Pin<Box<dyn Future<Output = Result<S::Response, S::Error>> + Send + 'static>>;

    fn poll_ready(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: axum::http::Request<B>) -> Self::Future {
        let guard = InFlight::enter(&self.in_flight);
        let answer = self.inner.call(request);
        Box::pin(async move {
            let response = answer.await;
            drop(guard);
            response
        })
    }
}

/// Counts a request as in flight on its connection while it lives.
struct InFlight(Arc<AtomicUsize>);

impl InFlight {
    fn enter(count: &Arc<AtomicUsize>) -> Self {
        count.fetch_add(1, Ordering::SeqCst);
        InFlight(count.clone())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

fn lock(open: &Mutex<Open>) -> std::sync::MutexGuard<'_, Open> {
    open.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Raises this process's soft limit on open files to its hard limit, so that the
/// connection cap, not the descriptor table, decides when to refuse; returns the
/// soft limit in force.
pub fn raise_open_files_limit() -> u64 {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit only read and write the struct we pass.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
            return 1024;
        }
        if limit.rlim_cur < limit.rlim_max {
            let raised = libc::rlimit {
                rlim_cur: limit.rlim_max,
                rlim_max: limit.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                limit = raised;
            }
        }
    }
    limit.rlim_cur
}

/// The connection cap that fits in `open_files` descriptors, keeping some for the
/// database, logs and the agent sockets of the process.
pub fn cap_for(open_files: u64, wanted: usize) -> usize {
    let room = usize::try_from(open_files.saturating_sub(128)).unwrap_or(usize::MAX);
    wanted.min(room).max(16)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cap_leaves_room_for_the_rest_of_the_process() {
        assert_eq!(cap_for(1024, 4096), 896);
        assert_eq!(cap_for(65_536, 4096), 4096);
        assert_eq!(cap_for(100, 4096), 16);
    }
}

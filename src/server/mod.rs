//! The server: accept connections on every listener, serve HTTP/1.1 on each, shut down cleanly.
//!
//! Each accepted connection is identified once ([`crate::identity`]) on the main runtime, then
//! handed to one of the [`Workers`] — a thread per CPU, each with a single-threaded runtime —
//! and served there by hyper with keep-alive and upgrades. Shutdown follows mini-redis: a `watch` channel tells every accept loop
//! and connection to stop, and every connection (and every hijacked pipe) holds a clone of an
//! `mpsc::Sender`, so the receiver learns that all of them have finished when its `recv` returns
//! `None`. In-flight requests get a grace period; whatever is still open after it is dropped.

pub mod admin;
pub mod listener;

use crate::identity::Client;
use crate::proxy::Gateway;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use listener::Listener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{mpsc, watch};

/// A task's view of shutdown: `stop` changes when it is time to stop; `done` is held until the
/// task has finished.
#[derive(Debug, Clone)]
pub struct Handle {
    pub stop: watch::Receiver<bool>,
    pub done: mpsc::Sender<()>,
}

/// Tells tasks to stop and learns when they have.
#[derive(Debug)]
pub struct Shutdown {
    notify: watch::Sender<bool>,
    done_tx: mpsc::Sender<()>,
    done_rx: mpsc::Receiver<()>,
}

impl Default for Shutdown {
    fn default() -> Shutdown {
        Shutdown::new()
    }
}

impl Shutdown {
    pub fn new() -> Shutdown {
        let (notify, _) = watch::channel(false);
        let (done_tx, done_rx) = mpsc::channel(1);
        Shutdown { notify, done_tx, done_rx }
    }

    /// A handle for a task to learn of shutdown and hold while it runs.
    pub fn handle(&self) -> Handle {
        Handle { stop: self.notify.subscribe(), done: self.done_tx.clone() }
    }

    /// Signal every task, then wait up to `grace` for all of them to finish. Returns whether
    /// they all did.
    pub async fn drain(self, grace: Duration) -> bool {
        let Shutdown { notify, done_tx, mut done_rx } = self;
        let _ = notify.send(true);
        drop(done_tx);
        tokio::time::timeout(grace, done_rx.recv()).await.is_ok()
    }
}

/// The threads that serve connections. Each runs a single-threaded runtime of its own, and a
/// connection lives on one of them from its first byte to its last, with the upstream
/// connection it is paired with and any hijacked pipe it becomes: the tasks of one request wake
/// each other on one thread, with no hand-over between threads and no work stealing. Accept
/// loops hand connections out round-robin.
#[derive(Debug)]
pub struct Workers {
    queues: Vec<mpsc::UnboundedSender<Job>>,
    next: AtomicUsize,
}

/// An accepted connection on its way to a worker.
#[derive(Debug)]
struct Job {
    stream: Stream,
    client: Client,
    handle: Handle,
}

#[derive(Debug)]
enum Stream {
    Unix(std::os::unix::net::UnixStream),
    Tcp(std::net::TcpStream),
}

impl Workers {
    /// Start `count` worker threads (at least one).
    pub fn start(count: usize, gateway: &Arc<Gateway>) -> std::io::Result<Workers> {
        let mut queues = Vec::new();
        for index in 0..count.max(1) {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            let (queue, jobs) = mpsc::unbounded_channel();
            let gateway = gateway.clone();
            std::thread::Builder::new()
                .name(format!("sockguard-worker-{index}"))
                .spawn(move || runtime.block_on(work(jobs, gateway)))?;
            queues.push(queue);
        }
        Ok(Workers { queues, next: AtomicUsize::new(0) })
    }

    /// Hand a connection to the next worker (another one if that one has stopped).
    fn dispatch(&self, mut job: Job) {
        let count = self.queues.len();
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        for offset in 0..count {
            let index = start.wrapping_add(offset).checked_rem(count).unwrap_or(0);
            let Some(queue) = self.queues.get(index) else { continue };
            match queue.send(job) {
                Ok(()) => return,
                Err(returned) => job = returned.0,
            }
        }
        tracing::error!("no worker is running; the connection is closed");
    }
}

/// A worker: serve every connection handed to it. When the accept loops are gone it keeps its
/// runtime, and the connections on it, running until the process exits: shutdown waits for
/// those connections through their [`Handle`]s, not for the thread.
async fn work(mut jobs: mpsc::UnboundedReceiver<Job>, gateway: Arc<Gateway>) {
    while let Some(Job { stream, client, handle }) = jobs.recv().await {
        let registered = match stream {
            Stream::Unix(stream) => tokio::net::UnixStream::from_std(stream)
                .map(|stream| spawn_connection(stream, client, &gateway, handle)),
            Stream::Tcp(stream) => {
                tokio::net::TcpStream::from_std(stream).map(|stream| spawn_connection(stream, client, &gateway, handle))
            }
        };
        if let Err(e) = registered {
            tracing::warn!(error = %e, "cannot serve a connection");
        }
    }
    std::future::pending::<()>().await;
}

/// Run the accept loop of one listener until shutdown, handing each connection to a worker.
/// Dropping the listener afterwards removes its socket file.
pub async fn accept_loop(listener: Listener, name: String, workers: Arc<Workers>, handle: Handle) {
    let mut stop = handle.stop.clone();
    loop {
        let accepted = tokio::select! {
            _ = stop.changed() => break,
            accepted = accept(&listener, &name) => accepted,
        };
        match accepted {
            Ok((stream, client)) => workers.dispatch(Job { stream, client, handle: handle.clone() }),
            Err(e) => {
                // Out of file descriptors and the like: back off briefly instead of spinning.
                tracing::warn!(listener = %name, error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
    drop(listener);
    drop(handle);
}

/// Accept a connection and identify its caller; the stream leaves this runtime for a worker's.
async fn accept(listener: &Listener, name: &str) -> std::io::Result<(Stream, Client)> {
    match listener {
        Listener::Unix { listener, .. } => {
            let (stream, _) = listener.accept().await?;
            let client = Client::from_unix(name, &stream);
            Ok((Stream::Unix(stream.into_std()?), client))
        }
        Listener::Tcp { listener, .. } => {
            let (stream, peer) = listener.accept().await?;
            stream.set_nodelay(true)?;
            Ok((Stream::Tcp(stream.into_std()?), Client::from_tcp(name, peer.ip())))
        }
    }
}

fn spawn_connection<S>(stream: S, client: Client, gateway: &Arc<Gateway>, handle: Handle)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let Handle { mut stop, done } = handle;
    let gateway = gateway.clone();
    let client = Arc::new(client);
    tokio::spawn(async move {
        let guard = done.clone();
        let session = Arc::new(crate::proxy::upstream::Session::new(gateway.upstream.clone()));
        let service = service_fn(move |request| {
            crate::proxy::handle(gateway.clone(), client.clone(), session.clone(), guard.clone(), request)
        });
        let connection = http1::Builder::new()
            .timer(TokioTimer::new())
            .keep_alive(true)
            .header_read_timeout(Duration::from_secs(60))
            .serve_connection(TokioIo::new(stream), service)
            .with_upgrades();
        tokio::pin!(connection);
        let result = tokio::select! {
            result = connection.as_mut() => result,
            _ = stop.changed() => {
                connection.as_mut().graceful_shutdown();
                connection.await
            }
        };
        if let Err(e) = result {
            tracing::debug!(error = %e, "connection ended with an error");
        }
        drop(done);
    });
}

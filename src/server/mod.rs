//! The server: accept connections on every listener, serve HTTP/1.1 on each, shut down cleanly.
//!
//! Each accepted connection is identified once ([`crate::identity`]) and served by hyper with
//! keep-alive and upgrades. Shutdown follows mini-redis: a `watch` channel tells every accept loop
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

/// Run the accept loop of one listener until shutdown. Dropping the listener afterwards removes
/// its socket file.
pub async fn accept_loop(listener: Listener, name: String, gateway: Arc<Gateway>, handle: Handle) {
    let mut stop = handle.stop.clone();
    loop {
        let accepted = tokio::select! {
            _ = stop.changed() => break,
            accepted = accept(&listener, &name) => accepted,
        };
        match accepted {
            Ok(Accepted::Unix(stream, client)) => spawn_connection(stream, client, &gateway, handle.clone()),
            Ok(Accepted::Tcp(stream, client)) => spawn_connection(stream, client, &gateway, handle.clone()),
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

enum Accepted {
    Unix(tokio::net::UnixStream, Client),
    Tcp(tokio::net::TcpStream, Client),
}

async fn accept(listener: &Listener, name: &str) -> std::io::Result<Accepted> {
    match listener {
        Listener::Unix { listener, .. } => {
            let (stream, _) = listener.accept().await?;
            let client = Client::from_unix(name, &stream);
            Ok(Accepted::Unix(stream, client))
        }
        Listener::Tcp { listener, .. } => {
            let (stream, peer) = listener.accept().await?;
            stream.set_nodelay(true)?;
            Ok(Accepted::Tcp(stream, Client::from_tcp(name, peer.ip())))
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

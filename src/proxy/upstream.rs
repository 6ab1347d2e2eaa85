//! The connection to the upstream Docker Engine: address, connector and pooled HTTP/1.1 client.
//!
//! Connections are kept alive and reused; a connection that an upgrade (attach, exec) takes over
//! leaves the pool. Connecting has its own timeout, so that an engine that is down answers
//! `upstream_unreachable` at once and one that hangs answers `upstream_timeout`; once the engine
//! is back, the next request simply connects again.

use super::body::ProxyBody;
use hyper::rt::{Read, ReadBufCursor, Write};
use hyper_util::client::legacy::connect::{Connected, Connection};
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::future::Future;
use std::io;
use std::path::PathBuf;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::net::{TcpStream, UnixStream};

/// Where the engine listens.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Address {
    Unix(PathBuf),
    Tcp(String),
}

impl Address {
    /// Parse `unix:///var/run/docker.sock` or `tcp://host:port`.
    pub fn parse(url: &str) -> Result<Address, String> {
        if let Some(path) = url.strip_prefix("unix://") {
            if !path.starts_with('/') {
                return Err(format!("{url}: a unix socket path must be absolute (unix:///path)"));
            }
            return Ok(Address::Unix(PathBuf::from(path)));
        }
        if let Some(host) = url.strip_prefix("tcp://") {
            let host = host.trim_end_matches('/');
            if host.rsplit_once(':').is_none_or(|(h, p)| h.is_empty() || p.parse::<u16>().is_err()) {
                return Err(format!("{url}: expected tcp://host:port"));
            }
            return Ok(Address::Tcp(host.to_owned()));
        }
        Err(format!("{url}: expected unix:///path or tcp://host:port"))
    }
}

impl std::fmt::Display for Address {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Address::Unix(path) => write!(f, "unix://{}", path.display()),
            Address::Tcp(host) => write!(f, "tcp://{host}"),
        }
    }
}

/// A stream to the engine.
#[derive(Debug)]
pub enum UpstreamIo {
    Unix(TokioIo<UnixStream>),
    Tcp(TokioIo<TcpStream>),
}

impl Connection for UpstreamIo {
    fn connected(&self) -> Connected {
        Connected::new()
    }
}

impl Read for UpstreamIo {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: ReadBufCursor<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            UpstreamIo::Unix(s) => Pin::new(s).poll_read(cx, buf),
            UpstreamIo::Tcp(s) => Pin::new(s).poll_read(cx, buf),
        }
    }
}

impl Write for UpstreamIo {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            UpstreamIo::Unix(s) => Pin::new(s).poll_write(cx, buf),
            UpstreamIo::Tcp(s) => Pin::new(s).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            UpstreamIo::Unix(s) => Pin::new(s).poll_flush(cx),
            UpstreamIo::Tcp(s) => Pin::new(s).poll_flush(cx),
        }
    }

    /// A half-close: the engine sees end-of-input and keeps sending output.
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            UpstreamIo::Unix(s) => Pin::new(s).poll_shutdown(cx),
            UpstreamIo::Tcp(s) => Pin::new(s).poll_shutdown(cx),
        }
    }
}

/// Why connecting failed.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("cannot connect to {address}: {source}")]
    Refused { address: String, source: io::Error },
    #[error("connecting to {address} timed out after {after:?}")]
    TimedOut { address: String, after: Duration },
}

/// Connects to the engine, with a timeout.
#[derive(Clone, Debug)]
pub struct Connector {
    address: Address,
    timeout: Duration,
}

impl tower_service::Service<http::Uri> for Connector {
    type Response = UpstreamIo;
    type Error = ConnectError;
    type Future = Pin<Box<dyn Future<Output = Result<UpstreamIo, ConnectError>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), ConnectError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: http::Uri) -> Self::Future {
        let address = self.address.clone();
        let timeout = self.timeout;
        Box::pin(async move {
            let name = address.to_string();
            let connect = async {
                match &address {
                    Address::Unix(path) => UnixStream::connect(path).await.map(|s| UpstreamIo::Unix(TokioIo::new(s))),
                    Address::Tcp(host) => {
                        let stream = TcpStream::connect(host.as_str()).await?;
                        stream.set_nodelay(true)?;
                        Ok(UpstreamIo::Tcp(TokioIo::new(stream)))
                    }
                }
            };
            match tokio::time::timeout(timeout, connect).await {
                Ok(Ok(io)) => Ok(io),
                Ok(Err(source)) => Err(ConnectError::Refused { address: name, source }),
                Err(_) => Err(ConnectError::TimedOut { address: name, after: timeout }),
            }
        })
    }
}

/// The pooled client to the engine.
pub type UpstreamClient = Client<Connector, ProxyBody>;

/// Build the client for an engine address.
pub fn client(address: Address, connect_timeout: Duration) -> UpstreamClient {
    Client::builder(TokioExecutor::new())
        .pool_idle_timeout(Duration::from_secs(60))
        .pool_max_idle_per_host(64)
        .retry_canceled_requests(true)
        .set_host(false)
        .build(Connector { address, timeout: connect_timeout })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_engine_addresses() {
        assert_eq!(Address::parse("unix:///var/run/docker.sock"), Ok(Address::Unix("/var/run/docker.sock".into())));
        assert_eq!(Address::parse("tcp://127.0.0.1:2375"), Ok(Address::Tcp("127.0.0.1:2375".into())));
        assert!(Address::parse("unix://relative").is_err());
        assert!(Address::parse("tcp://nohost").is_err());
        assert!(Address::parse("http://x:1").is_err());
    }
}

//! The connection to the upstream Docker Engine: address, connector, and one upstream
//! connection per client connection.
//!
//! A client connection carries one request at a time, so it is paired with one upstream
//! connection of its own ([`Session`]), opened on its first request, kept alive while the client
//! keeps its connection, and closed with it. There is no shared pool to lock or to hand
//! connections between threads: a request and its upstream exchange stay on one task. An upgrade
//! (attach, exec) takes the upstream connection over; the next request, if any, opens another.
//! Connecting has its own timeout, so that an engine that is down answers `upstream_unreachable`
//! at once and one that hangs answers `upstream_timeout`; once the engine is back, the next
//! request simply connects again.

use super::body::ProxyBody;
use hyper::body::Incoming;
use hyper::client::conn::http1::{self, SendRequest};
use hyper::rt::{Read, ReadBufCursor, Write};
use hyper_util::rt::TokioIo;
use std::io;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Mutex;
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

/// Why the engine could not be asked.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    #[error(transparent)]
    Connect(#[from] ConnectError),
    #[error("the engine connection failed: {0}")]
    Http(#[from] hyper::Error),
}

/// Connects to the engine, with a timeout.
#[derive(Clone, Debug)]
pub struct Connector {
    address: Address,
    timeout: Duration,
}

impl Connector {
    pub fn new(address: Address, timeout: Duration) -> Connector {
        Connector { address, timeout }
    }

    /// Open a connection and start its HTTP/1.1 client on a task of its own.
    async fn open(&self) -> Result<SendRequest<ProxyBody>, UpstreamError> {
        let name = self.address.to_string();
        let connect = async {
            match &self.address {
                Address::Unix(path) => UnixStream::connect(path).await.map(|s| UpstreamIo::Unix(TokioIo::new(s))),
                Address::Tcp(host) => {
                    let stream = TcpStream::connect(host.as_str()).await?;
                    stream.set_nodelay(true)?;
                    Ok(UpstreamIo::Tcp(TokioIo::new(stream)))
                }
            }
        };
        let io = match tokio::time::timeout(self.timeout, connect).await {
            Ok(Ok(io)) => io,
            Ok(Err(source)) => return Err(ConnectError::Refused { address: name, source }.into()),
            Err(_) => return Err(ConnectError::TimedOut { address: name, after: self.timeout }.into()),
        };
        let (sender, connection) = http1::Builder::new().handshake(io).await?;
        tokio::spawn(async move {
            if let Err(e) = connection.with_upgrades().await {
                tracing::debug!(error = %e, "upstream connection ended with an error");
            }
        });
        Ok(sender)
    }
}

/// The upstream side of one client connection.
#[derive(Debug)]
pub struct Session {
    connector: Connector,
    /// The idle upstream connection, if one is open. A std Mutex, not a tokio one: it is only
    /// held to take the sender out or put it back, never across an await.
    idle: Mutex<Option<SendRequest<ProxyBody>>>,
}

impl Session {
    pub fn new(connector: Connector) -> Session {
        Session { connector, idle: Mutex::new(None) }
    }

    /// Send a request on this session's upstream connection, opening one when there is none or
    /// the one there was closed by the engine before the request could be sent.
    pub async fn send(&self, request: http::Request<ProxyBody>) -> Result<http::Response<Incoming>, UpstreamError> {
        let idle = self.idle.lock().ok().and_then(|mut slot| slot.take()).filter(|s| !s.is_closed());
        let mut sender = match idle {
            Some(sender) => sender,
            None => self.connector.open().await?,
        };
        let request = match ready(&mut sender).await {
            true => match sender.try_send_request(request).await {
                Ok(response) => return Ok(self.keep(sender, response)),
                Err(mut e) => match e.take_message() {
                    // not sent: the kept-alive connection was closed under us; use a new one
                    Some(request) => request,
                    None => return Err(e.into_error().into()),
                },
            },
            false => request,
        };
        let mut sender = self.connector.open().await?;
        let response = sender.send_request(request).await?;
        Ok(self.keep(sender, response))
    }

    fn keep(&self, sender: SendRequest<ProxyBody>, response: http::Response<Incoming>) -> http::Response<Incoming> {
        if response.status() != http::StatusCode::SWITCHING_PROTOCOLS {
            if let Ok(mut slot) = self.idle.lock() {
                *slot = Some(sender);
            }
        }
        response
    }
}

/// Wait until the connection can take a request; false when it has closed.
async fn ready(sender: &mut SendRequest<ProxyBody>) -> bool {
    sender.ready().await.is_ok()
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

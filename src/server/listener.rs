//! Listeners: where clients connect, and who may.
//!
//! A unix socket is created with its final mode (0660 by default) and owner before anyone can
//! connect to it: it is bound under a temporary name in the same directory, given its mode and
//! owner, then renamed into place. A stale socket (nothing answers on it) is replaced by that
//! rename; a live one (another instance) or a file that is not a socket is never touched. On
//! shutdown the socket is removed, but only if it is still the one this process created.

use nix::unistd::{Gid, Uid};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use tokio::net::{TcpListener, UnixListener};

/// Where to listen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListenAddress {
    Unix(PathBuf),
    Tcp(SocketAddr),
}

impl ListenAddress {
    /// Parse `unix:///path` or `tcp://ip:port` (`localhost` is 127.0.0.1).
    pub fn parse(url: &str) -> Result<ListenAddress, String> {
        if let Some(path) = url.strip_prefix("unix://") {
            if !path.starts_with('/') {
                return Err(format!("{url}: a unix socket path must be absolute (unix:///path)"));
            }
            return Ok(ListenAddress::Unix(PathBuf::from(path)));
        }
        if let Some(host) = url.strip_prefix("tcp://") {
            let host = host.trim_end_matches('/');
            if let Some(port) = host.strip_prefix("localhost:") {
                let port = port.parse::<u16>().map_err(|_| format!("{url}: bad port"))?;
                return Ok(ListenAddress::Tcp(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port)));
            }
            return host
                .parse::<SocketAddr>()
                .map(ListenAddress::Tcp)
                .map_err(|_| format!("{url}: expected tcp://IP:PORT"));
        }
        Err(format!("{url}: expected unix:///path or tcp://host:port"))
    }

    /// The `DOCKER_HOST` value that reaches this listener.
    pub fn docker_host(&self) -> String {
        match self {
            ListenAddress::Unix(path) => format!("unix://{}", path.display()),
            ListenAddress::Tcp(addr) => format!("tcp://{addr}"),
        }
    }
}

/// Mode and ownership of unix sockets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SocketOptions {
    pub mode: u32,
    pub owner: Option<Uid>,
    pub group: Option<Gid>,
}

/// Why a listener could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum ListenError {
    #[error("{0}: a file that is not a socket is in the way; it is left alone")]
    NotASocket(PathBuf),
    #[error("{0}: another process is serving this socket")]
    InUse(PathBuf),
    #[error("{path}: {source}")]
    Io { path: String, source: std::io::Error },
}

/// A bound listener.
#[derive(Debug)]
pub enum Listener {
    Unix { listener: UnixListener, socket: OwnedSocket },
    Tcp { listener: TcpListener, address: SocketAddr },
}

/// A socket file this process created, removed on drop if it is still ours.
#[derive(Debug)]
pub struct OwnedSocket {
    pub path: PathBuf,
    device: u64,
    inode: u64,
}

impl Drop for OwnedSocket {
    fn drop(&mut self) {
        let ours = std::fs::symlink_metadata(&self.path)
            .is_ok_and(|m| m.file_type().is_socket() && m.dev() == self.device && m.ino() == self.inode);
        if ours {
            if let Err(e) = std::fs::remove_file(&self.path) {
                tracing::warn!(path = %self.path.display(), error = %e, "cannot remove the socket");
            }
        }
    }
}

/// Open a listener.
pub async fn bind(address: &ListenAddress, options: &SocketOptions) -> Result<Listener, ListenError> {
    match address {
        ListenAddress::Unix(path) => bind_unix(path, options),
        ListenAddress::Tcp(addr) => {
            let listener = TcpListener::bind(addr)
                .await
                .map_err(|source| ListenError::Io { path: format!("tcp://{addr}"), source })?;
            let address = listener.local_addr().unwrap_or(*addr);
            if !address.ip().is_loopback() {
                tracing::warn!(listener = %address, "plain TCP on a non-loopback address: anyone who can reach it controls the Docker API");
            }
            Ok(Listener::Tcp { listener, address })
        }
    }
}

fn bind_unix(path: &Path, options: &SocketOptions) -> Result<Listener, ListenError> {
    let io = |path: &Path, source| ListenError::Io { path: path.display().to_string(), source };
    match std::fs::symlink_metadata(path) {
        Ok(meta) if !meta.file_type().is_socket() => return Err(ListenError::NotASocket(path.to_owned())),
        Ok(_) if std::os::unix::net::UnixStream::connect(path).is_ok() => {
            return Err(ListenError::InUse(path.to_owned()))
        }
        Ok(_) => tracing::info!(path = %path.display(), "replacing a stale socket"),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io(path, e)),
    }
    let parent = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("/"));
    if !parent.exists() {
        std::fs::create_dir_all(parent).map_err(|e| io(parent, e))?;
        let _ = std::fs::set_permissions(parent, std::fs::Permissions::from_mode(0o755));
    }
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let temporary = parent.join(format!(".{name}.{}.tmp", std::process::id()));
    if std::fs::symlink_metadata(&temporary).is_ok_and(|m| m.file_type().is_socket()) {
        std::fs::remove_file(&temporary).map_err(|e| io(&temporary, e))?;
    }
    let std_listener = std::os::unix::net::UnixListener::bind(&temporary).map_err(|e| io(&temporary, e))?;
    let prepared = (|| {
        std::fs::set_permissions(&temporary, std::fs::Permissions::from_mode(options.mode))?;
        if options.owner.is_some() || options.group.is_some() {
            nix::unistd::chown(&temporary, options.owner, options.group).map_err(std::io::Error::from)?;
        }
        std::fs::rename(&temporary, path)
    })();
    if let Err(e) = prepared {
        let _ = std::fs::remove_file(&temporary);
        return Err(io(path, e));
    }
    let meta = std::fs::symlink_metadata(path).map_err(|e| io(path, e))?;
    let socket = OwnedSocket { path: path.to_owned(), device: meta.dev(), inode: meta.ino() };
    std_listener.set_nonblocking(true).map_err(|e| io(path, e))?;
    let listener = UnixListener::from_std(std_listener).map_err(|e| io(path, e))?;
    Ok(Listener::Unix { listener, socket })
}

#[cfg(test)]
mod tests {
    use super::*;

    const OPTIONS: SocketOptions = SocketOptions { mode: 0o660, owner: None, group: None };

    #[test]
    fn parses_listen_urls() {
        assert_eq!(ListenAddress::parse("unix:///run/s.sock"), Ok(ListenAddress::Unix("/run/s.sock".into())));
        assert_eq!(
            ListenAddress::parse("tcp://127.0.0.1:2375"),
            Ok(ListenAddress::Tcp("127.0.0.1:2375".parse().unwrap()))
        );
        assert_eq!(ListenAddress::parse("tcp://localhost:1"), Ok(ListenAddress::Tcp("127.0.0.1:1".parse().unwrap())));
        assert!(ListenAddress::parse("unix://rel").is_err());
        assert!(ListenAddress::parse("tcp://example.com:1").is_err());
    }

    #[tokio::test]
    async fn creates_the_socket_with_its_mode_and_removes_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/sg.sock");
        let listener = bind(&ListenAddress::Unix(path.clone()), &OPTIONS).await.unwrap();
        let meta = std::fs::metadata(&path).unwrap();
        assert!(meta.file_type().is_socket());
        assert_eq!(meta.permissions().mode() & 0o777, 0o660);
        // a second instance must not steal a live socket
        assert!(matches!(bind(&ListenAddress::Unix(path.clone()), &OPTIONS).await, Err(ListenError::InUse(_))));
        drop(listener);
        assert!(!path.exists());
    }

    #[tokio::test]
    async fn replaces_a_stale_socket_but_never_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sg.sock");
        drop(std::os::unix::net::UnixListener::bind(&path).unwrap());
        assert!(path.exists(), "a dropped std listener leaves its file behind");
        let listener = bind(&ListenAddress::Unix(path.clone()), &OPTIONS).await.unwrap();
        drop(listener);

        std::fs::write(&path, b"precious").unwrap();
        assert!(matches!(bind(&ListenAddress::Unix(path.clone()), &OPTIONS).await, Err(ListenError::NotASocket(_))));
        assert_eq!(std::fs::read(&path).unwrap(), b"precious");
    }
}

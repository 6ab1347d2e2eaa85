//! Who is calling: the client part of the input document.
//!
//! Read once per connection, right after accept. A unix-socket peer is identified by the kernel
//! (`SO_PEERCRED`: uid, gid, pid) and, best effort, by the executable behind the pid; a TCP peer
//! by its remote address. The kernel's answer cannot be forged by the client, which is why unix
//! sockets are the recommended transport.

use serde_json::{json, Value};
use std::net::IpAddr;
use std::os::fd::AsFd;

/// The transport a client connected over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Unix,
    Tcp,
}

impl Transport {
    pub const fn as_str(self) -> &'static str {
        match self {
            Transport::Unix => "unix",
            Transport::Tcp => "tcp",
        }
    }
}

/// Credentials of a unix-socket peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnixPeer {
    pub uid: u32,
    pub gid: u32,
    pub pid: Option<i32>,
    pub exe: Option<String>,
}

/// The caller of one connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Client {
    pub listener: String,
    pub transport: Transport,
    pub unix: Option<UnixPeer>,
    pub ip: Option<IpAddr>,
    /// `input.client`, built once per connection rather than once per request.
    json: Value,
    /// The same as text: the caller's part of the decision cache key.
    key: String,
}

impl Client {
    pub fn new(listener: &str, transport: Transport, unix: Option<UnixPeer>, ip: Option<IpAddr>) -> Client {
        let json = json!({
            "listener": listener,
            "transport": transport.as_str(),
            "unix": unix.as_ref().map(|u| json!({
                "uid": u.uid, "gid": u.gid, "pid": u.pid, "exe": u.exe,
            })),
            "ip": ip.map(|ip| ip.to_string()),
            "tls": null,
            "container": null,
        });
        let key = json.to_string();
        Client { listener: listener.to_owned(), transport, unix, ip, json, key }
    }

    /// Identify the peer of an accepted unix-socket connection.
    pub fn from_unix(listener: &str, stream: &impl AsFd) -> Client {
        let unix = nix::sys::socket::getsockopt(stream, nix::sys::socket::sockopt::PeerCredentials).ok().map(|cred| {
            let pid = (cred.pid() > 0).then_some(cred.pid());
            UnixPeer { uid: cred.uid(), gid: cred.gid(), pid, exe: pid.and_then(executable) }
        });
        Client::new(listener, Transport::Unix, unix, None)
    }

    /// Identify the peer of an accepted TCP connection.
    pub fn from_tcp(listener: &str, ip: IpAddr) -> Client {
        Client::new(listener, Transport::Tcp, None, Some(ip))
    }

    /// A unix client with the given ids, for tests and request cases.
    pub fn test_unix(uid: u32, gid: u32) -> Client {
        Client::new("main", Transport::Unix, Some(UnixPeer { uid, gid, pid: None, exe: None }), None)
    }

    /// `input.client`.
    pub fn to_json(&self) -> Value {
        self.json.clone()
    }

    /// `input.client`, borrowed.
    pub fn json(&self) -> &Value {
        &self.json
    }

    /// The caller as text, for the decision cache key.
    pub fn key(&self) -> &str {
        &self.key
    }
}

/// The executable of a process, when this process may read it.
fn executable(pid: i32) -> Option<String> {
    std::fs::read_link(format!("/proc/{pid}/exe")).ok().map(|p| p.to_string_lossy().into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_socket_pair_peer_is_this_process() {
        let (a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
        let client = Client::from_unix("main", &a);
        let unix = client.unix.unwrap();
        assert_eq!(unix.uid, nix::unistd::getuid().as_raw());
        assert_eq!(unix.pid, Some(i32::try_from(std::process::id()).unwrap()));
        assert!(unix.exe.is_some());
    }

    #[test]
    fn tcp_clients_carry_their_address() {
        let c = Client::from_tcp("admin", "127.0.0.1".parse().unwrap());
        let v = c.to_json();
        assert_eq!(v["transport"], "tcp");
        assert_eq!(v["ip"], "127.0.0.1");
        assert_eq!(v["unix"], Value::Null);
    }
}

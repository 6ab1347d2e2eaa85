//! Test support: a stand-in Docker engine on a unix socket, the sockguard binary as a child
//! process, and a raw HTTP/1.1 client that sends exactly the bytes it is given.
//!
//! The stand-in engine is for the failure and limit cases a real engine cannot be made to
//! produce on demand (slow answers, oversized responses, an engine that goes away). Behaviour
//! with real clients against a real engine is tested by `tests/e2e/`.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream as StdUnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::UnixListener;

/// Counts of what the stand-in engine received.
#[derive(Default, Debug)]
pub struct Seen {
    pub requests: AtomicUsize,
    pub creates: AtomicUsize,
}

/// A stand-in engine serving on `path` until the returned task is aborted.
pub fn start_engine(path: &Path) -> (tokio::task::JoinHandle<()>, Arc<Seen>) {
    let _ = std::fs::remove_file(path);
    let listener = UnixListener::bind(path).unwrap();
    let seen = Arc::new(Seen::default());
    let counts = seen.clone();
    let task = tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else { return };
            let counts = counts.clone();
            tokio::spawn(async move {
                let service = service_fn(move |req| answer(req, counts.clone()));
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .with_upgrades()
                    .await;
            });
        }
    });
    (task, seen)
}

async fn answer(req: Request<Incoming>, seen: Arc<Seen>) -> Result<Response<Full<Bytes>>, hyper::Error> {
    seen.requests.fetch_add(1, Ordering::SeqCst);
    let path = req.uri().path().to_owned();
    let body = req.into_body().collect().await?.to_bytes();
    let json = |text: String| {
        Response::builder()
            .header("content-type", "application/json")
            .header("api-version", "1.41")
            .header("ostype", "linux")
            .header("docker-experimental", "false")
            .body(Full::new(Bytes::from(text)))
            .unwrap()
    };
    Ok(match path.trim_start_matches("/v1.41") {
        "/_ping" => json("OK".into()),
        "/containers/create" => {
            seen.creates.fetch_add(1, Ordering::SeqCst);
            json(format!(r#"{{"Id":"c0ffee","Warnings":[],"ReceivedBytes":{}}}"#, body.len()))
        }
        "/containers/web/json" => {
            json(r#"{"Id":"c0ffee","Config":{"Env":["SECRET_TOKEN=hunter2"],"Image":"busybox"}}"#.into())
        }
        "/containers/huge/json" => {
            json(format!(r#"{{"Id":"h","Config":{{"Env":[],"Labels":{{"pad":"{}"}}}}}}"#, "x".repeat(8192)))
        }
        "/info" => {
            tokio::time::sleep(Duration::from_secs(5)).await;
            json("{}".into())
        }
        "/containers/web/wait" => {
            tokio::time::sleep(Duration::from_millis(1500)).await;
            json(r#"{"StatusCode":0}"#.into())
        }
        _ => Response::builder().status(404).body(Full::new(Bytes::from(r#"{"message":"not found"}"#))).unwrap(),
    })
}

/// The sockguard binary, running `serve` as a child process.
pub struct Sockguard {
    pub child: Child,
    pub socket: PathBuf,
    pub audit: PathBuf,
}

impl Sockguard {
    /// Start `sockguard serve --listen unix://<socket> --audit-log <audit> ARGS...` and wait for
    /// the socket to answer.
    pub fn start(dir: &Path, args: &[&str]) -> Sockguard {
        Sockguard::start_with_env(dir, args, &[])
    }

    pub fn start_with_env(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Sockguard {
        let socket = dir.join("sg.sock");
        let audit = dir.join("audit.log");
        let mut command = Command::new(env!("CARGO_BIN_EXE_sockguard"));
        command
            .arg("serve")
            .arg("--listen")
            .arg(format!("unix://{}", socket.display()))
            .arg("--audit-log")
            .arg(&audit)
            .args(args)
            .arg("--log-level")
            .arg("warn")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit());
        for (k, v) in env {
            command.env(k, v);
        }
        let child = command.spawn().unwrap();
        let sg = Sockguard { child, socket, audit };
        sg.wait_ready();
        sg
    }

    fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if StdUnixStream::connect(&self.socket).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("sockguard did not start listening on {}", self.socket.display());
    }

    /// Send SIGTERM and wait for the exit status.
    pub fn terminate(mut self) -> std::process::ExitStatus {
        let pid = nix::unistd::Pid::from_raw(i32::try_from(self.child.id()).unwrap());
        nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
        let status = self.child.wait().unwrap();
        std::mem::forget(self);
        status
    }

    /// The audit lines written so far, each checked against the published JSON Schema. Lines
    /// are written in batches every 10 ms: wait until the file has stopped growing.
    pub fn audit_lines(&self) -> Vec<serde_json::Value> {
        let read = || std::fs::read_to_string(&self.audit).unwrap_or_default();
        let deadline = Instant::now() + Duration::from_secs(3);
        let mut text = read();
        loop {
            std::thread::sleep(Duration::from_millis(50));
            let again = read();
            let settled = again == text && !again.is_empty();
            text = again;
            if settled || Instant::now() > deadline {
                break;
            }
        }
        let lines: Vec<serde_json::Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        for line in &lines {
            check_audit_schema(line);
        }
        lines
    }
}

impl Drop for Sockguard {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A parsed HTTP response.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&self.body)))
    }

    /// The `message` of a Docker-shaped error body.
    pub fn message(&self) -> String {
        self.json()["message"].as_str().unwrap_or_default().to_owned()
    }
}

/// Send `head` (request line and headers, without the final blank line) and `body` as they
/// are, with `Connection: close`, and read the whole response.
pub fn raw(socket: &Path, head: &str, body: &[u8]) -> Reply {
    let mut stream = StdUnixStream::connect(socket).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut request = head.replace('\n', "\r\n");
    if !request.ends_with("\r\n") {
        request.push_str("\r\n");
    }
    request.push_str("Host: docker\r\nConnection: close\r\n\r\n");
    // sockguard may answer (413) and close before the whole body is sent: a broken pipe while
    // writing is expected then, and the answer is still there to read.
    let _ = stream.write_all(request.as_bytes()).and_then(|()| stream.write_all(body));
    let mut bytes = Vec::new();
    let _ = stream.read_to_end(&mut bytes);
    parse_reply(&bytes)
}

/// A request with a fixed-length body.
pub fn send(socket: &Path, method: &str, target: &str, body: &[u8]) -> Reply {
    let head = if body.is_empty() {
        format!("{method} {target} HTTP/1.1")
    } else {
        format!("{method} {target} HTTP/1.1\nContent-Type: application/json\nContent-Length: {}", body.len())
    };
    raw(socket, &head, body)
}

/// Encode `body` in chunks of `size` bytes.
pub fn chunked(body: &[u8], size: usize) -> Vec<u8> {
    let mut out = Vec::new();
    for chunk in body.chunks(size) {
        out.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
        out.extend_from_slice(chunk);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"0\r\n\r\n");
    out
}

fn parse_reply(bytes: &[u8]) -> Reply {
    let split = bytes
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no HTTP response head in {:?}", String::from_utf8_lossy(bytes)));
    let head = String::from_utf8_lossy(&bytes[..split]).into_owned();
    let mut lines = head.split("\r\n");
    let status = lines.next().unwrap().split(' ').nth(1).unwrap().parse().unwrap();
    let headers: Vec<(String, String)> =
        lines.filter_map(|l| l.split_once(':')).map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned())).collect();
    let mut body = bytes[split + 4..].to_vec();
    let is_chunked = headers.iter().any(|(k, v)| k.eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked"));
    if is_chunked {
        body = dechunk(&body);
    }
    Reply { status, headers, body }
}

fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(end) = data.windows(2).position(|w| w == b"\r\n") {
        let size = usize::from_str_radix(String::from_utf8_lossy(&data[..end]).trim(), 16).unwrap_or(0);
        if size == 0 {
            break;
        }
        out.extend_from_slice(&data[end + 2..end + 2 + size]);
        data = &data[end + 4 + size..];
    }
    out
}

/// Check one audit event against `schemas/audit-event.schema.json` (with regorus'
/// `json.match_schema`, the JSON Schema validator the policies themselves can use).
pub fn check_audit_schema(event: &serde_json::Value) {
    let schema_path = Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas/audit-event.schema.json");
    let schema: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(schema_path).unwrap()).unwrap();
    let mut engine = regorus::Engine::new();
    engine
        .add_policy("schema.rego".into(), "package s\nresult := json.match_schema(input.event, input.schema)\n".into())
        .unwrap();
    engine.set_input(regorus::Value::from(serde_json::json!({"event": event, "schema": schema})));
    let result = serde_json::to_value(engine.eval_rule("data.s.result".into()).unwrap()).unwrap();
    assert_eq!(result[0], true, "audit event does not match the schema: {result}\n{event}");
}

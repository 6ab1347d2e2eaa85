//! Benchmark tools for `scripts/bench.sh` (not part of sockguard itself).
//!
//! - `mock-engine --socket PATH`: a fast stand-in Docker engine on a unix socket, to measure the
//!   proxy's own cost: `/_ping`, `/version`, a ~20 KB `containers/json`, a container inspect with
//!   an environment (for redaction), `containers/create`, a log stream of `?bytes=N`, an event
//!   stream that stays open, and an `exec start` upgrade that echoes what it receives.
//! - `rtt --socket PATH --rounds N`: upgrade an `exec start` and time N round trips of 64 bytes.
//! - `stream --socket PATH --bytes N`: read a log stream of N bytes and report MB/s.
//! - `streams --socket PATH --count N`: hold N event streams open until stdin closes.
//! - `policy --bundle DIR|--preset NAME --iterations N`: time input build + evaluation alone.
//! - `load --socket PATH --path P [--method M --body JSON] --concurrency N --seconds S`: a small
//!   keep-alive load generator (the CI smoke run uses it; the full run uses oha), output shaped
//!   like the part of oha's JSON that `scripts/bench.py` reads.
//!
//! Every tool prints one JSON object on stdout.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::{Frame, Incoming};
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use std::convert::Infallible;
use std::pin::Pin;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{UnixListener, UnixStream};

/// The mock engine's response bodies.
enum Body {
    Full(Full<Bytes>),
    /// `left` bytes in frames of `chunk`.
    Chunks {
        left: u64,
        chunk: Bytes,
    },
    /// A stream that stays open and sends nothing (events).
    Pending,
}

impl hyper::body::Body for Body {
    type Data = Bytes;
    type Error = Infallible;
    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        match self.get_mut() {
            Body::Full(full) => Pin::new(full).poll_frame(cx),
            Body::Chunks { left, chunk } => {
                if *left == 0 {
                    return std::task::Poll::Ready(None);
                }
                let n = (*left).min(chunk.len() as u64) as usize;
                *left -= n as u64;
                std::task::Poll::Ready(Some(Ok(Frame::data(chunk.slice(..n)))))
            }
            Body::Pending => std::task::Poll::Pending,
        }
    }

    /// Like dockerd (Go's net/http): a small response that is written whole goes out with a
    /// Content-Length; anything larger, and every stream, is chunked.
    fn size_hint(&self) -> hyper::body::SizeHint {
        match self {
            Body::Full(full) => match full.size_hint().exact() {
                Some(n) if n <= 2048 => hyper::body::SizeHint::with_exact(n),
                _ => hyper::body::SizeHint::default(),
            },
            _ => hyper::body::SizeHint::default(),
        }
    }
}

fn full(bytes: &'static [u8]) -> Body {
    Body::Full(Full::new(Bytes::from_static(bytes)))
}

fn arg(args: &[String], name: &str) -> Option<String> {
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).cloned()
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    let command = args.get(1).map(String::as_str).unwrap_or("");
    let socket = arg(&args, "--socket").unwrap_or_default();
    match command {
        "mock-engine" => runtime.block_on(mock_engine(&socket)),
        "rtt" => runtime.block_on(rtt(
            &socket,
            arg(&args, "--rounds").and_then(|n| n.parse().ok()).unwrap_or(1000),
            arg(&args, "--exec-create"),
        )),
        "stream" => {
            runtime.block_on(stream(&socket, arg(&args, "--bytes").and_then(|n| n.parse().ok()).unwrap_or(1 << 30)))
        }
        "streams" => {
            runtime.block_on(streams(&socket, arg(&args, "--count").and_then(|n| n.parse().ok()).unwrap_or(1000)))
        }
        "policy" => policy(&args),
        "load" => runtime.block_on(load(
            &socket,
            &arg(&args, "--method").unwrap_or_else(|| "GET".into()),
            &arg(&args, "--path").unwrap_or_else(|| "/_ping".into()),
            arg(&args, "--body"),
            arg(&args, "--concurrency").and_then(|n| n.parse().ok()).unwrap_or(10),
            Duration::from_secs_f64(arg(&args, "--seconds").and_then(|n| n.parse().ok()).unwrap_or(1.0)),
        )),
        _ => {
            eprintln!("usage: bench mock-engine|rtt|stream|streams|policy --socket PATH ...");
            std::process::exit(2);
        }
    }
}

// ---- the stand-in engine ----

fn json(text: &'static str) -> Response<Body> {
    Response::builder()
        .header("content-type", "application/json")
        .header("api-version", "1.41")
        .header("ostype", "linux")
        .header("docker-experimental", "false")
        .header("server", "Docker/20.10.24 (linux)")
        .body(full(text.as_bytes()))
        .expect("response")
}

fn containers_json() -> &'static str {
    static LIST: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    LIST.get_or_init(|| {
        let items: Vec<String> = (0..30)
            .map(|i| {
                format!(
                    r#"{{"Id":"{i:064x}","Names":["/service-{i}"],"Image":"registry.example.com/team/service-{i}:1.{i}","ImageID":"sha256:{i:064x}","Command":"/entrypoint.sh serve --port 80{i:02}","Created":1700000000,"Ports":[{{"IP":"0.0.0.0","PrivatePort":80,"PublicPort":80{i:02},"Type":"tcp"}}],"Labels":{{"traefik.enable":"true","traefik.http.routers.s{i}.rule":"Host(`s{i}.example.com`)","com.docker.compose.project":"stack","com.docker.compose.service":"service-{i}","com.example.team":"platform"}},"State":"running","Status":"Up 3 days","HostConfig":{{"NetworkMode":"stack_default"}},"NetworkSettings":{{"Networks":{{"stack_default":{{"IPAddress":"172.18.0.{i}","Gateway":"172.18.0.1","MacAddress":"02:42:ac:12:00:{i:02x}"}}}}}},"Mounts":[{{"Type":"volume","Name":"data-{i}","Source":"/var/lib/docker/volumes/data-{i}/_data","Destination":"/data","Driver":"local","Mode":"z","RW":true}}]}}"#
                )
            })
            .collect();
        format!("[{}]", items.join(","))
    })
}

const INSPECT: &str = r#"{"Id":"c0ffee","Name":"/web","Config":{"Image":"busybox","Env":["SECRET_TOKEN=hunter2","PATH=/bin"],"Labels":{"a":"b"}},"HostConfig":{"Privileged":false},"State":{"Running":true}}"#;

async fn answer(mut req: Request<Incoming>) -> Result<Response<Body>, Infallible> {
    let path = req.uri().path().trim_start_matches("/v1.41").to_owned();
    let query = req.uri().query().unwrap_or("").to_owned();
    Ok(match (req.method().as_str(), path.as_str()) {
        (_, "/_ping") => json("OK"),
        ("GET", "/version") => {
            json(r#"{"Version":"20.10.24","ApiVersion":"1.41","MinAPIVersion":"1.12","Os":"linux","Arch":"amd64"}"#)
        }
        ("GET", "/containers/json") => json(containers_json()),
        ("POST", "/containers/create") => {
            let _ = req.body_mut().collect().await;
            json(r#"{"Id":"4f3a9b2c1d0e","Warnings":[]}"#)
        }
        // headers now, then nothing: a stream that stays open
        ("GET", "/events") => {
            Response::builder().header("content-type", "application/json").body(Body::Pending).expect("events")
        }
        ("POST", p) if p.starts_with("/exec/") && p.ends_with("/start") => {
            let on_upgrade = hyper::upgrade::on(&mut req);
            tokio::spawn(async move {
                if let Ok(upgraded) = on_upgrade.await {
                    let mut io = TokioIo::new(upgraded);
                    let mut buf = vec![0u8; 64 << 10];
                    loop {
                        match io.read(&mut buf).await {
                            Ok(0) | Err(_) => break,
                            Ok(n) => {
                                if io.write_all(&buf[..n]).await.is_err() {
                                    break;
                                }
                            }
                        }
                    }
                    let _ = io.shutdown().await;
                }
            });
            Response::builder()
                .status(StatusCode::SWITCHING_PROTOCOLS)
                .header("content-type", "application/vnd.docker.raw-stream")
                .header("connection", "Upgrade")
                .header("upgrade", "tcp")
                .body(full(b""))
                .expect("upgrade")
        }
        ("GET", p) if p.starts_with("/containers/") && p.ends_with("/logs") => {
            let bytes = query
                .split('&')
                .find_map(|kv| kv.strip_prefix("bytes="))
                .and_then(|n| n.parse().ok())
                .unwrap_or(1u64 << 30);
            Response::builder()
                .header("content-type", "application/vnd.docker.raw-stream")
                .body(Body::Chunks { left: bytes, chunk: Bytes::from(vec![b'x'; 64 << 10]) })
                .expect("logs")
        }
        ("GET", p) if p.starts_with("/containers/") && p.ends_with("/json") => json(INSPECT),
        _ => Response::builder().status(404).body(full(br#"{"message":"not found"}"#)).expect("404"),
    })
}

async fn mock_engine(socket: &str) {
    let _ = std::fs::remove_file(socket);
    let listener = UnixListener::bind(socket).expect("bind");
    println!("{{\"listening\":\"{socket}\"}}");
    loop {
        let Ok((stream, _)) = listener.accept().await else { continue };
        tokio::spawn(async move {
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service_fn(answer))
                .with_upgrades()
                .await;
        });
    }
}

// ---- clients ----

/// Read a response head from a raw stream; returns the status and any bytes after the head.
async fn read_head(stream: &mut UnixStream) -> (u16, Vec<u8>) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = stream.read(&mut chunk).await.expect("read");
        assert!(n > 0, "connection closed before the response head");
        buf.extend_from_slice(&chunk[..n]);
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).into_owned();
            let status = head.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
            return (status, buf[end + 4..].to_vec());
        }
    }
}

/// Create an exec of `cat` in a real container; returns its id.
async fn exec_create(socket: &str, container: &str) -> String {
    let mut stream = UnixStream::connect(socket).await.expect("connect");
    let body = br#"{"AttachStdin":true,"AttachStdout":true,"AttachStderr":false,"Tty":false,"Cmd":["cat"]}"#;
    let request = format!(
        "POST /v1.41/containers/{container}/exec HTTP/1.1\r\nHost: docker\r\nContent-Type: application/json\r\nConnection: close\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.expect("write");
    stream.write_all(body).await.expect("write");
    let (status, mut rest) = read_head(&mut stream).await;
    assert_eq!(status, 201, "exec create answered {status}");
    stream.read_to_end(&mut rest).await.expect("read");
    let text = String::from_utf8_lossy(&rest);
    let start = text.find("\"Id\":\"").expect("exec id") + 6;
    text[start..start + 64].to_owned()
}

async fn rtt(socket: &str, rounds: usize, exec_in: Option<String>) {
    let exec_id = match &exec_in {
        Some(container) => exec_create(socket, container).await,
        None => "bench".to_owned(),
    };
    // a real engine frames a non-TTY stream: an 8-byte header before each chunk of output
    let multiplexed = exec_in.is_some();
    let mut stream = UnixStream::connect(socket).await.expect("connect");
    let body = br#"{"Detach":false,"Tty":false}"#;
    let request = format!(
        "POST /v1.41/exec/{exec_id}/start HTTP/1.1\r\nHost: docker\r\nContent-Type: application/json\r\nConnection: Upgrade\r\nUpgrade: tcp\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.expect("write");
    stream.write_all(body).await.expect("write");
    let (status, rest) = read_head(&mut stream).await;
    assert_eq!(status, 101, "expected 101, got {status}");
    assert!(rest.is_empty());
    let message = [7u8; 64];
    let mut back = [0u8; 64];
    let mut samples = Vec::with_capacity(rounds);
    let started = Instant::now();
    for _ in 0..rounds {
        let t = Instant::now();
        stream.write_all(&message).await.expect("write");
        if multiplexed {
            let mut got = 0;
            while got < message.len() {
                let mut header = [0u8; 8];
                stream.read_exact(&mut header).await.expect("frame header");
                let size = u32::from_be_bytes([header[4], header[5], header[6], header[7]]) as usize;
                let mut payload = vec![0u8; size];
                stream.read_exact(&mut payload).await.expect("frame");
                got += size;
            }
        } else {
            stream.read_exact(&mut back).await.expect("read");
        }
        samples.push(t.elapsed());
    }
    let total = started.elapsed();
    samples.sort();
    println!(
        "{{\"rounds\":{rounds},\"total_us\":{},\"mean_us\":{:.1},\"p50_us\":{:.1},\"p99_us\":{:.1}}}",
        total.as_micros(),
        total.as_secs_f64() * 1e6 / rounds as f64,
        quantile(&samples, 0.50),
        quantile(&samples, 0.99)
    );
}

async fn stream(socket: &str, bytes: u64) {
    let mut stream = UnixStream::connect(socket).await.expect("connect");
    let request = format!("GET /v1.41/containers/bench/logs?follow=1&stdout=1&bytes={bytes} HTTP/1.1\r\nHost: docker\r\nConnection: close\r\n\r\n");
    let started = Instant::now();
    stream.write_all(request.as_bytes()).await.expect("write");
    let (status, rest) = read_head(&mut stream).await;
    assert_eq!(status, 200);
    let mut total = rest.len() as u64;
    let mut buf = vec![0u8; 256 << 10];
    loop {
        let n = stream.read(&mut buf).await.expect("read");
        if n == 0 {
            break;
        }
        total += n as u64;
    }
    let secs = started.elapsed().as_secs_f64();
    // chunked framing adds a few bytes per 64 KiB frame; count payload-sized throughput
    assert!(total >= bytes, "short stream: {total} < {bytes}");
    println!("{{\"bytes\":{bytes},\"seconds\":{secs:.4},\"mb_per_s\":{:.1}}}", bytes as f64 / secs / 1e6);
}

async fn streams(socket: &str, count: usize) {
    let mut open = Vec::with_capacity(count);
    for _ in 0..count {
        let mut stream = UnixStream::connect(socket).await.expect("connect");
        stream.write_all(b"GET /v1.41/events HTTP/1.1\r\nHost: docker\r\n\r\n").await.expect("write");
        let (status, _) = read_head(&mut stream).await;
        assert_eq!(status, 200);
        open.push(stream);
    }
    println!("{{\"open\":{}}}", open.len());
    // hold them until stdin closes
    let mut line = String::new();
    let _ = std::io::stdin().read_line(&mut line);
    drop(open);
}

async fn load(socket: &str, method: &str, path: &str, body: Option<String>, concurrency: usize, duration: Duration) {
    let deadline = Instant::now() + duration;
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (socket, method, path, body) = (socket.to_owned(), method.to_owned(), path.to_owned(), body.clone());
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut statuses: std::collections::BTreeMap<u16, u64> = Default::default();
            // a refused or failed connection counts as status 0, and is retried
            let mut sender = loop {
                let connected = match UnixStream::connect(&socket).await {
                    Ok(stream) => {
                        hyper::client::conn::http1::handshake::<_, Full<Bytes>>(TokioIo::new(stream)).await.ok()
                    }
                    Err(_) => None,
                };
                match connected {
                    Some((sender, connection)) => {
                        tokio::spawn(connection);
                        break sender;
                    }
                    None if Instant::now() < deadline => {
                        *statuses.entry(0).or_default() += 1;
                        tokio::time::sleep(Duration::from_millis(10)).await;
                    }
                    None => return (latencies, statuses),
                }
            };
            while Instant::now() < deadline {
                let mut request =
                    Request::builder().method(method.as_str()).uri(path.as_str()).header("host", "docker");
                if body.is_some() {
                    request = request.header("content-type", "application/json");
                }
                let request = request.body(Full::new(Bytes::from(body.clone().unwrap_or_default()))).expect("request");
                let t = Instant::now();
                let Ok(response) = sender.send_request(request).await else { break };
                let status = response.status().as_u16();
                let _ = response.into_body().collect().await;
                latencies.push(t.elapsed());
                *statuses.entry(status).or_default() += 1;
            }
            (latencies, statuses)
        }));
    }
    let mut latencies = Vec::new();
    let mut statuses: std::collections::BTreeMap<u16, u64> = Default::default();
    for task in tasks {
        let (l, s) = task.await.expect("task");
        latencies.extend(l);
        for (k, v) in s {
            *statuses.entry(k).or_default() += v;
        }
    }
    latencies.sort();
    let codes: Vec<String> = statuses.iter().map(|(k, v)| format!("\"{k}\":{v}")).collect();
    println!(
        "{{\"summary\":{{\"requestsPerSec\":{:.1}}},\"latencyPercentiles\":{{\"p50\":{:.9},\"p99\":{:.9}}},\"statusCodeDistribution\":{{{}}}}}",
        latencies.len() as f64 / duration.as_secs_f64(),
        quantile(&latencies, 0.5) / 1e6,
        quantile(&latencies, 0.99) / 1e6,
        codes.join(",")
    );
}

fn quantile(sorted: &[Duration], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let index = ((sorted.len() as f64 - 1.0) * q).round() as usize;
    sorted[index].as_secs_f64() * 1e6
}

// ---- policy evaluation alone ----

fn policy(args: &[String]) {
    use sockguard::identity::Client;
    use sockguard::input::{build, classify, BodyInput};
    use sockguard::policy::{CompileOptions, Policy};

    let bundle = match (arg(args, "--bundle"), arg(args, "--preset")) {
        (Some(dir), _) => sockguard::policy::Bundle::from_dir(std::path::Path::new(&dir)).expect("bundle"),
        (None, Some(name)) => sockguard::policy::embedded::preset(&name).expect("no such preset").expect("preset"),
        (None, None) => sockguard::policy::Bundle::embedded_default().expect("default"),
    };
    let iterations: usize = arg(args, "--iterations").and_then(|n| n.parse().ok()).unwrap_or(20_000);
    let policy = Policy::compile(&bundle, CompileOptions::default()).expect("compile");
    let client = Client::test_unix(1000, 1000);
    let headers = http::HeaderMap::new();
    let create = br#"{"Image":"busybox","HostConfig":{"Privileged":false,"Binds":["/builds/x:/x"]}}"#;
    let requests: [(&str, &str, Option<&[u8]>); 3] = [
        ("GET", "/v1.41/containers/json", None),
        ("GET", "/v1.41/containers/web/json", None),
        ("POST", "/v1.41/containers/create", Some(create)),
    ];
    let mut out = Vec::new();
    // the input build alone, and the conversion into the evaluator's value type
    for (method, path, body) in requests {
        let mut build_samples = Vec::with_capacity(iterations);
        let mut convert_samples = Vec::with_capacity(iterations);
        for _ in 0..iterations {
            let t = Instant::now();
            let classified = classify(method, path, None).expect("path");
            let body = body.map_or(BodyInput::Absent, BodyInput::Read);
            let input = build(&classified, &headers, body, &client, "bench").expect("input");
            build_samples.push(t.elapsed());
            let t = Instant::now();
            std::hint::black_box(regorus::Value::from(input.value.clone()));
            convert_samples.push(t.elapsed());
        }
        build_samples.sort();
        convert_samples.sort();
        for (label, samples) in [("input build only", &build_samples), ("conversion to regorus", &convert_samples)] {
            out.push(format!(
                "{{\"evaluator\":\"{label}\",\"request\":\"{method} {path}\",\"n\":{iterations},\"p50_us\":{:.1},\"p99_us\":{:.1}}}",
                quantile(samples, 0.5),
                quantile(samples, 0.99)
            ));
        }
    }
    // a repeated request: the decision cache's key and lookup, instead of build + evaluate
    let cached = Policy::compile(&bundle, CompileOptions { cache_capacity: 1024, ..CompileOptions::default() })
        .expect("compile");
    for (method, path, body) in requests {
        let target = path;
        let mut samples = Vec::with_capacity(iterations);
        let bytes = body.unwrap_or(b"");
        for _ in 0..iterations {
            let t = Instant::now();
            let classified = classify(method, path, None).expect("path");
            let key =
                sockguard::policy::cache::RequestKey::new(method, target, &headers, bytes, client.key()).expect("key");
            let decision = match cached.cached(&key) {
                Some(decision) => decision,
                None => {
                    let body = body.map_or(BodyInput::Absent, BodyInput::Read);
                    let input = build(&classified, &headers, body, &client, "bench").expect("input");
                    let decision = cached.evaluate(input.value).expect("evaluate");
                    cached.remember(&key, &decision);
                    decision
                }
            };
            std::hint::black_box(decision);
            samples.push(t.elapsed());
        }
        samples.sort();
        out.push(format!(
            "{{\"evaluator\":\"vm + decision cache\",\"request\":\"{method} {path}\",\"n\":{iterations},\"p50_us\":{:.1},\"p99_us\":{:.1}}}",
            quantile(&samples, 0.5),
            quantile(&samples, 0.99)
        ));
    }
    for (label, interpreted) in [("vm", false), ("interpreter", true)] {
        for (method, path, body) in requests {
            let mut samples = Vec::with_capacity(iterations);
            let n = if interpreted { iterations / 10 } else { iterations };
            for _ in 0..n {
                let t = Instant::now();
                let classified = classify(method, path, None).expect("path");
                let body = body.map_or(BodyInput::Absent, BodyInput::Read);
                let input = build(&classified, &headers, body, &client, "bench").expect("input");
                let result =
                    if interpreted { policy.evaluate_interpreted(input.value) } else { policy.evaluate(input.value) };
                std::hint::black_box(result.expect("evaluate"));
                samples.push(t.elapsed());
            }
            samples.sort();
            out.push(format!(
                "{{\"evaluator\":\"{label}\",\"request\":\"{method} {path}\",\"n\":{n},\"p50_us\":{:.1},\"p99_us\":{:.1}}}",
                quantile(&samples, 0.5),
                quantile(&samples, 0.99)
            ));
        }
    }
    println!("[{}]", out.join(","));
}

//! `sockguard serve` as a process, against a stand-in engine: the failure modes and limits a
//! real engine cannot be made to produce on demand. Each test names the behaviour it pins.

mod support;

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use support::{chunked, raw, send, start_engine, Reply, Sockguard};

fn repo(path: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path).display().to_string()
}

fn upstream(dir: &Path) -> (PathBuf, String) {
    let path = dir.join("engine.sock");
    let url = format!("unix://{}", path.display());
    (path, url)
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(f).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_engine_that_is_down_gives_502_and_service_resumes_when_it_returns() {
    let dir = tempfile::tempdir().unwrap();
    let (engine_path, engine_url) = upstream(dir.path());
    let sg = Sockguard::start(dir.path(), &["--upstream", &engine_url]);
    let socket = sg.socket.clone();

    let down = blocking({
        let s = socket.clone();
        move || send(&s, "GET", "/v1.41/containers/web/json", b"")
    })
    .await;
    assert_eq!(down.status, 502);
    assert!(down.message().contains("upstream_unreachable"), "{}", down.message());
    assert!(down.header("x-sockguard-request-id").is_some());

    let (engine, _) = start_engine(&engine_path);
    let up = blocking(move || send(&socket, "GET", "/v1.41/containers/web/json", b"")).await;
    assert_eq!(up.status, 200);
    engine.abort();
    let lines = sg.audit_lines();
    assert_eq!(lines[0]["decision"], "error");
    assert_eq!(lines[0]["code"], "upstream_unreachable");
    assert_eq!(lines[1]["decision"], "allow");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_engine_gives_504_but_long_actions_are_never_cut() {
    let dir = tempfile::tempdir().unwrap();
    let (engine_path, engine_url) = upstream(dir.path());
    let (_engine, _) = start_engine(&engine_path);
    let permissive = repo("tests/bundles/permissive");
    let sg = Sockguard::start(
        dir.path(),
        &["--upstream", &engine_url, "--upstream-timeout", "300ms", "--bundle", &permissive],
    );
    let socket = sg.socket.clone();

    let started = Instant::now();
    let slow = blocking({
        let s = socket.clone();
        move || send(&s, "GET", "/v1.41/info", b"")
    })
    .await;
    assert_eq!(slow.status, 504, "{}", slow.message());
    assert!(slow.message().contains("upstream_timeout"));
    assert!(started.elapsed() < Duration::from_secs(3));

    // container.wait is a long action: its 1.5 s answer must arrive despite the 300 ms timeout
    let wait = blocking(move || send(&socket, "POST", "/v1.41/containers/web/wait", b"")).await;
    assert_eq!(wait.status, 200);
    assert_eq!(wait.json()["StatusCode"], 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_over_the_cap_are_refused_whole_or_chunked_and_never_forwarded() {
    let dir = tempfile::tempdir().unwrap();
    let (engine_path, engine_url) = upstream(dir.path());
    let (_engine, seen) = start_engine(&engine_path);
    let permissive = repo("tests/bundles/permissive");
    let sg =
        Sockguard::start(dir.path(), &["--upstream", &engine_url, "--bundle", &permissive, "--max-json-body", "64KiB"]);
    let socket = sg.socket.clone();

    let big = format!(r#"{{"Image":"busybox","Env":["X={}"]}}"#, "a".repeat(100 << 10));
    let replies: Vec<Reply> = blocking(move || {
        let whole = send(&socket, "POST", "/v1.41/containers/create", big.as_bytes());
        let head = "POST /v1.41/containers/create HTTP/1.1\nContent-Type: application/json\nTransfer-Encoding: chunked";
        let streamed = raw(&socket, head, &chunked(big.as_bytes(), 4096));
        let small = send(&socket, "POST", "/v1.41/containers/create", br#"{"Image":"busybox"}"#);
        vec![whole, streamed, small]
    })
    .await;
    assert_eq!(replies[0].status, 413);
    assert!(replies[0].message().contains("request_body_too_large"));
    assert_eq!(replies[1].status, 413);
    assert_eq!(replies[2].status, 200);
    assert_eq!(seen.creates.load(Ordering::SeqCst), 1, "only the small create may reach the engine");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chunked_and_charset_bodies_are_read_like_plain_ones() {
    let dir = tempfile::tempdir().unwrap();
    let (engine_path, engine_url) = upstream(dir.path());
    let (_engine, seen) = start_engine(&engine_path);
    let bundle = repo("tests/bundles/no-privileged");
    let sg = Sockguard::start(dir.path(), &["--upstream", &engine_url, "--bundle", &bundle]);
    let socket = sg.socket.clone();

    let replies = blocking(move || {
        let body = br#"{"Image":"busybox","hostconfig":{"privileged":true}}"#;
        let head = "POST /v1.41/containers/create HTTP/1.1\nContent-Type: application/json; charset=utf-8\nTransfer-Encoding: chunked";
        let privileged = raw(&socket, head, &chunked(body, 7));
        let plain = br#"{"Image":"busybox","HostConfig":{"Privileged":false}}"#;
        let allowed = raw(&socket, head, &chunked(plain, 5));
        (privileged, allowed)
    })
    .await;
    assert_eq!(replies.0.status, 403);
    assert!(replies.0.message().contains("privileged_container"), "{}", replies.0.message());
    assert_eq!(replies.1.status, 200);
    // the engine received the whole body of the allowed create, re-framed with a length
    let plain_len = br#"{"Image":"busybox","HostConfig":{"Privileged":false}}"#.len();
    assert_eq!(replies.1.json()["ReceivedBytes"], plain_len);
    assert_eq!(seen.creates.load(Ordering::SeqCst), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inspect_is_redacted_and_a_response_too_large_to_redact_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (engine_path, engine_url) = upstream(dir.path());
    let (_engine, _) = start_engine(&engine_path);
    let sg = Sockguard::start(dir.path(), &["--upstream", &engine_url, "--max-redact-body", "4KiB"]);
    let socket = sg.socket.clone();

    let (inspect, huge, ping) = blocking(move || {
        (
            send(&socket, "GET", "/v1.41/containers/web/json", b""),
            send(&socket, "GET", "/v1.41/containers/huge/json", b""),
            raw(&socket, "HEAD /_ping HTTP/1.1", b""),
        )
    })
    .await;
    assert_eq!(inspect.status, 200);
    assert!(!String::from_utf8_lossy(&inspect.body).contains("hunter2"));
    assert_eq!(inspect.json()["Config"], serde_json::json!({"Image": "busybox"}));
    assert_eq!(inspect.header("content-length"), Some(inspect.body.len().to_string().as_str()));
    assert_eq!(huge.status, 500);
    assert!(huge.message().contains("response_too_large"));
    // the engine's own headers pass through: clients negotiate their API version from them
    assert_eq!(ping.status, 200);
    assert_eq!(ping.header("api-version"), Some("1.41"));
    assert_eq!(ping.header("ostype"), Some("linux"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_lets_a_request_in_flight_finish_then_removes_the_socket() {
    let dir = tempfile::tempdir().unwrap();
    let (engine_path, engine_url) = upstream(dir.path());
    let (_engine, _) = start_engine(&engine_path);
    let permissive = repo("tests/bundles/permissive");
    let sg = Sockguard::start(dir.path(), &["--upstream", &engine_url, "--bundle", &permissive]);
    let socket = sg.socket.clone();

    let in_flight = tokio::task::spawn_blocking({
        let s = socket.clone();
        move || send(&s, "POST", "/v1.41/containers/web/wait", b"")
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let status = blocking(move || sg.terminate()).await;
    let reply = in_flight.await.unwrap();
    assert_eq!(reply.status, 200, "the request in flight finished");
    assert!(status.success(), "{status:?}");
    assert!(!socket.exists(), "the socket is removed on shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broken_policies_fail_closed() {
    for (bundle, code) in [("tests/bundles/erroring", "policy_error"), ("tests/bundles/undefined", "policy_undefined")]
    {
        let dir = tempfile::tempdir().unwrap();
        let (engine_path, engine_url) = upstream(dir.path());
        let (_engine, seen) = start_engine(&engine_path);
        let bundle = repo(bundle);
        let sg = Sockguard::start(dir.path(), &["--upstream", &engine_url, "--bundle", &bundle]);
        let socket = sg.socket.clone();
        let reply = blocking(move || send(&socket, "GET", "/v1.41/containers/json", b"")).await;
        assert_eq!(reply.status, 500, "{bundle}");
        assert!(reply.message().contains(code), "{bundle}: {}", reply.message());
        assert_eq!(seen.requests.load(Ordering::SeqCst), 0, "{bundle}: nothing reaches the engine");
        assert_eq!(sg.audit_lines()[0]["decision"], "error");
        // the version-negotiation ping still answers, so clients show the real error
        let socket = sg.socket.clone();
        let ping = blocking(move || raw(&socket, "HEAD /_ping HTTP/1.1", b"")).await;
        assert_eq!(ping.status, 200, "{bundle}");
        assert_eq!(ping.header("api-version"), Some("1.41"));
        let lines = sg.audit_lines();
        assert_eq!(lines[1]["decision"], "would_deny");
        assert_eq!(lines[1]["code"], code);
    }
}

#[test]
#[should_panic(expected = "does not match the schema")]
fn the_audit_schema_check_can_fail() {
    support::check_audit_schema(&serde_json::json!({"time": "now", "decision": "maybe"}));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_config_file_and_environment_are_read_and_flags_win() {
    let dir = tempfile::tempdir().unwrap();
    let (engine_path, engine_url) = upstream(dir.path());
    let (_engine, seen) = start_engine(&engine_path);
    let config = dir.path().join("sockguard.yaml");
    std::fs::write(&config, format!("upstream: {engine_url}\nmode: enforce\nsocket: {{mode: '0600'}}\n")).unwrap();
    let config_arg = config.display().to_string();
    let sg = Sockguard::start_with_env(dir.path(), &["--config", &config_arg], &[("SOCKGUARD_MODE", "audit")]);
    let socket = sg.socket.clone();
    let mode =
        std::fs::metadata(&socket).map(|m| std::os::unix::fs::PermissionsExt::mode(&m.permissions()) & 0o777).unwrap();
    assert_eq!(mode, 0o600);
    let reply = blocking(move || send(&socket, "POST", "/v1.41/containers/create", br#"{"Image":"busybox"}"#)).await;
    assert_eq!(reply.status, 200, "audit mode forwards a write the default policy denies");
    assert_eq!(seen.creates.load(Ordering::SeqCst), 1);
    let line = &sg.audit_lines()[0];
    assert_eq!(line["decision"], "would_deny");
    assert_eq!(line["code"], "write_denied");
    assert_eq!(line["mode"], "audit");
}

#[test]
fn a_file_in_the_way_of_the_socket_is_never_clobbered() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sg.sock");
    std::fs::write(&path, b"keep me").unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_sockguard"))
        .args(["serve", "--listen", &format!("unix://{}", path.display()), "--audit-log", "off"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a socket"), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(std::fs::read(&path).unwrap(), b"keep me");
}

#[test]
fn invalid_configuration_is_reported_with_every_key() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_sockguard"))
        .args(["serve", "--listen", "tcp://0.0.0.0:1", "--upstream", "http://x", "--shutdown-grace", "soon"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    for key in ["listen:", "upstream:", "shutdown_grace:"] {
        assert!(stderr.contains(key), "{key} missing from {stderr}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_per_action_cap_overrides_the_global_one() {
    let dir = tempfile::tempdir().unwrap();
    let (engine_path, engine_url) = upstream(dir.path());
    let (_engine, seen) = start_engine(&engine_path);
    let permissive = repo("tests/bundles/permissive");
    let args = ["--upstream", &engine_url, "--bundle", &permissive, "--max-json-body", "16KiB"];
    let sg = Sockguard::start(dir.path(), &[&args[..], &["--max-json-body-for", "container.create=256KiB"]].concat());
    let socket = sg.socket.clone();
    let body = format!(r#"{{"Image":"busybox","Env":["X={}"],"Name":"n"}}"#, "a".repeat(100 << 10));
    let (create, network) = blocking(move || {
        (
            send(&socket, "POST", "/v1.41/containers/create", body.as_bytes()),
            send(&socket, "POST", "/v1.41/networks/create", body.as_bytes()),
        )
    })
    .await;
    assert_eq!(create.status, 200, "{}", create.message());
    assert_eq!(network.status, 413);
    assert_eq!(seen.creates.load(Ordering::SeqCst), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_preset_reads_the_environment_variables_its_manifest_declares() {
    let dir = tempfile::tempdir().unwrap();
    let (engine_path, engine_url) = upstream(dir.path());
    let (_engine, seen) = start_engine(&engine_path);
    let sg = Sockguard::start_with_env(
        dir.path(),
        &["--upstream", &engine_url, "--preset", "tecnativa"],
        &[("CONTAINERS", "1"), ("POST", "0")],
    );
    let socket = sg.socket.clone();
    let (read, write, images) = blocking(move || {
        (
            send(&socket, "GET", "/v1.41/containers/web/json", b""),
            send(&socket, "POST", "/v1.41/containers/create", br#"{"Image":"busybox"}"#),
            send(&socket, "GET", "/v1.41/images/json", b""),
        )
    })
    .await;
    assert_eq!(read.status, 200, "CONTAINERS=1 opens container reads");
    assert_eq!(write.status, 403);
    assert!(write.message().contains("method_not_allowed"), "{}", write.message());
    assert_eq!(images.status, 403);
    assert!(images.message().contains("IMAGES=1"), "{}", images.message());
    assert_eq!(seen.creates.load(Ordering::SeqCst), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bundle_the_vm_gets_wrong_is_served_by_the_interpreter() {
    let dir = tempfile::tempdir().unwrap();
    let (engine_path, engine_url) = upstream(dir.path());
    let (_engine, _) = start_engine(&engine_path);
    let bundle = repo("tests/fixtures/vm-divergence");
    let sg = Sockguard::start(dir.path(), &["--upstream", &engine_url, "--bundle", &bundle]);
    let socket = sg.socket.clone();
    // the VM would leave this decision undefined (a 500); the interpreter allows it, as OPA does
    let reply = blocking(move || send(&socket, "GET", "/v1.41/containers/web/json", b"")).await;
    assert_eq!(reply.status, 200, "{}", String::from_utf8_lossy(&reply.body));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unsigned_archive_is_served_when_allowed() {
    let dir = tempfile::tempdir().unwrap();
    let (engine_path, engine_url) = upstream(dir.path());
    let (_engine, _) = start_engine(&engine_path);
    let archive = dir.path().join("readonly.tar.gz");
    let built = std::process::Command::new(env!("CARGO_BIN_EXE_sockguard"))
        .args(["bundle", "build", &repo("policies/presets/readonly"), "-o", archive.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(built.status.success());
    let sg = Sockguard::start(
        dir.path(),
        &["--upstream", &engine_url, "--bundle", archive.to_str().unwrap(), "--allow-unsigned"],
    );
    let socket = sg.socket.clone();
    let (read, write) = blocking(move || {
        (send(&socket, "GET", "/v1.41/containers/web/json", b""), send(&socket, "DELETE", "/v1.41/containers/web", b""))
    })
    .await;
    assert_eq!(read.status, 200);
    assert!(write.message().contains("method_not_allowed"), "{}", write.message());
    assert_eq!(sg.audit_lines()[0]["bundle_revision"], "readonly-1");
}

/// Build a preset into an archive in `dir`, signed with `key` unless `key` is `None`.
fn signed_archive(dir: &Path, preset: &str, name: &str, key: Option<&p256::ecdsa::SigningKey>) -> PathBuf {
    let files = sockguard::bundle::archive::files_of(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("policies/presets").join(preset),
    )
    .unwrap();
    let bytes = sockguard::bundle::archive::pack(&files).unwrap();
    let archive = dir.join(name);
    std::fs::write(&archive, &bytes).unwrap();
    let [bundle_path, sig_path] = sockguard::bundle::source::evidence_paths(&archive);
    let _ = std::fs::remove_file(&bundle_path);
    let _ = std::fs::remove_file(&sig_path);
    if let Some(key) = key {
        let signed = sockguard::bundle::signature::sign(&bytes, key).unwrap();
        std::fs::write(bundle_path, signed.bundle).unwrap();
    }
    archive
}

fn public_key_file(dir: &Path, key: &p256::ecdsa::SigningKey) -> String {
    let path = dir.join("cosign.pub");
    std::fs::write(&path, sockguard::bundle::keys::public_pem(key.verifying_key()).unwrap()).unwrap();
    path.display().to_string()
}

#[test]
fn an_archive_that_fails_verification_is_never_served() {
    let dir = tempfile::tempdir().unwrap();
    let key = sockguard::bundle::keys::generate();
    let other = sockguard::bundle::keys::generate();
    let public = public_key_file(dir.path(), &key);
    let start = |archive: &Path| {
        std::process::Command::new(env!("CARGO_BIN_EXE_sockguard"))
            .args(["serve", "--listen", &format!("unix://{}/never.sock", dir.path().display())])
            .args(["--bundle", archive.to_str().unwrap(), "--bundle-key", &public, "--audit-log", "off"])
            .output()
            .unwrap()
    };
    let unsigned = signed_archive(dir.path(), "readonly", "unsigned.tar.gz", None);
    let wrong = signed_archive(dir.path(), "readonly", "wrong.tar.gz", Some(&other));
    let tampered = signed_archive(dir.path(), "readonly", "tampered.tar.gz", Some(&key));
    let mut bytes = std::fs::read(&tampered).unwrap();
    bytes.push(0);
    std::fs::write(&tampered, bytes).unwrap();
    for archive in [unsigned, wrong, tampered] {
        let out = start(&archive);
        assert_eq!(out.status.code(), Some(1), "{}", archive.display());
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("bundle_unverified"),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // a directory carries no signature, so trust refuses it
    let out = start(&Path::new(env!("CARGO_MANIFEST_DIR")).join("policies/presets/readonly"));
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("directory carries no signature"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signed_archive_is_served_and_a_reload_never_swaps_in_an_unverified_one() {
    let dir = tempfile::tempdir().unwrap();
    let (engine_path, engine_url) = upstream(dir.path());
    let (_engine, _) = start_engine(&engine_path);
    let key = sockguard::bundle::keys::generate();
    let other = sockguard::bundle::keys::generate();
    let public = public_key_file(dir.path(), &key);
    let archive = signed_archive(dir.path(), "readonly", "policy.tar.gz", Some(&key));
    let sg = Sockguard::start(
        dir.path(),
        &["--upstream", &engine_url, "--bundle", archive.to_str().unwrap(), "--bundle-key", &public],
    );
    let pid = nix::unistd::Pid::from_raw(i32::try_from(sg.child.id()).unwrap());
    let socket = sg.socket.clone();
    let ask = move || {
        let s = socket.clone();
        async move { blocking(move || send(&s, "DELETE", "/v1.41/containers/web", b"")).await }
    };
    assert!(ask().await.message().contains("method_not_allowed"), "the readonly preset decides");

    // a new revision signed by someone else: the reload is refused, the old policy stays
    signed_archive(dir.path(), "traefik", "policy.tar.gz", Some(&other));
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGHUP).unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(ask().await.message().contains("method_not_allowed"), "still the readonly preset");

    // the same revision signed with the trusted key is picked up
    signed_archive(dir.path(), "traefik", "policy.tar.gz", Some(&key));
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGHUP).unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(ask().await.message().contains("not_needed_by_traefik"), "the traefik preset decides now");
    let revisions: Vec<String> =
        sg.audit_lines().iter().map(|l| l["bundle_revision"].as_str().unwrap().to_owned()).collect();
    assert_eq!(revisions, ["readonly-1", "readonly-1", "traefik-1"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_several_workers_every_connection_is_served_and_shutdown_waits_for_all() {
    // Six connections over three worker threads: each holds a 1.5 s `wait`, and a seventh is
    // answered at once meanwhile; SIGTERM then lets every one of the six finish.
    let dir = tempfile::tempdir().unwrap();
    let (engine_path, engine_url) = upstream(dir.path());
    let (_engine, seen) = start_engine(&engine_path);
    let permissive = repo("tests/bundles/permissive");
    let sg = Sockguard::start(dir.path(), &["--upstream", &engine_url, "--bundle", &permissive, "--workers", "3"]);
    let socket = sg.socket.clone();
    let started = Instant::now();
    let waits: Vec<_> = (0..6)
        .map(|_| {
            let s = socket.clone();
            tokio::task::spawn_blocking(move || send(&s, "POST", "/v1.41/containers/web/wait", b""))
        })
        .collect();
    while seen.requests.load(Ordering::SeqCst) < 6 {
        assert!(started.elapsed() < Duration::from_secs(5), "the six waits did not all reach the engine");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let ping = blocking({
        let s = socket.clone();
        move || send(&s, "GET", "/_ping", b"")
    })
    .await;
    assert_eq!(ping.status, 200);
    assert!(started.elapsed() < Duration::from_millis(1400), "the ping waited for the waits");
    let status = blocking(move || sg.terminate()).await;
    for wait in waits {
        assert_eq!(wait.await.unwrap().status, 200, "a request in flight was cut by the shutdown");
    }
    assert!(status.success(), "{status:?}");
    assert!(!socket.exists());
}

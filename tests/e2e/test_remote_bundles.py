"""Signed bundles shipped the way images are: through a real OCI registry, and over HTTPS.

Every step a user takes is taken here with the real tools: `sockguard bundle keygen`, `build`,
`sign`, `push` and `pull` against Debian's docker-registry; `serve --bundle oci://…` polling the
tag; `docker login` writing the credentials sockguard reads; and the docker CLI, through the
proxy, observing which policy decides. The admin listener's /policy says what is serving.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import shutil
import subprocess
import tarfile
import time
from pathlib import Path

import pytest

from harness import cli, config, rawhttp, remote
from harness.checks import assert_cli_denied

PASSWORD = "e2e-key-password"
BUNDLES = {
    "no-privileged": config.REPO_ROOT / "tests" / "bundles" / "no-privileged",
    "permissive": config.REPO_ROOT / "tests" / "bundles" / "permissive",
    "readonly": config.REPO_ROOT / "policies" / "presets" / "readonly",
}


def sockguard(*args: str, env: dict | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
    full_env = dict(os.environ, COSIGN_PASSWORD=PASSWORD)
    full_env.update(env or {})
    return subprocess.run([str(config.SOCKGUARD_BIN), *args], capture_output=True, text=True,
                          timeout=timeout, env=full_env, stdin=subprocess.DEVNULL)


def ok(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 0, f"{result.args} exited {result.returncode}\n{result.stdout}\n{result.stderr}"
    return result.stdout


def wait_for(predicate, what: str, timeout: float = 20):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.2)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("remote")


@pytest.fixture(scope="module")
def keys(workdir, preflight) -> dict[str, Path]:
    """Two cosign-compatible key pairs: `good` (trusted by the proxies here) and `other`."""
    out = {}
    for name in ("good", "other"):
        ok(sockguard("bundle", "keygen", "--output-prefix", str(workdir / name)))
        out[name] = workdir / f"{name}.key"
        out[f"{name}.pub"] = workdir / f"{name}.pub"
    return out


def _registry_available() -> str | None:
    if os.environ.get("SOCKGUARD_TEST_REGISTRY") or remote.REGISTRY_BIN:
        return None
    return "docker-registry is not installed and SOCKGUARD_TEST_REGISTRY is not set"


@pytest.fixture(scope="module")
def registry(preflight):
    """The registry scripts/test.sh started, else one of our own."""
    missing = _registry_available()
    if missing:
        if config.IN_CI:
            pytest.fail(f"registry tests cannot run under CI=true: {missing}", pytrace=False)
        pytest.skip(missing)
    reg = remote.Registry(host=os.environ.get("SOCKGUARD_TEST_REGISTRY") or None).start()
    yield reg
    reg.stop()


def build(workdir: Path, bundle: str, name: str, revision: str | None = None) -> Path:
    """`bundle build` of one of BUNDLES; with `revision`, of a copy with that revision.

    Builds are deterministic, and a registry attaches signatures to content: two pushes of the
    same bytes are one manifest with the signatures of both. Revisions keep cases apart."""
    source = BUNDLES[bundle]
    if revision is not None:
        copy = workdir / f"src-{name}"
        shutil.copytree(source, copy)
        manifest = json.loads((copy / ".manifest").read_text())
        manifest["revision"] = revision
        (copy / ".manifest").write_text(json.dumps(manifest))
        source = copy
    out = workdir / f"{name}.tar.gz"
    ok(sockguard("bundle", "build", str(source), "-o", str(out)))
    return out


def sign(archive: Path, key: Path) -> None:
    ok(sockguard("bundle", "sign", str(archive), "--key", str(key)))


def push(archive: Path, reference: str, env: dict | None = None) -> str:
    """Push; returns the pinned reference (oci://…@sha256:…)."""
    out = ok(sockguard("bundle", "push", str(archive), reference, env=env))
    return out.split()[1]


def admin(sg) -> dict:
    resp = rawhttp.request(str(sg.dir / "admin.sock"), "GET", "/policy")
    assert resp.status == 200, resp.describe()
    return resp.json()


def serve_args(sg_source: str, keys: dict, *extra: str) -> list[str]:
    return ["--bundle", sg_source, "--bundle-key", str(keys["good.pub"]), *extra]


def start_with_admin(start_sockguard, args: list[str], env: dict | None = None):
    """Start sockguard with its admin listener on a unix socket in its own directory."""
    # The socket path is only known once the harness has made the directory, so the flag
    # names a path under a directory made here and the harness's directory gets a link to it.
    import tempfile

    admin_dir = Path(tempfile.mkdtemp(prefix="sgt-admin-"))
    sg = start_sockguard(extra_args=[*args, "--admin-listen", f"unix://{admin_dir}/admin.sock"], env=env)
    os.symlink(admin_dir / "admin.sock", sg.dir / "admin.sock")
    return sg


def create_privileged(sg, real):
    """`docker create --privileged` through the proxy; removes what it made. Returns the result."""
    name = config.unique_name("remote-priv")
    r = cli.docker(sg.host, "create", "--privileged", "--name", name,
                   "--label", f"{config.LABEL_TEST}=1", "--label", f"{config.LABEL_RUN}={config.RUN_ID}",
                   config.TEST_IMAGE, "true")
    try:
        real.containers.get(name).remove(force=True)
    except Exception:
        pass
    return r


# -- push and pull ------------------------------------------------------------------

def test_push_pull_round_trip_and_registry_layout(registry, keys, workdir):
    archive = build(workdir, "no-privileged", "roundtrip")
    sign(archive, keys["good"])
    repository = f"e2e/roundtrip-{config.RUN_ID}"
    pinned = push(archive, f"oci://{registry.host}/{repository}:v1")
    digest = pinned.rsplit("@", 1)[1]
    assert pinned == f"oci://{registry.host}/{repository}@{digest}", pinned

    # The layout README.md documents: the bundle manifest under the tag, the signatures
    # listed by the referrers tag schema.
    manifest, served_digest = registry.manifest(repository, "v1", "application/vnd.oci.image.manifest.v1+json")
    assert served_digest == digest
    assert manifest["config"]["mediaType"] == "application/vnd.oci.image.config.v1+json"
    [layer] = manifest["layers"]
    assert layer["mediaType"] == "application/vnd.oci.image.layer.v1.tar+gzip"
    assert layer["size"] == archive.stat().st_size
    assert manifest["annotations"]["org.opencontainers.image.revision"] == "no-privileged-1"
    tags = registry.tags(repository)
    assert sorted(tags) == sorted(["v1", digest.replace(":", "-")]), tags
    index, _ = registry.manifest(repository, digest.replace(":", "-"), "application/vnd.oci.image.index.v1+json")
    types = sorted(entry["artifactType"] for entry in index["manifests"])
    assert types == ["application/vnd.dev.sigstore.bundle.v0.3+json", "application/vnd.sockguard.bundle.signature.v1"]
    for entry in index["manifests"]:
        referrer, _ = registry.manifest(repository, entry["digest"], "application/vnd.oci.image.manifest.v1+json")
        assert referrer["subject"]["digest"] == digest, referrer

    # Pull verifies before it writes, and writes the same bytes and both signature files.
    out = workdir / "pulled" / "p.tar.gz"
    out.parent.mkdir()
    text = ok(sockguard("bundle", "pull", f"oci://{registry.host}/{repository}:v1", "-o", str(out),
                        "--key", str(keys["good.pub"])))
    assert "Verified OK" in text
    assert out.read_bytes() == archive.read_bytes()
    for suffix in (".sig", ".sigstore.json"):
        assert Path(f"{out}{suffix}").read_bytes() == Path(f"{archive}{suffix}").read_bytes()
    # ... and what it wrote verifies offline.
    ok(sockguard("bundle", "verify", str(out), "--key", str(keys["good.pub"])))

    # With another key, the pull fails and writes nothing.
    elsewhere = workdir / "pulled" / "other.tar.gz"
    r = sockguard("bundle", "pull", pinned, "-o", str(elsewhere), "--key", str(keys["other.pub"]))
    assert r.returncode == 1, r
    assert "bundle_unverified" in r.stderr and "nothing written" in r.stderr, r.stderr
    assert not elsewhere.exists() and not Path(f"{elsewhere}.sig").exists()


def test_push_refuses_what_is_not_a_bundle(registry, workdir):
    junk = workdir / "junk.tar.gz"
    junk.write_bytes(b"not a gzip stream")
    r = sockguard("bundle", "push", str(junk), f"oci://{registry.host}/e2e/junk-{config.RUN_ID}:v1")
    assert r.returncode != 0 and "not a bundle archive" in r.stderr, r
    status, _, _ = registry.get(f"/v2/e2e/junk-{config.RUN_ID}/tags/list")
    assert status == 404, "a refused push left something in the registry"


# -- serve from oci:// with polling -----------------------------------------------------

def test_serve_polls_the_tag_and_never_loads_an_unverified_revision(registry, keys, workdir, start_sockguard, real):
    reference = f"oci://{registry.host}/e2e/live-{config.RUN_ID}:live"
    first = build(workdir, "no-privileged", "live-1")
    sign(first, keys["good"])
    first_pinned = push(first, reference)
    sg = start_with_admin(start_sockguard, serve_args(reference, keys, "--bundle-poll", "1s"))

    policy = admin(sg)
    assert policy["revision"] == "no-privileged-1", policy
    assert policy["source"] == reference and policy["pinned"] == first_pinned, policy
    assert policy["signed"] and policy["signer"].startswith("key "), policy
    assert policy["digest"].startswith("sha256:") and policy["last_reload"] is None, policy
    assert_cli_denied(create_privileged(sg, real), "privileged_container")

    # A new signed revision under the same tag is picked up by polling.
    second = build(workdir, "permissive", "live-2")
    sign(second, keys["good"])
    second_pinned = push(second, reference)
    wait_for(lambda: admin(sg)["revision"] == "permissive-1", "the permissive revision to be served")
    policy = admin(sg)
    assert policy["pinned"] == second_pinned and policy["last_reload"]["result"] == "loaded", policy
    assert policy["last_reload"]["trigger"] == "poll", policy
    r = create_privileged(sg, real)
    assert r.ok, f"the permissive revision should allow it: {r.describe()}"

    # Revisions that must not load: signed with another key, not signed at all, and signed
    # for other bytes (the signature files of another archive beside it).
    wrong_key = build(workdir, "readonly", "live-wrong-key", revision="wrong-key")
    sign(wrong_key, keys["other"])
    unsigned = build(workdir, "readonly", "live-unsigned", revision="unsigned")
    mismatched = build(workdir, "readonly", "live-mismatched", revision="mismatched")
    for suffix in (".sig", ".sigstore.json"):
        shutil.copy(f"{first}{suffix}", f"{mismatched}{suffix}")
    bad = [
        (wrong_key, "another key", "no signature verifies"),
        (unsigned, "no signature", "no signature was found"),
        (mismatched, "other bytes", "no signature verifies"),
    ]
    for archive, why, message in bad:
        pinned = push(archive, reference)
        digest = pinned.rsplit("@", 1)[1]
        last = wait_for(lambda: (admin(sg)["last_reload"] or {}).get("version") == digest and admin(sg)["last_reload"],
                        f"the poll to try the revision signed with {why}")
        assert last["result"] == "failed" and last["code"] == "bundle_unverified", (why, last)
        assert message in last["message"], (why, last)
        policy = admin(sg)
        assert policy["revision"] == "permissive-1" and policy["pinned"] == second_pinned, (why, policy)
        r = create_privileged(sg, real)
        assert r.ok, f"after a revision with {why}, the previous policy must keep deciding: {r.describe()}"
    errors = [line for line in sg.stderr_text().splitlines() if "reload failed" in line]
    assert len(errors) >= 3 and all("bundle_unverified" in line for line in errors), errors

    # A good revision after the bad ones is served again.
    third = build(workdir, "readonly", "live-3")
    sign(third, keys["good"])
    push(third, reference)
    wait_for(lambda: admin(sg)["revision"] == "readonly-1", "the readonly revision to be served")
    assert_cli_denied(create_privileged(sg, real), "method_not_allowed")


def test_unsigned_push_reports_why_it_is_not_loaded(registry, keys, workdir, start_sockguard):
    reference = f"oci://{registry.host}/e2e/unsigned-{config.RUN_ID}:v1"
    archive = build(workdir, "readonly", "unsigned-only")
    r = sockguard("bundle", "push", str(archive), reference)
    assert r.returncode == 0 and "no signature beside" in r.stderr, r
    started = subprocess.run([str(config.SOCKGUARD_BIN), "serve", "--listen", f"unix://{workdir}/never.sock",
                              "--bundle", reference, "--bundle-key", str(keys["good.pub"])],
                             capture_output=True, text=True, timeout=60)
    assert started.returncode != 0, started
    assert "bundle_unverified" in started.stderr and "no signature was found" in started.stderr, started.stderr
    assert not (workdir / "never.sock").exists()


def test_remote_bundles_need_trust_even_with_allow_unsigned(registry, workdir):
    for source in (f"oci://{registry.host}/e2e/any:v1", "https://127.0.0.1:9/p.tar.gz"):
        r = subprocess.run([str(config.SOCKGUARD_BIN), "serve", "--listen", f"unix://{workdir}/never.sock",
                            "--bundle", source, "--allow-unsigned"], capture_output=True, text=True, timeout=30)
        assert r.returncode != 0, r
        assert "remote bundle is only served once its signature is verified" in r.stderr, r.stderr


# -- registry logins ------------------------------------------------------------------

@pytest.fixture(scope="module")
def login_registry(preflight):
    if not remote.REGISTRY_BIN:
        if config.IN_CI:
            pytest.fail("docker-registry is not installed under CI=true", pytrace=False)
        pytest.skip("docker-registry is not installed")
    reg = remote.Registry(users={"alice": "wonderland"}).start()
    yield reg
    reg.stop()


def test_registry_credentials_come_from_docker_login(login_registry, keys, workdir, start_sockguard, real):
    reference = f"oci://{login_registry.host}/e2e/private-{config.RUN_ID}:v1"
    archive = build(workdir, "no-privileged", "private")
    sign(archive, keys["good"])
    empty_config = workdir / "no-login"
    empty_config.mkdir()
    r = sockguard("bundle", "push", str(archive), reference, env={"DOCKER_CONFIG": str(empty_config)})
    assert r.returncode != 0 and "docker login" in r.stderr, r

    # `docker login` (the real CLI, through the real engine) writes config.json; sockguard reads it.
    logged_in = workdir / "logged-in"
    logged_in.mkdir()
    login = cli.run([config.DOCKER_CLI, "login", login_registry.host, "-u", "alice", "--password-stdin"],
                    config.ENGINE_URL, input="wonderland\n", env={"DOCKER_CONFIG": str(logged_in)})
    assert login.ok, login.describe()
    assert login_registry.host in json.loads((logged_in / "config.json").read_text())["auths"]
    push(archive, reference, env={"DOCKER_CONFIG": str(logged_in)})

    sg = start_with_admin(start_sockguard, serve_args(reference, keys), env={"DOCKER_CONFIG": str(logged_in)})
    assert admin(sg)["revision"] == "no-privileged-1"
    assert_cli_denied(create_privileged(sg, real), "privileged_container")

    r = subprocess.run([str(config.SOCKGUARD_BIN), "serve", "--listen", f"unix://{workdir}/never.sock",
                        *serve_args(reference, keys)], capture_output=True, text=True, timeout=60,
                       env=dict(os.environ, DOCKER_CONFIG=str(empty_config)))
    assert r.returncode != 0 and "bundle_fetch_failed" in r.stderr and "docker login" in r.stderr, r.stderr


# -- https:// ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def https_files(workdir, preflight):
    if not shutil.which("openssl"):
        if config.IN_CI:
            pytest.fail("openssl is not installed under CI=true", pytrace=False)
        pytest.skip("openssl is not installed (needed to make the test certificates)")
    certs = remote.make_certificates(workdir / "certs")
    root = workdir / "www"
    root.mkdir()
    server = remote.HTTPSFiles(root, certs["server.pem"], certs["server.key"])
    yield server, root, certs
    server.stop()


def test_serve_from_https_with_polling(https_files, keys, workdir, start_sockguard, real):
    server, root, certs = https_files
    archive = build(workdir, "no-privileged", "web")
    sign(archive, keys["good"])
    for suffix in ("", ".sig", ".sigstore.json"):
        shutil.copy(f"{archive}{suffix}", root / f"policy.tar.gz{suffix}")
    url = server.url("policy.tar.gz")
    env = {"SSL_CERT_FILE": str(certs["ca.pem"]), "SSL_CERT_DIR": None}
    sg = start_with_admin(start_sockguard, serve_args(url, keys, "--bundle-poll", "1s"), env=env)
    policy = admin(sg)
    assert policy["revision"] == "no-privileged-1" and policy["source"] == url and policy["signed"], policy
    assert_cli_denied(create_privileged(sg, real), "privileged_container")

    # Replace the signature first with one for other bytes: the poll sees the same archive, so
    # nothing changes. Then a new archive with its own signature: picked up.
    second = build(workdir, "permissive", "web-2")
    sign(second, keys["good"])
    for suffix in (".sig", ".sigstore.json", ""):
        shutil.copy(f"{second}{suffix}", root / f".policy.tar.gz{suffix}.tmp")
        os.replace(root / f".policy.tar.gz{suffix}.tmp", root / f"policy.tar.gz{suffix}")
    wait_for(lambda: admin(sg)["revision"] == "permissive-1", "the new revision over HTTPS")
    assert create_privileged(sg, real).ok

    # A certificate from a CA the proxy does not trust: refused at start.
    r = subprocess.run([str(config.SOCKGUARD_BIN), "serve", "--listen", f"unix://{workdir}/never.sock",
                        *serve_args(url, keys)], capture_output=True, text=True, timeout=60,
                       env={k: v for k, v in os.environ.items() if k not in ("SSL_CERT_FILE", "SSL_CERT_DIR")})
    assert r.returncode != 0 and "bundle_fetch_failed" in r.stderr, r.stderr
    assert "certificate" in r.stderr.lower(), r.stderr


# -- SIGHUP with a broken bundle on disk ------------------------------------------------------

def _archive(files: dict[str, bytes]) -> bytes:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return gzip.compress(raw.getvalue())


def test_sighup_with_a_broken_bundle_keeps_the_old_policy(keys, workdir, start_sockguard, real):
    live = workdir / "disk" / "policy.tar.gz"
    live.parent.mkdir()
    good = build(workdir, "no-privileged", "disk-good")
    sign(good, keys["good"])
    for suffix in ("", ".sig", ".sigstore.json"):
        shutil.copy(f"{good}{suffix}", f"{live}{suffix}")
    sg = start_with_admin(start_sockguard, serve_args(str(live), keys))
    assert admin(sg)["revision"] == "no-privileged-1"

    manifest = json.dumps({"revision": "broken-1", "entrypoint": "sockguard/decision"}).encode()
    broken = [
        # signed, but the policy does not compile
        _archive({".manifest": manifest, "policy.rego": b"package sockguard\ndecision := {\n"}),
        # signed, but not an archive at all
        b"this is not gzip",
    ]
    for data in broken:
        live.write_bytes(data)
        sign(live, keys["good"])
        before = admin(sg)["last_reload"]
        sg.proc.send_signal(1)  # SIGHUP
        last = wait_for(lambda: admin(sg)["last_reload"] != before and admin(sg)["last_reload"], "the reload")
        assert last["trigger"] == "sighup" and last["result"] == "failed", last
        assert last["code"] == "bundle_compile_failed", last
        assert admin(sg)["revision"] == "no-privileged-1"
        assert_cli_denied(create_privileged(sg, real), "privileged_container")

    # Unsigned (the signature files gone): bundle_unverified, old policy still deciding.
    good_permissive = build(workdir, "permissive", "disk-unsigned")
    shutil.copy(good_permissive, live)
    for suffix in (".sig", ".sigstore.json"):
        os.remove(f"{live}{suffix}")
    before = admin(sg)["last_reload"]
    sg.proc.send_signal(1)
    last = wait_for(lambda: admin(sg)["last_reload"] != before and admin(sg)["last_reload"], "the reload")
    assert last["code"] == "bundle_unverified", last
    assert_cli_denied(create_privileged(sg, real), "privileged_container")

    # Signed: loaded.
    sign(live, keys["good"])
    sg.proc.send_signal(1)
    wait_for(lambda: admin(sg)["revision"] == "permissive-1", "the signed revision after SIGHUP")
    assert create_privileged(sg, real).ok


# -- the admin listener ------------------------------------------------------------------------

def test_admin_endpoints_over_tcp(start_sockguard):
    import urllib.error
    import urllib.request

    port = remote.free_port()
    start_sockguard(extra_args=["--admin-listen", f"tcp://127.0.0.1:{port}"])

    def get(path: str, method: str = "GET"):
        request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", method=method)
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, json.loads(response.read() or b"null")
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read() or b"null")

    assert get("/healthz") == (200, {"status": "ok"})
    status, body = get("/readyz")
    assert status == 200 and body["ready"] is True, body
    status, body = get("/policy")
    assert status == 200 and body["source"] == "embedded:default" and body["revision"], body
    assert body["signed"] is True and body["signer"] == "embedded in the binary", body
    assert get("/nope")[0] == 404
    assert get("/policy", method="POST")[0] == 405


# -- what a reload does not change --------------------------------------------------------------

NO_LOGS_POLICY = '''package sockguard

import rego.v1

decision := {"allow": false, "code": "logs_denied", "message": "no logs under this revision"} if {
	input.request.action == "container.logs"
} else := {"allow": true}
'''


def test_a_stream_keeps_its_policy_and_trust_is_fixed_at_start(keys, workdir, start_sockguard, secret_container):
    """A `docker logs -f` started under one revision keeps streaming after a reload to a revision
    that denies logs, which new requests get. And the key file is read once: replacing it on
    disk does not make a bundle signed with another key acceptable."""
    key = workdir / "fixed" / "trusted.pub"
    key.parent.mkdir()
    shutil.copy(keys["good.pub"], key)
    live = workdir / "fixed" / "policy.tar.gz"
    first = build(workdir, "permissive", "stream-1")
    sign(first, keys["good"])
    for suffix in ("", ".sig", ".sigstore.json"):
        shutil.copy(f"{first}{suffix}", f"{live}{suffix}")
    sg = start_with_admin(start_sockguard, ["--bundle", str(live), "--bundle-key", str(key)])

    stream = cli.popen_docker(sg.host, "logs", "-f", "--since", "0s", secret_container.id)
    lines = cli.LineCollector(stream.stdout)
    try:
        assert lines.wait_for(lambda line: line.startswith(b"line "), timeout=10), "the stream never started"

        no_logs = workdir / "src-no-logs"
        no_logs.mkdir()
        (no_logs / ".manifest").write_text(json.dumps({"revision": "no-logs-1", "entrypoint": "sockguard/decision"}))
        (no_logs / "policy.rego").write_text(NO_LOGS_POLICY)
        ok(sockguard("bundle", "build", str(no_logs), "-o", str(live)))
        sign(live, keys["good"])
        sg.proc.send_signal(1)
        wait_for(lambda: admin(sg)["revision"] == "no-logs-1", "the no-logs revision")
        reloaded_at = time.monotonic()

        r = cli.docker(sg.host, "logs", "--tail", "1", secret_container.id)
        assert_cli_denied(r, "logs_denied")
        # The stream that started before the reload carries on.
        later = wait_for(lambda: [t for t, _ in lines.snapshot() if t > reloaded_at + 1.0],
                         "stream lines more than a second after the reload", timeout=10)
        assert later and stream.poll() is None, "the stream was cut by the reload"
    finally:
        cli.stop_process(stream)

    # Trust was read at start: another key put in the key file's place changes nothing.
    shutil.copy(keys["other.pub"], key)
    other = build(workdir, "permissive", "stream-other", revision="other-key")
    sign(other, keys["other"])
    for suffix in ("", ".sig", ".sigstore.json"):
        shutil.copy(f"{other}{suffix}", f"{live}{suffix}")
    before = admin(sg)["last_reload"]
    sg.proc.send_signal(1)
    last = wait_for(lambda: admin(sg)["last_reload"] != before and admin(sg)["last_reload"], "the reload")
    assert last["code"] == "bundle_unverified", last
    assert admin(sg)["revision"] == "no-logs-1"


def test_not_ready_while_the_first_bundle_loads(keys, workdir):
    """/readyz says 503 (and /healthz 200) while the bundle source has not answered yet."""
    import socket as socketlib

    silent = socketlib.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)  # accepts connections (the kernel does), never answers a byte
    url = f"https://127.0.0.1:{silent.getsockname()[1]}/policy.tar.gz"
    admin_sock = workdir / "loading-admin.sock"
    proc = subprocess.Popen([str(config.SOCKGUARD_BIN), "serve", "--listen", f"unix://{workdir}/loading.sock",
                             "--admin-listen", f"unix://{admin_sock}", *serve_args(url, keys)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_for(lambda: admin_sock.exists(), "the admin socket", timeout=20)
        assert rawhttp.request(str(admin_sock), "GET", "/healthz").status == 200
        for path in ("/readyz", "/policy"):
            resp = rawhttp.request(str(admin_sock), "GET", path)
            assert resp.status == 503 and resp.json()["ready"] is False, resp.describe()
        assert not (workdir / "loading.sock").exists(), "the Docker socket opened before a policy was loaded"
        assert proc.poll() is None
    finally:
        proc.kill()
        proc.wait(timeout=10)
        silent.close()

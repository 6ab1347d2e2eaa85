"""Fail-closed behaviour: a policy that errors or decides nothing denies
everything, and an upstream that is gone or silent gives a clean 502/504
(and recovers when the upstream comes back)."""

from __future__ import annotations

import os
import shutil
import signal
import tempfile
import socket
import subprocess
import threading
import time

import pytest

from harness import cli, config, rawhttp
from harness.checks import assert_cli_denied, assert_denied


@pytest.mark.parametrize("bundle,code", [("erroring", "policy_error"), ("undefined", "policy_undefined")])
def test_broken_policy_denies(start_sockguard, bundle, code):
    sg = start_sockguard(bundle=bundle)
    r = cli.docker(sg.host, "ps")
    assert_cli_denied(r, code)
    resp = rawhttp.request(sg.sock, "GET", "/v1.41/containers/json")
    assert_denied(resp, 500, code)
    resp = rawhttp.request(sg.sock, "GET", "/v1.41/version")
    assert_denied(resp, 500, code)
    event = sg.audit_event(resp.request_id)
    assert event["code"] == code and event["decision"] in ("deny", "error"), event
    # The version-negotiation endpoints still answer, so that clients pick the engine's API
    # version and show the policy's error (above) rather than a version mismatch.
    for method, path in (("HEAD", "/_ping"), ("GET", "/_ping"), ("GET", "/version")):
        resp = rawhttp.request(sg.sock, method, path)
        assert resp.status == 200, resp.describe()
        assert resp.header("Api-Version") == "1.41", resp.describe()
        event = sg.audit_event(resp.request_id)
        assert event["decision"] == "would_deny" and event["code"] == code, event


# -- upstream gone ----------------------------------------------------------------

class Relay:
    """socat UNIX-LISTEN:relay.sock,fork UNIX-CONNECT:<engine>, in its own
    process group so that stopping it also ends its forked children."""

    def __init__(self, path: str):
        self.path = path
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            ["socat", f"UNIX-LISTEN:{self.path},fork,unlink-early", f"UNIX-CONNECT:{config.ENGINE_SOCK}"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True)
        deadline = time.monotonic() + 10
        while not os.path.exists(self.path):
            assert self.proc.poll() is None, "socat relay exited at start"
            assert time.monotonic() < deadline, "socat relay socket never appeared"
            time.sleep(0.02)

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        self.proc = None
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass


@pytest.fixture
def relay():
    if not shutil.which("socat"):
        msg = "socat is not installed (Debian package socat)"
        if config.IN_CI:
            pytest.fail(msg)
        pytest.skip(msg)
    d = tempfile.mkdtemp(prefix="sgt-relay-")
    r = Relay(os.path.join(d, "relay.sock"))
    r.start()
    yield r
    r.stop()
    os.rmdir(d)


def test_upstream_unreachable_then_recovers(start_sockguard, relay):
    sg = start_sockguard(bundle=None, upstream=f"unix://{relay.path}")
    r = cli.docker(sg.host, "ps")
    assert r.ok, r.describe()

    relay.stop()
    r = cli.docker(sg.host, "ps", timeout=60)
    assert_cli_denied(r, "upstream_unreachable")
    resp = rawhttp.request(sg.sock, "GET", "/v1.41/containers/json", timeout=30)
    assert_denied(resp, 502, "upstream_unreachable")
    event = sg.audit_event(resp.request_id)
    assert event["code"] == "upstream_unreachable", event
    assert sg.proc.poll() is None, "sockguard exited when its upstream went away"

    relay.start()
    r = cli.docker(sg.host, "ps", timeout=60)
    assert r.ok, f"not recovered after the relay came back\n{r.describe()}"
    assert r.stdout.startswith("CONTAINER ID"), r.describe()
    resp = rawhttp.request(sg.sock, "GET", "/v1.41/version")
    assert resp.status == 200, resp.describe()


class SilentUpstream:
    """Accepts connections and reads requests, but never answers."""

    def __init__(self, path: str):
        self.path = path
        self.server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.server.bind(path)
        self.server.listen(16)
        self.server.settimeout(0.2)
        self.conns: list[socket.socket] = []
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.stopping.is_set():
            try:
                conn, _ = self.server.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            self.conns.append(conn)

    def close(self) -> None:
        self.stopping.set()
        self.thread.join(timeout=5)
        for c in self.conns:
            c.close()
        self.server.close()
        os.unlink(self.path)


def test_upstream_timeout(start_sockguard):
    d = tempfile.mkdtemp(prefix="sgt-silent-")
    upstream = SilentUpstream(os.path.join(d, "silent.sock"))
    try:
        sg = start_sockguard(bundle=None, upstream=f"unix://{upstream.path}",
                             extra_args=["--upstream-timeout", "2s"])
        started = time.monotonic()
        resp = rawhttp.request(sg.sock, "GET", "/v1.41/containers/json", timeout=20)
        elapsed = time.monotonic() - started
        assert_denied(resp, 504, "upstream_timeout")
        assert 1.5 <= elapsed < 15, f"answered after {elapsed:.1f}s with a 2s upstream timeout"
    finally:
        upstream.close()
        os.rmdir(d)

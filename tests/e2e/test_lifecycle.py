"""Starting and stopping `sockguard serve`."""

from __future__ import annotations

import os
import subprocess
import time

from harness import config, rawhttp
from harness.proc import Sockguard


def test_prints_docker_host_and_shuts_down_cleanly():
    sg = Sockguard(bundle=None, name="life").start()
    try:
        deadline = time.monotonic() + 5
        while f"DOCKER_HOST={sg.host}" not in sg.stdout_text().splitlines():
            assert time.monotonic() < deadline, f"no DOCKER_HOST line on stdout:\n{sg.diagnostics()}"
            time.sleep(0.05)
        resp = rawhttp.request(sg.sock, "GET", "/_ping")
        assert resp.status == 200 and resp.body == b"OK", resp.describe()
        assert os.path.exists(sg.sock)
    finally:
        sg.stop_and_check()
        sg.cleanup_dir()
    assert sg.returncode == 0
    assert not os.path.exists(sg.sock)


def test_shutdown_with_idle_keepalive_connection():
    """An idle client connection must not keep SIGTERM from finishing."""
    sg = Sockguard(bundle=None, name="keepalive").start()
    conn = rawhttp.connect(sg.sock, timeout=10)
    try:
        conn.sendall(rawhttp.build_request("GET", "/_ping", headers=[("Connection", "keep-alive")]))
        resp = rawhttp.read_response(conn, "GET", timeout=10)
        assert resp.status == 200, resp.describe()
        sg.stop_and_check()
    finally:
        conn.close()
        sg.kill()
        sg.cleanup_dir()


def test_bad_bundle_path_fails_to_start(tmp_path):
    sg = Sockguard(bundle=None, name="badbundle",
                   extra_args=["--bundle", str(tmp_path / "does-not-exist")])
    try:
        proc = subprocess.run(sg.args, capture_output=True, text=True, timeout=30, cwd=config.REPO_ROOT)
        assert proc.returncode != 0, f"started with a missing bundle: {proc.stdout} {proc.stderr}"
        assert not os.path.exists(sg.sock), "socket left behind by a failed start"
    finally:
        sg.cleanup_dir()

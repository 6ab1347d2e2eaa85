"""The FROM-scratch container image (Dockerfile), built and run on the real engine.

The image holds only the static binary and runs as uid 65532; it guards the engine socket
mounted into it and serves its own socket into a host directory, which the real docker CLI
then uses.
"""

from __future__ import annotations

import os
import stat
import subprocess
import tempfile
import time

import pytest

from harness import config
from harness.checks import assert_cli_denied
from harness.cli import docker

TAG = f"sockguard-e2e:{config.RUN_ID}"


@pytest.fixture(scope="module")
def image(real):
    proc = subprocess.run(
        ["bash", str(config.REPO_ROOT / "scripts" / "build-image.sh"), TAG],
        capture_output=True, text=True, timeout=300,
        env={**os.environ, "SOCKGUARD_BIN": str(config.SOCKGUARD_BIN), "DOCKER_HOST": config.ENGINE_URL},
    )
    assert proc.returncode == 0, f"build-image.sh failed:\n{proc.stdout}\n{proc.stderr}"
    yield TAG
    real.images.remove(TAG, force=True)


@pytest.fixture
def running(real, image):
    host_dir = tempfile.mkdtemp(prefix="sgt-image-")
    os.chmod(host_dir, 0o777)  # the container's user (65532) creates its socket here
    gid = os.stat(config.ENGINE_SOCK).st_gid
    container = real.containers.run(
        image, detach=True, name=config.unique_name("image"), labels=config.LABELS,
        group_add=[str(gid)],
        volumes={config.ENGINE_SOCK: {"bind": "/var/run/docker.sock", "mode": "rw"},
                 host_dir: {"bind": "/run/sockguard", "mode": "rw"}},
    )
    sock = os.path.join(host_dir, "docker.sock")
    deadline = time.monotonic() + 20
    while not (os.path.exists(sock) and stat.S_ISSOCK(os.stat(sock).st_mode)):
        container.reload()
        assert container.status in ("created", "running"), container.logs().decode(errors="replace")
        assert time.monotonic() < deadline, f"no socket after 20 s:\n{container.logs().decode(errors='replace')}"
        time.sleep(0.1)
    yield container, f"unix://{sock}"
    container.remove(force=True)
    for name in os.listdir(host_dir):
        os.unlink(os.path.join(host_dir, name))
    os.rmdir(host_dir)


def test_the_image_is_one_static_binary_run_as_a_non_root_user(real, image):
    attrs = real.images.get(image).attrs
    assert attrs["Config"]["User"] == "65532:65532"
    assert attrs["Config"]["Entrypoint"] == ["/usr/local/bin/sockguard"]
    assert attrs["Size"] < 64 * 1024 * 1024, attrs["Size"]


def test_the_container_guards_the_mounted_engine_socket(running):
    container, host = running
    version = docker(host, "version", "--format", "{{.Server.APIVersion}}")
    assert version.ok, version.describe()
    assert version.stdout.strip() == "1.41"
    ps = docker(host, "ps", "--format", "{{.Names}}")
    assert ps.ok, ps.describe()
    assert container.name in ps.stdout.split()
    # the embedded default bundle is in force: writes are denied with its message
    run = docker(host, "run", "--rm", config.TEST_IMAGE, "true")
    assert_cli_denied(run, "write_denied")
    # the audit log goes to the container's stdout (lines are written in batches: wait a little)
    deadline = time.monotonic() + 10
    while True:
        logs = container.logs(stdout=True, stderr=False).decode(errors="replace")
        if ('"decision":"deny"' in logs and '"code":"write_denied"' in logs) or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert '"decision":"deny"' in logs and '"code":"write_denied"' in logs, logs[-2000:]

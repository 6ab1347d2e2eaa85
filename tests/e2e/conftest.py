"""Fixtures for the sockguard end-to-end suite.

Everything runs against a real Docker engine on ENGINE_SOCK, with the real
docker CLI and docker-py. When the engine, the sockguard binary or the test
image is missing the suite is skipped with the reason printed, except under
CI=true, where the same condition fails every test.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time

import docker
import pytest

from harness import config, engine
from harness.proc import Sockguard

# -- preflight ---------------------------------------------------------------

_preflight_result: tuple[bool, str] | None = None


def _ensure_image() -> tuple[bool, str]:
    real = engine.client()
    try:
        if engine.image_exists(real, config.TEST_IMAGE):
            return True, "present"
    finally:
        real.close()
    proc = subprocess.run(["bash", str(config.BUILD_IMAGE_SCRIPT)], capture_output=True, text=True,
                          timeout=300, env={**os.environ, "SOCKGUARD_ENGINE_HOST": config.ENGINE_URL})
    if proc.returncode != 0:
        return False, f"{config.BUILD_IMAGE_SCRIPT} failed ({proc.returncode}): {proc.stderr[-1000:]}"
    return True, "built"


def _preflight() -> tuple[bool, str]:
    global _preflight_result
    if _preflight_result is not None:
        return _preflight_result
    problems = []
    up, detail = engine.reachable()
    if not up:
        problems.append(f"no Docker engine answers on {config.ENGINE_SOCK} ({detail})")
    if not (config.SOCKGUARD_BIN.is_file() and os.access(config.SOCKGUARD_BIN, os.X_OK)):
        problems.append(f"sockguard binary not found at {config.SOCKGUARD_BIN} "
                        "(build it, or set SOCKGUARD_BIN)")
    if not os.path.exists(config.DOCKER_CLI) and not shutil.which(config.DOCKER_CLI):
        problems.append(f"docker CLI not found ({config.DOCKER_CLI})")
    if up and not problems:
        ok, detail = _ensure_image()
        if not ok:
            problems.append(f"test image {config.TEST_IMAGE} unavailable: {detail}")
    _preflight_result = (not problems, "; ".join(problems))
    return _preflight_result


def pytest_report_header():
    return [
        f"sockguard binary: {config.SOCKGUARD_BIN}",
        f"engine socket: {config.ENGINE_SOCK}; docker CLI: {config.DOCKER_CLI}",
        f"run id: {config.RUN_ID} (names {config.NAME_PREFIX}*, label {config.LABEL_RUN}={config.RUN_ID}); "
        f"repeat={config.REPEAT}; CI={'true' if config.IN_CI else 'false'}",
    ]


@pytest.fixture(scope="session", autouse=True)
def preflight():
    ok, reason = _preflight()
    if not ok:
        if config.IN_CI:
            pytest.fail(f"end-to-end prerequisites missing under CI=true: {reason}", pytrace=False)
        print(f"\nSKIP sockguard e2e: {reason}", file=sys.stderr)
        pytest.skip(f"sockguard e2e prerequisites missing: {reason}")
    yield


@pytest.fixture(scope="session")
def real(preflight):
    """docker-py client on the real engine socket (not through sockguard)."""
    c = engine.client()
    yield c
    removed = engine.remove_run_leftovers(c)
    if removed:
        print(f"\ncleanup removed: {', '.join(removed)}", file=sys.stderr)
    c.close()


# -- per-test time limit -------------------------------------------------------

@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item):
    limit = config.TEST_TIMEOUT

    def on_alarm(signum, frame):
        raise TimeoutError(f"test exceeded its {limit}s limit")

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(limit)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


# -- sockguard processes ------------------------------------------------------

class SockguardPool:
    """Starts sockguard processes and, at teardown, stops every one of them
    with SIGTERM and checks it exited 0 and removed its socket."""

    def __init__(self):
        self.started: list[Sockguard] = []

    def start(self, bundle: str | None = None, mode: str | None = None,
              upstream: str | None = None, extra_args: list[str] | None = None,
              env: dict | None = None) -> Sockguard:
        sg = Sockguard(bundle=bundle, mode=mode, upstream=upstream, extra_args=extra_args,
                       name=(bundle or "embedded").replace("/", "_")[:12], env=env)
        self.started.append(sg)
        sg.start()
        return sg

    def close(self) -> None:
        failures = []
        for sg in self.started:
            try:
                sg.stop_and_check()
            except AssertionError as exc:
                failures.append(str(exc))
            else:
                sg.cleanup_dir()
        self.started.clear()
        if failures:
            pytest.fail("sockguard did not shut down cleanly:\n" + "\n\n".join(failures), pytrace=False)


@pytest.fixture
def start_sockguard(preflight):
    """Factory: start_sockguard(bundle=..., mode=..., upstream=...) -> Sockguard.

    bundle=None is the embedded default bundle; "default" loads
    policies/default; other names are tests/bundles/NAME."""
    pool = SockguardPool()
    yield pool.start
    pool.close()


@pytest.fixture(scope="module")
def module_sockguards(preflight):
    pool = SockguardPool()
    yield pool
    pool.close()


@pytest.fixture(scope="module")
def sg_default(module_sockguards) -> Sockguard:
    """sockguard with the embedded default bundle, shared by a module."""
    return module_sockguards.start(bundle=None)


@pytest.fixture(scope="module")
def sg_permissive(module_sockguards) -> Sockguard:
    return module_sockguards.start(bundle="permissive")


@pytest.fixture(scope="module")
def sg_noprivileged(module_sockguards) -> Sockguard:
    return module_sockguards.start(bundle="no-privileged")


# -- containers on the real engine ----------------------------------------------

COUNTER_SCRIPT = 'i=0; while true; do echo "line $i"; i=$((i+1)); sleep 0.5; done'


# Containers are per module: a module whose proxy wrongly lets `docker rm`
# through must not take the container away from the modules after it.

@pytest.fixture(scope="module")
def secret_container(real):
    """A running container created directly on the engine, with a secret in
    its environment, that prints "line N" every 0.5 s."""
    c = real.containers.run(
        config.TEST_IMAGE, ["sh", "-c", COUNTER_SCRIPT], detach=True, init=True,
        name=config.unique_name("secret"), labels=config.LABELS,
        environment={"SECRET_TOKEN": "hunter2", "PLAIN_VALUE": "visible-elsewhere"},
    )
    _wait_running(real, c.id)
    yield c
    try:
        real.api.remove_container(c.id, force=True)
    except docker.errors.NotFound:
        pass


@pytest.fixture(scope="module")
def idle_container(real):
    """A running container (sleep) created directly on the engine, for exec and cp."""
    c = real.containers.run(
        config.TEST_IMAGE, ["sleep", "3600"], detach=True, init=True,
        name=config.unique_name("idle"), labels=config.LABELS,
    )
    _wait_running(real, c.id)
    yield c
    try:
        real.api.remove_container(c.id, force=True)
    except docker.errors.NotFound:
        pass


def _wait_running(real, cid: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if real.api.inspect_container(cid)["State"]["Running"]:
            return
        time.sleep(0.1)
    raise AssertionError(f"container {cid[:12]} not running after {timeout}s")

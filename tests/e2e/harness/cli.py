"""Run the real docker CLI against a given DOCKER_HOST, with a timeout."""

from __future__ import annotations

import atexit
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass

from . import config

# An empty CLI configuration of our own, so that the machine's contexts,
# credential helpers or proxy settings cannot change what the CLI does.
_DOCKER_CONFIG = tempfile.mkdtemp(prefix="sgt-docker-config-")
atexit.register(shutil.rmtree, _DOCKER_CONFIG, True)

_DROP = ("DOCKER_CONTEXT", "DOCKER_TLS_VERIFY", "DOCKER_CERT_PATH", "DOCKER_API_VERSION")


def cli_env(host: str, extra: dict | None = None) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in _DROP}
    env["DOCKER_HOST"] = host
    env["DOCKER_CONFIG"] = _DOCKER_CONFIG
    env["DOCKER_CLI_HINTS"] = "false"
    if extra:
        env.update(extra)
    return env


@dataclass
class Result:
    args: list[str]
    returncode: int
    stdout: str | bytes
    stderr: str

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    def describe(self) -> str:
        out = self.stdout if isinstance(self.stdout, str) else self.stdout[:400].decode("utf-8", "replace")
        return (f"command {self.args} exited {self.returncode}\n"
                f"--- stdout ---\n{out[:2000]}\n--- stderr ---\n{self.stderr[:2000]}")


def run(args: list[str], host: str, input: bytes | str | None = None, timeout: float = 60,
        text: bool = True, env: dict | None = None, cwd: str | None = None,
        open_stdin: bool = False) -> Result:
    """Run `args` (a full argv) with DOCKER_HOST=`host`.

    With text=False stdout is bytes (stderr is always text). Without `input`
    stdin is /dev/null, or with open_stdin=True a pipe that stays open (never
    reaching EOF) until the command ends, for programs such as `script` that
    react to end of input. A command still running after `timeout` seconds is
    killed and reported as a failure of the test, with what it printed so far.
    """
    if open_stdin:
        read_end, write_end = os.pipe()
        try:
            return _run(args, host, None, timeout, text, env, cwd, stdin=read_end)
        finally:
            os.close(read_end)
            os.close(write_end)
    return _run(args, host, input, timeout, text, env, cwd,
                stdin=None if input is not None else subprocess.DEVNULL)


def _run(args, host, input, timeout, text, env, cwd, stdin) -> Result:
    if text and isinstance(input, bytes):
        input = input.decode("utf-8")
    if not text and isinstance(input, str):
        input = input.encode("utf-8")
    try:
        proc = subprocess.run(
            args, input=input, capture_output=True, timeout=timeout, text=text,
            env=cli_env(host, env), cwd=cwd, stdin=stdin,
        )
    except subprocess.TimeoutExpired as exc:
        out = exc.stdout or b""
        err = exc.stderr or b""
        if isinstance(out, bytes):
            out = out.decode("utf-8", "replace")
        if isinstance(err, bytes):
            err = err.decode("utf-8", "replace")
        raise AssertionError(f"command {args} did not finish within {timeout}s\n"
                             f"--- stdout ---\n{out[:2000]}\n--- stderr ---\n{err[:2000]}") from None
    stderr = proc.stderr if isinstance(proc.stderr, str) else proc.stderr.decode("utf-8", "replace")
    return Result(list(args), proc.returncode, proc.stdout, stderr)


def docker(host: str, *args: str, **kwargs) -> Result:
    """`docker ARGS...` with DOCKER_HOST=`host`."""
    return run([config.DOCKER_CLI, *args], host, **kwargs)


def popen_docker(host: str, *args: str, env: dict | None = None) -> subprocess.Popen:
    """Start a long-running `docker ARGS...` (events, logs -f) with pipes.

    The caller must stop it (see `stop_process`)."""
    return subprocess.Popen(
        [config.DOCKER_CLI, *args], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, env=cli_env(host, env),
    )


def stop_process(proc: subprocess.Popen, timeout: float = 10) -> tuple[bytes, bytes]:
    """Terminate `proc` (a Popen we started) and return the rest of its output."""
    if proc.poll() is None:
        proc.terminate()
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate(timeout=timeout)
    return out or b"", err or b""


class LineCollector:
    """Reads a pipe line by line on a thread, stamping each line's arrival.

    Used for streams (events, logs -f, attach) where *when* a line arrives
    matters as much as what it says: a proxy that buffers a stream until the
    connection closes would deliver every line at the very end.
    """

    def __init__(self, pipe):
        import queue
        import threading
        import time

        self._time = time
        self.lines: list[tuple[float, bytes]] = []
        self._queue: queue.Queue = queue.Queue()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._pump, args=(pipe,), daemon=True)
        self._thread.start()

    def _pump(self, pipe) -> None:
        for line in iter(pipe.readline, b""):
            stamped = (self._time.monotonic(), line)
            with self._lock:
                self.lines.append(stamped)
            self._queue.put(stamped)

    def snapshot(self) -> list[tuple[float, bytes]]:
        with self._lock:
            return list(self.lines)

    def wait_for(self, predicate, timeout: float) -> tuple[float, bytes] | None:
        """First line (from now on, plus any already seen) matching `predicate`."""
        for stamped in self.snapshot():
            if predicate(stamped[1]):
                return stamped
        deadline = self._time.monotonic() + timeout
        import queue

        while True:
            remaining = deadline - self._time.monotonic()
            if remaining <= 0:
                return None
            try:
                stamped = self._queue.get(timeout=remaining)
            except queue.Empty:
                return None
            if predicate(stamped[1]):
                return stamped

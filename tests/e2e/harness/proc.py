"""The sockguard process under test: start, wait for readiness, stop."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

from . import config, rawhttp


class SockguardFailed(AssertionError):
    pass


class Sockguard:
    """One `sockguard serve` process listening on a socket in a temp dir."""

    def __init__(self, bundle: str | None = None, mode: str | None = None,
                 upstream: str | None = None, extra_args: list[str] | None = None,
                 name: str = "sg", env: dict | None = None):
        # Keep the directory short: a unix socket path has a ~107 byte limit.
        self.dir = Path(tempfile.mkdtemp(prefix=f"sgt-{name}-"))
        self.sock = str(self.dir / "sg.sock")
        self.audit_log = self.dir / "audit.jsonl"
        self.stdout_path = self.dir / "stdout.log"
        self.stderr_path = self.dir / "stderr.log"
        self.bundle = bundle
        self.mode = mode
        self.upstream = upstream or config.ENGINE_URL
        self.args = [str(config.SOCKGUARD_BIN), "serve",
                     "--listen", f"unix://{self.sock}",
                     "--upstream", self.upstream,
                     "--audit-log", str(self.audit_log)]
        bundle_dir = config.bundle_path(bundle)
        if bundle_dir is not None:
            self.args += ["--bundle", str(bundle_dir)]
        if mode is not None:
            self.args += ["--mode", mode]
        self.args += list(extra_args or [])
        # Variables added to (or, with the value None, removed from) the environment.
        self.env = dict(os.environ)
        for key, value in (env or {}).items():
            if value is None:
                self.env.pop(key, None)
            else:
                self.env[key] = value
        self.proc: subprocess.Popen | None = None
        self.returncode: int | None = None

    @property
    def host(self) -> str:
        """The DOCKER_HOST value a client uses to reach this sockguard."""
        return f"unix://{self.sock}"

    # -- lifecycle ---------------------------------------------------------

    def start(self, timeout: float = 30) -> "Sockguard":
        self._out = open(self.stdout_path, "wb")
        self._err = open(self.stderr_path, "wb")
        self.proc = subprocess.Popen(self.args, stdin=subprocess.DEVNULL, stdout=self._out,
                                     stderr=self._err, cwd=config.REPO_ROOT, env=self.env)
        deadline = time.monotonic() + timeout
        last_error = "socket never appeared"
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SockguardFailed(f"sockguard exited with {self.proc.returncode} during startup\n"
                                      + self.diagnostics())
            if os.path.exists(self.sock):
                try:
                    # Any HTTP answer means it is serving; whether /_ping is
                    # allowed or reaches the upstream is for the tests to say.
                    rawhttp.request(self.sock, "GET", "/_ping", timeout=5)
                    return self
                except (OSError, rawhttp.RawHTTPError, TimeoutError) as exc:
                    last_error = repr(exc)
            time.sleep(0.05)
        self.kill()
        raise SockguardFailed(f"sockguard not ready within {timeout}s ({last_error})\n" + self.diagnostics())

    def stop(self, timeout: float = 20) -> int:
        """SIGTERM, wait, and return the exit status (SIGKILL if it hangs)."""
        if self.proc is None:
            return 0
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.kill()
                raise SockguardFailed(f"sockguard did not exit within {timeout}s of SIGTERM\n"
                                      + self.diagnostics())
        self.returncode = self.proc.returncode
        self._close_files()
        return self.returncode

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self._close_files()

    def _close_files(self) -> None:
        for f in (getattr(self, "_out", None), getattr(self, "_err", None)):
            if f is not None and not f.closed:
                f.close()

    def stop_and_check(self) -> None:
        """Stop, then assert a clean exit: status 0 and the socket removed."""
        rc = self.stop()
        problems = []
        if rc != 0:
            problems.append(f"exit status {rc} after SIGTERM (want 0)")
        if os.path.exists(self.sock):
            problems.append(f"socket {self.sock} left behind after SIGTERM")
        if problems:
            raise SockguardFailed("; ".join(problems) + "\n" + self.diagnostics())

    def cleanup_dir(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)

    def client(self, timeout: int = 60):
        """docker-py through this sockguard (API version negotiated through it)."""
        import docker

        return docker.DockerClient(base_url=self.host, timeout=timeout)

    # -- what it wrote -------------------------------------------------------

    def stdout_text(self) -> str:
        try:
            return self.stdout_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def stderr_text(self) -> str:
        try:
            return self.stderr_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def audit_lines(self) -> list[str]:
        try:
            text = self.audit_log.read_text(errors="replace")
        except FileNotFoundError:
            return []
        return [line for line in text.splitlines() if line.strip()]

    def audit_events(self) -> list[dict]:
        """Every audit line parsed as JSON (a line that is not JSON raises)."""
        return [json.loads(line) for line in self.audit_lines()]

    def audit_event(self, request_id: str, timeout: float = 5) -> dict:
        """The audit event for `request_id`, waiting briefly for it to be written."""
        deadline = time.monotonic() + timeout
        while True:
            for line in self.audit_lines():
                try:
                    event = json.loads(line)
                except ValueError:
                    continue
                if event.get("request_id") == request_id:
                    return event
            if time.monotonic() > deadline:
                raise AssertionError(f"no audit event with request_id {request_id!r} in {self.audit_log}:\n"
                                     + "\n".join(self.audit_lines()[-20:]))
            time.sleep(0.1)

    def wait_audit_events(self, match, timeout: float = 5) -> list[dict]:
        """Audit events for which `match(event)` is true, waiting for at least one.

        The audit writer batches lines (see DESIGN.md, audit), so an event can
        land shortly after the client has its response.
        """
        deadline = time.monotonic() + timeout
        while True:
            found = [e for e in self.audit_events() if match(e)]
            if found or time.monotonic() > deadline:
                return found
            time.sleep(0.05)

    def diagnostics(self) -> str:
        return (f"command: {' '.join(self.args)}\n"
                f"--- sockguard stdout ---\n{self.stdout_text()[-2000:]}\n"
                f"--- sockguard stderr ---\n{self.stderr_text()[-4000:]}")

"""Remote bundle sources for the tests: a real OCI registry and an HTTPS file server.

The registry is Debian's `docker-registry` (distribution 2.8) on a loopback port with a
temporary storage root; scripts/test.sh starts one and names it in SOCKGUARD_TEST_REGISTRY,
and the tests start their own (for a registry with logins, or when run alone). The HTTPS
server is Python's, with a certificate from a throwaway CA made with the openssl CLI.
"""

from __future__ import annotations

import base64
import http.server
import json
import os
import shutil
import socket
import ssl
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

REGISTRY_BIN = os.environ.get("SOCKGUARD_REGISTRY_BIN") or shutil.which("docker-registry") or ""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Registry:
    """One docker-registry process; `users` ({name: password}) turns on htpasswd logins."""

    def __init__(self, users: dict[str, str] | None = None, host: str | None = None):
        self.users = users or {}
        self.proc: subprocess.Popen | None = None
        self.dir: Path | None = None
        self.host = host  # an already running registry (SOCKGUARD_TEST_REGISTRY)

    def start(self, timeout: float = 20) -> "Registry":
        if self.host:
            self._wait(timeout)
            return self
        if not REGISTRY_BIN:
            raise RuntimeError("docker-registry is not installed (apt-get install docker-registry)")
        self.dir = Path(tempfile.mkdtemp(prefix="sgt-registry-"))
        port = free_port()
        self.host = f"127.0.0.1:{port}"
        lines = [
            "version: 0.1",
            "log:", "  level: warn",
            "storage:", "  filesystem:", f"    rootdirectory: {self.dir / 'data'}",
            "http:", f"  addr: {self.host}", "  secret: sockguard-e2e",
        ]
        if self.users:
            import bcrypt

            with open(self.dir / "htpasswd", "w") as f:
                for user, password in self.users.items():
                    hashed = bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=5)).decode()
                    f.write(f"{user}:{hashed}\n")
            lines += ["auth:", "  htpasswd:", "    realm: sockguard-e2e", f"    path: {self.dir / 'htpasswd'}"]
        (self.dir / "config.yml").write_text("\n".join(lines) + "\n")
        self.log = open(self.dir / "registry.log", "wb")
        self.proc = subprocess.Popen([REGISTRY_BIN, "serve", str(self.dir / "config.yml")],
                                     stdout=self.log, stderr=subprocess.STDOUT)
        self._wait(timeout)
        return self

    def _wait(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                status, _, _ = self.get("/v2/", auth=False)
                if status in (200, 401):
                    return
            except OSError:
                pass
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"docker-registry exited with {self.proc.returncode}: {self.log_text()}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"registry {self.host} did not answer within {timeout}s: {self.log_text()}")
            time.sleep(0.1)

    def log_text(self) -> str:
        if self.dir is None:
            return ""
        try:
            return (self.dir / "registry.log").read_text(errors="replace")[-3000:]
        except FileNotFoundError:
            return ""

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        if self.dir is not None:
            self.log.close()
            shutil.rmtree(self.dir, ignore_errors=True)

    def get(self, path: str, accept: str | None = None, auth: bool = True) -> tuple[int, dict, bytes]:
        """GET from the registry's HTTP API: (status, headers, body)."""
        request = urllib.request.Request(f"http://{self.host}{path}")
        if accept:
            request.add_header("Accept", accept)
        if auth and self.users:
            user, password = next(iter(self.users.items()))
            token = base64.b64encode(f"{user}:{password}".encode()).decode()
            request.add_header("Authorization", f"Basic {token}")
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, dict(response.headers), response.read()
        except urllib.error.HTTPError as e:
            return e.code, dict(e.headers), e.read()

    def tags(self, repository: str) -> list[str]:
        status, _, body = self.get(f"/v2/{repository}/tags/list")
        assert status == 200, (status, body)
        return json.loads(body)["tags"] or []

    def manifest(self, repository: str, reference: str, accept: str) -> tuple[dict, str]:
        status, headers, body = self.get(f"/v2/{repository}/manifests/{reference}", accept=accept)
        assert status == 200, (status, body)
        return json.loads(body), headers.get("Docker-Content-Digest", "")


# -- HTTPS ---------------------------------------------------------------------

def make_certificates(directory: Path) -> dict[str, Path]:
    """A throwaway CA and a server certificate for 127.0.0.1, made with the openssl CLI."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = {name: directory / name for name in ("ca.key", "ca.pem", "server.key", "server.csr", "server.pem", "ext.cnf")}

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], check=True, capture_output=True, timeout=60)

    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", str(paths["ca.key"]), "-out", str(paths["ca.pem"]), "-days", "2",
            "-subj", "/CN=sockguard e2e CA")
    openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", str(paths["server.key"]), "-out", str(paths["server.csr"]), "-subj", "/CN=127.0.0.1")
    paths["ext.cnf"].write_text("subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n"
                                "keyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n")
    openssl("x509", "-req", "-in", str(paths["server.csr"]), "-CA", str(paths["ca.pem"]),
            "-CAkey", str(paths["ca.key"]), "-CAcreateserial", "-out", str(paths["server.pem"]),
            "-days", "2", "-extfile", str(paths["ext.cnf"]))
    return paths


class HTTPSFiles:
    """Serve the files of a directory over HTTPS on 127.0.0.1, in a thread."""

    def __init__(self, root: Path, cert: Path, key: Path):
        root = Path(root)

        class Handler(http.server.SimpleHTTPRequestHandler):
            def __init__(self, *args, **kwargs):
                super().__init__(*args, directory=str(root), **kwargs)

            def log_message(self, *args):  # keep the test output quiet
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(str(cert), str(key))
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, name: str) -> str:
        return f"https://127.0.0.1:{self.port}/{name}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

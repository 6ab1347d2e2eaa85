"""A deliberately small HTTP/1.1 client over a unix socket.

The point is control over the exact bytes on the wire: duplicate JSON keys,
odd request targets (`//v1.41/...`, `%2e%2e`), chunked request bodies, header
spellings. Libraries such as requests or http.client normalise some of these,
so every request here is written by hand and every response is parsed by hand.
"""

from __future__ import annotations

import json
import socket
import time
from dataclasses import dataclass, field

REQUEST_ID_HEADER = "x-sockguard-request-id"


class RawHTTPError(Exception):
    """The peer closed or answered something that is not HTTP/1.1."""


@dataclass
class Response:
    status: int
    reason: str
    headers: list[tuple[str, str]]
    body: bytes
    raw_head: bytes = b""
    sent: bytes = field(default=b"", repr=False)

    def header(self, name: str) -> str | None:
        """Last value of header `name` (case-insensitive), or None."""
        name = name.lower()
        found = None
        for key, value in self.headers:
            if key.lower() == name:
                found = value
        return found

    @property
    def request_id(self) -> str | None:
        return self.header(REQUEST_ID_HEADER)

    def json(self):
        return json.loads(self.body.decode("utf-8"))

    def describe(self) -> str:
        """A short text for assertion messages."""
        body = self.body[:600].decode("utf-8", "replace")
        return f"HTTP {self.status} {self.reason} headers={self.headers} body={body!r}"


def connect(sock_path: str, timeout: float) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    sock.connect(sock_path)
    return sock


def build_request(
    method: str,
    target: str,
    headers: list[tuple[str, str]] | None = None,
    body: bytes | str | None = None,
    chunks: list[bytes] | None = None,
    content_type: str | None = None,
) -> bytes:
    """Bytes of one request. `target` is sent exactly as given.

    `body` is sent with a Content-Length; `chunks` (mutually exclusive) is sent
    with `Transfer-Encoding: chunked`, one chunk per element. `content_type`
    is a shortcut for a Content-Type header. `Host` and `Connection: close`
    are added unless `headers` names them.
    """
    if body is not None and chunks is not None:
        raise ValueError("body and chunks are mutually exclusive")
    if isinstance(body, str):
        body = body.encode("utf-8")
    hdrs = list(headers or [])
    names = {k.lower() for k, _ in hdrs}
    if "host" not in names:
        hdrs.insert(0, ("Host", "docker"))
    if "connection" not in names:
        hdrs.append(("Connection", "close"))
    if content_type is not None:
        hdrs.append(("Content-Type", content_type))
    payload = b""
    if chunks is not None:
        hdrs.append(("Transfer-Encoding", "chunked"))
        for chunk in chunks:
            payload += f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n"
        payload += b"0\r\n\r\n"
    elif body is not None:
        if "content-length" not in names:
            hdrs.append(("Content-Length", str(len(body))))
        payload = body
    head = f"{method} {target} HTTP/1.1\r\n"
    head += "".join(f"{k}: {v}\r\n" for k, v in hdrs)
    head += "\r\n"
    return head.encode("latin-1") + payload


class _Reader:
    def __init__(self, sock: socket.socket, deadline: float):
        self.sock = sock
        self.buf = b""
        self.eof = False
        self.deadline = deadline

    def _fill(self) -> None:
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("response not complete before the deadline")
        self.sock.settimeout(remaining)
        data = self.sock.recv(65536)
        if not data:
            self.eof = True
        self.buf += data

    def until(self, marker: bytes) -> bytes:
        while marker not in self.buf:
            if self.eof:
                raise RawHTTPError(f"connection closed before {marker!r}; got {self.buf[:300]!r}")
            self._fill()
        idx = self.buf.index(marker) + len(marker)
        out, self.buf = self.buf[:idx], self.buf[idx:]
        return out

    def exactly(self, n: int) -> bytes:
        while len(self.buf) < n:
            if self.eof:
                raise RawHTTPError(f"connection closed after {len(self.buf)} of {n} body bytes")
            self._fill()
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def rest(self) -> bytes:
        while not self.eof:
            self._fill()
        out, self.buf = self.buf, b""
        return out


def _parse_head(head: bytes) -> tuple[int, str, list[tuple[str, str]]]:
    lines = head.decode("latin-1").split("\r\n")
    status_line = lines[0]
    parts = status_line.split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/1."):
        raise RawHTTPError(f"not an HTTP/1.x status line: {status_line!r}")
    status = int(parts[1])
    reason = parts[2] if len(parts) > 2 else ""
    headers = []
    for line in lines[1:]:
        if not line:
            continue
        key, _, value = line.partition(":")
        headers.append((key.strip(), value.strip()))
    return status, reason, headers


def read_response(sock: socket.socket, method: str, timeout: float) -> Response:
    reader = _Reader(sock, time.monotonic() + timeout)
    # Skip interim 1xx responses other than 101 (e.g. 100 Continue).
    while True:
        head = reader.until(b"\r\n\r\n")
        status, reason, headers = _parse_head(head)
        if 100 <= status < 200 and status != 101:
            continue
        break
    resp = Response(status, reason, headers, b"", raw_head=head)
    if method.upper() == "HEAD" or status in (101, 204, 304):
        return resp
    te = (resp.header("transfer-encoding") or "").lower()
    if "chunked" in te:
        body = b""
        while True:
            size_line = reader.until(b"\r\n")
            size = int(size_line.split(b";")[0].strip(), 16)
            if size == 0:
                # trailers, then the blank line
                while reader.until(b"\r\n") != b"\r\n":
                    pass
                break
            body += reader.exactly(size)
            reader.exactly(2)
        resp.body = body
    elif resp.header("content-length") is not None:
        resp.body = reader.exactly(int(resp.header("content-length")))
    else:
        resp.body = reader.rest()
    return resp


def request(
    sock_path: str,
    method: str,
    target: str,
    headers: list[tuple[str, str]] | None = None,
    body: bytes | str | None = None,
    chunks: list[bytes] | None = None,
    content_type: str | None = None,
    timeout: float = 15.0,
) -> Response:
    """Send one request on a fresh connection and read the whole response."""
    raw = build_request(method, target, headers, body, chunks, content_type)
    return send_raw(sock_path, raw, method=method, timeout=timeout)


def send_raw(sock_path: str, raw: bytes, method: str = "GET", timeout: float = 15.0) -> Response:
    """Send `raw` bytes exactly as given and read one response."""
    sock = connect(sock_path, timeout)
    try:
        try:
            sock.sendall(raw)
        except (BrokenPipeError, ConnectionResetError) as exc:
            # A server may answer early (413 for an oversized body) and close
            # before reading everything; its answer is still there to read.
            try:
                resp = read_response(sock, method, timeout)
            except (RawHTTPError, OSError):
                raise exc from None
            resp.sent = raw
            return resp
        resp = read_response(sock, method, timeout)
        resp.sent = raw
        return resp
    finally:
        sock.close()


def json_body(obj) -> bytes:
    return json.dumps(obj).encode("utf-8")

"""Assertions about what sockguard answered."""

from __future__ import annotations

import json
import re

from .cli import Result
from .rawhttp import Response

# "sockguard: <message> (<code>, request <id>)"
_MESSAGE = re.compile(r"^sockguard: (?P<text>.*) \((?P<code>[a-z0-9_]+), request (?P<id>[^)\s]+)\)$", re.S)


def parse_denial(message: str) -> dict:
    m = _MESSAGE.match(message.strip())
    if not m:
        raise AssertionError(f"not a sockguard denial message: {message!r}")
    return m.groupdict()


def assert_denied(resp: Response, status: int | tuple[int, ...], code: str | tuple[str, ...]) -> dict:
    """`resp` is a sockguard denial with one of `status` and one of `code`.

    Checks the engine-shaped body, that the request id in the message is the
    one in the X-Sockguard-Request-Id header, and returns the parsed message.
    """
    statuses = (status,) if isinstance(status, int) else tuple(status)
    codes = (code,) if isinstance(code, str) else tuple(code)
    assert resp.status in statuses, f"want HTTP {statuses}, got {resp.describe()}"
    assert resp.request_id, f"no X-Sockguard-Request-Id header: {resp.describe()}"
    try:
        body = json.loads(resp.body)
    except ValueError:
        raise AssertionError(f"denial body is not JSON: {resp.describe()}") from None
    assert isinstance(body, dict) and isinstance(body.get("message"), str), \
        f"denial body is not {{\"message\": ...}}: {resp.describe()}"
    parsed = parse_denial(body["message"])
    assert parsed["code"] in codes, f"want code {codes}, got {parsed['code']!r}: {resp.describe()}"
    assert parsed["id"] == resp.request_id, \
        f"request id in message {parsed['id']!r} differs from header {resp.request_id!r}"
    content_type = (resp.header("content-type") or "").lower()
    assert content_type.startswith("application/json"), f"denial Content-Type {content_type!r}"
    return parsed


def assert_cli_denied(result: Result, code: str | tuple[str, ...]) -> str:
    """The CLI failed and printed sockguard's denial with one of `code`."""
    codes = (code,) if isinstance(code, str) else tuple(code)
    assert result.returncode != 0, f"command succeeded but should have been denied\n{result.describe()}"
    assert "sockguard:" in result.stderr, f"no 'sockguard:' in stderr\n{result.describe()}"
    found = re.findall(r"\(([a-z0-9_]+), request [^)\s]+\)", result.stderr)
    assert found, f"no '(<code>, request <id>)' in stderr\n{result.describe()}"
    assert any(c in codes for c in found), f"want code {codes}, stderr has {found}\n{result.describe()}"
    return result.stderr


def assert_sockguard_answered(resp: Response) -> None:
    assert resp.request_id, f"response did not come from sockguard (no request id header): {resp.describe()}"

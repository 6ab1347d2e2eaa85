"""The audit log, and the modes that forward what they would deny."""

from __future__ import annotations

import base64
import json
import os

import pytest

from harness import cli, config, engine, rawhttp
from harness.checks import assert_denied

REQUIRED = ("request_id", "time", "action", "method", "raw_path", "path", "decision",
            "code", "message", "client", "bundle_revision", "latency_us")
DECISIONS = {"allow", "deny", "would_deny", "error"}


@pytest.mark.parametrize("mode", ["audit", "warn"])
def test_non_enforcing_mode_forwards_and_records_would_deny(start_sockguard, real, mode):
    sg = start_sockguard(bundle=None, mode=mode)
    name = config.unique_name(f"mode-{mode}")
    r = cli.docker(sg.host, "create", "--name", name, "--label", f"{config.LABEL_TEST}=1",
                   "--label", f"{config.LABEL_RUN}={config.RUN_ID}", config.TEST_IMAGE, "true")
    try:
        assert r.ok, r.describe()
        assert engine.container_exists(real, name), "create was not forwarded"
        events = sg.wait_audit_events(lambda e: e.get("action") == "container.create")
        assert events, f"no container.create audit event: {sg.audit_lines()[-10:]}"
        ev = events[-1]
        assert ev["decision"] == "would_deny", ev
        assert ev["code"] == "write_denied", ev
        assert ev["method"] == "POST" and ev["path"] == "/containers/create", ev
    finally:
        if engine.container_exists(real, name):
            real.containers.get(name).remove(force=True)


def test_enforce_mode_denies(start_sockguard, real):
    sg = start_sockguard(bundle=None, mode="enforce")
    name = config.unique_name("mode-enforce")
    r = cli.docker(sg.host, "create", "--name", name, config.TEST_IMAGE, "true")
    assert "write_denied" in r.stderr and r.returncode != 0, r.describe()
    assert not engine.container_exists(real, name)


def test_audit_log_lines(start_sockguard, real, secret_container):
    sg = start_sockguard(bundle=None)
    allowed = rawhttp.request(sg.sock, "GET", "/v1.41/containers/json")
    assert allowed.status == 200, allowed.describe()
    inspect = rawhttp.request(sg.sock, "GET", f"/v1.41/containers/{secret_container.id}/json")
    assert inspect.status == 200, inspect.describe()
    denied = rawhttp.request(sg.sock, "POST", "/v1.41/containers/create",
                             body=rawhttp.json_body({"Image": config.TEST_IMAGE}), content_type="application/json")
    assert_denied(denied, 403, "write_denied")
    unknown = rawhttp.request(sg.sock, "GET", "/v1.41/no/such/route")
    assert_denied(unknown, 403, "unknown_action")
    r = cli.docker(sg.host, "ps")
    assert r.ok, r.describe()

    # Wait for the last of ours, then read everything.
    sg.audit_event(unknown.request_id)
    lines = sg.audit_lines()
    assert len(lines) >= 5, lines
    events = []
    for n, line in enumerate(lines, 1):
        try:
            event = json.loads(line)
        except ValueError:
            raise AssertionError(f"audit line {n} is not JSON: {line!r}") from None
        assert isinstance(event, dict), line
        missing = [k for k in REQUIRED if k not in event]
        assert not missing, f"audit line {n} lacks {missing}: {line}"
        assert event["decision"] in DECISIONS, line
        assert isinstance(event["client"], dict) and event["client"], line
        assert isinstance(event["latency_us"], int) and event["latency_us"] >= 0, line
        assert isinstance(event["request_id"], str) and event["request_id"], line
        assert isinstance(event["time"], (str, int, float)) and event["time"], line
        events.append(event)

    by_id = {e["request_id"]: e for e in events}
    assert len(by_id) == len(events), "request ids repeat in the audit log"

    ev = by_id[allowed.request_id]
    assert ev["decision"] == "allow", ev
    assert ev["method"] == "GET" and ev["raw_path"] == "/v1.41/containers/json", ev
    assert ev["path"] == "/containers/json", ev
    # The client is identified from the socket's peer credentials: us.
    client = ev["client"]
    assert client.get("transport") == "unix", client
    assert client.get("unix", {}).get("uid") == os.getuid(), client
    assert client.get("unix", {}).get("pid") == os.getpid(), client

    ev = by_id[denied.request_id]
    assert ev["decision"] == "deny" and ev["code"] == "write_denied", ev
    assert ev["action"] == "container.create" and ev["method"] == "POST", ev
    assert isinstance(ev["message"], str) and ev["message"], ev

    ev = by_id[unknown.request_id]
    assert ev["decision"] == "deny" and ev["code"] == "unknown_action", ev
    assert ev["raw_path"] == "/v1.41/no/such/route", ev

    assert by_id[inspect.request_id]["decision"] == "allow"
    assert "hunter2" not in "\n".join(lines), "the audit log holds a container secret"
    decisions = {e["decision"] for e in events}
    assert {"allow", "deny"} <= decisions, decisions


def test_secret_headers_stay_out_of_logs(start_sockguard):
    sg = start_sockguard(bundle=None)
    token = f"sgt-secret-{config.RUN_ID}"
    auth = base64.urlsafe_b64encode(json.dumps({"username": "u", "password": token}).encode()).decode()
    resp = rawhttp.request(sg.sock, "POST", "/v1.41/images/create?fromImage=127.0.0.1:9/x&tag=1",
                           headers=[("X-Registry-Auth", auth), ("Authorization", f"Bearer {token}")], body=b"")
    assert_denied(resp, 403, "write_denied")
    sg.audit_event(resp.request_id)
    everything = "\n".join(sg.audit_lines()) + sg.stdout_text() + sg.stderr_text()
    assert token not in everything and auth not in everything, "a credential reached sockguard's logs"

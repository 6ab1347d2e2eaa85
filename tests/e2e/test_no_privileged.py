"""The no-privileged bundle: every way of spelling "privileged" that the
engine understands is denied, and no container is created.

Each body variant is first sent directly to the real engine, which must
create a privileged container from it (test_engine_reads_variant_as_privileged):
that is what makes the variant a real bypass, not a typo the engine ignores."""

from __future__ import annotations

import docker
import pytest

from harness import cli, config, engine, rawhttp
from harness.checks import assert_cli_denied, assert_denied

PREFIX = '{"Image":"%s","Cmd":["true"],"Labels":{"sockguard-test":"1","sockguard-run":"%s","sockguard-case":"%%s"},' % (
    config.TEST_IMAGE, config.RUN_ID)

# name -> (JSON tail after the common prefix, codes accepted)
PRIV = ("privileged_container",)
AMBIGUOUS = ("request_body_ambiguous", "privileged_container")
TRAILING = ("request_body_invalid", "privileged_container")
VARIANTS = {
    "canonical": ('"HostConfig":{"Privileged":true}}', PRIV),
    "lowercase": ('"hostconfig":{"privileged":true}}', PRIV),
    "uppercase": ('"HOSTCONFIG":{"PRIVILEGED":true}}', PRIV),
    "mixedcase": ('"hOsTcOnFiG":{"pRiViLeGeD":true}}', PRIV),
    "long-s-utf8": ('"Ho\u017ftconfig":{"Privileged":true}}', PRIV),
    "long-s-escaped": ('"Ho\\u017ftConfig":{"Privileged":true}}', PRIV),
    "escaped-letter": ('"HostConfig":{"Privil\\u0065ged":true}}', PRIV),
    "escaped-key": ('"\\u0048ostConfig":{"\\u0050rivileged":true}}', PRIV),
    "whitespace": ('  "HostConfig" :\n {\t"Privileged"\r\n: true } }', PRIV),
    "dup-top-false-then-true": ('"HostConfig":{"Privileged":false},"HostConfig":{"Privileged":true}}', AMBIGUOUS),
    "dup-folded-merge": ('"HostConfig":{"Privileged":true},"hostconfig":{"Memory":0}}', AMBIGUOUS),
    "dup-nested-folded": ('"HostConfig":{"Privileged":false,"privileged":true}}', AMBIGUOUS),
    "dup-nested-exact": ('"HostConfig":{"Privileged":false,"Privileged":true}}', AMBIGUOUS),
    "dup-long-s": ('"HostConfig":{"Privileged":false},"Ho\u017ftConfig":{"Privileged":true}}', AMBIGUOUS),
    "dup-null-then-value": ('"HostConfig":null,"hostconfig":{"Privileged":true}}', AMBIGUOUS),
    # The engine decodes the first JSON value and ignores what follows it.
    "trailing-data": ('"HostConfig":{"Privileged":true}} {"HostConfig":{"Privileged":false}}', TRAILING),
}

CONTENT_TYPES = {
    "plain": "application/json",
    "charset": "application/json; charset=utf-8",
    "upper": "APPLICATION/JSON",
}


def _body(variant: str, case: str) -> bytes:
    tail, _ = VARIANTS[variant]
    return ((PREFIX % case) + tail).encode("utf-8")


def _created(real, case):
    return engine.containers_labelled(real, "sockguard-case", case)


def _assert_nothing_created(real, case, resp=None):
    created = _created(real, case)
    info = [(c.id[:12], c.attrs["HostConfig"]["Privileged"]) for c in created]
    assert not created, f"container(s) created (id, privileged): {info}; {resp.describe() if resp else ''}"


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_engine_reads_variant_as_privileged(real, variant):
    """Guard: the engine itself creates a privileged container from this body."""
    case = config.unique_name("oracle")
    resp = rawhttp.request(config.ENGINE_SOCK, "POST", "/v1.41/containers/create",
                           body=_body(variant, case), content_type="application/json")
    try:
        assert resp.status == 201, resp.describe()
        cid = resp.json()["Id"]
        assert real.api.inspect_container(cid)["HostConfig"]["Privileged"] is True
    finally:
        for c in _created(real, case):
            c.remove(force=True)


@pytest.mark.parametrize("ctype", list(CONTENT_TYPES))
@pytest.mark.parametrize("variant", list(VARIANTS))
def test_privileged_body_denied(sg_noprivileged, real, variant, ctype):
    case = config.unique_name("priv")
    resp = rawhttp.request(sg_noprivileged.sock, "POST", "/v1.41/containers/create",
                           body=_body(variant, case), content_type=CONTENT_TYPES[ctype])
    _assert_nothing_created(real, case, resp)
    codes = VARIANTS[variant][1]
    statuses = (403,) if codes is PRIV else (400, 403)
    parsed = assert_denied(resp, statuses, codes)
    if parsed["code"] in ("request_body_ambiguous", "request_body_invalid"):
        assert resp.status == 400, resp.describe()
    if parsed["code"] == "privileged_container":
        assert resp.status == 403, resp.describe()


@pytest.mark.parametrize("split", ["whole", "per-byte-key", "mid-key"])
def test_privileged_body_chunked_denied(sg_noprivileged, real, split):
    case = config.unique_name("chunked")
    body = _body("canonical", case)
    if split == "whole":
        chunks = [body]
    elif split == "mid-key":
        at = body.index(b"Privileged") + 4
        chunks = [body[:at], body[at:]]
    else:
        at = body.index(b"HostConfig")
        chunks = [body[:at]] + [bytes([b]) for b in body[at:at + 30]] + [body[at + 30:]]
    resp = rawhttp.request(sg_noprivileged.sock, "POST", "/v1.41/containers/create",
                           chunks=chunks, content_type="application/json")
    _assert_nothing_created(real, case, resp)
    assert_denied(resp, 403, "privileged_container")


def test_privileged_body_chunked_lowercase_charset_denied(sg_noprivileged, real):
    case = config.unique_name("chunked-lc")
    body = _body("lowercase", case)
    resp = rawhttp.request(sg_noprivileged.sock, "POST", "/v1.41/containers/create",
                           chunks=[body[:20], body[20:]], content_type="application/json; charset=utf-8")
    _assert_nothing_created(real, case, resp)
    assert_denied(resp, 403, "privileged_container")


def test_privileged_unversioned_path_denied(sg_noprivileged, real):
    case = config.unique_name("unversioned")
    resp = rawhttp.request(sg_noprivileged.sock, "POST", "/containers/create?name=" + case,
                           body=_body("canonical", case), content_type="application/json")
    _assert_nothing_created(real, case, resp)
    assert_denied(resp, 403, "privileged_container")


def test_cli_run_privileged_denied(sg_noprivileged, real):
    name = config.unique_name("cli-priv")
    r = cli.docker(sg_noprivileged.host, "run", "--rm", "--privileged", "--name", name,
                   "--label", f"{config.LABEL_TEST}=1", "--label", f"{config.LABEL_RUN}={config.RUN_ID}",
                   config.TEST_IMAGE, "echo", "privileged-ran")
    assert_cli_denied(r, "privileged_container")
    assert "privileged-ran" not in r.stdout
    assert "403" in r.stderr or "sockguard:" in r.stderr
    assert not engine.container_exists(real, name)


def test_docker_py_run_privileged_denied(sg_noprivileged, real):
    name = config.unique_name("py-priv")
    client = sg_noprivileged.client()
    try:
        with pytest.raises(docker.errors.APIError) as info:
            client.containers.run(config.TEST_IMAGE, "true", name=name, privileged=True,
                                  labels=config.LABELS, detach=True)
    finally:
        client.close()
    assert info.value.response.status_code == 403, repr(info.value)
    assert "privileged_container" in str(info.value)
    assert not engine.container_exists(real, name)


def test_non_privileged_create_allowed(sg_noprivileged, real):
    """The same bundle lets an ordinary create through (so the denials above
    are about the flag, not about create)."""
    case = config.unique_name("plain")
    body = ((PREFIX % case) + '"HostConfig":{"Privileged":false}}').encode()
    resp = rawhttp.request(sg_noprivileged.sock, "POST", f"/v1.41/containers/create?name={case}",
                           body=body, content_type="application/json")
    try:
        assert resp.status == 201, resp.describe()
        cid = resp.json()["Id"]
        attrs = real.api.inspect_container(cid)
        assert attrs["Name"] == f"/{case}"
        assert attrs["HostConfig"]["Privileged"] is False
    finally:
        for c in _created(real, case):
            c.remove(force=True)


def test_cli_run_without_privileged_allowed(sg_noprivileged, real):
    name = config.unique_name("cli-plain")
    r = cli.docker(sg_noprivileged.host, "run", "--rm", "--name", name, "--label", f"{config.LABEL_RUN}={config.RUN_ID}",
                   config.TEST_IMAGE, "echo", "plain-ok")
    assert r.ok, r.describe()
    assert r.stdout == "plain-ok\n", r.describe()


def test_oversized_create_body_denied(sg_noprivileged, real):
    """JSON create bodies are capped (1 MiB by default): over the cap is 413,
    never forwarded unparsed."""
    case = config.unique_name("big")
    doc = {"Image": config.TEST_IMAGE, "Cmd": ["true"],
           "Labels": {**config.LABELS, "sockguard-case": case, "padding": "x" * (2 * 1024 * 1024)},
           "HostConfig": {"Privileged": True}}
    resp = rawhttp.request(sg_noprivileged.sock, "POST", "/v1.41/containers/create",
                           body=rawhttp.json_body(doc), content_type="application/json", timeout=30)
    _assert_nothing_created(real, case, resp)
    assert_denied(resp, 413, "request_body_too_large")


def test_oversized_chunked_create_body_denied(sg_noprivileged, real):
    case = config.unique_name("big-chunked")
    body = ((PREFIX % case) + '"HostConfig":{"Privileged":true},"Env":["PAD=' + "y" * (2 * 1024 * 1024) + '"]}').encode()
    chunks = [body[n:n + 65536] for n in range(0, len(body), 65536)]
    resp = rawhttp.request(sg_noprivileged.sock, "POST", "/v1.41/containers/create",
                           chunks=chunks, content_type="application/json", timeout=30)
    _assert_nothing_created(real, case, resp)
    assert_denied(resp, 413, "request_body_too_large")


@pytest.mark.parametrize("body", [b'{"Image": ', b'not json at all', b'{"Image": "x"'],
                         ids=["truncated", "garbage", "unclosed"])
def test_invalid_create_body_denied(sg_noprivileged, body):
    """A body sockguard cannot parse is denied, not forwarded on trust."""
    resp = rawhttp.request(sg_noprivileged.sock, "POST", "/v1.41/containers/create",
                           body=body, content_type="application/json")
    assert_denied(resp, 400, "request_body_invalid")

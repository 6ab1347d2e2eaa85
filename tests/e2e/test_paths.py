"""Request targets that the engine routes differently from how they read:
encoded slashes and letters, dot segments, doubled slashes, a second version
prefix, absolute-form targets. None of them may reach a denied action.

Some of these the engine itself routes to container create (checked directly
on the real socket in test_engine_routes_*), which is what makes a proxy that
classifies them differently exploitable."""

from __future__ import annotations

import pytest

from harness import config, engine, rawhttp
from harness.checks import assert_sockguard_answered

# Targets that dockerd 20.10 answers with 201 Created for a create body.
ENGINE_ROUTES_TO_CREATE = [
    "/v1.41/containers%2fcreate",
    "/v1.41/containers%2Fcreate",
    "/v1.41/%63ontainers/create",
    "/v1.41/containers/%63reate",
    "/containers/create",
    "/v1.41/containers/create?",
    "http://docker/v1.41/containers/create",
]

# Targets the engine redirects or rejects, but which name create once decoded
# or cleaned; a proxy must not forward them as something harmless.
ODD_TARGETS = [
    "/v1.41/containers/x/..%2F..%2Fcontainers/create",
    "/v1.41/containers/%2e%2e/containers/create",
    "/v1.41/containers/%2E%2E/containers/create",
    "/v1.41/v1.41/containers/create",
    "//v1.41/containers/create",
    "/v1.41//containers/create",
    "/v1.41/containers/./create",
    "/v1.41/containers/%2e/create",
    "/v1.41/containers/foo/../create",
    "/v1.41/./containers/create",
    "/v1.41/../v1.41/containers/create",
    "/v1.41/containers/create;x=y",
    "/v1.41/containers/create/",
    "/v1.41/containers/create%00",
]

ALL_TARGETS = ENGINE_ROUTES_TO_CREATE + ODD_TARGETS


def _body(case: str, privileged: bool = False) -> bytes:
    doc = {"Image": config.TEST_IMAGE, "Cmd": ["true"],
           "Labels": {**config.LABELS, "sockguard-case": case}}
    if privileged:
        doc["HostConfig"] = {"Privileged": True}
    return rawhttp.json_body(doc)


def _ids(targets):
    return [t.replace("/", "|") for t in targets]


@pytest.mark.parametrize("target", ENGINE_ROUTES_TO_CREATE, ids=_ids(ENGINE_ROUTES_TO_CREATE))
def test_engine_routes_target_to_create(real, target):
    """Guard: each of these really creates a container on the engine."""
    case = config.unique_name("oracle-path")
    resp = rawhttp.request(config.ENGINE_SOCK, "POST", target, body=_body(case), content_type="application/json")
    created = engine.containers_labelled(real, "sockguard-case", case)
    for c in created:
        c.remove(force=True)
    assert resp.status == 201 and created, f"engine did not create for {target}: {resp.describe()}"


@pytest.mark.parametrize("target", ALL_TARGETS, ids=_ids(ALL_TARGETS))
def test_default_bundle_denies_odd_create_targets(sg_default, real, target):
    case = config.unique_name("path")
    resp = rawhttp.request(sg_default.sock, "POST", target, body=_body(case), content_type="application/json")
    created = engine.containers_labelled(real, "sockguard-case", case)
    assert not created, f"{target} created {[c.id for c in created]}: {resp.describe()}"
    assert 400 <= resp.status < 500, f"{target}: want a 4xx, got {resp.describe()}"
    assert_sockguard_answered(resp)
    body = resp.body.decode("utf-8", "replace")
    assert "sockguard:" in body, f"{target}: 4xx did not come from sockguard: {resp.describe()}"


@pytest.mark.parametrize("target", ALL_TARGETS, ids=_ids(ALL_TARGETS))
def test_no_privileged_bundle_denies_privileged_via_odd_targets(sg_noprivileged, real, target):
    """With a bundle that allows everything but privileged create, an odd
    spelling of the create path must not smuggle a privileged container."""
    case = config.unique_name("path-priv")
    resp = rawhttp.request(sg_noprivileged.sock, "POST", target, body=_body(case, privileged=True),
                           content_type="application/json")
    created = engine.containers_labelled(real, "sockguard-case", case)
    assert not created, f"{target} created {[c.id for c in created]} (privileged={[c.attrs['HostConfig']['Privileged'] for c in created]}): {resp.describe()}"
    assert not 200 <= resp.status < 300, f"{target}: {resp.describe()}"
    assert_sockguard_answered(resp)
    if target in ENGINE_ROUTES_TO_CREATE:
        # The engine would have created it, so only a denial is acceptable.
        assert 400 <= resp.status < 500, f"{target}: {resp.describe()}"
        assert "sockguard:" in resp.body.decode("utf-8", "replace"), resp.describe()

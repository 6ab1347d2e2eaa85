"""Default bundle, the allowed side: the read-only things people use a socket
proxy for, through the real docker CLI and docker-py, with the container
environment redacted from inspect output."""

from __future__ import annotations

import json
import re
import time

import pytest

from harness import cli, config, rawhttp
from harness.checks import assert_sockguard_answered

SECRET = "hunter2"


def test_ping_answers_with_request_id(sg_default):
    resp = rawhttp.request(sg_default.sock, "GET", "/_ping")
    assert resp.status == 200 and resp.body == b"OK", resp.describe()
    assert_sockguard_answered(resp)
    assert resp.header("api-version"), f"engine's API-Version header lost: {resp.describe()}"
    head = rawhttp.request(sg_default.sock, "HEAD", "/_ping")
    assert head.status == 200, head.describe()
    assert_sockguard_answered(head)


def test_request_ids_are_unique(sg_default):
    ids = {rawhttp.request(sg_default.sock, "GET", "/v1.41/version").request_id for _ in range(5)}
    assert None not in ids and len(ids) == 5, ids


def test_docker_version_shows_server(sg_default, real):
    want = real.version()["Version"]
    r = cli.docker(sg_default.host, "version")
    assert r.ok, r.describe()
    assert "Server:" in r.stdout, r.describe()
    assert want in r.stdout, f"server version {want} missing\n{r.describe()}"
    r = cli.docker(sg_default.host, "version", "--format", "{{.Server.Version}}")
    assert r.ok and r.stdout.strip() == want, r.describe()


def test_docker_ps_lists_running_container(sg_default, secret_container):
    r = cli.docker(sg_default.host, "ps")
    assert r.ok, r.describe()
    assert r.stdout.startswith("CONTAINER ID"), r.describe()
    r = cli.docker(sg_default.host, "ps", "--no-trunc", "--format", "{{.ID}} {{.Names}}")
    assert r.ok, r.describe()
    assert f"{secret_container.id} {secret_container.name}" in r.stdout.splitlines(), r.describe()


def test_docker_ps_all_with_label_filter(sg_default, secret_container, idle_container):
    r = cli.docker(sg_default.host, "ps", "-a", "--no-trunc", "--filter",
                   f"label={config.LABEL_RUN}={config.RUN_ID}", "--format", "{{.ID}}")
    assert r.ok, r.describe()
    ids = set(r.stdout.split())
    assert {secret_container.id, idle_container.id} <= ids, r.describe()


def test_docker_images_lists_test_image(sg_default):
    r = cli.docker(sg_default.host, "images", "--format", "{{.Repository}}:{{.Tag}}")
    assert r.ok, r.describe()
    assert config.TEST_IMAGE in r.stdout.split(), r.describe()


def test_docker_info(sg_default, real):
    r = cli.docker(sg_default.host, "info")
    assert r.ok, r.describe()
    assert "Server Version:" in r.stdout, r.describe()
    r = cli.docker(sg_default.host, "info", "--format", "{{.ServerVersion}} {{.ID}}")
    assert r.ok, r.describe()
    direct = real.info()
    assert r.stdout.strip() == f"{direct['ServerVersion']} {direct['ID']}", r.describe()


def test_secret_is_really_in_the_engine(real, secret_container):
    """Guard for the redaction tests: the secret is there to be leaked."""
    env = real.api.inspect_container(secret_container.id)["Config"]["Env"]
    assert f"SECRET_TOKEN={SECRET}" in env


def _assert_env_redacted(doc: dict, container) -> None:
    assert doc["Id"] == container.id
    env = doc.get("Config", {}).get("Env")
    assert env is None, f"Config.Env not redacted: {env!r}"
    # Redaction is narrow: the rest of the document is still there.
    assert doc["Config"]["Image"] == config.TEST_IMAGE
    assert doc["Config"]["Labels"][config.LABEL_RUN] == config.RUN_ID
    assert doc["State"]["Running"] is True


def test_cli_inspect_redacts_env(sg_default, secret_container):
    r = cli.docker(sg_default.host, "inspect", secret_container.name)
    assert r.ok, r.describe()
    assert SECRET not in r.stdout and SECRET not in r.stderr, r.describe()
    assert "SECRET_TOKEN" not in r.stdout, r.describe()
    docs = json.loads(r.stdout)
    assert len(docs) == 1
    _assert_env_redacted(docs[0], secret_container)


def test_cli_container_inspect_by_id_and_format(sg_default, secret_container):
    r = cli.docker(sg_default.host, "container", "inspect", secret_container.id[:12])
    assert r.ok, r.describe()
    assert SECRET not in r.stdout, r.describe()
    _assert_env_redacted(json.loads(r.stdout)[0], secret_container)
    r = cli.docker(sg_default.host, "inspect", "--format", "{{json .Config.Env}}", secret_container.name)
    assert r.ok, r.describe()
    assert r.stdout.strip() in ("null", ""), r.describe()


def test_raw_inspect_redacts_env(sg_default, secret_container):
    for target in (f"/v1.41/containers/{secret_container.id}/json",
                   f"/containers/{secret_container.name}/json",
                   f"/v1.41/containers/{secret_container.name}/json?size=1"):
        resp = rawhttp.request(sg_default.sock, "GET", target)
        assert resp.status == 200, resp.describe()
        assert SECRET.encode() not in resp.body, f"{target}: {resp.describe()}"
        _assert_env_redacted(resp.json(), secret_container)


def test_docker_py_attrs_redact_env(sg_default, secret_container):
    client = sg_default.client()
    try:
        attrs = client.containers.get(secret_container.id).attrs
        assert SECRET not in json.dumps(attrs)
        _assert_env_redacted(attrs, secret_container)
        listed = [c.id for c in client.containers.list(filters={"label": f"{config.LABEL_RUN}={config.RUN_ID}"})]
        assert secret_container.id in listed
        for c in client.containers.list():
            assert SECRET not in json.dumps(c.attrs)
    finally:
        client.close()


def test_docker_py_reads(sg_default, real):
    client = sg_default.client()
    try:
        assert client.version()["Version"] == real.version()["Version"]
        assert client.info()["ID"] == real.info()["ID"]
        assert config.TEST_IMAGE in [t for i in client.images.list() for t in i.tags]
        assert client.ping() is True
    finally:
        client.close()


def test_events_are_streamed(sg_default, real):
    """`docker events` through sockguard sees events caused afterwards on the
    real socket, each as it happens (not when the stream ends)."""
    label = f"sockguard-events={config.RUN_ID}"
    proc = cli.popen_docker(sg_default.host, "events", "--filter", f"label={label}",
                            "--format", "{{json .}}")
    lines = cli.LineCollector(proc.stdout)
    try:
        time.sleep(2)  # let the subscription reach the engine
        assert proc.poll() is None, f"docker events exited: {cli.stop_process(proc)}"
        c = real.containers.create(config.TEST_IMAGE, ["true"], name=config.unique_name("events"),
                                   labels={**config.LABELS, "sockguard-events": config.RUN_ID})

        def is_event(action):
            def pred(line):
                try:
                    ev = json.loads(line)
                except ValueError:
                    return False
                return ev.get("Action") == action and (ev.get("id") == c.id or ev.get("Actor", {}).get("ID") == c.id)
            return pred

        created = lines.wait_for(is_event("create"), timeout=15)
        assert created is not None, f"create event never arrived; got {lines.snapshot()}"
        assert proc.poll() is None, "docker events ended after the first event"
        c.remove(force=True)
        destroyed = lines.wait_for(is_event("destroy"), timeout=15)
        assert destroyed is not None, f"destroy event never arrived; got {lines.snapshot()}"
        assert destroyed[0] >= created[0]
        assert proc.poll() is None, "docker events stream ended by itself"
    finally:
        out, err = cli.stop_process(proc)
    # Nothing but well-formed events came out.
    for _, line in lines.snapshot():
        json.loads(line)


def test_logs_follow_streams_in_order(sg_default, secret_container):
    """`docker logs -f` through sockguard for ~5 s: every line whole, in
    order, none missing, and new lines arrive while it runs."""
    proc = cli.popen_docker(sg_default.host, "logs", "-f", secret_container.id)
    lines = cli.LineCollector(proc.stdout)
    started = time.monotonic()
    try:
        time.sleep(5)
        assert proc.poll() is None, "docker logs -f exited while the container still runs"
    finally:
        _, err = cli.stop_process(proc)
    got = lines.snapshot()
    texts = [line.decode("utf-8", "replace").rstrip("\n") for _, line in got]
    assert texts, f"no log lines; stderr={err!r}"
    numbers = []
    for t in texts:
        m = re.fullmatch(r"line (\d+)", t)
        assert m, f"mangled log line {t!r} in {texts}"
        numbers.append(int(m.group(1)))
    assert numbers[0] == 0, f"history does not start at line 0: {numbers[:5]}"
    assert numbers == list(range(numbers[0], numbers[0] + len(numbers))), f"lines missing or out of order: {numbers}"
    # Following, not one burst: lines keep arriving over the whole window.
    late = [t for t, _ in got if t - started > 2.5]
    assert len(late) >= 3, f"only {len(late)} lines arrived after 2.5 s: stream stalled or buffered"
    spread = max(t for t, _ in got) - min(t for t, _ in got)
    assert spread > 3, f"all lines arrived within {spread:.2f}s"


def test_docker_py_logs_stream(sg_default, secret_container):
    client = sg_default.client()
    try:
        c = client.containers.get(secret_container.id)
        stream = c.logs(stream=True, follow=True, tail=1)
        got = []
        deadline = time.monotonic() + 10
        for chunk in stream:
            got.append(chunk.decode())
            if len("".join(got).splitlines()) >= 4 or time.monotonic() > deadline:
                break
        stream.close()
        nums = [int(re.fullmatch(r"line (\d+)", l).group(1)) for l in "".join(got).splitlines()]
        assert len(nums) >= 4, got
        assert nums == list(range(nums[0], nums[0] + len(nums))), nums
    finally:
        client.close()


def test_stats_no_stream(sg_default, secret_container):
    r = cli.docker(sg_default.host, "stats", "--no-stream", "--format",
                   "{{.Name}}|{{.CPUPerc}}|{{.MemUsage}}", secret_container.name, timeout=60)
    assert r.ok, r.describe()
    name, cpu, mem = r.stdout.strip().split("|")
    assert name == secret_container.name, r.describe()
    assert cpu.endswith("%") and "/" in mem, r.describe()


def test_top(sg_default, secret_container):
    r = cli.docker(sg_default.host, "top", secret_container.name)
    assert r.ok, r.describe()
    assert "sh -c" in r.stdout or "sleep" in r.stdout, r.describe()


@pytest.mark.parametrize("target", ["/v1.41/containers/json?all=1", "/v1.41/images/json",
                                    "/v1.41/networks", "/v1.41/volumes", "/v1.41/system/df"])
def test_raw_list_endpoints_allowed(sg_default, target):
    resp = rawhttp.request(sg_default.sock, "GET", target, timeout=60)
    assert resp.status == 200, resp.describe()
    assert_sockguard_answered(resp)
    resp.json()

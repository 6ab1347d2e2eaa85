"""The presets compiled into the binary (`serve --preset NAME`), driven by the real docker CLI
against the real engine: what each one's users need works, and its guardrails hold."""

from __future__ import annotations

from harness import config
from harness.checks import assert_cli_denied
from harness.cli import docker


def test_readonly_reads_but_never_writes(start_sockguard, real):
    sg = start_sockguard(extra_args=["--preset", "readonly"])
    ps = docker(sg.host, "ps", "-a")
    assert ps.ok, ps.describe()
    images = docker(sg.host, "images")
    assert images.ok and "sockguard-test/busybox" in images.stdout, images.describe()
    run = docker(sg.host, "run", "--rm", "--label", f"{config.LABEL_RUN}={config.RUN_ID}", config.TEST_IMAGE, "true")
    assert_cli_denied(run, "method_not_allowed")
    save = docker(sg.host, "save", config.TEST_IMAGE, text=False)
    assert_cli_denied(save, "image_save_denied")


def test_ci_runner_runs_jobs_within_its_guardrails(start_sockguard, real, tmp_path):
    sg = start_sockguard(extra_args=["--preset", "ci-runner"])
    labels = ["--label", f"{config.LABEL_RUN}={config.RUN_ID}", "--label", f"{config.LABEL_TEST}=1"]
    job = docker(sg.host, "run", "--rm", *labels, config.TEST_IMAGE, "echo", "job-ok")
    assert job.ok and job.stdout.strip() == "job-ok", job.describe()
    for flags, code in [
        (["--privileged"], "privileged_container"),
        (["--network", "host"], "host_network"),
        (["--pid", "host"], "host_pid"),
        (["--cap-add", "SYS_ADMIN"], "capability_not_allowed"),
        (["-v", "/etc:/host-etc"], "bind_source_not_allowed"),
        (["-v", "/var/run/docker.sock:/var/run/docker.sock"], "bind_source_not_allowed"),
        (["--security-opt", "seccomp=unconfined"], "unconfined_security_opt"),
        (["--device", "/dev/null:/dev/x"], "devices_not_allowed"),
    ]:
        name = config.unique_name("guard")
        result = docker(sg.host, "run", "--rm", "--name", name, *labels, *flags, config.TEST_IMAGE, "true")
        assert_cli_denied(result, code)
        assert not real.containers.list(all=True, filters={"name": name}), f"{flags} created a container"


def test_tecnativa_reads_its_environment_variables(start_sockguard, monkeypatch):
    monkeypatch.setenv("CONTAINERS", "1")
    monkeypatch.setenv("POST", "0")
    sg = start_sockguard(extra_args=["--preset", "tecnativa"])
    ps = docker(sg.host, "ps")
    assert ps.ok, ps.describe()
    images = docker(sg.host, "images")
    assert_cli_denied(images, "section_disabled")
    assert "IMAGES=1" in images.stderr
    run = docker(sg.host, "create", config.TEST_IMAGE, "true")
    assert_cli_denied(run, "method_not_allowed")

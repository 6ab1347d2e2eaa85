"""Where things are, read once from the environment."""

from __future__ import annotations

import os
import secrets
import shutil
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[3]

# The binary under test; a relative path is taken from the repository root.
_bin = os.environ.get("SOCKGUARD_BIN", "target/release/sockguard")
SOCKGUARD_BIN = Path(_bin) if os.path.isabs(_bin) else REPO_ROOT / _bin

# The real engine. Containers are prepared and checked here, never through
# sockguard, so that a check cannot be fooled by the proxy it is checking.
ENGINE_SOCK = os.environ.get("SOCKGUARD_ENGINE_SOCK", "/var/run/docker.sock")
ENGINE_URL = f"unix://{ENGINE_SOCK}"

# The docker CLI: whichever is first on PATH (a 28.x CLI negotiates down to
# the engine's API version), unless SOCKGUARD_DOCKER_CLI names one.
DOCKER_CLI = os.environ.get("SOCKGUARD_DOCKER_CLI") or shutil.which("docker") or "docker"

TEST_IMAGE = os.environ.get("SOCKGUARD_TEST_IMAGE", "sockguard-test/busybox:latest")
BUILD_IMAGE_SCRIPT = REPO_ROOT / "scripts" / "build-test-image.sh"

IN_CI = os.environ.get("CI", "").lower() == "true"

# Each run gets its own prefix and label so that cleanup removes exactly
# what this run made, even when several runs share one engine.
RUN_ID = secrets.token_hex(4)
NAME_PREFIX = f"sgt-{RUN_ID}-"
LABEL_TEST = "sockguard-test"
LABEL_RUN = "sockguard-run"
LABELS = {LABEL_TEST: "1", LABEL_RUN: RUN_ID}

# How often the "peers lose output here" checks repeat.
REPEAT = int(os.environ.get("SOCKGUARD_E2E_REPEAT", "5"))

# Per-test wall-clock limit (seconds), enforced in conftest.
TEST_TIMEOUT = int(os.environ.get("SOCKGUARD_E2E_TEST_TIMEOUT", "120"))


def bundle_path(name: str | None) -> Path | None:
    """Map a bundle name used by the tests to a directory.

    None means the embedded default bundle (no --bundle flag); "default" is
    the same policy loaded from policies/default; anything else is one of the
    bundles under tests/bundles/.
    """
    if name is None:
        return None
    if name == "default":
        return REPO_ROOT / "policies" / "default"
    return REPO_ROOT / "tests" / "bundles" / name


def unique_name(what: str) -> str:
    return f"{NAME_PREFIX}{what}-{secrets.token_hex(3)}"

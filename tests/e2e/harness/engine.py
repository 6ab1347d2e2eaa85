"""The real engine, reached directly (never through sockguard).

Fixtures are created here, and every "nothing was created" check asks here,
so a proxy that lies about what it did cannot make a test pass.
"""

from __future__ import annotations

import docker

from . import config


def client(timeout: int = 60) -> docker.DockerClient:
    return docker.DockerClient(base_url=config.ENGINE_URL, timeout=timeout)


def reachable() -> tuple[bool, str]:
    try:
        c = client(timeout=10)
        version = c.version()
        c.close()
        return True, f"engine {version.get('Version')} API {version.get('ApiVersion')}"
    except Exception as exc:  # anything at all means "not usable"
        return False, f"{type(exc).__name__}: {exc}"


def containers_labelled(real: docker.DockerClient, key: str, value: str) -> list:
    return real.containers.list(all=True, filters={"label": f"{key}={value}"})


def container_exists(real: docker.DockerClient, name_or_id: str) -> bool:
    try:
        real.containers.get(name_or_id)
        return True
    except docker.errors.NotFound:
        return False


def image_exists(real: docker.DockerClient, ref: str) -> bool:
    try:
        real.images.get(ref)
        return True
    except docker.errors.ImageNotFound:
        return False


def remove_run_leftovers(real: docker.DockerClient) -> list[str]:
    """Remove every container and image this run labelled or named. Returns
    what was removed, for the log."""
    removed = []
    seen = set()
    for c in real.containers.list(all=True, filters={"label": f"{config.LABEL_RUN}={config.RUN_ID}"}):
        seen.add(c.id)
    for c in real.containers.list(all=True, filters={"name": config.NAME_PREFIX}):
        if any(n.lstrip("/").startswith(config.NAME_PREFIX) for n in [c.name]):
            seen.add(c.id)
    for cid in seen:
        try:
            real.api.remove_container(cid, force=True, v=True)
            removed.append(f"container {cid[:12]}")
        except docker.errors.NotFound:
            pass
    images = {}
    for img in real.images.list(all=True, filters={"label": f"{config.LABEL_RUN}={config.RUN_ID}"}):
        images[img.id] = img
    for img in real.images.list():
        if any(t.startswith(config.NAME_PREFIX) for t in img.tags):
            images[img.id] = img
    for img in images.values():
        # Untag our tags first: the test image may carry one of them.
        for tag in img.tags:
            if tag.startswith(config.NAME_PREFIX):
                try:
                    real.images.remove(tag, noprune=False)
                    removed.append(f"tag {tag}")
                except docker.errors.APIError:
                    pass
        if img.labels and img.labels.get(config.LABEL_RUN) == config.RUN_ID:
            try:
                real.images.remove(img.id, force=True)
                removed.append(f"image {img.short_id}")
            except docker.errors.APIError:
                pass
    return removed

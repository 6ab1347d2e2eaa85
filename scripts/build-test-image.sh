#!/usr/bin/env bash
# Build the image the end-to-end suite runs: sockguard-test/busybox:latest.
#
# No image can be pulled on the test machines, so the image is made FROM scratch
# with Debian's statically linked busybox (package busybox-static). The legacy
# builder is used (DOCKER_BUILDKIT=0) because buildx is not installed.
#
# Idempotent: does nothing when the image already exists.
#
# Environment:
#   SOCKGUARD_ENGINE_HOST   engine to build on (default unix:///var/run/docker.sock)
#   SOCKGUARD_TEST_IMAGE    image reference (default sockguard-test/busybox:latest)
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
image="${SOCKGUARD_TEST_IMAGE:-sockguard-test/busybox:latest}"
engine_host="${SOCKGUARD_ENGINE_HOST:-unix:///var/run/docker.sock}"
image_dir="$repo_root/tests/e2e/image"

say() { printf 'build-test-image: %s\n' "$*" >&2; }

if docker -H "$engine_host" image inspect "$image" >/dev/null 2>&1; then
    say "$image already exists"
    exit 0
fi

# A dynamically linked busybox (Debian's `busybox` package) would not run in
# an empty image, so insist on the static package.
if [ "$(dpkg-query -W -f='${Status}' busybox-static 2>/dev/null || true)" != "install ok installed" ]; then
    if [ "$(id -u)" != 0 ]; then
        say "busybox-static is not installed and we are not root; cannot install it"
        exit 1
    fi
    say "installing busybox-static"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq busybox-static >/dev/null
fi

busybox_bin=/bin/busybox
if [ ! -x "$busybox_bin" ]; then
    say "$busybox_bin is missing after installing busybox-static"
    exit 1
fi

context="$(mktemp -d "${TMPDIR:-/tmp}/sockguard-image.XXXXXX")"
trap 'rm -rf "$context"' EXIT
cp "$image_dir/Dockerfile" "$image_dir/passwd" "$image_dir/group" "$context/"
cp "$busybox_bin" "$context/busybox"
chmod 0755 "$context/busybox"

say "building $image"
DOCKER_BUILDKIT=0 docker -H "$engine_host" build --quiet --tag "$image" "$context" >/dev/null

# Prove the image works before anything depends on it.
out="$(docker -H "$engine_host" run --rm "$image" echo image-ok)"
if [ "$out" != "image-ok" ]; then
    say "the built image does not run: got '$out'"
    exit 1
fi
say "built $image"

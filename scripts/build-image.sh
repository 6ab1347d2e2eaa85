#!/usr/bin/env bash
# Build the FROM-scratch container image (Dockerfile) from the static release binary.
#
#   scripts/build-image.sh [TAG]        (default tag sockguard:local)
#
# Uses $SOCKGUARD_BIN when set, else builds target/x86_64-unknown-linux-gnu/release/sockguard
# with static linking. The image is built with the classic builder (DOCKER_BUILDKIT=0) from a
# context that holds only the (stripped) binary.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
tag="${1:-sockguard:local}"
target=x86_64-unknown-linux-gnu
bin="${SOCKGUARD_BIN:-${CARGO_TARGET_DIR:-$PWD/target}/$target/release/sockguard}"
if [ ! -x "$bin" ]; then
    RUSTFLAGS="${RUSTFLAGS:--C target-feature=+crt-static}" cargo build --release --locked --target "$target"
fi
if readelf --program-headers "$bin" | grep -q "program interpreter"; then
    echo "build-image: $bin is dynamically linked; a FROM-scratch image needs a static binary" >&2
    exit 1
fi
context="$(mktemp -d)"
trap 'rm -rf "$context"' EXIT
cp Dockerfile "$context/Dockerfile"
strip --output-file="$context/sockguard" "$bin"
mkdir "$context/run-sockguard"
DOCKER_BUILDKIT=0 docker build --quiet --tag "$tag" "$context"

#!/usr/bin/env bash
# The whole test suite: the README's test command, and what CI runs.
#
#   1. lints (clippy with the crate's lint wall, rustfmt)
#   2. a static release build (the binary the container image ships)
#   3. unit, integration and policy tests (cargo test, same build settings), then
#      `sockguard test` over every bundle in the repository
#   4. the end-to-end suites: the real docker CLI and docker-py through sockguard against a
#      real dockerd (started here when none answers), signed bundles through a real OCI
#      registry (Debian's docker-registry, started here) and over HTTPS, and the FROM-scratch
#      container image
#   5. a smoke run of the benchmark harness (scripts/bench.sh --smoke: every peer path works)
#
# Environment: CARGO_TARGET_DIR (default ./target), CI=true (a missing engine is a failure,
# not a skip), SOCKGUARD_SKIP_E2E=1 (stop after step 3, for quick local runs).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
repo=$PWD

# One set of build settings for every step, so nothing is compiled twice: a statically linked
# binary (it runs in a FROM-scratch image). RUSTFLAGS with an explicit --target applies to the
# target only, not to build scripts and proc macros, which cannot be static.
export TARGET=x86_64-unknown-linux-gnu
export RUSTFLAGS="${RUSTFLAGS:--C target-feature=+crt-static}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$repo/target}"
cargo_args=(--release --locked --target "$TARGET")
export SOCKGUARD_BIN="$CARGO_TARGET_DIR/$TARGET/release/sockguard"

step() { printf '\n=== %s\n' "$*"; }
started=$(date +%s)

step "lint"
cargo fmt --check
cargo clippy --locked --all-targets --target "$TARGET" -- -D warnings

step "build (static release)"
cargo build "${cargo_args[@]}"

step "unit, integration and policy tests"
cargo test "${cargo_args[@]}"

step "policy bundles (sockguard test)"
"$SOCKGUARD_BIN" test policies tests/bundles bench

if [ "${SOCKGUARD_SKIP_E2E:-}" = 1 ]; then
    if [ "${CI:-}" = true ]; then
        echo "SOCKGUARD_SKIP_E2E=1 is not allowed in CI" >&2
        exit 1
    fi
    echo "SKIP: end-to-end suites (SOCKGUARD_SKIP_E2E=1)"
    exit 0
fi

step "Docker engine"
# shellcheck source=engine.sh
. scripts/engine.sh
trap engine_down EXIT
set +e
engine_up
engine_status=$?
set -e
case $engine_status in
    0) ;;
    1) echo "SKIP: the end-to-end suites need a Docker engine (see above)"; exit 0 ;;
    *) exit 1 ;;
esac

step "test image"
scripts/build-test-image.sh

step "OCI registry (Debian's docker-registry on loopback, for the remote-bundle tests)"
# shellcheck source=registry.sh
. scripts/registry.sh
trap 'registry_down; engine_down' EXIT
set +e
registry_up
registry_status=$?
set -e
[ "$registry_status" -le 1 ] || exit 1

step "python environment"
if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
fi
.venv/bin/pip install --quiet --disable-pip-version-check -r tests/e2e/requirements.txt

step "end-to-end suites (docker CLI and docker-py through sockguard, real dockerd)"
.venv/bin/python -m pytest tests/e2e

step "benchmark smoke (every peer path once: direct, sockguard, HAProxy, socat)"
cargo build "${cargo_args[@]}" --example bench
cat_container="sgsmoke-cat-$$"
trap 'docker -H unix:///var/run/docker.sock rm -f "$cat_container" >/dev/null 2>&1; registry_down; engine_down' EXIT
docker -H unix:///var/run/docker.sock run -d --init --name "$cat_container" sockguard-test/busybox:latest sleep 600 >/dev/null
python3 scripts/bench.py --smoke --sockguard "$SOCKGUARD_BIN" \
    --bench-tool "$CARGO_TARGET_DIR/$TARGET/release/examples/bench" --oha builtin \
    --engine /var/run/docker.sock --exec-container "$cat_container" >/dev/null

echo
echo "all tests passed in $(( $(date +%s) - started ))s"

#!/usr/bin/env bash
# Side-by-side benchmarks: the direct socket, sockguard (default bundle and a realistic policy),
# HAProxy configured like Tecnativa/docker-socket-proxy, and socat, on a stand-in engine and on
# the real dockerd, interleaved in one run. Prints the tables of BENCHMARKS.md.
#
#   scripts/bench.sh                 full run (5 rounds; about 15 minutes)
#   scripts/bench.sh --smoke         every peer path once, for CI (no figures to keep)
#   scripts/bench.sh --rounds 3 ...  any option of scripts/bench.py
#
# Installs what it needs: oha (the load generator, from crates.io, version below) into
# $SOCKGUARD_TOOLS (default /var/tmp/sockguard-tools), and Debian's haproxy and socat.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

OHA_VERSION=1.16.0
export TARGET=x86_64-unknown-linux-gnu
export RUSTFLAGS="${RUSTFLAGS:--C target-feature=+crt-static}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
tools="${SOCKGUARD_TOOLS:-/var/tmp/sockguard-tools}"
bin="$CARGO_TARGET_DIR/$TARGET/release"

cargo build --release --locked --target "$TARGET" --bin sockguard --example bench
oha="$tools/bin/oha"
if [[ " $* " == *" --smoke "* ]] && ! [ -x "$oha" ]; then
    # The smoke run checks the peer paths, not speed: without oha (a long build) it uses the
    # bench tool's own keep-alive load mode.
    oha=builtin
elif ! "$oha" --version 2>/dev/null | grep -q "$OHA_VERSION"; then
    echo "installing oha $OHA_VERSION into $tools"
    cargo install oha --locked --version "$OHA_VERSION" --root "$tools"
fi
missing=()
command -v haproxy >/dev/null || missing+=(haproxy)
command -v socat >/dev/null || missing+=(socat)
command -v setpriv >/dev/null || missing+=(util-linux)
if [ ${#missing[@]} -gt 0 ]; then
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

engine_args=(--engine "")
# shellcheck source=engine.sh
. scripts/engine.sh
cat_container=""
cleanup() {
    [ -n "$cat_container" ] && docker -H unix:///var/run/docker.sock rm -f "$cat_container" >/dev/null 2>&1
    engine_down
}
trap cleanup EXIT
set +e
engine_up
engine_status=$?
set -e
if [ "$engine_status" = 0 ]; then
    scripts/build-test-image.sh
    cat_container="sgbench-cat-$$"
    docker -H unix:///var/run/docker.sock run -d --init --name "$cat_container" \
        sockguard-test/busybox:latest sleep 3600 >/dev/null
    engine_args=(--engine /var/run/docker.sock --exec-container "$cat_container")
elif [ "$engine_status" = 2 ]; then
    exit 1
else
    echo "no Docker engine: the dockerd section is skipped"
fi

python3 scripts/bench.py --sockguard "$bin/sockguard" --bench-tool "$bin/examples/bench" \
    --oha "$oha" "${engine_args[@]}" "$@"

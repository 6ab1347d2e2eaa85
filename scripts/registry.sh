# shellcheck shell=bash
# Bring a real OCI registry up on loopback for the remote-bundle tests, and down again.
#
# Sourced by scripts/test.sh:
#
#     . scripts/registry.sh
#     registry_up               # 0 up (SOCKGUARD_TEST_REGISTRY=127.0.0.1:PORT exported),
#                               # 1 unavailable (the tests skip), 2 unavailable under CI=true
#     ...
#     registry_down
#
# The registry is Debian's docker-registry (distribution 2.8), installed with apt when it is
# missing and this runs as root, serving plain HTTP on 127.0.0.1 with a temporary storage root.
# The tests push to repositories named after their run, so one registry serves every test.

REGISTRY_PID=""
REGISTRY_DIR=""

_registry_say() { printf 'registry: %s\n' "$*" >&2; }

_registry_unavailable() {
    if [ "${CI:-}" = "true" ]; then
        _registry_say "FAIL: no OCI registry, and CI=true requires one: $*"
        return 2
    fi
    _registry_say "SKIP: the registry tests will not run: $*"
    return 1
}

registry_up() {
    if ! command -v docker-registry >/dev/null 2>&1; then
        if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
            _registry_say "installing docker-registry (apt)"
            DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends docker-registry >/dev/null \
                || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends docker-registry >/dev/null; } \
                || { _registry_unavailable "could not install docker-registry"; return $?; }
            hash -r
        else
            _registry_unavailable "docker-registry is not installed"
            return $?
        fi
    fi
    local port
    port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
    REGISTRY_DIR="$(mktemp -d "${TMPDIR:-/tmp}/sockguard-registry.XXXXXX")"
    cat >"$REGISTRY_DIR/config.yml" <<CONFIG
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $REGISTRY_DIR/data
http:
  addr: 127.0.0.1:$port
  secret: sockguard-tests
CONFIG
    docker-registry serve "$REGISTRY_DIR/config.yml" >"$REGISTRY_DIR/registry.log" 2>&1 &
    REGISTRY_PID=$!
    local waited=0
    while [ "$waited" -lt 100 ]; do
        if python3 -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$port/v2/', timeout=2)" 2>/dev/null; then
            export SOCKGUARD_TEST_REGISTRY="127.0.0.1:$port"
            _registry_say "docker-registry $(docker-registry --version | awk '{print $3}') on $SOCKGUARD_TEST_REGISTRY"
            return 0
        fi
        if ! kill -0 "$REGISTRY_PID" 2>/dev/null; then
            tail -n 20 "$REGISTRY_DIR/registry.log" >&2
            REGISTRY_PID=""
            _registry_unavailable "docker-registry exited during startup"
            return $?
        fi
        sleep 0.1
        waited=$((waited + 1))
    done
    _registry_unavailable "docker-registry did not answer on 127.0.0.1:$port within 10s"
}

registry_down() {
    if [ -n "$REGISTRY_PID" ]; then
        kill "$REGISTRY_PID" 2>/dev/null || true
        wait "$REGISTRY_PID" 2>/dev/null || true
        REGISTRY_PID=""
    fi
    if [ -n "$REGISTRY_DIR" ]; then
        rm -rf "$REGISTRY_DIR"
        REGISTRY_DIR=""
    fi
}

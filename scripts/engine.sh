# shellcheck shell=bash
# Bring a Docker engine up for the end-to-end suites, and down again.
#
# Sourced by scripts/test.sh:
#
#     . scripts/engine.sh
#     engine_up; status=$?      # 0 up, 1 unavailable (skip), 2 unavailable under CI=true (fail)
#     ...
#     engine_down               # stops the engine only if engine_up started it
#
# engine_up uses an engine that already answers on ENGINE_SOCK. Otherwise it
# installs Debian's docker.io when dockerd is missing (as root, with apt),
# starts `dockerd -H unix://ENGINE_SOCK` in the background with its log in a
# temporary file, and waits up to ENGINE_WAIT seconds for it to answer.
# It also installs socat (used by the upstream-failure tests) when missing.
#
# Variables:
#   ENGINE_SOCK    engine socket (default /var/run/docker.sock)
#   ENGINE_WAIT    seconds to wait for a started dockerd (default 60)
#   CI             "true" turns "cannot start an engine" into a failure

ENGINE_SOCK="${ENGINE_SOCK:-/var/run/docker.sock}"
ENGINE_WAIT="${ENGINE_WAIT:-60}"
ENGINE_STARTED=0
ENGINE_PID=""
ENGINE_LOG=""

_engine_say() { printf 'engine: %s\n' "$*" >&2; }

# The docker CLI first on PATH. /usr/local/bin/docker (a 28.x CLI that
# negotiates down to the engine's API version) comes before Debian's older
# /usr/bin/docker on the usual PATH, so PATH order is what we want.
_engine_cli() { command -v docker 2>/dev/null; }

_engine_answers() {
    local cli
    cli="$(_engine_cli)" || return 1
    [ -n "$cli" ] || return 1
    timeout 10 "$cli" -H "unix://$ENGINE_SOCK" version >/dev/null 2>&1
}

_engine_unavailable() {
    if [ "${CI:-}" = "true" ]; then
        _engine_say "FAIL: no Docker engine, and CI=true requires one: $*"
        [ -n "$ENGINE_LOG" ] && [ -f "$ENGINE_LOG" ] && tail -n 40 "$ENGINE_LOG" >&2
        return 2
    fi
    _engine_say "SKIP: engine suites will not run: $*"
    [ -n "$ENGINE_LOG" ] && [ -f "$ENGINE_LOG" ] && tail -n 20 "$ENGINE_LOG" >&2
    return 1
}

_engine_apt_install() {
    if [ "$(id -u)" != 0 ]; then
        _engine_say "cannot install $* without root"
        return 1
    fi
    if [ -z "${_ENGINE_APT_UPDATED:-}" ]; then
        DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null || return 1
        _ENGINE_APT_UPDATED=1
    fi
    _engine_say "installing $* (apt)"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

# Tools the suites call besides docker itself.
_engine_tools() {
    if ! command -v socat >/dev/null 2>&1; then
        _engine_apt_install socat || _engine_say "socat unavailable; the upstream-failure test will not run"
    fi
    if ! command -v script >/dev/null 2>&1; then
        _engine_apt_install bsdutils || _engine_say "script(1) unavailable; the exec -it test will fail"
    fi
}

engine_up() {
    ENGINE_STARTED=0
    if _engine_answers; then
        _engine_say "using the engine already on $ENGINE_SOCK"
        _engine_tools
        return 0
    fi

    # A dockerd that is running but slow to answer: wait for it rather than
    # start a second one beside it.
    local pidfile=/var/run/docker.pid running_pid=""
    if [ -f "$pidfile" ]; then
        running_pid="$(cat "$pidfile" 2>/dev/null || true)"
    fi
    if [ -n "$running_pid" ] && kill -0 "$running_pid" 2>/dev/null; then
        _engine_say "a dockerd (pid $running_pid) is running but not answering; waiting"
        local waited=0
        while [ "$waited" -lt "$ENGINE_WAIT" ]; do
            if _engine_answers; then
                _engine_tools
                return 0
            fi
            sleep 1
            waited=$((waited + 1))
        done
        _engine_unavailable "the running dockerd (pid $running_pid) does not answer on $ENGINE_SOCK"
        return $?
    fi

    if ! command -v dockerd >/dev/null 2>&1 || [ -z "$(_engine_cli)" ]; then
        _engine_apt_install docker.io || { _engine_unavailable "could not install docker.io"; return $?; }
        hash -r
    fi
    if ! command -v dockerd >/dev/null 2>&1; then
        _engine_unavailable "dockerd not found after installing docker.io"
        return $?
    fi
    if [ "$(id -u)" != 0 ]; then
        _engine_unavailable "dockerd must be started as root"
        return $?
    fi
    _engine_tools

    # A socket file left by an engine that died would make dockerd refuse.
    if [ -S "$ENGINE_SOCK" ]; then
        rm -f "$ENGINE_SOCK"
    fi
    ENGINE_LOG="$(mktemp "${TMPDIR:-/tmp}/sockguard-dockerd.XXXXXX.log")"
    _engine_say "starting dockerd -H unix://$ENGINE_SOCK (log: $ENGINE_LOG)"
    dockerd -H "unix://$ENGINE_SOCK" >"$ENGINE_LOG" 2>&1 &
    ENGINE_PID=$!
    ENGINE_STARTED=1

    local waited=0
    while [ "$waited" -lt "$ENGINE_WAIT" ]; do
        if ! kill -0 "$ENGINE_PID" 2>/dev/null; then
            ENGINE_STARTED=0
            ENGINE_PID=""
            _engine_unavailable "dockerd exited during startup (see $ENGINE_LOG)"
            return $?
        fi
        if _engine_answers; then
            _engine_say "dockerd is up (pid $ENGINE_PID) after ${waited}s"
            return 0
        fi
        sleep 1
        waited=$((waited + 1))
    done
    engine_down
    _engine_unavailable "dockerd did not answer within ${ENGINE_WAIT}s (see $ENGINE_LOG)"
}

engine_down() {
    if [ "$ENGINE_STARTED" != 1 ] || [ -z "$ENGINE_PID" ]; then
        return 0
    fi
    _engine_say "stopping the dockerd we started (pid $ENGINE_PID)"
    kill -TERM "$ENGINE_PID" 2>/dev/null || true
    local waited=0
    while kill -0 "$ENGINE_PID" 2>/dev/null && [ "$waited" -lt 30 ]; do
        sleep 1
        waited=$((waited + 1))
    done
    if kill -0 "$ENGINE_PID" 2>/dev/null; then
        _engine_say "dockerd ignored SIGTERM for 30s; killing it"
        kill -KILL "$ENGINE_PID" 2>/dev/null || true
    fi
    wait "$ENGINE_PID" 2>/dev/null || true
    ENGINE_STARTED=0
    ENGINE_PID=""
}

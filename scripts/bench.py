#!/usr/bin/env python3
"""Side-by-side benchmarks: the direct socket, sockguard (default bundle and a realistic
~30-rule policy), HAProxy configured like Tecnativa/docker-socket-proxy, and socat.

Every peer runs at once, each on its own unix socket in front of the same upstream (a fast
stand-in engine, then the real dockerd). Measurements are interleaved — round 1: scenario 1 on
peer A, B, C, ...; scenario 2 on A, B, C, ...; round 2: ... — and the table reports the median
over rounds and its ratio to the direct socket measured in the same rounds.

Run by scripts/bench.sh, which builds and installs what this needs.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CLIENT_UID = 1000  # the realistic policy's "ci" profile


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def wait_for_socket(path: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.socket(socket.AF_UNIX) as s:
                s.connect(path)
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {path}")


class Peers:
    """The proxies under test, all in front of one upstream socket."""

    def __init__(self, args, upstream: str, workdir: Path, tag: str):
        self.args = args
        self.upstream = upstream
        self.dir = workdir / tag
        self.dir.mkdir(parents=True)
        self.procs: dict[str, subprocess.Popen] = {}
        self.sockets: dict[str, str] = {"direct": upstream}

    def start(self) -> None:
        realistic = str(REPO / "bench" / "realistic")
        for name, bundle, cache in (("sockguard", None, "1024"), ("sockguard-nocache", None, "0"),
                                    ("sockguard-realistic", realistic, "1024"),
                                    ("sockguard-realistic-nocache", realistic, "0")):
            sock = str(self.dir / f"{name}.sock")
            cmd = [self.args.sockguard, "serve", "--listen", f"unix://{sock}", "--upstream", f"unix://{self.upstream}",
                   "--socket-mode", "0666", "--audit-log", str(self.dir / f"{name}.audit.log"), "--log-level", "warn",
                   "--decision-cache", cache]
            if bundle:
                cmd += ["--bundle", bundle]
            self._spawn(name, cmd, sock)
        haproxy_sock = str(self.dir / "haproxy.sock")
        cfg = self.dir / "haproxy.cfg"
        template = (REPO / "bench" / "haproxy-tecnativa.cfg").read_text()
        cfg.write_text(template.replace("@LISTEN@", haproxy_sock).replace("@UPSTREAM@", self.upstream))
        env = {**os.environ, "CONTAINERS": "1", "POST": "1", "EXEC": "1", "PING": "1", "VERSION": "1",
               "EVENTS": "1", "INFO": "1", "IMAGES": "1"}
        self._spawn("haproxy", ["haproxy", "-db", "-f", str(cfg)], haproxy_sock, env=env)
        socat_sock = str(self.dir / "socat.sock")
        self._spawn("socat", ["socat", f"UNIX-LISTEN:{socat_sock},fork,reuseaddr,backlog=512,mode=666",
                              f"UNIX-CONNECT:{self.upstream}"], socat_sock)

    def _spawn(self, name: str, cmd: list[str], sock: str, env=None) -> None:
        out = open(self.dir / f"{name}.log", "wb")
        self.procs[name] = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env or os.environ,
                                            start_new_session=True)
        wait_for_socket(sock)
        if name == "haproxy":
            os.chmod(sock, 0o666)
        self.sockets[name] = sock

    def pid(self, name: str) -> int | None:
        proc = self.procs.get(name)
        return proc.pid if proc else None

    def stop(self) -> None:
        for proc in self.procs.values():
            try:
                os.killpg(proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        for proc in self.procs.values():
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)


def as_client(cmd: list[str], groups: list[int]) -> list[str]:
    """Run a client as uid 1000 (the realistic policy's ci profile), in the engine socket's group."""
    if os.getuid() != 0:
        return cmd
    group_flag = "--groups=" + ",".join(str(g) for g in groups) if groups else "--clear-groups"
    return ["setpriv", f"--reuid={CLIENT_UID}", f"--regid={CLIENT_UID}", group_flag, "--"] + cmd


def oha(args, sock: str, path: str, concurrency: int, method: str = "GET", body: str | None = None,
        groups: list[int] = ()) -> dict:
    if args.oha == "builtin":
        cmd = [args.bench_tool, "load", "--socket", sock, "--method", method, "--path", path,
               "--concurrency", str(concurrency), "--seconds", str(args.seconds)]
        if body is not None:
            cmd += ["--body", body]
    else:
        cmd = [args.oha, "--no-tui", "--output-format", "json", "-z", f"{args.seconds}s", "-c", str(concurrency),
               "--unix-socket", sock, "-m", method]
        if body is not None:
            cmd += ["-d", body, "-T", "application/json"]
        cmd.append(f"http://docker{path}")
    proc = subprocess.run(as_client(cmd, groups), capture_output=True, text=True, timeout=args.seconds * 4 + 30)
    if proc.returncode != 0:
        raise RuntimeError(f"oha failed on {sock}: {proc.stderr[-500:]}")
    data = json.loads(proc.stdout)
    codes = data.get("statusCodeDistribution", {})
    ok = sum(n for code, n in codes.items() if str(code).startswith("2"))
    total = sum(codes.values())
    return {
        "rps": data["summary"]["requestsPerSec"],
        "p50_us": data["latencyPercentiles"]["p50"] * 1e6,
        "p99_us": data["latencyPercentiles"]["p99"] * 1e6,
        "ok": ok,
        "total": total,
    }


def tool(args, subcommand: list[str], groups: list[int] = (), timeout: float = 300) -> dict:
    proc = subprocess.run(as_client([args.bench_tool] + subcommand, groups), capture_output=True, text=True,
                          timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(f"bench {subcommand[0]} failed: {proc.stderr[-800:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


CREATE_BODY = json.dumps({"Image": "busybox", "Labels": {"com.example.team": "bench"},
                          "HostConfig": {"Binds": ["/builds/bench:/work"], "Memory": 268435456}})


def scenarios(args, upstream_kind: str, exec_container: str | None):
    """(name, unit, runner(peer, sock) -> value or None when the peer refuses the scenario)."""
    s = []
    for c in args.concurrency:
        s.append((f"GET /_ping c={c}", "req/s", lambda a, sock, g, c=c: oha(a, sock, "/_ping", c, groups=g)))
    s.append(("GET /_ping c=1 latency", "p50 µs", lambda a, sock, g: oha(a, sock, "/_ping", 1, groups=g)))
    s.append(("GET /containers/json c=10", "req/s",
              lambda a, sock, g: oha(a, sock, "/v1.41/containers/json", 10, groups=g)))
    inspect = "/v1.41/containers/web/json" if upstream_kind == "mock" else f"/v1.41/containers/{exec_container}/json"
    s.append(("GET /containers/{id}/json c=10 (redacted by sockguard)", "req/s",
              lambda a, sock, g: oha(a, sock, inspect, 10, groups=g)))
    if upstream_kind == "mock":
        s.append(("POST /containers/create c=10", "req/s",
                  lambda a, sock, g: oha(a, sock, "/v1.41/containers/create", 10, "POST", CREATE_BODY, groups=g)))
        s.append((f"log stream {args.stream_mib} MiB", "MB/s",
                  lambda a, sock, g: tool(a, ["stream", "--socket", sock, "--bytes", str(args.stream_mib << 20)], g)))
        s.append((f"hijacked round trips x{args.rounds_rtt}", "µs each",
                  lambda a, sock, g: tool(a, ["rtt", "--socket", sock, "--rounds", str(args.rounds_rtt)], g)))
    elif exec_container:
        s.append((f"hijacked round trips x{args.rounds_rtt} (docker exec cat)", "µs each",
                  lambda a, sock, g: tool(a, ["rtt", "--socket", sock, "--rounds", str(args.rounds_rtt),
                                              "--exec-create", exec_container], g)))
    return s


def value_of(unit: str, result: dict) -> float:
    return {"req/s": result.get("rps"), "p50 µs": result.get("p50_us"), "MB/s": result.get("mb_per_s"),
            "µs each": result.get("mean_us")}[unit]


def higher_is_better(unit: str) -> bool:
    return unit in ("req/s", "MB/s")


def run_upstream(args, kind: str, upstream: str, workdir: Path, groups: list[int], exec_container=None):
    peers = Peers(args, upstream, workdir, kind)
    peers.start()
    time.sleep(1)
    rss_at_start = {name: rss_kib(peers.pid(name)) for name in ("sockguard", "sockguard-realistic", "haproxy")}
    results: dict[tuple[str, str], list[float]] = {}
    refused: dict[tuple[str, str], str] = {}
    names = ["direct", "sockguard", "sockguard-nocache", "sockguard-realistic", "sockguard-realistic-nocache",
             "haproxy", "socat"]
    table = scenarios(args, kind, exec_container)
    try:
        for round_no in range(args.rounds):
            for scenario, unit, runner in table:
                for peer in names:
                    key = (scenario, peer)
                    if key in refused:
                        continue
                    try:
                        result = runner(args, peers.sockets[peer], groups)
                    except RuntimeError as exc:
                        refused[key] = str(exc).splitlines()[0][:120]
                        continue
                    if "total" in result and result["ok"] < result["total"] * 0.99:
                        refused[key] = f"{result['total'] - result['ok']} of {result['total']} requests not 2xx"
                        continue
                    results.setdefault(key, []).append(value_of(unit, result))
                    log(f"{time.strftime('%H:%M:%S')} [{kind} round {round_no + 1}/{args.rounds}] {scenario} {peer}: {value_of(unit, result):.1f} {unit}")
        rss = {}
        if kind == "mock":
            pid = peers.pid("sockguard")
            rss["sockguard idle, after start"] = rss_at_start["sockguard"]
            rss["sockguard-realistic idle, after start"] = rss_at_start["sockguard-realistic"]
            rss["haproxy idle, after start"] = rss_at_start["haproxy"]
            rss["sockguard idle, after the scenarios above"] = rss_kib(pid)
            holder = subprocess.Popen(as_client([args.bench_tool, "streams", "--socket", peers.sockets["sockguard"],
                                                 "--count", str(args.event_streams)], groups),
                                      stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
            line = holder.stdout.readline()
            if '"open"' in line:
                time.sleep(1)
                rss[f"sockguard with {args.event_streams} event streams"] = rss_kib(pid)
            holder.stdin.close()
            holder.wait(timeout=30)
            rss["haproxy idle, after the scenarios above"] = rss_kib(peers.pid("haproxy"))
    finally:
        peers.stop()
    return table, names, results, refused, rss


def render(kind: str, table, names, results, refused, rss) -> str:
    out = [f"### Upstream: {kind}", "",
           "| scenario | unit | " + " | ".join(names) + " |",
           "|---|---|" + "---|" * len(names)]
    for scenario, unit, _ in table:
        direct = results.get((scenario, "direct"))
        direct_median = statistics.median(direct) if direct else None
        cells = []
        for peer in names:
            values = results.get((scenario, peer))
            if (scenario, peer) in refused:
                cells.append("refused")
            elif not values:
                cells.append("–")
            else:
                median = statistics.median(values)
                cell = f"{median:,.0f}" if median >= 100 else f"{median:.1f}"
                if peer != "direct" and direct_median:
                    ratio = median / direct_median
                    cell += f" ({ratio:.2f}×)"
                cells.append(cell)
        out.append(f"| {scenario} | {unit} | " + " | ".join(cells) + " |")
    if refused:
        out += ["", "Refused (the peer does not allow or cannot do the scenario):"]
        out += [f"- {peer}, {scenario}: {why}" for (scenario, peer), why in sorted(refused.items())]
    if rss:
        out += ["", "| memory | RSS |", "|---|---|"]
        out += [f"| {k} | {v / 1024:.1f} MiB |" for k, v in rss.items()]
    return "\n".join(out)


def must_work(peer: str, scenario: str) -> bool:
    """What each peer path must do for the smoke run to pass. sockguard's default bundle is
    read-only (creates and execs are denied by design); HAProxy 2.6 drops the upgrade of a POST
    with a body (exec), which is the known failure the issue describes."""
    if peer in ("direct", "sockguard-realistic", "sockguard-realistic-nocache", "socat"):
        return True
    writes = "create" in scenario or "round trips" in scenario
    if peer in ("sockguard", "sockguard-nocache"):
        return not writes
    if peer == "haproxy":
        return "round trips" not in scenario
    return True


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--sockguard", required=True)
    p.add_argument("--bench-tool", required=True)
    p.add_argument("--oha", required=True, help="the oha binary, or 'builtin' for the bench tool's own load mode")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--seconds", type=int, default=3)
    p.add_argument("--concurrency", type=int, nargs="+", default=[1, 10, 50])
    p.add_argument("--stream-mib", type=int, default=1024)
    p.add_argument("--rounds-rtt", type=int, default=1000)
    p.add_argument("--event-streams", type=int, default=1000)
    p.add_argument("--engine", default="/var/run/docker.sock", help="the real dockerd socket ('' to skip)")
    p.add_argument("--exec-container", default="", help="a running container with cat, for docker exec round trips")
    p.add_argument("--smoke", action="store_true", help="correctness of every peer path, no figures to keep")
    p.add_argument("--output", default="")
    args = p.parse_args()
    if args.smoke:
        args.rounds, args.seconds, args.concurrency = 1, 1, [10]
        args.stream_mib, args.rounds_rtt, args.event_streams = 16, 50, 50

    workdir = Path(tempfile.mkdtemp(prefix="sgbench-"))
    os.chmod(workdir, 0o755)
    mock_sock = str(workdir / "engine.sock")
    mock = subprocess.Popen([args.bench_tool, "mock-engine", "--socket", mock_sock], stdout=subprocess.DEVNULL,
                            start_new_session=True)
    sections = []
    failures = []
    try:
        wait_for_socket(mock_sock)
        os.chmod(mock_sock, 0o666)
        groups = [CLIENT_UID]
        if args.engine and os.path.exists(args.engine):
            groups.append(os.stat(args.engine).st_gid)
        table, names, results, refused, rss = run_upstream(args, "mock", mock_sock, workdir, groups)
        sections.append(render("stand-in engine (examples/bench.rs mock-engine)", table, names, results, refused, rss))
        failures += [f"mock {peer}: {scenario}: {why}" for (scenario, peer), why in refused.items()
                     if must_work(peer, scenario)]
        if args.engine and os.path.exists(args.engine):
            table, names, results, refused, rss = run_upstream(args, "dockerd", args.engine, workdir, groups,
                                                               args.exec_container or None)
            sections.append(render("dockerd 20.10 (real engine)", table, names, results, refused, rss))
            failures += [f"dockerd {peer}: {scenario}: {why}" for (scenario, peer), why in refused.items()
                         if must_work(peer, scenario)]
        policy = tool(args, ["policy", "--bundle", str(REPO / "bench" / "realistic"), "--iterations",
                             "2000" if args.smoke else "20000"])
        default = tool(args, ["policy", "--iterations", "2000" if args.smoke else "20000"])
        rows = ["| bundle | evaluator | request | p50 µs | p99 µs |", "|---|---|---|---|---|"]
        for label, entries in (("default", default), ("realistic", policy)):
            for e in entries:
                rows.append(f"| {label} | {e['evaluator']} | {e['request']} | {e['p50_us']:.1f} | {e['p99_us']:.1f} |")
        sections.append("### Input build + policy evaluation alone\n\n" + "\n".join(rows))
    finally:
        os.killpg(mock.pid, signal.SIGTERM)
        mock.wait(timeout=10)
        shutil.rmtree(workdir, ignore_errors=True)
    text = "\n\n".join(sections) + "\n"
    print(text)
    if args.output:
        Path(args.output).write_text(text)
    if failures:
        log("FAILED peer paths:\n" + "\n".join(failures))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

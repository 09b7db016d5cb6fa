"""Benchmarks: hwebserver beside the servers users would otherwise pick, in one run.

Each server is pinned to CPU 0 and wrk to CPU 1 (taskset). Every workload starts its
servers, waits until they answer, warms each up, then runs interleaved rounds (A B C, A B C,
...) so that drift of the machine hits every server alike. Ratios compare medians measured
in the same run. Run through `scripts/bench`, which prepares the peers' venv and wrk.

The mounted-app workloads also time the app alone, called in a loop with no server
(bench_apps/app_alone.py), once a round: its CPU per request is in every server's, so it bounds
the ratio any server could reach (printed after the table; see app_bounds).

The idle-connection rows are no wrk run: a worker (and uvicorn) is given 10,000 keep-alive
connections, each after one answered request, or 10,000 accepted WebSockets, and the RSS it
gained is divided by their number (after a warm-up batch opened and closed).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
import re
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import psutil
from bench_versions import (
    APP_PACKAGES,
    RECORD,
    Package,
    installed,
    mismatches,
    peers,
    project,
    record,
    system,
)

ROOT = Path(__file__).resolve().parent.parent
APPS = ROOT / "scripts" / "bench_apps"
PEERS = ROOT / ".bench" / "peers" / "bin"
PROJECT_PYTHON = ROOT / ".venv" / "bin" / "python"
# The hwebserver code the servers run (their PYTHONPATH): by default scripts/compile's copy, the
# request path compiled as a wheel built with HWEBSERVER_COMPILE=1 installs it (scripts/bench
# builds it first); HWEBSERVER_BENCH_CODE=pure serves this checkout's sources instead. An
# environment variable, so that the bench's own scripts (bench_fanout.py, ...) inherit it.
COMPILED_COPY = ROOT / "build" / "compiled"


def is_compiled(code: Path) -> bool:
    return any(code.glob("hwebserver/worker/http/protocol.*.so"))


def served_code() -> Path:
    """Where the servers import hwebserver from; exits, saying why, when it cannot be."""
    choice = os.environ.get("HWEBSERVER_BENCH_CODE", "compiled")
    if choice == "pure":
        return ROOT
    if choice != "compiled":
        sys.exit(f"HWEBSERVER_BENCH_CODE must be compiled or pure, not {choice!r}")
    for code in (ROOT, COMPILED_COPY):  # ROOT: run from within the compiled copy itself
        if is_compiled(code):
            return code
    sys.exit(
        f"no compiled copy at {COMPILED_COPY}: run scripts/compile (scripts/bench does), "
        "or set HWEBSERVER_BENCH_CODE=pure to serve the sources"
    )


SERVER_CPU = "0"
CLIENT_CPU = "1"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    name: str
    command: list[str]
    env: dict[str, str] = field(default_factory=dict)
    pinned: bool = True
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    # What its figures depend on: checked against scripts/bench_versions.json before a
    # workload runs, and printed with the table (bench_versions.py).
    packages: tuple[Package, ...] = ()

    def start(self, log_dir: Path) -> None:
        command = [part.replace("{port}", str(self.port)) for part in self.command]
        if self.pinned:
            command = ["taskset", "-c", SERVER_CPU, *command]
        log = open(log_dir / f"{re.sub(r'[^A-Za-z0-9.+-]+', '_', self.name)}.log", "wb")
        env = {**os.environ, "PYTHONPATH": str(served_code()), **self.env}
        self.process = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, cwd=str(APPS), env=env
        )

    def wait_ready(self, path: str, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.process.returncode}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
                    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: bench\r\n\r\n".encode())
                    if sock.recv(64).startswith(b"HTTP/1.1"):
                        return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"{self.name} did not answer within {timeout}s")

    def rss_mib(self) -> float:
        """RSS of one serving process: the server itself, or the mean of its workers."""
        assert self.process is not None
        try:
            root = psutil.Process(self.process.pid)
            children = root.children(recursive=True)
            # Helpers such as multiprocessing's resource tracker are small: skip them.
            workers = [c for c in children if c.memory_info().rss > 15 * 2**20] or [root]
            return sum(p.memory_info().rss for p in workers) / 2**20 / len(workers)
        except psutil.Error:
            return float("nan")

    def stop(self) -> None:
        if self.process is None:
            return
        pids = []
        try:
            pids = [c.pid for c in psutil.Process(self.process.pid).children(recursive=True)]
        except psutil.Error:
            pass
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        for pid in pids:
            try:
                psutil.Process(pid).kill()
            except psutil.Error:
                pass


@dataclass
class Measure:
    requests_per_s: float
    p50_ms: float
    p99_ms: float
    errors: int
    requests: int = 0
    # CPU (user + system) the server's processes spent per request during the run: less
    # sensitive than req/s to what else a shared machine runs.
    cpu_us_per_request: float = float("nan")


def parse_latency(text: str, label: str) -> float:
    match = re.search(rf"^\s+{label}\s+([\d.]+)(us|ms|s)\s*$", text, re.M)
    if not match:
        return float("nan")
    value, unit = float(match.group(1)), match.group(2)
    return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value


def run_wrk(
    url: str, duration: float, connections: int, script: str | None, pinned: bool
) -> Measure:
    command = ["wrk", "-t1", f"-c{connections}", f"-d{max(1, round(duration))}s", "--latency", url]
    if script:
        command[1:1] = ["-s", str(APPS / script)]
    if pinned:
        command = ["taskset", "-c", CLIENT_CPU, *command]
    out = subprocess.run(command, capture_output=True, text=True, timeout=duration + 60).stdout
    rate = re.search(r"Requests/sec:\s+([\d.]+)", out)
    total = re.search(r"(\d+) requests in", out)
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    socket_errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out
    )
    count = int(errors.group(1)) if errors else 0
    if socket_errors:
        count += sum(int(g) for g in socket_errors.groups())
    return Measure(
        float(rate.group(1)) if rate else 0.0,
        parse_latency(out, "50%"),
        parse_latency(out, "99%"),
        count,
        int(total.group(1)) if total else 0,
    )


def cpu_seconds(server: Server) -> float:
    """User + system CPU seconds of the server and every process under it, so far."""
    assert server.process is not None
    try:
        root = psutil.Process(server.process.pid)
        processes = [root, *root.children(recursive=True)]
    except psutil.Error:
        return float("nan")
    total = 0.0
    for process in processes:
        try:
            times = process.cpu_times()
        except psutil.Error:
            continue
        total += times.user + times.system
    return total


@dataclass
class Contender:
    server: Server
    path: str
    script: str | None = None
    # While wrk runs, one client keeps a request to this path in flight (see keep_busy).
    busy_path: str | None = None


@dataclass
class BusyReport:
    """What the background client of keep_busy saw; None until it has been stopped."""

    completed: int | None = None
    errors: int | None = None


@contextmanager
def keep_busy(port: int, path: str, pinned: bool) -> Iterator[BusyReport]:
    """One client asks for `path` again as soon as each answer arrives, for the whole block.

    It is a process of its own (scripts/bench_apps/slow_client.py), stopped by its PID when
    the block ends, even on error; it shares wrk's CPU, where it costs one request per 2 s.
    """
    command = [str(PROJECT_PYTHON), str(APPS / "slow_client.py"), str(port), path]
    if pinned:
        command = ["taskset", "-c", CLIENT_CPU, *command]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    report = BusyReport()
    try:
        time.sleep(0.5)  # its first request is in the handler before wrk starts
        yield report
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            out, _ = process.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            out, _ = process.communicate(timeout=10)
        try:
            counts = json.loads(out.decode().strip().splitlines()[-1])
            report.completed, report.errors = int(counts["completed"]), int(counts["errors"])
        except (ValueError, IndexError, KeyError):
            pass  # killed before it could report: the row shows no count


@dataclass
class Workload:
    name: str
    contenders: list[Contender]
    baseline: str  # name of the peer the ratio is taken against
    connections: int = 64
    pinned: bool = True
    # A mounted-app workload: every contender serves this app (app_alone.py's KIND), whose
    # own CPU per request, measured without a server, bounds the ratios (see app_bounds).
    app: str | None = None


def measure(contender: Contender, seconds: float, workload: Workload) -> tuple[Measure, BusyReport]:
    """One wrk run against a contender, with its background client if it has one."""
    before = cpu_seconds(contender.server)
    if contender.busy_path is None:
        run = run_wrk(
            url(contender), seconds, workload.connections, contender.script, workload.pinned
        )
        busy = BusyReport()
    else:
        with keep_busy(contender.server.port, contender.busy_path, workload.pinned) as busy:
            run = run_wrk(
                url(contender), seconds, workload.connections, contender.script, workload.pinned
            )
    if run.requests:
        run.cpu_us_per_request = (cpu_seconds(contender.server) - before) / run.requests * 1e6
    return run, busy


HW_PACKAGES = project("httptools", "uvloop")


def app_packages(app: str) -> tuple[str, ...]:
    """The packages of a "module:attribute" app of bench_apps."""
    return APP_PACKAGES.get(app.partition(":")[0], ())


def hw(name: str, env: dict[str, str] | None = None, pinned: bool = True) -> Server:
    return Server(
        name,
        [str(PROJECT_PYTHON), str(APPS / "hw_app.py"), "{port}"],
        env or {},
        pinned,
        packages=HW_PACKAGES,
    )


def with_baseline(workload: Workload, checkout: Path | None) -> Workload:
    """Beside each hwebserver contender, the same app served by another checkout's code
    (--baseline): a before/after comparison measured in the same run."""
    if checkout is None:
        return workload
    contenders: list[Contender] = []
    for contender in workload.contenders:
        contenders.append(contender)
        server = contender.server
        # (Not the metrics row: a version before ADMIN_ENDPOINTS refuses the setting.)
        if is_hwebserver(server) and "BENCH_ADMIN" not in server.env:
            twin = Server(
                f"{server.name} @baseline",
                list(server.command),
                {**server.env, "PYTHONPATH": str(checkout)},
                server.pinned,
                packages=server.packages,
            )
            contenders.append(dataclasses.replace(contender, server=twin))
    return dataclasses.replace(workload, contenders=contenders)


def uvicorn(
    name: str, app: str, workers: int = 1, pinned: bool = True, keepalive: int | None = None
) -> Server:
    command = [
        str(PEERS / "uvicorn"),
        app,
        "--port",
        "{port}",
        "--http",
        "httptools",
        "--loop",
        "uvloop",
        "--log-level",
        "warning",
        "--no-access-log",
        "--backlog",
        "2048",
    ]
    if workers > 1:
        command += ["--workers", str(workers)]
    if keepalive is not None:
        command += ["--timeout-keep-alive", str(keepalive)]
    packages = peers("uvicorn", "httptools", "uvloop", *app_packages(app))
    return Server(name, command, pinned=pinned, packages=packages)


def hw_mount(name: str, kind: str) -> Server:
    """hwebserver serving a peer's own app object, mounted (scripts/bench_apps/hw_mount.py)."""
    return Server(
        name,
        [str(PROJECT_PYTHON), str(APPS / "hw_mount.py"), kind, "{port}"],
        packages=HW_PACKAGES + project(*app_packages(f"peer_{kind}")),
    )


def gunicorn_gthread(name: str, app: str) -> Server:
    """gunicorn as Flask is usually served: one gthread worker with 4 threads."""
    return Server(
        name,
        [
            str(PEERS / "gunicorn"),
            "--worker-class",
            "gthread",
            "--workers",
            "1",
            "--threads",
            "4",
            "--bind",
            "127.0.0.1:{port}",
            "--backlog",
            "2048",
            "--log-level",
            "warning",
            app,
        ],
        packages=peers("gunicorn", *app_packages(app)),
    )


def granian(name: str, app: str, workers: int = 1, pinned: bool = True) -> Server:
    return Server(
        name,
        [
            str(PEERS / "granian"),
            "--interface",
            "asgi",
            "--port",
            "{port}",
            "--workers",
            str(workers),
            "--loop",
            "uvloop",
            "--log-level",
            "warning",
            "--no-ws",
            "--backlog",
            "2048",
            app,
        ],
        pinned=pinned,
        packages=peers("granian", *app_packages(app)),
    )


def raw_ceiling() -> Server:
    return Server(
        "raw uvloop+httptools",
        [str(PEERS / "python"), str(APPS / "raw_ceiling.py"), "{port}"],
        packages=peers("httptools", "uvloop"),
    )


def nginx(static_dir: Path, work: Path) -> Server:
    port = free_port()
    conf = work / "nginx.conf"
    conf.write_text(
        f"""daemon off; worker_processes 1; pid {work}/nginx.pid; error_log {work}/nginx-error.log;
events {{ worker_connections 1024; }}
http {{ access_log off; sendfile on; tcp_nopush on; include /etc/nginx/mime.types;
  client_body_temp_path {work}/body; proxy_temp_path {work}/proxy; fastcgi_temp_path {work}/fcgi;
  uwsgi_temp_path {work}/uwsgi; scgi_temp_path {work}/scgi;
  server {{ listen 127.0.0.1:{port}; location /static/ {{ alias {static_dir}/; }} }} }}
"""
    )
    return Server(
        "nginx", ["nginx", "-c", str(conf), "-p", str(work)], port=port, packages=system("nginx")
    )


def workloads(static_dir: Path, work: Path, selected: set[str] | None) -> list[Workload]:
    has_api = _hw_has("apiFunction")
    has_static = _hw_has("registerStaticFilesDirectory")
    all_workloads = [
        Workload(
            "hello (plain urlHandler)",
            [
                # A plain handler: it runs on a handler thread, as Houdini runs it.
                Contender(hw("hwebserver plain (threads)"), "/hello"),
                Contender(uvicorn("uvicorn raw ASGI", "peer_asgi:app"), "/"),
                Contender(uvicorn("uvicorn+starlette", "peer_starlette:app"), "/hello"),
                # Plain `def` endpoints: Starlette and FastAPI run them in their thread pool.
                Contender(uvicorn("uvicorn+starlette sync", "peer_starlette:app"), "/hello-sync"),
                Contender(uvicorn("uvicorn+fastapi sync", "peer_fastapi:app"), "/hello"),
                Contender(granian("granian raw ASGI", "peer_asgi:app"), "/"),
                Contender(raw_ceiling(), "/"),
            ],
            baseline="uvicorn raw ASGI",
        ),
        Workload(
            "hello (async urlHandler)",
            [
                Contender(hw("hwebserver async"), "/ahello"),
                Contender(uvicorn("uvicorn raw ASGI", "peer_asgi:app"), "/"),
            ],
            baseline="uvicorn raw ASGI",
        ),
        Workload(
            # The cost of ADMIN_ENDPOINTS: on another port, only the request counting remains.
            "hello, metrics on and off",
            [
                Contender(hw("hwebserver plain (threads)"), "/hello"),
                Contender(hw("hwebserver plain + metrics port", {"BENCH_ADMIN": "1"}), "/hello"),
            ],
            baseline="hwebserver plain (threads)",
        ),
        Workload(
            # wrk measures /hello while one client keeps a 2 s plain handler (/slow) busy.
            # Both peers run both handlers in threads: Starlette's `def` endpoints.
            "mixed: 2 s handler busy",
            [
                Contender(hw("hwebserver plain (threads)"), "/hello", busy_path="/slow"),
                Contender(
                    uvicorn("uvicorn+starlette sync", "peer_starlette:app"),
                    "/hello-sync",
                    busy_path="/slow",
                ),
            ],
            baseline="uvicorn+starlette sync",
        ),
        Workload(
            "64 KiB POST echoed",
            [
                Contender(hw("hwebserver echo"), "/echo", "post64k.lua"),
                Contender(uvicorn("uvicorn raw ASGI echo", "peer_asgi:app"), "/", "post64k.lua"),
            ],
            baseline="uvicorn raw ASGI echo",
        ),
    ]
    if has_api:
        all_workloads.append(
            Workload(
                "API call (form POST)",
                [
                    # A plain API function: on a handler thread.
                    Contender(hw("hwebserver apiFunction (threads)"), "/api", "api_form.lua"),
                    Contender(
                        uvicorn("uvicorn+starlette form", "peer_starlette:app"),
                        "/api",
                        "starlette_form.lua",
                    ),
                    # The form is parsed on the loop, the `def` endpoint runs in a thread.
                    Contender(
                        uvicorn("uvicorn+fastapi sync form", "peer_fastapi:app"),
                        "/api",
                        "starlette_form.lua",
                    ),
                ],
                baseline="uvicorn+starlette form",
            )
        )
    if has_static and shutil.which("nginx"):
        all_workloads.append(
            Workload(
                "1 MiB static file",
                [
                    Contender(
                        hw("hwebserver static", {"BENCH_STATIC_DIR": str(static_dir)}),
                        "/static/1mib.bin",
                    ),
                    Contender(nginx(static_dir, work), "/static/1mib.bin"),
                ],
                baseline="nginx",
                connections=16,
            )
        )
    workers = {"BENCH_WORKERS": "2"}
    all_workloads.append(
        Workload(
            # Every server on both cores, and wrk beside them (no pinning): what a second
            # worker adds, hwebserver's two handler kinds beside raw ASGI hello.
            "hello, 2 workers (unpinned)",
            [
                Contender(hw("hwebserver workers=2 plain (threads)", workers, False), "/hello"),
                Contender(hw("hwebserver workers=2 async", workers, False), "/ahello"),
                Contender(
                    uvicorn("uvicorn --workers 2", "peer_asgi:app", workers=2, pinned=False), "/"
                ),
                Contender(
                    granian("granian --workers 2", "peer_asgi:app", workers=2, pinned=False), "/"
                ),
            ],
            baseline="uvicorn --workers 2",
            pinned=False,
        )
    )
    all_workloads.append(
        Workload(
            "hello (mounted raw ASGI)",
            [
                Contender(hw_mount("hwebserver registerASGIApp", "asgi"), "/"),
                Contender(uvicorn("uvicorn raw ASGI", "peer_asgi:app"), "/"),
                Contender(granian("granian raw ASGI", "peer_asgi:app"), "/"),
            ],
            baseline="uvicorn raw ASGI",
            app="asgi",
        )
    )
    all_workloads.append(
        Workload(
            "hello (mounted Starlette)",
            [
                Contender(hw_mount("hwebserver mounted starlette", "starlette"), "/hello"),
                Contender(uvicorn("uvicorn+starlette", "peer_starlette:app"), "/hello"),
            ],
            baseline="uvicorn+starlette",
            app="starlette",
        )
    )
    all_workloads.append(
        Workload(
            "hello (mounted FastAPI async)",
            [
                Contender(hw_mount("hwebserver mounted fastapi", "fastapi"), "/ahello"),
                Contender(uvicorn("uvicorn+fastapi", "peer_fastapi:app"), "/ahello"),
            ],
            baseline="uvicorn+fastapi",
            app="fastapi",
        )
    )
    all_workloads.append(
        Workload(
            # The WSGI app runs on a handler thread in both: the adapter and the hop are measured.
            "hello (mounted Flask, WSGI)",
            [
                Contender(hw_mount("hwebserver registerWSGIApp", "flask"), "/hello"),
                Contender(gunicorn_gthread("gunicorn gthread 1x4", "peer_flask:app"), "/hello"),
            ],
            baseline="gunicorn gthread 1x4",
            app="flask",
        )
    )
    all_workloads.append(
        Workload(
            "hello, 1,000 connections",
            [
                Contender(hw("hwebserver plain (threads)"), "/hello"),
                Contender(hw("hwebserver async"), "/ahello"),
                Contender(uvicorn("uvicorn raw ASGI", "peer_asgi:app"), "/"),
                Contender(granian("granian raw ASGI", "peer_asgi:app"), "/"),
            ],
            baseline="uvicorn raw ASGI",
            connections=1000,
        )
    )
    if selected:
        all_workloads = [w for w in all_workloads if any(s in w.name for s in selected)]
    return all_workloads


def _hw_has(name: str) -> bool:
    probe = subprocess.run(
        [
            str(PROJECT_PYTHON),
            "-c",
            f"import hwebserver, sys; sys.exit(0 if hasattr(hwebserver, {name!r}) else 1)",
        ],
        cwd=str(ROOT),
        capture_output=True,
    )
    return probe.returncode == 0


def workload_packages(workload: Workload) -> set[Package]:
    return {package for c in workload.contenders for package in c.server.packages}


def versions_of(server: Server, found: dict[Package, str]) -> dict[str, str]:
    """{"uvicorn (peers)": "0.55.0", ...}: what the server's row was measured with."""
    return {str(package): found.get(package, "missing") for package in server.packages}


def version_gate(
    workloads: list[Workload], found: dict[Package, str], accept: bool
) -> tuple[list[Workload], list[str]]:
    """The workloads whose versions are the recorded ones (all of them with `accept`), and a
    loud line for each one left out."""
    kept, refused = [], []
    for workload in workloads:
        differ = mismatches(workload_packages(workload), found)
        if differ and not accept:
            refused.append(f"{workload.name}: " + "; ".join(differ))
        else:
            kept.append(workload)
    return kept, refused


def print_versions(found: dict[Package, str]) -> None:
    print("\nversions (scripts/bench_versions.json; peers: .bench/peers; project: .venv)")
    code = served_code()
    form = "request path compiled with mypyc" if is_compiled(code) else "sources"
    print(f"  hwebserver served from {code}: {form}")
    for package in sorted(found, key=str):
        print(f"  {package}: {found[package]}")


def run_workload(
    workload: Workload, args: argparse.Namespace, log_dir: Path, found: dict[Package, str]
) -> list[dict[str, object]]:
    print(f"\n== {workload.name}", flush=True)
    try:
        # Started inside the try: a server that cannot start stops the ones started before it.
        for contender in workload.contenders:
            contender.server.start(log_dir)
        for contender in workload.contenders:
            contender.server.wait_ready(contender.path if not contender.script else "/")
        samples: dict[str, list[Measure]] = {c.server.name: [] for c in workload.contenders}
        busy: dict[str, list[BusyReport]] = {c.server.name: [] for c in workload.contenders}
        for contender in workload.contenders:  # warm-up, in the same conditions as the rounds
            measure(contender, args.warmup, workload)
        alone: list[float] = []
        for round_number in range(args.rounds):
            for contender in workload.contenders:
                run, report = measure(contender, args.duration, workload)
                samples[contender.server.name].append(run)
                busy[contender.server.name].append(report)
                print(
                    f"  round {round_number + 1} {contender.server.name}: {run.requests_per_s:,.0f} req/s"
                    + busy_note([report]),
                    flush=True,
                )
            if workload.app is not None:
                # Once a round, as one more contender: a drift of the machine (a neighbour on
                # CPU 0 moves it by a third) then hits the app alone as it hits the servers.
                alone.extend(app_alone_us(workload.app, round_number + 1))
        rows = []
        baseline = statistics.median(m.requests_per_s for m in samples[workload.baseline])
        for contender in workload.contenders:
            measures = samples[contender.server.name]
            rates = [m.requests_per_s for m in measures]
            median = statistics.median(rates)
            rows.append(
                {
                    "workload": workload.name,
                    "server": contender.server.name,
                    "median": median,
                    "min": min(rates),
                    "max": max(rates),
                    "p50_ms": statistics.median(m.p50_ms for m in measures),
                    "p99_ms": statistics.median(m.p99_ms for m in measures),
                    "cpu_us_per_request": statistics.median(m.cpu_us_per_request for m in measures),
                    "errors": sum(m.errors for m in measures)
                    + sum(b.errors or 0 for b in busy[contender.server.name]),
                    "busy_completed": busy_completed(busy[contender.server.name]),
                    "rss_mib": contender.server.rss_mib(),
                    "ratio": median / baseline if baseline else float("nan"),
                    "baseline": workload.baseline,
                    "versions": versions_of(contender.server, found),
                }
            )
            if alone:
                rows[-1]["app_alone_cpu_us_per_request"] = statistics.median(alone)
        return rows
    finally:
        for contender in workload.contenders:
            contender.server.stop()


def busy_completed(reports: list[BusyReport]) -> int | None:
    """Slow requests answered during the rounds (None without a background client)."""
    counts = [r.completed for r in reports if r.completed is not None]
    return sum(counts) if counts else None


def busy_note(reports: list[BusyReport]) -> str:
    completed = busy_completed(reports)
    if completed is None:
        return ""
    errors = sum(r.errors or 0 for r in reports)
    return f" (slow calls answered meanwhile: {completed}, failed: {errors})"


def is_hwebserver(server: Server) -> bool:
    """A row of hwebserver (this checkout's or --baseline's): run by the project's Python."""
    return server.command[0] == str(PROJECT_PYTHON)


def app_alone_us(kind: str, round_number: int) -> list[float]:
    """CPU us one request costs the app alone, called in a loop with no server
    (scripts/bench_apps/app_alone.py), on the servers' core and with their Python; nothing,
    said aloud, when it failed: the bounds are then left out, the table is not."""
    command = ["taskset", "-c", SERVER_CPU, str(PROJECT_PYTHON), str(APPS / "app_alone.py"), kind]
    result = subprocess.run(
        command,
        capture_output=True,
        text=True,
        cwd=str(APPS),
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        timeout=300,
    )
    try:
        cost = float(json.loads(result.stdout.strip().splitlines()[-1])["cpu_us_per_request"])
    except (ValueError, IndexError, KeyError):
        print(f"  round {round_number} app alone ({kind}) failed:\n{result.stderr[-2000:]}")
        return []
    print(f"  round {round_number} app alone ({kind}): {cost:.1f} CPU us/req", flush=True)
    return [cost]


def figure(row: dict[str, object], key: str) -> float:
    value = row[key]
    assert isinstance(value, (int, float)), (key, value)
    return float(value)


def quotient(numerator: float, denominator: float) -> float:
    """numerator / denominator, NaN when the denominator is not above 0: a server's own share
    at or below 0 is the noise of two measures, not a cost to divide by."""
    return numerator / denominator if denominator > 0 else float("nan")


def app_bounds(workload: Workload, rows: list[dict[str, object]]) -> list[dict[str, object]]:
    """What the app alone leaves to each server of a mounted-app workload.

    A server's CPU per request is the app's plus its own. Its CPU over the app alone is the
    most a server costing nothing could gain over it: a ratio target above that bound cannot
    be reached by anyone. Its own cost over hwebserver's own says how much cheaper hwebserver
    is where a server can make a difference.
    """
    if workload.app is None or not rows or "app_alone_cpu_us_per_request" not in rows[0]:
        return []
    alone = figure(rows[0], "app_alone_cpu_us_per_request")
    hw_names = [c.server.name for c in workload.contenders if is_hwebserver(c.server)]
    cpu = {str(row["server"]): figure(row, "cpu_us_per_request") for row in rows}
    hw_own = cpu[hw_names[0]] - alone if hw_names else float("nan")
    return [
        {
            "workload": workload.name,
            "app": workload.app,
            "app_alone_cpu_us_per_request": alone,
            "server": name,
            "hwebserver": name in hw_names,
            "cpu_us_per_request": server_cpu,
            "own_cpu_us_per_request": server_cpu - alone,
            # The ratio a server costing nothing beyond the app would reach over this one.
            "free_server_bound": quotient(server_cpu, alone),
            "own_over_hwebserver_own": quotient(server_cpu - alone, hw_own),
            "baseline": workload.baseline,
        }
        for name, server_cpu in cpu.items()
    ]


def print_bounds(bounds: list[dict[str, object]]) -> None:
    print("\nwhat bounds the mounted-app ratios (CPU us per request)")
    header = f"{'workload':30} {'app alone':>9}  {'server':34} {'CPU':>7} {'own':>7} {'bound':>7} {'own/hw':>7}"
    print(header)
    print("-" * len(header))
    previous = None
    for row in bounds:
        first = row["workload"] != previous
        previous = row["workload"]
        alone = row["app_alone_cpu_us_per_request"]
        label = f"{row['workload']:30} {alone:9.1f}" if first else " " * 40
        print(
            f"{label}  {row['server']:34} {row['cpu_us_per_request']:7.1f} "
            f"{row['own_cpu_us_per_request']:7.1f} {row['free_server_bound']:6.2f}x "
            f"{row['own_over_hwebserver_own']:6.2f}x"
        )
    print("app alone: the app object called in a loop with no server (bench_apps/app_alone.py)")
    print("CPU: the server's, as in the table; own: CPU minus the app alone, the server's share")
    print("bound: CPU over the app alone, the ratio a server costing nothing beyond the app would")
    print("  reach over this one (optimistic: the loop runs with hot caches)")
    print("own/hw: own over hwebserver's own")


# The runs beside the wrk workloads (--only websocket, --only idle) and their packages.
WEBSOCKET_PACKAGES = HW_PACKAGES + project("websockets") + peers("websockets")
FANOUT_PACKAGES = (
    HW_PACKAGES + project("websockets") + peers("websockets", "uvicorn", "uvloop", "starlette")
)
# Big bodies: hwebserver beside nginx (bench_bigbody.py names its packages).
BIGBODY_PACKAGES = HW_PACKAGES + project("python-multipart") + system("nginx")
# The SSE rows: hwebserver, and uvicorn serving Starlette and a raw ASGI app.
STREAM_PACKAGES = HW_PACKAGES + peers("uvicorn", "httptools", "uvloop", "starlette", "anyio")
SIDE_RUNS = {
    "websocket": WEBSOCKET_PACKAGES,
    "fanout": FANOUT_PACKAGES,
    "bigbody": BIGBODY_PACKAGES,
    "stream": STREAM_PACKAGES,
    "idle": HW_PACKAGES + peers("uvicorn", "httptools", "uvloop"),
}


def run_websocket_bench(
    args: argparse.Namespace, found: dict[Package, str]
) -> list[dict[str, object]]:
    """WebSocket echo with 50 clients: scripts/bench_websocket.py measures both servers."""
    print("\n== WebSocket echo, 50 clients", flush=True)
    command = [
        str(PROJECT_PYTHON),
        str(ROOT / "scripts" / "bench_websocket.py"),
        "--rounds",
        str(args.rounds),
        "--json",
        str(Path(tempfile.mkdtemp()) / "ws.json"),
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=900)
    print(result.stdout.strip())
    try:
        figures = json.loads(Path(command[-1]).read_text())
        runs: dict[str, list[float]] = figures["runs"]
        cpu = {
            name: statistics.median(figures["user_us"][name])
            + statistics.median(figures["system_us"][name])
            for name in runs
        }
    except (OSError, ValueError, KeyError):
        print(result.stderr[-2000:])
        return []
    names = list(runs)
    baseline = statistics.median(runs[names[-1]])  # the websockets library's own server
    return [
        {
            "workload": "WebSocket echo (50 clients)",
            "server": name,
            "median": statistics.median(values),
            "min": min(values),
            "max": max(values),
            "p50_ms": float("nan"),
            "p99_ms": float("nan"),
            "cpu_us_per_request": cpu[name],  # per round-trip
            "errors": 0,
            "rss_mib": float("nan"),
            "ratio": statistics.median(values) / baseline,
            "baseline": names[-1],
            "versions": {str(p): found.get(p, "missing") for p in WEBSOCKET_PACKAGES},
        }
        for name, values in runs.items()
    ]


def run_fanout(args: argparse.Namespace, found: dict[Package, str]) -> list[dict[str, object]]:
    """WebSocket fan-out: scripts/bench_fanout.py measures every server, rounds alternated."""
    arguments = ["--messages", str(args.fanout_messages), "--rounds", str(args.rounds)]
    for clients in args.fanout_clients or [1000, 10_000]:
        arguments += ["--clients", str(clients)]
    return run_rows_script(
        "bench_fanout.py", arguments, "WebSocket fan-out", "fan-out", FANOUT_PACKAGES, found
    )


def run_bigbody(args: argparse.Namespace, found: dict[Package, str]) -> list[dict[str, object]]:
    """A 1 GiB upload stored and a 1 GiB download: scripts/bench_bigbody.py, beside nginx."""
    arguments = ["--rounds", str(args.rounds), "--size", str(args.bigbody_size)]
    if args.bigbody_dir:
        arguments += ["--dir", args.bigbody_dir]
    return run_rows_script(
        "bench_bigbody.py",
        arguments,
        "big bodies (upload stored, download)",
        "big bodies",
        BIGBODY_PACKAGES,
        found,
    )


def run_rows_script(
    script: str,
    arguments: list[str],
    title: str,
    what: str,
    packages: tuple[Package, ...],
    found: dict[Package, str],
) -> list[dict[str, object]]:
    """One of the bench's own scripts that measures its servers itself and writes its rows as
    JSON (`--json`); each row gets the versions of `packages`. A run that wrote no rows says
    so and gives none; its temp dir goes either way."""
    work = Path(tempfile.mkdtemp())
    output = work / "rows.json"
    command = [str(PROJECT_PYTHON), str(ROOT / "scripts" / script), *arguments]
    print(f"\n== {title}", flush=True)
    try:
        result = subprocess.run([*command, "--json", str(output)], text=True, timeout=3600)
        try:
            rows: list[dict[str, object]] = json.loads(output.read_text())
        except (OSError, ValueError):
            print(f"  {what} failed (exit {result.returncode})")
            return []
    finally:
        shutil.rmtree(work, ignore_errors=True)
    for row in rows:
        row["versions"] = {str(p): found.get(p, "missing") for p in packages}
    return rows


def print_bigbody_table(rows: list[dict[str, object]]) -> None:
    from bench_bigbody import print_table  # it imports this module: not at the top

    print_table(rows)


def print_fanout_table(rows: list[dict[str, object]]) -> None:
    header = f"{'workload':28} {'server':34} {'p50 ms':>8} {'p99 ms':>8} {'CPU us/msg':>10} {'msg/CPU s':>10} {'ratio':>7}"
    print("\n" + header)
    print("-" * len(header))
    for row in rows:
        print(
            f"{row['workload']:28} {row['server']:34} {row['p50_ms']:8.1f} {row['p99_ms']:8.1f} "
            f"{row['cpu_us_per_delivery']:10.2f} {row['deliveries_per_cpu_s']:10,.0f} "
            f"{row['ratio']:6.2f}x"
        )
    print("p50/p99: from the send until the last client has the message; CPU: the server's per")
    print("  delivered message; ratio: messages delivered per CPU second over the best peer's")


def run_stream(args: argparse.Namespace, found: dict[Package, str]) -> list[dict[str, object]]:
    """Server-sent events: scripts/bench_stream.py measures every server, rounds alternated."""
    arguments = [
        "--streams", str(args.stream_streams), "--events", str(args.stream_events),
        "--duration", str(args.duration), "--warmup", str(args.warmup),
        "--rounds", str(args.rounds),
    ]  # fmt: skip
    return run_rows_script(
        "bench_stream.py", arguments, "server-sent events", "streaming", STREAM_PACKAGES, found
    )


def print_stream_table(rows: list[dict[str, object]]) -> None:
    header = f"{'workload':28} {'server':38} {'events/s median (min-max)':>28} {'CPU us/ev':>9} {'ev/CPU s':>9} {'ratio':>7} {'errors':>6}"
    print("\n" + header)
    print("-" * len(header))
    for row in rows:
        span = f"{row['events_per_s']:,.0f} ({row['min_events_per_s']:,.0f}-{row['max_events_per_s']:,.0f})"
        print(
            f"{row['workload']:28} {row['server']:38} {span:>28} {row['cpu_us_per_event']:9.2f} "
            f"{row['events_per_cpu_s']:9,.0f} {row['ratio']:6.2f}x {row['errors']:6.0f}"
        )
    print("CPU us/ev: the server's user + system CPU per event delivered, ev/CPU s its inverse;")
    print("  ratio: events per CPU second over uvicorn+starlette's with the same async generator")
    print("events/s: as fast as server and client went together (see client_cpu_share in the JSON)")
    print("measured with (name version (venv); checked against scripts/bench_versions.json):")
    if rows and isinstance(rows[0].get("versions"), dict):
        versions = rows[0]["versions"]
        assert isinstance(versions, dict)
        print("  " + ", ".join(f"{n.replace(' (', f' {v} (')}" for n, v in versions.items()))


IDLE_CONNECTIONS = 10_000
WS_UPGRADE = (
    "GET /ws HTTP/1.1\r\nHost: bench\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
)
HELLO_REQUEST = "GET {path} HTTP/1.1\r\nHost: bench\r\n\r\n"


def serving_process(server: Server) -> psutil.Process:
    """The process that holds the connections: the largest child (a worker), else the server."""
    assert server.process is not None
    root = psutil.Process(server.process.pid)
    children = root.children(recursive=True)
    return max(children, key=lambda c: c.memory_info().rss) if children else root


def established(process: psutil.Process, port: int) -> int:
    """TCP connections to `port` the process holds open (psutil 6 renamed connections())."""
    listing = getattr(process, "net_connections", None) or process.connections
    return sum(
        1
        for c in listing(kind="tcp")
        if c.status == psutil.CONN_ESTABLISHED and c.laddr and c.laddr.port == port
    )


Opened = TypeVar("Opened")


async def open_many(count: int, open_one: Callable[[], Awaitable[Opened]]) -> list[Opened]:
    """`count` connections made by open_one(), at most 200 being made at a time (thousands of
    connects at once would overflow the server's listen backlog)."""
    limit = asyncio.Semaphore(200)

    async def one() -> Opened:
        async with limit:
            return await open_one()

    return list(await asyncio.gather(*(one() for _ in range(count))))


async def open_idle(
    port: int, request: bytes, answer_end: bytes, count: int
) -> list[socket.socket]:
    """`count` connections, each after one exchange (a request answered, or a 101), left idle."""
    loop = asyncio.get_running_loop()

    async def one() -> socket.socket:
        sock = socket.socket()
        sock.setblocking(False)
        await loop.sock_connect(sock, ("127.0.0.1", port))
        await loop.sock_sendall(sock, request)
        data = b""
        while answer_end not in data:
            chunk = await loop.sock_recv(sock, 4096)
            if not chunk:
                raise ConnectionError("the server closed an idle connection early")
            data += chunk
        return sock

    return await open_many(count, one)


@dataclass
class IdleCase:
    workload: str
    server: Server
    request: bytes
    answer_end: bytes  # the answer is complete once this arrived


def measure_idle(case: IdleCase, count: int) -> dict[str, object]:
    """RSS the serving process gains per idle connection: one warm-up batch opened and closed
    (pools and allocator in steady state), then `count` connections held while RSS is read."""
    server = case.server
    warm = asyncio.run(open_idle(server.port, case.request, case.answer_end, 500))
    for sock in warm:
        sock.close()
    time.sleep(1.0)
    process = serving_process(server)
    before = process.memory_info().rss
    sockets = asyncio.run(open_idle(server.port, case.request, case.answer_end, count))
    try:
        time.sleep(2.0)
        after = process.memory_info().rss
        held = established(process, server.port)
    finally:
        for sock in sockets:
            sock.close()
    per_connection = (after - before) / count
    print(
        f"  {server.name}: RSS {before / 2**20:.1f} -> {after / 2**20:.1f} MiB with {count:,} "
        f"open ({held:,} held by the server): {per_connection / 1024:.2f} KiB per connection",
        flush=True,
    )
    return {
        "workload": case.workload,
        "server": server.name,
        "connections": count,
        "held": held,
        "rss_before_mib": before / 2**20,
        "rss_after_mib": after / 2**20,
        "kib_per_connection": per_connection / 1024,
    }


def run_idle_memory(args: argparse.Namespace, log_dir: Path) -> list[dict[str, object]]:
    """RSS per idle keep-alive connection and per idle WebSocket: a worker beside uvicorn."""
    count = args.idle_connections
    hello = HELLO_REQUEST.format(path="/hello").encode()
    root_hello = HELLO_REQUEST.format(path="/").encode()
    keepalive_env = {"BENCH_KEEPALIVE_TIMEOUT": "600"}
    cases = [
        IdleCase(
            f"idle keep-alive x{count:,}",
            hw("hwebserver worker", keepalive_env),
            hello,
            b"Hello, world!",
        ),
        IdleCase(
            f"idle keep-alive x{count:,}",
            uvicorn("uvicorn raw ASGI", "peer_asgi:app", keepalive=600),
            root_hello,
            b"Hello, world!",
        ),
        IdleCase(
            f"idle WebSocket x{count:,}",
            hw("hwebserver worker ws", keepalive_env),
            WS_UPGRADE.encode(),
            b"\r\n\r\n",
        ),
        IdleCase(
            f"idle WebSocket x{count:,}",
            uvicorn("uvicorn raw ASGI ws", "peer_asgi:app", keepalive=600),
            WS_UPGRADE.encode(),
            b"\r\n\r\n",
        ),
    ]
    rows = []
    print(f"\n== idle connections: RSS per connection, {count:,} held", flush=True)
    for case in cases:
        case.server.start(log_dir)
        try:
            case.server.wait_ready("/hello" if case.server.name.startswith("hw") else "/")
            rows.append(measure_idle(case, count))
        finally:
            case.server.stop()
    return rows


def print_memory_table(rows: list[dict[str, object]]) -> None:
    header = f"{'workload':30} {'server':34} {'held':>7} {'RSS before':>11} {'RSS after':>10} {'KiB/conn':>9}"
    print("\n" + header)
    print("-" * len(header))
    for row in rows:
        print(
            f"{row['workload']:30} {row['server']:34} {row['held']:7,} {row['rss_before_mib']:9.1f}Mi "
            f"{row['rss_after_mib']:8.1f}Mi {row['kib_per_connection']:9.2f}"
        )


def raise_fd_limit() -> None:
    """wrk -c1000 and 10,000 idle connections need more descriptors than a default soft limit;
    servers started from here inherit the raised limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and (hard == resource.RLIM_INFINITY or soft < hard):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    if soft != resource.RLIM_INFINITY and soft < IDLE_CONNECTIONS + 1000:
        print(f"note: open-file limit {soft}: the idle-connection rows may fail (raise ulimit -Hn)")


def url(contender: Contender) -> str:
    return f"http://127.0.0.1:{contender.server.port}{contender.path}"


def print_table(rows: list[dict[str, object]]) -> None:
    header = f"{'workload':30} {'server':34} {'req/s median (min-max)':>30} {'p50 ms':>7} {'p99 ms':>7} {'CPU us/req':>10} {'RSS MiB':>8} {'ratio':>7} {'errors':>6}"
    print("\n" + header)
    print("-" * len(header))
    for row in rows:
        span = f"{row['median']:,.0f} ({row['min']:,.0f}-{row['max']:,.0f})"
        print(
            f"{row['workload']:30} {row['server']:34} {span:>30} {row['p50_ms']:7.2f} {row['p99_ms']:7.2f} "
            f"{row.get('cpu_us_per_request', float('nan')):10.1f} {row['rss_mib']:8.1f} {row['ratio']:6.2f}x {row['errors']:6d}"
        )
    print("ratio: median req/s over the median of the workload's baseline peer, same run")
    print("CPU us/req: the server's user + system CPU per request (median of rounds); it depends")
    print("  less than req/s on what else the machine runs")
    print("measured with (name version (venv); checked against scripts/bench_versions.json):")
    seen: set[str] = set()
    for row in rows:
        versions = row.get("versions")
        if isinstance(versions, dict) and versions and row["server"] not in seen:
            seen.add(str(row["server"]))
            listed = ", ".join(
                f"{name.replace(' (', ' ' + v + ' (')}" for name, v in versions.items()
            )
            print(f"  {row['server']}: {listed}")
    busy_rows = [row for row in rows if row.get("busy_completed") is not None]
    if busy_rows:
        print("mixed: slow (2 s) calls answered while wrk ran, over all rounds:")
        for row in busy_rows:
            print(f"  {row['server']}: {row['busy_completed']}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per wrk round")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds of warm-up per server")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (at least 3)")
    parser.add_argument("--only", action="append", help="run workloads whose name contains this")
    parser.add_argument("--json", type=Path, default=ROOT / "bench-results" / "bench.json")
    parser.add_argument(
        "--idle-connections",
        type=int,
        default=IDLE_CONNECTIONS,
        help="idle keep-alive connections and WebSockets held for the memory rows",
    )
    parser.add_argument(
        "--baseline",
        type=Path,
        help="a checkout of another version (git worktree add DIR COMMIT): each hwebserver "
        "row is run again on its code, in the same rounds",
    )
    parser.add_argument(
        "--fanout-clients",
        type=int,
        action="append",
        help="open WebSockets of the fan-out rows (repeatable; default 1,000 and 10,000)",
    )
    parser.add_argument(
        "--fanout-messages", type=int, default=100, help="messages per fan-out round"
    )
    parser.add_argument(
        "--bigbody-size", type=int, default=1 << 30, help="bytes of the big-body rows' file"
    )
    parser.add_argument(
        "--bigbody-dir",
        help="where the big-body rows' files live (default: the system temp dir; /dev/shm: tmpfs)",
    )
    parser.add_argument(
        "--stream-streams", type=int, default=1000, help="streams open at once in the SSE rows"
    )
    parser.add_argument(
        "--stream-events", type=int, default=100, help="events per stream in the SSE rows"
    )
    parser.add_argument(
        "--record-versions",
        action="store_true",
        help="run even where installed versions differ from scripts/bench_versions.json, "
        "and record the installed ones there",
    )
    args = parser.parse_args()
    raise_fd_limit()
    work = Path(tempfile.mkdtemp(prefix="hwebserver-bench-"))
    static_dir = work / "static"
    static_dir.mkdir()
    (static_dir / "1mib.bin").write_bytes(os.urandom(1 << 20))
    # nginx's worker runs as an unprivileged user: it must be able to read the files.
    for path in (work, static_dir, static_dir / "1mib.bin"):
        path.chmod(0o755)
    rows: list[dict[str, object]] = []
    memory_rows: list[dict[str, object]] = []
    bounds: list[dict[str, object]] = []
    fanout_rows: list[dict[str, object]] = []
    bigbody_rows: list[dict[str, object]] = []
    stream_rows: list[dict[str, object]] = []
    chosen = workloads(static_dir, work, set(args.only) if args.only else None)
    sides = {
        name: packages
        for name, packages in SIDE_RUNS.items()
        if not args.only or any(name in only.lower() for only in args.only)
    }
    wanted = {p for w in chosen for p in workload_packages(w)}
    wanted |= {p for packages in sides.values() for p in packages}
    found = installed(wanted | set(system("wrk")))  # wrk: printed, not checked
    chosen, refused = version_gate(chosen, found, args.record_versions)
    for name, packages in list(sides.items()):
        differ = mismatches(set(packages), found)
        if differ and not args.record_versions:
            refused.append(f"{name}: " + "; ".join(differ))
            del sides[name]
    for line in refused:
        print(f"VERSION MISMATCH, not run: {line}", file=sys.stderr, flush=True)
    if refused:
        print(
            "  (install the recorded versions, or accept these with --record-versions: the\n"
            "  ratios measured before are then no longer the ones to compare with)",
            file=sys.stderr,
        )
    try:
        for workload in chosen:
            workload_rows = run_workload(with_baseline(workload, args.baseline), args, work, found)
            rows.extend(workload_rows)
            bounds.extend(app_bounds(workload, workload_rows))
        if "websocket" in sides:
            rows.extend(run_websocket_bench(args, found))
        if "idle" in sides:
            memory_rows.extend(run_idle_memory(args, work))
        if "fanout" in sides:
            fanout_rows.extend(run_fanout(args, found))
        if "bigbody" in sides:
            bigbody_rows.extend(run_bigbody(args, found))
        if "stream" in sides:
            stream_rows.extend(run_stream(args, found))
    finally:
        if rows:
            print_table(rows)
        if bounds:
            print_bounds(bounds)
        if memory_rows:
            print_memory_table(memory_rows)
        if fanout_rows:
            print_fanout_table(fanout_rows)
        if bigbody_rows:
            print_bigbody_table(bigbody_rows)
        if stream_rows:
            print_stream_table(stream_rows)
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(
            json.dumps(
                {
                    "time": time.time(),
                    "cpus": os.cpu_count(),
                    "rows": rows,
                    "idle_memory": memory_rows,
                    "mounted_app_bounds": bounds,
                    "fanout": fanout_rows,
                    "big_bodies": bigbody_rows,
                    "stream": stream_rows,
                    "versions": {str(p): v for p, v in found.items()},
                    "hwebserver_code": "compiled" if is_compiled(served_code()) else "sources",
                    "refused_for_versions": refused,
                },
                indent=2,
            )
        )
        print(f"written: {args.json}")
        shutil.rmtree(work, ignore_errors=True)
        print_versions(found)
    if args.record_versions:
        record(found)
        print(f"recorded: {RECORD}")
    for line in refused:
        print(f"VERSION MISMATCH, not run: {line}", file=sys.stderr)
    return 1 if refused else 0


if __name__ == "__main__":
    sys.exit(main())

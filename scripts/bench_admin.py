"""What ADMIN_ENDPOINTS costs the request path: the hello benchmark with the admin endpoints
off, then on (on another port, scraped once a second as Prometheus would), interleaved.

On a shared machine requests/s say more about the neighbours than about the server, so the
figure compared is the worker's own CPU time per request (psutil cpu_times of the worker
process, user + system, before and after a fixed wrk run). Requests/s are printed too.
Writes bench-results/bench_admin.json. Not part of the test suite.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_port(port: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise SystemExit(f"port {port} never opened")


def start(admin: bool) -> tuple[subprocess.Popen[bytes], int, int | None]:
    port = free_port()
    admin_port = free_port() if admin else None
    command = [sys.executable, "-m", "hwebserver", "scripts/bench_apps/hw_app.py"]
    command += ["--port", str(port), "--workers", "1"]
    if admin_port is not None:
        command += ["--admin-port", str(admin_port)]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        ["taskset", "-c", "0", *command],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait_port(port)
    if admin_port is not None:
        wait_port(admin_port)
    return proc, port, admin_port


def worker_of(proc: subprocess.Popen[bytes]) -> psutil.Process:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        children = [
            child
            for child in psutil.Process(proc.pid).children()
            if "watcher" not in " ".join(child.cmdline())
        ]
        if children:
            return children[0]
        time.sleep(0.05)
    raise SystemExit("no worker")


def scraper(admin_port: int, stop: threading.Event) -> None:
    while not stop.wait(1.0):
        with urllib.request.urlopen(f"http://127.0.0.1:{admin_port}/metrics", timeout=5) as r:
            r.read()


def run_wrk(port: int, seconds: int, connections: int) -> tuple[int, float]:
    url = f"http://127.0.0.1:{port}/hello"
    output = subprocess.run(
        ["taskset", "-c", "1", "wrk", "-t1", f"-c{connections}", f"-d{seconds}s", url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    requests = int(re.search(r"(\d+) requests in", output)[1])  # type: ignore[index]
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", output)[1])  # type: ignore[index]
    return requests, rate


def measure(admin: bool, seconds: int, connections: int) -> dict[str, float]:
    proc, port, admin_port = start(admin)
    stop = threading.Event()
    try:
        worker = worker_of(proc)
        run_wrk(port, 1, connections)  # warm-up
        thread = None
        if admin_port is not None:
            thread = threading.Thread(target=scraper, args=(admin_port, stop), daemon=True)
            thread.start()
        before = worker.cpu_times()
        requests, rate = run_wrk(port, seconds, connections)
        after = worker.cpu_times()
        stop.set()
        cpu = (after.user - before.user) + (after.system - before.system)
        return {"requests": requests, "rps": rate, "cpu_us_per_request": cpu / requests * 1e6}
    finally:
        stop.set()
        proc.terminate()
        proc.wait(30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--connections", type=int, default=10)
    options = parser.parse_args()
    results: dict[str, list[dict[str, float]]] = {"off": [], "on": []}
    for round_number in range(options.rounds):
        # The order alternates too, so a neighbour's load drifting during a round does not
        # always fall on the same side.
        for mode in ("off", "on") if round_number % 2 == 0 else ("on", "off"):
            figures = measure(mode == "on", options.seconds, options.connections)
            results[mode].append(figures)
            print(
                f"round {round_number + 1} admin {mode:>3}: {figures['rps']:9.0f} req/s, "
                f"{figures['cpu_us_per_request']:6.1f} µs CPU/request",
                flush=True,
            )
    summary = {}
    for mode, rounds in results.items():
        summary[mode] = {
            "rps_median": statistics.median(r["rps"] for r in rounds),
            "cpu_us_per_request_median": statistics.median(r["cpu_us_per_request"] for r in rounds),
        }
    off, on = summary["off"], summary["on"]
    summary["cpu_cost_percent"] = round(
        (on["cpu_us_per_request_median"] / off["cpu_us_per_request_median"] - 1) * 100, 2
    )
    summary["rps_change_percent"] = round((on["rps_median"] / off["rps_median"] - 1) * 100, 2)
    print(json.dumps(summary, indent=2))
    out = ROOT / "bench-results"
    out.mkdir(exist_ok=True)
    (out / "bench_admin.json").write_text(json.dumps({"rounds": results, **summary}, indent=2))


if __name__ == "__main__":
    main()

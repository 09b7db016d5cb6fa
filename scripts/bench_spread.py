"""How evenly the workers of one server share the load: `python scripts/bench_spread.py`.

hwebserver (scripts/bench_apps/hw_app.py, `BENCH_WORKERS` workers on the shared listening
socket) and `uvicorn --workers` (peer_asgi.py) are each run unpinned under `wrk -cN`, for
each N of --connections. Halfway through the run, the connections each worker holds are
counted; over the run, each worker's CPU time is taken as its share of the requests (every
request is the same hello, so CPU follows requests). Printed per server and N: the count and
CPU of each worker, and max/min of both (1.0 is a perfect spread).

    .venv/bin/python scripts/bench_spread.py --workers 4 --connections 100 --connections 1000
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import bench
import psutil
from bench import Server, raise_fd_limit


def workers_of(server: Server) -> list[psutil.Process]:
    """The serving processes: children large enough to hold an app (not helpers)."""
    assert server.process is not None
    children = psutil.Process(server.process.pid).children(recursive=True)
    return [c for c in children if c.memory_info().rss > 15 * 2**20]


def established_by_pid(pids: set[int], port: int) -> dict[int, int]:
    """TCP connections to `port` each of `pids` holds, from one reading of the system's table:
    one reading per worker took a second each on a machine with thousands of sockets in
    TIME-WAIT, and the last workers were counted after wrk had ended (0 connections)."""
    held = dict.fromkeys(pids, 0)
    for c in psutil.net_connections(kind="tcp"):
        if c.pid in held and c.status == psutil.CONN_ESTABLISHED and c.laddr.port == port:
            held[c.pid] += 1
    return held


def spread(server: Server, url: str, connections: int, seconds: int) -> dict[str, object]:
    workers = workers_of(server)
    before = {w.pid: sum(w.cpu_times()[:2]) for w in workers}
    command = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", url]
    held: dict[int, int] = {}

    def count_midway() -> None:
        time.sleep(seconds / 2)
        held.update(established_by_pid({w.pid for w in workers}, server.port))

    counter = threading.Thread(target=count_midway)
    counter.start()
    subprocess.run(command, capture_output=True, timeout=seconds + 60)
    counter.join()
    cpu = {w.pid: sum(w.cpu_times()[:2]) - before[w.pid] for w in workers}
    return {
        "server": server.name,
        "connections": connections,
        "held": held,
        "cpu_s": cpu,
        "held_max_over_min": max(held.values()) / max(1, min(held.values())),
        "cpu_max_over_min": max(cpu.values()) / max(1e-9, min(cpu.values())),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--connections", type=int, action="append")
    parser.add_argument("--duration", type=int, default=6)
    args = parser.parse_args()
    raise_fd_limit()
    hw = bench.hw(
        f"hwebserver --workers {args.workers}", {"BENCH_WORKERS": str(args.workers)}, pinned=False
    )
    uvicorn = bench.uvicorn(
        f"uvicorn --workers {args.workers}", "peer_asgi:app", args.workers, pinned=False
    )
    paths = {hw.name: "/hello", uvicorn.name: "/"}
    with tempfile.TemporaryDirectory(prefix="hwebserver-bench-spread-") as tmp:
        for server in (hw, uvicorn):
            server.start(Path(tmp))
            try:
                server.wait_ready(paths[server.name])
                time.sleep(2)  # every worker up
                url = f"http://127.0.0.1:{server.port}{paths[server.name]}"
                for connections in args.connections or [100, 1000]:
                    row = spread(server, url, connections, args.duration)
                    print(
                        f"{row['server']:24} wrk -c{connections:<5} connections held per worker "
                        f"{sorted(row['held'].values())} (max/min {row['held_max_over_min']:.2f}), "
                        f"CPU s per worker {sorted(round(v, 2) for v in row['cpu_s'].values())} "
                        f"(max/min {row['cpu_max_over_min']:.2f})",
                        flush=True,
                    )
            finally:
                server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())

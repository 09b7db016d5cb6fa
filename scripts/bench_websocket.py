"""WebSocket echo round-trips per second: hwebserver beside the websockets library's server.

Both servers run as separate processes on uvloop (hwebserver: tests/apps/websocket_echo.py,
one worker; websockets: tests/apps/websockets_reference_echo.py), one after the other, in
alternating rounds, against the same client: one process with uvloop and the websockets
asyncio client, N connections each sending a message and waiting for its echo in a loop.
The machine's cores are shared by client and server, as they would be for any server here.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import psutil
import uvloop
import websockets
from websockets.asyncio.client import connect

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from support import ServerProcess  # noqa: E402

SERVERS = {
    "hwebserver": "websocket_echo.py",
    f"websockets {websockets.__version__}": "websockets_reference_echo.py",
}


async def load(port: int, clients: int, message: str, warmup: float, duration: float) -> float:
    """Round-trips per second over `duration`, after `warmup`, with `clients` connections."""
    compression = None if OPTIONS.compression == "off" else "deflate"
    url = f"ws://127.0.0.1:{port}/echo"
    sockets = [
        await connect(url, proxy=None, compression=compression, ping_interval=None)
        for _ in range(clients)
    ]
    counting = False
    counts = [0] * clients
    loop = asyncio.get_running_loop()
    deadline = loop.time() + warmup + duration

    async def one(index: int) -> None:
        ws = sockets[index]
        while loop.time() < deadline:
            await ws.send(message)
            await ws.recv()
            if counting:
                counts[index] += 1

    tasks = [asyncio.create_task(one(i)) for i in range(clients)]
    await asyncio.sleep(warmup)
    counting = True
    started = loop.time()
    await asyncio.gather(*tasks)
    elapsed = loop.time() - started
    await asyncio.gather(*(ws.close() for ws in sockets))
    return sum(counts) / elapsed


def cpu_seconds(pid: int) -> float:
    times = psutil.Process(pid).cpu_times()
    return float(times.user + times.system)


def measure(script: str, workdir: Path) -> tuple[float, float]:
    """(round-trips per second, server CPU microseconds per round-trip, warm-up included)."""
    server = ServerProcess(script, workdir / script.replace(".py", ""))
    server.start()
    try:
        before = cpu_seconds(server.pid)
        rate = uvloop.run(
            load(
                server.port,
                OPTIONS.clients,
                "x" * OPTIONS.size,
                OPTIONS.warmup,
                OPTIONS.duration,
            )
        )
        used = cpu_seconds(server.pid) - before
        return rate, used / (rate * (OPTIONS.duration + OPTIONS.warmup)) * 1e6
    finally:
        server.stop()


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="scripts/bench_websocket", description=__doc__)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--size", type=int, default=32, help="message size in characters")
    parser.add_argument("--duration", type=float, default=5.0, help="seconds measured per run")
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--compression", choices=("off", "deflate"), default="off")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    return parser.parse_args()


OPTIONS = parse_args() if __name__ == "__main__" else argparse.Namespace()


def main() -> int:
    runs: dict[str, list[float]] = {name: [] for name in SERVERS}
    cpu: dict[str, list[float]] = {name: [] for name in SERVERS}
    print(
        f"WebSocket echo: {OPTIONS.clients} clients, {OPTIONS.size}-character text messages, "
        f"compression {OPTIONS.compression}, {OPTIONS.duration:g}s x {OPTIONS.rounds} rounds"
    )
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="hwebserver-bench-ws-") as tmp:
        for _ in range(OPTIONS.rounds):
            for name, script in SERVERS.items():
                rate, micros = measure(script, Path(tmp))
                runs[name].append(rate)
                cpu[name].append(micros)
    medians = {name: statistics.median(values) for name, values in runs.items()}
    for name, values in runs.items():
        shown = ", ".join(f"{v:,.0f}" for v in values)
        print(
            f"  {name:<18} {medians[name]:>8,.0f} round-trips/s, "
            f"{statistics.median(cpu[name]):5.1f} us server CPU each (median; runs: {shown})"
        )
    ours, theirs = medians.values()
    print(f"  hwebserver / websockets: {ours / theirs:.2f}x   ({time.monotonic() - started:.0f}s)")
    if OPTIONS.json:
        OPTIONS.json.parent.mkdir(parents=True, exist_ok=True)
        figures = {
            "options": {k: str(v) for k, v in vars(OPTIONS).items()},
            "runs": runs,
            "cpu_us": cpu,
        }
        OPTIONS.json.write_text(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

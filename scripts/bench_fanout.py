"""WebSocket fan-out: one message to every open WebSocket, again and again.

For each server (hwebserver, the websockets library's server with its broadcast(), and a
Starlette endpoint under uvicorn: scripts/bench_apps/fanout_*.py), CLIENTS WebSockets are
opened on /fanout; then, MESSAGES times, the first of them sends a 32-byte text message and
the server sends it to every open WebSocket (the sender too). The next message goes once every
client has the previous one. Per server: the time from the send until the last client has it
(p50, p99), and the server's CPU (user + system, every process) per delivered message, whose
inverse is messages delivered per CPU second; rounds alternate the servers.

The client is one uvloop process with lean protocols (a prebuilt frame, the bytes counted),
pinned to CPU 1 while the servers are pinned to CPU 0 (as scripts/bench). Run it through
scripts/bench (`--only fanout`) or alone with the peers' venv made:

    .venv/bin/python scripts/bench_fanout.py --clients 1000 --messages 100 --rounds 3
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import uvloop
from bench import (
    APPS,
    PEERS,
    PROJECT_PYTHON,
    Server,
    cpu_seconds,
    open_many,
    quotient,
    raise_fd_limit,
)
from bench_versions import Package, peers, project

PAYLOAD_SIZE = 32
HANDSHAKE = (
    "GET /fanout HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
    "Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
)
CLIENT_CPU = 1
FLOOR = "floor:"  # the row that is no server (bench_apps/fanout_floor.py), never the baseline
SERVER_CPU = 0


def servers() -> list[tuple[Server, tuple[Package, ...]]]:
    """The servers, each with the packages its figures depend on."""
    uvicorn = [
        str(PEERS / "uvicorn"),
        "fanout_starlette:app",
        "--port",
        "{port}",
        "--http",
        "httptools",
        "--loop",
        "uvloop",
        "--ws",
        "websockets",
        # No ping during a run (the client counts frame bytes, as for the other servers).
        "--ws-ping-interval",
        "600",
        "--log-level",
        "warning",
        "--no-access-log",
        "--backlog",
        "4096",
    ]
    return [
        (
            Server(
                "hwebserver WebSocket.broadcast()",
                [str(PROJECT_PYTHON), "fanout_hw.py", "{port}", "broadcast"],
            ),
            project("httptools", "uvloop"),
        ),
        (
            Server(
                "hwebserver WebSocket.send loop",
                [str(PROJECT_PYTHON), "fanout_hw.py", "{port}", "send"],
            ),
            project("httptools", "uvloop"),
        ),
        (
            Server(
                "websockets broadcast()",
                [str(PEERS / "python"), "fanout_websockets.py", "{port}"],
            ),
            peers("websockets", "uvloop"),
        ),
        (
            Server("uvicorn+starlette send loop", uvicorn),
            peers("uvicorn", "starlette", "websockets"),
        ),
        (
            # Not a peer: the floor below any WebSocket library (bench_apps/fanout_floor.py),
            # to read the ratios against.
            Server(
                f"{FLOOR} uvloop transport.write",
                [str(PEERS / "python"), "fanout_floor.py", "{port}"],
            ),
            peers("uvloop"),
        ),
    ]


def masked_text_frame(payload: bytes) -> bytes:
    mask = os.urandom(4)
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return bytes([0x81, 0x80 | len(payload)]) + mask + masked


class Subscriber(asyncio.Protocol):
    """Counts the fan-out frames it gets (each is 2 + PAYLOAD_SIZE bytes, unmasked)."""

    def __init__(self, run: Run, opened: asyncio.Future[None]) -> None:
        self.run = run
        self.opened = opened
        self.open = False
        self.pending = b""
        self.partial = 0  # bytes of a frame received so far
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        if not self.open:
            self.pending += data
            head, found, rest = self.pending.partition(b"\r\n\r\n")
            if not found:
                return
            if not head.startswith(b"HTTP/1.1 101"):
                self.opened.set_exception(RuntimeError(head[:200].decode("latin-1")))
                return
            self.open = True
            self.opened.set_result(None)
            data = rest
        frames, self.partial = divmod(self.partial + len(data), 2 + PAYLOAD_SIZE)
        if frames:
            self.run.delivered(frames)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.open:
            self.run.lost += 1


@dataclass
class Run:
    """One fan-out in flight: how many deliveries it still waits for."""

    waiting: int = 0
    lost: int = 0
    done: asyncio.Future[None] | None = None

    def delivered(self, count: int) -> None:
        self.waiting -= count
        if self.waiting <= 0 and self.done is not None and not self.done.done():
            self.done.set_result(None)


async def open_subscribers(port: int, count: int, run: Run) -> list[Subscriber]:
    loop = asyncio.get_running_loop()

    async def one() -> Subscriber:
        opened: asyncio.Future[None] = loop.create_future()
        _, subscriber = await loop.create_connection(
            lambda: Subscriber(run, opened), "127.0.0.1", port
        )
        key = base64.b64encode(os.urandom(16)).decode()
        assert subscriber.transport is not None
        subscriber.transport.write(HANDSHAKE.format(port=port, key=key).encode())
        await asyncio.wait_for(opened, 30)
        return subscriber

    return await open_many(count, one)


async def fan_out(server: Server, clients: int, messages: int) -> dict[str, float]:
    """p50 and p99 ms until every client has a message, and server CPU us per delivery."""
    loop = asyncio.get_running_loop()
    run = Run()
    subscribers = await open_subscribers(server.port, clients, run)
    await asyncio.sleep(0.5)  # the servers have registered every connection
    frame = masked_text_frame(b"x" * PAYLOAD_SIZE)
    trigger = subscribers[0].transport
    assert trigger is not None

    async def one_message() -> float:
        run.waiting = clients
        run.done = loop.create_future()
        started = time.perf_counter()
        trigger.write(frame)
        await asyncio.wait_for(run.done, 120)
        return time.perf_counter() - started

    for _ in range(3):  # warm-up
        await one_message()
    cpu_before = cpu_seconds(server)
    times = [await one_message() for _ in range(messages)]
    cpu = cpu_seconds(server) - cpu_before
    for subscriber in subscribers:
        assert subscriber.transport is not None
        subscriber.transport.close()
    if run.lost:
        raise RuntimeError(f"{server.name}: {run.lost} clients lost their connection")
    times.sort()
    return {
        "p50_ms": statistics.median(times) * 1e3,
        "p99_ms": times[min(len(times) - 1, round(len(times) * 0.99))] * 1e3,
        "cpu_us_per_delivery": cpu / (clients * messages) * 1e6,
    }


def measure(server: Server, log_dir: Path, clients: int, messages: int) -> dict[str, float]:
    server.start(log_dir)
    try:
        server.wait_ready("/fanout")
        return uvloop.run(fan_out(server, clients, messages))
    finally:
        server.stop()


def main() -> int:
    parser = argparse.ArgumentParser(prog="scripts/bench_fanout", description=__doc__)
    parser.add_argument("--clients", type=int, action="append", help="default: 1000 and 10000")
    parser.add_argument("--messages", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", type=Path, help="also write the rows to this file")
    parser.add_argument("--server", action="append", help="only the servers whose name has this")
    args = parser.parse_args()
    raise_fd_limit()
    if len(os.sched_getaffinity(0)) >= 2:
        os.sched_setaffinity(0, {CLIENT_CPU})
    rows = []
    with tempfile.TemporaryDirectory(prefix="hwebserver-bench-fanout-") as tmp:
        for clients in args.clients or [1000, 10_000]:
            print(f"== WebSocket fan-out to {clients:,}, {args.messages} messages", flush=True)
            figures: dict[str, list[dict[str, float]]] = {}
            for _ in range(args.rounds):
                for server, _packages in servers():
                    if args.server and not any(part in server.name for part in args.server):
                        continue
                    result = measure(server, Path(tmp), clients, args.messages)
                    figures.setdefault(server.name, []).append(result)
                    print(
                        f"  {server.name}: p50 {result['p50_ms']:.1f} ms, p99 "
                        f"{result['p99_ms']:.1f} ms, CPU {result['cpu_us_per_delivery']:.2f} "
                        "us per delivered message",
                        flush=True,
                    )
            rows.extend(summary(clients, figures))
    for row in rows:
        print(
            f"{row['workload']:28} {row['server']:34} p50 {row['p50_ms']:7.1f} ms  p99 "
            f"{row['p99_ms']:7.1f} ms  {row['deliveries_per_cpu_s']:>10,.0f} msg/CPU s  "
            f"{row['ratio']:.2f}x of the best peer"
        )
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))
    return 0


def summary(clients: int, figures: dict[str, list[dict[str, float]]]) -> list[dict[str, object]]:
    """A row per server: medians of the rounds; the ratio is messages delivered per CPU second
    over the best peer's."""
    cpu_us = {
        name: statistics.median(r["cpu_us_per_delivery"] for r in results)
        for name, results in figures.items()
    }
    # A run too small for a server's CPU to register gives NaN, not a division by zero.
    rate = {name: quotient(1e6, us) for name, us in cpu_us.items()}
    peer_names = [name for name in rate if not name.startswith(("hwebserver", FLOOR))]
    best_peer = max(peer_names, key=lambda name: rate[name])
    return [
        {
            "workload": f"WebSocket fan-out x{clients:,}",
            "server": name,
            "p50_ms": statistics.median(r["p50_ms"] for r in results),
            "p99_ms": statistics.median(r["p99_ms"] for r in results),
            "cpu_us_per_delivery": cpu_us[name],
            "deliveries_per_cpu_s": rate[name],
            "ratio": quotient(rate[name], rate[best_peer]),
            "baseline": best_peer,
        }
        for name, results in figures.items()
    ]


if __name__ == "__main__":
    sys.path.insert(0, str(APPS))
    sys.exit(main())

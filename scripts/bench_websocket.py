"""WebSocket echo round-trips per second: hwebserver beside the websockets library's server.

Both servers run as separate processes on uvloop (hwebserver: tests/apps/websocket_echo.py,
one worker; websockets: tests/apps/websockets_reference_echo.py), one after the other, in
alternating rounds, against the same client: one process on uvloop with N connections, each
sending a prebuilt masked text frame and waiting for the echo's bytes, in a loop, so that
the client costs little and the servers are what is measured. With two cores or more the
server is pinned to CPU 0 and the client to CPU 1, as in scripts/bench. Besides the rate,
the server's CPU time per round-trip (user + system, from psutil) is printed: it depends
less on what else the machine runs.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import functools
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import psutil
import uvloop
import websockets

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from bench import served_code  # noqa: E402
from support import APPS, ServerProcess  # noqa: E402

# As scripts/bench does: the server on one core, the client on another.
PIN = len(os.sched_getaffinity(0)) >= 2
SERVER_CPU, CLIENT_CPU = 0, 1
SERVERS = {
    "hwebserver": "websocket_echo.py",
    f"websockets {websockets.__version__}": "websockets_reference_echo.py",
}


def server_tree(pid: int) -> list[psutil.Process]:
    """The server and its workers: a blocking run() serves from worker processes."""
    root = psutil.Process(pid)
    return [root, *root.children(recursive=True)]


def cpu_seconds(pid: int) -> tuple[float, float]:
    """(user, system) CPU seconds the server's processes used so far."""
    user = system = 0.0
    for process in server_tree(pid):
        times = process.cpu_times()
        user, system = user + times.user, system + times.system
    return user, system


HANDSHAKE = (
    "GET /echo HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
    "Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
)


def masked_text_frame(payload: bytes) -> bytes:
    """One client text frame (FIN, masked), built once and sent again and again."""
    assert len(payload) < 126
    mask = os.urandom(4)
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return bytes([0x81, 0x80 | len(payload)]) + mask + masked


class EchoClient(asyncio.Protocol):
    """A lean client, so that the servers and not the client are measured: after the
    handshake it sends a prebuilt frame and waits for the echo's bytes, in a loop."""

    def __init__(self, frame: bytes, reply: bytes, opened: asyncio.Future[None]) -> None:
        self.frame = frame
        self.reply = reply
        self.opened = opened
        self.buffer = b""
        self.open = False
        self.counting = False
        self.running = True
        self.count = 0
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        buffer = self.buffer + data
        if not self.open:
            head, found, rest = buffer.partition(b"\r\n\r\n")
            if not found:
                self.buffer = buffer
                return
            if not head.startswith(b"HTTP/1.1 101"):
                self.opened.set_exception(RuntimeError(head.decode("latin-1")))
                return
            self.open = True
            self.opened.set_result(None)
            buffer = rest
        size = len(self.reply)
        while len(buffer) >= size:
            if buffer[:size] != self.reply:
                raise RuntimeError(f"unexpected echo {buffer[:size]!r}")
            buffer = buffer[size:]
            if self.counting:
                self.count += 1
            if self.running:
                assert self.transport is not None
                self.transport.write(self.frame)
        self.buffer = buffer


async def load(
    port: int, server_pid: int, clients: int, payload: bytes, warmup: float, duration: float
) -> tuple[float, float, float]:
    """(round-trips per second, server user and system CPU microseconds per round-trip) over
    `duration`, after `warmup`, with `clients` connections."""
    loop = asyncio.get_running_loop()
    frame = masked_text_frame(payload)
    reply = bytes([0x81, len(payload)]) + payload
    protocols = []
    for _ in range(clients):
        opened: asyncio.Future[None] = loop.create_future()
        key = base64.b64encode(os.urandom(16)).decode()
        transport, protocol = await loop.create_connection(
            functools.partial(EchoClient, frame, reply, opened), "127.0.0.1", port
        )
        transport.write(HANDSHAKE.format(port=port, key=key).encode())
        await asyncio.wait_for(opened, 10)
        protocols.append(protocol)
    for protocol in protocols:
        assert protocol.transport is not None
        protocol.transport.write(frame)
    await asyncio.sleep(warmup)
    for protocol in protocols:
        protocol.counting = True
    started = loop.time()
    cpu_before = cpu_seconds(server_pid)
    await asyncio.sleep(duration)
    total = sum(protocol.count for protocol in protocols)
    elapsed = loop.time() - started
    cpu_after = cpu_seconds(server_pid)
    for protocol in protocols:
        protocol.running = False
        protocol.counting = False
    await asyncio.sleep(0.1)
    for protocol in protocols:
        assert protocol.transport is not None
        protocol.transport.close()
    user, system = (after - before for after, before in zip(cpu_after, cpu_before, strict=True))
    return total / elapsed, user / max(total, 1) * 1e6, system / max(total, 1) * 1e6


def measure(script: str, workdir: Path) -> tuple[float, float, float]:
    """(round-trips per second, server user and system CPU microseconds per round-trip)."""
    # hwebserver from where scripts/bench serves it (the compiled copy, or the sources): the
    # tests' own environment would put the sources first.
    code = os.pathsep.join([str(served_code()), str(APPS)])
    server = ServerProcess(script, workdir / script.replace(".py", ""), env={"PYTHONPATH": code})
    server.start()
    try:
        if PIN:
            for process in server_tree(server.pid):
                process.cpu_affinity([SERVER_CPU])
        return uvloop.run(
            load(
                server.port,
                server.pid,
                OPTIONS.clients,
                b"x" * OPTIONS.size,
                OPTIONS.warmup,
                OPTIONS.duration,
            )
        )
    finally:
        server.stop()


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="scripts/bench_websocket", description=__doc__)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--size", type=int, default=32, help="message size in bytes (< 126)")
    parser.add_argument("--duration", type=float, default=5.0, help="seconds measured per run")
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    return parser.parse_args()


OPTIONS = parse_args() if __name__ == "__main__" else argparse.Namespace()


def main() -> int:
    runs: dict[str, list[float]] = {name: [] for name in SERVERS}
    user: dict[str, list[float]] = {name: [] for name in SERVERS}
    system: dict[str, list[float]] = {name: [] for name in SERVERS}
    print(
        f"WebSocket echo: {OPTIONS.clients} clients, {OPTIONS.size}-byte text messages, "
        f"no compression, {OPTIONS.duration:g}s x {OPTIONS.rounds} rounds"
    )
    if PIN:
        os.sched_setaffinity(0, {CLIENT_CPU})
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="hwebserver-bench-ws-") as tmp:
        for _ in range(OPTIONS.rounds):
            for name, script in SERVERS.items():
                rate, user_us, system_us = measure(script, Path(tmp))
                runs[name].append(rate)
                user[name].append(user_us)
                system[name].append(system_us)
    medians = {name: statistics.median(values) for name, values in runs.items()}
    for name, values in runs.items():
        shown = ", ".join(f"{v:,.0f}" for v in values)
        print(
            f"  {name:<18} {medians[name]:>8,.0f} round-trips/s, "
            f"server CPU per round-trip {statistics.median(user[name]):4.1f} us user + "
            f"{statistics.median(system[name]):4.1f} us system (medians; runs: {shown})"
        )
    ours, theirs = medians.values()
    print(f"  hwebserver / websockets: {ours / theirs:.2f}x   ({time.monotonic() - started:.0f}s)")
    if OPTIONS.json:
        OPTIONS.json.parent.mkdir(parents=True, exist_ok=True)
        figures = {
            "options": {k: str(v) for k, v in vars(OPTIONS).items()},
            "runs": runs,
            "user_us": user,
            "system_us": system,
        }
        OPTIONS.json.write_text(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

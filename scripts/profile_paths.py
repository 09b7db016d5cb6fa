"""Deterministic cost of one request (or WebSocket message) on a path, without sockets.

`python scripts/profile_paths.py PATH COUNT` drives COUNT requests through one worker
connection (HttpProtocol) on a fake transport, on uvloop, in this process, and prints the CPU
microseconds per request. Each request is sent by a callback of the loop once the previous
one is answered, as uvloop calls data_received. Run it under callgrind twice (COUNT and 2*COUNT) and subtract, to
get instructions per request that do not depend on what else the machine runs:

    PYTHONHASHSEED=0 valgrind --tool=callgrind --callgrind-out-file=/tmp/cg.%p \\
        .venv/bin/python scripts/profile_paths.py asgi 2000

or under cProfile with --cprofile. PATH is one of: asgi (raw ASGI hello, registerASGIApp),
starlette, fastapi (their hello endpoints mounted), flask (registerWSGIApp: the thread hop
included), ws (WebSocket echo of a 32-byte text message), hello (a plain urlHandler, on a
handler thread), ahello (an async urlHandler), fanout (WebSocket.broadcast() of a 32-byte text
message to FANOUT_CLIENTS open WebSockets: COUNT broadcasts, so divide by COUNT * FANOUT_CLIENTS
for the cost of one delivered message).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import os
import pstats
import socket
import sys
import time
from pathlib import Path
from typing import Any

import uvloop

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "scripts" / "bench_apps")]

import hwebserver  # noqa: E402
from hwebserver.worker.apps import exchange  # noqa: E402
from hwebserver.worker.apps.asgi import lifespan_startup  # noqa: E402
from hwebserver.worker.common.config import Listener, WorkerConfig  # noqa: E402
from hwebserver.worker.common.state import WorkerState  # noqa: E402
from hwebserver.worker.http.protocol import HttpProtocol  # noqa: E402
from hwebserver.worker.websockets.upgrade import preload as preload_websockets  # noqa: E402
from hwebserver.worker.websockets.upgrade import upgrade  # noqa: E402

REQUESTS = {
    "asgi": b"GET / HTTP/1.1\r\nHost: bench\r\nUser-Agent: wrk\r\n\r\n",
    "starlette": b"GET /hello HTTP/1.1\r\nHost: bench\r\nUser-Agent: wrk\r\n\r\n",
    "fastapi": b"GET /ahello HTTP/1.1\r\nHost: bench\r\nUser-Agent: wrk\r\n\r\n",
    "flask": b"GET /hello HTTP/1.1\r\nHost: bench\r\nUser-Agent: wrk\r\n\r\n",
    "hello": b"GET /hello HTTP/1.1\r\nHost: bench\r\nUser-Agent: wrk\r\n\r\n",
    "ahello": b"GET /ahello HTTP/1.1\r\nHost: bench\r\nUser-Agent: wrk\r\n\r\n",
}
WS_UPGRADE = (
    b"GET /ws HTTP/1.1\r\nHost: bench\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
)


class Transport:
    """Counts what is written; wakes a waiter once something was."""

    def __init__(self) -> None:
        self.written = 0
        self.last = b""
        self.waiter: asyncio.Future[None] | None = None
        self.on_write: Any = None

    def write(self, data: bytes) -> None:
        self.written += 1
        self.last = data
        if self.on_write is not None:
            self.on_write()
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(None)

    def writelines(self, parts: Any) -> None:
        self.write(b"".join(parts))

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": ("127.0.0.1", 4000), "sockname": ("127.0.0.1", 8008)}.get(name, default)

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        pass

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def is_closing(self) -> bool:
        return False

    def can_write_eof(self) -> bool:
        return True

    def write_eof(self) -> None:
        pass

    def close(self) -> None:
        pass

    def abort(self) -> None:
        pass

    def get_write_buffer_size(self) -> int:
        return 0


FANOUT_CLIENTS = 100
FANOUT_OPEN: set[hwebserver.WebSocket] = set()


class Fanout(hwebserver.WebSocket):
    """Joins FANOUT_OPEN once accepted (the broadcast's recipients)."""

    async def connect(self, request: hwebserver.Request) -> None:
        await self.accept()
        FANOUT_OPEN.add(self)


def register(path: str) -> None:
    if path == "fanout":
        hwebserver.webSocket("/ws")(Fanout)
    elif path == "asgi":
        import peer_asgi

        hwebserver.registerASGIApp(peer_asgi.app, "/")
    elif path == "starlette":
        import peer_starlette

        hwebserver.registerASGIApp(peer_starlette.app, "/")
    elif path == "fastapi":
        import peer_fastapi

        hwebserver.registerASGIApp(peer_fastapi.app, "/")
    elif path == "flask":
        import peer_flask

        hwebserver.registerWSGIApp(peer_flask.app, "/")
    else:
        import hw_app  # noqa: F401  (its urlHandlers and /ws)


def masked_frame(payload: bytes) -> bytes:
    mask = b"\x01\x02\x03\x04"
    return (
        bytes([0x81, 0x80 | len(payload)])
        + mask
        + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    )


def connection(state: WorkerState, listener: Listener) -> HttpProtocol:
    """A connection as the worker's server (process/server.py) makes it: app mounts go to
    their adapter, WebSocket upgrades to the upgrade."""
    return HttpProtocol(state, listener, exchange.STARTERS, upgrade)


async def drive(path: str, count: int, profile: cProfile.Profile | None) -> float:
    loop = asyncio.get_running_loop()
    state = WorkerState(WorkerConfig(max_num_threads=4), loop)
    preload_websockets(state)
    await lifespan_startup(state)
    sock = socket.socket()
    if path == "fanout":
        return await fanout(state, sock, count, profile)
    protocol = connection(state, Listener("main", sock))
    transport = Transport()
    protocol.connection_made(transport)

    async def answered(data: bytes) -> None:
        waiter = transport.waiter = loop.create_future()
        protocol.data_received(data)
        if not waiter.done():
            await waiter

    if path == "ws":
        await answered(WS_UPGRADE)
        assert transport.last.startswith(b"HTTP/1.1 101"), transport.last
        data = masked_frame(b"x" * 32)
    else:
        data = REQUESTS[path]

    def requests(number: int) -> asyncio.Future[None]:
        """`number` requests one after the other, each sent by a callback of the loop once the
        previous one is answered, as uvloop calls data_received from its own callback: no
        coroutine of ours waits between them (its wake-ups would be counted as the server's,
        and only when the server answers later than at once, e.g. from a task's first step)."""
        finished = loop.create_future()
        left = number

        def answered() -> None:
            nonlocal left
            left -= 1
            if left:
                loop.call_soon(protocol.data_received, data)
            else:
                transport.on_write = None
                finished.set_result(None)

        transport.on_write = answered
        loop.call_soon(protocol.data_received, data)
        return finished

    await requests(50)  # warm-up: caches, first-call work
    started = time.process_time()
    if profile is not None:
        profile.enable()
    await requests(count)
    if profile is not None:
        profile.disable()
    elapsed = time.process_time() - started
    assert transport.last.endswith(b"Hello, world!") or path == "ws", transport.last[-80:]
    state.close()
    sock.close()
    return elapsed


async def fanout(
    state: WorkerState,
    sock: socket.socket,
    count: int,
    profile: cProfile.Profile | None,
) -> float:
    """COUNT broadcasts to FANOUT_CLIENTS WebSockets, each on a connection of its own."""
    listener = Listener("main", sock)
    for _client in range(FANOUT_CLIENTS):
        protocol = connection(state, listener)
        transport = Transport()
        protocol.connection_made(transport)
        protocol.data_received(WS_UPGRADE)
    while len(FANOUT_OPEN) < FANOUT_CLIENTS:
        await asyncio.sleep(0)
    message = "x" * 32
    for _warm in range(50):
        await hwebserver.WebSocket.broadcast(FANOUT_OPEN, message)
    started = time.process_time()
    if profile is not None:
        profile.enable()
    for _round in range(count):
        await hwebserver.WebSocket.broadcast(FANOUT_OPEN, message)
    if profile is not None:
        profile.disable()
    elapsed = time.process_time() - started
    state.close()
    sock.close()
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("path", choices=[*REQUESTS, "ws", "fanout"])
    parser.add_argument("count", type=int)
    parser.add_argument("--cprofile", type=Path, help="write cProfile stats here (and print top)")
    args = parser.parse_args()
    register(args.path)
    profile = cProfile.Profile() if args.cprofile else None
    elapsed = uvloop.run(drive(args.path, args.count, profile))
    print(f"{args.path}: {elapsed / args.count * 1e6:.1f} us CPU per request (pid {os.getpid()})")
    if profile is not None:
        profile.dump_stats(args.cprofile)
        pstats.Stats(str(args.cprofile)).sort_stats("tottime").print_stats(25)
    return 0


if __name__ == "__main__":
    sys.exit(main())

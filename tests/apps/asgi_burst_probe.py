"""How many new objects a burst of requests to a mounted ASGI app holds before any of them
runs: `python asgi_burst_probe.py CONNECTIONS` prints the garbage collector's count of new
objects after one request was parsed on each of CONNECTIONS connections in one turn of the
loop, as uvloop delivers a burst (the young generation is collected past 700).

Run in its own process: it mounts an app on the global router and turns the collector off.
"""

from __future__ import annotations

import asyncio
import gc
import socket
import sys
from typing import Any

import uvloop

import hwebserver
from hwebserver.worker.apps import exchange
from hwebserver.worker.apps.asgi import lifespan_startup
from hwebserver.worker.common.config import Listener, WorkerConfig
from hwebserver.worker.common.state import WorkerState
from hwebserver.worker.http.protocol import HttpProtocol
from hwebserver.worker.websockets.upgrade import upgrade

REQUEST = b"GET /hello HTTP/1.1\r\nHost: probe\r\nUser-Agent: probe\r\n\r\n"


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"hi"})


class Transport:
    """Takes what is written; the probe only needs the answers to have been given."""

    def __init__(self) -> None:
        self.answers = 0

    def write(self, data: bytes) -> None:
        self.answers += 1

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": ("127.0.0.1", 4000), "sockname": ("127.0.0.1", 8008)}.get(name, default)

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        pass

    def is_closing(self) -> bool:
        return False

    def get_write_buffer_size(self) -> int:
        return 0


async def burst(protocols: list[tuple[HttpProtocol, Transport]]) -> None:
    for protocol, _ in protocols:
        protocol.data_received(REQUEST)
    while any(transport.answers == 0 for _, transport in protocols):
        await asyncio.sleep(0)
    await asyncio.sleep(0)
    for _, transport in protocols:
        transport.answers = 0


async def main(connections: int) -> int:
    loop = asyncio.get_running_loop()
    hwebserver.registerASGIApp(app, "/")
    state = WorkerState(WorkerConfig(max_num_threads=1), loop)
    await lifespan_startup(state)
    sock = socket.socket()
    protocols = []
    for _ in range(connections):
        protocol = HttpProtocol(state, Listener("main", sock), exchange.STARTERS, upgrade)
        transport = Transport()
        protocol.connection_made(transport)  # type: ignore[arg-type]
        protocols.append((protocol, transport))
    for _ in range(3):  # warm-up: first-call work, caches
        await burst(protocols)
    gc.collect()
    gc.disable()
    held = [[] for _ in range(1000)]  # the count must not sit at 0, where frees stop counting
    before = gc.get_count()[0]
    for protocol, _ in protocols:  # one turn of the loop's reading: nothing runs in between
        protocol.data_received(REQUEST)
    after = gc.get_count()[0]
    del held
    state.close()
    sock.close()
    return after - before


if __name__ == "__main__":
    print(uvloop.run(main(int(sys.argv[1]))))

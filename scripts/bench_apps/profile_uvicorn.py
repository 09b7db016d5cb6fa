"""The peer's side of scripts/profile_paths.py: uvicorn's cost of one request on a path.

Run with the peers' Python (.bench/peers/bin/python, as scripts/bench makes it):

    .bench/peers/bin/python scripts/bench_apps/profile_uvicorn.py starlette 2000

COUNT requests go through one uvicorn connection (its httptools protocol, as `uvicorn --http
httptools --loop uvloop` runs it, with its default proxy-headers middleware and the app's
lifespan state in the scope) on a fake transport, in this process, with no socket. Under
callgrind at two counts, the difference of the totals over the difference of the counts is
uvicorn's instructions per request, to set beside profile_paths.py's for hwebserver with the
same app and versions (docs/benchmarks.md).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from typing import Any

import uvloop
from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

REQUESTS = {
    "asgi": ("peer_asgi:app", b"GET / HTTP/1.1\r\nHost: bench\r\nUser-Agent: wrk\r\n\r\n"),
    "starlette": (
        "peer_starlette:app",
        b"GET /hello HTTP/1.1\r\nHost: bench\r\nUser-Agent: wrk\r\n\r\n",
    ),
    "fastapi": (
        "peer_fastapi:app",
        b"GET /ahello HTTP/1.1\r\nHost: bench\r\nUser-Agent: wrk\r\n\r\n",
    ),
}


class Transport:
    """Keeps the last write; wakes a waiter once the answer's last part was written."""

    def __init__(self) -> None:
        self.last = b""
        self.waiter: asyncio.Future[None] | None = None

    def write(self, data: bytes) -> None:
        self.last = data
        # The answer's last write: a body of its own, or its last chunk (peer_asgi's answer
        # has no Content-Length).
        ends = data.endswith(b"!") or data.endswith(b"!\r\n0\r\n\r\n")
        if self.waiter is not None and not self.waiter.done() and ends:
            self.waiter.set_result(None)

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

    def close(self) -> None:
        pass

    def get_write_buffer_size(self) -> int:
        return 0


async def drive(path: str, count: int) -> float:
    loop = asyncio.get_running_loop()
    app, data = REQUESTS[path]
    config = Config(app, http="httptools", loop="uvloop", access_log=False, log_level="warning")
    config.load()
    state: dict[str, Any] = {}  # what uvicorn's lifespan gives an app that supports it
    protocol = HttpToolsProtocol(config, ServerState(), state, loop)
    transport = Transport()
    protocol.connection_made(transport)  # type: ignore[arg-type]

    async def answered() -> None:
        waiter = transport.waiter = loop.create_future()
        protocol.data_received(data)
        await waiter

    for _ in range(50):
        await answered()
    started = time.process_time()
    for _ in range(count):
        await answered()
    elapsed = time.process_time() - started
    assert b"Hello, world!" in transport.last, transport.last[-80:]
    protocol.connection_lost(None)
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("path", choices=list(REQUESTS))
    parser.add_argument("count", type=int)
    args = parser.parse_args()
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    elapsed = uvloop.run(drive(args.path, args.count))
    print(f"uvicorn {args.path}: {elapsed / args.count * 1e6:.1f} us CPU per request")
    return 0


if __name__ == "__main__":
    sys.exit(main())

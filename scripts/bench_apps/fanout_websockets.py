"""Fan-out with the websockets library's own server and its broadcast(), on uvloop:
`python fanout_websockets.py PORT` (scripts/bench_fanout.py). Every connection gets every
message any of them sends."""

from __future__ import annotations

import asyncio
import signal
import sys

import uvloop
from websockets.asyncio.server import ServerConnection, broadcast, serve

OPEN: set[ServerConnection] = set()


async def fanout(connection: ServerConnection) -> None:
    OPEN.add(connection)
    try:
        async for message in connection:
            broadcast(OPEN, message)
    finally:
        OPEN.discard(connection)


async def main(port: int) -> None:
    loop = asyncio.get_running_loop()
    stop = loop.create_future()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set_result, None)
    async with serve(fanout, "127.0.0.1", port, ping_interval=None, backlog=4096):
        await stop


if __name__ == "__main__":
    uvloop.run(main(int(sys.argv[1])))

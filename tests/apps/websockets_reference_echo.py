"""The websockets library's own asyncio echo server (on uvloop), for benchmarks beside ours.

Reports its port like harness.serve() does, so tests/support.ServerProcess can run it.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal

import uvloop
from harness import report_port
from websockets.asyncio.server import ServerConnection, serve


async def echo(connection: ServerConnection) -> None:
    async for message in connection:
        await connection.send(message)


async def main() -> None:
    kwargs = json.loads(os.environ.get("HWEBSERVER_TEST_RUN_KWARGS", "{}"))
    stop = asyncio.get_running_loop().create_future()
    for signum in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(signum, stop.set_result, None)
    async with serve(
        echo, "127.0.0.1", 0, max_size=16 * 1024 * 1024, ping_interval=None, **kwargs
    ) as server:
        for sock in server.sockets:
            report_port("main", sock.getsockname()[1])
        await stop


if __name__ == "__main__":
    uvloop.run(main())

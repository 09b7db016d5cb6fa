"""Fan-out on hwebserver: `python fanout_hw.py PORT MODE`. Every WebSocket open on /fanout
gets every message any of them sends (scripts/bench_fanout.py): with MODE `send`, one
`await send()` per client, as a handler author writes it first; with `broadcast`, through
`WebSocket.broadcast()` (the message encoded once, no wait per client)."""

from __future__ import annotations

import sys

import hwebserver

OPEN: set[hwebserver.WebSocket] = set()
BROADCAST = sys.argv[2:] == ["broadcast"]


@hwebserver.webSocket("/fanout")
class Fanout(hwebserver.WebSocket):
    async def connect(self, request: hwebserver.Request) -> None:
        await self.accept()
        OPEN.add(self)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        assert text_data is not None
        if BROADCAST:
            await hwebserver.WebSocket.broadcast(OPEN, text_data)
            return
        for socket in list(OPEN):
            try:
                await socket.send(text_data)
            except hwebserver.OperationFailed:  # it closed meanwhile
                OPEN.discard(socket)

    async def disconnect(self, code: int) -> None:
        OPEN.discard(self)


if __name__ == "__main__":
    hwebserver.run(
        port=int(sys.argv[1]),
        in_background=False,
        max_num_threads=4,
        # The fan-out clients stay silent between messages for longer than the default 5 s.
        settings={"KEEPALIVE_TIMEOUT": 600.0},
    )

"""Fan-out on hwebserver: `python fanout_hw.py PORT`. Every WebSocket open on /fanout gets
every message any of them sends (scripts/bench_fanout.py), sent one client after the other
with the public send path, as a handler author writes it."""

from __future__ import annotations

import sys

import hwebserver

OPEN: set[hwebserver.WebSocket] = set()


@hwebserver.webSocket("/fanout")
class Fanout(hwebserver.WebSocket):
    async def connect(self, request: hwebserver.Request) -> None:
        await self.accept()
        OPEN.add(self)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        assert text_data is not None
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

"""The echo service that Autobahn|Testsuite and the benchmarks talk to: every message back as is."""

from __future__ import annotations

from harness import serve

import hwebserver


@hwebserver.webSocket("/", is_prefix=True)
class Echo(hwebserver.WebSocket):
    async def connect(self, request: hwebserver.Request) -> None:
        await self.accept()

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        await self.send(text_data if text_data is not None else bytes_data)  # type: ignore[arg-type]


if __name__ == "__main__":
    serve()

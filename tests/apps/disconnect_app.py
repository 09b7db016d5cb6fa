"""Async user code of each kind that is still running when its client goes away. Each records
what happened to it under the token in its path; GET /events/<token> answers the record."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

from harness import serve

import hwebserver

EVENTS: dict[str, list[str]] = {}
WORK_SECONDS = 1.0  # long enough for the client to be gone before the code ends


def record(token: str, event: str) -> None:
    EVENTS.setdefault(token, []).append(event)


async def work(token: str) -> None:
    """What each kind does: starts, waits for something, then finishes (or is cancelled)."""
    record(token, "started")
    try:
        await asyncio.sleep(WORK_SECONDS)
    except asyncio.CancelledError:
        record(token, "cancelled")
        raise
    finally:
        record(token, "finally")
    record(token, "finished")


@hwebserver.urlHandler("/events", is_prefix=True)
def events(request: hwebserver.Request) -> hwebserver.Response:
    token = request.path().rsplit("/", 1)[-1]
    return hwebserver.Response(json.dumps(EVENTS.get(token, [])), content_type="application/json")


@hwebserver.urlHandler("/handler", is_prefix=True)
async def handler(request: hwebserver.Request) -> hwebserver.Response:
    await work(request.path().rsplit("/", 1)[-1])
    return hwebserver.Response("done")


@hwebserver.apiFunction()
async def slow(request: hwebserver.Request, token: str) -> str:
    await work(token)
    return "done"


class Slow(hwebserver.AsyncURLHandler):
    async def handle(self, request: Any) -> None:
        token = request.path().rsplit("/", 1)[-1]
        await work(token)
        request.send(hwebserver.Response("done"))
        record(token, "sent")


Slow("/async-handler", allows_partial=True)


@hwebserver.urlHandler("/stream", is_prefix=True)
async def stream(request: hwebserver.Request) -> hwebserver.Response:
    token = request.path().rsplit("/", 1)[-1]

    async def chunks() -> AsyncIterator[bytes]:
        record(token, "started")
        try:
            while True:
                yield b"chunk\n"
                await asyncio.sleep(0.05)
        except asyncio.CancelledError:
            record(token, "cancelled")
            raise
        finally:
            record(token, "finally")

    return hwebserver.Response(chunks())


async def asgi_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return  # no lifespan
    token = scope["path"].rsplit("/", 1)[-1]
    await work(token)
    try:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"done"})
    except OSError as exc:  # the client is gone: send() says so (ClientDisconnected)
        record(token, f"send raised {type(exc).__name__}")
        raise
    message = await receive()
    record(token, f"receive: {message['type']}")


@hwebserver.webSocket("/ws", is_prefix=True)
class SlowReceive(hwebserver.WebSocket):
    async def connect(self, request: Any) -> None:
        self.token = request.path().rsplit("/", 1)[-1]
        await self.accept()

    async def receive(self, text_data: Any = None, bytes_data: Any = None) -> None:
        await work(self.token)

    async def disconnect(self, code: int) -> None:
        record(self.token, f"disconnect {code}")


hwebserver.registerASGIApp(asgi_app, "/asgi")

if __name__ == "__main__":
    serve()

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
RELEASES: dict[str, asyncio.Event] = {}
WAIT_LIMIT = 20.0  # nothing waits forever, whatever the test does


def record(token: str, event: str) -> None:
    EVENTS.setdefault(token, []).append(event)


def release_of(token: str) -> asyncio.Event:
    return RELEASES.setdefault(token, asyncio.Event())


async def work(token: str) -> None:
    """What each kind does: starts, waits until the test releases it (once its client is
    gone), then finishes; or is cancelled."""
    record(token, "started")
    try:
        await asyncio.wait_for(release_of(token).wait(), WAIT_LIMIT)
    except asyncio.CancelledError:
        record(token, "cancelled")
        raise
    finally:
        record(token, "finally")
    record(token, "finished")


@hwebserver.urlHandler("/release", is_prefix=True)
async def release(request: hwebserver.Request) -> hwebserver.Response:
    release_of(request.path().rsplit("/", 1)[-1]).set()
    return hwebserver.Response("released")


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
    """Waits until it learns that its client went away (http.disconnect), then goes on."""
    if scope["type"] != "http":
        return  # no lifespan
    token = scope["path"].rsplit("/", 1)[-1]
    record(token, "started")
    try:
        await receive()  # the request (no body)
        message = await asyncio.wait_for(receive(), WAIT_LIMIT)
        record(token, f"receive: {message['type']}")
        await asyncio.sleep(0.01)  # still running after that
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"done"})
    except OSError as exc:  # the client is gone: send() says so (ClientDisconnected)
        record(token, f"send raised {type(exc).__name__}")
    except asyncio.CancelledError:
        record(token, "cancelled")
        raise
    finally:
        record(token, "finally")


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

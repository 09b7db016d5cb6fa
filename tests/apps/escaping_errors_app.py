"""Code on the loop that raises what is not an Exception: CancelledError, SystemExit,
KeyboardInterrupt, at once or after awaiting. Each must be its request's failure (a 500 and a
log line), never a request left unanswered or a worker that stops."""

from __future__ import annotations

import asyncio
import os
from typing import Any

from harness import serve

import hwebserver

RAISED: dict[str, type[BaseException]] = {
    "cancelled": asyncio.CancelledError,
    "exit": SystemExit,
    "interrupt": KeyboardInterrupt,
    "generator-exit": GeneratorExit,  # the code's own, not the loop closing its coroutine
}


async def fail(kind: str, when: str) -> None:
    if when == "late":
        await asyncio.sleep(0.01)
    raise RAISED[kind](f"{kind} raised {when} on purpose")


async def asgi_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            await send({"type": message["type"] + ".complete"})
            if message["type"] == "lifespan.shutdown":
                return
    _, kind, when = scope["path"].rsplit("/", 2)
    if scope["type"] == "websocket":
        assert (await receive())["type"] == "websocket.connect"
        await send({"type": "websocket.accept"})
        await receive()  # the client's first message
    await fail(kind, when)


class AsgiCallable:
    """Not an `async def` function: started inside the server's own wrapper coroutine."""

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        await asgi_app(scope, receive, send)


@hwebserver.urlHandler("/handler", is_prefix=True)
async def handler(request: hwebserver.Request) -> hwebserver.Response:
    _, kind, when = request.path().rsplit("/", 2)
    await fail(kind, when)
    return hwebserver.Response("not reached")


class Failing(hwebserver.AsyncURLHandler):
    async def handle(self, request: Any) -> None:
        _, kind, when = request.path().rsplit("/", 2)
        await fail(kind, when)


@hwebserver.webSocket("/houdini-ws", is_prefix=True)
class FailingSocket(hwebserver.WebSocket):
    """Fails in connect() for /houdini-ws/connect/KIND/WHEN, in disconnect() for
    /houdini-ws/disconnect/KIND/WHEN (after echoing), else in receive()."""

    async def connect(self, request: Any) -> None:
        _, stage, kind, when = request.path().rsplit("/", 3)
        if stage == "connect":
            await fail(kind, when)
        self.stage = stage
        self.failure = (kind, when)
        await self.accept()

    async def receive(self, text_data: Any = None, bytes_data: Any = None) -> None:
        if self.stage == "disconnect":
            await self.send(text_data)
            return
        await fail(*self.failure)

    async def disconnect(self, code: int) -> None:
        if self.stage == "disconnect":
            await fail(*self.failure)


@hwebserver.urlHandler("/pid")
def pid(request: hwebserver.Request) -> hwebserver.Response:
    return hwebserver.Response(str(os.getpid()))


hwebserver.registerASGIApp(asgi_app, "/asgi")
hwebserver.registerASGIApp(AsgiCallable(), "/wrapped")
Failing("/async-handler", allows_partial=True)

if __name__ == "__main__":
    serve()

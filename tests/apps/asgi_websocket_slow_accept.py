"""A raw ASGI WebSocket echo that accepts 0.3 s after websocket.connect (an app that checks a
token or loads a session first): a drain polls its connections several times meanwhile."""

from __future__ import annotations

import asyncio
from typing import Any

from harness import serve

import hwebserver

ACCEPT_DELAY = 0.3


async def echo(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "websocket":
        return
    while True:
        message = await receive()
        kind = message["type"]
        if kind == "websocket.connect":
            await asyncio.sleep(ACCEPT_DELAY)
            await send({"type": "websocket.accept"})
        elif kind == "websocket.receive":
            await send({"type": "websocket.send", "text": message.get("text") or ""})
        else:
            return


hwebserver.registerASGIApp(echo, "/")

if __name__ == "__main__":
    serve()

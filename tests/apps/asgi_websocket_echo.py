"""A raw ASGI WebSocket echo mounted with registerASGIApp: Autobahn|Testsuite's peer for the
ASGI WebSocket path (tests/websockets/test_autobahn.py), as websocket_echo.py is for the WebSocket API."""

from __future__ import annotations

from typing import Any

from harness import serve

import hwebserver


async def echo(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "websocket":
        return  # no lifespan, no HTTP: this app only echoes
    while True:
        message = await receive()
        kind = message["type"]
        if kind == "websocket.connect":
            await send({"type": "websocket.accept"})
        elif kind == "websocket.receive":
            if message.get("text") is not None:
                await send({"type": "websocket.send", "text": message["text"]})
            else:
                await send({"type": "websocket.send", "bytes": message["bytes"]})
        else:
            return


hwebserver.registerASGIApp(echo, "/")

if __name__ == "__main__":
    serve()

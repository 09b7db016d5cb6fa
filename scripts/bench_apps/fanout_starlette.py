"""Fan-out as a Starlette WebSocket endpoint (served by uvicorn in scripts/bench_fanout.py):
every connection on /fanout gets every message any of them sends, sent one after the other,
as Starlette's documentation writes a broadcast."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

OPEN: set[WebSocket] = set()


async def fanout(websocket: WebSocket) -> None:
    await websocket.accept()
    OPEN.add(websocket)
    try:
        while True:
            message = await websocket.receive_text()
            for other in list(OPEN):
                try:
                    await other.send_text(message)
                except (WebSocketDisconnect, RuntimeError):
                    OPEN.discard(other)
    except WebSocketDisconnect:
        pass
    finally:
        OPEN.discard(websocket)


app = Starlette(routes=[WebSocketRoute("/fanout", fanout)])

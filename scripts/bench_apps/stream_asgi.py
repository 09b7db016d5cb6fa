"""Server-sent events from a raw ASGI app (uvicorn's floor for scripts/bench_stream.py): one
`http.response.body` message with more_body per event of stream_events.py."""

from __future__ import annotations

from typing import Any

from stream_events import CONTENT_TYPE, async_events

_HEADERS = [(b"content-type", CONTENT_TYPE.encode())]


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return  # no lifespan work (uvicorn runs with --lifespan off)
    await send({"type": "http.response.start", "status": 200, "headers": _HEADERS})
    async for event in async_events():
        await send({"type": "http.response.body", "body": event, "more_body": True})
    await send({"type": "http.response.body", "body": b""})

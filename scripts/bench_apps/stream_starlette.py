"""Server-sent events from Starlette's StreamingResponse (served by uvicorn in
scripts/bench_stream.py): /events from a plain generator (Starlette runs each next() in its
thread pool), /aevents from an async generator, the same ones hwebserver streams
(stream_events.py)."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import StreamingResponse
from starlette.routing import Route
from stream_events import CONTENT_TYPE, async_events, events


def plain(request: Request) -> StreamingResponse:
    return StreamingResponse(events(), media_type=CONTENT_TYPE)


async def asynchronous(request: Request) -> StreamingResponse:
    return StreamingResponse(async_events(), media_type=CONTENT_TYPE)


app = Starlette(routes=[Route("/events", plain), Route("/aevents", asynchronous)])

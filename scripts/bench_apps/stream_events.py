"""The server-sent-event stream every server of scripts/bench_stream.py sends, one module for
all so the generators are the same code: BENCH_STREAM_EVENTS events (100 by default) of 64
bytes each, yielded as fast as the server takes them (no sleep: a sleep would measure the
timer, and on a handler thread it would cap the plain generator at threads / sleep)."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator

EVENTS = int(os.environ.get("BENCH_STREAM_EVENTS", "100"))
EVENT = b"data: " + b"x" * 56 + b"\n\n"  # 64 bytes; "\n\n" ends an event (the client counts it)
CONTENT_TYPE = "text/event-stream"


def events() -> Iterator[bytes]:
    for _ in range(EVENTS):
        yield EVENT


async def async_events() -> AsyncIterator[bytes]:
    for _ in range(EVENTS):
        yield EVENT

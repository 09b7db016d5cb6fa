"""hwebserver side of the benchmarks: the same work as the peer apps."""

from __future__ import annotations

import json
import os
import sys
import time

from stream_events import CONTENT_TYPE, async_events, events

import hwebserver

HELLO = b"Hello, world!"


@hwebserver.urlHandler("/hello")
def hello(request):
    return hwebserver.Response(HELLO, content_type="text/plain")


@hwebserver.urlHandler("/ahello")
async def async_hello(request):
    return hwebserver.Response(HELLO, content_type="text/plain")


@hwebserver.urlHandler("/echo", methods=["POST"])
def echo(request):
    return hwebserver.Response(request.body(), content_type="application/octet-stream")


@hwebserver.urlHandler("/slow")
def slow(request):
    """A plain handler that holds its pool thread (the "mixed" workload keeps one busy)."""
    time.sleep(float(os.environ.get("BENCH_SLOW_SECONDS", "2")))
    return hwebserver.Response(HELLO, content_type="text/plain")


@hwebserver.urlHandler("/json")
def json_endpoint(request):
    return hwebserver.Response(json.dumps({"result": 3.0}), content_type="application/json")


@hwebserver.urlHandler("/events")
def event_stream(request):
    """Server-sent events from a plain generator: each next() runs on a handler thread."""
    return hwebserver.Response(events(), content_type=CONTENT_TYPE)


@hwebserver.urlHandler("/aevents")
async def async_event_stream(request):
    """Server-sent events from an async generator, iterated on the worker's loop."""
    return hwebserver.Response(async_events(), content_type=CONTENT_TYPE)


@hwebserver.webSocket("/ws")
class Echo(hwebserver.WebSocket):
    """Every message back; the idle-WebSocket memory row holds many of these open."""

    async def connect(self, request):
        await self.accept()

    async def receive(self, text_data=None, bytes_data=None):
        await self.send(text_data if text_data is not None else bytes_data)


def _register_optional() -> None:
    """Features that land in later issues; the bench skips what is not there."""
    api_function = getattr(hwebserver, "apiFunction", None)
    if api_function is not None:

        @api_function(namespace="geo")
        def vector_length(request, x, y, z):
            return (float(x) ** 2 + float(y) ** 2 + float(z) ** 2) ** 0.5

    static = getattr(hwebserver, "registerStaticFilesDirectory", None)
    static_dir = os.environ.get("BENCH_STATIC_DIR")
    if static is not None and static_dir:
        static(static_dir, "/static")


def _admin_ports() -> list[str]:
    """BENCH_ADMIN=1: the admin endpoints (/metrics) on a port of their own, as an operator
    would enable them; the measured port then pays only for the request counting."""
    if os.environ.get("BENCH_ADMIN") != "1":
        return []
    hwebserver.setSettingsForPort({"ADMIN_ENDPOINTS": True}, "admin")
    return ["admin"]


if __name__ == "__main__":
    _register_optional()
    hwebserver.run(
        port=int(sys.argv[1]),
        ports=_admin_ports(),
        in_background=False,
        workers=int(os.environ.get("BENCH_WORKERS", "1")),
        max_num_threads=4,
        # The idle-connection memory rows keep connections open longer than the default 5 s.
        settings={"KEEPALIVE_TIMEOUT": float(os.environ.get("BENCH_KEEPALIVE_TIMEOUT", "5"))},
    )

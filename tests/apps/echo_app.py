"""The tests' general-purpose service: echo what the server parsed, plus misbehaving handlers."""

from __future__ import annotations

import asyncio
import json
import os
import threading
import time

from harness import serve

import hwebserver

_active = 0
_peak = 0
_lock = threading.Lock()


def describe(request: hwebserver.Request) -> dict:
    return {
        "method": request.method(),
        "path": request.path(),
        "target": request.rawTarget().decode("latin-1"),
        "query": request.queryString(),
        "GET": request.GET(),
        "headers": dict(request.headers()),
        "cookies": request.cookies(),
        "body": request.body().decode("latin-1"),
        "content_type": request.contentType(),
        "content_length": request.contentLength(),
        "protocol": request.protocol(),
        "host": request.host(),
        "port": request.port(),
        "secure": request.isSecure(),
        "client": list(request.clientAddress()),
        "server": list(request.serverAddress()),
        "absolute": request.absoluteURI(),
        "path_with_query": request.pathWithQueryString(),
        "trailers": dict(request.trailers()),
        "pid": os.getpid(),
    }


@hwebserver.urlHandler("/echo", is_prefix=True)
def echo(request: hwebserver.Request) -> hwebserver.Response:
    return hwebserver.Response(json.dumps(describe(request)), content_type="application/json")


@hwebserver.urlHandler("/async-echo", is_prefix=True)
async def async_echo(request: hwebserver.Request) -> hwebserver.Response:
    await asyncio.sleep(0)
    return hwebserver.Response(json.dumps(describe(request)), content_type="application/json")


@hwebserver.urlHandler("/hello")
def hello(request: hwebserver.Request) -> str:
    return "Hello, world!"


@hwebserver.urlHandler("/bytes")
def raw_bytes(request: hwebserver.Request) -> bytes:
    return b"\x00\x01binary"


@hwebserver.urlHandler("/boom")
def boom(request: hwebserver.Request) -> hwebserver.Response:
    raise RuntimeError("secret-detail-in-exception")


@hwebserver.urlHandler("/async-boom")
async def async_boom(request: hwebserver.Request) -> hwebserver.Response:
    await asyncio.sleep(0.01)
    raise RuntimeError("secret-detail-in-exception")


@hwebserver.urlHandler("/sleep")
def sleep(request: hwebserver.Request) -> str:
    global _active, _peak
    with _lock:
        _active += 1
        _peak = max(_peak, _active)
    try:
        time.sleep(float(request.GET().get("s", "1")))
    finally:
        with _lock:
            _active -= 1
    return f"slept pid={os.getpid()}"


@hwebserver.urlHandler("/peak")
def peak(request: hwebserver.Request) -> str:
    return str(_peak)


@hwebserver.urlHandler("/async-sleep")
async def async_sleep(request: hwebserver.Request) -> str:
    await asyncio.sleep(float(request.GET().get("s", "1")))
    return "slept"


@hwebserver.urlHandler("/stream")
def stream(request: hwebserver.Request) -> hwebserver.Response:
    count = int(request.GET().get("n", "3"))
    size = int(request.GET().get("size", "5"))

    def chunks():
        for index in range(count):
            yield (str(index % 10) * size).encode()

    return hwebserver.Response(chunks(), content_type="text/plain")


_produced = {"chunks": 0}


@hwebserver.urlHandler("/endless")
def endless(request: hwebserver.Request) -> hwebserver.Response:
    """Streams up to `n` 64 KiB chunks, counting how many the server pulled from it."""
    limit = int(request.GET().get("n", "16384"))
    _produced["chunks"] = 0

    def chunks():
        block = b"z" * 65536
        for _ in range(limit):
            _produced["chunks"] += 1
            yield block

    return hwebserver.Response(chunks(), content_type="application/octet-stream")


@hwebserver.urlHandler("/big")
def big(request: hwebserver.Request) -> bytes:
    """One response of `mb` MiB, handed to the transport in one write."""
    return b"b" * (int(request.GET().get("mb", "50")) << 20)


@hwebserver.urlHandler("/produced")
def produced(request: hwebserver.Request) -> str:
    return str(_produced["chunks"])


@hwebserver.urlHandler("/body-size", methods=["POST", "PUT"])
def body_size(request: hwebserver.Request) -> str:
    return str(len(request.body()))


@hwebserver.urlHandler("/async-stream")
def async_stream(request: hwebserver.Request) -> hwebserver.Response:
    async def chunks():
        for index in range(3):
            await asyncio.sleep(0)
            yield f"part{index};"

    return hwebserver.Response(chunks(), content_type="text/plain")


@hwebserver.urlHandler("/file")
def file_response(request: hwebserver.Request) -> hwebserver.Response:
    params = request.GET()
    return hwebserver.fileResponse(
        params["path"],
        delete_file=params.get("delete") == "1",
        download_as_filename=params.get("download"),
    )


@hwebserver.urlHandler("/status")
def status(request: hwebserver.Request) -> hwebserver.Response:
    return hwebserver.Response("status", status=int(request.GET().get("code", "200")))


@hwebserver.urlHandler("/cookies")
def cookies(request: hwebserver.Request) -> hwebserver.Response:
    response = hwebserver.Response("cookies")
    response.setCookie("a", "1")
    response.setCookie("b", "two words", max_age=60, httponly=True, secure=True, samesite="Lax")
    return response


@hwebserver.urlHandler("/redirect")
def go(request: hwebserver.Request) -> hwebserver.Response:
    return hwebserver.redirect(request, "/hello", permanent=request.GET().get("p") == "1")


@hwebserver.urlHandler("/error")
def error(request: hwebserver.Request) -> hwebserver.Response:
    return hwebserver.errorResponse(request, "<bad> & wrong", 418)


@hwebserver.urlHandler("/shutdown")
def shutdown(request: hwebserver.Request) -> str:
    hwebserver.requestShutdown()
    return "shutting down"


@hwebserver.urlHandler("/post-only", methods=["POST"])
def post_only(request: hwebserver.Request) -> str:
    return "posted"


@hwebserver.urlHandler("/only-header")
def only_header(request: hwebserver.Request) -> hwebserver.Response:
    response = hwebserver.Response(b"x")
    response.removeHeader("Content-Type")
    response.setHeader("X-Only", "1")
    return response


@hwebserver.urlHandler("/stream-204")
def stream_204(request: hwebserver.Request) -> hwebserver.Response:
    return hwebserver.Response(iter([b"abc"]), status=204)


@hwebserver.urlHandler("/cancelled")
async def cancelled(request: hwebserver.Request) -> str:
    """Awaits something another task cancels: the handler ends in CancelledError."""
    waiting = asyncio.get_running_loop().create_future()
    asyncio.get_running_loop().call_later(0.01, waiting.cancel)
    await waiting
    return "never"


@hwebserver.urlHandler("/slow-file")
def slow_file(request: hwebserver.Request) -> hwebserver.Response:
    """Answers a delete_file response after a while: the client may be gone by then."""
    time.sleep(float(request.GET().get("s", "1")))
    return hwebserver.fileResponse(request.GET()["path"], delete_file=True)


_slow_stream = {"closed": 0}


@hwebserver.urlHandler("/slow-stream")
def slow_stream(request: hwebserver.Request) -> hwebserver.Response:
    def chunks():
        try:
            for index in range(20):
                time.sleep(0.3)
                yield b"chunk %d\n" % index
        finally:
            _slow_stream["closed"] += 1

    return hwebserver.Response(chunks(), content_type="text/plain")


@hwebserver.urlHandler("/slow-stream-closed")
def slow_stream_closed(request: hwebserver.Request) -> str:
    return str(_slow_stream["closed"])


@hwebserver.urlHandler("/pid")
def pid(request: hwebserver.Request) -> str:
    return str(os.getpid())


if __name__ == "__main__":
    serve()
